/*
 * pbw.h: the protobuf writer of the unit tests. Tests build their inputs
 * byte by byte on the codec's own encoder (codec/pb.h); every call here
 * asserts that the write succeeded (cmocka), so a builder reads as the
 * message it writes. The pprof helpers (profile.proto) leave a field out
 * when its value is 0, as an encoder does. Header-only, like
 * proc_fixture.h: each test is one executable.
 */
#ifndef PROFCOL_TEST_PBW_H
#define PROFCOL_TEST_PBW_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/pb.h"

static inline void pbw_uint(struct buf *b, uint32_t f, uint64_t v)
{
    assert_int_equal(pb_put_uint(b, f, v), PC_OK);
}

static inline void pbw_bytes(struct buf *b, uint32_t f, const void *p,
                             size_t n)
{
    assert_int_equal(pb_put_bytes(b, f, p, n), PC_OK);
}

static inline void pbw_str(struct buf *b, uint32_t f, const char *s)
{
    pbw_bytes(b, f, s, strlen(s));
}

/* An embedded message already written into its own buffer. */
static inline void pbw_msg(struct buf *b, uint32_t f, const struct buf *in)
{
    pbw_bytes(b, f, in->data, in->len);
}

/* An embedded message written in place: pbw_begin, its fields, pbw_end. */
static inline size_t pbw_begin(struct buf *b, uint32_t f)
{
    size_t m = 0;

    assert_int_equal(pb_msg_begin(b, f, &m), PC_OK);
    return m;
}

static inline void pbw_end(struct buf *b, size_t m)
{
    assert_int_equal(pb_msg_end(b, m), PC_OK);
}

/* A packed run of varints as field f. */
static inline void pbw_packed(struct buf *b, uint32_t f, const uint64_t *v,
                              size_t n)
{
    size_t m = pbw_begin(b, f), i;

    for (i = 0; i < n; i++) {
        assert_int_equal(pb_put_varint(b, v[i]), PC_OK);
    }
    pbw_end(b, m);
}

/* ---- pprof messages; numbers are string table indices unless named ---- */

static inline void pbw_value_type(struct buf *b, uint32_t f, uint64_t type,
                                  uint64_t unit)
{
    size_t m = pbw_begin(b, f);

    pbw_uint(b, 1, type);
    pbw_uint(b, 2, unit);
    pbw_end(b, m);
}

/* Sample.label: key, str, num (a number), num_unit; 0 = absent. */
static inline void pbw_label(struct buf *b, uint64_t key, uint64_t str,
                             uint64_t num, uint64_t unit)
{
    size_t m = pbw_begin(b, 3);

    pbw_uint(b, 1, key);
    if (str != 0) {
        pbw_uint(b, 2, str);
    }
    if (num != 0) {
        pbw_uint(b, 3, num);
    }
    if (unit != 0) {
        pbw_uint(b, 4, unit);
    }
    pbw_end(b, m);
}

/* Location.line: function id, line number, column (0 = absent). */
static inline void pbw_line(struct buf *b, uint64_t fn, uint64_t line,
                            uint64_t col)
{
    size_t m = pbw_begin(b, 4);

    pbw_uint(b, 1, fn);
    pbw_uint(b, 2, line);
    if (col != 0) {
        pbw_uint(b, 3, col);
    }
    pbw_end(b, m);
}

/* Profile.location up to its lines: id, mapping_id (0 = absent), address.
 * Lines and is_folded may follow; pbw_end closes it. */
static inline size_t pbw_location_begin(struct buf *b, uint64_t id,
                                        uint64_t mapping, uint64_t address)
{
    size_t m = pbw_begin(b, 4);

    pbw_uint(b, 1, id);
    if (mapping != 0) {
        pbw_uint(b, 2, mapping);
    }
    pbw_uint(b, 3, address);
    return m;
}

/* Profile.function: id, name, system_name, filename, start_line. */
static inline void pbw_function(struct buf *b, uint64_t id, uint64_t name,
                                uint64_t sys, uint64_t file, uint64_t start)
{
    size_t m = pbw_begin(b, 5);

    pbw_uint(b, 1, id);
    pbw_uint(b, 2, name);
    pbw_uint(b, 3, sys);
    pbw_uint(b, 4, file);
    pbw_uint(b, 5, start);
    pbw_end(b, m);
}

#endif
