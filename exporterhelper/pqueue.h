/*
 * pqueue.h: the persistent sending queue: records on disk that survive a
 * crash, replayed on the next start until acknowledged.
 *
 * A record is opaque bytes (the exporter helper stores serialized batches);
 * the queue compresses it with zstd and appends it to the current segment
 * file of its directory. A consumer takes a record (pqueue_get), tries to
 * deliver it, and acknowledges it (pqueue_ack) once it is sent or given up
 * on; acknowledgements are appended to a per-segment ack log, and a segment
 * whose records are all acknowledged is deleted. Reopening the directory
 * replays exactly the records whose acknowledgement had been written, in
 * the order they were put. docs/persistence.md gives the file format and
 * the guarantee of each fsync policy.
 *
 * Thread-safe: one mutex; puts, gets and acks may come from any thread.
 * One process at a time: the directory is locked with flock().
 */
#ifndef PROFCOL_PQUEUE_H
#define PROFCOL_PQUEUE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

enum pqueue_fsync {
    PQUEUE_FSYNC_ALWAYS = 0, /* fdatasync before the put is answered */
    PQUEUE_FSYNC_INTERVAL,   /* background fdatasync every interval */
    PQUEUE_FSYNC_NEVER,      /* the OS writes back when it likes */
};

#define PQUEUE_SEGMENT_SIZE_DEFAULT ((uint64_t)64 << 20)
#define PQUEUE_MAX_SIZE_DEFAULT ((uint64_t)1 << 30)
/* Largest record accepted, uncompressed and compressed. */
#define PQUEUE_MAX_RECORD ((size_t)256 << 20)

struct pqueue_opts {
    const char *dir;           /* this queue's own directory; created */
    uint64_t max_size;         /* bytes of segment files; 0 = default */
    uint64_t segment_size;     /* 0 = default (64 MiB) */
    uint32_t max_records;      /* unacknowledged records; 0 = no bound */
    int fsync;                 /* enum pqueue_fsync */
    int64_t fsync_interval_ms; /* PQUEUE_FSYNC_INTERVAL; 0 = 200 ms */
    int compress_level;        /* zstd level; 0 = 1 */
    const char *log_id;        /* component id for log lines */
    /* Records put with an in-memory copy (pqueue_put_held) keep it while
     * the copies' costs sum to at most held_max, so a consumer gets it
     * instead of reading, checking and decompressing the record again.
     * held_free releases the copies still pending at close; NULL = keep
     * no copies. */
    void (*held_free)(void *held);
    uint64_t held_max;
};

/* Names a record taken by pqueue_get, for pqueue_ack / pqueue_release. */
struct pqueue_ticket {
    uint64_t seg;
    uint64_t off;
    uint32_t len; /* compressed payload bytes */
    void *held;   /* the record's in-memory copy, or NULL (pqueue_get) */
    uint64_t held_cost;
};

struct pqueue_stats {
    uint32_t records; /* unacknowledged (pending + taken) */
    uint32_t pending; /* waiting for a consumer */
    uint32_t segments;
    uint64_t bytes;      /* segment bytes on disk */
    uint64_t held_bytes; /* in-memory copies kept with records */
    uint64_t replayed;   /* records found unacknowledged at open */
    uint64_t torn;       /* torn tails cut off at open */
    uint64_t corrupt;    /* corrupt regions skipped */
    uint64_t acked;
    uint64_t commits;   /* group commits (data fdatasyncs) */
    uint64_t committed; /* records they covered */
};

struct pqueue;

/* Opens (creating) the queue in o->dir and scans what is there.
 * PC_EBUSY when another process holds the directory; PC_EIO. */
int pqueue_open(const struct pqueue_opts *o, struct pqueue **out,
                struct errctx *e);

/* Syncs (unless fsync is never), closes and frees. Records stay on disk.
 * Records taken and not acknowledged are replayed by the next open. */
void pqueue_close(struct pqueue *pq);

/*
 * Stores a copy of data. wait_ms: 0 = refuse at once when full, > 0 = wait
 * up to that long for room, < 0 = without limit. PC_OK once stored (and
 * synced under PQUEUE_FSYNC_ALWAYS); PC_EBUSY (max_size or max_records
 * reached), PC_ETOOBIG (larger than the queue), PC_ECLOSED, PC_EIO.
 * Concurrent callers share fdatasyncs (group commit, below).
 */
int pqueue_put(struct pqueue *pq, const uint8_t *data, size_t len,
               int64_t wait_ms);

/*
 * Group commit. Under PQUEUE_FSYNC_ALWAYS a put is appended at once and
 * made durable by the queue's committer thread: it fdatasyncs as soon as
 * records are waiting (no timer: a lone put is synced at once), and one
 * fdatasync covers every record appended since the previous one, so under
 * load the batching delay is at most one fdatasync. A record is given to
 * consumers only once durable.
 *
 * pqueue_put_async returns PC_EINPROGRESS when done(arg, rc) will be
 * called exactly once, from the committer thread and without the queue's
 * lock, after the fdatasync covering the record returned (rc PC_OK) or
 * failed (rc PC_EIO); PC_OK when the record is already as durable as the
 * policy makes it (interval, never: done is not called); or an error of
 * pqueue_put (done is not called). pqueue_close completes every pending
 * ticket before it returns.
 */
typedef void (*pqueue_durable_fn)(void *arg, int rc);

int pqueue_put_async(struct pqueue *pq, const uint8_t *data, size_t len,
                     int64_t wait_ms, pqueue_durable_fn done, void *arg);

/* pqueue_put_held flag: store the payload as it is, without zstd (the
 * caller knows it is mostly compressed bytes already). */
#define PQUEUE_PUT_STORE 1

/*
 * pqueue_put_async (done == NULL: pqueue_put), and the queue may keep
 * `held`, the same data in memory (costing `cost` bytes), with the record
 * for the consumer: *kept says whether it did (then the queue owns it);
 * otherwise the caller still owns held. Durability is the same: the record
 * is on disk either way. flags: 0 or PQUEUE_PUT_STORE.
 */
int pqueue_put_held(struct pqueue *pq, const uint8_t *data, size_t len,
                    int64_t wait_ms, pqueue_durable_fn done, void *arg,
                    void *held, uint64_t cost, int flags, int *kept);

/* Test hook: called by the committer after each data fdatasync returned
 * and before the tickets it covers are completed (NULL = none). */
void pqueue_set_sync_hook_for_test(void (*fn)(void *arg, uint32_t records),
                                   void *arg);

/*
 * Takes the oldest pending record: *data (malloc'd, the caller frees it)
 * and its ticket. wait_ms as for put. PC_OK, PC_ETIMEDOUT, or PC_ECLOSED
 * after pqueue_shutdown(). A record found corrupt when read is logged,
 * counted, acknowledged and skipped. A record with its in-memory copy is
 * not read: *data is NULL, and t->held passes to the caller, who gives
 * it back in t->held to pqueue_release, or frees it after pqueue_ack.
 */
int pqueue_get(struct pqueue *pq, int64_t wait_ms, struct pqueue_ticket *t,
               uint8_t **data, size_t *len);

/* The record is done with (sent, or dropped for good): never replayed. */
int pqueue_ack(struct pqueue *pq, const struct pqueue_ticket *t);

/* The record goes back to the front of the pending list, unacknowledged. */
void pqueue_release(struct pqueue *pq, const struct pqueue_ticket *t);

/* Refuses puts and wakes getters with PC_ECLOSED. Idempotent. */
void pqueue_shutdown(struct pqueue *pq);

/* Unacknowledged records (what the queue-size metric shows). */
uint32_t pqueue_size(struct pqueue *pq);

void pqueue_get_stats(struct pqueue *pq, struct pqueue_stats *st);

#endif
