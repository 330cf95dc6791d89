/* test_cfg_parse.c: the value parsers shared by every config table
 * (durations, sizes, integers, booleans) and environment expansion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "config/cfg.h"
#include "config/ynode.h"

static void test_durations_good(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"0", 0},
        {"0s", 0},
        {"1ms", 1},
        {"500ms", 500},
        {"15s", 15000},
        {"1.5s", 1500},
        {"0.5m", 30000},
        {"1m30s", 90000},
        {"2h", 7200000},
        {"1h1m1s1ms", 3661001},
        {"1000us", 1},
        {"2500\xc2\xb5s", 2}, /* µs, truncated to whole ms */
        {"3000000ns", 3},
        {"1.999ms", 1},
        {"24h", 86400000},
        {"2562047h", INT64_C(9223369200000)},
    };
    size_t i;
    int64_t ms;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ms = -1;
        if (cfg_parse_duration_ms(cases[i].s, &ms) != PC_OK) {
            fail_msg("'%s' refused", cases[i].s);
        }
        if (ms != cases[i].ms) {
            fail_msg("'%s' = %lld, want %lld", cases[i].s, (long long)ms,
                     (long long)cases[i].ms);
        }
    }
}

static void test_durations_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "15",
        "1000",
        "abc",
        "s",
        "1x",
        "1sec",
        "-5s",
        "+5s",
        "5 s",
        " 5s",
        "5s ",
        "1.s5",
        ".",
        "1m30",
        "500us",
        "1ns",
        "0.1ms",
        "99999999999999999999h",
        "2562048h",
        "1e3s",
        "5S",
        "5M",
    };
    size_t i;
    int64_t ms = 42;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cfg_parse_duration_ms(bad[i], &ms) == PC_OK) {
            fail_msg("'%s' accepted as %lld ms", bad[i], (long long)ms);
        }
    }
}

static void test_sizes_good(void **state)
{
    static const struct {
        const char *s;
        uint64_t b;
    } cases[] = {
        {"0", 0},
        {"4096", 4096},
        {"10B", 10},
        {"1KB", 1000},
        {"1kb", 1000},
        {"1KiB", 1024},
        {"512KiB", 512 * 1024},
        {"16MiB", 16u << 20},
        {"16 MiB", 16u << 20},
        {"2MB", 2000000},
        {"1GB", 1000000000},
        {"1GiB", 1u << 30},
        {"1.5KiB", 1536},
        {"0.5MB", 500000},
        {"2TiB", UINT64_C(2) << 40},
        {"3tb", UINT64_C(3000000000000)},
        {"18446744073709551615", UINT64_MAX},
    };
    size_t i;
    uint64_t b;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b = 1;
        if (cfg_parse_size(cases[i].s, &b) != PC_OK) {
            fail_msg("'%s' refused", cases[i].s);
        }
        if (b != cases[i].b) {
            fail_msg("'%s' = %llu, want %llu", cases[i].s,
                     (unsigned long long)b, (unsigned long long)cases[i].b);
        }
    }
}

static void test_sizes_bad(void **state)
{
    static const char *const bad[] = {
        "",
        "abc",
        "MiB",
        "1.5",
        "1.5B",
        "-1",
        "+1",
        "1 ",
        "1  MiB",
        "1XB",
        "1K",
        "1M",
        "1Mi",
        "1MiBs",
        "18446744073709551616",
        "16777216TiB",
        " 1",
        "1e3",
        "0x10",
    };
    size_t i;
    uint64_t b = 7;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (cfg_parse_size(bad[i], &b) == PC_OK) {
            fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long)b);
        }
    }
}

static void test_ints_and_bools(void **state)
{
    int64_t v;
    int b;

    (void)state;
    assert_int_equal(cfg_parse_int("42", &v), PC_OK);
    assert_int_equal(v, 42);
    assert_int_equal(cfg_parse_int("-7", &v), PC_OK);
    assert_int_equal(v, -7);
    assert_int_equal(cfg_parse_int("0x1f", &v), PC_OK);
    assert_int_equal(v, 31);
    assert_int_equal(cfg_parse_int("0o17", &v), PC_OK);
    assert_int_equal(v, 15);
    assert_int_equal(cfg_parse_int("9223372036854775807", &v), PC_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(cfg_parse_int("-9223372036854775808", &v), PC_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(cfg_parse_int("9223372036854775808", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_int("", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_int("1.0", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_int("12a", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_int(" 1", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_int("--1", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_int("0x", &v), PC_EINVAL);
    assert_int_equal(cfg_parse_bool("true", &b), PC_OK);
    assert_int_equal(b, 1);
    assert_int_equal(cfg_parse_bool("FALSE", &b), PC_OK);
    assert_int_equal(b, 0);
    assert_int_equal(cfg_parse_bool("yes", &b), PC_EINVAL);
    assert_int_equal(cfg_parse_bool("1", &b), PC_EINVAL);
    assert_int_equal(cfg_parse_bool("", &b), PC_EINVAL);
}

static void expect_expand(const char *in, const char *want)
{
    char err[256], *out = NULL;

    if (ynode_expand_env(in, strlen(in), &out, err, sizeof(err)) != PC_OK) {
        fail_msg("'%s' refused: %s", in, err);
    }
    assert_string_equal(out, want);
    free(out);
}

static void expect_expand_error(const char *in, const char *msg)
{
    char err[256], *out = (char *)1;

    assert_int_equal(ynode_expand_env(in, strlen(in), &out, err, sizeof(err)),
                     PC_EINVAL);
    assert_null(out);
    if (strstr(err, msg) == NULL) {
        fail_msg("'%s': got '%s', want '%s'", in, err, msg);
    }
}

static void test_env_expansion(void **state)
{
    (void)state;
    setenv("PCT_A", "alpha", 1);
    setenv("PCT_EMPTY", "", 1);
    setenv("_u9", "x", 1);
    unsetenv("PCT_UNSET");
    expect_expand("plain", "plain");
    expect_expand("${env:PCT_A}", "alpha");
    expect_expand("${PCT_A}", "alpha");
    expect_expand("<${env:PCT_A}|${PCT_A}>", "<alpha|alpha>");
    expect_expand("${env:PCT_UNSET}", "");
    expect_expand("${env:PCT_UNSET:-dflt}", "dflt");
    expect_expand("${env:PCT_UNSET:-}", "");
    expect_expand("${env:PCT_UNSET:-a:b-c d}", "a:b-c d");
    expect_expand("${env:PCT_A:-dflt}", "alpha");
    expect_expand("${env:PCT_EMPTY:-dflt}", "");
    expect_expand("${_u9}", "x");
    expect_expand("$$", "$");
    expect_expand("$${env:PCT_A}", "${env:PCT_A}");
    expect_expand("$$$${PCT_A}", "$${PCT_A}");
    expect_expand("cost: $5", "cost: $5");
    expect_expand("trailing $", "trailing $");
    expect_expand("$PCT_A", "$PCT_A");
    expect_expand_error("${", "without a closing");
    expect_expand_error("x ${env:PCT_A", "without a closing");
    expect_expand_error("${}", "expected a variable name");
    expect_expand_error("${env:}", "expected a variable name");
    expect_expand_error("${env:9x}", "expected a variable name");
    expect_expand_error("${env:A-B}", "expected ${env:NAME}");
    expect_expand_error("${env:A B}", "expected ${env:NAME}");
    expect_expand_error("${env:A:x}", "expected ${env:NAME}");
    expect_expand_error("${file:/etc/passwd}", "unsupported provider");
    expect_expand_error("${https://x/y}", "unsupported provider");
    expect_expand_error("${env:A:-${env:B}}", "nested references");
}

static void test_env_reference_limit(void **state)
{
    char buf[101 * 8 + 1];
    size_t i;

    (void)state;
    setenv("PCT_A", "alpha", 1);
    for (i = 0; i < 100; i++) {
        memcpy(buf + 8 * i, "${PCT_A}", 8);
    }
    buf[8 * i] = '\0';
    {
        char err[256], *out;

        assert_int_equal(ynode_expand_env(buf, strlen(buf), &out, err,
                                          sizeof(err)),
                         PC_OK);
        assert_int_equal(strlen(out), 500);
        free(out);
    }
    memcpy(buf + 8 * i, "${PCT_A}", 9);
    expect_expand_error(buf, "more than 100");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations_good),
        cmocka_unit_test(test_durations_bad),
        cmocka_unit_test(test_sizes_good),
        cmocka_unit_test(test_sizes_bad),
        cmocka_unit_test(test_ints_and_bools),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_env_reference_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
