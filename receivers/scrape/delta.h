/*
 * delta.h: collector-side deltas of cumulative Go profiles (internal to
 * receivers/scrape/; the unit tests use it too).
 *
 * Go's /debug/pprof/allocs, /heap, /mutex and /block report counters that
 * grow from process start. For each scrape target the receiver keeps the
 * previous scrape's cumulative values, keyed by a 64-bit hash of the sample's
 * stack (by content: address, mapping file, function names, files, lines,
 * not by ids, which Go renumbers every time) and labels, and emits
 * value - previous for the cumulative sample types (alloc_objects,
 * alloc_space, contentions, delay); other types (inuse_*) are kept as
 * they are. As Grafana Alloy does:
 *  - the first scrape only sets the baseline (nothing is emitted);
 *  - a value lower than before means the process restarted: the whole
 *    scrape is emitted as is (its values are the window since the restart);
 *  - samples whose every value is 0 afterwards are dropped;
 *  - duration_nanos becomes the window (time_nanos difference of the two
 *    scrapes, else the difference of the scrape times).
 * Several samples with the same key (Go's heap buckets of equal stacks)
 * are summed per key; the key's delta goes to its first sample.
 *
 * The new baseline is built beside the old one and only replaces it on
 * delta_commit(), so a scrape that the pipeline refused is diffed again
 * against the old baseline at the next scrape and no window is lost.
 * Not thread-safe: one state is used by one thread.
 */
#ifndef PROFCOL_SCRAPE_DELTA_H
#define PROFCOL_SCRAPE_DELTA_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/intern.h"
#include "model/profile.h"

#define DELTA_MAX_TYPES 16

/* The cumulative values of one scrape by key. */
struct delta_table {
    struct itab idx; /* hash -> entry */
    uint64_t *keys;
    int64_t *vals; /* n * ncum */
    uint8_t *seen; /* emit: key's first sample already done */
    uint32_t n, cap;
    uint32_t ncum;      /* cumulative types per entry */
    uint64_t signature; /* hash of the sample types */
    int64_t time_ns;    /* profile time, else scrape time */
    int valid;
};

struct delta_state {
    struct delta_table base;    /* committed baseline */
    struct delta_table pending; /* built by delta_compute */
};

enum delta_outcome {
    DELTA_BASELINE = 0, /* first scrape (or types changed): drop */
    DELTA_EMIT = 1,     /* pd now holds the window */
};

/* 1 when a sample type of this name is cumulative in Go's profiles. */
int delta_type_cumulative(struct pstr type);

/* 1 when the first profile of pd has a cumulative sample type. */
int delta_applies(const struct pdata *pd);

void delta_state_init(struct delta_state *s);
void delta_state_free(struct delta_state *s);
/* Memory held by the committed baseline. */
size_t delta_state_bytes(const struct delta_state *s);

/*
 * Builds the new baseline from pd's first profile and, when a baseline
 * exists, rewrites that profile in place into the window's delta.
 * scrape_ns is the wall-clock time of the scrape (used when the profile has
 * no time_nanos). Fails with PC_ETOOBIG when the new baseline would exceed
 * max_bytes (pd is then unchanged and the old baseline dropped).
 * *outcome tells whether pd is to be emitted.
 */
int delta_compute(struct delta_state *s, struct pdata *pd, int64_t scrape_ns,
                  size_t max_bytes, enum delta_outcome *outcome,
                  struct errctx *e);
/* Bytes the pending baseline would take. */
size_t delta_pending_bytes(const struct delta_state *s);
/* The pending baseline replaces the committed one. */
void delta_commit(struct delta_state *s);
/* Forgets the pending baseline (the scrape was not delivered). */
void delta_abort(struct delta_state *s);

#endif
