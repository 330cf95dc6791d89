/*
 * exporter_helper.h: what every exporter gets around its export(): a
 * per-attempt timeout, retries with backoff, and a bounded sending queue
 * (in memory, or persistent on disk) drained by consumer threads. The
 * settings, names and defaults are the OpenTelemetry Collector's:
 *
 *   timeout: 5s
 *   retry_on_failure: {enabled: true, initial_interval: 5s, max_interval: 30s,
 *     multiplier: 1.5, randomization_factor: 0.5, max_elapsed_time: 300s}
 *   sending_queue: {enabled: true, queue_size: 1000, num_consumers: 10,
 *     block_on_overflow: false, storage: {directory: "", max_size: 1GiB,
 *     fsync: always, fsync_interval: 200ms}}
 *
 * An exporter puts EXPHELPER_CFG_ENTRIES(struct my_cfg, helper) in its own
 * config table, keeps a struct exphelper_cfg named helper in its config
 * struct, and creates one helper per instance.
 *
 * Delivery: PC_OK from export() counts as sent; PC_ERETRY waits (backoff,
 * or the server's Retry-After when longer) and tries again until
 * max_elapsed_time; anything else, or retries exhausted, drops the batch
 * (logged once per reason, counted in dropped_profiles_total{reason}).
 * With the persistent queue a record is acknowledged on disk only when it
 * was sent or dropped, so a crash replays it (at-least-once).
 */
#ifndef PROFCOL_EXPORTER_HELPER_H
#define PROFCOL_EXPORTER_HELPER_H

#include <stddef.h>
#include <stdint.h>

#include "core/assert.h"
#include "core/err.h"
#include "component/batch.h"
#include "config/cfg.h"
#include "component/component.h"
#include "exporterhelper/retry.h"

struct mscope;

struct exphelper_storage_cfg {
    char *directory;   /* empty/NULL = in-memory queue */
    uint64_t max_size; /* bytes on disk */
    int fsync;         /* enum pqueue_fsync: always|interval|never */
    int64_t fsync_interval_ms;
};

struct exphelper_queue_cfg {
    int enabled;
    int64_t queue_size; /* batches */
    uint64_t max_bytes; /* in memory, what the batches hold; 0 = no cap */
    int64_t num_consumers;
    int block_on_overflow; /* wait up to `timeout` for room */
    struct exphelper_storage_cfg storage;
};

struct exphelper_cfg {
    int64_t timeout_ms;
    struct retry_cfg retry;
    struct exphelper_queue_cfg queue;
};

extern const struct cfg_entry exphelper_retry_table[];
extern const struct cfg_entry exphelper_queue_table[];
extern const struct cfg_entry exphelper_storage_table[];
/* The three entries below for a struct exphelper_cfg on its own. */
extern const struct cfg_entry exphelper_cfg_table[];

/* The three entries for a struct exphelper_cfg at byte offset `base` of
 * the component's config struct. */
#define EXPHELPER_CFG_ENTRIES_AT(base)                                        \
    {.key = "timeout",                                                        \
     .type = CFG_DURATION,                                                    \
     .offset = (base) + offsetof(struct exphelper_cfg, timeout_ms),           \
     .def = "5s",                                                             \
     .min = 1,                                                                \
     .max = 3600000,                                                          \
     .doc = "time limit of one export attempt"},                              \
        {.key = "retry_on_failure",                                           \
         .type = CFG_SECTION,                                                 \
         .offset = (base) + offsetof(struct exphelper_cfg, retry),            \
         .sub = exphelper_retry_table,                                        \
         .doc = "retries of failed exports with exponential backoff"},        \
    {                                                                         \
        .key = "sending_queue", .type = CFG_SECTION,                          \
        .offset = (base) + offsetof(struct exphelper_cfg, queue),             \
        .sub = exphelper_queue_table,                                         \
        .doc = "bounded queue in front of the exporter (memory or disk)"      \
    }

/* For `struct exphelper_cfg field;` inside the component's `type`. */
#define EXPHELPER_CFG_ENTRIES(type, field)                                    \
    EXPHELPER_CFG_ENTRIES_AT(offsetof(type, field))

/* The engine reads an exporter's config as a struct exphelper_cfg
 * (pipeline/engine.c), so that field must come first; each exporter states
 * it after its config struct: EXPHELPER_CFG_FIRST(struct my_cfg, helper); */
#define EXPHELPER_CFG_FIRST(type, field)                                      \
    PC_STATIC_ASSERT(offsetof(type, field) == 0,                              \
                     #type "." #field " must be first: the engine reads it")

/* The defaults above, for code that builds a config without cfg_decode. */
void exphelper_cfg_default(struct exphelper_cfg *c);

/* Counters, also exported as metrics. */
struct exphelper_stats {
    uint64_t sent_profiles, sent_samples, sent_bytes;
    uint64_t send_failed_profiles;
    uint64_t enqueue_failed_profiles;
    uint64_t retries;
    uint64_t dropped_permanent, dropped_exhausted, dropped_shutdown,
        dropped_corrupt, dropped_rejected; /* profiles */
    uint64_t exports;                      /* export() calls */
};

struct exphelper;

/*
 * A helper for exporter `id` ("type/name") calling ops->export(ctx, ...).
 * cfg and ops are borrowed for the helper's life. Its series
 * (profcol_exporter_sent_profiles_total, ...) are registered in a
 * sub-scope of scope (the exporter's, exporter="type/name"; may be NULL),
 * released by exphelper_free(). A persistent queue is opened (and
 * scanned) here, in <storage.directory>/<id with '/' replaced by '_'>.
 */
int exphelper_new(const struct exphelper_cfg *cfg, const char *id,
                  const struct exporter_ops *ops, void *ctx,
                  struct mscope *scope, struct exphelper **out,
                  struct errctx *e);

/* Starts the consumer threads; they begin with what the disk holds. */
int exphelper_start(struct exphelper *h);

/*
 * Hands b to the exporter; the caller's reference is consumed in all
 * cases. PC_OK once queued (persisted per the fsync policy); PC_EBUSY when
 * the queue is full (after waiting up to `timeout` with block_on_overflow)
 * or stopped: the receiver answers 429/503 and its client retries. With
 * the queue disabled the export runs here, with retries, and the result
 * is returned (PC_OK, PC_ERETRY when retries ran out, PC_EPERMANENT).
 */
int exphelper_submit(struct exphelper *h, struct batch *b);

/*
 * The same, answering only once the batch is durable: with a persistent
 * queue under `fsync: always` it returns PC_EINPROGRESS as soon as the
 * record is written, and done(arg, rc) follows exactly once, from the
 * queue's committer thread, when the group commit covering it returned
 * (rc PC_OK) or failed (PC_EIO: the client should retry). Otherwise (in
 * memory: durable at enqueue; interval/never) it is exphelper_submit and
 * done is not called.
 */
typedef void (*exphelper_done_fn)(void *arg, int rc);

int exphelper_submit_async(struct exphelper *h, struct batch *b,
                           exphelper_done_fn done, void *arg);

/*
 * Stops taking batches and drains until deadline_ms (absolute, on the
 * clock_mono_ms() clock). In memory: what is left at the deadline is
 * dropped, counted with reason "shutdown". Persistent: retries stop at
 * once and unsent records stay on disk for the next start. Returns after
 * the consumers exited (an export in progress finishes, bounded by
 * `timeout`). PC_OK, or PC_ETIMEDOUT when something had to be dropped.
 */
int exphelper_stop(struct exphelper *h, int64_t deadline_ms);

/* Stops (at once) if needed and frees. */
void exphelper_free(struct exphelper *h);

/*
 * Resuming a retried batch: retries of one batch run on the consumer
 * thread that started it, back to back, so an exporter that sends a batch
 * in several requests keeps (thread-local) the identity of its current
 * batch beside how far it got, and a retry starts after what the backend
 * already took. exphelper_same_batch returns 1 when b (for exporter) is
 * the batch id names; otherwise it makes id name b and returns 0 (the
 * caller then resets its progress).
 */
struct exphelper_batch_id {
    const void *exporter;
    const struct batch *b;
    const struct item *items;
    uint32_t nitems;
    uint64_t first_ns;
};

int exphelper_same_batch(struct exphelper_batch_id *id, const void *exporter,
                         const struct batch *b);

/* Batches queued (in memory) or records unacknowledged (on disk). */
uint32_t exphelper_queue_size(struct exphelper *h);

void exphelper_get_stats(struct exphelper *h, struct exphelper_stats *st);

/*
 * Test hook: what a kill -9 leaves behind. Consumers stop at once without
 * acknowledging what they hold, and nothing in memory is counted; use
 * exphelper_free() afterwards.
 */
void exphelper_crash_for_test(struct exphelper *h);

#endif
