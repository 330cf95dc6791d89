/*
 * jsonesc.h: text escaped for a JSON string (RFC 8259), into a struct buf.
 *
 * '"' and '\' get a backslash; backspace, form feed, newline, carriage
 * return and tab are written \b, \f, \n, \r and \t; the other control
 * characters (below U+0020) as \u00xx: what Go's protojson writes. JSON
 * text must be UTF-8, so a byte that does not start a valid UTF-8
 * sequence (stray continuation bytes, overlong forms, surrogates, code
 * points past U+10FFFF, a sequence cut short) is written as U+FFFD.
 * Everything else is copied as is.
 *
 * Bounded: when b reaches its maximum the call returns PC_ETOOBIG and b
 * holds the longest prefix that fit, cut between characters, never
 * inside an escape or a UTF-8 sequence.
 */
#ifndef PROFCOL_JSONESC_H
#define PROFCOL_JSONESC_H

#include <stddef.h>

#include "core/buf.h"

/* Appends s[0..n) escaped, without quotes. */
int jsonesc_append(struct buf *b, const char *s, size_t n);

/* Appends s[0..n) as a JSON string: quoted and escaped. */
int jsonesc_quoted(struct buf *b, const char *s, size_t n);

#endif
