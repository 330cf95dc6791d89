/* test_pdata_merge.c: merging profiles (model/pdata_merge.h) built by hand:
 * equal content under different ids and table orders merges, labels and
 * links keep samples apart, dropped labels do not, OTLP timestamp-only
 * samples count 1 each, and mismatched sample types are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/pdata_merge.h"

static int32_t str(struct pdata *pd, const char *s)
{
    int32_t i = dict_string(pd, s, strlen(s));

    assert_true(i >= 0);
    return i;
}

/* A location with one line of a new function called name. */
static int32_t loc(struct pdata *pd, const char *name)
{
    struct function f = {str(pd, name), 0, str(pd, "main.go"), 0};
    struct line ln = {0, 7, 0};
    struct location l;

    memset(&l, 0, sizeof(l));
    ln.function = dict_add_function(pd, &f);
    l.lines = arena_memdup(&pd->arena, &ln, sizeof(ln));
    l.nlines = 1;
    l.address = 0x1000;
    return dict_add_location(pd, &l);
}

static int32_t label(struct pdata *pd, const char *k, const char *v)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    a.key = str(pd, k);
    a.value.type = AV_STRING;
    a.value.u.s.ptr = v;
    a.value.u.s.len = (uint32_t)strlen(v);
    return dict_add_attr(pd, &a);
}

static void sample(struct pdata *pd, struct profile *p, int32_t st,
                   int32_t attr, int64_t v)
{
    struct sample *s = &p->samples[p->nsamples++];

    memset(s, 0, sizeof(*s));
    s->stack = st;
    s->values = arena_calloc(&pd->arena, 2, sizeof(int64_t));
    s->values[0] = v;
    s->values[1] = v * 10;
    s->nvalues = 2;
    if (attr > 0) {
        s->attrs = arena_memdup(&pd->arena, &attr, sizeof(attr));
        s->nattrs = 1;
    }
}

/* Two stacks (a<-main, b<-main); reversed builds the tables in the other
 * order. Samples: a 1 (span=x), a 2 (span=y), b 4. */
static struct pdata *build(int reversed, struct profile **out)
{
    struct pdata *pd = pdata_new(0);
    struct profile *p;
    int32_t la, lb, lm, sa, sb, x, y, s[2];

    assert_int_equal(dict_init(pd), 0);
    if (reversed) {
        str(pd, "unused");
        lm = loc(pd, "main");
        lb = loc(pd, "b");
        la = loc(pd, "a");
        y = label(pd, "span", "y");
        x = label(pd, "span", "x");
    } else {
        la = loc(pd, "a");
        lb = loc(pd, "b");
        lm = loc(pd, "main");
        x = label(pd, "span", "x");
        y = label(pd, "span", "y");
    }
    s[0] = la, s[1] = lm;
    sa = dict_add_stack(pd, s, 2);
    s[0] = lb;
    sb = dict_add_stack(pd, s, 2);
    p = pdata_add_profile(pd, pdata_add_scope(pd, pdata_add_resource(pd)));
    p->sample_types = arena_calloc(&pd->arena, 2, sizeof(*p->sample_types));
    p->nsample_types = 2;
    p->sample_types[0].type = str(pd, "samples");
    p->sample_types[0].unit = str(pd, "count");
    p->sample_types[1].type = str(pd, "cpu");
    p->sample_types[1].unit = str(pd, "nanoseconds");
    p->samples = arena_calloc(&pd->arena, 4, sizeof(*p->samples));
    sample(pd, p, sa, x, 1);
    sample(pd, p, sa, y, 2);
    sample(pd, p, sb, 0, 4);
    *out = p;
    return pd;
}

static void test_merge_by_content(void **state)
{
    struct pdata *a, *b, *r;
    struct profile *pa, *pb, *pr;
    struct pdata_merge *m;

    (void)state;
    a = build(0, &pa);
    b = build(1, &pb);
    assert_int_equal(pdata_merge_new(0, &m), 0);
    assert_int_equal(pdata_merge_add(m, a, pa, NULL, 0), 0);
    assert_int_equal(pdata_merge_add(m, b, pb, NULL, 0), 0);
    assert_int_equal(pdata_merge_count(m), 2);
    assert_int_equal(pdata_merge_finish(m, NULL, 5, 6, &r), 0);
    pr = &r->resources[0].scopes[0].profiles[0];
    assert_int_equal(pr->nsamples, 3);       /* a/x, a/y, b */
    assert_int_equal(r->dict.nfunctions, 4); /* zero entry + a, b, main */
    assert_int_equal(r->dict.nstacks, 3);
    assert_true(pdata_profile_total(pr, 0) == 14);
    assert_true(pdata_profile_total(pr, 1) == 140);
    assert_true(pr->time_nanos == 5 && pr->duration_nanos == 6);
    pdata_free(r);
    pdata_free(a);
    pdata_free(b);
}

static void test_drop_label(void **state)
{
    static const char *const drop[] = {"span"};
    struct pdata *a, *r;
    struct profile *pa, *pr;
    struct pdata_merge *m;

    (void)state;
    a = build(0, &pa);
    assert_int_equal(pdata_merge_new(0, &m), 0);
    assert_int_equal(pdata_merge_add(m, a, pa, drop, 1), 0);
    assert_int_equal(pdata_merge_finish(m, NULL, 0, 0, &r), 0);
    pr = &r->resources[0].scopes[0].profiles[0];
    assert_int_equal(pr->nsamples, 2); /* a (x and y summed), b */
    assert_int_equal(pr->samples[0].nattrs, 0);
    assert_true(pdata_profile_total(pr, 0) == 7);
    pdata_free(r);
    pdata_free(a);
}

static void test_types_must_match(void **state)
{
    struct pdata *a, *b;
    struct profile *pa, *pb;
    struct pdata_merge *m;

    (void)state;
    a = build(0, &pa);
    b = build(1, &pb);
    pb->sample_types[1].unit = str(b, "microseconds");
    assert_int_equal(pdata_merge_new(0, &m), 0);
    assert_int_equal(pdata_merge_add(m, a, pa, NULL, 0), 0);
    assert_int_equal(pdata_merge_add(m, b, pb, NULL, 0), PC_EINVAL);
    pdata_merge_free(m);
    pdata_free(a);
    pdata_free(b);
}

/* OTLP: one sample type, per-event values or only timestamps. */
static void test_otlp_events(void **state)
{
    struct pdata *a, *r;
    struct profile *pa, *pr;
    struct pdata_merge *m;
    static int64_t ts[3] = {1, 2, 3}; /* no values: the timestamps */

    (void)state;
    a = build(0, &pa);
    pa->nsample_types = 1;
    pa->samples[0].nvalues = 0; /* three events, no values */
    pa->samples[0].values = ts;
    pa->samples[0].nts = 3;
    pa->samples[1].nvalues = 2; /* values 2 and 20 of one type */
    assert_true(pdata_profile_total(pa, 0) == 3 + 22 + 44);
    assert_int_equal(pdata_merge_new(0, &m), 0);
    assert_int_equal(pdata_merge_add(m, a, pa, NULL, 0), 0);
    assert_int_equal(pdata_merge_add(m, a, pa, NULL, 0), 0);
    assert_int_equal(pdata_merge_finish(m, NULL, 0, 0, &r), 0);
    pr = &r->resources[0].scopes[0].profiles[0];
    assert_true(pdata_profile_total(pr, 0) == 2 * (3 + 22 + 44));
    assert_int_equal(pr->samples[0].nts, 0);
    pdata_free(r);
    pdata_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_merge_by_content),
        cmocka_unit_test(test_drop_label),
        cmocka_unit_test(test_types_must_match),
        cmocka_unit_test(test_otlp_events),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
