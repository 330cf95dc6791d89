/*
 * test_ui_store.c: the status page's store: time ranges from query
 * parameters, series per pipeline, service and type, slots over time and
 * their expiry, the byte bound (oldest slots go first, never above
 * max_bytes), and batches handed over by ui_store_offer to the worker
 * (decoded already, or only their original bytes).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pprof.h"
#include "component/batch.h"
#include "core/clock.h"
#include "core/err.h"
#include "ui/ui_store.h"

static void test_range(void **state)
{
    const int64_t now = 1796528294000LL, ret = 900000;
    struct errctx e = {{0}};
    int64_t f, t;

    (void)state;
    assert_int_equal(ui_range_parse(NULL, NULL, now, ret, &f, &t, &e), PC_OK);
    assert_true(f == now - ret && t == now);
    assert_int_equal(ui_range_parse("-5m", "now", now, ret, &f, &t, &e),
                     PC_OK);
    assert_true(f == now - 300000 && t == now);
    assert_int_equal(ui_range_parse("now-90s", "-500ms", now, ret, &f, &t, &e),
                     PC_OK);
    assert_true(f == now - 90000 && t == now - 500);
    assert_int_equal(ui_range_parse("1796528000", "1796528100", now, ret, &f,
                                    &t, &e),
                     PC_OK);
    assert_true(f == 1796528000000LL && t == 1796528100000LL);
    assert_int_equal(ui_range_parse("", "", now, ret, &f, &t, &e), PC_OK);
    assert_int_equal(ui_range_parse("-1h", "-2h", now, ret, &f, &t, &e),
                     PC_EINVAL);
    assert_non_null(strstr(e.msg, "before"));
    assert_int_equal(ui_range_parse("yesterday", NULL, now, ret, &f, &t, &e),
                     PC_EINVAL);
    assert_non_null(strstr(e.msg, "from"));
    assert_int_equal(ui_range_parse(NULL, "-5x", now, ret, &f, &t, &e),
                     PC_EINVAL);
    assert_non_null(strstr(e.msg, "to"));
    assert_int_equal(ui_range_parse("-99999999999h", NULL, now, ret, &f, &t,
                                    &e),
                     PC_EINVAL);
    assert_int_equal(ui_range_parse("12", NULL, now, ret, &f, &t, &e),
                     PC_EINVAL);
    assert_int_equal(ui_range_parse("--5m", NULL, now, ret, &f, &t, &e),
                     PC_EINVAL);
}

/* A profile of nfn distinct functions, one sample each: main -> fN. */
static struct pdata *profile_of(const char *prefix, int nfn)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct function f = {0};
    struct location l = {0};
    struct line ln[1];
    struct value_type *vt;
    struct sample *smp;
    int32_t locs[2], lmain;
    int i;

    assert_non_null(pd);
    assert_int_equal(dict_init(pd), PC_OK);
    f.name = dict_add_string_copy(pd, "main", 4);
    ln[0].function = dict_add_function(pd, &f);
    l.nlines = 1;
    l.lines = arena_alloc(&pd->arena, sizeof(ln));
    memcpy(l.lines, ln, sizeof(ln));
    lmain = dict_add_location(pd, &l);
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    vt = arena_alloc(&pd->arena, sizeof(*vt));
    vt->type = dict_add_string_copy(pd, "cpu", 3);
    vt->unit = dict_add_string_copy(pd, "nanoseconds", 11);
    p->nsample_types = 1;
    p->sample_types = vt;
    smp = arena_alloc(&pd->arena, (size_t)nfn * sizeof(*smp));
    memset(smp, 0, (size_t)nfn * sizeof(*smp));
    for (i = 0; i < nfn; i++) {
        char name[64];
        int n = snprintf(name, sizeof(name), "%s_%d", prefix, i);
        f.name = dict_add_string_copy(pd, name, (size_t)n);
        l.lines = arena_alloc(&pd->arena, sizeof(ln));
        l.lines[0].function = dict_add_function(pd, &f);
        l.lines[0].line = 0;
        l.lines[0].column = 0;
        locs[0] = dict_add_location(pd, &l);
        locs[1] = lmain;
        smp[i].stack = dict_add_stack(pd, locs, 2);
        smp[i].nvalues = 1;
        smp[i].values = arena_alloc(&pd->arena, sizeof(int64_t));
        smp[i].values[0] = 10;
    }
    p->nsamples = (uint32_t)nfn;
    p->samples = smp;
    return pd;
}

static int64_t root_of(struct ui_store *s, const char *service, int64_t from,
                       int64_t to)
{
    struct flame_tree t;
    int64_t v;
    int rc;

    assert_int_equal(flame_init(&t, 0), PC_OK);
    rc = ui_store_tree(s, "profiles", service, "cpu:nanoseconds", from, to, &t,
                       0, NULL);
    v = rc == PC_OK ? t.nodes[FLAME_ROOT].total[0] : -1;
    flame_free(&t);
    return v;
}

static void test_slots_and_expiry(void **state)
{
    struct ui_store *s;
    struct pdata *pd = profile_of("f", 3);
    int64_t now = clock_real_ns() / 1000000;
    struct ui_series_info info[4];

    (void)state;
    assert_int_equal(ui_store_new(60000, 1 << 20, &s), PC_OK);
    /* 60 s of retention: 4 s slots. One profile now, one 20 s ago. */
    assert_int_equal(ui_store_add_pdata(s, "profiles", "api", pd, -1, now),
                     PC_OK);
    assert_int_equal(ui_store_add_pdata(s, "profiles", "api", pd, -1,
                                        now - 20000),
                     PC_OK);
    assert_int_equal(ui_store_add_pdata(s, "profiles", "db", pd, -1,
                                        now - 20000),
                     PC_OK);
    assert_int_equal(ui_store_list(s, info, 4), 2);
    assert_string_equal(info[0].service, "api");
    assert_string_equal(info[0].type, "cpu:nanoseconds");
    assert_int_equal(info[0].profiles, 2);
    assert_string_equal(info[1].service, "db");
    assert_int_equal(root_of(s, "api", now - 60000, now + 1), 60);
    assert_int_equal(root_of(s, "api", now - 10000, now + 1), 30);
    assert_int_equal(root_of(s, "api", now - 30000, now - 12000), 30);
    assert_int_equal(root_of(s, "nosuch", now - 60000, now + 1), -1);
    /* 70 s ago is past the retention: expired at once. */
    assert_int_equal(ui_store_add_pdata(s, "profiles", "old", pd, -1,
                                        now - 70000),
                     PC_OK);
    assert_int_equal(root_of(s, "old", now - 100000, now + 1), 0);
    ui_store_free(s);
    pdata_free(pd);
}

static void test_bound(void **state)
{
    const size_t max = 256 * 1024;
    struct ui_store *s;
    struct ui_store_stats st;
    int64_t now = clock_real_ns() / 1000000;
    int i;

    (void)state;
    assert_int_equal(ui_store_new(900000, max, &s), PC_OK);
    for (i = 0; i < 60; i++) {
        char prefix[16];
        struct pdata *pd;
        snprintf(prefix, sizeof(prefix), "g%d", i);
        pd = profile_of(prefix, 200);
        /* Each in its own minute slot, oldest first. */
        ui_store_add_pdata(s, "profiles", "api", pd, -1,
                           now - 840000 + (int64_t)i * 14000);
        pdata_free(pd);
        ui_store_stats(s, &st);
        assert_true(st.bytes <= max);
    }
    ui_store_stats(s, &st);
    assert_true(st.bytes > max / 2);
    assert_int_equal(st.max_bytes, max);
    /* The newest minute is kept, the oldest went. */
    assert_true(root_of(s, "api", now - 30000, now + 1) > 0);
    assert_int_equal(root_of(s, "api", now - 900000, now - 780000), 0);
    ui_store_free(s);
}

static void test_offer(void **state)
{
    struct ui_store *s;
    struct ui_store_stats st;
    struct ui_series_info info[2];
    struct batch *b = batch_new("test");
    struct item *it;
    int i;

    (void)state;
    assert_int_equal(ui_store_new(60000, 1 << 20, &s), PC_OK);
    it = batch_add_item(b);
    assert_non_null(it);
    it->pd = shared_pdata_new(profile_of("h", 4));
    it->nprofiles = 1;
    assert_int_equal(item_set_attr_str(b, it, "service.name", "shop", 4),
                     PC_OK);
    for (i = 0; i < 3; i++) {
        ui_store_offer(s, "profiles/x", b);
    }
    batch_unref(b); /* the store holds its own references */
    ui_store_settle(s);
    ui_store_stats(s, &st);
    assert_int_equal(st.offered, 3);
    assert_int_equal(st.profiles, 3);
    assert_int_equal(st.queue_full, 0);
    assert_int_equal(ui_store_list(s, info, 2), 1);
    assert_string_equal(info[0].pipeline, "profiles/x");
    assert_string_equal(info[0].service, "shop");
    assert_int_equal(info[0].profiles, 3);
    ui_store_free(s);
}

/* An item with only its original pprof bytes: the store decodes a copy of
 * its own and leaves the item undecoded, as the pipeline handed it over. */
static void test_offer_raw(void **state)
{
    struct ui_store *s;
    struct ui_store_stats st;
    struct pdata *pd = profile_of("r", 5);
    struct batch *b = batch_new("test");
    struct item *it = batch_add_item(b);
    struct buf out;

    (void)state;
    assert_int_equal(ui_store_new(60000, 1 << 20, &s), PC_OK);
    buf_init(&out, 0);
    assert_int_equal(pprof_encode_gz(pd,
                                     &pd->resources[0].scopes[0].profiles[0],
                                     1, &out, NULL),
                     PC_OK);
    it->format = PAYLOAD_PPROF;
    it->raw = blob_new(out.data, out.len);
    it->nprofiles = 1;
    ui_store_offer(s, "profiles", b);
    ui_store_settle(s);
    ui_store_stats(s, &st);
    assert_int_equal(st.profiles, 1);
    assert_int_equal(st.undecodable, 0);
    assert_null(it->pd);
    assert_int_equal(root_of(s, "unknown_service", 0, INT64_MAX), 50);
    /* Bytes that are not a pprof are counted, not drawn. */
    blob_unref(it->raw);
    it->raw = blob_new("junk", 4);
    ui_store_offer(s, "profiles", b);
    ui_store_settle(s);
    ui_store_stats(s, &st);
    assert_int_equal(st.undecodable, 1);
    batch_unref(b);
    buf_free(&out);
    pdata_free(pd);
    ui_store_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_slots_and_expiry),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_offer),
        cmocka_unit_test(test_offer_raw),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
