/*
 * base64.h: RFC 4648 base64.
 *
 * Encoding writes the standard alphabet with padding. Decoding accepts
 * what protojson accepts: the standard and the URL-safe alphabet (even
 * mixed), with or without the trailing '=' padding.
 */
#ifndef PROFCOL_BASE64_H
#define PROFCOL_BASE64_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

/* Bytes that n characters can decode to, at most (room for out). */
#define BASE64_DECODED_MAX(n) ((n) / 4 * 3 + 3)

/* Appends the base64 text of p[0..n) to b (4 characters per 3 bytes,
 * the last group padded with '='). */
int base64_encode(struct buf *b, const uint8_t *p, size_t n);

/* Decodes s[0..n) into out, which holds BASE64_DECODED_MAX(n) bytes, and
 * sets *outlen. PC_ECORRUPT when s is not base64 (a character outside both
 * alphabets, '=' other than at the end, or a length that no encoding
 * has). Bits left over in the last character are ignored. */
int base64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen);

#endif
