/*
 * filter_processor.c: the `filter` processor. Keeps or drops whole items
 * (series) by profile type, service and label selectors over the series
 * attributes.
 *
 * A criteria block matches an item when every part it sets matches:
 * `profile_types` (any of them equals `__name__`, or the Pyroscope profile
 * name derived from the sample types when `__name__` is absent),
 * `services` (any glob matches the service) and `selectors` (any selector
 * matches). The short form is one block at the top level plus `mode`
 * (keep: keep matching items; drop: drop them); the long form is
 * `include:` (keep only matching items) and/or `exclude:` (then drop
 * matching items). The payload is decoded only when a profile type must be
 * derived (no `__name__`); the decoded form is shared, not copied.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/component.h"
#include "model/pdata_iter.h"
#include "telemetry/log.h"
#include "component/matcher.h"
#include "telemetry/metrics.h"
#include "component/series.h"

struct filter_criteria_cfg {
    struct cfg_strlist profile_types;
    struct cfg_strlist services;
    struct cfg_strlist selectors;
};

struct filter_cfg {
    int mode;
    struct filter_criteria_cfg top;
    struct filter_criteria_cfg include;
    struct filter_criteria_cfg exclude;
};

enum filter_mode { FILTER_KEEP, FILTER_DROP };

static const char *const mode_names[] = {"keep", "drop", NULL};

/* The criteria keys, for a criteria struct at offset base. */
#define CRITERIA_ENTRIES(base)                                                \
    {.key = "profile_types",                                                  \
     .type = CFG_STRLIST,                                                     \
     .offset = (base) + offsetof(struct filter_criteria_cfg, profile_types),  \
     .doc = "profile names (process_cpu, memory, ...) matched against "       \
            "__name__ or the derived name"},                                  \
        {.key = "services",                                                   \
         .type = CFG_STRLIST,                                                 \
         .offset = (base) + offsetof(struct filter_criteria_cfg, services),   \
         .doc = "service names (globs)"},                                     \
    {                                                                         \
        .key = "selectors", .type = CFG_STRLIST,                              \
        .offset = (base) + offsetof(struct filter_criteria_cfg, selectors),   \
        .doc = "label selectors {k=\"v\", k!=\"v\", k=~\"re\", k!~\"re\"}; "  \
               "any may match"                                                \
    }

/* clang-format off */
static const struct cfg_entry criteria_table[] = {
    CRITERIA_ENTRIES(0),
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry filter_table[] = {
    {.key = "mode", .type = CFG_ENUM, .def = "keep", .enum_values = mode_names,
     .offset = offsetof(struct filter_cfg, mode),
     .doc = "keep or drop the items the top-level criteria match"},
    CRITERIA_ENTRIES(offsetof(struct filter_cfg, top)),
    {.key = "include", .type = CFG_SECTION, .sub = criteria_table,
     .offset = offsetof(struct filter_cfg, include),
     .doc = "keep only the items these criteria match"},
    {.key = "exclude", .type = CFG_SECTION, .sub = criteria_table,
     .offset = offsetof(struct filter_cfg, exclude),
     .doc = "drop the items these criteria match"},
    {.key = NULL},
};
/* clang-format on */

/* Compiled criteria. */
struct criteria {
    const struct filter_criteria_cfg *cfg;
    struct matcher_set **sel;
    uint32_t nsel;
    int set; /* some part configured */
};

struct filter_proc {
    const struct filter_cfg *cfg;
    struct criteria top, include, exclude;
    struct mcounter *dropped;
};

static int criteria_set(const struct filter_criteria_cfg *c)
{
    return c->profile_types.n + c->services.n + c->selectors.n > 0;
}

static void filter_validate(const void *cfgp, const struct ynode *node,
                            struct cfg_diag *d)
{
    const struct filter_cfg *cfg = cfgp;
    int top = criteria_set(&cfg->top);
    int block = criteria_set(&cfg->include) || criteria_set(&cfg->exclude);
    const struct filter_criteria_cfg *all[3] = {&cfg->top, &cfg->include,
                                                &cfg->exclude};
    uint32_t i, j;

    if (top && block) {
        cfg_diag_error(d, node,
                       "use either the top-level criteria with "
                       "`mode`, or `include`/`exclude` blocks, not both");
    }
    if (!top && !block) {
        cfg_diag_error(d, node,
                       "no criteria: set profile_types, services "
                       "or selectors (or include/exclude)");
    }
    for (i = 0; i < 3; i++) {
        for (j = 0; j < all[i]->selectors.n; j++) {
            struct matcher_set *m;
            struct errctx e = {""};
            const char *s = all[i]->selectors.items[j];
            if (matcher_parse(s, strlen(s), &m, &e) != PC_OK) {
                cfg_diag_error(d, node, "selectors: \"%s\": %s", s, e.msg);
            }
            matcher_free(m);
        }
    }
}

static int criteria_compile(struct criteria *c,
                            const struct filter_criteria_cfg *cfg,
                            struct errctx *e)
{
    uint32_t i;
    int rc;

    c->cfg = cfg;
    c->set = criteria_set(cfg);
    if (cfg->selectors.n == 0) {
        return PC_OK;
    }
    c->sel = calloc(cfg->selectors.n, sizeof(*c->sel));
    if (c->sel == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < cfg->selectors.n; i++) {
        const char *s = cfg->selectors.items[i];
        rc = matcher_parse(s, strlen(s), &c->sel[i], e);
        if (rc != PC_OK) {
            return PC_ECONFIG;
        }
        c->nsel = i + 1;
    }
    return PC_OK;
}

static void criteria_free(struct criteria *c)
{
    uint32_t i;

    for (i = 0; i < c->nsel; i++) {
        matcher_free(c->sel[i]);
    }
    free(c->sel);
}

/* ---- matching ----------------------------------------------------------- */

static int name_listed(const struct cfg_strlist *l, struct pstr name)
{
    uint32_t i;

    for (i = 0; i < l->n; i++) {
        if (matcher_glob(l->items[i], name)) {
            return 1;
        }
    }
    return 0;
}

/* Profile names of the item's profiles, derived from the sample types. */
static int derived_type_listed(struct batch *b, struct item *it,
                               const struct cfg_strlist *l)
{
    const struct pdata *pd;
    const struct profile *p;
    struct pdata_iter w;
    char name[128];

    if (batch_item_decode(b, it, NULL) != PC_OK) {
        return 0; /* undecodable: no profile type, no match */
    }
    pd = it->pd->pd;
    pdata_iter_init(&w, pd, it->resource);
    while ((p = pdata_iter_next(&w)) != NULL) {
        struct pstr n;
        series_profile_name(&pd->dict, p, name, sizeof(name));
        n.ptr = name;
        n.len = (uint32_t)strlen(name);
        if (name_listed(l, n)) {
            return 1;
        }
    }
    return 0;
}

static int type_matches(struct batch *b, struct item *it,
                        const struct cfg_strlist *l)
{
    const struct anyvalue *n = item_attr(it, SERIES_NAME_ATTR);

    if (n != NULL && n->type == AV_STRING) {
        return name_listed(l, n->u.s);
    }
    return derived_type_listed(b, it, l);
}

static int criteria_match(const struct criteria *c, struct batch *b,
                          struct item *it)
{
    uint32_t i;
    int any = 0;

    if (c->cfg->services.n > 0 &&
        !name_listed(&c->cfg->services, series_service(it))) {
        return 0;
    }
    if (c->cfg->profile_types.n > 0 &&
        !type_matches(b, it, &c->cfg->profile_types)) {
        return 0;
    }
    for (i = 0; i < c->nsel && !any; i++) {
        any = matcher_match(c->sel[i], it->attrs, it->nattrs);
    }
    return c->nsel == 0 || any;
}

static int item_kept(const struct filter_proc *fp, struct batch *b,
                     struct item *it)
{
    if (fp->top.set) {
        int m = criteria_match(&fp->top, b, it);
        return fp->cfg->mode == FILTER_KEEP ? m : !m;
    }
    if (fp->include.set && !criteria_match(&fp->include, b, it)) {
        return 0;
    }
    return !(fp->exclude.set && criteria_match(&fp->exclude, b, it));
}

static int filter_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct filter_proc *fp = ctx;
    uint32_t i, out = 0, dropped = 0;

    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        if (item_kept(fp, b, it)) {
            b->items[out++] = *it;
            continue;
        }
        blob_unref(it->raw);
        shared_pdata_unref(it->pd);
        dropped++;
    }
    b->nitems = out;
    if (dropped > 0 && fp->dropped != NULL) {
        mcounter_add(fp->dropped, dropped);
    }
    return PC_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void filter_destroy(void *ctx)
{
    struct filter_proc *fp = ctx;

    if (fp == NULL) {
        return;
    }
    criteria_free(&fp->top);
    criteria_free(&fp->include);
    criteria_free(&fp->exclude);
    free(fp);
}

static int filter_create(const void *cfgp, struct component_host *host,
                         void **ctx, struct errctx *e)
{
    const struct filter_cfg *cfg = cfgp;
    struct filter_proc *fp = calloc(1, sizeof(*fp));
    int rc;

    if (fp == NULL) {
        return PC_ENOMEM;
    }
    fp->cfg = cfg;
    rc = criteria_compile(&fp->top, &cfg->top, e);
    if (rc == PC_OK) {
        rc = criteria_compile(&fp->include, &cfg->include, e);
    }
    if (rc == PC_OK) {
        rc = criteria_compile(&fp->exclude, &cfg->exclude, e);
    }
    if (rc != PC_OK) {
        filter_destroy(fp);
        return rc;
    }
    fp->dropped = mscope_counter(
        host->metrics, "profcol_processor_filter_dropped_items_total",
        "Items (series) the filter processor "
        "dropped.",
        NULL);
    *ctx = fp;
    return PC_OK;
}

const struct component_factory filter_processor_factory = {
    .type = "filter",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "keep or drop series by profile type, service and "
                   "label selectors",
    .config_size = sizeof(struct filter_cfg),
    .config = filter_table,
    .validate = filter_validate,
    .create = filter_create,
    .destroy = filter_destroy,
    .ops.processor = {.process = filter_process},
};
