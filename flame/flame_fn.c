/* flame_fn.c: per function flat and cumulative values of a flame tree. */
#include "flame/flame.h"

#include <stdlib.h>

#include "core/err.h"

/*
 * flat: a name's self values summed over its nodes. cum: its totals, but a
 * node whose name already stands on the path above it (recursion) is
 * not counted again: its value is inside the outer node's total. A walk
 * over the tree with a count of each name on the current path gives both.
 */
int flame_functions(const struct flame_tree *t, struct flame_fn **out,
                    uint32_t *n)
{
    struct flame_fn *fn = calloc((size_t)t->nnames + 1, sizeof(*fn));
    uint32_t *onpath = calloc((size_t)t->nnames + 1, sizeof(*onpath));
    uint32_t i, cur;

    if (fn == NULL || onpath == NULL) {
        free(fn);
        free(onpath);
        return PC_ENOMEM;
    }
    for (i = 0; i < t->nnames; i++) {
        fn[i].name = i;
    }
    cur = t->nodes[FLAME_ROOT].child;
    while (cur != 0) {
        const struct flame_node *nd = &t->nodes[cur];
        int s;
        for (s = 0; s < 2; s++) {
            fn[nd->name].flat[s] = flame_add64(fn[nd->name].flat[s],
                                               nd->self[s]);
            if (onpath[nd->name] == 0) {
                fn[nd->name].cum[s] = flame_add64(fn[nd->name].cum[s],
                                                  nd->total[s]);
            }
        }
        onpath[nd->name]++;
        if (nd->child != 0) {
            cur = nd->child;
            continue;
        }
        /* Up until a node with a next sibling, leaving each. */
        while (cur != 0) {
            onpath[t->nodes[cur].name]--;
            if (t->nodes[cur].next != 0) {
                cur = t->nodes[cur].next;
                break;
            }
            cur = t->nodes[cur].parent;
        }
    }
    free(onpath);
    *out = fn;
    *n = t->nnames;
    return PC_OK;
}
