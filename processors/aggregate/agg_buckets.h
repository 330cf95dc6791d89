/*
 * agg_buckets.h: the windows of the aggregate processor: one bucket per
 * series (kept attributes and tenant) and profile type, holding either the
 * one item that arrived so far (passed on untouched if it stays alone) or
 * the merge of all of them (model/pdata_merge.h).
 *
 * Main loop only (processors run there).
 */
#ifndef PROFCOL_AGG_BUCKETS_H
#define PROFCOL_AGG_BUCKETS_H

#include <stddef.h>
#include <stdint.h>

#include "component/batch.h"
#include "config/cfg.h"
#include "core/intern.h"

struct agg_bucket;

struct agg_buckets {
    struct agg_bucket *v;
    uint32_t n, cap;
    struct itab idx;
    size_t bytes; /* held: merges' memory, lone items' payloads */
    /* Settings (borrowed from the config). */
    const struct cfg_strlist *drop; /* sample labels left out */
    size_t max_bytes;
};

int agg_buckets_init(struct agg_buckets *a, const struct cfg_strlist *drop,
                     size_t max_bytes);
/* Frees what is held without emitting it. */
void agg_buckets_free(struct agg_buckets *a);

/* Takes the item's profiles into their buckets: PC_OK when taken (the
 * caller removes the item, dropping its references), PC_ETOOBIG when
 * max_bytes leaves no room (the item passes on unmerged), another code
 * when it cannot be decoded or merged (e says why; it passes on). When a
 * merge fails after other profiles of the item were merged, the item is
 * taken and *nlost counts the profiles left out (e says why). */
int agg_buckets_take(struct agg_buckets *a, struct batch *b, struct item *it,
                     uint32_t *nlost, struct errctx *e);

/* Moves everything held into out as items (merged profiles get time
 * window_start_ns and duration window_ns) and empties the buckets;
 * *nprofiles gets the number of profiles put in out, *nlost the buckets
 * that could not be (out of memory: the return code says so). */
int agg_buckets_flush(struct agg_buckets *a, struct batch *out,
                      int64_t window_start_ns, int64_t window_ns,
                      uint32_t *nprofiles, uint32_t *nlost);

#endif
