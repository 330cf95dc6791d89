/*
 * fuzz_otlp.c: the OTLP decoder on arbitrary bytes. Whatever decodes must
 * encode, and its encoding must pass otlp_validate: the encoder's guarantees
 * (zero entries, no duplicates, indices in range, windows covering
 * timestamps) hold for every input the decoder accepts.
 *
 * The codec must also reach a fixed point after one round: with
 * y = encode(decode(x)), encode(decode(y)) == y byte for byte. Any rule of
 * docs/conversion.md (lifting pprof.* attributes, joining runs) that the
 * encoder does not exactly undo shows up here as a difference.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* decode + encode; aborts when bytes that decoded do not encode. */
static int fuzz_round(const uint8_t *data, size_t size, struct buf *out)
{
    struct pdata *pd = NULL;
    const struct pdata *in[1];
    struct errctx e;

    if (otlp_decode(data, size, NULL, &pd, &e) != PC_OK) {
        return 0;
    }
    /* The receivers' UTF-8 check: an answer, with a reason when no. */
    e.msg[0] = '\0';
    if (pdata_check_text(pd, &e) != PC_OK && e.msg[0] == '\0') {
        abort();
    }
    buf_init(out, BUF_MAX_DEFAULT);
    in[0] = pd;
    if (otlp_encode(in, 1, out, &e) != PC_OK) {
        abort();
    }
    pdata_free(pd);
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct errctx e;
    struct buf y, z;

    if (!fuzz_round(data, size, &y)) {
        return 0;
    }
    if (otlp_validate(y.data, y.len, &e) != PC_OK) {
        abort();
    }
    /* Our own output must decode, and encode to itself. */
    if (!fuzz_round(y.data, y.len, &z)) {
        abort();
    }
    if (z.len != y.len || memcmp(z.data, y.data, y.len) != 0) {
        abort();
    }
    buf_free(&z);
    buf_free(&y);
    return 0;
}
