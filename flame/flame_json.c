/* flame_json.c: a flame tree as JSON, for scripts (the status page API). */
#include "flame/flame.h"

#include <inttypes.h>
#include <stdlib.h>

#include "core/err.h"
#include "core/jsonesc.h"

/* Names used by the kept nodes, renumbered densely (0 = unused). */
static int flame_json_names(const struct flame_tree *t, const uint32_t *keep,
                            uint32_t *name_map, struct buf *out)
{
    uint32_t i, k = 0;
    int rc = buf_append_str(out, "{\"names\":[");

    for (i = 0; i < t->nnodes && rc == PC_OK; i++) {
        uint32_t nm = t->nodes[i].name;
        struct pstr s;
        if (keep[i] == UINT32_MAX || name_map[nm] != 0) {
            continue;
        }
        name_map[nm] = ++k;
        s = flame_name_text(t, nm);
        if (k > 1) {
            rc = buf_putc(out, ',');
        }
        rc = rc == PC_OK ? jsonesc_quoted(out, i == 0 ? "all" : s.ptr,
                                          i == 0 ? 3 : s.len)
                         : rc;
    }
    return rc == PC_OK ? buf_append_str(out, "],\"nodes\":[") : rc;
}

int flame_json(const struct flame_tree *t, int side, double min_share,
               struct buf *out)
{
    int64_t root = t->nodes[FLAME_ROOT].total[side];
    uint32_t *keep = malloc((size_t)t->nnodes * sizeof(*keep));
    uint32_t *name_map = calloc((size_t)t->nnames + 1, sizeof(*name_map));
    uint32_t i, k = 0;
    int rc;

    if (keep == NULL || name_map == NULL) {
        free(keep);
        free(name_map);
        return PC_ENOMEM;
    }
    /* Index order has parents first; a kept node's ancestors are at least
     * as large, so they are kept too. */
    for (i = 0; i < t->nnodes; i++) {
        int64_t v = t->nodes[i].total[side];
        int small = root > 0 && (double)v < min_share * (double)root;
        keep[i] = (i == 0 || (v > 0 && !small)) ? k++ : UINT32_MAX;
    }
    rc = flame_json_names(t, keep, name_map, out);
    for (i = 0, k = 0; i < t->nnodes && rc == PC_OK; i++) {
        const struct flame_node *nd = &t->nodes[i];
        if (keep[i] == UINT32_MAX) {
            continue;
        }
        rc = buf_printf(out, "%s[%u,%d,%" PRId64 ",%" PRId64 "]",
                        k++ ? "," : "", name_map[nd->name] - 1,
                        i == 0 ? -1 : (int)keep[nd->parent], nd->total[side],
                        nd->self[side]);
    }
    free(keep);
    free(name_map);
    return rc == PC_OK ? buf_append_str(out, "]}") : rc;
}
