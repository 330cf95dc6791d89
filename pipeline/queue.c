/*
 * queue.c: bounded FIFO of batch references (see queue.h).
 *
 * A ring buffer of pointers sized once at creation, so pushing never
 * allocates: a full queue is a refusal, never an out-of-memory.
 */
#include "pipeline/queue.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "model/err.h"

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    struct batch **ring;
    uint32_t cap;
    uint32_t head;          /* index of the oldest */
    uint32_t len;
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
    if (q->ring == NULL) {
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
    for (i = 0; i < q->len; i++) {
        batch_unref(q->ring[(q->head + i) % q->cap]);
    }
    pthread_cond_destroy(&q->not_empty);
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q->ring);
    free(q);
}

/* Absolute CLOCK_MONOTONIC time wait_ms from now. */
static struct timespec deadline_after(int64_t wait_ms)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)(wait_ms / 1000);
    ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
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

int queue_push(struct queue *q, struct batch *b, int64_t wait_ms)
{
    struct timespec dl = deadline_after(wait_ms > 0 ? wait_ms : 0);
    int rc = PC_OK;

    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->len == q->cap) {
        if (wait_ms == 0 || cond_wait_until(&q->not_full, &q->mu, wait_ms,
                                            &dl)) {
            break;
        }
    }
    if (q->closed) {
        rc = PC_ECLOSED;
    } else if (q->len == q->cap) {
        rc = PC_EBUSY;
    } else {
        q->ring[(q->head + q->len) % q->cap] = b;
        q->len++;
        pthread_cond_signal(&q->not_empty);
    }
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int queue_pop(struct queue *q, int64_t wait_ms, struct batch **out)
{
    struct timespec dl = deadline_after(wait_ms > 0 ? wait_ms : 0);
    int rc = PC_OK;

    pthread_mutex_lock(&q->mu);
    while (!q->closed && q->len == 0) {
        if (wait_ms == 0 || cond_wait_until(&q->not_empty, &q->mu, wait_ms,
                                            &dl)) {
            break;
        }
    }
    if (q->len == 0) {
        rc = q->closed ? PC_ECLOSED : PC_ETIMEDOUT;
    } else {
        *out = q->ring[q->head];
        q->ring[q->head] = NULL;
        q->head = (q->head + 1) % q->cap;
        q->len--;
        pthread_cond_signal(&q->not_full);
    }
    pthread_mutex_unlock(&q->mu);
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

uint32_t queue_capacity(const struct queue *q)
{
    return q->cap;
}
