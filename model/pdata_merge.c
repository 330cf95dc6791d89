/*
 * pdata_merge.c: merging profiles of one type (see pdata_merge.h).
 *
 * Every table entry of an added profile is translated into the result's
 * dictionary: looked up by content in an index (core/intern) over the
 * result's table, added when absent. A translation map per add (source
 * index -> result index + 1, 0 = not yet) makes each source entry cost one
 * lookup however many samples use it. Samples are found by stack, link and
 * sorted label indices, which are result indices and so compare by
 * content.
 */
#include "model/pdata_merge.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/intern.h"

#define MERGE_SAMPLE_ATTRS_MAX 256 /* labels of one sample kept */

struct merge_idx {
    struct itab str, fn, map, loc, attr, stack, link, sample;
};

struct pdata_merge {
    struct pdata *pd;
    struct profile *out;
    uint32_t cap_samples;
    struct merge_idx ix;
    uint32_t nadded;
    int rc; /* first failure of the add in progress */
};

/* Source index -> result index + 1, per table, for one add. */
struct merge_xlat {
    const struct dict *sd;
    int32_t *str, *fn, *map, *loc, *attr, *stack, *link;
    const char *const *drop;
    uint32_t ndrop;
};

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
    return arena_bytes(&m->pd->arena) + m->ix.sample.mask * 12u +
           m->ix.loc.mask * 12u + m->ix.stack.mask * 12u;
}

/* Records a failure; returns index 0 so callers can go on harmlessly. */
static int32_t failed(struct pdata_merge *m, int rc)
{
    if (m->rc == PC_OK) {
        m->rc = rc < 0 ? rc : PC_ENOMEM;
    }
    return 0;
}

/* Inserts index j (>= 0, just added) after a probe that found nothing. */
static int32_t indexed(struct pdata_merge *m, struct itab *t,
                       struct itab_probe *pr, int32_t j)
{
    if (j < 0) {
        return failed(m, j);
    }
    if (itab_insert(t, pr, j) != PC_OK) {
        return failed(m, PC_ENOMEM);
    }
    return j;
}

/* ---- strings, functions, mappings, links -------------------------------- */

static int32_t x_str(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    struct itab_probe pr;
    struct pstr s;
    int32_t j;

    if (i <= 0 || (uint32_t)i >= x->sd->nstrings) {
        return 0;
    }
    if (x->str[i] != 0) {
        return x->str[i] - 1;
    }
    s = x->sd->strings[i];
    itab_probe_start(&m->ix.str, XXH3_64bits(s.ptr, s.len), &pr);
    while ((j = itab_probe_next(&m->ix.str, &pr)) >= 0 &&
           !pstr_eqp(m->pd->dict.strings[j], s)) {
    }
    if (j < 0) {
        j = indexed(m, &m->ix.str, &pr,
                    dict_add_string_copy(m->pd, s.ptr, s.len));
    }
    x->str[i] = j + 1;
    return j;
}

static int32_t x_fn(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    struct itab_probe pr;
    struct function f;
    int64_t key[4];
    int32_t j;

    if (i <= 0 || (uint32_t)i >= x->sd->nfunctions) {
        return 0;
    }
    if (x->fn[i] != 0) {
        return x->fn[i] - 1;
    }
    f = x->sd->functions[i];
    f.name = x_str(m, x, f.name);
    f.system_name = x_str(m, x, f.system_name);
    f.filename = x_str(m, x, f.filename);
    key[0] = f.name;
    key[1] = f.system_name;
    key[2] = f.filename;
    key[3] = f.start_line;
    itab_probe_start(&m->ix.fn, XXH3_64bits(key, sizeof(key)), &pr);
    while ((j = itab_probe_next(&m->ix.fn, &pr)) >= 0) {
        const struct function *g = &m->pd->dict.functions[j];
        if (g->name == f.name && g->system_name == f.system_name &&
            g->filename == f.filename && g->start_line == f.start_line) {
            break;
        }
    }
    if (j < 0) {
        j = indexed(m, &m->ix.fn, &pr, dict_add_function(m->pd, &f));
    }
    x->fn[i] = j + 1;
    return j;
}

static int32_t x_attr(struct pdata_merge *m, struct merge_xlat *x, int32_t i);

/* Translated attribute indices of a table entry, in the result's arena. */
static int32_t *x_attrs(struct pdata_merge *m, struct merge_xlat *x,
                        const int32_t *a, uint32_t n)
{
    int32_t *r;
    uint32_t k;

    if (n == 0) {
        return NULL;
    }
    r = arena_alloc(&m->pd->arena, n * sizeof(*r));
    if (r == NULL) {
        failed(m, PC_ENOMEM);
        return NULL;
    }
    for (k = 0; k < n; k++) {
        r[k] = x_attr(m, x, a[k]);
    }
    return r;
}

static int attrs_eq(const int32_t *a, uint32_t na, const int32_t *b,
                    uint32_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof(*a)) == 0);
}

static uint64_t mapping_hash(const struct mapping *p)
{
    uint64_t key[6] = {p->memory_start,       p->memory_limit,
                       p->file_offset,        (uint64_t)p->filename,
                       (uint64_t)p->build_id, p->flags};
    uint64_t h = XXH3_64bits(key, sizeof(key));

    return p->nattrs == 0 ? h
                          : XXH3_64bits_withSeed(p->attrs, p->nattrs * 4u, h);
}

static int32_t x_map(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    struct itab_probe pr;
    struct mapping p;
    int32_t j;

    if (i <= 0 || (uint32_t)i >= x->sd->nmappings) {
        return 0;
    }
    if (x->map[i] != 0) {
        return x->map[i] - 1;
    }
    p = x->sd->mappings[i];
    p.filename = x_str(m, x, p.filename);
    p.build_id = x_str(m, x, p.build_id);
    p.attrs = x_attrs(m, x, p.attrs, p.nattrs);
    itab_probe_start(&m->ix.map, mapping_hash(&p), &pr);
    while ((j = itab_probe_next(&m->ix.map, &pr)) >= 0) {
        const struct mapping *g = &m->pd->dict.mappings[j];
        if (g->memory_start == p.memory_start &&
            g->memory_limit == p.memory_limit &&
            g->file_offset == p.file_offset && g->filename == p.filename &&
            g->build_id == p.build_id && g->flags == p.flags &&
            attrs_eq(g->attrs, g->nattrs, p.attrs, p.nattrs)) {
            break;
        }
    }
    if (j < 0) {
        j = indexed(m, &m->ix.map, &pr, dict_add_mapping(m->pd, &p));
    }
    x->map[i] = j + 1;
    return j;
}

static int32_t x_link(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    struct itab_probe pr;
    const struct link *l;
    int32_t j;

    if (i <= 0 || (uint32_t)i >= x->sd->nlinks) {
        return 0;
    }
    if (x->link[i] != 0) {
        return x->link[i] - 1;
    }
    l = &x->sd->links[i];
    itab_probe_start(&m->ix.link, XXH3_64bits(l, sizeof(*l)), &pr);
    while ((j = itab_probe_next(&m->ix.link, &pr)) >= 0 &&
           memcmp(&m->pd->dict.links[j], l, sizeof(*l)) != 0) {
    }
    if (j < 0) {
        j = indexed(m, &m->ix.link, &pr, dict_add_link(m->pd, l));
    }
    x->link[i] = j + 1;
    return j;
}

/* ---- attributes --------------------------------------------------------- */

static int32_t x_attr(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    struct itab_probe pr;
    struct attr a;
    uint64_t h;
    int32_t j;

    if (i <= 0 || (uint32_t)i >= x->sd->nattrs) {
        return 0;
    }
    if (x->attr[i] != 0) {
        return x->attr[i] - 1;
    }
    a = x->sd->attrs[i];
    a.key = x_str(m, x, a.key);
    a.unit = x_str(m, x, a.unit);
    h = av_hash(&a.value,
                ((uint64_t)(uint32_t)a.key << 32) | (uint32_t)a.unit);
    itab_probe_start(&m->ix.attr, h, &pr);
    while ((j = itab_probe_next(&m->ix.attr, &pr)) >= 0) {
        const struct attr *g = &m->pd->dict.attrs[j];
        if (g->key == a.key && g->unit == a.unit &&
            av_equal(&g->value, &a.value)) {
            break;
        }
    }
    if (j < 0) {
        struct anyvalue v = a.value;
        j = av_copy(&m->pd->arena, &a.value, &v) != PC_OK
                ? failed(m, PC_ENOMEM)
                : indexed(m, &m->ix.attr, &pr, dict_add_attr(m->pd, &a));
    }
    x->attr[i] = j + 1;
    return j;
}

/* ---- locations and stacks ----------------------------------------------- */

static uint64_t location_hash(const struct location *l)
{
    uint64_t key[3] = {(uint64_t)l->mapping, l->address, l->is_folded};
    uint64_t h = XXH3_64bits(key, sizeof(key));
    uint32_t k;

    for (k = 0; k < l->nlines; k++) {
        int64_t ln[3] = {l->lines[k].function, l->lines[k].line,
                         l->lines[k].column};
        h = XXH3_64bits_withSeed(ln, sizeof(ln), h);
    }
    return l->nattrs == 0 ? h
                          : XXH3_64bits_withSeed(l->attrs, l->nattrs * 4u, h);
}

static int location_eq(const struct location *a, const struct location *b)
{
    uint32_t k;

    if (a->mapping != b->mapping || a->address != b->address ||
        a->is_folded != b->is_folded || a->nlines != b->nlines ||
        !attrs_eq(a->attrs, a->nattrs, b->attrs, b->nattrs)) {
        return 0;
    }
    for (k = 0; k < a->nlines; k++) {
        if (a->lines[k].function != b->lines[k].function ||
            a->lines[k].line != b->lines[k].line ||
            a->lines[k].column != b->lines[k].column) {
            return 0;
        }
    }
    return 1;
}

static int32_t x_loc(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    struct itab_probe pr;
    struct location l;
    uint32_t k;
    int32_t j;

    if (i <= 0 || (uint32_t)i >= x->sd->nlocations) {
        return 0;
    }
    if (x->loc[i] != 0) {
        return x->loc[i] - 1;
    }
    l = x->sd->locations[i];
    l.mapping = x_map(m, x, l.mapping);
    l.attrs = x_attrs(m, x, l.attrs, l.nattrs);
    l.lines = l.nlines == 0 ? NULL
                            : arena_memdup(&m->pd->arena, l.lines,
                                           l.nlines * sizeof(*l.lines));
    if (l.nlines != 0 && l.lines == NULL) {
        return failed(m, PC_ENOMEM);
    }
    for (k = 0; k < l.nlines; k++) {
        l.lines[k].function = x_fn(m, x, l.lines[k].function);
    }
    itab_probe_start(&m->ix.loc, location_hash(&l), &pr);
    while ((j = itab_probe_next(&m->ix.loc, &pr)) >= 0 &&
           !location_eq(&m->pd->dict.locations[j], &l)) {
    }
    if (j < 0) {
        j = indexed(m, &m->ix.loc, &pr, dict_add_location(m->pd, &l));
    }
    x->loc[i] = j + 1;
    return j;
}

static int32_t x_stack(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    const struct stack *s;
    struct itab_probe pr;
    int32_t j, *locs;
    uint32_t k;

    if (i <= 0 || (uint32_t)i >= x->sd->nstacks) {
        return 0;
    }
    if (x->stack[i] != 0) {
        return x->stack[i] - 1;
    }
    s = &x->sd->stacks[i];
    locs = malloc((s->n + 1) * sizeof(*locs));
    if (locs == NULL) {
        return failed(m, PC_ENOMEM);
    }
    for (k = 0; k < s->n; k++) {
        locs[k] = x_loc(m, x, s->locs[k]);
    }
    itab_probe_start(&m->ix.stack, XXH3_64bits(locs, s->n * sizeof(*locs)),
                     &pr);
    while ((j = itab_probe_next(&m->ix.stack, &pr)) >= 0 &&
           !attrs_eq(m->pd->dict.stacks[j].locs, m->pd->dict.stacks[j].n, locs,
                     s->n)) {
    }
    if (j < 0) {
        j = indexed(m, &m->ix.stack, &pr, dict_add_stack(m->pd, locs, s->n));
    }
    free(locs);
    x->stack[i] = j + 1;
    return j;
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

    k->v[0] = x_stack(m, x, s->stack);
    k->v[1] = x_link(m, x, s->link);
    k->n = 2;
    for (i = 0; i < s->nattrs; i++) {
        int32_t a;
        if (dropped(x, s->attrs[i])) {
            continue;
        }
        a = x_attr(m, x, s->attrs[i]);
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
           attrs_eq(s->attrs, s->nattrs, k->v + 2, k->n - 2);
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
        o->sample_types[i].type = x_str(m, x, p->sample_types[i].type);
        o->sample_types[i].unit = x_str(m, x, p->sample_types[i].unit);
    }
    o->default_sample_type = x_str(m, x, p->default_sample_type);
    o->period_type.type = x_str(m, x, p->period_type.type);
    o->period_type.unit = x_str(m, x, p->period_type.unit);
    o->period = p->period;
    o->drop_frames = x_str(m, x, p->drop_frames);
    o->keep_frames = x_str(m, x, p->keep_frames);
    o->doc_url = x_str(m, x, p->doc_url);
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
        if (x_str(m, x, p->sample_types[i].type) != o->sample_types[i].type ||
            x_str(m, x, p->sample_types[i].unit) != o->sample_types[i].unit) {
            return 0;
        }
    }
    return 1;
}

static void xlat_free(struct merge_xlat *x)
{
    free(x->str);
    free(x->fn);
    free(x->map);
    free(x->loc);
    free(x->attr);
    free(x->stack);
    free(x->link);
}

static int xlat_init(struct merge_xlat *x, const struct dict *d)
{
    memset(x, 0, sizeof(*x));
    x->sd = d;
    x->str = calloc(d->nstrings + 1, sizeof(int32_t));
    x->fn = calloc(d->nfunctions + 1, sizeof(int32_t));
    x->map = calloc(d->nmappings + 1, sizeof(int32_t));
    x->loc = calloc(d->nlocations + 1, sizeof(int32_t));
    x->attr = calloc(d->nattrs + 1, sizeof(int32_t));
    x->stack = calloc(d->nstacks + 1, sizeof(int32_t));
    x->link = calloc(d->nlinks + 1, sizeof(int32_t));
    if (x->str == NULL || x->fn == NULL || x->map == NULL || x->loc == NULL ||
        x->attr == NULL || x->stack == NULL || x->link == NULL) {
        xlat_free(x);
        return PC_ENOMEM;
    }
    return PC_OK;
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
            failed(m, PC_ENOMEM);
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
    if (xlat_init(&x, &src->dict) != PC_OK) {
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
    xlat_free(&x);
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
