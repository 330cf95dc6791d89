/* test_proc_filter.c: the `filter` processor and the selector matcher:
 * keep/drop by profile type (from __name__ and derived from real Go
 * profiles' sample types), service, and PromQL-style selectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "component/matcher.h"
#include "proc_fixture.h"

static struct item *add(struct batch *b, const char *file, const char *svc,
                        const char *env, const char *name)
{
    struct item *it = fx_add_pprof(b, file);

    assert_non_null(it);
    assert_int_equal(item_set_attr_str(b, it,
                                       svc[0] == '_' ? "service_name"
                                                     : "service.name",
                                       svc, strlen(svc)),
                     0);
    assert_int_equal(item_set_attr_str(b, it, "env", env, strlen(env)), 0);
    if (name != NULL) {
        assert_int_equal(item_set_attr_str(b, it, "__name__", name,
                                           strlen(name)),
                         0);
    }
    return it;
}

static struct batch *mixed(void)
{
    struct batch *b = batch_new("t");

    add(b, "cpu.pb.gz", "api", "prod", NULL); /* derived process_cpu */
    add(b, "heap.pb.gz", "api", "dev", NULL); /* derived memory */
    add(b, "mutex.pb.gz", "web", "prod", "mutex");
    add(b, "cpu.pb.gz", "canary-api", "prod", "process_cpu");
    return b;
}

static uint32_t run(const char *yaml, struct batch *b)
{
    struct fx_proc p;

    assert_int_equal(fx_proc_new(&p, "filter", yaml), 0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    fx_proc_free(&p);
    return b->nitems;
}

static void test_profile_types(void **state)
{
    struct batch *b = mixed();
    char t[32];

    (void)state;
    assert_int_equal(run("profile_types: [process_cpu, mutex]\n", b), 3);
    assert_string_equal(fx_attr(&b->items[1], "env", t, sizeof(t)), "prod");
    batch_unref(b);
    b = mixed();
    assert_int_equal(run("mode: drop\nprofile_types: [memory]\n", b), 3);
    batch_unref(b);
}

static void test_selectors_and_services(void **state)
{
    struct batch *b = mixed();
    struct fx_proc p;

    (void)state;
    assert_int_equal(
        run("selectors: ['{service_name=\"api\", env!=\"dev\"}']\n", b), 1);
    batch_unref(b);
    b = mixed();
    assert_int_equal(
        run("mode: drop\nselectors: ['{service_name=~\"canary-.*\"}']\n", b),
        3);
    batch_unref(b);
    b = mixed();
    assert_int_equal(run("services: ['*api']\n", b), 3);
    batch_unref(b);
    b = mixed();
    assert_int_equal(run("include: {services: [api, web]}\n"
                         "exclude: {selectors: ['{env=\"dev\"}']}\n",
                         b),
                     2);
    batch_unref(b);

    /* The counter sees the drops. */
    b = mixed();
    assert_int_equal(fx_proc_new(&p, "filter",
                                 "selectors: ['{env=\"prod\"}']\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_int_equal(fx_metric(&p,
                               "profcol_processor_filter_dropped_items_total"
                               "{processor=\"filter\"} "),
                     1);
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_bad_config(void **state)
{
    struct fx_proc p;

    (void)state;
    assert_int_not_equal(fx_proc_new(&p, "filter",
                                     "selectors: ['{env=~\"(\"}']\n"),
                         0);
    assert_non_null(strstr(p.e.msg, "bad regex"));
    fx_proc_free(&p);
    assert_int_not_equal(fx_proc_new(&p, "filter", "mode: keep\n"), 0);
    assert_non_null(strstr(p.e.msg, "no criteria"));
    fx_proc_free(&p);
    assert_int_not_equal(
        fx_proc_new(&p, "filter", "services: [a]\ninclude: {services: [b]}\n"),
        0);
    fx_proc_free(&p);
}

static void test_matcher(void **state)
{
    struct keyvalue kv[2];
    struct matcher_set *m;
    struct errctx e;
    static const char *const bad[] = {
        "{a=\"x\"",          "{a~\"x\"}",      "{=\"x\"}",           "{a=x}",
        "{a=\"x\" b=\"y\"}", "{a=\"x\"} junk", "{a=\"unterminated}",
    };
    size_t i;

    (void)state;
    memset(kv, 0, sizeof(kv));
    kv[0].key = (struct pstr){"service.name", 12};
    kv[0].value.type = AV_STRING;
    kv[0].value.u.s = (struct pstr){"api", 3};
    kv[1].key = (struct pstr){"n", 1};
    kv[1].value.type = AV_INT;
    kv[1].value.u.i = 42;
#define M(sel, want)                                                          \
    assert_int_equal(matcher_parse(sel, strlen(sel), &m, &e), 0);             \
    assert_int_equal(matcher_match(m, kv, 2), want);                          \
    matcher_free(m)
    M("{service_name=\"api\"}", 1);
    M("{service.name=\"api\"}", 1);
    M("service_name = 'api' , n=\"42\",", 1);
    M("{n=~\"4.\"}", 1);
    M("{n=~\"4\"}", 0);     /* anchored */
    M("{missing=\"\"}", 1); /* absent = empty */
    M("{missing!=\"x\"}", 1);
    M("{service_name!~\"a.*\"}", 0);
    M("{}", 1);
    M("{service_name=`a\\pi`}", 0);
#undef M
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_not_equal(matcher_parse(bad[i], strlen(bad[i]), &m, &e), 0);
        assert_null(m);
        assert_non_null(strstr(e.msg, "selector"));
    }
    assert_true(matcher_glob("eu-*", (struct pstr){"eu-west", 7}));
    assert_false(matcher_glob("eu-*", (struct pstr){"us-west", 7}));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_types),
        cmocka_unit_test(test_selectors_and_services),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_matcher),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
