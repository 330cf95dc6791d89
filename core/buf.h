/*
 * buf.h: growable byte buffer with a hard maximum (curl's dynbuf idea).
 *
 * The buffer owns its memory (malloc). buf_take() hands the memory to the
 * caller, who then frees it with free().
 */
#ifndef PROFCOL_BUF_H
#define PROFCOL_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* appends past this fail with PC_ETOOBIG */
};

#define BUF_MAX_DEFAULT ((size_t)1 << 30)

void buf_init(struct buf *b, size_t max);

/* A buffer over the caller's memory mem[0..cap): it never grows (max is
 * cap), so appends past cap fail with PC_ETOOBIG. Empty; never buf_free()
 * or buf_take() it. */
static inline void buf_init_fixed(struct buf *b, void *mem, size_t cap)
{
    b->data = mem;
    b->len = 0;
    b->cap = cap;
    b->max = cap;
}

/* Makes room for n more bytes (the slow path of buf_reserve: grows). */
int buf_grow(struct buf *b, size_t n);

/* Makes room for n more bytes. Inline: the encoders call it per field, and
 * almost always the room is already there. len <= cap <= max holds, so
 * fitting in cap also means fitting under max. */
static inline int buf_reserve(struct buf *b, size_t n)
{
    if (__builtin_expect(n <= b->cap - b->len, 1)) {
        return 0; /* PC_OK */
    }
    return buf_grow(b, n);
}

int buf_append(struct buf *b, const void *p, size_t n);
int buf_append_str(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int buf_putc(struct buf *b, uint8_t c);

/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);

/* Releases the memory. */
void buf_free(struct buf *b);

/* Gives the memory to the caller; the buffer is empty afterwards. */
uint8_t *buf_take(struct buf *b, size_t *len);

#endif
