/*
 * bench_engine.c: what the engine itself costs per batch on the receive
 * path, next to the pprof decode of the same profile in the same run.
 *
 *   bench_engine PROFILE.pb.gz [ITERATIONS]
 *
 * Per batch it does what a receiver and the engine do for one pipeline
 * without processors that fans out to three exporters with in-memory
 * sending queues: make a batch holding the received bytes (one copy, as a
 * receiver does), hand a reference to each exporter's queue
 * (exphelper_submit), drop the receiver's reference. The exporters' export()
 * does nothing, on their own consumer threads, so the queues never fill.
 * Prints ns per batch for the hand-off and for pprof_decode, and the ratio.
 * The machine may be busy (a shared 2-CPU VM): the two are measured in
 * ROUNDS interleaved rounds and the medians are compared, so a burst of
 * someone else's load hits both alike.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/err.h"
#include "codec/pprof.h"
#include "model/profile.h"
#include "component/batch.h"
#include "exporterhelper/exporter_helper.h"

#define NEXP 3
#define ROUNDS 15

static int noop_export(void *ctx, struct batch *b, int64_t timeout_ms,
                       struct export_result *r)
{
    (void)ctx;
    (void)b;
    (void)timeout_ms;
    (void)r;
    return PC_OK;
}

static const struct exporter_ops noop_ops = {.export = noop_export};

static double now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint8_t *read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0) {
        if (f != NULL) {
            fclose(f);
        }
        return NULL;
    }
    rewind(f);
    p = malloc((size_t)n);
    if (p != NULL && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return p;
}

/* One receiver hand-off: batch with the bytes, fan-out to every queue. */
static int handoff(struct exphelper **h, const uint8_t *data, size_t len)
{
    struct batch *b = batch_new("file");
    struct item *it;
    int i, rc = PC_OK;

    if (b == NULL || (it = batch_add_item(b)) == NULL) {
        return PC_ENOMEM;
    }
    it->format = PAYLOAD_PPROF;
    it->raw = blob_new(data, len);
    it->nprofiles = 1;
    for (i = 0; i < NEXP; i++) {
        int r = exphelper_submit(h[i], batch_ref(b));
        if (r != PC_OK) {
            rc = r;
        }
    }
    batch_unref(b);
    return rc;
}

static double bench_handoff(struct exphelper **h, const uint8_t *data,
                            size_t len, int iters)
{
    double t0 = now_ns();
    int i, busy = 0;

    for (i = 0; i < iters; i++) {
        if (handoff(h, data, len) != PC_OK) {
            busy++;
        }
    }
    if (busy > 0) {
        fprintf(stderr, "bench_engine: %d hand-offs refused\n", busy);
    }
    return (now_ns() - t0) / iters;
}

static double bench_decode(const uint8_t *data, size_t len, int iters)
{
    struct decode_limits lim;
    double t0 = now_ns();
    int i;

    memset(&lim, 0, sizeof(lim)); /* 0 = the defaults */
    for (i = 0; i < iters; i++) {
        struct pdata *pd = NULL;
        struct errctx e = {{0}};
        if (pprof_decode(data, len, &lim, &pd, &e) != PC_OK) {
            fprintf(stderr, "bench_engine: decode: %s\n", err_msg(&e, -1));
            exit(1);
        }
        pdata_free(pd);
    }
    return (now_ns() - t0) / iters;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Medians over ROUNDS interleaved rounds of iters/ROUNDS each. */
static void measure(struct exphelper **h, const uint8_t *data, size_t len,
                    int iters, double *t_handoff, double *t_decode)
{
    double th[ROUNDS], td[ROUNDS];
    int r, per = iters / ROUNDS > 0 ? iters / ROUNDS : 1;

    for (r = 0; r < ROUNDS; r++) {
        th[r] = bench_handoff(h, data, len, per);
        td[r] = bench_decode(data, len, per);
    }
    qsort(th, ROUNDS, sizeof(th[0]), cmp_double);
    qsort(td, ROUNDS, sizeof(td[0]), cmp_double);
    *t_handoff = th[ROUNDS / 2];
    *t_decode = td[ROUNDS / 2];
}

int main(int argc, char **argv)
{
    struct exphelper *h[NEXP];
    struct exphelper_cfg cfg;
    struct errctx e = {{0}};
    uint8_t *data;
    size_t len = 0;
    int iters = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 200, i;
    double t_handoff, t_decode;

    if (argc < 2 || (data = read_all(argv[1], &len)) == NULL || iters <= 0) {
        fprintf(stderr, "usage: bench_engine PROFILE.pb.gz [ITERATIONS]\n");
        return 2;
    }
    exphelper_cfg_default(&cfg);
    cfg.queue.queue_size = 1000000;
    cfg.queue.num_consumers = 1;
    for (i = 0; i < NEXP; i++) {
        char id[32];
        snprintf(id, sizeof(id), "noop/%d", i);
        if (exphelper_new(&cfg, id, &noop_ops, NULL, NULL, &h[i], &e) !=
                PC_OK ||
            exphelper_start(h[i]) != PC_OK) {
            fprintf(stderr, "bench_engine: %s\n", err_msg(&e, -1));
            return 1;
        }
    }
    bench_handoff(h, data, len, iters / 10 + 1); /* warm-up */
    bench_decode(data, len, iters / 10 + 1);
    measure(h, data, len, iters, &t_handoff, &t_decode);
    printf(
        "| input | bytes | hand-off to %d exporters (ns/batch) | pprof decode "
        "(ns) | engine / decode |\n|---|---|---|---|---|\n",
        NEXP);
    printf("| %s | %zu | %.0f | %.0f | %.2f %% |\n", argv[1], len, t_handoff,
           t_decode, 100.0 * t_handoff / t_decode);
    for (i = 0; i < NEXP; i++) {
        exphelper_stop(h[i], clock_mono_ms() + 10000);
        exphelper_free(h[i]);
    }
    free(data);
    return 0;
}
