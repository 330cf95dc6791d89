/*
 * pdata_merge_int.h: what the two halves of the merge share (model only):
 * the merge's state, and the translation of a source profile's dictionary
 * entries into the result's (pdata_merge_dict.c). pdata_merge.c adds
 * samples and builds the result.
 */
#ifndef PROFCOL_PDATA_MERGE_INT_H
#define PROFCOL_PDATA_MERGE_INT_H

#include <stdint.h>

#include "core/intern.h"
#include "model/pdata_merge.h"

struct merge_idx {
    struct itab str, fn, map, loc, attr, stack, link, sample;
};

struct pdata_merge {
    struct pdata *pd;
    struct profile *out;
    uint32_t cap_samples;
    struct merge_idx ix;
    uint32_t nadded;
    int rc; /* first failure of the add in progress */
};

/* Source index -> result index + 1, per table, for one add. */
struct merge_xlat {
    const struct dict *sd;
    int32_t *str, *fn, *map, *loc, *attr, *stack, *link;
    const char *const *drop;
    uint32_t ndrop;
};

/* Records the first failure of an add in m->rc; returns index 0, so
 * callers go on harmlessly and check m->rc at the end. */
int32_t pdm_failed(struct pdata_merge *m, int rc);

/* The result's index of source entry i (0 for 0 or out of range), added
 * to the result's dictionary when absent. */
int32_t pdm_str(struct pdata_merge *m, struct merge_xlat *x, int32_t i);
int32_t pdm_attr(struct pdata_merge *m, struct merge_xlat *x, int32_t i);
int32_t pdm_link(struct pdata_merge *m, struct merge_xlat *x, int32_t i);
int32_t pdm_stack(struct pdata_merge *m, struct merge_xlat *x, int32_t i);

/* Equal index lists. */
int pdm_attrs_eq(const int32_t *a, uint32_t na, const int32_t *b, uint32_t nb);

/* Translation maps sized for dictionary d (all "not yet"). */
int pdm_xlat_init(struct merge_xlat *x, const struct dict *d);
void pdm_xlat_free(struct merge_xlat *x);

#endif
