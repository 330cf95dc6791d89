/*
 * test_otlp_encode_items.c: several items into one OTLP request
 * (otlp_encode_items, codec/otlp.h).
 *
 * Requests are parsed back with the protobuf-c generated parser (an
 * independent implementation) and checked: one merged dictionary without
 * duplicates, the selected resources only, attribute overrides applied,
 * otlp_validate passing, and otlp_decode giving back the same samples.
 *
 * Also a batch's items as OTLP items (batch_otlp_build,
 * component/batch_otlp.h), the one builder of the OTLP exporters:
 * undecodable items left out and counted, attributes without `__*`,
 * item selection, a custom attribute builder, out of memory returned.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/otlp.h"
#include "component/batch_otlp.h"
#include "opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest
    Req;
#define REQ_UNPACK                                                            \
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack
#define REQ_FREE                                                              \
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked

static int32_t S(struct pdata *pd, const char *s)
{
    int32_t i = dict_string(pd, s, strlen(s));

    assert_true(i >= 0);
    return i;
}

static struct keyvalue *kv1(struct pdata *pd, const char *k, const char *v)
{
    struct keyvalue *kv = arena_calloc(&pd->arena, 1, sizeof(*kv));

    kv->key.ptr = k;
    kv->key.len = (uint32_t)strlen(k);
    kv->value.type = AV_STRING;
    kv->value.u.s.ptr = v;
    kv->value.u.s.len = (uint32_t)strlen(v);
    return kv;
}

/* One resource (service.name = svc) with one cpu profile of one sample
 * whose stack is leaf <- main.main. */
static void add_resource(struct pdata *pd, const char *svc, const char *leaf,
                         int64_t value)
{
    struct resource_profiles *rp = pdata_add_resource(pd);
    struct scope_profiles *sp = pdata_add_scope(pd, rp);
    struct profile *p = pdata_add_profile(pd, sp);
    struct function f;
    struct location l;
    struct line *ln = arena_calloc(&pd->arena, 1, sizeof(*ln));
    int32_t locs[2], *lp = arena_calloc(&pd->arena, 2, sizeof(int32_t));

    rp->has_resource = 1;
    rp->resource.attrs = kv1(pd, "service.name", svc);
    rp->resource.nattrs = 1;
    memset(&f, 0, sizeof(f));
    memset(&l, 0, sizeof(l));
    f.name = S(pd, leaf);
    f.filename = S(pd, "main.go");
    ln->function = dict_add_function(pd, &f);
    ln->line = 7;
    l.lines = ln;
    l.nlines = 1;
    locs[0] = dict_add_location(pd, &l);
    ln = arena_calloc(&pd->arena, 1, sizeof(*ln));
    f.name = S(pd, "main.main");
    ln->function = dict_add_function(pd, &f);
    ln->line = 3;
    l.lines = ln;
    locs[1] = dict_add_location(pd, &l);
    memcpy(lp, locs, sizeof(locs));
    p->nsample_types = 1;
    p->sample_types = arena_calloc(&pd->arena, 1, sizeof(struct value_type));
    p->sample_types[0].type = S(pd, "cpu");
    p->sample_types[0].unit = S(pd, "nanoseconds");
    p->period_type = p->sample_types[0];
    p->period = 10000000;
    p->time_nanos = 1700000000000000000LL;
    p->duration_nanos = 1000000000LL;
    p->nsamples = 1;
    p->samples = arena_calloc(&pd->arena, 1, sizeof(struct sample));
    p->samples[0].stack = dict_add_stack(pd, lp, 2);
    p->samples[0].nvalues = 1;
    p->samples[0].values = arena_calloc(&pd->arena, 1, sizeof(int64_t));
    p->samples[0].values[0] = value;
}

static struct pdata *build(const char *svc, const char *leaf, int64_t v)
{
    struct pdata *pd = pdata_new(0);

    assert_int_equal(dict_init(pd), PC_OK);
    add_resource(pd, svc, leaf, v);
    return pd;
}

static Req *encode(const struct otlp_item *items, size_t n, struct buf *b)
{
    struct errctx e = {{0}};
    Req *r;

    buf_init(b, 0);
    assert_int_equal(otlp_encode_items(items, n, b, &e), PC_OK);
    assert_int_equal(otlp_validate(b->data, b->len, &e), PC_OK);
    r = REQ_UNPACK(NULL, b->len, b->data);
    assert_non_null(r);
    assert_non_null(r->dictionary);
    return r;
}

static size_t count_string(const Req *r, const char *s)
{
    size_t i, n = 0;

    for (i = 0; i < r->dictionary->n_string_table; i++) {
        n += strcmp(r->dictionary->string_table[i], s) == 0;
    }
    return n;
}

static const char *res_attr(const Req *r, size_t ri, const char *key)
{
    const Opentelemetry__Proto__Resource__V1__Resource *res =
        r->resource_profiles[ri]->resource;
    size_t i;

    for (i = 0; res != NULL && i < res->n_attributes; i++) {
        if (strcmp(res->attributes[i]->key, key) == 0) {
            return res->attributes[i]->value->string_value;
        }
    }
    return NULL;
}

static void test_merge_dedup(void **state)
{
    struct pdata *a = build("svc-a", "main.work", 5);
    struct pdata *b = build("svc-b", "main.other", 7);
    struct otlp_item it[2] = {{a, -1, NULL, 0, {"", 0}, {"", 0}},
                              {b, -1, NULL, 0, {"", 0}, {"", 0}}};
    struct buf out;
    Req *r;
    size_t i, j;

    (void)state;
    r = encode(it, 2, &out);
    assert_int_equal(r->n_resource_profiles, 2);
    /* Shared entries once: "main.main", "main.go", "cpu". */
    assert_int_equal(count_string(r, "main.main"), 1);
    assert_int_equal(count_string(r, "main.go"), 1);
    assert_int_equal(count_string(r, "cpu"), 1);
    /* zero + main.work + main.main + main.other */
    assert_int_equal(r->dictionary->n_function_table, 4);
    for (i = 0; i < r->dictionary->n_string_table; i++) {
        for (j = i + 1; j < r->dictionary->n_string_table; j++) {
            assert_string_not_equal(r->dictionary->string_table[i],
                                    r->dictionary->string_table[j]);
        }
    }
    assert_string_equal(res_attr(r, 0, "service.name"), "svc-a");
    assert_string_equal(res_attr(r, 1, "service.name"), "svc-b");
    REQ_FREE(r, NULL);
    buf_free(&out);
    pdata_free(a);
    pdata_free(b);
}

static void test_resource_selection_and_override(void **state)
{
    struct pdata *pd = build("first", "main.one", 11);
    struct keyvalue ov[2];
    struct otlp_item it[2];
    struct buf out;
    Req *r;

    (void)state;
    add_resource(pd, "second", "main.two", 22);
    memset(ov, 0, sizeof(ov));
    ov[0] = *kv1(pd, "service.name", "renamed");
    ov[1] = *kv1(pd, "env", "prod");
    it[0] = (struct otlp_item){pd, 1, NULL, 0, {"", 0}, {"", 0}};
    it[1] = (struct otlp_item){pd, 0, ov, 2, {"", 0}, {"", 0}};
    r = encode(it, 2, &out);
    assert_int_equal(r->n_resource_profiles, 2);
    /* Item 0 is resource 1 only, attributes as they were. */
    assert_string_equal(res_attr(r, 0, "service.name"), "second");
    assert_null(res_attr(r, 0, "env"));
    assert_int_equal(r->resource_profiles[0]
                         ->scope_profiles[0]
                         ->profiles[0]
                         ->samples[0]
                         ->values[0],
                     22);
    /* Item 1 is resource 0 with its attributes replaced. */
    assert_string_equal(res_attr(r, 1, "service.name"), "renamed");
    assert_string_equal(res_attr(r, 1, "env"), "prod");
    assert_int_equal(r->resource_profiles[1]->resource->n_attributes, 2);
    assert_int_equal(r->resource_profiles[1]
                         ->scope_profiles[0]
                         ->profiles[0]
                         ->samples[0]
                         ->values[0],
                     11);
    REQ_FREE(r, NULL);
    buf_free(&out);
    pdata_free(pd);
}

static void test_empty_override_and_all(void **state)
{
    struct pdata *pd = build("first", "main.one", 1);
    static const struct keyvalue none;
    struct otlp_item it = {pd, -1, &none, 0, {"", 0}, {"", 0}};
    struct buf out;
    Req *r;

    (void)state;
    add_resource(pd, "second", "main.two", 2);
    r = encode(&it, 1, &out);
    assert_int_equal(r->n_resource_profiles, 2);
    assert_null(res_attr(r, 0, "service.name"));
    assert_null(res_attr(r, 1, "service.name"));
    REQ_FREE(r, NULL);
    buf_free(&out);
    pdata_free(pd);
}

/* Decoding the request gives the same resources, stacks and values. */
static void test_decode_back(void **state)
{
    struct pdata *a = build("svc-a", "main.work", 5);
    struct pdata *b = build("svc-b", "main.other", 7);
    struct otlp_item it[2] = {{a, 0, NULL, 0, {"", 0}, {"", 0}},
                              {b, -1, NULL, 0, {"", 0}, {"", 0}}};
    struct pdata *d = NULL;
    struct errctx e = {{0}};
    struct buf out;
    const struct profile *p;
    const struct stack *st;
    struct pstr leaf;
    Req *r;

    (void)state;
    r = encode(it, 2, &out);
    REQ_FREE(r, NULL);
    assert_int_equal(otlp_decode(out.data, out.len, NULL, &d, &e), PC_OK);
    assert_int_equal(d->nresources, 2);
    p = &d->resources[1].scopes[0].profiles[0];
    assert_int_equal(p->nsamples, 1);
    assert_int_equal(p->samples[0].values[0], 7);
    assert_int_equal(p->time_nanos, 1700000000000000000LL);
    st = &d->dict.stacks[p->samples[0].stack];
    assert_int_equal(st->n, 2);
    leaf = dict_str(
        &d->dict,
        d->dict.functions[d->dict.locations[st->locs[0]].lines[0].function]
            .name);
    assert_true(pstr_eq(leaf, "main.other"));
    assert_true(pstr_eq(d->resources[0].resource.attrs[0].value.u.s, "svc-a"));
    pdata_free(d);
    buf_free(&out);
    pdata_free(a);
    pdata_free(b);
}

/* An item's scope_name names every scope of its view, with a scope
 * message even where the pdata has none; the input is left as it was. */
static void test_scope_name(void **state)
{
    struct pdata *pd = build("svc", "main.work", 5);
    struct otlp_item it[2] = {{pd, -1, NULL, 0, {"", 0}, {"memory", 6}},
                              {pd, -1, NULL, 0, {"", 0}, {"", 0}}};
    struct buf out;
    Req *r;

    (void)state;
    pd->resources[0].scopes[0].has_scope = 0;
    r = encode(it, 2, &out);
    assert_int_equal(r->n_resource_profiles, 2);
    assert_non_null(r->resource_profiles[0]->scope_profiles[0]->scope);
    assert_string_equal(
        r->resource_profiles[0]->scope_profiles[0]->scope->name, "memory");
    assert_null(r->resource_profiles[1]->scope_profiles[0]->scope);
    assert_false(pd->resources[0].scopes[0].has_scope);
    REQ_FREE(r, NULL);
    buf_free(&out);
    pdata_free(pd);
}

/* An item's original pprof goes on the first OTLP profile of its group
 * only (passing otlp_validate), decoding joins the group back with it, and
 * the input pdata is left as it was. */
static void test_original_pprof(void **state)
{
    static const char orig[] = "\x1f\x8b stands for a pprof";
    struct pdata *pd = build("svc", "main.work", 5);
    struct profile *p = &pd->resources[0].scopes[0].profiles[0];
    struct value_type *vt = arena_calloc(&pd->arena, 2, sizeof(*vt));
    int64_t *v = arena_calloc(&pd->arena, 2, sizeof(*v));
    struct otlp_item it = {pd, -1, NULL, 0, {orig, sizeof(orig) - 1}, {"", 0}};
    struct pdata *d = NULL;
    struct errctx e = {{0}};
    const struct profile *q;
    struct buf out;
    Req *r;

    (void)state;
    vt[0] = p->sample_types[0];
    vt[1].type = S(pd, "cpu");
    vt[1].unit = S(pd, "nanoseconds");
    p->sample_types = vt;
    p->nsample_types = 2;
    v[0] = 5;
    v[1] = 50;
    p->samples[0].values = v;
    p->samples[0].nvalues = 2;
    r = encode(&it, 1, &out);
    {
        Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp =
            r->resource_profiles[0]->scope_profiles[0];
        assert_int_equal(sp->n_profiles, 2);
        assert_string_equal(sp->profiles[0]->original_payload_format, "pprof");
        assert_int_equal(sp->profiles[0]->original_payload.len,
                         sizeof(orig) - 1);
        assert_memory_equal(sp->profiles[0]->original_payload.data, orig,
                            sizeof(orig) - 1);
        assert_string_equal(sp->profiles[1]->original_payload_format, "");
        assert_int_equal(sp->profiles[1]->original_payload.len, 0);
    }
    REQ_FREE(r, NULL);
    assert_int_equal(otlp_decode(out.data, out.len, NULL, &d, &e), PC_OK);
    assert_int_equal(d->resources[0].scopes[0].nprofiles, 1);
    q = &d->resources[0].scopes[0].profiles[0];
    assert_int_equal(q->nsample_types, 2);
    assert_true(pstr_eq(q->original_payload_format, "pprof"));
    assert_int_equal(q->original_payload.len, sizeof(orig) - 1);
    assert_memory_equal(q->original_payload.ptr, orig, sizeof(orig) - 1);
    assert_int_equal(p->original_payload.len, 0);
    pdata_free(d);
    buf_free(&out);
    pdata_free(pd);
}

static void test_errors(void **state)
{
    struct pdata *pd = build("x", "main.x", 1);
    struct otlp_item bad = {pd, 3, NULL, 0, {"", 0}, {"", 0}};
    struct otlp_item ok = {pd, -1, NULL, 0, {"", 0}, {"", 0}};
    struct errctx e = {{0}};
    struct buf out;

    (void)state;
    buf_init(&out, 0);
    assert_int_equal(otlp_encode_items(&bad, 1, &out, &e), PC_EINVAL);
    assert_non_null(strstr(e.msg, "resource 3"));
    assert_int_equal(out.len, 0);
    buf_free(&out);
    /* Too small a buffer: PC_ETOOBIG, nothing left behind. */
    buf_init(&out, 64);
    assert_int_equal(otlp_encode_items(&ok, 1, &out, &e), PC_ETOOBIG);
    assert_int_equal(out.len, 0);
    buf_free(&out);
    pdata_free(pd);
}

/* ---- batch_otlp_build ------------------------------------------------- */

static struct item *item_pd(struct batch *b, struct pdata *pd)
{
    struct item *it = batch_add_item(b);
    struct anyvalue v = {.type = AV_STRING};

    assert_non_null(it);
    it->pd = shared_pdata_new(pd);
    it->nprofiles = 1;
    v.u.s.ptr = "svc";
    v.u.s.len = 3;
    assert_int_equal(item_set_attr(b, it, "service.name", &v), PC_OK);
    v.u.s.ptr = "process_cpu";
    v.u.s.len = 11;
    assert_int_equal(item_set_attr(b, it, "__name__", &v), PC_OK);
    return it;
}

static struct item *item_garbage(struct batch *b, uint32_t nprofiles)
{
    static const uint8_t junk[] = {0xff, 0xfe, 0xfd, 0x01};
    struct item *it = batch_add_item(b);

    assert_non_null(it);
    it->format = PAYLOAD_PPROF;
    it->raw = blob_new(junk, sizeof(junk));
    it->nprofiles = nprofiles;
    return it;
}

/* Undecodable items are left out and their profiles counted (1 when the
 * receiver counted none); attributes lose the `__*` ones. */
static void test_batch_otlp_build(void **state)
{
    struct batch *b = batch_new("test");
    struct batch_otlp_opts o = {.id = "exporter/test"};
    struct export_result res = {.rejected_profiles = 1};
    struct batch_otlp bo;
    struct buf out;
    Req *r;

    (void)state;
    item_garbage(b, 3);
    item_pd(b, build("svc-a", "main.work", 5));
    item_garbage(b, 0);
    item_pd(b, build("svc-b", "main.other", 7));
    assert_int_equal(batch_otlp_build(b, &o, &bo, &res), PC_OK);
    assert_int_equal(bo.n, 2);
    assert_int_equal(bo.rejected, 4);
    assert_int_equal(res.rejected_profiles, 5);
    assert_ptr_equal(bo.items[0].pd, b->items[1].pd->pd);
    assert_int_equal(bo.items[0].resource, -1);
    assert_int_equal(bo.items[0].nattrs, 1);
    assert_true(pstr_eq(bo.items[0].attrs[0].key, "service.name"));
    assert_int_equal(bo.items[0].original_pprof.len, 0);
    r = encode(bo.items, bo.n, &out);
    assert_int_equal(r->n_resource_profiles, 2);
    assert_string_equal(res_attr(r, 1, "service.name"), "svc");
    assert_null(res_attr(r, 1, "__name__"));
    REQ_FREE(r, NULL);
    buf_free(&out);
    batch_otlp_free(&bo);
    batch_unref(b);
}

/* Only the selected items, each attribute array non-NULL even when empty
 * (an empty one replaces the payload's resource attributes). */
static void test_batch_otlp_select(void **state)
{
    struct batch *b = batch_new("test");
    const uint32_t idx[1] = {1};
    struct batch_otlp_opts o = {.idx = idx, .nidx = 1};
    struct export_result res;
    struct batch_otlp bo;
    struct item *it;

    (void)state;
    item_pd(b, build("svc-a", "main.work", 5));
    it = batch_add_item(b);
    it->pd = shared_pdata_new(build("svc-b", "main.other", 7));
    it->resource = 0;
    memset(&res, 0, sizeof(res));
    assert_int_equal(batch_otlp_build(b, &o, &bo, &res), PC_OK);
    assert_int_equal(bo.n, 1);
    assert_int_equal(bo.rejected, 0);
    assert_ptr_equal(bo.items[0].pd, it->pd->pd);
    assert_int_equal(bo.items[0].resource, 0);
    assert_non_null(bo.items[0].attrs);
    assert_int_equal(bo.items[0].nattrs, 0);
    batch_otlp_free(&bo);
    batch_unref(b);
}

static int attrs_env(void *arg, const struct item *it, struct arena *a,
                     struct otlp_item *oi)
{
    int *calls = arg;
    struct keyvalue *kv = arena_calloc(a, 1, sizeof(*kv));

    (void)it;
    if (++*calls == 2) {
        return PC_ENOMEM;
    }
    kv->key.ptr = "env";
    kv->key.len = 3;
    kv->value.type = AV_STRING;
    kv->value.u.s.ptr = "prod";
    kv->value.u.s.len = 4;
    oi->attrs = kv;
    oi->nattrs = 1;
    return PC_OK;
}

/* A custom attribute builder; its out of memory fails the whole call with
 * a retry. */
static void test_batch_otlp_attrs_fn(void **state)
{
    struct batch *b = batch_new("test");
    int calls = 0;
    struct batch_otlp_opts o = {.attrs = attrs_env, .attrs_arg = &calls};
    struct export_result res;
    struct batch_otlp bo;

    (void)state;
    memset(&res, 0, sizeof(res));
    item_pd(b, build("svc-a", "main.work", 5));
    assert_int_equal(batch_otlp_build(b, &o, &bo, &res), PC_OK);
    assert_int_equal(bo.n, 1);
    assert_true(pstr_eq(bo.items[0].attrs[0].key, "env"));
    batch_otlp_free(&bo);
    assert_int_equal(batch_otlp_build(b, &o, &bo, &res), PC_ERETRY);
    assert_string_equal(res.msg, "out of memory");
    batch_otlp_free(&bo);
    batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_dedup),
        cmocka_unit_test(test_resource_selection_and_override),
        cmocka_unit_test(test_empty_override_and_all),
        cmocka_unit_test(test_decode_back),
        cmocka_unit_test(test_original_pprof),
        cmocka_unit_test(test_scope_name),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_batch_otlp_build),
        cmocka_unit_test(test_batch_otlp_select),
        cmocka_unit_test(test_batch_otlp_attrs_fn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
