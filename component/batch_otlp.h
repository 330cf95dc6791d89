/*
 * batch_otlp.h: a batch's items as OTLP items (codec/otlp.h), built one way
 * for every exporter that sends OTLP (otlp, otlphttp, loadbalancing, parca).
 *
 * Each item is decoded (once, shared: batch_item_decode) and becomes one
 * otlp_item naming its pdata and resource, with the attributes the
 * pipeline gave its series as the resource attributes.
 *
 * An item that cannot be decoded is left out and logged, and its profiles
 * (its nprofiles, or 1 when the receiver did not count them) are added to
 * r->rejected_profiles and to `rejected`, so one bad item never costs the
 * rest of the batch. Out of memory is not a bad item: the whole call fails
 * with PC_ERETRY ("out of memory" in r->msg), and the batch is tried again.
 */
#ifndef PROFCOL_BATCH_OTLP_H
#define PROFCOL_BATCH_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "codec/otlp.h"
#include "core/arena.h"
#include "component/batch.h"
#include "component/component.h"

/* Sets oi->attrs (non-NULL, from arena a) and oi->nattrs for item it;
 * PC_OK or PC_ENOMEM. */
typedef int (*batch_otlp_attrs_fn)(void *arg, const struct item *it,
                                   struct arena *a, struct otlp_item *oi);

struct batch_otlp_opts {
    const char *id;      /* component id, for the log */
    const uint32_t *idx; /* items of b to take; NULL = all */
    uint32_t nidx;
    int include_original_payload; /* item_original_pprof() goes along */
    /* NULL: the item's attributes without the internal `__*` ones. */
    batch_otlp_attrs_fn attrs;
    void *attrs_arg;
};

struct batch_otlp {
    struct otlp_item *items;
    size_t n;
    uint32_t rejected;  /* profiles of the items left out */
    struct arena arena; /* the items' attribute arrays */
};

/* Fills out (freed with batch_otlp_free, also after a failure). The items
 * point into b: b must outlive them. PC_OK or PC_ERETRY. */
int batch_otlp_build(struct batch *b, const struct batch_otlp_opts *o,
                     struct batch_otlp *out, struct export_result *r);

void batch_otlp_free(struct batch_otlp *bo);

#endif
