/* test_retry.c: the backoff schedule with a fake clock and random source. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "exporterhelper/retry.h"

struct fake {
    int64_t now;
    double r; /* value the random source returns */
};

static int64_t fake_clock(void *arg)
{
    return ((struct fake *)arg)->now;
}

static double fake_rand(void *arg)
{
    return ((struct fake *)arg)->r;
}

static void cfg_nojitter(struct retry_cfg *c)
{
    retry_cfg_default(c);
    c->randomization_factor = 0;
}

static void test_defaults(void **state)
{
    struct retry_cfg c;

    (void)state;
    retry_cfg_default(&c);
    assert_int_equal(c.enabled, 1);
    assert_int_equal(c.initial_interval_ms, 5000);
    assert_int_equal(c.max_interval_ms, 30000);
    assert_true(c.multiplier == 1.5);
    assert_true(c.randomization_factor == 0.5);
    assert_int_equal(c.max_elapsed_time_ms, 300000);
}

/* 5, 7.5, 11.25, 16.875, 25.3125, then capped at 30. */
static void test_exponential_and_cap(void **state)
{
    static const int64_t want[] = {5000,  7500,  11250, 16875,
                                   25313, 30000, 30000, 30000};
    struct retry_cfg c;
    struct retry_state r;
    struct fake f = {0, 0.5};
    int64_t d;
    size_t i;

    (void)state;
    cfg_nojitter(&c);
    c.max_elapsed_time_ms = 0;
    retry_init(&r, &c, fake_clock, &f, fake_rand, &f);
    for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(retry_next(&r, 0, &d), PC_OK);
        assert_int_equal(d, want[i]);
    }
}

/* With factor 0.5 the wait spans [0.5, 1.5] of the interval. */
static void test_jitter_bounds(void **state)
{
    struct retry_cfg c;
    struct retry_state r;
    struct fake f = {0, 0.0};
    int64_t d;

    (void)state;
    retry_cfg_default(&c);
    retry_init(&r, &c, fake_clock, &f, fake_rand, &f);
    assert_int_equal(retry_next(&r, 0, &d), PC_OK);
    assert_int_equal(d, 2500); /* lowest */
    f.r = 0.999999;
    assert_int_equal(retry_next(&r, 0, &d), PC_OK);
    assert_in_range(d, 11249, 11250); /* 7.5 s * 1.5 */
    f.r = 0.5;
    assert_int_equal(retry_next(&r, 0, &d), PC_OK);
    assert_int_equal(d, 11250); /* middle = interval */
}

/* The default generator stays within the bounds too. */
static void test_default_rng_bounds(void **state)
{
    struct retry_cfg c;
    struct retry_state r;
    struct fake f = {0, 0};
    int64_t d;
    int i;

    (void)state;
    retry_cfg_default(&c);
    c.max_elapsed_time_ms = 0;
    c.max_interval_ms = 5000;
    retry_init(&r, &c, fake_clock, &f, NULL, NULL);
    for (i = 0; i < 1000; i++) {
        assert_int_equal(retry_next(&r, 0, &d), PC_OK);
        assert_in_range(d, 2500, 7500);
    }
}

static void test_retry_after(void **state)
{
    struct retry_cfg c;
    struct retry_state r;
    struct fake f = {0, 0.5};
    int64_t d;

    (void)state;
    cfg_nojitter(&c);
    retry_init(&r, &c, fake_clock, &f, fake_rand, &f);
    /* Larger than the backoff: honoured. */
    assert_int_equal(retry_next(&r, 20000, &d), PC_OK);
    assert_int_equal(d, 20000);
    /* Smaller: the backoff wins (and the schedule went on: 7.5 s). */
    assert_int_equal(retry_next(&r, 1000, &d), PC_OK);
    assert_int_equal(d, 7500);
}

static void test_max_elapsed(void **state)
{
    struct retry_cfg c;
    struct retry_state r;
    struct fake f = {1000, 0.5};
    int64_t d;

    (void)state;
    cfg_nojitter(&c);
    c.max_elapsed_time_ms = 20000;
    retry_init(&r, &c, fake_clock, &f, fake_rand, &f);
    assert_int_equal(retry_next(&r, 0, &d), PC_OK); /* ends at 5 s */
    f.now += d;
    assert_int_equal(retry_next(&r, 0, &d), PC_OK); /* ends at 12.5 s */
    f.now += d;
    /* 12.5 + 11.25 > 20: give up. */
    assert_int_equal(retry_next(&r, 0, &d), PC_ETIMEDOUT);
    /* A Retry-After past the limit also ends it. */
    retry_reset(&r);
    assert_int_equal(retry_next(&r, 25000, &d), PC_ETIMEDOUT);
    /* reset starts a new schedule from now. */
    retry_reset(&r);
    assert_int_equal(retry_next(&r, 0, &d), PC_OK);
    assert_int_equal(d, 5000);
}

static void test_forever_and_disabled(void **state)
{
    struct retry_cfg c;
    struct retry_state r;
    struct fake f = {0, 0.5};
    int64_t d;
    int i;

    (void)state;
    cfg_nojitter(&c);
    c.max_elapsed_time_ms = 0;
    retry_init(&r, &c, fake_clock, &f, fake_rand, &f);
    for (i = 0; i < 10000; i++) {
        assert_int_equal(retry_next(&r, 0, &d), PC_OK);
        f.now += d; /* about 83 hours in total */
    }
    assert_int_equal(d, 30000);
    c.enabled = 0;
    assert_int_equal(retry_next(&r, 0, &d), PC_EUNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_exponential_and_cap),
        cmocka_unit_test(test_jitter_bounds),
        cmocka_unit_test(test_default_rng_bounds),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_max_elapsed),
        cmocka_unit_test(test_forever_and_disabled),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
