/*
 * utf8.h: UTF-8 validity (RFC 3629: no overlong forms, no surrogates,
 * nothing past U+10FFFF), as protobuf string fields and JSON require.
 */
#ifndef PROFCOL_UTF8_H
#define PROFCOL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Length of the valid UTF-8 sequence at s (at most n bytes) that starts
 * with a byte >= 0x80; 0 if invalid. */
size_t utf8_seq_len(const uint8_t *s, size_t n);

/* Offset of the first byte of s[0, n) that does not belong to valid
 * UTF-8, or n when all of it is valid. */
size_t utf8_check(const void *s, size_t n);

#endif
