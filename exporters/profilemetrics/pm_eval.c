/*
 * pm_eval.c: evaluating the profilemetrics rules (see pm_rules.h) on the
 * profiles of an item, into the rules' store.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/intern.h"
#include "component/series.h"
#include "exporters/profilemetrics/pm_rules_int.h"
#include "model/pdata_iter.h"
#include "model/pdata_merge.h"
#include "telemetry/log.h"

/* What one rule's evaluation over one profile works with. */
struct pm_eval {
    const struct pm_rule *rule;
    uint32_t fam;
    const struct dict *d;
    const struct keyvalue *attrs;
    uint32_t nattrs;
    uint32_t vi;                /* sample type index */
    double scale;               /* to seconds for time units */
    int8_t *fn_hit, *stack_hit; /* 0 unknown, 1 yes, -1 no */
    uint8_t *attr_group;        /* label_groups() */
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    struct buf text[PM_LABELS_MAX]; /* label values */
    int at_sample[PM_LABELS_MAX];   /* not a series attribute */
};

/* ---- evaluation --------------------------------------------------------- */

static double unit_scale(struct pstr unit)
{
    if (pstr_eq(unit, "nanoseconds")) {
        return 1e-9;
    }
    if (pstr_eq(unit, "microseconds")) {
        return 1e-6;
    }
    if (pstr_eq(unit, "milliseconds")) {
        return 1e-3;
    }
    return 1.0;
}

/* The sample type's index in p, or -1. */
static int32_t find_type(const struct dict *d, const struct profile *p,
                         const char *type)
{
    uint32_t i;

    for (i = 0; i < p->nsample_types; i++) {
        if (pstr_eq(dict_str(d, p->sample_types[i].type), type)) {
            return (int32_t)i;
        }
    }
    return -1;
}

/* Whether a key spells the group label: as configured or made valid. */
static int key_is(struct pstr key, const char *want, const char *label)
{
    char name[PM_NAME_MAX];

    if (pstr_eq(key, want)) {
        return 1;
    }
    pm_label_name(key.ptr, key.len, name, sizeof(name));
    return strcmp(name, label) == 0;
}

/* Label values found among the series attributes; the others are marked
 * for lookup per sample. */
static int series_values(struct pm_eval *ev, const struct pm_family *f)
{
    uint32_t g, i;
    int rc = PC_OK;

    for (g = 0; g < ev->rule->ngroup && rc == PC_OK; g++) {
        buf_reset(&ev->text[g]);
        ev->at_sample[g] = 1;
        for (i = 0; i < ev->nattrs; i++) {
            if (key_is(ev->attrs[i].key, ev->rule->group_keys[g],
                       f->labels[g])) {
                rc = series_value_text(&ev->attrs[i].value, &ev->text[g]);
                ev->at_sample[g] = 0;
                break;
            }
        }
    }
    return rc;
}

/* For every label of the dictionary, the group it fills (+1; 0 none):
 * the key comparison done once per profile, not per sample. */
static int label_groups(struct pm_eval *ev, const struct pm_family *f)
{
    uint32_t a, g;

    ev->attr_group = calloc(ev->d->nattrs + 1, 1);
    if (ev->attr_group == NULL) {
        return PC_ENOMEM;
    }
    for (a = 1; a < ev->d->nattrs; a++) {
        struct pstr key = dict_str(ev->d, ev->d->attrs[a].key);
        for (g = 0; g < ev->rule->ngroup; g++) {
            if (ev->at_sample[g] &&
                key_is(key, ev->rule->group_keys[g], f->labels[g])) {
                ev->attr_group[a] = (uint8_t)(g + 1);
                break;
            }
        }
    }
    return PC_OK;
}

/* Per-sample label groups of one profile: samples whose labels fill the
 * groups from the same dictionary labels have the same label values, so
 * their values are summed here first and the store sees each group once. */
struct pm_groups {
    uint32_t width; /* ids per group: the rule's group_by count */
    int32_t *ids;   /* n * width label indices (0: no such label) */
    int64_t *vals;
    uint32_t n, cap;
    struct itab idx;
};

static void groups_free(struct pm_groups *gs)
{
    free(gs->ids);
    free(gs->vals);
    itab_free(&gs->idx);
}

/* The dictionary labels that fill each per-sample group of s. */
static void label_ids(const struct pm_eval *ev, const struct sample *s,
                      int32_t *ids)
{
    uint32_t i;

    memset(ids, 0, ev->rule->ngroup * sizeof(*ids));
    for (i = 0; i < s->nattrs; i++) {
        int32_t a = s->attrs[i];
        uint32_t g;
        if (a <= 0 || (uint32_t)a >= ev->d->nattrs || ev->attr_group[a] == 0) {
            continue;
        }
        g = ev->attr_group[a] - 1u;
        /* The first label of a key wins, as on the series. */
        if (ids[g] == 0) {
            ids[g] = a;
        }
    }
}

static int groups_grow(struct pm_groups *gs)
{
    uint32_t ncap = gs->cap != 0 ? gs->cap * 2 : 16;
    int32_t *ids = realloc(gs->ids, (size_t)ncap * gs->width * sizeof(*ids));
    int64_t *vals;

    if (ids == NULL) {
        return PC_ENOMEM;
    }
    gs->ids = ids;
    vals = realloc(gs->vals, ncap * sizeof(*vals));
    if (vals == NULL) {
        return PC_ENOMEM;
    }
    gs->vals = vals;
    gs->cap = ncap;
    return PC_OK;
}

static int groups_add(struct pm_groups *gs, const int32_t *ids, int64_t v)
{
    size_t w = gs->width * sizeof(*ids);
    struct itab_probe pr;
    int32_t j;

    itab_probe_start(&gs->idx, XXH3_64bits(ids, w), &pr);
    while ((j = itab_probe_next(&gs->idx, &pr)) >= 0) {
        if (memcmp(&gs->ids[(size_t)j * gs->width], ids, w) == 0) {
            gs->vals[j] = (int64_t)((uint64_t)gs->vals[j] + (uint64_t)v);
            return PC_OK;
        }
    }
    if (gs->n == gs->cap && groups_grow(gs) != PC_OK) {
        return PC_ENOMEM;
    }
    memcpy(&gs->ids[(size_t)gs->n * gs->width], ids, w);
    gs->vals[gs->n] = v;
    if (itab_insert(&gs->idx, &pr, (int32_t)gs->n) != PC_OK) {
        return PC_ENOMEM;
    }
    gs->n++;
    return PC_OK;
}

static int fn_matches(struct pm_eval *ev, int32_t fn)
{
    struct pstr name;
    int rc;

    if (fn <= 0 || (uint32_t)fn >= ev->d->nfunctions) {
        return 0;
    }
    if (ev->fn_hit[fn] == 0) {
        name = dict_str(ev->d, ev->d->functions[fn].name);
        rc = pcre2_match(ev->rule->fn_re, (PCRE2_SPTR)name.ptr, name.len, 0, 0,
                         ev->md, ev->mctx);
        ev->fn_hit[fn] = rc >= 0 ? 1 : -1;
    }
    return ev->fn_hit[fn] > 0;
}

/* Whether any frame of the stack (inlined ones included) matches. */
static int stack_matches(struct pm_eval *ev, int32_t st)
{
    const struct stack *k;
    uint32_t i, j;
    int hit = 0;

    if (st <= 0 || (uint32_t)st >= ev->d->nstacks) {
        return 0;
    }
    if (ev->stack_hit[st] != 0) {
        return ev->stack_hit[st] > 0;
    }
    k = &ev->d->stacks[st];
    for (i = 0; i < k->n && !hit; i++) {
        const struct location *l;
        int32_t li = stack_loc(k, i);
        if (li <= 0 || (uint32_t)li >= ev->d->nlocations) {
            continue;
        }
        l = &ev->d->locations[li];
        for (j = 0; j < l->nlines && !hit; j++) {
            hit = fn_matches(ev, l->lines[j].function);
        }
    }
    ev->stack_hit[st] = hit ? 1 : -1;
    return hit;
}

static int add_group(struct pm_rules *r, struct pm_eval *ev, int64_t v)
{
    struct pstr vals[PM_LABELS_MAX];
    uint32_t g;
    int rc;

    for (g = 0; g < ev->rule->ngroup; g++) {
        vals[g].ptr = (const char *)ev->text[g].data;
        vals[g].len = (uint32_t)ev->text[g].len;
    }
    rc = pm_store_add(r->store, ev->fam, vals, (double)v * ev->scale);
    /* Refused series are counted by the store (not an error here); the
     * first one is logged. */
    if (rc == PC_ETOOBIG && pm_store_refused(r->store) == 1) {
        log_warn("profilemetrics",
                 "max_series reached: new series are not "
                 "created (counted in profcol_profilemetrics_series_refused)",
                 "metric=%s", pm_store_family(r->store, ev->fam)->name);
    }
    return rc == PC_ETOOBIG ? PC_OK : rc;
}

/* Each group's label values (per-sample ones from its label indices) and
 * its sum into the store. */
static int groups_flush(struct pm_rules *r, struct pm_eval *ev,
                        const struct pm_groups *gs)
{
    uint32_t k, g;
    int rc = PC_OK;

    for (k = 0; k < gs->n && rc == PC_OK; k++) {
        const int32_t *ids = &gs->ids[(size_t)k * gs->width];
        for (g = 0; g < ev->rule->ngroup && rc == PC_OK; g++) {
            if (!ev->at_sample[g]) {
                continue;
            }
            buf_reset(&ev->text[g]);
            if (ids[g] != 0) {
                rc = series_value_text(&ev->d->attrs[ids[g]].value,
                                       &ev->text[g]);
            }
        }
        if (rc == PC_OK && gs->vals[k] != 0) {
            rc = add_group(r, ev, gs->vals[k]);
        }
    }
    return rc;
}

/* Sums over the samples (those with a matching frame when the rule has a
 * function regex): one total, or one per label group. */
static int eval_samples(struct pm_rules *r, struct pm_eval *ev,
                        const struct profile *p, int per_sample)
{
    struct pm_groups gs;
    int32_t ids[PM_LABELS_MAX];
    int64_t total = 0;
    uint32_t i;
    int rc = PC_OK;

    memset(&gs, 0, sizeof(gs));
    gs.width = ev->rule->ngroup;
    PC_ASSERT(gs.width <= PM_LABELS_MAX);
    if (per_sample && itab_init(&gs.idx, 16) != PC_OK) {
        return PC_ENOMEM;
    }
    for (i = 0; i < p->nsamples && rc == PC_OK; i++) {
        const struct sample *s = &p->samples[i];
        int64_t v;
        if (ev->rule->fn_re != NULL && !stack_matches(ev, s->stack)) {
            continue;
        }
        v = pdata_sample_value(p, s, ev->vi);
        if (!per_sample) {
            total = (int64_t)((uint64_t)total + (uint64_t)v);
            continue;
        }
        label_ids(ev, s, ids);
        rc = groups_add(&gs, ids, v);
    }
    if (rc == PC_OK) {
        rc = per_sample ? groups_flush(r, ev, &gs) : add_group(r, ev, total);
    }
    groups_free(&gs);
    return rc;
}

static int eval_rule(struct pm_rules *r, struct pm_eval *ev,
                     const struct pm_family *f, const struct profile *p)
{
    uint32_t g;
    int per_sample = 0, rc;

    rc = series_values(ev, f);
    for (g = 0; g < ev->rule->ngroup; g++) {
        per_sample |= ev->at_sample[g];
    }
    if (rc == PC_OK && ev->rule->fn_re != NULL) {
        ev->fn_hit = calloc(ev->d->nfunctions + 1, 1);
        ev->stack_hit = calloc(ev->d->nstacks + 1, 1);
        ev->md = pcre2_match_data_create(1, NULL);
        if (ev->fn_hit == NULL || ev->stack_hit == NULL || ev->md == NULL) {
            rc = PC_ENOMEM;
        }
    }
    if (rc == PC_OK && per_sample) {
        rc = label_groups(ev, f);
    }
    if (rc == PC_OK) {
        rc = eval_samples(r, ev, p, per_sample);
    }
    free(ev->attr_group);
    ev->attr_group = NULL;
    free(ev->fn_hit);
    free(ev->stack_hit);
    pcre2_match_data_free(ev->md);
    ev->fn_hit = ev->stack_hit = NULL;
    ev->md = NULL;
    return rc;
}

/* The item's attributes plus __name__ = name when the item has none; the
 * caller frees *out. */
static int attrs_with_name(const struct item *it, const char *name,
                           struct keyvalue **out, uint32_t *n)
{
    struct keyvalue *kv = malloc((it->nattrs + 1) * sizeof(*kv));

    if (kv == NULL) {
        return PC_ENOMEM;
    }
    if (it->nattrs > 0) {
        memcpy(kv, it->attrs, it->nattrs * sizeof(*kv));
    }
    *n = it->nattrs;
    if (item_attr(it, SERIES_NAME_ATTR) == NULL) {
        memset(&kv[*n], 0, sizeof(kv[*n]));
        kv[*n].key.ptr = SERIES_NAME_ATTR;
        kv[*n].key.len = (uint32_t)strlen(SERIES_NAME_ATTR);
        kv[*n].value.type = AV_STRING;
        kv[*n].value.u.s.ptr = name;
        kv[*n].value.u.s.len = (uint32_t)strlen(name);
        (*n)++;
    }
    *out = kv;
    return PC_OK;
}

/* The profile type: the item's __name__, else derived. */
static void profile_type(const struct item *it, const struct dict *d,
                         const struct profile *p, char *out, size_t outlen)
{
    const struct anyvalue *v = item_attr(it, SERIES_NAME_ATTR);

    if (v != NULL && v->type == AV_STRING) {
        snprintf(out, outlen, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    } else {
        series_profile_name(d, p, out, outlen);
    }
}

static int eval_profile(struct pm_rules *r, struct pm_eval *ev,
                        const struct item *it, const struct profile *p)
{
    char type[PM_NAME_MAX];
    struct keyvalue *attrs;
    struct pstr vals[2];
    uint32_t i;
    int rc;

    profile_type(it, ev->d, p, type, sizeof(type));
    rc = attrs_with_name(it, type, &attrs, &ev->nattrs);
    if (rc != PC_OK) {
        return rc;
    }
    ev->attrs = attrs;
    /* service_name, profile_type: the family's label order. */
    vals[0] = series_service(it);
    vals[1].ptr = type;
    vals[1].len = (uint32_t)strlen(type);
    (void)pm_store_add(r->store, r->n, vals, 1.0);
    for (i = 0; i < r->n && rc == PC_OK; i++) {
        int32_t vi;
        ev->rule = &r->rules[i];
        ev->fam = i;
        if (!matcher_match(ev->rule->sel, attrs, ev->nattrs) ||
            ev->rule->sample_type == NULL ||
            (vi = find_type(ev->d, p, ev->rule->sample_type)) < 0) {
            continue;
        }
        ev->vi = (uint32_t)vi;
        ev->scale = unit_scale(dict_str(ev->d, p->sample_types[vi].unit));
        rc = eval_rule(r, ev, pm_store_family(r->store, i), p);
    }
    free(attrs);
    return rc;
}

int pm_rules_eval_item(struct pm_rules *r, struct batch *b, struct item *it,
                       struct errctx *e)
{
    struct pm_eval ev;
    struct pdata_iter w;
    const struct profile *p;
    uint32_t g;
    int rc;

    PC_ASSERT(r != NULL && b != NULL && it != NULL);
    rc = batch_item_decode(b, it, e);
    if (rc != PC_OK) {
        return rc;
    }
    memset(&ev, 0, sizeof(ev));
    ev.d = &it->pd->pd->dict;
    ev.mctx = r->mctx;
    for (g = 0; g < PM_LABELS_MAX; g++) {
        buf_init(&ev.text[g], 65536);
    }
    pdata_iter_init(&w, it->pd->pd, it->resource);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        rc = eval_profile(r, &ev, it, p);
    }
    for (g = 0; g < PM_LABELS_MAX; g++) {
        buf_free(&ev.text[g]);
    }
    return rc == PC_OK ? PC_OK : err_set(e, rc, "%s", pc_strerror(rc));
}
