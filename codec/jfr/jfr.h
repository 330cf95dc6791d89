/*
 * jfr.h: Java Flight Recorder files (JDK, async-profiler, the Pyroscope Java
 * agent, Datadog's profiler) read into the profile model, the way Pyroscope
 * converts them (docs/conversion.md, "JFR").
 *
 * A file is chunks back to back; each chunk carries its own metadata (the
 * class and field tree that gives event type ids their meaning) and its own
 * constant pools. Everything the reader keeps is bounded by struct
 * jfr_limits; every malformation is an error naming the chunk and the byte.
 */
#ifndef PROFCOL_JFR_H
#define PROFCOL_JFR_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/profile.h"

#define JFR_MAGIC_LEN 4

/* Bounds on what one file may make the reader hold. */
struct jfr_limits {
    uint32_t max_chunks;       /* chunks in one file */
    uint32_t max_classes;      /* classes in one metadata event */
    uint32_t max_fields;       /* fields of one class */
    uint32_t max_meta_strings; /* strings of one metadata event */
    uint32_t max_pool_entries; /* constant-pool entries of one chunk */
    uint32_t max_checkpoints;  /* checkpoint events of one chunk */
    uint32_t max_string_len;   /* bytes (or UTF-16 units) of one string */
    uint32_t max_stack_depth;  /* frames of one stack trace */
    uint32_t max_nesting;      /* metadata elements / inline structs */
    size_t max_alloc;          /* bytes held for one chunk's tables */
};

void jfr_limits_default(struct jfr_limits *l);

/* Does data start like a JFR file ("FLR\0")? */
int jfr_is_jfr(const uint8_t *data, size_t len);

/* The kinds of profile one file may give, in output order. */
enum jfr_kind {
    JFR_CPU = 0,       /* jdk.ExecutionSample, datadog.ExecutionSample */
    JFR_WALL,          /* ExecutionSample in wall mode, WallClockSample,
                          datadog.MethodSample */
    JFR_ALLOC_TLAB,    /* jdk.ObjectAllocationInNewTLAB */
    JFR_ALLOC_OUTSIDE, /* jdk.ObjectAllocationOutsideTLAB */
    JFR_ALLOC_SAMPLE,  /* jdk.ObjectAllocationSample, datadog.ObjectSample */
    JFR_LOCK,          /* jdk.JavaMonitorEnter */
    JFR_PARK,          /* jdk.ThreadPark */
    JFR_LIVE,          /* profiler.LiveObject, datadog.HeapLiveObject */
    JFR_MALLOC,        /* profiler.Malloc */
    JFR_NKINDS
};

/* Pyroscope's metric name (__name__) of a kind: process_cpu, memory, ... */
const char *jfr_kind_metric(enum jfr_kind k);

struct jfr_options {
    const struct jfr_limits *limits; /* NULL = defaults */
    int64_t sample_rate;             /* Hz for cpu/wall values; <= 0: 100 */
    const uint8_t *labels;           /* LabelsSnapshot protobuf, or NULL */
    size_t labels_len;
    /* Called after each chunk: no byte before `upto` is read again, so a
     * caller that mapped the file may drop those pages. NULL: not called. */
    void (*consumed)(void *arg, size_t upto);
    void *consumed_arg;
};

/* What a conversion gave: pd holds one resource, one scope and one profile
 * per kind that had events, in enum order; kind[i] says which. */
struct jfr_result {
    struct pdata *pd;
    uint32_t nprofiles;
    enum jfr_kind kind[JFR_NKINDS];
    uint32_t nchunks;
    uint64_t nevents;    /* events read, all types */
    uint64_t unresolved; /* samples dropped: stack in no pool */
    char jfr_event[32];  /* last ActiveSetting "event" value */
};

/*
 * Converts a JFR file (plain, not gzip) into profiles. data must stay alive
 * only during the call. Errors: PC_EEMPTY, PC_ETRUNC, PC_ECORRUPT,
 * PC_EUNSUPPORTED (major version), PC_ETOOBIG (a limit), PC_ENOMEM, with a
 * message in e. On success the caller owns res->pd (pdata_free).
 */
int jfr_convert(const uint8_t *data, size_t len, const struct jfr_options *o,
                struct jfr_result *res, struct errctx *e);

/* Makes profile i of res->pd its resource i (same resource attributes,
 * shared tables; nothing is copied), so a receiver can make one item per
 * kind. PC_ENOMEM leaves res->pd as it was. */
int jfr_split_kinds(struct jfr_result *res);

/* Per-type event counts of a file, for `profcol inspect`: calls fn once per
 * event type seen (name, count), summed over chunks, in first-seen order. */
typedef void (*jfr_count_fn)(void *arg, const char *type, uint64_t count);
int jfr_count_events(const uint8_t *data, size_t len,
                     const struct jfr_limits *lim, jfr_count_fn fn, void *arg,
                     struct errctx *e);

#endif
