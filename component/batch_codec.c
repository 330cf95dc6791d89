/*
 * batch_codec.c: batch <-> bytes for the persistent queue (see
 * batch_codec.h for the format).
 *
 * Fixed-width little-endian fields rather than varints: records are
 * dominated by payload bytes, and fixed widths keep the bounded reader
 * trivial to audit.
 */
#include "component/batch_codec.h"

#include <stdio.h>
#include <string.h>

#include "core/assert.h"
#include "core/err.h"
#include "codec/compress.h"
#include "codec/otlp.h"

static const uint8_t codec_magic[3] = {'P', 'C', 'B'};

/* ---- writing ------------------------------------------------------------ */

static int put_u8(struct buf *o, uint8_t v)
{
    return buf_putc(o, v);
}

static int put_le(struct buf *o, uint64_t v, int n)
{
    uint8_t t[8];
    int i;

    for (i = 0; i < n; i++) {
        t[i] = (uint8_t)(v >> (8 * i));
    }
    return buf_append(o, t, (size_t)n);
}

static int put_str(struct buf *o, struct pstr s)
{
    int rc = put_le(o, s.len, 4);

    if (rc == PC_OK && s.len != 0) {
        rc = buf_append(o, s.ptr, s.len);
    }
    return rc;
}

static int put_value(struct buf *o, const struct anyvalue *v, int depth);

static int put_kvs(struct buf *o, const struct keyvalue *kv, uint32_t n,
                   int depth)
{
    uint32_t i;
    int rc = put_le(o, n, 4);

    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = put_str(o, kv[i].key);
        if (rc == PC_OK) {
            rc = put_value(o, &kv[i].value, depth);
        }
    }
    return rc;
}

static int put_value(struct buf *o, const struct anyvalue *v, int depth)
{
    uint64_t bits;
    uint32_t i;
    int rc;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return PC_ETOOBIG;
    }
    rc = put_u8(o, v->type);
    if (rc != PC_OK) {
        return rc;
    }
    switch (v->type) {
    case AV_STRING:
    case AV_BYTES:
        return put_str(o, v->u.s);
    case AV_BOOL:
        return put_u8(o, v->u.b != 0);
    case AV_INT:
        return put_le(o, (uint64_t)v->u.i, 8);
    case AV_DOUBLE:
        memcpy(&bits, &v->u.d, sizeof(bits));
        return put_le(o, bits, 8);
    case AV_ARRAY:
        rc = put_le(o, v->u.arr.n, 4);
        for (i = 0; rc == PC_OK && i < v->u.arr.n; i++) {
            rc = put_value(o, &v->u.arr.items[i], depth + 1);
        }
        return rc;
    case AV_KVLIST:
        return put_kvs(o, v->u.kv.items, v->u.kv.n, depth + 1);
    default:
        return PC_OK; /* AV_EMPTY: the type byte says it all */
    }
}

/* OTLP bytes of an item that only has its decoded form. A resource item
 * is encoded through a shallow view of the shared pdata holding only its
 * resource: nothing is copied and the shared pdata is not touched. */
static int encode_pdata(const struct item *it, struct buf *tmp)
{
    const struct pdata *pd = it->pd->pd;
    struct pdata view;
    const struct pdata *in[1];
    struct errctx e;

    if (it->resource >= 0) {
        if ((uint32_t)it->resource >= pd->nresources) {
            return PC_EINVAL;
        }
        view = *pd;
        view.nresources = 1;
        view.resources = &pd->resources[it->resource];
        in[0] = &view;
    } else {
        in[0] = pd;
    }
    return otlp_encode(in, 1, tmp, &e);
}

/* Decodable again from its bytes alone: the formats batch_item_decode
 * knows. */
static int item_redecodable(const struct item *it)
{
    return it->raw != NULL &&
           (it->format == PAYLOAD_PPROF || it->format == PAYLOAD_OTLP);
}

/* A model-only item's OTLP encoding becomes its bytes, the model goes. */
static int compact_model(struct item *it)
{
    struct buf tmp;
    struct blob *raw;
    int rc;

    buf_init(&tmp, BATCH_COMPACT_MAX_ARENA * 4);
    rc = encode_pdata(it, &tmp);
    if (rc != PC_OK) {
        buf_free(&tmp);
        return rc;
    }
    raw = blob_new(tmp.data, tmp.len);
    buf_free(&tmp);
    if (raw == NULL) {
        return PC_ENOMEM;
    }
    it->raw = raw;
    it->format = PAYLOAD_OTLP;
    it->resource = -1; /* the encoding holds only this item's resource */
    return PC_OK;
}

uint32_t batch_compact(struct batch *b)
{
    uint32_t i, n = 0;

    /* Another holder could be reading the items right now. */
    PC_ASSERT(!batch_shared(b));
    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        if (it->pd == NULL) {
            continue;
        }
        /* raw is dropped by whoever changes the model
         * (batch_item_payload_mut): with raw, pd is its decoding. */
        if (!item_redecodable(it) &&
            (it->raw != NULL ||
             arena_bytes(&it->pd->pd->arena) > BATCH_COMPACT_MAX_ARENA ||
             compact_model(it) != PC_OK)) {
            continue;
        }
        shared_pdata_unref(it->pd);
        it->pd = NULL;
        n++;
    }
    return n;
}

static int put_payload(struct buf *o, const struct item *it)
{
    struct buf tmp;
    int rc;

    if (it->raw != NULL) {
        rc = put_le(o, it->raw->len, 8);
        return rc == PC_OK ? buf_append(o, it->raw->data, it->raw->len) : rc;
    }
    if (it->pd == NULL) {
        return put_le(o, 0, 8);
    }
    buf_init(&tmp, o->max);
    rc = encode_pdata(it, &tmp);
    if (rc == PC_OK) {
        rc = put_le(o, tmp.len, 8);
    }
    if (rc == PC_OK) {
        rc = buf_append(o, tmp.data, tmp.len);
    }
    buf_free(&tmp);
    return rc;
}

uint64_t batch_compressed_bytes(const struct batch *b)
{
    uint64_t n = 0;
    uint32_t i;

    /* put_payload writes each item's bytes, shared or not. */
    for (i = 0; i < b->nitems; i++) {
        const struct blob *raw = b->items[i].raw;

        if (raw != NULL && (gz_is_gzip(raw->data, raw->len) ||
                            zstd_is_zstd(raw->data, raw->len))) {
            n += raw->len;
        }
    }
    return n;
}

static int put_item(struct buf *o, const struct item *it)
{
    uint8_t format = it->format;
    int rc;

    if (it->raw == NULL) {
        format = it->pd != NULL ? PAYLOAD_OTLP : PAYLOAD_NONE;
    }
    rc = put_u8(o, format);
    if (rc == PC_OK) {
        rc = put_le(o, it->nprofiles, 4);
    }
    if (rc == PC_OK) {
        rc = put_le(o, it->nsamples, 8);
    }
    if (rc == PC_OK) {
        rc = put_le(o, it->received_ns, 8);
    }
    if (rc == PC_OK) {
        rc = put_str(o, it->tenant);
    }
    if (rc == PC_OK) {
        rc = put_kvs(o, it->attrs, it->nattrs, 0);
    }
    return rc == PC_OK ? put_payload(o, it) : rc;
}

int batch_serialize(const struct batch *b, struct buf *out)
{
    size_t slen = strnlen(b->source, sizeof(b->source));
    uint32_t i;
    int rc;

    rc = buf_append(out, codec_magic, sizeof(codec_magic));
    if (rc == PC_OK) {
        rc = put_u8(out, BATCH_CODEC_VERSION);
    }
    if (rc == PC_OK) {
        rc = put_le(out, slen, 2);
    }
    if (rc == PC_OK) {
        rc = buf_append(out, b->source, slen);
    }
    if (rc == PC_OK) {
        rc = put_le(out, b->nitems, 4);
    }
    for (i = 0; rc == PC_OK && i < b->nitems; i++) {
        rc = put_item(out, &b->items[i]);
    }
    return rc;
}

/* ---- reading ------------------------------------------------------------ */

struct rd {
    const uint8_t *p;
    size_t left;
    struct arena *arena;
};

static int get_le(struct rd *r, int n, uint64_t *v)
{
    int i;

    if (r->left < (size_t)n) {
        return PC_ETRUNC;
    }
    *v = 0;
    for (i = 0; i < n; i++) {
        *v |= (uint64_t)r->p[i] << (8 * i);
    }
    r->p += n;
    r->left -= (size_t)n;
    return PC_OK;
}

/* A count of elements of at least min_size bytes each: more than the bytes
 * left can hold is corrupt, which also bounds every allocation by len. */
static int get_count(struct rd *r, size_t min_size, uint32_t *n)
{
    uint64_t v;
    int rc = get_le(r, 4, &v);

    if (rc != PC_OK) {
        return rc;
    }
    if (v > r->left / min_size) {
        return PC_ECORRUPT;
    }
    *n = (uint32_t)v;
    return PC_OK;
}

static int get_str(struct rd *r, struct pstr *s)
{
    uint64_t n;
    char *p;
    int rc = get_le(r, 4, &n);

    if (rc != PC_OK) {
        return rc;
    }
    if (n > r->left) {
        return PC_ETRUNC;
    }
    p = arena_strndup(r->arena, (const char *)r->p, (size_t)n);
    if (p == NULL) {
        return PC_ENOMEM;
    }
    s->ptr = p;
    s->len = (uint32_t)n;
    r->p += n;
    r->left -= (size_t)n;
    return PC_OK;
}

static int get_value(struct rd *r, struct anyvalue *v, int depth);

static int get_kvs(struct rd *r, struct keyvalue **out, uint32_t *nout,
                   int depth)
{
    struct keyvalue *kv = NULL;
    uint32_t n, i;
    /* A key/value takes at least 5 bytes: key length + type. */
    int rc = get_count(r, 5, &n);

    if (rc != PC_OK) {
        return rc;
    }
    if (n != 0) {
        kv = arena_calloc(r->arena, n, sizeof(*kv));
        if (kv == NULL) {
            return PC_ENOMEM;
        }
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = get_str(r, &kv[i].key);
        if (rc == PC_OK) {
            rc = get_value(r, &kv[i].value, depth);
        }
    }
    *out = kv;
    *nout = n;
    return rc;
}

static int get_array(struct rd *r, struct anyvalue *v, int depth)
{
    uint32_t n, i;
    int rc = get_count(r, 1, &n);

    if (rc != PC_OK) {
        return rc;
    }
    v->u.arr.items = NULL;
    v->u.arr.n = n;
    if (n != 0) {
        v->u.arr.items = arena_calloc(r->arena, n, sizeof(*v->u.arr.items));
        if (v->u.arr.items == NULL) {
            return PC_ENOMEM;
        }
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = get_value(r, &v->u.arr.items[i], depth + 1);
    }
    return rc;
}

static int get_value(struct rd *r, struct anyvalue *v, int depth)
{
    uint64_t x;
    int rc;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return PC_ECORRUPT;
    }
    memset(v, 0, sizeof(*v));
    rc = get_le(r, 1, &x);
    if (rc != PC_OK) {
        return rc;
    }
    v->type = (uint8_t)x;
    switch (v->type) {
    case AV_EMPTY:
        return PC_OK;
    case AV_STRING:
    case AV_BYTES:
        return get_str(r, &v->u.s);
    case AV_BOOL:
        rc = get_le(r, 1, &x);
        v->u.b = x != 0;
        return rc;
    case AV_INT:
        rc = get_le(r, 8, &x);
        v->u.i = (int64_t)x;
        return rc;
    case AV_DOUBLE:
        rc = get_le(r, 8, &x);
        memcpy(&v->u.d, &x, sizeof(x));
        return rc;
    case AV_ARRAY:
        return get_array(r, v, depth);
    case AV_KVLIST:
        return get_kvs(r, &v->u.kv.items, &v->u.kv.n, depth + 1);
    default:
        return PC_ECORRUPT;
    }
}

static int get_payload(struct rd *r, struct item *it)
{
    uint64_t n;
    int rc = get_le(r, 8, &n);

    if (rc != PC_OK) {
        return rc;
    }
    if (n > r->left) {
        return PC_ETRUNC;
    }
    if (it->format == PAYLOAD_NONE) {
        return n == 0 ? PC_OK : PC_ECORRUPT;
    }
    it->raw = blob_new(r->p, (size_t)n);
    if (it->raw == NULL) {
        return PC_ENOMEM;
    }
    r->p += n;
    r->left -= (size_t)n;
    return PC_OK;
}

static int get_item(struct rd *r, struct item *it)
{
    uint64_t fmt, np, ns, rt;
    int rc = get_le(r, 1, &fmt);

    if (rc == PC_OK && fmt > PAYLOAD_OTLP) {
        rc = PC_ECORRUPT;
    }
    if (rc == PC_OK) {
        rc = get_le(r, 4, &np);
    }
    if (rc == PC_OK) {
        rc = get_le(r, 8, &ns);
    }
    if (rc == PC_OK) {
        rc = get_le(r, 8, &rt);
    }
    if (rc != PC_OK) {
        return rc;
    }
    it->format = (uint8_t)fmt;
    it->nprofiles = (uint32_t)np;
    it->nsamples = ns;
    it->received_ns = rt;
    rc = get_str(r, &it->tenant);
    if (rc == PC_OK) {
        rc = get_kvs(r, &it->attrs, &it->nattrs, 0);
    }
    return rc == PC_OK ? get_payload(r, it) : rc;
}

static int get_header(struct rd *r, char *source, size_t cap)
{
    uint64_t slen;
    int rc;

    if (r->left < 4 || memcmp(r->p, codec_magic, 3) != 0) {
        return r->left < 4 ? PC_ETRUNC : PC_ECORRUPT;
    }
    if (r->p[3] != BATCH_CODEC_VERSION) {
        return PC_EUNSUPPORTED;
    }
    r->p += 4;
    r->left -= 4;
    rc = get_le(r, 2, &slen);
    if (rc != PC_OK) {
        return rc;
    }
    if (slen >= cap || slen > r->left) {
        return PC_ECORRUPT;
    }
    memcpy(source, r->p, (size_t)slen);
    source[slen] = '\0';
    r->p += slen;
    r->left -= (size_t)slen;
    return PC_OK;
}

int batch_deserialize(const uint8_t *data, size_t len, struct batch **out)
{
    struct batch *b = batch_new(NULL);
    struct rd r = {data, len, NULL};
    struct item *it;
    uint32_t n, i;
    int rc;

    if (b == NULL) {
        return PC_ENOMEM;
    }
    r.arena = &b->arena;
    rc = get_header(&r, b->source, sizeof(b->source));
    /* An item takes at least 34 bytes (fixed fields and lengths). */
    if (rc == PC_OK) {
        rc = get_count(&r, 34, &n);
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        it = batch_add_item(b);
        if (it == NULL) {
            rc = PC_ENOMEM;
            break;
        }
        rc = get_item(&r, it);
    }
    if (rc == PC_OK && r.left != 0) {
        rc = PC_ECORRUPT; /* trailing bytes: not what we wrote */
    }
    if (rc != PC_OK) {
        batch_unref(b);
        return rc;
    }
    *out = b;
    return PC_OK;
}
