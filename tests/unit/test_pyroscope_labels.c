/*
 * test_pyroscope_labels.c: the label set the pyroscope exporter gives a
 * series (naming, sanitising, dedupe, external labels, delta flag), tenant
 * grouping, and the light pprof read of forwarded bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/pyroscope/pyroscope_labels.h"
#include "codec/pprof.h"
#include "component/batch.h"

static struct item *add_item(struct batch *b, const char *tenant)
{
    struct item *it = batch_add_item(b);

    assert_non_null(it);
    if (tenant != NULL) {
        it->tenant.ptr = tenant;
        it->tenant.len = (uint32_t)strlen(tenant);
    }
    return it;
}

static void set(struct batch *b, struct item *it, const char *k, const char *v)
{
    assert_int_equal(item_set_attr_str(b, it, k, v, strlen(v)), PC_OK);
}

static void test_defaults(void **state)
{
    struct batch *b = batch_new("test");
    struct item *it = add_item(b, NULL);
    struct pyro_labels l;

    (void)state;
    pyro_labels_init(&l);
    assert_int_equal(pyro_labels_build(it, "process_cpu", 0, NULL, &l), PC_OK);
    assert_int_equal(l.n, 2);
    assert_string_equal(pyro_labels_get(&l, "__name__"), "process_cpu");
    assert_string_equal(pyro_labels_get(&l, "service_name"),
                        "unknown_service");
    assert_null(pyro_labels_get(&l, "__delta__"));
    /* Sorted by name. */
    assert_string_equal(pyro_label_name(&l, 0), "__name__");
    pyro_labels_free(&l);
    batch_unref(b);
}

static void test_attrs(void **state)
{
    struct batch *b = batch_new("test");
    struct item *it = add_item(b, NULL);
    struct anyvalue iv = {.type = AV_INT, .u.i = 42};
    struct pyro_labels l;

    (void)state;
    set(b, it, "service.name", "checkout");
    set(b, it, "service_name", "shadow");
    set(b, it, "k8s.pod.name", "pod-1");
    set(b, it, "k8s_pod_name", "dup");   /* same label name: first wins */
    set(b, it, "__session_id__", "abc"); /* internal: dropped */
    set(b, it, "__name__", "memory");    /* explicit profile name */
    set(b, it, "1bad-name", "x");
    assert_int_equal(item_set_attr(b, it, "process.pid", &iv), PC_OK);
    pyro_labels_init(&l);
    assert_int_equal(pyro_labels_build(it, "process_cpu", 1, NULL, &l), PC_OK);
    assert_string_equal(pyro_labels_get(&l, "service_name"), "checkout");
    assert_string_equal(pyro_labels_get(&l, "__name__"), "memory");
    assert_string_equal(pyro_labels_get(&l, "k8s_pod_name"), "pod-1");
    assert_string_equal(pyro_labels_get(&l, "process_pid"), "42");
    assert_string_equal(pyro_labels_get(&l, "_1bad_name"), "x");
    assert_string_equal(pyro_labels_get(&l, "__delta__"), "false");
    assert_null(pyro_labels_get(&l, "__session_id__"));
    assert_null(pyro_labels_get(&l, "service.name"));
    assert_int_equal(l.n, 6);
    pyro_labels_free(&l);
    batch_unref(b);
}

static void test_external(void **state)
{
    struct batch *b = batch_new("test");
    struct item *it = add_item(b, NULL);
    char *keys[] = {"cluster", "k8s.namespace", "service_name", "__name__"};
    char *vals[] = {"eu-1", "prod", "override", "custom"};
    struct cfg_map ext = {keys, vals, 4};
    struct pyro_labels l;

    (void)state;
    set(b, it, "cluster", "from-item");
    set(b, it, "__delta__", "false");
    pyro_labels_init(&l);
    assert_int_equal(pyro_labels_build(it, "goroutine", 0, &ext, &l), PC_OK);
    assert_string_equal(pyro_labels_get(&l, "cluster"), "eu-1");
    assert_string_equal(pyro_labels_get(&l, "k8s_namespace"), "prod");
    assert_string_equal(pyro_labels_get(&l, "service_name"), "override");
    assert_string_equal(pyro_labels_get(&l, "__name__"), "custom");
    assert_string_equal(pyro_labels_get(&l, "__delta__"), "false");
    assert_int_equal(l.n, 5);
    /* Reuse: a second build starts from nothing. */
    assert_int_equal(pyro_labels_build(it, "goroutine", 0, NULL, &l), PC_OK);
    assert_string_equal(pyro_labels_get(&l, "cluster"), "from-item");
    assert_null(pyro_labels_get(&l, "k8s_namespace"));
    pyro_labels_free(&l);
    batch_unref(b);
}

static void test_tenants(void **state)
{
    struct batch *b = batch_new("test");
    uint32_t order[5], ends[5], ng;

    (void)state;
    add_item(b, "a");
    add_item(b, "b");
    add_item(b, "a");
    add_item(b, NULL);
    add_item(b, "b");
    ng = pyro_group_by_tenant(b, NULL, order, ends);
    assert_int_equal(ng, 3);
    assert_int_equal(ends[0], 2);
    assert_int_equal(order[0], 0);
    assert_int_equal(order[1], 2);
    assert_int_equal(ends[1], 4);
    assert_int_equal(order[2], 1);
    assert_int_equal(order[3], 4);
    assert_int_equal(ends[2], 5);
    assert_int_equal(order[4], 3);
    ng = pyro_group_by_tenant(b, "static", order, ends);
    assert_int_equal(ng, 1);
    assert_int_equal(ends[0], 5);
    batch_unref(b);
}

/* A model profile encoded to pprof, read back by the light reader. */
static void test_peek(void **state)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct value_type vt[2];
    struct pyro_peek pk;
    struct buf out;
    struct errctx e;

    (void)state;
    assert_int_equal(dict_init(pd), PC_OK);
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    vt[0].type = dict_add_string(pd, "alloc_objects", 13);
    vt[0].unit = dict_add_string(pd, "count", 5);
    vt[1].type = dict_add_string(pd, "alloc_space", 11);
    vt[1].unit = dict_add_string(pd, "bytes", 5);
    p->sample_types = vt;
    p->nsample_types = 2;
    p->time_nanos = 1700000000000000000LL;
    p->duration_nanos = 10000000000LL;
    buf_init(&out, 0);
    assert_int_equal(pprof_encode_gz(pd, p, 6, &out, &e), PC_OK);
    assert_int_equal(pyro_pprof_peek(out.data, out.len, 1 << 20, &pk), PC_OK);
    assert_string_equal(pk.name, "memory");
    assert_int_equal(pk.duration_nanos, 10000000000LL);
    assert_int_equal(pk.time_nanos, 1700000000000000000LL);
    assert_int_equal(pk.nsamples, 0);
    assert_true(pk.plain_len > 0);
    assert_int_equal(pyro_pprof_peek(out.data, out.len, 8, &pk), PC_ETOOBIG);
    assert_int_equal(pk.plain_len, 9);
    buf_free(&out);
    pdata_free(pd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults), cmocka_unit_test(test_attrs),
        cmocka_unit_test(test_external), cmocka_unit_test(test_tenants),
        cmocka_unit_test(test_peek),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
