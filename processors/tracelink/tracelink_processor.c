/*
 * tracelink_processor.c: the `tracelink` processor. Turns the span / trace
 * id labels that tracing integrations put on samples (otel-profiling-go's
 * `span_id`, `trace_id`, legacy `profile_id`) into OTLP links
 * (sample.link -> dictionary link), and links into labels for consumers
 * that only read labels (Pyroscope's span profiles, pprof).
 *
 * Rules (docs/configuration.md has the user's view):
 *  - an id label must be a string of 16 (span) or 32 (trace) hex digits,
 *    not all zero; others are counted per label name and removed;
 *  - a link needs both ids: OTLP's Link requires a 16-byte trace id and an
 *    all-zero one is invalid in W3C trace context, so a span id without a
 *    trace id makes no link; its label stays (even with keep_labels off,
 *    as it is the only place the id lives) and is counted;
 *  - links are deduplicated by (trace id, span id), also against the links
 *    already in the dictionary; a sample that already has a link keeps it;
 *  - a profile without id labels (and, for links_to_labels, without
 *    links) is not touched: no copy, the original bytes are kept.
 * Counting and removal happen per sample; the parsing of each label value
 * happens once per dictionary attribute, not per sample.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "component/component.h"
#include "core/hex.h"
#include "model/pdata_iter.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

enum tl_direction {
    TL_BOTH,
    TL_LABELS_TO_LINKS,
    TL_LINKS_TO_LABELS,
};

static const char *const direction_names[] = {
    "both",
    "labels_to_links",
    "links_to_labels",
    NULL,
};

struct tracelink_cfg {
    int direction;
    struct cfg_strlist span_id_labels;
    struct cfg_strlist trace_id_labels;
    char *span_name_label;
    int keep_labels;
    int drop_unlinked_samples;
};

/* clang-format off */
static const struct cfg_entry tracelink_table[] = {
    {.key = "direction", .type = CFG_ENUM, .def = "both",
     .enum_values = direction_names,
     .offset = offsetof(struct tracelink_cfg, direction),
     .doc = "labels_to_links, links_to_labels or both"},
    {.key = "span_id_labels", .type = CFG_STRLIST,
     .def = "[span_id, profile_id]",
     .offset = offsetof(struct tracelink_cfg, span_id_labels),
     .doc = "sample labels holding a span id (16 hex), first preferred"},
    {.key = "trace_id_labels", .type = CFG_STRLIST, .def = "[trace_id]",
     .offset = offsetof(struct tracelink_cfg, trace_id_labels),
     .doc = "sample labels holding a trace id (32 hex), first preferred"},
    {.key = "span_name_label", .type = CFG_STRING, .def = "span_name",
     .offset = offsetof(struct tracelink_cfg, span_name_label),
     .doc = "label removed with the ids when keep_labels is false (\"\" = none)"},
    {.key = "keep_labels", .type = CFG_BOOL, .def = "true",
     .offset = offsetof(struct tracelink_cfg, keep_labels),
     .doc = "keep the id labels of linked samples"},
    {.key = "drop_unlinked_samples", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct tracelink_cfg, drop_unlinked_samples),
     .doc = "in profiles that carry ids, drop the samples without a link"},
    {.key = NULL},
};
/* clang-format on */

/* What a dictionary attribute is to this processor. */
enum tl_role {
    ROLE_NONE = 0,
    ROLE_SPAN,
    ROLE_TRACE,
    ROLE_NAME,
};

/* Per dictionary attribute: role, validity and parsed id. */
struct tl_attr {
    uint8_t role;
    uint8_t valid;
    uint8_t rank; /* position in the label list: lower wins */
    uint8_t id[16];
    struct mcounter *invalid;
};

#define TL_MAX_LABELS 16

struct tracelink_proc {
    const struct tracelink_cfg *cfg;
    struct mcounter *invalid_span[TL_MAX_LABELS];
    struct mcounter *invalid_trace[TL_MAX_LABELS];
    struct mcounter *linked, *dropped, *no_trace;
};

/* Per-item work state. */
struct tl_work {
    struct tracelink_proc *tp;
    struct pdata *pd;
    struct tl_attr *attrs; /* one per dictionary attribute classified */
    uint32_t nclassified;  /* attributes added later have no role */
    int32_t *slots;        /* link dedup: link index or 0 */
    uint32_t nslots;
    int32_t span_key, trace_key;   /* links_to_labels key strings */
    int32_t *l2l_span, *l2l_trace; /* per link: attr index, 0 = not yet */
    uint64_t linked, dropped, no_trace;
};

static void tracelink_validate(const void *cfgp, const struct ynode *node,
                               struct cfg_diag *d)
{
    const struct tracelink_cfg *cfg = cfgp;

    if (cfg->span_id_labels.n == 0 || cfg->span_id_labels.n > TL_MAX_LABELS) {
        cfg_diag_error(d, node, "span_id_labels: give 1 to %d label names",
                       TL_MAX_LABELS);
    }
    if (cfg->trace_id_labels.n == 0 ||
        cfg->trace_id_labels.n > TL_MAX_LABELS) {
        cfg_diag_error(d, node, "trace_id_labels: give 1 to %d label names",
                       TL_MAX_LABELS);
    }
}

/* ---- ids ---------------------------------------------------------------- */

/* 2*n hex digits, not all zero, into out[n]. */
static int parse_id(const struct anyvalue *v, uint8_t *out, uint32_t n)
{
    uint32_t i;
    int nonzero = 0;

    if (v->type != AV_STRING || v->u.s.len != 2 * n) {
        return 0;
    }
    if (hex_decode(v->u.s.ptr, v->u.s.len, out) != PC_OK) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        nonzero |= out[i];
    }
    return nonzero != 0;
}

static int list_rank(const struct cfg_strlist *l, struct pstr key)
{
    uint32_t i;

    for (i = 0; i < l->n; i++) {
        if (pstr_eq(key, l->items[i])) {
            return (int)i;
        }
    }
    return -1;
}

/* Role of every dictionary attribute; returns how many have an id role. */
static uint32_t classify(struct tracelink_proc *tp, const struct dict *d,
                         struct tl_attr *out)
{
    const struct tracelink_cfg *cfg = tp->cfg;
    uint32_t i, nid = 0;

    for (i = 1; i < d->nattrs; i++) {
        struct pstr key = dict_str(d, d->attrs[i].key);
        int r;
        if ((r = list_rank(&cfg->span_id_labels, key)) >= 0) {
            out[i].role = ROLE_SPAN;
            out[i].rank = (uint8_t)r;
            out[i].valid = (uint8_t)parse_id(&d->attrs[i].value, out[i].id, 8);
            out[i].invalid = tp->invalid_span[r];
            nid++;
        } else if ((r = list_rank(&cfg->trace_id_labels, key)) >= 0) {
            out[i].role = ROLE_TRACE;
            out[i].rank = (uint8_t)r;
            out[i].valid = (uint8_t)parse_id(&d->attrs[i].value, out[i].id,
                                             16);
            out[i].invalid = tp->invalid_trace[r];
            nid++;
        } else if (cfg->span_name_label[0] != '\0' &&
                   pstr_eq(key, cfg->span_name_label)) {
            out[i].role = ROLE_NAME;
        }
    }
    return nid;
}

/* ---- link table --------------------------------------------------------- */

static uint64_t link_hash(const uint8_t *trace, const uint8_t *span)
{
    uint8_t k[24];

    memcpy(k, trace, 16);
    memcpy(k + 16, span, 8);
    return XXH3_64bits(k, sizeof(k));
}

static void slots_put(struct tl_work *w, int32_t idx)
{
    const struct link *l = &w->pd->dict.links[idx];
    uint32_t h = (uint32_t)link_hash(l->trace_id, l->span_id) &
                 (w->nslots - 1);

    while (w->slots[h] != 0) {
        h = (h + 1) & (w->nslots - 1);
    }
    w->slots[h] = idx;
}

/* Sized for every existing link plus one new link per sample, so the table
 * never fills. */
static int slots_init(struct tl_work *w, uint64_t nsamples)
{
    uint64_t need = 2 * ((uint64_t)w->pd->dict.nlinks + nsamples) + 16;
    uint32_t i;

    w->nslots = 16;
    while (w->nslots < need && w->nslots < (1u << 30)) {
        w->nslots <<= 1;
    }
    w->slots = calloc(w->nslots, sizeof(*w->slots));
    if (w->slots == NULL) {
        return PC_ENOMEM;
    }
    for (i = 1; i < w->pd->dict.nlinks; i++) {
        slots_put(w, (int32_t)i);
    }
    return PC_OK;
}

static int32_t link_index(struct tl_work *w, const uint8_t *trace,
                          const uint8_t *span)
{
    uint32_t h = (uint32_t)link_hash(trace, span) & (w->nslots - 1);
    struct link l;
    int32_t idx;

    while (w->slots[h] != 0) {
        const struct link *e = &w->pd->dict.links[w->slots[h]];
        if (memcmp(e->trace_id, trace, 16) == 0 &&
            memcmp(e->span_id, span, 8) == 0) {
            return w->slots[h];
        }
        h = (h + 1) & (w->nslots - 1);
    }
    memcpy(l.trace_id, trace, 16);
    memcpy(l.span_id, span, 8);
    idx = dict_add_link(w->pd, &l);
    if (idx > 0) {
        w->slots[h] = idx;
    }
    return idx;
}

/* ---- labels to links ---------------------------------------------------- */

/* Finds the preferred valid span and trace attributes of s, counting and
 * removing invalid id labels. */
static void sample_ids(struct tl_work *w, struct sample *s,
                       const struct tl_attr **span,
                       const struct tl_attr **trace)
{
    uint32_t i, out = 0;

    *span = *trace = NULL;
    for (i = 0; i < s->nattrs; i++) {
        int32_t a = s->attrs[i];
        const struct tl_attr *ta = a > 0 && (uint32_t)a < w->nclassified
                                       ? &w->attrs[a]
                                       : NULL;
        if (ta != NULL && (ta->role == ROLE_SPAN || ta->role == ROLE_TRACE) &&
            !ta->valid) {
            if (ta->invalid != NULL) {
                mcounter_add(ta->invalid, 1);
            }
            continue; /* removed */
        }
        if (ta != NULL && ta->role == ROLE_SPAN &&
            (*span == NULL || ta->rank < (*span)->rank)) {
            *span = ta;
        } else if (ta != NULL && ta->role == ROLE_TRACE &&
                   (*trace == NULL || ta->rank < (*trace)->rank)) {
            *trace = ta;
        }
        s->attrs[out++] = a;
    }
    s->nattrs = out;
}

/* keep_labels: false: the linked sample loses its id and name labels. */
static void strip_id_labels(struct tl_work *w, struct sample *s)
{
    uint32_t i, out = 0;

    for (i = 0; i < s->nattrs; i++) {
        int32_t a = s->attrs[i];
        if (a > 0 && (uint32_t)a < w->nclassified &&
            w->attrs[a].role != ROLE_NONE) {
            continue;
        }
        s->attrs[out++] = a;
    }
    s->nattrs = out;
}

static int labels_to_links(struct tl_work *w, struct sample *s)
{
    const struct tl_attr *span, *trace;
    int32_t idx;

    sample_ids(w, s, &span, &trace);
    if (span == NULL || s->link != 0) {
        return PC_OK;
    }
    if (trace == NULL) {
        w->no_trace++;
        return PC_OK;
    }
    idx = link_index(w, trace->id, span->id);
    if (idx < 0) {
        return idx;
    }
    s->link = idx;
    w->linked++;
    if (!w->tp->cfg->keep_labels) {
        strip_id_labels(w, s);
    }
    return PC_OK;
}

/* ---- links to labels ---------------------------------------------------- */

static int has_key(const struct pdata *pd, const struct sample *s, int32_t key)
{
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        int32_t a = s->attrs[i];
        if (a > 0 && (uint32_t)a < pd->dict.nattrs &&
            pd->dict.attrs[a].key == key) {
            return 1;
        }
    }
    return 0;
}

static int32_t id_attr(struct tl_work *w, int32_t key, const uint8_t *id,
                       uint32_t n)
{
    char text[32];
    struct attr a;
    int32_t str;

    hex_encode(id, n, text);
    str = dict_string(w->pd, text, 2 * n);
    if (str < 0) {
        return str;
    }
    memset(&a, 0, sizeof(a));
    a.key = key;
    a.value.type = AV_STRING;
    a.value.u.s = dict_str(&w->pd->dict, str);
    return dict_add_attr(w->pd, &a);
}

static int append_attr(struct pdata *pd, struct sample *s, int32_t a)
{
    int32_t *n = arena_alloc(&pd->arena,
                             ((size_t)s->nattrs + 1) * sizeof(int32_t));

    if (n == NULL) {
        return PC_ENOMEM;
    }
    if (s->nattrs > 0) {
        memcpy(n, s->attrs, s->nattrs * sizeof(int32_t));
    }
    n[s->nattrs++] = a;
    s->attrs = n;
    return PC_OK;
}

/* One label per id of the sample's link, unless the label exists. The
 * attribute of each link is made once. */
static int links_to_labels(struct tl_work *w, struct sample *s)
{
    const struct link *l;
    int rc = PC_OK;

    if (s->link <= 0 || (uint32_t)s->link >= w->pd->dict.nlinks) {
        return PC_OK;
    }
    l = &w->pd->dict.links[s->link];
    if (!has_key(w->pd, s, w->span_key) &&
        memcmp(l->span_id, "\0\0\0\0\0\0\0\0", 8) != 0) {
        if (w->l2l_span[s->link] == 0) {
            w->l2l_span[s->link] = id_attr(w, w->span_key, l->span_id, 8);
        }
        rc = w->l2l_span[s->link] < 0
                 ? w->l2l_span[s->link]
                 : append_attr(w->pd, s, w->l2l_span[s->link]);
    }
    if (rc == PC_OK && !has_key(w->pd, s, w->trace_key) &&
        memcmp(l->trace_id, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16) != 0) {
        if (w->l2l_trace[s->link] == 0) {
            w->l2l_trace[s->link] = id_attr(w, w->trace_key, l->trace_id, 16);
        }
        rc = w->l2l_trace[s->link] < 0
                 ? w->l2l_trace[s->link]
                 : append_attr(w->pd, s, w->l2l_trace[s->link]);
    }
    return rc;
}

/* ---- per item ----------------------------------------------------------- */

/* Read-only look at the shared payload: is there anything to do? */
static int item_needs_work(struct tracelink_proc *tp, const struct item *it,
                           const struct pdata *pd, struct tl_attr *attrs,
                           uint64_t *nsamples)
{
    int dir = tp->cfg->direction, need = 0;
    struct pdata_iter w;
    const struct profile *pr;
    uint32_t i;

    *nsamples = 0;
    if (dir != TL_LINKS_TO_LABELS && classify(tp, &pd->dict, attrs) > 0) {
        need = 1;
    }
    pdata_iter_init(&w, pd, it->resource);
    while ((pr = pdata_iter_next(&w)) != NULL) {
        *nsamples += pr->nsamples;
        for (i = 0; dir != TL_LABELS_TO_LINKS && !need && i < pr->nsamples;
             i++) {
            need = pr->samples[i].link > 0;
        }
    }
    return need;
}

static int profile_run(struct tl_work *w, struct profile *pr)
{
    const struct tracelink_cfg *cfg = w->tp->cfg;
    uint32_t i, out = 0;
    int rc = PC_OK;

    for (i = 0; i < pr->nsamples && rc == PC_OK; i++) {
        struct sample *s = &pr->samples[i];
        /* Input links first, so that with keep_labels: false the labels
         * of links made here are not put back. */
        if (cfg->direction != TL_LABELS_TO_LINKS) {
            rc = links_to_labels(w, s);
        }
        if (rc == PC_OK && cfg->direction != TL_LINKS_TO_LABELS) {
            rc = labels_to_links(w, s);
        }
    }
    if (rc != PC_OK || !cfg->drop_unlinked_samples) {
        return rc;
    }
    for (i = 0; i < pr->nsamples; i++) {
        if (pr->samples[i].link > 0) {
            pr->samples[out++] = pr->samples[i];
        }
    }
    w->dropped += pr->nsamples - out;
    pr->nsamples = out;
    return PC_OK;
}

static int item_run(struct tl_work *w, struct item *it)
{
    struct pdata_iter pi;
    struct profile *pr;
    uint64_t n = 0;
    int rc = PC_OK;

    pdata_iter_init(&pi, w->pd, it->resource);
    while (rc == PC_OK && (pr = pdata_iter_next(&pi)) != NULL) {
        rc = profile_run(w, pr);
        n += pr->nsamples;
    }
    it->nsamples = n;
    return rc;
}

static int work_init(struct tl_work *w, struct pdata *pd, uint64_t nsamples)
{
    const struct tracelink_cfg *cfg = w->tp->cfg;
    /* Room for the links this item may add. */
    uint64_t nl = (uint64_t)pd->dict.nlinks + nsamples + 1;

    w->pd = pd;
    w->span_key = dict_string(pd, cfg->span_id_labels.items[0],
                              strlen(cfg->span_id_labels.items[0]));
    w->trace_key = dict_string(pd, cfg->trace_id_labels.items[0],
                               strlen(cfg->trace_id_labels.items[0]));
    if (w->span_key < 0 || w->trace_key < 0) {
        return PC_ENOMEM;
    }
    w->l2l_span = calloc(nl, sizeof(int32_t));
    w->l2l_trace = calloc(nl, sizeof(int32_t));
    if (w->l2l_span == NULL || w->l2l_trace == NULL) {
        return PC_ENOMEM;
    }
    return slots_init(w, nsamples);
}

static void work_free(struct tl_work *w)
{
    free(w->slots);
    free(w->l2l_span);
    free(w->l2l_trace);
    free(w->attrs);
}

static int process_item(struct tracelink_proc *tp, struct batch *b,
                        struct item *it, struct errctx *e)
{
    struct tl_work w;
    struct pdata *pd;
    uint64_t nsamples;
    int rc;

    memset(&w, 0, sizeof(w));
    w.tp = tp;
    if (batch_item_decode(b, it, e) != PC_OK) {
        return PC_OK; /* not decodable here: forwarded as it came */
    }
    pd = it->pd->pd;
    w.attrs = calloc((size_t)pd->dict.nattrs + 1, sizeof(*w.attrs));
    if (w.attrs == NULL) {
        return PC_ENOMEM;
    }
    w.nclassified = pd->dict.nattrs;
    if (!item_needs_work(tp, it, pd, w.attrs, &nsamples)) {
        free(w.attrs);
        return PC_OK;
    }
    rc = batch_item_payload_mut(b, it, &pd, e);
    if (rc == PC_OK) {
        rc = work_init(&w, pd, nsamples);
    }
    if (rc == PC_OK) {
        rc = item_run(&w, it);
    }
    mcounter_add(tp->linked, w.linked);
    mcounter_add(tp->dropped, w.dropped);
    mcounter_add(tp->no_trace, w.no_trace);
    work_free(&w);
    return rc;
}

static int tracelink_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct tracelink_proc *tp = ctx;
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < b->nitems && rc == PC_OK; i++) {
        rc = process_item(tp, b, &b->items[i], e);
    }
    if (rc != PC_OK) {
        return err_set(e, PC_EBUSY, "tracelink: %s", pc_strerror(rc));
    }
    return PC_OK;
}

/* ---- lifecycle ---------------------------------------------------------- */

static struct mcounter *tl_counter(struct component_host *host,
                                   const char *name, const char *help,
                                   const char *label)
{
    if (label == NULL) {
        return mscope_counter(host->metrics, name, help, NULL);
    }
    return mscope_counter(host->metrics, name, help, "label", label, NULL);
}

static int tracelink_create(const void *cfgp, struct component_host *host,
                            void **ctx, struct errctx *e)
{
    static const char inv[] = "profcol_processor_tracelink_invalid_ids_total";
    static const char inv_help[] =
        "Span/trace id labels that were not valid hex ids, removed.";
    const struct tracelink_cfg *cfg = cfgp;
    struct tracelink_proc *tp = calloc(1, sizeof(*tp));
    uint32_t i;

    if (tp == NULL) {
        return err_set(e, PC_ENOMEM, "tracelink: out of memory");
    }
    tp->cfg = cfg;
    for (i = 0; i < cfg->span_id_labels.n && i < TL_MAX_LABELS; i++) {
        tp->invalid_span[i] = tl_counter(host, inv, inv_help,
                                         cfg->span_id_labels.items[i]);
    }
    for (i = 0; i < cfg->trace_id_labels.n && i < TL_MAX_LABELS; i++) {
        tp->invalid_trace[i] = tl_counter(host, inv, inv_help,
                                          cfg->trace_id_labels.items[i]);
    }
    tp->linked = tl_counter(
        host, "profcol_processor_tracelink_linked_samples_total",
        "Samples given a link from their span/trace id labels.", NULL);
    tp->dropped = tl_counter(
        host, "profcol_processor_tracelink_dropped_samples_total",
        "Samples without a link dropped (drop_unlinked_samples).", NULL);
    tp->no_trace = tl_counter(
        host, "profcol_processor_tracelink_missing_trace_id_total",
        "Samples with a span id but no valid trace id: no link made.", NULL);
    *ctx = tp;
    return PC_OK;
}

static void tracelink_destroy(void *ctx)
{
    free(ctx);
}

const struct component_factory tracelink_processor_factory = {
    .type = "tracelink",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "span/trace id sample labels <-> OTLP links",
    .config_size = sizeof(struct tracelink_cfg),
    .config = tracelink_table,
    .validate = tracelink_validate,
    .create = tracelink_create,
    .destroy = tracelink_destroy,
    .ops.processor = {.process = tracelink_process},
};
