/*
 * inspect.c: `profcol inspect FILE`: what a profile holds. For every profile:
 * sample types, sample count, period, time, duration, and the top 10
 * functions by flat and by cumulative value of the default sample type
 * (pprof's rule: default_sample_type if set, else the last type).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "cmd/cmd.h"
#include "cmd/load.h"
#include "core/err.h"
#include "core/intern.h"
#include "flame/flame.h"

#define INSPECT_MAX_INPUT ((size_t)1 << 30)
#define INSPECT_TOP 10

struct fn_total {
    struct pstr name;
    int64_t flat;
    int64_t cum;
    uint64_t last_sample; /* cum counts a function once per sample */
};

struct fn_table {
    struct itab index;
    struct fn_total *v;
    uint32_t n, cap;
};

static struct fn_total *fn_get(struct fn_table *t, struct pstr name)
{
    struct itab_probe pr;
    int32_t i;

    itab_probe_start(&t->index, XXH3_64bits(name.ptr, name.len), &pr);
    while ((i = itab_probe_next(&t->index, &pr)) >= 0) {
        if (pstr_eqp(t->v[i].name, name)) {
            return &t->v[i];
        }
    }
    if (t->n == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 256;
        struct fn_total *nv = realloc(t->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            return NULL;
        }
        t->v = nv;
        t->cap = ncap;
    }
    if (itab_insert(&t->index, &pr, (int32_t)t->n) != PC_OK) {
        return NULL;
    }
    memset(&t->v[t->n], 0, sizeof(t->v[0]));
    t->v[t->n].name = name;
    t->v[t->n].last_sample = UINT64_MAX;
    return &t->v[t->n++];
}

static struct pstr frame_name(const struct dict *d, int32_t loc, uint32_t line)
{
    static const struct pstr unknown = {"<unknown>", 9};
    const struct location *l;

    if (loc <= 0 || (uint32_t)loc >= d->nlocations) {
        return unknown;
    }
    l = &d->locations[loc];
    if (line >= l->nlines || l->lines[line].function <= 0 ||
        (uint32_t)l->lines[line].function >= d->nfunctions) {
        return unknown;
    }
    return dict_str(d, d->functions[l->lines[line].function].name);
}

static int accumulate(const struct dict *d, const struct profile *p,
                      uint32_t vi, struct fn_table *t)
{
    uint32_t si, k, li;

    for (si = 0; si < p->nsamples; si++) {
        const struct sample *s = &p->samples[si];
        const struct stack *st;
        int64_t v = flame_sample_value(p, s, vi);
        int leaf = 1;
        if (s->stack <= 0 || (uint32_t)s->stack >= d->nstacks) {
            continue;
        }
        st = &d->stacks[s->stack];
        for (k = 0; k < st->n; k++) {
            int32_t lk = stack_loc(st, k);
            const struct location *l = lk > 0 && (uint32_t)lk < d->nlocations
                                           ? &d->locations[lk]
                                           : NULL;
            uint32_t nl = l != NULL && l->nlines > 0 ? l->nlines : 1;
            for (li = 0; li < nl; li++) {
                struct fn_total *f = fn_get(t, frame_name(d, lk, li));
                if (f == NULL) {
                    return PC_ENOMEM;
                }
                if (leaf) {
                    f->flat += v;
                    leaf = 0;
                }
                if (f->last_sample != si) {
                    f->cum += v;
                    f->last_sample = si;
                }
            }
        }
    }
    return PC_OK;
}

static int by_flat(const void *a, const void *b)
{
    const struct fn_total *x = a, *y = b;

    return x->flat < y->flat ? 1 : x->flat > y->flat ? -1 : 0;
}

static int by_cum(const void *a, const void *b)
{
    const struct fn_total *x = a, *y = b;

    return x->cum < y->cum ? 1 : x->cum > y->cum ? -1 : 0;
}

static void print_top(struct fn_table *t, int cum, struct pstr unit)
{
    uint32_t i;

    qsort(t->v, t->n, sizeof(t->v[0]), cum ? by_cum : by_flat);
    printf("  top %d by %s (%.*s):\n", INSPECT_TOP, cum ? "cum" : "flat",
           (int)unit.len, unit.ptr);
    for (i = 0; i < t->n && i < INSPECT_TOP; i++) {
        printf("    %14" PRId64 "  %.*s\n", cum ? t->v[i].cum : t->v[i].flat,
               (int)t->v[i].name.len, t->v[i].name.ptr);
    }
}

static void print_time(int64_t ns)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;
    char text[64];

    if (ns == 0 || gmtime_r(&s, &tm) == NULL) {
        printf("  time: unset\n");
        return;
    }
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm);
    printf("  time: %s (%" PRId64 " ns)\n", text, ns);
}

static int inspect_profile(const struct dict *d, const struct profile *p,
                           uint32_t index)
{
    struct fn_table t;
    uint32_t i, vi = 0;
    struct pstr dt = {"", 0}, du = {"", 0};
    int rc;

    /* pprof's rule; a profile without sample types keeps index 0. */
    (void)flame_type_index(d, p, NULL, &vi);
    printf("profile %u\n  sample types:", index);
    for (i = 0; i < p->nsample_types; i++) {
        struct pstr ty = dict_str(d, p->sample_types[i].type);
        struct pstr un = dict_str(d, p->sample_types[i].unit);
        printf(" %.*s/%.*s%s", (int)ty.len, ty.ptr, (int)un.len, un.ptr,
               i == vi ? "*" : "");
        if (i == vi) {
            dt = ty;
            du = un;
        }
    }
    printf("\n  samples: %u\n", p->nsamples);
    printf("  period: %" PRId64 " %.*s/%.*s\n", p->period,
           (int)dict_str(d, p->period_type.type).len,
           dict_str(d, p->period_type.type).ptr,
           (int)dict_str(d, p->period_type.unit).len,
           dict_str(d, p->period_type.unit).ptr);
    print_time(p->time_nanos);
    printf("  duration: %.3f s\n", (double)p->duration_nanos / 1e9);
    (void)dt;
    memset(&t, 0, sizeof(t));
    rc = itab_init(&t.index, 1024);
    if (rc == PC_OK) {
        rc = accumulate(d, p, vi, &t);
    }
    if (rc == PC_OK) {
        print_top(&t, 0, du);
        print_top(&t, 1, du);
    }
    itab_free(&t.index);
    free(t.v);
    return rc;
}

static const char *format_name(enum loaded_format f)
{
    return f == LOADED_PPROF ? "pprof" : f == LOADED_JFR ? "jfr" : "otlp";
}

static void print_event_count(void *arg, const char *type, uint64_t n)
{
    (void)arg;
    printf("  %-44s %" PRIu64 "\n", type, n);
}

/* JFR files also list their events per type (the file is read again: the
 * loaded profiles keep no event counts). */
static int inspect_jfr_events(const char *path, const struct loaded *ld)
{
    unsigned char *data = NULL;
    size_t len = 0;
    char err[256];
    struct errctx e = {{0}};
    int rc;

    printf("jfr: %u chunk%s, %" PRIu64 " events, event setting \"%s\", "
           "%" PRIu64 " samples with unknown stacks dropped\n",
           ld->jfr.nchunks, ld->jfr.nchunks == 1 ? "" : "s", ld->jfr.nevents,
           ld->jfr.jfr_event, ld->jfr.unresolved);
    rc = cmd_read_file(path, INSPECT_MAX_INPUT, &data, &len, err, sizeof(err));
    if (rc == PC_OK) {
        rc = jfr_count_events(data, len, NULL, print_event_count, NULL, &e);
    }
    free(data);
    return rc;
}

int cmd_inspect(int argc, char **argv)
{
    struct loaded ld;
    struct profile **profs = NULL;
    uint32_t n = 0, i;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: profcol inspect FILE\n");
        return 2;
    }
    if (load_profile_file(argv[1], "auto", INSPECT_MAX_INPUT, &ld,
                          "inspect") != PC_OK) {
        return 1;
    }
    rc = loaded_profiles(&ld, &profs, &n);
    if (rc == PC_OK) {
        printf("file: %s (%s, %zu bytes, %u profile%s)\n", argv[1],
               format_name(ld.format), ld.file_bytes, n, n == 1 ? "" : "s");
        if (ld.format == LOADED_JFR) {
            rc = inspect_jfr_events(argv[1], &ld);
        }
        for (i = 0; i < n && rc == PC_OK; i++) {
            if (ld.format == LOADED_JFR) {
                printf("__name__: %s\n", jfr_kind_metric(ld.jfr.kind[i]));
            }
            rc = inspect_profile(&ld.pd->dict, profs[i], i);
        }
    }
    if (rc != PC_OK) {
        fprintf(stderr, "profcol inspect: %s\n", pc_strerror(rc));
    }
    free(profs);
    loaded_free(&ld);
    return rc == PC_OK ? 0 : 1;
}
