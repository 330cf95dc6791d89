/* test_pprof.c: the pprof codec. Profiles are built byte by byte with a tiny
 * protobuf writer (pbw.h), decoded, re-encoded and decoded again; model
 * profiles built by hand (as the OTLP decoder makes them) check the encoder's
 * conversion rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/compress.h"
#include "codec/pb.h"
#include "codec/pprof.h"
#include "model/profile.h"
#include "pbw.h"

static const char *rich_strings[] = {"",
                                     "samples",
                                     "count",
                                     "cpu",
                                     "nanoseconds",
                                     "main",
                                     "main.go",
                                     "/bin/app",
                                     "abc123buildid",
                                     "foo",
                                     "runtime.foo",
                                     "lib.go",
                                     "thread",
                                     "worker",
                                     "bytes",
                                     "size",
                                     "comment one",
                                     "comment two",
                                     "drop.*",
                                     "keep.*",
                                     "https://example.com/doc",
                                     "tag",
                                     "a",
                                     "b",
                                     "/lib/libc.so"};
#define NRICH (sizeof(rich_strings) / sizeof(rich_strings[0]))

/*
 * Every pprof field, non-dense ids (mappings 10, 20; functions 7, 3;
 * locations 100, 200, 300), packed and unpacked repeated fields, unknown
 * fields at three levels.
 */
static void build_rich(struct buf *b)
{
    static const uint64_t locs0[] = {100, 200}, vals0[] = {1, 10000000};
    static const uint64_t vals2[] = {3, 30000000};
    static const uint64_t comments[] = {16, 17};
    size_t m, i;

    buf_init(b, 0);
    pbw_value_type(b, 1, 1, 2);
    pbw_value_type(b, 1, 3, 4);
    pbw_uint(b, 100, 12345); /* unknown varint */
    /* sample 0: packed ids and values, string, numeric, multi-valued. */
    m = pbw_begin(b, 2);
    pbw_packed(b, 1, locs0, 2);
    pbw_packed(b, 2, vals0, 2);
    pbw_label(b, 12, 13, 0, 0);
    pbw_label(b, 15, 0, 1024, 14);
    pbw_label(b, 21, 22, 0, 0);
    pbw_label(b, 21, 23, 0, 0);
    pbw_uint(b, 9, 7); /* unknown inside a sample */
    pbw_end(b, m);
    /* sample 1: unpacked ids and values, a label google/pprof drops. */
    m = pbw_begin(b, 2);
    pbw_uint(b, 1, 300);
    pbw_uint(b, 1, 100);
    pbw_uint(b, 2, 2);
    pbw_uint(b, 2, 20000000);
    pbw_label(b, 15, 0, 2048, 14);
    pbw_label(b, 21, 0, 0, 0);
    pbw_end(b, m);
    /* sample 2: no frames. */
    m = pbw_begin(b, 2);
    pbw_packed(b, 2, vals2, 2);
    pbw_end(b, m);
    /* mappings 10 (every flag) and 20. */
    m = pbw_begin(b, 3);
    pbw_uint(b, 1, 10);
    pbw_uint(b, 2, 0x400000);
    pbw_uint(b, 3, 0x500000);
    pbw_uint(b, 4, 0x1000);
    pbw_uint(b, 5, 7);
    pbw_uint(b, 6, 8);
    for (i = 7; i <= 10; i++) {
        pbw_uint(b, (uint32_t)i, 1);
    }
    assert_int_equal(pb_put_fixed64(b, 20, 99), PC_OK); /* unknown */
    pbw_end(b, m);
    m = pbw_begin(b, 3);
    pbw_uint(b, 1, 20);
    pbw_uint(b, 2, 0x7f000000);
    pbw_uint(b, 3, 0x7f100000);
    pbw_uint(b, 5, 24);
    pbw_end(b, m);
    /* location 100: inlined lines, callee first, with columns; folded. */
    m = pbw_location_begin(b, 100, 10, 0x401000);
    pbw_line(b, 3, 45, 7);
    pbw_line(b, 7, 20, 3);
    pbw_uint(b, 5, 1);
    pbw_bytes(b, 9, "zz", 2); /* unknown */
    pbw_end(b, m);
    m = pbw_location_begin(b, 200, 20, 0x7f000010);
    pbw_line(b, 3, 50, 0);
    pbw_end(b, m);
    m = pbw_location_begin(b, 300, 0,
                           0x10); /* location 300: no mapping, no lines */
    pbw_end(b, m);
    pbw_function(b, 7, 5, 5, 6, 12);
    pbw_function(b, 3, 9, 10, 11, 40);
    for (i = 0; i < NRICH; i++) {
        pbw_str(b, 6, rich_strings[i]);
    }
    pbw_uint(b, 7, 18);
    pbw_uint(b, 8, 19);
    pbw_uint(b, 9, 1700000000123456789ULL);
    pbw_uint(b, 10, 30000000000ULL);
    pbw_value_type(b, 11, 3, 4);
    pbw_uint(b, 12, 10000000);
    pbw_packed(b, 13, comments, 1);
    pbw_uint(b, 13, comments[1]);
    pbw_uint(b, 14, 3);
    pbw_uint(b, 15, 20);
    pbw_bytes(b, 101, "x", 1); /* unknown */
}

/* ---- helpers -------------------------------------------------------------- */

static struct profile *only_profile(const struct pdata *pd)
{
    assert_int_equal(pd->nresources, 1);
    assert_int_equal(pd->resources[0].nscopes, 1);
    assert_int_equal(pd->resources[0].scopes[0].nprofiles, 1);
    return &pd->resources[0].scopes[0].profiles[0];
}

static int str_is(const struct pdata *pd, int32_t i, const char *s)
{
    return pstr_eq(dict_str(&pd->dict, i), s);
}

#define ASSERT_STR(pd, i, s) assert_true(str_is((pd), (i), (s)))

static void same_str(const struct pdata *a, int32_t i, const struct pdata *b,
                     int32_t j)
{
    assert_true(pstr_eqp(dict_str(&a->dict, i), dict_str(&b->dict, j)));
}

static void same_attr(const struct pdata *a, int32_t i, const struct pdata *b,
                      int32_t j)
{
    const struct attr *x = &a->dict.attrs[i], *y = &b->dict.attrs[j];

    same_str(a, x->key, b, y->key);
    same_str(a, x->unit, b, y->unit);
    assert_true(av_equal(&x->value, &y->value));
}

static void same_header(const struct pdata *a, const struct profile *p,
                        const struct pdata *b, const struct profile *q)
{
    uint32_t i;

    assert_int_equal(p->nsample_types, q->nsample_types);
    for (i = 0; i < p->nsample_types; i++) {
        same_str(a, p->sample_types[i].type, b, q->sample_types[i].type);
        same_str(a, p->sample_types[i].unit, b, q->sample_types[i].unit);
    }
    same_str(a, p->default_sample_type, b, q->default_sample_type);
    same_str(a, p->period_type.type, b, q->period_type.type);
    same_str(a, p->period_type.unit, b, q->period_type.unit);
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
}

/* Tables keep their order through encode (ids renumber, positions stay). */
static void same_tables(const struct pdata *a, const struct pdata *b)
{
    const struct dict *x = &a->dict, *y = &b->dict;
    uint32_t i, j;

    assert_int_equal(x->nmappings, y->nmappings);
    assert_int_equal(x->nlocations, y->nlocations);
    assert_int_equal(x->nfunctions, y->nfunctions);
    for (i = 1; i < x->nmappings; i++) {
        const struct mapping *m = &x->mappings[i], *n = &y->mappings[i];
        assert_int_equal(m->memory_start, n->memory_start);
        assert_int_equal(m->memory_limit, n->memory_limit);
        assert_int_equal(m->file_offset, n->file_offset);
        assert_int_equal(m->flags, n->flags);
        same_str(a, m->filename, b, n->filename);
        same_str(a, m->build_id, b, n->build_id);
    }
    for (i = 1; i < x->nlocations; i++) {
        const struct location *l = &x->locations[i], *k = &y->locations[i];
        assert_int_equal(l->mapping, k->mapping);
        assert_int_equal(l->address, k->address);
        assert_int_equal(l->is_folded, k->is_folded);
        assert_int_equal(l->nlines, k->nlines);
        for (j = 0; j < l->nlines; j++) {
            assert_int_equal(l->lines[j].function, k->lines[j].function);
            assert_int_equal(l->lines[j].line, k->lines[j].line);
            assert_int_equal(l->lines[j].column, k->lines[j].column);
        }
    }
    for (i = 1; i < x->nfunctions; i++) {
        const struct function *f = &x->functions[i], *g = &y->functions[i];
        same_str(a, f->name, b, g->name);
        same_str(a, f->system_name, b, g->system_name);
        same_str(a, f->filename, b, g->filename);
        assert_int_equal(f->start_line, g->start_line);
    }
}

static void same_samples(const struct pdata *a, const struct profile *p,
                         const struct pdata *b, const struct profile *q)
{
    uint32_t i, j;

    assert_int_equal(p->nsamples, q->nsamples);
    for (i = 0; i < p->nsamples; i++) {
        const struct sample *s = &p->samples[i], *t = &q->samples[i];
        const struct stack *u = &a->dict.stacks[s->stack];
        const struct stack *v = &b->dict.stacks[t->stack];
        assert_int_equal(u->n, v->n);
        for (j = 0; j < u->n; j++) {
            assert_int_equal(stack_loc(u, j), stack_loc(v, j));
        }
        assert_int_equal(s->nvalues, t->nvalues);
        for (j = 0; j < s->nvalues; j++) {
            assert_int_equal(s->values[j], t->values[j]);
        }
        assert_int_equal(s->nattrs, t->nattrs);
        for (j = 0; j < s->nattrs; j++) {
            same_attr(a, s->attrs[j], b, t->attrs[j]);
        }
    }
}

static void same_pdata(const struct pdata *a, const struct pdata *b)
{
    const struct profile *p = only_profile(a), *q = only_profile(b);

    same_header(a, p, b, q);
    same_tables(a, b);
    same_samples(a, p, b, q);
}

static struct pdata *decode_ok(const uint8_t *d, size_t n)
{
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    int rc = pprof_decode(d, n, NULL, &pd, &e);

    if (rc != PC_OK) {
        fail_msg("decode: %s", err_msg(&e, rc));
    }
    assert_non_null(pd);
    return pd;
}

static struct pdata *reencode(const struct pdata *pd, struct buf *out)
{
    struct errctx e = {{0}};
    int rc;

    buf_init(out, 0);
    rc = pprof_encode(pd, only_profile(pd), out, &e);
    if (rc != PC_OK) {
        fail_msg("encode: %s", err_msg(&e, rc));
    }
    return decode_ok(out->data, out->len);
}

/* Checks the raw encoding: ids 1..N in order, string_table[0] == "". */
static void check_raw_ids(const struct buf *b, uint32_t *nstrings)
{
    const uint8_t *p = b->data, *end = b->data + b->len, *s = NULL, *q;
    uint64_t count[6] = {0}, v = 0;
    uint32_t field = 0, f2 = 0;
    unsigned wire = 0, w2 = 0;
    size_t n = 0;

    *nstrings = 0;
    while (p < end) {
        assert_int_equal(pb_read_tag(&p, end, &field, &wire), PC_OK);
        if (wire != PB_LEN) {
            assert_int_equal(pb_skip(&p, end, wire), PC_OK);
            continue;
        }
        assert_int_equal(pb_read_len(&p, end, &s, &n), PC_OK);
        if (field == 6) {
            assert_true(*nstrings != 0 || n == 0);
            (*nstrings)++;
        }
        if (field < 3 || field > 5) {
            continue;
        }
        q = s;
        assert_int_equal(pb_read_tag(&q, s + n, &f2, &w2), PC_OK);
        assert_int_equal(f2, 1);
        assert_int_equal(pb_read_varint(&q, s + n, &v), PC_OK);
        assert_int_equal(v, ++count[field]);
    }
}

/* ---- decoding ------------------------------------------------------------- */

static void test_decode_rich(void **state)
{
    struct buf b;
    struct pdata *pd;
    const struct profile *p;
    const struct dict *d;
    const struct sample *s;

    (void)state;
    build_rich(&b);
    pd = decode_ok(b.data, b.len);
    buf_free(&b); /* decode copied the input */
    p = only_profile(pd);
    d = &pd->dict;
    assert_int_equal(d->nstrings, NRICH);
    ASSERT_STR(pd, 13, "worker");
    assert_int_equal(p->nsample_types, 2);
    ASSERT_STR(pd, p->sample_types[1].type, "cpu");
    ASSERT_STR(pd, p->sample_types[1].unit, "nanoseconds");
    ASSERT_STR(pd, p->default_sample_type, "cpu");
    ASSERT_STR(pd, p->period_type.unit, "nanoseconds");
    assert_int_equal(p->period, 10000000);
    assert_int_equal(p->time_nanos, 1700000000123456789LL);
    assert_int_equal(p->duration_nanos, 30000000000LL);
    assert_int_equal(p->ncomments, 2);
    ASSERT_STR(pd, p->comments[0], "comment one");
    ASSERT_STR(pd, p->comments[1], "comment two");
    ASSERT_STR(pd, p->drop_frames, "drop.*");
    ASSERT_STR(pd, p->keep_frames, "keep.*");
    ASSERT_STR(pd, p->doc_url, "https://example.com/doc");
    /* mappings: id 10 -> 1, id 20 -> 2 */
    assert_int_equal(d->nmappings, 3);
    assert_int_equal(d->mappings[1].memory_start, 0x400000);
    assert_int_equal(d->mappings[1].memory_limit, 0x500000);
    assert_int_equal(d->mappings[1].file_offset, 0x1000);
    ASSERT_STR(pd, d->mappings[1].filename, "/bin/app");
    ASSERT_STR(pd, d->mappings[1].build_id, "abc123buildid");
    assert_int_equal(d->mappings[1].flags, 15);
    assert_int_equal(d->mappings[2].flags, 0);
    ASSERT_STR(pd, d->mappings[2].filename, "/lib/libc.so");
    /* functions: id 7 -> 1, id 3 -> 2 */
    assert_int_equal(d->nfunctions, 3);
    ASSERT_STR(pd, d->functions[1].name, "main");
    ASSERT_STR(pd, d->functions[2].system_name, "runtime.foo");
    ASSERT_STR(pd, d->functions[2].filename, "lib.go");
    assert_int_equal(d->functions[2].start_line, 40);
    /* locations */
    assert_int_equal(d->nlocations, 4);
    assert_int_equal(d->locations[1].mapping, 1);
    assert_int_equal(d->locations[1].address, 0x401000);
    assert_int_equal(d->locations[1].is_folded, 1);
    assert_int_equal(d->locations[1].nlines, 2);
    assert_int_equal(d->locations[1].lines[0].function, 2);
    assert_int_equal(d->locations[1].lines[0].line, 45);
    assert_int_equal(d->locations[1].lines[0].column, 7);
    assert_int_equal(d->locations[1].lines[1].function, 1);
    assert_int_equal(d->locations[1].lines[1].column, 3);
    assert_int_equal(d->locations[2].mapping, 2);
    assert_int_equal(d->locations[3].mapping, 0);
    assert_int_equal(d->locations[3].nlines, 0);
    /* samples */
    assert_int_equal(p->nsamples, 3);
    s = &p->samples[0];
    assert_int_equal(d->stacks[s->stack].n, 2);
    assert_int_equal(stack_loc(&d->stacks[s->stack], 0), 1);
    assert_int_equal(stack_loc(&d->stacks[s->stack], 1), 2);
    assert_int_equal(s->nvalues, 2);
    assert_int_equal(s->values[1], 10000000);
    assert_int_equal(s->nattrs, 4);
    ASSERT_STR(pd, d->attrs[s->attrs[0]].key, "thread");
    assert_int_equal(d->attrs[s->attrs[0]].value.type, AV_STRING);
    assert_true(pstr_eq(d->attrs[s->attrs[0]].value.u.s, "worker"));
    assert_int_equal(d->attrs[s->attrs[1]].value.type, AV_INT);
    assert_int_equal(d->attrs[s->attrs[1]].value.u.i, 1024);
    ASSERT_STR(pd, d->attrs[s->attrs[1]].unit, "bytes");
    ASSERT_STR(pd, d->attrs[s->attrs[2]].key, "tag");
    ASSERT_STR(pd, d->attrs[s->attrs[3]].key, "tag");
    assert_true(pstr_eq(d->attrs[s->attrs[3]].value.u.s, "b"));
    s = &p->samples[1];
    assert_int_equal(stack_loc(&d->stacks[s->stack], 0), 3);
    assert_int_equal(stack_loc(&d->stacks[s->stack], 1), 1);
    assert_int_equal(s->values[0], 2);
    assert_int_equal(s->nattrs, 1); /* the empty label is dropped */
    assert_int_equal(d->attrs[s->attrs[0]].value.u.i, 2048);
    s = &p->samples[2];
    assert_int_equal(s->stack, 0);
    assert_int_equal(d->stacks[0].n, 0);
    assert_int_equal(s->values[1], 30000000);
    assert_int_equal(s->link, 0);
    pdata_free(pd);
}

static void test_roundtrip_rich(void **state)
{
    struct buf b, enc, enc2;
    struct pdata *pd, *pd2, *pd3;
    uint32_t nstr;

    (void)state;
    build_rich(&b);
    pd = decode_ok(b.data, b.len);
    pd2 = reencode(pd, &enc);
    same_pdata(pd, pd2);
    check_raw_ids(&enc, &nstr);
    /* Every string of the input is used by something. */
    assert_int_equal(nstr, NRICH);
    /* A second trip is byte-identical: the encoding is canonical. */
    pd3 = reencode(pd2, &enc2);
    assert_int_equal(enc.len, enc2.len);
    assert_memory_equal(enc.data, enc2.data, enc.len);
    same_pdata(pd, pd3);
    pdata_free(pd);
    pdata_free(pd2);
    pdata_free(pd3);
    buf_free(&b);
    buf_free(&enc);
    buf_free(&enc2);
}

static void test_decode_gzip_and_borrow(void **state)
{
    struct buf b, gz, out;
    struct pdata *plain, *zipped, *borrowed = NULL, *again;
    struct errctx e = {{0}};

    (void)state;
    build_rich(&b);
    buf_init(&gz, 0);
    assert_int_equal(gz_compress(b.data, b.len, &gz, 6), PC_OK);
    assert_true(gz_is_gzip(gz.data, gz.len));
    plain = decode_ok(b.data, b.len);
    zipped = decode_ok(gz.data, gz.len);
    buf_free(&gz);
    same_pdata(plain, zipped);
    assert_int_equal(pprof_decode_borrow(b.data, b.len, NULL, &borrowed, &e),
                     PC_OK);
    /* Borrowed strings point into the caller's bytes. */
    assert_true((const uint8_t *)borrowed->dict.strings[5].ptr >= b.data &&
                (const uint8_t *)borrowed->dict.strings[5].ptr <
                    b.data + b.len);
    same_pdata(plain, borrowed);
    /* Gzip encoding decodes to the same profile. */
    buf_init(&out, 0);
    assert_int_equal(pprof_encode_gz(plain, only_profile(plain), 6, &out, &e),
                     PC_OK);
    assert_true(gz_is_gzip(out.data, out.len));
    again = decode_ok(out.data, out.len);
    same_pdata(plain, again);
    pdata_free(plain);
    pdata_free(zipped);
    pdata_free(borrowed);
    pdata_free(again);
    buf_free(&out);
    buf_free(&b);
}

/* No samples, no mappings; one location without mapping (mapping_id 0). */
static void test_edge_profiles(void **state)
{
    struct buf b, enc;
    struct pdata *pd, *pd2;
    const struct profile *p;
    size_t m;

    (void)state;
    /* Empty profile: a sample type and the string table only. */
    buf_init(&b, 0);
    pbw_value_type(&b, 1, 1, 2);
    pbw_str(&b, 6, "");
    pbw_str(&b, 6, "samples");
    pbw_str(&b, 6, "count");
    pd = decode_ok(b.data, b.len);
    p = only_profile(pd);
    assert_int_equal(p->nsamples, 0);
    assert_int_equal(p->nsample_types, 1);
    pd2 = reencode(pd, &enc);
    same_pdata(pd, pd2);
    assert_int_equal(only_profile(pd2)->nsamples, 0);
    pdata_free(pd);
    pdata_free(pd2);
    buf_free(&enc);
    buf_reset(&b);
    /* Zero mappings, dense ids, empty-stack sample, mapping_id 0. */
    pbw_value_type(&b, 1, 1, 2);
    m = pbw_begin(&b, 2);
    pbw_uint(&b, 2, 5);
    pbw_end(&b, m);
    m = pbw_begin(&b, 2);
    pbw_uint(&b, 1, 1);
    pbw_uint(&b, 2, 6);
    pbw_end(&b, m);
    m = pbw_begin(&b, 4);
    pbw_uint(&b, 1, 1);
    pbw_uint(&b, 2, 0);
    pbw_line(&b, 1, 9, 0);
    pbw_end(&b, m);
    pbw_function(&b, 1, 3, 0, 0, 0);
    pbw_str(&b, 6, "");
    pbw_str(&b, 6, "samples");
    pbw_str(&b, 6, "count");
    pbw_str(&b, 6, "f");
    pd = decode_ok(b.data, b.len);
    p = only_profile(pd);
    assert_int_equal(pd->dict.nmappings, 1);
    assert_int_equal(p->samples[0].stack, 0);
    assert_int_equal(pd->dict.locations[1].mapping, 0);
    assert_int_equal(pd->dict.locations[1].lines[0].function, 1);
    pd2 = reencode(pd, &enc);
    same_pdata(pd, pd2);
    pdata_free(pd);
    pdata_free(pd2);
    buf_free(&enc);
    buf_free(&b);
}

/* ---- errors --------------------------------------------------------------- */

static void expect_error(const uint8_t *d, size_t n, size_t maxd, int code,
                         const char *needle)
{
    struct decode_limits lim = {maxd};
    struct errctx e = {{0}};
    struct pdata *pd = (struct pdata *)&e; /* must be reset to NULL */
    int rc = pprof_decode(d, n, &lim, &pd, &e);

    if (rc != code || strstr(e.msg, needle) == NULL) {
        fail_msg("got %d '%s', want %d with '%s'", rc, e.msg, code, needle);
    }
    assert_null(pd);
}

/* A small valid profile with one knob to break it. */
enum breakage {
    BRK_NONE,
    BRK_STRING,
    BRK_LOCID,
    BRK_DUP,
    BRK_NVALUES,
    BRK_ZEROID,
    BRK_STR0
};

static void build_small(struct buf *b, enum breakage k)
{
    size_t m;

    buf_init(b, 0);
    pbw_value_type(b, 1, 1, 2);
    pbw_value_type(b, 1, 1, 2);
    m = pbw_begin(b, 2);
    pbw_uint(b, 1, k == BRK_LOCID ? 555 : 1);
    pbw_uint(b, 2, 1);
    if (k != BRK_NVALUES) {
        pbw_uint(b, 2, 2);
    }
    pbw_label(b, k == BRK_STRING ? 99 : 1, 2, 0, 0);
    pbw_end(b, m);
    m = pbw_begin(b, 3);
    pbw_uint(b, 1, 5);
    pbw_end(b, m);
    m = pbw_begin(b, 3);
    pbw_uint(b, 1, k == BRK_DUP ? 5 : 6);
    pbw_end(b, m);
    m = pbw_begin(b, 4);
    pbw_uint(b, 1, k == BRK_ZEROID ? 0 : 1);
    pbw_uint(b, 2, 5);
    pbw_end(b, m);
    pbw_str(b, 6, k == BRK_STR0 ? "x" : "");
    pbw_str(b, 6, "samples");
    pbw_str(b, 6, "count");
}

static void test_errors(void **state)
{
    static const uint8_t junk[] = {0x07, 0x12, 0x99, 0xff, 0x00, 0x01};
    struct buf b;
    struct pdata *pd;

    (void)state;
    expect_error(junk, 0, 0, PC_EEMPTY, "empty");
    expect_error(junk, sizeof(junk), 0, PC_ECORRUPT, "not a pprof profile");
    build_small(&b, BRK_NONE);
    pd = decode_ok(b.data, b.len);
    pdata_free(pd);
    expect_error(b.data, b.len - 4, 0, PC_ETRUNC, "truncated");
    expect_error(b.data, 9, 0, PC_ETRUNC, "truncated");
    buf_free(&b);
    build_small(&b, BRK_STRING);
    expect_error(b.data, b.len, 0, PC_ECORRUPT, "string index 99");
    buf_free(&b);
    build_small(&b, BRK_LOCID);
    expect_error(b.data, b.len, 0, PC_ECORRUPT, "unknown location id 555");
    buf_free(&b);
    build_small(&b, BRK_DUP);
    expect_error(b.data, b.len, 0, PC_ECORRUPT, "duplicate mapping id 5");
    buf_free(&b);
    build_small(&b, BRK_NVALUES);
    expect_error(b.data, b.len, 0, PC_ECORRUPT,
                 "sample 0 has 1 values for 2 sample types");
    buf_free(&b);
    build_small(&b, BRK_ZEROID);
    expect_error(b.data, b.len, 0, PC_ECORRUPT, "location 0 has id 0");
    buf_free(&b);
    build_small(&b, BRK_STR0);
    expect_error(b.data, b.len, 0, PC_ECORRUPT, "string_table[0]");
    buf_free(&b);
}

static void test_random_bytes(void **state)
{
    uint8_t data[4096];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    struct errctx e;
    struct pdata *pd;
    int round, rc;
    size_t i;

    (void)state;
    for (round = 0; round < 200; round++) {
        for (i = 0; i < sizeof(data); i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data[i] = (uint8_t)x;
        }
        memset(&e, 0, sizeof(e));
        pd = NULL;
        rc = pprof_decode(data, sizeof(data), NULL, &pd, &e);
        assert_true(rc < 0);
        assert_null(pd);
        assert_non_null(strstr(e.msg, "pprof"));
    }
}

static void test_gzip_bomb(void **state)
{
    size_t n = 8u << 20;
    uint8_t *zeros = calloc(1, n);
    struct buf gz;

    (void)state;
    assert_non_null(zeros);
    buf_init(&gz, 0);
    assert_int_equal(gz_compress(zeros, n, &gz, 6), PC_OK);
    free(zeros);
    assert_true(gz.len < 64 * 1024);
    expect_error(gz.data, gz.len, 1u << 20, PC_ETOOBIG, "inflates past");
    expect_error(gz.data, gz.len / 2, 0, PC_ECORRUPT, "gzip");
    buf_free(&gz);
}

/* ---- encoder rules on hand-built (OTLP-like) model profiles -------------- */

struct hand {
    struct pdata *pd;
    struct profile *p1, *p2;
};

static int32_t S(struct pdata *pd, const char *s)
{
    int32_t i = dict_string(pd, s, strlen(s));

    assert_true(i >= 0);
    return i;
}

static int32_t add_attr(struct pdata *pd, const char *key,
                        const struct anyvalue *v, const char *unit)
{
    struct attr a;

    memset(&a, 0, sizeof(a));
    a.key = S(pd, key);
    a.unit = unit != NULL ? S(pd, unit) : 0;
    a.value = *v;
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

static void hand_dict(struct pdata *pd)
{
    struct mapping m;
    struct function f;
    struct location l;
    struct line ln[3];
    struct link k;
    int32_t locs[2];
    int i;

    assert_int_equal(dict_init(pd), PC_OK);
    S(pd, "unused_string");
    memset(&m, 0, sizeof(m));
    m.filename = S(pd, "/bin/one");
    assert_int_equal(dict_add_mapping(pd, &m), 1);
    m.filename = S(pd, "/bin/two_only_p2");
    assert_int_equal(dict_add_mapping(pd, &m), 2);
    memset(&f, 0, sizeof(f));
    for (i = 0; i < 3; i++) {
        f.name = S(pd, i == 0 ? "fa" : i == 1 ? "fb" : "fc_only_p2");
        assert_int_equal(dict_add_function(pd, &f), i + 1);
        memset(&l, 0, sizeof(l));
        ln[i].function = i + 1;
        ln[i].line = 10 + i;
        ln[i].column = 0;
        l.mapping = i == 2 ? 2 : 1;
        l.address = 0x1000u * (unsigned)(i + 1);
        l.nlines = 1;
        l.lines = &ln[i];
        assert_int_equal(dict_add_location(pd, &l), i + 1);
    }
    /* lines live in the arena like a decoder's would */
    for (i = 1; i <= 3; i++) {
        pd->dict.locations[i].lines = arena_memdup(&pd->arena, &ln[i - 1],
                                                   sizeof(ln[0]));
    }
    locs[0] = 1;
    locs[1] = 2;
    assert_int_equal(dict_add_stack(pd, locs, 2), 1);
    assert_int_equal(dict_add_stack(pd, locs + 1, 1), 2);
    locs[0] = 3;
    assert_int_equal(dict_add_stack(pd, locs, 1), 3);
    memset(&k, 0, sizeof(k));
    for (i = 0; i < 16; i++) {
        k.trace_id[i] = (uint8_t)(i + 1);
    }
    for (i = 0; i < 8; i++) {
        k.span_id[i] = (uint8_t)(0xa0 + i);
    }
    assert_int_equal(dict_add_link(pd, &k), 1);
    memset(k.trace_id, 0, sizeof(k.trace_id));
    assert_int_equal(dict_add_link(pd, &k), 2);
}

static int64_t vals3[] = {1, 2, 3}, vals1[] = {5};
static int64_t ts3[] = {100, 200, 300}; /* s1 has no values: its timestamps */

static void hand_samples(struct pdata *pd, struct profile *p)
{
    static struct anyvalue items[3], v;
    static struct keyvalue kvs[2];
    int32_t *a = arena_calloc(&pd->arena, 16, sizeof(int32_t));
    struct sample *s = arena_calloc(&pd->arena, 4, sizeof(*s));

    assert_non_null(a);
    assert_non_null(s);
    memset(&v, 0, sizeof(v));
    v.type = AV_BOOL;
    v.u.b = 1;
    a[0] = add_attr(pd, "flag", &v, NULL);
    v.type = AV_DOUBLE;
    v.u.d = 1.5;
    a[1] = add_attr(pd, "ratio", &v, NULL);
    v.type = AV_BYTES;
    v.u.s.ptr = "\xde\xad\x01";
    v.u.s.len = 3;
    a[2] = add_attr(pd, "blob", &v, NULL);
    items[0] = av_str("x");
    memset(&items[1], 0, sizeof(items[1]));
    items[1].type = AV_INT;
    items[1].u.i = 7;
    memset(&items[2], 0, sizeof(items[2]));
    items[2].type = AV_BOOL;
    v.type = AV_ARRAY;
    v.u.arr.items = items;
    v.u.arr.n = 3;
    a[3] = add_attr(pd, "arr", &v, "count");
    kvs[0].key.ptr = "a";
    kvs[0].key.len = 1;
    kvs[0].value = av_str("1");
    kvs[1].key.ptr = "b";
    kvs[1].key.len = 1;
    memset(&kvs[1].value, 0, sizeof(kvs[1].value));
    kvs[1].value.type = AV_INT;
    kvs[1].value.u.i = 2;
    memset(&v, 0, sizeof(v));
    v.type = AV_KVLIST;
    v.u.kv.items = kvs;
    v.u.kv.n = 2;
    a[4] = add_attr(pd, "kv", &v, NULL);
    memset(&v, 0, sizeof(v));
    a[5] = add_attr(pd, "nothing", &v, NULL);
    v = av_str("custom");
    a[6] = add_attr(pd, "trace_id", &v, NULL);
    p->samples = s;
    p->nsamples = 4;
    /* s0: per-event values, summed. */
    s[0].stack = 1;
    s[0].values = vals3;
    s[0].nvalues = 3;
    s[0].attrs = a;
    s[0].nattrs = 3;
    /* s1: timestamps only, counted; link 1. */
    s[1].stack = 2;
    s[1].values = ts3;
    s[1].nts = 3;
    s[1].link = 1;
    /* s2: arrays, kvlists, empty; link 2 has no trace id. */
    s[2].stack = 1;
    s[2].values = vals1;
    s[2].nvalues = 1;
    s[2].attrs = a + 3;
    s[2].nattrs = 3;
    s[2].link = 2;
    /* s3: its own trace_id label wins over link 1's. */
    s[3].stack = 0;
    s[3].values = vals1;
    s[3].nvalues = 1;
    s[3].attrs = a + 6;
    s[3].nattrs = 1;
    s[3].link = 1;
}

static void hand_build(struct hand *h, int two_profiles)
{
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct sample *s;

    h->pd = pdata_new(0);
    assert_non_null(h->pd);
    hand_dict(h->pd);
    rp = pdata_add_resource(h->pd);
    sp = pdata_add_scope(h->pd, rp);
    h->p1 = pdata_add_profile(h->pd, sp);
    h->p1->nsample_types = 1;
    h->p1->sample_types = arena_calloc(&h->pd->arena, 1,
                                       sizeof(struct value_type));
    h->p1->sample_types[0].type = S(h->pd, "samples");
    h->p1->sample_types[0].unit = S(h->pd, "count");
    h->p1->period = 100;
    hand_samples(h->pd, h->p1);
    h->p2 = NULL;
    if (two_profiles) {
        sp = pdata_add_scope(h->pd, rp);
        h->p2 = pdata_add_profile(h->pd, sp);
        h->p2->nsample_types = 1;
        h->p2->sample_types = h->p1->sample_types;
        s = arena_calloc(&h->pd->arena, 1, sizeof(*s));
        s->stack = 3;
        s->values = vals1;
        s->nvalues = 1;
        h->p2->samples = s;
        h->p2->nsamples = 1;
    }
}

/* The labels of sample s rendered as "key=value" / "key=#num unit". */
static void labels_text(const struct pdata *pd, const struct sample *s,
                        char *out, size_t cap)
{
    uint32_t i;
    size_t n = 0;

    out[0] = '\0';
    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[s->attrs[i]];
        struct pstr k = dict_str(&pd->dict, a->key);
        struct pstr u = dict_str(&pd->dict, a->unit);
        if (a->value.type == AV_STRING) {
            n += (size_t)snprintf(out + n, cap - n, "%.*s=%.*s;", (int)k.len,
                                  k.ptr, (int)a->value.u.s.len,
                                  a->value.u.s.ptr);
        } else {
            n += (size_t)snprintf(out + n, cap - n, "%.*s=#%lld %.*s;",
                                  (int)k.len, k.ptr, (long long)a->value.u.i,
                                  (int)u.len, u.ptr);
        }
        assert_true(n < cap);
    }
}

/* Location indices are kept in two bytes when every one fits (fewer than
 * 65536 locations), in four otherwise; either way a stack resolves to the
 * same locations. A profile of n locations whose stack names the last,
 * the 65536th and the third, is encoded and decoded again. */
static void wide_or_narrow(uint32_t n, uint32_t want_narrow)
{
    struct pdata *pd = pdata_new(0), *back;
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    struct profile *p;
    struct location l;
    const struct stack *st;
    int32_t far = n >= 65536 ? 65536 : 2;
    int64_t v = 7;
    struct errctx e = {{0}};
    struct buf out;
    uint32_t i;

    assert_int_equal(dict_init(pd), 0);
    memset(&l, 0, sizeof(l));
    for (i = 1; i <= n; i++) {
        l.address = 0x1000 + i;
        assert_int_equal(dict_add_location(pd, &l), (int32_t)i);
    }
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    p = pdata_add_profile(pd, sp);
    p->nsample_types = 1;
    p->sample_types = arena_calloc(&pd->arena, 1, sizeof(struct value_type));
    p->nsamples = 1;
    p->samples = arena_calloc(&pd->arena, 1, sizeof(struct sample));
    p->samples[0].stack = dict_add_stack(pd, (int32_t[]){(int32_t)n, far, 3},
                                         3);
    p->samples[0].values = &v;
    p->samples[0].nvalues = 1;
    buf_init(&out, 0);
    assert_int_equal(pprof_encode(pd, p, &out, &e), PC_OK);
    back = decode_ok(out.data, out.len);
    assert_int_equal(back->dict.nlocations, n + 1);
    st = &back->dict.stacks[only_profile(back)->samples[0].stack];
    assert_int_equal(st->narrow, want_narrow);
    assert_int_equal(st->n, 3);
    assert_true(back->dict.locations[stack_loc(st, 0)].address == 0x1000 + n);
    assert_true(back->dict.locations[stack_loc(st, 1)].address ==
                0x1000 + (uint64_t)far);
    assert_true(back->dict.locations[stack_loc(st, 2)].address == 0x1003);
    buf_free(&out);
    pdata_free(back);
    pdata_free(pd);
}

static void test_location_index_width(void **state)
{
    (void)state;
    wide_or_narrow(5, 1);
    wide_or_narrow(65535, 1);
    wide_or_narrow(65536, 0);
    wide_or_narrow(70000, 0);
}

static void test_encode_hand_rules(void **state)
{
    struct hand h;
    struct buf out;
    struct errctx e = {{0}};
    struct pdata *pd;
    const struct profile *p;
    char txt[512];
    uint32_t nstr;

    (void)state;
    hand_build(&h, 1);
    buf_init(&out, 0);
    assert_int_equal(pprof_encode(h.pd, h.p1, &out, &e), PC_OK);
    check_raw_ids(&out, &nstr);
    pd = decode_ok(out.data, out.len);
    p = only_profile(pd);
    assert_int_equal(p->nsample_types, 1);
    ASSERT_STR(pd, p->sample_types[0].type, "samples");
    assert_int_equal(p->period, 100);
    assert_int_equal(p->nsamples, 4);
    assert_int_equal(p->samples[0].values[0], 6);
    assert_int_equal(p->samples[1].values[0], 3);
    assert_int_equal(p->samples[2].values[0], 5);
    labels_text(pd, &p->samples[0], txt, sizeof(txt));
    assert_string_equal(txt, "flag=true;ratio=1.5;blob=dead01;");
    labels_text(pd, &p->samples[1], txt, sizeof(txt));
    assert_string_equal(txt, "trace_id=0102030405060708090a0b0c0d0e0f10;"
                             "span_id=a0a1a2a3a4a5a6a7;");
    labels_text(pd, &p->samples[2], txt, sizeof(txt));
    assert_string_equal(txt, "arr=x;arr=#7 count;arr=false;kv.a=1;"
                             "kv.b=#2 ;span_id=a0a1a2a3a4a5a6a7;");
    labels_text(pd, &p->samples[3], txt, sizeof(txt));
    assert_string_equal(txt, "trace_id=custom;span_id=a0a1a2a3a4a5a6a7;");
    /* Stacks and their locations survive; two profiles share the dict, so
     * only what profile 1 references is written. */
    assert_int_equal(pd->dict.nlocations, 3);
    assert_int_equal(pd->dict.nmappings, 2);
    assert_int_equal(pd->dict.nfunctions, 3);
    assert_int_equal(pd->dict.stacks[p->samples[0].stack].n, 2);
    assert_int_equal(pd->dict.locations[2].address, 0x2000);
    ASSERT_STR(pd, pd->dict.functions[2].name, "fb");
    assert_int_equal(dict_find_string(pd, "unused_string", 13), -1);
    assert_int_equal(dict_find_string(pd, "fc_only_p2", 10), -1);
    assert_int_equal(dict_find_string(pd, "/bin/two_only_p2", 16), -1);
    assert_int_equal(nstr, pd->dict.nstrings);
    pdata_free(pd);
    /* The second profile alone references only its own entries. */
    buf_reset(&out);
    assert_int_equal(pprof_encode(h.pd, h.p2, &out, &e), PC_OK);
    pd = decode_ok(out.data, out.len);
    assert_int_equal(pd->dict.nlocations, 2);
    assert_int_equal(pd->dict.locations[1].address, 0x3000);
    ASSERT_STR(pd, pd->dict.mappings[1].filename, "/bin/two_only_p2");
    assert_int_equal(dict_find_string(pd, "fa", 2), -1);
    pdata_free(pd);
    pdata_free(h.pd);
    /* One profile in the pdata: every table entry is kept. */
    hand_build(&h, 0);
    buf_reset(&out);
    assert_int_equal(pprof_encode(h.pd, h.p1, &out, &e), PC_OK);
    pd = decode_ok(out.data, out.len);
    assert_int_equal(pd->dict.nlocations, 4);
    assert_int_equal(pd->dict.nmappings, 3);
    assert_true(dict_find_string(pd, "fc_only_p2", 10) > 0);
    assert_int_equal(dict_find_string(pd, "unused_string", 13), -1);
    pdata_free(pd);
    pdata_free(h.pd);
    buf_free(&out);
}

static void test_encode_bad_model(void **state)
{
    struct hand h;
    struct buf out;
    struct errctx e = {{0}};
    struct stack *st;
    int two;

    (void)state;
    hand_build(&h, 0);
    buf_init(&out, 0);
    h.p1->samples[0].stack = 999;
    assert_int_equal(pprof_encode(h.pd, h.p1, &out, &e), PC_EINVAL);
    assert_non_null(strstr(e.msg, "stack index 999"));
    assert_int_equal(out.len, 0);
    pdata_free(h.pd);
    /* A frame naming no location is refused whether the profile is alone
     * in its pdata (its frames are checked as they are written) or shares
     * it (checked as they are marked), and nothing is left in out. */
    for (two = 0; two <= 1; two++) {
        hand_build(&h, two);
        st = &h.pd->dict.stacks[h.p1->samples[0].stack];
        assert_true(st->n > 0);
        st->locs[st->n - 1] = 999;
        memset(&e, 0, sizeof(e));
        buf_reset(&out);
        assert_int_equal(pprof_encode(h.pd, h.p1, &out, &e), PC_EINVAL);
        if (strstr(e.msg, "location index 999") == NULL) {
            fail_msg("two=%d: %s", two, e.msg);
        }
        assert_int_equal(out.len, 0);
        pdata_free(h.pd);
    }
    buf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_rich),
        cmocka_unit_test(test_roundtrip_rich),
        cmocka_unit_test(test_decode_gzip_and_borrow),
        cmocka_unit_test(test_edge_profiles),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_gzip_bomb),
        cmocka_unit_test(test_encode_hand_rules),
        cmocka_unit_test(test_location_index_width),
        cmocka_unit_test(test_encode_bad_model),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
