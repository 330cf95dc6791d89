/*
 * test_datadog.c: the parsers behind the `datadog` receiver (event JSON and
 * the old forms' fields, RFC 3339 times, tags and their attribute names,
 * attachment kinds and compressions, the label rewrite of span ids) and the
 * pieces of the `datadog` exporter (family, attachment names, tags, the
 * multipart body, read back with the receiver's parsers).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <lz4frame.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/compress.h"
#include "codec/multipart.h"
#include "component/batch.h"
#include "exporters/datadog/ddexp.h"
#include "receivers/datadog/dd.h"

static void test_time(void **state)
{
    (void)state;
    assert_int_equal(dd_time_parse("1970-01-01T00:00:01Z"), 1000000000LL);
    assert_int_equal(dd_time_parse("2026-12-05T23:06:29.402Z"),
                     1796511989402000000LL);
    assert_int_equal(dd_time_parse("2026-12-05T23:06:29.123456789Z"),
                     1796511989123456789LL);
    assert_int_equal(dd_time_parse("2026-12-06T01:06:29.402+02:00"),
                     1796511989402000000LL);
    assert_int_equal(dd_time_parse("2026-12-05T23:06:29"), -1);
    assert_int_equal(dd_time_parse("2026-13-05T23:06:29Z"), -1);
    assert_int_equal(dd_time_parse("yesterday"), -1);
    assert_int_equal(dd_time_parse("2026-12-05T23:06:29Zjunk"), -1);
    assert_int_equal(dd_time_parse("4052-12-05T23:06:29Z"), -1); /* > int64 */
    assert_int_equal(dd_time_parse("1969-12-31T23:59:59Z"), -1);
}

static void test_tags(void **state)
{
    char s[] = "language:javascript,service:web,url:http://h:1/p,,:x,"
               "novalue,env:,service:web2";
    struct dd_tag t[8];
    uint32_t n = dd_tags_split(s, t, 8);

    (void)state;
    assert_int_equal(n, 5);
    assert_string_equal(t[2].key, "url");
    assert_string_equal(t[2].value, "http://h:1/p"); /* split at first ':' */
    assert_string_equal(dd_tag_get(t, n, "service"), "web2"); /* last wins */
    assert_string_equal(dd_tag_get(t, n, "env"), "");
    assert_null(dd_tag_get(t, n, "novalue"));
    assert_string_equal(dd_tag_attr("service"), "service.name");
    assert_string_equal(dd_tag_attr("env"), "deployment.environment.name");
    assert_string_equal(dd_tag_attr("version"), "service.version");
    assert_string_equal(dd_tag_attr("host"), "host.name");
    assert_string_equal(dd_tag_attr("runtime-id"), "service.instance.id");
    assert_string_equal(dd_tag_attr("team"), "team");
    assert_string_equal(dd_language("javascript", "node"), "nodejs");
    assert_string_equal(dd_language(NULL, "node"), "nodejs");
    assert_string_equal(dd_language("jvm", "java"), "java");
    assert_string_equal(dd_language(NULL, "go"), "go");
    assert_string_equal(dd_language("python", ""), "python");
    assert_null(dd_language(NULL, ""));
}

static int event(const char *json, struct dd_event *ev, struct errctx *e)
{
    return dd_event_json((const uint8_t *)json, strlen(json), ev, e);
}

static void test_event_json(void **state)
{
    static struct dd_event ev;
    struct errctx e = {{0}};

    (void)state;
    assert_int_equal(
        event("{\"attachments\":[\"wall.pprof\",\"space.pprof\"],"
              "\"start\":\"2026-12-05T23:06:29.402Z\","
              "\"end\":\"2026-12-05T23:06:39.402Z\",\"family\":\"node\","
              "\"version\":\"4\",\"tags_profiler\":\"service:a,env:b\","
              "\"info\":{\"x\":[1,2]},\"endpoint_counts\":{\"GET /\":3}}",
              &ev, &e),
        PC_OK);
    assert_int_equal(ev.version, 4);
    assert_string_equal(ev.family, "node");
    assert_int_equal(ev.nattach, 2);
    assert_string_equal(ev.attach[1], "space.pprof");
    assert_int_equal(ev.end_ns - ev.start_ns, 10000000000LL);
    assert_string_equal(ev.tags, "service:a,env:b");

    assert_int_equal(event("{\"attachments\":[", &ev, &e), PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "bad JSON"));
    assert_int_equal(event("[]", &ev, &e), PC_ECORRUPT);
    assert_int_equal(event("{\"start\":\"2026-12-05T23:06:29Z\",\"end\":"
                           "\"2026-12-05T23:06:29Z\"}",
                           &ev, &e),
                     PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "attachments"));
    assert_int_equal(event("{\"attachments\":[1],\"start\":\"2026-12-05T23:"
                           "06:29Z\",\"end\":\"2026-12-05T23:06:29Z\"}",
                           &ev, &e),
                     PC_ECORRUPT);
    assert_int_equal(event("{\"attachments\":[],\"version\":\"3\"}", &ev, &e),
                     PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "version"));
    assert_int_equal(
        event("{\"attachments\":[],\"start\":\"now\",\"end\":\"later\"}", &ev,
              &e),
        PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "RFC 3339"));
    assert_int_equal(event("{\"attachments\":[],\"start\":1,\"end\":2}", &ev,
                           &e),
                     PC_ECORRUPT);
}

static void field(struct mpart *p, const char *name, const char *value)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    p->data = (const uint8_t *)value;
    p->len = strlen(value);
}

static void test_event_old_forms(void **state)
{
    static struct dd_event ev;
    struct errctx e = {{0}};
    struct mpart p[6];

    (void)state;
    field(&p[0], "version", "3");
    field(&p[1], "family", "go");
    field(&p[2], "start", "2026-12-05T23:06:29Z");
    field(&p[3], "end", "2026-12-05T23:07:29Z");
    field(&p[4], "tags[]", "service:s");
    field(&p[5], "tags[]", "env:e");
    assert_int_equal(dd_event_read(p, 6, &ev, &e), PC_OK);
    assert_int_equal(ev.version, 3);
    assert_string_equal(ev.family, "go");
    assert_string_equal(ev.tags, "service:s,env:e");

    field(&p[0], "recording-start", "2026-12-05T23:06:29Z");
    field(&p[1], "recording-end", "2026-12-05T23:07:29Z");
    field(&p[2], "runtime", "nodejs");
    assert_int_equal(dd_event_read(p, 3, &ev, &e), PC_OK);
    assert_int_equal(ev.version, 1);
    assert_string_equal(ev.family, "node");

    field(&p[0], "something", "else");
    assert_int_equal(dd_event_read(p, 1, &ev, &e), PC_EFORMAT);
    assert_non_null(strstr(e.msg, "event"));
}

static void test_attachments(void **state)
{
    /* `lz4` of "plain bytes, plain bytes, plain bytes!": one compressed
     * block with an overlapping match, content checksum on. */
    static const uint8_t lz4[] = {0x04, 0x22, 0x4d, 0x18, 0x64, 0x40, 0xa7,
                                  0x17, 0x00, 0x00, 0x00, 0xdf, 0x70, 0x6c,
                                  0x61, 0x69, 0x6e, 0x20, 0x62, 0x79, 0x74,
                                  0x65, 0x73, 0x2c, 0x20, 0x0d, 0x00, 0x01,
                                  0x50, 0x79, 0x74, 0x65, 0x73, 0x21, 0x00,
                                  0x00, 0x00, 0x00, 0x51, 0x0e, 0x87, 0x37};
    const char *lz4_text = "plain bytes, plain bytes, plain bytes!";
    const char *text = "plain bytes";
    uint8_t bad[sizeof(lz4)];
    struct errctx e = {{0}};
    struct buf gz, out;

    (void)state;
    assert_int_equal(dd_attach_kind("cpu.pprof"), DD_ATT_PPROF);
    assert_int_equal(dd_attach_kind("wall.pb.gz"), DD_ATT_PPROF);
    assert_int_equal(dd_attach_kind("pprof-data"), DD_ATT_PPROF);
    assert_int_equal(dd_attach_kind("main.jfr"), DD_ATT_JFR);
    assert_int_equal(dd_attach_kind("metrics.json"), DD_ATT_OTHER);
    assert_int_equal(dd_codec_sniff(lz4, sizeof(lz4)), DD_LZ4);
    buf_init(&gz, 0);
    buf_init(&out, 0);
    assert_int_equal(gz_compress((const uint8_t *)text, strlen(text), &gz, 1),
                     PC_OK);
    assert_int_equal(dd_codec_sniff(gz.data, gz.len), DD_GZIP);
    assert_int_equal(dd_attach_inflate(gz.data, gz.len, 100, &out, &e), PC_OK);
    assert_memory_equal(out.data, text, strlen(text));
    out.len = 0;
    assert_int_equal(dd_attach_inflate(gz.data, gz.len, 4, &out, &e),
                     PC_ETOOBIG);
    assert_int_equal(dd_attach_inflate(gz.data, gz.len - 3, 100, &out, &e),
                     PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "gzip"));

    out.len = 0;
    assert_int_equal(dd_attach_inflate(lz4, sizeof(lz4), 100, &out, &e),
                     PC_OK);
    assert_int_equal(out.len, strlen(lz4_text));
    assert_memory_equal(out.data, lz4_text, out.len);
    out.len = 0;
    assert_int_equal(dd_attach_inflate(lz4, sizeof(lz4), 20, &out, &e),
                     PC_ETOOBIG);
    memcpy(bad, lz4, sizeof(bad));
    bad[sizeof(bad) - 1] ^= 1; /* content checksum */
    out.len = 0;
    assert_int_equal(dd_attach_inflate(bad, sizeof(bad), 100, &out, &e),
                     PC_ECORRUPT);
    assert_non_null(strstr(e.msg, "lz4"));
    memcpy(bad, lz4, sizeof(bad));
    bad[25] = 0xff; /* match offset 255: before the start */
    bad[26] = 0x00;
    out.len = 0;
    assert_int_equal(dd_attach_inflate(bad, sizeof(bad), 100, &out, &e),
                     PC_ECORRUPT);
    out.len = 0;
    assert_int_equal(dd_attach_inflate(lz4, 20, 100, &out, &e), PC_ECORRUPT);

    out.len = 0;
    assert_int_equal(dd_attach_inflate((const uint8_t *)text, strlen(text),
                                       100, &out, &e),
                     PC_OK);
    assert_int_equal(out.len, strlen(text));
    buf_free(&gz);
    buf_free(&out);
}

/* An LZ4 frame of n zero bytes with the given block size and dictionary
 * id (liblz4's encoder, as `lz4` would write it), appended to out. */
static void lz4_zeros(size_t n, LZ4F_blockSizeID_t bsize, unsigned dict_id,
                      struct buf *out)
{
    LZ4F_preferences_t prefs;
    uint8_t *zeros = calloc(1, n);
    size_t bound, got;

    memset(&prefs, 0, sizeof(prefs));
    prefs.frameInfo.blockSizeID = bsize;
    prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
    prefs.frameInfo.dictID = dict_id;
    bound = LZ4F_compressFrameBound(n, &prefs);
    assert_non_null(zeros);
    assert_int_equal(buf_reserve(out, bound), PC_OK);
    got = LZ4F_compressFrame(out->data + out->len, bound, zeros, n, &prefs);
    assert_false(LZ4F_isError(got));
    out->len += got;
    free(zeros);
}

static void test_lz4_bounds(void **state)
{
    const size_t mib = 1 << 20;
    struct errctx e = {{0}};
    struct buf in, out;
    size_t i;

    (void)state;
    buf_init(&in, 0);
    buf_init(&out, 0);
    /* A bomb (1 MiB of zeros in a few KiB) is cut at the cap, and the
     * output buffer never grew past it. */
    lz4_zeros(mib, LZ4F_max64KB, 0, &in);
    assert_true(in.len < mib / 100);
    assert_int_equal(dd_attach_inflate(in.data, in.len, 100000, &out, &e),
                     PC_ETOOBIG);
    assert_non_null(strstr(e.msg, "lz4: decompressed size over the limit"));
    assert_true(out.len <= 100000 && out.cap <= 100000);
    /* Exactly at the cap fits. */
    buf_free(&out);
    buf_init(&out, 0);
    assert_int_equal(dd_attach_inflate(in.data, in.len, mib, &out, &e), PC_OK);
    assert_int_equal(out.len, mib);
    for (i = 0; i < out.len && out.data[i] == 0; i++) {
    }
    assert_int_equal(i, mib);
    /* Frames one after the other, the second with 4 MiB blocks. */
    lz4_zeros(1000, LZ4F_max4MB, 0, &in);
    out.len = 0;
    assert_int_equal(dd_attach_inflate(in.data, in.len, 2 * mib, &out, &e),
                     PC_OK);
    assert_int_equal(out.len, mib + 1000);
    out.len = 0;
    assert_int_equal(dd_attach_inflate(in.data, in.len, mib + 999, &out, &e),
                     PC_ETOOBIG);
    /* A frame wanting a preset dictionary. */
    in.len = 0;
    lz4_zeros(1000, LZ4F_max64KB, 7, &in);
    out.len = 0;
    assert_int_equal(dd_attach_inflate(in.data, in.len, mib, &out, &e),
                     PC_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "dictionary"));
    /* Garbage after a good frame. */
    in.len = 0;
    lz4_zeros(1000, LZ4F_max64KB, 0, &in);
    assert_int_equal(buf_append(&in, "junk", 4), PC_OK);
    out.len = 0;
    assert_int_equal(dd_attach_inflate(in.data, in.len, mib, &out, &e),
                     PC_ECORRUPT);
    buf_free(&in);
    buf_free(&out);
}

static int32_t add_label(struct pdata *pd, const char *key, int is_str,
                         const char *s, int64_t i)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    a.key = dict_add_string(pd, key, strlen(key));
    a.value.type = is_str ? AV_STRING : AV_INT;
    if (is_str) {
        a.value.u.s.ptr = s;
        a.value.u.s.len = (uint32_t)strlen(s);
    } else {
        a.value.u.i = i;
    }
    return dict_add_attr(pd, &a);
}

static const char *key_of(const struct pdata *pd, int32_t i, char *buf)
{
    struct pstr k = dict_str(&pd->dict, pd->dict.attrs[i].key);

    snprintf(buf, 64, "%.*s", (int)k.len, k.ptr);
    return buf;
}

static const char *str_of(const struct pdata *pd, int32_t i, char *buf)
{
    const struct anyvalue *v = &pd->dict.attrs[i].value;

    assert_int_equal(v->type, AV_STRING);
    snprintf(buf, 64, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    return buf;
}

static void test_labels(void **state)
{
    struct pdata *pd = pdata_new(0);
    int32_t go, node, dd, root, thr, plain, bad;
    char b[64];

    (void)state;
    assert_int_equal(dict_init(pd), PC_OK);
    go = add_label(pd, "span id", 1, "1311768467463790320", 0);
    node = add_label(pd, "span id", 0, NULL, 4660);
    dd = add_label(pd, "local root span id", 0, NULL, -2); /* uint64 bits */
    root = add_label(pd, "local root span id", 1, "18446744073709551615", 0);
    thr = add_label(pd, "thread name", 1, "Main Event Loop", 0);
    plain = add_label(pd, "trace_endpoint", 1, "GET /", 0);
    bad = add_label(pd, "span id", 1, "-5", 0);
    assert_int_equal(dd_labels_normalize(pd), 6);
    assert_string_equal(key_of(pd, go, b), "span_id");
    assert_string_equal(str_of(pd, go, b), "123456789abcdef0");
    assert_string_equal(str_of(pd, node, b), "0000000000001234");
    assert_string_equal(key_of(pd, dd, b), "local_root_span_id");
    assert_string_equal(str_of(pd, dd, b), "fffffffffffffffe");
    assert_string_equal(str_of(pd, root, b), "ffffffffffffffff");
    assert_string_equal(key_of(pd, thr, b), "thread_name");
    assert_string_equal(str_of(pd, thr, b), "Main Event Loop");
    assert_string_equal(key_of(pd, plain, b), "trace_endpoint");
    /* Not a uint64: zero, which tracelink counts as invalid and drops. */
    assert_string_equal(str_of(pd, bad, b), "0000000000000000");
    assert_int_equal(pd->dict.attrs[go].key, pd->dict.attrs[node].key);
    assert_int_equal(dd_labels_normalize(pd), 0); /* idempotent */

    /* The exporter's inverse, and back: the same ids. */
    assert_true(ddexp_labels_wanted(pd));
    assert_int_equal(ddexp_labels_rewrite(pd), PC_OK);
    assert_string_equal(key_of(pd, go, b), "span id");
    assert_string_equal(str_of(pd, go, b), "1311768467463790320");
    assert_string_equal(key_of(pd, dd, b), "local root span id");
    assert_string_equal(str_of(pd, dd, b), "18446744073709551614");
    assert_string_equal(key_of(pd, thr, b), "thread name");
    assert_string_equal(key_of(pd, plain, b), "trace endpoint");
    assert_false(ddexp_labels_wanted(pd));
    assert_int_equal(dd_labels_normalize(pd), 7); /* trace_endpoint too */
    assert_string_equal(str_of(pd, go, b), "123456789abcdef0");
    assert_string_equal(str_of(pd, dd, b), "fffffffffffffffe");
    pdata_free(pd);
}

static void test_export_names(void **state)
{
    char n[64];

    (void)state;
    assert_string_equal(ddexp_family("nodejs"), "node");
    assert_string_equal(ddexp_family("go"), "go");
    assert_string_equal(ddexp_family(NULL), "native");
    assert_string_equal(ddexp_family("cobol"), "native");
    ddexp_attach_name("go", "process_cpu", n, sizeof(n));
    assert_string_equal(n, "cpu.pprof");
    ddexp_attach_name("go", "block", n, sizeof(n));
    assert_string_equal(n, "delta-block.pprof");
    ddexp_attach_name("node", "memory", n, sizeof(n));
    assert_string_equal(n, "space.pprof");
    ddexp_attach_name("python", "process_cpu", n, sizeof(n));
    assert_string_equal(n, "profile.pprof");
    ddexp_attach_name("native", "we\"ird/name", n, sizeof(n));
    assert_string_equal(n, "we_ird_name.pprof");
    ddexp_time(1796511989402000000LL, n, sizeof(n));
    assert_string_equal(n, "2026-12-05T23:06:29.402000000Z");
    assert_int_equal(dd_time_parse(n), 1796511989402000000LL);
}

/* An exporter upload read back by the receiver's parsers. */
static void test_export_body(void **state)
{
    static struct dd_event ev;
    struct batch *b = batch_new("test");
    struct item *it = batch_add_item(b);
    char *keys[] = {"team", "env"}, *values[] = {"core", "override"};
    struct cfg_map extra = {keys, values, 2};
    struct ddexp_upload u;
    struct mpart parts[8];
    struct errctx e = {{0}};
    struct buf tags, body;
    uint32_t n;

    (void)state;
    assert_non_null(it);
    assert_int_equal(item_set_attr_str(b, it, "service.name", "svc", 3), 0);
    assert_int_equal(item_set_attr_str(b, it, "deployment.environment.name",
                                       "prod", 4),
                     0);
    assert_int_equal(item_set_attr_str(b, it, "telemetry.sdk.language",
                                       "nodejs", 6),
                     0);
    assert_int_equal(item_set_attr_str(b, it, "url", "a,b", 3), 0);
    assert_int_equal(item_set_attr_str(b, it, "__name__", "wall", 4), 0);
    buf_init(&tags, 0);
    assert_int_equal(ddexp_tags(it, "node", &extra, &tags), 0);
    assert_int_equal(buf_append(&tags, "", 1), 0);
    assert_string_equal(
        (const char *)tags.data,
        "service:svc,language:javascript,url:a_b,team:core,"
        "env:override,profiler_version:profcol-" PROFCOL_VERSION);

    memset(&u, 0, sizeof(u));
    u.item = it;
    snprintf(u.family, sizeof(u.family), "node");
    u.start_ns = 1796511989000000000LL;
    u.end_ns = u.start_ns + 5000000000LL;
    u.natt = 2;
    snprintf(u.att[0].name, sizeof(u.att[0].name), "wall.pprof");
    snprintf(u.att[1].name, sizeof(u.att[1].name), "space.pprof");
    buf_init(&u.att[0].data, 0);
    buf_init(&u.att[1].data, 0);
    assert_int_equal(buf_append(&u.att[0].data, "W\r\n--xx", 7), 0);
    assert_int_equal(buf_append(&u.att[1].data, "S", 1), 0);
    buf_init(&body, 0);
    assert_int_equal(ddexp_body(&u, (const char *)tags.data, "bnd42", &body),
                     0);
    assert_int_equal(mpart_parse(body.data, body.len, "bnd42", MPART_FIELDS,
                                 parts, 8, &n, &e),
                     PC_OK);
    assert_int_equal(n, 3);
    assert_string_equal(parts[0].filename, "event.json");
    assert_string_equal(parts[1].name, "wall.pprof");
    assert_string_equal(parts[1].filename, "wall.pprof");
    assert_int_equal(parts[1].len, 7);
    assert_memory_equal(parts[1].data, "W\r\n--xx", 7);
    assert_int_equal(dd_event_read(parts, n, &ev, &e), PC_OK);
    assert_int_equal(ev.version, 4);
    assert_string_equal(ev.family, "node");
    assert_int_equal(ev.nattach, 2);
    assert_int_equal(ev.start_ns, u.start_ns);
    assert_int_equal(ev.end_ns, u.end_ns);
    assert_string_equal(ev.tags, (const char *)tags.data);
    buf_free(&u.att[0].data);
    buf_free(&u.att[1].data);
    buf_free(&tags);
    buf_free(&body);
    batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_tags),
        cmocka_unit_test(test_event_json),
        cmocka_unit_test(test_event_old_forms),
        cmocka_unit_test(test_attachments),
        cmocka_unit_test(test_lz4_bounds),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_export_names),
        cmocka_unit_test(test_export_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
