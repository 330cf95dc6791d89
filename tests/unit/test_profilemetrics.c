/* test_profilemetrics.c: the profilemetrics exporter's parts: the series
 * store (max_series, text exposition, remote-write protobuf), the snappy
 * literal encoding, name sanitising, and rules evaluated on a real Go CPU
 * profile (total, function regex, sample-label group). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <snappy-c.h>

#include "exporters/profilemetrics/pm_remote.h"
#include "exporters/profilemetrics/pm_rules.h"
#include "model/pdata_iter.h"
#include "model/pdata_merge.h"
#include "proc_fixture.h"

static struct pstr ps(const char *s)
{
    struct pstr p = {s, (uint32_t)strlen(s)};

    return p;
}

static char *render(struct pm_store *s)
{
    struct buf out;
    size_t len;

    buf_init(&out, 1 << 20);
    assert_int_equal(pm_store_render(s, &out), 0);
    assert_int_equal(buf_putc(&out, 0), 0);
    return (char *)buf_take(&out, &len);
}

static void test_store(void **state)
{
    struct pm_family f;
    struct pm_store *s;
    struct pstr v[2];
    struct buf wr;
    char *text;

    (void)state;
    memset(&f, 0, sizeof(f));
    snprintf(f.name, sizeof(f.name), "cpu_seconds_total");
    f.help = "h";
    f.nlabels = 2;
    snprintf(f.labels[0], sizeof(f.labels[0]), "service_name");
    snprintf(f.labels[1], sizeof(f.labels[1]), "env");
    pm_family_sort(&f);
    assert_int_equal(f.order[0], 1); /* env < service_name */
    assert_int_equal(pm_store_new(&f, 1, 2, &s), 0);
    v[0] = ps("a");
    v[1] = ps("p\"x");
    assert_int_equal(pm_store_add(s, 0, v, 1.5), 0);
    assert_int_equal(pm_store_add(s, 0, v, 1.0), 0);
    v[0] = ps("b");
    assert_int_equal(pm_store_add(s, 0, v, 2.0), 0);
    v[0] = ps("c");
    assert_int_equal(pm_store_add(s, 0, v, 2.0), PC_ETOOBIG);
    assert_int_equal(pm_store_refused(s), 1);
    assert_int_equal(pm_store_size(s), 2);
    text = render(s);
    assert_non_null(strstr(text, "# TYPE cpu_seconds_total counter\n"));
    assert_non_null(strstr(text, "cpu_seconds_total{service_name=\"a\","
                                 "env=\"p\\\"x\"} 2.5\n"));
    free(text);
    buf_init(&wr, 1 << 20);
    assert_int_equal(pm_store_write_request(s, 1000, &wr), 0);
    /* Two TimeSeries (field 1, length-delimited) at the top level. */
    assert_int_equal(wr.data[0], 0x0a);
    assert_true(memmem(wr.data, wr.len, "__name__", 8) != NULL);
    assert_true(memmem(wr.data, wr.len, "env", 3) <
                memmem(wr.data, wr.len, "service_name", 12));
    buf_free(&wr);
    pm_store_free(s);
}

static void test_snappy(void **state)
{
    uint8_t in[3000];
    char back[sizeof(in)];
    size_t i, n = sizeof(back);
    struct errctx e = {{0}};
    struct buf out;

    (void)state;
    assert_int_equal(pm_snappy_load(&e), 0);
    /* Repetitive, as series labels are: snappy must make it smaller. */
    for (i = 0; i < sizeof(in); i++) {
        in[i] = (uint8_t)(i % 30);
    }
    buf_init(&out, 1 << 20);
    assert_int_equal(pm_snappy_compress(in, sizeof(in), &out), 0);
    assert_true(out.len < sizeof(in) / 4);
    /* varint 3000 leads the block, then it decodes back to in. */
    assert_int_equal(out.data[0], (3000 & 0x7f) | 0x80);
    assert_int_equal(out.data[1], 3000 >> 7);
    assert_int_equal(snappy_uncompress((const char *)out.data, out.len, back,
                                       &n),
                     SNAPPY_OK);
    assert_int_equal(n, sizeof(in));
    assert_memory_equal(back, in, n);
    /* Appends after what out holds. */
    assert_int_equal(pm_snappy_compress(in, 0, &out), 0);
    assert_int_equal(out.data[out.len - 1], 0);
    buf_free(&out);
}

static void test_names(void **state)
{
    char n[64];

    (void)state;
    pm_metric_name("__cpu.seconds-total", n, sizeof(n));
    assert_string_equal(n, "cpu_seconds_total");
    pm_metric_name("9lives", n, sizeof(n));
    assert_string_equal(n, "_9lives");
    pm_label_name("service.name", 12, n, sizeof(n));
    assert_string_equal(n, "service_name");
    pm_label_name("__name__", 8, n, sizeof(n));
    assert_string_equal(n, "name__");
}

static double series_value(struct pm_store *s, const char *line)
{
    char *text = render(s), *hit = strstr(text, line);
    double v = hit != NULL ? strtod(hit + strlen(line), NULL) : -1;

    if (hit == NULL) {
        fprintf(stderr, "no '%s' in:\n%s", line, text);
    }

    free(text);
    return v;
}

static void test_rules_on_go_profile(void **state)
{
    struct pm_rule_cfg c[3];
    char *gb0[] = {"service_name"}, *gb2[] = {"span_name"};
    struct pm_rules *r;
    struct errctx e = {{0}};
    struct batch *b = batch_new("t");
    struct item *it = fx_add_pprof(b, "cpu.pb.gz");
    struct pdata_iter w;
    double total;

    (void)state;
    assert_non_null(it);
    assert_int_equal(item_set_attr_str(b, it, "service.name", "api", 3), 0);
    memset(c, 0, sizeof(c));
    c[0].name = "cpu_total";
    c[0].selector = "{__name__=\"process_cpu\"}";
    c[0].sample_type = "cpu";
    c[0].group_by.items = gb0;
    c[0].group_by.n = 1;
    c[1].name = "cpu_runtime";
    c[1].selector = "";
    c[1].sample_type = "cpu";
    c[1].function = "^runtime\\.";
    c[2].name = "cpu_by_span";
    c[2].selector = "{service_name=\"other\"}";
    c[2].sample_type = "cpu";
    c[2].group_by.items = gb2;
    c[2].group_by.n = 1;
    assert_int_equal(pm_rules_new(c, 3, 100, &r, &e), 0);
    assert_int_equal(pm_rules_eval_item(r, b, it, &e), 0);
    pdata_iter_init(&w, it->pd->pd, it->resource);
    total = (double)pdata_profile_total(pdata_iter_next(&w), 1) / 1e9;
    assert_true(total > 0);
    /* A sum of per-sample seconds: equal to the total within the
     * rounding of that many additions. */
    assert_true(fabs(series_value(pm_rules_store(r),
                                  "cpu_total{service_name=\"api\"} ") -
                     total) <= total * 1e-9);
    /* Some of the CPU is in the runtime, not all of it. */
    assert_true(series_value(pm_rules_store(r), "\ncpu_runtime ") > 0);
    assert_true(series_value(pm_rules_store(r), "\ncpu_runtime ") < total);
    /* The selector of the third rule matches nothing. */
    assert_true(series_value(pm_rules_store(r), "cpu_by_span{") < 0);
    assert_true(series_value(pm_rules_store(r),
                             "profilemetrics_profiles_total{service_name="
                             "\"api\",profile_type=\"process_cpu\"} ") == 1);
    pm_rules_free(r);
    batch_unref(b);
}

static void test_bad_rules(void **state)
{
    struct pm_rule_cfg c;
    struct pm_rules *r = NULL;
    struct errctx e = {{0}};

    (void)state;
    memset(&c, 0, sizeof(c));
    c.name = "x";
    c.sample_type = "cpu";
    c.function = "(unclosed";
    assert_int_equal(pm_rules_new(&c, 1, 10, &r, &e), PC_ECONFIG);
    assert_non_null(strstr(e.msg, "function"));
    c.function = NULL;
    c.selector = "{a=~\"(\"}";
    assert_true(pm_rules_new(&c, 1, 10, &r, &e) != 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_store),
        cmocka_unit_test(test_snappy),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_rules_on_go_profile),
        cmocka_unit_test(test_bad_rules),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
