/*
 * flame.h: a flame graph tree, frames keyed by name, built from profiles.
 *
 * Node 0 is the root (the whole profile). Every other node is one frame
 * name under its parent; two stacks that share a prefix of names share the
 * nodes of that prefix, so adding the samples of many profiles merges them.
 * Each node carries two sides of values (side 0 and side 1): a plain flame
 * graph uses side 0; a differential one puts the base on side 0 and the new
 * profile on side 1 of one tree.
 *
 * Bounded: a tree never grows past max_bytes (counted as allocated
 * capacity); an addition that would is refused with PC_ETOOBIG and leaves
 * the tree as it was before the frame that did not fit, so the values stay
 * consistent (a parent's total is at least the sum of its children's).
 *
 * Not thread-safe: one owner at a time.
 */
#ifndef PROFCOL_FLAME_H
#define PROFCOL_FLAME_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/intern.h"
#include "model/profile.h"

#define FLAME_ROOT 0u
/* Deepest stack taken, frames past it (callee side) are cut. */
#define FLAME_MAX_DEPTH 1024u

struct flame_node {
    uint32_t name;    /* index into the tree's names (root: 0, "") */
    uint32_t parent;  /* root: 0 */
    uint32_t child;   /* first child, 0 = none */
    uint32_t next;    /* next sibling, 0 = none */
    int64_t total[2]; /* this frame and its callees, per side */
    int64_t self[2];  /* this frame as the leaf, per side */
};

struct flame_name {
    uint32_t off, len; /* into text */
};

struct flame_tree {
    struct flame_node *nodes;
    uint32_t nnodes, cap_nodes;
    struct flame_name *names;
    uint32_t nnames, cap_names;
    struct buf text;         /* the bytes of every name */
    struct itab name_index;  /* text -> name */
    struct itab child_index; /* (parent, name) -> node */
    size_t max_bytes;
};

/* a + b wrapping around like unsigned numbers: values come from outside
 * (a hostile profile may hold INT64_MAX twice), and signed overflow would
 * be undefined. A profile that wraps draws nonsense, never a crash. */
static inline int64_t flame_add64(int64_t a, int64_t b)
{
    return (int64_t)((uint64_t)a + (uint64_t)b);
}

/* An empty tree (the root only) of at most max_bytes (0: 1 GiB). */
int flame_init(struct flame_tree *t, size_t max_bytes);
void flame_free(struct flame_tree *t);
/* Empties t, keeping its bound. */
int flame_reset(struct flame_tree *t);

/* Bytes held by t (allocated capacity, what max_bytes bounds). */
size_t flame_bytes(const struct flame_tree *t);

/* The text of name id (not NUL-terminated). */
struct pstr flame_name_text(const struct flame_tree *t, uint32_t id);

/* Id of the name s[0..len), added when new. */
int flame_intern(struct flame_tree *t, const char *s, size_t len,
                 uint32_t *id);

/* Adds value v on side to the path of names root-first (n names; n == 0
 * counts on the root itself). */
int flame_add_path(struct flame_tree *t, const uint32_t *names, uint32_t n,
                   int side, int64_t v);

/* Adds side src_side of every node of src to side dst_side of dst. */
int flame_merge(struct flame_tree *dst, const struct flame_tree *src,
                int src_side, int dst_side);

/* ---- from profiles (flame_profile.c) ------------------------------------ */

/*
 * Index of the sample type of p to draw: the one whose type is `type` or
 * whose "type:unit" is `type`; with type NULL, pprof's rule (the default
 * sample type if set, else the last). PC_ENOTFOUND when p has none such.
 */
int flame_type_index(const struct dict *d, const struct profile *p,
                     const char *type, uint32_t *vi);

/* Value of sample s for sample type index vi (profile.h's rules). */
int64_t flame_sample_value(const struct profile *p, const struct sample *s,
                           uint32_t vi);

/* A sample filter: non-zero keeps s. */
typedef int (*flame_keep_fn)(void *ctx, const struct dict *d,
                             const struct sample *s);

/*
 * Adds the samples of p (sample type vi) to side of t; keep may be NULL.
 * d is the dictionary p refers to. Frames: every line of every location
 * (inlined frames too), "0x..." for a location without a function.
 */
int flame_add_profile(struct flame_tree *t, const struct dict *d,
                      const struct profile *p, uint32_t vi, int side,
                      flame_keep_fn keep, void *keep_ctx);

/* ---- per function (flame_fn.c) ------------------------------------------ */

struct flame_fn {
    uint32_t name;
    int64_t flat[2]; /* self values of every node of this name */
    int64_t cum[2];  /* totals, counted once per stack (recursion) */
};

/* One entry per name of t (index = name id; entry 0 is the root's).
 * malloc'd, *n = t->nnames. */
int flame_functions(const struct flame_tree *t, struct flame_fn **out,
                    uint32_t *n);

/* ---- two sides compared (flame_diff.c) ---------------------------------- */

/* One function's shares of its side's total, in percent. */
struct flame_diff_row {
    struct pstr name; /* points into the tree */
    double flat[2], cum[2];
};

struct flame_diff {
    struct flame_diff_row *rows; /* largest flat change first */
    uint32_t n;
    int64_t total[2];
    double total_change; /* percent of side 0's total; INFINITY from 0 */
    int regression;      /* the total, or a flat share, rose past threshold */
};

/* Compares side 0 (base) with side 1 (new) of t, which must outlive d:
 * the total's change in percent, every function's flat and cumulative
 * share in percentage points. threshold: percent (total) and points (a
 * function's flat share) above which it is a regression. */
int flame_diff(const struct flame_tree *t, double threshold,
               struct flame_diff *d);
void flame_diff_free(struct flame_diff *d);

/* d as JSON (type: "type:unit"; at most top functions): {"type",
 * "base_total", "new_total", "total_change_pct" (null from 0),
 * "threshold_pct", "regression", "functions": [{"function",
 * "flat_base_pct", "flat_new_pct", "flat_change_pct", "cum_base_pct",
 * "cum_new_pct", "cum_change_pct"}]} */
int flame_diff_json(const struct flame_diff *d, const char *type,
                    double threshold, uint32_t top, struct buf *out);

/* ---- rendering (flame_svg.c, flame_json.c) ------------------------------ */

struct flame_render {
    const char *title; /* shown on top; may be NULL */
    const char *unit;  /* the values' unit ("nanoseconds", "bytes", ...) */
    int diff;          /* widths from side 1, colour by change from side 0 */
    int standalone;    /* a whole document (script and style included) */
    uint32_t width;    /* pixels; 0: 1200 */
    const char *id;    /* id of the <svg> element; may be NULL */
};

/* An SVG flame graph of t (root at the bottom) into out. */
int flame_svg(const struct flame_tree *t, const struct flame_render *r,
              struct buf *out);

/* The script (zoom, search) and style of every flame graph, for pages
 * that inline several SVGs (flame_assets.c, generated at build time). */
extern const unsigned char flame_js[];
extern const size_t flame_js_len;
extern const unsigned char flame_css[];
extern const size_t flame_css_len;

/* t as JSON: {"names":[...],"nodes":[[name,parent,total,self],...]} of side
 * (nodes in pre-order, so a parent comes before its children); nodes whose
 * total is below min_share of the root's are left out. */
int flame_json(const struct flame_tree *t, int side, double min_share,
               struct buf *out);

/* Appends s[0..n) with &, <, >, " and ' escaped for XML text or attribute
 * values; bytes below 0x20 other than tab and newline become '?'. */
int flame_xml_escape(struct buf *b, const char *s, size_t n);

#endif
