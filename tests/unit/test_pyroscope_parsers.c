/*
 * test_pyroscope_parsers.c: the parsers behind the `pyroscope` receiver:
 * the `name` state machine (quirks included), attime, multipart bodies
 * (preamble, LF-only, no-filename parts, boundary look-alikes, missing
 * close), folded/lines text (last-space split, bad counts, merging,
 * sample-rate scaling), profile-type suffixes, sample_type_config,
 * metric names and Connect JSON push requests.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/multipart.h"
#include "codec/pprof.h"
#include "receivers/pyroscope/pyro.h"

static struct pyro_name nm;

static int parse_name(const char *s)
{
    struct errctx e = {{0}};

    return pyro_name_parse(s, strlen(s), &nm, &e);
}

static void test_name_basic(void **state)
{
    (void)state;
    assert_int_equal(parse_name("app"), 0);
    assert_string_equal(nm.app, "app");
    assert_int_equal(nm.nlabels, 0);
    assert_int_equal(parse_name(" my.app-1/x { env = prod , region=eu-1 }"),
                     0);
    assert_string_equal(nm.app, "my.app-1/x");
    assert_int_equal(nm.nlabels, 2);
    assert_string_equal(pyro_name_get(&nm, "env"), "prod");
    assert_string_equal(pyro_name_get(&nm, "region"), "eu-1");
    /* Last duplicate wins; '=' inside a value is kept; no quoting. */
    assert_int_equal(parse_name("a{k=1,k=2,q=x=y,s=\"v\"}"), 0);
    assert_string_equal(pyro_name_get(&nm, "k"), "2");
    assert_string_equal(pyro_name_get(&nm, "q"), "x=y");
    assert_string_equal(pyro_name_get(&nm, "s"), "\"v\"");
    assert_int_equal(nm.nlabels, 3);
    /* '}' ends parsing; what follows is ignored. */
    assert_int_equal(parse_name("a{k=v}garbage{x=y}"), 0);
    assert_int_equal(nm.nlabels, 1);
    /* __name__ is reserved: it replaces the app name. */
    assert_int_equal(parse_name("a{__name__=other,b=c}"), 0);
    assert_string_equal(nm.app, "other");
    assert_null(pyro_name_get(&nm, "__name__x"));
}

static void test_name_quirks(void **state)
{
    (void)state;
    /* Unclosed: the pair never ends, so it is never set. */
    assert_int_equal(parse_name("a{j=1,k=v"), 0);
    assert_null(pyro_name_get(&nm, "k"));
    assert_string_equal(pyro_name_get(&nm, "j"), "1");
    /* A key without '=' is dropped. */
    assert_int_equal(parse_name("a{k}"), 0);
    assert_int_equal(nm.nlabels, 0);
    assert_int_equal(parse_name("a{x=1,}"), 0);
    assert_int_equal(nm.nlabels, 1);
    assert_int_equal(parse_name("a{}"), 0);
    /* Empty value is allowed. */
    assert_int_equal(parse_name("a{k=}"), 0);
    assert_string_equal(pyro_name_get(&nm, "k"), "");
}

static void test_name_errors(void **state)
{
    struct errctx e = {{0}};

    (void)state;
    assert_int_equal(pyro_name_parse("", 0, &nm, &e), PC_EINVAL);
    assert_non_null(strstr(e.msg, "service name is required"));
    assert_int_equal(parse_name("  {a=b}"), PC_EINVAL);
    assert_int_equal(parse_name("my app"), PC_EINVAL);
    assert_int_equal(parse_name("app:1"), PC_EINVAL);
    assert_int_equal(parse_name("app{a-b=c}"), PC_EINVAL);
    assert_int_equal(parse_name("app{=c}"), PC_EINVAL);
    assert_int_equal(pyro_name_parse("a{b c=1}", 8, &nm, &e), PC_EINVAL);
    assert_non_null(strstr(e.msg, "invalid tag key"));
    /* __name__ set to empty: no service name. */
    assert_int_equal(parse_name("a{__name__=}"), PC_EINVAL);
}

static void test_attime(void **state)
{
    const int64_t now = 1700000000LL * 1000000000LL;

    (void)state;
    assert_true(pyro_attime("1600000000", now) == 1600000000LL * 1000000000LL);
    assert_true(pyro_attime("1600000000123", now) ==
                1600000000123LL * 1000000LL);
    assert_true(pyro_attime("1600000000123456", now) ==
                1600000000123456LL * 1000LL);
    assert_true(pyro_attime("1600000000123456789", now) ==
                1600000000123456789LL);
    assert_true(pyro_attime("1_600_000_000", now) ==
                1600000000LL * 1000000000LL);
    assert_true(pyro_attime("20200102", now) == 1577923200LL * 1000000000LL);
    /* Not a date: seconds. */
    assert_true(pyro_attime("20201301", now) == 20201301LL * 1000000000LL);
    assert_true(pyro_attime("", now) == now);
    assert_true(pyro_attime("now", now) == now);
    assert_true(pyro_attime("now-1h", now) == now - 3600LL * 1000000000LL);
    assert_true(pyro_attime("-10s", now) == now - 10LL * 1000000000LL);
    assert_true(pyro_attime("-1d+2min", now) ==
                now - 86400LL * 1000000000LL + 120LL * 1000000000LL);
    assert_true(pyro_attime("yesterday", now) == now);
    assert_true(pyro_attime("99999999999999999999", now) == now);
    assert_true(pyro_attime("9999999999999999", now) == now);
}

static const char mp_body[] =
    "preamble line\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"field\"\r\n"
    "\r\n"
    "not a file\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"profile\"; filename=\"p.pprof\"\r\n"
    "Content-Type: application/octet-stream\r\n"
    "\r\n"
    "AB\r\n--XyZnot-a-boundary\r\nCD\r\n"
    "--XyZ  \r\n"
    "Content-Disposition: form-data; name=\"sample_type_config\"; "
    "filename=\"c.json\"\r\n"
    "\r\n"
    "{}\r\n"
    "--XyZ--\r\n"
    "epilogue";

static void test_multipart(void **state)
{
    struct mpart parts[8];
    struct errctx e = {{0}};
    char b[64];
    uint32_t n;
    const struct mpart *p;

    (void)state;
    assert_int_equal(mpart_boundary("multipart/form-data; boundary=XyZ", b,
                                    sizeof(b)),
                     0);
    assert_string_equal(b, "XyZ");
    assert_int_equal(
        mpart_boundary("multipart/form-data; charset=x; boundary=\"a;b c\"", b,
                       sizeof(b)),
        0);
    assert_string_equal(b, "a;b c");
    assert_int_not_equal(mpart_boundary("text/plain", b, sizeof(b)), 0);
    assert_int_not_equal(mpart_boundary("multipart/form-data", b, sizeof(b)),
                         0);

    assert_int_equal(mpart_parse((const uint8_t *)mp_body, strlen(mp_body),
                                 "XyZ", 0, parts, 8, &n, &e),
                     0);
    assert_int_equal(n, 2); /* the part without filename is invisible */
    assert_null(mpart_get(parts, n, "field"));
    p = mpart_get(parts, n, "profile");
    assert_non_null(p);
    assert_int_equal(p->len, strlen("AB\r\n--XyZnot-a-boundary\r\nCD"));
    assert_memory_equal(p->data, "AB\r\n--XyZnot-a-boundary\r\nCD", p->len);
    assert_string_equal(p->content_type, "application/octet-stream");
    p = mpart_get(parts, n, "sample_type_config");
    assert_non_null(p);
    assert_int_equal(p->len, 2);
}

static void test_multipart_edges(void **state)
{
    const char *lf = "--b\nContent-Disposition: form-data; name=profile; "
                     "filename=x\n\nDATA\n--b--\n";
    const char *empty = "--b\r\nContent-Disposition: form-data; name=\"p\"; "
                        "filename=\"x\"\r\n\r\n--b--";
    const char *open = "--b\r\nContent-Disposition: form-data; name=\"p\"; "
                       "filename=\"x\"\r\n\r\nDATA";
    const char *none = "--b--\r\n";
    struct mpart parts[2];
    struct errctx e = {{0}};
    uint32_t n;

    (void)state;
    assert_int_equal(mpart_parse((const uint8_t *)lf, strlen(lf), "b", 0,
                                 parts, 2, &n, &e),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].len, 4);
    assert_memory_equal(parts[0].data, "DATA", 4);
    assert_int_equal(mpart_parse((const uint8_t *)empty, strlen(empty), "b", 0,
                                 parts, 2, &n, &e),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(parts[0].len, 0);
    assert_int_equal(mpart_parse((const uint8_t *)open, strlen(open), "b", 0,
                                 parts, 2, &n, &e),
                     PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "closing boundary"));
    assert_int_equal(mpart_parse((const uint8_t *)none, strlen(none), "b", 0,
                                 parts, 2, &n, &e),
                     0);
    assert_int_equal(n, 0);
    assert_int_equal(mpart_parse((const uint8_t *)"junk", 4, "b", 0, parts, 2,
                                 &n, &e),
                     PC_ECORRUPT);
}

static const struct profile *first_profile(const struct pdata *pd)
{
    return &pd->resources[0].scopes[0].profiles[0];
}

static void test_folded(void **state)
{
    const char *txt = "main;foo;bar baz 10\r\n"
                      "main;foo 5\n"
                      "no-count-line\n"
                      "\n"
                      "main;foo;bar baz 3\n";
    struct pyro_ptype pt;
    struct pdata *pd = NULL;
    struct errctx e = {{0}};
    const struct profile *p;
    struct buf out;
    uint32_t i;
    int64_t total = 0;

    (void)state;
    assert_int_equal(pyro_profile_type("cpu", 3, &pt), 0);
    assert_string_equal(pt.metric, "process_cpu");
    assert_int_equal(pyro_profile_type("app", 3, &pt), PC_ENOTFOUND);
    assert_int_equal(pyro_profile_type("alloc_space", 11, &pt), 0);
    assert_string_equal(pt.metric, "memory");
    assert_string_equal(pt.unit, "bytes");

    assert_int_equal(pyro_profile_type("cpu", 3, &pt), 0);
    assert_int_equal(pyro_folded_parse((const uint8_t *)txt, strlen(txt),
                                       PYRO_TEXT_FOLDED, &pt, 100, 42, 0, &pd,
                                       &e),
                     0);
    assert_non_null(pd);
    p = first_profile(pd);
    assert_int_equal(p->nsamples, 2); /* identical stacks merged */
    assert_int_equal(p->period, 10000000);
    assert_int_equal(p->time_nanos, 42);
    assert_true(pstr_eq(dict_str(&pd->dict, p->sample_types[0].type), "cpu"));
    assert_true(pstr_eq(dict_str(&pd->dict, p->sample_types[0].unit),
                        "nanoseconds"));
    for (i = 0; i < p->nsamples; i++) {
        total += p->samples[i].values[0];
    }
    assert_true(total == 18LL * 10000000LL);
    /* The frame with a space stayed whole (split at the LAST space), and
     * the leaf is first. */
    {
        const struct stack *st = &pd->dict.stacks[p->samples[0].stack];
        const struct location *l = &pd->dict.locations[stack_loc(st, 0)];
        const struct function *f = &pd->dict.functions[l->lines[0].function];
        assert_int_equal(st->n, 3);
        assert_true(pstr_eq(dict_str(&pd->dict, f->name), "bar baz"));
    }
    buf_init(&out, 0);
    assert_int_equal(pprof_encode(pd, p, &out, &e), 0);
    buf_free(&out);
    pdata_free(pd);

    /* Bad counts fail. */
    assert_int_equal(pyro_folded_parse((const uint8_t *)"a;b x1\n", 7,
                                       PYRO_TEXT_FOLDED, &pt, 100, 0, 0, &pd,
                                       &e),
                     PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "x1"));
    assert_int_equal(
        pyro_folded_parse((const uint8_t *)"a 99999999999999999999", 22,
                          PYRO_TEXT_FOLDED, &pt, 100, 0, 0, &pd, &e),
        PC_ECORRUPT);
    /* Nothing countable: no profile. */
    assert_int_equal(pyro_folded_parse((const uint8_t *)"abc\n\n", 5,
                                       PYRO_TEXT_FOLDED, &pt, 100, 0, 0, &pd,
                                       &e),
                     0);
    assert_null(pd);
}

static void test_lines_and_unscaled(void **state)
{
    const char *txt = "a;b\na;b\na;c\n";
    struct pyro_ptype pt;
    struct pdata *pd = NULL;
    struct errctx e = {{0}};
    const struct profile *p;

    (void)state;
    assert_int_equal(pyro_profile_type("inuse_objects", 13, &pt), 0);
    assert_int_equal(pyro_folded_parse((const uint8_t *)txt, strlen(txt),
                                       PYRO_TEXT_LINES, &pt, 100, 0, 0, &pd,
                                       &e),
                     0);
    p = first_profile(pd);
    assert_int_equal(p->nsamples, 2);
    assert_int_equal(p->samples[0].values[0], 2);
    assert_true(pstr_eq(dict_str(&pd->dict, p->sample_types[0].type),
                        "inuse_objects"));
    assert_int_equal(pd->dict.nfunctions, 4); /* zero entry + a, b, c */
    pdata_free(pd);
    /* sampleRate 0: no scaling. */
    assert_int_equal(pyro_profile_type("cpu", 3, &pt), 0);
    assert_int_equal(pyro_folded_parse((const uint8_t *)"x 7", 3,
                                       PYRO_TEXT_FOLDED, &pt, 0, 0, 0, &pd,
                                       &e),
                     0);
    p = first_profile(pd);
    assert_int_equal(p->samples[0].values[0], 7);
    assert_true(pstr_eq(dict_str(&pd->dict, p->sample_types[0].type),
                        "samples"));
    pdata_free(pd);
}

/* A pdata with the given sample types, for naming tests. */
static struct pdata *with_types(const char *const *types, uint32_t n)
{
    struct pdata *pd = pdata_new(0);
    struct profile *p;
    uint32_t i;

    dict_init(pd);
    p = pdata_add_profile(pd, pdata_add_scope(pd, pdata_add_resource(pd)));
    p->nsample_types = n;
    p->sample_types = arena_calloc(&pd->arena, n, sizeof(*p->sample_types));
    for (i = 0; i < n; i++) {
        p->sample_types[i].type = dict_string(pd, types[i], strlen(types[i]));
        p->sample_types[i].unit = dict_string(pd, "count", 5);
    }
    return pd;
}

static void test_metric_names(void **state)
{
    static const char *const cpu[] = {"samples", "cpu"};
    static const char *const wall[] = {"samples", "wall"};
    static const char *const heap[] = {"objects", "space"};
    static const char *const block[] = {"contentions", "delay"};
    static const char *const gor[] = {"goroutine"};
    static const char *const odd[] = {"a", "b"};
    const char *json = "{\"contentions\":{\"display-name\":\"block_count\","
                       "\"units\":\"lock_samples\"},\"delay\":"
                       "{\"display-name\":\"block_duration\"},\"bad\":3}";
    struct pyro_stc stc[4];
    struct errctx e = {{0}};
    struct pdata *pd;
    uint32_t n;
    char m[64];

    (void)state;
    pd = with_types(cpu, 2);
    pyro_metric_name(pd, NULL, 0, 0, m, sizeof(m));
    assert_string_equal(m, "process_cpu");
    pdata_free(pd);
    pd = with_types(wall, 2);
    pyro_metric_name(pd, NULL, 0, 0, m, sizeof(m));
    assert_string_equal(m, "wall");
    pdata_free(pd);
    pd = with_types(heap, 2);
    pyro_metric_name(pd, NULL, 0, 0, m, sizeof(m));
    assert_string_equal(m, "memory");
    pdata_free(pd);
    pd = with_types(gor, 1);
    pyro_metric_name(pd, NULL, 0, 0, m, sizeof(m));
    assert_string_equal(m, "goroutines");
    pdata_free(pd);
    pd = with_types(odd, 2);
    pyro_metric_name(pd, NULL, 0, 0, m, sizeof(m));
    assert_string_equal(m, "b");
    pdata_free(pd);

    /* Block without config is (as in Pyroscope) mutex; with it, block. */
    pd = with_types(block, 2);
    pyro_metric_name(pd, NULL, 0, 0, m, sizeof(m));
    assert_string_equal(m, "mutex");
    assert_int_equal(pyro_stc_parse((const uint8_t *)json, strlen(json), stc,
                                    4, &n, &e),
                     0);
    assert_int_equal(n, 2);
    assert_int_equal(pyro_stc_apply(pd, stc, n), 1);
    pyro_metric_name(pd, stc, n, 1, m, sizeof(m));
    assert_string_equal(m, "block");
    assert_true(pstr_eq(dict_str(&pd->dict,
                                 first_profile(pd)->sample_types[0].unit),
                        "lock_samples"));
    pdata_free(pd);
    assert_int_equal(pyro_stc_parse((const uint8_t *)"{nope", 5, stc, 4, &n,
                                    &e),
                     PC_ECORRUPT);
}

static void test_connect_json(void **state)
{
    const char *ok = "{\"series\":[{\"labels\":[{\"name\":\"__name__\","
                     "\"value\":\"process_cpu\"},{\"name\":\"service_name\","
                     "\"value\":\"svc\"}],\"samples\":[{\"rawProfile\":"
                     "\"aGVsbG8=\",\"ID\":\"u-1\"},{\"raw_profile\":null}]},"
                     "{\"labels\":null}],\"unknownField\":1}";
    const char *bad[] = {
        "[]",
        "{\"series\":{}}",
        "{\"series\":[1]}",
        "{\"series\":[{\"labels\":[{\"name\":1}]}]}",
        "{\"series\":[{\"samples\":[{\"rawProfile\":\"!!\"}]}]}",
        "{\"series\":[{\"samples\":[{\"rawProfile\":5}]}]}",
        "{",
    };
    struct pyro_push p;
    struct errctx e = {{0}};
    size_t i;

    (void)state;
    assert_int_equal(pyro_push_decode_json((const uint8_t *)ok, strlen(ok), &p,
                                           &e),
                     0);
    assert_int_equal(p.nseries, 2);
    assert_int_equal(p.series[0].nlabels, 2);
    assert_string_equal(p.series[0].labels[1].name, "service_name");
    assert_string_equal(p.series[0].labels[1].value, "svc");
    assert_int_equal(p.series[0].nsamples, 2);
    assert_int_equal(p.series[0].samples[0].len, 5);
    assert_memory_equal(p.series[0].samples[0].raw, "hello", 5);
    assert_int_equal(p.series[0].samples[1].len, 0);
    assert_int_equal(p.series[1].nlabels, 0);
    pyro_push_free(&p);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pyro_push_decode_json((const uint8_t *)bad[i],
                                               strlen(bad[i]), &p, &e),
                         PC_ECORRUPT);
        assert_true(e.msg[0] != '\0');
    }
    /* Proto: an empty body is an empty request; garbage fails. */
    assert_int_equal(pyro_push_decode_proto((const uint8_t *)"", 0, &p, &e),
                     0);
    assert_int_equal(p.nseries, 0);
    pyro_push_free(&p);
    assert_int_equal(pyro_push_decode_proto((const uint8_t *)"\x0a\xff", 2, &p,
                                            &e),
                     PC_ECORRUPT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_basic),
        cmocka_unit_test(test_name_quirks),
        cmocka_unit_test(test_name_errors),
        cmocka_unit_test(test_attime),
        cmocka_unit_test(test_multipart),
        cmocka_unit_test(test_multipart_edges),
        cmocka_unit_test(test_folded),
        cmocka_unit_test(test_lines_and_unscaled),
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_connect_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
