/* test_convert.c: cross-format round trips (docs/conversion.md).
 *
 * pprof -> model -> OTLP -> model -> pprof -> model must keep every pprof
 * field, including the two Go's pprof library cannot check for us (doc_url
 * and Line.column). OTLP-only data written to pprof must come out as the
 * documented labels, and what pprof cannot carry must be dropped without
 * disturbing the rest. Models are compared by value (strings resolved), as
 * table positions may change on the way. */
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
#include "model/profile.h"
#include "pbw.h"

/* ---- a rich pprof, written with pbw.h ------------------------------------ */

/* The string table of the rich pprof below; S_x is the index of x. */
enum {
    S_EMPTY,
    S_SAMPLES,
    S_COUNT,
    S_CPU,
    S_NS,
    S_APP,
    S_LIBC,
    S_BUILDID,
    S_MAIN,
    S_WORK,
    S_MAINGO,
    S_TAG,
    S_A,
    S_B,
    S_BYTES,
    S_THREAD,
    S_W1,
    S_C1,
    S_C2,
    S_C3,
    S_DROP,
    S_KEEP,
    S_DOC,
    S_LAT,
    S_MS,
    S_SEC,
    S_NSTR
};
static const char *const strs[S_NSTR] = {
    "",
    "samples",
    "count",
    "cpu",
    "nanoseconds",
    "/usr/bin/app",
    "/lib/libc.so",
    "abc123",
    "main.main",
    "main.work",
    "main.go",
    "tag",
    "a",
    "b",
    "bytes",
    "thread",
    "w1",
    "zeta comment",
    "alpha comment",
    "mid comment",
    "runtime\\..*",
    "main\\..*",
    "https://example.com/doc",
    "latency",
    "milliseconds",
    "seconds",
};

static void w_mapping(struct buf *b, uint64_t id, uint64_t file,
                      uint64_t build, int flags)
{
    size_t m = pbw_begin(b, 3);

    pbw_uint(b, 1, id);
    pbw_uint(b, 2, 0x400000 * id);
    pbw_uint(b, 3, 0x400000 * id + 0x100000);
    pbw_uint(b, 4, 0x1000);
    pbw_uint(b, 5, file);
    if (build != 0) {
        pbw_uint(b, 6, build);
    }
    if (flags & 1) {
        pbw_uint(b, 7, 1);
    }
    if (flags & 2) {
        pbw_uint(b, 8, 1);
    }
    if (flags & 4) {
        pbw_uint(b, 9, 1);
    }
    if (flags & 8) {
        pbw_uint(b, 10, 1);
    }
    pbw_end(b, m);
}

static void w_sample(struct buf *b, const uint64_t *locs, size_t nlocs,
                     uint64_t v1, uint64_t v2, int labels)
{
    const uint64_t vals[] = {v1, v2};
    size_t m = pbw_begin(b, 2);

    pbw_packed(b, 1, locs, nlocs);
    pbw_packed(b, 2, vals, 2);
    if (labels == 1) {
        /* Multi-valued string label, a numeric label with a unit. */
        pbw_label(b, S_TAG, S_A, 0, 0);
        pbw_label(b, S_BYTES, 0, 512, S_BYTES);
        pbw_label(b, S_TAG, S_B, 0, 0);
    } else if (labels == 2) {
        pbw_label(b, S_THREAD, S_W1, 0, 0);
        /* Several numbers of one key and unit round-trip exactly. */
        pbw_label(b, S_LAT, 0, 3, S_MS);
        pbw_label(b, S_LAT, 0, 4, S_MS);
    }
    pbw_end(b, m);
}

/*
 * Every pprof field set: two sample types, default_sample_type, three
 * comments out of alphabetical order, drop/keep frames, doc_url, a mapping
 * no location uses, an inlined location whose lines have columns.
 */
static void build_rich(struct buf *b)
{
    static const uint64_t s1[] = {1, 2}, s2[] = {2};
    size_t m, i;

    buf_init(b, 0);
    pbw_value_type(b, 1, S_SAMPLES, S_COUNT);
    pbw_value_type(b, 1, S_CPU, S_NS);
    w_sample(b, s1, 2, 1, 10000000, 1);
    w_sample(b, s2, 1, 2, 20000000, 2);
    w_mapping(b, 1, S_APP, S_BUILDID, 1 | 4);
    w_mapping(b, 2, S_LIBC, 0, 2 | 8); /* unreferenced */
    m = pbw_location_begin(b, 1, 1, 0x401000);
    pbw_line(b, 2, 22, 5);
    pbw_line(b, 1, 12, 7);
    pbw_uint(b, 5, 1); /* is_folded */
    pbw_end(b, m);
    m = pbw_location_begin(b, 2, 1, 0x402000);
    pbw_line(b, 1, 14, 0);
    pbw_end(b, m);
    pbw_function(b, 1, S_MAIN, S_MAIN, S_MAINGO, 10);
    pbw_function(b, 2, S_WORK, S_WORK, S_MAINGO, 20);
    for (i = 0; i < S_NSTR; i++) {
        pbw_str(b, 6, strs[i]);
    }
    pbw_uint(b, 7, S_DROP);
    pbw_uint(b, 8, S_KEEP);
    pbw_uint(b, 9, 1700000000000000000ULL);
    pbw_uint(b, 10, 10000000000ULL);
    pbw_value_type(b, 11, S_CPU, S_NS);
    pbw_uint(b, 12, 10000000);
    pbw_uint(b, 13, S_C1);
    pbw_uint(b, 13, S_C2);
    pbw_uint(b, 13, S_C3);
    pbw_uint(b, 14, S_CPU);
    pbw_uint(b, 15, S_DOC);
}

/* ---- conversions -------------------------------------------------------- */

static struct pdata *from_pprof(const uint8_t *d, size_t n)
{
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    int rc = pprof_decode(d, n, NULL, &pd, &e);

    if (rc != PC_OK) {
        fail_msg("pprof_decode: %s", err_msg(&e, rc));
    }
    return pd;
}

static const struct profile *only_profile(const struct pdata *pd)
{
    assert_int_equal(pdata_profile_count(pd), 1);
    return &pd->resources[0].scopes[0].profiles[0];
}

/* model -> pprof bytes -> model */
static struct pdata *via_pprof(const struct pdata *pd)
{
    struct errctx e = {{0}};
    struct pdata *back;
    struct buf b;
    int rc;

    buf_init(&b, 0);
    rc = pprof_encode(pd, only_profile(pd), &b, &e);
    if (rc != PC_OK) {
        fail_msg("pprof_encode: %s", err_msg(&e, rc));
    }
    back = from_pprof(b.data, b.len);
    buf_free(&b);
    return back;
}

/* model -> OTLP bytes (validated) -> model */
static struct pdata *via_otlp(const struct pdata *pd)
{
    const struct pdata *in[1] = {pd};
    struct errctx e = {{0}};
    struct pdata *back = NULL;
    struct buf b;
    int rc;

    buf_init(&b, 0);
    rc = otlp_encode(in, 1, &b, &e);
    if (rc == PC_OK) {
        rc = otlp_validate(b.data, b.len, &e);
    }
    if (rc == PC_OK) {
        rc = otlp_decode(b.data, b.len, NULL, &back, &e);
    }
    buf_free(&b);
    if (rc != PC_OK) {
        fail_msg("otlp: %s", err_msg(&e, rc));
    }
    return back;
}

/* ---- comparing by value ------------------------------------------------- */

static void same_str(const struct pdata *a, int32_t i, const struct pdata *b,
                     int32_t j)
{
    struct pstr x = dict_str(&a->dict, i), y = dict_str(&b->dict, j);

    if (!pstr_eqp(x, y)) {
        fail_msg("string \"%.*s\" became \"%.*s\"", (int)x.len, x.ptr,
                 (int)y.len, y.ptr);
    }
}

static void is_str(const struct pdata *pd, int32_t i, const char *s)
{
    struct pstr x = dict_str(&pd->dict, i);

    if (!pstr_eq(x, s)) {
        fail_msg("expected \"%s\", got \"%.*s\"", s, (int)x.len, x.ptr);
    }
}

static void same_mapping(const struct pdata *a, int32_t i,
                         const struct pdata *b, int32_t j)
{
    const struct mapping *x = &a->dict.mappings[i], *y = &b->dict.mappings[j];

    assert_int_equal(i == 0, j == 0);
    assert_int_equal(x->memory_start, y->memory_start);
    assert_int_equal(x->memory_limit, y->memory_limit);
    assert_int_equal(x->file_offset, y->file_offset);
    assert_int_equal(x->flags, y->flags);
    same_str(a, x->filename, b, y->filename);
    same_str(a, x->build_id, b, y->build_id);
}

static void same_location(const struct pdata *a, int32_t i,
                          const struct pdata *b, int32_t j)
{
    const struct location *x = &a->dict.locations[i];
    const struct location *y = &b->dict.locations[j];
    uint32_t k;

    assert_int_equal(x->address, y->address);
    assert_int_equal(x->is_folded, y->is_folded);
    same_mapping(a, x->mapping, b, y->mapping);
    assert_int_equal(x->nlines, y->nlines);
    for (k = 0; k < x->nlines; k++) {
        const struct function *f = &a->dict.functions[x->lines[k].function];
        const struct function *g = &b->dict.functions[y->lines[k].function];
        assert_int_equal(x->lines[k].line, y->lines[k].line);
        assert_int_equal(x->lines[k].column, y->lines[k].column);
        same_str(a, f->name, b, g->name);
        same_str(a, f->system_name, b, g->system_name);
        same_str(a, f->filename, b, g->filename);
        assert_int_equal(f->start_line, g->start_line);
    }
}

static int attr_eq(const struct pdata *a, int32_t i, const struct pdata *b,
                   int32_t j)
{
    const struct attr *x = &a->dict.attrs[i], *y = &b->dict.attrs[j];

    if (!pstr_eqp(dict_str(&a->dict, x->key), dict_str(&b->dict, y->key)) ||
        !pstr_eqp(dict_str(&a->dict, x->unit), dict_str(&b->dict, y->unit)) ||
        x->value.type != y->value.type) {
        return 0;
    }
    return x->value.type == AV_STRING ? pstr_eqp(x->value.u.s, y->value.u.s)
                                      : x->value.u.i == y->value.u.i;
}

/* Labels of sample s equal to attr i of pd a. */
static int attr_count(const struct pdata *a, int32_t i, const struct pdata *b,
                      const struct sample *s)
{
    uint32_t k;
    int n = 0;

    for (k = 0; k < s->nattrs; k++) {
        n += attr_eq(a, i, b, s->attrs[k]);
    }
    return n;
}

static void same_sample(const struct pdata *a, const struct sample *x,
                        const struct pdata *b, const struct sample *y)
{
    const struct stack *sx = &a->dict.stacks[x->stack];
    const struct stack *sy = &b->dict.stacks[y->stack];
    uint32_t k;

    assert_int_equal(sx->n, sy->n);
    for (k = 0; k < sx->n; k++) {
        same_location(a, stack_loc(sx, k), b, stack_loc(sy, k));
    }
    assert_int_equal(x->nvalues, y->nvalues);
    for (k = 0; k < x->nvalues; k++) {
        assert_int_equal(x->values[k], y->values[k]);
    }
    /* The same labels, as a multiset: the labels of one key come out
     * together (they travel as one OTLP array attribute). */
    assert_int_equal(x->nattrs, y->nattrs);
    for (k = 0; k < x->nattrs; k++) {
        assert_int_equal(attr_count(a, x->attrs[k], a, x),
                         attr_count(a, x->attrs[k], b, y));
    }
}

static void same_vt(const struct pdata *a, struct value_type x,
                    const struct pdata *b, struct value_type y)
{
    same_str(a, x.type, b, y.type);
    same_str(a, x.unit, b, y.unit);
}

/* Every pprof field of profile a equals profile b's (section 1). */
static void same_pprof(const struct pdata *a, const struct pdata *b)
{
    const struct profile *p = only_profile(a), *q = only_profile(b);
    uint32_t i;

    assert_int_equal(p->nsample_types, q->nsample_types);
    for (i = 0; i < p->nsample_types; i++) {
        same_vt(a, p->sample_types[i], b, q->sample_types[i]);
    }
    same_str(a, p->default_sample_type, b, q->default_sample_type);
    same_vt(a, p->period_type, b, q->period_type);
    assert_int_equal(p->period, q->period);
    assert_int_equal(p->time_nanos, q->time_nanos);
    assert_int_equal(p->duration_nanos, q->duration_nanos);
    assert_int_equal(p->ncomments, q->ncomments);
    for (i = 0; i < p->ncomments; i++) {
        same_str(a, p->comments[i], b, q->comments[i]);
    }
    same_str(a, p->drop_frames, b, q->drop_frames);
    same_str(a, p->keep_frames, b, q->keep_frames);
    same_str(a, p->doc_url, b, q->doc_url);
    assert_int_equal(p->nsamples, q->nsamples);
    for (i = 0; i < p->nsamples; i++) {
        same_sample(a, &p->samples[i], b, &q->samples[i]);
    }
    /* Every mapping, referenced or not, in order. */
    assert_int_equal(a->dict.nmappings, b->dict.nmappings);
    for (i = 1; i < a->dict.nmappings; i++) {
        same_mapping(a, (int32_t)i, b, (int32_t)i);
    }
}

/* ---- pprof -> OTLP -> pprof ---------------------------------------------- */

static void test_convert_pprof_otlp_pprof(void **state)
{
    struct pdata *orig, *otlp, *back;
    const struct profile *p;
    struct buf b;

    (void)state;
    build_rich(&b);
    orig = from_pprof(b.data, b.len);
    otlp = via_otlp(orig);
    assert_int_equal(otlp->dict.nmappings, orig->dict.nmappings);
    back = via_pprof(otlp);
    same_pprof(orig, back);
    /* The fields Go's pprof library cannot see, checked by name. */
    p = only_profile(back);
    is_str(back, p->doc_url, "https://example.com/doc");
    is_str(back, p->default_sample_type, "cpu");
    is_str(back, p->comments[0], "zeta comment");
    is_str(back, p->comments[2], "mid comment");
    assert_int_equal(
        back->dict
            .locations[stack_loc(&back->dict.stacks[p->samples[0].stack], 0)]
            .lines[0]
            .column,
        5);
    assert_int_equal(back->dict.nmappings, 3); /* zero entry + 2 */
    pdata_free(back);
    pdata_free(otlp);
    pdata_free(orig);
    buf_free(&b);
}

/* Section 3: one key, numbers in two units -> one OTLP attribute with the
 * first unit; the values survive, the second unit does not. */
static void test_convert_mixed_units_keep_first(void **state)
{
    static const uint64_t locs[] = {1};
    struct pdata *orig, *otlp, *back;
    const struct profile *p;
    const struct attr *x, *y;
    struct buf b;
    size_t m;
    int i;

    (void)state;
    buf_init(&b, 0);
    pbw_value_type(&b, 1, 1, 2);
    m = pbw_begin(&b, 2);
    pbw_uint(&b, 1, locs[0]);
    pbw_uint(&b, 2, 1);
    pbw_label(&b, 3, 0, 250, 4);
    pbw_label(&b, 3, 0, 7, 5);
    pbw_end(&b, m);
    m = pbw_begin(&b, 4);
    pbw_uint(&b, 1, 1);
    pbw_uint(&b, 3, 0x1000);
    pbw_end(&b, m);
    for (i = 0; i < 6; i++) {
        static const char *const s[] = {"",        "samples",      "count",
                                        "latency", "milliseconds", "seconds"};
        pbw_str(&b, 6, s[i]);
    }
    orig = from_pprof(b.data, b.len);
    otlp = via_otlp(orig);
    back = via_pprof(otlp);
    p = only_profile(back);
    assert_int_equal(p->samples[0].nattrs, 2);
    x = &back->dict.attrs[p->samples[0].attrs[0]];
    y = &back->dict.attrs[p->samples[0].attrs[1]];
    is_str(back, x->key, "latency");
    is_str(back, y->key, "latency");
    assert_int_equal(x->value.u.i, 250);
    assert_int_equal(y->value.u.i, 7);
    is_str(back, x->unit, "milliseconds");
    is_str(back, y->unit, "milliseconds"); /* the documented loss */
    pdata_free(back);
    pdata_free(otlp);
    pdata_free(orig);
    buf_free(&b);
}

/* ---- OTLP -> pprof -------------------------------------------------------- */

static int32_t S(struct pdata *pd, const char *s)
{
    int32_t i = dict_string(pd, s, strlen(s));

    assert_true(i >= 0);
    return i;
}

static int32_t add_attr(struct pdata *pd, const char *k, struct anyvalue v)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    a.key = S(pd, k);
    a.value = v;
    return dict_add_attr(pd, &a);
}

static struct anyvalue av_str(const char *s)
{
    struct anyvalue v;

    memset(&v, 0, sizeof(v));
    v.type = AV_STRING;
    v.u.s.ptr = s;
    v.u.s.len = (uint32_t)strlen(s);
    return v;
}

static struct anyvalue av_int(int64_t i)
{
    struct anyvalue v;

    memset(&v, 0, sizeof(v));
    v.type = AV_INT;
    v.u.i = i;
    return v;
}

static int32_t *ints(struct pdata *pd, int n, ...)
{
    int32_t *p = arena_calloc(&pd->arena, (size_t)n, sizeof(int32_t));
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        p[i] = va_arg(ap, int32_t);
    }
    va_end(ap);
    return p;
}

/* One attribute of each AnyValue type, as an OTLP receiver decodes them. */
static int32_t *anyvalue_attrs(struct pdata *pd, uint32_t *n)
{
    static const uint8_t bytes[3] = {0x00, 0xff, 0x10};
    struct anyvalue v, *arr = arena_calloc(&pd->arena, 2, sizeof(*arr));
    struct keyvalue *kv = arena_calloc(&pd->arena, 2, sizeof(*kv));
    int32_t ab, ad, ay, aa, ak, ae;

    memset(&v, 0, sizeof(v));
    v.type = AV_BOOL;
    v.u.b = 1;
    ab = add_attr(pd, "b", v);
    v.type = AV_DOUBLE;
    v.u.d = -2.5;
    ad = add_attr(pd, "d", v);
    v.type = AV_BYTES;
    v.u.s.ptr = (const char *)bytes;
    v.u.s.len = 3;
    ay = add_attr(pd, "y", v);
    arr[0] = av_str("e0");
    arr[1] = av_int(9);
    v.type = AV_ARRAY;
    v.u.arr.items = arr;
    v.u.arr.n = 2;
    aa = add_attr(pd, "arr", v);
    kv[0].key.ptr = "k1";
    kv[0].key.len = 2;
    kv[0].value = av_str("v1");
    kv[1].key.ptr = "k2";
    kv[1].key.len = 2;
    kv[1].value = av_int(2);
    v.type = AV_KVLIST;
    v.u.kv.items = kv;
    v.u.kv.n = 2;
    ak = add_attr(pd, "kv", v);
    memset(&v, 0, sizeof(v));
    ae = add_attr(pd, "empty", v);
    *n = 8;
    return ints(pd, 8, add_attr(pd, "s", av_str("v")),
                add_attr(pd, "i", av_int(-3)), ab, ad, ay, aa, ak, ae);
}

/*
 * An OTLP-shaped model: one sample type, a resource, a scope and profile
 * fields pprof has no place for, a location attribute, a link, a sample of
 * values with timestamps and a sample of timestamps only.
 */
static struct pdata *build_otlp_model(void)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct location l;
    struct link lk;
    int32_t loc, st, li, i;

    assert_int_equal(dict_init(pd), 0);
    memset(&l, 0, sizeof(l));
    l.address = 0x1234;
    l.nattrs = 1;
    l.attrs = ints(pd, 1, add_attr(pd, "profile.frame.type", av_str("go")));
    loc = dict_add_location(pd, &l);
    st = dict_add_stack(pd, &loc, 1);
    for (i = 0; i < 16; i++) {
        lk.trace_id[i] = (uint8_t)(i + 1);
    }
    for (i = 0; i < 8; i++) {
        lk.span_id[i] = (uint8_t)(0xa0 + i);
    }
    li = dict_add_link(pd, &lk);
    rp = pdata_add_resource(pd);
    rp->has_resource = 1;
    rp->resource.nattrs = 1;
    rp->resource.attrs = arena_calloc(&pd->arena, 1, sizeof(struct keyvalue));
    rp->resource.attrs[0].key.ptr = "service.name";
    rp->resource.attrs[0].key.len = 12;
    rp->resource.attrs[0].value = av_str("checkout");
    sp = pdata_add_scope(pd, rp);
    sp->has_scope = 1;
    sp->scope.name.ptr = "profiler";
    sp->scope.name.len = 8;
    p = pdata_add_profile(pd, sp);
    p->nsample_types = 1;
    p->sample_types = arena_calloc(&pd->arena, 1, sizeof(struct value_type));
    p->sample_types[0].type = S(pd, "samples");
    p->sample_types[0].unit = S(pd, "count");
    p->time_nanos = 1000;
    p->duration_nanos = 100;
    for (i = 0; i < 16; i++) {
        p->profile_id[i] = (uint8_t)(0x30 + i);
    }
    p->dropped_attributes_count = 2;
    p->original_payload_format.ptr = "pprofext";
    p->original_payload_format.len = 8;
    p->nattrs = 1;
    p->attrs = ints(pd, 1, add_attr(pd, "process.pid", av_int(42)));
    p->nsamples = 3;
    p->samples = arena_calloc(&pd->arena, 3, sizeof(struct sample));
    p->samples[0].stack = st;
    p->samples[0].link = li;
    p->samples[0].attrs = anyvalue_attrs(pd, &p->samples[0].nattrs);
    p->samples[0].nvalues = 2;
    /* values, then the timestamps (sample_ts) */
    p->samples[0].values = arena_calloc(&pd->arena, 4, sizeof(int64_t));
    p->samples[0].values[0] = 3;
    p->samples[0].values[1] = 4;
    p->samples[0].nts = 2;
    p->samples[0].values[2] = 1010;
    p->samples[0].values[3] = 1090;
    /* timestamps only; an existing trace_id label keeps its value */
    p->samples[1].stack = st;
    p->samples[1].link = li;
    p->samples[1].nattrs = 1;
    p->samples[1].attrs = ints(pd, 1, add_attr(pd, "trace_id", av_str("t")));
    p->samples[1].nts = 3;
    p->samples[1].values = arena_calloc(&pd->arena, 3, sizeof(int64_t));
    p->samples[1].values[0] = 1001;
    p->samples[1].values[1] = 1002;
    p->samples[1].values[2] = 1003;
    p->samples[2].stack = st;
    p->samples[2].nvalues = 1;
    p->samples[2].values = arena_calloc(&pd->arena, 1, sizeof(int64_t));
    p->samples[2].values[0] = 9;
    return pd;
}

/* Number of labels of sample s with this key and string value. */
static int count_label(const struct pdata *pd, const struct sample *s,
                       const char *key, const char *str)
{
    int n = 0;
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[s->attrs[i]];
        if (pstr_eq(dict_str(&pd->dict, a->key), key) &&
            a->value.type == AV_STRING && pstr_eq(a->value.u.s, str)) {
            n++;
        }
    }
    return n;
}

static int64_t int_label(const struct pdata *pd, const struct sample *s,
                         const char *key, int nth)
{
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[s->attrs[i]];
        if (pstr_eq(dict_str(&pd->dict, a->key), key) &&
            a->value.type == AV_INT && nth-- == 0) {
            return a->value.u.i;
        }
    }
    fail_msg("no int label %s", key);
    return 0;
}

/* Section 2, Sample 2: how each AnyValue type becomes pprof labels. */
static void test_convert_otlp_anyvalue_labels(void **state)
{
    struct pdata *pd = build_otlp_model(), *otlp, *back;
    const struct sample *s;

    (void)state;
    otlp = via_otlp(pd);
    back = via_pprof(otlp);
    s = &only_profile(back)->samples[0];
    assert_int_equal(count_label(back, s, "s", "v"), 1);
    assert_int_equal(int_label(back, s, "i", 0), -3);
    assert_int_equal(count_label(back, s, "b", "true"), 1);
    assert_int_equal(count_label(back, s, "d", "-2.5"), 1);
    assert_int_equal(count_label(back, s, "y", "00ff10"), 1);
    /* An array: one label per element. */
    assert_int_equal(count_label(back, s, "arr", "e0"), 1);
    assert_int_equal(int_label(back, s, "arr", 0), 9);
    /* A kvlist: one label per entry, key <key>.<entrykey>. */
    assert_int_equal(count_label(back, s, "kv.k1", "v1"), 1);
    assert_int_equal(int_label(back, s, "kv.k2", 0), 2);
    /* An empty value: no label. */
    assert_int_equal(count_label(back, s, "empty", ""), 0);
    pdata_free(back);
    pdata_free(otlp);
    pdata_free(pd);
}

/* Links become trace_id / span_id labels, never replacing a label the
 * sample has; a sample of timestamps only counts them. */
static void test_convert_otlp_links_and_timestamps(void **state)
{
    struct pdata *pd = build_otlp_model(), *back;
    const struct profile *p;

    (void)state;
    back = via_pprof(pd);
    p = only_profile(back);
    assert_int_equal(p->nsamples, 3);
    assert_int_equal(count_label(back, &p->samples[0], "trace_id",
                                 "0102030405060708090a0b0c0d0e0f10"),
                     1);
    assert_int_equal(count_label(back, &p->samples[0], "span_id",
                                 "a0a1a2a3a4a5a6a7"),
                     1);
    assert_int_equal(count_label(back, &p->samples[1], "trace_id", "t"), 1);
    assert_int_equal(count_label(back, &p->samples[1], "trace_id",
                                 "0102030405060708090a0b0c0d0e0f10"),
                     0);
    assert_int_equal(count_label(back, &p->samples[1], "span_id",
                                 "a0a1a2a3a4a5a6a7"),
                     1);
    /* One sample type: values summed; timestamps only: their number. */
    assert_int_equal(p->samples[0].nvalues, 1);
    assert_int_equal(p->samples[0].values[0], 7);
    assert_int_equal(p->samples[1].values[0], 3);
    assert_int_equal(p->samples[2].values[0], 9);
    pdata_free(back);
    pdata_free(pd);
}

/* Section 4: what pprof cannot carry is dropped, and the rest is intact. */
static void test_convert_otlp_only_dropped(void **state)
{
    struct pdata *pd = build_otlp_model(), *otlp, *back;
    const struct profile *p;
    const struct location *l;
    uint32_t i;

    (void)state;
    otlp = via_otlp(pd);
    back = via_pprof(otlp);
    p = only_profile(back);
    /* Resource, scope and profile fields are gone, not turned into data. */
    assert_int_equal(back->resources[0].has_resource, 0);
    assert_int_equal(back->resources[0].scopes[0].scope.name.len, 0);
    for (i = 0; i < 16; i++) {
        assert_int_equal(p->profile_id[i], 0);
    }
    assert_int_equal(p->dropped_attributes_count, 0);
    assert_int_equal(p->original_payload_format.len, 0);
    assert_int_equal(p->nattrs, 0);
    for (i = 0; i < p->nsamples; i++) {
        assert_int_equal(p->samples[i].nts, 0);
        assert_int_equal(count_label(back, &p->samples[i], "service.name",
                                     "checkout"),
                         0);
        assert_int_equal(count_label(back, &p->samples[i],
                                     "profile.frame.type", "go"),
                         0);
    }
    /* The location keeps its address, loses its attribute. */
    l = &back->dict
             .locations[stack_loc(&back->dict.stacks[p->samples[2].stack], 0)];
    assert_int_equal(l->address, 0x1234);
    assert_int_equal(l->nattrs, 0);
    is_str(back, p->sample_types[0].type, "samples");
    is_str(back, p->sample_types[0].unit, "count");
    assert_int_equal(p->time_nanos, 1000);
    pdata_free(back);
    pdata_free(otlp);
    pdata_free(pd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert_pprof_otlp_pprof),
        cmocka_unit_test(test_convert_mixed_units_keep_first),
        cmocka_unit_test(test_convert_otlp_anyvalue_labels),
        cmocka_unit_test(test_convert_otlp_links_and_timestamps),
        cmocka_unit_test(test_convert_otlp_only_dropped),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
