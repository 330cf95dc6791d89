/*
 * hex.h: hexadecimal digits, both ways, and percent-encoding.
 *
 * Encoding writes lowercase digits (trace and span ids, hashes, bytes as
 * text); percent-encoding writes uppercase ones, as RFC 3986 recommends.
 * Decoding takes either case.
 */
#ifndef PROFCOL_HEX_H
#define PROFCOL_HEX_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* The value of one hex digit (0-9, a-f, A-F), or -1. */
static inline int hex_val(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Writes the 2 * n lowercase digits of p[0..n) to dst (no NUL). */
void hex_encode(const uint8_t *p, size_t n, char *dst);

/* Appends the 2 * n lowercase digits of p[0..n) to b. */
int hex_append(struct buf *b, const uint8_t *p, size_t n);

/* Decodes the n digits of s into out[0..n/2). PC_ECORRUPT when n is odd
 * or a character is not a hex digit (out is then unspecified). */
int hex_decode(const char *s, size_t n, uint8_t *out);

/* Appends s[0..n) percent-encoded for a URL query component or path
 * segment: RFC 3986 unreserved characters (A-Z a-z 0-9 - . _ ~) as they
 * are, every other byte as %XX (uppercase). */
int pct_encode(struct buf *b, const char *s, size_t n);

#endif
