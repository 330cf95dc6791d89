/*
 * queue.c: bounded FIFO of batch references (see queue.h).
 *
 * A ring buffer of pointers sized once at creation, so pushing never
 * allocates: a full queue is a refusal, never an out-of-memory.
 *
 * Wake-ups are what a push costs on a small machine (a futex syscall and a
 * cross-CPU interrupt each), so a push wakes a consumer only when one is
 * asleep and not already woken for earlier batches, and signals after
 * unlocking, so the woken thread does not run into the held mutex and
 * need a second wake-up to get it. Before sleeping, a consumer that just
 * finished a batch looks for the next one for a few microseconds
 * (yielding the CPU meanwhile): while batches keep coming, consumers stay
 * awake and producers make no wake-up at all; an idle queue costs one
 * such look per batch.
 */
#include "exporterhelper/queue.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/assert.h"
#include "core/err.h"
#include "model/profile.h"

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct batch **ring;
    uint64_t *cost;     /* bytes each queued batch holds (batch_cost) */
    uint64_t bytes;     /* their sum */
    uint64_t max_bytes; /* 0 = no cap in bytes */
    uint32_t cap;
    uint32_t head; /* index of the oldest */
    uint32_t len;
    uint32_t sleeping; /* consumers blocked in queue_pop */
    uint32_t woken;    /* of them, signalled and not yet running */
    uint32_t blocked;  /* producers waiting for room */
    uint32_t spinning; /* consumers looking without the lock */
    atomic_uint avail; /* len, for them to look at */
    int closed;
};

int queue_new(uint32_t capacity, struct queue **out)
{
    struct queue *q;
    pthread_condattr_t ca;

    if (capacity == 0) {
        return PC_EINVAL;
    }
    q = calloc(1, sizeof(*q));
    if (q == NULL) {
        return PC_ENOMEM;
    }
    q->ring = calloc(capacity, sizeof(*q->ring));
    q->cost = calloc(capacity, sizeof(*q->cost));
    if (q->ring == NULL || q->cost == NULL) {
        free(q->ring);
        free(q->cost);
        free(q);
        return PC_ENOMEM;
    }
    q->cap = capacity;
    pthread_mutex_init(&q->mu, NULL);
    /* Deadlines on the monotonic clock: a wall-clock jump must not turn a
     * 5 s wait into an hour. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&q->not_empty, &ca);
    pthread_cond_init(&q->not_full, &ca);
    pthread_condattr_destroy(&ca);
    *out = q;
    return PC_OK;
}

void queue_free(struct queue *q)
{
    uint32_t i;

    if (q == NULL) {
        return;
    }
    /* Freed only once no thread is inside: its mutex goes with it. */
    PC_ASSERT(q->sleeping == 0 && q->blocked == 0 && q->spinning == 0);
    for (i = 0; i < q->len; i++) {
        batch_unref(q->ring[(q->head + i) % q->cap]);
    }
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q->cost);
    free(q);
}

/* Waits on cv (mutex held); returns nonzero when the deadline passed. */
static int cond_wait_until(pthread_cond_t *cv, pthread_mutex_t *mu,
                           int64_t wait_ms, const struct timespec *dl)
{
    if (wait_ms < 0) {
        pthread_cond_wait(cv, mu);
        return 0;
    }
    return pthread_cond_timedwait(cv, mu, dl) == ETIMEDOUT;
}

uint64_t queue_batch_cost(const struct batch *b)
{
    const struct shared_pdata *last_pd = NULL;
    const struct blob *last_raw = NULL;
    uint64_t n = arena_bytes(&b->arena) + sizeof(*b);
    uint32_t i;

    for (i = 0; i < b->nitems; i++) {
        const struct item *it = &b->items[i];
        /* Items of one request share its payload: counted once when they
         * follow each other, as receivers add them. */
        if (it->raw != NULL && it->raw != last_raw) {
            n += it->raw->len + (it->raw->gz != NULL ? it->raw->gz->len : 0);
            last_raw = it->raw;
        }
        if (it->pd != NULL && it->pd != last_pd) {
            n += arena_bytes(&it->pd->pd->arena);
            last_pd = it->pd;
        }
    }
    return n;
}

void queue_set_max_bytes(struct queue *q, uint64_t max_bytes)
{
    pthread_mutex_lock(&q->mu);
    q->max_bytes = max_bytes;
    pthread_mutex_unlock(&q->mu);
}

/* No room for a batch of cost bytes (mutex held). A batch larger than the
 * byte cap on its own still goes into an empty queue: refusing it would
 * make its client retry for ever. */
static int queue_full(const struct queue *q, uint64_t cost)
{
    return q->len == q->cap ||
           (q->max_bytes != 0 && q->len > 0 && q->bytes + cost > q->max_bytes);
}

int queue_push(struct queue *q, struct batch *b, int64_t wait_ms)
{
    struct timespec dl = clock_mono_after(wait_ms);
    uint64_t cost = queue_batch_cost(b);
    int rc = PC_OK, wake = 0;

    pthread_mutex_lock(&q->mu);
    while (!q->closed && queue_full(q, cost)) {
        int timed_out;
        if (wait_ms == 0) {
            break;
        }
        q->blocked++;
        timed_out = cond_wait_until(&q->not_full, &q->mu, wait_ms, &dl);
        q->blocked--;
        if (timed_out) {
            break;
        }
    }
    if (q->closed) {
        rc = PC_ECLOSED;
    } else if (queue_full(q, cost)) {
        rc = PC_EBUSY;
    } else {
        /* Slots outside [head, head + len) are empty: nothing overwritten. */
        PC_ASSERT(b != NULL && q->ring[(q->head + q->len) % q->cap] == NULL);
        q->ring[(q->head + q->len) % q->cap] = b;
        q->cost[(q->head + q->len) % q->cap] = cost;
        q->bytes += cost;
        q->len++;
        atomic_store_explicit(&q->avail, q->len, memory_order_release);
        /* Wake a sleeper only for a batch no consumer is already headed
         * for: each looking or woken consumer takes one, so a burst still
         * spreads over the sleeping consumers of a slow exporter. */
        if (q->sleeping > q->woken && q->len > q->spinning + q->woken) {
            q->woken++;
            wake = 1;
        }
        /* Only sleepers are woken: a lost count would strand batches. */
        PC_ASSERT(q->woken <= q->sleeping);
    }
    pthread_mutex_unlock(&q->mu);
    if (wake) {
        pthread_cond_signal(&q->not_empty);
    }
    return rc;
}

/* Sleeps for a batch (mutex held); nonzero when the wait timed out. */
static int pop_wait(struct queue *q, int64_t wait_ms,
                    const struct timespec *dl)
{
    int timed_out;

    q->sleeping++;
    timed_out = cond_wait_until(&q->not_empty, &q->mu, wait_ms, dl);
    PC_ASSERT(q->sleeping > 0 && q->woken <= q->sleeping);
    q->sleeping--;
    /* Whether signalled or not, this consumer is running again: it no
     * longer counts as a pending wake-up (spurious and timed-out wake-ups
     * included, so a lost count never leaves batches without a wake). */
    if (q->woken > 0) {
        q->woken--;
    }
    return timed_out;
}

/* How long a consumer looks for the next batch before sleeping. */
#define POP_SPIN_NS 30000L

/* Mutex held, queue empty: looks (unlocked) for a batch for a moment.
 * Producers do not wake a looking consumer; it re-checks under the mutex
 * after it stopped looking, so no batch is left behind. */
static void pop_spin(struct queue *q)
{
    int64_t t0;

    q->spinning++;
    pthread_mutex_unlock(&q->mu);
    t0 = clock_mono_ns();
    while (atomic_load_explicit(&q->avail, memory_order_acquire) == 0 &&
           clock_mono_ns() - t0 < POP_SPIN_NS) {
        sched_yield();
    }
    pthread_mutex_lock(&q->mu);
    PC_ASSERT(q->spinning > 0);
    q->spinning--;
}

int queue_pop(struct queue *q, int64_t wait_ms, struct batch **out)
{
    struct timespec dl = clock_mono_after(wait_ms);
    int rc = PC_OK, room = 0;

    pthread_mutex_lock(&q->mu);
    if (!q->closed && q->len == 0 && wait_ms != 0) {
        pop_spin(q);
    }
    while (!q->closed && q->len == 0) {
        if (wait_ms == 0 || pop_wait(q, wait_ms, &dl)) {
            break;
        }
    }
    if (q->len == 0) {
        rc = q->closed ? PC_ECLOSED : PC_ETIMEDOUT;
    } else {
        PC_ASSERT(q->len <= q->cap && q->ring[q->head] != NULL);
        *out = q->ring[q->head];
        q->ring[q->head] = NULL;
        PC_ASSERT(q->bytes >= q->cost[q->head]);
        q->bytes -= q->cost[q->head];
        q->head = (q->head + 1) % q->cap;
        q->len--;
        atomic_store_explicit(&q->avail, q->len, memory_order_relaxed);
        room = q->blocked > 0; /* producers wait only when full */
        if (room && q->max_bytes != 0) {
            /* Several small batches may fit where one big one left. */
            pthread_mutex_unlock(&q->mu);
            pthread_cond_broadcast(&q->not_full);
            return rc;
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (room) {
        pthread_cond_signal(&q->not_full);
    }
    return rc;
}

void queue_close(struct queue *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->not_empty);
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
}

uint32_t queue_size(struct queue *q)
{
    uint32_t n;

    pthread_mutex_lock(&q->mu);
    n = q->len;
    pthread_mutex_unlock(&q->mu);
    return n;
}

uint64_t queue_bytes(struct queue *q)
{
    uint64_t n;

    pthread_mutex_lock(&q->mu);
    n = q->bytes;
    pthread_mutex_unlock(&q->mu);
    return n;
}

uint32_t queue_capacity(const struct queue *q)
{
    return q->cap;
}
