/*
 * sniff.c: pprof or OTLP? Both are protobuf, so look at the top-level field
 * numbers: an OTLP request only has fields 1 (resource_profiles) and 2
 * (dictionary), both messages, and a ResourceProfiles holds messages and
 * strings; a pprof Profile has a string_table (6), integer fields 7..15, and
 * its field 1 (ValueType) holds only integers.
 */
#include "codec/sniff.h"

#include <string.h>

#include "core/buf.h"
#include "codec/compress.h"
#include "codec/pb.h"

/* Does the message [p, end) contain only varint fields? */
static int only_varints(const uint8_t *p, const uint8_t *end)
{
    uint32_t field;
    unsigned wire;

    while (p < end) {
        if (pb_read_tag(&p, end, &field, &wire) != PC_OK ||
            wire != PB_VARINT || pb_skip(&p, end, wire) != PC_OK) {
            return 0;
        }
    }
    return 1;
}

static enum sniff_format sniff_plain(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len, *body;
    uint32_t field;
    unsigned wire;
    size_t n;
    int saw_field1_varints = 0, saw_field1_msg = 0, fields = 0;

    while (p < end) {
        if (pb_read_tag(&p, end, &field, &wire) != PC_OK) {
            break; /* a truncated prefix: decide on what was seen */
        }
        fields++;
        if (field > 2) {
            /* Only pprof has top-level fields past 2; check it parses. */
            if (field > 15 && wire != PB_LEN && wire != PB_VARINT) {
                return SNIFF_UNKNOWN;
            }
            return pb_skip(&p, end, wire) == PC_OK ? SNIFF_PPROF
                                                   : SNIFF_UNKNOWN;
        }
        if (wire != PB_LEN) {
            return SNIFF_UNKNOWN;
        }
        if (pb_read_len(&p, end, &body, &n) != PC_OK) {
            break;
        }
        if (field == 1) {
            if (n > 0 && only_varints(body, body + n)) {
                saw_field1_varints = 1;
            } else {
                saw_field1_msg = 1;
            }
        }
    }
    if (fields == 0) {
        return SNIFF_UNKNOWN;
    }
    if (saw_field1_varints && !saw_field1_msg) {
        return SNIFF_PPROF;
    }
    return SNIFF_OTLP;
}

enum sniff_format sniff_format(const uint8_t *data, size_t len)
{
    size_t i;

    if (len == 0) {
        return SNIFF_UNKNOWN;
    }
    if (len >= 4 && memcmp(data, "FLR\0", 4) == 0) {
        return SNIFF_JFR;
    }
    if (gz_is_gzip(data, len)) {
        /* Look inside the first 64 KiB only: enough for the top level. */
        struct buf b;
        enum sniff_format f = SNIFF_UNKNOWN;
        buf_init(&b, 64 * 1024);
        /* zlib's streaming inflate keeps the prefix when the cap is hit. */
        gz_decompress_zlib(data, len, &b, 64 * 1024);
        if (b.len > 0) {
            f = sniff_plain(b.data, b.len);
        }
        buf_free(&b);
        if (f == SNIFF_UNKNOWN) {
            /* Truncated inner data: gzip almost always means pprof. */
            return SNIFF_PPROF;
        }
        return f == SNIFF_OTLP ? SNIFF_OTLP_GZIP : f;
    }
    for (i = 0; i < len && (data[i] == ' ' || data[i] == '\n' ||
                            data[i] == '\t' || data[i] == '\r');
         i++) {
    }
    if (i < len && data[i] == '{') {
        return SNIFF_OTLP_JSON;
    }
    return sniff_plain(data, len);
}
