/* test_proc_cardinality.c: the `cardinality` processor: series limits
 * (drop and strip), label lists, value length, labels per series, and the
 * sample-label value limit on a real Go CPU profile (pprof.Do labels
 * handler/tenant/worker/shard), checking that no sample value is lost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proc_fixture.h"

static struct item *series_item(struct batch *b, const char *pod)
{
    struct item *it = fx_add_pprof(b, "cpu.pb.gz");

    assert_non_null(it);
    assert_int_equal(item_set_attr_str(b, it, "service.name", "api", 3), 0);
    assert_int_equal(item_set_attr_str(b, it, "pod", pod, strlen(pod)), 0);
    return it;
}

static void test_series_drop_and_strip(void **state)
{
    struct fx_proc p;
    struct batch *b = batch_new("t");
    char t[64];

    (void)state;
    series_item(b, "a");
    series_item(b, "b");
    series_item(b, "c");
    series_item(b, "a");
    series_item(b, "d");
    assert_int_equal(fx_proc_new(&p, "cardinality", "max_series: 2\n"), 0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_int_equal(b->nitems, 3); /* a, b, a again */
    assert_string_equal(fx_attr(&b->items[2], "pod", t, sizeof(t)), "a");
    assert_int_equal(
        fx_metric(&p, "profcol_processor_cardinality_series_dropped_total"
                      "{processor=\"cardinality\"} "),
        2);
    fx_proc_free(&p);
    batch_unref(b);

    b = batch_new("t");
    series_item(b, "a");
    series_item(b, "b");
    assert_int_equal(
        fx_proc_new(&p, "cardinality",
                    "max_series: 1\naction: strip\nstrip_labels: [pod]\n"),
        0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_int_equal(b->nitems, 2);
    assert_null(item_attr(&b->items[1], "pod"));
    assert_string_equal(fx_attr(&b->items[1], "cardinality.limited", t,
                                sizeof(t)),
                        "true");
    assert_string_equal(fx_attr(&b->items[1], "service.name", t, sizeof(t)),
                        "api");
    assert_null(item_attr(&b->items[0], "cardinality.limited"));
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_label_limits(void **state)
{
    struct fx_proc p;
    struct batch *b = batch_new("t");
    struct item *it = series_item(b, "pod-1");
    char t[64];

    (void)state;
    assert_int_equal(item_set_attr_str(b, it, "a_long", "abcdefgh", 8), 0);
    assert_int_equal(item_set_attr_str(b, it, "b_utf8",
                                       "\xc3\xa9\xc3\xa9\xc3\xa9", 6),
                     0);
    assert_int_equal(item_set_attr_str(b, it, "c", "x", 1), 0);
    assert_int_equal(item_set_attr_str(b, it, "d", "y", 1), 0);
    assert_int_equal(item_set_attr_str(b, it, "__name__", "process_cpu", 11),
                     0);
    assert_int_equal(
        fx_proc_new(&p, "cardinality",
                    "deny_labels: ['po*']\nmax_label_value_length: 5\n"
                    "max_labels_per_series: 4\n"),
        0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    it = &b->items[0];
    assert_null(item_attr(it, "pod"));
    assert_string_equal(fx_attr(it, "a_long", t, sizeof(t)), "abcde");
    assert_string_equal(fx_attr(it, "b_utf8", t, sizeof(t)),
                        "\xc3\xa9\xc3\xa9");
    /* service.name and __name__ are protected; then a_long, b_utf8 by key. */
    assert_int_equal(it->nattrs, 4);
    assert_non_null(item_attr(it, "service.name"));
    assert_non_null(item_attr(it, "__name__"));
    assert_null(item_attr(it, "c"));
    assert_null(item_attr(it, "d"));
    assert_int_equal(
        fx_metric(&p, "profcol_processor_cardinality_labels_dropped_total"
                      "{processor=\"cardinality\",label=\"pod\"} "),
        1);
    assert_int_equal(
        fx_metric(&p, "profcol_processor_cardinality_values_truncated_total"
                      "{processor=\"cardinality\",label=\"a_long\"} "),
        1);
    fx_proc_free(&p);
    batch_unref(b);

    b = batch_new("t");
    it = series_item(b, "pod-1");
    assert_int_equal(item_set_attr_str(b, it, "env", "prod", 4), 0);
    assert_int_equal(fx_proc_new(&p, "cardinality", "allow_labels: [env]\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_null(item_attr(&b->items[0], "pod"));
    assert_non_null(item_attr(&b->items[0], "env"));
    assert_non_null(item_attr(&b->items[0], "service.name"));
    fx_proc_free(&p);
    batch_unref(b);
}

/* Sum of every value of every sample, per sample type. */
static void totals(const struct profile *pr, int64_t *sum, uint32_t n)
{
    uint32_t i, j;

    memset(sum, 0, n * sizeof(*sum));
    for (i = 0; i < pr->nsamples; i++) {
        for (j = 0; j < pr->samples[i].nvalues && j < n; j++) {
            sum[j] += pr->samples[i].values[j];
        }
    }
}

static uint32_t distinct_values(const struct pdata *pd,
                                const struct profile *pr, const char *key,
                                int *has_overflow)
{
    char seen[64][32];
    uint32_t n = 0, i, j, k;

    *has_overflow = 0;
    for (i = 0; i < pr->nsamples; i++) {
        for (j = 0; j < pr->samples[i].nattrs; j++) {
            const struct attr *a = &pd->dict.attrs[pr->samples[i].attrs[j]];
            char v[32];
            if (!pstr_eq(dict_str(&pd->dict, a->key), key)) {
                continue;
            }
            snprintf(v, sizeof(v), "%.*s", (int)a->value.u.s.len,
                     a->value.u.s.ptr);
            *has_overflow |= strcmp(v, "__overflow__") == 0;
            for (k = 0; k < n && strcmp(seen[k], v) != 0; k++) {
            }
            if (k == n && n < 64) {
                snprintf(seen[n++], sizeof(seen[0]), "%s", v);
            }
        }
    }
    return n;
}

static void test_sample_labels(void **state)
{
    struct fx_proc p;
    struct batch *b = batch_new("t");
    struct item *it = series_item(b, "p");
    const struct profile *pr;
    int64_t before[4], after[4];
    uint32_t nbefore;
    int over;
    struct buf enc;
    struct errctx e;

    (void)state;
    assert_int_equal(batch_item_decode(b, it, &e), 0);
    pr = &it->pd->pd->resources[0].scopes[0].profiles[0];
    totals(pr, before, 2);
    nbefore = pr->nsamples;
    assert_true(distinct_values(it->pd->pd, pr, "shard", &over) > 4);
    assert_int_equal(
        fx_proc_new(&p, "cardinality",
                    "sample_labels: {max_values: 4, keys: [shard]}\n"),
        0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    it = &b->items[0];
    assert_null(it->raw);
    pr = &it->pd->pd->resources[0].scopes[0].profiles[0];
    totals(pr, after, 2);
    assert_int_equal(before[0], after[0]);
    assert_int_equal(before[1], after[1]);
    assert_true(pr->nsamples <= nbefore); /* maybe merged */
    assert_int_equal(it->nsamples, pr->nsamples);
    assert_int_equal(distinct_values(it->pd->pd, pr, "shard", &over), 5);
    assert_true(over);
    /* Other keys untouched. */
    assert_true(distinct_values(it->pd->pd, pr, "handler", &over) > 4);
    assert_false(over);
    assert_true(
        fx_metric(
            &p, "profcol_processor_cardinality_sample_values_overflowed_total"
                "{processor=\"cardinality\",label=\"shard\"} ") > 0);
    buf_init(&enc, 1 << 28);
    assert_int_equal(pprof_encode(it->pd->pd, pr, &enc, &e), 0);
    buf_free(&enc);

    /* Same window: a new batch of the same profile; the admitted values are
     * remembered, a batch within the limit is not copied. */
    batch_unref(b);
    fx_proc_free(&p);
    b = batch_new("t");
    series_item(b, "p");
    assert_int_equal(fx_proc_new(&p, "cardinality",
                                 "sample_labels: {max_values: 1000}\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_non_null(b->items[0].raw);
    fx_proc_free(&p);
    batch_unref(b);
}

/* deny_labels / allow_labels reach the pprof labels of samples too, and
 * samples that became equal merge without losing a value. */
static void test_lists_sample_labels(void **state)
{
    static const char *const cfgs[] = {"deny_labels: [shard]\n",
                                       "allow_labels: [handler]\n"};
    struct fx_proc p;
    struct batch *b;
    struct item *it;
    const struct profile *pr;
    int64_t before[2], after[2];
    struct errctx e;
    uint32_t workers;
    int over;
    unsigned c;

    (void)state;
    for (c = 0; c < 2; c++) {
        b = batch_new("t");
        it = series_item(b, "p");
        assert_int_equal(batch_item_decode(b, it, &e), 0);
        pr = &it->pd->pd->resources[0].scopes[0].profiles[0];
        totals(pr, before, 2);
        assert_true(distinct_values(it->pd->pd, pr, "shard", &over) > 1);
        workers = distinct_values(it->pd->pd, pr, "worker", &over);
        assert_true(workers > 1);
        assert_int_equal(fx_proc_new(&p, "cardinality", cfgs[c]), 0);
        assert_int_equal(fx_proc_run(&p, b), 0);
        it = &b->items[0];
        pr = &it->pd->pd->resources[0].scopes[0].profiles[0];
        totals(pr, after, 2);
        assert_int_equal(before[0], after[0]);
        assert_int_equal(before[1], after[1]);
        assert_int_equal(distinct_values(it->pd->pd, pr, "shard", &over), 0);
        assert_true(distinct_values(it->pd->pd, pr, "handler", &over) > 1);
        assert_int_equal(distinct_values(it->pd->pd, pr, "worker", &over),
                         c == 0 ? workers : 0);
        assert_true(c == 0 ||
                    distinct_values(it->pd->pd, pr, "tenant", &over) == 0);
        assert_true(
            fx_metric(&p, "profcol_processor_cardinality_labels_dropped_total"
                          "{processor=\"cardinality\",label=\"shard\"} ") > 0);
        fx_proc_free(&p);
        batch_unref(b);
    }
}

static int has_key(const struct pdata *pd, const struct sample *s,
                   const char *key)
{
    uint32_t j;

    for (j = 0; j < s->nattrs; j++) {
        if (pstr_eq(dict_str(&pd->dict, pd->dict.attrs[s->attrs[j]].key),
                    key)) {
            return 1;
        }
    }
    return 0;
}

/* Hand-built edge case from the real profile: every sample gets the stack
 * and labels of a sample with a shard label, and its own shard value; with
 * max_values 1 all but the first become __overflow__ and merge into one
 * sample with summed values. */
static void test_overflow_merges(void **state)
{
    struct fx_proc p;
    struct batch *b = batch_new("t");
    struct item *it = series_item(b, "p");
    struct pdata *pd;
    struct profile *pr;
    struct sample tmpl;
    int64_t before[2], after[2];
    uint32_t i, j;
    struct errctx e;

    (void)state;
    assert_int_equal(batch_item_payload_mut(b, it, &pd, &e), 0);
    pr = &pd->resources[0].scopes[0].profiles[0];
    assert_true(pr->nsamples > 3);
    /* The template must carry a shard label: the profile's first sample
     * may come from outside pprof.Do. */
    for (i = 0; i < pr->nsamples && !has_key(pd, &pr->samples[i], "shard");
         i++) {
    }
    assert_true(i < pr->nsamples);
    tmpl = pr->samples[i];
    pr->samples[i] = pr->samples[0];
    pr->samples[0] = tmpl;
    for (i = 1; i < pr->nsamples; i++) {
        struct sample *s = &pr->samples[i];
        s->stack = pr->samples[0].stack;
        s->nattrs = pr->samples[0].nattrs;
        s->attrs = arena_memdup(&pd->arena, pr->samples[0].attrs,
                                s->nattrs * sizeof(int32_t));
        for (j = 0; j < s->nattrs; j++) {
            struct attr a = pd->dict.attrs[s->attrs[j]];
            char v[16];
            if (pstr_eq(dict_str(&pd->dict, a.key), "shard")) {
                snprintf(v, sizeof(v), "s%u", i);
                a.value.u.s = dict_str(&pd->dict,
                                       dict_string(pd, v, strlen(v)));
                s->attrs[j] = dict_add_attr(pd, &a);
            }
        }
    }
    totals(pr, before, 2);
    assert_int_equal(
        fx_proc_new(&p, "cardinality",
                    "sample_labels: {max_values: 1, keys: [shard]}\n"),
        0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    pr = &b->items[0].pd->pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(pr->nsamples, 2);
    totals(pr, after, 2);
    assert_int_equal(before[0], after[0]);
    assert_int_equal(before[1], after[1]);
    fx_proc_free(&p);
    batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series_drop_and_strip),
        cmocka_unit_test(test_label_limits),
        cmocka_unit_test(test_sample_labels),
        cmocka_unit_test(test_overflow_merges),
        cmocka_unit_test(test_lists_sample_labels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
