/* buf.c: bounded growable buffer (see buf.h). */
#include "core/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

void buf_init(struct buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max != 0 ? max : BUF_MAX_DEFAULT;
}

int buf_grow(struct buf *b, size_t n)
{
    size_t want, cap;
    uint8_t *p;

    if (n > b->max || b->len > b->max - n) {
        return PC_ETOOBIG;
    }
    want = b->len + n;
    if (want <= b->cap) {
        return PC_OK;
    }
    cap = b->cap != 0 ? b->cap : 256;
    while (cap < want) {
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    }
    if (cap > b->max) {
        cap = b->max;
    }
    p = realloc(b->data, cap);
    if (p == NULL) {
        return PC_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return PC_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc != PC_OK) {
        return rc;
    }
    if (n != 0) {
        memcpy(b->data + b->len, p, n);
        b->len += n;
    }
    return PC_OK;
}

int buf_append_str(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, uint8_t c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return PC_EINVAL;
    }
    rc = buf_reserve(b, (size_t)n + 1);
    if (rc != PC_OK) {
        return rc;
    }
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return PC_OK;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

uint8_t *buf_take(struct buf *b, size_t *len)
{
    uint8_t *p = b->data;

    if (len != NULL) {
        *len = b->len;
    }
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return p;
}
