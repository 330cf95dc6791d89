/*
 * test_scrape_delta.c: collector-side deltas of cumulative profiles, on
 * hand-built heap and mutex profiles: the first scrape is the baseline,
 * alloc_* become window deltas while inuse_* stay, keys follow the stack's
 * content (not ids), labels split keys, zero rows go, a counter reset emits
 * the raw values, duplicates are summed, an aborted scrape is diffed again,
 * and the memory cap holds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "model/profile.h"
#include "receivers/scrape/delta.h"

#define SEC 1000000000LL

/* One sample: leaf function, optional label value, 4 (or 2) values. */
struct srow {
    const char *leaf;
    const char *label; /* pprof label "tag" or NULL */
    int64_t v[4];
};

static int32_t str(struct pdata *pd, const char *s)
{
    return dict_string(pd, s, strlen(s));
}

/* A location calling main.main, by function name; the address is derived
 * from the name so the same function has the same address every time. */
static int32_t loc_for(struct pdata *pd, const char *fn)
{
    struct function f = {0};
    struct location l = {0};
    struct line *ln = arena_calloc(&pd->arena, 1, sizeof(*ln));
    int32_t fi;

    f.name = str(pd, fn);
    f.filename = str(pd, "main.go");
    fi = dict_add_function(pd, &f);
    ln->function = fi;
    ln->line = 10 + (int64_t)strlen(fn);
    l.address = 0x400000 + (uint64_t)fn[strlen(fn) - 1] * 16;
    l.lines = ln;
    l.nlines = 1;
    return dict_add_location(pd, &l);
}

/* reversed: build the tables in another order, as a later scrape may. */
static struct pdata *build(const char *const *types, uint32_t ntypes,
                           const struct srow *rows, uint32_t n,
                           int64_t time_ns, int reversed)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    int32_t mainloc;
    uint32_t i, t;

    assert_non_null(pd);
    assert_int_equal(dict_init(pd), PC_OK);
    if (reversed) {
        for (i = n; i > 0; i--) {
            loc_for(pd, rows[i - 1].leaf); /* padding: shifts indices */
        }
    }
    mainloc = loc_for(pd, "main.main");
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    p->nsample_types = ntypes;
    p->sample_types = arena_calloc(&pd->arena, ntypes,
                                   sizeof(*p->sample_types));
    for (t = 0; t < ntypes; t++) {
        p->sample_types[t].type = str(pd, types[2 * t]);
        p->sample_types[t].unit = str(pd, types[2 * t + 1]);
    }
    p->time_nanos = time_ns;
    p->samples = arena_calloc(&pd->arena, n ? n : 1, sizeof(*p->samples));
    p->nsamples = n;
    for (i = 0; i < n; i++) {
        uint32_t k = reversed ? n - 1 - i : i;
        struct sample *s = &p->samples[i];
        int32_t locs[2];
        locs[0] = loc_for(pd, rows[k].leaf);
        locs[1] = mainloc;
        s->stack = dict_add_stack(pd, locs, 2);
        s->nvalues = ntypes;
        s->values = arena_memdup(&pd->arena, rows[k].v,
                                 ntypes * sizeof(int64_t));
        if (rows[k].label != NULL) {
            struct attr a = {0};
            a.key = str(pd, "tag");
            a.value.type = AV_STRING;
            a.value.u.s.ptr = rows[k].label;
            a.value.u.s.len = (uint32_t)strlen(rows[k].label);
            s->attrs = arena_calloc(&pd->arena, 1, sizeof(int32_t));
            s->attrs[0] = dict_add_attr(pd, &a);
            s->nattrs = 1;
        }
    }
    return pd;
}

static const char *const heap_types[] = {"alloc_objects", "count",
                                         "alloc_space",   "bytes",
                                         "inuse_objects", "count",
                                         "inuse_space",   "bytes"};

static struct pdata *heap(const struct srow *rows, uint32_t n, int64_t t,
                          int reversed)
{
    return build(heap_types, 4, rows, n, t, reversed);
}

static const struct profile *prof(const struct pdata *pd)
{
    return &pd->resources[0].scopes[0].profiles[0];
}

/* The sample whose leaf is fn (and label, when given); NULL if absent. */
static const struct sample *find(const struct pdata *pd, const char *fn,
                                 const char *label)
{
    const struct profile *p = prof(pd);
    uint32_t i;

    for (i = 0; i < p->nsamples; i++) {
        const struct sample *s = &p->samples[i];
        const struct location *l =
            &pd->dict.locations[pd->dict.stacks[s->stack].locs[0]];
        const struct function *f = &pd->dict.functions[l->lines[0].function];
        if (!pstr_eq(dict_str(&pd->dict, f->name), fn)) {
            continue;
        }
        if (label != NULL &&
            (s->nattrs == 0 ||
             !pstr_eq(pd->dict.attrs[s->attrs[0]].value.u.s, label))) {
            continue;
        }
        return s;
    }
    return NULL;
}

static void expect(const struct pdata *pd, const char *fn, const char *label,
                   int64_t a, int64_t b, int64_t c, int64_t d)
{
    const struct sample *s = find(pd, fn, label);

    if (s == NULL) {
        fail_msg("sample %s%s%s missing", fn, label ? "/" : "",
                 label ? label : "");
    }
    assert_int_equal(s->values[0], a);
    assert_int_equal(s->values[1], b);
    if (s->nvalues == 4) {
        assert_int_equal(s->values[2], c);
        assert_int_equal(s->values[3], d);
    }
}

/* Runs one scrape through the state and commits it. */
static enum delta_outcome step(struct delta_state *st, struct pdata *pd)
{
    enum delta_outcome out;
    struct errctx e = {{0}};

    assert_int_equal(delta_compute(st, pd, 0, 1 << 20, &out, &e), PC_OK);
    delta_commit(st);
    return out;
}

static void test_baseline_then_delta(void **state)
{
    const struct srow r1[] = {
        {"main.alloc", NULL, {10, 1000, 2, 200}},
        {"main.idle", NULL, {5, 500, 0, 0}},
        {"main.hold", NULL, {4, 4096, 4, 4096}},
    };
    const struct srow r2[] = {
        {"main.alloc", NULL, {25, 2500, 3, 300}},
        {"main.idle", NULL, {5, 500, 0, 0}},     /* unchanged, inuse 0 */
        {"main.hold", NULL, {4, 4096, 4, 4096}}, /* unchanged, inuse > 0 */
        {"main.fresh", NULL, {7, 70, 1, 10}},    /* new stack */
    };
    struct delta_state st;
    struct pdata *a = heap(r1, 3, 100 * SEC, 0);
    struct pdata *b = heap(r2, 4, 115 * SEC, 1); /* ids renumbered */

    (void)state;
    delta_state_init(&st);
    assert_int_equal(step(&st, a), DELTA_BASELINE);
    assert_int_equal(prof(a)->nsamples, 3); /* untouched */
    assert_int_equal(step(&st, b), DELTA_EMIT);
    expect(b, "main.alloc", NULL, 15, 1500, 3, 300); /* inuse kept */
    expect(b, "main.hold", NULL, 0, 0, 4, 4096);
    expect(b, "main.fresh", NULL, 7, 70, 1, 10);
    assert_null(find(b, "main.idle", NULL)); /* all zero: gone */
    assert_int_equal(prof(b)->nsamples, 3);
    assert_int_equal(prof(b)->duration_nanos, 15 * SEC);
    assert_int_equal(prof(b)->time_nanos, 115 * SEC);
    assert_true(delta_state_bytes(&st) > 0);
    pdata_free(a);
    pdata_free(b);
    delta_state_free(&st);
}

static void test_reset_emits_raw(void **state)
{
    const struct srow r1[] = {
        {"main.alloc", NULL, {100, 10000, 1, 100}},
        {"main.other", NULL, {50, 5000, 0, 0}},
    };
    const struct srow r2[] = {
        /* the process restarted */
        {"main.alloc", NULL, {3, 300, 1, 100}},
        {"main.other", NULL, {60, 6000, 0, 0}},
    };
    const struct srow r3[] = {
        {"main.alloc", NULL, {8, 800, 2, 200}},
        {"main.other", NULL, {60, 6000, 0, 0}},
    };
    struct delta_state st;
    struct pdata *a = heap(r1, 2, 10 * SEC, 0);
    struct pdata *b = heap(r2, 2, 20 * SEC, 0);
    struct pdata *c = heap(r3, 2, 30 * SEC, 0);

    (void)state;
    delta_state_init(&st);
    step(&st, a);
    assert_int_equal(step(&st, b), DELTA_EMIT);
    expect(b, "main.alloc", NULL, 3, 300, 1, 100);
    expect(b, "main.other", NULL, 60, 6000, 0, 0); /* raw, not +10 */
    /* The reset scrape is the new baseline. */
    assert_int_equal(step(&st, c), DELTA_EMIT);
    expect(c, "main.alloc", NULL, 5, 500, 2, 200);
    assert_null(find(c, "main.other", NULL));
    pdata_free(a);
    pdata_free(b);
    pdata_free(c);
    delta_state_free(&st);
}

static void test_labels_split_keys(void **state)
{
    const struct srow r1[] = {
        {"main.work", "a", {1, 10, 0, 0}},
        {"main.work", "b", {2, 20, 0, 0}},
    };
    const struct srow r2[] = {
        {"main.work", "b", {2, 20, 0, 0}},
        {"main.work", "a", {4, 40, 0, 0}},
    };
    struct delta_state st;
    struct pdata *a = heap(r1, 2, SEC, 0);
    struct pdata *b = heap(r2, 2, 2 * SEC, 0);

    (void)state;
    delta_state_init(&st);
    step(&st, a);
    step(&st, b);
    expect(b, "main.work", "a", 3, 30, 0, 0);
    assert_null(find(b, "main.work", "b"));
    pdata_free(a);
    pdata_free(b);
    delta_state_free(&st);
}

/* Go emits one heap sample per (stack, size) bucket: equal keys are summed
 * and the key's delta goes to its first sample. */
static void test_duplicate_keys(void **state)
{
    const struct srow r1[] = {
        {"main.dup", NULL, {1, 100, 1, 100}},
        {"main.dup", NULL, {1, 100, 0, 0}},
    };
    const struct srow r2[] = {
        {"main.dup", NULL, {3, 300, 1, 100}},
        {"main.dup", NULL, {2, 200, 0, 0}},
    };
    struct delta_state st;
    struct pdata *a = heap(r1, 2, SEC, 0);
    struct pdata *b = heap(r2, 2, 2 * SEC, 0);
    const struct profile *p;

    (void)state;
    delta_state_init(&st);
    step(&st, a);
    step(&st, b);
    p = prof(b);
    assert_int_equal(p->nsamples, 1); /* the second is all zero now */
    assert_int_equal(p->samples[0].values[0], 3); /* (3+2) - (1+1) */
    assert_int_equal(p->samples[0].values[1], 300);
    assert_int_equal(p->samples[0].values[3], 100);
    pdata_free(a);
    pdata_free(b);
    delta_state_free(&st);
}

/* A scrape the pipeline refused is not committed: the next one covers
 * both windows. */
static void test_abort_keeps_baseline(void **state)
{
    const struct srow r1[] = {{"main.alloc", NULL, {10, 100, 0, 0}}};
    const struct srow r2[] = {{"main.alloc", NULL, {15, 150, 0, 0}}};
    const struct srow r3[] = {{"main.alloc", NULL, {30, 300, 0, 0}}};
    struct delta_state st;
    struct pdata *a = heap(r1, 1, 10 * SEC, 0);
    struct pdata *b = heap(r2, 1, 20 * SEC, 0);
    struct pdata *c = heap(r3, 1, 30 * SEC, 0);
    enum delta_outcome out;
    struct errctx e = {{0}};

    (void)state;
    delta_state_init(&st);
    step(&st, a);
    assert_int_equal(delta_compute(&st, b, 0, 1 << 20, &out, &e), PC_OK);
    assert_int_equal(out, DELTA_EMIT);
    delta_abort(&st);
    assert_int_equal(step(&st, c), DELTA_EMIT);
    expect(c, "main.alloc", NULL, 20, 200, 0, 0);
    assert_int_equal(prof(c)->duration_nanos, 20 * SEC);
    pdata_free(a);
    pdata_free(b);
    pdata_free(c);
    delta_state_free(&st);
}

static void test_mutex_profile(void **state)
{
    static const char *const mtypes[] = {"contentions", "count", "delay",
                                         "nanoseconds"};
    const struct srow r1[] = {{"sync.(*Mutex).Lock", NULL, {5, 5000}}};
    const struct srow r2[] = {{"sync.(*Mutex).Lock", NULL, {9, 9000}}};
    struct delta_state st;
    struct pdata *a = build(mtypes, 2, r1, 1, 0, 0);
    struct pdata *b = build(mtypes, 2, r2, 1, 0, 0);
    enum delta_outcome out;
    struct errctx e = {{0}};

    (void)state;
    assert_true(delta_applies(a));
    delta_state_init(&st);
    /* No time_nanos: the scrape times make the window. */
    assert_int_equal(delta_compute(&st, a, 50 * SEC, 1 << 20, &out, &e),
                     PC_OK);
    delta_commit(&st);
    assert_int_equal(delta_compute(&st, b, 52 * SEC, 1 << 20, &out, &e),
                     PC_OK);
    delta_commit(&st);
    assert_int_equal(out, DELTA_EMIT);
    expect(b, "sync.(*Mutex).Lock", NULL, 4, 4000, 0, 0);
    assert_int_equal(prof(b)->duration_nanos, 2 * SEC);
    pdata_free(a);
    pdata_free(b);
    delta_state_free(&st);
}

/* Sample types changed between scrapes: start over from a new baseline. */
static void test_types_change(void **state)
{
    static const char *const other[] = {"alloc_objects", "count",
                                        "alloc_space", "bytes"};
    const struct srow r1[] = {{"main.a", NULL, {1, 2, 3, 4}}};
    struct delta_state st;
    struct pdata *a = heap(r1, 1, SEC, 0);
    struct pdata *b = build(other, 2, r1, 1, 2 * SEC, 0);

    (void)state;
    delta_state_init(&st);
    step(&st, a);
    assert_int_equal(step(&st, b), DELTA_BASELINE);
    pdata_free(a);
    pdata_free(b);
    delta_state_free(&st);
}

static void test_cap(void **state)
{
    struct srow rows[200];
    struct delta_state st;
    struct pdata *a;
    enum delta_outcome out;
    struct errctx e = {{0}};
    char names[200][16];
    uint32_t i;

    (void)state;
    for (i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "main.f%03u", i);
        rows[i].leaf = names[i];
        rows[i].label = NULL;
        rows[i].v[0] = i + 1;
        rows[i].v[1] = rows[i].v[2] = rows[i].v[3] = 1;
    }
    a = heap(rows, 200, SEC, 0);
    delta_state_init(&st);
    assert_int_equal(delta_compute(&st, a, 0, 2048, &out, &e), PC_ETOOBIG);
    assert_non_null(strstr(e.msg, "2048 bytes"));
    assert_int_equal(prof(a)->nsamples, 200); /* unchanged */
    assert_int_equal(delta_state_bytes(&st), 0);
    assert_int_equal(delta_compute(&st, a, 0, 1 << 20, &out, &e), PC_OK);
    assert_true(delta_pending_bytes(&st) <= (1 << 20));
    delta_abort(&st);
    pdata_free(a);
    delta_state_free(&st);
}

static void test_not_cumulative(void **state)
{
    static const char *const g[] = {"goroutine", "count"};
    const struct srow r1[] = {{"main.a", NULL, {1}}};
    struct pdata *a = build(g, 1, r1, 1, SEC, 0);
    struct delta_state st;
    enum delta_outcome out;
    struct errctx e = {{0}};

    (void)state;
    assert_false(delta_applies(a));
    delta_state_init(&st);
    assert_int_equal(delta_compute(&st, a, 0, 1 << 20, &out, &e), PC_EINVAL);
    pdata_free(a);
    delta_state_free(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_then_delta),
        cmocka_unit_test(test_reset_emits_raw),
        cmocka_unit_test(test_labels_split_keys),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_abort_keeps_baseline),
        cmocka_unit_test(test_mutex_profile),
        cmocka_unit_test(test_types_change),
        cmocka_unit_test(test_cap),
        cmocka_unit_test(test_not_cumulative),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
