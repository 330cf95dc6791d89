/*
 * pm_remote.h: Prometheus remote write of the profilemetrics counters: a
 * thread that, every interval, sends every series with the current time
 * as one WriteRequest (protobuf, snappy block format, remote write 1.0),
 * and once more when stopped, so the last counts arrive.
 *
 * A failed push is retried with the exporter's `retry_on_failure` backoff,
 * each attempt bounded by its `timeout`; a push still failing when the next
 * one is due is given up (counted): counters are cumulative, so the next
 * push carries everything the lost one had.
 */
#ifndef PROFCOL_PM_REMOTE_H
#define PROFCOL_PM_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "exporterhelper/exporter_helper.h"
#include "exporters/profilemetrics/pm_store.h"

struct mscope;

struct pm_remote_cfg {
    char *endpoint; /* full URL; "" = no remote write */
    int64_t interval_ms;
};

struct pm_remote;

/* Starts the pushing thread; helper gives timeout and retry settings. */
int pm_remote_start(const struct pm_remote_cfg *cfg,
                    const struct exphelper_cfg *helper, struct pm_store *store,
                    const char *id, struct mscope *metrics,
                    struct pm_remote **out, struct errctx *e);
/* Pushes one last time (bounded by timeout), stops and frees. */
void pm_remote_stop(struct pm_remote *r);

/* Loads libsnappy (once per process; pm_snappy.c says why at run time).
 * PC_OK, or PC_EUNSUPPORTED with e = "snappy library not available: ...".
 * pm_remote_start calls it. */
int pm_snappy_load(struct errctx *e);
/* Snappy block format of in, appended to out; after pm_snappy_load. */
int pm_snappy_compress(const uint8_t *in, size_t len, struct buf *out);

#endif
