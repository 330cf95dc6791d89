/*
 * pm_snappy.c: the snappy block format, literals only (see pm_remote.h).
 *
 * A block is the uncompressed length as a varint, then elements. A literal
 * element's tag byte has 00 in its low bits; length-1 sits in the upper six
 * bits when below 60, otherwise 60..63 there say that 1..4 little-endian
 * bytes of length-1 follow. Literals are cut at 64 KiB, as snappy's own
 * encoder does.
 */
#include "exporters/profilemetrics/pm_remote.h"

#include "codec/pb.h"

#define PM_SNAPPY_LITERAL_MAX 65536

static int literal(const uint8_t *p, size_t n, struct buf *out)
{
    uint32_t m = (uint32_t)(n - 1);
    uint8_t tag[3];
    size_t nt;
    int rc;

    if (m < 60) {
        tag[0] = (uint8_t)(m << 2);
        nt = 1;
    } else if (m < 256) {
        tag[0] = 60 << 2;
        tag[1] = (uint8_t)m;
        nt = 2;
    } else {
        tag[0] = 61 << 2;
        tag[1] = (uint8_t)(m & 0xff);
        tag[2] = (uint8_t)(m >> 8);
        nt = 3;
    }
    rc = buf_append(out, tag, nt);
    return rc == PC_OK ? buf_append(out, p, n) : rc;
}

int pm_snappy_literal(const uint8_t *in, size_t len, struct buf *out)
{
    size_t off = 0;
    int rc;

    /* Snappy lengths are 32-bit. */
    if (len > UINT32_MAX) {
        return PC_ETOOBIG;
    }
    rc = pb_put_varint(out, len);
    while (rc == PC_OK && off < len) {
        size_t n = len - off < PM_SNAPPY_LITERAL_MAX ? len - off
                                                     : PM_SNAPPY_LITERAL_MAX;
        rc = literal(in + off, n, out);
        off += n;
    }
    return rc;
}
