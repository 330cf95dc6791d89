/*
 * fuzz_jfr.c: the JFR reader and its conversion on arbitrary bytes, with
 * small limits. Whatever converts must encode as pprof (the profiles keep
 * the model's rules); every failure names its cause.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "codec/jfr/jfr.h"
#include "codec/pprof.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void count_nothing(void *arg, const char *type, uint64_t n)
{
    (void)arg;
    (void)type;
    (void)n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct jfr_limits lim;
    struct jfr_options o = {0};
    struct jfr_result res;
    struct errctx e = {{0}};
    uint32_t i;
    int rc;

    jfr_limits_default(&lim);
    lim.max_alloc = (size_t)64 << 20;
    lim.max_pool_entries = 1u << 16;
    lim.max_string_len = 1u << 16;
    o.limits = &lim;
    rc = jfr_convert(data, size, &o, &res, &e);
    if (rc != PC_OK) {
        if (res.pd != NULL || e.msg[0] == '\0') {
            abort();
        }
    } else {
        const struct scope_profiles *sp = &res.pd->resources[0].scopes[0];
        for (i = 0; i < sp->nprofiles; i++) {
            struct buf out;
            buf_init(&out, 0);
            rc = pprof_encode(res.pd, &sp->profiles[i], &out, &e);
            if (rc != PC_OK) {
                fprintf(stderr, "encode failed: %s\n", err_msg(&e, rc));
                abort();
            }
            buf_free(&out);
        }
        pdata_free(res.pd);
    }
    e.msg[0] = '\0';
    rc = jfr_count_events(data, size, &lim, count_nothing, NULL, &e);
    if (rc != PC_OK && e.msg[0] == '\0') {
        abort();
    }
    return 0;
}
