/*
 * test_flame.c: the flame graph tree: paths merge by name, totals and self
 * values per side, merging trees, per function flat and cumulative values
 * (recursion counted once), the byte bound (refused, values consistent),
 * a model profile's samples (inlined frames, sample types), SVG and JSON
 * output and XML escaping, two sides compared per function.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "flame/flame.h"

static uint32_t nm(struct flame_tree *t, const char *s)
{
    uint32_t id;

    assert_int_equal(flame_intern(t, s, strlen(s), &id), PC_OK);
    return id;
}

/* Adds a path given as names "a;b;c" root-first. */
static void add(struct flame_tree *t, const char *folded, int side, int64_t v)
{
    uint32_t names[64], n = 0;
    char tmp[256];
    char *save = NULL, *tok;

    snprintf(tmp, sizeof(tmp), "%s", folded);
    for (tok = strtok_r(tmp, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save)) {
        names[n++] = nm(t, tok);
    }
    assert_int_equal(flame_add_path(t, names, n, side, v), PC_OK);
}

/* The node at path "a;b" or 0 when absent. */
static uint32_t find(const struct flame_tree *t, const char *folded)
{
    char tmp[256];
    char *save = NULL, *tok;
    uint32_t cur = FLAME_ROOT;

    snprintf(tmp, sizeof(tmp), "%s", folded);
    for (tok = strtok_r(tmp, ";", &save); tok != NULL;
         tok = strtok_r(NULL, ";", &save)) {
        uint32_t c;
        for (c = t->nodes[cur].child; c != 0; c = t->nodes[c].next) {
            struct pstr s = flame_name_text(t, t->nodes[c].name);
            if (s.len == strlen(tok) && memcmp(s.ptr, tok, s.len) == 0) {
                break;
            }
        }
        if (c == 0) {
            return 0;
        }
        cur = c;
    }
    return cur;
}

static void test_paths_merge(void **state)
{
    struct flame_tree t;
    uint32_t ab;

    (void)state;
    assert_int_equal(flame_init(&t, 0), PC_OK);
    add(&t, "main;a;b", 0, 3);
    add(&t, "main;a;b", 0, 2);
    add(&t, "main;a", 0, 1);
    add(&t, "main;c", 0, 4);
    add(&t, "main;c", 1, 7);
    assert_int_equal(t.nnodes, 5); /* root, main, a, b, c */
    assert_int_equal(t.nodes[FLAME_ROOT].total[0], 10);
    assert_int_equal(t.nodes[FLAME_ROOT].total[1], 7);
    ab = find(&t, "main;a;b");
    assert_int_not_equal(ab, 0);
    assert_int_equal(t.nodes[ab].total[0], 5);
    assert_int_equal(t.nodes[ab].self[0], 5);
    assert_int_equal(t.nodes[find(&t, "main;a")].total[0], 6);
    assert_int_equal(t.nodes[find(&t, "main;a")].self[0], 1);
    assert_int_equal(t.nodes[find(&t, "main;c")].total[1], 7);
    assert_int_equal(find(&t, "a"), 0);
    flame_free(&t);
}

static void test_merge_trees(void **state)
{
    struct flame_tree a, b;

    (void)state;
    assert_int_equal(flame_init(&a, 0), PC_OK);
    assert_int_equal(flame_init(&b, 0), PC_OK);
    add(&a, "main;x", 0, 2);
    add(&b, "main;x", 0, 5);
    add(&b, "main;y;z", 0, 1);
    assert_int_equal(flame_merge(&a, &b, 0, 0), PC_OK);
    assert_int_equal(a.nodes[FLAME_ROOT].total[0], 8);
    assert_int_equal(a.nodes[find(&a, "main;x")].total[0], 7);
    assert_int_equal(a.nodes[find(&a, "main;y;z")].self[0], 1);
    assert_int_equal(flame_merge(&a, &b, 0, 1), PC_OK);
    assert_int_equal(a.nodes[find(&a, "main;x")].total[1], 5);
    assert_int_equal(a.nodes[find(&a, "main;x")].total[0], 7);
    flame_free(&a);
    flame_free(&b);
}

static struct flame_fn *fn_of(struct flame_fn *fn, uint32_t n,
                              const struct flame_tree *t, const char *s)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        struct pstr p = flame_name_text(t, fn[i].name);
        if (p.len == strlen(s) && memcmp(p.ptr, s, p.len) == 0) {
            return &fn[i];
        }
    }
    fail_msg("no function %s", s);
    return NULL;
}

static void test_functions_recursion(void **state)
{
    struct flame_tree t;
    struct flame_fn *fn;
    uint32_t n;

    (void)state;
    assert_int_equal(flame_init(&t, 0), PC_OK);
    add(&t, "main;fib;fib;fib", 0, 4);
    add(&t, "main;fib;leaf", 0, 2);
    add(&t, "main;other;fib", 0, 3);
    assert_int_equal(flame_functions(&t, &fn, &n), PC_OK);
    assert_int_equal(n, t.nnames);
    assert_int_equal(fn_of(fn, n, &t, "fib")->flat[0], 7);
    assert_int_equal(fn_of(fn, n, &t, "fib")->cum[0], 9);
    assert_int_equal(fn_of(fn, n, &t, "main")->cum[0], 9);
    assert_int_equal(fn_of(fn, n, &t, "main")->flat[0], 0);
    assert_int_equal(fn_of(fn, n, &t, "leaf")->cum[0], 2);
    assert_int_equal(fn_of(fn, n, &t, "other")->cum[0], 3);
    free(fn);
    flame_free(&t);
}

static void test_bound(void **state)
{
    struct flame_tree t;
    uint32_t names[8];
    char s[32];
    int i, rc = PC_OK;
    int64_t added = 0;

    (void)state;
    assert_int_equal(flame_init(&t, 16384), PC_OK);
    for (i = 0; i < 100000 && rc == PC_OK; i++) {
        uint32_t k;
        for (k = 0; k < 4; k++) {
            int n = snprintf(s, sizeof(s), "f%d_%u", i, k);
            rc = flame_intern(&t, s, (size_t)n, &names[k]);
            if (rc != PC_OK) {
                break;
            }
        }
        if (rc == PC_OK) {
            rc = flame_add_path(&t, names, 4, 0, 1);
            added++; /* a refused path still counts where it fit */
        }
    }
    assert_int_equal(rc, PC_ETOOBIG);
    assert_true(flame_bytes(&t) <= 16384);
    assert_int_equal(t.nodes[FLAME_ROOT].total[0], added);
    /* Every parent holds at least its children. */
    for (i = 1; i < (int)t.nnodes; i++) {
        int64_t sum = t.nodes[i].self[0];
        uint32_t c;
        for (c = t.nodes[i].child; c != 0; c = t.nodes[c].next) {
            sum += t.nodes[c].total[0];
        }
        assert_int_equal(sum, t.nodes[i].total[0]);
    }
    flame_free(&t);
}

/* A profile of two samples: main -> (inlined helper in) work, and main. */
static struct pdata *two_samples(void)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct function f = {0};
    static struct line lines[1]; /* the pdata keeps pointers to it */
    struct location l = {0};
    int32_t fmain, fwork, fhelp, lmain, lwork, st0, st1, locs[2];
    static struct value_type vt[2];
    static int64_t v0[2] = {1, 100}, v1[2] = {1, 30};
    static struct sample smp[2];

    assert_non_null(pd);
    assert_int_equal(dict_init(pd), PC_OK);
    f.name = dict_add_string(pd, "main", 4);
    fmain = dict_add_function(pd, &f);
    f.name = dict_add_string(pd, "work", 4);
    fwork = dict_add_function(pd, &f);
    f.name = dict_add_string(pd, "helper", 6);
    fhelp = dict_add_function(pd, &f);
    lines[0].function = fmain;
    l.nlines = 1;
    l.lines = &lines[0];
    lmain = dict_add_location(pd, &l);
    static struct line wl[2];
    wl[0].function = fhelp; /* inlined callee first */
    wl[1].function = fwork;
    l.nlines = 2;
    l.lines = wl;
    lwork = dict_add_location(pd, &l);
    locs[0] = lwork;
    locs[1] = lmain;
    st0 = dict_add_stack(pd, locs, 2);
    st1 = dict_add_stack(pd, &locs[1], 1);
    vt[0].type = dict_add_string(pd, "samples", 7);
    vt[0].unit = dict_add_string(pd, "count", 5);
    vt[1].type = dict_add_string(pd, "cpu", 3);
    vt[1].unit = dict_add_string(pd, "nanoseconds", 11);
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    p->nsample_types = 2;
    p->sample_types = vt;
    smp[0].stack = st0;
    smp[0].nvalues = 2;
    smp[0].values = v0;
    smp[1].stack = st1;
    smp[1].nvalues = 2;
    smp[1].values = v1;
    p->nsamples = 2;
    p->samples = smp;
    return pd;
}

static void test_profile(void **state)
{
    struct pdata *pd = two_samples();
    struct profile *p = &pd->resources[0].scopes[0].profiles[0];
    struct flame_tree t;
    uint32_t vi = 99, h;

    (void)state;
    assert_int_equal(flame_type_index(&pd->dict, p, NULL, &vi), PC_OK);
    assert_int_equal(vi, 1); /* the last type */
    assert_int_equal(flame_type_index(&pd->dict, p, "samples", &vi), PC_OK);
    assert_int_equal(vi, 0);
    assert_int_equal(flame_type_index(&pd->dict, p, "cpu:nanoseconds", &vi),
                     PC_OK);
    assert_int_equal(vi, 1);
    assert_int_equal(flame_type_index(&pd->dict, p, "cpu:bytes", &vi),
                     PC_ENOTFOUND);
    assert_int_equal(flame_init(&t, 0), PC_OK);
    assert_int_equal(flame_add_profile(&t, &pd->dict, p, 1, 0, NULL, NULL),
                     PC_OK);
    assert_int_equal(t.nodes[FLAME_ROOT].total[0], 130);
    h = find(&t, "main;work;helper");
    assert_int_not_equal(h, 0);
    assert_int_equal(t.nodes[h].self[0], 100);
    assert_int_equal(t.nodes[find(&t, "main")].self[0], 30);
    flame_free(&t);
    pdata_free(pd);
}

static void test_svg_json(void **state)
{
    struct flame_tree t;
    struct flame_render r = {0};
    struct buf b;

    (void)state;
    assert_int_equal(flame_init(&t, 0), PC_OK);
    add(&t, "main;a<b>&\"c\"", 0, 3);
    add(&t, "main;d", 0, 1);
    add(&t, "main;d", 1, 9);
    buf_init(&b, 0);
    r.title = "t<1>";
    r.standalone = 1;
    assert_int_equal(flame_svg(&t, &r, &b), PC_OK);
    assert_int_equal(buf_putc(&b, 0), PC_OK);
    assert_non_null(strstr((char *)b.data, "<?xml"));
    assert_non_null(strstr((char *)b.data,
                           "data-n=\"a&lt;b&gt;&amp;&quot;c&quot;\""));
    assert_non_null(strstr((char *)b.data, "t&lt;1&gt;"));
    assert_non_null(strstr((char *)b.data, "<script><![CDATA["));
    assert_null(strstr((char *)b.data, "a<b>"));
    /* main holds 100% of the root, a 75% */
    assert_non_null(
        strstr((char *)b.data,
               "data-x=\"0.0000000\" data-w=\"0.7500000\" data-d=\"2\""));
    buf_reset(&b);
    r.diff = 1;
    r.standalone = 0;
    assert_int_equal(flame_svg(&t, &r, &b), PC_OK);
    assert_int_equal(buf_putc(&b, 0), PC_OK);
    assert_null(strstr((char *)b.data, "<script"));
    /* d grew from 25% to 100% self: full red */
    assert_non_null(strstr((char *)b.data, "fill=\"rgb(255,55,55)\""));
    buf_reset(&b);
    assert_int_equal(flame_json(&t, 0, 0.3, &b), PC_OK);
    assert_int_equal(buf_putc(&b, 0), PC_OK);
    assert_string_equal((char *)b.data,
                        "{\"names\":[\"all\",\"main\",\"a<b>&\\\"c\\\"\"],"
                        "\"nodes\":[[0,-1,4,0],[1,0,4,0],[2,1,3,3]]}");
    buf_free(&b);
    flame_free(&t);
}

static void test_diff(void **state)
{
    struct flame_tree t;
    struct flame_diff d;
    struct buf b;

    (void)state;
    assert_int_equal(flame_init(&t, 0), PC_OK);
    add(&t, "main;a", 0, 50);
    add(&t, "main;b", 0, 50);
    add(&t, "main;a", 1, 80);
    add(&t, "main;b", 1, 20);
    add(&t, "main;c;b", 1, 0);
    assert_int_equal(flame_diff(&t, 10, &d), PC_OK);
    assert_int_equal(d.total[0], 100);
    assert_int_equal(d.total[1], 100);
    assert_true(d.total_change == 0);
    assert_true(d.regression); /* a's flat share: 50% -> 80% */
    /* a and b changed by 30 points each: a first by name, then b */
    assert_int_equal(d.rows[0].name.len, 1);
    assert_memory_equal(d.rows[0].name.ptr, "a", 1);
    assert_true(d.rows[0].flat[0] == 50 && d.rows[0].flat[1] == 80);
    assert_memory_equal(d.rows[1].name.ptr, "b", 1);
    assert_true(d.rows[1].cum[1] == 20);
    buf_init(&b, 0);
    assert_int_equal(flame_diff_json(&d, "cpu:ns", 10, 1, &b), PC_OK);
    assert_int_equal(buf_putc(&b, 0), PC_OK);
    assert_string_equal(
        (char *)b.data,
        "{\"type\":\"cpu:ns\",\"base_total\":100,\"new_total\":100,"
        "\"total_change_pct\":0.0000,\"threshold_pct\":10.0000,"
        "\"regression\":true,\"functions\":[{\"function\":\"a\","
        "\"flat_base_pct\":50.0000,\"flat_new_pct\":80.0000,"
        "\"flat_change_pct\":30.0000,\"cum_base_pct\":50.0000,"
        "\"cum_new_pct\":80.0000,\"cum_change_pct\":30.0000}]}");
    flame_diff_free(&d);
    /* Under a 40 point threshold: no regression. From an empty base the
     * total's change has no percentage: null, and a regression. */
    assert_int_equal(flame_diff(&t, 40, &d), PC_OK);
    assert_false(d.regression);
    flame_diff_free(&d);
    assert_int_equal(flame_reset(&t), PC_OK);
    add(&t, "main", 1, 5);
    assert_int_equal(flame_diff(&t, 40, &d), PC_OK);
    assert_true(d.regression);
    buf_reset(&b);
    assert_int_equal(flame_diff_json(&d, "x", 40, 0, &b), PC_OK);
    assert_int_equal(buf_putc(&b, 0), PC_OK);
    assert_non_null(strstr((char *)b.data, "\"total_change_pct\":null"));
    flame_diff_free(&d);
    buf_free(&b);
    flame_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths_merge),
        cmocka_unit_test(test_merge_trees),
        cmocka_unit_test(test_functions_recursion),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_profile),
        cmocka_unit_test(test_svg_json),
        cmocka_unit_test(test_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
