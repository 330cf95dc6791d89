/*
 * jfr_conv.h: the state of one JFR-to-profiles conversion, shared by
 * jfr_convert.c (events), jfr_stack.c (frames and stacks) and
 * jfr_labels.c (the agent's LabelsSnapshot). Not a public API.
 */
#ifndef PROFCOL_JFR_CONV_H
#define PROFCOL_JFR_CONV_H

#include "codec/jfr/jfr_int.h"

/* A growable (key -> value) index of 64-bit keys, for per-chunk caches. */
struct jfr_map {
    struct itab idx;
    uint64_t *keys;
    int64_t *vals;
    uint32_t n, cap;
};

int jfr_map_init(struct jfr_map *m);
void jfr_map_free(struct jfr_map *m);
void jfr_map_clear(struct jfr_map *m);
/* 1 and *v when found, 0 when not. */
int jfr_map_get(const struct jfr_map *m, uint64_t k, int64_t *v);
int jfr_map_put(struct jfr_map *m, uint64_t k, int64_t v);

struct jfr_labelsnap;

struct jfr_conv {
    struct pdata *pd;
    const struct jfr_limits *lim;
    struct errctx *e;
    struct buf tmp;      /* scratch for names */
    struct itab strings; /* model strings by content */
    struct itab funcs;   /* function by name string */
    struct itab locs;    /* location by (function, line) */
    struct itab stacks;  /* stack by its locations */
    int32_t mapping;
    int32_t *frames; /* scratch, max_stack_depth */
    /* per chunk */
    uint64_t unresolved;         /* samples whose stack is in no pool */
    struct jfr_map stack_cache;  /* stackTrace key -> stack index (-1 none) */
    struct jfr_map method_cache; /* method key -> function index */
    struct jfr_labelsnap *snap;  /* never NULL: empty without a labels part */
};

int jfr_conv_string(struct jfr_conv *cv, const char *s, size_t len,
                    int32_t *out);
/* Stack index of a stackTrace key of type `type`; 0 = none/empty. */
int jfr_conv_stack(struct jfr_conv *cv, struct jfr_chunk *c, uint64_t type,
                   uint64_t key, int32_t *out);
int jfr_conv_init_tables(struct jfr_conv *cv);
void jfr_conv_free_tables(struct jfr_conv *cv);

/* Pyroscope's symbol normalisation of a frame name, in place. */
size_t jfr_normalize_symbol(char *s, size_t len);

/* ---- jfr_labels.c ----------------------------------------------------- */

int jfr_labels_parse(const uint8_t *p, size_t len, struct jfr_labelsnap **out,
                     struct errctx *e);
void jfr_labels_free(struct jfr_labelsnap *s);

/* The context labels of one event as model attribute indices; *n = 0 when
 * none. attrs points into the pdata's arena. span is the Pyroscope agent's
 * span id (label profile_id); dd_span and dd_root are the Datadog
 * profiler's span and local root span ids (labels span_id and
 * local_root_span_id, as the datadog receiver names them in pprofs). */
struct jfr_ctx_key {
    uint64_t context, span, span_name, trace_hi, trace_lo, dd_span, dd_root;
};
int jfr_labels_attrs(struct jfr_conv *cv, const struct jfr_ctx_key *k,
                     int32_t **attrs, uint32_t *n);

#endif
