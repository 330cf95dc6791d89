/*
 * otlp_decode.c: OTLP profiles v1.11.0 ExportProfilesServiceRequest /
 * ProfilesData -> model.
 *
 * The dictionary is read first wherever it sits in the message (strings
 * before the other tables, since AnyValue.string_value_strindex and
 * KeyValue.key_strindex are resolved to strings), every table counted before
 * it is filled so that each is sized exactly. The decoded tables are the
 * model tables index for index; empty tables get their zero entry from
 * dict_init(). Then every index is range-checked, the pprof.* attributes of
 * docs/conversion.md are lifted back into the model's pprof fields, and runs
 * of profiles that came from one multi-type pprof are joined back.
 *
 * Strings and bytes point into the input, which is either copied into the
 * pdata's arena (otlp_decode) or owned by the caller (otlp_decode_borrow).
 */
#include "codec/otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/intern.h"
#include "codec/pb.h"

/* What a dictionary attribute means to the lifting step. */
enum akind {
    AK_PLAIN = 0,
    AK_BUILD_ID,
    AK_HAS_FUNCTIONS,
    AK_HAS_FILENAMES,
    AK_HAS_LINE_NUMBERS,
    AK_HAS_INLINE_FRAMES,
    AK_FOLDED,
    AK_COMMENT,
    AK_COMMENT_I,
    AK_DROP,
    AK_KEEP,
    AK_DOC_URL,
};

struct dec {
    struct pdata *pd;
    struct errctx *e;
    uint8_t *akind;   /* per dictionary attribute */
    struct itab strs; /* string -> index, built when lifting */
    int strs_ready;
};

#define FAIL(x, rc, ...) err_set((x)->e, (rc), __VA_ARGS__)

/* Names a wire-level failure (truncation or malformed varint/tag). */
static int dec_wire(struct dec *x, int rc, const char *where)
{
    return FAIL(x, rc, "otlp: %s: %s", where,
                rc == PC_ETRUNC ? "truncated field" : "malformed field");
}

static int dec_i32(uint64_t v, int32_t *out)
{
    int64_t s = (int64_t)v;

    if (s < INT32_MIN || s > INT32_MAX) {
        return PC_ECORRUPT;
    }
    *out = (int32_t)s;
    return PC_OK;
}

static int dec_pstr(const uint8_t *s, size_t n, struct pstr *out)
{
    if (n > UINT32_MAX) {
        return PC_ETOOBIG;
    }
    out->ptr = (const char *)s;
    out->len = (uint32_t)n;
    return PC_OK;
}

/*
 * Counts the elements of every field < 32 of one message. Fields in vmask are
 * repeated varints, in f64mask repeated fixed64: a packed run counts its
 * elements, anything else counts 1.
 */
static int dec_count(const uint8_t *p, const uint8_t *end, uint32_t vmask,
                     uint32_t f64mask, uint32_t counts[32])
{
    uint32_t f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc;

    memset(counts, 0, 32 * sizeof(uint32_t));
    while (p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            return rc;
        }
        if (w == PB_LEN && f < 32 && ((vmask | f64mask) >> f & 1)) {
            rc = pb_read_len(&p, end, &s, &n);
            if (rc != PC_OK) {
                return rc;
            }
            if ((f64mask >> f & 1) && n % 8 != 0) {
                return PC_ECORRUPT;
            }
            counts[f] += (f64mask >> f & 1)
                             ? (uint32_t)(n / 8)
                             : (uint32_t)pb_count_varints(s, s + n);
            continue;
        }
        rc = pb_skip(&p, end, w);
        if (rc != PC_OK) {
            return rc;
        }
        if (f < 32 && counts[f] < UINT32_MAX) {
            counts[f]++;
        }
    }
    return PC_OK;
}

/* Reads one repeated-varint field occurrence (packed or not) into out[*n..]. */
static int dec_rep_varint(const uint8_t **p, const uint8_t *end, unsigned w,
                          uint64_t *tmp, int64_t *o64, int32_t *o32,
                          uint32_t *n, uint32_t cap)
{
    const uint8_t *s, *e;
    size_t len;
    int rc;

    if (w == PB_VARINT) {
        s = *p;
        e = end;
    } else if (w == PB_LEN) {
        rc = pb_read_len(p, end, &s, &len);
        if (rc != PC_OK) {
            return rc;
        }
        e = s + len;
    } else {
        return PC_ECORRUPT;
    }
    /* One varint for the unpacked form, the whole run for the packed. */
    while (s < e) {
        rc = pb_read_varint(&s, e, tmp);
        if (rc != PC_OK) {
            return rc;
        }
        if (*n >= cap) {
            return PC_ECORRUPT;
        }
        if (o64 != NULL) {
            o64[*n] = (int64_t)*tmp;
        } else if (dec_i32(*tmp, &o32[*n]) != PC_OK) {
            return PC_ECORRUPT;
        }
        (*n)++;
        if (w == PB_VARINT) {
            break;
        }
    }
    if (w == PB_VARINT) {
        *p = s;
    }
    return PC_OK;
}

static int dec_rep_fixed64(const uint8_t **p, const uint8_t *end, unsigned w,
                           uint64_t *out, uint32_t *n, uint32_t cap)
{
    const uint8_t *s;
    size_t len;
    int rc;

    if (w == PB_I64) {
        if (*n >= cap) {
            return PC_ECORRUPT;
        }
        return pb_read_fixed64(p, end, &out[(*n)++]);
    }
    if (w != PB_LEN) {
        return PC_ECORRUPT;
    }
    rc = pb_read_len(p, end, &s, &len);
    if (rc != PC_OK) {
        return rc;
    }
    if (len % 8 != 0 || len / 8 > cap - *n) {
        return PC_ECORRUPT;
    }
    if (len == 0) {
        return PC_OK; /* out may be NULL: nothing was counted */
    }
    memcpy(out + *n, s, len);
    *n += (uint32_t)(len / 8);
    return PC_OK;
}

/* Reads a scalar field, checking the wire type. */
static int dec_varint(const uint8_t **p, const uint8_t *end, unsigned w,
                      uint64_t *v)
{
    return w == PB_VARINT ? pb_read_varint(p, end, v) : PC_ECORRUPT;
}

static int dec_bytes(const uint8_t **p, const uint8_t *end, unsigned w,
                     const uint8_t **s, size_t *n)
{
    return w == PB_LEN ? pb_read_len(p, end, s, n) : PC_ECORRUPT;
}

/* Allocates n zeroed elements, n == 0 giving NULL. */
static void *dec_alloc(struct dec *x, uint32_t n, size_t sz)
{
    if (n == 0) {
        return NULL;
    }
    return arena_calloc(&x->pd->arena, n, sz);
}

#define DEC_ALLOC(x, ptr, n)                                                  \
    (((ptr) = dec_alloc((x), (n), sizeof(*(ptr)))) != NULL || (n) == 0)

/* A packed run of int32 varints [s, end) into out[0..cap): PC_OK with all
 * cap read (the run was counted first), else an error. */
static int dec_packed_i32(const uint8_t *s, const uint8_t *end, int32_t *out,
                          uint32_t cap)
{
    uint32_t k = 0;
    uint64_t v;

    while (s < end) {
        if (pb_read_varint(&s, end, &v) != PC_OK || k == cap ||
            dec_i32(v, &out[k]) != PC_OK) {
            return PC_ECORRUPT;
        }
        k++;
    }
    return k == cap ? PC_OK : PC_ECORRUPT;
}

/* The message [s, end) is one packed occurrence of field and nothing else,
 * as encoders write a Stack: then its run is [*run, end). */
static int dec_only_packed(const uint8_t *s, const uint8_t *end,
                           uint32_t field, const uint8_t **run)
{
    uint32_t f;
    unsigned w;
    size_t n;

    return pb_read_tag(&s, end, &f, &w) == PC_OK && f == field &&
           w == PB_LEN && pb_read_len(&s, end, run, &n) == PC_OK &&
           *run + n == end;
}

/* A repeated int32 field of a small message, counted then filled. */
static int dec_i32_list(struct dec *x, const uint8_t *s, const uint8_t *end,
                        uint32_t field, int32_t **out, uint32_t *n)
{
    uint32_t counts[32], f, k = 0;
    const uint8_t *run;
    unsigned w;
    uint64_t tmp;
    int rc;

    *out = NULL;
    *n = 0;
    if (dec_only_packed(s, end, field, &run)) {
        /* The common case in one pass over the run, no per-field count. */
        size_t c = pb_count_varints(run, end);
        if (c > UINT32_MAX) {
            return PC_ETOOBIG;
        }
        /* Not zeroed: dec_packed_i32 writes all c or fails. */
        *out = c != 0 ? arena_alloc(&x->pd->arena, c * sizeof(int32_t)) : NULL;
        if (*out == NULL && c != 0) {
            return PC_ENOMEM;
        }
        rc = dec_packed_i32(run, end, *out, (uint32_t)c);
        *n = rc == PC_OK ? (uint32_t)c : 0;
        return rc;
    }
    rc = dec_count(s, end, 1u << field, 0, counts);
    if (rc != PC_OK) {
        return rc;
    }
    if (!DEC_ALLOC(x, *out, counts[field])) {
        return PC_ENOMEM;
    }
    while (s < end) {
        rc = pb_read_tag(&s, end, &f, &w);
        if (rc == PC_OK && f == field) {
            rc = dec_rep_varint(&s, end, w, &tmp, NULL, *out, &k,
                                counts[field]);
        } else if (rc == PC_OK) {
            rc = pb_skip(&s, end, w);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    *n = k;
    return PC_OK;
}

static int dec_strindex(struct dec *x, uint64_t v, struct pstr *out)
{
    int32_t i;

    if (dec_i32(v, &i) != PC_OK || i < 0 ||
        (uint32_t)i >= x->pd->dict.nstrings) {
        return PC_ECORRUPT;
    }
    *out = x->pd->dict.strings[i];
    return PC_OK;
}

/* ---- AnyValue / KeyValue ------------------------------------------------- */

static int dec_anyvalue(struct dec *x, const uint8_t *p, const uint8_t *end,
                        unsigned depth, struct anyvalue *out);

static int dec_keyvalue(struct dec *x, const uint8_t *p, const uint8_t *end,
                        unsigned depth, struct keyvalue *kv)
{
    uint32_t f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    uint64_t v = 0;
    int rc = PC_OK;

    memset(kv, 0, sizeof(*kv));
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f == 1) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_pstr(s, n, &kv->key);
        } else if (f == 2) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_anyvalue(x, s, s + n, depth + 1, &kv->value);
        } else if (f == 3) {
            rc = dec_varint(&p, end, w, &v);
            if (rc == PC_OK && v != 0) {
                rc = dec_strindex(x, v, &kv->key);
                if (rc != PC_OK) {
                    return FAIL(x, PC_ECORRUPT,
                                "otlp: KeyValue.key_strindex %lld out of "
                                "range (string_table has %u)",
                                (long long)v, x->pd->dict.nstrings);
                }
            }
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    return rc;
}

/* Repeated message field `field` of [p,end) -> items decoded by kind. */
static int dec_av_list(struct dec *x, const uint8_t *p, const uint8_t *end,
                       unsigned depth, int kvlist, struct anyvalue *out)
{
    uint32_t counts[32], f, k = 0;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc = dec_count(p, end, 0, 0, counts);

    if (rc != PC_OK) {
        return rc;
    }
    out->type = kvlist ? AV_KVLIST : AV_ARRAY;
    if (kvlist ? !DEC_ALLOC(x, out->u.kv.items, counts[1])
               : !DEC_ALLOC(x, out->u.arr.items, counts[1])) {
        return PC_ENOMEM;
    }
    while (p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f == 1) {
            rc = dec_bytes(&p, end, w, &s, &n);
            if (rc == PC_OK && kvlist) {
                rc = dec_keyvalue(x, s, s + n, depth, &out->u.kv.items[k++]);
            } else if (rc == PC_OK) {
                rc = dec_anyvalue(x, s, s + n, depth + 1,
                                  &out->u.arr.items[k++]);
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    if (kvlist) {
        out->u.kv.n = k;
    } else {
        out->u.arr.n = k;
    }
    return PC_OK;
}

static int dec_anyvalue(struct dec *x, const uint8_t *p, const uint8_t *end,
                        unsigned depth, struct anyvalue *out)
{
    uint32_t f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    uint64_t v = 0;
    int rc = PC_OK;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return FAIL(x, PC_ETOOBIG,
                    "otlp: AnyValue nested deeper than %d levels",
                    LIMIT_ANYVALUE_DEPTH);
    }
    memset(out, 0, sizeof(*out));
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        switch (f) {
        case 1:
        case 7:
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_pstr(s, n, &out->u.s);
            out->type = f == 1 ? AV_STRING : AV_BYTES;
            break;
        case 2:
        case 3:
            rc = dec_varint(&p, end, w, &v);
            out->type = f == 2 ? AV_BOOL : AV_INT;
            if (f == 2) {
                out->u.b = v != 0;
            } else {
                out->u.i = (int64_t)v;
            }
            break;
        case 4:
            rc = w == PB_I64 ? pb_read_fixed64(&p, end, &v) : PC_ECORRUPT;
            out->type = AV_DOUBLE;
            memcpy(&out->u.d, &v, 8);
            break;
        case 5:
        case 6:
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_av_list(x, s, s + n, depth, f == 6, out);
            break;
        case 8:
            rc = dec_varint(&p, end, w, &v);
            if (rc == PC_OK && dec_strindex(x, v, &out->u.s) != PC_OK) {
                return FAIL(x, PC_ECORRUPT,
                            "otlp: AnyValue.string_value_strindex %lld out "
                            "of range (string_table has %u)",
                            (long long)v, x->pd->dict.nstrings);
            }
            out->type = AV_STRING;
            break;
        default:
            rc = pb_skip(&p, end, w);
        }
    }
    return rc;
}

/* Repeated KeyValue field of a message (resource, scope attributes). */
static int dec_kv_list(struct dec *x, const uint8_t *p, const uint8_t *end,
                       uint32_t field, struct keyvalue **out, uint32_t *n)
{
    uint32_t counts[32], f, k = 0;
    unsigned w;
    const uint8_t *s;
    size_t len;
    int rc = dec_count(p, end, 0, 0, counts);

    if (rc != PC_OK) {
        return rc;
    }
    if (!DEC_ALLOC(x, *out, counts[field])) {
        return PC_ENOMEM;
    }
    while (p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f == field) {
            rc = dec_bytes(&p, end, w, &s, &len);
            rc = rc ? rc : dec_keyvalue(x, s, s + len, 0, &(*out)[k++]);
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    *n = k;
    return PC_OK;
}

/* ---- dictionary ------------------------------------------------------------ */

static int dec_mapping(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    struct mapping m;
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    int rc;

    memset(&m, 0, sizeof(m));
    rc = dec_i32_list(x, p, end, 5, &m.attrs, &m.nattrs);
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f >= 1 && f <= 4) {
            rc = dec_varint(&p, end, w, &v);
            if (f == 1) {
                m.memory_start = v;
            } else if (f == 2) {
                m.memory_limit = v;
            } else if (f == 3) {
                m.file_offset = v;
            } else if (rc == PC_OK && dec_i32(v, &m.filename) != PC_OK) {
                rc = PC_ECORRUPT;
            }
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    if (rc == PC_OK && dict_add_mapping(x->pd, &m) < 0) {
        rc = PC_ENOMEM;
    }
    return rc;
}

static int dec_line(const uint8_t *p, const uint8_t *end, struct line *l)
{
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    int rc = PC_OK;

    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f >= 1 && f <= 3) {
            rc = dec_varint(&p, end, w, &v);
            if (f == 1 && rc == PC_OK) {
                rc = dec_i32(v, &l->function);
            } else if (f == 2) {
                l->line = (int64_t)v;
            } else {
                l->column = (int64_t)v;
            }
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    return rc;
}

static int dec_location(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    struct location l;
    uint32_t counts[32], f, k = 0;
    unsigned w;
    uint64_t v = 0;
    const uint8_t *s;
    size_t n;
    int rc;

    memset(&l, 0, sizeof(l));
    rc = dec_count(p, end, 1u << 4, 0, counts);
    rc = rc ? rc : dec_i32_list(x, p, end, 4, &l.attrs, &l.nattrs);
    if (rc == PC_OK && !DEC_ALLOC(x, l.lines, counts[3])) {
        rc = PC_ENOMEM;
    }
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f == 1 || f == 2) {
            rc = dec_varint(&p, end, w, &v);
            if (f == 2) {
                l.address = v;
            } else if (rc == PC_OK) {
                rc = dec_i32(v, &l.mapping);
            }
        } else if (f == 3) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_line(s, s + n, &l.lines[k++]);
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    l.nlines = k;
    if (rc == PC_OK && dict_add_location(x->pd, &l) < 0) {
        rc = PC_ENOMEM;
    }
    return rc;
}

static int dec_function(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    struct function fn;
    int32_t *dst[3];
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    int rc = PC_OK;

    memset(&fn, 0, sizeof(fn));
    dst[0] = &fn.name;
    dst[1] = &fn.system_name;
    dst[2] = &fn.filename;
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f >= 1 && f <= 4) {
            rc = dec_varint(&p, end, w, &v);
            if (f == 4) {
                fn.start_line = (int64_t)v;
            } else if (rc == PC_OK) {
                rc = dec_i32(v, dst[f - 1]);
            }
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    if (rc == PC_OK && dict_add_function(x->pd, &fn) < 0) {
        rc = PC_ENOMEM;
    }
    return rc;
}

static int dec_link(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    struct link l;
    uint32_t f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc = PC_OK;

    memset(&l, 0, sizeof(l));
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f == 1 || f == 2) {
            size_t want = f == 1 ? 16 : 8;
            rc = dec_bytes(&p, end, w, &s, &n);
            if (rc == PC_OK && n != 0 && n != want) {
                return FAIL(x, PC_ECORRUPT,
                            "otlp: link_table[%u].%s is %zu bytes, want %zu",
                            x->pd->dict.nlinks,
                            f == 1 ? "trace_id" : "span_id", n, want);
            }
            if (rc == PC_OK && n != 0) {
                memcpy(f == 1 ? l.trace_id : l.span_id, s, n);
            }
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    if (rc == PC_OK && dict_add_link(x->pd, &l) < 0) {
        rc = PC_ENOMEM;
    }
    return rc;
}

static int dec_attr(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    struct attr a;
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    const uint8_t *s;
    size_t n;
    int rc = PC_OK;

    memset(&a, 0, sizeof(a));
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f == 1 || f == 3) {
            rc = dec_varint(&p, end, w, &v);
            rc = rc ? rc : dec_i32(v, f == 1 ? &a.key : &a.unit);
        } else if (f == 2) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_anyvalue(x, s, s + n, 1, &a.value);
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    if (rc == PC_OK && dict_add_attr(x->pd, &a) < 0) {
        rc = PC_ENOMEM;
    }
    return rc;
}

static int dec_stack(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    struct stack st = {0};
    struct dict *d = &x->pd->dict;
    int rc = dec_i32_list(x, p, end, 1, &st.locs, &st.n);

    if (rc != PC_OK) {
        return rc;
    }
    /* dict_add_stack copies; the list is already in the arena. */
    if (d->nstacks == d->cap_stacks && dict_reserve_stacks(x->pd, 1) != 0) {
        return PC_ENOMEM;
    }
    d->stacks[d->nstacks++] = st;
    return PC_OK;
}

static const char *const dict_field_names[8] = {
    "",           "mapping_table", "location_table",  "function_table",
    "link_table", "string_table",  "attribute_table", "stack_table",
};

/* One pass over one ProfilesDictionary: strings only, or all but strings. */
static int dec_dict_pass(struct dec *x, const uint8_t *p, const uint8_t *end,
                         int strings)
{
    uint32_t f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    struct pstr str;
    int rc = PC_OK;

    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            return dec_wire(x, rc, "ProfilesDictionary");
        }
        if (f < 1 || f > 7) {
            rc = pb_skip(&p, end, w);
            continue;
        }
        rc = dec_bytes(&p, end, w, &s, &n);
        if (rc == PC_OK && f == 5 && strings) {
            rc = dec_pstr(s, n, &str);
            if (rc == PC_OK && dict_add_string(x->pd, str.ptr, str.len) < 0) {
                rc = PC_ENOMEM;
            }
        } else if (rc == PC_OK && !strings && f != 5) {
            switch (f) {
            case 1:
                rc = dec_mapping(x, s, s + n);
                break;
            case 2:
                rc = dec_location(x, s, s + n);
                break;
            case 3:
                rc = dec_function(x, s, s + n);
                break;
            case 4:
                rc = dec_link(x, s, s + n);
                break;
            case 6:
                rc = dec_attr(x, s, s + n);
                break;
            default:
                rc = dec_stack(x, s, s + n);
                break;
            }
        }
        if (rc == PC_ETRUNC || (rc == PC_ECORRUPT && x->e->msg[0] == 0)) {
            return dec_wire(x, rc, dict_field_names[f]);
        }
    }
    return rc;
}

/* ---- index checks ------------------------------------------------------------ */

static int dec_idx_ok(int32_t i, uint32_t n)
{
    return i >= 0 && (uint32_t)i < n;
}

static int dec_bad_idx(struct dec *x, const char *what, uint32_t at,
                       const char *field, int32_t v, const char *table,
                       uint32_t n)
{
    return FAIL(x, PC_ECORRUPT,
                "otlp: %s[%u].%s = %d out of range (%s has %u entries)", what,
                at, field, v, table, n);
}

static int dec_check_attrs(struct dec *x, const char *what, uint32_t at,
                           const int32_t *a, uint32_t n)
{
    uint32_t k;

    for (k = 0; k < n; k++) {
        if (!dec_idx_ok(a[k], x->pd->dict.nattrs)) {
            return dec_bad_idx(x, what, at, "attribute_indices", a[k],
                               "attribute_table", x->pd->dict.nattrs);
        }
    }
    return PC_OK;
}

static int dec_check_zero(struct dec *x, const uint32_t *wire_counts)
{
    const struct dict *d = &x->pd->dict;
    static const uint8_t z[24];
    const char *bad = NULL;

    if (wire_counts[5] && d->strings[0].len != 0) {
        bad = "string_table";
    } else if (wire_counts[1] &&
               (d->mappings[0].memory_start || d->mappings[0].memory_limit ||
                d->mappings[0].file_offset || d->mappings[0].filename ||
                d->mappings[0].nattrs)) {
        bad = "mapping_table";
    } else if (wire_counts[2] &&
               (d->locations[0].mapping || d->locations[0].address ||
                d->locations[0].nlines || d->locations[0].nattrs)) {
        bad = "location_table";
    } else if (wire_counts[3] &&
               (d->functions[0].name || d->functions[0].system_name ||
                d->functions[0].filename || d->functions[0].start_line)) {
        bad = "function_table";
    } else if (wire_counts[4] && memcmp(&d->links[0], z, 24) != 0) {
        bad = "link_table";
    } else if (wire_counts[6] && (d->attrs[0].key || d->attrs[0].unit ||
                                  d->attrs[0].value.type != AV_EMPTY)) {
        bad = "attribute_table";
    } else if (wire_counts[7] && d->stacks[0].n != 0) {
        bad = "stack_table";
    }
    if (bad != NULL) {
        return FAIL(x, PC_ECORRUPT, "otlp: %s[0] is not the zero value", bad);
    }
    return PC_OK;
}

static int dec_check_dict(struct dec *x)
{
    const struct dict *d = &x->pd->dict;
    uint32_t i, k;
    int rc = PC_OK;

    for (i = 0; rc == PC_OK && i < d->nmappings; i++) {
        if (!dec_idx_ok(d->mappings[i].filename, d->nstrings)) {
            return dec_bad_idx(x, "mapping_table", i, "filename_strindex",
                               d->mappings[i].filename, "string_table",
                               d->nstrings);
        }
        rc = dec_check_attrs(x, "mapping_table", i, d->mappings[i].attrs,
                             d->mappings[i].nattrs);
    }
    for (i = 0; rc == PC_OK && i < d->nlocations; i++) {
        const struct location *l = &d->locations[i];
        if (!dec_idx_ok(l->mapping, d->nmappings)) {
            return dec_bad_idx(x, "location_table", i, "mapping_index",
                               l->mapping, "mapping_table", d->nmappings);
        }
        for (k = 0; k < l->nlines; k++) {
            if (!dec_idx_ok(l->lines[k].function, d->nfunctions)) {
                return dec_bad_idx(x, "location_table", i,
                                   "lines.function_index",
                                   l->lines[k].function, "function_table",
                                   d->nfunctions);
            }
        }
        rc = dec_check_attrs(x, "location_table", i, l->attrs, l->nattrs);
    }
    for (i = 0; rc == PC_OK && i < d->nfunctions; i++) {
        const struct function *f = &d->functions[i];
        int32_t v = !dec_idx_ok(f->name, d->nstrings)          ? f->name
                    : !dec_idx_ok(f->system_name, d->nstrings) ? f->system_name
                    : !dec_idx_ok(f->filename, d->nstrings)    ? f->filename
                                                               : 0;
        if (v != 0) {
            return dec_bad_idx(x, "function_table", i, "*_strindex", v,
                               "string_table", d->nstrings);
        }
    }
    for (i = 0; rc == PC_OK && i < d->nattrs; i++) {
        const struct attr *a = &d->attrs[i];
        if (!dec_idx_ok(a->key, d->nstrings) ||
            !dec_idx_ok(a->unit, d->nstrings)) {
            return dec_bad_idx(x, "attribute_table", i,
                               dec_idx_ok(a->key, d->nstrings)
                                   ? "unit_strindex"
                                   : "key_strindex",
                               dec_idx_ok(a->key, d->nstrings) ? a->unit
                                                               : a->key,
                               "string_table", d->nstrings);
        }
    }
    for (i = 0; rc == PC_OK && i < d->nstacks; i++) {
        for (k = 0; k < d->stacks[i].n; k++) {
            if (!dec_idx_ok(d->stacks[i].locs[k], d->nlocations)) {
                return dec_bad_idx(x, "stack_table", i, "location_indices",
                                   d->stacks[i].locs[k], "location_table",
                                   d->nlocations);
            }
        }
    }
    return rc;
}

/* Reads every dictionary occurrence of the request (repeated occurrences
 * of a message field merge: their tables concatenate). */
static int dec_dictionary(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    uint32_t wire[32], f, pass, sub[32];
    unsigned w;
    const uint8_t *s, *q;
    size_t n;
    int rc;

    memset(wire, 0, sizeof(wire));
    for (q = p; q < end;) {
        rc = pb_read_tag(&q, end, &f, &w);
        if (rc == PC_OK && f == 2 && w == PB_LEN) {
            rc = pb_read_len(&q, end, &s, &n);
            rc = rc ? rc : dec_count(s, s + n, 0, 0, sub);
            for (f = 1; rc == PC_OK && f <= 7; f++) {
                wire[f] += sub[f];
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&q, end, w);
        }
        if (rc != PC_OK) {
            return dec_wire(x, rc, "ExportProfilesServiceRequest");
        }
    }
    if (dict_reserve_mappings(x->pd, wire[1] + 1) ||
        dict_reserve_locations(x->pd, wire[2] + 1) ||
        dict_reserve_functions(x->pd, wire[3] + 1) ||
        dict_reserve_links(x->pd, wire[4] + 1) ||
        dict_reserve_strings(x->pd, wire[5] + 1) ||
        dict_reserve_attrs(x->pd, wire[6] + 1) ||
        dict_reserve_stacks(x->pd, wire[7] + 1)) {
        return FAIL(x, PC_ENOMEM,
                    "otlp: dictionary too large for the "
                    "decode budget");
    }
    for (pass = 0; pass < 2; pass++) {
        for (q = p; q < end;) {
            rc = pb_read_tag(&q, end, &f, &w);
            if (rc == PC_OK && f == 2 && w == PB_LEN) {
                rc = pb_read_len(&q, end, &s, &n);
                rc = rc ? rc : dec_dict_pass(x, s, s + n, pass == 0);
            } else if (rc == PC_OK) {
                rc = pb_skip(&q, end, w);
            }
            if (rc != PC_OK) {
                return x->e->msg[0] ? rc : dec_wire(x, rc, "dictionary");
            }
        }
    }
    rc = dec_check_zero(x, wire);
    if (rc == PC_OK && dict_init(x->pd) != PC_OK) {
        return FAIL(x, PC_ENOMEM, "otlp: out of memory");
    }
    return rc ? rc : dec_check_dict(x);
}

/* ---- profiles ------------------------------------------------------------------ */

static int dec_value_type(struct dec *x, const uint8_t *p, const uint8_t *end,
                          struct value_type *vt)
{
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    int rc = PC_OK;

    memset(vt, 0, sizeof(*vt));
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && (f == 1 || f == 2)) {
            rc = dec_varint(&p, end, w, &v);
            rc = rc ? rc : dec_i32(v, f == 1 ? &vt->type : &vt->unit);
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    if (rc == PC_OK && (!dec_idx_ok(vt->type, x->pd->dict.nstrings) ||
                        !dec_idx_ok(vt->unit, x->pd->dict.nstrings))) {
        return FAIL(x, PC_ECORRUPT,
                    "otlp: ValueType string index out of range "
                    "(string_table has %u entries)",
                    x->pd->dict.nstrings);
    }
    return rc;
}

/* Per-profile sample storage, carved from blocks sized in a counting pass.
 * A sample's timestamps follow its values in `values` (sample_ts); they are
 * read into `ts`, room for the most one sample has, and moved behind the
 * values when the sample ends, as the fields may come in any order. */
struct sample_blocks {
    int64_t *values;
    int32_t *attrs;
    uint64_t *ts;
    uint32_t nv, na, nt;
};

/* The values (field 4), attribute indices (2) and timestamps (5) of one
 * Sample, packed or not, into c[0..2]: dec_count's job for the message
 * decoded most often, without its table of 32 fields to clear. */
static int dec_count_sample(const uint8_t *p, const uint8_t *end,
                            uint32_t c[3])
{
    const uint8_t *s;
    uint32_t f;
    unsigned w;
    size_t n;
    int rc;

    c[0] = c[1] = c[2] = 0;
    while (p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && w == PB_LEN && (f == 2 || f == 4 || f == 5)) {
            rc = pb_read_len(&p, end, &s, &n);
            if (rc == PC_OK && f == 5 && n % 8 != 0) {
                rc = PC_ECORRUPT;
            }
            if (rc == PC_OK) {
                c[f == 4   ? 0
                  : f == 2 ? 1
                           : 2] +=
                    (uint32_t)(f == 5 ? n / 8 : pb_count_varints(s, s + n));
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
            if (rc == PC_OK && (f == 2 || f == 4 || f == 5)) {
                c[f == 4 ? 0 : f == 2 ? 1 : 2]++;
            }
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int dec_sample(struct dec *x, const uint8_t *p, const uint8_t *end,
                      struct sample *smp, struct sample_blocks *b,
                      uint32_t cap[3])
{
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    uint32_t nv0 = b->nv, na0 = b->na;
    int rc = PC_OK;

    memset(smp, 0, sizeof(*smp));
    /* A block is NULL when the counting pass found none of its kind: no
     * arithmetic on it then (undefined even with a zero offset). */
    smp->values = b->values != NULL ? b->values + b->nv : NULL;
    smp->attrs = b->attrs != NULL ? b->attrs + b->na : NULL;
    b->nt = 0;
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f == 1 || f == 3) {
            rc = dec_varint(&p, end, w, &v);
            rc = rc ? rc : dec_i32(v, f == 1 ? &smp->stack : &smp->link);
        } else if (f == 2) {
            rc = dec_rep_varint(&p, end, w, &v, NULL, b->attrs, &b->na,
                                cap[1]);
        } else if (f == 4) {
            rc = dec_rep_varint(&p, end, w, &v, b->values, NULL, &b->nv,
                                cap[0]);
        } else if (f == 5) {
            rc = dec_rep_fixed64(&p, end, w, b->ts, &b->nt, cap[2]);
        } else {
            rc = pb_skip(&p, end, w);
        }
    }
    smp->nvalues = b->nv - nv0;
    smp->nattrs = b->na - na0;
    if (rc == PC_OK && b->nt != 0) {
        /* The values' block has room: the counting pass counted both. */
        if (cap[0] - b->nv < b->nt) {
            return PC_ECORRUPT;
        }
        memcpy(b->values + b->nv, b->ts, (size_t)b->nt * sizeof(uint64_t));
        b->nv += b->nt;
        smp->nts = b->nt;
    }
    return rc;
}

static int dec_check_sample(struct dec *x, const struct sample *s, uint32_t i)
{
    const struct dict *d = &x->pd->dict;

    if (!dec_idx_ok(s->stack, d->nstacks)) {
        return dec_bad_idx(x, "samples", i, "stack_index", s->stack,
                           "stack_table", d->nstacks);
    }
    if (!dec_idx_ok(s->link, d->nlinks)) {
        return dec_bad_idx(x, "samples", i, "link_index", s->link,
                           "link_table", d->nlinks);
    }
    return dec_check_attrs(x, "samples", i, s->attrs, s->nattrs);
}

/* Samples of one Profile: count every repeated element, then fill. */
static int dec_samples(struct dec *x, const uint8_t *p, const uint8_t *end,
                       struct profile *pr)
{
    uint32_t tot[3] = {0, 0, 0}, counts[3], nsamp = 0, f, k = 0;
    uint32_t cap[3], maxts = 0;
    struct sample_blocks b;
    const uint8_t *q, *s;
    unsigned w;
    size_t n;
    int rc;

    for (q = p; q < end;) {
        rc = pb_read_tag(&q, end, &f, &w);
        if (rc == PC_OK && f == 2 && w == PB_LEN) {
            rc = pb_read_len(&q, end, &s, &n);
            rc = rc ? rc : dec_count_sample(s, s + n, counts);
            if (rc == PC_OK && (counts[0] > UINT32_MAX - tot[0] ||
                                counts[1] > UINT32_MAX - tot[1] ||
                                counts[2] > UINT32_MAX - tot[2])) {
                rc = PC_ETOOBIG;
            }
            tot[0] += counts[0];
            tot[1] += counts[1];
            tot[2] += counts[2];
            maxts = counts[2] > maxts ? counts[2] : maxts;
            nsamp++;
        } else if (rc == PC_OK) {
            rc = pb_skip(&q, end, w);
        }
        if (rc != PC_OK) {
            return dec_wire(x, rc, "Profile.samples");
        }
    }
    if (tot[2] > UINT32_MAX - tot[0]) {
        return dec_wire(x, PC_ETOOBIG, "Profile.samples");
    }
    /* Values and the timestamps behind them; timestamps one sample at a
     * time (see struct sample_blocks). */
    cap[0] = tot[0] + tot[2];
    cap[1] = tot[1];
    cap[2] = maxts;
    memset(&b, 0, sizeof(b));
    if (!DEC_ALLOC(x, pr->samples, nsamp) || !DEC_ALLOC(x, b.values, cap[0]) ||
        !DEC_ALLOC(x, b.attrs, cap[1]) || !DEC_ALLOC(x, b.ts, cap[2])) {
        return FAIL(x, PC_ENOMEM, "otlp: %u samples exceed the decode budget",
                    nsamp);
    }
    for (q = p; q < end;) {
        rc = pb_read_tag(&q, end, &f, &w);
        if (rc == PC_OK && f == 2 && w == PB_LEN) {
            rc = pb_read_len(&q, end, &s, &n);
            rc = rc ? rc : dec_sample(x, s, s + n, &pr->samples[k], &b, cap);
            rc = rc ? rc : dec_check_sample(x, &pr->samples[k], k);
            k++;
        } else if (rc == PC_OK) {
            rc = pb_skip(&q, end, w);
        }
        if (rc != PC_OK) {
            return x->e->msg[0] ? rc : dec_wire(x, rc, "Sample");
        }
    }
    pr->nsamples = nsamp;
    return PC_OK;
}

static int dec_profile(struct dec *x, const uint8_t *p, const uint8_t *end,
                       struct profile *pr)
{
    const uint8_t *q = p, *s;
    uint32_t f;
    unsigned w;
    uint64_t v = 0;
    size_t n;
    int rc;

    memset(pr, 0, sizeof(*pr));
    pr->nsample_types = 1;
    pr->sample_types = arena_calloc(&x->pd->arena, 1,
                                    sizeof(struct value_type));
    if (pr->sample_types == NULL) {
        return FAIL(x, PC_ENOMEM, "otlp: out of memory");
    }
    rc = dec_samples(x, p, end, pr);
    if (rc == PC_OK) {
        rc = dec_i32_list(x, p, end, 11, &pr->attrs, &pr->nattrs);
        if (rc != PC_OK) {
            return dec_wire(x, rc, "Profile.attribute_indices");
        }
        rc = dec_check_attrs(x, "profiles", 0, pr->attrs, pr->nattrs);
    }
    while (rc == PC_OK && q < end) {
        rc = pb_read_tag(&q, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        switch (f) {
        case 1:
        case 5:
            rc = dec_bytes(&q, end, w, &s, &n);
            rc = rc ? rc
                    : dec_value_type(x, s, s + n,
                                     f == 1 ? &pr->sample_types[0]
                                            : &pr->period_type);
            break;
        case 3:
            rc = w == PB_I64 ? pb_read_fixed64(&q, end, &v) : PC_ECORRUPT;
            pr->time_nanos = (int64_t)v;
            break;
        case 4:
        case 6:
        case 8:
            rc = dec_varint(&q, end, w, &v);
            if (f == 4) {
                pr->duration_nanos = (int64_t)v;
            } else if (f == 6) {
                pr->period = (int64_t)v;
            } else {
                pr->dropped_attributes_count = (uint32_t)v;
            }
            break;
        case 7:
            rc = dec_bytes(&q, end, w, &s, &n);
            if (rc == PC_OK && n != 0 && n != 16) {
                return FAIL(x, PC_ECORRUPT,
                            "otlp: Profile.profile_id is %zu bytes, want 16",
                            n);
            }
            if (rc == PC_OK && n != 0) {
                memcpy(pr->profile_id, s, 16);
            }
            break;
        case 9:
        case 10:
            rc = dec_bytes(&q, end, w, &s, &n);
            rc = rc ? rc
                    : dec_pstr(s, n,
                               f == 9 ? &pr->original_payload_format
                                      : &pr->original_payload);
            break;
        default:
            rc = pb_skip(&q, end, w);
        }
    }
    if (rc != PC_OK && x->e->msg[0] == 0) {
        return dec_wire(x, rc, "Profile");
    }
    return rc;
}

static int dec_scope(struct dec *x, const uint8_t *p, const uint8_t *end,
                     struct scope *sc)
{
    uint32_t f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    uint64_t v = 0;
    int rc = dec_kv_list(x, p, end, 3, &sc->attrs, &sc->nattrs);

    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && (f == 1 || f == 2)) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_pstr(s, n, f == 1 ? &sc->name : &sc->version);
        } else if (rc == PC_OK && f == 4) {
            rc = dec_varint(&p, end, w, &v);
            sc->dropped_attributes_count = (uint32_t)v;
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    return rc;
}

static int dec_scope_profiles(struct dec *x, const uint8_t *p,
                              const uint8_t *end, struct scope_profiles *sp)
{
    uint32_t counts[32], f, k = 0;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc = dec_count(p, end, 0, 0, counts);

    if (rc == PC_OK && !DEC_ALLOC(x, sp->profiles, counts[2])) {
        return FAIL(x, PC_ENOMEM, "otlp: out of memory");
    }
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f >= 1 && f <= 3) {
            rc = dec_bytes(&p, end, w, &s, &n);
        } else {
            rc = pb_skip(&p, end, w);
            continue;
        }
        if (rc == PC_OK && f == 1) {
            sp->has_scope = 1;
            rc = dec_scope(x, s, s + n, &sp->scope);
        } else if (rc == PC_OK && f == 2) {
            rc = dec_profile(x, s, s + n, &sp->profiles[k++]);
        } else if (rc == PC_OK) {
            rc = dec_pstr(s, n, &sp->schema_url);
        }
    }
    sp->nprofiles = k;
    return rc;
}

static int dec_entity_ref(struct dec *x, const uint8_t *p, const uint8_t *end,
                          struct entity_ref *er)
{
    uint32_t counts[32], f;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc = dec_count(p, end, 0, 0, counts);

    if (rc == PC_OK && (!DEC_ALLOC(x, er->id_keys, counts[3]) ||
                        !DEC_ALLOC(x, er->description_keys, counts[4]))) {
        return PC_ENOMEM;
    }
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f >= 1 && f <= 4) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc =
                rc ? rc
                   : dec_pstr(
                         s, n,
                         f == 1   ? &er->schema_url
                         : f == 2 ? &er->type
                         : f == 3
                             ? &er->id_keys[er->nid_keys++]
                             : &er->description_keys[er->ndescription_keys++]);
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    return rc;
}

static int dec_resource(struct dec *x, const uint8_t *p, const uint8_t *end,
                        struct resource *r)
{
    uint32_t counts[32], f, k = 0;
    unsigned w;
    const uint8_t *s;
    size_t n;
    uint64_t v = 0;
    int rc = dec_count(p, end, 0, 0, counts);

    rc = rc ? rc : dec_kv_list(x, p, end, 1, &r->attrs, &r->nattrs);
    if (rc == PC_OK && !DEC_ALLOC(x, r->entity_refs, counts[3])) {
        return PC_ENOMEM;
    }
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f == 2) {
            rc = dec_varint(&p, end, w, &v);
            r->dropped_attributes_count = (uint32_t)v;
        } else if (rc == PC_OK && f == 3) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc : dec_entity_ref(x, s, s + n, &r->entity_refs[k++]);
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
    }
    r->nentity_refs = k;
    return rc;
}

static int dec_resource_profiles(struct dec *x, const uint8_t *p,
                                 const uint8_t *end,
                                 struct resource_profiles *rp)
{
    uint32_t counts[32], f, k = 0;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc = dec_count(p, end, 0, 0, counts);

    if (rc == PC_OK && !DEC_ALLOC(x, rp->scopes, counts[2])) {
        return FAIL(x, PC_ENOMEM, "otlp: out of memory");
    }
    while (rc == PC_OK && p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc != PC_OK) {
            break;
        }
        if (f < 1 || f > 3) {
            rc = pb_skip(&p, end, w);
            continue;
        }
        rc = dec_bytes(&p, end, w, &s, &n);
        if (rc == PC_OK && f == 1) {
            rp->has_resource = 1;
            rc = dec_resource(x, s, s + n, &rp->resource);
        } else if (rc == PC_OK && f == 2) {
            rc = dec_scope_profiles(x, s, s + n, &rp->scopes[k++]);
        } else if (rc == PC_OK) {
            rc = dec_pstr(s, n, &rp->schema_url);
        }
    }
    rp->nscopes = k;
    if (rc != PC_OK && x->e->msg[0] == 0) {
        return dec_wire(x, rc, "ResourceProfiles");
    }
    return rc;
}

/* ---- lifting the pprof.* attributes ---------------------------------------- */

static uint8_t dec_kind(const struct dict *d, const struct attr *a)
{
    static const struct {
        const char *key;
        uint8_t kind, type;
    } keys[] = {
        {"process.executable.build_id.gnu", AK_BUILD_ID, AV_STRING},
        {"pprof.mapping.has_functions", AK_HAS_FUNCTIONS, AV_BOOL},
        {"pprof.mapping.has_filenames", AK_HAS_FILENAMES, AV_BOOL},
        {"pprof.mapping.has_line_numbers", AK_HAS_LINE_NUMBERS, AV_BOOL},
        {"pprof.mapping.has_inline_frames", AK_HAS_INLINE_FRAMES, AV_BOOL},
        {"pprof.location.is_folded", AK_FOLDED, AV_BOOL},
        {"pprof.profile.comment", AK_COMMENT, AV_ARRAY},
        {"pprof.profile.drop_frames", AK_DROP, AV_STRING},
        {"pprof.profile.keep_frames", AK_KEEP, AV_STRING},
        {"pprof.profile.doc_url", AK_DOC_URL, AV_STRING},
    };
    struct pstr k = dict_str(d, a->key);
    size_t i;

    if (a->unit != 0) {
        return AK_PLAIN;
    }
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        if (pstr_eq(k, keys[i].key) && a->value.type == keys[i].type) {
            if (a->value.type == AV_BOOL && !a->value.u.b) {
                return AK_PLAIN;
            }
            if (a->value.type == AV_ARRAY) {
                uint32_t j;
                for (j = 0; j < a->value.u.arr.n; j++) {
                    if (a->value.u.arr.items[j].type != AV_STRING) {
                        return AK_PLAIN;
                    }
                }
            }
            return keys[i].kind;
        }
    }
    /* The indexed form older collector versions wrote: comment.<i>. */
    if (k.len > 22 && k.len < 32 &&
        memcmp(k.ptr, "pprof.profile.comment.", 22) == 0 &&
        a->value.type == AV_STRING) {
        for (i = 22; i < k.len; i++) {
            if (k.ptr[i] < '0' || k.ptr[i] > '9') {
                return AK_PLAIN;
            }
        }
        return AK_COMMENT_I;
    }
    return AK_PLAIN;
}

static int dec_kinds(struct dec *x)
{
    const struct dict *d = &x->pd->dict;
    uint32_t i;

    x->akind = calloc(d->nattrs ? d->nattrs : 1, 1);
    if (x->akind == NULL) {
        return PC_ENOMEM;
    }
    for (i = 1; i < d->nattrs; i++) {
        x->akind[i] = dec_kind(d, &d->attrs[i]);
    }
    return PC_OK;
}

/* String index of s, added to the table when absent. */
static int32_t dec_find_string(struct dec *x, struct pstr s)
{
    struct dict *d = &x->pd->dict;
    struct itab_probe pr;
    uint32_t i;
    int32_t k;

    if (s.len == 0) {
        return 0;
    }
    if (!x->strs_ready) {
        if (itab_init(&x->strs, d->nstrings + 16) != PC_OK) {
            return PC_ENOMEM;
        }
        x->strs_ready = 1;
        for (i = 0; i < d->nstrings; i++) {
            itab_probe_start(&x->strs,
                             XXH3_64bits(d->strings[i].ptr, d->strings[i].len),
                             &pr);
            while ((k = itab_probe_next(&x->strs, &pr)) >= 0 &&
                   !pstr_eqp(d->strings[k], d->strings[i])) {
            }
            if (k < 0 && itab_insert(&x->strs, &pr, (int32_t)i) != PC_OK) {
                return PC_ENOMEM;
            }
        }
    }
    itab_probe_start(&x->strs, XXH3_64bits(s.ptr, s.len), &pr);
    while ((k = itab_probe_next(&x->strs, &pr)) >= 0) {
        if (pstr_eqp(d->strings[k], s)) {
            return k;
        }
    }
    k = dict_add_string(x->pd, s.ptr, s.len);
    if (k >= 0 && itab_insert(&x->strs, &pr, k) != PC_OK) {
        return PC_ENOMEM;
    }
    return k;
}

/* Position of the last attribute of list a[0..n) with kind `kind` and a
 * non-empty string value, or -1. The encoder writes a lifted attribute after
 * the plain ones, so lifting the last one keeps encode(decode(x)) a fixed
 * point when a list holds the key twice. */
static int64_t dec_last_kind(const struct dec *x, const int32_t *a, uint32_t n,
                             uint8_t kind)
{
    uint32_t k;

    for (k = n; k-- > 0;) {
        if (x->akind[a[k]] == kind &&
            x->pd->dict.attrs[a[k]].value.u.s.len != 0) {
            return k;
        }
    }
    return -1;
}

static int dec_lift_mappings(struct dec *x)
{
    struct dict *d = &x->pd->dict;
    uint32_t i, k, o;
    int64_t bid;
    int32_t s;

    for (i = 1; i < d->nmappings; i++) {
        struct mapping *m = &d->mappings[i];
        bid = dec_last_kind(x, m->attrs, m->nattrs, AK_BUILD_ID);
        for (k = 0, o = 0; k < m->nattrs; k++) {
            const struct attr *a = &d->attrs[m->attrs[k]];
            uint8_t kind = x->akind[m->attrs[k]];
            if ((int64_t)k == bid) {
                s = dec_find_string(x, a->value.u.s);
                if (s < 0) {
                    return s;
                }
                m = &d->mappings[i];
                m->build_id = s;
            } else if (kind >= AK_HAS_FUNCTIONS &&
                       kind <= AK_HAS_INLINE_FRAMES) {
                m->flags |= (uint8_t)(1u << (kind - AK_HAS_FUNCTIONS));
            } else {
                m->attrs[o++] = m->attrs[k];
            }
        }
        m->nattrs = o;
    }
    for (i = 1; i < d->nlocations; i++) {
        struct location *l = &d->locations[i];
        for (k = 0, o = 0; k < l->nattrs; k++) {
            if (x->akind[l->attrs[k]] == AK_FOLDED) {
                l->is_folded = 1;
            } else {
                l->attrs[o++] = l->attrs[k];
            }
        }
        l->nattrs = o;
    }
    return PC_OK;
}

/* <i> of a "pprof.profile.comment.<i>" key (digits checked by dec_kind). */
static unsigned long dec_comment_index(struct pstr k)
{
    unsigned long v = 0;
    uint32_t i;

    for (i = 22; i < k.len; i++) {
        v = v * 10 + (unsigned long)(k.ptr[i] - '0');
    }
    return v;
}

/*
 * Indexed keys in order of (index, position in the list): selection of the
 * smallest remaining pair keeps it simple (comment counts are tiny), and
 * equal indices keep every comment.
 */
static int dec_lift_indexed_comments(struct dec *x, struct profile *pr)
{
    struct dict *d = &x->pd->dict;
    unsigned long last = 0, best, idx;
    int64_t lastk = -1, bk;
    uint32_t k;
    int32_t s;

    for (;;) {
        best = 0;
        bk = -1;
        for (k = 0; k < pr->nattrs; k++) {
            if (x->akind[pr->attrs[k]] != AK_COMMENT_I) {
                continue;
            }
            idx = dec_comment_index(dict_str(d, d->attrs[pr->attrs[k]].key));
            if ((lastk < 0 || idx > last ||
                 (idx == last && (int64_t)k > lastk)) &&
                (bk < 0 || idx < best)) {
                best = idx;
                bk = k;
            }
        }
        if (bk < 0) {
            return PC_OK;
        }
        s = dec_find_string(x, d->attrs[pr->attrs[bk]].value.u.s);
        if (s < 0) {
            return s;
        }
        pr->comments[pr->ncomments++] = s;
        last = best;
        lastk = bk;
    }
}

/* Comments from the array form, then the indexed form sorted by index. */
static int dec_lift_comments(struct dec *x, struct profile *pr)
{
    struct dict *d = &x->pd->dict;
    uint32_t k, j, n = 0;
    int32_t s;

    for (k = 0; k < pr->nattrs; k++) {
        const struct attr *a = &d->attrs[pr->attrs[k]];
        uint8_t kind = x->akind[pr->attrs[k]];
        n += kind == AK_COMMENT ? a->value.u.arr.n : kind == AK_COMMENT_I;
    }
    if (n == 0) {
        return PC_OK;
    }
    pr->comments = arena_calloc(&x->pd->arena, n, sizeof(int32_t));
    if (pr->comments == NULL) {
        return PC_ENOMEM;
    }
    for (k = 0; k < pr->nattrs; k++) {
        const struct attr *a = &d->attrs[pr->attrs[k]];
        if (x->akind[pr->attrs[k]] != AK_COMMENT) {
            continue;
        }
        for (j = 0; j < a->value.u.arr.n; j++) {
            s = dec_find_string(x, a->value.u.arr.items[j].u.s);
            if (s < 0) {
                return s;
            }
            pr->comments[pr->ncomments++] = s;
            a = &d->attrs[pr->attrs[k]];
        }
    }
    return dec_lift_indexed_comments(x, pr);
}

static int dec_lift_profile(struct dec *x, struct profile *pr)
{
    struct dict *d = &x->pd->dict;
    uint32_t k, o;
    int32_t s;
    int64_t drop = dec_last_kind(x, pr->attrs, pr->nattrs, AK_DROP);
    int64_t keep = dec_last_kind(x, pr->attrs, pr->nattrs, AK_KEEP);
    int64_t doc = dec_last_kind(x, pr->attrs, pr->nattrs, AK_DOC_URL);
    int rc = dec_lift_comments(x, pr);

    for (k = 0, o = 0; rc == PC_OK && k < pr->nattrs; k++) {
        uint8_t kind = x->akind[pr->attrs[k]];
        int32_t *dst = (int64_t)k == drop   ? &pr->drop_frames
                       : (int64_t)k == keep ? &pr->keep_frames
                       : (int64_t)k == doc  ? &pr->doc_url
                                            : NULL;
        if (kind == AK_COMMENT || kind == AK_COMMENT_I) {
            continue;
        }
        if (dst != NULL) {
            s = dec_find_string(x, d->attrs[pr->attrs[k]].value.u.s);
            if (s < 0) {
                return s;
            }
            *dst = s;
            continue;
        }
        pr->attrs[o++] = pr->attrs[k];
    }
    pr->nattrs = o;
    return rc;
}

/* Whether p has a sample type named t. */
static int dec_carries(const struct dict *d, const struct profile *p,
                       struct pstr t)
{
    uint32_t k;

    for (k = 0; k < p->nsample_types; k++) {
        if (pstr_eqp(dict_str(d, p->sample_types[k].type), t)) {
            return 1;
        }
    }
    return 0;
}

/*
 * pprof.scope.default_sample_type (the last such string attribute of the
 * scope) goes to every profile of the scope, after joining, that has a
 * sample type of that name: a pprof naming a default type it does not have
 * is one `go tool pprof` rejects. The attribute leaves the scope only when
 * every profile took it; otherwise it stays for those that could not.
 */
static int dec_lift_scope(struct dec *x, struct scope_profiles *sp)
{
    const struct keyvalue *kv = NULL;
    uint32_t k, at = 0, all = sp->nprofiles != 0;
    int32_t s = 0;

    for (k = sp->scope.nattrs; kv == NULL && k-- > 0;) {
        const struct keyvalue *c = &sp->scope.attrs[k];
        if (pstr_eq(c->key, "pprof.scope.default_sample_type") &&
            c->value.type == AV_STRING && c->value.u.s.len != 0) {
            kv = c;
            at = k;
        }
    }
    for (k = 0; kv != NULL && k < sp->nprofiles; k++) {
        if (!dec_carries(&x->pd->dict, &sp->profiles[k], kv->value.u.s)) {
            all = 0;
            continue;
        }
        s = s ? s : dec_find_string(x, kv->value.u.s);
        if (s < 0) {
            return s;
        }
        sp->profiles[k].default_sample_type = s;
    }
    if (kv != NULL && all) {
        memmove(&sp->scope.attrs[at], &sp->scope.attrs[at + 1],
                (sp->scope.nattrs - at - 1) * sizeof(struct keyvalue));
        sp->scope.nattrs--;
    }
    return PC_OK;
}

/* ---- joining ---------------------------------------------------------------- */

static int dec_attr_same(const struct dict *d, int32_t a, int32_t b)
{
    const struct attr *x = &d->attrs[a], *y = &d->attrs[b];

    return a == b || (pstr_eqp(dict_str(d, x->key), dict_str(d, y->key)) &&
                      pstr_eqp(dict_str(d, x->unit), dict_str(d, y->unit)) &&
                      av_equal(&x->value, &y->value));
}

static int dec_attrs_same(const struct dict *d, const int32_t *a, uint32_t na,
                          const int32_t *b, uint32_t nb)
{
    uint32_t k;

    if (na != nb) {
        return 0;
    }
    for (k = 0; k < na; k++) {
        if (!dec_attr_same(d, a[k], b[k])) {
            return 0;
        }
    }
    return 1;
}

static int dec_str_same(const struct dict *d, int32_t a, int32_t b)
{
    return a == b || pstr_eqp(dict_str(d, a), dict_str(d, b));
}

static int dec_sample_same(const struct dict *d, const struct sample *a,
                           const struct sample *b)
{
    if (a->nvalues != 1 || b->nvalues != 1 || a->nts != b->nts ||
        !dec_attrs_same(d, a->attrs, a->nattrs, b->attrs, b->nattrs)) {
        return 0;
    }
    if (a->stack != b->stack &&
        !stack_eq(&d->stacks[a->stack], &d->stacks[b->stack])) {
        return 0;
    }
    if (a->link != b->link &&
        memcmp(&d->links[a->link], &d->links[b->link], sizeof(struct link))) {
        return 0;
    }
    return a->nts == 0 ||
           memcmp(sample_ts(a), sample_ts(b), a->nts * sizeof(uint64_t)) == 0;
}

/* Whether b may join the run started by a (see docs/conversion.md). */
static int dec_joinable(const struct dict *d, const struct profile *a,
                        const struct profile *b)
{
    uint32_t i;

    if (a->time_nanos != b->time_nanos ||
        a->duration_nanos != b->duration_nanos || a->period != b->period ||
        !dec_str_same(d, a->period_type.type, b->period_type.type) ||
        !dec_str_same(d, a->period_type.unit, b->period_type.unit) ||
        memcmp(a->profile_id, b->profile_id, 16) != 0 ||
        a->dropped_attributes_count != b->dropped_attributes_count ||
        /* Only the run's first profile may carry the original payload:
         * the encoder puts it there, once per model profile. */
        b->original_payload.len || b->original_payload_format.len ||
        a->nsamples != b->nsamples || a->ncomments != b->ncomments ||
        !dec_str_same(d, a->drop_frames, b->drop_frames) ||
        !dec_str_same(d, a->keep_frames, b->keep_frames) ||
        !dec_str_same(d, a->doc_url, b->doc_url) ||
        !dec_attrs_same(d, a->attrs, a->nattrs, b->attrs, b->nattrs)) {
        return 0;
    }
    for (i = 0; i < a->ncomments; i++) {
        if (!dec_str_same(d, a->comments[i], b->comments[i])) {
            return 0;
        }
    }
    for (i = 0; i < a->nsamples; i++) {
        if (!dec_sample_same(d, &a->samples[i], &b->samples[i])) {
            return 0;
        }
    }
    return 1;
}

/* Joins run[0..n) into run[0], which gets n sample types. run[0]'s own
 * samples take the joined values in place: a second array of samples
 * would be as big as the first (11 MB for 200k samples), and nothing but
 * run[0] points at them. */
static int dec_join(struct dec *x, struct profile *run, uint32_t n)
{
    struct profile *p = &run[0];
    struct value_type *types;
    int64_t *vals, *v;
    uint64_t nts = 0;
    uint32_t i, k;

    for (i = 0; i < p->nsamples; i++) {
        nts += p->samples[i].nts;
    }
    if ((uint64_t)p->nsamples * n + nts > UINT32_MAX) {
        return PC_ENOMEM;
    }
    types = arena_calloc(&x->pd->arena, n, sizeof(*types));
    vals = dec_alloc(x, (uint32_t)((uint64_t)p->nsamples * n + nts),
                     sizeof(*vals));
    if (types == NULL || (p->nsamples && vals == NULL)) {
        return PC_ENOMEM;
    }
    for (k = 0; k < n; k++) {
        types[k] = run[k].sample_types[0];
    }
    for (i = 0, v = vals; i < p->nsamples; i++) {
        struct sample *s = &p->samples[i];
        /* run[0].samples[i] is s: read before it changes. The joined
         * samples have equal timestamps (dec_sample_same); s's follow. */
        for (k = 0; k < n; k++) {
            v[k] = run[k].samples[i].values[0];
        }
        if (s->nts != 0) {
            memcpy(v + n, sample_ts(s), (size_t)s->nts * sizeof(uint64_t));
        }
        s->values = v;
        s->nvalues = n;
        v += n + s->nts;
    }
    p->sample_types = types;
    p->nsample_types = n;
    return PC_OK;
}

static int dec_join_scope(struct dec *x, struct scope_profiles *sp)
{
    const struct dict *d = &x->pd->dict;
    uint32_t i = 0, j, out = 0;
    int rc;

    while (i < sp->nprofiles) {
        j = i + 1;
        while (j < sp->nprofiles &&
               dec_joinable(d, &sp->profiles[i], &sp->profiles[j])) {
            j++;
        }
        if (j - i > 1) {
            rc = dec_join(x, &sp->profiles[i], j - i);
            if (rc != PC_OK) {
                return FAIL(x, rc, "otlp: out of memory joining profiles");
            }
        }
        sp->profiles[out++] = sp->profiles[i];
        i = j;
    }
    sp->nprofiles = out;
    return PC_OK;
}

static int dec_finish(struct dec *x)
{
    struct pdata *pd = x->pd;
    uint32_t r, s, k;
    int rc = dec_kinds(x);

    rc = rc ? rc : dec_lift_mappings(x);
    for (r = 0; rc == PC_OK && r < pd->nresources; r++) {
        for (s = 0; rc == PC_OK && s < pd->resources[r].nscopes; s++) {
            struct scope_profiles *sp = &pd->resources[r].scopes[s];
            for (k = 0; rc == PC_OK && k < sp->nprofiles; k++) {
                rc = dec_lift_profile(x, &sp->profiles[k]);
            }
            /* After joining: whether a profile can carry the default
             * sample type depends on the types the run gave it. */
            rc = rc ? rc : dec_join_scope(x, sp);
            rc = rc ? rc : dec_lift_scope(x, sp);
        }
    }
    if (rc != PC_OK && x->e->msg[0] == 0) {
        return FAIL(x, rc, "otlp: %s", pc_strerror(rc));
    }
    return rc;
}

/* ---- entry points ---------------------------------------------------------- */

static int dec_request(struct dec *x, const uint8_t *p, const uint8_t *end)
{
    uint32_t counts[32], f, k = 0;
    unsigned w;
    const uint8_t *s;
    size_t n;
    int rc = dec_count(p, end, 0, 0, counts);

    if (rc != PC_OK) {
        return dec_wire(x, rc, "ExportProfilesServiceRequest");
    }
    rc = dec_dictionary(x, p, end);
    if (rc != PC_OK) {
        return rc;
    }
    if (!DEC_ALLOC(x, x->pd->resources, counts[1])) {
        return FAIL(x, PC_ENOMEM, "otlp: out of memory");
    }
    while (p < end) {
        rc = pb_read_tag(&p, end, &f, &w);
        if (rc == PC_OK && f == 1) {
            rc = dec_bytes(&p, end, w, &s, &n);
            rc = rc ? rc
                    : dec_resource_profiles(x, s, s + n,
                                            &x->pd->resources[k++]);
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, w);
        }
        if (rc != PC_OK) {
            return x->e->msg[0] ? rc : dec_wire(x, rc, "resource_profiles");
        }
    }
    x->pd->nresources = k;
    return dec_finish(x);
}

static int dec_run(const uint8_t *data, size_t len, int copy,
                   struct pdata **out, struct errctx *e)
{
    struct errctx local;
    struct dec x;
    size_t limit;
    int rc;

    *out = NULL;
    if (e == NULL) {
        e = &local;
    }
    e->msg[0] = 0;
    /* The budget scales with the input; the constant covers the arena's
     * chunk granularity for small requests. */
    limit = len > (SIZE_MAX - (8u << 20)) / LIMIT_ARENA_FACTOR
                ? SIZE_MAX
                : len * LIMIT_ARENA_FACTOR + (8u << 20);
    memset(&x, 0, sizeof(x));
    x.e = e;
    x.pd = pdata_new(limit);
    if (x.pd == NULL) {
        return err_set(e, PC_ENOMEM, "otlp: out of memory");
    }
    if (copy && len != 0) {
        data = arena_memdup(&x.pd->arena, data, len);
        if (data == NULL) {
            pdata_free(x.pd);
            return err_set(e, PC_ETOOBIG,
                           "otlp: %zu-byte request exceeds "
                           "the decode budget",
                           len);
        }
    }
    rc = len == 0 ? dict_init(x.pd) : dec_request(&x, data, data + len);
    if (rc == PC_ENOMEM) {
        /* Arena exhaustion is the budget speaking, not the system. */
        rc = err_set(e, PC_ETOOBIG,
                     "otlp: request needs more than the decode budget of "
                     "%zu bytes",
                     limit);
    }
    free(x.akind);
    if (x.strs_ready) {
        itab_free(&x.strs);
    }
    if (rc != PC_OK) {
        pdata_free(x.pd);
        return rc;
    }
    *out = x.pd;
    return PC_OK;
}

int otlp_decode(const uint8_t *data, size_t len,
                const struct decode_limits *lim, struct pdata **out,
                struct errctx *e)
{
    (void)lim;
    return dec_run(data, len, 1, out, e);
}

int otlp_decode_borrow(const uint8_t *data, size_t len,
                       const struct decode_limits *lim, struct pdata **out,
                       struct errctx *e)
{
    (void)lim;
    return dec_run(data, len, 0, out, e);
}
