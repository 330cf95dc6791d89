/*
 * cardinality_processor.c: the `cardinality` processor. Bounds the number
 * of series and of sample-label values a pipeline forwards, so one
 * misbehaving client (a pod id in a label, a span name per request) cannot
 * blow up a backend.
 *
 * Series level (attributes only, no payload decode), in this order per
 * item: deny_labels / allow_labels remove attributes; values longer than
 * max_label_value_length are truncated (at a UTF-8 boundary) or the label
 * dropped; beyond max_labels_per_series attributes, the extra ones are
 * dropped (protected names first, then by key order); then the item's
 * attribute set (and tenant) is hashed and looked up in the set of series
 * seen this window: a new series beyond max_series is dropped or stripped
 * of strip_labels and marked cardinality.limited="true".
 *
 * Sample level (decodes; copies only a payload it changes): deny_labels /
 * allow_labels remove sample labels too (a request_id arrives as a pprof
 * label as often as a tag); per label key,
 * the first sample_labels.max_values distinct values seen in a window pass;
 * later values become sample_labels.overflow_value, and samples that became
 * identical (same stack, link, labels, no timestamps) are merged by summing
 * their values, so no sample value is lost.
 *
 * All state is reset when a window ends, and bounded: the series set holds
 * at most max_series hashes (16 bytes each, table at most half full), each
 * tracked sample-label key at most max_values hashes, at most max_keys keys.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/clock.h"
#include "component/component.h"
#include "model/pdata_iter.h"
#include "telemetry/log.h"
#include "component/matcher.h"
#include "telemetry/metrics.h"
#include "component/series.h"

enum card_action { CARD_DROP, CARD_STRIP };
enum card_len_action { LEN_TRUNCATE, LEN_DROP };

static const char *const action_names[] = {"drop", "strip", NULL};
static const char *const len_action_names[] = {"truncate", "drop", NULL};

struct sample_labels_cfg {
    int64_t max_values;
    char *overflow_value;
    struct cfg_strlist keys;
    int64_t max_keys;
};

struct cardinality_cfg {
    int64_t window_ms;
    int64_t max_series;
    int action;
    struct cfg_strlist strip_labels;
    int64_t max_labels_per_series;
    int64_t max_label_value_length;
    int value_length_action;
    struct cfg_strlist deny_labels;
    struct cfg_strlist allow_labels;
    struct sample_labels_cfg sample_labels;
};

/* clang-format off */
static const struct cfg_entry sample_labels_table[] = {
    {.key = "max_values", .type = CFG_INT, .def = "0", .min = 0,
     .max = 1000000,
     .offset = offsetof(struct sample_labels_cfg, max_values),
     .doc = "distinct values per label key per window (0 = no limit)"},
    {.key = "overflow_value", .type = CFG_STRING, .def = "__overflow__",
     .offset = offsetof(struct sample_labels_cfg, overflow_value),
     .doc = "value that replaces values beyond max_values"},
    {.key = "keys", .type = CFG_STRLIST,
     .offset = offsetof(struct sample_labels_cfg, keys),
     .doc = "label keys to limit (globs); empty = every string label but "
            "span_id, trace_id, profile_id"},
    {.key = "max_keys", .type = CFG_INT, .def = "256", .min = 1,
     .max = 65536,
     .offset = offsetof(struct sample_labels_cfg, max_keys),
     .doc = "most label keys tracked per window; values of further keys "
            "become the overflow value"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry cardinality_table[] = {
    {.key = "window", .type = CFG_DURATION, .def = "1m", .min = 1000,
     .max = 86400000LL * 7,
     .offset = offsetof(struct cardinality_cfg, window_ms),
     .doc = "state is reset every window"},
    {.key = "max_series", .type = CFG_INT, .def = "0", .min = 0,
     .max = 100000000,
     .offset = offsetof(struct cardinality_cfg, max_series),
     .doc = "distinct series per window (0 = no limit)"},
    {.key = "action", .type = CFG_ENUM, .def = "drop",
     .enum_values = action_names,
     .offset = offsetof(struct cardinality_cfg, action),
     .doc = "drop or strip new series beyond max_series"},
    {.key = "strip_labels", .type = CFG_STRLIST,
     .offset = offsetof(struct cardinality_cfg, strip_labels),
     .doc = "attributes (globs) removed by action strip; empty = all but "
            "service.name and __*"},
    {.key = "max_labels_per_series", .type = CFG_INT, .def = "0", .min = 0,
     .max = 10000,
     .offset = offsetof(struct cardinality_cfg, max_labels_per_series),
     .doc = "attributes per series (0 = no limit)"},
    {.key = "max_label_value_length", .type = CFG_INT, .def = "0", .min = 0,
     .max = 1 << 20,
     .offset = offsetof(struct cardinality_cfg, max_label_value_length),
     .doc = "bytes per attribute value (0 = no limit)"},
    {.key = "value_length_action", .type = CFG_ENUM, .def = "truncate",
     .enum_values = len_action_names,
     .offset = offsetof(struct cardinality_cfg, value_length_action),
     .doc = "truncate long values or drop the attribute"},
    {.key = "deny_labels", .type = CFG_STRLIST,
     .offset = offsetof(struct cardinality_cfg, deny_labels),
     .doc = "attributes (globs) always removed"},
    {.key = "allow_labels", .type = CFG_STRLIST,
     .offset = offsetof(struct cardinality_cfg, allow_labels),
     .doc = "if set, only these attributes (globs) and protected ones kept"},
    {.key = "sample_labels", .type = CFG_SECTION, .sub = sample_labels_table,
     .offset = offsetof(struct cardinality_cfg, sample_labels),
     .doc = "limits on pprof sample-label values"},
    {.key = NULL},
};
/* clang-format on */

/* An open-addressing set of 64-bit hashes (0 is stored as 1). */
struct hset {
    uint64_t *slots;
    uint32_t cap, n, max;
};

/* Counters and log state for one label name. */
struct card_label {
    char *name;
    struct mcounter *dropped, *truncated, *overflow;
    uint64_t logged_window; /* window number of the last log, +1 */
};

/* Sample-label key state for the current window. */
struct card_key {
    char *name;
    struct hset values;
};

#define CARD_MAX_STAT_LABELS 256

struct cardinality_proc {
    const struct cardinality_cfg *cfg;
    struct component_host *host;
    uint64_t window; /* current window number */
    struct hset series;
    struct card_key *keys;
    uint32_t nkeys;
    struct card_label *labels;
    uint32_t nlabels;
    struct mcounter *series_dropped, *series_stripped;
    uint64_t series_logged; /* window number of the last log, +1 */
};

/* ---- hash sets ---------------------------------------------------------- */

static int hset_init(struct hset *h, uint32_t max)
{
    h->cap = 16;
    while (h->cap < 2 * (uint64_t)max + 2) {
        h->cap <<= 1;
    }
    h->n = 0;
    h->max = max;
    h->slots = calloc(h->cap, sizeof(uint64_t));
    return h->slots != NULL ? PC_OK : PC_ENOMEM;
}

static void hset_clear(struct hset *h)
{
    if (h->slots != NULL) {
        memset(h->slots, 0, h->cap * sizeof(uint64_t));
    }
    h->n = 0;
}

/* 1 when present or added, 0 when absent and the set is full. */
static int hset_admit(struct hset *h, uint64_t v)
{
    uint32_t i;

    v = v ? v : 1;
    i = (uint32_t)v & (h->cap - 1);
    while (h->slots[i] != 0) {
        if (h->slots[i] == v) {
            return 1;
        }
        i = (i + 1) & (h->cap - 1);
    }
    if (h->n >= h->max) {
        return 0;
    }
    h->slots[i] = v;
    h->n++;
    return 1;
}

/* ---- windows, labels, counters ----------------------------------------- */

static void window_roll(struct cardinality_proc *cp)
{
    uint64_t w = (uint64_t)clock_mono_ms() / (uint64_t)cp->cfg->window_ms;
    uint32_t i;

    if (w == cp->window) {
        return;
    }
    cp->window = w;
    hset_clear(&cp->series);
    for (i = 0; i < cp->nkeys; i++) {
        free(cp->keys[i].name);
        free(cp->keys[i].values.slots);
    }
    cp->nkeys = 0;
}

static struct mcounter *card_counter(struct cardinality_proc *cp,
                                     const char *name, const char *help,
                                     const char *label)
{
    if (label == NULL) {
        return mscope_counter(cp->host->metrics, name, help, NULL);
    }
    return mscope_counter(cp->host->metrics, name, help, "label", label, NULL);
}

/* The stats of a label name; beyond CARD_MAX_STAT_LABELS names, one shared
 * entry "__other__" keeps /metrics bounded. */
static struct card_label *label_stat(struct cardinality_proc *cp,
                                     struct pstr name)
{
    struct card_label *l;
    uint32_t i;
    char tmp[256];

    for (i = 0; i < cp->nlabels; i++) {
        if (pstr_eq(name, cp->labels[i].name)) {
            return &cp->labels[i];
        }
    }
    if (cp->nlabels >= CARD_MAX_STAT_LABELS - 1) {
        name.ptr = "__other__";
        name.len = 9;
        for (i = 0; i < cp->nlabels; i++) {
            if (strcmp(cp->labels[i].name, "__other__") == 0) {
                return &cp->labels[i];
            }
        }
    }
    l = &cp->labels[cp->nlabels];
    snprintf(tmp, sizeof(tmp), "%.*s", (int)name.len, name.ptr);
    l->name = strdup(tmp);
    if (l->name == NULL) {
        return NULL;
    }
    l->dropped = card_counter(
        cp, "profcol_processor_cardinality_labels_dropped_total",
        "Series attributes removed (deny/allow lists, limits).", tmp);
    l->truncated = card_counter(
        cp, "profcol_processor_cardinality_values_truncated_total",
        "Series attribute values truncated to max_label_value_length.", tmp);
    l->overflow = card_counter(
        cp, "profcol_processor_cardinality_sample_values_overflowed_total",
        "Sample label values replaced by the overflow value.", tmp);
    cp->nlabels++;
    return l;
}

/* Counts an event on label name and logs it at most once per window. */
static void label_event(struct cardinality_proc *cp, struct pstr name,
                        int kind, uint64_t n, const char *what)
{
    struct card_label *l = label_stat(cp, name);

    if (l == NULL) {
        return;
    }
    mcounter_add(kind == 0   ? l->dropped
                 : kind == 1 ? l->truncated
                             : l->overflow,
                 n);
    if (l->logged_window != cp->window + 1) {
        l->logged_window = cp->window + 1;
        log_warn(cp->host->id, what, "label=\"%s\"", l->name);
    }
}

/* ---- series level ------------------------------------------------------- */

/* service.name and __* names survive every removal. */
static int protected_key(struct pstr k)
{
    return pstr_eq(k, SERIES_SERVICE_ATTR) || pstr_eq(k, "service_name") ||
           series_internal(k);
}

static int globs_match(const struct cfg_strlist *l, struct pstr k)
{
    uint32_t i;

    for (i = 0; i < l->n; i++) {
        if (matcher_glob(l->items[i], k)) {
            return 1;
        }
    }
    return 0;
}

static void remove_attr(struct item *it, uint32_t i)
{
    memmove(&it->attrs[i], &it->attrs[i + 1],
            (it->nattrs - i - 1) * sizeof(*it->attrs));
    it->nattrs--;
}

/* Whether deny_labels / allow_labels remove the key k: a series attribute
 * or a sample label alike (request_id arrives as either). */
static int list_removes(const struct cardinality_cfg *cfg, struct pstr k)
{
    return !protected_key(k) &&
           (globs_match(&cfg->deny_labels, k) ||
            (cfg->allow_labels.n > 0 && !globs_match(&cfg->allow_labels, k)));
}

static int lists_set(const struct cardinality_cfg *cfg)
{
    return cfg->deny_labels.n > 0 || cfg->allow_labels.n > 0;
}

static void apply_lists(struct cardinality_proc *cp, struct item *it)
{
    uint32_t i = 0;

    while (i < it->nattrs) {
        struct pstr k = it->attrs[i].key;
        if (list_removes(cp->cfg, k)) {
            label_event(cp, k, 0, 1, "label removed by deny/allow list");
            remove_attr(it, i);
        } else {
            i++;
        }
    }
}

/* Longest prefix of at most max bytes that does not cut a UTF-8 sequence. */
static uint32_t utf8_cut(struct pstr s, uint32_t max)
{
    uint32_t n = max;

    while (n > 0 && ((unsigned char)s.ptr[n] & 0xC0) == 0x80) {
        n--;
    }
    return n;
}

static void apply_length(struct cardinality_proc *cp, struct item *it)
{
    uint32_t max = (uint32_t)cp->cfg->max_label_value_length, i = 0;

    while (max > 0 && i < it->nattrs) {
        struct anyvalue *v = &it->attrs[i].value;
        if (v->type != AV_STRING || v->u.s.len <= max ||
            protected_key(it->attrs[i].key)) {
            i++;
        } else if (cp->cfg->value_length_action == LEN_DROP) {
            label_event(
                cp, it->attrs[i].key, 0, 1,
                "label dropped: value longer than max_label_value_length");
            remove_attr(it, i);
        } else {
            label_event(cp, it->attrs[i].key, 1, 1,
                        "label value truncated to max_label_value_length");
            v->u.s.len = utf8_cut(v->u.s, max);
            i++;
        }
    }
}

static int kv_cmp(const void *a, const void *b)
{
    const struct keyvalue *x = a, *y = b;
    int px = protected_key(x->key), py = protected_key(y->key);
    uint32_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c;

    if (px != py) {
        return py - px; /* protected first */
    }
    c = memcmp(x->key.ptr, y->key.ptr, n);
    return c != 0 ? c : (int)x->key.len - (int)y->key.len;
}

static void apply_max_labels(struct cardinality_proc *cp, struct item *it)
{
    uint32_t max = (uint32_t)cp->cfg->max_labels_per_series;

    if (max == 0 || it->nattrs <= max) {
        return;
    }
    /* Deterministic: the same attribute set always keeps the same ones. */
    qsort(it->attrs, it->nattrs, sizeof(*it->attrs), kv_cmp);
    while (it->nattrs > max && !protected_key(it->attrs[it->nattrs - 1].key)) {
        label_event(cp, it->attrs[it->nattrs - 1].key, 0, 1,
                    "label dropped: more than max_labels_per_series");
        it->nattrs--;
    }
}

/* Order-independent hash of the attribute set and tenant. */
static uint64_t series_hash(const struct item *it)
{
    uint64_t h = XXH3_64bits(it->tenant.ptr != NULL ? it->tenant.ptr : "",
                             it->tenant.len);
    uint32_t i;

    for (i = 0; i < it->nattrs; i++) {
        uint64_t k = XXH3_64bits(it->attrs[i].key.ptr, it->attrs[i].key.len);
        h += av_hash(&it->attrs[i].value, k) * 0x9E3779B97F4A7C15ULL + k;
    }
    return h;
}

static int strip_series(struct cardinality_proc *cp, struct batch *b,
                        struct item *it)
{
    uint32_t i = 0;

    while (i < it->nattrs) {
        struct pstr k = it->attrs[i].key;
        int strip = cp->cfg->strip_labels.n > 0
                        ? globs_match(&cp->cfg->strip_labels, k)
                        : !protected_key(k);
        if (strip) {
            remove_attr(it, i);
        } else {
            i++;
        }
    }
    mcounter_add(cp->series_stripped, 1);
    return item_set_attr_str(b, it, "cardinality.limited", "true", 4);
}

/* 1 to keep the item, 0 to drop it, < 0 on error. */
static int series_level(struct cardinality_proc *cp, struct batch *b,
                        struct item *it)
{
    apply_lists(cp, it);
    apply_length(cp, it);
    apply_max_labels(cp, it);
    if (cp->cfg->max_series == 0 || hset_admit(&cp->series, series_hash(it))) {
        return 1;
    }
    if (cp->series_logged != cp->window + 1) {
        cp->series_logged = cp->window + 1;
        log_warn(cp->host->id, "max_series reached: new series limited",
                 "max_series=%lld action=%s", (long long)cp->cfg->max_series,
                 action_names[cp->cfg->action]);
    }
    if (cp->cfg->action == CARD_DROP) {
        mcounter_add(cp->series_dropped, 1);
        return 0;
    }
    return strip_series(cp, b, it) == PC_OK ? 1 : PC_ENOMEM;
}

/* ---- sample level ------------------------------------------------------- */

static int default_limited_key(struct pstr k)
{
    return !pstr_eq(k, "span_id") && !pstr_eq(k, "trace_id") &&
           !pstr_eq(k, "profile_id");
}

/* The key state, or NULL when the key is not limited. *full is set when the
 * key is limited but no more keys can be tracked. */
static struct card_key *key_state(struct cardinality_proc *cp, struct pstr k,
                                  int *full)
{
    const struct sample_labels_cfg *sl = &cp->cfg->sample_labels;
    struct card_key *ck;
    uint32_t i;

    *full = 0;
    if (sl->keys.n > 0 ? !globs_match(&sl->keys, k)
                       : !default_limited_key(k)) {
        return NULL;
    }
    for (i = 0; i < cp->nkeys; i++) {
        if (pstr_eq(k, cp->keys[i].name)) {
            return &cp->keys[i];
        }
    }
    if (cp->nkeys >= (uint32_t)sl->max_keys) {
        *full = 1;
        return NULL;
    }
    ck = &cp->keys[cp->nkeys];
    ck->name = strndup(k.ptr, k.len);
    if (ck->name == NULL || hset_init(&ck->values, (uint32_t)sl->max_values)) {
        free(ck->name);
        *full = 1;
        return NULL;
    }
    cp->nkeys++;
    return ck;
}

/* Verdicts per dictionary attribute. */
enum {
    SL_UNSEEN = 0,
    SL_PASS,
    SL_OVERFLOW, /* the value becomes overflow_value */
    SL_REMOVE,   /* deny_labels / allow_labels remove the label */
};

static uint8_t attr_verdict(struct cardinality_proc *cp, const struct dict *d,
                            int32_t a)
{
    const struct attr *at = &d->attrs[a];
    struct card_key *ck;
    int full;

    if (list_removes(cp->cfg, dict_str(d, at->key))) {
        return SL_REMOVE;
    }
    if (cp->cfg->sample_labels.max_values <= 0 ||
        at->value.type != AV_STRING) {
        return SL_PASS;
    }
    ck = key_state(cp, dict_str(d, at->key), &full);
    if (ck == NULL) {
        return full ? SL_OVERFLOW : SL_PASS;
    }
    return hset_admit(&ck->values,
                      XXH3_64bits(at->value.u.s.ptr, at->value.u.s.len))
               ? SL_PASS
               : SL_OVERFLOW;
}

struct sl_work {
    struct cardinality_proc *cp;
    uint8_t *verdict; /* per dictionary attribute */
    uint32_t nverdict;
    int32_t *overflow_attr; /* per key string: replacement attr, 0 = none */
    uint32_t nkeystr;
};

/* Read-only pass: admits values; returns 1 when some label must change. */
static int scan_profile(struct sl_work *w, const struct dict *d,
                        const struct profile *p)
{
    uint32_t i, j;
    int over = 0;

    for (i = 0; i < p->nsamples; i++) {
        const struct sample *s = &p->samples[i];
        for (j = 0; j < s->nattrs; j++) {
            int32_t a = s->attrs[j];
            if (a <= 0 || (uint32_t)a >= w->nverdict) {
                continue;
            }
            if (w->verdict[a] == SL_UNSEEN) {
                w->verdict[a] = attr_verdict(w->cp, d, a);
            }
            over |= w->verdict[a] >= SL_OVERFLOW;
        }
    }
    return over;
}

static int32_t overflow_attr(struct sl_work *w, struct pdata *pd, int32_t a)
{
    int32_t key = pd->dict.attrs[a].key;
    struct attr na;
    int32_t str;

    if (key >= 0 && (uint32_t)key < w->nkeystr && w->overflow_attr[key] != 0) {
        return w->overflow_attr[key];
    }
    str = dict_string(pd, w->cp->cfg->sample_labels.overflow_value,
                      strlen(w->cp->cfg->sample_labels.overflow_value));
    if (str < 0) {
        return str;
    }
    memset(&na, 0, sizeof(na));
    na.key = key;
    na.value.type = AV_STRING;
    na.value.u.s = dict_str(&pd->dict, str);
    str = dict_add_attr(pd, &na);
    if (str > 0 && key >= 0 && (uint32_t)key < w->nkeystr) {
        w->overflow_attr[key] = str;
    }
    return str;
}

static const struct stack *stack_of(const struct dict *d,
                                    const struct sample *s)
{
    static const struct stack none = {0, 0, {NULL}};

    return s->stack > 0 && (uint32_t)s->stack < d->nstacks
               ? &d->stacks[s->stack]
               : &none;
}

/* Samples are compared by stack and label content, not attribute index: decoders
 * may give every occurrence of a label its own dictionary entry. */
static uint64_t sample_key_hash(const struct dict *d, const struct sample *s)
{
    const struct stack *st = stack_of(d, s);
    uint64_t h = stack_hash(st, 0) ^ ((uint64_t)(uint32_t)s->link << 32);
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a = &d->attrs[s->attrs[i]];
        h = (h ^ av_hash(&a->value, (uint64_t)(uint32_t)a->key)) *
            0x100000001B3ULL;
    }
    return h;
}

static int same_attr(const struct dict *d, int32_t x, int32_t y)
{
    const struct attr *a = &d->attrs[x], *b = &d->attrs[y];

    return x == y || (a->key == b->key && a->unit == b->unit &&
                      av_equal(&a->value, &b->value));
}

static int same_sample_key(const struct dict *d, const struct sample *a,
                           const struct sample *b)
{
    uint32_t i;

    const struct stack *sa = stack_of(d, a), *sb = stack_of(d, b);

    if (a->link != b->link || a->nattrs != b->nattrs ||
        a->nvalues != b->nvalues || !stack_eq(sa, sb)) {
        return 0;
    }
    for (i = 0; i < a->nattrs; i++) {
        if (!same_attr(d, a->attrs[i], b->attrs[i])) {
            return 0;
        }
    }
    return 1;
}

/* Merges samples that became equal: sums values into the first. Samples
 * with timestamps are left alone (their values pair with timestamps). */
static int merge_samples(const struct dict *d, struct profile *p)
{
    uint32_t cap = 16, i, j, out = 0;
    int32_t *slots;

    while (cap < 2 * (uint64_t)p->nsamples + 2) {
        cap <<= 1;
    }
    slots = malloc(cap * sizeof(int32_t));
    if (slots == NULL) {
        return PC_ENOMEM;
    }
    memset(slots, 0xff, cap * sizeof(int32_t));
    for (i = 0; i < p->nsamples; i++) {
        struct sample *s = &p->samples[i];
        uint32_t h;
        int merged = 0;
        if (s->nts != 0) {
            p->samples[out++] = *s;
            continue;
        }
        h = (uint32_t)sample_key_hash(d, s) & (cap - 1);
        while (slots[h] >= 0) {
            struct sample *t = &p->samples[slots[h]];
            if (same_sample_key(d, t, s)) {
                for (j = 0; j < s->nvalues; j++) {
                    t->values[j] += s->values[j];
                }
                merged = 1;
                break;
            }
            h = (h + 1) & (cap - 1);
        }
        if (!merged) {
            slots[h] = (int32_t)out;
            p->samples[out++] = *s;
        }
    }
    p->nsamples = out;
    free(slots);
    return PC_OK;
}

static uint8_t verdict_of(const struct sl_work *w, int32_t a)
{
    return a > 0 && (uint32_t)a < w->nverdict ? w->verdict[a] : SL_PASS;
}

/* Applies the verdicts to one sample's labels: removed ones go, overflowing
 * ones take the overflow value. Returns 1 when the sample changed. */
static int rewrite_sample(struct sl_work *w, struct pdata *pd,
                          struct sample *s)
{
    uint32_t j, k = 0;
    int changed = 0;

    for (j = 0; j < s->nattrs; j++) {
        int32_t a = s->attrs[j];
        uint8_t v = verdict_of(w, a);
        struct pstr key = dict_str(&pd->dict, pd->dict.attrs[a].key);
        if (v == SL_REMOVE) {
            label_event(w->cp, key, 0, 1,
                        "sample label removed by deny/allow list");
            changed = 1;
            continue;
        }
        if (v == SL_OVERFLOW) {
            a = overflow_attr(w, pd, a);
            if (a < 0) {
                return a;
            }
            label_event(w->cp, key, 2, 1,
                        "sample label values beyond max_values overflowed");
            changed = 1;
        }
        s->attrs[k++] = a;
    }
    s->nattrs = k;
    return changed;
}

static int rewrite_profile(struct sl_work *w, struct pdata *pd,
                           struct profile *p)
{
    uint32_t i;
    int changed = 0, rc;

    for (i = 0; i < p->nsamples; i++) {
        rc = rewrite_sample(w, pd, &p->samples[i]);
        if (rc < 0) {
            return rc;
        }
        changed |= rc;
    }
    return changed ? merge_samples(&pd->dict, p) : PC_OK;
}

/* Runs fn over every profile of the item. */
static int each_profile(struct sl_work *w, struct item *it, struct pdata *pd,
                        int rewrite)
{
    struct pdata_iter pi;
    struct profile *p;
    int any = 0;

    pdata_iter_init(&pi, pd, it->resource);
    while ((p = pdata_iter_next(&pi)) != NULL) {
        if (!rewrite) {
            any |= scan_profile(w, &pd->dict, p);
        } else {
            int rc = rewrite_profile(w, pd, p);
            if (rc != PC_OK) {
                return rc;
            }
            any += (int)p->nsamples;
        }
    }
    return any;
}

static int sample_level(struct cardinality_proc *cp, struct batch *b,
                        struct item *it, struct errctx *e)
{
    struct sl_work w;
    struct pdata *pd;
    int rc;

    if (batch_item_decode(b, it, e) != PC_OK) {
        return PC_OK; /* forwarded as it came */
    }
    memset(&w, 0, sizeof(w));
    w.cp = cp;
    pd = it->pd->pd;
    w.nverdict = pd->dict.nattrs;
    w.verdict = calloc((size_t)w.nverdict + 1, 1);
    if (w.verdict == NULL) {
        return PC_ENOMEM;
    }
    rc = each_profile(&w, it, pd, 0);
    if (rc > 0) {
        rc = batch_item_payload_mut(b, it, &pd, e);
        w.nkeystr = pd->dict.nstrings;
        w.overflow_attr = calloc((size_t)w.nkeystr + 1, sizeof(int32_t));
        if (rc == PC_OK && w.overflow_attr == NULL) {
            rc = PC_ENOMEM;
        }
        if (rc == PC_OK) {
            rc = each_profile(&w, it, pd, 1);
            if (rc >= 0) {
                it->nsamples = (uint64_t)rc;
                rc = PC_OK;
            }
        }
    }
    free(w.verdict);
    free(w.overflow_attr);
    return rc < 0 ? rc : PC_OK;
}

static int cardinality_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct cardinality_proc *cp = ctx;
    uint32_t i, out = 0;
    int rc = PC_OK;

    window_roll(cp);
    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        int keep = rc == PC_OK ? series_level(cp, b, it) : 1;
        if (keep < 0) {
            rc = keep;
            keep = 1;
        }
        if (keep && rc == PC_OK &&
            (cp->cfg->sample_labels.max_values > 0 || lists_set(cp->cfg))) {
            rc = sample_level(cp, b, it, e);
        }
        if (keep) {
            b->items[out++] = *it;
        } else {
            blob_unref(it->raw);
            shared_pdata_unref(it->pd);
        }
    }
    b->nitems = out;
    if (rc != PC_OK) {
        return err_set(e, PC_EBUSY, "cardinality: %s", pc_strerror(rc));
    }
    return PC_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

static void cardinality_destroy(void *ctx)
{
    struct cardinality_proc *cp = ctx;
    uint32_t i;

    if (cp == NULL) {
        return;
    }
    for (i = 0; i < cp->nkeys; i++) {
        free(cp->keys[i].name);
        free(cp->keys[i].values.slots);
    }
    for (i = 0; i < cp->nlabels; i++) {
        free(cp->labels[i].name);
    }
    free(cp->keys);
    free(cp->labels);
    free(cp->series.slots);
    free(cp);
}

static int cardinality_create(const void *cfgp, struct component_host *host,
                              void **ctx, struct errctx *e)
{
    const struct cardinality_cfg *cfg = cfgp;
    struct cardinality_proc *cp = calloc(1, sizeof(*cp));
    int rc = PC_OK;

    if (cp == NULL) {
        return err_set(e, PC_ENOMEM, "cardinality: out of memory");
    }
    cp->cfg = cfg;
    cp->host = host;
    cp->window = UINT64_MAX;
    cp->keys = calloc((size_t)cfg->sample_labels.max_keys, sizeof(*cp->keys));
    cp->labels = calloc(CARD_MAX_STAT_LABELS, sizeof(*cp->labels));
    if (cp->keys == NULL || cp->labels == NULL ||
        (cfg->max_series > 0 &&
         hset_init(&cp->series, (uint32_t)cfg->max_series) != PC_OK)) {
        rc = PC_ENOMEM;
    }
    if (rc != PC_OK) {
        cardinality_destroy(cp);
        return err_set(e, rc, "cardinality: out of memory for the state");
    }
    cp->series_dropped =
        card_counter(cp, "profcol_processor_cardinality_series_dropped_total",
                     "New series beyond max_series dropped.", NULL);
    cp->series_stripped = card_counter(
        cp, "profcol_processor_cardinality_series_stripped_total",
        "New series beyond max_series stripped of strip_labels.", NULL);
    *ctx = cp;
    return PC_OK;
}

const struct component_factory cardinality_processor_factory = {
    .type = "cardinality",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "limit series, series labels and sample-label values "
                   "per window",
    .config_size = sizeof(struct cardinality_cfg),
    .config = cardinality_table,
    .create = cardinality_create,
    .destroy = cardinality_destroy,
    .ops.processor = {.process = cardinality_process},
};
