/*
 * batch_otlp.c: a batch's items as OTLP items (batch_otlp.h).
 */
#include "component/batch_otlp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/series.h"
#include "telemetry/log.h"

/* The item's attributes without the internal `__*` ones. Never NULL, even
 * when none is left: a NULL would keep the payload's own attributes. */
static int public_attrs(void *arg, const struct item *it, struct arena *a,
                        struct otlp_item *oi)
{
    struct keyvalue *kv = arena_calloc(a, it->nattrs + 1, sizeof(*kv));
    uint32_t i, n = 0;

    (void)arg;
    if (kv == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < it->nattrs; i++) {
        if (!series_internal(it->attrs[i].key)) {
            kv[n++] = it->attrs[i];
        }
    }
    oi->attrs = kv;
    oi->nattrs = n;
    return PC_OK;
}

/* Adds item it to out, or leaves it out as rejected when undecodable. */
static int add_item(struct batch *b, struct item *it,
                    const struct batch_otlp_opts *o, struct batch_otlp *out)
{
    struct otlp_item *oi = &out->items[out->n];
    struct errctx e = {{0}};
    int rc = batch_item_decode(b, it, &e);

    if (rc == PC_ENOMEM) {
        return rc;
    }
    if (rc != PC_OK) {
        log_warn(o->id, "item left out: undecodable payload", "reason=\"%s\"",
                 err_msg(&e, rc));
        out->rejected += it->nprofiles ? it->nprofiles : 1;
        return PC_OK;
    }
    memset(oi, 0, sizeof(*oi));
    oi->pd = it->pd->pd;
    oi->resource = it->resource;
    if (o->include_original_payload) {
        oi->original_pprof = item_original_pprof(it);
    }
    rc = o->attrs != NULL ? o->attrs(o->attrs_arg, it, &out->arena, oi)
                          : public_attrs(NULL, it, &out->arena, oi);
    if (rc == PC_OK) {
        out->n++;
    }
    return rc;
}

int batch_otlp_build(struct batch *b, const struct batch_otlp_opts *o,
                     struct batch_otlp *out, struct export_result *r)
{
    uint32_t i, n = o->idx != NULL ? o->nidx : b->nitems;
    int rc = PC_OK;

    memset(out, 0, sizeof(*out));
    arena_init(&out->arena, 0);
    out->items = calloc(n + 1, sizeof(*out->items));
    if (out->items == NULL) {
        rc = PC_ENOMEM;
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = add_item(b, &b->items[o->idx != NULL ? o->idx[i] : i], o, out);
    }
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "out of memory");
        return PC_ERETRY;
    }
    r->rejected_profiles += out->rejected;
    return PC_OK;
}

void batch_otlp_free(struct batch_otlp *bo)
{
    free(bo->items);
    bo->items = NULL;
    bo->n = 0;
    arena_free_all(&bo->arena);
}
