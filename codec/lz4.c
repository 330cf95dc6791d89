/*
 * lz4.c: the LZ4 frame format (what `lz4`, libdatadog's older exporter and
 * dd-trace-java send), decoded with liblz4's frame API (LZ4F). The output
 * grows in bounded steps and never past the cap: the size a frame header
 * states is not trusted, so a bomb stops at the cap like gzip and zstd do.
 * liblz4 verifies the header, block and content checksums itself; its own
 * buffers are bounded by the largest block size (4 MiB), whatever the frame.
 */
#include <lz4frame.h>
#include <string.h>

#include "codec/compress.h"
#include "core/assert.h"
#include "core/err.h"

/* Output is reserved in steps of this size (as zstd_decompress does). */
#define LZ4_OUT_STEP ((size_t)1 << 16)

int lz4_is_lz4(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] == 0x04 && p[1] == 0x22 && p[2] == 0x4d &&
           p[3] == 0x18;
}

/* Reads the header of the frame at in[*pos] (moving *pos past it): a
 * frame needing a preset dictionary is refused, there is none to give. */
static int lz4_frame_start(LZ4F_dctx *dctx, const uint8_t *in, size_t n,
                           size_t *pos)
{
    LZ4F_frameInfo_t info;
    size_t len = n - *pos;

    if (LZ4F_isError(LZ4F_getFrameInfo(dctx, &info, in + *pos, &len))) {
        return PC_ECORRUPT;
    }
    *pos += len;
    return info.dictID != 0 ? PC_EUNSUPPORTED : PC_OK;
}

/* Decodes in[0, n) (frames one after the other) into out, at most max_out
 * bytes in all. */
static int lz4_frames(LZ4F_dctx *dctx, const uint8_t *in, size_t n,
                      struct buf *out, size_t max_out)
{
    size_t pos = 0, hint = 0;
    uint8_t none[1];
    int rc;

    for (;;) {
        size_t room = max_out - out->len, src_len, dst_len;
        uint8_t *dst = none;
        if (hint == 0) { /* between frames */
            if (pos == n) {
                return PC_OK;
            }
            if ((rc = lz4_frame_start(dctx, in, n, &pos)) != PC_OK) {
                return rc;
            }
        }
        if (room > 0) {
            rc = buf_reserve(out, room < LZ4_OUT_STEP ? room : LZ4_OUT_STEP);
            if (rc != PC_OK) {
                return rc;
            }
            dst = out->data + out->len;
        }
        dst_len = room < out->cap - out->len ? room : out->cap - out->len;
        src_len = n - pos;
        hint = LZ4F_decompress(dctx, dst, &dst_len, in + pos, &src_len, NULL);
        if (LZ4F_isError(hint)) {
            return PC_ECORRUPT;
        }
        PC_ASSERT(dst_len <= room && src_len <= n - pos);
        out->len += dst_len;
        pos += src_len;
        if (hint != 0 && dst_len == 0 && src_len == 0) {
            /* No progress: output is at the cap, or the input ended
             * inside a frame. */
            return room == 0 ? PC_ETOOBIG : PC_ECORRUPT;
        }
    }
}

int lz4_decompress(const uint8_t *in, size_t n, struct buf *out,
                   size_t max_out)
{
    LZ4F_dctx *dctx = NULL;
    size_t saved_max;
    int rc;

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
    if (LZ4F_isError(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION))) {
        return PC_ENOMEM;
    }
    /* The buffer may not even grow past the cap (buf_grow doubles its
     * capacity, up to max): a bomb costs at most max_out bytes. */
    saved_max = out->max;
    out->max = max_out;
    rc = lz4_frames(dctx, in, n, out, max_out);
    out->max = saved_max;
    LZ4F_freeDecompressionContext(dctx);
    return rc;
}
