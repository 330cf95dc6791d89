/* batch.c: batches, items, shared payloads (see batch.h). */
#include "component/batch.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>

#include "core/clock.h"
#include "core/assert.h"
#include "component/series.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "model/pdata_iter.h"

/* ---- refcounting -------------------------------------------------------
 * Counts are plain ints touched only through these helpers with C11 atomics,
 * so a batch can be shared by exporter threads. */

static void ref_inc(int *r)
{
    int old = atomic_fetch_add_explicit((_Atomic int *)r, 1,
                                        memory_order_relaxed);

    /* A reference is taken from a live one: 0 means freed already. */
    PC_ASSERT(old > 0);
}

/* True when this was the last reference. */
static int ref_dec(int *r)
{
    int old = atomic_fetch_sub_explicit((_Atomic int *)r, 1,
                                        memory_order_acq_rel);

    /* Below zero: a reference given away (or freed) was dropped again. */
    PC_ASSERT(old > 0);
    return old == 1;
}

struct blob *blob_take(uint8_t *data, size_t len)
{
    struct blob *b = malloc(sizeof(*b));

    if (b == NULL) {
        free(data);
        return NULL;
    }
    b->refs = 1;
    b->len = len;
    b->data = data;
    b->gz = NULL;
    return b;
}

struct blob *blob_new(const void *data, size_t len)
{
    uint8_t *p = malloc(len != 0 ? len : 1);

    if (p == NULL) {
        return NULL;
    }
    if (len != 0) {
        memcpy(p, data, len);
    }
    return blob_take(p, len);
}

struct blob *blob_ref(struct blob *b)
{
    if (b != NULL) {
        ref_inc(&b->refs);
    }
    return b;
}

void blob_unref(struct blob *b)
{
    if (b != NULL && ref_dec(&b->refs)) {
        blob_unref(b->gz);
        free(b->data);
        free(b);
    }
}

void blob_ref_cb(void *b)
{
    blob_ref(b);
}

void blob_unref_cb(void *b)
{
    blob_unref(b);
}

struct shared_pdata *shared_pdata_new(struct pdata *pd)
{
    struct shared_pdata *s = malloc(sizeof(*s));

    if (s == NULL) {
        pdata_free(pd);
        return NULL;
    }
    s->refs = 1;
    s->pd = pd;
    return s;
}

struct shared_pdata *shared_pdata_ref(struct shared_pdata *s)
{
    if (s != NULL) {
        ref_inc(&s->refs);
    }
    return s;
}

void shared_pdata_unref(struct shared_pdata *s)
{
    if (s != NULL && ref_dec(&s->refs)) {
        pdata_free(s->pd);
        free(s);
    }
}

/* ---- batches ------------------------------------------------------------ */

struct batch *batch_new(const char *source)
{
    struct batch *b = calloc(1, sizeof(*b));

    if (b == NULL) {
        return NULL;
    }
    b->refs = 1;
    arena_init(&b->arena, 0);
    pthread_mutex_init(&b->decode_lock, NULL);
    if (source != NULL) {
        snprintf(b->source, sizeof(b->source), "%s", source);
    }
    return b;
}

struct batch *batch_ref(struct batch *b)
{
    if (b != NULL) {
        ref_inc(&b->refs);
    }
    return b;
}

void batch_unref(struct batch *b)
{
    uint32_t i;

    if (b == NULL || !ref_dec(&b->refs)) {
        return;
    }
    for (i = 0; i < b->nitems; i++) {
        blob_unref(b->items[i].raw);
        shared_pdata_unref(b->items[i].pd);
    }
    free(b->items);
    arena_free_all(&b->arena);
    pthread_mutex_destroy(&b->decode_lock);
    free(b);
}

struct item *batch_add_item(struct batch *b)
{
    struct item *it;

    if (b->nitems == b->cap) {
        uint32_t ncap = b->cap != 0 ? b->cap * 2 : 4;
        struct item *n = realloc(b->items, ncap * sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        b->items = n;
        b->cap = ncap;
    }
    it = &b->items[b->nitems++];
    memset(it, 0, sizeof(*it));
    it->resource = -1;
    it->received_ns = (uint64_t)clock_real_ns();
    return it;
}

/* Copies a string view into the arena. */
static int copy_pstr(struct arena *a, struct pstr *dst, struct pstr src)
{
    char *p;

    if (src.len == 0) {
        dst->ptr = "";
        dst->len = 0;
        return PC_OK;
    }
    p = arena_strndup(a, src.ptr, src.len);
    if (p == NULL) {
        return PC_ENOMEM;
    }
    dst->ptr = p;
    dst->len = src.len;
    return PC_OK;
}

static int copy_anyvalue(struct arena *a, struct anyvalue *dst,
                         const struct anyvalue *src, int depth);

static int copy_kvs(struct arena *a, struct keyvalue **dst,
                    const struct keyvalue *src, uint32_t n, int depth)
{
    struct keyvalue *kv;
    uint32_t i;
    int rc;

    *dst = NULL;
    if (n == 0) {
        return PC_OK;
    }
    kv = arena_calloc(a, n, sizeof(*kv));
    if (kv == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        rc = copy_pstr(a, &kv[i].key, src[i].key);
        if (rc == PC_OK) {
            rc = copy_anyvalue(a, &kv[i].value, &src[i].value, depth + 1);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    *dst = kv;
    return PC_OK;
}

static int copy_anyvalue(struct arena *a, struct anyvalue *dst,
                         const struct anyvalue *src, int depth)
{
    uint32_t i;
    int rc;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return PC_ETOOBIG;
    }
    *dst = *src;
    switch (src->type) {
    case AV_STRING:
    case AV_BYTES:
        return copy_pstr(a, &dst->u.s, src->u.s);
    case AV_ARRAY:
        if (src->u.arr.n == 0) {
            return PC_OK;
        }
        dst->u.arr.items = arena_calloc(a, src->u.arr.n,
                                        sizeof(struct anyvalue));
        if (dst->u.arr.items == NULL) {
            return PC_ENOMEM;
        }
        for (i = 0; i < src->u.arr.n; i++) {
            rc = copy_anyvalue(a, &dst->u.arr.items[i], &src->u.arr.items[i],
                               depth + 1);
            if (rc != PC_OK) {
                return rc;
            }
        }
        return PC_OK;
    case AV_KVLIST:
        return copy_kvs(a, &dst->u.kv.items, src->u.kv.items, src->u.kv.n,
                        depth);
    default:
        return PC_OK;
    }
}

struct batch *batch_clone(const struct batch *b)
{
    struct batch *c = batch_new(b->source);
    uint32_t i;

    if (c == NULL) {
        return NULL;
    }
    c->limits = b->limits;
    c->in_bytes = b->in_bytes;
    memcpy(c->peer, b->peer, sizeof(c->peer));
    for (i = 0; i < b->nitems; i++) {
        const struct item *src = &b->items[i];
        struct item *dst = batch_add_item(c);
        if (dst == NULL) {
            goto fail;
        }
        *dst = *src;
        dst->attrs = NULL;
        dst->raw_attrs = NULL;
        dst->raw = blob_ref(src->raw);
        dst->pd = shared_pdata_ref(src->pd);
        if (copy_kvs(&c->arena, &dst->attrs, src->attrs, src->nattrs, 0) !=
                PC_OK ||
            copy_kvs(&c->arena, &dst->raw_attrs, src->raw_attrs,
                     src->raw_nattrs, 0) != PC_OK ||
            copy_pstr(&c->arena, &dst->tenant, src->tenant) != PC_OK) {
            goto fail;
        }
    }
    return c;
fail:
    batch_unref(c);
    return NULL;
}

int batch_shared(const struct batch *b)
{
    return atomic_load_explicit((_Atomic int *)&b->refs,
                                memory_order_acquire) > 1;
}

static int item_decode_locked(struct batch *b, struct item *it,
                              struct errctx *e)
{
    struct pdata *pd = NULL;
    int rc;

    if (it->pd != NULL) {
        return PC_OK;
    }
    if (it->raw == NULL) {
        return err_set(e, PC_EINVAL, "item has no payload");
    }
    switch (it->format) {
    case PAYLOAD_PPROF:
        rc = pprof_decode(it->raw->data, it->raw->len, &b->limits, &pd, e);
        break;
    case PAYLOAD_OTLP:
        rc = otlp_decode(it->raw->data, it->raw->len, &b->limits, &pd, e);
        break;
    default:
        return err_set(e, PC_EINVAL, "item payload format unknown");
    }
    if (rc != PC_OK) {
        return rc;
    }
    it->pd = shared_pdata_new(pd);
    return it->pd != NULL ? PC_OK : PC_ENOMEM;
}

int batch_item_decode(struct batch *b, struct item *it, struct errctx *e)
{
    int rc;

    pthread_mutex_lock(&b->decode_lock);
    rc = item_decode_locked(b, it, e);
    pthread_mutex_unlock(&b->decode_lock);
    return rc;
}

/*
 * Every profile of pd forgets its original payload. The whole private copy
 * is cleared because the caller may change any of it; a processor that
 * knows it changes only some profiles could keep the others' (not done).
 */
static void clear_original_payloads(struct pdata *pd)
{
    static const struct pstr none = {"", 0};
    struct pdata_iter w;
    struct profile *p;

    pdata_iter_init(&w, pd, -1);
    while ((p = pdata_iter_next(&w)) != NULL) {
        p->original_payload_format = none;
        p->original_payload = none;
    }
}

int batch_item_payload_mut(struct batch *b, struct item *it,
                           struct pdata **out, struct errctx *e)
{
    int rc = batch_item_decode(b, it, e);

    if (rc != PC_OK) {
        return rc;
    }
    if (atomic_load((_Atomic int *)&it->pd->refs) > 1) {
        struct pdata *copy = pdata_clone(it->pd->pd);
        struct shared_pdata *s;
        if (copy == NULL) {
            return err_set(e, PC_ENOMEM, "copying a payload to change it");
        }
        s = shared_pdata_new(copy);
        if (s == NULL) {
            return PC_ENOMEM;
        }
        shared_pdata_unref(it->pd);
        it->pd = s;
    }
    /* The original bytes no longer describe the payload. */
    blob_unref(it->raw);
    it->raw = NULL;
    it->raw_noted = 0;
    clear_original_payloads(it->pd->pd);
    /* Changed in place from here: no other item or batch may see it. */
    PC_ASSERT(atomic_load((_Atomic int *)&it->pd->refs) == 1);
    *out = it->pd->pd;
    return PC_OK;
}

static int kv_same(const struct keyvalue *a, const struct keyvalue *b)
{
    return pstr_eqp(a->key, b->key) && av_equal(&a->value, &b->value);
}

int item_note_raw_attrs(struct batch *b, struct item *it,
                        const struct resource *res)
{
    uint32_t i;
    int rc;

    PC_ASSERT(it->raw != NULL && it->format == PAYLOAD_OTLP);
    it->raw_noted = 0;
    if (it->nattrs != res->nattrs) {
        return PC_OK;
    }
    for (i = 0; i < it->nattrs; i++) {
        if (series_internal(it->attrs[i].key) ||
            !kv_same(&it->attrs[i], &res->attrs[i])) {
            return PC_OK;
        }
    }
    rc = copy_kvs(&b->arena, &it->raw_attrs, it->attrs, it->nattrs, 0);
    if (rc != PC_OK) {
        return rc == PC_ENOMEM ? rc : PC_OK; /* too deep: not noted */
    }
    it->raw_nattrs = it->nattrs;
    it->raw_noted = 1;
    return PC_OK;
}

int item_otlp_as_received(const struct item *it)
{
    uint32_t i, j = 0;

    if (it->raw == NULL || it->format != PAYLOAD_OTLP || it->resource != -1 ||
        !it->raw_noted) {
        return 0;
    }
    for (i = 0; i < it->nattrs; i++) {
        if (series_internal(it->attrs[i].key)) {
            continue;
        }
        if (j == it->raw_nattrs ||
            !kv_same(&it->attrs[i], &it->raw_attrs[j])) {
            return 0;
        }
        j++;
    }
    return j == it->raw_nattrs;
}

struct pstr item_original_pprof(const struct item *it)
{
    struct pstr s = {"", 0};

    if (it->raw != NULL && it->format == PAYLOAD_PPROF && it->raw->len > 0 &&
        it->raw->len <= UINT32_MAX) {
        s.ptr = (const char *)it->raw->data;
        s.len = (uint32_t)it->raw->len;
    }
    return s;
}

struct pstr profile_original_pprof(const struct profile *p)
{
    struct pstr none = {"", 0};

    if (p->original_payload.len == 0 ||
        !pstr_eq(p->original_payload_format, "pprof")) {
        return none;
    }
    return p->original_payload;
}

const struct anyvalue *item_attr(const struct item *it, const char *key)
{
    uint32_t i;

    for (i = 0; i < it->nattrs; i++) {
        if (pstr_eq(it->attrs[i].key, key)) {
            return &it->attrs[i].value;
        }
    }
    return NULL;
}

int item_set_attr(struct batch *b, struct item *it, const char *key,
                  const struct anyvalue *v)
{
    struct keyvalue *kv;
    struct pstr k = {key, (uint32_t)strlen(key)};
    uint32_t i;
    int rc;

    for (i = 0; i < it->nattrs; i++) {
        if (pstr_eq(it->attrs[i].key, key)) {
            return copy_anyvalue(&b->arena, &it->attrs[i].value, v, 0);
        }
    }
    /* Arrays of attrs are small; growing by copy keeps them in the arena. */
    kv = arena_calloc(&b->arena, (size_t)it->nattrs + 1, sizeof(*kv));
    if (kv == NULL) {
        return PC_ENOMEM;
    }
    if (it->nattrs != 0) {
        memcpy(kv, it->attrs, it->nattrs * sizeof(*kv));
    }
    rc = copy_pstr(&b->arena, &kv[it->nattrs].key, k);
    if (rc == PC_OK) {
        rc = copy_anyvalue(&b->arena, &kv[it->nattrs].value, v, 0);
    }
    if (rc != PC_OK) {
        return rc;
    }
    it->attrs = kv;
    it->nattrs++;
    return PC_OK;
}

int item_set_attr_str(struct batch *b, struct item *it, const char *key,
                      const char *value, size_t len)
{
    struct anyvalue v;

    memset(&v, 0, sizeof(v));
    v.type = AV_STRING;
    v.u.s.ptr = value;
    v.u.s.len = (uint32_t)len;
    return item_set_attr(b, it, key, &v);
}

int item_del_attr(struct item *it, const char *key)
{
    uint32_t i;

    for (i = 0; i < it->nattrs; i++) {
        if (pstr_eq(it->attrs[i].key, key)) {
            memmove(&it->attrs[i], &it->attrs[i + 1],
                    (it->nattrs - i - 1) * sizeof(it->attrs[0]));
            it->nattrs--;
            return PC_OK;
        }
    }
    return PC_ENOTFOUND;
}

int item_set_resource_attrs(struct batch *b, struct item *it,
                            const struct resource *res)
{
    uint32_t a;
    int rc = PC_OK;

    for (a = 0; a < res->nattrs && rc == PC_OK; a++) {
        char key[256];
        struct pstr k = res->attrs[a].key;
        snprintf(key, sizeof(key), "%.*s", (int)k.len, k.ptr);
        rc = item_set_attr(b, it, key, &res->attrs[a].value);
    }
    return rc;
}

uint32_t batch_profile_count(const struct batch *b)
{
    uint32_t i, n = 0;

    for (i = 0; i < b->nitems; i++) {
        n += b->items[i].nprofiles;
    }
    return n;
}

uint64_t batch_sample_count(const struct batch *b)
{
    uint64_t n = 0;
    uint32_t i;

    for (i = 0; i < b->nitems; i++) {
        n += b->items[i].nsamples;
    }
    return n;
}

uint64_t batch_bytes(const struct batch *b)
{
    uint64_t n = 0;
    uint32_t i;

    for (i = 0; i < b->nitems; i++) {
        if (b->items[i].raw != NULL) {
            n += b->items[i].raw->len;
        }
    }
    return n != 0 ? n : b->in_bytes;
}
