/*
 * pdata_clone.c: deep copy of a pdata into a fresh arena. Used for
 * copy-on-write when a processor must change a payload that other pipelines
 * or exporters share. Tables are copied as blocks; only nested pointers are
 * rebuilt.
 */
#include <string.h>

#include "core/err.h"
#include "model/limits.h"
#include "model/profile.h"

struct cloner {
    struct arena *a;
    int failed;
};

static void *dup_arr(struct cloner *c, const void *p, size_t n, size_t sz)
{
    void *q;

    if (p == NULL || n == 0) {
        return NULL;
    }
    q = arena_memdup(c->a, p, n * sz);
    if (q == NULL) {
        c->failed = 1;
    }
    return q;
}

static struct pstr dup_str(struct cloner *c, struct pstr s)
{
    struct pstr r = {"", 0};

    if (s.len == 0) {
        return r;
    }
    r.ptr = arena_strndup(c->a, s.ptr, s.len);
    if (r.ptr == NULL) {
        c->failed = 1;
        r.ptr = "";
        return r;
    }
    r.len = s.len;
    return r;
}

static void dup_value(struct cloner *c, struct anyvalue *v, int depth);

static struct keyvalue *dup_kvs(struct cloner *c, const struct keyvalue *kv,
                                uint32_t n, int depth)
{
    struct keyvalue *r = dup_arr(c, kv, n, sizeof(*kv));
    uint32_t i;

    for (i = 0; r != NULL && i < n; i++) {
        r[i].key = dup_str(c, r[i].key);
        dup_value(c, &r[i].value, depth + 1);
    }
    return r;
}

/* Replaces the pointers inside v (a shallow copy) with deep copies. */
static void dup_value(struct cloner *c, struct anyvalue *v, int depth)
{
    uint32_t i;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        c->failed = 1;
        return;
    }
    switch (v->type) {
    case AV_STRING:
    case AV_BYTES:
        v->u.s = dup_str(c, v->u.s);
        break;
    case AV_ARRAY:
        v->u.arr.items = dup_arr(c, v->u.arr.items, v->u.arr.n,
                                 sizeof(struct anyvalue));
        for (i = 0; v->u.arr.items != NULL && i < v->u.arr.n; i++) {
            dup_value(c, &v->u.arr.items[i], depth + 1);
        }
        break;
    case AV_KVLIST:
        v->u.kv.items = dup_kvs(c, v->u.kv.items, v->u.kv.n, depth);
        break;
    default:
        break;
    }
}

int av_copy(struct arena *a, struct anyvalue *dst, const struct anyvalue *src)
{
    struct cloner c = {a, 0};

    *dst = *src;
    dup_value(&c, dst, 0);
    return c.failed ? PC_ENOMEM : PC_OK;
}

static void clone_strings(struct cloner *c, struct dict *d)
{
    uint32_t i;
    size_t total = 0;
    char *block, *p;

    /* One block for all string bytes: one allocation, good locality. */
    for (i = 0; i < d->nstrings; i++) {
        total += d->strings[i].len;
    }
    block = arena_alloc(c->a, total + 1);
    if (block == NULL) {
        c->failed = 1;
        return;
    }
    p = block;
    for (i = 0; i < d->nstrings; i++) {
        if (d->strings[i].len != 0) {
            memcpy(p, d->strings[i].ptr, d->strings[i].len);
        }
        d->strings[i].ptr = p;
        p += d->strings[i].len;
    }
}

static void clone_dict(struct cloner *c, struct dict *d, const struct dict *s)
{
    uint32_t i;

    *d = *s;
    d->strings = dup_arr(c, s->strings, s->nstrings, sizeof(*s->strings));
    d->mappings = dup_arr(c, s->mappings, s->nmappings, sizeof(*s->mappings));
    d->locations = dup_arr(c, s->locations, s->nlocations,
                           sizeof(*s->locations));
    d->functions = dup_arr(c, s->functions, s->nfunctions,
                           sizeof(*s->functions));
    d->links = dup_arr(c, s->links, s->nlinks, sizeof(*s->links));
    d->attrs = dup_arr(c, s->attrs, s->nattrs, sizeof(*s->attrs));
    d->stacks = dup_arr(c, s->stacks, s->nstacks, sizeof(*s->stacks));
    if (c->failed) {
        return;
    }
    d->cap_strings = d->nstrings;
    d->cap_mappings = d->nmappings;
    d->cap_locations = d->nlocations;
    d->cap_functions = d->nfunctions;
    d->cap_links = d->nlinks;
    d->cap_attrs = d->nattrs;
    d->cap_stacks = d->nstacks;
    clone_strings(c, d);
    for (i = 0; i < d->nmappings; i++) {
        d->mappings[i].attrs = dup_arr(c, d->mappings[i].attrs,
                                       d->mappings[i].nattrs, sizeof(int32_t));
    }
    for (i = 0; i < d->nlocations; i++) {
        struct location *l = &d->locations[i];
        l->lines = dup_arr(c, l->lines, l->nlines, sizeof(*l->lines));
        l->attrs = dup_arr(c, l->attrs, l->nattrs, sizeof(int32_t));
    }
    for (i = 0; i < d->nattrs; i++) {
        dup_value(c, &d->attrs[i].value, 0);
    }
    for (i = 0; i < d->nstacks; i++) {
        d->stacks[i].locs = dup_arr(c, d->stacks[i].locs, d->stacks[i].n,
                                    d->stacks[i].narrow ? sizeof(uint16_t)
                                                        : sizeof(int32_t));
    }
}

static void clone_profile(struct cloner *c, struct profile *p)
{
    uint32_t i;

    p->sample_types = dup_arr(c, p->sample_types, p->nsample_types,
                              sizeof(*p->sample_types));
    p->comments = dup_arr(c, p->comments, p->ncomments, sizeof(int32_t));
    p->attrs = dup_arr(c, p->attrs, p->nattrs, sizeof(int32_t));
    p->original_payload_format = dup_str(c, p->original_payload_format);
    p->original_payload = dup_str(c, p->original_payload);
    p->samples = dup_arr(c, p->samples, p->nsamples, sizeof(*p->samples));
    for (i = 0; p->samples != NULL && i < p->nsamples; i++) {
        struct sample *s = &p->samples[i];
        s->attrs = dup_arr(c, s->attrs, s->nattrs, sizeof(int32_t));
        /* The timestamps follow the values (sample_ts). */
        s->values = dup_arr(c, s->values, (size_t)s->nvalues + s->nts,
                            sizeof(int64_t));
    }
}

static void clone_resource(struct cloner *c, struct resource_profiles *rp)
{
    struct resource *r = &rp->resource;
    uint32_t i, j;

    r->attrs = dup_kvs(c, r->attrs, r->nattrs, 0);
    r->entity_refs = dup_arr(c, r->entity_refs, r->nentity_refs,
                             sizeof(*r->entity_refs));
    for (i = 0; r->entity_refs != NULL && i < r->nentity_refs; i++) {
        struct entity_ref *er = &r->entity_refs[i];
        er->schema_url = dup_str(c, er->schema_url);
        er->type = dup_str(c, er->type);
        er->id_keys = dup_arr(c, er->id_keys, er->nid_keys,
                              sizeof(struct pstr));
        for (j = 0; er->id_keys != NULL && j < er->nid_keys; j++) {
            er->id_keys[j] = dup_str(c, er->id_keys[j]);
        }
        er->description_keys = dup_arr(c, er->description_keys,
                                       er->ndescription_keys,
                                       sizeof(struct pstr));
        for (j = 0; er->description_keys != NULL && j < er->ndescription_keys;
             j++) {
            er->description_keys[j] = dup_str(c, er->description_keys[j]);
        }
    }
    rp->schema_url = dup_str(c, rp->schema_url);
    rp->scopes = dup_arr(c, rp->scopes, rp->nscopes, sizeof(*rp->scopes));
    for (i = 0; rp->scopes != NULL && i < rp->nscopes; i++) {
        struct scope_profiles *sp = &rp->scopes[i];
        sp->scope.name = dup_str(c, sp->scope.name);
        sp->scope.version = dup_str(c, sp->scope.version);
        sp->scope.attrs = dup_kvs(c, sp->scope.attrs, sp->scope.nattrs, 0);
        sp->schema_url = dup_str(c, sp->schema_url);
        sp->profiles = dup_arr(c, sp->profiles, sp->nprofiles,
                               sizeof(*sp->profiles));
        for (j = 0; sp->profiles != NULL && j < sp->nprofiles; j++) {
            clone_profile(c, &sp->profiles[j]);
        }
    }
}

struct pdata *pdata_clone(const struct pdata *src)
{
    struct pdata *pd = pdata_new(src->arena.limit);
    struct cloner c;
    uint32_t i;

    if (pd == NULL) {
        return NULL;
    }
    c.a = &pd->arena;
    c.failed = 0;
    clone_dict(&c, &pd->dict, &src->dict);
    pd->nresources = src->nresources;
    pd->resources = dup_arr(&c, src->resources, src->nresources,
                            sizeof(*src->resources));
    for (i = 0; pd->resources != NULL && i < pd->nresources; i++) {
        clone_resource(&c, &pd->resources[i]);
    }
    if (c.failed) {
        pdata_free(pd);
        return NULL;
    }
    return pd;
}
