/*
 * pm_store.h: the counters of the profilemetrics exporter: families (a
 * metric name and its label names) and their series (label values and a
 * float value), bounded by max_series.
 *
 * The telemetry registry (telemetry/metrics.h) is not used for these: its
 * series are integer counters named by the component's own code, found by
 * a linear walk, and registered once per component; here series appear
 * with the data (one per rule and group), may number tens of thousands and
 * hold seconds (floats). Only its label value escaping is shared.
 *
 * Threads: every function takes the store's mutex; exporter threads add,
 * HTTP workers render, the remote-write thread encodes.
 */
#ifndef PROFCOL_PM_STORE_H
#define PROFCOL_PM_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/profile.h"

#define PM_NAME_MAX 200  /* metric and label names */
#define PM_LABELS_MAX 16 /* group_by labels of one rule */
#define PM_VALUE_MAX 256 /* a label value is cut there */

struct pm_family {
    char name[PM_NAME_MAX];
    const char *help;
    uint32_t nlabels;
    char labels[PM_LABELS_MAX][PM_NAME_MAX];
    /* Label positions in name order (remote write wants them sorted). */
    uint32_t order[PM_LABELS_MAX];
};

struct pm_store;

/* families (copied) in exposition order; max_series bounds all of them
 * together. */
int pm_store_new(const struct pm_family *families, uint32_t nfamilies,
                 uint32_t max_series, struct pm_store **out);
void pm_store_free(struct pm_store *s);

/* The family fam as given to pm_store_new (immutable). */
const struct pm_family *pm_store_family(const struct pm_store *s,
                                        uint32_t fam);

/* Sorts f->order by label name; call after filling labels. */
void pm_family_sort(struct pm_family *f);

/* Adds v to the series of family fam with these label values (one per
 * label of the family). PC_OK, or PC_ETOOBIG when the series would be new
 * and max_series is reached (counted in pm_store_refused). */
int pm_store_add(struct pm_store *s, uint32_t fam, const struct pstr *values,
                 double v);

/* Series refused for max_series so far, and series held. */
uint64_t pm_store_refused(struct pm_store *s);
uint32_t pm_store_size(struct pm_store *s);

/* The Prometheus text exposition (0.0.4) of every family with series. */
int pm_store_render(struct pm_store *s, struct buf *out);

/* A remote-write WriteRequest (protobuf, uncompressed) of every series,
 * each with one sample at ts_ms. */
int pm_store_write_request(struct pm_store *s, int64_t ts_ms, struct buf *out);

#endif
