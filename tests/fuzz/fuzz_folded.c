/*
 * fuzz_folded.c: folded and lines text to a profile on arbitrary bytes.
 * Whatever parses must encode to a pprof that decodes again with the same
 * number of samples.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/pprof.h"
#include "receivers/pyroscope/pyro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pyro_ptype pt;
    struct errctx e = {{0}};
    struct pdata *pd = NULL, *again = NULL;
    struct buf out;
    int fmt = size > 0 && (data[0] & 1) ? PYRO_TEXT_LINES : PYRO_TEXT_FOLDED;
    int rc;

    pyro_profile_type("cpu", 3, &pt);
    rc = pyro_folded_parse(data, size, (enum pyro_text_format)fmt, &pt, 100, 1,
                           64u << 20, &pd, &e);
    if (rc != PC_OK) {
        if (pd != NULL || e.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    if (pd == NULL) {
        return 0;
    }
    buf_init(&out, 0);
    rc = pprof_encode(pd, &pd->resources[0].scopes[0].profiles[0], &out, &e);
    if (rc != PC_OK ||
        pprof_decode(out.data, out.len, NULL, &again, &e) != PC_OK ||
        pdata_sample_count(again) != pdata_sample_count(pd)) {
        fprintf(stderr, "round trip failed: %s\n", err_msg(&e, rc));
        abort();
    }
    pdata_free(again);
    pdata_free(pd);
    buf_free(&out);
    return 0;
}
