/* pdata.c: construction helpers of the profile model (see profile.h). */
#include "model/profile.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/err.h"
#include "model/pdata_iter.h"

struct pdata *pdata_new(size_t arena_limit)
{
    struct pdata *pd = calloc(1, sizeof(*pd));

    if (pd != NULL) {
        arena_init(&pd->arena, arena_limit);
    }
    return pd;
}

void pdata_free(struct pdata *pd)
{
    if (pd == NULL) {
        return;
    }
    arena_free_all(&pd->arena);
    free(pd);
}

int arena_grow_array(struct arena *a, void **arr, uint32_t *cap, uint32_t need,
                     size_t sz)
{
    uint32_t ncap;
    void *p;

    if (need <= *cap) {
        return PC_OK;
    }
    if (need > INT32_MAX) {
        return PC_ETOOBIG;
    }
    ncap = *cap < 8 ? 8 : *cap;
    while (ncap < need) {
        ncap = ncap > INT32_MAX / 2 ? (uint32_t)INT32_MAX : ncap * 2;
    }
    p = arena_calloc(a, ncap, sz);
    if (p == NULL) {
        return PC_ENOMEM;
    }
    if (*arr != NULL && *cap != 0) {
        memcpy(p, *arr, (size_t)*cap * sz);
    }
    *arr = p;
    *cap = ncap;
    return PC_OK;
}

/* Generates dict_reserve_X and dict_add_X for one table. */
#define DICT_TABLE(name, type, field, nfield, capfield)                       \
    int dict_reserve_##name(struct pdata *pd, uint32_t n)                     \
    {                                                                         \
        struct dict *d = &pd->dict;                                           \
        if (n > (uint32_t)INT32_MAX - d->nfield) {                            \
            return PC_ETOOBIG;                                                \
        }                                                                     \
        return arena_grow_array(&pd->arena, (void **)&d->field, &d->capfield, \
                                d->nfield + n, sizeof(type));                 \
    }                                                                         \
    static int32_t dict_push_##name(struct pdata *pd, const type *e)          \
    {                                                                         \
        struct dict *d = &pd->dict;                                           \
        int rc;                                                               \
        if (d->nfield == d->capfield) {                                       \
            rc = dict_reserve_##name(pd, 1);                                  \
            if (rc != PC_OK) {                                                \
                return rc;                                                    \
            }                                                                 \
        }                                                                     \
        d->field[d->nfield] = *e;                                             \
        return (int32_t)d->nfield++;                                          \
    }

DICT_TABLE(strings, struct pstr, strings, nstrings, cap_strings)
DICT_TABLE(mappings, struct mapping, mappings, nmappings, cap_mappings)
DICT_TABLE(locations, struct location, locations, nlocations, cap_locations)
DICT_TABLE(functions, struct function, functions, nfunctions, cap_functions)
DICT_TABLE(links, struct link, links, nlinks, cap_links)
DICT_TABLE(attrs, struct attr, attrs, nattrs, cap_attrs)
DICT_TABLE(stacks, struct stack, stacks, nstacks, cap_stacks)

int32_t dict_add_string(struct pdata *pd, const char *s, size_t len)
{
    struct pstr p;

    if (len > UINT32_MAX) {
        return PC_ETOOBIG;
    }
    p.ptr = s;
    p.len = (uint32_t)len;
    return dict_push_strings(pd, &p);
}

int32_t dict_add_string_copy(struct pdata *pd, const char *s, size_t len)
{
    char *c = arena_strndup(&pd->arena, s, len);

    if (c == NULL) {
        return PC_ENOMEM;
    }
    return dict_add_string(pd, c, len);
}

int32_t dict_find_string(const struct pdata *pd, const char *s, size_t len)
{
    const struct dict *d = &pd->dict;
    uint32_t i;

    for (i = 0; i < d->nstrings; i++) {
        if (d->strings[i].len == len &&
            (len == 0 || memcmp(d->strings[i].ptr, s, len) == 0)) {
            return (int32_t)i;
        }
    }
    return -1;
}

int32_t dict_string(struct pdata *pd, const char *s, size_t len)
{
    int32_t i = dict_find_string(pd, s, len);

    return i >= 0 ? i : dict_add_string_copy(pd, s, len);
}

int32_t dict_add_mapping(struct pdata *pd, const struct mapping *m)
{
    return dict_push_mappings(pd, m);
}

int32_t dict_add_location(struct pdata *pd, const struct location *l)
{
    return dict_push_locations(pd, l);
}

int32_t dict_add_function(struct pdata *pd, const struct function *f)
{
    return dict_push_functions(pd, f);
}

int32_t dict_add_link(struct pdata *pd, const struct link *l)
{
    return dict_push_links(pd, l);
}

int32_t dict_add_attr(struct pdata *pd, const struct attr *a)
{
    return dict_push_attrs(pd, a);
}

int32_t dict_add_stack(struct pdata *pd, const int32_t *locs, uint32_t n)
{
    struct stack s;

    memset(&s, 0, sizeof(s));
    s.n = n;
    if (n != 0) {
        s.locs = arena_memdup(&pd->arena, locs, (size_t)n * sizeof(*locs));
        if (s.locs == NULL) {
            return PC_ENOMEM;
        }
    }
    return dict_push_stacks(pd, &s);
}

int stack_eq(const struct stack *a, const struct stack *b)
{
    uint32_t k;

    if (a->n != b->n) {
        return 0;
    }
    if (a->narrow == b->narrow && a->n != 0) {
        return memcmp(a->locs, b->locs, (size_t)a->n * (a->narrow ? 2 : 4)) ==
               0;
    }
    for (k = 0; k < a->n; k++) {
        if (stack_loc(a, k) != stack_loc(b, k)) {
            return 0;
        }
    }
    return 1;
}

uint64_t stack_hash(const struct stack *s, uint64_t seed)
{
    uint64_t h = seed ^ s->n;
    uint32_t k;

    for (k = 0; k < s->n; k++) {
        h = stack_hash_step(h, (uint32_t)stack_loc(s, k));
    }
    return stack_hash_end(h);
}

int dict_init(struct pdata *pd)
{
    struct dict *d = &pd->dict;
    struct mapping m = {0};
    struct location l = {0};
    struct function f = {0};
    struct link k = {{0}, {0}};
    struct attr a = {0};
    int32_t rc = 0;

    if (d->nstrings == 0) {
        rc = dict_add_string(pd, "", 0);
    }
    if (rc >= 0 && d->nmappings == 0) {
        rc = dict_add_mapping(pd, &m);
    }
    if (rc >= 0 && d->nlocations == 0) {
        rc = dict_add_location(pd, &l);
    }
    if (rc >= 0 && d->nfunctions == 0) {
        rc = dict_add_function(pd, &f);
    }
    if (rc >= 0 && d->nlinks == 0) {
        rc = dict_add_link(pd, &k);
    }
    if (rc >= 0 && d->nattrs == 0) {
        rc = dict_add_attr(pd, &a);
    }
    if (rc >= 0 && d->nstacks == 0) {
        rc = dict_add_stack(pd, NULL, 0);
    }
    return rc < 0 ? (int)rc : PC_OK;
}

struct resource_profiles *pdata_add_resource(struct pdata *pd)
{
    struct resource_profiles *n;

    n = arena_calloc(&pd->arena, (size_t)pd->nresources + 1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    if (pd->nresources != 0) {
        memcpy(n, pd->resources, pd->nresources * sizeof(*n));
    }
    pd->resources = n;
    return &pd->resources[pd->nresources++];
}

struct scope_profiles *pdata_add_scope(struct pdata *pd,
                                       struct resource_profiles *rp)
{
    struct scope_profiles *n;

    n = arena_calloc(&pd->arena, (size_t)rp->nscopes + 1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    if (rp->nscopes != 0) {
        memcpy(n, rp->scopes, rp->nscopes * sizeof(*n));
    }
    rp->scopes = n;
    return &rp->scopes[rp->nscopes++];
}

struct profile *pdata_add_profile(struct pdata *pd, struct scope_profiles *sp)
{
    struct profile *n;

    n = arena_calloc(&pd->arena, (size_t)sp->nprofiles + 1, sizeof(*n));
    if (n == NULL) {
        return NULL;
    }
    if (sp->nprofiles != 0) {
        memcpy(n, sp->profiles, sp->nprofiles * sizeof(*n));
    }
    sp->profiles = n;
    return &sp->profiles[sp->nprofiles++];
}

int pstr_eq(struct pstr a, const char *s)
{
    size_t n = strlen(s);

    return a.len == n && (n == 0 || memcmp(a.ptr, s, n) == 0);
}

int pstr_eqp(struct pstr a, struct pstr b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

int av_equal(const struct anyvalue *a, const struct anyvalue *b)
{
    uint32_t i;

    if (a->type != b->type) {
        return 0;
    }
    switch (a->type) {
    case AV_EMPTY:
        return 1;
    case AV_STRING:
    case AV_BYTES:
        return pstr_eqp(a->u.s, b->u.s);
    case AV_BOOL:
        return (a->u.b != 0) == (b->u.b != 0);
    case AV_INT:
        return a->u.i == b->u.i;
    case AV_DOUBLE:
        /* Bitwise, so that NaN equals itself and -0 differs from 0:
         * deduplication must never merge values that encode differently. */
        return memcmp(&a->u.d, &b->u.d, sizeof(double)) == 0;
    case AV_ARRAY:
        if (a->u.arr.n != b->u.arr.n) {
            return 0;
        }
        for (i = 0; i < a->u.arr.n; i++) {
            if (!av_equal(&a->u.arr.items[i], &b->u.arr.items[i])) {
                return 0;
            }
        }
        return 1;
    case AV_KVLIST:
        if (a->u.kv.n != b->u.kv.n) {
            return 0;
        }
        for (i = 0; i < a->u.kv.n; i++) {
            if (!pstr_eqp(a->u.kv.items[i].key, b->u.kv.items[i].key) ||
                !av_equal(&a->u.kv.items[i].value, &b->u.kv.items[i].value)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

uint64_t av_hash(const struct anyvalue *v, uint64_t seed)
{
    uint64_t h = XXH3_64bits_withSeed(&v->type, 1, seed);
    uint32_t i;

    switch (v->type) {
    case AV_STRING:
    case AV_BYTES:
        return XXH3_64bits_withSeed(v->u.s.ptr, v->u.s.len, h);
    case AV_BOOL:
        return h ^ (uint64_t)(v->u.b != 0);
    case AV_INT:
        return XXH3_64bits_withSeed(&v->u.i, sizeof(v->u.i), h);
    case AV_DOUBLE:
        return XXH3_64bits_withSeed(&v->u.d, sizeof(v->u.d), h);
    case AV_ARRAY:
        for (i = 0; i < v->u.arr.n; i++) {
            h = av_hash(&v->u.arr.items[i], h);
        }
        return h;
    case AV_KVLIST:
        for (i = 0; i < v->u.kv.n; i++) {
            h = XXH3_64bits_withSeed(v->u.kv.items[i].key.ptr,
                                     v->u.kv.items[i].key.len, h);
            h = av_hash(&v->u.kv.items[i].value, h);
        }
        return h;
    default:
        return h;
    }
}

void pdata_count(const struct pdata *pd, int32_t resource, uint32_t *profiles,
                 uint64_t *samples)
{
    struct pdata_iter w;
    const struct profile *p;

    *profiles = 0;
    *samples = 0;
    pdata_iter_init(&w, pd, resource);
    while ((p = pdata_iter_next(&w)) != NULL) {
        (*profiles)++;
        *samples += p->nsamples;
    }
}

uint32_t pdata_profile_count(const struct pdata *pd)
{
    uint32_t np;
    uint64_t ns;

    pdata_count(pd, -1, &np, &ns);
    return np;
}

uint64_t pdata_sample_count(const struct pdata *pd)
{
    uint32_t np;
    uint64_t ns;

    pdata_count(pd, -1, &np, &ns);
    return ns;
}
