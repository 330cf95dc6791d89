/*
 * pdata_merge_dict.c: a source profile's dictionary entries translated into
 * a merge's result (see pdata_merge.c): looked up by content in an index
 * (core/intern) over the result's table, added when absent; a translation
 * map per add makes each source entry cost one lookup.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/err.h"
#include "model/pdata_merge_int.h"

/* Records a failure; returns index 0 so callers can go on harmlessly. */
int32_t pdm_failed(struct pdata_merge *m, int rc)
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
        return pdm_failed(m, j);
    }
    if (itab_insert(t, pr, j) != PC_OK) {
        return pdm_failed(m, PC_ENOMEM);
    }
    return j;
}

/* ---- strings, functions, mappings, links -------------------------------- */

int32_t pdm_str(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
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
    f.name = pdm_str(m, x, f.name);
    f.system_name = pdm_str(m, x, f.system_name);
    f.filename = pdm_str(m, x, f.filename);
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
        pdm_failed(m, PC_ENOMEM);
        return NULL;
    }
    for (k = 0; k < n; k++) {
        r[k] = pdm_attr(m, x, a[k]);
    }
    return r;
}

int pdm_attrs_eq(const int32_t *a, uint32_t na, const int32_t *b, uint32_t nb)
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
    p.filename = pdm_str(m, x, p.filename);
    p.build_id = pdm_str(m, x, p.build_id);
    p.attrs = x_attrs(m, x, p.attrs, p.nattrs);
    itab_probe_start(&m->ix.map, mapping_hash(&p), &pr);
    while ((j = itab_probe_next(&m->ix.map, &pr)) >= 0) {
        const struct mapping *g = &m->pd->dict.mappings[j];
        if (g->memory_start == p.memory_start &&
            g->memory_limit == p.memory_limit &&
            g->file_offset == p.file_offset && g->filename == p.filename &&
            g->build_id == p.build_id && g->flags == p.flags &&
            pdm_attrs_eq(g->attrs, g->nattrs, p.attrs, p.nattrs)) {
            break;
        }
    }
    if (j < 0) {
        j = indexed(m, &m->ix.map, &pr, dict_add_mapping(m->pd, &p));
    }
    x->map[i] = j + 1;
    return j;
}

int32_t pdm_link(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
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

int32_t pdm_attr(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
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
    a.key = pdm_str(m, x, a.key);
    a.unit = pdm_str(m, x, a.unit);
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
                ? pdm_failed(m, PC_ENOMEM)
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
        !pdm_attrs_eq(a->attrs, a->nattrs, b->attrs, b->nattrs)) {
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
        return pdm_failed(m, PC_ENOMEM);
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

int32_t pdm_stack(struct pdata_merge *m, struct merge_xlat *x, int32_t i)
{
    const struct stack *s;
    struct stack mapped = {0, 0, {NULL}};
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
        return pdm_failed(m, PC_ENOMEM);
    }
    for (k = 0; k < s->n; k++) {
        locs[k] = x_loc(m, x, stack_loc(s, k));
    }
    mapped.n = s->n;
    mapped.locs = locs;
    itab_probe_start(&m->ix.stack, stack_hash(&mapped, 0), &pr);
    while ((j = itab_probe_next(&m->ix.stack, &pr)) >= 0 &&
           !stack_eq(&m->pd->dict.stacks[j], &mapped)) {
    }
    if (j < 0) {
        j = indexed(m, &m->ix.stack, &pr, dict_add_stack(m->pd, locs, s->n));
    }
    free(locs);
    x->stack[i] = j + 1;
    return j;
}

void pdm_xlat_free(struct merge_xlat *x)
{
    free(x->str);
    free(x->fn);
    free(x->map);
    free(x->loc);
    free(x->attr);
    free(x->stack);
    free(x->link);
}

int pdm_xlat_init(struct merge_xlat *x, const struct dict *d)
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
        pdm_xlat_free(x);
        return PC_ENOMEM;
    }
    return PC_OK;
}
