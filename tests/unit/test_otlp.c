/*
 * test_otlp.c: the OTLP profiles codec (codec/otlp.h).
 *
 * Models built by hand are encoded, then (a) parsed with the protobuf-c
 * generated parser, an independent implementation, and checked field by
 * field, (b) checked with otlp_validate, (c) decoded again and compared with
 * the original semantically (indices resolved to contents). Hand-written
 * requests cover the decoder's input rules and every error it reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/otlp.h"
#include "codec/pprof.h"
#include "codec/pb.h"
#include "model/pdata_iter.h"
#include "opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"
#include "pbw.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest
    Req;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary
    PDict;
typedef Opentelemetry__Proto__Profiles__V1development__Profile PProf;
typedef Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit PKvu;
typedef Opentelemetry__Proto__Common__V1__AnyValue PAv;
#define REQ_UNPACK                                                            \
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__unpack
#define REQ_FREE                                                              \
    opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__free_unpacked

/* ---- building models ------------------------------------------------------ */

static int32_t S(struct pdata *pd, const char *s)
{
    int32_t i = dict_string(pd, s, strlen(s));

    assert_true(i >= 0);
    return i;
}

static int32_t A_str(struct pdata *pd, const char *k, const char *v)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    a.key = S(pd, k);
    a.value.type = AV_STRING;
    a.value.u.s.ptr = v;
    a.value.u.s.len = (uint32_t)strlen(v);
    return dict_add_attr(pd, &a);
}

static int32_t A_int(struct pdata *pd, const char *k, int64_t v,
                     const char *unit)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    a.key = S(pd, k);
    a.unit = unit ? S(pd, unit) : 0;
    a.value.type = AV_INT;
    a.value.u.i = v;
    return dict_add_attr(pd, &a);
}

static int32_t *I32S(struct pdata *pd, int n, ...)
{
    int32_t *p = arena_calloc(&pd->arena, (size_t)n + 1, sizeof(int32_t));
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        p[i] = va_arg(ap, int32_t);
    }
    va_end(ap);
    return p;
}

static int64_t *I64S(struct pdata *pd, int n, ...)
{
    int64_t *p = arena_calloc(&pd->arena, (size_t)n + 1, sizeof(int64_t));
    va_list ap;
    int i;

    va_start(ap, n);
    for (i = 0; i < n; i++) {
        p[i] = va_arg(ap, int64_t);
    }
    va_end(ap);
    return p;
}

static struct keyvalue *KV(struct pdata *pd, const char *k, const char *v)
{
    struct keyvalue *kv = arena_calloc(&pd->arena, 1, sizeof(*kv));

    kv->key.ptr = k;
    kv->key.len = (uint32_t)strlen(k);
    kv->value.type = AV_STRING;
    kv->value.u.s.ptr = v;
    kv->value.u.s.len = (uint32_t)strlen(v);
    return kv;
}

/*
 * A pprof-like model: 3 sample types, every pprof-only field set, two
 * mappings (one unreferenced), a folded location with two lines,
 * multi-valued and numeric labels.
 */
static struct pdata *build_pprof_like(void)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct mapping m;
    struct location l;
    struct function f;
    struct line *ln;
    int32_t f1, f2, m1, l1, l2, st1, st2;

    assert_int_equal(dict_init(pd), 0);
    memset(&f, 0, sizeof(f));
    f.name = S(pd, "main.main");
    f.system_name = S(pd, "main.main");
    f.filename = S(pd, "main.go");
    f.start_line = 10;
    f1 = dict_add_function(pd, &f);
    f.name = S(pd, "main.work");
    f.start_line = 20;
    f2 = dict_add_function(pd, &f);
    memset(&m, 0, sizeof(m));
    m.memory_start = 0x400000;
    m.memory_limit = 0x500000;
    m.file_offset = 0x1000;
    m.filename = S(pd, "/usr/bin/app");
    m.build_id = S(pd, "abc123");
    m.flags = MAPPING_HAS_FUNCTIONS | MAPPING_HAS_LINE_NUMBERS;
    m1 = dict_add_mapping(pd, &m);
    m.filename = S(pd, "/lib/libc.so");
    m.build_id = 0;
    m.flags = MAPPING_HAS_FILENAMES | MAPPING_HAS_INLINE_FRAMES;
    assert_true(dict_add_mapping(pd, &m) > 0); /* unreferenced */
    memset(&l, 0, sizeof(l));
    l.mapping = m1;
    l.address = 0x401000;
    l.is_folded = 1;
    ln = arena_calloc(&pd->arena, 2, sizeof(*ln));
    ln[0].function = f2;
    ln[0].line = 22;
    ln[0].column = 5;
    ln[1].function = f1;
    ln[1].line = 12;
    l.lines = ln;
    l.nlines = 2;
    l1 = dict_add_location(pd, &l);
    l.is_folded = 0;
    l.address = 0x402000;
    l.lines = ln + 1;
    l.nlines = 1;
    l2 = dict_add_location(pd, &l);
    st1 = dict_add_stack(pd, I32S(pd, 2, l1, l2), 2);
    st2 = dict_add_stack(pd, I32S(pd, 1, l2), 1);

    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    p->nsample_types = 3;
    p->sample_types = arena_calloc(&pd->arena, 3, sizeof(struct value_type));
    p->sample_types[0].type = S(pd, "samples");
    p->sample_types[0].unit = S(pd, "count");
    p->sample_types[1].type = S(pd, "cpu");
    p->sample_types[1].unit = S(pd, "nanoseconds");
    p->sample_types[2].type = S(pd, "alloc_space");
    p->sample_types[2].unit = S(pd, "bytes");
    p->default_sample_type = S(pd, "cpu");
    p->period_type.type = S(pd, "cpu");
    p->period_type.unit = S(pd, "nanoseconds");
    p->period = 10000000;
    p->time_nanos = 1700000000000000000LL;
    p->duration_nanos = 10000000000LL;
    p->ncomments = 2;
    p->comments = I32S(pd, 2, S(pd, "first comment"), S(pd, "second"));
    p->drop_frames = S(pd, "runtime\\..*");
    p->keep_frames = S(pd, "main\\..*");
    p->doc_url = S(pd, "https://example.com/doc");
    p->nsamples = 2;
    p->samples = arena_calloc(&pd->arena, 2, sizeof(struct sample));
    p->samples[0].stack = st1;
    p->samples[0].nvalues = 3;
    p->samples[0].values = I64S(pd, 3, (int64_t)1, (int64_t)10000000,
                                (int64_t)4096);
    /* Multi-valued label "tag" plus a numeric label with a unit. */
    p->samples[0].nattrs = 3;
    p->samples[0].attrs = I32S(pd, 3, A_str(pd, "tag", "a"),
                               A_int(pd, "bytes", 512, "bytes"),
                               A_str(pd, "tag", "b"));
    p->samples[1].stack = st2;
    p->samples[1].nvalues = 3;
    p->samples[1].values = I64S(pd, 3, (int64_t)2, (int64_t)20000000,
                                (int64_t)0);
    p->samples[1].nattrs = 1;
    p->samples[1].attrs = I32S(pd, 1, A_str(pd, "thread", "worker"));
    return pd;
}

/* ---- encode / independent parse / validate / decode ------------------------ */

static void encode(const struct pdata *const *in, size_t n, struct buf *b)
{
    struct errctx e = {{0}};

    buf_init(b, BUF_MAX_DEFAULT);
    assert_int_equal(otlp_encode(in, n, b, &e), 0);
    assert_int_equal(otlp_validate(b->data, b->len, &e), 0);
}

static Req *unpack(const struct buf *b)
{
    Req *r = REQ_UNPACK(NULL, b->len, b->data);

    assert_non_null(r);
    assert_non_null(r->dictionary);
    return r;
}

/* Tables: entry 0 present and zero, no two entries encode alike. */
#define CHECK_TABLE(d, tab, packfn, sizefn)                                   \
    do {                                                                      \
        size_t i_, j_;                                                        \
        assert_true((d)->n_##tab >= 1);                                       \
        assert_int_equal(sizefn((d)->tab[0]), 0);                             \
        for (i_ = 0; i_ < (d)->n_##tab; i_++) {                               \
            for (j_ = i_ + 1; j_ < (d)->n_##tab; j_++) {                      \
                size_t a_ = sizefn((d)->tab[i_]), b_ = sizefn((d)->tab[j_]);  \
                uint8_t *x_ = malloc(a_ + 1), *y_ = malloc(b_ + 1);           \
                packfn((d)->tab[i_], x_);                                     \
                packfn((d)->tab[j_], y_);                                     \
                assert_false(a_ == b_ && memcmp(x_, y_, a_) == 0);            \
                free(x_);                                                     \
                free(y_);                                                     \
            }                                                                 \
        }                                                                     \
    } while (0)

static void check_dictionary(const PDict *d)
{
    size_t i, j;

    CHECK_TABLE(
        d, mapping_table,
        opentelemetry__proto__profiles__v1development__mapping__pack,
        opentelemetry__proto__profiles__v1development__mapping__get_packed_size);
    CHECK_TABLE(
        d, location_table,
        opentelemetry__proto__profiles__v1development__location__pack,
        opentelemetry__proto__profiles__v1development__location__get_packed_size);
    CHECK_TABLE(
        d, function_table,
        opentelemetry__proto__profiles__v1development__function__pack,
        opentelemetry__proto__profiles__v1development__function__get_packed_size);
    CHECK_TABLE(
        d, link_table,
        opentelemetry__proto__profiles__v1development__link__pack,
        opentelemetry__proto__profiles__v1development__link__get_packed_size);
    CHECK_TABLE(
        d, attribute_table,
        opentelemetry__proto__profiles__v1development__key_value_and_unit__pack,
        opentelemetry__proto__profiles__v1development__key_value_and_unit__get_packed_size);
    CHECK_TABLE(
        d, stack_table,
        opentelemetry__proto__profiles__v1development__stack__pack,
        opentelemetry__proto__profiles__v1development__stack__get_packed_size);
    assert_true(d->n_string_table >= 1);
    assert_string_equal(d->string_table[0], "");
    for (i = 0; i < d->n_string_table; i++) {
        for (j = i + 1; j < d->n_string_table; j++) {
            assert_string_not_equal(d->string_table[i], d->string_table[j]);
        }
    }
}

static const char *pstrz(const PDict *d, int32_t i)
{
    assert_true(i >= 0 && (size_t)i < d->n_string_table);
    return d->string_table[i];
}

/* Index of the attribute with key k in list a, or -1. */
static int find_attr(const PDict *d, const int32_t *a, size_t n, const char *k)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(pstrz(d, d->attribute_table[a[i]]->key_strindex), k) == 0) {
            return a[i];
        }
    }
    return -1;
}

/* ---- semantic comparison ------------------------------------------------------ */

static void eq_pstr(struct pstr a, struct pstr b)
{
    assert_int_equal(a.len, b.len);
    if (a.len) {
        assert_memory_equal(a.ptr, b.ptr, a.len);
    }
}

static void eq_str(const struct pdata *a, int32_t ia, const struct pdata *b,
                   int32_t ib)
{
    eq_pstr(dict_str(&a->dict, ia), dict_str(&b->dict, ib));
}

static void eq_attr(const struct pdata *a, int32_t ia, const struct pdata *b,
                    int32_t ib)
{
    eq_str(a, a->dict.attrs[ia].key, b, b->dict.attrs[ib].key);
    eq_str(a, a->dict.attrs[ia].unit, b, b->dict.attrs[ib].unit);
    assert_true(av_equal(&a->dict.attrs[ia].value, &b->dict.attrs[ib].value));
}

static void eq_attrs(const struct pdata *a, const int32_t *xa, uint32_t na,
                     const struct pdata *b, const int32_t *xb, uint32_t nb)
{
    uint32_t i;

    assert_int_equal(na, nb);
    for (i = 0; i < na; i++) {
        eq_attr(a, xa[i], b, xb[i]);
    }
}

/* Sample attributes grouped by key (pprof multi-valued labels and OTLP
 * arrays are the same thing): key, unit, values in order. */
struct agroup {
    struct pstr key, unit;
    const struct anyvalue *vals[16];
    int n;
};

static int group_attrs(const struct pdata *pd, const struct sample *s,
                       struct agroup *g)
{
    int ng = 0, k;
    uint32_t i, j;

    memset(g, 0, 8 * sizeof(*g));
    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[s->attrs[i]];
        struct pstr key = dict_str(&pd->dict, a->key);
        for (k = 0; k < ng && !pstr_eqp(g[k].key, key); k++) {
        }
        if (k == ng) {
            assert_true(ng < 8);
            g[ng++].key = key;
        }
        if (g[k].unit.len == 0) {
            g[k].unit = dict_str(&pd->dict, a->unit);
        }
        if (a->value.type == AV_ARRAY) {
            for (j = 0; j < a->value.u.arr.n; j++) {
                g[k].vals[g[k].n++] = &a->value.u.arr.items[j];
            }
        } else {
            g[k].vals[g[k].n++] = &a->value;
        }
    }
    return ng;
}

static void eq_sample_attrs(const struct pdata *a, const struct sample *sa,
                            const struct pdata *b, const struct sample *sb)
{
    struct agroup ga[8], gb[8];
    int na = group_attrs(a, sa, ga), nb = group_attrs(b, sb, gb), k, j;

    assert_int_equal(na, nb);
    for (k = 0; k < na; k++) {
        eq_pstr(ga[k].key, gb[k].key);
        eq_pstr(ga[k].unit, gb[k].unit);
        assert_int_equal(ga[k].n, gb[k].n);
        for (j = 0; j < ga[k].n; j++) {
            assert_true(av_equal(ga[k].vals[j], gb[k].vals[j]));
        }
    }
}

static void eq_location(const struct pdata *a, int32_t ia,
                        const struct pdata *b, int32_t ib)
{
    const struct location *x = &a->dict.locations[ia];
    const struct location *y = &b->dict.locations[ib];
    const struct mapping *mx = &a->dict.mappings[x->mapping];
    const struct mapping *my = &b->dict.mappings[y->mapping];
    uint32_t i;

    assert_int_equal(x->address, y->address);
    assert_int_equal(x->is_folded, y->is_folded);
    assert_int_equal(mx->memory_start, my->memory_start);
    assert_int_equal(mx->memory_limit, my->memory_limit);
    assert_int_equal(mx->file_offset, my->file_offset);
    assert_int_equal(mx->flags, my->flags);
    eq_str(a, mx->filename, b, my->filename);
    eq_str(a, mx->build_id, b, my->build_id);
    eq_attrs(a, mx->attrs, mx->nattrs, b, my->attrs, my->nattrs);
    eq_attrs(a, x->attrs, x->nattrs, b, y->attrs, y->nattrs);
    assert_int_equal(x->nlines, y->nlines);
    for (i = 0; i < x->nlines; i++) {
        const struct function *fx = &a->dict.functions[x->lines[i].function];
        const struct function *fy = &b->dict.functions[y->lines[i].function];
        assert_int_equal(x->lines[i].line, y->lines[i].line);
        assert_int_equal(x->lines[i].column, y->lines[i].column);
        eq_str(a, fx->name, b, fy->name);
        eq_str(a, fx->system_name, b, fy->system_name);
        eq_str(a, fx->filename, b, fy->filename);
        assert_int_equal(fx->start_line, fy->start_line);
    }
}

static void eq_sample(const struct pdata *a, const struct sample *x,
                      const struct pdata *b, const struct sample *y)
{
    const struct stack *sx = &a->dict.stacks[x->stack];
    const struct stack *sy = &b->dict.stacks[y->stack];
    uint32_t i;

    assert_int_equal(sx->n, sy->n);
    for (i = 0; i < sx->n; i++) {
        eq_location(a, stack_loc(sx, i), b, stack_loc(sy, i));
    }
    assert_memory_equal(&a->dict.links[x->link], &b->dict.links[y->link],
                        sizeof(struct link));
    assert_int_equal(x->nvalues, y->nvalues);
    for (i = 0; i < x->nvalues; i++) {
        assert_int_equal(x->values[i], y->values[i]);
    }
    assert_int_equal(x->nts, y->nts);
    for (i = 0; i < x->nts; i++) {
        assert_int_equal(sample_ts(x)[i], sample_ts(y)[i]);
    }
    eq_sample_attrs(a, x, b, y);
}

static void eq_profile(const struct pdata *a, const struct profile *x,
                       const struct pdata *b, const struct profile *y)
{
    uint32_t i;

    assert_int_equal(x->nsample_types, y->nsample_types);
    for (i = 0; i < x->nsample_types; i++) {
        eq_str(a, x->sample_types[i].type, b, y->sample_types[i].type);
        eq_str(a, x->sample_types[i].unit, b, y->sample_types[i].unit);
    }
    eq_str(a, x->default_sample_type, b, y->default_sample_type);
    eq_str(a, x->period_type.type, b, y->period_type.type);
    eq_str(a, x->period_type.unit, b, y->period_type.unit);
    assert_int_equal(x->period, y->period);
    assert_int_equal(x->time_nanos, y->time_nanos);
    assert_int_equal(x->duration_nanos, y->duration_nanos);
    assert_int_equal(x->ncomments, y->ncomments);
    for (i = 0; i < x->ncomments; i++) {
        eq_str(a, x->comments[i], b, y->comments[i]);
    }
    eq_str(a, x->drop_frames, b, y->drop_frames);
    eq_str(a, x->keep_frames, b, y->keep_frames);
    eq_str(a, x->doc_url, b, y->doc_url);
    eq_attrs(a, x->attrs, x->nattrs, b, y->attrs, y->nattrs);
    assert_memory_equal(x->profile_id, y->profile_id, 16);
    assert_int_equal(x->dropped_attributes_count, y->dropped_attributes_count);
    eq_pstr(x->original_payload_format, y->original_payload_format);
    eq_pstr(x->original_payload, y->original_payload);
    assert_int_equal(x->nsamples, y->nsamples);
    for (i = 0; i < x->nsamples; i++) {
        eq_sample(a, &x->samples[i], b, &y->samples[i]);
    }
}

static void eq_kvs(const struct keyvalue *x, uint32_t nx,
                   const struct keyvalue *y, uint32_t ny)
{
    uint32_t i;

    assert_int_equal(nx, ny);
    for (i = 0; i < nx; i++) {
        eq_pstr(x[i].key, y[i].key);
        assert_true(av_equal(&x[i].value, &y[i].value));
    }
}

/* Flattened (resource, scope, profile) triples, in order. */
struct flat {
    const struct resource_profiles *rp;
    const struct scope_profiles *sp;
    const struct profile *p;
};

static int flatten(const struct pdata *pd, struct flat *out, int max)
{
    struct pdata_iter w;
    const struct profile *p;
    int n = 0;

    pdata_iter_init(&w, pd, -1);
    while ((p = pdata_iter_next(&w)) != NULL) {
        assert_true(n < max);
        out[n].rp = w.rp;
        out[n].sp = w.sp;
        out[n++].p = p;
    }
    return n;
}

/* a and b hold the same profiles (structure may differ: the encoder gives
 * each model profile a scope of its own). */
static void eq_pdata(const struct pdata *a, const struct pdata *b)
{
    struct flat fa[16], fb[16];
    int na = flatten(a, fa, 16), nb = flatten(b, fb, 16), i;
    uint32_t k;

    assert_int_equal(na, nb);
    for (i = 0; i < na; i++) {
        const struct resource *ra = &fa[i].rp->resource;
        const struct resource *rb = &fb[i].rp->resource;
        assert_int_equal(fa[i].rp->has_resource, fb[i].rp->has_resource);
        eq_pstr(fa[i].rp->schema_url, fb[i].rp->schema_url);
        eq_kvs(ra->attrs, ra->nattrs, rb->attrs, rb->nattrs);
        assert_int_equal(ra->dropped_attributes_count,
                         rb->dropped_attributes_count);
        assert_int_equal(ra->nentity_refs, rb->nentity_refs);
        for (k = 0; k < ra->nentity_refs; k++) {
            const struct entity_ref *x = &ra->entity_refs[k];
            const struct entity_ref *y = &rb->entity_refs[k];
            uint32_t j;
            eq_pstr(x->schema_url, y->schema_url);
            eq_pstr(x->type, y->type);
            assert_int_equal(x->nid_keys, y->nid_keys);
            for (j = 0; j < x->nid_keys; j++) {
                eq_pstr(x->id_keys[j], y->id_keys[j]);
            }
            assert_int_equal(x->ndescription_keys, y->ndescription_keys);
            for (j = 0; j < x->ndescription_keys; j++) {
                eq_pstr(x->description_keys[j], y->description_keys[j]);
            }
        }
        eq_pstr(fa[i].sp->schema_url, fb[i].sp->schema_url);
        eq_pstr(fa[i].sp->scope.name, fb[i].sp->scope.name);
        eq_pstr(fa[i].sp->scope.version, fb[i].sp->scope.version);
        eq_kvs(fa[i].sp->scope.attrs, fa[i].sp->scope.nattrs,
               fb[i].sp->scope.attrs, fb[i].sp->scope.nattrs);
        assert_int_equal(fa[i].sp->scope.dropped_attributes_count,
                         fb[i].sp->scope.dropped_attributes_count);
        eq_profile(a, fa[i].p, b, fb[i].p);
    }
}

static struct pdata *roundtrip(const struct pdata *pd, struct buf *b)
{
    const struct pdata *in[1] = {pd};
    struct pdata *out = NULL;
    struct errctx e = {{0}};

    encode(in, 1, b);
    assert_int_equal(otlp_decode(b->data, b->len, NULL, &out, &e), 0);
    eq_pdata(pd, out);
    return out;
}

/* ---- tests: model -> OTLP -> model ------------------------------------------- */

static void test_otlp_multitype_joined(void **state)
{
    struct pdata *pd = build_pprof_like(), *back;
    struct buf b;
    Req *r;
    PDict *d;
    Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sp;
    size_t k, i;

    (void)state;
    back = roundtrip(pd, &b);
    r = unpack(&b);
    d = r->dictionary;
    check_dictionary(d);
    assert_int_equal(r->n_resource_profiles, 1);
    assert_int_equal(r->resource_profiles[0]->n_scope_profiles, 1);
    sp = r->resource_profiles[0]->scope_profiles[0];
    /* N sample types -> N profiles, each with one value per sample. */
    assert_int_equal(sp->n_profiles, 3);
    for (k = 0; k < 3; k++) {
        PProf *p = sp->profiles[k];
        assert_non_null(p->sample_type);
        assert_non_null(p->period_type);
        assert_string_equal(pstrz(d, p->period_type->type_strindex), "cpu");
        assert_int_equal(p->period, 10000000);
        assert_int_equal(p->time_unix_nano, 1700000000000000000ULL);
        assert_int_equal(p->duration_nano, 10000000000ULL);
        assert_int_equal(p->n_samples, 2);
        for (i = 0; i < 2; i++) {
            assert_int_equal(p->samples[i]->n_values, 1);
            assert_int_equal(
                p->samples[i]->values[0],
                pd->resources[0].scopes[0].profiles[0].samples[i].values[k]);
        }
        assert_true(find_attr(d, p->attribute_indices, p->n_attribute_indices,
                              "pprof.profile.drop_frames") >= 0);
        assert_true(find_attr(d, p->attribute_indices, p->n_attribute_indices,
                              "pprof.profile.keep_frames") >= 0);
        assert_true(find_attr(d, p->attribute_indices, p->n_attribute_indices,
                              "pprof.profile.doc_url") >= 0);
        {
            int c = find_attr(d, p->attribute_indices, p->n_attribute_indices,
                              "pprof.profile.comment");
            PAv *v;
            assert_true(c >= 0);
            v = d->attribute_table[c]->value;
            assert_int_equal(
                v->value_case,
                OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE);
            assert_int_equal(v->array_value->n_values, 2);
            assert_string_equal(v->array_value->values[0]->string_value,
                                "first comment");
            assert_string_equal(v->array_value->values[1]->string_value,
                                "second");
        }
    }
    assert_string_equal(pstrz(d, sp->profiles[1]->sample_type->type_strindex),
                        "cpu");
    /* default_sample_type travels as a scope attribute. */
    assert_non_null(sp->scope);
    assert_int_equal(sp->scope->n_attributes, 1);
    assert_string_equal(sp->scope->attributes[0]->key,
                        "pprof.scope.default_sample_type");
    assert_string_equal(sp->scope->attributes[0]->value->string_value, "cpu");
    /* Joined back into one model profile with 3 types. */
    assert_int_equal(back->resources[0].scopes[0].nprofiles, 1);
    assert_int_equal(back->resources[0].scopes[0].profiles[0].nsample_types,
                     3);
    REQ_FREE(r, NULL);
    buf_free(&b);
    pdata_free(back);
    pdata_free(pd);
}

static void test_otlp_mapping_location_attrs(void **state)
{
    struct pdata *pd = build_pprof_like(), *back;
    struct buf b;
    Req *r;
    PDict *d;
    size_t i;
    int seen_build = 0, seen_libc = 0, folded = 0;

    (void)state;
    back = roundtrip(pd, &b);
    r = unpack(&b);
    d = r->dictionary;
    /* Both mappings survive, the unreferenced one too. */
    assert_int_equal(d->n_mapping_table, 3);
    for (i = 1; i < d->n_mapping_table; i++) {
        Opentelemetry__Proto__Profiles__V1development__Mapping *m =
            d->mapping_table[i];
        const char *fn = pstrz(d, m->filename_strindex);
        int bid = find_attr(d, m->attribute_indices, m->n_attribute_indices,
                            "process.executable.build_id.gnu");
        if (strcmp(fn, "/usr/bin/app") == 0) {
            seen_build = 1;
            assert_true(bid >= 0);
            assert_string_equal(d->attribute_table[bid]->value->string_value,
                                "abc123");
            assert_true(find_attr(d, m->attribute_indices,
                                  m->n_attribute_indices,
                                  "pprof.mapping.has_functions") >= 0);
            assert_true(find_attr(d, m->attribute_indices,
                                  m->n_attribute_indices,
                                  "pprof.mapping.has_line_numbers") >= 0);
            assert_int_equal(find_attr(d, m->attribute_indices,
                                       m->n_attribute_indices,
                                       "pprof.mapping.has_filenames"),
                             -1);
        } else {
            seen_libc = 1;
            assert_int_equal(bid, -1);
            assert_true(find_attr(d, m->attribute_indices,
                                  m->n_attribute_indices,
                                  "pprof.mapping.has_inline_frames") >= 0);
        }
    }
    assert_true(seen_build && seen_libc);
    for (i = 1; i < d->n_location_table; i++) {
        int a = find_attr(d, d->location_table[i]->attribute_indices,
                          d->location_table[i]->n_attribute_indices,
                          "pprof.location.is_folded");
        if (a >= 0) {
            folded++;
            assert_true(d->attribute_table[a]->value->bool_value);
        }
    }
    assert_int_equal(folded, 1);
    /* Lifted back: the attribute lists are empty again. */
    for (i = 1; i < back->dict.nmappings; i++) {
        assert_int_equal(back->dict.mappings[i].nattrs, 0);
    }
    assert_int_equal(back->dict.mappings[1].build_id != 0, 1);
    REQ_FREE(r, NULL);
    buf_free(&b);
    pdata_free(back);
    pdata_free(pd);
}

static void test_otlp_multivalued_labels(void **state)
{
    struct pdata *pd = build_pprof_like(), *back;
    struct buf b;
    Req *r;
    PDict *d;
    Opentelemetry__Proto__Profiles__V1development__Sample *s;
    int a;

    (void)state;
    back = roundtrip(pd, &b);
    r = unpack(&b);
    d = r->dictionary;
    s = r->resource_profiles[0]->scope_profiles[0]->profiles[0]->samples[0];
    /* tag=a, bytes=512, tag=b -> tag=[a,b], bytes=512 (unique keys). */
    assert_int_equal(s->n_attribute_indices, 2);
    a = find_attr(d, s->attribute_indices, 2, "tag");
    assert_true(a >= 0);
    assert_int_equal(
        d->attribute_table[a]->value->value_case,
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_ARRAY_VALUE);
    assert_int_equal(d->attribute_table[a]->value->array_value->n_values, 2);
    assert_string_equal(
        d->attribute_table[a]->value->array_value->values[1]->string_value,
        "b");
    a = find_attr(d, s->attribute_indices, 2, "bytes");
    assert_int_equal(d->attribute_table[a]->value->int_value, 512);
    assert_string_equal(pstrz(d, d->attribute_table[a]->unit_strindex),
                        "bytes");
    REQ_FREE(r, NULL);
    buf_free(&b);
    pdata_free(back);
    pdata_free(pd);
}

/* One single-type profile with OTLP-only content. */
static struct pdata *build_otlp_like(void)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct location l;
    struct link lk;
    struct attr a;
    struct anyvalue *arr, *inner;
    struct keyvalue *kvs;
    int32_t loc, st, li, i;
    static const uint8_t bytes[3] = {0x00, 0xff, 0x10};

    assert_int_equal(dict_init(pd), 0);
    memset(&l, 0, sizeof(l));
    l.address = 0x1234;
    l.nattrs = 1;
    l.attrs = I32S(pd, 1, A_str(pd, "profile.frame.type", "native"));
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
    rp->schema_url.ptr = "https://opentelemetry.io/schemas/1.30.0";
    rp->schema_url.len = (uint32_t)strlen(rp->schema_url.ptr);
    rp->resource.nattrs = 1;
    rp->resource.attrs = KV(pd, "service.name", "checkout");
    rp->resource.dropped_attributes_count = 3;
    rp->resource.nentity_refs = 1;
    rp->resource.entity_refs = arena_calloc(&pd->arena, 1,
                                            sizeof(struct entity_ref));
    rp->resource.entity_refs[0].type.ptr = "service";
    rp->resource.entity_refs[0].type.len = 7;
    rp->resource.entity_refs[0].schema_url.ptr = "s";
    rp->resource.entity_refs[0].schema_url.len = 1;
    rp->resource.entity_refs[0].nid_keys = 1;
    rp->resource.entity_refs[0].id_keys = &rp->resource.attrs[0].key;
    rp->resource.entity_refs[0].ndescription_keys = 1;
    rp->resource.entity_refs[0].description_keys = &rp->resource.attrs[0].key;
    sp = pdata_add_scope(pd, rp);
    sp->has_scope = 1;
    sp->scope.name.ptr = "profiler";
    sp->scope.name.len = 8;
    sp->scope.version.ptr = "1.2.3";
    sp->scope.version.len = 5;
    sp->scope.nattrs = 1;
    sp->scope.attrs = KV(pd, "scope.attr", "x");
    sp->scope.dropped_attributes_count = 1;
    sp->schema_url = rp->schema_url;
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
    p->original_payload.ptr = "\x1f\x8b\x08";
    p->original_payload.len = 3;
    p->nattrs = 1;
    p->attrs = I32S(pd, 1, A_int(pd, "process.pid", 42, NULL));

    /* Sample attributes of every AnyValue type, nested ones included. */
    memset(&a, 0, sizeof(a));
    a.key = S(pd, "b");
    a.value.type = AV_BOOL;
    a.value.u.b = 1;
    int32_t ab = dict_add_attr(pd, &a);
    a.key = S(pd, "d");
    a.value.type = AV_DOUBLE;
    a.value.u.d = -2.5;
    int32_t ad = dict_add_attr(pd, &a);
    a.key = S(pd, "y");
    a.value.type = AV_BYTES;
    a.value.u.s.ptr = (const char *)bytes;
    a.value.u.s.len = 3;
    int32_t ay = dict_add_attr(pd, &a);
    inner = arena_calloc(&pd->arena, 2, sizeof(*inner));
    inner[0].type = AV_INT;
    inner[0].u.i = -7;
    inner[1].type = AV_EMPTY;
    kvs = arena_calloc(&pd->arena, 2, sizeof(*kvs));
    kvs[0].key.ptr = "in";
    kvs[0].key.len = 2;
    kvs[0].value.type = AV_ARRAY;
    kvs[0].value.u.arr.items = inner;
    kvs[0].value.u.arr.n = 2;
    kvs[1] = *KV(pd, "s", "str");
    arr = arena_calloc(&pd->arena, 2, sizeof(*arr));
    arr[0].type = AV_STRING;
    arr[0].u.s.ptr = "e0";
    arr[0].u.s.len = 2;
    arr[1].type = AV_KVLIST;
    arr[1].u.kv.items = kvs;
    arr[1].u.kv.n = 2;
    a.key = S(pd, "nested");
    a.value.type = AV_ARRAY;
    a.value.u.arr.items = arr;
    a.value.u.arr.n = 2;
    int32_t an = dict_add_attr(pd, &a);

    p->nsamples = 3;
    p->samples = arena_calloc(&pd->arena, 3, sizeof(struct sample));
    /* values + timestamps, paired */
    p->samples[0].stack = st;
    p->samples[0].link = li;
    p->samples[0].nvalues = 2;
    /* the timestamps follow the values (sample_ts) */
    p->samples[0].values = I64S(pd, 4, (int64_t)3, (int64_t)4, (int64_t)1010,
                                (int64_t)1090);
    p->samples[0].nts = 2;
    p->samples[0].nattrs = 6;
    p->samples[0].attrs = I32S(pd, 6, A_int(pd, "thread.id", 7, NULL), ab, ad,
                               ay, an, A_str(pd, "s", "v"));
    /* timestamps only */
    p->samples[1].stack = st;
    p->samples[1].nts = 3;
    p->samples[1].values = I64S(pd, 3, (int64_t)1001, (int64_t)1002,
                                (int64_t)1003);
    /* values only, no stack */
    p->samples[2].nvalues = 1;
    p->samples[2].values = I64S(pd, 1, (int64_t)9);
    return pd;
}

static void test_otlp_otlp_only_fields(void **state)
{
    struct pdata *pd = build_otlp_like(), *back;
    struct buf b;
    Req *r;
    PDict *d;
    PProf *p;
    Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rp;

    (void)state;
    back = roundtrip(pd, &b);
    r = unpack(&b);
    d = r->dictionary;
    check_dictionary(d);
    rp = r->resource_profiles[0];
    assert_non_null(rp->resource);
    assert_int_equal(rp->resource->dropped_attributes_count, 3);
    assert_int_equal(rp->resource->n_entity_refs, 1);
    assert_string_equal(rp->resource->entity_refs[0]->type, "service");
    assert_string_equal(rp->resource->entity_refs[0]->id_keys[0],
                        "service.name");
    assert_string_equal(rp->schema_url,
                        "https://opentelemetry.io/schemas/1.30.0");
    assert_string_equal(rp->scope_profiles[0]->scope->name, "profiler");
    assert_string_equal(rp->scope_profiles[0]->scope->version, "1.2.3");
    assert_int_equal(rp->scope_profiles[0]->scope->dropped_attributes_count,
                     1);
    p = rp->scope_profiles[0]->profiles[0];
    assert_int_equal(p->profile_id.len, 16);
    assert_int_equal(p->profile_id.data[15], 0x3f);
    assert_string_equal(p->original_payload_format, "pprofext");
    assert_int_equal(p->original_payload.len, 3);
    assert_int_equal(p->dropped_attributes_count, 2);
    assert_non_null(p->period_type); /* written even when zero */
    assert_int_equal(p->samples[0]->link_index != 0, 1);
    assert_int_equal(d->link_table[p->samples[0]->link_index]->trace_id.len,
                     16);
    assert_int_equal(d->link_table[p->samples[0]->link_index]->span_id.data[7],
                     0xa7);
    assert_int_equal(p->samples[1]->n_values, 0);
    assert_int_equal(p->samples[1]->n_timestamps_unix_nano, 3);
    assert_int_equal(p->samples[1]->timestamps_unix_nano[2], 1003);
    assert_int_equal(p->samples[2]->stack_index, 0);
    /* Not a pprof: no pprof.* attribute anywhere. */
    assert_int_equal(find_attr(d, p->attribute_indices, p->n_attribute_indices,
                               "pprof.profile.comment"),
                     -1);
    REQ_FREE(r, NULL);
    buf_free(&b);
    pdata_free(back);
    pdata_free(pd);
}

static void test_otlp_timestamp_window_widened(void **state)
{
    struct pdata *pd = build_otlp_like(), *back = NULL;
    const struct pdata *in[1];
    struct profile *p = &pd->resources[0].scopes[0].profiles[0];
    struct errctx e = {{0}};
    struct buf b;
    Req *r;

    (void)state;
    sample_ts(&p->samples[1])[0] = 900;  /* before time */
    sample_ts(&p->samples[1])[2] = 1500; /* after time + duration */
    in[0] = pd;
    encode(in, 1, &b); /* validates */
    r = unpack(&b);
    assert_int_equal(r->resource_profiles[0]
                         ->scope_profiles[0]
                         ->profiles[0]
                         ->time_unix_nano,
                     900);
    assert_int_equal(
        r->resource_profiles[0]->scope_profiles[0]->profiles[0]->duration_nano,
        600);
    assert_int_equal(otlp_decode(b.data, b.len, NULL, &back, &e), 0);
    assert_int_equal(back->resources[0].scopes[0].profiles[0].time_nanos, 900);
    REQ_FREE(r, NULL);
    buf_free(&b);
    pdata_free(back);
    pdata_free(pd);
}

static void test_otlp_two_inputs_merged(void **state)
{
    struct pdata *a = build_pprof_like(), *c = build_pprof_like();
    struct pdata *o = build_otlp_like(), *back = NULL;
    const struct pdata *in[3] = {a, c, o};
    struct errctx e = {{0}};
    struct buf b;
    Req *r;
    PDict *d;
    struct flat fa[16], fb[16];
    int n, i;

    (void)state;
    encode(in, 3, &b);
    r = unpack(&b);
    d = r->dictionary;
    check_dictionary(d); /* shared entries appear once */
    assert_int_equal(r->n_resource_profiles, 3);
    assert_int_equal(d->n_function_table, 3);
    assert_int_equal(d->n_mapping_table, 3);
    assert_int_equal(otlp_decode(b.data, b.len, NULL, &back, &e), 0);
    n = flatten(back, fb, 16);
    assert_int_equal(n, 3);
    assert_int_equal(flatten(a, fa, 16), 1);
    assert_int_equal(back->resources[0].scopes[0].profiles[0].nsample_types,
                     3);
    assert_int_equal(back->resources[1].scopes[0].profiles[0].nsample_types,
                     3);
    for (i = 0; i < 2; i++) {
        eq_profile(a, fa[0].p, back, fb[i].p);
    }
    flatten(o, fa, 16);
    eq_profile(o, fa[0].p, back, fb[2].p);
    REQ_FREE(r, NULL);
    buf_free(&b);
    pdata_free(back);
    pdata_free(a);
    pdata_free(c);
    pdata_free(o);
}

/* One input's stacks are interned by their output locations: a repeated
 * stack, a stack equal to another once two equal locations are one, and
 * an empty one collapse; an unreferenced one is left out. The output fits
 * a bound a varint's room above its size, though the last stack's bulk
 * reserve for the longest varints does not (it falls back). */
static void test_otlp_one_input_stacks(void **state)
{
    struct pdata *pd = build_pprof_like(), *back = NULL;
    const struct pdata *in[1] = {pd};
    struct profile *p = &pd->resources[0].scopes[0].profiles[0];
    struct sample *smp = arena_calloc(&pd->arena, 6, sizeof(*smp));
    struct location dup;
    struct errctx e = {{0}};
    struct flat fa[4], fb[4];
    struct buf b, tight, small;
    int32_t l1, l2, l3, st[4];
    Req *r;
    int i;

    (void)state;
    l1 = stack_loc(&pd->dict.stacks[p->samples[0].stack], 0);
    l2 = stack_loc(&pd->dict.stacks[p->samples[1].stack], 0);
    dup = pd->dict.locations[l2];
    l3 = dict_add_location(pd, &dup);
    st[0] = dict_add_stack(pd, I32S(pd, 2, l1, l3), 2); /* = samples[0]'s */
    st[1] = dict_add_stack(pd, I32S(pd, 1, l2), 1);     /* = samples[1]'s */
    st[2] = dict_add_stack(pd, NULL, 0);
    st[3] = dict_add_stack(pd, I32S(pd, 3, l1, l2, l1), 3);  /* last, new */
    assert_true(dict_add_stack(pd, I32S(pd, 1, l1), 1) > 0); /* unused */
    memcpy(smp, p->samples, 2 * sizeof(*smp));
    for (i = 0; i < 4; i++) {
        smp[2 + i] = smp[i % 2];
        smp[2 + i].stack = st[i];
    }
    p->samples = smp;
    p->nsamples = 6;
    encode(in, 1, &b);
    r = unpack(&b);
    check_dictionary(r->dictionary);
    assert_int_equal(r->dictionary->n_stack_table, 4);
    assert_int_equal(otlp_decode(b.data, b.len, NULL, &back, &e), 0);
    assert_int_equal(flatten(pd, fa, 4), 1);
    assert_int_equal(flatten(back, fb, 4), 1);
    eq_profile(pd, fa[0].p, back, fb[0].p);
    buf_init(&tight, b.len + 10);
    assert_int_equal(otlp_encode(in, 1, &tight, &e), 0);
    assert_int_equal(tight.len, b.len);
    assert_memory_equal(tight.data, b.data, b.len);
    buf_init(&small, b.len - 1);
    assert_int_equal(otlp_encode(in, 1, &small, &e), PC_ETOOBIG);
    REQ_FREE(r, NULL);
    buf_free(&b);
    buf_free(&tight);
    buf_free(&small);
    pdata_free(back);
    pdata_free(pd);
}

/* ---- hand-written requests ------------------------------------------------------- */

/* Parameters of a small request; each error test spoils one. */
struct rq {
    int32_t map_filename, loc_mapping, line_func, fn_name, attr_key, attr_unit,
        stack_loc, smp_stack, smp_link, smp_attr, prof_attr, st_type;
    int zero_bad; /* table number whose entry 0 is spoilt */
    int depth;    /* AnyValue nesting of attribute 1 */
    int unpacked; /* repeated scalars unpacked */
    int ts;       /* timestamps before the values, and a second sample */
};

static void rq_default(struct rq *q)
{
    memset(q, 0, sizeof(*q));
    q->map_filename = 5;
    q->loc_mapping = 1;
    q->line_func = 1;
    q->fn_name = 3;
    q->attr_key = 6;
    q->stack_loc = 1;
    q->smp_stack = 1;
    q->smp_link = 1;
    q->smp_attr = 1;
    q->prof_attr = -1;
    q->st_type = 1;
}

static void put_ints(struct buf *b, uint32_t f, const int32_t *v, int n,
                     int unpacked)
{
    struct buf t;
    int i;

    if (unpacked) {
        for (i = 0; i < n; i++) {
            pb_put_int(b, f, v[i]);
        }
        return;
    }
    buf_init(&t, 1 << 20);
    for (i = 0; i < n; i++) {
        pb_put_varint(&t, (uint64_t)(int64_t)v[i]);
    }
    pbw_msg(b, f, &t);
    buf_free(&t);
}

/* Timestamps base + 1 and base + 2 (field 5), packed or not. */
static void put_ts(struct buf *b, uint64_t base, int unpacked)
{
    struct buf t;
    uint64_t k;

    if (unpacked) {
        pb_put_fixed64(b, 5, base + 1);
        pb_put_fixed64(b, 5, base + 2);
        return;
    }
    buf_init(&t, 1 << 20);
    for (k = 1; k <= 2; k++) {
        uint8_t le[8];
        int j;
        for (j = 0; j < 8; j++) {
            le[j] = (uint8_t)((base + k) >> (8 * j));
        }
        buf_append(&t, le, 8);
    }
    pbw_msg(b, 5, &t);
    buf_free(&t);
}

static void put_anyvalue_nested(struct buf *b, int depth)
{
    struct buf t;

    if (depth == 0) {
        pb_put_bytes(b, 1, "v", 1);
        return;
    }
    /* AnyValue{array_value{values: [AnyValue ...]}} */
    buf_init(&t, 1 << 20);
    {
        struct buf inner;
        buf_init(&inner, 1 << 20);
        put_anyvalue_nested(&inner, depth - 1);
        pbw_msg(&t, 1, &inner);
        buf_free(&inner);
    }
    pbw_msg(b, 5, &t);
    buf_free(&t);
}

static void build_request(const struct rq *q, struct buf *out)
{
    static const char *strs[] = {"",     "cpu",     "nanoseconds",
                                 "main", "main.go", "/bin/app",
                                 "k"};
    struct buf d, t, u, v;
    size_t i;
    int32_t one[1];

    buf_init(out, 1 << 20);
    buf_init(&d, 1 << 20);
    buf_init(&t, 1 << 20);
    buf_init(&u, 1 << 20);
    buf_init(&v, 1 << 20);
    /* mapping_table */
    if (q->zero_bad == 1) {
        pb_put_uint(&t, 1, 7);
    }
    pbw_msg(&d, 1, &t);
    buf_reset(&t);
    pb_put_int(&t, 4, q->map_filename);
    pbw_msg(&d, 1, &t);
    /* location_table */
    buf_reset(&t);
    if (q->zero_bad == 2) {
        pb_put_uint(&t, 2, 7);
    }
    pbw_msg(&d, 2, &t);
    buf_reset(&t);
    pb_put_int(&t, 1, q->loc_mapping);
    pb_put_uint(&t, 2, 0x10);
    buf_reset(&u);
    pb_put_int(&u, 1, q->line_func);
    pb_put_int(&u, 2, 3);
    pbw_msg(&t, 3, &u);
    pbw_msg(&d, 2, &t);
    /* function_table */
    buf_reset(&t);
    if (q->zero_bad == 3) {
        pb_put_uint(&t, 4, 7);
    }
    pbw_msg(&d, 3, &t);
    buf_reset(&t);
    pb_put_int(&t, 1, q->fn_name);
    pb_put_int(&t, 3, 4);
    pbw_msg(&d, 3, &t);
    /* link_table */
    buf_reset(&t);
    if (q->zero_bad == 4) {
        pb_put_bytes(&t, 2, "12345678", 8);
    }
    pbw_msg(&d, 4, &t);
    buf_reset(&t);
    pb_put_bytes(&t, 1, "0123456789abcdef", 16);
    pb_put_bytes(&t, 2, "01234567", 8);
    pbw_msg(&d, 4, &t);
    /* string_table */
    for (i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        const char *s = (i == 0 && q->zero_bad == 5) ? "x" : strs[i];
        pb_put_bytes(&d, 5, s, strlen(s));
    }
    /* attribute_table */
    buf_reset(&t);
    if (q->zero_bad == 6) {
        pb_put_uint(&t, 1, 6);
    }
    pbw_msg(&d, 6, &t);
    buf_reset(&t);
    pb_put_int(&t, 1, q->attr_key);
    buf_reset(&u);
    put_anyvalue_nested(&u, q->depth);
    pbw_msg(&t, 2, &u);
    if (q->attr_unit) {
        pb_put_int(&t, 3, q->attr_unit);
    }
    pbw_msg(&d, 6, &t);
    /* stack_table */
    buf_reset(&t);
    if (q->zero_bad == 7) {
        one[0] = 1;
        put_ints(&t, 1, one, 1, 0);
    }
    pbw_msg(&d, 7, &t);
    buf_reset(&t);
    one[0] = q->stack_loc;
    put_ints(&t, 1, one, 1, q->unpacked);
    pbw_msg(&d, 7, &t);
    pb_put_uint(&d, 99, 1); /* unknown field: skipped */

    /* sample -> profile -> scope -> resource */
    buf_reset(&u);
    pb_put_int(&u, 1, q->st_type);
    pb_put_int(&u, 2, 2);
    pbw_msg(&v, 1, &u);
    for (i = 0; i < (q->ts ? 2u : 1u); i++) {
        int32_t vals[2] = {5 + 2 * (int32_t)i, 6 + 2 * (int32_t)i};
        buf_reset(&t);
        pb_put_int(&t, 1, q->smp_stack);
        one[0] = q->smp_attr;
        put_ints(&t, 2, one, 1, q->unpacked);
        pb_put_int(&t, 3, q->smp_link);
        if (q->ts) {
            /* Timestamps first, then one value, the second after: the
             * decoder keeps them behind the values all the same. */
            put_ts(&t, 1000 * (i + 1), q->unpacked);
            put_ints(&t, 4, vals, 1, q->unpacked);
            put_ints(&t, 4, vals + 1, 1, q->unpacked);
        } else {
            put_ints(&t, 4, vals, 2, q->unpacked);
        }
        pbw_msg(&v, 2, &t);
    }
    buf_reset(&u);
    pbw_msg(&v, 5, &u);
    if (q->prof_attr >= 0) {
        one[0] = q->prof_attr;
        put_ints(&v, 11, one, 1, q->unpacked);
    }
    buf_reset(&t);
    pbw_msg(&t, 2, &v);
    buf_reset(&u);
    pbw_msg(&u, 2, &t);
    pbw_msg(out, 1, &u);
    pbw_msg(out, 2, &d);
    buf_free(&d);
    buf_free(&t);
    buf_free(&u);
    buf_free(&v);
}

static void expect_error(const struct rq *q, int code, const char *needle)
{
    struct buf b;
    struct pdata *pd = NULL;
    struct errctx e = {{0}};
    int rc;

    build_request(q, &b);
    rc = otlp_decode(b.data, b.len, NULL, &pd, &e);
    if (rc != code || strstr(e.msg, needle) == NULL) {
        fail_msg("want %d '%s', got %d '%s'", code, needle, rc, e.msg);
    }
    assert_null(pd);
    buf_free(&b);
}

static void test_otlp_request_ok_unpacked(void **state)
{
    struct rq q;
    struct buf b, b2;
    struct pdata *pd = NULL, *pd2 = NULL;
    struct errctx e = {{0}};
    const struct sample *s;

    (void)state;
    rq_default(&q);
    q.unpacked = 1;
    build_request(&q, &b);
    assert_int_equal(otlp_decode_borrow(b.data, b.len, NULL, &pd, &e), 0);
    s = &pd->resources[0].scopes[0].profiles[0].samples[0];
    assert_int_equal(s->nvalues, 2);
    assert_int_equal(s->values[1], 6);
    assert_int_equal(s->nattrs, 1);
    assert_int_equal(pd->dict.nstacks, 2);
    assert_int_equal(pd->dict.stacks[1].n, 1);
    assert_int_equal(pd->dict.nstrings, 7); /* index for index */
    assert_true(pstr_eq(dict_str(&pd->dict, pd->dict.functions[1].name),
                        "main"));
    /* Packed and unpacked forms decode to the same model. */
    q.unpacked = 0;
    build_request(&q, &b2);
    assert_int_equal(otlp_decode(b2.data, b2.len, NULL, &pd2, &e), 0);
    buf_free(&b2); /* copied: pd2 does not need it */
    eq_pdata(pd, pd2);
    pdata_free(pd);
    pdata_free(pd2);
    buf_free(&b); /* borrowed: freed after pd */
}

/* A sample's timestamps live behind its values (sample_ts): decoded in
 * any field order, packed or not, and the next sample's values do not
 * overwrite them. */
static void check_ts_samples(const struct pdata *pd)
{
    const struct profile *p = &pd->resources[0].scopes[0].profiles[0];
    uint32_t i;

    assert_int_equal(p->nsamples, 2);
    for (i = 0; i < 2; i++) {
        const struct sample *s = &p->samples[i];
        assert_int_equal(s->nvalues, 2);
        assert_int_equal(s->values[0], 5 + 2 * i);
        assert_int_equal(s->values[1], 6 + 2 * i);
        assert_int_equal(s->nts, 2);
        assert_true(sample_ts(s)[0] == 1000 * (i + 1) + 1);
        assert_true(sample_ts(s)[1] == 1000 * (i + 1) + 2);
    }
}

static void test_otlp_timestamps_behind_values(void **state)
{
    struct rq q;
    struct buf b, b2;
    struct pdata *pd = NULL, *back = NULL;
    struct errctx e = {{0}};
    const struct pdata *in[1];
    int unpacked;

    (void)state;
    for (unpacked = 0; unpacked <= 1; unpacked++) {
        rq_default(&q);
        q.ts = 1;
        q.unpacked = unpacked;
        build_request(&q, &b);
        assert_int_equal(otlp_decode(b.data, b.len, NULL, &pd, &e), 0);
        check_ts_samples(pd);
        /* And back out: the same samples (the profile's time window is
         * widened to the timestamps, so not eq_pdata). */
        in[0] = pd;
        buf_init(&b2, BUF_MAX_DEFAULT);
        assert_int_equal(otlp_encode(in, 1, &b2, &e), 0);
        assert_int_equal(otlp_decode(b2.data, b2.len, NULL, &back, &e), 0);
        check_ts_samples(back);
        pdata_free(back);
        pdata_free(pd);
        buf_free(&b2);
        buf_free(&b);
    }
}

/* otlp_encode_parts: the resource part, then the dictionary, make the
 * request otlp_encode writes, byte for byte. */
static int take_part(const uint8_t *data, size_t len, void *arg)
{
    struct buf *parts = arg;

    assert_true(len > 0);
    return buf_append(parts, data, len);
}

static void test_otlp_encode_parts(void **state)
{
    struct pdata *pd[2] = {build_pprof_like(), build_otlp_like()};
    const struct pdata *in[2] = {pd[0], pd[1]};
    struct errctx e = {{0}};
    struct buf whole, parts, rest;
    size_t n;

    (void)state;
    for (n = 1; n <= 2; n++) {
        buf_init(&whole, BUF_MAX_DEFAULT);
        buf_init(&parts, BUF_MAX_DEFAULT);
        buf_init(&rest, BUF_MAX_DEFAULT);
        assert_int_equal(otlp_encode(in, n, &whole, &e), 0);
        assert_int_equal(otlp_encode_parts(in, n, &rest, take_part, &parts,
                                           &e),
                         0);
        /* The dictionary is field 2 of the request. */
        assert_int_equal(rest.data[0], (2 << 3) | 2);
        assert_int_equal(buf_append(&parts, rest.data, rest.len), 0);
        assert_int_equal(parts.len, whole.len);
        assert_memory_equal(parts.data, whole.data, whole.len);
        buf_free(&whole);
        buf_free(&parts);
        buf_free(&rest);
    }
    pdata_free(pd[0]);
    pdata_free(pd[1]);
}

static void test_otlp_index_out_of_range(void **state)
{
    struct rq q;

    (void)state;
    rq_default(&q);
    q.map_filename = 7;
    expect_error(&q, PC_ECORRUPT, "mapping_table[1].filename_strindex");
    rq_default(&q);
    q.loc_mapping = 2;
    expect_error(&q, PC_ECORRUPT, "location_table[1].mapping_index");
    rq_default(&q);
    q.line_func = 5;
    expect_error(&q, PC_ECORRUPT, "lines.function_index");
    rq_default(&q);
    q.fn_name = 70;
    expect_error(&q, PC_ECORRUPT, "function_table[1]");
    rq_default(&q);
    q.attr_key = 8;
    expect_error(&q, PC_ECORRUPT, "attribute_table[1].key_strindex");
    rq_default(&q);
    q.attr_unit = 9;
    expect_error(&q, PC_ECORRUPT, "attribute_table[1].unit_strindex");
    rq_default(&q);
    q.stack_loc = 2;
    expect_error(&q, PC_ECORRUPT, "stack_table[1].location_indices");
    rq_default(&q);
    q.smp_stack = 2;
    expect_error(&q, PC_ECORRUPT, "stack_index");
    rq_default(&q);
    q.smp_link = 2;
    expect_error(&q, PC_ECORRUPT, "link_index");
    rq_default(&q);
    q.smp_attr = 2;
    expect_error(&q, PC_ECORRUPT, "samples[0].attribute_indices");
    rq_default(&q);
    q.prof_attr = 5;
    expect_error(&q, PC_ECORRUPT, "profiles[0].attribute_indices");
    rq_default(&q);
    q.st_type = 40;
    expect_error(&q, PC_ECORRUPT, "ValueType string index");
    /* Negative indices are out of range too. */
    rq_default(&q);
    q.loc_mapping = -1;
    expect_error(&q, PC_ECORRUPT, "mapping_index = -1");
    rq_default(&q);
    q.smp_stack = -3;
    expect_error(&q, PC_ECORRUPT, "stack_index = -3");
}

static void test_otlp_zero_entry_not_zero(void **state)
{
    static const char *names[8] = {
        "",           "mapping_table", "location_table",  "function_table",
        "link_table", "string_table",  "attribute_table", "stack_table"};
    char want[64];
    struct rq q;
    int t;

    (void)state;
    for (t = 1; t <= 7; t++) {
        rq_default(&q);
        q.zero_bad = t;
        snprintf(want, sizeof(want), "%s[0] is not the zero value", names[t]);
        expect_error(&q, PC_ECORRUPT, want);
    }
}

static void test_otlp_nesting_too_deep(void **state)
{
    struct rq q;
    struct buf b;
    struct pdata *pd = NULL;
    struct errctx e = {{0}};

    (void)state;
    rq_default(&q);
    q.depth = LIMIT_ANYVALUE_DEPTH - 2; /* deep but allowed */
    build_request(&q, &b);
    assert_int_equal(otlp_decode(b.data, b.len, NULL, &pd, &e), 0);
    pdata_free(pd);
    buf_free(&b);
    rq_default(&q);
    q.depth = LIMIT_ANYVALUE_DEPTH + 5;
    expect_error(&q, PC_ETOOBIG, "nested deeper than");
}

static void test_otlp_empty_truncated_random(void **state)
{
    struct pdata *pd = build_pprof_like(), *out = NULL;
    const struct pdata *in[1] = {pd};
    struct errctx e = {{0}};
    struct buf b;
    size_t cut;
    uint32_t seed = 12345;
    uint8_t junk[512];
    int i, rc, j;

    (void)state;
    /* An empty request is valid: empty pdata with the zero entries. */
    assert_int_equal(otlp_decode((const uint8_t *)"", 0, NULL, &out, &e), 0);
    assert_int_equal(out->nresources, 0);
    assert_int_equal(out->dict.nstrings, 1);
    assert_int_equal(out->dict.nstacks, 1);
    pdata_free(out);
    out = NULL;
    encode(in, 1, &b);
    /* Every cut inside the last message (the dictionary) is caught. */
    for (cut = b.len - 1; cut > b.len - 40; cut--) {
        e.msg[0] = 0;
        rc = otlp_decode(b.data, cut, NULL, &out, &e);
        assert_true(rc == PC_ETRUNC || rc == PC_ECORRUPT);
        assert_null(out);
        assert_non_null(strstr(e.msg, "otlp: "));
    }
    rc = otlp_decode(b.data, b.len - 1, NULL, &out, &e);
    assert_int_equal(rc, PC_ETRUNC);
    assert_non_null(strstr(e.msg, "truncated"));
    /* Random bytes: an error with a message, or (rarely) a valid request. */
    for (i = 0; i < 2000; i++) {
        for (j = 0; j < (int)sizeof(junk); j++) {
            seed = seed * 1103515245u + 12345u;
            junk[j] = (uint8_t)(seed >> 16);
        }
        e.msg[0] = 0;
        rc = otlp_decode(junk, 1 + (size_t)(i % (int)sizeof(junk)), NULL, &out,
                         &e);
        if (rc == PC_OK) {
            pdata_free(out);
        } else {
            assert_true(rc == PC_ETRUNC || rc == PC_ECORRUPT ||
                        rc == PC_ETOOBIG);
            assert_true(e.msg[0] != 0);
        }
        out = NULL;
    }
    buf_free(&b);
    pdata_free(pd);
}

/* ---- requests as other producers write them ---------------------------------- */

static void pack_free(Req *r, struct buf *b)
{
    size_t n =
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__get_packed_size(
            r);

    buf_init(b, BUF_MAX_DEFAULT);
    assert_int_equal(buf_reserve(b, n), 0);
    b->len =
        opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__pack(
            r, b->data);
}

/*
 * The eBPF profiler's shape: one sample type per profile, samples with
 * timestamps, links, `profile.frame.type` location attributes and
 * `thread.id` int attributes; key_strindex / string_value_strindex used for
 * resource attributes. Built with the protobuf-c structs.
 */
static void build_ebpf_like(struct buf *b, int comment_keys)
{
    typedef Opentelemetry__Proto__Profiles__V1development__Sample Smp;
    typedef Opentelemetry__Proto__Profiles__V1development__ValueType Vt;
    typedef Opentelemetry__Proto__Common__V1__KeyValue Kv;
    static char *strs[] = {"",
                           "samples",
                           "count",
                           "cpu",
                           "nanoseconds",
                           "profile.frame.type",
                           "native",
                           "thread.id",
                           "service.name",
                           "ebpf",
                           "off_cpu",
                           "pprof.profile.comment.1",
                           "second",
                           "pprof.profile.comment.0",
                           "first"};
    Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary d =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__PROFILES_DICTIONARY__INIT;
    Opentelemetry__Proto__Profiles__V1development__Mapping m0 =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__MAPPING__INIT;
    Opentelemetry__Proto__Profiles__V1development__Mapping *mt[1] = {&m0};
    Opentelemetry__Proto__Profiles__V1development__Location
        l0 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__LOCATION__INIT,
        l1 = l0;
    Opentelemetry__Proto__Profiles__V1development__Location *lt[2] = {&l0,
                                                                      &l1};
    Opentelemetry__Proto__Profiles__V1development__Function f0 =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__FUNCTION__INIT;
    Opentelemetry__Proto__Profiles__V1development__Function *ft[1] = {&f0};
    Opentelemetry__Proto__Profiles__V1development__Link
        k0 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__LINK__INIT,
        k1 = k0;
    Opentelemetry__Proto__Profiles__V1development__Link *kt[2] = {&k0, &k1};
    PKvu a0 =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__KEY_VALUE_AND_UNIT__INIT;
    PKvu a1 = a0, a2 = a0, a3 = a0, a4 = a0;
    PKvu *at[5] = {&a0, &a1, &a2, &a3, &a4};
    PAv v1 = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT, v2 = v1,
        v3 = v1, v4 = v1, rv = v1;
    Opentelemetry__Proto__Profiles__V1development__Stack
        s0 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__STACK__INIT,
        s1 = s0;
    Opentelemetry__Proto__Profiles__V1development__Stack *stt[2] = {&s0, &s1};
    int32_t s1locs[1] = {1}, l1attrs[1] = {1}, sattrs[1] = {2};
    int32_t pattrs[2] = {3, 4};
    uint64_t ts1[2] = {1000, 1005}, ts2[1] = {1003};
    int64_t val1[2] = {1, 1};
    uint8_t trace[16] = {1, 2, 3}, span[8] = {9};
    Smp sm1 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__SAMPLE__INIT,
        sm2 = sm1;
    Smp *smps1[1] = {&sm1}, *smps2[1] = {&sm2};
    Vt st1 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__VALUE_TYPE__INIT,
       st2 = st1, pt = st1;
    PProf p1 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__PROFILE__INIT,
          p2 = p1;
    PProf *profs[2] = {&p1, &p2};
    Opentelemetry__Proto__Common__V1__InstrumentationScope sc =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    Opentelemetry__Proto__Profiles__V1development__ScopeProfiles sp =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__SCOPE_PROFILES__INIT;
    Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sps[1] = {
        &sp};
    Opentelemetry__Proto__Resource__V1__Resource res =
        OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
    Kv rkv = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
    Kv *rkvs[1] = {&rkv};
    Opentelemetry__Proto__Profiles__V1development__ResourceProfiles rp =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__RESOURCE_PROFILES__INIT;
    Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rps[1] = {
        &rp};
    Req r =
        OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;

    d.n_mapping_table = 1;
    d.mapping_table = mt;
    l1.address = 0xdead;
    l1.n_attribute_indices = 1;
    l1.attribute_indices = l1attrs;
    d.n_location_table = 2;
    d.location_table = lt;
    d.n_function_table = 1;
    d.function_table = ft;
    k1.trace_id.len = 16;
    k1.trace_id.data = trace;
    k1.span_id.len = 8;
    k1.span_id.data = span;
    d.n_link_table = 2;
    d.link_table = kt;
    d.n_string_table = sizeof(strs) / sizeof(strs[0]);
    d.string_table = strs;
    /* attribute 1: profile.frame.type = "native" via string_value_strindex */
    a1.key_strindex = 5;
    v1.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX;
    v1.string_value_strindex = 6;
    a1.value = &v1;
    /* attribute 2: thread.id = 4242 */
    a2.key_strindex = 7;
    v2.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
    v2.int_value = 4242;
    a2.value = &v2;
    /* attributes 3, 4: contrib-style indexed comments, listed out of order */
    a3.key_strindex = 11;
    v3.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX;
    v3.string_value_strindex = 12;
    a3.value = &v3;
    a4.key_strindex = 13;
    v4.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
    v4.string_value = "first";
    a4.value = &v4;
    d.n_attribute_table = 5;
    d.attribute_table = at;
    s1.n_location_indices = 1;
    s1.location_indices = s1locs;
    d.n_stack_table = 2;
    d.stack_table = stt;

    sm1.stack_index = 1;
    sm1.link_index = 1;
    sm1.n_attribute_indices = 1;
    sm1.attribute_indices = sattrs;
    sm1.n_timestamps_unix_nano = 2;
    sm1.timestamps_unix_nano = ts1;
    sm1.n_values = 2;
    sm1.values = val1;
    sm2 = sm1;
    sm2.n_timestamps_unix_nano = 1;
    sm2.timestamps_unix_nano = ts2;
    sm2.n_values = 0;
    st1.type_strindex = 1;
    st1.unit_strindex = 2;
    st2.type_strindex = 10;
    st2.unit_strindex = 4;
    pt.type_strindex = 3;
    pt.unit_strindex = 4;
    p1.sample_type = &st1;
    p1.period_type = &pt;
    p1.period = 50;
    p1.time_unix_nano = 1000;
    p1.duration_nano = 10;
    p1.n_samples = 1;
    p1.samples = smps1;
    p2 = p1;
    p2.sample_type = &st2;
    p2.samples = smps2;
    if (comment_keys) {
        p1.n_attribute_indices = 2;
        p1.attribute_indices = pattrs;
    }
    sc.name = "ebpf-profiler";
    sp.scope = &sc;
    sp.n_profiles = 2;
    sp.profiles = profs;
    rkv.key_strindex = 8;
    rv.value_case =
        OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX;
    rv.string_value_strindex = 9;
    rkv.value = &rv;
    res.n_attributes = 1;
    res.attributes = rkvs;
    rp.resource = &res;
    rp.n_scope_profiles = 1;
    rp.scope_profiles = sps;
    r.n_resource_profiles = 1;
    r.resource_profiles = rps;
    r.dictionary = &d;
    pack_free(&r, b);
}

static void test_otlp_ebpf_shape_not_joined(void **state)
{
    struct buf b, b2;
    struct pdata *pd = NULL, *back;
    struct errctx e = {{0}};
    const struct scope_profiles *sp;
    const struct location *l;
    const struct attr *a;

    (void)state;
    build_ebpf_like(&b, 0);
    assert_int_equal(otlp_validate(b.data, b.len, &e), 0);
    assert_int_equal(otlp_decode(b.data, b.len, NULL, &pd, &e), 0);
    sp = &pd->resources[0].scopes[0];
    assert_int_equal(sp->nprofiles, 2);
    assert_int_equal(sp->profiles[0].nsample_types, 1);
    assert_int_equal(sp->profiles[1].nsample_types, 1);
    assert_int_equal(sp->profiles[0].samples[0].nts, 2);
    assert_int_equal(sp->profiles[1].samples[0].nvalues, 0);
    /* key_strindex / string_value_strindex resolved to strings. */
    assert_true(pstr_eq(pd->resources[0].resource.attrs[0].key,
                        "service.name"));
    assert_true(pstr_eq(pd->resources[0].resource.attrs[0].value.u.s, "ebpf"));
    l = &pd->dict.locations[1];
    assert_int_equal(l->nattrs, 1);
    a = &pd->dict.attrs[l->attrs[0]];
    assert_true(pstr_eq(dict_str(&pd->dict, a->key), "profile.frame.type"));
    assert_int_equal(a->value.type, AV_STRING);
    assert_true(pstr_eq(a->value.u.s, "native"));
    assert_int_equal(pd->dict.attrs[2].value.u.i, 4242);
    assert_int_equal(pd->dict.links[1].trace_id[2], 3);
    /* And it survives another trip. */
    back = roundtrip(pd, &b2);
    pdata_free(back);
    buf_free(&b2);
    buf_free(&b);
    pdata_free(pd);
}

static void test_otlp_contrib_comment_keys(void **state)
{
    struct buf b;
    struct pdata *pd = NULL;
    struct errctx e = {{0}};
    const struct profile *p;

    (void)state;
    build_ebpf_like(&b, 1);
    assert_int_equal(otlp_decode(b.data, b.len, NULL, &pd, &e), 0);
    p = &pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(p->ncomments, 2);
    assert_true(pstr_eq(dict_str(&pd->dict, p->comments[0]), "first"));
    assert_true(pstr_eq(dict_str(&pd->dict, p->comments[1]), "second"));
    assert_int_equal(p->nattrs, 0); /* lifted out of the attributes */
    buf_free(&b);
    pdata_free(pd);
}

/* ---- fixed point: encode(decode(y)) == y for y = encode(decode(x)) -------- */

/*
 * A one-scope request over a small dictionary. Profile k has sample type
 * `type[k]` (string index), `nsamples[k]` samples on stack 1 with value
 * k + 1 and sample attributes `sattrs`, and profile attributes `pattrs[k]`.
 * Scope attributes: `nscope` of pprof.scope.default_sample_type = "cpu" /
 * "alloc" / "nosuch" (in that order), then `other` = "x".
 */
struct mini {
    int nprof;
    int32_t type[3];
    int nsamples[3];
    int32_t pattrs[3][2];
    size_t npattrs[3];
    int32_t sattrs[3];
    size_t nsattrs;
    int nscope;
};

static void build_mini(const struct mini *m, struct buf *b)
{
    typedef Opentelemetry__Proto__Profiles__V1development__Sample Smp;
    typedef Opentelemetry__Proto__Profiles__V1development__ValueType Vt;
    typedef Opentelemetry__Proto__Common__V1__KeyValue Kv;
    static char *strs[] = {"",      "cpu",   "nanoseconds",
                           "alloc", "bytes", "pprof.profile.keep_frames",
                           "k",     "main"};
    static char *dsts[] = {"cpu", "alloc", "nosuch"};
    PDict d =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__PROFILES_DICTIONARY__INIT;
    Opentelemetry__Proto__Profiles__V1development__Mapping m0 =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__MAPPING__INIT;
    Opentelemetry__Proto__Profiles__V1development__Mapping *mt[1] = {&m0};
    Opentelemetry__Proto__Profiles__V1development__Location
        l0 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__LOCATION__INIT,
        l1 = l0;
    Opentelemetry__Proto__Profiles__V1development__Location *lt[2] = {&l0,
                                                                      &l1};
    Opentelemetry__Proto__Profiles__V1development__Function f0 =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__FUNCTION__INIT;
    Opentelemetry__Proto__Profiles__V1development__Function *ft[1] = {&f0};
    Opentelemetry__Proto__Profiles__V1development__Link k0 =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__LINK__INIT;
    Opentelemetry__Proto__Profiles__V1development__Link *kt[1] = {&k0};
    /* attributes: 1 keep=a.*, 2 keep=b.*, 3 k="x", 4 k="y" */
    PKvu a[5] = {
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__KEY_VALUE_AND_UNIT__INIT,
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__KEY_VALUE_AND_UNIT__INIT,
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__KEY_VALUE_AND_UNIT__INIT,
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__KEY_VALUE_AND_UNIT__INIT,
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__KEY_VALUE_AND_UNIT__INIT};
    PKvu *at[5] = {&a[0], &a[1], &a[2], &a[3], &a[4]};
    static char *avals[] = {"", "a.*", "b.*", "x", "y"};
    PAv av[5];
    Opentelemetry__Proto__Profiles__V1development__Stack
        s0 = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__STACK__INIT,
        s1 = s0;
    Opentelemetry__Proto__Profiles__V1development__Stack *stt[2] = {&s0, &s1};
    int32_t s1locs[1] = {1};
    Smp smp[3];
    Smp *smps[3][1] = {{&smp[0]}, {&smp[1]}, {&smp[2]}};
    int64_t vals[3] = {1, 2, 3};
    Vt st[3],
        pt = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__VALUE_TYPE__INIT;
    PProf pr[3];
    PProf *profs[3] = {&pr[0], &pr[1], &pr[2]};
    Opentelemetry__Proto__Common__V1__InstrumentationScope sc =
        OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
    Kv skv[4];
    Kv *skvs[4] = {&skv[0], &skv[1], &skv[2], &skv[3]};
    PAv sav[4];
    Opentelemetry__Proto__Profiles__V1development__ScopeProfiles sp =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__SCOPE_PROFILES__INIT;
    Opentelemetry__Proto__Profiles__V1development__ScopeProfiles *sps[1] = {
        &sp};
    Opentelemetry__Proto__Profiles__V1development__ResourceProfiles rp =
        OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__RESOURCE_PROFILES__INIT;
    Opentelemetry__Proto__Profiles__V1development__ResourceProfiles *rps[1] = {
        &rp};
    Req r =
        OPENTELEMETRY__PROTO__COLLECTOR__PROFILES__V1DEVELOPMENT__EXPORT_PROFILES_SERVICE_REQUEST__INIT;
    int k;

    d.n_mapping_table = 1;
    d.mapping_table = mt;
    l1.address = 0x10;
    d.n_location_table = 2;
    d.location_table = lt;
    d.n_function_table = 1;
    d.function_table = ft;
    d.n_link_table = 1;
    d.link_table = kt;
    d.n_string_table = sizeof(strs) / sizeof(strs[0]);
    d.string_table = strs;
    for (k = 1; k < 5; k++) {
        PAv init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
        av[k] = init;
        av[k].value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        av[k].string_value = avals[k];
        a[k].key_strindex = k <= 2 ? 5 : 6;
        a[k].value = &av[k];
    }
    d.n_attribute_table = 5;
    d.attribute_table = at;
    s1.n_location_indices = 1;
    s1.location_indices = s1locs;
    d.n_stack_table = 2;
    d.stack_table = stt;
    pt.type_strindex = 1;
    pt.unit_strindex = 2;
    for (k = 0; k < m->nprof; k++) {
        Smp si = OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__SAMPLE__INIT;
        Vt vi =
            OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__VALUE_TYPE__INIT;
        PProf pi =
            OPENTELEMETRY__PROTO__PROFILES__V1DEVELOPMENT__PROFILE__INIT;
        smp[k] = si;
        smp[k].stack_index = 1;
        smp[k].n_values = 1;
        smp[k].values = &vals[k];
        smp[k].n_attribute_indices = m->nsattrs;
        smp[k].attribute_indices = (int32_t *)m->sattrs;
        st[k] = vi;
        st[k].type_strindex = m->type[k];
        st[k].unit_strindex = m->type[k] == 1 ? 2 : 4;
        pr[k] = pi;
        pr[k].sample_type = &st[k];
        pr[k].period_type = &pt;
        pr[k].n_samples = (size_t)m->nsamples[k];
        pr[k].samples = smps[k];
        pr[k].n_attribute_indices = m->npattrs[k];
        pr[k].attribute_indices = (int32_t *)m->pattrs[k];
    }
    for (k = 0; k <= m->nscope; k++) {
        Kv kinit = OPENTELEMETRY__PROTO__COMMON__V1__KEY_VALUE__INIT;
        PAv init = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__INIT;
        skv[k] = kinit;
        sav[k] = init;
        sav[k].value_case =
            OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
        skv[k].key = k < m->nscope ? "pprof.scope.default_sample_type"
                                   : "other";
        sav[k].string_value = k < m->nscope ? dsts[k] : "x";
        skv[k].value = &sav[k];
    }
    sc.n_attributes = (size_t)m->nscope + 1;
    sc.attributes = skvs;
    sp.scope = &sc;
    sp.n_profiles = (size_t)m->nprof;
    sp.profiles = profs;
    rp.n_scope_profiles = 1;
    rp.scope_profiles = sps;
    r.n_resource_profiles = 1;
    r.resource_profiles = rps;
    r.dictionary = &d;
    pack_free(&r, b);
}

/* Decodes x, encodes it to y (returned) and checks that decoding and
 * encoding y gives y again, byte for byte; *pd gets decode(y). */
static void fixed_point(const struct buf *x, struct buf *y, struct pdata **pd)
{
    struct pdata *a = NULL;
    const struct pdata *in[1];
    struct errctx e = {{0}};
    struct buf z;

    assert_int_equal(otlp_decode(x->data, x->len, NULL, &a, &e), 0);
    in[0] = a;
    encode(in, 1, y);
    pdata_free(a);
    assert_int_equal(otlp_validate(y->data, y->len, &e), 0);
    assert_int_equal(otlp_decode(y->data, y->len, NULL, pd, &e), 0);
    in[0] = *pd;
    encode(in, 1, &z);
    assert_int_equal(z.len, y->len);
    assert_memory_equal(z.data, y->data, y->len);
    buf_free(&z);
}

/* Number of scope attributes named key, and the value of the last one. */
static int scope_attr_count(const struct scope *sc, const char *key,
                            struct pstr *last)
{
    uint32_t k;
    int n = 0;

    for (k = 0; k < sc->nattrs; k++) {
        if (pstr_eq(sc->attrs[k].key, key)) {
            n++;
            *last = sc->attrs[k].value.u.s;
        }
    }
    return n;
}

/*
 * The counter-example the fuzzer found: a scope with a default sample type
 * and two profiles that cannot be joined (one has no samples). Only the
 * profile of that type takes it; the attribute stays on the scope for the
 * other, and the encoding is a fixed point.
 */
static void test_otlp_default_type_unjoined(void **state)
{
    struct mini m;
    struct buf x, y;
    struct pdata *pd = NULL, *d0 = NULL;
    struct errctx e = {{0}};
    const struct resource_profiles *rp;
    struct pstr v = {NULL, 0};

    (void)state;
    memset(&m, 0, sizeof(m));
    m.nprof = 2;
    m.type[0] = 1; /* cpu */
    m.type[1] = 3; /* alloc */
    m.nsamples[0] = 1;
    m.nscope = 1; /* default_sample_type = cpu */
    build_mini(&m, &x);
    assert_int_equal(otlp_decode(x.data, x.len, NULL, &d0, &e), 0);
    rp = &d0->resources[0];
    assert_int_equal(rp->scopes[0].nprofiles, 2);
    assert_true(pstr_eq(
        dict_str(&d0->dict, rp->scopes[0].profiles[0].default_sample_type),
        "cpu"));
    assert_int_equal(rp->scopes[0].profiles[1].default_sample_type, 0);
    assert_int_equal(scope_attr_count(&rp->scopes[0].scope,
                                      "pprof.scope.default_sample_type", &v),
                     1);
    pdata_free(d0);

    fixed_point(&x, &y, &pd);
    rp = &pd->resources[0];
    assert_int_equal(rp->nscopes, 2);
    /* cpu profile: lifted (attribute gone from its scope) */
    assert_true(pstr_eq(
        dict_str(&pd->dict, rp->scopes[0].profiles[0].default_sample_type),
        "cpu"));
    assert_int_equal(scope_attr_count(&rp->scopes[0].scope,
                                      "pprof.scope.default_sample_type", &v),
                     0);
    /* alloc profile: kept as a plain scope attribute */
    assert_int_equal(rp->scopes[1].profiles[0].default_sample_type, 0);
    assert_int_equal(scope_attr_count(&rp->scopes[1].scope,
                                      "pprof.scope.default_sample_type", &v),
                     1);
    assert_true(pstr_eq(v, "cpu"));
    pdata_free(pd);
    buf_free(&y);
    buf_free(&x);
}

/* Joined profiles whose types include the default take it; a default no
 * profile has stays a scope attribute; of two, the last one counts. */
static void test_otlp_default_type_rules(void **state)
{
    struct mini m;
    struct buf x, y;
    struct pdata *pd = NULL;
    const struct scope_profiles *sp;
    struct pstr v = {NULL, 0};
    struct buf pp;
    struct errctx e = {{0}};

    (void)state;
    /* cpu + alloc with equal samples: joined, default "alloc" (the last of
     * "cpu", "alloc") lifted, "cpu" kept as a scope attribute. */
    memset(&m, 0, sizeof(m));
    m.nprof = 2;
    m.type[0] = 1;
    m.type[1] = 3;
    m.nsamples[0] = m.nsamples[1] = 1;
    m.nscope = 2;
    build_mini(&m, &x);
    fixed_point(&x, &y, &pd);
    sp = &pd->resources[0].scopes[0];
    assert_int_equal(pd->resources[0].nscopes, 1);
    assert_int_equal(sp->nprofiles, 1);
    assert_int_equal(sp->profiles[0].nsample_types, 2);
    assert_true(pstr_eq(dict_str(&pd->dict,
                                 sp->profiles[0].default_sample_type),
                        "alloc"));
    assert_int_equal(scope_attr_count(&sp->scope,
                                      "pprof.scope.default_sample_type", &v),
                     1);
    assert_true(pstr_eq(v, "cpu"));
    pdata_free(pd);
    buf_free(&y);
    buf_free(&x);

    /* A default no profile has ("nosuch", the last of three) is not lifted:
     * a pprof naming a type it lacks is one go tool pprof rejects. */
    m.nscope = 3;
    build_mini(&m, &x);
    fixed_point(&x, &y, &pd);
    sp = &pd->resources[0].scopes[0];
    assert_int_equal(sp->profiles[0].default_sample_type, 0);
    assert_int_equal(scope_attr_count(&sp->scope,
                                      "pprof.scope.default_sample_type", &v),
                     3);
    buf_init(&pp, BUF_MAX_DEFAULT);
    assert_int_equal(pprof_encode(pd, &sp->profiles[0], &pp, &e), 0);
    buf_free(&pp);
    pdata_free(pd);
    buf_free(&y);
    buf_free(&x);

    /* A scope without profiles keeps the attribute. */
    m.nprof = 0;
    m.nscope = 1;
    build_mini(&m, &x);
    fixed_point(&x, &y, &pd);
    sp = &pd->resources[0].scopes[0];
    assert_int_equal(scope_attr_count(&sp->scope,
                                      "pprof.scope.default_sample_type", &v),
                     1);
    pdata_free(pd);
    buf_free(&y);
    buf_free(&x);
}

/* Two keep_frames attributes: the last is lifted, the other stays, and
 * the encoding does not swap them round after round. */
static void test_otlp_duplicate_pprof_attr(void **state)
{
    struct mini m;
    struct buf x, y;
    struct pdata *pd = NULL;
    const struct profile *p;
    const struct attr *a;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.nprof = 1;
    m.type[0] = 1;
    m.nsamples[0] = 1;
    m.pattrs[0][0] = 1; /* keep_frames = a.* */
    m.pattrs[0][1] = 2; /* keep_frames = b.* */
    m.npattrs[0] = 2;
    build_mini(&m, &x);
    fixed_point(&x, &y, &pd);
    p = &pd->resources[0].scopes[0].profiles[0];
    assert_true(pstr_eq(dict_str(&pd->dict, p->keep_frames), "b.*"));
    assert_int_equal(p->nattrs, 1);
    a = &pd->dict.attrs[p->attrs[0]];
    assert_true(pstr_eq(a->value.u.s, "a.*"));
    pdata_free(pd);
    buf_free(&y);
    buf_free(&x);
}

/* A sample naming one key twice (OTLP wants unique keys) gets one array
 * attribute, and the two single attributes are not left in the dictionary
 * unreferenced (the next round would drop them). */
static void test_otlp_duplicate_sample_keys(void **state)
{
    struct mini m;
    struct buf x, y;
    struct pdata *pd = NULL;
    const struct sample *s;
    const struct attr *a;
    uint32_t k;

    (void)state;
    memset(&m, 0, sizeof(m));
    m.nprof = 1;
    m.type[0] = 1;
    m.nsamples[0] = 1;
    m.sattrs[0] = 3; /* k = x */
    m.sattrs[1] = 4; /* k = y */
    m.nsattrs = 2;
    build_mini(&m, &x);
    fixed_point(&x, &y, &pd);
    s = &pd->resources[0].scopes[0].profiles[0].samples[0];
    assert_int_equal(s->nattrs, 1);
    a = &pd->dict.attrs[s->attrs[0]];
    assert_int_equal(a->value.type, AV_ARRAY);
    assert_int_equal(a->value.u.arr.n, 2);
    assert_true(pstr_eq(a->value.u.arr.items[1].u.s, "y"));
    for (k = 1; k < pd->dict.nattrs; k++) {
        assert_true(pd->dict.attrs[k].value.type != AV_STRING ||
                    !pstr_eq(dict_str(&pd->dict, pd->dict.attrs[k].key), "k"));
    }
    pdata_free(pd);
    buf_free(&y);
    buf_free(&x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_otlp_multitype_joined),
        cmocka_unit_test(test_otlp_mapping_location_attrs),
        cmocka_unit_test(test_otlp_multivalued_labels),
        cmocka_unit_test(test_otlp_otlp_only_fields),
        cmocka_unit_test(test_otlp_timestamp_window_widened),
        cmocka_unit_test(test_otlp_two_inputs_merged),
        cmocka_unit_test(test_otlp_one_input_stacks),
        cmocka_unit_test(test_otlp_request_ok_unpacked),
        cmocka_unit_test(test_otlp_timestamps_behind_values),
        cmocka_unit_test(test_otlp_encode_parts),
        cmocka_unit_test(test_otlp_index_out_of_range),
        cmocka_unit_test(test_otlp_zero_entry_not_zero),
        cmocka_unit_test(test_otlp_nesting_too_deep),
        cmocka_unit_test(test_otlp_empty_truncated_random),
        cmocka_unit_test(test_otlp_ebpf_shape_not_joined),
        cmocka_unit_test(test_otlp_contrib_comment_keys),
        cmocka_unit_test(test_otlp_default_type_unjoined),
        cmocka_unit_test(test_otlp_default_type_rules),
        cmocka_unit_test(test_otlp_duplicate_pprof_attr),
        cmocka_unit_test(test_otlp_duplicate_sample_keys),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
