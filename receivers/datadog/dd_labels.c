/*
 * dd_labels.c: Datadog's pprof labels in the names and forms the rest of
 * profcol (the tracelink processor, Pyroscope, Parca) reads. The work is
 * per dictionary attribute, so a profile of a million samples costs no
 * more than its distinct labels.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receivers/datadog/dd.h"

/* Keys renamed in this profile: old string index -> new one. */
#define DD_RENAMES 64

struct renames {
    int32_t from[DD_RENAMES], to[DD_RENAMES];
    uint32_t n;
};

/* A span id label's value as the uint64 it stands for; 0 when it is not
 * one (Go: decimal string; Node: positive number; libdatadog: uint64 bits
 * read as int64, so possibly negative). */
static uint64_t span_value(const struct anyvalue *v)
{
    char tmp[24], *end;
    unsigned long long u;

    if (v->type == AV_INT) {
        return (uint64_t)v->u.i;
    }
    if (v->type != AV_STRING || v->u.s.len == 0 || v->u.s.len >= sizeof(tmp) ||
        v->u.s.ptr[0] == '-') {
        return 0;
    }
    memcpy(tmp, v->u.s.ptr, v->u.s.len);
    tmp[v->u.s.len] = '\0';
    errno = 0;
    u = strtoull(tmp, &end, 10);
    return errno == 0 && *end == '\0' ? (uint64_t)u : 0;
}

/* The new name of key k (with spaces), or "" when it keeps its name. */
static void new_name(struct pstr k, char *out, size_t size, int *is_span)
{
    size_t i;

    *is_span = pstr_eq(k, "span id") || pstr_eq(k, "local root span id");
    out[0] = '\0';
    if (memchr(k.ptr, ' ', k.len) == NULL || k.len >= size) {
        return;
    }
    for (i = 0; i < k.len; i++) {
        out[i] = k.ptr[i] == ' ' ? '_' : k.ptr[i];
    }
    out[k.len] = '\0';
}

/* The index of the renamed key, found in or added to the dictionary once
 * per profile. */
static int32_t renamed(struct pdata *pd, struct renames *r, int32_t from,
                       const char *to)
{
    uint32_t i;
    int32_t idx;

    for (i = 0; i < r->n; i++) {
        if (r->from[i] == from) {
            return r->to[i];
        }
    }
    idx = dict_string(pd, to, strlen(to));
    if (idx >= 0 && r->n < DD_RENAMES) {
        r->from[r->n] = from;
        r->to[r->n++] = idx;
    }
    return idx;
}

static int span_hex(struct pdata *pd, struct attr *a)
{
    char *hex = arena_alloc(&pd->arena, 17);

    if (hex == NULL) {
        return PC_ENOMEM;
    }
    snprintf(hex, 17, "%016llx", (unsigned long long)span_value(&a->value));
    a->value.type = AV_STRING;
    a->value.u.s.ptr = hex;
    a->value.u.s.len = 16;
    a->unit = 0;
    return PC_OK;
}

int dd_labels_normalize(struct pdata *pd)
{
    struct renames r = {{0}, {0}, 0};
    char name[128];
    uint32_t i;
    int changed = 0, is_span, rc;

    for (i = 1; i < pd->dict.nattrs; i++) {
        struct attr *a = &pd->dict.attrs[i];
        int32_t to;
        new_name(dict_str(&pd->dict, a->key), name, sizeof(name), &is_span);
        if (name[0] == '\0') {
            continue;
        }
        to = renamed(pd, &r, a->key, name);
        if (to < 0) {
            return to;
        }
        if (is_span && (rc = span_hex(pd, a)) != PC_OK) {
            return rc;
        }
        a->key = to;
        changed++;
    }
    return changed;
}
