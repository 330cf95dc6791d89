/*
 * jfr_reader.c: JFR errors, integers, chunk headers and event framing.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "codec/jfr/jfr_int.h"

void jfr_limits_default(struct jfr_limits *l)
{
    l->max_chunks = 4096;
    l->max_classes = 16384;
    l->max_fields = 1024;
    l->max_meta_strings = 1u << 20;
    l->max_pool_entries = 8u << 20;
    l->max_checkpoints = 1u << 20;
    l->max_string_len = 1u << 20;
    l->max_stack_depth = 8192;
    l->max_nesting = 32;
    l->max_alloc = (size_t)1 << 30;
}

int jfr_is_jfr(const uint8_t *data, size_t len)
{
    return len >= JFR_MAGIC_LEN && memcmp(data, "FLR\0", JFR_MAGIC_LEN) == 0;
}

int jfr_fail(const struct jfr_chunk *c, size_t pos, int code, const char *fmt,
             ...)
{
    char msg[200];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return err_set(c->e, code, "jfr: chunk %u at byte %zu: %s", c->index,
                   c->file_off + pos, msg);
}

int jfr_u8(struct jfr_cur *r, uint8_t *v)
{
    if (r->pos >= r->end) {
        return jfr_fail(r->c, r->pos, PC_ETRUNC, "truncated value");
    }
    *v = r->c->p[r->pos++];
    return PC_OK;
}

int jfr_varint_slow(struct jfr_cur *r, uint64_t *v)
{
    const uint8_t *p = r->c->p;
    uint64_t x = 0;
    unsigned i;

    for (i = 0; i < 9; i++) {
        uint8_t b;
        if (r->pos >= r->end) {
            return jfr_fail(r->c, r->pos, PC_ETRUNC, "truncated varint");
        }
        b = p[r->pos++];
        if (i == 8) {
            x |= (uint64_t)b << 56;
            break;
        }
        x |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            break;
        }
    }
    *v = x;
    return PC_OK;
}

int jfr_varint_long(struct jfr_cur *r, uint64_t *v)
{
    const uint8_t *p = r->c->p + r->pos;
    uint64_t x;
    unsigned n;

    /* Two bytes (jfr_varint took one-byte ones): metadata string indexes,
     * event sizes, most pool keys. p[0] >= 0x80 here when pos < end. */
    if (r->pos < r->end && r->end - r->pos >= 2 && p[1] < 0x80) {
        *v = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
        r->pos += 2;
        return PC_OK;
    }

    /* The chunk's end, not r's: an event is often shorter than 9 bytes
     * from its last integer. Past r->end, the slow path says where. */
    if (r->c->len - r->pos < 9) {
        return jfr_varint_slow(r, v);
    }
    n = jfr_varint9(p, &x);
    if (n > r->end - r->pos) {
        return jfr_varint_slow(r, v); /* runs past r: the error */
    }
    r->pos += n;
    *v = x;
    return PC_OK;
}

int jfr_fixed(struct jfr_cur *r, unsigned size, uint64_t *v)
{
    uint64_t x = 0;
    unsigned i;

    if (r->end - r->pos < size) {
        return jfr_fail(r->c, r->pos, PC_ETRUNC, "truncated %u-byte value",
                        size);
    }
    for (i = 0; i < size; i++) {
        x = (x << 8) | r->c->p[r->pos++];
    }
    *v = x;
    return PC_OK;
}

static uint64_t be64(const uint8_t *p)
{
    uint64_t x = 0;
    int i;

    for (i = 0; i < 8; i++) {
        x = (x << 8) | p[i];
    }
    return x;
}

static int header_check(struct jfr_chunk *c, size_t avail)
{
    const uint8_t *h = c->p;
    uint64_t size = be64(h + 8);

    if (size < JFR_HEADER_LEN) {
        return jfr_fail(c, 8, PC_ECORRUPT,
                        "chunk size %llu is smaller "
                        "than the header",
                        (unsigned long long)size);
    }
    if (size > avail) {
        return jfr_fail(c, 8, PC_ETRUNC,
                        "truncated chunk: size %llu but "
                        "%zu bytes left",
                        (unsigned long long)size, avail);
    }
    c->len = (size_t)size;
    c->cp_off = be64(h + 16);
    c->meta_off = be64(h + 24);
    if (c->meta_off < JFR_HEADER_LEN || c->meta_off >= size) {
        return jfr_fail(c, 24, PC_ECORRUPT,
                        "metadata offset %llu outside "
                        "the chunk",
                        (unsigned long long)c->meta_off);
    }
    if (c->cp_off != 0 && (c->cp_off < JFR_HEADER_LEN || c->cp_off >= size)) {
        return jfr_fail(c, 16, PC_ECORRUPT,
                        "constant-pool offset %llu "
                        "outside the chunk",
                        (unsigned long long)c->cp_off);
    }
    c->start_nanos = be64(h + 32);
    c->duration_nanos = be64(h + 40);
    c->start_ticks = be64(h + 48);
    c->ticks_per_sec = be64(h + 56);
    if (c->ticks_per_sec == 0) {
        return jfr_fail(c, 56, PC_ECORRUPT, "ticks per second is 0");
    }
    /* flags: bit0 compressed integers (async-profiler writes a u32
     * "features" = 1 over bytes 64..67, which reads the same). */
    c->compressed = (h[67] & 1) != 0;
    return PC_OK;
}

int jfr_chunk_open(struct jfr_chunk *c, const uint8_t *file, size_t flen,
                   size_t off, uint32_t index, const struct jfr_limits *lim,
                   struct errctx *e)
{
    memset(c, 0, sizeof(*c));
    c->p = file + off;
    c->file_off = off;
    c->index = index;
    c->lim = lim;
    c->e = e;
    c->string_cls = -1;
    arena_init(&c->arena, lim->max_alloc);
    if (flen - off < JFR_HEADER_LEN) {
        return jfr_fail(c, 0, PC_ETRUNC,
                        "truncated chunk: header needs "
                        "%d bytes, %zu left",
                        JFR_HEADER_LEN, flen - off);
    }
    if (memcmp(c->p, "FLR\0", JFR_MAGIC_LEN) != 0) {
        return jfr_fail(c, 0, PC_ECORRUPT,
                        "bad magic %02x %02x %02x %02x "
                        "(want FLR\\0)",
                        c->p[0], c->p[1], c->p[2], c->p[3]);
    }
    c->major = (uint16_t)(c->p[4] << 8 | c->p[5]);
    c->minor = (uint16_t)(c->p[6] << 8 | c->p[7]);
    if (c->major != 2) {
        return jfr_fail(c, 4, PC_EUNSUPPORTED,
                        "unknown major version %u "
                        "(only 2 is read)",
                        c->major);
    }
    return header_check(c, flen - off);
}

int jfr_chunk_load(struct jfr_chunk *c)
{
    int rc = jfr_meta_parse(c);

    if (rc == PC_OK) {
        rc = jfr_pools_load(c);
    }
    return rc;
}

void jfr_chunk_close(struct jfr_chunk *c)
{
    jfr_meta_release(c->prev_meta);
    c->prev_meta = NULL;
    jfr_meta_release(c->meta);
    c->meta = NULL;
    itab_free(&c->pool_idx);
    arena_free_all(&c->arena);
}

int jfr_next_event(struct jfr_chunk *c, size_t *pos, struct jfr_event *ev)
{
    struct jfr_cur r = {c, *pos, c->len};
    uint64_t size;
    int rc;

    if (*pos >= c->len) {
        return 0;
    }
    ev->start = *pos;
    if ((rc = jfr_int(&r, 4, &size)) != PC_OK) {
        return rc;
    }
    if (size == 0) {
        return jfr_fail(c, *pos, PC_ECORRUPT, "event of size 0");
    }
    if (size > c->len - *pos) {
        return jfr_fail(c, *pos, PC_ETRUNC,
                        "event of %llu bytes passes the "
                        "chunk end (%zu bytes left)",
                        (unsigned long long)size, c->len - *pos);
    }
    r.end = *pos + (size_t)size;
    if ((rc = jfr_int(&r, 8, &ev->type)) != PC_OK) {
        return rc;
    }
    ev->body = r.pos;
    ev->end = r.end;
    ev->cls = ev->type > JFR_EV_CHECKPOINT ? jfr_class_by_id(c, ev->type)
                                           : NULL;
    *pos = r.end;
    return 1;
}
