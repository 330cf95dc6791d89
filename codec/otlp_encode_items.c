/*
 * otlp_encode_items.c: several batch items -> one ExportProfilesServiceRequest.
 *
 * Each item becomes a *view* of its pdata: a struct pdata that shares the
 * input's dictionary by value (the table pointers) and carries its own,
 * shorter list of resources (only the selected one, or all of them), with
 * the resource attributes swapped for the item's when the caller gives
 * them, and the item's original pprof on its one profile when the caller
 * gives it (a copy of the scope and profile headers, in the scratch). The
 * views go to otlp_encode(), whose interning encoder merges every
 * view's dictionary into one, so the request holds each distinct string,
 * function, location, ... once however many items share it. Nothing of the
 * inputs is changed or copied beyond the resource headers.
 */
#include "codec/otlp.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"

/* Headers of an item's view that differ from its pdata's. */
struct view_scratch {
    struct scope_profiles sp;
    struct profile p;
};

/* rp's one profile, with the original pprof set, when rp has one. */
static void items_original(const struct otlp_item *it,
                           struct resource_profiles *rp,
                           struct view_scratch *s)
{
    static const char fmt[] = "pprof";

    if (it->original_pprof.len == 0 || rp->nscopes != 1 ||
        rp->scopes[0].nprofiles != 1) {
        return;
    }
    s->sp = rp->scopes[0];
    s->p = s->sp.profiles[0];
    s->p.original_payload_format.ptr = fmt;
    s->p.original_payload_format.len = sizeof(fmt) - 1;
    s->p.original_payload = it->original_pprof;
    s->sp.profiles = &s->p;
    rp->scopes = &s->sp;
}

/* rp's scopes, copied to sps, named name. */
static void items_scope_name(struct pstr name, struct resource_profiles *rp,
                             struct scope_profiles *sps)
{
    uint32_t j;

    for (j = 0; j < rp->nscopes; j++) {
        sps[j] = rp->scopes[j];
        sps[j].has_scope = 1;
        sps[j].scope.name = name;
    }
    rp->scopes = sps;
}

/* Fills view v for item it; rps has room for every resource of it->pd,
 * *sps for every scope of theirs when it->scope_name is set (advanced past
 * those used). */
static int items_view(const struct otlp_item *it, struct pdata *v,
                      struct resource_profiles *rps,
                      struct scope_profiles **sps, struct view_scratch *s)
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
        if (it->scope_name.len > 0) {
            items_scope_name(it->scope_name, &rps[n], *sps);
            *sps += rps[n].nscopes;
        }
        n++;
    }
    if (n == 1) {
        items_original(it, &rps[0], s);
    }
    v->resources = rps;
    v->nresources = n;
    return PC_OK;
}

static int items_check(const struct otlp_item *items, size_t n, size_t *nres,
                       size_t *nscopes, struct errctx *e)
{
    size_t i;
    uint32_t j;

    *nres = 0;
    *nscopes = 0;
    for (i = 0; i < n; i++) {
        const struct otlp_item *it = &items[i];
        if (it->pd == NULL) {
            return err_set(e, PC_EINVAL, "otlp: item %zu has no payload", i);
        }
        if (it->resource >= 0 &&
            (uint32_t)it->resource >= it->pd->nresources) {
            return err_set(e, PC_EINVAL,
                           "otlp: item %zu: resource %d out of range (%u)", i,
                           (int)it->resource, it->pd->nresources);
        }
        *nres += it->resource >= 0 ? 1 : it->pd->nresources;
        for (j = 0; it->scope_name.len > 0 && j < it->pd->nresources; j++) {
            if (it->resource < 0 || (uint32_t)it->resource == j) {
                *nscopes += it->pd->resources[j].nscopes;
            }
        }
    }
    return PC_OK;
}

int otlp_encode_items(const struct otlp_item *items, size_t n, struct buf *out,
                      struct errctx *e)
{
    struct pdata *views;
    const struct pdata **ptrs;
    struct resource_profiles *rps;
    struct scope_profiles *sps, *sp_next;
    struct view_scratch *scratch;
    size_t i, nres, nscopes, used = 0;
    int rc = items_check(items, n, &nres, &nscopes, e);

    if (rc != PC_OK) {
        return rc;
    }
    views = calloc(n ? n : 1, sizeof(*views));
    ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    rps = calloc(nres ? nres : 1, sizeof(*rps));
    scratch = calloc(n ? n : 1, sizeof(*scratch));
    sps = calloc(nscopes ? nscopes : 1, sizeof(*sps));
    sp_next = sps;
    if (views == NULL || ptrs == NULL || rps == NULL || scratch == NULL ||
        sps == NULL) {
        rc = err_set(e, PC_ENOMEM, "otlp: encode: out of memory");
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = items_view(&items[i], &views[i], rps + used, &sp_next,
                        &scratch[i]);
        used += views[i].nresources;
        /* items_check counted the room every view takes. */
        PC_ASSERT(used <= nres && (size_t)(sp_next - sps) <= nscopes);
        ptrs[i] = &views[i];
    }
    if (rc == PC_OK) {
        rc = otlp_encode(ptrs, n, out, e);
    }
    free(sps);
    free(scratch);
    free(rps);
    free(ptrs);
    free(views);
    return rc;
}
