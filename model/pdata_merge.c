/*
 * pdata_merge.c: merging profiles of one type (see pdata_merge.h): the
 * merge's lifecycle, its samples and its result. Every table entry of an
 * added profile is first translated into the result's dictionary
 * (pdata_merge_dict.c); samples are then found by stack, link and sorted
 * label indices, which are result indices and so compare by content.
 */
#include "model/pdata_merge.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/intern.h"
#include "model/pdata_merge_int.h"

static void idx_free(struct merge_idx *ix)
{
    itab_free(&ix->str);
    itab_free(&ix->fn);
    itab_free(&ix->map);
    itab_free(&ix->loc);
    itab_free(&ix->attr);
    itab_free(&ix->stack);
    itab_free(&ix->link);
    itab_free(&ix->sample);
}

static int idx_init(struct merge_idx *ix)
{
    int rc = itab_init(&ix->str, 256);

    rc = rc != PC_OK ? rc : itab_init(&ix->fn, 64);
    rc = rc != PC_OK ? rc : itab_init(&ix->map, 8);
    rc = rc != PC_OK ? rc : itab_init(&ix->loc, 64);
    rc = rc != PC_OK ? rc : itab_init(&ix->attr, 16);
    rc = rc != PC_OK ? rc : itab_init(&ix->stack, 64);
    rc = rc != PC_OK ? rc : itab_init(&ix->link, 8);
    rc = rc != PC_OK ? rc : itab_init(&ix->sample, 64);
    return rc;
}

int pdata_merge_new(size_t arena_limit, struct pdata_merge **out)
{
    struct pdata_merge *m = calloc(1, sizeof(*m));
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct itab_probe pr;

    if (m == NULL) {
        return PC_ENOMEM;
    }
    m->pd = pdata_new(arena_limit);
    if (m->pd == NULL || idx_init(&m->ix) != PC_OK ||
        dict_init(m->pd) != PC_OK ||
        (rp = pdata_add_resource(m->pd)) == NULL ||
        (sp = pdata_add_scope(m->pd, rp)) == NULL ||
        (m->out = pdata_add_profile(m->pd, sp)) == NULL) {
        pdata_merge_free(m);
        return PC_ENOMEM;
    }
    /* "" is string 0 of every dictionary. */
    itab_probe_start(&m->ix.str, XXH3_64bits("", 0), &pr);
    if (itab_insert(&m->ix.str, &pr, 0) != PC_OK) {
        pdata_merge_free(m);
        return PC_ENOMEM;
    }
    *out = m;
    return PC_OK;
}

void pdata_merge_free(struct pdata_merge *m)
{
    if (m == NULL) {
        return;
    }
    idx_free(&m->ix);
    pdata_free(m->pd);
    free(m);
}

uint32_t pdata_merge_count(const struct pdata_merge *m)
{
    return m->nadded;
}

size_t pdata_merge_bytes(const struct pdata_merge *m)
{
    return arena_bytes(&m->pd->arena) + itab_bytes(&m->ix.sample) +
           itab_bytes(&m->ix.loc) + itab_bytes(&m->ix.stack);
}

/* ---- samples ------------------------------------------------------------ */

int64_t pdata_sample_value(const struct profile *p, const struct sample *s,
                           uint32_t vi)
{
    int64_t v = 0;
    uint32_t i;

    if (p->nsample_types > 1) {
        return vi < s->nvalues ? s->values[vi] : 0;
    }
    if (s->nvalues == 0) {
        return (int64_t)s->nts;
    }
    /* Wrapping sums: hostile input may overflow; UB never. */
    for (i = 0; i < s->nvalues; i++) {
        v = (int64_t)((uint64_t)v + (uint64_t)s->values[i]);
    }
    return v;
}

int64_t pdata_profile_total(const struct profile *p, uint32_t vi)
{
    int64_t v = 0;
    uint32_t i;

    for (i = 0; i < p->nsamples; i++) {
        v = (int64_t)((uint64_t)v +
                      (uint64_t)pdata_sample_value(p, &p->samples[i], vi));
    }
    return v;
}

/* A sample's key: stack, link, then label indices in ascending order. */
struct merge_key {
    int32_t *v;
    uint32_t n;
};

static int dropped(const struct merge_xlat *x, int32_t a)
{
    struct pstr key;
    uint32_t k;

    if (x->ndrop == 0 || a <= 0 || (uint32_t)a >= x->sd->nattrs) {
        return 0;
    }
    key = dict_str(x->sd, x->sd->attrs[a].key);
    for (k = 0; k < x->ndrop; k++) {
        if (pstr_eq(key, x->drop[k])) {
            return 1;
        }
    }
    return 0;
}

static void sample_key(struct pdata_merge *m, struct merge_xlat *x,
                       const struct sample *s, struct merge_key *k)
{
    uint32_t i, j;

    k->v[0] = pdm_stack(m, x, s->stack);
    k->v[1] = pdm_link(m, x, s->link);
    k->n = 2;
    for (i = 0; i < s->nattrs; i++) {
        int32_t a;
        if (dropped(x, s->attrs[i])) {
            continue;
        }
        a = pdm_attr(m, x, s->attrs[i]);
        for (j = k->n; j > 2 && k->v[j - 1] > a; j--) {
            k->v[j] = k->v[j - 1];
        }
        k->v[j] = a;
        k->n++;
    }
}

static int sample_is(const struct sample *s, const struct merge_key *k)
{
    return s->stack == k->v[0] && s->link == k->v[1] &&
           pdm_attrs_eq(s->attrs, s->nattrs, k->v + 2, k->n - 2);
}

/* The result's sample with key k, created (values zero) when absent. */
static struct sample *find_sample(struct pdata_merge *m,
                                  const struct merge_key *k)
{
    struct profile *o = m->out;
    struct itab_probe pr;
    struct sample *s;
    int32_t j;

    itab_probe_start(&m->ix.sample, XXH3_64bits(k->v, k->n * 4u), &pr);
    while ((j = itab_probe_next(&m->ix.sample, &pr)) >= 0) {
        if (sample_is(&o->samples[j], k)) {
            return &o->samples[j];
        }
    }
    if (arena_grow_array(&m->pd->arena, (void **)&o->samples, &m->cap_samples,
                         o->nsamples + 1, sizeof(*o->samples)) != PC_OK) {
        return NULL;
    }
    s = &o->samples[o->nsamples];
    memset(s, 0, sizeof(*s));
    s->stack = k->v[0];
    s->link = k->v[1];
    s->nattrs = k->n - 2;
    s->attrs = arena_memdup(&m->pd->arena, k->v + 2, s->nattrs * 4u);
    s->nvalues = o->nsample_types;
    s->values = arena_calloc(&m->pd->arena, s->nvalues + 1, sizeof(int64_t));
    if ((s->nattrs != 0 && s->attrs == NULL) || s->values == NULL ||
        itab_insert(&m->ix.sample, &pr, (int32_t)o->nsamples) != PC_OK) {
        return NULL;
    }
    o->nsamples++;
    return s;
}

/* ---- adding a profile --------------------------------------------------- */

/* The first profile gives the result its types and profile fields. */
static int set_types(struct pdata_merge *m, struct merge_xlat *x,
                     const struct profile *p)
{
    struct profile *o = m->out;
    uint32_t i;

    o->sample_types = arena_calloc(&m->pd->arena, p->nsample_types + 1,
                                   sizeof(*o->sample_types));
    if (o->sample_types == NULL) {
        return PC_ENOMEM;
    }
    o->nsample_types = p->nsample_types;
    for (i = 0; i < p->nsample_types; i++) {
        o->sample_types[i].type = pdm_str(m, x, p->sample_types[i].type);
        o->sample_types[i].unit = pdm_str(m, x, p->sample_types[i].unit);
    }
    o->default_sample_type = pdm_str(m, x, p->default_sample_type);
    o->period_type.type = pdm_str(m, x, p->period_type.type);
    o->period_type.unit = pdm_str(m, x, p->period_type.unit);
    o->period = p->period;
    o->drop_frames = pdm_str(m, x, p->drop_frames);
    o->keep_frames = pdm_str(m, x, p->keep_frames);
    o->doc_url = pdm_str(m, x, p->doc_url);
    return m->rc;
}

static int same_types(struct pdata_merge *m, struct merge_xlat *x,
                      const struct profile *p)
{
    const struct profile *o = m->out;
    uint32_t i;

    if (p->nsample_types != o->nsample_types) {
        return 0;
    }
    for (i = 0; i < p->nsample_types; i++) {
        if (pdm_str(m, x, p->sample_types[i].type) !=
                o->sample_types[i].type ||
            pdm_str(m, x, p->sample_types[i].unit) !=
                o->sample_types[i].unit) {
            return 0;
        }
    }
    return 1;
}

static int add_samples(struct pdata_merge *m, struct merge_xlat *x,
                       const struct profile *p, struct merge_key *k)
{
    uint32_t i, t;

    for (i = 0; i < p->nsamples && m->rc == PC_OK; i++) {
        const struct sample *s = &p->samples[i];
        struct sample *d;
        sample_key(m, x, s, k);
        d = m->rc == PC_OK ? find_sample(m, k) : NULL;
        if (d == NULL) {
            pdm_failed(m, PC_ENOMEM);
            return m->rc;
        }
        for (t = 0; t < d->nvalues; t++) {
            d->values[t] = (int64_t)((uint64_t)d->values[t] +
                                     (uint64_t)pdata_sample_value(p, s, t));
        }
    }
    return m->rc;
}

/* The most labels a sample of p has: the size of its keys. */
static uint32_t max_labels(const struct profile *p)
{
    uint32_t i, n = 0;

    for (i = 0; i < p->nsamples; i++) {
        n = p->samples[i].nattrs > n ? p->samples[i].nattrs : n;
    }
    return n;
}

int pdata_merge_add(struct pdata_merge *m, const struct pdata *src,
                    const struct profile *p, const char *const *drop,
                    uint32_t ndrop)
{
    struct merge_xlat x;
    struct merge_key k;
    int rc;

    PC_ASSERT(m != NULL && src != NULL && p != NULL);
    if (pdm_xlat_init(&x, &src->dict) != PC_OK) {
        return PC_ENOMEM;
    }
    x.drop = drop;
    x.ndrop = ndrop;
    m->rc = PC_OK;
    k.v = malloc((max_labels(p) + 2) * sizeof(*k.v));
    if (k.v == NULL) {
        rc = PC_ENOMEM;
    } else if (m->nadded == 0) {
        rc = set_types(m, &x, p);
    } else {
        rc = same_types(m, &x, p) ? m->rc : PC_EINVAL;
    }
    if (rc == PC_OK) {
        rc = add_samples(m, &x, p, &k);
    }
    if (rc == PC_OK) {
        m->nadded++;
    }
    /* An arena at its limit fails allocations: report it as such. */
    if (rc == PC_ENOMEM && m->pd->arena.limit != 0 &&
        arena_bytes(&m->pd->arena) + 65536 >= m->pd->arena.limit) {
        rc = PC_ETOOBIG;
    }
    free(k.v);
    pdm_xlat_free(&x);
    return rc;
}

/* ---- the result --------------------------------------------------------- */

static int copy_resource(struct pdata *pd, struct resource *dst,
                         const struct resource *src)
{
    uint32_t i;

    if (src == NULL || src->nattrs == 0) {
        return PC_OK;
    }
    dst->attrs = arena_calloc(&pd->arena, src->nattrs, sizeof(*dst->attrs));
    if (dst->attrs == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < src->nattrs; i++) {
        const struct keyvalue *kv = &src->attrs[i];
        dst->attrs[i].key.ptr = arena_strndup(&pd->arena, kv->key.ptr,
                                              kv->key.len);
        dst->attrs[i].key.len = kv->key.len;
        if (dst->attrs[i].key.ptr == NULL ||
            av_copy(&pd->arena, &dst->attrs[i].value, &kv->value) != PC_OK) {
            return PC_ENOMEM;
        }
        dst->nattrs++;
    }
    return PC_OK;
}

int pdata_merge_finish(struct pdata_merge *m, const struct resource *res,
                       int64_t time_nanos, int64_t duration_nanos,
                       struct pdata **out)
{
    struct resource_profiles *rp = &m->pd->resources[0];
    int rc;

    m->out->time_nanos = time_nanos;
    m->out->duration_nanos = duration_nanos;
    rp->has_resource = res != NULL && res->nattrs > 0;
    rc = copy_resource(m->pd, &rp->resource, res);
    if (rc == PC_OK) {
        *out = m->pd;
        m->pd = NULL;
    }
    pdata_merge_free(m);
    return rc;
}
