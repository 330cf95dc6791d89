/* compress.c: gzip (libdeflate, ISA-L, zlib) and zstd over whole buffers. */
#include "codec/compress.h"

#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "core/err.h"

int gz_is_gzip(const uint8_t *p, size_t n)
{
    return n >= 2 && p[0] == 0x1f && p[1] == 0x8b;
}

int zstd_is_zstd(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f &&
           p[3] == 0xfd;
}

/*
 * libdeflate (de)compressors are not thread-safe and cost an allocation of
 * hundreds of KiB each, so every thread keeps one decompressor and one
 * compressor (for the last level used). A thread-exit destructor frees them,
 * so exporter and receiver threads that come and go do not leak.
 */
struct gz_tls {
    struct libdeflate_decompressor *dec;
    struct libdeflate_compressor *comp;
    int comp_level;
    uint8_t *isal_buf; /* igzip level 1's hash tables, ISAL_DEF_LVL1_DEFAULT */
};

static pthread_key_t gz_key;
static pthread_once_t gz_once = PTHREAD_ONCE_INIT;

static void gz_tls_free(void *p)
{
    struct gz_tls *t = p;

    if (t->dec != NULL) {
        libdeflate_free_decompressor(t->dec);
    }
    if (t->comp != NULL) {
        libdeflate_free_compressor(t->comp);
    }
    free(t->isal_buf);
    free(t);
}

static void gz_key_init(void)
{
    (void)pthread_key_create(&gz_key, gz_tls_free);
}

static struct gz_tls *gz_tls(void)
{
    struct gz_tls *t;

    pthread_once(&gz_once, gz_key_init);
    t = pthread_getspecific(gz_key);
    if (t == NULL) {
        t = calloc(1, sizeof(*t));
        if (t != NULL && pthread_setspecific(gz_key, t) != 0) {
            free(t);
            t = NULL;
        }
    }
    return t;
}

static struct libdeflate_decompressor *decompressor(void)
{
    struct gz_tls *t = gz_tls();

    if (t == NULL) {
        return NULL;
    }
    if (t->dec == NULL) {
        t->dec = libdeflate_alloc_decompressor();
    }
    return t->dec;
}

static struct libdeflate_compressor *compressor(int level)
{
    struct gz_tls *t = gz_tls();

    if (t == NULL) {
        return NULL;
    }
    if (t->comp != NULL && t->comp_level != level) {
        libdeflate_free_compressor(t->comp);
        t->comp = NULL;
    }
    if (t->comp == NULL) {
        t->comp = libdeflate_alloc_compressor(level);
        t->comp_level = level;
    }
    return t->comp;
}

/* Decompresses one member starting at in; sets *used to the bytes eaten. */
static int gz_member(struct libdeflate_decompressor *d, const uint8_t *in,
                     size_t n, struct buf *out, size_t max_out, size_t *used)
{
    uint32_t isize = 0;
    size_t guess, got = 0;
    enum libdeflate_result r;
    int rc;

    /* The trailer's ISIZE is the member's size mod 2^32: a good first guess
     * for a single member, wrong only past 4 GiB or for later members. */
    if (n >= 18) {
        memcpy(&isize, in + n - 4, 4);
    }
    guess = isize != 0 ? isize : n * 4;
    for (;;) {
        size_t room = max_out - out->len;
        if (guess > room) {
            guess = room;
        }
        rc = buf_reserve(out, guess);
        if (rc != PC_OK) {
            return rc == PC_ETOOBIG ? PC_ETOOBIG : rc;
        }
        r = libdeflate_gzip_decompress_ex(d, in, n, out->data + out->len,
                                          out->cap - out->len, used, &got);
        if (r == LIBDEFLATE_SUCCESS) {
            if (got > room) {
                return PC_ETOOBIG;
            }
            out->len += got;
            return PC_OK;
        }
        if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
            return PC_ECORRUPT;
        }
        if (out->cap - out->len >= room) {
            return PC_ETOOBIG;
        }
        guess = (out->cap - out->len) * 2 + 4096;
    }
}

int gz_decompress(const uint8_t *in, size_t n, struct buf *out, size_t max_out)
{
    struct libdeflate_decompressor *d = decompressor();
    size_t used;
    int rc;

    if (d == NULL) {
        return PC_ENOMEM;
    }
    if (max_out == 0 || max_out > out->max) {
        max_out = out->max;
    }
    if (!gz_is_gzip(in, n)) {
        return PC_EFORMAT;
    }
    while (n > 0) {
        rc = gz_member(d, in, n, out, max_out, &used);
        if (rc != PC_OK) {
            return rc;
        }
        in += used;
        n -= used;
        /* Trailing zero padding after the last member is tolerated. */
        if (n > 0 && !gz_is_gzip(in, n)) {
            break;
        }
    }
    return PC_OK;
}

size_t gz_isize(const uint8_t *in, size_t n)
{
    uint32_t isize;

    /* 10-byte header, empty deflate block, 8-byte trailer at the least. */
    if (n < 18) {
        return 0;
    }
    memcpy(&isize, in + n - 4, 4); /* little-endian, like our targets */
    return isize;
}

int gz_decompress_into(const uint8_t *in, size_t n, uint8_t *dst, size_t cap,
                       size_t *out_len)
{
    struct libdeflate_decompressor *d = decompressor();
    size_t used, got, len = 0;
    enum libdeflate_result r;

    if (d == NULL) {
        return PC_ENOMEM;
    }
    if (!gz_is_gzip(in, n)) {
        return PC_EFORMAT;
    }
    while (n > 0) {
        r = libdeflate_gzip_decompress_ex(d, in, n, dst + len, cap - len,
                                          &used, &got);
        if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
            return PC_ETOOBIG;
        }
        if (r != LIBDEFLATE_SUCCESS) {
            return PC_ECORRUPT;
        }
        len += got;
        in += used;
        n -= used;
        /* Trailing zero padding after the last member is tolerated. */
        if (n > 0 && !gz_is_gzip(in, n)) {
            break;
        }
    }
    *out_len = len;
    return PC_OK;
}

/*
 * Level 1 with ISA-L's igzip: what the exporters compress with by default
 * (compression_params.level 1). On an 18 MB OTLP request igzip level 1
 * takes 47 ms where libdeflate's level 1 takes 169 ms, for 1.7 % more
 * bytes; that compression was half the CPU of relaying a large plain
 * request. PC_EAGAIN when the input is too large for igzip's 32-bit
 * counters (the caller uses libdeflate).
 */
static int gz_compress_isal(const uint8_t *in, size_t n, struct buf *out)
{
    struct gz_tls *t = gz_tls();
    struct isal_zstream s;
    size_t start = out->len, room;
    int rc = PC_OK;

    if (n > UINT32_MAX / 2) {
        return PC_EAGAIN;
    }
    if (t == NULL || (t->isal_buf == NULL &&
                      (t->isal_buf = malloc(ISAL_DEF_LVL1_DEFAULT)) == NULL)) {
        return PC_ENOMEM;
    }
    isal_deflate_init(&s);
    s.gzip_flag = IGZIP_GZIP;
    s.level = 1;
    s.level_buf = t->isal_buf;
    s.level_buf_size = ISAL_DEF_LVL1_DEFAULT;
    s.end_of_stream = 1;
    s.flush = NO_FLUSH;
    s.next_in = (uint8_t *)(uintptr_t)in;
    s.avail_in = (uint32_t)n;
    /* Incompressible input takes stored blocks: a little more than n. */
    room = n + n / 16 + 1024;
    while (s.internal_state.state != ZSTATE_END) {
        rc = buf_reserve(out, room);
        if (rc != PC_OK) {
            break;
        }
        room = out->cap - out->len > UINT32_MAX ? UINT32_MAX
                                                : out->cap - out->len;
        s.next_out = out->data + out->len;
        s.avail_out = (uint32_t)room;
        if (isal_deflate(&s) != COMP_OK) {
            rc = PC_EIO;
            break;
        }
        out->len += room - s.avail_out;
        room = room / 2 + 1024; /* ran out of room: grow */
    }
    if (rc != PC_OK) {
        out->len = start;
    }
    return rc;
}

int gz_compress(const uint8_t *in, size_t n, struct buf *out, int level)
{
    struct libdeflate_compressor *c;
    size_t bound, got;
    int rc;

    if (level < 1 || level > 12) {
        level = 6;
    }
    if (level == 1 && (rc = gz_compress_isal(in, n, out)) != PC_EAGAIN) {
        return rc;
    }
    c = compressor(level);
    if (c == NULL) {
        return PC_ENOMEM;
    }
    bound = libdeflate_gzip_compress_bound(c, n);
    rc = buf_reserve(out, bound);
    if (rc == PC_OK) {
        got = libdeflate_gzip_compress(c, in, n, out->data + out->len,
                                       out->cap - out->len);
        if (got == 0) {
            rc = PC_EIO;
        } else {
            out->len += got;
        }
    }
    return rc;
}

int gz_decompress_zlib(const uint8_t *in, size_t n, struct buf *out,
                       size_t max_out)
{
    z_stream zs;
    int zrc, rc = PC_OK;

    if (max_out == 0 || max_out > out->max) {
        max_out = out->max;
    }
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return PC_ENOMEM;
    }
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    do {
        rc = buf_reserve(out, n * 2 + 4096 > max_out - out->len
                                  ? max_out - out->len
                                  : n * 2 + 4096);
        if (rc != PC_OK || out->cap == out->len) {
            rc = PC_ETOOBIG;
            break;
        }
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)(out->cap - out->len);
        zrc = inflate(&zs, Z_NO_FLUSH);
        out->len = out->cap - zs.avail_out;
        if (zrc == Z_STREAM_END) {
            if (zs.avail_in > 0 && gz_is_gzip(zs.next_in, zs.avail_in)) {
                inflateReset(&zs);
                zrc = Z_OK;
                continue;
            }
            break;
        }
        if (zrc != Z_OK && zrc != Z_BUF_ERROR) {
            rc = PC_ECORRUPT;
            break;
        }
        if (zrc == Z_BUF_ERROR && zs.avail_in == 0) {
            rc = PC_ETRUNC;
            break;
        }
    } while (1);
    inflateEnd(&zs);
    return rc;
}

int gz_compress_zlib(const uint8_t *in, size_t n, struct buf *out, int level)
{
    z_stream zs;
    int rc;

    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK) {
        return PC_ENOMEM;
    }
    rc = buf_reserve(out, deflateBound(&zs, n));
    if (rc == PC_OK) {
        zs.next_in = (Bytef *)(uintptr_t)in;
        zs.avail_in = (uInt)n;
        zs.next_out = out->data + out->len;
        zs.avail_out = (uInt)(out->cap - out->len);
        rc = deflate(&zs, Z_FINISH) == Z_STREAM_END ? PC_OK : PC_EIO;
        out->len = out->cap - zs.avail_out;
    }
    deflateEnd(&zs);
    return rc;
}

int zstd_decompress(const uint8_t *in, size_t n, struct buf *out,
                    size_t max_out)
{
    ZSTD_DStream *ds;
    ZSTD_inBuffer ib = {in, n, 0};
    size_t zr = 1;
    int rc = PC_OK;

    if (max_out == 0 || max_out > out->max) {
        max_out = out->max;
    }
    ds = ZSTD_createDStream();
    if (ds == NULL) {
        return PC_ENOMEM;
    }
    /* Streaming, so a frame that lies about its content size is still
     * bounded by max_out. */
    while (ib.pos < ib.size || zr != 0) {
        size_t room = max_out - out->len;
        ZSTD_outBuffer ob;
        if (room == 0) {
            rc = PC_ETOOBIG;
            break;
        }
        rc = buf_reserve(out, room < 65536 ? room : 65536);
        if (rc != PC_OK) {
            break;
        }
        ob.dst = out->data + out->len;
        ob.size = out->cap - out->len < room ? out->cap - out->len : room;
        ob.pos = 0;
        zr = ZSTD_decompressStream(ds, &ob, &ib);
        out->len += ob.pos;
        if (ZSTD_isError(zr)) {
            rc = PC_ECORRUPT;
            break;
        }
        if (ib.pos == ib.size && zr != 0 && ob.pos < ob.size) {
            rc = PC_ETRUNC;
            break;
        }
    }
    ZSTD_freeDStream(ds);
    return rc;
}

int zstd_compress(const uint8_t *in, size_t n, struct buf *out, int level)
{
    size_t bound = ZSTD_compressBound(n), got;
    int rc = buf_reserve(out, bound);

    if (rc != PC_OK) {
        return rc;
    }
    got = ZSTD_compress(out->data + out->len, out->cap - out->len, in, n,
                        level);
    if (ZSTD_isError(got)) {
        return PC_EIO;
    }
    out->len += got;
    return PC_OK;
}
