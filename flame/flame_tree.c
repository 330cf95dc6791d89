/* flame_tree.c: the flame graph tree: names, nodes, paths, merging. */
#include "flame/flame.h"

#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/err.h"

#define FLAME_MAX_DEFAULT ((size_t)1 << 30)

static int flame_root(struct flame_tree *t)
{
    struct pstr none = {"", 0};
    uint32_t id;
    int rc = flame_intern(t, none.ptr, 0, &id);

    if (rc != PC_OK) {
        return rc;
    }
    PC_ASSERT(id == 0);
    t->nodes = calloc(64, sizeof(*t->nodes));
    if (t->nodes == NULL) {
        return PC_ENOMEM;
    }
    t->cap_nodes = 64;
    t->nnodes = 1; /* the root: name 0, parent 0, no children */
    return PC_OK;
}

int flame_init(struct flame_tree *t, size_t max_bytes)
{
    int rc;

    memset(t, 0, sizeof(*t));
    t->max_bytes = max_bytes != 0 ? max_bytes : FLAME_MAX_DEFAULT;
    buf_init(&t->text, t->max_bytes);
    rc = itab_init(&t->name_index, 64);
    if (rc == PC_OK) {
        rc = itab_init(&t->child_index, 64);
    }
    if (rc == PC_OK) {
        rc = flame_root(t);
    }
    if (rc != PC_OK) {
        flame_free(t);
    }
    return rc;
}

void flame_free(struct flame_tree *t)
{
    free(t->nodes);
    free(t->names);
    buf_free(&t->text);
    itab_free(&t->name_index);
    itab_free(&t->child_index);
    memset(t, 0, sizeof(*t));
}

int flame_reset(struct flame_tree *t)
{
    size_t max = t->max_bytes;

    flame_free(t);
    return flame_init(t, max);
}

size_t flame_bytes(const struct flame_tree *t)
{
    return (size_t)t->cap_nodes * sizeof(struct flame_node) +
           (size_t)t->cap_names * sizeof(struct flame_name) + t->text.cap +
           itab_bytes(&t->name_index) + itab_bytes(&t->child_index);
}

struct pstr flame_name_text(const struct flame_tree *t, uint32_t id)
{
    struct pstr s = {"", 0};

    /* An empty text has no buffer: no arithmetic on NULL. */
    if (id < t->nnames && t->names[id].len > 0) {
        s.ptr = (const char *)t->text.data + t->names[id].off;
        s.len = t->names[id].len;
    }
    return s;
}

/* Bytes the index takes more when it grows on its next insert (itab
 * doubles past half full). */
static size_t flame_index_growth(const struct itab *ix)
{
    size_t cap = (size_t)ix->mask + 1;

    return ((size_t)ix->count + 1) * 2 > cap ? itab_bytes(ix) : 0;
}

/* Room for one more entry of size sz in an array of cap, within the bound:
 * the array doubles, and what it and its index ix will take is checked
 * first. */
static int flame_room(struct flame_tree *t, void **arr, uint32_t *cap,
                      uint32_t n, size_t sz, size_t extra,
                      const struct itab *ix)
{
    uint32_t ncap;
    void *nv;

    extra += flame_index_growth(ix);
    if (flame_bytes(t) + extra > t->max_bytes) {
        return PC_ETOOBIG;
    }
    if (n < *cap) {
        return PC_OK;
    }
    if (*cap > UINT32_MAX / 2) {
        return PC_ETOOBIG;
    }
    ncap = *cap != 0 ? *cap * 2 : 64;
    if (flame_bytes(t) + (size_t)(ncap - *cap) * sz + extra > t->max_bytes) {
        return PC_ETOOBIG;
    }
    nv = realloc(*arr, (size_t)ncap * sz);
    if (nv == NULL) {
        return PC_ENOMEM;
    }
    *arr = nv;
    *cap = ncap;
    return PC_OK;
}

int flame_intern(struct flame_tree *t, const char *s, size_t len, uint32_t *id)
{
    struct itab_probe pr;
    int32_t i;
    int rc;

    if (len > UINT32_MAX / 2) {
        return PC_ETOOBIG;
    }
    itab_probe_start(&t->name_index, XXH3_64bits(s, len), &pr);
    while ((i = itab_probe_next(&t->name_index, &pr)) >= 0) {
        struct flame_name *nm = &t->names[i];
        if (nm->len == len && memcmp(t->text.data + nm->off, s, len) == 0) {
            *id = (uint32_t)i;
            return PC_OK;
        }
    }
    rc = flame_room(t, (void **)&t->names, &t->cap_names, t->nnames,
                    sizeof(*t->names),
                    len + (t->text.cap - t->text.len < len ? t->text.cap + len
                                                           : 0),
                    &t->name_index);
    if (rc == PC_OK) {
        rc = buf_append(&t->text, s, len);
    }
    if (rc == PC_OK) {
        rc = itab_insert(&t->name_index, &pr, (int32_t)t->nnames);
    }
    if (rc != PC_OK) {
        return rc;
    }
    t->names[t->nnames].off = (uint32_t)(t->text.len - len);
    t->names[t->nnames].len = (uint32_t)len;
    *id = t->nnames++;
    return PC_OK;
}

static uint64_t flame_child_hash(uint32_t parent, uint32_t name)
{
    uint64_t k = ((uint64_t)parent << 32) | name;

    return XXH3_64bits(&k, sizeof(k));
}

/* The child of parent named name, added when absent. */
static int flame_child(struct flame_tree *t, uint32_t parent, uint32_t name,
                       uint32_t *node)
{
    struct itab_probe pr;
    struct flame_node *c;
    int32_t i;
    int rc;

    itab_probe_start(&t->child_index, flame_child_hash(parent, name), &pr);
    while ((i = itab_probe_next(&t->child_index, &pr)) >= 0) {
        if (t->nodes[i].parent == parent && t->nodes[i].name == name) {
            *node = (uint32_t)i;
            return PC_OK;
        }
    }
    if (t->nnodes >= INT32_MAX) {
        return PC_ETOOBIG;
    }
    rc = flame_room(t, (void **)&t->nodes, &t->cap_nodes, t->nnodes,
                    sizeof(*t->nodes), 0, &t->child_index);
    if (rc == PC_OK) {
        rc = itab_insert(&t->child_index, &pr, (int32_t)t->nnodes);
    }
    if (rc != PC_OK) {
        return rc;
    }
    c = &t->nodes[t->nnodes];
    memset(c, 0, sizeof(*c));
    c->name = name;
    c->parent = parent;
    c->next = t->nodes[parent].child;
    t->nodes[parent].child = t->nnodes;
    *node = t->nnodes++;
    return PC_OK;
}

int flame_add_path(struct flame_tree *t, const uint32_t *names, uint32_t n,
                   int side, int64_t v)
{
    uint32_t path[FLAME_MAX_DEPTH + 1];
    uint32_t i, depth = 0, cur = FLAME_ROOT;
    int rc = PC_OK;

    PC_ASSERT(side == 0 || side == 1);
    if (n > FLAME_MAX_DEPTH) {
        n = FLAME_MAX_DEPTH;
    }
    path[depth++] = FLAME_ROOT;
    /* Nodes first, values after: a frame that does not fit leaves the
     * values of the part that did consistent. */
    for (i = 0; i < n; i++) {
        rc = flame_child(t, cur, names[i], &cur);
        if (rc != PC_OK) {
            break;
        }
        path[depth++] = cur;
    }
    for (i = 0; i < depth; i++) {
        struct flame_node *nd = &t->nodes[path[i]];
        nd->total[side] = flame_add64(nd->total[side], v);
    }
    t->nodes[path[depth - 1]].self[side] =
        flame_add64(t->nodes[path[depth - 1]].self[side], v);
    return rc;
}

/* The node of dst matching src's node sn (whose parent maps to dp). */
static int flame_merge_node(struct flame_tree *dst,
                            const struct flame_tree *src, uint32_t sn,
                            uint32_t dp, uint32_t *dn)
{
    struct pstr nm = flame_name_text(src, src->nodes[sn].name);
    uint32_t name;
    int rc = flame_intern(dst, nm.ptr, nm.len, &name);

    if (rc != PC_OK) {
        return rc;
    }
    return flame_child(dst, dp, name, dn);
}

int flame_merge(struct flame_tree *dst, const struct flame_tree *src,
                int src_side, int dst_side)
{
    uint32_t *map; /* src node -> dst node; UINT32_MAX: not merged */
    uint32_t i;
    int rc = PC_OK;

    PC_ASSERT(src_side == 0 || src_side == 1);
    PC_ASSERT(dst_side == 0 || dst_side == 1);
    map = malloc((size_t)src->nnodes * sizeof(*map));
    if (map == NULL) {
        return PC_ENOMEM;
    }
    map[0] = FLAME_ROOT;
    /* A node's index is above its parent's (nodes are only appended), so
     * one pass in index order sees every parent first. */
    for (i = 1; i < src->nnodes; i++) {
        uint32_t p = map[src->nodes[i].parent];
        map[i] = UINT32_MAX;
        if (p == UINT32_MAX || rc != PC_OK) {
            continue;
        }
        rc = flame_merge_node(dst, src, i, p, &map[i]);
        if (rc != PC_OK) {
            map[i] = UINT32_MAX;
        }
    }
    /* What did not fit is counted on its deepest merged ancestor. */
    for (i = 0; i < src->nnodes; i++) {
        uint32_t k = i, d;
        while (map[k] == UINT32_MAX) {
            k = src->nodes[k].parent;
        }
        d = map[k];
        if (k == i) {
            dst->nodes[d].total[dst_side] = flame_add64(
                dst->nodes[d].total[dst_side], src->nodes[i].total[src_side]);
        }
        dst->nodes[d].self[dst_side] = flame_add64(
            dst->nodes[d].self[dst_side], src->nodes[i].self[src_side]);
    }
    free(map);
    return rc;
}
