/*
 * pdata_merge.h: merging profiles of one type into one.
 *
 * Profiles are added one by one (from any pdata); samples with the same
 * stack (by content: functions, lines, mappings, addresses), the same link
 * and the same labels are one sample of the result, their values summed.
 * The result is a new pdata with its own deduplicated dictionary: one
 * resource, one scope, one profile.
 *
 *     struct pdata_merge *m;
 *     pdata_merge_new(0, &m);
 *     pdata_merge_add(m, pd1, p1, NULL, 0);   // sets the sample types
 *     pdata_merge_add(m, pd2, p2, NULL, 0);   // same types, else PC_EINVAL
 *     pdata_merge_finish(m, NULL, start_ns, window_ns, &out);  // frees m
 *
 * Totals are exact: every sample type's sum over the result equals the sum
 * over what was added (pdata_sample_value). Per-event timestamps do not
 * survive (a merged sample is a sum), nor do comments and profile
 * attributes; the first profile gives the period, period type, default
 * sample type and drop/keep frames.
 */
#ifndef PROFCOL_PDATA_MERGE_H
#define PROFCOL_PDATA_MERGE_H

#include <stddef.h>
#include <stdint.h>

#include "model/profile.h"

struct pdata_merge;

/* A merge whose result's arena may take arena_limit bytes (0: no limit;
 * past it, adds fail with PC_ETOOBIG and the merge stays usable). */
int pdata_merge_new(size_t arena_limit, struct pdata_merge **out);
void pdata_merge_free(struct pdata_merge *m);

/* Adds the samples of p, a profile of src, leaving out sample labels whose
 * key is one of drop[0..ndrop). PC_EINVAL when p's sample types (type and
 * unit strings, in order) differ from the first profile's. On failure
 * (PC_ENOMEM, PC_ETOOBIG) part of p may have been added. */
int pdata_merge_add(struct pdata_merge *m, const struct pdata *src,
                    const struct profile *p, const char *const *drop,
                    uint32_t ndrop);

/* Profiles added so far, and bytes the result holds. */
uint32_t pdata_merge_count(const struct pdata_merge *m);
size_t pdata_merge_bytes(const struct pdata_merge *m);

/* The result, with res's attributes (copied; may be NULL) on its resource,
 * and the given time and duration. m is freed in every case. */
int pdata_merge_finish(struct pdata_merge *m, const struct resource *res,
                       int64_t time_nanos, int64_t duration_nanos,
                       struct pdata **out);

/* A sample's value of sample type vi: the vi-th value with several types
 * (pprof); with one type the sum of the per-event values, or 1 per
 * timestamp when there are none (OTLP). */
int64_t pdata_sample_value(const struct profile *p, const struct sample *s,
                           uint32_t vi);

/* The sum of sample type vi over the profile. */
int64_t pdata_profile_total(const struct profile *p, uint32_t vi);

#endif
