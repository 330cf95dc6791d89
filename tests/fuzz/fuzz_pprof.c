/*
 * fuzz_pprof.c: the pprof decoder on arbitrary bytes. Whatever decodes must
 * encode, and the encoding must decode again to the same number of samples
 * (the encoder only writes what the decoder accepts).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct decode_limits lim = {4u << 20};
    struct errctx e = {{0}};
    struct pdata *pd = NULL, *again = NULL;
    struct buf out;
    int rc;

    rc = pprof_decode(data, size, &lim, &pd, &e);
    if (rc != PC_OK) {
        /* Every failure names its cause. */
        if (pd != NULL || e.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    buf_init(&out, 0);
    rc = pprof_encode(pd, &pd->resources[0].scopes[0].profiles[0], &out, &e);
    if (rc != PC_OK) {
        fprintf(stderr, "encode failed: %s\n", err_msg(&e, rc));
        abort();
    }
    rc = pprof_decode(out.data, out.len, NULL, &again, &e);
    if (rc != PC_OK || pdata_sample_count(again) != pdata_sample_count(pd)) {
        fprintf(stderr, "re-decode failed: %s\n", err_msg(&e, rc));
        abort();
    }
    pdata_free(again);
    pdata_free(pd);
    buf_free(&out);
    return 0;
}
