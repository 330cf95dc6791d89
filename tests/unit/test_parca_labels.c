/*
 * test_parca_labels.c: the series labels and pprof checks of the `parca`
 * exporter (exporters/parca/parca_labels.h), against Parca's WriteRaw
 * validation rules: `__name__` present and a valid name, every other label
 * name Prometheus-valid and unique, ids 1..N, string_table[0] == "".
 * The encoded LabelSet is parsed back with the protobuf-c parser generated
 * from Parca's profilestore.proto.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/parca/parca_labels.h"
#include "codec/pb.h"
#include "codec/pprof.h"
#include "parca/profilestore/v1alpha1/profilestore.pb-c.h"
#include "pbw.h"

static struct item *new_item(struct batch *b)
{
    struct item *it = batch_add_item(b);

    assert_non_null(it);
    return it;
}

static void set(struct batch *b, struct item *it, const char *k, const char *v)
{
    assert_int_equal(item_set_attr_str(b, it, k, v, strlen(v)), PC_OK);
}

static const char *val(const struct parca_labelset *ls, const char *name)
{
    static char out[256];
    size_t n = 0;
    const char *v = parca_label_value(ls, name, &n);

    if (v == NULL) {
        return NULL;
    }
    snprintf(out, sizeof(out), "%.*s", (int)n, v);
    return out;
}

/* A one-profile pdata with the given sample types. */
static struct pdata *pd_with_types(const char *t1, const char *t2)
{
    struct pdata *pd = pdata_new(0);
    struct profile *p;

    assert_int_equal(dict_init(pd), PC_OK);
    p = pdata_add_profile(pd, pdata_add_scope(pd, pdata_add_resource(pd)));
    p->nsample_types = t2 ? 2 : 1;
    p->sample_types = arena_calloc(&pd->arena, 2, sizeof(struct value_type));
    p->sample_types[0].type = dict_string(pd, t1, strlen(t1));
    if (t2) {
        p->sample_types[1].type = dict_string(pd, t2, strlen(t2));
    }
    return pd;
}

static void test_profile_name(void **state)
{
    struct batch *b = batch_new("t");
    struct item *it = new_item(b);
    struct pdata *cpu = pd_with_types("samples", "cpu");
    struct pdata *mem = pd_with_types("alloc_objects", "alloc_space");
    char name[PARCA_LABEL_NAME_MAX];

    (void)state;
    /* No __name__: derived from the sample types. */
    parca_profile_name(it, &cpu->dict,
                       &cpu->resources[0].scopes[0].profiles[0], name,
                       sizeof(name));
    assert_string_equal(name, "process_cpu");
    parca_profile_name(it, &mem->dict,
                       &mem->resources[0].scopes[0].profiles[0], name,
                       sizeof(name));
    assert_string_equal(name, "memory");
    /* A valid __name__ wins. */
    set(b, it, "__name__", "goroutine");
    parca_profile_name(it, &cpu->dict,
                       &cpu->resources[0].scopes[0].profiles[0], name,
                       sizeof(name));
    assert_string_equal(name, "goroutine");
    /* One Parca would refuse ('.', '-', ':') is not used. */
    set(b, it, "__name__", "process.cpu-x");
    parca_profile_name(it, &cpu->dict,
                       &cpu->resources[0].scopes[0].profiles[0], name,
                       sizeof(name));
    assert_string_equal(name, "process_cpu");
    set(b, it, "__name__", "a:b");
    parca_profile_name(it, &mem->dict,
                       &mem->resources[0].scopes[0].profiles[0], name,
                       sizeof(name));
    assert_string_equal(name, "memory");
    assert_false(parca_name_valid("9abc", 4));
    assert_false(parca_name_valid("", 0));
    assert_true(parca_name_valid("_x9", 3));
    pdata_free(cpu);
    pdata_free(mem);
    batch_unref(b);
}

/* The sample types async-profiler's OTLP writer uses (the Pyroscope Java
 * agent, format otlp) name the profile as its JFR events would. */
static void test_profile_name_async_profiler(void **state)
{
    static const char *const types[][2] = {{"itimer", "process_cpu"},
                                           {"object_sampler", "memory"},
                                           {"lock_tracer", "mutex"}};
    struct batch *b = batch_new("t");
    struct item *it = new_item(b);
    char name[PARCA_LABEL_NAME_MAX];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
        struct pdata *pd = pd_with_types(types[i][0], NULL);
        parca_profile_name(it, &pd->dict,
                           &pd->resources[0].scopes[0].profiles[0], name,
                           sizeof(name));
        assert_string_equal(name, types[i][1]);
        pdata_free(pd);
    }
    batch_unref(b);
}

static void test_labels(void **state)
{
    struct batch *b = batch_new("t");
    struct item *it = new_item(b);
    struct parca_labelset ls;
    char *ek[] = {"cluster", "env", "k8s.namespace"};
    char *ev[] = {"eu-1", "ignored", "prod"};
    struct cfg_map ext = {ek, ev, 3};
    struct anyvalue iv = {AV_INT, {.i = 42}};
    uint32_t i;

    (void)state;
    set(b, it, "service.name", "checkout");
    set(b, it, "k8s.pod.name", "checkout-7f9");
    set(b, it, "env", "staging");
    set(b, it, "a.b", "first");
    set(b, it, "a_b", "second");     /* same label name: first wins */
    set(b, it, "__delta__", "true"); /* internal: dropped */
    set(b, it, "empty", "");         /* empty: no label */
    set(b, it, "1st", "digit");
    assert_int_equal(item_set_attr(b, it, "process.pid", &iv), PC_OK);
    parca_labelset_init(&ls);
    assert_int_equal(parca_labels_build(&ls, it, "process_cpu", &ext), PC_OK);
    assert_string_equal(val(&ls, "__name__"), "process_cpu");
    assert_string_equal(val(&ls, "service_name"), "checkout");
    assert_string_equal(val(&ls, "k8s_pod_name"), "checkout-7f9");
    assert_string_equal(val(&ls, "env"), "staging"); /* not external's */
    assert_string_equal(val(&ls, "a_b"), "first");
    assert_string_equal(val(&ls, "_1st"), "digit");
    assert_string_equal(val(&ls, "process_pid"), "42");
    assert_string_equal(val(&ls, "cluster"), "eu-1");
    assert_string_equal(val(&ls, "k8s_namespace"), "prod");
    assert_null(val(&ls, "service.name"));
    assert_null(val(&ls, "__delta__"));
    assert_null(val(&ls, "empty"));
    assert_int_equal(ls.n, 9);
    for (i = 0; i < ls.n; i++) {
        assert_true(parca_name_valid(ls.l[i].name, strlen(ls.l[i].name)));
        if (i > 0) {
            assert_true(strcmp(ls.l[i - 1].name, ls.l[i].name) < 0);
        }
    }
    parca_labelset_free(&ls);
    batch_unref(b);
}

static void test_no_service(void **state)
{
    struct batch *b = batch_new("t");
    struct item *it = new_item(b);
    struct parca_labelset ls;

    (void)state;
    parca_labelset_init(&ls);
    assert_int_equal(parca_labels_build(&ls, it, "memory", NULL), PC_OK);
    assert_string_equal(val(&ls, "service_name"), "unknown_service");
    assert_int_equal(ls.n, 2);
    parca_labelset_free(&ls);
    batch_unref(b);
}

/* The LabelSet parses with Parca's own message definitions. */
static void test_encode(void **state)
{
    struct batch *b = batch_new("t");
    struct item *it = new_item(b);
    struct parca_labelset ls;
    struct buf out;
    Parca__Profilestore__V1alpha1__RawProfileSeries *s;

    (void)state;
    set(b, it, "service.name", "api");
    parca_labelset_init(&ls);
    buf_init(&out, 0);
    assert_int_equal(parca_labels_build(&ls, it, "block", NULL), PC_OK);
    assert_int_equal(parca_labels_encode(&ls, &out), PC_OK);
    s = parca__profilestore__v1alpha1__raw_profile_series__unpack(NULL,
                                                                  out.len,
                                                                  out.data);
    assert_non_null(s);
    assert_non_null(s->labels);
    assert_int_equal(s->labels->n_labels, 2);
    assert_string_equal(s->labels->labels[0]->name, "__name__");
    assert_string_equal(s->labels->labels[0]->value, "block");
    assert_string_equal(s->labels->labels[1]->name, "service_name");
    assert_string_equal(s->labels->labels[1]->value, "api");
    parca__profilestore__v1alpha1__raw_profile_series__free_unpacked(s, NULL);
    buf_free(&out);
    parca_labelset_free(&ls);
    batch_unref(b);
}

/* Appends a Mapping/Location/Function message with the given id. */
static void put_id_msg(struct buf *o, uint32_t field, uint64_t id)
{
    size_t mark = pbw_begin(o, field);

    pbw_uint(o, 1, id);
    pbw_end(o, mark);
}

static void test_forwardable(void **state)
{
    struct buf o;
    int64_t tn = 0;

    (void)state;
    buf_init(&o, 0);
    put_id_msg(&o, 3, 1);
    put_id_msg(&o, 3, 2);
    put_id_msg(&o, 4, 1);
    put_id_msg(&o, 5, 1);
    pb_put_bytes(&o, 6, "", 0);
    pb_put_bytes(&o, 6, "main", 4);
    pb_put_uint(&o, 9, 123);
    assert_true(parca_pprof_forwardable(o.data, o.len, &tn));
    assert_int_equal(tn, 123);
    /* A gap in the mapping ids. */
    put_id_msg(&o, 3, 4);
    assert_false(parca_pprof_forwardable(o.data, o.len, &tn));
    /* string_table[0] not empty. */
    buf_reset(&o);
    pb_put_bytes(&o, 6, "x", 1);
    assert_false(parca_pprof_forwardable(o.data, o.len, &tn));
    /* No string table at all. */
    buf_reset(&o);
    put_id_msg(&o, 5, 1);
    assert_false(parca_pprof_forwardable(o.data, o.len, &tn));
    /* Garbage. */
    assert_false(parca_pprof_forwardable((const uint8_t *)"\xff\xff", 2, &tn));
    buf_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_name),
        cmocka_unit_test(test_profile_name_async_profiler),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_no_service),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_forwardable),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
