/*
 * pyroscope_pprof.c: a light read of a pprof the exporter forwards as the
 * original bytes. The labels need the profile name (from the sample types)
 * and whether it is a delta (duration_nanos), and the limits need the
 * uncompressed size and the sample count; reading only those fields costs a
 * gunzip and one pass over the top level, far less than a model decode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/pyroscope/pyroscope_labels.h"
#include "codec/compress.h"
#include "codec/pb.h"
#include "component/series.h"

struct peek_state {
    struct pstr *strings;
    uint32_t nstrings, cap_strings;
    struct value_type *types;
    uint32_t ntypes, cap_types;
    struct value_type period_type;
};

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t sz)
{
    uint32_t n = *cap ? *cap * 2 : 64;
    void *p;

    if (need <= *cap) {
        return PC_OK;
    }
    while (n < need) {
        n *= 2;
    }
    p = realloc(*arr, (size_t)n * sz);
    if (p == NULL) {
        return PC_ENOMEM;
    }
    *arr = p;
    *cap = n;
    return PC_OK;
}

/* ValueType {type = 1, unit = 2} */
static int read_value_type(const uint8_t *p, const uint8_t *end,
                           struct value_type *vt)
{
    uint32_t field;
    unsigned wire;
    uint64_t v = 0;
    int rc = PC_OK;

    memset(vt, 0, sizeof(*vt));
    while (p < end && rc == PC_OK) {
        rc = pb_read_tag(&p, end, &field, &wire);
        if (rc == PC_OK && wire == PB_VARINT && (field == 1 || field == 2)) {
            rc = pb_read_varint(&p, end, &v);
            if (field == 1) {
                vt->type = (int32_t)v;
            } else {
                vt->unit = (int32_t)v;
            }
        } else if (rc == PC_OK) {
            rc = pb_skip(&p, end, wire);
        }
    }
    return rc;
}

static int read_len_field(struct peek_state *st, struct pyro_peek *pk,
                          uint32_t field, const uint8_t *s, size_t n)
{
    int rc = PC_OK;

    switch (field) {
    case 1:
        rc = grow((void **)&st->types, &st->cap_types, st->ntypes + 1,
                  sizeof(*st->types));
        if (rc == PC_OK) {
            rc = read_value_type(s, s + n, &st->types[st->ntypes++]);
        }
        break;
    case 2:
        pk->nsamples++;
        break;
    case 6:
        rc = grow((void **)&st->strings, &st->cap_strings, st->nstrings + 1,
                  sizeof(*st->strings));
        if (rc == PC_OK) {
            st->strings[st->nstrings].ptr = (const char *)s;
            st->strings[st->nstrings++].len = (uint32_t)n;
        }
        break;
    case 11:
        rc = read_value_type(s, s + n, &st->period_type);
        break;
    default:
        break;
    }
    return rc;
}

static int walk(const uint8_t *p, const uint8_t *end, struct peek_state *st,
                struct pyro_peek *pk)
{
    uint32_t field;
    unsigned wire;
    uint64_t v = 0;
    const uint8_t *s;
    size_t n;
    int rc = PC_OK;

    while (p < end && rc == PC_OK) {
        rc = pb_read_tag(&p, end, &field, &wire);
        if (rc != PC_OK) {
            break;
        }
        if (wire == PB_LEN) {
            rc = pb_read_len(&p, end, &s, &n);
            if (rc == PC_OK) {
                rc = read_len_field(st, pk, field, s, n);
            }
        } else if (wire == PB_VARINT) {
            rc = pb_read_varint(&p, end, &v);
            if (field == 9) {
                pk->time_nanos = (int64_t)v;
            } else if (field == 10) {
                pk->duration_nanos = (int64_t)v;
            } else if (field == 12) {
                pk->period = (int64_t)v;
            }
        } else {
            rc = pb_skip(&p, end, wire);
        }
    }
    return rc;
}

static void name_of(const struct peek_state *st, struct pyro_peek *pk)
{
    struct dict d;
    struct profile p;
    struct pstr pt;

    memset(&d, 0, sizeof(d));
    memset(&p, 0, sizeof(p));
    d.strings = st->strings;
    d.nstrings = st->nstrings;
    p.sample_types = st->types;
    p.nsample_types = st->ntypes;
    series_profile_name(&d, &p, pk->name, sizeof(pk->name));
    pt = dict_str(&d, st->period_type.type);
    snprintf(pk->period_type, sizeof(pk->period_type), "%.*s", (int)pt.len,
             pt.ptr);
}

int pyro_pprof_peek(const uint8_t *data, size_t len, size_t max_plain,
                    struct pyro_peek *pk)
{
    struct peek_state st;
    struct buf plain;
    const uint8_t *p = data;
    int rc = PC_OK;

    memset(pk, 0, sizeof(*pk));
    memset(&st, 0, sizeof(st));
    buf_init(&plain, 0);
    if (gz_is_gzip(data, len)) {
        rc = gz_decompress(data, len, &plain, max_plain);
        p = plain.data;
        len = plain.len;
    } else if (len > max_plain) {
        rc = PC_ETOOBIG;
    }
    if (rc == PC_ETOOBIG) {
        pk->plain_len = max_plain + 1;
    } else if (rc == PC_OK) {
        pk->plain_len = len;
        rc = walk(p, p + len, &st, pk);
    }
    if (rc == PC_OK) {
        name_of(&st, pk);
    }
    free(st.strings);
    free(st.types);
    buf_free(&plain);
    return rc;
}
