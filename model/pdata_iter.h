/*
 * pdata_iter.h: every profile of a pdata, in order, with its resource and
 * scope: the one walk over resources -> scopes -> profiles.
 *
 *     struct pdata_iter w;
 *     struct profile *p;
 *
 *     pdata_iter_init(&w, pd, it->resource);
 *     while ((p = pdata_iter_next(&w)) != NULL) {
 *         ... p, w.rp, w.sp ...
 *     }
 *
 * resource < 0 walks every resource; resource >= 0 walks that one only (an
 * item's resource, component/batch.h), and nothing when it is out of range.
 *
 * Like the model's own pointers (const struct pdata is shallow), the
 * profiles come back non-const: a caller given a const pdata does not
 * change them. Inline: loops over a batch's profiles cost what the hand
 * written triple loop cost. The codecs' inner loops walk by hand.
 */
#ifndef PROFCOL_PDATA_ITER_H
#define PROFCOL_PDATA_ITER_H

#include <stdint.h>

#include "model/profile.h"

struct pdata_iter {
    const struct pdata *pd;
    struct resource_profiles *rp; /* of the profile last returned */
    struct scope_profiles *sp;    /* of the profile last returned */
    uint32_t r, s, p;             /* indices: next profile to look at */
    uint32_t rend;                /* one past the last resource walked */
};

static inline void pdata_iter_init(struct pdata_iter *w,
                                   const struct pdata *pd, int32_t resource)
{
    w->pd = pd;
    w->rp = NULL;
    w->sp = NULL;
    w->s = 0;
    w->p = 0;
    if (resource < 0) {
        w->r = 0;
        w->rend = pd->nresources;
    } else {
        w->r = (uint32_t)resource;
        w->rend = w->r < pd->nresources ? w->r + 1 : 0;
    }
}

/* The next profile, or NULL when the walk is over. */
static inline struct profile *pdata_iter_next(struct pdata_iter *w)
{
    for (; w->r < w->rend; w->r++, w->s = 0) {
        struct resource_profiles *rp = &w->pd->resources[w->r];
        for (; w->s < rp->nscopes; w->s++, w->p = 0) {
            struct scope_profiles *sp = &rp->scopes[w->s];
            if (w->p < sp->nprofiles) {
                w->rp = rp;
                w->sp = sp;
                return &sp->profiles[w->p++];
            }
        }
    }
    return NULL;
}

#endif
