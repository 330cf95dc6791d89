/*
 * fuzz_merge.c: merging (model/pdata_merge.h) on whatever the pprof decoder
 * accepts. Every profile merged twice with itself: each sample type's sum
 * must double (wrapping, as the merge sums), the result must encode as a
 * pprof and decode again.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/pprof.h"
#include "model/pdata_iter.h"
#include "model/pdata_merge.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_one(const struct pdata *pd, const struct profile *p)
{
    static const char *const drop[] = {"span_id"};
    struct pdata_merge *m;
    struct pdata *r = NULL, *again = NULL;
    struct profile *rp;
    struct errctx e = {{0}};
    struct buf out;
    uint32_t t;

    if (pdata_merge_new(0, &m) != PC_OK ||
        pdata_merge_add(m, pd, p, drop, 0) != PC_OK ||
        pdata_merge_add(m, pd, p, drop, 0) != PC_OK ||
        pdata_merge_finish(m, NULL, 1, 2, &r) != PC_OK) {
        abort();
    }
    rp = &r->resources[0].scopes[0].profiles[0];
    for (t = 0; t < p->nsample_types; t++) {
        uint64_t one = (uint64_t)pdata_profile_total(p, t);
        if ((uint64_t)pdata_profile_total(rp, t) != one * 2) {
            fprintf(stderr, "type %u: sum not doubled\n", t);
            abort();
        }
    }
    buf_init(&out, 0);
    if (pprof_encode(r, rp, &out, &e) != PC_OK ||
        pprof_decode(out.data, out.len, NULL, &again, &e) != PC_OK) {
        fprintf(stderr, "merged profile: %s\n", e.msg);
        abort();
    }
    buf_free(&out);
    pdata_free(again);
    pdata_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct decode_limits lim = {4u << 20};
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct pdata_iter w;
    struct profile *p;

    if (pprof_decode(data, size, &lim, &pd, &e) != PC_OK) {
        return 0;
    }
    pdata_iter_init(&w, pd, -1);
    while ((p = pdata_iter_next(&w)) != NULL) {
        check_one(pd, p);
    }
    pdata_free(pd);
    return 0;
}
