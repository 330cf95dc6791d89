/*
 * ynode.h: a YAML document as a small tree of nodes that remember where they
 * came from (file, line, column), so every configuration error can point at
 * its source. Built with libyaml; ${env:VAR} and ${env:VAR:-default} (also
 * bare ${VAR}, and $$ for a literal $) are expanded in scalar values (not in
 * mapping keys) while loading.
 *
 * Aliases (*name) are resolved by copying the anchored subtree; YAML merge
 * keys (<<) are rejected. Duplicate keys in a mapping are an error. The tree
 * is bounded: YNODE_MAX_DEPTH levels, YNODE_MAX_NODES nodes (after aliases
 * are resolved, so "billion laughs" stops early), YNODE_MAX_FILE bytes of
 * input and YNODE_MAX_SCALAR bytes per expanded scalar.
 *
 * Every node of a document lives in the document's arena and is freed with
 * ydoc_free(); pointers into the tree stay valid until then.
 */
#ifndef PROFCOL_YNODE_H
#define PROFCOL_YNODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"

#define YNODE_MAX_DEPTH 64
#define YNODE_MAX_NODES 100000
#define YNODE_MAX_FILE ((size_t)4 << 20)
#define YNODE_MAX_SCALAR ((size_t)1 << 20)

enum ynode_kind {
    YNODE_SCALAR,
    YNODE_MAP,
    YNODE_SEQ,
};

struct ynode {
    enum ynode_kind kind;
    const char *file;   /* shared, owned by the document */
    uint32_t line, col; /* 1-based */
    char *value;        /* SCALAR: text after env expansion */
    int quoted;         /* SCALAR: was quoted (so "true" is a string) */
    int is_null;        /* SCALAR: plain ~, null or nothing in the source */
    /* MAP: keys[i] -> children[i]; SEQ: children[i] (keys NULL). */
    struct ynode **keys;
    struct ynode **children;
    uint32_t n;
    /* Where the node hangs: parent (NULL for the root), and the key node
     * (map child) or index (sequence child). Used to name a node's path. */
    const struct ynode *parent;
    const struct ynode *pkey;
    uint32_t index;
};

struct ydoc {
    struct ynode *root; /* NULL for an empty document */
    char *file;
    struct arena arena; /* every node and string of the document */
};

/* Loads path. On failure returns a negative PC_E* code and writes
 * "FILE:LINE:COL: message" into err. doc is always safe to ydoc_free(). */
int ydoc_load_file(const char *path, struct ydoc *doc, char *err,
                   size_t errlen);
int ydoc_load_string(const char *name, const char *text, struct ydoc *doc,
                     char *err, size_t errlen);
int ydoc_load_mem(const char *name, const char *text, size_t len,
                  struct ydoc *doc, char *err, size_t errlen);
void ydoc_free(struct ydoc *doc);

/* Child of a mapping by key, or NULL. */
const struct ynode *ynode_get(const struct ynode *map, const char *key);

/* Plain ~ / null / empty scalar (or NULL): "use the default". */
int ynode_is_null(const struct ynode *n);

/* The node's path from the root, "exporters::file::queue" or
 * "processors::attributes::actions[2]"; "" for the root. Truncated to len. */
void ynode_path(const struct ynode *n, char *out, size_t len);

/*
 * Expands ${env:VAR}, ${env:VAR:-default}, ${VAR} and $$ in s (len bytes)
 * into a malloc'd string (*out). On a malformed reference returns PC_EINVAL,
 * *out NULL, and a message in err. Exposed for tests.
 */
int ynode_expand_env(const char *s, size_t len, char **out, char *err,
                     size_t errlen);

#endif
