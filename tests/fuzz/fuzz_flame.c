/* fuzz_flame.c: a pprof from arbitrary bytes into a flame graph tree, then
 * the per function table, SVG and JSON. What decodes must draw: the root's
 * total is the (wrapping) sum of every sample's value, however odd the
 * indices, names or values of the profile. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "codec/pprof.h"
#include "core/buf.h"
#include "core/err.h"
#include "flame/flame.h"
#include "model/pdata_iter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void draw(const struct flame_tree *t)
{
    struct flame_render r = {0};
    struct flame_fn *fn = NULL;
    struct buf b;
    uint32_t n;

    buf_init(&b, (size_t)64 << 20);
    r.title = "fuzz";
    r.standalone = 1;
    (void)flame_svg(t, &r, &b);
    buf_reset(&b);
    r.diff = 1;
    (void)flame_svg(t, &r, &b);
    buf_reset(&b);
    (void)flame_json(t, 0, 0.001, &b);
    buf_free(&b);
    if (flame_functions(t, &fn, &n) == PC_OK) {
        free(fn);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct pdata *pd = NULL;
    struct pdata_iter w;
    struct profile *p;

    if (pprof_decode(data, size, NULL, &pd, NULL) != PC_OK) {
        return 0;
    }
    pdata_iter_init(&w, pd, -1);
    while ((p = pdata_iter_next(&w)) != NULL) {
        struct flame_tree t;
        int64_t want = 0;
        uint32_t vi, i;
        if (flame_type_index(&pd->dict, p, NULL, &vi) != PC_OK ||
            flame_init(&t, (size_t)16 << 20) != PC_OK) {
            continue;
        }
        for (i = 0; i < p->nsamples; i++) {
            want = flame_add64(want,
                               flame_sample_value(p, &p->samples[i], vi));
        }
        if (flame_add_profile(&t, &pd->dict, p, vi, 0, NULL, NULL) == PC_OK &&
            t.nodes[FLAME_ROOT].total[0] != want) {
            abort();
        }
        draw(&t);
        flame_free(&t);
    }
    pdata_free(pd);
    return 0;
}
