/*
 * lz4.c: the LZ4 frame format (lz4 v1.9 frames: what `lz4`, libdatadog's
 * older exporter and dd-trace-java send), decoded by hand into a bounded
 * buffer: no library is linked for a format only some uploads use. Every
 * length is checked against the input and the output cap before a byte is
 * copied; checksums (xxh32) are verified when the frame carries them.
 */
#include <string.h>
#include <xxhash.h>

#include "codec/compress.h"
#include "core/err.h"

#define LZ4_MAGIC 0x184D2204u

int lz4_is_lz4(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] == 0x04 && p[1] == 0x22 && p[2] == 0x4d &&
           p[3] == 0x18;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

/* A length continued by 255-valued bytes. */
static int more_len(const uint8_t **p, const uint8_t *end, size_t *len)
{
    uint8_t b;

    do {
        if (*p >= end) {
            return PC_ECORRUPT;
        }
        b = *(*p)++;
        if (*len > SIZE_MAX / 2) {
            return PC_ECORRUPT;
        }
        *len += b;
    } while (b == 255);
    return PC_OK;
}

/* Appends n bytes at p to out unless out would pass limit. */
static int put(struct buf *out, const uint8_t *p, size_t n, size_t limit)
{
    if (n > limit - out->len) {
        return PC_ETOOBIG;
    }
    return buf_append(out, p, n);
}

/* One compressed block appended to out (at most limit bytes in all);
 * matches may reach back into what earlier blocks wrote (linked blocks),
 * never before out's start. */
static int block(const uint8_t *p, size_t n, struct buf *out, size_t limit)
{
    const uint8_t *end = p + n;
    int rc;

    while (p < end) {
        uint8_t token = *p++;
        size_t lit = token >> 4, mlen = token & 15, off, i, at;
        if (lit == 15 && (rc = more_len(&p, end, &lit)) != PC_OK) {
            return rc;
        }
        if (lit > (size_t)(end - p)) {
            return PC_ECORRUPT;
        }
        if ((rc = put(out, p, lit, limit)) != PC_OK) {
            return rc;
        }
        p += lit;
        if (p == end) {
            return PC_OK; /* the last sequence has literals only */
        }
        if (end - p < 2) {
            return PC_ECORRUPT;
        }
        off = (size_t)p[0] | (size_t)p[1] << 8;
        p += 2;
        if (mlen == 15 && (rc = more_len(&p, end, &mlen)) != PC_OK) {
            return rc;
        }
        mlen += 4;
        if (off == 0 || off > out->len) {
            return PC_ECORRUPT;
        }
        if (mlen > limit - out->len) {
            return PC_ETOOBIG;
        }
        if ((rc = buf_reserve(out, mlen)) != PC_OK) {
            return rc;
        }
        /* Byte by byte: a match may overlap what it writes. */
        at = out->len - off;
        for (i = 0; i < mlen; i++) {
            out->data[out->len + i] = out->data[at + i];
        }
        out->len += mlen;
    }
    return PC_OK;
}

/* The frame header; sets the flags and moves p past it. */
static int frame_header(const uint8_t **p, const uint8_t *end, int *bsum,
                        int *csum)
{
    const uint8_t *h = *p;
    size_t hlen = 2;
    uint8_t flg;

    if (end - h < 7 || le32(h) != LZ4_MAGIC) {
        return PC_ECORRUPT;
    }
    h += 4;
    flg = h[0];
    if ((flg >> 6) != 1 || (flg & 2) != 0 || (h[1] & 0x8f) != 0) {
        return PC_ECORRUPT; /* version 01, reserved bits zero */
    }
    hlen += (flg & 8) ? 8 : 0; /* content size */
    hlen += (flg & 1) ? 4 : 0; /* dictionary id */
    if ((size_t)(end - h) < hlen + 1 ||
        ((XXH32(h, hlen, 0) >> 8) & 0xff) != h[hlen]) {
        return PC_ECORRUPT;
    }
    if (flg & 1) {
        return PC_EUNSUPPORTED; /* a preset dictionary we do not have */
    }
    *bsum = (flg >> 4) & 1;
    *csum = (flg >> 2) & 1;
    *p = h + hlen + 1;
    return PC_OK;
}

/* One frame from *p, appended to out. */
static int frame(const uint8_t **pp, const uint8_t *end, struct buf *out,
                 size_t limit)
{
    const uint8_t *p = *pp;
    size_t start = out->len;
    int bsum, csum, rc;

    if ((rc = frame_header(&p, end, &bsum, &csum)) != PC_OK) {
        return rc;
    }
    for (;;) {
        uint32_t sz;
        if (end - p < 4) {
            return PC_ECORRUPT;
        }
        sz = le32(p);
        p += 4;
        if (sz == 0) {
            break; /* end mark */
        }
        if ((sz & 0x7fffffffu) > (size_t)(end - p) - (bsum ? 4 : 0) ||
            (size_t)(end - p) < (bsum ? 4u : 0u)) {
            return PC_ECORRUPT;
        }
        if (bsum &&
            XXH32(p, sz & 0x7fffffffu, 0) != le32(p + (sz & 0x7fffffffu))) {
            return PC_ECORRUPT;
        }
        rc = (sz & 0x80000000u) ? put(out, p, sz & 0x7fffffffu, limit)
                                : block(p, sz, out, limit);
        if (rc != PC_OK) {
            return rc;
        }
        p += (sz & 0x7fffffffu) + (bsum ? 4 : 0);
    }
    if (csum) {
        /* An empty frame may leave out without any memory yet. */
        const void *from = out->len > start ? (const void *)(out->data + start)
                                            : (const void *)"";
        if (end - p < 4 || XXH32(from, out->len - start, 0) != le32(p)) {
            return PC_ECORRUPT;
        }
        p += 4;
    }
    *pp = p;
    return PC_OK;
}

int lz4_decompress(const uint8_t *in, size_t n, struct buf *out,
                   size_t max_out)
{
    const uint8_t *p = in, *end = in + n;
    int rc = PC_OK;

    if (!lz4_is_lz4(in, n)) {
        return PC_EFORMAT;
    }
    /* As gz_decompress: max_out caps out's whole length. */
    if (max_out == 0 || max_out > out->max) {
        max_out = out->max;
    }
    if (out->len > max_out) {
        return PC_ETOOBIG;
    }
    /* Frames may follow each other, as with gzip members. */
    while (rc == PC_OK && p < end) {
        rc = frame(&p, end, out, max_out);
    }
    return rc;
}
