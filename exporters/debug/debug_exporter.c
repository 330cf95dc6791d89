/*
 * debug_exporter.c: the `debug` exporter. One log line per profile
 * (service, profile type, samples, bytes); `verbosity: detailed` adds the
 * top frames by flat value of the default sample type. For trying a pipeline
 * without a backend; it never fails an export.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/profile.h"
#include "component/component.h"
#include "model/pdata_iter.h"
#include "exporterhelper/exporter_helper.h"
#include "telemetry/log.h"

enum debug_verbosity {
    DEBUG_BASIC,
    DEBUG_NORMAL,
    DEBUG_DETAILED,
};

struct debug_exporter_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    int verbosity;
    int64_t top_frames;
};
EXPHELPER_CFG_FIRST(struct debug_exporter_cfg, helper);

static const char *const debug_levels[] = {"basic", "normal", "detailed",
                                           NULL};

/* clang-format off */
static const struct cfg_entry debug_exporter_table[] = {
    EXPHELPER_CFG_ENTRIES(struct debug_exporter_cfg, helper),
    {.key = "verbosity", .type = CFG_ENUM, .def = "normal",
     .enum_values = debug_levels,
     .offset = offsetof(struct debug_exporter_cfg, verbosity),
     .doc = "basic: one line per batch; normal: one per profile; "
            "detailed: plus the top frames"},
    {.key = "top_frames", .type = CFG_INT, .def = "5", .min = 1, .max = 100,
     .offset = offsetof(struct debug_exporter_cfg, top_frames),
     .doc = "frames listed with verbosity: detailed"},
    {.key = NULL},
};
/* clang-format on */

struct debug_exporter {
    const struct debug_exporter_cfg *cfg;
    char id[128];
};

static int de_create(const void *cfg, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    struct debug_exporter *de = calloc(1, sizeof(*de));

    (void)e;
    if (de == NULL) {
        return PC_ENOMEM;
    }
    de->cfg = cfg;
    snprintf(de->id, sizeof(de->id), "%s", host->id);
    *ctx = de;
    return PC_OK;
}

static void de_destroy(void *ctx)
{
    free(ctx);
}

/* "service.name" (OTLP) or "service_name" (Pyroscope), as text. */
static void item_service(const struct item *it, char *out, size_t n)
{
    const struct anyvalue *v = item_attr(it, "service.name");

    if (v == NULL) {
        v = item_attr(it, "service_name");
    }
    if (v != NULL && v->type == AV_STRING) {
        snprintf(out, n, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    } else {
        snprintf(out, n, "unknown_service");
    }
}

static void profile_types(const struct dict *d, const struct profile *p,
                          char *out, size_t n)
{
    size_t used = 0;
    uint32_t i;

    out[0] = '\0';
    for (i = 0; i < p->nsample_types && used < n; i++) {
        struct pstr t = dict_str(d, p->sample_types[i].type);
        struct pstr u = dict_str(d, p->sample_types[i].unit);
        int w = snprintf(out + used, n - used, "%s%.*s:%.*s", i ? "," : "",
                         (int)t.len, t.ptr, (int)u.len, u.ptr);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
}

struct leaf {
    int32_t fn;
    int64_t flat;
};

static int by_flat_desc(const void *a, const void *b)
{
    const struct leaf *x = a, *y = b;

    return x->flat < y->flat ? 1 : x->flat > y->flat ? -1 : 0;
}

/* Top leaf functions by the first value of each sample (bounded work:
 * one counter per function of the dictionary). */
static void log_top_frames(const struct debug_exporter *de,
                           const struct dict *d, const struct profile *p)
{
    struct leaf *acc = calloc(d->nfunctions + 1, sizeof(*acc));
    uint32_t i, vi = p->nsample_types ? p->nsample_types - 1 : 0;

    if (acc == NULL) {
        return;
    }
    for (i = 0; i < d->nfunctions; i++) {
        acc[i].fn = (int32_t)i;
    }
    for (i = 0; i < p->nsamples; i++) {
        const struct sample *s = &p->samples[i];
        const struct stack *st;
        const struct location *l;
        int64_t v = vi < s->nvalues ? s->values[vi] : (int64_t)s->nts;
        if (s->stack <= 0 || (uint32_t)s->stack >= d->nstacks) {
            continue;
        }
        st = &d->stacks[s->stack];
        if (st->n == 0 || stack_loc(st, 0) <= 0 ||
            (uint32_t)stack_loc(st, 0) >= d->nlocations) {
            continue;
        }
        l = &d->locations[stack_loc(st, 0)];
        if (l->nlines > 0 && l->lines[0].function > 0 &&
            (uint32_t)l->lines[0].function < d->nfunctions) {
            acc[l->lines[0].function].flat += v;
        }
    }
    qsort(acc, d->nfunctions, sizeof(*acc), by_flat_desc);
    for (i = 0; i < d->nfunctions && i < (uint32_t)de->cfg->top_frames; i++) {
        struct pstr name;
        if (acc[i].flat == 0) {
            break;
        }
        name = dict_str(d, d->functions[acc[i].fn].name);
        log_info(de->id, "top frame",
                 "rank=%u flat=%" PRId64 " function=\"%.*s\"", i + 1,
                 acc[i].flat, (int)name.len, name.ptr);
    }
    free(acc);
}

static void log_item(const struct debug_exporter *de, struct batch *b,
                     struct item *it)
{
    struct errctx e = {{0}};
    char service[256], types[512];
    const struct pdata *pd;
    const struct profile *pr;
    struct pdata_iter w;
    size_t bytes = it->raw != NULL ? it->raw->len : 0;
    int rc = batch_item_decode(b, it, &e);

    item_service(it, service, sizeof(service));
    if (rc != PC_OK) {
        log_warn(de->id, "undecodable profile", "service=\"%s\" error=\"%s\"",
                 service, err_msg(&e, rc));
        return;
    }
    pd = it->pd->pd;
    pdata_iter_init(&w, pd, it->resource);
    while ((pr = pdata_iter_next(&w)) != NULL) {
        profile_types(&pd->dict, pr, types, sizeof(types));
        log_info(de->id, "profile",
                 "service=\"%s\" type=\"%s\" samples=%u bytes=%zu "
                 "tenant=\"%.*s\"",
                 service, types, pr->nsamples, bytes, (int)it->tenant.len,
                 it->tenant.ptr);
        if (de->cfg->verbosity == DEBUG_DETAILED) {
            log_top_frames(de, &pd->dict, pr);
        }
    }
}

static int de_export(void *ctx, struct batch *b, int64_t timeout_ms,
                     struct export_result *r)
{
    struct debug_exporter *de = ctx;
    uint32_t i;

    (void)timeout_ms;
    (void)r;
    if (de->cfg->verbosity == DEBUG_BASIC) {
        log_info(de->id, "batch", "items=%u profiles=%u samples=%" PRIu64,
                 b->nitems, batch_profile_count(b), batch_sample_count(b));
        return PC_OK;
    }
    for (i = 0; i < b->nitems; i++) {
        log_item(de, b, &b->items[i]);
    }
    return PC_OK;
}

const struct component_factory debug_exporter_factory = {
    .type = "debug",
    .kind = COMPONENT_EXPORTER,
    .stability = "beta",
    .description = "logs one line per profile (service, type, samples, bytes)",
    .config_size = sizeof(struct debug_exporter_cfg),
    .config = debug_exporter_table,
    .create = de_create,
    .destroy = de_destroy,
    .ops.exporter = {.export = de_export},
};
