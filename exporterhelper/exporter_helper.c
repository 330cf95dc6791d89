/*
 * exporter_helper.c: queue, consumers, retries and counting around one
 * exporter (see exporter_helper.h).
 *
 * Threads: producers call exphelper_submit() (receiver threads); consumer
 * threads take batches from the queue (struct queue or struct pqueue) and
 * run deliver(). One mutex + condition variable (h->mu, h->cv) serves only
 * the sleeps between retries and the stop handshake, so a stop can cut a
 * backoff wait short. Counters are C11 atomics.
 */
#include "exporterhelper/exporter_helper.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/buf.h"
#include "core/clock.h"
#include "component/batch_codec.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "exporterhelper/pqueue.h"
#include "exporterhelper/pwriter.h"
#include "exporterhelper/queue.h"

/* ---- configuration tables ----------------------------------------------- */

static const char *const fsync_values[] = {"always", "interval", "never",
                                           NULL};

/* clang-format off */
const struct cfg_entry exphelper_retry_table[] = {
    {.key = "enabled", .type = CFG_BOOL,
     .offset = offsetof(struct retry_cfg, enabled), .def = "true",
     .doc = "retry exports that failed with a retryable error"},
    {.key = "initial_interval", .type = CFG_DURATION,
     .offset = offsetof(struct retry_cfg, initial_interval_ms), .def = "5s",
     .min = 1, .max = 86400000, .doc = "wait after the first failure"},
    {.key = "max_interval", .type = CFG_DURATION,
     .offset = offsetof(struct retry_cfg, max_interval_ms), .def = "30s",
     .min = 1, .max = 86400000, .doc = "cap of the wait before jitter"},
    {.key = "multiplier", .type = CFG_DOUBLE,
     .offset = offsetof(struct retry_cfg, multiplier), .def = "1.5",
     .min = 1000000, .max = 100000000, .doc = "growth of the wait"},
    {.key = "randomization_factor", .type = CFG_DOUBLE,
     .offset = offsetof(struct retry_cfg, randomization_factor),
     .def = "0.5", .min = 0, .max = 1000000,
     .doc = "jitter: the wait is randomized within +-factor"},
    {.key = "max_elapsed_time", .type = CFG_DURATION,
     .offset = offsetof(struct retry_cfg, max_elapsed_time_ms),
     .def = "300s", .min = 0, .max = INT64_MAX / 2,
     .doc = "give up after this long; 0 = retry forever"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry exphelper_storage_table[] = {
    {.key = "directory", .type = CFG_STRING,
     .offset = offsetof(struct exphelper_storage_cfg, directory),
     .doc = "directory of the persistent queue; empty = in memory"},
    {.key = "max_size", .type = CFG_SIZE,
     .offset = offsetof(struct exphelper_storage_cfg, max_size),
     .def = "1GiB", .min = 65536, .max = INT64_MAX,
     .doc = "bytes on disk; enqueue is refused beyond"},
    {.key = "fsync", .type = CFG_ENUM,
     .offset = offsetof(struct exphelper_storage_cfg, fsync),
     .def = "always", .enum_values = fsync_values,
     .doc = "always: durable before accepted; interval; never"},
    {.key = "fsync_interval", .type = CFG_DURATION,
     .offset = offsetof(struct exphelper_storage_cfg, fsync_interval_ms),
     .def = "200ms", .min = 1, .max = 3600000,
     .doc = "period of the background sync with fsync: interval"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry exphelper_queue_table[] = {
    {.key = "enabled", .type = CFG_BOOL,
     .offset = offsetof(struct exphelper_queue_cfg, enabled), .def = "true",
     .doc = "queue batches; false = export in the receiver's thread"},
    {.key = "queue_size", .type = CFG_INT,
     .offset = offsetof(struct exphelper_queue_cfg, queue_size),
     .def = "1000", .min = 1, .max = 10000000,
     .doc = "batches the queue holds"},
    {.key = "max_bytes", .type = CFG_SIZE,
     .offset = offsetof(struct exphelper_queue_cfg, max_bytes),
     .def = "256MiB", .min = 0, .max = INT64_MAX,
     .doc = "memory the queued batches may hold (in-memory queue); "
            "0 = no cap"},
    {.key = "num_consumers", .type = CFG_INT,
     .offset = offsetof(struct exphelper_queue_cfg, num_consumers),
     .def = "10", .min = 1, .max = 1000,
     .doc = "threads exporting from the queue"},
    {.key = "block_on_overflow", .type = CFG_BOOL,
     .offset = offsetof(struct exphelper_queue_cfg, block_on_overflow),
     .def = "false",
     .doc = "wait up to timeout for room instead of refusing"},
    {.key = "storage", .type = CFG_SECTION,
     .offset = offsetof(struct exphelper_queue_cfg, storage),
     .sub = exphelper_storage_table,
     .doc = "persistent queue on disk"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry exphelper_cfg_table[] = {
    EXPHELPER_CFG_ENTRIES_AT(0),
    {.key = NULL},
};
/* clang-format on */

void exphelper_cfg_default(struct exphelper_cfg *c)
{
    memset(c, 0, sizeof(*c));
    c->timeout_ms = 5000;
    retry_cfg_default(&c->retry);
    c->queue.enabled = 1;
    c->queue.queue_size = 1000;
    c->queue.max_bytes = (uint64_t)256 << 20;
    c->queue.num_consumers = 10;
    c->queue.storage.max_size = PQUEUE_MAX_SIZE_DEFAULT;
    c->queue.storage.fsync = PQUEUE_FSYNC_ALWAYS;
    c->queue.storage.fsync_interval_ms = 200;
}

/* ---- the helper ---------------------------------------------------------- */

enum drop_reason {
    DROP_PERMANENT,
    DROP_EXHAUSTED,
    DROP_SHUTDOWN,
    DROP_CORRUPT,
    DROP_REJECTED,
    DROP_NREASONS,
};

static const char *const drop_names[DROP_NREASONS] = {
    "permanent", "retries_exhausted", "shutdown", "corrupt", "rejected",
};

#define LOGGED_MAX 64

struct exphelper_metrics {
    struct mcounter *sent_profiles, *sent_samples, *sent_bytes;
    struct mcounter *send_failed, *enqueue_failed, *retries;
    struct mcounter *dropped[DROP_NREASONS];
    struct mgauge *capacity;
};

struct exphelper {
    const struct exphelper_cfg *cfg;
    const struct exporter_ops *ops;
    void *ctx;
    char id[128];
    struct mscope *scope; /* the helper's series */
    struct exphelper_metrics mx;
    struct queue *q;    /* in-memory queue, or NULL */
    struct pqueue *pq;  /* persistent queue, or NULL */
    struct pwriter *pw; /* stores asynchronous submits into pq */
    pthread_t *threads;
    uint32_t nthreads;
    pthread_mutex_t mu;
    pthread_cond_t cv;   /* retry sleeps, consumer exits */
    uint32_t running;    /* consumers not yet exited */
    atomic_int stopping; /* no more submits; persistent: no retries */
    atomic_int abort;    /* deadline passed or crash: give up now */
    atomic_int crashed;  /* test hook: leave everything as is */
    int started, stopped;
    uint32_t logged[LOGGED_MAX]; /* hashes of reasons already logged */
    uint32_t nlogged;
    _Atomic uint64_t c_sent_profiles, c_sent_samples, c_sent_bytes;
    _Atomic uint64_t c_send_failed, c_enqueue_failed, c_retries, c_exports;
    _Atomic uint64_t c_dropped[DROP_NREASONS];
};

static void cadd(_Atomic uint64_t *c, struct mcounter *mc, uint64_t v)
{
    atomic_fetch_add_explicit(c, v, memory_order_relaxed);
    if (mc != NULL) {
        mcounter_add(mc, v);
    }
}

static void count_drop(struct exphelper *h, enum drop_reason r, uint64_t n)
{
    cadd(&h->c_dropped[r], h->mx.dropped[r], n);
}

/* Logs an error the first time its text is seen: a backend refusing every
 * batch for the same reason must not flood the log. */
static void log_once(struct exphelper *h, const char *what, const char *msg)
{
    uint32_t hash = (uint32_t)crc32(crc32(0L, (const Bytef *)what,
                                          (uInt)strlen(what)),
                                    (const Bytef *)msg, (uInt)strlen(msg));
    uint32_t i;
    int seen = 0;

    pthread_mutex_lock(&h->mu);
    for (i = 0; i < h->nlogged; i++) {
        seen |= h->logged[i] == hash;
    }
    if (!seen && h->nlogged < LOGGED_MAX) {
        h->logged[h->nlogged++] = hash;
    }
    pthread_mutex_unlock(&h->mu);
    if (!seen) {
        log_error(h->id, what, "reason=\"%s\"", msg);
    }
}

/* ---- metrics ------------------------------------------------------------- */

static double gauge_queue_size(void *arg)
{
    return (double)exphelper_queue_size(arg);
}

/* Memory the queue holds: the in-memory queue's batches, or the in-memory
 * copies a persistent queue keeps beside its records. */
static double gauge_queue_bytes(void *arg)
{
    struct exphelper *h = arg;
    struct pqueue_stats st;

    if (h->pq != NULL) {
        pqueue_get_stats(h->pq, &st);
        return (double)st.held_bytes;
    }
    return h->q != NULL ? (double)queue_bytes(h->q) : 0.0;
}

/* A persistent queue's records on disk. */
static double gauge_queue_disk_bytes(void *arg)
{
    struct exphelper *h = arg;
    struct pqueue_stats st;

    if (h->pq == NULL) {
        return 0.0;
    }
    pqueue_get_stats(h->pq, &st);
    return (double)st.bytes;
}

/* The helper's series, in a sub-scope of the exporter's: they go with the
 * helper (the queue-size gauge calls back into it). */
static void metrics_setup(struct exphelper *h, struct mscope *scope)
{
    struct mscope *s;
    int i;

    h->scope = s = mscope_sub(scope, NULL);
    h->mx.sent_profiles =
        mscope_counter(s, "profcol_exporter_sent_profiles_total",
                       "Profiles successfully sent.", NULL);
    h->mx.sent_samples = mscope_counter(s,
                                        "profcol_exporter_sent_samples_total",
                                        "Samples successfully sent.", NULL);
    h->mx.sent_bytes = mscope_counter(s, "profcol_exporter_sent_bytes_total",
                                      "Payload bytes successfully sent.",
                                      NULL);
    h->mx.send_failed =
        mscope_counter(s, "profcol_exporter_send_failed_profiles_total",
                       "Profiles that failed to be sent.", NULL);
    h->mx.enqueue_failed =
        mscope_counter(s, "profcol_exporter_enqueue_failed_profiles_total",
                       "Profiles refused by a full sending queue.", NULL);
    h->mx.retries = mscope_counter(s, "profcol_exporter_retries_total",
                                   "Export attempts that were retried.", NULL);
    for (i = 0; i < DROP_NREASONS; i++) {
        h->mx.dropped[i] =
            mscope_counter(s, "profcol_exporter_dropped_profiles_total",
                           "Profiles dropped by the exporter, by reason.",
                           "reason", drop_names[i], NULL);
    }
    mscope_gauge_fn(s, "profcol_exporter_queue_size",
                    "Batches in the sending queue.", gauge_queue_size, h,
                    NULL);
    mscope_gauge_fn(s, "profcol_exporter_queue_bytes",
                    "Memory the sending queue holds (batches, or a "
                    "persistent queue's in-memory copies).",
                    gauge_queue_bytes, h, NULL);
    if (h->pq != NULL) {
        mscope_gauge_fn(s, "profcol_exporter_queue_disk_bytes",
                        "Bytes of the persistent queue's segments on disk.",
                        gauge_queue_disk_bytes, h, NULL);
    }
    h->mx.capacity = mscope_gauge(s, "profcol_exporter_queue_capacity",
                                  "Capacity of the sending queue.", NULL);
    mgauge_set(h->mx.capacity, (double)h->cfg->queue.queue_size);
}

/* ---- delivery ------------------------------------------------------------ */

enum outcome {
    OUT_DONE,      /* sent or dropped: acknowledge */
    OUT_ABANDONED, /* stopped while retrying: the caller decides */
};

/* Sleeps up to ms unless the helper is told to give up; nonzero if so. */
static int sleep_interruptible(struct exphelper *h, int64_t ms, int persist)
{
    struct timespec dl = clock_mono_after(ms);
    int gave_up;

    pthread_mutex_lock(&h->mu);
    for (;;) {
        gave_up = atomic_load(&h->abort) ||
                  (persist && atomic_load(&h->stopping));
        if (gave_up ||
            pthread_cond_timedwait(&h->cv, &h->mu, &dl) == ETIMEDOUT) {
            break;
        }
    }
    gave_up = atomic_load(&h->abort) || (persist && atomic_load(&h->stopping));
    pthread_mutex_unlock(&h->mu);
    return gave_up;
}

static void count_sent(struct exphelper *h, struct batch *b,
                       const struct export_result *r)
{
    uint32_t np = batch_profile_count(b);
    uint32_t rej = r->rejected_profiles < np ? r->rejected_profiles : np;

    cadd(&h->c_sent_profiles, h->mx.sent_profiles, np - rej);
    cadd(&h->c_sent_samples, h->mx.sent_samples, batch_sample_count(b));
    cadd(&h->c_sent_bytes, h->mx.sent_bytes, batch_bytes(b));
    if (rej != 0) {
        count_drop(h, DROP_REJECTED, rej);
        log_once(h, "backend rejected part of a batch",
                 r->msg[0] != '\0' ? r->msg : "partial success");
    }
}

static void count_failed(struct exphelper *h, struct batch *b,
                         enum drop_reason why, const char *msg, int queued)
{
    uint32_t np = batch_profile_count(b);

    cadd(&h->c_send_failed, h->mx.send_failed, np);
    if (queued) {
        count_drop(h, why, np);
    }
    log_once(h,
             why == DROP_PERMANENT  ? "export failed permanently, dropped"
             : why == DROP_SHUTDOWN ? "export abandoned at shutdown"
                                    : "export retries exhausted, dropped",
             msg[0] != '\0' ? msg : drop_names[why]);
}

/*
 * Exports b until it is sent, refused for good, out of retries, or the
 * helper gives up (stop deadline; for the persistent queue, any stop).
 * queued: b came from the queue (drops are counted as such); persist: the
 * record stays on disk when abandoned.
 */
static enum outcome deliver(struct exphelper *h, struct batch *b, int queued,
                            int persist, int *rc_out)
{
    struct retry_state rs;
    struct export_result r;
    int64_t delay;
    int rc;

    retry_init(&rs, &h->cfg->retry, NULL, NULL, NULL, NULL);
    for (;;) {
        memset(&r, 0, sizeof(r));
        atomic_fetch_add_explicit(&h->c_exports, 1, memory_order_relaxed);
        rc = h->ops->export(h->ctx, b, h->cfg->timeout_ms, &r);
        *rc_out = rc;
        if (rc == PC_OK) {
            count_sent(h, b, &r);
            return OUT_DONE;
        }
        if (rc != PC_ERETRY) {
            count_failed(h, b, DROP_PERMANENT, r.msg, queued);
            return OUT_DONE;
        }
        if (retry_next(&rs, r.retry_after_ms, &delay) != PC_OK) {
            count_failed(h, b, DROP_EXHAUSTED, r.msg, queued);
            return OUT_DONE;
        }
        cadd(&h->c_retries, h->mx.retries, 1);
        if (sleep_interruptible(h, delay, persist)) {
            return OUT_ABANDONED;
        }
    }
}

/* Has b items waiting to be decoded from their bytes (the engine compacts
 * a batch that is going to wait in a queue: batch_compact)? */
static int has_undecoded(const struct batch *b)
{
    uint32_t i;

    for (i = 0; i < b->nitems; i++) {
        if (b->items[i].raw != NULL && b->items[i].pd == NULL) {
            return 1;
        }
    }
    return 0;
}

/*
 * The batch this consumer exports, taking b. A batch other queues still
 * hold is exported from a private clone (attributes copied, payloads
 * shared) when decoding is ahead: the models decoded for this export go
 * with the clone, instead of staying in the shared batch, at many times
 * its wire size, while it waits behind a slower exporter. Each exporter
 * needing the model then decodes it once. Without memory for the clone,
 * the shared batch is exported as it is.
 */
static struct batch *export_copy(struct batch *b)
{
    struct batch *c;

    if (!batch_shared(b) || !has_undecoded(b)) {
        return b;
    }
    c = batch_clone(b);
    if (c == NULL) {
        return b;
    }
    batch_unref(b);
    return c;
}

static void consume_memory(struct exphelper *h)
{
    struct batch *b;
    int rc;

    while (queue_pop(h->q, -1, &b) == PC_OK) {
        if (atomic_load(&h->crashed)) {
            batch_unref(b);
            continue;
        }
        b = export_copy(b);
        if (atomic_load(&h->abort) ||
            deliver(h, b, 1, 0, &rc) == OUT_ABANDONED) {
            count_drop(h, DROP_SHUTDOWN, batch_profile_count(b));
        }
        batch_unref(b);
    }
}

/* One record from disk: deliver it, then acknowledge unless abandoned. */
static void consume_record(struct exphelper *h, struct pqueue_ticket *t,
                           uint8_t *data, size_t len)
{
    struct batch *b = NULL;
    int rc = batch_deserialize(data, len, &b);

    free(data);
    if (rc != PC_OK) {
        log_once(h, "unreadable record in the persistent queue, dropped",
                 pc_strerror(rc));
        count_drop(h, DROP_CORRUPT, 1);
        pqueue_ack(h->pq, t);
        return;
    }
    if (deliver(h, b, 1, 1, &rc) == OUT_DONE) {
        pqueue_ack(h->pq, t);
    } else {
        pqueue_release(h->pq, t);
    }
    batch_unref(b);
}

/* A record whose batch the queue still held: deliver that batch. The
 * ticket keeps it if the record goes back to the queue. */
static void consume_held(struct exphelper *h, struct pqueue_ticket *t)
{
    struct batch *b = export_copy(t->held);
    int rc;

    t->held = b;
    if (deliver(h, b, 1, 1, &rc) == OUT_DONE) {
        pqueue_ack(h->pq, t);
        batch_unref(b);
    } else {
        pqueue_release(h->pq, t);
    }
}

static void consume_persistent(struct exphelper *h)
{
    struct pqueue_ticket t;
    uint8_t *data;
    size_t len;

    while (!atomic_load(&h->stopping) &&
           pqueue_get(h->pq, -1, &t, &data, &len) == PC_OK) {
        if (atomic_load(&h->stopping)) {
            free(data);
            pqueue_release(h->pq, &t);
            break;
        }
        if (t.held != NULL) {
            consume_held(h, &t);
        } else {
            consume_record(h, &t, data, len);
        }
    }
}

static void *consumer_main(void *arg)
{
    struct exphelper *h = arg;

    if (h->pq != NULL) {
        consume_persistent(h);
    } else {
        consume_memory(h);
    }
    pthread_mutex_lock(&h->mu);
    PC_ASSERT(h->running > 0);
    h->running--;
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

/* ---- lifecycle ----------------------------------------------------------- */

/* A persistent queue's in-memory copies when max_bytes sets no cap. */
#define HELD_MAX_DEFAULT ((uint64_t)256 << 20)

static void held_free(void *held)
{
    batch_unref(held);
}

static int open_persistent(struct exphelper *h, struct errctx *e)
{
    const struct exphelper_storage_cfg *s = &h->cfg->queue.storage;
    struct pqueue_opts o;
    char dir[4096], *p;
    int n;

    n = snprintf(dir, sizeof(dir), "%s/%s", s->directory, h->id);
    if (n < 0 || (size_t)n >= sizeof(dir)) {
        return err_set(e, PC_EINVAL, "%s: storage directory too long", h->id);
    }
    /* The id is "type/name": one directory level per exporter. */
    for (p = dir + strlen(s->directory) + 1; *p != '\0'; p++) {
        if (*p == '/') {
            *p = '_';
        }
    }
    memset(&o, 0, sizeof(o));
    o.dir = dir;
    o.max_size = s->max_size;
    o.max_records = (uint32_t)h->cfg->queue.queue_size;
    o.fsync = s->fsync;
    o.fsync_interval_ms = s->fsync_interval_ms;
    o.log_id = h->id;
    /* Batches wait in memory too, within the in-memory queue's byte cap. */
    o.held_free = held_free;
    o.held_max = h->cfg->queue.max_bytes != 0 ? h->cfg->queue.max_bytes
                                              : HELD_MAX_DEFAULT;
    return pqueue_open(&o, &h->pq, e);
}

/* The writer thread could not store b (pwriter.h). */
static void persist_failed(void *ctx, const struct batch *b, int rc)
{
    struct exphelper *h = ctx;

    if (rc != PC_EBUSY && rc != PC_ECLOSED) {
        log_once(h, "cannot store batch in the persistent queue",
                 pc_strerror(rc));
    }
    cadd(&h->c_enqueue_failed, h->mx.enqueue_failed, batch_profile_count(b));
}

static int start_persistent(struct exphelper *h, struct errctx *e)
{
    int rc = open_persistent(h, e);

    if (rc == PC_OK &&
        (rc = pwriter_start(h->pq, persist_failed, h, &h->pw)) != PC_OK) {
        rc = err_set(e, rc, "%s: cannot start the queue writer", h->id);
    }
    return rc;
}

static int init_queue(struct exphelper *h, struct errctx *e)
{
    const struct exphelper_queue_cfg *qc = &h->cfg->queue;
    int rc;

    if (!qc->enabled) {
        return PC_OK;
    }
    if (qc->queue_size < 1 || qc->num_consumers < 1) {
        return err_set(e, PC_ECONFIG,
                       "%s: queue_size and num_consumers "
                       "must be positive",
                       h->id);
    }
    if (qc->storage.directory != NULL && qc->storage.directory[0] != '\0') {
        return start_persistent(h, e);
    }
    rc = queue_new((uint32_t)qc->queue_size, &h->q);
    if (rc == PC_OK) {
        queue_set_max_bytes(h->q, qc->max_bytes);
    }
    return rc;
}

int exphelper_new(const struct exphelper_cfg *cfg, const char *id,
                  const struct exporter_ops *ops, void *ctx,
                  struct mscope *scope, struct exphelper **out,
                  struct errctx *e)
{
    struct exphelper *h;
    pthread_condattr_t ca;
    int rc;

    if (ops == NULL || ops->export == NULL || id == NULL) {
        return err_set(e, PC_EINVAL, "exporter helper: no export callback");
    }
    h = calloc(1, sizeof(*h));
    if (h == NULL) {
        return PC_ENOMEM;
    }
    h->cfg = cfg;
    h->ops = ops;
    h->ctx = ctx;
    snprintf(h->id, sizeof(h->id), "%s", id);
    pthread_mutex_init(&h->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&h->cv, &ca);
    pthread_condattr_destroy(&ca);
    rc = init_queue(h, e);
    if (rc != PC_OK) {
        exphelper_free(h);
        return rc;
    }
    metrics_setup(h, scope);
    *out = h;
    return PC_OK;
}

int exphelper_start(struct exphelper *h)
{
    uint32_t i, n;

    if (h->started || (h->q == NULL && h->pq == NULL)) {
        h->started = 1;
        return PC_OK;
    }
    n = (uint32_t)h->cfg->queue.num_consumers;
    h->threads = calloc(n, sizeof(*h->threads));
    if (h->threads == NULL) {
        return PC_ENOMEM;
    }
    h->started = 1;
    for (i = 0; i < n; i++) {
        pthread_mutex_lock(&h->mu);
        h->running++;
        pthread_mutex_unlock(&h->mu);
        if (pthread_create(&h->threads[i], NULL, consumer_main, h) != 0) {
            pthread_mutex_lock(&h->mu);
            h->running--;
            pthread_mutex_unlock(&h->mu);
            break;
        }
        h->nthreads++;
    }
    return h->nthreads != 0 ? PC_OK : PC_ENOMEM;
}

/* done == NULL: a synchronous put (durable per the policy on return).
 * Otherwise the writer thread serializes and stores b: the submitter (a
 * receiver on the main loop) only hands it over. */
static int submit_persistent(struct exphelper *h, struct batch *b,
                             int64_t wait, exphelper_done_fn done, void *arg)
{
    struct buf ser;
    int rc;

    if (done != NULL && h->pw != NULL) {
        rc = pwriter_submit(h->pw, batch_ref(b), wait, done, arg);
        if (rc != PC_EINPROGRESS) {
            batch_unref(b); /* the writer did not take it */
        }
        return rc;
    }
    buf_init(&ser, PQUEUE_MAX_RECORD);
    rc = batch_serialize(b, &ser);
    if (rc == PC_OK) {
        rc = pqueue_put_async(h->pq, ser.data, ser.len, wait, done, arg);
    }
    buf_free(&ser);
    if (rc != PC_OK && rc != PC_EINPROGRESS && rc != PC_EBUSY &&
        rc != PC_ECLOSED) {
        log_once(h, "cannot store batch in the persistent queue",
                 pc_strerror(rc));
    }
    return rc;
}

int exphelper_submit(struct exphelper *h, struct batch *b)
{
    return exphelper_submit_async(h, b, NULL, NULL);
}

int exphelper_submit_async(struct exphelper *h, struct batch *b,
                           exphelper_done_fn done, void *arg)
{
    uint32_t np = batch_profile_count(b);
    int64_t wait = h->cfg->queue.block_on_overflow ? h->cfg->timeout_ms : 0;
    int rc;

    if (atomic_load(&h->stopping)) {
        rc = PC_EBUSY;
    } else if (h->pq != NULL) {
        rc = submit_persistent(h, b, wait, done, arg);
    } else if (h->q != NULL) {
        rc = queue_push(h->q, b, wait);
        if (rc == PC_OK) {
            return PC_OK; /* the queue has our reference */
        }
    } else {
        /* No queue: the caller waits for the export and its retries. */
        if (deliver(h, b, 0, 0, &rc) == OUT_ABANDONED) {
            rc = PC_ERETRY;
        }
        batch_unref(b);
        return rc;
    }
    batch_unref(b);
    if (rc == PC_EINPROGRESS) {
        return rc;
    }
    if (rc != PC_OK) {
        cadd(&h->c_enqueue_failed, h->mx.enqueue_failed, np);
        return PC_EBUSY;
    }
    return PC_OK;
}

/* Waits until every consumer exited or the deadline passed (mutex held);
 * nonzero when they all exited. */
static int wait_consumers(struct exphelper *h, int64_t deadline_ms)
{
    struct timespec dl;
    int64_t left;

    while (h->running != 0) {
        left = deadline_ms - clock_mono_ms();
        if (left <= 0) {
            return 0;
        }
        dl = clock_mono_after(left);
        pthread_cond_timedwait(&h->cv, &h->mu, &dl);
    }
    return 1;
}

/* In-memory batches nobody will send any more (never started, or the
 * consumers gave up at the deadline). */
static void drop_leftovers(struct exphelper *h)
{
    struct batch *b;

    if (h->q == NULL) {
        return;
    }
    while (queue_pop(h->q, 0, &b) == PC_OK) {
        if (!atomic_load(&h->crashed)) {
            count_drop(h, DROP_SHUTDOWN, batch_profile_count(b));
        }
        batch_unref(b);
    }
}

int exphelper_stop(struct exphelper *h, int64_t deadline_ms)
{
    uint64_t before = atomic_load(&h->c_dropped[DROP_SHUTDOWN]);
    uint32_t i;
    int drained;

    if (h->stopped) {
        return PC_OK;
    }
    h->stopped = 1;
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->stopping, 1);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    if (h->q != NULL) {
        queue_close(h->q);
    }
    if (h->pw != NULL) {
        pwriter_stop(h->pw); /* stores what it holds: consumers still run */
    }
    if (h->pq != NULL) {
        pqueue_shutdown(h->pq);
    }
    pthread_mutex_lock(&h->mu);
    drained = wait_consumers(h, deadline_ms);
    if (!drained) {
        atomic_store(&h->abort, 1);
        pthread_cond_broadcast(&h->cv);
    }
    pthread_mutex_unlock(&h->mu);
    for (i = 0; i < h->nthreads; i++) {
        pthread_join(h->threads[i], NULL);
    }
    h->nthreads = 0;
    /* Every consumer counted itself out before it exited. */
    PC_ASSERT(h->running == 0);
    drop_leftovers(h);
    return atomic_load(&h->c_dropped[DROP_SHUTDOWN]) != before ? PC_ETIMEDOUT
                                                               : PC_OK;
}

void exphelper_crash_for_test(struct exphelper *h)
{
    atomic_store(&h->crashed, 1);
    pthread_mutex_lock(&h->mu);
    atomic_store(&h->abort, 1);
    atomic_store(&h->stopping, 1);
    pthread_cond_broadcast(&h->cv);
    pthread_mutex_unlock(&h->mu);
    exphelper_stop(h, 0);
}

void exphelper_free(struct exphelper *h)
{
    if (h == NULL) {
        return;
    }
    exphelper_stop(h, 0);
    /* The queue-size gauge calls back into h: it must go first. */
    mscope_free(h->scope);
    queue_free(h->q);
    pwriter_free(h->pw);
    pqueue_close(h->pq);
    free(h->threads);
    pthread_cond_destroy(&h->cv);
    pthread_mutex_destroy(&h->mu);
    free(h);
}

uint32_t exphelper_queue_size(struct exphelper *h)
{
    if (h->pq != NULL) {
        return pqueue_size(h->pq);
    }
    return h->q != NULL ? queue_size(h->q) : 0;
}

void exphelper_get_stats(struct exphelper *h, struct exphelper_stats *st)
{
    st->sent_profiles = atomic_load(&h->c_sent_profiles);
    st->sent_samples = atomic_load(&h->c_sent_samples);
    st->sent_bytes = atomic_load(&h->c_sent_bytes);
    st->send_failed_profiles = atomic_load(&h->c_send_failed);
    st->enqueue_failed_profiles = atomic_load(&h->c_enqueue_failed);
    st->retries = atomic_load(&h->c_retries);
    st->exports = atomic_load(&h->c_exports);
    st->dropped_permanent = atomic_load(&h->c_dropped[DROP_PERMANENT]);
    st->dropped_exhausted = atomic_load(&h->c_dropped[DROP_EXHAUSTED]);
    st->dropped_shutdown = atomic_load(&h->c_dropped[DROP_SHUTDOWN]);
    st->dropped_corrupt = atomic_load(&h->c_dropped[DROP_CORRUPT]);
    st->dropped_rejected = atomic_load(&h->c_dropped[DROP_REJECTED]);
}

int exphelper_same_batch(struct exphelper_batch_id *id, const void *exporter,
                         const struct batch *b)
{
    uint64_t first = b->nitems ? b->items[0].received_ns : 0;

    /* The items pointer and the first item's time tell a new batch at a
     * reused address from the same one. */
    if (id->exporter == exporter && id->b == b && id->items == b->items &&
        id->nitems == b->nitems && id->first_ns == first) {
        return 1;
    }
    id->exporter = exporter;
    id->b = b;
    id->items = b->items;
    id->nitems = b->nitems;
    id->first_ns = first;
    return 0;
}
