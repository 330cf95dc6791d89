/*
 * fuzz_otlp_json.c: the OTLP/JSON codec on arbitrary text. Whatever
 * transcodes and decodes must survive protobuf -> JSON -> protobuf with the
 * same meaning (compared through the deterministic binary encoder); the
 * bytes are also fed to the
 * protobuf -> JSON writer, whose output, when it succeeds, must parse back.
 * Inputs are capped so a run stays fast.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_canon(const struct pdata *pd, struct buf *out)
{
    const struct pdata *in[1] = {pd};
    struct errctx e;

    buf_init(out, BUF_MAX_DEFAULT);
    if (otlp_encode(in, 1, out, &e) != PC_OK) {
        abort();
    }
}

/*
 * The transcoder keeps meaning: text -> protobuf P -> text J -> protobuf P2
 * decodes to the same model as P, and J is a fixed point. (Each side is one
 * decode from the wire, so this tests the JSON codec, not the binary one.)
 */
static void fuzz_json_side(const uint8_t *data, size_t size)
{
    struct pdata *a = NULL, *b = NULL;
    struct errctx e;
    struct buf p, j, p2, j2, ca, cb;

    buf_init(&p, BUF_MAX_DEFAULT);
    if (otlp_json_to_pb(OTLP_JSON_REQUEST, (const char *)data, size, &p, &e) !=
            PC_OK ||
        otlp_decode(p.data, p.len, NULL, &a, &e) != PC_OK) {
        buf_free(&p);
        return;
    }
    buf_init(&j, BUF_MAX_DEFAULT);
    buf_init(&p2, BUF_MAX_DEFAULT);
    buf_init(&j2, BUF_MAX_DEFAULT);
    if (otlp_pb_to_json(OTLP_JSON_REQUEST, p.data, p.len, &j, &e) != PC_OK ||
        otlp_json_to_pb(OTLP_JSON_REQUEST, (const char *)j.data, j.len, &p2,
                        &e) != PC_OK ||
        otlp_decode(p2.data, p2.len, NULL, &b, &e) != PC_OK ||
        otlp_pb_to_json(OTLP_JSON_REQUEST, p2.data, p2.len, &j2, &e) !=
            PC_OK) {
        abort();
    }
    if (j.len != j2.len || memcmp(j.data, j2.data, j.len) != 0) {
        abort();
    }
    fuzz_canon(a, &ca);
    fuzz_canon(b, &cb);
    if (ca.len != cb.len || memcmp(ca.data, cb.data, ca.len) != 0) {
        abort();
    }
    buf_free(&ca);
    buf_free(&cb);
    buf_free(&p);
    buf_free(&j);
    buf_free(&p2);
    buf_free(&j2);
    pdata_free(a);
    pdata_free(b);
}

static void fuzz_pb_side(const uint8_t *data, size_t size)
{
    struct errctx e;
    struct buf js, pb;

    buf_init(&js, BUF_MAX_DEFAULT);
    if (otlp_pb_to_json(OTLP_JSON_REQUEST, data, size, &js, &e) == PC_OK) {
        buf_init(&pb, BUF_MAX_DEFAULT);
        if (otlp_json_to_pb(OTLP_JSON_REQUEST, (const char *)js.data, js.len,
                            &pb, &e) != PC_OK) {
            abort();
        }
        buf_free(&pb);
    }
    buf_free(&js);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) {
        return 0;
    }
    fuzz_json_side(data, size);
    fuzz_pb_side(data, size);
    return 0;
}
