/*
 * pyro_jfr.h: the `format=jfr` body of /ingest (the Pyroscope Java agent):
 * a JFR file and its optional LabelsSnapshot, each possibly gzipped, become
 * one profile per kind (process_cpu, memory, mutex, block, wall ...).
 */
#ifndef PROFCOL_PYRO_JFR_H
#define PROFCOL_PYRO_JFR_H

#include <stddef.h>
#include <stdint.h>

#include "codec/jfr/jfr.h"
#include "core/err.h"
#include "model/profile.h"

/* One pdata for the whole upload: profile kind i is resource i (same
 * resource attributes), so each kind becomes an item that views its
 * resource and every item shares one dictionary. */
struct pyro_jfr_items {
    struct pdata *pd;               /* owned until handed to a batch */
    const char *metric[JFR_NKINDS]; /* __name__ of resource i */
    uint32_t n;
    char jfr_event[32]; /* the recording's `event` setting */
};

/* Converts the upload; max bounds each gunzipped part and the tables. */
int pyro_jfr_convert(const uint8_t *jfr, size_t jlen, const uint8_t *labels,
                     size_t llen, int64_t sample_rate, size_t max,
                     struct pyro_jfr_items *out, struct errctx *e);
void pyro_jfr_items_free(struct pyro_jfr_items *it);

/* service_name of a JFR app name: an old profile-type suffix (`.cpu`,
 * `.itimer`, `.alloc_in_new_tlab_objects`, ...) split off, which Pyroscope
 * does not do for JFR (docs/conversion.md, section 8). */
void pyro_jfr_service(const char *app, char *out, size_t size);

#endif
