/* flame_profile.c: the samples of a model profile into a flame tree. */
#include "flame/flame.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int flame_type_matches(const struct dict *d,
                              const struct value_type *vt, const char *want)
{
    struct pstr ty = dict_str(d, vt->type), un = dict_str(d, vt->unit);
    size_t n = strlen(want);

    if (pstr_eq(ty, want)) {
        return 1;
    }
    /* "type:unit" */
    return n == (size_t)ty.len + 1 + un.len &&
           memcmp(want, ty.ptr, ty.len) == 0 && want[ty.len] == ':' &&
           memcmp(want + ty.len + 1, un.ptr, un.len) == 0;
}

int flame_type_index(const struct dict *d, const struct profile *p,
                     const char *type, uint32_t *vi)
{
    uint32_t i;

    if (p->nsample_types == 0) {
        return PC_ENOTFOUND;
    }
    if (type != NULL) {
        for (i = 0; i < p->nsample_types; i++) {
            if (flame_type_matches(d, &p->sample_types[i], type)) {
                *vi = i;
                return PC_OK;
            }
        }
        return PC_ENOTFOUND;
    }
    if (p->default_sample_type > 0) {
        struct pstr want = dict_str(d, p->default_sample_type);
        for (i = 0; i < p->nsample_types; i++) {
            if (pstr_eqp(dict_str(d, p->sample_types[i].type), want)) {
                *vi = i;
                return PC_OK;
            }
        }
    }
    *vi = p->nsample_types - 1;
    return PC_OK;
}

int64_t flame_sample_value(const struct profile *p, const struct sample *s,
                           uint32_t vi)
{
    int64_t sum = 0;
    uint32_t i;

    if (p->nsample_types > 1) {
        return vi < s->nvalues ? s->values[vi] : 0;
    }
    if (s->nvalues == 0) {
        return (int64_t)s->nts;
    }
    for (i = 0; i < s->nvalues; i++) {
        sum = flame_add64(sum, s->values[i]);
    }
    return sum;
}

/* Name ids of functions (id + 1; 0 = not looked up yet), so a function
 * met in many samples is hashed once per profile. */
struct flame_fcache {
    uint32_t *ids;
    uint32_t n;
};

static int flame_fn_name(struct flame_tree *t, struct flame_fcache *c,
                         const struct dict *d, int32_t fn, uint32_t *id)
{
    struct pstr nm;
    int rc;

    if (c->ids[fn] != 0) {
        *id = c->ids[fn] - 1;
        return PC_OK;
    }
    nm = dict_str(d, d->functions[fn].name);
    if (nm.len == 0) {
        nm.ptr = "<unknown>";
        nm.len = 9;
    }
    rc = flame_intern(t, nm.ptr, nm.len, id);
    if (rc == PC_OK) {
        c->ids[fn] = *id + 1;
    }
    return rc;
}

static int flame_addr_name(struct flame_tree *t, const struct location *l,
                           uint32_t *id)
{
    char hex[24];
    int n = snprintf(hex, sizeof(hex), "0x%" PRIx64, l->address);

    return flame_intern(t, hex, (size_t)n, id);
}

/* Appends the frames of location loc, caller first. */
static int flame_loc_frames(struct flame_tree *t, struct flame_fcache *c,
                            const struct dict *d, int32_t loc, uint32_t *names,
                            uint32_t *n)
{
    const struct location *l;
    uint32_t k;
    int rc = PC_OK;

    if (loc <= 0 || (uint32_t)loc >= d->nlocations) {
        return flame_intern(t, "<unknown>", 9, &names[(*n)++]);
    }
    l = &d->locations[loc];
    if (l->nlines == 0) {
        return flame_addr_name(t, l, &names[(*n)++]);
    }
    for (k = l->nlines; k-- > 0 && *n < FLAME_MAX_DEPTH && rc == PC_OK;) {
        int32_t fn = l->lines[k].function;
        if (fn <= 0 || (uint32_t)fn >= d->nfunctions) {
            rc = flame_intern(t, "<unknown>", 9, &names[(*n)++]);
        } else {
            rc = flame_fn_name(t, c, d, fn, &names[(*n)++]);
        }
    }
    return rc;
}

static int flame_sample_path(struct flame_tree *t, struct flame_fcache *c,
                             const struct dict *d, const struct sample *s,
                             uint32_t *names, uint32_t *n)
{
    const struct stack *st;
    uint32_t j;
    int rc = PC_OK;

    *n = 0;
    if (s->stack <= 0 || (uint32_t)s->stack >= d->nstacks) {
        return PC_OK;
    }
    st = &d->stacks[s->stack];
    /* Locations are leaf first: walk them backwards for root first. */
    for (j = st->n; j-- > 0 && *n < FLAME_MAX_DEPTH && rc == PC_OK;) {
        rc = flame_loc_frames(t, c, d, stack_loc(st, j), names, n);
    }
    return rc;
}

int flame_add_profile(struct flame_tree *t, const struct dict *d,
                      const struct profile *p, uint32_t vi, int side,
                      flame_keep_fn keep, void *keep_ctx)
{
    struct flame_fcache c;
    uint32_t *names, n, i;
    int rc = PC_OK;

    c.n = d->nfunctions;
    c.ids = calloc((size_t)c.n + 1, sizeof(*c.ids));
    names = malloc(FLAME_MAX_DEPTH * sizeof(*names));
    if (c.ids == NULL || names == NULL) {
        free(c.ids);
        free(names);
        return PC_ENOMEM;
    }
    for (i = 0; i < p->nsamples && rc == PC_OK; i++) {
        const struct sample *s = &p->samples[i];
        int64_t v = flame_sample_value(p, s, vi);
        if (v == 0 || (keep != NULL && !keep(keep_ctx, d, s))) {
            continue;
        }
        rc = flame_sample_path(t, &c, d, s, names, &n);
        if (rc == PC_OK) {
            rc = flame_add_path(t, names, n, side, v);
        }
    }
    free(c.ids);
    free(names);
    return rc;
}
