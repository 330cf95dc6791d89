/*
 * bench_aggregate.c: what the aggregate processor saves and costs, and what
 * profilemetrics rules cost.
 *
 *   bench_aggregate agg ITERS UPLOAD.pb.gz...
 *       The uploads of one window (e.g. six 10 s Go CPU profiles for a 60 s
 *       window) through the `aggregate` processor: process() of each upload
 *       (decode and merge), then flush; the merged output encoded as the
 *       pprof an exporter sends (gzip level 6). Prints bytes in (the
 *       uploads), bytes out, their ratio, and CPU time per input profile
 *       (median of ITERS runs, process CPU clock), with and without the
 *       output's encoding.
 *   bench_aggregate rules ITERS PROFILE.pb.gz
 *       Ten profilemetrics rules (totals, function regexes, sample-label
 *       groups) evaluated on one decoded profile: CPU time per profile
 *       (median of ITERS), beside the pprof decode of the same profile.
 *
 * Each mode prints the peak RSS of the process at the end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench/bench_util.h"
#include "codec/pprof.h"
#include "exporters/profilemetrics/pm_rules.h"
#include "model/pdata_iter.h"
#include "telemetry/log.h"

#define MAX_ITERS 1000
#define MAX_UPLOADS 64

static uint64_t cpu_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct item *add_item(struct batch *b, struct blob *raw)
{
    struct item *it = batch_add_item(b);

    it->format = PAYLOAD_PPROF;
    it->raw = blob_ref(raw);
    it->nprofiles = 1;
    item_set_attr_str(b, it, "service.name", "api", 3);
    return it;
}

static long peak_rss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* ---- agg ------------------------------------------------------------- */

static struct batch *emitted;

static int capture(struct component_host *host, struct batch *b,
                   struct errctx *e)
{
    (void)host;
    (void)e;
    emitted = b;
    return PC_OK;
}

struct proc {
    struct bench_proc bp;
    struct component_host host;
};

static void proc_new(struct proc *p, const char *type, const char *yaml)
{
    memset(&p->host, 0, sizeof(p->host));
    p->host.id = type;
    p->host.emit = capture;
    if (bench_proc_new(&p->bp, type, yaml, &p->host) != 0) {
        fprintf(stderr, "cannot create %s\n", type);
        exit(2);
    }
}

/* One window: every upload processed, then flushed; returns the output's
 * encoded size when encode is set. */
static size_t one_window(struct proc *p, struct blob **up, int n, int encode)
{
    struct batch *b = batch_new("bench");
    struct errctx e = {{0}};
    size_t out = 0;
    uint32_t i;
    int k;

    for (k = 0; k < n; k++) {
        add_item(b, up[k]);
        p->bp.f->ops.processor.process(p->bp.ctx, b, &e);
        if (b->nitems != 0) {
            fprintf(stderr, "upload %d was not taken\n", k);
            exit(1);
        }
    }
    batch_unref(b);
    p->bp.f->ops.processor.flush(p->bp.ctx);
    for (i = 0; encode && emitted != NULL && i < emitted->nitems; i++) {
        struct item *it = &emitted->items[i];
        struct pdata_iter w;
        struct profile *pr;
        struct buf enc;
        buf_init(&enc, 0);
        batch_item_decode(emitted, it, &e);
        pdata_iter_init(&w, it->pd->pd, it->resource);
        while ((pr = pdata_iter_next(&w)) != NULL) {
            pprof_encode_gz(it->pd->pd, pr, 6, &enc, &e);
        }
        out += enc.len;
        buf_free(&enc);
    }
    batch_unref(emitted);
    emitted = NULL;
    return out;
}

static int run_agg(int iters, char **files, int n)
{
    static uint64_t t_plain[MAX_ITERS], t_enc[MAX_ITERS];
    struct blob *up[MAX_UPLOADS];
    size_t in = 0, out = 0;
    struct proc p;
    int i;

    for (i = 0; i < n; i++) {
        if ((up[i] = bench_read_blob(files[i])) == NULL) {
            fprintf(stderr, "cannot read %s\n", files[i]);
            return 2;
        }
        in += up[i]->len;
    }
    proc_new(&p, "aggregate", "window: 60s");
    for (i = 0; i < iters; i++) {
        uint64_t t0 = cpu_ns();
        one_window(&p, up, n, 0);
        t_plain[i] = cpu_ns() - t0;
        t0 = cpu_ns();
        out = one_window(&p, up, n, 1);
        t_enc[i] = cpu_ns() - t0;
    }
    printf("agg: uploads=%d bytes_in=%zu bytes_out=%zu ratio=%.3f\n", n, in,
           out, (double)out / (double)in);
    printf("agg: cpu_per_input_profile_us=%.0f (with output encode: %.0f)\n",
           (double)bench_median(t_plain, iters) / n / 1000.0,
           (double)bench_median(t_enc, iters) / n / 1000.0);
    printf("agg: peak_rss_kib=%ld\n", peak_rss_kib());
    return 0;
}

/* ---- rules ------------------------------------------------------------- */

static int run_rules(int iters, const char *file)
{
    static uint64_t t_eval[MAX_ITERS], t_dec[MAX_ITERS];
    static char *svc_env[] = {"service_name", "env"};
    static char *svc[] = {"service_name"};
    static char *span[] = {"service_name", "span_name"};
    static char *shard[] = {"shard"};
    struct pm_rule_cfg c[10] = {
        {"cpu_seconds_total",
         "{__name__=\"process_cpu\"}",
         "cpu",
         "",
         {svc_env, 2}},
        {"cpu_samples_total",
         "{__name__=\"process_cpu\"}",
         "samples",
         "",
         {svc, 1}},
        {"api_cpu_seconds_total",
         "{service_name=\"api\"}",
         "cpu",
         "",
         {svc_env, 2}},
        {"prod_cpu_seconds_total", "{env!=\"dev\"}", "cpu", "", {NULL, 0}},
        {"gc_cpu_seconds_total",
         "",
         "cpu",
         "^runtime\\.(gc|mark|scan)",
         {svc, 1}},
        {"flate_cpu_seconds_total", "", "cpu", "compress/flate", {svc, 1}},
        {"sha_cpu_seconds_total", "", "cpu", "sha256|crypto", {svc, 1}},
        {"span_cpu_seconds_total", "", "cpu", "", {span, 2}},
        {"shard_cpu_seconds_total", "", "cpu", "", {shard, 1}},
        {"shard_samples_total", "", "samples", "main\\.", {shard, 1}},
    };
    struct blob *raw = bench_read_blob(file);
    struct errctx e = {{0}};
    struct pm_rules *r;
    int i;

    if (raw == NULL) {
        fprintf(stderr, "cannot read %s\n", file);
        return 2;
    }
    if (pm_rules_new(c, 10, 100000, &r, &e) != 0) {
        fprintf(stderr, "rules: %s\n", e.msg);
        return 2;
    }
    for (i = 0; i < iters; i++) {
        struct batch *b = batch_new("bench");
        struct item *it = add_item(b, raw);
        uint64_t t0 = cpu_ns();
        batch_item_decode(b, it, &e);
        t_dec[i] = cpu_ns() - t0;
        t0 = cpu_ns();
        pm_rules_eval_item(r, b, it, &e);
        t_eval[i] = cpu_ns() - t0;
        batch_unref(b);
    }
    printf("rules: 10 rules per profile: %.1f us; pprof decode: %.1f us; "
           "ratio %.2f\n",
           (double)bench_median(t_eval, iters) / 1000.0,
           (double)bench_median(t_dec, iters) / 1000.0,
           (double)bench_median(t_eval, iters) /
               (double)bench_median(t_dec, iters));
    printf("rules: peak_rss_kib=%ld\n", peak_rss_kib());
    pm_rules_free(r);
    blob_unref(raw);
    return 0;
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long iters = argc > 2 ? strtol(argv[2], &end, 10) : 0;

    log_configure(LOG_ERROR, LOG_FORMAT_LOGFMT);
    if (argc < 4 || end == NULL || *end != '\0' || iters < 1 ||
        iters > MAX_ITERS) {
        fprintf(stderr, "usage: bench_aggregate agg|rules ITERS FILE...\n");
        return 2;
    }
    if (strcmp(argv[1], "agg") == 0 && argc - 3 <= MAX_UPLOADS) {
        return run_agg((int)iters, argv + 3, argc - 3);
    }
    if (strcmp(argv[1], "rules") == 0) {
        return run_rules((int)iters, argv[3]);
    }
    fprintf(stderr, "usage: bench_aggregate agg|rules ITERS FILE...\n");
    return 2;
}
