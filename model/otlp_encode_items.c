/*
 * otlp_encode_items.c: several batch items -> one ExportProfilesServiceRequest.
 *
 * Each item becomes a *view* of its pdata: a struct pdata that shares the
 * input's dictionary by value (the table pointers) and carries its own,
 * shorter list of resources (only the selected one, or all of them), with
 * the resource attributes swapped for the item's when the caller gives
 * them. The views go to otlp_encode(), whose interning encoder merges every
 * view's dictionary into one, so the request holds each distinct string,
 * function, location, ... once however many items share it. Nothing of the
 * inputs is changed or copied beyond the resource headers.
 */
#include "model/otlp.h"

#include <stdlib.h>
#include <string.h>

/* Fills view v for item it; rps has room for every resource of it->pd. */
static int items_view(const struct otlp_item *it, struct pdata *v,
                      struct resource_profiles *rps)
{
    const struct pdata *pd = it->pd;
    uint32_t i, n = 0;

    memset(v, 0, sizeof(*v));
    v->dict = pd->dict;
    for (i = 0; i < pd->nresources; i++) {
        if (it->resource >= 0 && (uint32_t)it->resource != i) {
            continue;
        }
        rps[n] = pd->resources[i];
        if (it->attrs != NULL) {
            /* The item's attributes are the series' truth: a processor may
             * have added, changed or removed some. */
            rps[n].has_resource = 1;
            rps[n].resource.attrs = (struct keyvalue *)it->attrs;
            rps[n].resource.nattrs = it->nattrs;
        }
        n++;
    }
    v->resources = rps;
    v->nresources = n;
    return PC_OK;
}

static int items_check(const struct otlp_item *items, size_t n,
                       size_t *nres, struct errctx *e)
{
    size_t i;

    *nres = 0;
    for (i = 0; i < n; i++) {
        const struct otlp_item *it = &items[i];
        if (it->pd == NULL) {
            return err_set(e, PC_EINVAL, "otlp: item %zu has no payload", i);
        }
        if (it->resource >= 0 &&
            (uint32_t)it->resource >= it->pd->nresources) {
            return err_set(e, PC_EINVAL,
                           "otlp: item %zu: resource %d out of range (%u)",
                           i, (int)it->resource, it->pd->nresources);
        }
        *nres += it->resource >= 0 ? 1 : it->pd->nresources;
    }
    return PC_OK;
}

int otlp_encode_items(const struct otlp_item *items, size_t n,
                      struct buf *out, struct errctx *e)
{
    struct pdata *views;
    const struct pdata **ptrs;
    struct resource_profiles *rps;
    size_t i, nres, used = 0;
    int rc = items_check(items, n, &nres, e);

    if (rc != PC_OK) {
        return rc;
    }
    views = calloc(n ? n : 1, sizeof(*views));
    ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    rps = calloc(nres ? nres : 1, sizeof(*rps));
    if (views == NULL || ptrs == NULL || rps == NULL) {
        rc = err_set(e, PC_ENOMEM, "otlp: encode: out of memory");
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = items_view(&items[i], &views[i], rps + used);
        used += views[i].nresources;
        ptrs[i] = &views[i];
    }
    if (rc == PC_OK) {
        rc = otlp_encode(ptrs, n, out, e);
    }
    free(rps);
    free(ptrs);
    free(views);
    return rc;
}
