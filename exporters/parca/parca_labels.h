/*
 * parca_labels.h: what the `parca` exporter sends besides the profile
 * bytes, by the rules Parca's WriteRaw validation applies (folder-private
 * helpers of exporters/parca, kept apart so that unit tests reach them).
 *
 * Series labels: `__name__` (the profile name, a valid PromQL metric name
 * without ':' since Parca joins it into "name:type:unit:..."), then
 * `service_name`, then every other item attribute not starting with `__`
 * under a Prometheus-valid name (series_label_name), then the exporter's
 * external labels for names still free. The first label of a name wins;
 * empty values are left out (an empty Prometheus label is no label); the
 * set is sorted by name.
 */
#ifndef PROFCOL_PARCA_LABELS_H
#define PROFCOL_PARCA_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "model/profile.h"
#include "component/batch.h"
#include "config/cfg.h"

#define PARCA_MAX_LABELS 64
#define PARCA_LABEL_NAME_MAX 128

struct parca_label {
    char name[PARCA_LABEL_NAME_MAX];
    size_t voff, vlen; /* value bytes in the set's text */
};

struct parca_labelset {
    uint32_t n;
    uint32_t dropped; /* labels past PARCA_MAX_LABELS */
    struct parca_label l[PARCA_MAX_LABELS];
    struct buf text;
};

void parca_labelset_init(struct parca_labelset *ls);
void parca_labelset_free(struct parca_labelset *ls);

/* [a-zA-Z_][a-zA-Z0-9_]* : a valid profile name for Parca. */
int parca_name_valid(const char *s, size_t n);

/* The item's `__name__` when it is a valid name, else the name Pyroscope
 * and Parca use for the profile's sample types. */
void parca_profile_name(const struct item *it, const struct dict *d,
                        const struct profile *p, char *out, size_t outlen);

/* Builds the label set of a series (see above); resets ls first. */
int parca_labels_build(struct parca_labelset *ls, const struct item *it,
                       const char *profile_name,
                       const struct cfg_map *external);

/* Value of label `name`, or NULL (for tests and logs). */
const char *parca_label_value(const struct parca_labelset *ls,
                              const char *name, size_t *len);

/* Appends RawProfileSeries.labels (field 1, a LabelSet) to out. */
int parca_labels_encode(const struct parca_labelset *ls, struct buf *out);

/*
 * Checks an uncompressed pprof for the rules Parca adds to google/pprof
 * that a profile from elsewhere may break: string_table[0] == "" and
 * mapping, location and function ids numbered 1..N in table order. Sets
 * *time_nanos. Returns 1 when the bytes can be forwarded as they are.
 */
int parca_pprof_forwardable(const uint8_t *p, size_t len, int64_t *time_nanos);

#endif
