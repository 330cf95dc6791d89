/*
 * bench_pqueue.c: persistent queue throughput: records put (and then taken
 * and acknowledged) per second for records of a given size, under each
 * fsync policy; then, under `always`, with concurrency, where group commit
 * shares one fdatasync among every record written meanwhile:
 *   - async: one producer (as the main loop is) with up to INFLIGHT puts
 *     waiting for their commit (pqueue_put_async);
 *   - threads: THREADS producers calling the synchronous pqueue_put.
 *
 *   bench_pqueue [DIR] [RECORD_BYTES] [SECONDS] [THREADS] [INFLIGHT]
 *
 * Record contents are random bytes (a gzip'd pprof barely compresses), so
 * the MB/s are close to what reaches the disk.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"
#include "exporterhelper/pqueue.h"

static void fill(uint8_t *p, size_t n)
{
    uint64_t x = 88172645463325252ULL;
    size_t i;

    for (i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)x;
    }
}

static int run(const char *dir, int policy, size_t recsz, double secs)
{
    static const char *names[] = {"always", "interval", "never"};
    struct pqueue_opts o = {0};
    struct pqueue *pq;
    struct pqueue_ticket t;
    struct errctx e;
    uint8_t *rec = malloc(recsz), *d;
    size_t dl;
    int64_t t0, t1, t2;
    long n = 0, i;

    fill(rec, recsz);
    o.dir = dir;
    o.fsync = policy;
    o.max_size = (uint64_t)4 << 30;
    if (pqueue_open(&o, &pq, &e) != PC_OK) {
        fprintf(stderr, "open: %s\n", e.msg);
        free(rec);
        return 1;
    }
    t0 = clock_mono_ms();
    while (clock_mono_ms() - t0 < (int64_t)(secs * 1000)) {
        rec[0] = (uint8_t)n;
        if (pqueue_put(pq, rec, recsz, 0) != PC_OK) {
            break;
        }
        n++;
    }
    t1 = clock_mono_ms();
    for (i = 0; i < n; i++) {
        if (pqueue_get(pq, 0, &t, &d, &dl) != PC_OK) {
            break;
        }
        free(d);
        pqueue_ack(pq, &t);
    }
    t2 = clock_mono_ms();
    printf("fsync=%-8s record=%zu B  put: %ld records in %.2f s = %.0f rec/s "
           "%.1f MB/s   get+ack: %.0f rec/s %.1f MB/s\n",
           names[policy], recsz, n, (double)(t1 - t0) / 1000,
           n / ((double)(t1 - t0) / 1000),
           n * (double)recsz / 1e6 / ((double)(t1 - t0) / 1000),
           n / ((double)(t2 - t1 + 1) / 1000),
           n * (double)recsz / 1e6 / ((double)(t2 - t1 + 1) / 1000));
    pqueue_close(pq);
    free(rec);
    return 0;
}

/* ---- concurrency under `always` ------------------------------------------ */

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static long inflight;
static atomic_long durable;

static void on_durable(void *arg, int rc)
{
    (void)arg;
    if (rc == PC_OK) {
        atomic_fetch_add(&durable, 1);
    }
    pthread_mutex_lock(&mu);
    inflight--;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
}

struct producer {
    struct pqueue *pq;
    size_t recsz;
    int64_t until;
    long n;
};

static void *producer_main(void *arg)
{
    struct producer *p = arg;
    uint8_t *rec = malloc(p->recsz);

    fill(rec, p->recsz);
    while (clock_mono_ms() < p->until &&
           pqueue_put(p->pq, rec, p->recsz, -1) == PC_OK) {
        p->n++;
    }
    free(rec);
    return NULL;
}

static struct pqueue *open_always(const char *dir)
{
    struct pqueue_opts o = {0};
    struct pqueue *pq = NULL;
    struct errctx e;

    o.dir = dir;
    o.fsync = PQUEUE_FSYNC_ALWAYS;
    o.max_size = (uint64_t)8 << 30;
    if (pqueue_open(&o, &pq, &e) != PC_OK) {
        fprintf(stderr, "open: %s\n", e.msg);
        return NULL;
    }
    return pq;
}

static void report(const char *what, long n, size_t recsz, int64_t ms,
                   struct pqueue *pq)
{
    struct pqueue_stats st;

    pqueue_get_stats(pq, &st);
    printf("fsync=always   %-22s record=%zu B  %ld durable in %.2f s = %.0f "
           "rec/s %.1f MB/s, %.1f records per fdatasync\n",
           what, recsz, n, (double)ms / 1000, n / ((double)ms / 1000),
           n * (double)recsz / 1e6 / ((double)ms / 1000),
           st.commits != 0 ? (double)st.committed / (double)st.commits : 0);
}

static int run_threads(const char *dir, size_t recsz, double secs, int nt)
{
    struct pqueue *pq = open_always(dir);
    struct producer *p = calloc((size_t)nt, sizeof(*p));
    pthread_t *th = calloc((size_t)nt, sizeof(*th));
    int64_t t0 = clock_mono_ms();
    long n = 0;
    char what[32];
    int i;

    if (pq == NULL) {
        return 1;
    }
    for (i = 0; i < nt; i++) {
        p[i].pq = pq;
        p[i].recsz = recsz;
        p[i].until = t0 + (int64_t)(secs * 1000);
        pthread_create(&th[i], NULL, producer_main, &p[i]);
    }
    for (i = 0; i < nt; i++) {
        pthread_join(th[i], NULL);
        n += p[i].n;
    }
    snprintf(what, sizeof(what), "%d threads, put", nt);
    report(what, n, recsz, clock_mono_ms() - t0, pq);
    pqueue_close(pq);
    free(p);
    free(th);
    return 0;
}

static int run_async(const char *dir, size_t recsz, double secs, long maxin)
{
    struct pqueue *pq = open_always(dir);
    uint8_t *rec = malloc(recsz);
    int64_t t0 = clock_mono_ms();
    char what[32];
    long n = 0;

    if (pq == NULL) {
        free(rec);
        return 1;
    }
    fill(rec, recsz);
    atomic_store(&durable, 0);
    while (clock_mono_ms() - t0 < (int64_t)(secs * 1000)) {
        int rc;
        pthread_mutex_lock(&mu);
        while (inflight >= maxin) {
            pthread_cond_wait(&cv, &mu);
        }
        inflight++;
        pthread_mutex_unlock(&mu);
        rc = pqueue_put_async(pq, rec, recsz, -1, on_durable, NULL);
        if (rc != PC_EINPROGRESS) {
            pthread_mutex_lock(&mu);
            inflight--;
            pthread_mutex_unlock(&mu);
            break;
        }
        n++;
    }
    pthread_mutex_lock(&mu);
    while (inflight > 0) {
        pthread_cond_wait(&cv, &mu);
    }
    pthread_mutex_unlock(&mu);
    snprintf(what, sizeof(what), "async, %ld in flight", maxin);
    report(what, atomic_load(&durable), recsz, clock_mono_ms() - t0, pq);
    pqueue_close(pq);
    free(rec);
    return 0;
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/profcol-bench-pqueue";
    size_t recsz = argc > 2 ? (size_t)strtol(argv[2], NULL, 10) : 85 * 1024;
    double secs = argc > 3 ? strtod(argv[3], NULL) : 3;
    int nt = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 8;
    long maxin = argc > 5 ? strtol(argv[5], NULL, 10) : 64;
    int p, rc = 0;
    char sub[4096];

    for (p = PQUEUE_FSYNC_ALWAYS; p <= PQUEUE_FSYNC_NEVER; p++) {
        rc |= run(dir, p, recsz, secs);
    }
    /* Fresh directories: the runs above leave nothing, but be sure. */
    snprintf(sub, sizeof(sub), "%s/async", dir);
    rc |= run_async(sub, recsz, secs, maxin);
    snprintf(sub, sizeof(sub), "%s/threads", dir);
    rc |= run_threads(sub, recsz, secs, nt);
    return rc;
}
