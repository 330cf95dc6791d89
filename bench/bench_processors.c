/*
 * bench_processors.c: the cost of each processor relative to the pprof
 * decode of the same profile, measured in the same run.
 *
 *   bench_processors CPU_PPROF SPANS_PPROF [ITERS]
 *
 * CPU_PPROF is the real Go CPU profile (pprof.Do labels), SPANS_PPROF the
 * one with span/trace id labels (tests/fixtures/build.sh makes both). For
 * each case the median of ITERS runs of process() is compared with the
 * median pprof_decode of the case's input. Series-level processors reuse
 * one batch (they change attributes only); payload processors get a fresh
 * item sharing the decoded profile each run, so the copy-on-write copy they
 * must make is part of their cost. Output: one line per case with the
 * ratio and the target (< 2% series level, < 30% payload level).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/bench_util.h"
#include "codec/pprof.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

#define MAX_ITERS 10000

struct bcase {
    const char *name;
    const char *type;
    const char *yaml;
    int payload;   /* needs a fresh decoded item per run */
    int spans;     /* runs on SPANS_PPROF */
    double target; /* max ratio to decode */
};

static const struct bcase cases[] = {
    {"attributes", "attributes",
     "actions:\n  - {key: env, action: upsert, value: prod}\n"
     "  - {key: region, action: insert, value: eu}\n"
     "  - {key: secret, action: hash}\n  - {key: tmp, action: delete}\n",
     0, 0, 0.02},
    {"filter", "filter",
     "selectors: ['{service_name=\"api\", env!=\"dev\", region=~\"eu-.*\"}']\n",
     0, 0, 0.02},
    {"cardinality (series)", "cardinality",
     "max_series: 10000\nmax_labels_per_series: 30\n"
     "max_label_value_length: 128\ndeny_labels: ['tmp*']\n",
     0, 0, 0.02},
    {"tracelink", "tracelink", "", 1, 1, 0.30},
    {"cardinality (sample labels)", "cardinality",
     "sample_labels: {max_values: 4}\n", 1, 0, 0.30},
};

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t time_decode(struct blob *raw, int iters, uint64_t *ns)
{
    int i;

    for (i = 0; i < iters; i++) {
        struct pdata *pd = NULL;
        uint64_t t0 = now_ns();
        if (pprof_decode(raw->data, raw->len, NULL, &pd, NULL) != PC_OK) {
            return 0;
        }
        ns[i] = now_ns() - t0;
        pdata_free(pd);
    }
    return bench_median(ns, iters);
}

static struct item *add_item(struct batch *b, struct blob *raw,
                             struct shared_pdata *sp)
{
    struct item *it = batch_add_item(b);

    it->format = PAYLOAD_PPROF;
    it->raw = raw != NULL ? blob_ref(raw) : NULL;
    it->pd = sp != NULL ? shared_pdata_ref(sp) : NULL;
    it->nprofiles = 1;
    item_set_attr_str(b, it, "service.name", "api", 3);
    item_set_attr_str(b, it, "env", "prod", 4);
    item_set_attr_str(b, it, "region", "eu-west-1", 9);
    item_set_attr_str(b, it, "secret", "s3cr3t", 6);
    item_set_attr_str(b, it, "k8s.pod.name", "api-7d9f-x2", 11);
    item_set_attr_str(b, it, "__name__", "process_cpu", 11);
    return it;
}

static uint64_t time_case(const struct bcase *c, struct blob *raw,
                          struct shared_pdata *sp, struct component_host *h,
                          int iters, uint64_t *ns)
{
    struct bench_proc p;
    struct batch *b = NULL;
    int i;

    if (bench_proc_new(&p, c->type, c->yaml, h) != 0) {
        fprintf(stderr, "bench: cannot create %s\n", c->name);
        exit(1);
    }
    for (i = 0; i < iters; i++) {
        uint64_t t0;
        if (c->payload || b == NULL) {
            batch_unref(b);
            b = batch_new("bench");
            add_item(b, c->payload ? NULL : raw, sp);
        }
        t0 = now_ns();
        p.f->ops.processor.process(p.ctx, b, NULL);
        ns[i] = now_ns() - t0;
    }
    batch_unref(b);
    bench_proc_free(&p);
    return bench_median(ns, iters);
}

int main(int argc, char **argv)
{
    static uint64_t ns[MAX_ITERS];
    struct blob *raw[2];
    struct shared_pdata *sp[2];
    uint64_t dec[2];
    struct component_host host;
    struct metrics *m;
    int iters = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 300;
    int k, fails = 0;
    size_t i;

    if (argc < 3) {
        fprintf(stderr,
                "usage: bench_processors CPU_PPROF SPANS_PPROF [ITERS]\n");
        return 2;
    }
    iters = iters < 1 ? 1 : iters > MAX_ITERS ? MAX_ITERS : iters;
    log_configure(LOG_ERROR, LOG_FORMAT_LOGFMT);
    memset(&host, 0, sizeof(host));
    host.id = "bench";
    m = metrics_new();
    host.metrics = mscope_new(m, "processor", "bench", NULL);
    for (k = 0; k < 2; k++) {
        struct pdata *pd = NULL;
        raw[k] = bench_read_blob(argv[1 + k]);
        if (raw[k] == NULL || pprof_decode(raw[k]->data, raw[k]->len, NULL,
                                           &pd, NULL) != PC_OK) {
            fprintf(stderr, "bench: cannot read %s\n", argv[1 + k]);
            return 1;
        }
        sp[k] = shared_pdata_new(pd);
        dec[k] = time_decode(raw[k], iters, ns);
        printf("decode %-28s median %8.1f us (%llu samples)\n", argv[1 + k],
               dec[k] / 1e3, (unsigned long long)pdata_sample_count(pd));
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bcase *c = &cases[i];
        int s = c->spans;
        uint64_t t = time_case(c, raw[s], sp[s], &host, iters, ns);
        double ratio = (double)t / (double)dec[s];
        int ok = ratio < c->target;
        fails += !ok;
        printf(
            "%-28s median %8.2f us = %6.2f%% of decode (target < %.0f%%): %s\n",
            c->name, t / 1e3, 100 * ratio, 100 * c->target,
            ok ? "PASS" : "MISS");
    }
    for (k = 0; k < 2; k++) {
        shared_pdata_unref(sp[k]);
        blob_unref(raw[k]);
    }
    mscope_free(host.metrics);
    metrics_free(m);
    return fails ? 3 : 0;
}
