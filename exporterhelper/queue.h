/*
 * queue.h: the in-memory sending queue of an exporter: a bounded FIFO of
 * batch references shared by producers (receivers, via the pipeline) and
 * the exporter's consumer threads.
 *
 * When full, queue_push() either refuses at once (PC_EBUSY: the receiver
 * answers 429/503 and its client retries) or waits for room up to a
 * caller-given time (block_on_overflow). queue_close() stops producers;
 * consumers still get what is queued, then PC_ECLOSED, so a shutdown can
 * drain. Thread-safe (one mutex, two condition variables).
 */
#ifndef PROFCOL_QUEUE_H
#define PROFCOL_QUEUE_H

#include <stdint.h>

#include "component/batch.h"

struct queue;

/* A queue of at most capacity (>= 1) batches. */
int queue_new(uint32_t capacity, struct queue **out);

/* Frees the queue and unrefs the batches still in it. */
void queue_free(struct queue *q);

/*
 * Appends b. On PC_OK the queue took the caller's reference; on failure the
 * caller keeps it. wait_ms: 0 = refuse at once when full, > 0 = wait up to
 * that long for room, < 0 = wait without limit. Returns PC_OK, PC_EBUSY
 * (full) or PC_ECLOSED.
 */
int queue_push(struct queue *q, struct batch *b, int64_t wait_ms);

/*
 * Takes the oldest batch (the caller gets its reference). wait_ms as for
 * queue_push. PC_OK, PC_ETIMEDOUT (still empty), or PC_ECLOSED (closed and
 * empty: the consumer should exit).
 */
int queue_pop(struct queue *q, int64_t wait_ms, struct batch **out);

/* No more pushes; wakes every waiter. Idempotent. */
void queue_close(struct queue *q);

/* A cap on the bytes the queued batches hold (0, the default: none); a
 * push past it is refused (or waits) as for a full queue, except into an
 * empty queue. */
void queue_set_max_bytes(struct queue *q, uint64_t max_bytes);
/* What a batch holds in memory, as the queue counts it: its own arena,
 * its items' original bytes and decoded payloads (shared ones once). */
uint64_t queue_batch_cost(const struct batch *b);
/* Snapshot of the bytes the queued batches hold. */
uint64_t queue_bytes(struct queue *q);

/* Snapshot of the number of batches queued, and the bound. */
uint32_t queue_size(struct queue *q);
uint32_t queue_capacity(const struct queue *q);

#endif
