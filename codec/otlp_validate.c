/*
 * otlp_validate.c: checks encoded OTLP profiles v1.11.0 bytes against the
 * rules of the pinned version that backends enforce (Parca rejects a whole
 * request for any of them): all seven dictionary tables present with the zero
 * value at index 0, no duplicate dictionary entries, every index in range,
 * link ids of 16/8 bytes, profile_id of 16 bytes, sample_type and period_type
 * present, unique attribute keys per sample, and every sample timestamp
 * inside [time_unix_nano, time_unix_nano + duration_nano].
 *
 * It reads the bytes with its own small walker rather than the decoder, so
 * that a decoder bug cannot hide an encoder bug in tests.
 */
#include "codec/otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/intern.h"
#include "codec/pb.h"

struct span {
    const uint8_t *p;
    size_t n;
};

/* The end of s. An unset span is {NULL, 0}: no arithmetic on NULL, which is
 * undefined even with a zero offset. */
static const uint8_t *span_end(struct span s)
{
    return s.n > 0 ? s.p + s.n : s.p;
}

static const char *const val_tables[8] = {
    "",           "mapping_table", "location_table",  "function_table",
    "link_table", "string_table",  "attribute_table", "stack_table",
};

struct val {
    struct span *ent[8]; /* entries per table (1..7) */
    uint32_t n[8];
    int32_t *attr_key; /* key_strindex of each attribute */
    struct errctx *e;
};

#define VFAIL(v, ...) err_set((v)->e, PC_ECORRUPT, __VA_ARGS__)

static int val_wire(struct val *v, int rc, const char *where)
{
    return err_set(v->e, rc == PC_ETRUNC ? PC_ETRUNC : PC_ECORRUPT,
                   "otlp validate: %s: %s", where,
                   rc == PC_ETRUNC ? "truncated field" : "malformed field");
}

/* Calls fn for every field; stops at the first non-zero return. */
typedef int (*val_field_fn)(struct val *v, void *ctx, uint32_t f, unsigned w,
                            uint64_t num, struct span s);

static int val_walk(struct val *v, struct span m, const char *where,
                    val_field_fn fn, void *ctx)
{
    const uint8_t *p = m.p, *end = span_end(m);
    struct span s = {NULL, 0};
    uint32_t f;
    unsigned w;
    uint64_t num = 0;
    int rc;

    while (p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK) {
            switch (w) {
            case PB_VARINT:
                rc = pb_read_varint(&p, end, &num);
                break;
            case PB_I64:
                rc = pb_read_fixed64(&p, end, &num);
                break;
            case PB_LEN:
                rc = pb_read_len(&p, end, &s.p, &s.n);
                break;
            default:
                rc = pb_skip(&p, end, w);
            }
        }
        if (rc != PC_OK) {
            return val_wire(v, rc, where);
        }
        rc = fn(v, ctx, f, w, num, s);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

/* Iterates a repeated int32 occurrence (packed or not): each value < lim. */
static int val_ints(struct val *v, unsigned w, uint64_t num, struct span s,
                    uint32_t lim, const char *what)
{
    const uint8_t *p = s.p, *end = span_end(s);
    uint64_t x = num;
    int rc;

    if (w == PB_VARINT) {
        p = end;
    } else if (w != PB_LEN) {
        return VFAIL(v, "otlp validate: %s: wrong wire type", what);
    }
    for (;;) {
        if (w == PB_LEN) {
            if (p >= end) {
                break;
            }
            rc = pb_read_varint(&p, end, &x);
            if (rc != PC_OK) {
                return val_wire(v, rc, what);
            }
        }
        if ((int64_t)x < 0 || x >= lim) {
            return VFAIL(v,
                         "otlp validate: %s = %lld out of range (%u "
                         "entries)",
                         what, (long long)(int64_t)x, lim);
        }
        if (w == PB_VARINT) {
            break;
        }
    }
    return PC_OK;
}

/* ---- dictionary ---------------------------------------------------------- */

static int val_collect(struct val *v, void *ctx, uint32_t f, unsigned w,
                       uint64_t num, struct span s)
{
    int pass = *(int *)ctx;

    (void)num;
    if (f < 1 || f > 7) {
        return PC_OK;
    }
    if (w != PB_LEN) {
        return VFAIL(v, "otlp validate: dictionary.%s: wrong wire type",
                     val_tables[f]);
    }
    if (pass == 1) {
        v->ent[f][v->n[f]] = s;
    }
    v->n[f]++;
    return PC_OK;
}

static int val_zero_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                          uint64_t num, struct span s)
{
    (void)f;
    if ((w == PB_LEN && s.n != 0) || (w != PB_LEN && num != 0)) {
        return VFAIL(v,
                     "otlp validate: dictionary.%s[0] is not the zero "
                     "value",
                     (const char *)ctx);
    }
    return PC_OK;
}

static int val_anyvalue(struct val *v, struct span m, unsigned depth);

static int val_av_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                        uint64_t num, struct span s)
{
    unsigned depth = *(unsigned *)ctx;

    if (f == 8 && num >= v->n[5]) {
        return VFAIL(v,
                     "otlp validate: AnyValue.string_value_strindex = "
                     "%llu out of range (%u entries)",
                     (unsigned long long)num, v->n[5]);
    }
    if ((f == 5 || f == 6) && w == PB_LEN) {
        /* ArrayValue.values / KeyValueList.values are field 1 of both. */
        struct span q = s;
        const uint8_t *p = q.p, *end = span_end(q);
        while (p < end) {
            uint32_t ff;
            unsigned ww;
            struct span el;
            int rc = pb_read_tag(&p, end, &ff, &ww);
            if (rc == PC_OK && ff == 1 && ww == PB_LEN) {
                rc = pb_read_len(&p, end, &el.p, &el.n);
                if (rc == PC_OK && f == 5) {
                    rc = val_anyvalue(v, el, depth + 1);
                } else if (rc == PC_OK) {
                    /* KeyValue: check its value (field 2). */
                    const uint8_t *kp = el.p, *ke = span_end(el);
                    while (rc == PC_OK && kp < ke) {
                        struct span kv;
                        rc = pb_read_tag(&kp, ke, &ff, &ww);
                        if (rc == PC_OK && ff == 2 && ww == PB_LEN) {
                            rc = pb_read_len(&kp, ke, &kv.p, &kv.n);
                            rc = rc ? rc : val_anyvalue(v, kv, depth + 1);
                        } else if (rc == PC_OK) {
                            rc = pb_skip(&kp, ke, ww);
                        }
                    }
                }
            } else if (rc == PC_OK) {
                rc = pb_skip(&p, end, ww);
            }
            if (rc != PC_OK) {
                return v->e->msg[0] ? rc : val_wire(v, rc, "AnyValue");
            }
        }
    }
    return PC_OK;
}

static int val_anyvalue(struct val *v, struct span m, unsigned depth)
{
    if (depth > LIMIT_ANYVALUE_DEPTH + 1) {
        return err_set(v->e, PC_ETOOBIG,
                       "otlp validate: AnyValue nested "
                       "deeper than %d levels",
                       LIMIT_ANYVALUE_DEPTH);
    }
    return val_walk(v, m, "AnyValue", val_av_field, &depth);
}

struct val_entry {
    uint32_t table, index;
};

static int val_entry_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                           uint64_t num, struct span s)
{
    const struct val_entry *en = ctx;
    char what[96];
    uint32_t lim = 0;
    int list = 0;

    snprintf(what, sizeof(what), "dictionary.%s[%u]", val_tables[en->table],
             en->index);
    switch (en->table * 16 + f) {
    case 1 * 16 + 4: /* mapping.filename_strindex */
    case 3 * 16 + 1: /* function name/system_name/filename */
    case 3 * 16 + 2:
    case 3 * 16 + 3:
    case 6 * 16 + 1: /* attribute key / unit */
    case 6 * 16 + 3:
        lim = v->n[5];
        break;
    case 1 * 16 + 5: /* mapping attribute_indices */
    case 2 * 16 + 4: /* location attribute_indices */
        lim = v->n[6];
        list = 1;
        break;
    case 2 * 16 + 1:
        lim = v->n[1];
        break;
    case 7 * 16 + 1:
        lim = v->n[2];
        list = 1;
        break;
    case 2 * 16 + 3: {
        /* Line: function_index (field 1) < function_table. */
        const uint8_t *p = s.p, *end = span_end(s);
        while (w == PB_LEN && p < end) {
            uint32_t ff;
            unsigned ww;
            uint64_t x = 0;
            int rc = pb_read_tag(&p, end, &ff, &ww);
            if (rc == PC_OK && ff == 1 && ww == PB_VARINT) {
                rc = pb_read_varint(&p, end, &x);
                if (rc == PC_OK && ((int64_t)x < 0 || x >= v->n[3])) {
                    return VFAIL(v,
                                 "otlp validate: %s.lines.function_index "
                                 "= %lld out of range (%u entries)",
                                 what, (long long)(int64_t)x, v->n[3]);
                }
            } else if (rc == PC_OK) {
                rc = pb_skip(&p, end, ww);
            }
            if (rc != PC_OK) {
                return val_wire(v, rc, what);
            }
        }
        return PC_OK;
    }
    case 4 * 16 + 1:
    case 4 * 16 + 2:
        if (w != PB_LEN || s.n != (f == 1 ? 16u : 8u)) {
            return VFAIL(v, "otlp validate: %s.%s must be %u bytes", what,
                         f == 1 ? "trace_id" : "span_id", f == 1 ? 16 : 8);
        }
        return PC_OK;
    case 6 * 16 + 2:
        return val_anyvalue(v, s, 1);
    default:
        return PC_OK;
    }
    if (list) {
        return val_ints(v, w, num, s, lim, what);
    }
    if (w != PB_VARINT) {
        return VFAIL(v, "otlp validate: %s field %u: wrong wire type", what,
                     f);
    }
    if ((int64_t)num < 0 || num >= lim) {
        return VFAIL(v,
                     "otlp validate: %s field %u = %lld out of range "
                     "(%u entries)",
                     what, f, (long long)(int64_t)num, lim);
    }
    if (en->table == 6 && f == 1) {
        v->attr_key[en->index] = (int32_t)num;
    }
    return PC_OK;
}

/* Raw-byte duplicates: the encoder writes every entry canonically. */
static int val_dups(struct val *v, uint32_t t)
{
    struct itab tab;
    struct itab_probe pr;
    uint32_t i;
    int32_t k;
    int rc = itab_init(&tab, v->n[t]);

    for (i = 0; rc == PC_OK && i < v->n[t]; i++) {
        struct span s = v->ent[t][i];
        itab_probe_start(&tab, XXH3_64bits(s.p, s.n), &pr);
        while ((k = itab_probe_next(&tab, &pr)) >= 0) {
            struct span o = v->ent[t][k];
            if (o.n == s.n && (s.n == 0 || memcmp(o.p, s.p, s.n) == 0)) {
                rc = VFAIL(v,
                           "otlp validate: dictionary.%s[%u] duplicates "
                           "entry %d",
                           val_tables[t], i, k);
                break;
            }
        }
        if (rc == PC_OK) {
            rc = itab_insert(&tab, &pr, (int32_t)i);
        }
    }
    itab_free(&tab);
    return rc;
}

static int val_dictionary(struct val *v, struct span req)
{
    uint32_t t, i, f;
    unsigned w;
    const uint8_t *p;
    struct span d;
    int pass, rc;

    for (pass = 0; pass < 2; pass++) {
        if (pass == 1) {
            for (t = 1; t <= 7; t++) {
                if (v->n[t] == 0) {
                    return VFAIL(v,
                                 "otlp validate: dictionary.%s is empty "
                                 "(entry 0 must be the zero value)",
                                 val_tables[t]);
                }
                v->ent[t] = calloc(v->n[t], sizeof(struct span));
                if (v->ent[t] == NULL) {
                    return err_set(v->e, PC_ENOMEM, "out of memory");
                }
                v->n[t] = 0;
            }
        }
        for (p = req.p; p < span_end(req);) {
            rc = pb_read_tag(&p, span_end(req), &f, &w);
            if (rc == PC_OK && f == 2 && w == PB_LEN) {
                rc = pb_read_len(&p, span_end(req), &d.p, &d.n);
                rc = rc ? rc
                        : val_walk(v, d, "dictionary", val_collect, &pass);
            } else if (rc == PC_OK) {
                rc = pb_skip(&p, span_end(req), w);
            }
            if (rc != PC_OK) {
                return v->e->msg[0] ? rc : val_wire(v, rc, "request");
            }
        }
    }
    v->attr_key = calloc(v->n[6], sizeof(int32_t));
    if (v->attr_key == NULL) {
        return err_set(v->e, PC_ENOMEM, "out of memory");
    }
    if (v->ent[5][0].n != 0) {
        return VFAIL(v, "otlp validate: dictionary.string_table[0] is not "
                        "the zero value");
    }
    for (t = 1; t <= 7; t++) {
        if (t != 5) {
            rc = val_walk(v, v->ent[t][0], val_tables[t], val_zero_field,
                          (void *)val_tables[t]);
            if (rc != PC_OK) {
                return rc;
            }
        }
        for (i = 0; t != 5 && i < v->n[t]; i++) {
            struct val_entry en = {t, i};
            rc = val_walk(v, v->ent[t][i], val_tables[t], val_entry_field,
                          &en);
            if (rc != PC_OK) {
                return rc;
            }
        }
        rc = val_dups(v, t);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

/* ---- profiles ------------------------------------------------------------ */

struct val_prof {
    uint64_t time, dur;
    int has_st, has_pt;
    uint32_t nsample;
};

static int val_vt(struct val *v, struct span s, const char *what)
{
    const uint8_t *p = s.p, *end = span_end(s);
    uint32_t f;
    unsigned w;
    uint64_t x = 0;
    int rc = PC_OK;

    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && (f == 1 || f == 2) && w == PB_VARINT) {
            rc = pb_read_varint(&p, end, &x);
            if (rc == PC_OK && ((int64_t)x < 0 || x >= v->n[5])) {
                return VFAIL(v,
                             "otlp validate: %s string index %lld out of "
                             "range",
                             what, (long long)(int64_t)x);
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    return rc == PC_OK ? rc : val_wire(v, rc, what);
}

static int val_prof_head(struct val *v, void *ctx, uint32_t f, unsigned w,
                         uint64_t num, struct span s)
{
    struct val_prof *pp = ctx;

    if (f == 3) {
        pp->time = w == PB_I64 ? num : 0;
    } else if (f == 4) {
        pp->dur = num;
    } else if (f == 1 || f == 5) {
        *(f == 1 ? &pp->has_st : &pp->has_pt) = 1;
        return val_vt(v, s,
                      f == 1 ? "Profile.sample_type" : "Profile.period_type");
    } else if (f == 7 && s.n != 0 && s.n != 16) {
        return VFAIL(v,
                     "otlp validate: Profile.profile_id is %zu bytes, "
                     "want 16",
                     s.n);
    } else if (f == 11) {
        return val_ints(v, w, num, s, v->n[6], "Profile.attribute_indices");
    }
    return PC_OK;
}

/* Attribute keys of one sample must be unique (OTLP rule). */
static int val_sample_keys(struct val *v, struct span s, uint32_t at)
{
    int32_t keys[64];
    uint32_t nk = 0, i;
    const uint8_t *p = s.p, *end = span_end(s);
    uint32_t f;
    unsigned w;
    int rc = PC_OK;

    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f == 2 && w == PB_LEN) {
            const uint8_t *q, *qe;
            size_t n;
            uint64_t x;
            rc = pb_read_len(&p, end, &q, &n);
            for (qe = q + n; rc == PC_OK && q < qe;) {
                rc = pb_read_varint(&q, qe, &x);
                if (rc != PC_OK || x >= v->n[6] || nk == 64) {
                    break;
                }
                for (i = 0; i < nk; i++) {
                    if (keys[i] == v->attr_key[x]) {
                        return VFAIL(v,
                                     "otlp validate: samples[%u] has two "
                                     "attributes with key string %d",
                                     at, keys[i]);
                    }
                }
                keys[nk++] = v->attr_key[x];
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    return PC_OK;
}

static int val_sample_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                            uint64_t num, struct span s)
{
    const struct val_prof *pp = ctx;
    uint64_t end = pp->time + pp->dur < pp->time ? UINT64_MAX
                                                 : pp->time + pp->dur;
    uint32_t lim = f == 1 ? v->n[7] : f == 3 ? v->n[4] : v->n[6];
    const char *what = f == 1   ? "Sample.stack_index"
                       : f == 3 ? "Sample.link_index"
                                : "Sample.attribute_indices";
    size_t i;

    if (f == 1 || f == 2 || f == 3) {
        return val_ints(v, w, num, s, lim, what);
    }
    if (f == 5) {
        uint64_t ts;
        if (w == PB_I64) {
            s.p = (const uint8_t *)&num;
            s.n = 8;
        } else if (w != PB_LEN || s.n % 8 != 0) {
            return VFAIL(v, "otlp validate: Sample.timestamps_unix_nano: "
                            "wrong encoding");
        }
        for (i = 0; i < s.n; i += 8) {
            memcpy(&ts, s.p + i, 8);
            if (ts < pp->time || ts > end) {
                return VFAIL(v,
                             "otlp validate: samples[%u] timestamp %llu "
                             "outside the profile window [%llu, %llu]",
                             pp->nsample, (unsigned long long)ts,
                             (unsigned long long)pp->time,
                             (unsigned long long)end);
            }
        }
    }
    return PC_OK;
}

static int val_prof_samples(struct val *v, void *ctx, uint32_t f, unsigned w,
                            uint64_t num, struct span s)
{
    struct val_prof *pp = ctx;
    int rc;

    (void)num;
    if (f != 2 || w != PB_LEN) {
        return PC_OK;
    }
    rc = val_walk(v, s, "Sample", val_sample_field, pp);
    rc = rc ? rc : val_sample_keys(v, s, pp->nsample);
    pp->nsample++;
    return rc;
}

static int val_kv(struct val *v, struct span s)
{
    const uint8_t *p = s.p, *end = span_end(s);
    uint32_t f;
    unsigned w;
    uint64_t x;
    struct span a;
    int rc = PC_OK;

    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f == 2 && w == PB_LEN) {
            rc = pb_read_len(&p, end, &a.p, &a.n);
            rc = rc ? rc : val_anyvalue(v, a, 1);
        } else if (rc == PC_OK && f == 3 && w == PB_VARINT) {
            rc = pb_read_varint(&p, end, &x);
            if (rc == PC_OK && x >= v->n[5]) {
                return VFAIL(v,
                             "otlp validate: KeyValue.key_strindex %llu "
                             "out of range",
                             (unsigned long long)x);
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    return rc == PC_OK || v->e->msg[0] ? rc : val_wire(v, rc, "KeyValue");
}

static int val_attrs_of(struct val *v, void *ctx, uint32_t f, unsigned w,
                        uint64_t num, struct span s)
{
    (void)num;
    return f == *(uint32_t *)ctx && w == PB_LEN ? val_kv(v, s) : PC_OK;
}

static int val_scope_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                           uint64_t num, struct span s)
{
    struct val_prof pp;
    uint32_t af = 3;
    int rc;

    (void)ctx;
    (void)num;
    if (w != PB_LEN) {
        return PC_OK;
    }
    if (f == 1) {
        return val_walk(v, s, "InstrumentationScope", val_attrs_of, &af);
    }
    if (f != 2) {
        return PC_OK;
    }
    memset(&pp, 0, sizeof(pp));
    rc = val_walk(v, s, "Profile", val_prof_head, &pp);
    if (rc == PC_OK && !pp.has_st) {
        return VFAIL(v, "otlp validate: Profile.sample_type is missing");
    }
    if (rc == PC_OK && !pp.has_pt) {
        return VFAIL(v, "otlp validate: Profile.period_type is missing");
    }
    return rc ? rc : val_walk(v, s, "Profile", val_prof_samples, &pp);
}

static int val_rp_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                        uint64_t num, struct span s)
{
    uint32_t af = 1;

    (void)ctx;
    (void)num;
    if (w != PB_LEN) {
        return PC_OK;
    }
    if (f == 1) {
        return val_walk(v, s, "Resource", val_attrs_of, &af);
    }
    if (f == 2) {
        return val_walk(v, s, "ScopeProfiles", val_scope_field, NULL);
    }
    return PC_OK;
}

static int val_req_field(struct val *v, void *ctx, uint32_t f, unsigned w,
                         uint64_t num, struct span s)
{
    (void)ctx;
    (void)num;
    if (f == 1 && w == PB_LEN) {
        return val_walk(v, s, "ResourceProfiles", val_rp_field, NULL);
    }
    return PC_OK;
}

int otlp_validate(const uint8_t *data, size_t len, struct errctx *e)
{
    struct errctx local;
    struct val v;
    struct span req = {data, len};
    uint32_t t;
    int rc;

    if (e == NULL) {
        e = &local;
    }
    e->msg[0] = 0;
    memset(&v, 0, sizeof(v));
    v.e = e;
    rc = val_dictionary(&v, req);
    if (rc == PC_OK) {
        rc = val_walk(&v, req, "request", val_req_field, NULL);
    }
    for (t = 1; t <= 7; t++) {
        free(v.ent[t]);
    }
    free(v.attr_key);
    return rc;
}
