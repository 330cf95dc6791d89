/* test_proc_tracelink.c: the `tracelink` processor on a real Go CPU profile
 * whose samples carry otel-profiling-go span labels (cpu_spans.pb.gz: valid
 * span_id + trace_id, a legacy profile_id without trace id, and invalid
 * ids), on a profile without ids (must pass untouched), and on links made
 * by hand (links_to_labels). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proc_fixture.h"

static const struct profile *first_profile(const struct item *it)
{
    return &it->pd->pd->resources[0].scopes[0].profiles[0];
}

/* The string value of label key on s, or NULL. */
static const char *label(const struct pdata *pd, const struct sample *s,
                         const char *key, char *out, size_t len)
{
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[s->attrs[i]];
        if (pstr_eq(dict_str(&pd->dict, a->key), key) &&
            a->value.type == AV_STRING) {
            snprintf(out, len, "%.*s", (int)a->value.u.s.len,
                     a->value.u.s.ptr);
            return out;
        }
    }
    return NULL;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    size_t i;

    for (i = 0; i < n; i++) {
        snprintf(out + 2 * i, 3, "%02x", b[i]);
    }
}

static struct batch *spans_batch(void)
{
    struct batch *b = batch_new("test");

    assert_non_null(b);
    assert_non_null(fx_add_pprof(b, "cpu_spans.pb.gz"));
    return b;
}

static void test_labels_to_links(void **state)
{
    struct fx_proc p;
    struct batch *b = spans_batch();
    const struct pdata *pd;
    const struct profile *pr;
    uint32_t i, linked = 0, legacy = 0;
    char span[64], trace[64], hs[40], ht[40];

    (void)state;
    assert_int_equal(fx_proc_new(&p, "tracelink", ""), 0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_null(b->items[0].raw); /* changed: bytes dropped */
    pd = b->items[0].pd->pd;
    pr = first_profile(&b->items[0]);
    for (i = 0; i < pr->nsamples; i++) {
        const struct sample *s = &pr->samples[i];
        if (s->link > 0) {
            const struct link *l = &pd->dict.links[s->link];
            linked++;
            /* keep_labels: the labels agree with the link. */
            assert_non_null(label(pd, s, "span_id", span, sizeof(span)));
            assert_non_null(label(pd, s, "trace_id", trace, sizeof(trace)));
            hex(l->span_id, 8, hs);
            hex(l->trace_id, 16, ht);
            assert_string_equal(span, hs);
            assert_string_equal(trace, ht);
        } else {
            /* Invalid ids are removed from every sample. */
            assert_false(label(pd, s, "span_id", span, sizeof(span)) != NULL &&
                         strcmp(span, "not-a-span-id!!!") == 0);
            assert_null(label(pd, s, "trace_id", trace, sizeof(trace)) !=
                                    NULL &&
                                strcmp(trace,
                                       "00000000000000000000000000000000") == 0
                            ? "zero trace"
                            : NULL);
            legacy += label(pd, s, "profile_id", span, sizeof(span)) != NULL;
        }
    }
    assert_true(linked > 0);
    /* Four valid (trace, span) pairs in the fixture: deduplicated. */
    assert_int_equal(pd->dict.nlinks, 1 + 4);
    assert_true(fx_metric(&p,
                          "profcol_processor_tracelink_linked_samples_total"
                          "{processor=\"tracelink\"} ") == (long long)linked);
    assert_true(fx_metric(&p, "profcol_processor_tracelink_invalid_ids_total"
                              "{label=\"span_id\",processor=\"tracelink\"} ") >
                    0 ||
                fx_metric(&p,
                          "profcol_processor_tracelink_invalid_ids_total"
                          "{processor=\"tracelink\",label=\"span_id\"} ") > 0);
    if (legacy > 0) {
        assert_true(
            fx_metric(&p, "profcol_processor_tracelink_missing_trace_id_total"
                          "{processor=\"tracelink\"} ") >= legacy);
    }
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_keep_labels_false_and_drop(void **state)
{
    struct fx_proc p;
    struct batch *b = spans_batch();
    const struct pdata *pd;
    const struct profile *pr;
    uint32_t i;
    char t[64];

    (void)state;
    assert_int_equal(
        fx_proc_new(&p, "tracelink",
                    "keep_labels: false\ndrop_unlinked_samples: true\n"),
        0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    pd = b->items[0].pd->pd;
    pr = first_profile(&b->items[0]);
    assert_true(pr->nsamples > 0);
    assert_int_equal(b->items[0].nsamples, pr->nsamples);
    for (i = 0; i < pr->nsamples; i++) {
        const struct sample *s = &pr->samples[i];
        assert_true(s->link > 0);
        assert_null(label(pd, s, "span_id", t, sizeof(t)));
        assert_null(label(pd, s, "trace_id", t, sizeof(t)));
        assert_null(label(pd, s, "span_name", t, sizeof(t)));
    }
    assert_true(fx_metric(&p,
                          "profcol_processor_tracelink_dropped_samples_total"
                          "{processor=\"tracelink\"} ") > 0);
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_no_ids_untouched(void **state)
{
    struct fx_proc p;
    struct batch *b = batch_new("test");
    struct item *it;
    struct blob *raw;
    struct shared_pdata *sp;

    (void)state;
    it = fx_add_pprof(b, "cpu.pb.gz");
    assert_non_null(it);
    raw = it->raw;
    assert_int_equal(fx_proc_new(&p, "tracelink",
                                 "drop_unlinked_samples: true\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_ptr_equal(b->items[0].raw, raw);
    sp = b->items[0].pd;
    assert_non_null(sp);
    assert_int_equal(first_profile(&b->items[0])->nsamples,
                     pdata_sample_count(sp->pd));
    assert_true(pdata_sample_count(sp->pd) > 0);
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_links_to_labels(void **state)
{
    struct fx_proc p;
    struct batch *b = batch_new("test");
    struct pdata *pd = NULL;
    struct blob *raw;
    struct link l;
    struct profile *pr;
    struct buf enc;
    char path[512], t[64];
    int32_t li;
    struct errctx e;

    (void)state;
    assert_non_null(fx_path("cpu.pb.gz", path, sizeof(path)));
    raw = fx_read(path);
    assert_non_null(raw);
    assert_int_equal(pprof_decode(raw->data, raw->len, NULL, &pd, &e), 0);
    blob_unref(raw);
    memset(&l, 0, sizeof(l));
    memset(l.trace_id, 0xab, 16);
    memset(l.span_id, 0x01, 8);
    li = dict_add_link(pd, &l);
    assert_true(li > 0);
    pr = &pd->resources[0].scopes[0].profiles[0];
    pr->samples[0].link = li;
    assert_non_null(fx_add_pdata(b, pd));
    assert_int_equal(fx_proc_new(&p, "tracelink",
                                 "direction: links_to_labels\n"),
                     0);
    assert_int_equal(fx_proc_run(&p, b), 0);
    pd = b->items[0].pd->pd;
    pr = &pd->resources[0].scopes[0].profiles[0];
    assert_string_equal(label(pd, &pr->samples[0], "span_id", t, sizeof(t)),
                        "0101010101010101");
    assert_string_equal(label(pd, &pr->samples[0], "trace_id", t, sizeof(t)),
                        "abababababababababababababababab");
    assert_null(label(pd, &pr->samples[1], "span_id", t, sizeof(t)));
    /* The result is still a valid pprof. */
    buf_init(&enc, 1 << 28);
    assert_int_equal(pprof_encode(pd, pr, &enc, &e), 0);
    buf_free(&enc);
    fx_proc_free(&p);
    batch_unref(b);
}

static void test_bad_config(void **state)
{
    struct fx_proc p;

    (void)state;
    assert_int_not_equal(fx_proc_new(&p, "tracelink", "span_id_labels: []\n"),
                         0);
    assert_non_null(strstr(p.e.msg, "span_id_labels"));
    fx_proc_free(&p);
    assert_int_not_equal(fx_proc_new(&p, "tracelink", "direction: sideways\n"),
                         0);
    fx_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_labels_to_links),
        cmocka_unit_test(test_keep_labels_false_and_drop),
        cmocka_unit_test(test_no_ids_untouched),
        cmocka_unit_test(test_links_to_labels),
        cmocka_unit_test(test_bad_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
