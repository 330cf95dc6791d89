/*
 * jfr_value.c: reading JFR values by their metadata class: primitives,
 * strings (encodings 0-5), pool keys, arrays and inline structs.
 */
#include <string.h>

#include "codec/jfr/jfr_int.h"

int jfr_string(struct jfr_cur *r, struct jfr_str *s)
{
    uint64_t n, u;
    size_t start = r->pos;
    int rc;

    memset(s, 0, sizeof(*s));
    if ((rc = jfr_u8(r, &s->enc)) != PC_OK) {
        return rc;
    }
    switch (s->enc) {
    case 0:
    case 1:
        return PC_OK;
    case 2:
        return jfr_int(r, 8, &s->key);
    case 3:
    case 4:
    case 5:
        break;
    default:
        return jfr_fail(r->c, start, PC_ECORRUPT,
                        "unknown string encoding "
                        "%u",
                        s->enc);
    }
    if ((rc = jfr_int(r, 4, &n)) != PC_OK) {
        return rc;
    }
    if (n > r->c->lim->max_string_len) {
        return jfr_fail(r->c, start, PC_ETOOBIG,
                        "string of %llu units "
                        "(limit %u)",
                        (unsigned long long)n, r->c->lim->max_string_len);
    }
    if (n > r->end - r->pos) {
        return jfr_fail(r->c, start, PC_ETRUNC,
                        "string of %llu units passes "
                        "the end",
                        (unsigned long long)n);
    }
    s->len = (uint32_t)n;
    s->off = r->pos;
    if (s->enc != 4) {
        r->pos += (size_t)n;
        return PC_OK;
    }
    while (n-- > 0) {
        if ((rc = jfr_int(r, 2, &u)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int put_utf8(struct buf *out, uint32_t cp)
{
    uint8_t b[4];
    size_t n;

    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | cp >> 6);
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | cp >> 12);
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | cp >> 18);
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return buf_append(out, b, n);
}

/* UTF-16 units to UTF-8; a lone surrogate becomes U+FFFD. */
static int utf16_to_utf8(struct jfr_chunk *c, const struct jfr_str *s,
                         struct buf *out)
{
    struct jfr_cur r = {c, s->off, c->len};
    uint32_t i, hi = 0;
    uint64_t u;
    int rc;

    /* Room for the ASCII units, written in place: the JDK's metadata
     * strings (every class and field name) are UTF-16 and nearly all
     * ASCII, thousands of them per metadata event. */
    if ((rc = buf_reserve(out, s->len)) != PC_OK) {
        return rc;
    }
    for (i = 0; i < s->len; i++) {
        if ((rc = jfr_int(&r, 2, &u)) != PC_OK) {
            return rc;
        }
        u &= 0xffff;
        if (u < 0x80 && hi == 0 && out->len < out->cap) {
            out->data[out->len++] = (uint8_t)u;
            continue;
        }
        if (u >= 0xdc00 && u < 0xe000 && hi != 0) {
            rc = put_utf8(out, 0x10000 + ((hi - 0xd800) << 10) +
                                   ((uint32_t)u - 0xdc00));
            hi = 0;
        } else {
            if (hi != 0 && (rc = put_utf8(out, 0xfffd)) != PC_OK) {
                return rc;
            }
            hi = 0;
            if (u >= 0xd800 && u < 0xdc00) {
                hi = (uint32_t)u;
                continue;
            }
            rc = put_utf8(out,
                          u >= 0xdc00 && u < 0xe000 ? 0xfffd : (uint32_t)u);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    return hi != 0 ? put_utf8(out, 0xfffd) : PC_OK;
}

static int pooled_string(struct jfr_chunk *c, const struct jfr_str *s,
                         int depth, struct buf *out)
{
    struct jfr_cur r = {c, 0, c->len};
    const struct jfr_class *k;
    struct jfr_str inner;
    int rc;

    if (c->string_cls < 0) {
        return jfr_fail(c, s->off, PC_ECORRUPT,
                        "string key %llu but no "
                        "java.lang.String class",
                        (unsigned long long)s->key);
    }
    rc = jfr_pool_locate(&r.c, c->classes[c->string_cls].id, s->key, &k,
                         &r.pos);
    r.end = r.c->len;
    c = r.c;
    if (rc == PC_ENOTFOUND) {
        return jfr_fail(c, 0, PC_ECORRUPT,
                        "string key %llu is in no "
                        "constant pool",
                        (unsigned long long)s->key);
    }
    if (rc == PC_OK) {
        rc = jfr_string(&r, &inner);
    }
    if (rc == PC_OK && inner.enc == 2) {
        /* A pooled string that is itself a key: one hop only. */
        return jfr_fail(c, r.pos, PC_ECORRUPT,
                        "string pool entry %llu "
                        "refers to the pool",
                        (unsigned long long)s->key);
    }
    return rc == PC_OK ? jfr_str_utf8(c, &inner, depth + 1, out) : rc;
}

int jfr_str_utf8(struct jfr_chunk *c, const struct jfr_str *s, int depth,
                 struct buf *out)
{
    uint32_t i;
    int rc;

    switch (s->enc) {
    case 2:
        if (depth > 0) {
            return jfr_fail(c, s->off, PC_ECORRUPT,
                            "pooled string refers "
                            "to the pool");
        }
        return pooled_string(c, s, depth, out);
    case 3:
        return buf_append(out, c->p + s->off, s->len);
    case 4:
        return utf16_to_utf8(c, s, out);
    case 5:
        for (i = 0; i < s->len; i++) {
            if ((rc = put_utf8(out, c->p[s->off + i])) != PC_OK) {
                return rc;
            }
        }
        return PC_OK;
    default:
        return PC_OK;
    }
}

static int read_prim(struct jfr_cur *r, uint8_t prim, struct jfr_val *v)
{
    uint64_t x;
    int rc;

    v->kind = JV_NUM;
    switch (prim) {
    case JP_BOOL:
    case JP_BYTE:
        rc = jfr_fixed(r, 1, &v->u);
        return rc;
    case JP_CHAR:
    case JP_SHORT:
        return jfr_int(r, 2, &v->u);
    case JP_INT:
        return jfr_int(r, 4, &v->u);
    case JP_LONG:
        return jfr_int(r, 8, &v->u);
    case JP_FLOAT:
        v->kind = JV_DBL;
        if ((rc = jfr_fixed(r, 4, &x)) == PC_OK) {
            uint32_t w = (uint32_t)x;
            float f;
            memcpy(&f, &w, sizeof(f));
            v->d = f;
        }
        return rc;
    case JP_DOUBLE:
        v->kind = JV_DBL;
        if ((rc = jfr_fixed(r, 8, &x)) == PC_OK) {
            memcpy(&v->d, &x, sizeof(v->d));
        }
        return rc;
    default:
        v->kind = JV_STR;
        return jfr_string(r, &v->s);
    }
}

static int read_field(struct jfr_cur *r, const struct jfr_field *f,
                      struct jfr_val *v, int depth);

/*
 * The fields of cls at r, each value into v[i] (NULL: skipped). The
 * position, the bounds and the field table are kept in locals: a stored
 * value (a uint8_t kind may alias anything, a uint64_t any size_t) would
 * otherwise force them to be loaded again for every field. A field of op
 * JO_NUM or JO_REF in a compressed chunk is one varint, read inline with
 * 9 bytes of chunk left; every other field, and the last bytes of a chunk,
 * take read_field and jfr_varint_slow, which check every byte.
 */
static int read_fields(struct jfr_cur *r, const struct jfr_class *cls,
                       struct jfr_val *v, uint32_t nv, int depth)
{
    const uint8_t *p = r->c->p;
    const struct jfr_field *fields = cls->fields;
    const uint32_t nf = cls->nfields;
    const size_t end = r->end;
    /* pos <= last9: 9 bytes readable at pos (none when the chunk is
     * shorter, which no real chunk is: its header alone is 68). */
    const int fast = r->c->compressed && r->c->len >= 9;
    const size_t last9 = fast ? r->c->len - 9 : 0;
    struct jfr_val tmp;
    size_t pos = r->pos;
    uint32_t i;
    int rc;

    for (i = 0; i < nf; i++) {
        const struct jfr_field *f = &fields[i];
        struct jfr_val *dst = i < nv ? &v[i] : &tmp;
        const uint8_t op = f->op;
        if (fast && op != JO_GENERIC && pos <= last9) {
            uint64_t x = p[pos];
            unsigned n = x < 0x80 ? 1 : jfr_varint9(p + pos, &x);
            if (n <= end - pos) {
                pos += n;
                dst->u = x;
                dst->kind = op == JO_REF ? JV_REF : JV_NUM;
                continue;
            }
        }
        r->pos = pos;
        if (fast && op != JO_GENERIC) {
            dst->kind = op == JO_REF ? JV_REF : JV_NUM;
            rc = jfr_varint_slow(r, &dst->u);
        } else {
            rc = read_field(r, f, dst, depth);
        }
        if (rc != PC_OK) {
            return rc;
        }
        pos = r->pos;
    }
    r->pos = pos;
    return PC_OK;
}

/* One value of class index cls (never an array) into v. */
static int read_one(struct jfr_cur *r, int32_t cls, int pool, int depth,
                    struct jfr_val *v)
{
    struct jfr_chunk *c = r->c;
    const struct jfr_class *k = &c->classes[cls];

    if (pool) {
        v->kind = JV_REF;
        return jfr_int(r, 8, &v->u);
    }
    if (k->prim != JP_STRUCT) {
        return read_prim(r, k->prim, v);
    }
    v->kind = JV_STRUCT;
    v->off = r->pos;
    if (k->zero) {
        return PC_OK;
    }
    if (depth >= (int)c->lim->max_nesting) {
        return jfr_fail(c, r->pos, PC_ETOOBIG,
                        "inline values nested deeper "
                        "than %u",
                        c->lim->max_nesting);
    }
    return read_fields(r, k, NULL, 0, depth + 1);
}

static int read_field(struct jfr_cur *r, const struct jfr_field *f,
                      struct jfr_val *v, int depth)
{
    struct jfr_val tmp;
    uint64_t n, i;
    size_t start = r->pos;
    int rc;

    if (!f->array) {
        return read_one(r, f->cls, f->pool, depth, v);
    }
    if ((rc = jfr_int(r, 4, &n)) != PC_OK) {
        return rc;
    }
    /* Every element takes a byte at least, except zero-size structs,
     * which cost nothing to skip: the count is bounded by the bytes. */
    if (n > r->end - r->pos) {
        return jfr_fail(r->c, start, PC_ECORRUPT,
                        "array of %llu elements "
                        "in %zu bytes",
                        (unsigned long long)n, r->end - r->pos);
    }
    v->kind = JV_ARRAY;
    v->u = n;
    v->off = r->pos;
    for (i = 0; i < n; i++) {
        if ((rc = read_one(r, f->cls, f->pool, depth, &tmp)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

int jfr_skip_value(struct jfr_cur *r, int32_t cls, int array, int pool,
                   int depth)
{
    struct jfr_field f;
    struct jfr_val v;

    memset(&f, 0, sizeof(f));
    f.cls = cls;
    f.array = (uint8_t)array;
    f.pool = (uint8_t)pool;
    return read_field(r, &f, &v, depth);
}

int jfr_read_fields(struct jfr_cur *r, const struct jfr_class *cls,
                    struct jfr_val *v, int depth)
{
    /* Only the first JFR_MAXV fields are kept. The slots past the class's
     * fields are left as they are: readers find a field through the
     * class's layout, which names only fields of the class (and below
     * JFR_MAXV), all of which are set here. */
    return read_fields(r, cls, v, JFR_MAXV, depth);
}
