/* test_memory_limiter.c: the memory_limiter processor with an injected RSS
 * source: limits from the settings, refusing above the soft limit with a
 * retryable error, the refused counter and RSS gauge, recovery below the
 * soft limit, the timer on the event loop, and config validation.
 *
 * The component's only public symbol is its factory, so the test compiles
 * the source file itself to reach the RSS hook. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "pipeline/config.h"
#include "processors/memory_limiter/memory_limiter.c"

static uint64_t fake_rss;

static uint64_t fake_rss_fn(void *arg)
{
    (void)arg;
    return fake_rss;
}

struct fixture {
    struct event_base *base;
    struct metrics *m;
    struct component_host host; /* host.metrics: processor="memory_limiter" */
};

static void fixture_init(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    f->base = event_base_new();
    f->m = metrics_new();
    assert_non_null(f->base);
    assert_non_null(f->m);
    f->host.id = "memory_limiter";
    f->host.base = f->base;
    f->host.metrics = mscope_new(f->m, "processor", "memory_limiter", NULL);
    assert_non_null(f->host.metrics);
}

static void fixture_free(struct fixture *f)
{
    mscope_free(f->host.metrics);
    metrics_free(f->m);
    event_base_free(f->base);
}

static struct batch *batch_of(uint32_t profiles)
{
    struct batch *b = batch_new("test");
    uint32_t i;

    assert_non_null(b);
    for (i = 0; i < profiles; i++) {
        struct item *it = batch_add_item(b);
        assert_non_null(it);
        it->nprofiles = 1;
    }
    return b;
}

static void test_limits(void **state)
{
    struct memory_limiter_cfg c = {.check_interval_ms = 1000};
    uint64_t hard, soft;
    char err[160];

    (void)state;
    c.limit_mib = 100;
    assert_int_equal(ml_limits(&c, 0, &hard, &soft, err, sizeof(err)), PC_OK);
    assert_int_equal(hard, 100 * ML_MIB);
    assert_int_equal(soft, 80 * ML_MIB); /* spike defaults to 20 % */
    c.spike_limit_mib = 30;
    assert_int_equal(ml_limits(&c, 0, &hard, &soft, err, sizeof(err)), PC_OK);
    assert_int_equal(soft, 70 * ML_MIB);
    c.spike_limit_mib = 100;
    assert_int_equal(ml_limits(&c, 0, &hard, &soft, err, sizeof(err)),
                     PC_EINVAL);
    assert_non_null(strstr(err, "below the limit"));

    memset(&c, 0, sizeof(c));
    c.limit_percentage = 50;
    c.spike_limit_percentage = 10;
    assert_int_equal(ml_limits(&c, 1000 * ML_MIB, &hard, &soft, err,
                               sizeof(err)),
                     PC_OK);
    assert_int_equal(hard, 500 * ML_MIB);
    assert_int_equal(soft, 400 * ML_MIB);
    assert_int_equal(ml_limits(&c, 0, &hard, &soft, err, sizeof(err)),
                     PC_EINVAL);

    memset(&c, 0, sizeof(c));
    assert_int_equal(ml_limits(&c, 0, &hard, &soft, err, sizeof(err)),
                     PC_EINVAL);
    assert_non_null(strstr(err, "limit_mib"));
    /* The real machine has some memory to take a percentage of. */
    assert_true(ml_total_memory() > 0);
    assert_true(ml_proc_rss(NULL) > 0);
}

static void test_refuse_and_recover(void **state)
{
    struct memory_limiter_cfg c = {.check_interval_ms = 1000,
                                   .limit_mib = 100};
    struct fixture f;
    struct errctx e = {{0}};
    struct memory_limiter *ml;
    struct batch *b;
    void *ctx = NULL;
    struct buf out;

    (void)state;
    fixture_init(&f);
    fake_rss = 50 * ML_MIB;
    assert_int_equal(ml_create_with(&c, &f.host, fake_rss_fn, NULL, &ctx, &e),
                     PC_OK);
    ml = ctx;
    b = batch_of(3);
    assert_int_equal(ml_process(ctx, b, &e), PC_OK);

    /* Between soft (80) and hard (100): refused, retryable. */
    fake_rss = 90 * ML_MIB;
    ml_check(ml);
    assert_int_equal(ml_process(ctx, b, &e), PC_EBUSY);
    assert_non_null(strstr(err_msg(&e, PC_EBUSY), "soft limit 80.0 MiB"));
    assert_int_equal(mcounter_get(ml->refused), 3);
    assert_true(mgauge_get(ml->rss_gauge) == (double)(90 * ML_MIB));

    /* Above hard: still refused (and trimmed). */
    fake_rss = 120 * ML_MIB;
    ml_check(ml);
    assert_int_equal(ml_process(ctx, b, &e), PC_EBUSY);
    assert_int_equal(mcounter_get(ml->refused), 6);

    /* Back below the soft limit: accepted again. */
    fake_rss = 79 * ML_MIB;
    ml_check(ml);
    assert_int_equal(ml_process(ctx, b, &e), PC_OK);
    assert_int_equal(mcounter_get(ml->refused), 6);

    buf_init(&out, 1 << 20);
    assert_int_equal(metrics_render(f.m, &out), PC_OK);
    assert_int_equal(buf_putc(&out, '\0'), PC_OK);
    assert_non_null(
        strstr((const char *)out.data,
               "profcol_processor_memory_limiter_refused_profiles_total"
               "{processor=\"memory_limiter\"} 6"));
    assert_non_null(strstr((const char *)out.data,
                           "profcol_processor_memory_limiter_rss_bytes"));
    buf_free(&out);
    batch_unref(b);
    ml_destroy(ctx);
    fixture_free(&f);
}

/* The timer measures on the loop without anyone calling ml_check. */
static void test_timer(void **state)
{
    struct memory_limiter_cfg c = {.check_interval_ms = 20, .limit_mib = 10};
    struct fixture f;
    struct errctx e = {{0}};
    struct timeval tv = {0, 100 * 1000};
    struct batch *b;
    void *ctx = NULL;

    (void)state;
    fixture_init(&f);
    fake_rss = 1 * ML_MIB;
    assert_int_equal(ml_create_with(&c, &f.host, fake_rss_fn, NULL, &ctx, &e),
                     PC_OK);
    b = batch_of(1);
    assert_int_equal(ml_process(ctx, b, &e), PC_OK);
    fake_rss = 9 * ML_MIB; /* above soft = 8 MiB */
    event_base_loopexit(f.base, &tv);
    event_base_dispatch(f.base);
    assert_int_equal(ml_process(ctx, b, &e), PC_EBUSY);
    batch_unref(b);
    ml_destroy(ctx);
    fixture_free(&f);
}

static int config_errors(const char *yaml, const char *want)
{
    struct config cfg;
    struct cfg_diag d;
    uint32_t i;
    int found = 0, rc;

    memset(&cfg, 0, sizeof(cfg));
    memset(&d, 0, sizeof(d));
    rc = config_load_mem("test.yaml", yaml, strlen(yaml), &cfg, &d);
    for (i = 0; i < d.nerrors; i++) {
        if (want != NULL && strstr(d.errors[i], want) != NULL) {
            found = 1;
        }
    }
    cfg_diag_free(&d);
    config_free(&cfg);
    return want == NULL ? rc : (rc != PC_OK && found ? PC_OK : -1);
}

#define ML_YAML(settings)                                                     \
    "receivers:\n  file:\n    include: /tmp\n"                                \
    "processors:\n  memory_limiter:\n" settings "exporters:\n  debug:\n"      \
    "service:\n  pipelines:\n    profiles:\n      receivers: [file]\n"        \
    "      processors: [memory_limiter]\n      exporters: [debug]\n"

static void test_validate(void **state)
{
    (void)state;
    assert_int_equal(config_errors(ML_YAML("    limit_mib: 400\n"), NULL),
                     PC_OK);
    assert_int_equal(config_errors(ML_YAML("    limit_percentage: 80\n"
                                           "    spike_limit_percentage: 20\n"),
                                   NULL),
                     PC_OK);
    assert_int_equal(config_errors(ML_YAML("    check_interval: 1s\n"),
                                   "set limit_mib or limit_percentage"),
                     PC_OK);
    assert_int_equal(config_errors(ML_YAML("    limit_mib: 100\n"
                                           "    limit_percentage: 50\n"),
                                   "not both"),
                     PC_OK);
    assert_int_equal(config_errors(ML_YAML("    limit_mib: 100\n"
                                           "    spike_limit_mib: 100\n"),
                                   "must be below"),
                     PC_OK);
    assert_int_equal(config_errors(ML_YAML("    limit_percentage: 101\n"),
                                   "limit_percentage"),
                     PC_OK);
    assert_int_equal(config_errors(ML_YAML("    limit_mib: 100\n"
                                           "    spike_limit_percentage: 5\n"),
                                   "goes with limit_percentage"),
                     PC_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_refuse_and_recover),
        cmocka_unit_test(test_timer),
        cmocka_unit_test(test_validate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
