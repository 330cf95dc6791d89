/* test_proc_aggregate.c: the `aggregate` processor on real Go profiles:
 * items taken into windows, one output per series and type on flush, sums
 * exact, a lone profile passed on untouched, group_by, drop_sample_labels,
 * max_bytes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "model/pdata_iter.h"
#include "model/pdata_merge.h"
#include "proc_fixture.h"

static struct batch *emitted;

static int capture(struct component_host *host, struct batch *b,
                   struct errctx *e)
{
    (void)host;
    (void)e;
    assert_null(emitted);
    emitted = b;
    return PC_OK;
}

static struct item *add(struct batch *b, const char *file, const char *svc,
                        const char *env)
{
    struct item *it = fx_add_pprof(b, file);

    assert_non_null(it);
    assert_int_equal(item_set_attr_str(b, it, "service.name", svc,
                                       strlen(svc)),
                     0);
    assert_int_equal(item_set_attr_str(b, it, "env", env, strlen(env)), 0);
    return it;
}

/* Sum of sample type vi over every profile of an item. */
static int64_t item_total(struct batch *b, struct item *it, uint32_t vi)
{
    struct errctx e = {{0}};
    struct pdata_iter w;
    struct profile *p;
    int64_t v = 0;

    assert_int_equal(batch_item_decode(b, it, &e), 0);
    pdata_iter_init(&w, it->pd->pd, it->resource);
    while ((p = pdata_iter_next(&w)) != NULL) {
        v += pdata_profile_total(p, vi);
    }
    return v;
}

static int64_t file_total(const char *file, uint32_t vi)
{
    struct batch *b = batch_new("t");
    struct item *it = fx_add_pprof(b, file);
    int64_t v = item_total(b, it, vi);

    batch_unref(b);
    return v;
}

static struct item *find(struct batch *b, const char *svc, uint32_t nst)
{
    uint32_t i;
    char v[64];

    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        struct errctx e = {{0}};
        struct pdata_iter w;
        struct profile *p;
        assert_int_equal(batch_item_decode(b, it, &e), 0);
        pdata_iter_init(&w, it->pd->pd, it->resource);
        p = pdata_iter_next(&w);
        if (fx_attr(it, "service.name", v, sizeof(v)) != NULL &&
            strcmp(v, svc) == 0 && p != NULL && p->nsample_types == nst) {
            return it;
        }
    }
    return NULL;
}

static void flush(struct fx_proc *p)
{
    p->f->ops.processor.flush(p->ctx);
}

static void test_windows_sum_exact(void **state)
{
    struct batch *b = batch_new("t");
    struct fx_proc p;
    struct item *it;
    struct profile *pr;
    struct pdata_iter w;

    (void)state;
    assert_int_equal(fx_proc_new(&p, "aggregate", "window: 60s"), 0);
    p.host.emit = capture;
    add(b, "cpu.pb.gz", "a", "prod");
    add(b, "cpu.pb.gz", "a", "prod");
    add(b, "cpu.pb.gz", "a", "prod");
    add(b, "heap.pb.gz", "a", "prod");
    add(b, "heap.pb.gz", "a", "prod");
    add(b, "cpu.pb.gz", "b", "prod");
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_int_equal(b->nitems, 0);
    batch_unref(b);
    assert_null(emitted);
    flush(&p);
    assert_non_null(emitted);
    assert_int_equal(emitted->nitems, 3);
    it = find(emitted, "a", 2);
    assert_non_null(it);
    assert_null(it->raw);
    assert_true(item_total(emitted, it, 1) == 3 * file_total("cpu.pb.gz", 1));
    assert_true(item_total(emitted, it, 0) == 3 * file_total("cpu.pb.gz", 0));
    pdata_iter_init(&w, it->pd->pd, it->resource);
    pr = pdata_iter_next(&w);
    assert_true(pr->duration_nanos == 60000000000LL);
    assert_true(pr->time_nanos % 60000000000LL == 0);
    it = find(emitted, "a", 4);
    assert_non_null(it);
    assert_true(item_total(emitted, it, 3) == 2 * file_total("heap.pb.gz", 3));
    it = find(emitted, "b", 2);
    assert_non_null(it);
    assert_non_null(it->raw); /* alone: original bytes kept */
    assert_int_equal(fx_metric(&p, "profcol_processor_aggregate_profiles_in_"
                                   "total{processor=\"aggregate\"} "),
                     6);
    batch_unref(emitted);
    emitted = NULL;
    fx_proc_free(&p);
}

static void test_group_by_and_drop_labels(void **state)
{
    struct batch *b = batch_new("t");
    struct fx_proc p;
    struct item *it;
    char v[64];

    (void)state;
    assert_int_equal(fx_proc_new(&p, "aggregate",
                                 "{group_by: [service.name], "
                                 "drop_sample_labels: [span_id, trace_id]}"),
                     0);
    p.host.emit = capture;
    add(b, "cpu_spans.pb.gz", "a", "prod");
    add(b, "cpu_spans.pb.gz", "a", "dev");
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_int_equal(b->nitems, 0);
    batch_unref(b);
    flush(&p);
    assert_int_equal(emitted->nitems, 1);
    it = &emitted->items[0];
    assert_null(fx_attr(it, "env", v, sizeof(v)));
    assert_true(item_total(emitted, it, 1) ==
                2 * file_total("cpu_spans.pb.gz", 1));
    for (uint32_t i = 0; i < it->pd->pd->dict.nattrs; i++) {
        struct pstr k = dict_str(&it->pd->pd->dict,
                                 it->pd->pd->dict.attrs[i].key);
        assert_false(pstr_eq(k, "span_id"));
    }
    batch_unref(emitted);
    emitted = NULL;
    fx_proc_free(&p);
}

static void test_max_bytes_passes(void **state)
{
    struct batch *b = batch_new("t");
    struct fx_proc p;

    (void)state;
    assert_int_equal(fx_proc_new(&p, "aggregate", "max_bytes: 1"), 0);
    p.host.emit = capture;
    add(b, "cpu.pb.gz", "a", "prod");
    add(b, "cpu.pb.gz", "a", "prod");
    assert_int_equal(fx_proc_run(&p, b), 0);
    assert_int_equal(b->nitems, 2);
    assert_non_null(b->items[0].raw);
    assert_int_equal(fx_metric(&p, "profcol_processor_aggregate_passed_"
                                   "profiles_total{processor=\"aggregate\","
                                   "reason=\"max_bytes\"} "),
                     2);
    flush(&p);
    assert_null(emitted);
    batch_unref(b);
    fx_proc_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows_sum_exact),
        cmocka_unit_test(test_group_by_and_drop_labels),
        cmocka_unit_test(test_max_bytes_passes),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
