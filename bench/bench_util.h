/*
 * bench_util.h: helpers shared by the processor benchmarks
 * (bench_aggregate.c, bench_processors.c): the median of timings, a file
 * read into a blob, and a processor instance made from YAML text through
 * the same config path as profcol. Header-only: each benchmark is one
 * executable.
 */
#ifndef PROFCOL_BENCH_UTIL_H
#define PROFCOL_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/batch.h"
#include "component/component.h"
#include "component/registry.h"
#include "config/cfg.h"
#include "config/ynode.h"

static inline int bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The median of v[0, n) (the upper one for even n); sorts v. */
static inline uint64_t bench_median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), bench_cmp_u64);
    return v[n / 2];
}

/* The whole file at path, or NULL when it cannot be read or is empty. */
static inline struct blob *bench_read_blob(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *d = NULL;
    long n;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (d = malloc((size_t)n)) != NULL &&
        fread(d, 1, (size_t)n, f) == (size_t)n) {
        fclose(f);
        return blob_take(d, (size_t)n);
    }
    free(d);
    fclose(f);
    return NULL;
}

/* A processor instance: its factory, config document, config and context. */
struct bench_proc {
    const struct component_factory *f;
    struct ydoc doc;
    void *cfg, *ctx;
};

/* Creates the processor `type` configured by yaml, on host (which must
 * outlive it). 0, or -1 when the type is unknown or the config refused. */
static inline int bench_proc_new(struct bench_proc *p, const char *type,
                                 const char *yaml, struct component_host *host)
{
    struct cfg_diag d;
    char err[256];
    int rc;

    memset(p, 0, sizeof(*p));
    memset(&d, 0, sizeof(d));
    p->f = registry_find(COMPONENT_PROCESSOR, type);
    if (p->f == NULL ||
        ydoc_load_string("bench", yaml, &p->doc, err, sizeof(err)) != PC_OK) {
        return -1;
    }
    /* + 1: a config without fields still gets memory of its own. */
    p->cfg = calloc(1, p->f->config_size + 1);
    rc = p->cfg == NULL ? PC_ENOMEM
                        : cfg_decode(p->f->config, p->doc.root, p->cfg, &d);
    if (rc == PC_OK) {
        rc = p->f->create(p->cfg, host, &p->ctx, NULL);
    }
    cfg_diag_free(&d);
    return rc == PC_OK ? 0 : -1;
}

static inline void bench_proc_free(struct bench_proc *p)
{
    p->f->destroy(p->ctx);
    cfg_release(p->f->config, p->cfg);
    free(p->cfg);
    ydoc_free(&p->doc);
}

#endif
