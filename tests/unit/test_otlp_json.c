/*
 * test_otlp_json.c: the OTLP/JSON codec (codec/otlp_json.c).
 *
 * Round trips against the binary codec on the committed OTLP requests and
 * pprof profiles (protobuf -> JSON -> protobuf must mean the same model as
 * the original, compared through the deterministic binary encoder), every
 * AnyValue type, hex ids, 64-bit integers as strings and numbers, snake_case
 * names, the response/status messages, and the errors with their messages.
 */
#include <dirent.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/otlp.h"
#include "codec/pb.h"
#include "codec/pprof.h"

/* ---- helpers --------------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *d;
    long n;

    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    d = malloc((size_t)n + 1);
    assert_non_null(d);
    assert_int_equal(fread(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return d;
}

/* The canonical bytes of a model: the binary encoder is deterministic. */
static void canon(const struct pdata *pd, struct buf *out)
{
    const struct pdata *in[1] = {pd};
    struct errctx e = {{0}};

    buf_init(out, 0);
    assert_int_equal(otlp_encode(in, 1, out, &e), 0);
}

static void assert_same_model(const struct pdata *a, const struct pdata *b)
{
    struct buf ca, cb;

    canon(a, &ca);
    canon(b, &cb);
    assert_int_equal(ca.len, cb.len);
    assert_memory_equal(ca.data, cb.data, ca.len);
    buf_free(&ca);
    buf_free(&cb);
}

/* protobuf -> JSON -> model must equal protobuf -> model; and the JSON of
 * the re-encoded model must be the same text (the transcoder is stable). */
static void roundtrip_pb(const uint8_t *data, size_t len, const char *name)
{
    struct errctx e = {{0}};
    struct pdata *direct = NULL, *viajson = NULL;
    struct buf json, json2, pb2;
    int rc;

    rc = otlp_decode(data, len, NULL, &direct, &e);
    if (rc != PC_OK) {
        fail_msg("%s: %s", name, e.msg);
    }
    buf_init(&json, 0);
    rc = otlp_pb_to_json(OTLP_JSON_REQUEST, data, len, &json, &e);
    if (rc != PC_OK) {
        fail_msg("%s: to json: %s", name, e.msg);
    }
    rc = otlp_json_decode((const char *)json.data, json.len, NULL, &viajson,
                          &e);
    if (rc != PC_OK) {
        fail_msg("%s: json decode: %s", name, e.msg);
    }
    assert_same_model(direct, viajson);
    /* JSON -> protobuf -> JSON gives the same text. */
    buf_init(&pb2, 0);
    assert_int_equal(otlp_json_to_pb(OTLP_JSON_REQUEST,
                                     (const char *)json.data, json.len, &pb2,
                                     &e),
                     0);
    buf_init(&json2, 0);
    assert_int_equal(otlp_pb_to_json(OTLP_JSON_REQUEST, pb2.data, pb2.len,
                                     &json2, &e),
                     0);
    assert_int_equal(json.len, json2.len);
    assert_memory_equal(json.data, json2.data, json.len);
    buf_free(&json);
    buf_free(&json2);
    buf_free(&pb2);
    pdata_free(direct);
    pdata_free(viajson);
}

static const char *corpus_dir(char *out, size_t n, const char *sub)
{
    const char *src = getenv("PROFCOL_SOURCE_DIR");

    snprintf(out, n, "%s/tests/fuzz/corpus/%s", src ? src : ".", sub);
    return out;
}

/* ---- round trips ----------------------------------------------------------- */

static void test_json_roundtrip_otlp_corpus(void **state)
{
    char dir[1024], path[2048];
    DIR *d;
    struct dirent *de;
    int n = 0;

    (void)state;
    d = opendir(corpus_dir(dir, sizeof(dir), "fuzz_otlp"));
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        size_t len;
        uint8_t *data;
        if (strstr(de->d_name, ".pb") == NULL) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        data = read_file(path, &len);
        roundtrip_pb(data, len, de->d_name);
        free(data);
        n++;
    }
    closedir(d);
    assert_true(n >= 5);
}

/* Real pprof profiles, converted the way `profcol convert --to otlp` does. */
static void test_json_roundtrip_pprof_corpus(void **state)
{
    static const char *const names[] = {"cpu_dense.pb", "cpu_dense.pb.gz",
                                        "sparse_ids.pb"};
    char dir[1024], path[2048];
    size_t i;

    (void)state;
    corpus_dir(dir, sizeof(dir), "fuzz_pprof");
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct errctx e = {{0}};
        struct pdata *pd = NULL, *back = NULL;
        struct buf json;
        size_t len;
        uint8_t *data;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        data = read_file(path, &len);
        if (pprof_decode(data, len, NULL, &pd, &e) != PC_OK) {
            fail_msg("%s: %s", names[i], e.msg);
        }
        buf_init(&json, 0);
        {
            const struct pdata *in[1] = {pd};
            assert_int_equal(otlp_json_encode(in, 1, &json, &e), 0);
        }
        assert_int_equal(otlp_json_decode((const char *)json.data, json.len,
                                          NULL, &back, &e),
                         0);
        /* The pprof's samples and sample types come back joined. */
        assert_int_equal(pdata_sample_count(back), pdata_sample_count(pd));
        assert_int_equal(pdata_profile_count(back), 1);
        assert_int_equal(
            back->resources[0].scopes[0].profiles[0].nsample_types,
            pd->resources[0].scopes[0].profiles[0].nsample_types);
        assert_same_model(pd, back);
        buf_free(&json);
        pdata_free(pd);
        pdata_free(back);
        free(data);
    }
}

/* ---- a hand-written request ----------------------------------------------- */

#define DICT                                                                  \
    "\"dictionary\":{"                                                        \
    "\"stringTable\":[\"\",\"cpu\",\"nanoseconds\",\"main\",\"k\"],"          \
    "\"functionTable\":[{},{\"nameStrindex\":3}],"                            \
    "\"locationTable\":[{},{\"lines\":[{\"functionIndex\":1,"                 \
    "\"line\":\"10\"}]}],"                                                    \
    "\"mappingTable\":[{},{\"memoryStart\":\"18446744073709551615\","         \
    "\"memoryLimit\":4096}],"                                                 \
    "\"stackTable\":[{},{\"locationIndices\":[1]}],"                          \
    "\"linkTable\":[{},{\"traceId\":\"0102030405060708090A0b0c0d0e0f10\","    \
    "\"spanId\":\"1112131415161718\"}],"                                      \
    "\"attributeTable\":[{},{\"keyStrindex\":4,"                              \
    "\"value\":{\"intValue\":\"-7\"}}]}"

#define PROFILE(samples)                                                      \
    "\"profiles\":[{\"sampleType\":{\"typeStrindex\":1,\"unitStrindex\":2},"  \
    "\"samples\":[" samples "],"                                              \
    "\"timeUnixNano\":\"1700000000000000000\",\"durationNano\":1000000000,"   \
    "\"periodType\":{\"typeStrindex\":1,\"unitStrindex\":2},"                 \
    "\"period\":\"10000000\","                                                \
    "\"profileId\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\"}]"

static const char *const request_json =
    "{\"resourceProfiles\":[{\"resource\":{\"attributes\":["
    "{\"key\":\"service.name\",\"value\":{\"stringValue\":\"svc\"}},"
    "{\"key\":\"b\",\"value\":{\"boolValue\":true}},"
    "{\"key\":\"i\",\"value\":{\"intValue\":\"-9223372036854775808\"}},"
    "{\"key\":\"i2\",\"value\":{\"intValue\":42}},"
    "{\"key\":\"d\",\"value\":{\"doubleValue\":1.5}},"
    "{\"key\":\"nan\",\"value\":{\"doubleValue\":\"NaN\"}},"
    "{\"key\":\"inf\",\"value\":{\"doubleValue\":\"-Infinity\"}},"
    "{\"key\":\"arr\",\"value\":{\"arrayValue\":{\"values\":["
    "{\"stringValue\":\"x\"},{\"intValue\":\"1\"}]}}},"
    "{\"key\":\"kv\",\"value\":{\"kvlistValue\":{\"values\":["
    "{\"key\":\"in\",\"value\":{\"boolValue\":false}}]}}},"
    "{\"key\":\"by\",\"value\":{\"bytesValue\":\"AAEC/w==\"}},"
    "{\"key\":\"empty\",\"value\":{}},"
    "{\"key\":\"zero\",\"value\":{\"intValue\":\"0\"}}"
    "]},\"scopeProfiles\":[{\"scope\":{\"name\":\"sc\",\"version\":\"1\"}," PROFILE(
        "{\"stackIndex\":1,\"values\":[\"5\",6],\"linkIndex\":1,"
        "\"attributeIndices\":[1],"
        "\"timestampsUnixNano\":[\"1700000000000000001\","
        "1700000000000000002]}") "}],\"schemaUrl\":\"https://x\",\"unknownField\":{\"a\":[1,2]}}]," DICT
                                 "}";

static const struct keyvalue *rattr(const struct pdata *pd, const char *k)
{
    const struct resource *r = &pd->resources[0].resource;
    uint32_t i;

    for (i = 0; i < r->nattrs; i++) {
        if (pstr_eq(r->attrs[i].key, k)) {
            return &r->attrs[i];
        }
    }
    fail_msg("attribute %s missing", k);
    return NULL;
}

static void test_json_every_anyvalue_type(void **state)
{
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    const struct anyvalue *v;
    int rc;

    (void)state;
    rc = otlp_json_decode(request_json, strlen(request_json), NULL, &pd, &e);
    if (rc != PC_OK) {
        fail_msg("%s", e.msg);
    }
    assert_int_equal(pd->nresources, 1);
    assert_true(pstr_eq(pd->resources[0].schema_url, "https://x"));
    v = &rattr(pd, "service.name")->value;
    assert_int_equal(v->type, AV_STRING);
    assert_true(pstr_eq(v->u.s, "svc"));
    v = &rattr(pd, "b")->value;
    assert_int_equal(v->type, AV_BOOL);
    assert_true(v->u.b);
    v = &rattr(pd, "i")->value;
    assert_int_equal(v->type, AV_INT);
    assert_true(v->u.i == INT64_MIN);
    assert_int_equal(rattr(pd, "i2")->value.u.i, 42);
    v = &rattr(pd, "d")->value;
    assert_int_equal(v->type, AV_DOUBLE);
    assert_true(v->u.d == 1.5);
    assert_true(isnan(rattr(pd, "nan")->value.u.d));
    assert_true(isinf(rattr(pd, "inf")->value.u.d) &&
                rattr(pd, "inf")->value.u.d < 0);
    v = &rattr(pd, "arr")->value;
    assert_int_equal(v->type, AV_ARRAY);
    assert_int_equal(v->u.arr.n, 2);
    assert_true(pstr_eq(v->u.arr.items[0].u.s, "x"));
    assert_int_equal(v->u.arr.items[1].u.i, 1);
    v = &rattr(pd, "kv")->value;
    assert_int_equal(v->type, AV_KVLIST);
    assert_int_equal(v->u.kv.n, 1);
    assert_true(pstr_eq(v->u.kv.items[0].key, "in"));
    assert_int_equal(v->u.kv.items[0].value.type, AV_BOOL);
    assert_false(v->u.kv.items[0].value.u.b);
    v = &rattr(pd, "by")->value;
    assert_int_equal(v->type, AV_BYTES);
    assert_int_equal(v->u.s.len, 4);
    assert_memory_equal(v->u.s.ptr, "\x00\x01\x02\xff", 4);
    assert_int_equal(rattr(pd, "empty")->value.type, AV_EMPTY);
    /* A oneof member at its default value is still that member. */
    v = &rattr(pd, "zero")->value;
    assert_int_equal(v->type, AV_INT);
    assert_int_equal(v->u.i, 0);
    pdata_free(pd);
}

static void test_json_ids_ints_profile(void **state)
{
    static const uint8_t trace[16] = {1, 2,  3,  4,  5,  6,  7,  8,
                                      9, 10, 11, 12, 13, 14, 15, 16};
    static const uint8_t span[8] = {0x11, 0x12, 0x13, 0x14,
                                    0x15, 0x16, 0x17, 0x18};
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    const struct profile *p;
    const struct sample *s;
    int rc;

    (void)state;
    rc = otlp_json_decode(request_json, strlen(request_json), NULL, &pd, &e);
    assert_int_equal(rc, 0);
    assert_int_equal(pd->dict.nlinks, 2);
    assert_memory_equal(pd->dict.links[1].trace_id, trace, 16);
    assert_memory_equal(pd->dict.links[1].span_id, span, 8);
    assert_true(pd->dict.mappings[1].memory_start == UINT64_MAX);
    assert_int_equal(pd->dict.mappings[1].memory_limit, 4096);
    assert_int_equal(pd->dict.locations[1].lines[0].line, 10);
    p = &pd->resources[0].scopes[0].profiles[0];
    assert_true(pd->resources[0].scopes[0].has_scope);
    assert_true(pstr_eq(pd->resources[0].scopes[0].scope.name, "sc"));
    assert_int_equal(p->time_nanos, 1700000000000000000LL);
    assert_int_equal(p->duration_nanos, 1000000000);
    assert_int_equal(p->period, 10000000);
    assert_int_equal(p->profile_id[0], 0xa0);
    assert_int_equal(p->profile_id[15], 0xaf);
    assert_int_equal(p->nsamples, 1);
    s = &p->samples[0];
    assert_int_equal(s->nvalues, 2);
    assert_int_equal(s->values[0], 5);
    assert_int_equal(s->values[1], 6);
    assert_int_equal(s->nts, 2);
    assert_true(sample_ts(s)[1] == 1700000000000000002ULL);
    assert_int_equal(s->link, 1);
    assert_int_equal(s->nattrs, 1);
    assert_int_equal(pd->dict.attrs[s->attrs[0]].value.u.i, -7);
    pdata_free(pd);
}

/* Encoding writes OTLP's forms: hex ids, strings for 64-bit ints. */
static void test_json_encode_forms(void **state)
{
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct buf json;
    const char *t;

    (void)state;
    assert_int_equal(otlp_json_decode(request_json, strlen(request_json), NULL,
                                      &pd, &e),
                     0);
    buf_init(&json, 0);
    {
        const struct pdata *in[1] = {pd};
        assert_int_equal(otlp_json_encode(in, 1, &json, &e), 0);
    }
    assert_int_equal(buf_putc(&json, 0), 0);
    t = (const char *)json.data;
    assert_non_null(
        strstr(t, "\"traceId\":\"0102030405060708090a0b0c0d0e0f10\""));
    assert_non_null(strstr(t, "\"spanId\":\"1112131415161718\""));
    assert_non_null(
        strstr(t, "\"profileId\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\""));
    assert_non_null(strstr(t, "\"memoryStart\":\"18446744073709551615\""));
    assert_non_null(strstr(t, "\"timeUnixNano\":\"1700000000000000000\""));
    assert_non_null(strstr(t, "\"intValue\":\"-9223372036854775808\""));
    assert_non_null(strstr(t, "\"doubleValue\":\"NaN\""));
    assert_non_null(strstr(t, "\"doubleValue\":\"-Infinity\""));
    assert_non_null(strstr(t, "\"bytesValue\":\"AAEC/w==\""));
    assert_non_null(strstr(t, "\"intValue\":\"0\""));
    assert_non_null(strstr(t, "\"resourceProfiles\":[{"));
    assert_null(strstr(t, "_strindex"));
    buf_free(&json);
    pdata_free(pd);
}

/* Original proto names, base64 ids and numbers where strings are usual. */
static void test_json_snake_case_and_base64_ids(void **state)
{
    static const char *const snake =
        "{\"resource_profiles\":[{\"scope_profiles\":[{\"profiles\":[{"
        "\"sample_type\":{\"type_strindex\":1},\"samples\":[{"
        "\"stack_index\":0,\"values\":[7],\"link_index\":1}],"
        "\"profile_id\":\"oKGio6SlpqeoqaqrrK2urw==\"}]}]}],"
        "\"dictionary\":{\"string_table\":[\"\",\"cpu\"],"
        "\"link_table\":[{},{\"trace_id\":\"AQIDBAUGBwgJCgsMDQ4PEA==\","
        "\"span_id\":\"ERITFBUWFxg=\"}]}}";
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    int rc;

    (void)state;
    rc = otlp_json_decode(snake, strlen(snake), NULL, &pd, &e);
    if (rc != PC_OK) {
        fail_msg("%s", e.msg);
    }
    assert_int_equal(pd->dict.links[1].trace_id[15], 16);
    assert_int_equal(pd->dict.links[1].span_id[7], 0x18);
    assert_int_equal(pd->resources[0].scopes[0].profiles[0].profile_id[1],
                     0xa1);
    assert_int_equal(
        pd->resources[0].scopes[0].profiles[0].samples[0].values[0], 7);
    pdata_free(pd);
}

static void test_json_response_and_status(void **state)
{
    struct errctx e = {{0}};
    struct buf pb, js;
    size_t mark = 0;

    (void)state;
    buf_init(&pb, 0);
    assert_int_equal(pb_msg_begin(&pb, 1, &mark), 0);
    assert_int_equal(pb_put_int(&pb, 1, 3), 0);
    assert_int_equal(pb_put_bytes(&pb, 2, "bad \"x\"\n", 8), 0);
    assert_int_equal(pb_msg_end(&pb, mark), 0);
    buf_init(&js, 0);
    assert_int_equal(otlp_pb_to_json(OTLP_JSON_RESPONSE, pb.data, pb.len, &js,
                                     &e),
                     0);
    assert_int_equal(buf_putc(&js, 0), 0);
    assert_string_equal((char *)js.data,
                        "{\"partialSuccess\":{\"rejectedProfiles\":\"3\","
                        "\"errorMessage\":\"bad \\\"x\\\"\\n\"}}");
    /* An empty response is {} and an empty partial_success stays. */
    buf_reset(&js);
    assert_int_equal(otlp_pb_to_json(OTLP_JSON_RESPONSE, NULL, 0, &js, &e), 0);
    assert_int_equal(js.len, 2);
    assert_memory_equal(js.data, "{}", 2);
    buf_reset(&pb);
    buf_reset(&js);
    assert_int_equal(pb_put_int(&pb, 1, 3), 0);
    assert_int_equal(pb_put_bytes(&pb, 2, "bad", 3), 0);
    assert_int_equal(otlp_pb_to_json(OTLP_JSON_STATUS, pb.data, pb.len, &js,
                                     &e),
                     0);
    assert_int_equal(buf_putc(&js, 0), 0);
    assert_string_equal((char *)js.data, "{\"code\":3,\"message\":\"bad\"}");
    /* And back. */
    buf_reset(&pb);
    assert_int_equal(otlp_json_to_pb(OTLP_JSON_STATUS, (char *)js.data,
                                     js.len - 1, &pb, &e),
                     0);
    assert_int_equal(pb.len, 7);
    buf_free(&pb);
    buf_free(&js);
}

/* Invalid UTF-8 in a protobuf string becomes U+FFFD, never invalid JSON. */
static void test_json_invalid_utf8(void **state)
{
    struct errctx e = {{0}};
    struct buf pb, js;
    size_t mark = 0;

    (void)state;
    buf_init(&pb, 0);
    assert_int_equal(pb_msg_begin(&pb, 2, &mark), 0);
    assert_int_equal(pb_put_bytes(&pb, 5, "", 0), 0);
    assert_int_equal(pb_put_bytes(&pb, 5,
                                  "a\xff"
                                  "b\xc3\xa9",
                                  5),
                     0);
    assert_int_equal(pb_msg_end(&pb, mark), 0);
    buf_init(&js, 0);
    assert_int_equal(otlp_pb_to_json(OTLP_JSON_REQUEST, pb.data, pb.len, &js,
                                     &e),
                     0);
    assert_int_equal(buf_putc(&js, 0), 0);
    assert_string_equal(
        (char *)js.data,
        "{\"dictionary\":{\"stringTable\":[\"\",\"a\xef\xbf\xbd"
        "b\xc3\xa9\"]}}");
    buf_free(&pb);
    buf_free(&js);
}

/* ---- errors ------------------------------------------------------------------ */

struct bad_case {
    const char *json;
    const char *want; /* substring of the message */
};

static void test_json_errors_named(void **state)
{
    static const struct bad_case cases[] = {
        {"", "empty body"},
        {"{\"resourceProfiles\": [", "line 1 column"},
        {"[]", "(top): expected an object"},
        {"{\"resourceProfiles\":{}}", "resourceProfiles: expected an array"},
        {"{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{"
         "\"samples\":[{\"values\":[\"12x\"]}]}]}]}]}",
         "resourceProfiles[0].scopeProfiles[0].profiles[0].samples[0]."
         "values[0]: \"12x\" is not an integer"},
        {"{\"dictionary\":{\"stackTable\":[{},{\"locationIndices\":"
         "[4294967296]}]}}",
         "dictionary.stackTable[1].locationIndices[0]: out of range"},
        {"{\"dictionary\":{\"mappingTable\":[{},{\"memoryStart\":\"-1\"}]}}",
         "is not an unsigned integer"},
        {"{\"dictionary\":{\"mappingTable\":[{},{\"memoryStart\":-1}]}}",
         "negative value"},
        {"{\"dictionary\":{\"linkTable\":[{},{\"traceId\":\"0102\"}]}}",
         "dictionary.linkTable[1].traceId: id must be 32 hex digits, got 4"},
        {"{\"dictionary\":{\"linkTable\":[{},{\"spanId\":\"zz12131415161718\"}]}}",
         "not a hex id"},
        {"{\"dictionary\":{\"stringTable\":[\"\",1]}}",
         "dictionary.stringTable[1]: expected a string, got an integer"},
        {"{\"dictionary\":{\"stringTable\":[\"\",null]}}",
         "null inside a list"},
        {"{\"resourceProfiles\":[{\"resource\":{\"attributes\":[{\"key\":\"k\","
         "\"value\":{\"bytesValue\":\"!!\"}}]}}]}",
         "value.bytesValue: not base64"},
        {"{\"resourceProfiles\":[{\"resource\":{\"attributes\":[{\"key\":\"k\","
         "\"value\":{\"boolValue\":\"true\"}}]}}]}",
         "expected true or false"},
        {"{\"resourceProfiles\":[{\"resource\":{\"attributes\":[{\"key\":\"k\","
         "\"value\":{\"doubleValue\":\"fast\"}}]}}]}",
         "not a number"},
        {"{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{"
         "\"period\":1.5}]}]}]}",
         "not an integer"},
        /* The binary decoder's rules apply, with its message. */
        {"{\"resourceProfiles\":[{\"scopeProfiles\":[{\"profiles\":[{"
         "\"samples\":[{\"stackIndex\":9}]}]}]}]}",
         "otlp: "},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct errctx e = {{0}};
        struct pdata *pd = NULL;
        int rc = otlp_json_decode(cases[i].json, strlen(cases[i].json), NULL,
                                  &pd, &e);
        if (rc == PC_OK) {
            fail_msg("case %zu accepted: %s", i, cases[i].json);
        }
        assert_null(pd);
        if (strstr(e.msg, cases[i].want) == NULL) {
            fail_msg("case %zu: message \"%s\" lacks \"%s\"", i, e.msg,
                     cases[i].want);
        }
    }
}

/* Deep AnyValue nesting is refused with a message, not a stack overflow. */
static void test_json_deep_nesting(void **state)
{
    struct buf j;
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    int i, rc;

    (void)state;
    buf_init(&j, 0);
    assert_int_equal(buf_append_str(&j, "{\"resourceProfiles\":[{\"resource\":"
                                        "{\"attributes\":[{\"key\":\"k\","
                                        "\"value\":"),
                     0);
    for (i = 0; i < 500; i++) {
        assert_int_equal(buf_append_str(&j, "{\"arrayValue\":{\"values\":["),
                         0);
    }
    for (i = 0; i < 500; i++) {
        assert_int_equal(buf_append_str(&j, "]}}"), 0);
    }
    assert_int_equal(buf_append_str(&j, "}]}}]}"), 0);
    rc = otlp_json_decode((const char *)j.data, j.len, NULL, &pd, &e);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(e.msg, "nested too deeply"));
    buf_free(&j);
}

/* The protobuf form is bounded by the caller's limit. */
static void test_json_output_bounded(void **state)
{
    struct errctx e = {{0}};
    struct buf pb;
    int rc;

    (void)state;
    buf_init(&pb, 64);
    rc = otlp_json_to_pb(OTLP_JSON_REQUEST, request_json, strlen(request_json),
                         &pb, &e);
    assert_int_equal(rc, PC_ETOOBIG);
    assert_non_null(strstr(e.msg, "exceeds 64 bytes"));
    buf_free(&pb);
}

/* Malformed protobuf is reported by the JSON writer, and nothing is left in
 * the output. */
static void test_json_from_bad_protobuf(void **state)
{
    static const uint8_t bad[] = {0x0a, 0x05, 0x12, 0x10};
    struct errctx e = {{0}};
    struct buf js;

    (void)state;
    buf_init(&js, 0);
    assert_int_not_equal(otlp_pb_to_json(OTLP_JSON_REQUEST, bad, sizeof(bad),
                                         &js, &e),
                         0);
    assert_int_equal(js.len, 0);
    assert_non_null(strstr(e.msg, "otlp json: "));
    buf_free(&js);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_roundtrip_otlp_corpus),
        cmocka_unit_test(test_json_roundtrip_pprof_corpus),
        cmocka_unit_test(test_json_every_anyvalue_type),
        cmocka_unit_test(test_json_ids_ints_profile),
        cmocka_unit_test(test_json_encode_forms),
        cmocka_unit_test(test_json_snake_case_and_base64_ids),
        cmocka_unit_test(test_json_response_and_status),
        cmocka_unit_test(test_json_invalid_utf8),
        cmocka_unit_test(test_json_errors_named),
        cmocka_unit_test(test_json_deep_nesting),
        cmocka_unit_test(test_json_output_bounded),
        cmocka_unit_test(test_json_from_bad_protobuf),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
