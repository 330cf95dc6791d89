/*
 * pwriter.c: the writer thread of a persistent sending queue (pwriter.h).
 *
 * A ring of PWRITER_MAX_PENDING items under one mutex; submitters wait on
 * `room`, the writer on `work`. The writer serializes and stores outside
 * the lock, one item at a time, so records keep the submission order.
 */
#include "exporterhelper/pwriter.h"

#include <pthread.h>
#include <stdlib.h>

#include "component/batch_codec.h"
#include "core/assert.h"
#include "core/buf.h"
#include "core/clock.h"
#include "exporterhelper/queue.h"

struct pw_item {
    struct batch *b; /* owned */
    int64_t wait_ms;
    pqueue_durable_fn done;
    void *arg;
};

struct pwriter {
    struct pqueue *pq;
    pwriter_failed_fn failed;
    void *ctx;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t work, room;
    struct pw_item ring[PWRITER_MAX_PENDING];
    uint32_t head, n;
    int closed, joined;
};

/* Records mostly made of payloads compressed already (gzip'd pprof) are
 * stored as they are: zstd would spend the CPU and not shrink them. */
static int store_flag(const struct batch *b, size_t serialized)
{
    return batch_compressed_bytes(b) >= (uint64_t)serialized / 4 * 3
               ? PQUEUE_PUT_STORE
               : 0;
}

/* Serializes and stores one item; answers it unless the committer will.
 * The queue may keep the batch itself with the record, so its consumer
 * need not read and decode the record again. */
static void pw_store(struct pwriter *w, struct pw_item *it)
{
    struct buf ser;
    int kept = 0;
    int rc;

    buf_init(&ser, PQUEUE_MAX_RECORD);
    rc = batch_serialize(it->b, &ser);
    if (rc == PC_OK) {
        rc = pqueue_put_held(w->pq, ser.data, ser.len, it->wait_ms, it->done,
                             it->arg, it->b, queue_batch_cost(it->b),
                             store_flag(it->b, ser.len), &kept);
    }
    buf_free(&ser);
    if (rc != PC_OK && rc != PC_EINPROGRESS) {
        w->failed(w->ctx, it->b, rc);
    }
    if (!kept) {
        batch_unref(it->b);
    }
    if (rc != PC_EINPROGRESS) {
        it->done(it->arg, rc == PC_OK ? PC_OK : PC_EBUSY);
    }
}

/* Takes the oldest item, waiting for one; 0 once closed and empty. */
static int pw_take(struct pwriter *w, struct pw_item *it)
{
    pthread_mutex_lock(&w->mu);
    while (w->n == 0 && !w->closed) {
        pthread_cond_wait(&w->work, &w->mu);
    }
    if (w->n == 0) {
        pthread_mutex_unlock(&w->mu);
        return 0;
    }
    *it = w->ring[w->head];
    w->head = (w->head + 1) % PWRITER_MAX_PENDING;
    w->n--;
    pthread_cond_signal(&w->room);
    pthread_mutex_unlock(&w->mu);
    return 1;
}

static void *pw_main(void *arg)
{
    struct pwriter *w = arg;
    struct pw_item it;

    while (pw_take(w, &it)) {
        pw_store(w, &it);
    }
    return NULL;
}

int pwriter_start(struct pqueue *pq, pwriter_failed_fn failed, void *ctx,
                  struct pwriter **out)
{
    struct pwriter *w = calloc(1, sizeof(*w));
    pthread_condattr_t ca;

    if (w == NULL) {
        return PC_ENOMEM;
    }
    w->pq = pq;
    w->failed = failed;
    w->ctx = ctx;
    pthread_mutex_init(&w->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->work, &ca);
    pthread_cond_init(&w->room, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&w->thread, NULL, pw_main, w) != 0) {
        w->joined = 1; /* no thread to join */
        pwriter_free(w);
        return PC_ENOMEM;
    }
    *out = w;
    return PC_OK;
}

/* Waits for room (mutex held); PC_OK, PC_EBUSY or PC_ECLOSED. */
static int pw_wait_room(struct pwriter *w, int64_t wait_ms)
{
    int64_t deadline = clock_mono_ms() + (wait_ms > 0 ? wait_ms : 0);
    struct timespec dl;

    while (!w->closed && w->n == PWRITER_MAX_PENDING) {
        if (wait_ms == 0) {
            return PC_EBUSY;
        }
        if (wait_ms < 0) {
            pthread_cond_wait(&w->room, &w->mu);
            continue;
        }
        if (clock_mono_ms() >= deadline) {
            return PC_EBUSY;
        }
        dl = clock_mono_after(deadline - clock_mono_ms());
        pthread_cond_timedwait(&w->room, &w->mu, &dl);
    }
    return w->closed ? PC_ECLOSED : PC_OK;
}

int pwriter_submit(struct pwriter *w, struct batch *b, int64_t wait_ms,
                   pqueue_durable_fn done, void *arg)
{
    int rc;

    PC_ASSERT(done != NULL);
    pthread_mutex_lock(&w->mu);
    rc = pw_wait_room(w, wait_ms);
    if (rc == PC_OK) {
        struct pw_item *it = &w->ring[(w->head + w->n) % PWRITER_MAX_PENDING];
        it->b = b;
        it->wait_ms = wait_ms;
        it->done = done;
        it->arg = arg;
        w->n++;
        pthread_cond_signal(&w->work);
        rc = PC_EINPROGRESS;
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void pwriter_stop(struct pwriter *w)
{
    pthread_mutex_lock(&w->mu);
    w->closed = 1;
    pthread_cond_broadcast(&w->work);
    pthread_cond_broadcast(&w->room);
    pthread_mutex_unlock(&w->mu);
    if (!w->joined) {
        pthread_join(w->thread, NULL);
        w->joined = 1;
    }
    /* The writer drains the ring before it exits. */
    PC_ASSERT(w->n == 0);
}

void pwriter_free(struct pwriter *w)
{
    if (w == NULL) {
        return;
    }
    pwriter_stop(w);
    pthread_cond_destroy(&w->room);
    pthread_cond_destroy(&w->work);
    pthread_mutex_destroy(&w->mu);
    free(w);
}
