/*
 * fuzz_otlp.c: the OTLP decoder on arbitrary bytes. Whatever decodes must
 * encode, decode again, and its encoding must pass otlp_validate: the
 * encoder's guarantees (zero entries, no duplicates, indices in range,
 * windows covering timestamps) hold for every input the decoder accepts.
 */
#include <stdint.h>
#include <stdlib.h>

#include "model/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pdata *pd = NULL, *again = NULL;
    const struct pdata *in[1];
    struct errctx e;
    struct buf b;

    if (otlp_decode(data, size, NULL, &pd, &e) != PC_OK) {
        return 0;
    }
    buf_init(&b, BUF_MAX_DEFAULT);
    in[0] = pd;
    if (otlp_encode(in, 1, &b, &e) != PC_OK) {
        abort();
    }
    if (otlp_validate(b.data, b.len, &e) != PC_OK) {
        abort();
    }
    if (otlp_decode_borrow(b.data, b.len, NULL, &again, &e) != PC_OK) {
        abort();
    }
    pdata_free(again);
    buf_free(&b);
    pdata_free(pd);
    return 0;
}
