/*
 * compress.h: whole-buffer gzip and zstd (and LZ4 frames, lz4.c), with a
 * cap on the output size so a decompression bomb fails with PC_ETOOBIG
 * instead of eating memory.
 *
 * gzip uses libdeflate (2-3x faster than zlib on whole buffers), and ISA-L
 * for compression at level 1; the zlib variants exist for the benchmark's
 * floor comparison.
 */
#ifndef PROFCOL_COMPRESS_H
#define PROFCOL_COMPRESS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* True when p starts with the gzip magic bytes 1f 8b. */
int gz_is_gzip(const uint8_t *p, size_t n);

/* True when p starts with the zstd frame magic. */
int zstd_is_zstd(const uint8_t *p, size_t n);

/*
 * Appends the decompressed bytes of a gzip stream (one or more members) to
 * out. Fails with PC_ETOOBIG past max_out bytes, PC_ECORRUPT on bad data.
 */
int gz_decompress(const uint8_t *in, size_t n, struct buf *out,
                  size_t max_out);

/*
 * Size of the last gzip member as its trailer states it (ISIZE, the size mod
 * 2^32), 0 when n is too short. For a single member under 4 GiB it is the
 * exact decompressed size; it is only a hint, the data may lie.
 */
size_t gz_isize(const uint8_t *in, size_t n);

/*
 * Decompresses a gzip stream (one or more members) into dst[0, cap) and sets
 * *out_len. PC_ETOOBIG when it does not fit, PC_ECORRUPT on bad data.
 */
int gz_decompress_into(const uint8_t *in, size_t n, uint8_t *dst, size_t cap,
                       size_t *out_len);

/* Appends a gzip stream of in at the given level (1..12, 6 default): level 1
 * is ISA-L's igzip level 1 (3.6x faster than libdeflate's level 1, 2 %
 * more bytes), levels 2..12 are libdeflate's. */
int gz_compress(const uint8_t *in, size_t n, struct buf *out, int level);

/* zlib (inflate/deflate) versions of the same, for comparison. */
int gz_decompress_zlib(const uint8_t *in, size_t n, struct buf *out,
                       size_t max_out);
int gz_compress_zlib(const uint8_t *in, size_t n, struct buf *out, int level);

int zstd_decompress(const uint8_t *in, size_t n, struct buf *out,
                    size_t max_out);

/* LZ4 frames (lz4.c, liblz4): true when p starts with their magic
 * 04 22 4d 18; decompression appends to out, one frame or several, with
 * the same cap as gz_decompress. PC_ECORRUPT on bad data or a checksum
 * that does not match, PC_EUNSUPPORTED for a frame needing a dictionary. */
int lz4_is_lz4(const uint8_t *p, size_t n);
int lz4_decompress(const uint8_t *in, size_t n, struct buf *out,
                   size_t max_out);
int zstd_compress(const uint8_t *in, size_t n, struct buf *out, int level);

#endif
