/*
 * ddexp_labels.c: sample labels as Datadog reads them, the inverse of the
 * datadog receiver's rewrite: hex `span_id` and `local_root_span_id` (the
 * tracelink convention, Pyroscope's span profiles) become Datadog's
 * decimal `span id` and `local root span id` (as dd-trace-go writes them,
 * strings), which the profiler UI joins with traces; the thread and
 * endpoint labels get their spaces back. Per dictionary entry, on a copy
 * of the payload, only when the profile has such labels.
 */
#include <stdio.h>
#include <string.h>

#include "core/hex.h"
#include "exporters/datadog/ddexp.h"

static const char *const dd_names[][2] = {
    {"span_id", "span id"},
    {"local_root_span_id", "local root span id"},
    {"trace_endpoint", "trace endpoint"},
    {"thread_name", "thread name"},
    {"thread_id", "thread id"},
    {"os_thread_id", "os thread id"},
    {"thread_native_id", "thread native id"},
};

#define DD_NNAMES (sizeof(dd_names) / sizeof(dd_names[0]))

/* The index in dd_names of key, or -1. */
static int known(struct pstr key)
{
    size_t i;

    for (i = 0; i < DD_NNAMES; i++) {
        if (pstr_eq(key, dd_names[i][0])) {
            return (int)i;
        }
    }
    return -1;
}

int ddexp_labels_wanted(const struct pdata *pd)
{
    uint32_t i;

    for (i = 1; i < pd->dict.nattrs; i++) {
        if (known(dict_str(&pd->dict, pd->dict.attrs[i].key)) >= 0) {
            return 1;
        }
    }
    return 0;
}

/* A 16-hex-digit span id as a decimal string in pd's arena: 1 when done,
 * 0 when the value is no such id (then the label keeps its name and
 * value, so nothing reads it as a Datadog id), or PC_ENOMEM. */
static int span_decimal(struct pdata *pd, struct attr *a)
{
    uint8_t b[8];
    uint64_t v = 0;
    char *dec;
    int i;

    if (a->value.type != AV_STRING || a->value.u.s.len != 16 ||
        hex_decode(a->value.u.s.ptr, 16, b) != 0) {
        return 0;
    }
    for (i = 0; i < 8; i++) {
        v = v << 8 | b[i];
    }
    if ((dec = arena_alloc(&pd->arena, 24)) == NULL) {
        return PC_ENOMEM;
    }
    a->value.u.s.len = (uint32_t)snprintf(dec, 24, "%llu",
                                          (unsigned long long)v);
    a->value.u.s.ptr = dec;
    return 1;
}

int ddexp_labels_rewrite(struct pdata *pd)
{
    int32_t to[DD_NNAMES];
    uint32_t i;
    int k, rc;

    for (k = 0; k < (int)DD_NNAMES; k++) {
        to[k] = -1;
    }
    for (i = 1; i < pd->dict.nattrs; i++) {
        struct attr *a = &pd->dict.attrs[i];
        if ((k = known(dict_str(&pd->dict, a->key))) < 0) {
            continue;
        }
        if (to[k] < 0 && (to[k] = dict_string(pd, dd_names[k][1],
                                              strlen(dd_names[k][1]))) < 0) {
            return to[k];
        }
        /* dd_names[0] and [1] are the span ids. */
        if (k <= 1 && (rc = span_decimal(pd, a)) <= 0) {
            if (rc < 0) {
                return rc;
            }
            continue;
        }
        a->key = to[k];
    }
    return PC_OK;
}
