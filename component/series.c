/* series.c: series identity helpers (see series.h). */
#include "component/series.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/hex.h"
#include "core/jsonesc.h"

static int pstr_contains(struct pstr s, const char *needle)
{
    size_t n = strlen(needle), i;

    for (i = 0; n <= s.len && i + n <= s.len; i++) {
        if (memcmp(s.ptr + i, needle, n) == 0) {
            return 1;
        }
    }
    return 0;
}

static int pstr_prefix(struct pstr s, const char *prefix)
{
    size_t n = strlen(prefix);

    return s.len >= n && memcmp(s.ptr, prefix, n) == 0;
}

static const char *name_for_type(struct pstr t)
{
    if (pstr_eq(t, "wall")) {
        return "wall";
    }
    /* async-profiler's OTLP writer names a sample type after the engine
     * that took it (the Pyroscope Java agent's format=otlp). */
    if (pstr_contains(t, "cpu") || pstr_eq(t, "itimer")) {
        return "process_cpu";
    }
    if (pstr_eq(t, "object_sampler")) {
        return "memory";
    }
    if (pstr_eq(t, "lock_tracer")) {
        return "mutex";
    }
    if (pstr_prefix(t, "alloc_") || pstr_prefix(t, "inuse_") ||
        pstr_eq(t, "space") || pstr_eq(t, "objects")) {
        return "memory";
    }
    if (pstr_prefix(t, "mutex_") || pstr_eq(t, "contentions") ||
        pstr_eq(t, "delay")) {
        return "mutex";
    }
    if (pstr_prefix(t, "block_")) {
        return "block";
    }
    if (pstr_prefix(t, "goroutine")) {
        return "goroutine";
    }
    return NULL;
}

void series_profile_name(const struct dict *d, const struct profile *p,
                         char *out, size_t outlen)
{
    uint32_t i;
    struct pstr last = {"", 0};

    for (i = 0; i < p->nsample_types; i++) {
        if (pstr_eq(dict_str(d, p->sample_types[i].type), "wall")) {
            snprintf(out, outlen, "wall");
            return;
        }
    }
    for (i = 0; i < p->nsample_types; i++) {
        struct pstr t = dict_str(d, p->sample_types[i].type);
        const char *n = name_for_type(t);
        if (n != NULL) {
            snprintf(out, outlen, "%s", n);
            return;
        }
        last = t;
    }
    if (last.len == 0) {
        snprintf(out, outlen, "unknown");
        return;
    }
    series_label_name(last.ptr, last.len, out, outlen);
}

void series_label_name(const char *in, size_t len, char *out, size_t outlen)
{
    size_t i, o = 0;

    if (outlen == 0) {
        return;
    }
    if (len > 0 && in[0] >= '0' && in[0] <= '9' && o + 1 < outlen) {
        out[o++] = '_';
    }
    for (i = 0; i < len && o + 1 < outlen; i++) {
        char c = in[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                 (c >= '0' && c <= '9') || c == '_';
        out[o++] = ok ? c : '_';
    }
    if (o == 0 && outlen > 1) {
        out[o++] = '_';
    }
    out[o] = '\0';
}

int series_internal(struct pstr key)
{
    return key.len >= 2 && key.ptr[0] == '_' && key.ptr[1] == '_';
}

struct pstr series_service(const struct item *it)
{
    static const struct pstr unknown = {SERIES_UNKNOWN_SERVICE,
                                        sizeof(SERIES_UNKNOWN_SERVICE) - 1};
    const struct anyvalue *v = item_attr(it, SERIES_SERVICE_ATTR);

    if (v == NULL || v->type != AV_STRING || v->u.s.len == 0) {
        v = item_attr(it, "service_name");
    }
    if (v == NULL || v->type != AV_STRING || v->u.s.len == 0) {
        return unknown;
    }
    return v->u.s;
}

static int value_text(const struct anyvalue *v, struct buf *out, int nested,
                      int depth)
{
    uint32_t i;
    int rc = PC_OK;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return PC_ETOOBIG;
    }
    switch (v->type) {
    case AV_STRING:
        return nested ? jsonesc_quoted(out, v->u.s.ptr, v->u.s.len)
                      : buf_append(out, v->u.s.ptr, v->u.s.len);
    case AV_BOOL:
        return buf_append_str(out, v->u.b ? "true" : "false");
    case AV_INT:
        return buf_printf(out, "%" PRId64, v->u.i);
    case AV_DOUBLE:
        return buf_printf(out, "%.17g", v->u.d);
    case AV_BYTES:
        /* Hex; quoted inside JSON so the result stays valid JSON. */
        if (nested) {
            rc = buf_putc(out, '"');
        }
        if (rc == PC_OK) {
            rc = hex_append(out, (const uint8_t *)v->u.s.ptr, v->u.s.len);
        }
        return rc == PC_OK && nested ? buf_putc(out, '"') : rc;
    case AV_ARRAY:
        rc = buf_putc(out, '[');
        for (i = 0; rc == PC_OK && i < v->u.arr.n; i++) {
            if (i > 0) {
                rc = buf_putc(out, ',');
            }
            if (rc == PC_OK) {
                rc = value_text(&v->u.arr.items[i], out, 1, depth + 1);
            }
        }
        return rc == PC_OK ? buf_putc(out, ']') : rc;
    case AV_KVLIST:
        rc = buf_putc(out, '{');
        for (i = 0; rc == PC_OK && i < v->u.kv.n; i++) {
            if (i > 0) {
                rc = buf_putc(out, ',');
            }
            if (rc == PC_OK) {
                rc = jsonesc_quoted(out, v->u.kv.items[i].key.ptr,
                                    v->u.kv.items[i].key.len);
            }
            if (rc == PC_OK) {
                rc = buf_putc(out, ':');
            }
            if (rc == PC_OK) {
                rc = value_text(&v->u.kv.items[i].value, out, 1, depth + 1);
            }
        }
        return rc == PC_OK ? buf_putc(out, '}') : rc;
    default:
        return nested ? buf_append_str(out, "null") : PC_OK;
    }
}

int series_value_text(const struct anyvalue *v, struct buf *out)
{
    return value_text(v, out, 0, 0);
}

int series_value_json(const struct anyvalue *v, struct buf *out)
{
    return value_text(v, out, 1, 0);
}
