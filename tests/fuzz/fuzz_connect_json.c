/*
 * fuzz_connect_json.c: the Connect push request decoders (JSON and proto)
 * and sample_type_config JSON on arbitrary bytes. Decoded samples stay in
 * bounds; failures name their cause.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receivers/pyroscope/pyro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void walk(const struct pyro_push *p)
{
    uint32_t i, j;
    volatile size_t sum = 0;

    for (i = 0; i < p->nseries; i++) {
        for (j = 0; j < p->series[i].nlabels; j++) {
            sum += strlen(p->series[i].labels[j].name) +
                   strlen(p->series[i].labels[j].value);
        }
        for (j = 0; j < p->series[i].nsamples; j++) {
            if (p->series[i].samples[j].len > 0) {
                sum += p->series[i]
                           .samples[j]
                           .raw[p->series[i].samples[j].len - 1];
            }
        }
    }
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pyro_push p;
    struct pyro_stc stc[PYRO_MAX_STC];
    struct errctx e = {{0}};
    uint32_t n;

    if (pyro_push_decode_json(data, size, &p, &e) == PC_OK) {
        walk(&p);
        pyro_push_free(&p);
    } else if (e.msg[0] == '\0') {
        abort();
    }
    if (pyro_push_decode_proto(data, size, &p, &e) == PC_OK) {
        walk(&p);
        pyro_push_free(&p);
    }
    (void)pyro_stc_parse(data, size, stc, PYRO_MAX_STC, &n, &e);
    return 0;
}
