/*
 * pb.h: protocol-buffers wire primitives shared by the hand-written pprof and
 * OTLP codecs. They are hand-written (not protobuf-c) because those two
 * formats are the hot path: protobuf-c allocates per message, these read
 * straight out of the input and write straight into one buffer.
 *
 * Reading: every function takes a cursor [*p, end) and never reads past end;
 * it returns PC_OK or PC_ETRUNC / PC_ECORRUPT.
 * Writing: appends to a struct buf; nested messages are written in place and
 * their length prefix is patched afterwards (pb_msg_begin / pb_msg_end).
 */
#ifndef PROFCOL_PB_H
#define PROFCOL_PB_H

#include <stdint.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"

enum pb_wire {
    PB_VARINT = 0,
    PB_I64 = 1,
    PB_LEN = 2,
    PB_SGROUP = 3,
    PB_EGROUP = 4,
    PB_I32 = 5,
};

/* ---- reading ---------------------------------------------------------- */

static inline int pb_read_varint(const uint8_t **p, const uint8_t *end,
                                 uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;
    unsigned shift = 0, i;

    /* Fast path: one byte, the common case for tags and small ints. */
    if (q < end && *q < 0x80) {
        *out = *q;
        *p = q + 1;
        return PC_OK;
    }
    /* Ten bytes left (the longest varint): no bounds check per byte, as
     * in the hot loops over packed ids and values. */
    if (end - q >= 10) {
        for (i = 0; i < 10; i++) {
            uint64_t b = q[i];
            v |= (b & 0x7f) << (7 * i);
            if (b < 0x80) {
                if (i == 9 && b > 1) {
                    return PC_ECORRUPT;
                }
                *out = v;
                *p = q + i + 1;
                return PC_OK;
            }
        }
        return PC_ECORRUPT;
    }
    while (q < end) {
        uint8_t b = *q++;
        if (shift == 63 && b > 1) {
            return PC_ECORRUPT;
        }
        v |= (uint64_t)(b & 0x7f) << shift;
        if (b < 0x80) {
            *out = v;
            *p = q;
            return PC_OK;
        }
        shift += 7;
        if (shift > 63) {
            return PC_ECORRUPT;
        }
    }
    return PC_ETRUNC;
}

static inline int pb_read_tag(const uint8_t **p, const uint8_t *end,
                              uint32_t *field, unsigned *wire)
{
    uint64_t t;
    int rc = pb_read_varint(p, end, &t);

    if (rc != PC_OK) {
        return rc;
    }
    if ((t >> 3) == 0 || (t >> 3) > 0x1fffffff) {
        return PC_ECORRUPT;
    }
    *field = (uint32_t)(t >> 3);
    *wire = (unsigned)(t & 7);
    return PC_OK;
}

/* A length-delimited field: [*start, *start + *len) inside the input. */
static inline int pb_read_len(const uint8_t **p, const uint8_t *end,
                              const uint8_t **start, size_t *len)
{
    uint64_t n;
    int rc = pb_read_varint(p, end, &n);

    if (rc != PC_OK) {
        return rc;
    }
    if (n > (uint64_t)(end - *p)) {
        return PC_ETRUNC;
    }
    *start = *p;
    *len = (size_t)n;
    *p += n;
    return PC_OK;
}

static inline int pb_read_fixed64(const uint8_t **p, const uint8_t *end,
                                  uint64_t *out)
{
    uint64_t v;

    if (end - *p < 8) {
        return PC_ETRUNC;
    }
    memcpy(&v, *p, 8); /* the wire is little-endian, like our targets */
    *out = v;
    *p += 8;
    return PC_OK;
}

static inline int pb_read_fixed32(const uint8_t **p, const uint8_t *end,
                                  uint32_t *out)
{
    uint32_t v;

    if (end - *p < 4) {
        return PC_ETRUNC;
    }
    memcpy(&v, *p, 4);
    *out = v;
    *p += 4;
    return PC_OK;
}

/* Skips one field of the given wire type (unknown fields are skipped). */
static inline int pb_skip(const uint8_t **p, const uint8_t *end, unsigned wire)
{
    uint64_t v;
    const uint8_t *s;
    size_t n;

    switch (wire) {
    case PB_VARINT:
        return pb_read_varint(p, end, &v);
    case PB_I64:
        if (end - *p < 8) {
            return PC_ETRUNC;
        }
        *p += 8;
        return PC_OK;
    case PB_LEN:
        return pb_read_len(p, end, &s, &n);
    case PB_I32:
        if (end - *p < 4) {
            return PC_ETRUNC;
        }
        *p += 4;
        return PC_OK;
    default:
        /* Groups are deprecated and absent from every format we read. */
        return PC_ECORRUPT;
    }
}

/* Number of varints in a packed run (for sizing before decoding): bytes
 * without the continuation bit, eight at a time. */
static inline size_t pb_count_varints(const uint8_t *p, const uint8_t *end)
{
    const uint64_t hi = 0x8080808080808080ULL;
    size_t n = 0;
    uint64_t w;

    while (end - p >= 8) {
        memcpy(&w, p, 8);
        /* one bit per terminating byte, summed by the multiply */
        n += (size_t)((((~w & hi) >> 7) * 0x0101010101010101ULL) >> 56);
        p += 8;
    }
    while (p < end) {
        n += (*p++ & 0x80) == 0;
    }
    return n;
}

/* ---- writing ---------------------------------------------------------- */

static inline size_t pb_varint_size(uint64_t v)
{
    size_t n = 1;

    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Writes v at dst (which has room for 10 bytes); returns bytes written. */
static inline size_t pb_encode_varint(uint8_t *dst, uint64_t v)
{
    size_t n = 0;

    while (v >= 0x80) {
        dst[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    dst[n++] = (uint8_t)v;
    return n;
}

/* The same for v < 2^28, without a branch per byte: the 4 bytes are
 * built in a word and all stored (dst has room for 4), so that a loop of
 * indices of mixed sizes does not mispredict every other length. */
static inline size_t pb_encode_varint28(uint8_t *dst, uint32_t v)
{
    uint32_t n = (31 - (uint32_t)__builtin_clz(v | 1)) / 7 + 1;
    uint32_t w = (v & 0x7f) | ((v << 1) & 0x7f00) | ((v << 2) & 0x7f0000) |
                 ((v << 3) & 0x7f000000);

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    w |= 0x808080u & ((1u << (8 * (n - 1))) - 1);
    memcpy(dst, &w, 4);
#else
    dst[0] = (uint8_t)(w | (n > 1 ? 0x80 : 0));
    dst[1] = (uint8_t)((w >> 8) | (n > 2 ? 0x80 : 0));
    dst[2] = (uint8_t)((w >> 16) | (n > 3 ? 0x80 : 0));
    dst[3] = (uint8_t)(w >> 24);
#endif
    return n;
}

static inline int pb_put_varint(struct buf *b, uint64_t v)
{
    int rc = buf_reserve(b, 10);

    if (rc != PC_OK) {
        return rc;
    }
    b->len += pb_encode_varint(b->data + b->len, v);
    return PC_OK;
}

static inline int pb_put_tag(struct buf *b, uint32_t field, unsigned wire)
{
    return pb_put_varint(b, ((uint64_t)field << 3) | wire);
}

/* field = varint value (written even when zero; callers skip zeros). */
static inline int pb_put_uint(struct buf *b, uint32_t field, uint64_t v)
{
    int rc = buf_reserve(b, 20);

    if (rc != PC_OK) {
        return rc;
    }
    b->len += pb_encode_varint(b->data + b->len, ((uint64_t)field << 3));
    b->len += pb_encode_varint(b->data + b->len, v);
    return PC_OK;
}

static inline int pb_put_int(struct buf *b, uint32_t field, int64_t v)
{
    return pb_put_uint(b, field, (uint64_t)v);
}

static inline int pb_put_fixed64(struct buf *b, uint32_t field, uint64_t v)
{
    int rc = buf_reserve(b, 18);

    if (rc != PC_OK) {
        return rc;
    }
    b->len += pb_encode_varint(b->data + b->len,
                               ((uint64_t)field << 3) | PB_I64);
    memcpy(b->data + b->len, &v, 8);
    b->len += 8;
    return PC_OK;
}

static inline int pb_put_bytes(struct buf *b, uint32_t field, const void *p,
                               size_t n)
{
    int rc = buf_reserve(b, 20 + n);

    if (rc != PC_OK) {
        return rc;
    }
    b->len += pb_encode_varint(b->data + b->len,
                               ((uint64_t)field << 3) | PB_LEN);
    b->len += pb_encode_varint(b->data + b->len, n);
    if (n != 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
    return PC_OK;
}

/*
 * Nested message: write the tag, reserve one length byte, write the body,
 * then pb_msg_end() fills the length, moving the body when the length needs
 * more than one byte. Bodies are usually short, so the move is rare and small.
 */
static inline int pb_msg_begin(struct buf *b, uint32_t field, size_t *mark)
{
    int rc;

    *mark = 0; /* defined even on failure, for the compiler's sake */
    rc = pb_put_tag(b, field, PB_LEN);

    if (rc == PC_OK) {
        rc = buf_reserve(b, 1);
    }
    if (rc != PC_OK) {
        return rc;
    }
    b->len += 1;
    *mark = b->len;
    return PC_OK;
}

static inline int pb_msg_end(struct buf *b, size_t mark)
{
    size_t body = b->len - mark;
    size_t lsz = pb_varint_size(body);
    int rc;

    if (lsz > 1) {
        rc = buf_reserve(b, lsz - 1);
        if (rc != PC_OK) {
            return rc;
        }
        memmove(b->data + mark + lsz - 1, b->data + mark, body);
        b->len += lsz - 1;
    }
    pb_encode_varint(b->data + mark - 1, body);
    return PC_OK;
}

#endif
