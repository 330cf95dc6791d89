/* test_batch_codec.c: batch serialization for the persistent queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "codec/otlp.h"
#include "component/batch.h"
#include "component/batch_codec.h"

static struct anyvalue sv(const char *s)
{
    struct anyvalue v = {.type = AV_STRING};

    v.u.s.ptr = s;
    v.u.s.len = (uint32_t)strlen(s);
    return v;
}

/* One item carrying every AnyValue type, nested. */
static struct batch *make_batch(void)
{
    static struct anyvalue arr[3];
    static struct keyvalue kvs[2];
    struct batch *b = batch_new("receiver/otlp");
    struct item *it = batch_add_item(b);
    struct anyvalue v;
    static const uint8_t payload[] = {0x1f, 0x8b, 0, 1, 2, 3, 0xff};

    it->format = PAYLOAD_PPROF;
    it->raw = blob_new(payload, sizeof(payload));
    it->tenant.ptr = "team-a";
    it->tenant.len = 6;
    it->nprofiles = 2;
    it->nsamples = 12345678901ULL;
    it->received_ns = 1700000000123456789ULL;
    v = sv("checkout");
    assert_int_equal(item_set_attr(b, it, "service.name", &v), PC_OK);
    v.type = AV_BOOL;
    v.u.b = 1;
    assert_int_equal(item_set_attr(b, it, "b", &v), PC_OK);
    v.type = AV_INT;
    v.u.i = -42;
    assert_int_equal(item_set_attr(b, it, "i", &v), PC_OK);
    v.type = AV_DOUBLE;
    v.u.d = 3.25;
    assert_int_equal(item_set_attr(b, it, "d", &v), PC_OK);
    v.type = AV_BYTES;
    v.u.s.ptr = "\0\1\2";
    v.u.s.len = 3;
    assert_int_equal(item_set_attr(b, it, "bytes", &v), PC_OK);
    v.type = AV_EMPTY;
    assert_int_equal(item_set_attr(b, it, "empty", &v), PC_OK);
    arr[0] = sv("x");
    arr[1].type = AV_INT;
    arr[1].u.i = 7;
    kvs[0].key.ptr = "k";
    kvs[0].key.len = 1;
    kvs[0].value = sv("v");
    kvs[1].key.ptr = "n";
    kvs[1].key.len = 1;
    kvs[1].value.type = AV_DOUBLE;
    kvs[1].value.u.d = -0.5;
    arr[2].type = AV_KVLIST;
    arr[2].u.kv.items = kvs;
    arr[2].u.kv.n = 2;
    v.type = AV_ARRAY;
    v.u.arr.items = arr;
    v.u.arr.n = 3;
    assert_int_equal(item_set_attr(b, it, "nested", &v), PC_OK);
    /* A second item: no tenant, OTLP raw, no attributes. */
    it = batch_add_item(b);
    it->format = PAYLOAD_OTLP;
    it->raw = blob_new("\x0a\x00", 2);
    it->nprofiles = 1;
    return b;
}

static void assert_av_equal(const struct anyvalue *a, const struct anyvalue *b)
{
    assert_int_equal(a->type, b->type);
    assert_true(av_equal(a, b));
}

static void test_round_trip(void **state)
{
    struct batch *b = make_batch(), *c = NULL;
    struct buf out, again;
    uint32_t i, k;

    (void)state;
    buf_init(&out, BUF_MAX_DEFAULT);
    assert_int_equal(batch_serialize(b, &out), PC_OK);
    assert_int_equal(batch_deserialize(out.data, out.len, &c), PC_OK);
    assert_string_equal(c->source, "receiver/otlp");
    assert_int_equal(c->nitems, 2);
    for (i = 0; i < 2; i++) {
        const struct item *x = &b->items[i], *y = &c->items[i];
        assert_int_equal(x->format, y->format);
        assert_int_equal(x->nprofiles, y->nprofiles);
        assert_true(x->nsamples == y->nsamples);
        assert_true(x->received_ns == y->received_ns);
        assert_true(pstr_eqp(x->tenant, y->tenant));
        assert_int_equal(x->raw->len, y->raw->len);
        assert_memory_equal(x->raw->data, y->raw->data, x->raw->len);
        assert_null(y->pd);
        assert_int_equal(x->nattrs, y->nattrs);
        for (k = 0; k < x->nattrs; k++) {
            assert_true(pstr_eqp(x->attrs[k].key, y->attrs[k].key));
            assert_av_equal(&x->attrs[k].value, &y->attrs[k].value);
        }
    }
    /* Deterministic: re-encoding gives the same bytes. */
    buf_init(&again, BUF_MAX_DEFAULT);
    assert_int_equal(batch_serialize(c, &again), PC_OK);
    assert_int_equal(again.len, out.len);
    assert_memory_equal(again.data, out.data, out.len);
    buf_free(&again);
    buf_free(&out);
    batch_unref(b);
    batch_unref(c);
}

/* Two resources; the first has one CPU profile with period 10. */
static struct pdata *two_resources(void)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;

    assert_int_equal(dict_init(pd), PC_OK);
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    p->nsample_types = 1;
    p->sample_types = arena_calloc(&pd->arena, 1, sizeof(*p->sample_types));
    p->sample_types[0].type = dict_add_string(pd, "cpu", 3);
    p->sample_types[0].unit = dict_add_string(pd, "nanoseconds", 11);
    p->period_type = p->sample_types[0];
    p->period = 10;
    rp = pdata_add_resource(pd); /* a second resource */
    sp = pdata_add_scope(pd, rp);
    assert_non_null(pdata_add_profile(pd, sp));
    return pd;
}

/* An item with only decoded data is stored as its OTLP encoding. */
static void test_pdata_item(void **state)
{
    struct batch *b = batch_new("r"), *c = NULL;
    struct item *it = batch_add_item(b);
    struct pdata *pd = two_resources(), *back = NULL;
    struct buf out;
    struct errctx e;

    (void)state;
    it->pd = shared_pdata_new(pd);
    it->resource = 0;
    it->format = PAYLOAD_OTLP;

    buf_init(&out, BUF_MAX_DEFAULT);
    assert_int_equal(batch_serialize(b, &out), PC_OK);
    assert_int_equal(batch_deserialize(out.data, out.len, &c), PC_OK);
    assert_int_equal(c->items[0].format, PAYLOAD_OTLP);
    assert_non_null(c->items[0].raw);
    assert_int_equal(otlp_decode(c->items[0].raw->data, c->items[0].raw->len,
                                 &c->limits, &back, &e),
                     PC_OK);
    assert_int_equal(back->nresources, 1); /* only the item's resource */
    pdata_free(back);
    buf_free(&out);
    batch_unref(b);
    batch_unref(c);
}

/* Compacting for the queue: an item with its original bytes loses its
 * model, a model-only item becomes the OTLP encoding of its resource, and
 * both decode again to what they were. */
static void test_compact(void **state)
{
    static const uint8_t pprof[] = {0x1f, 0x8b, 0, 1, 2, 3, 0xff};
    struct batch *b = batch_new("r");
    struct item *raw = batch_add_item(b), *model;
    struct pdata *pd = two_resources();
    const struct profile *p;
    struct errctx e = {{0}};

    (void)state;
    raw->format = PAYLOAD_PPROF;
    raw->raw = blob_new(pprof, sizeof(pprof));
    raw->pd = shared_pdata_new(pdata_new(0));
    model = batch_add_item(b);
    model->pd = shared_pdata_new(pd);
    model->resource = 1;
    model->format = PAYLOAD_OTLP;
    raw = &b->items[0];

    assert_false(batch_shared(b));
    assert_int_equal(batch_compact(b), 2);
    assert_null(raw->pd);
    assert_int_equal(raw->raw->len, sizeof(pprof));
    assert_memory_equal(raw->raw->data, pprof, sizeof(pprof));
    assert_null(model->pd);
    assert_non_null(model->raw);
    assert_int_equal(model->format, PAYLOAD_OTLP);
    assert_int_equal(model->resource, -1);
    assert_int_equal(batch_compact(b), 0); /* nothing left to shed */

    assert_int_equal(batch_item_decode(b, model, &e), PC_OK);
    assert_int_equal(model->pd->pd->nresources, 1);
    p = &model->pd->pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(p->period, 0); /* resource 1's profile, not 0's */
    batch_ref(b);
    assert_true(batch_shared(b));
    batch_unref(b);
    batch_unref(b);
}

/* Every truncation and many corruptions are refused, never a crash. */
static void test_garbage(void **state)
{
    struct batch *b = make_batch(), *c;
    struct buf out;
    uint8_t *copy;
    size_t i;
    unsigned seed = 1;
    int rc, k;

    (void)state;
    buf_init(&out, BUF_MAX_DEFAULT);
    assert_int_equal(batch_serialize(b, &out), PC_OK);
    for (i = 0; i < out.len; i++) {
        c = NULL;
        assert_int_not_equal(batch_deserialize(out.data, i, &c), PC_OK);
        assert_null(c);
    }
    copy = malloc(out.len + 1);
    memcpy(copy, out.data, out.len);
    copy[out.len] = 0;
    assert_int_equal(batch_deserialize(copy, out.len + 1, &c),
                     PC_ECORRUPT); /* trailing byte */
    for (k = 0; k < 3000; k++) {
        memcpy(copy, out.data, out.len);
        for (i = 0; i < 3; i++) {
            seed = seed * 1103515245u + 12345u;
            copy[(seed >> 8) % out.len] = (uint8_t)(seed >> 3);
        }
        c = NULL;
        rc = batch_deserialize(copy, out.len, &c);
        if (rc == PC_OK) {
            batch_unref(c); /* a harmless change, e.g. a value byte */
        }
    }
    memcpy(copy, out.data, out.len);
    copy[3] = 99;
    assert_int_equal(batch_deserialize(copy, out.len, &c), PC_EUNSUPPORTED);
    /* A huge item count with few bytes is refused before allocating. */
    memcpy(copy, out.data, out.len);
    memset(copy + 4 + 2 + 13, 0xff, 4);
    assert_int_equal(batch_deserialize(copy, out.len, &c), PC_ECORRUPT);
    assert_int_not_equal(batch_deserialize((const uint8_t *)"", 0, &c), PC_OK);
    free(copy);
    buf_free(&out);
    batch_unref(b);
}

/* Compressed bytes: the gzip'd and zstd'd payloads kept as received, each
 * item's counted as serialization writes it; other payloads not. */
static void test_compressed_bytes(void **state)
{
    static const uint8_t zst[] = {0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0, 0};
    struct batch *b = make_batch(); /* 7 gzip'd bytes, 2 of OTLP */
    struct item *it;

    (void)state;
    assert_int_equal(batch_compressed_bytes(b), 7);
    it = batch_add_item(b);
    it->format = PAYLOAD_OTLP;
    it->raw = blob_new(zst, sizeof(zst));
    assert_int_equal(batch_compressed_bytes(b), 7 + sizeof(zst));
    it = batch_add_item(b); /* the same payload again: written again */
    it->format = PAYLOAD_OTLP;
    it->raw = b->items[2].raw;
    blob_ref(it->raw);
    assert_int_equal(batch_compressed_bytes(b), 7 + 2 * sizeof(zst));
    batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_pdata_item),
        cmocka_unit_test(test_compact),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_compressed_bytes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
