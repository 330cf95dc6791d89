/*
 * bench_pqueue.c: persistent queue throughput: records put (and then taken
 * and acknowledged) per second for records of a given size, under each
 * fsync policy.
 *
 *   bench_pqueue [DIR] [RECORD_BYTES] [SECONDS]
 *
 * Record contents are random bytes (a gzip'd pprof barely compresses), so
 * the MB/s are close to what reaches the disk.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model/err.h"
#include "pipeline/pqueue.h"
#include "pipeline/retry.h"

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
    t0 = retry_now_ms();
    while (retry_now_ms() - t0 < (int64_t)(secs * 1000)) {
        rec[0] = (uint8_t)n;
        if (pqueue_put(pq, rec, recsz, 0) != PC_OK) {
            break;
        }
        n++;
    }
    t1 = retry_now_ms();
    for (i = 0; i < n; i++) {
        if (pqueue_get(pq, 0, &t, &d, &dl) != PC_OK) {
            break;
        }
        free(d);
        pqueue_ack(pq, &t);
    }
    t2 = retry_now_ms();
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

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "/tmp/profcol-bench-pqueue";
    size_t recsz = argc > 2 ? (size_t)atol(argv[2]) : 85 * 1024;
    double secs = argc > 3 ? atof(argv[3]) : 3;
    int p, rc = 0;

    for (p = PQUEUE_FSYNC_ALWAYS; p <= PQUEUE_FSYNC_NEVER; p++) {
        rc |= run(dir, p, recsz, secs);
    }
    return rc;
}
