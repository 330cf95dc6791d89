/* test_jfr.c: the JFR reader and its conversion. Chunks are built byte by
 * byte (header, metadata event, one checkpoint, events) and every
 * malformation the reader must refuse is made on purpose; the message has
 * to name the problem. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/jfr/jfr.h"
#include "codec/jfr/jfr_conv.h"
#include "codec/pb.h"
#include "codec/sniff.h"
#include "model/profile.h"

/* ---- a tiny JFR writer ------------------------------------------------- */

static void w_u8(struct buf *b, uint8_t v)
{
    assert_int_equal(buf_putc(b, v), PC_OK);
}

static void w_var(struct buf *b, uint64_t v)
{
    while (v >= 0x80) {
        w_u8(b, (uint8_t)(v | 0x80));
        v >>= 7;
    }
    w_u8(b, (uint8_t)v);
}

/* A varint padded to 4 bytes, as writers patch sizes. */
static void w_var4(struct buf *b, uint32_t v)
{
    w_u8(b, (uint8_t)((v & 0x7f) | 0x80));
    w_u8(b, (uint8_t)(((v >> 7) & 0x7f) | 0x80));
    w_u8(b, (uint8_t)(((v >> 14) & 0x7f) | 0x80));
    w_u8(b, (uint8_t)((v >> 21) & 0x7f));
}

static void w_str(struct buf *b, const char *s)
{
    w_u8(b, 3);
    w_var(b, strlen(s));
    assert_int_equal(buf_append(b, s, strlen(s)), PC_OK);
}

static void w_be64(uint8_t *p, uint64_t v)
{
    int i;

    for (i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* An event: padded size, type, body. */
static void w_event(struct buf *out, uint64_t type, const struct buf *body)
{
    struct buf t;

    buf_init(&t, 0);
    w_var(&t, type);
    assert_int_equal(buf_append(&t, body->data, body->len), PC_OK);
    w_var4(out, (uint32_t)(t.len + 4));
    assert_int_equal(buf_append(out, t.data, t.len), PC_OK);
    buf_free(&t);
}

/* What to break in the chunk. */
struct mk {
    uint16_t major;
    int bad_magic;
    uint64_t frame2_method; /* method key of the second frame (1) */
    int64_t delta;          /* of the checkpoint (0) */
    int zero_size_event;
    uint64_t pool_count; /* entries the Symbol pool claims (3) */
    uint64_t context;    /* contextId of the samples */
    uint32_t string_enc; /* encoding of "work" (3) */
    uint64_t string_len; /* claimed length of "work" (4) */
    uint64_t state_key;  /* key of the samples' ThreadState entry (1) */
    uint64_t stack_key;  /* key of the StackTrace entry in the pool (1) */
    uint64_t exec_stack; /* stackTrace the execution samples refer to (1) */
};

static void mk_default(struct mk *m)
{
    memset(m, 0, sizeof(*m));
    m->major = 2;
    m->frame2_method = 1;
    m->pool_count = 3;
    m->string_enc = 3;
    m->string_len = 4;
    m->state_key = 1;
    m->stack_key = 1;
    m->exec_stack = 1;
}

/* Metadata string table. */
struct strtab {
    const char *s[80];
    uint32_t n;
};

static uint32_t sx(struct strtab *t, const char *s)
{
    uint32_t i;

    for (i = 0; i < t->n; i++) {
        if (strcmp(t->s[i], s) == 0) {
            return i;
        }
    }
    assert_true(t->n < 80);
    t->s[t->n] = s;
    return t->n++;
}

struct fdef {
    const char *name;
    const char *cls; /* class id as text */
    int pool, array;
};

static void w_class(struct buf *b, struct strtab *t, const char *name,
                    const char *id, const char *super, const struct fdef *f,
                    uint32_t nf)
{
    uint32_t i;

    w_var(b, sx(t, "class"));
    w_var(b, super ? 3 : 2);
    w_var(b, sx(t, "name"));
    w_var(b, sx(t, name));
    w_var(b, sx(t, "id"));
    w_var(b, sx(t, id));
    if (super) {
        w_var(b, sx(t, "superType"));
        w_var(b, sx(t, super));
    }
    w_var(b, nf);
    for (i = 0; i < nf; i++) {
        w_var(b, sx(t, "field"));
        w_var(b, 2 + (f[i].pool != 0) + (f[i].array != 0));
        w_var(b, sx(t, "name"));
        w_var(b, sx(t, f[i].name));
        w_var(b, sx(t, "class"));
        w_var(b, sx(t, f[i].cls));
        if (f[i].pool) {
            w_var(b, sx(t, "constantPool"));
            w_var(b, sx(t, "true"));
        }
        if (f[i].array) {
            w_var(b, sx(t, "dimension"));
            w_var(b, sx(t, "1"));
        }
        w_var(b, 0);
    }
}

static void w_metadata(struct buf *out)
{
    static const struct fdef sym[] = {{"string", "12", 0, 0}};
    static const struct fdef cls[] = {{"name", "20", 1, 0}};
    static const struct fdef meth[] = {{"type", "21", 1, 0},
                                       {"name", "20", 1, 0}};
    static const struct fdef frame[] = {{"method", "22", 1, 0},
                                        {"lineNumber", "11", 0, 0}};
    static const struct fdef st[] = {{"truncated", "13", 0, 0},
                                     {"frames", "23", 0, 1}};
    static const struct fdef ts[] = {{"name", "12", 0, 0}};
    static const struct fdef exec[] = {{"startTime", "10", 0, 0},
                                       {"stackTrace", "24", 1, 0},
                                       {"state", "25", 1, 0},
                                       {"contextId", "10", 0, 0}};
    static const struct fdef park[] = {{"startTime", "10", 0, 0},
                                       {"duration", "10", 0, 0},
                                       {"stackTrace", "24", 1, 0}};
    struct strtab t = {{0}, 0};
    struct buf el, body;
    uint32_t i;

    buf_init(&el, 0);
    buf_init(&body, 0);
    w_var(&el, sx(&t, "root"));
    w_var(&el, 0);
    w_var(&el, 1);
    w_var(&el, sx(&t, "metadata"));
    w_var(&el, 0);
    w_var(&el, 12);
    w_class(&el, &t, "long", "10", NULL, NULL, 0);
    w_class(&el, &t, "int", "11", NULL, NULL, 0);
    w_class(&el, &t, "java.lang.String", "12", NULL, NULL, 0);
    w_class(&el, &t, "boolean", "13", NULL, NULL, 0);
    w_class(&el, &t, "jdk.types.Symbol", "20", NULL, sym, 1);
    w_class(&el, &t, "java.lang.Class", "21", NULL, cls, 1);
    w_class(&el, &t, "jdk.types.Method", "22", NULL, meth, 2);
    w_class(&el, &t, "jdk.types.StackFrame", "23", NULL, frame, 2);
    w_class(&el, &t, "jdk.types.StackTrace", "24", NULL, st, 2);
    w_class(&el, &t, "jdk.types.ThreadState", "25", NULL, ts, 1);
    w_class(&el, &t, "jdk.ExecutionSample", "30", "jdk.jfr.Event", exec, 4);
    w_class(&el, &t, "jdk.ThreadPark", "31", "jdk.jfr.Event", park, 3);
    w_var(&body, 0); /* start */
    w_var(&body, 0); /* duration */
    w_var(&body, 1); /* metadata id */
    w_var(&body, t.n);
    for (i = 0; i < t.n; i++) {
        w_str(&body, t.s[i]);
    }
    assert_int_equal(buf_append(&body, el.data, el.len), PC_OK);
    w_event(out, 0, &body);
    buf_free(&el);
    buf_free(&body);
}

static void w_checkpoint(struct buf *out, const struct mk *m)
{
    struct buf b;

    buf_init(&b, 0);
    w_var(&b, 0);
    w_var(&b, 0);
    w_var(&b, (uint64_t)m->delta);
    w_u8(&b, 0);   /* flags */
    w_var(&b, 6);  /* pools */
    w_var(&b, 20); /* Symbol */
    w_var(&b, m->pool_count);
    w_var(&b, 1);
    w_str(&b, "Main");
    w_var(&b, 2);
    w_str(&b, "run");
    w_var(&b, 3);
    w_u8(&b, (uint8_t)m->string_enc);
    w_var(&b, m->string_len);
    assert_int_equal(buf_append(&b, "work", 4), PC_OK);
    w_var(&b, 21); /* Class */
    w_var(&b, 1);
    w_var(&b, 1);
    w_var(&b, 1);
    w_var(&b, 22); /* Method: 1 = Main.run, 2 = Main.work */
    w_var(&b, 2);
    w_var(&b, 1);
    w_var(&b, 1);
    w_var(&b, 2);
    w_var(&b, 2);
    w_var(&b, 1);
    w_var(&b, 3);
    w_var(&b, 24); /* StackTrace: work (line 10) <- run (5) */
    w_var(&b, 1);
    w_var(&b, m->stack_key);
    w_u8(&b, 0);
    w_var(&b, 2);
    w_var(&b, 2);
    w_var(&b, 10);
    w_var(&b, m->frame2_method);
    w_var(&b, 5);
    w_var(&b, 25); /* ThreadState */
    w_var(&b, 1);
    w_var(&b, m->state_key);
    w_str(&b, "STATE_RUNNABLE");
    w_var(&b, 12); /* String pool, unused */
    w_var(&b, 0);
    w_event(out, 1, &b);
    buf_free(&b);
}

static void w_samples(struct buf *out, const struct mk *m)
{
    struct buf b;
    int i;

    for (i = 0; i < 3; i++) {
        buf_init(&b, 0);
        w_var(&b, 100 + i);       /* startTime */
        w_var(&b, m->exec_stack); /* stackTrace */
        w_var(&b, m->state_key);  /* state */
        w_var(&b, m->context);
        w_event(out, 30, &b);
        buf_free(&b);
    }
    buf_init(&b, 0);
    w_var(&b, 200);
    w_var(&b, 5000); /* duration, ticks = ns */
    w_var(&b, m->stack_key);
    w_event(out, 31, &b);
    buf_free(&b);
    buf_init(&b, 0);
    w_var(&b, 1);
    w_event(out, 99, &b); /* unknown type: skipped by size */
    buf_free(&b);
    if (m->zero_size_event) {
        w_u8(out, 0);
    }
}

/* One chunk appended to out. */
static void mk_chunk(struct buf *out, const struct mk *m)
{
    struct buf c;
    size_t meta, cp;

    buf_init(&c, 0);
    assert_int_equal(buf_grow(&c, 68), PC_OK);
    memset(c.data, 0, 68);
    c.len = 68;
    w_samples(&c, m);
    meta = c.len;
    w_metadata(&c);
    cp = c.len;
    w_checkpoint(&c, m);
    memcpy(c.data, m->bad_magic ? "FLX\0" : "FLR\0", 4);
    c.data[4] = (uint8_t)(m->major >> 8);
    c.data[5] = (uint8_t)m->major;
    c.data[7] = 1;
    w_be64(c.data + 8, c.len);
    w_be64(c.data + 16, cp);
    w_be64(c.data + 24, meta);
    w_be64(c.data + 32, 1700000000000000000ULL);
    w_be64(c.data + 40, 1000000000ULL);
    w_be64(c.data + 48, 0);
    w_be64(c.data + 56, 1000000000ULL);
    c.data[67] = 1;
    assert_int_equal(buf_append(out, c.data, c.len), PC_OK);
    buf_free(&c);
}

static int convert(const struct buf *b, const struct jfr_options *o,
                   struct jfr_result *res, struct errctx *e)
{
    memset(e, 0, sizeof(*e));
    return jfr_convert(b->data, b->len, o, res, e);
}

/* Refused with code rc and a message containing want. */
static void refused(const struct mk *m, const struct jfr_limits *lim, int rc,
                    const char *want)
{
    struct jfr_options o = {0};
    struct jfr_result res;
    struct errctx e;
    struct buf b;

    buf_init(&b, 0);
    mk_chunk(&b, m);
    o.limits = lim;
    assert_int_equal(convert(&b, &o, &res, &e), rc);
    if (strstr(e.msg, want) == NULL) {
        fail_msg("message \"%s\" does not say \"%s\"", e.msg, want);
    }
    assert_non_null(strstr(e.msg, "jfr: "));
    assert_null(res.pd);
    buf_free(&b);
}

static const char *fname(const struct pdata *pd, int32_t loc)
{
    static char s[64];
    const struct location *l = &pd->dict.locations[loc];
    struct pstr n = dict_str(&pd->dict,
                             pd->dict.functions[l->lines[0].function].name);

    snprintf(s, sizeof(s), "%.*s:%lld", (int)n.len, n.ptr,
             (long long)l->lines[0].line);
    return s;
}

/* ---- tests ------------------------------------------------------------- */

static void test_convert(void **state)
{
    struct mk m;
    struct jfr_result res;
    struct errctx e;
    struct buf b;
    const struct profile *p;
    const struct stack *st;

    (void)state;
    mk_default(&m);
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    assert_true(jfr_is_jfr(b.data, b.len));
    assert_int_equal(sniff_format(b.data, b.len), SNIFF_JFR);
    assert_int_equal(convert(&b, NULL, &res, &e), PC_OK);
    assert_int_equal(res.nchunks, 1);
    assert_int_equal(res.nevents, 7);
    assert_int_equal(res.nprofiles, 2);
    assert_int_equal(res.kind[0], JFR_CPU);
    assert_int_equal(res.kind[1], JFR_PARK);
    assert_string_equal(jfr_kind_metric(res.kind[1]), "block");
    p = &res.pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(p->nsamples, 1);
    assert_int_equal(p->samples[0].values[0], 30000000); /* 3 x 10 ms */
    assert_int_equal(p->time_nanos, 1700000000000000000LL);
    st = &res.pd->dict.stacks[p->samples[0].stack];
    assert_int_equal(st->n, 2);
    assert_string_equal(fname(res.pd, stack_loc(st, 0)), "Main.work:10");
    assert_string_equal(fname(res.pd, stack_loc(st, 1)), "Main.run:5");
    p = &res.pd->resources[0].scopes[0].profiles[1];
    assert_int_equal(p->nsample_types, 2);
    assert_int_equal(p->samples[0].values[0], 1);
    assert_int_equal(p->samples[0].values[1], 5000);
    pdata_free(res.pd);
    buf_free(&b);
}

/* Converts b: nchunks chunks, unresolved samples dropped, and a first
 * profile of kind cpu with one sample of value cpu_ns. Frees b. */
static void cpu_is(struct buf *b, uint32_t nchunks, uint64_t unresolved,
                   int64_t cpu_ns)
{
    struct jfr_result res;
    struct errctx e;
    const struct profile *p;

    assert_int_equal(convert(b, NULL, &res, &e), PC_OK);
    assert_int_equal(res.nchunks, nchunks);
    assert_int_equal(res.unresolved, unresolved);
    assert_int_equal(res.kind[0], JFR_CPU);
    p = &res.pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(p->nsamples, 1);
    assert_int_equal(p->samples[0].values[0], cpu_ns);
    pdata_free(res.pd);
    buf_free(b);
}

/* async-profiler numbers its thread states from 0 (STATE_DEFAULT is key 0
 * in its recordings): key 0 is an entry like any other, not a null
 * reference, and its samples count. */
static void test_state_key_zero(void **state)
{
    struct mk m;
    struct buf b;

    (void)state;
    mk_default(&m);
    m.state_key = 0;
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    cpu_is(&b, 1, 0, 30000000);
}

/* Constant pools belong to their chunk: a stack trace key missing from
 * the chunk is not looked up in the chunk before, where the same key may
 * name another stack (the JDK numbers stack traces anew in some chunks).
 * Its samples are dropped and counted. */
static void test_key_of_previous_chunk(void **state)
{
    struct mk m;
    struct buf b;

    (void)state;
    mk_default(&m);
    m.stack_key = 7;
    m.exec_stack = 7;
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    mk_default(&m);
    m.exec_stack = 7; /* only the chunk before has key 7 */
    mk_chunk(&b, &m);
    cpu_is(&b, 2, 3, 30000000); /* the first chunk's samples only */
}

/* Chunks back to back; equal stacks from both merge. */
static void test_two_chunks(void **state)
{
    struct mk m;
    struct buf b;

    (void)state;
    mk_default(&m);
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    mk_chunk(&b, &m);
    cpu_is(&b, 2, 0, 60000000);
}

struct consumed_log {
    uint8_t *data;
    size_t at[4];
    int n;
};

/* Records upto and overwrites what the reader says it is done with. */
static void log_consumed(void *arg, size_t upto)
{
    struct consumed_log *l = arg;
    size_t from = l->n > 0 ? l->at[l->n - 1] : 0;

    if (l->n < 4) {
        l->at[l->n] = upto;
        memset(l->data + from, 0xaa, upto - from);
    }
    l->n++;
}

/* Each finished chunk is reported with the offset of the next one, and is
 * not read again: with its bytes overwritten once reported, the second
 * chunk (sharing the first's class tree: same metadata bytes) still gives
 * the same samples as two intact chunks (test_two_chunks). */
static void test_consumed(void **state)
{
    struct consumed_log l = {NULL, {0}, 0};
    struct jfr_options o = {0};
    struct jfr_result res;
    const struct profile *p;
    struct errctx e;
    struct mk m;
    struct buf b;
    size_t first;

    (void)state;
    mk_default(&m);
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    first = b.len;
    mk_chunk(&b, &m);
    l.data = b.data;
    o.consumed = log_consumed;
    o.consumed_arg = &l;
    assert_int_equal(convert(&b, &o, &res, &e), PC_OK);
    assert_int_equal(l.n, 2);
    assert_int_equal(l.at[0], first);
    assert_int_equal(l.at[1], b.len);
    assert_int_equal(res.nchunks, 2);
    p = &res.pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(p->nsamples, 1);
    assert_int_equal(p->samples[0].values[0], 60000000);
    pdata_free(res.pd);
    buf_free(&b);
}

static void test_sample_rate_and_labels(void **state)
{
    struct mk m;
    struct jfr_options o = {0};
    struct jfr_result res;
    struct errctx e;
    struct buf b, lb;
    const struct profile *p;
    const struct attr *a;
    size_t outer, ctx, lab, ent;

    (void)state;
    mk_default(&m);
    m.context = 7;
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    /* LabelsSnapshot: contexts {7: {1: 2}}, strings {1: k, 2: v} */
    buf_init(&lb, 0);
    assert_int_equal(pb_msg_begin(&lb, 1, &outer), PC_OK);
    assert_int_equal(pb_put_uint(&lb, 1, 7), PC_OK);
    assert_int_equal(pb_msg_begin(&lb, 2, &ctx), PC_OK);
    assert_int_equal(pb_msg_begin(&lb, 1, &lab), PC_OK);
    assert_int_equal(pb_put_uint(&lb, 1, 1), PC_OK);
    assert_int_equal(pb_put_uint(&lb, 2, 2), PC_OK);
    assert_int_equal(pb_msg_end(&lb, lab), PC_OK);
    assert_int_equal(pb_msg_end(&lb, ctx), PC_OK);
    assert_int_equal(pb_msg_end(&lb, outer), PC_OK);
    assert_int_equal(pb_msg_begin(&lb, 2, &ent), PC_OK);
    assert_int_equal(pb_put_uint(&lb, 1, 1), PC_OK);
    assert_int_equal(pb_put_bytes(&lb, 2, "thread_name", 11), PC_OK);
    assert_int_equal(pb_msg_end(&lb, ent), PC_OK);
    assert_int_equal(pb_msg_begin(&lb, 2, &ent), PC_OK);
    assert_int_equal(pb_put_uint(&lb, 1, 2), PC_OK);
    assert_int_equal(pb_put_bytes(&lb, 2, "worker-1", 8), PC_OK);
    assert_int_equal(pb_msg_end(&lb, ent), PC_OK);
    o.sample_rate = 1000;
    o.labels = lb.data;
    o.labels_len = lb.len;
    assert_int_equal(convert(&b, &o, &res, &e), PC_OK);
    p = &res.pd->resources[0].scopes[0].profiles[0];
    assert_int_equal(p->samples[0].values[0], 3000000); /* 3 x 1 ms */
    assert_int_equal(p->samples[0].nattrs, 1);
    a = &res.pd->dict.attrs[p->samples[0].attrs[0]];
    assert_true(pstr_eq(dict_str(&res.pd->dict, a->key), "thread_name"));
    assert_true(pstr_eq(a->value.u.s, "worker-1"));
    pdata_free(res.pd);
    buf_free(&b);
    buf_free(&lb);
}

static void test_truncated(void **state)
{
    struct mk m;
    struct jfr_result res;
    struct errctx e;
    struct buf b;
    size_t cut;

    (void)state;
    mk_default(&m);
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    for (cut = 1; cut < b.len; cut += 7) {
        int rc = jfr_convert(b.data, cut, NULL, &res, &e);
        assert_true(rc == PC_ETRUNC || rc == PC_ECORRUPT);
        assert_non_null(strstr(e.msg, "jfr: chunk 0"));
    }
    assert_int_equal(jfr_convert(b.data, b.len - 1, NULL, &res, &e),
                     PC_ETRUNC);
    assert_non_null(strstr(e.msg, "truncated chunk"));
    assert_int_equal(jfr_convert(b.data, 0, NULL, &res, &e), PC_EEMPTY);
    buf_free(&b);
}

static void test_bad_magic(void **state)
{
    struct mk m;

    (void)state;
    mk_default(&m);
    m.bad_magic = 1;
    refused(&m, NULL, PC_ECORRUPT, "bad magic");
}

static void test_major_version(void **state)
{
    struct mk m;

    (void)state;
    mk_default(&m);
    m.major = 3;
    refused(&m, NULL, PC_EUNSUPPORTED, "unknown major version 3");
}

static void test_missing_reference(void **state)
{
    struct mk m;

    (void)state;
    mk_default(&m);
    m.frame2_method = 9;
    refused(&m, NULL, PC_ECORRUPT, "method 9 is in no constant pool");
}

static void test_checkpoint_loop(void **state)
{
    struct mk m;

    (void)state;
    mk_default(&m);
    m.delta = 5;
    refused(&m, NULL, PC_ECORRUPT, "checkpoint loop");
    m.delta = -100000;
    refused(&m, NULL, PC_ECORRUPT, "checkpoint loop");
}

static void test_zero_size_event(void **state)
{
    struct mk m;

    (void)state;
    mk_default(&m);
    m.zero_size_event = 1;
    refused(&m, NULL, PC_ECORRUPT, "event of size 0");
}

static void test_huge_counts(void **state)
{
    struct mk m;
    struct jfr_limits lim;

    (void)state;
    mk_default(&m);
    m.pool_count = 1ULL << 40;
    refused(&m, NULL, PC_ECORRUPT, "claims 1099511627776 entries");
    mk_default(&m);
    m.string_len = 1ULL << 33;
    refused(&m, NULL, PC_ETOOBIG, "string of 8589934592 units");
    mk_default(&m);
    m.string_enc = 9;
    refused(&m, NULL, PC_ECORRUPT, "unknown string encoding 9");
    mk_default(&m);
    jfr_limits_default(&lim);
    lim.max_pool_entries = 4;
    refused(&m, &lim, PC_ETOOBIG, "more than 4 constant-pool entries");
}

static void test_limits(void **state)
{
    struct mk m;
    struct jfr_limits lim;

    (void)state;
    mk_default(&m);
    jfr_limits_default(&lim);
    lim.max_stack_depth = 1;
    refused(&m, &lim, PC_ETOOBIG, "stack of 2 frames (limit 1)");
    jfr_limits_default(&lim);
    lim.max_nesting = 2;
    refused(&m, &lim, PC_ETOOBIG, "nested deeper than 2");
    jfr_limits_default(&lim);
    lim.max_classes = 5;
    refused(&m, &lim, PC_ETOOBIG, "more than 5 classes");
    jfr_limits_default(&lim);
    lim.max_alloc = 4096;
    refused(&m, &lim, PC_ENOMEM, "out of memory");
}

static void test_normalize(void **state)
{
    static const char *const cases[][2] = {
        {"Foo$$Lambda$14/0x0000000800c03000.run", "Foo$$Lambda_.run"},
        {"Foo$$Lambda$88+0x00007f9fe0007a08/1790421142.run",
         "Foo$$Lambda_.run"},
        {"Foo$$Lambda/0x0000000800c03000.run", "Foo$$Lambda_.run"},
        {"jdk/internal/reflect/GeneratedMethodAccessor42.invoke",
         "jdk/internal/reflect/GeneratedMethodAccessor_.invoke"},
        {"Svc$$EnhancerBySpringCGLIB$$1a2b3c.get",
         "Svc$$EnhancerBySpringCGLIB$$_.get"},
        {"Plain$$Lambda.run", "Plain$$Lambda.run"},
        {"java/util/HashMap.get", "java/util/HashMap.get"},
    };
    char s[128];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(s, sizeof(s), "%s", cases[i][0]);
        n = jfr_normalize_symbol(s, strlen(s));
        s[n] = '\0';
        assert_string_equal(s, cases[i][1]);
    }
}

/* Varint k bytes long (padded when v is shorter); k = 9 carries 8 bits. */
static size_t put_varint_k(uint8_t *p, uint64_t v, unsigned k)
{
    unsigned i;

    for (i = 0; i + 1 < k && i < 8; i++) {
        p[i] = (uint8_t)(((v >> (7 * i)) & 0x7f) | 0x80);
    }
    p[i] = k == 9 ? (uint8_t)(v >> 56) : (uint8_t)((v >> (7 * i)) & 0x7f);
    return k;
}

/* jfr_varint's word-at-a-time decoding against every length 1-9, padded
 * forms, bytes after it with and without continuation bits, and the
 * checked path near the chunk's end (buffer exactly as long as the
 * varint, and one byte short: truncated). */
static void test_varint(void **state)
{
    uint64_t seed = 0x9e3779b97f4a7c15ULL;
    int n;

    (void)state;
    for (n = 0; n < 20000; n++) {
        struct jfr_limits lim;
        struct jfr_chunk c;
        struct jfr_cur r;
        struct errctx e = {{0}};
        uint8_t b[32];
        uint64_t v, got = 0;
        unsigned k, need, i, tail;

        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        v = seed >> (seed & 63);
        for (need = 1; need < 9 && (v >> (7 * need)) != 0; need++) {
        }
        k = need + (unsigned)((seed >> 8) % (10 - need));
        for (i = 0; i < sizeof(b); i++) {
            b[i] = (uint8_t)(seed >> (i % 56)) | ((n & 1) ? 0x80 : 0);
        }
        put_varint_k(b, v, k);
        tail = (unsigned)((seed >> 16) % 3); /* 0: ends with the varint */
        jfr_limits_default(&lim);
        memset(&c, 0, sizeof(c));
        c.p = b;
        c.len = k + (tail ? 12 : 0);
        c.lim = &lim;
        c.e = &e;
        r.c = &c;
        r.pos = 0;
        r.end = tail == 2 ? c.len : k;
        assert_int_equal(jfr_varint(&r, &got), PC_OK);
        assert_true(got == v);
        assert_int_equal(r.pos, k);
        r.pos = 0;
        r.end = k - 1;
        c.len = tail ? c.len : k - 1;
        assert_int_equal(jfr_varint(&r, &got), PC_ETRUNC);
    }
}

/* Random damage to a good chunk: an error or a result, never a crash. */
static void test_random_damage(void **state)
{
    struct mk m;
    struct jfr_result res;
    struct errctx e;
    struct buf b;
    unsigned seed = 1;
    int i, rc;

    (void)state;
    mk_default(&m);
    buf_init(&b, 0);
    mk_chunk(&b, &m);
    for (i = 0; i < 3000; i++) {
        size_t at;
        uint8_t old;
        seed = seed * 1103515245u + 12345u;
        at = 68 + (seed >> 8) % (b.len - 68);
        old = b.data[at];
        b.data[at] ^= (uint8_t)(1u << ((seed >> 4) & 7));
        rc = jfr_convert(b.data, b.len, NULL, &res, &e);
        if (rc == PC_OK) {
            pdata_free(res.pd);
        } else {
            assert_non_null(strstr(e.msg, "jfr"));
        }
        b.data[at] = old;
    }
    buf_free(&b);
}

/* ---- a real recording of the Datadog Java profiler (ddprof engine) ------ */

/* The file tests/fuzz/corpus/fuzz_jfr/ddprof_java17.jfr: the datadog.*
 * chunk of one main.jfr dd-java-agent 1.45.2 uploaded (JDK 17, Linux x64)
 * for tests/peers/ddtrace-java/DdWork.java. */
static void load_ddprof(struct buf *b)
{
    const char *src = getenv("PROFCOL_SOURCE_DIR");
    char path[1024];
    uint8_t tmp[65536];
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "%s/tests/fuzz/corpus/fuzz_jfr/%s",
             src ? src : ".", "ddprof_java17.jfr");
    f = fopen(path, "rb");
    assert_non_null(f);
    buf_init(b, 0);
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        assert_int_equal(buf_append(b, tmp, n), PC_OK);
    }
    fclose(f);
}

/* Whether stack si has a frame whose function name starts with want. */
static int stack_has(const struct pdata *pd, int32_t si, const char *want)
{
    const struct stack *st = &pd->dict.stacks[si];
    uint32_t i;

    for (i = 0; i < st->n; i++) {
        if (strncmp(fname(pd, stack_loc(st, i)), want, strlen(want)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The value of label key on sample s, as a 16-hex-digit id; 0 if absent,
 * and the test fails when present but not such an id. */
static uint64_t span_label(const struct pdata *pd, const struct sample *s,
                           const char *key)
{
    char tmp[24];
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[s->attrs[i]];
        struct pstr k = dict_str(&pd->dict, a->key);
        if (k.len != strlen(key) || memcmp(k.ptr, key, k.len) != 0) {
            continue;
        }
        assert_int_equal(a->value.type, AV_STRING);
        assert_int_equal(a->value.u.s.len, 16);
        memcpy(tmp, a->value.u.s.ptr, 16);
        tmp[16] = '\0';
        assert_int_equal(strspn(tmp, "0123456789abcdef"), 16);
        return strtoull(tmp, NULL, 16);
    }
    return 0;
}

/* The profile of kind k in res, or NULL. */
static const struct profile *kind_profile(const struct jfr_result *res,
                                          enum jfr_kind k)
{
    uint32_t i;

    for (i = 0; i < res->nprofiles; i++) {
        if (res->kind[i] == k) {
            return &res->pd->resources[0].scopes[0].profiles[i];
        }
    }
    return NULL;
}

/* datadog.ExecutionSample is cpu: weight x the engine's cpuInterval, so
 * every value is a multiple of the smallest; JfrWork.burnCpu is sampled,
 * and DdWork.traced, which the tracer traces, runs under a span: its
 * samples carry the span and local root span ids. datadog.ObjectSample is allocation: objects = weight, bytes =
 * weight x size. datadog.MethodSample is wall. */
static void test_ddprof_recording(void **state)
{
    const struct profile *cpu, *alloc;
    struct jfr_result res;
    struct errctx e;
    struct buf b;
    int64_t unit = INT64_MAX, bytes = 0, objects = 0;
    uint32_t i, burn = 0, spans = 0, roots = 0, allocate = 0;

    (void)state;
    load_ddprof(&b);
    assert_int_equal(convert(&b, NULL, &res, &e), PC_OK);
    assert_int_equal(res.nchunks, 1);
    assert_non_null(kind_profile(&res, JFR_WALL));
    cpu = kind_profile(&res, JFR_CPU);
    alloc = kind_profile(&res, JFR_ALLOC_SAMPLE);
    assert_non_null(cpu);
    assert_non_null(alloc);
    assert_true(cpu->nsamples > 10);
    for (i = 0; i < cpu->nsamples; i++) {
        const struct sample *s = &cpu->samples[i];
        assert_true(s->values[0] > 0);
        unit = s->values[0] < unit ? s->values[0] : unit;
        burn += stack_has(res.pd, s->stack, "JfrWork.burnCpu");
        if (span_label(res.pd, s, "span_id") != 0) {
            spans++;
            roots += span_label(res.pd, s, "local_root_span_id") != 0;
        } else {
            /* DdWork.traced always runs inside its span. */
            assert_false(stack_has(res.pd, s->stack, "DdWork.traced"));
        }
    }
    /* The engine's default cpu interval is some milliseconds. */
    assert_true(unit >= 1000000 && unit <= 100000000);
    for (i = 0; i < cpu->nsamples; i++) {
        assert_int_equal(cpu->samples[i].values[0] % unit, 0);
    }
    assert_true(burn > 0);
    assert_true(spans > 0);
    assert_int_equal(roots, spans);
    for (i = 0; i < alloc->nsamples; i++) {
        const struct sample *s = &alloc->samples[i];
        assert_true(s->values[0] > 0);
        assert_true(s->values[1] >= s->values[0] * 16);
        objects += s->values[0];
        bytes += s->values[1];
        allocate += stack_has(res.pd, s->stack, "JfrWork.allocate");
    }
    assert_true(allocate > 0);
    /* JfrWork allocates byte[1024 .. 33280]: 1 KiB to 33 KiB each. */
    assert_true(bytes / objects >= 1024 && bytes / objects <= 33280 + 64);
    pdata_free(res.pd);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_convert),
        cmocka_unit_test(test_state_key_zero),
        cmocka_unit_test(test_two_chunks),
        cmocka_unit_test(test_consumed),
        cmocka_unit_test(test_key_of_previous_chunk),
        cmocka_unit_test(test_sample_rate_and_labels),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_magic),
        cmocka_unit_test(test_major_version),
        cmocka_unit_test(test_missing_reference),
        cmocka_unit_test(test_checkpoint_loop),
        cmocka_unit_test(test_zero_size_event),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_normalize),
        cmocka_unit_test(test_varint),
        cmocka_unit_test(test_random_damage),
        cmocka_unit_test(test_ddprof_recording),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
