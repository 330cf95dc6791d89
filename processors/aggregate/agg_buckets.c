/*
 * agg_buckets.c: the aggregate processor's buckets (see agg_buckets.h).
 *
 * A bucket's key is text: the tenant, the item's attributes sorted by key
 * (name=value), and the profile's sample types and period type. An item
 * with one profile that finds its bucket empty is held as it is (its
 * payload referenced, not copied); a second profile starts a merge, into
 * which the held one goes first. With drop_sample_labels every profile is
 * merged (even a lone one must lose those labels).
 */
#include "processors/aggregate/agg_buckets.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/buf.h"
#include "component/series.h"
#include "model/pdata_iter.h"
#include "model/pdata_merge.h"

#define AGG_KEY_MAX (1u << 20)

struct agg_bucket {
    char *key;
    size_t keylen;
    struct batch *hold;    /* items[0]: attrs, tenant; payload while alone */
    struct pdata_merge *m; /* NULL while alone */
    size_t bytes;          /* counted in a->bytes */
};

int agg_buckets_init(struct agg_buckets *a, const struct cfg_strlist *drop,
                     size_t max_bytes)
{
    memset(a, 0, sizeof(*a));
    a->drop = drop;
    a->max_bytes = max_bytes;
    return itab_init(&a->idx, 64);
}

static void bucket_free(struct agg_bucket *k)
{
    free(k->key);
    batch_unref(k->hold);
    pdata_merge_free(k->m);
}

static void buckets_clear(struct agg_buckets *a)
{
    uint32_t i;

    for (i = 0; i < a->n; i++) {
        bucket_free(&a->v[i]);
    }
    a->n = 0;
    a->bytes = 0;
    itab_free(&a->idx);
    /* A failed init leaves the index empty: lookups then add no entry. */
    (void)itab_init(&a->idx, 64);
}

void agg_buckets_free(struct agg_buckets *a)
{
    buckets_clear(a);
    itab_free(&a->idx);
    free(a->v);
    a->v = NULL;
    a->cap = 0;
}

/* ---- keys --------------------------------------------------------------- */

static int put_attrs_sorted(const struct item *it, struct buf *k)
{
    uint32_t order[64], n = it->nattrs < 64 ? it->nattrs : 64, i, j;
    int rc = PC_OK;

    for (i = 0; i < n; i++) {
        struct pstr key = it->attrs[i].key;
        for (j = i; j > 0; j--) {
            struct pstr o = it->attrs[order[j - 1]].key;
            size_t l = o.len < key.len ? o.len : key.len;
            int c = memcmp(o.ptr, key.ptr, l);
            if (c < 0 || (c == 0 && o.len <= key.len)) {
                break;
            }
            order[j] = order[j - 1];
        }
        order[j] = i;
    }
    for (i = 0; i < it->nattrs && rc == PC_OK; i++) {
        const struct keyvalue *kv = &it->attrs[i < n ? order[i] : i];
        rc = buf_append(k, kv->key.ptr, kv->key.len);
        rc = rc != PC_OK ? rc : buf_putc(k, '=');
        rc = rc != PC_OK ? rc : series_value_text(&kv->value, k);
        rc = rc != PC_OK ? rc : buf_putc(k, '\x1f');
    }
    return rc;
}

static int put_types(const struct dict *d, const struct profile *p,
                     struct buf *k)
{
    uint32_t i;
    int rc = buf_putc(k, '\x1e');

    for (i = 0; i <= p->nsample_types && rc == PC_OK; i++) {
        const struct value_type *t = i < p->nsample_types ? &p->sample_types[i]
                                                          : &p->period_type;
        struct pstr ty = dict_str(d, t->type), u = dict_str(d, t->unit);
        rc = buf_printf(k, "%.*s/%.*s\x1f", (int)ty.len, ty.ptr, (int)u.len,
                        u.ptr);
    }
    return rc;
}

static int make_key(const struct item *it, const struct dict *d,
                    const struct profile *p, struct buf *k)
{
    int rc = buf_append(k, it->tenant.ptr, it->tenant.len);

    rc = rc != PC_OK ? rc : buf_putc(k, '\x1d');
    rc = rc != PC_OK ? rc : put_attrs_sorted(it, k);
    return rc != PC_OK ? rc : put_types(d, p, k);
}

/* The bucket of key k, created (empty) when absent; NULL on OOM. */
static struct agg_bucket *bucket_get(struct agg_buckets *a,
                                     const struct buf *k)
{
    struct itab_probe pr;
    struct agg_bucket *kb;
    int32_t j;

    itab_probe_start(&a->idx, XXH3_64bits(k->data, k->len), &pr);
    while ((j = itab_probe_next(&a->idx, &pr)) >= 0) {
        if (a->v[j].keylen == k->len &&
            memcmp(a->v[j].key, k->data, k->len) == 0) {
            return &a->v[j];
        }
    }
    if (a->n == a->cap) {
        uint32_t ncap = a->cap != 0 ? a->cap * 2 : 16;
        struct agg_bucket *nv = realloc(a->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            return NULL;
        }
        a->v = nv;
        a->cap = ncap;
    }
    kb = &a->v[a->n];
    memset(kb, 0, sizeof(*kb));
    kb->key = malloc(k->len + 1);
    if (kb->key == NULL || itab_insert(&a->idx, &pr, (int32_t)a->n) != PC_OK) {
        free(kb->key);
        return NULL;
    }
    memcpy(kb->key, k->data, k->len);
    kb->keylen = k->len;
    a->n++;
    return kb;
}

/* ---- items -------------------------------------------------------------- */

/* A copy of src's identity (attributes, tenant, counts) as a new item of
 * dst; with its payload references when payload is set. */
static struct item *item_copy(struct batch *dst, const struct item *src,
                              int payload)
{
    struct item *d = batch_add_item(dst);
    uint32_t i;

    if (d == NULL) {
        return NULL;
    }
    d->format = src->format;
    d->resource = src->resource;
    d->nprofiles = src->nprofiles;
    d->nsamples = src->nsamples;
    d->received_ns = src->received_ns;
    if (payload) {
        d->raw = blob_ref(src->raw);
        d->pd = shared_pdata_ref(src->pd);
    }
    if (src->tenant.len > 0) {
        d->tenant.ptr = arena_strndup(&dst->arena, src->tenant.ptr,
                                      src->tenant.len);
        d->tenant.len = d->tenant.ptr != NULL ? src->tenant.len : 0;
    }
    for (i = 0; i < src->nattrs; i++) {
        const struct keyvalue *kv = &src->attrs[i];
        char *key = arena_strndup(&dst->arena, kv->key.ptr, kv->key.len);
        if (key == NULL || item_set_attr(dst, d, key, &kv->value) != PC_OK) {
            blob_unref(d->raw);
            shared_pdata_unref(d->pd);
            dst->nitems--;
            return NULL;
        }
    }
    return d;
}

/* Drops the payload of a bucket's held item (it went into the merge). */
static void hold_release(struct agg_bucket *kb)
{
    struct item *h = &kb->hold->items[0];

    blob_unref(h->raw);
    shared_pdata_unref(h->pd);
    h->raw = NULL;
    h->pd = NULL;
}

/* The first profile of an item's payload (a held item has one). */
static const struct profile *first_profile(const struct item *it)
{
    struct pdata_iter w;

    pdata_iter_init(&w, it->pd->pd, it->resource);
    return pdata_iter_next(&w);
}

static int bucket_merge(struct agg_buckets *a, struct agg_bucket *kb,
                        const struct item *it, const struct profile *p)
{
    const char *const *drop = (const char *const *)a->drop->items;
    size_t now;
    int rc;

    if (kb->hold == NULL && ((kb->hold = batch_new("aggregate")) == NULL ||
                             item_copy(kb->hold, it, 0) == NULL)) {
        return PC_ENOMEM;
    }
    if (kb->m == NULL) {
        struct item *h = &kb->hold->items[0];
        rc = pdata_merge_new(0, &kb->m);
        if (rc == PC_OK && h->pd != NULL) {
            rc = pdata_merge_add(kb->m, h->pd->pd, first_profile(h), drop,
                                 a->drop->n);
            hold_release(kb);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    rc = pdata_merge_add(kb->m, it->pd->pd, p, drop, a->drop->n);
    now = pdata_merge_bytes(kb->m);
    a->bytes = a->bytes - kb->bytes + now;
    kb->bytes = now;
    return rc;
}

/* What holding the item may cost: its decoded payload (a merge adds at
 * most that much), plus its bytes while held alone. */
static size_t item_cost(const struct item *it)
{
    return arena_bytes(&it->pd->pd->arena) +
           (it->raw != NULL ? it->raw->len : 0);
}

static int take_profile(struct agg_buckets *a, const struct item *it,
                        const struct profile *p, int alone, size_t cost,
                        struct buf *key)
{
    struct agg_bucket *kb;
    int rc;

    buf_reset(key);
    rc = make_key(it, &it->pd->pd->dict, p, key);
    if (rc != PC_OK) {
        return rc;
    }
    kb = bucket_get(a, key);
    if (kb == NULL) {
        return PC_ENOMEM;
    }
    if (alone && kb->hold == NULL) {
        kb->hold = batch_new("aggregate");
        if (kb->hold == NULL || item_copy(kb->hold, it, 1) == NULL) {
            return PC_ENOMEM;
        }
        kb->bytes = cost;
        a->bytes += cost;
        return PC_OK;
    }
    return bucket_merge(a, kb, it, p);
}

/* Builds every profile's key before anything is merged, so that a key that
 * cannot be built refuses the whole item and nothing of it is taken. */
static int check_keys(const struct item *it, struct buf *key)
{
    const struct profile *p;
    struct pdata_iter w;
    int rc = PC_OK;

    pdata_iter_init(&w, it->pd->pd, it->resource);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        buf_reset(key);
        rc = make_key(it, &it->pd->pd->dict, p, key);
    }
    return rc;
}

int agg_buckets_take(struct agg_buckets *a, struct batch *b, struct item *it,
                     uint32_t *nlost, struct errctx *e)
{
    const struct profile *p;
    struct pdata_iter w;
    struct buf key;
    uint32_t n, taken = 0;
    uint64_t ns;
    size_t cost;
    int rc = batch_item_decode(b, it, e);

    *nlost = 0;
    if (rc != PC_OK) {
        return rc;
    }
    cost = item_cost(it);
    if (a->bytes + cost > a->max_bytes) {
        return PC_ETOOBIG;
    }
    pdata_count(it->pd->pd, it->resource, &n, &ns);
    buf_init(&key, AGG_KEY_MAX);
    rc = check_keys(it, &key);
    pdata_iter_init(&w, it->pd->pd, it->resource);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        rc = take_profile(a, it, p, n == 1 && a->drop->n == 0, cost, &key);
        taken += rc == PC_OK;
    }
    buf_free(&key);
    if (rc != PC_OK && taken > 0) {
        /* Part of the item is merged already: passing it on too would send
         * those profiles twice, so the rest is counted as lost instead. */
        *nlost = n - taken;
        err_set(e, rc, "aggregate: %s", pc_strerror(rc));
        return PC_OK;
    }
    return rc == PC_OK ? PC_OK
                       : err_set(e, rc, "aggregate: %s", pc_strerror(rc));
}

/* ---- flushing ----------------------------------------------------------- */

/* The series attributes (not the internal `__` ones) as a resource. */
static int merged_item(struct agg_bucket *kb, struct item *d, int64_t start_ns,
                       int64_t window_ns)
{
    struct keyvalue *kv = calloc(d->nattrs + 1, sizeof(*kv));
    struct resource res;
    struct pdata *pd = NULL;
    uint32_t i;
    int rc;

    if (kv == NULL) {
        return PC_ENOMEM;
    }
    memset(&res, 0, sizeof(res));
    res.attrs = kv;
    for (i = 0; i < d->nattrs; i++) {
        if (!series_internal(d->attrs[i].key)) {
            kv[res.nattrs++] = d->attrs[i];
        }
    }
    rc = pdata_merge_finish(kb->m, &res, start_ns, window_ns, &pd);
    kb->m = NULL;
    free(kv);
    if (rc != PC_OK) {
        return rc;
    }
    d->pd = shared_pdata_new(pd);
    if (d->pd == NULL) {
        pdata_free(pd);
        return PC_ENOMEM;
    }
    d->format = PAYLOAD_NONE;
    d->resource = -1;
    pdata_count(pd, -1, &d->nprofiles, &d->nsamples);
    return PC_OK;
}

int agg_buckets_flush(struct agg_buckets *a, struct batch *out,
                      int64_t window_start_ns, int64_t window_ns,
                      uint32_t *nprofiles, uint32_t *nlost)
{
    uint32_t i;
    int rc = PC_OK;

    *nprofiles = *nlost = 0;
    for (i = 0; i < a->n; i++) {
        struct agg_bucket *kb = &a->v[i];
        struct item *d;
        int r = PC_OK;
        if (kb->hold == NULL) {
            continue;
        }
        d = item_copy(out, &kb->hold->items[0], kb->m == NULL);
        if (d == NULL) {
            r = PC_ENOMEM;
        } else if (kb->m != NULL) {
            r = merged_item(kb, d, window_start_ns, window_ns);
        }
        if (r == PC_OK) {
            *nprofiles += d->nprofiles;
            continue;
        }
        /* Not emitted: the item (last one of out) goes again. */
        if (d != NULL) {
            blob_unref(d->raw);
            shared_pdata_unref(d->pd);
            out->nitems--;
        }
        (*nlost)++;
        rc = r;
    }
    buckets_clear(a);
    return rc;
}
