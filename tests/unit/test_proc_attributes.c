/* test_proc_attributes.c: the `attributes` processor on items carrying a
 * real Go CPU profile: every action, the detectors, and that the payload
 * is never decoded (the original bytes are forwarded). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proc_fixture.h"

static struct batch *cpu_batch(void)
{
    struct batch *b = batch_new("test");
    struct item *it;

    assert_non_null(b);
    it = fx_add_pprof(b, "cpu.pb.gz");
    assert_non_null(it);
    assert_int_equal(item_set_attr_str(b, it, "service.name", "api", 3), 0);
    assert_int_equal(item_set_attr_str(b, it, "env", "dev", 3), 0);
    assert_int_equal(item_set_attr_str(b, it, "user.email", "secret", 6), 0);
    assert_int_equal(item_set_attr_str(b, it, "pod", "api-7d9f-x2", 11), 0);
    assert_int_equal(item_set_attr_str(b, it, "tmp.a", "1", 1), 0);
    assert_int_equal(item_set_attr_str(b, it, "tmp.b", "2", 1), 0);
    return b;
}

static void test_actions(void **state)
{
    struct fx_proc p;
    struct batch *b = cpu_batch();
    struct item *it = &b->items[0];
    struct blob *raw = it->raw;
    const struct anyvalue *v;
    char t[128];

    (void)state;
    setenv("PROFCOL_TEST_REGION", "eu-west-1", 1);
    assert_int_equal(
        fx_proc_new(
            &p, "attributes",
            "actions:\n"
            "  - {key: env, action: insert, value: prod}\n" /* exists */
            "  - {key: team, action: insert, value: core}\n"
            "  - {key: env, action: update, value: staging}\n"
            "  - {key: missing, action: update, value: x}\n"
            "  - {key: cloud.region, action: upsert, from_env: PROFCOL_TEST_REGION}\n"
            "  - {key: shards, action: upsert, value: '16', converted_type: int}\n"
            "  - {key: service.version, action: insert, from_attribute: env}\n"
            "  - {key: user.email, action: hash}\n"
            "  - {action: delete, pattern: 'tmp\\..*'}\n"
            "  - {key: k8s.pod.name, action: rename, from_attribute: pod}\n"
            "  - {key: k8s.pod.name, action: extract,"
            " pattern: '^(?<app>[a-z]+)-(?<hash>[0-9a-f]+)-'}\n"),
        0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_string_equal(fx_attr(it, "env", t, sizeof(t)), "staging");
    assert_string_equal(fx_attr(it, "team", t, sizeof(t)), "core");
    assert_null(item_attr(it, "missing"));
    assert_string_equal(fx_attr(it, "cloud.region", t, sizeof(t)),
                        "eu-west-1");
    v = item_attr(it, "shards");
    assert_non_null(v);
    assert_int_equal(v->type, AV_INT);
    assert_int_equal(v->u.i, 16);
    assert_string_equal(fx_attr(it, "service.version", t, sizeof(t)),
                        "staging");
    /* sha256("secret") */
    assert_string_equal(
        fx_attr(it, "user.email", t, sizeof(t)),
        "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b");
    assert_null(item_attr(it, "tmp.a"));
    assert_null(item_attr(it, "tmp.b"));
    assert_null(item_attr(it, "pod"));
    assert_string_equal(fx_attr(it, "k8s.pod.name", t, sizeof(t)),
                        "api-7d9f-x2");
    assert_string_equal(fx_attr(it, "app", t, sizeof(t)), "api");
    assert_string_equal(fx_attr(it, "hash", t, sizeof(t)), "7d9f");
    assert_string_equal(fx_attr(it, "service.name", t, sizeof(t)), "api");
    /* Series attributes only: the payload was never decoded. */
    assert_ptr_equal(it->raw, raw);
    assert_null(it->pd);
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_detectors(void **state)
{
    struct fx_proc p;
    struct batch *b = cpu_batch();
    struct item *it = &b->items[0];
    char t[256];

    (void)state;
    setenv("OTEL_RESOURCE_ATTRIBUTES",
           "deployment.environment.name=prod, team=a%2Cb%3Dc,broken,"
           "service.name=fromattrs,env=ignored",
           1);
    setenv("OTEL_SERVICE_NAME", "checkout", 1);
    setenv("K8S_POD_NAME", "checkout-1", 1);
    setenv("K8S_NAMESPACE_NAME", "shop", 1);
    unsetenv("K8S_NODE_NAME");
    assert_int_equal(fx_proc_new(&p, "attributes",
                                 "detectors: [env, host, kubernetes]\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_string_equal(fx_attr(it, "deployment.environment.name", t,
                                sizeof(t)),
                        "prod");
    assert_string_equal(fx_attr(it, "team", t, sizeof(t)), "a,b=c");
    /* Existing attributes win without override. */
    assert_string_equal(fx_attr(it, "service.name", t, sizeof(t)), "api");
    assert_string_equal(fx_attr(it, "env", t, sizeof(t)), "dev");
    assert_string_equal(fx_attr(it, "k8s.pod.name", t, sizeof(t)),
                        "checkout-1");
    assert_string_equal(fx_attr(it, "k8s.namespace.name", t, sizeof(t)),
                        "shop");
    assert_null(item_attr(it, "k8s.node.name"));
    assert_string_equal(fx_attr(it, "os.type", t, sizeof(t)), "linux");
    assert_non_null(fx_attr(it, "host.name", t, sizeof(t)));
    assert_non_null(fx_attr(it, "host.arch", t, sizeof(t)));
    fx_proc_free(&p);

    /* override: true replaces; OTEL_SERVICE_NAME beats service.name. */
    assert_int_equal(fx_proc_new(&p, "attributes",
                                 "detectors: [env]\noverride: true\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_string_equal(fx_attr(it, "service.name", t, sizeof(t)), "checkout");
    assert_string_equal(fx_attr(it, "env", t, sizeof(t)), "ignored");
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_config_errors(void **state)
{
    struct fx_proc p;

    (void)state;
    assert_int_not_equal(fx_proc_new(&p, "attributes",
                                     "actions: [{key: a, action: rename}]\n"),
                         0);
    assert_non_null(strstr(p.e.msg, "from_attribute"));
    fx_proc_free(&p);
    assert_int_not_equal(fx_proc_new(&p, "attributes",
                                     "actions: [{key: a, action: insert}]\n"),
                         0);
    assert_non_null(strstr(p.e.msg, "exactly one"));
    fx_proc_free(&p);
    assert_int_not_equal(
        fx_proc_new(
            &p, "attributes",
            "actions: [{key: a, action: extract, pattern: '(unclosed'}]\n"),
        0);
    assert_non_null(strstr(p.e.msg, "pattern"));
    fx_proc_free(&p);
    assert_int_not_equal(
        fx_proc_new(
            &p, "attributes",
            "actions: [{key: a, action: extract, pattern: 'no-groups'}]\n"),
        0);
    assert_non_null(strstr(p.e.msg, "named group"));
    fx_proc_free(&p);
    assert_int_not_equal(fx_proc_new(&p, "attributes", "detectors: [gcp]\n"),
                         0);
    assert_non_null(strstr(p.e.msg, "unknown detector"));
    fx_proc_free(&p);
    assert_int_not_equal(
        fx_proc_new(&p, "attributes",
                    "actions: [{key: a, action: frobnicate}]\n"),
        0);
    fx_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_actions),
        cmocka_unit_test(test_detectors),
        cmocka_unit_test(test_config_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
