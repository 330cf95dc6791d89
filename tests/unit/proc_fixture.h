/*
 * proc_fixture.h: helpers shared by the processor unit tests: real profiles
 * from tests/fixtures/build.sh (built into the test's working directory,
 * the build directory, when missing), a processor instance made from YAML
 * text through the same config path as profcol, and items made from files.
 * Header-only: each test is one executable.
 */
#ifndef PROFCOL_PROC_FIXTURE_H
#define PROFCOL_PROC_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/pprof.h"
#include "component/batch.h"
#include "component/component.h"
#include "telemetry/metrics.h"
#include "component/registry.h"
#include "config/ynode.h"

/* Path of a fixture profile; builds the fixtures once when missing. */
static inline const char *fx_path(const char *name, char *out, size_t len)
{
    const char *src = getenv("PROFCOL_SOURCE_DIR");
    char cmd[2048];

    snprintf(out, len, "fixtures/profiles/%s", name);
    if (access(out, R_OK) == 0) {
        return out;
    }
    snprintf(cmd, sizeof(cmd),
             "SKIP_NODE=1 bash %s/tests/fixtures/build.sh . "
             ">fixtures-build.log 2>&1",
             src != NULL ? src : "../");
    if (system(cmd) != 0) {
        fprintf(stderr, "fixtures build failed: see fixtures-build.log\n");
    }
    return access(out, R_OK) == 0 ? out : NULL;
}

static inline struct blob *fx_read(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    long n;

    if (f == NULL) {
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 &&
        fseek(f, 0, SEEK_SET) == 0 && (data = malloc((size_t)n)) != NULL &&
        fread(data, 1, (size_t)n, f) == (size_t)n) {
        fclose(f);
        return blob_take(data, (size_t)n);
    }
    free(data);
    fclose(f);
    return NULL;
}

/* Adds an item whose payload is the pprof file name (raw bytes). */
static inline struct item *fx_add_pprof(struct batch *b, const char *name)
{
    char path[512];
    struct item *it;
    struct blob *raw;

    if (fx_path(name, path, sizeof(path)) == NULL ||
        (raw = fx_read(path)) == NULL) {
        return NULL;
    }
    it = batch_add_item(b);
    if (it == NULL) {
        blob_unref(raw);
        return NULL;
    }
    it->format = PAYLOAD_PPROF;
    it->raw = raw;
    it->nprofiles = 1;
    return it;
}

/* Adds an item sharing a decoded pdata (no raw bytes). */
static inline struct item *fx_add_pdata(struct batch *b, struct pdata *pd)
{
    struct item *it = batch_add_item(b);

    if (it != NULL) {
        it->format = PAYLOAD_PPROF;
        it->pd = shared_pdata_new(pd);
        it->nprofiles = 1;
        it->nsamples = pdata_sample_count(pd);
    }
    return it;
}

/* A processor instance built from YAML config text. */
struct fx_proc {
    const struct component_factory *f;
    struct ydoc doc;
    void *cfg;
    void *ctx;
    struct component_host host;
    struct metrics *metrics;
    struct errctx e;
    struct cfg_diag diag;
};

/* 0 on success; on a config error the first message is in p->e. */
static inline int fx_proc_new(struct fx_proc *p, const char *type,
                              const char *yaml)
{
    char err[256];

    memset(p, 0, sizeof(*p));
    p->f = registry_find(COMPONENT_PROCESSOR, type);
    if (p->f == NULL ||
        ydoc_load_string("test", yaml, &p->doc, err, sizeof(err)) != PC_OK) {
        return -1;
    }
    p->cfg = calloc(1, p->f->config_size + 1);
    p->metrics = metrics_new();
    p->host.id = type;
    p->host.metrics = mscope_new(p->metrics, "processor", type, NULL);
    if (cfg_decode(p->f->config, p->doc.root, p->cfg, &p->diag) != PC_OK) {
        snprintf(p->e.msg, sizeof(p->e.msg), "%s", p->diag.errors[0]);
        return -1;
    }
    if (p->f->validate != NULL) {
        p->f->validate(p->cfg, p->doc.root, &p->diag);
        if (cfg_diag_failed(&p->diag)) {
            snprintf(p->e.msg, sizeof(p->e.msg), "%s", p->diag.errors[0]);
            return -1;
        }
    }
    return p->f->create(p->cfg, &p->host, &p->ctx, &p->e);
}

static inline int fx_proc_run(struct fx_proc *p, struct batch *b)
{
    return p->f->ops.processor.process(p->ctx, b, &p->e);
}

static inline void fx_proc_free(struct fx_proc *p)
{
    if (p->ctx != NULL) {
        p->f->destroy(p->ctx);
    }
    if (p->f != NULL && p->cfg != NULL) {
        cfg_release(p->f->config, p->cfg);
    }
    free(p->cfg);
    cfg_diag_free(&p->diag);
    ydoc_free(&p->doc);
    mscope_free(p->host.metrics);
    metrics_free(p->metrics);
}

/* Value of a counter series in the rendered /metrics text, -1 if absent. */
static inline long long fx_metric(struct fx_proc *p, const char *series)
{
    struct buf out;
    const char *hit;
    long long v = -1;

    buf_init(&out, 1 << 24);
    if (metrics_render(p->metrics, &out) == PC_OK && buf_putc(&out, 0) == 0 &&
        (hit = strstr((const char *)out.data, series)) != NULL) {
        v = strtoll(hit + strlen(series), NULL, 10);
    }
    buf_free(&out);
    return v;
}

/* Text of an item attribute (strings only), or NULL. */
static inline const char *fx_attr(const struct item *it, const char *key,
                                  char *out, size_t len)
{
    const struct anyvalue *v = item_attr(it, key);

    if (v == NULL || v->type != AV_STRING) {
        return NULL;
    }
    snprintf(out, len, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    return out;
}

#endif
