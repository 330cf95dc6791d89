/*
 * bench_ui_store.c: what the status page costs per profile.
 *
 *   bench_ui_store CPU_PPROF [ITERS]
 *
 * CPU_PPROF is the real Go CPU profile of tests/fixtures. Three numbers,
 * each the median of ITERS runs, next to the pprof decode of the same file
 * measured in the same run:
 *   offer   ui_store_offer(): what the pipeline's main loop pays per batch
 *           (a reference, a place on the queue, waking the worker); the
 *           queue is drained between runs, so a refusal is never timed
 *   merge   the worker's merge of one decoded profile into its series'
 *           current slot (ui_store_add_pdata), the tree already warm
 *   render  a page's flame graph query (on an HTTP worker): merging the
 *           slots and the SVG
 * Output: one line each, in microseconds.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/pprof.h"
#include "component/batch.h"
#include "core/clock.h"
#include "flame/flame.h"
#include "ui/ui_store.h"

#define MAX_ITERS 100000

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

static double median_us(int64_t *ns, int n)
{
    qsort(ns, (size_t)n, sizeof(*ns), cmp_i64);
    return (double)ns[n / 2] / 1000.0;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *d = NULL;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) <= 0 ||
        fseek(f, 0, SEEK_SET) != 0 || (d = malloc((size_t)n)) == NULL ||
        fread(d, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "bench_ui_store: cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return d;
}

int main(int argc, char **argv)
{
    static int64_t t[MAX_ITERS];
    struct ui_store *s;
    struct pdata *pd = NULL;
    struct batch *b;
    struct item *it;
    size_t len;
    unsigned char *data;
    int iters = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 2000, i;
    int64_t now = clock_real_ns() / 1000000;
    double dec, offer, merge, render;

    if (argc < 2 || iters < 1 || iters > MAX_ITERS) {
        fprintf(stderr, "usage: bench_ui_store CPU_PPROF [ITERS]\n");
        return 2;
    }
    data = slurp(argv[1], &len);
    for (i = 0; i < iters; i++) {
        int64_t t0 = clock_mono_ns();
        struct pdata *p = NULL;
        if (pprof_decode(data, len, NULL, &p, NULL) != PC_OK) {
            fprintf(stderr, "bench_ui_store: not a pprof\n");
            return 2;
        }
        t[i] = clock_mono_ns() - t0;
        if (pd == NULL) {
            pd = p;
        } else {
            pdata_free(p);
        }
    }
    dec = median_us(t, iters);
    if (ui_store_new(900000, (size_t)64 << 20, &s) != PC_OK) {
        return 1;
    }
    for (i = 0; i < iters; i++) {
        int64_t t0 = clock_mono_ns();
        ui_store_add_pdata(s, "profiles", "bench", pd, -1, now);
        t[i] = clock_mono_ns() - t0;
    }
    merge = median_us(t, iters);
    b = batch_new("bench");
    it = batch_add_item(b);
    it->pd = shared_pdata_new(pd);
    for (i = 0; i < iters; i++) {
        int64_t t0 = clock_mono_ns();
        ui_store_offer(s, "profiles", b);
        t[i] = clock_mono_ns() - t0;
        /* Let the worker drain between hand-overs: a full queue would
         * time the refusal, not the hand-over. */
        ui_store_settle(s);
    }
    offer = median_us(t, iters);
    for (i = 0; i < (iters < 200 ? iters : 200); i++) {
        struct flame_tree tr;
        struct flame_render r = {0};
        struct buf out;
        int64_t t0 = clock_mono_ns();
        flame_init(&tr, 0);
        buf_init(&out, 0);
        ui_store_tree(s, "profiles", "bench", "cpu:nanoseconds", now - 900000,
                      now + 1000, &tr, 0, NULL);
        flame_svg(&tr, &r, &out);
        t[i] = clock_mono_ns() - t0;
        buf_free(&out);
        flame_free(&tr);
    }
    render = median_us(t, iters < 200 ? iters : 200);
    printf("pprof decode (reference)  %9.2f us\n", dec);
    printf("offer (main loop)         %9.2f us  %5.2f%% of decode\n", offer,
           100 * offer / dec);
    printf("merge (worker)            %9.2f us  %5.1f%% of decode\n", merge,
           100 * merge / dec);
    printf("render (page query)       %9.2f us\n", render);
    batch_unref(b);
    ui_store_free(s);
    free(data);
    return 0;
}
