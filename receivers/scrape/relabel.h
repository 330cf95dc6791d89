/*
 * relabel.h: label sets and Prometheus relabeling for the scrape receiver
 * (internal to receivers/scrape/; the unit tests and the fuzz target use it
 * too).
 *
 * A label set is a small array of (name, value) pairs kept sorted by name,
 * each string malloc'd and owned by the set. Relabel rules follow
 * Prometheus exactly: the regex is anchored at both ends (`\A(?:re)\z`,
 * dot matching newlines, as Go's `^(?s:re)$`), the source values are joined
 * with the separator, `$1` / `${1}` / `$name` in target_label and
 * replacement expand as Go's regexp.Expand does, and hashmod is the last
 * 8 bytes of md5(value), big-endian, modulo the modulus.
 */
#ifndef PROFCOL_SCRAPE_RELABEL_H
#define PROFCOL_SCRAPE_RELABEL_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "config/cfg.h"

/* Bounds: a target with more labels, or a longer value, is refused. Real
 * pods carry hundreds of labels and annotations (node metadata, 256 KiB of
 * kubectl.kubernetes.io/last-applied-configuration at most). */
#define LABELS_MAX 4096
#define LABEL_VALUE_MAX 262144

struct label {
    char *name;
    char *value;
};

struct labelset {
    struct label *v;
    uint32_t n, cap;
};

void labels_init(struct labelset *ls);
void labels_free(struct labelset *ls);
int labels_copy(struct labelset *dst, const struct labelset *src);
/* NULL when absent. */
const char *labels_get(const struct labelset *ls, const char *name);
/* Sets (copies) name=value; PC_ETOOBIG beyond the bounds. */
int labels_set(struct labelset *ls, const char *name, const char *value);
int labels_set_n(struct labelset *ls, const char *name, const char *value,
                 size_t vlen);
void labels_del(struct labelset *ls, const char *name);
/* Stable 64-bit hash of the whole set (names and values). */
uint64_t labels_hash(const struct labelset *ls);
int labels_equal(const struct labelset *a, const struct labelset *b);
/* `{a="1", b="2"}`, truncated to len. */
void labels_format(const struct labelset *ls, char *out, size_t len);
/* [a-zA-Z_][a-zA-Z0-9_]* */
int label_name_valid(const char *s);

enum relabel_action {
    RELABEL_REPLACE = 0,
    RELABEL_KEEP,
    RELABEL_DROP,
    RELABEL_HASHMOD,
    RELABEL_LABELMAP,
    RELABEL_LABELDROP,
    RELABEL_LABELKEEP,
    RELABEL_LOWERCASE,
    RELABEL_UPPERCASE,
    RELABEL_KEEPEQUAL,
    RELABEL_DROPEQUAL,
};

/* One rule as configured (filled by cfg_decode from relabel_cfg_table). */
struct relabel_cfg {
    struct cfg_strlist source_labels;
    char *separator;
    char *regex;
    char *target_label;
    char *replacement;
    int64_t modulus;
    int action;
};

extern const struct cfg_entry relabel_cfg_table[];

struct relabel_rule;

/* Compiled rules. */
struct relabel_rules {
    struct relabel_rule *r;
    uint32_t n;
};

/* Compiles and checks rules (the checks Prometheus makes: a target_label
 * for replace/hashmod/..., a modulus for hashmod, no source labels for
 * label* actions); e names the first bad rule. */
int relabel_compile(const struct relabel_cfg *cfg, uint32_t n,
                    struct relabel_rules *out, struct errctx *e);
void relabel_free(struct relabel_rules *rules);

/* Applies the rules in order to ls (one thread at a time per rules: each
 * rule keeps its match buffer). Returns 1 when the set is kept, 0 when
 * a keep/drop rule dropped it, or a negative PC_E* code (a bound). */
int relabel_apply(const struct relabel_rules *rules, struct labelset *ls);

/* The hashmod value Prometheus computes for value. */
uint64_t relabel_hashmod(const char *value, size_t len, uint64_t modulus);

#endif
