/*
 * pdata_text.c: every string of a pdata that a protobuf encoder would send
 * as a `string` field must be UTF-8, or the backend refuses the whole
 * request. Receivers check it before they acknowledge anything.
 */
#include <stdio.h>

#include "core/utf8.h"
#include "model/limits.h"
#include "model/profile.h"

static int text_ok(struct pstr s)
{
    return utf8_check(s.ptr, s.len) == s.len;
}

/* 0 when v and what it holds are UTF-8 where they are strings. */
static int value_ok(const struct anyvalue *v, unsigned depth)
{
    uint32_t i;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return 0;
    }
    switch (v->type) {
    case AV_STRING:
        return text_ok(v->u.s);
    case AV_ARRAY:
        for (i = 0; i < v->u.arr.n; i++) {
            if (!value_ok(&v->u.arr.items[i], depth + 1)) {
                return 0;
            }
        }
        return 1;
    case AV_KVLIST:
        for (i = 0; i < v->u.kv.n; i++) {
            if (!text_ok(v->u.kv.items[i].key) ||
                !value_ok(&v->u.kv.items[i].value, depth + 1)) {
                return 0;
            }
        }
        return 1;
    default:
        return 1;
    }
}

static int kvs_ok(const struct keyvalue *kv, uint32_t n, uint32_t *bad)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (!text_ok(kv[i].key) || !value_ok(&kv[i].value, 0)) {
            *bad = i;
            return 0;
        }
    }
    return 1;
}

static int dict_text(const struct dict *d, struct errctx *e)
{
    uint32_t i;

    for (i = 0; i < d->nstrings; i++) {
        if (!text_ok(d->strings[i])) {
            return err_set(e, PC_EINVAL, "string_table[%u] is not valid UTF-8",
                           i);
        }
    }
    for (i = 0; i < d->nattrs; i++) {
        if (!value_ok(&d->attrs[i].value, 0)) {
            return err_set(e, PC_EINVAL,
                           "attribute_table[%u]: a string value is not "
                           "valid UTF-8",
                           i);
        }
    }
    return PC_OK;
}

static int scope_text(const struct scope_profiles *sp, uint32_t r, uint32_t s,
                      struct errctx *e)
{
    uint32_t bad = 0;

    if (!text_ok(sp->scope.name) || !text_ok(sp->scope.version) ||
        !text_ok(sp->schema_url)) {
        return err_set(e, PC_EINVAL,
                       "resource_profiles[%u].scope_profiles[%u]: scope "
                       "name, version or schema_url is not valid UTF-8",
                       r, s);
    }
    if (!kvs_ok(sp->scope.attrs, sp->scope.nattrs, &bad)) {
        return err_set(e, PC_EINVAL,
                       "resource_profiles[%u].scope_profiles[%u]: scope "
                       "attribute %u is not valid UTF-8",
                       r, s, bad);
    }
    return PC_OK;
}

int pdata_check_text(const struct pdata *pd, struct errctx *e)
{
    uint32_t r, s, bad = 0;
    int rc = dict_text(&pd->dict, e);

    for (r = 0; rc == PC_OK && r < pd->nresources; r++) {
        const struct resource_profiles *rp = &pd->resources[r];
        if (!text_ok(rp->schema_url) ||
            !kvs_ok(rp->resource.attrs, rp->resource.nattrs, &bad)) {
            return err_set(e, PC_EINVAL,
                           "resource_profiles[%u]: resource attribute %u or "
                           "schema_url is not valid UTF-8",
                           r, bad);
        }
        for (s = 0; rc == PC_OK && s < rp->nscopes; s++) {
            rc = scope_text(&rp->scopes[s], r, s, e);
        }
    }
    return rc;
}
