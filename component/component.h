/*
 * component.h: receivers, processors and exporters.
 *
 * A component is one folder with one public symbol: its factory, a const
 * record of its type name, kind, stability, config table and callbacks.
 * Factories are listed in one place (component/registry.c).
 *
 * Threads: receivers start, stop and consume on the main event loop
 * (host->base); their decoding runs off it (HTTP: net/workpool threads;
 * gRPC: its own thread), never on the loop. Processors run synchronously
 * on the thread that consumes (the loop). Exporters' export() runs on the
 * exporter's own consumer threads (the exporter helper owns the queue, the
 * retries and the timeout), so it may block.
 */
#ifndef PROFCOL_COMPONENT_H
#define PROFCOL_COMPONENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "component/batch.h"
#include "config/cfg.h"

struct event_base;
struct mscope;
struct pipeline_entry;

enum component_kind {
    COMPONENT_RECEIVER,
    COMPONENT_PROCESSOR,
    COMPONENT_EXPORTER,
};

/* What the engine gives a component instance. */
struct component_host {
    const char *id;          /* "type/name" */
    struct event_base *base; /* main loop (receivers) */
    /* The instance's metrics scope: its identity labels (receiver="id",
     * processor="id" or exporter="id") are set; register series through
     * it with only labels of your own (telemetry/metrics.h). The engine
     * frees it, and so everything registered through it, after destroy().
     * May be NULL (then so is every handle, and updates are no-ops). */
    struct mscope *metrics;
    /* Receivers: hand a batch to every pipeline the receiver feeds.
     * The batch is consumed in all cases. Returns PC_OK when accepted (every
     * pipeline took it), PC_EBUSY when refused for back-pressure (queue full,
     * memory limit: the client should retry: 429/503/UNAVAILABLE),
     * PC_EPERMANENT when a processor rejected it; e gets the reason. */
    int (*consume)(struct component_host *host, struct batch *b,
                   struct errctx *e);
    /* Receivers that answer a client: the same, but success means durable.
     * Returns PC_EINPROGRESS when the answer comes later: done(arg, rc,
     * msg) then runs exactly once on the main loop, once every exporter of
     * every pipeline holds the batch durably (an in-memory queue at
     * enqueue, a persistent queue with `fsync: always` after the group
     * commit covering it); rc as consume's, msg the reason when not PC_OK.
     * Any other return is the answer, known at once (done is not called).
     * consume() above may answer before a persistent queue synced: use it
     * only where nobody is told the data is safe (scrape). */
    int (*consume_async)(struct component_host *host, struct batch *b,
                         struct errctx *e,
                         void (*done)(void *arg, int rc, const char *msg),
                         void *arg);
    /* Receivers, when stopping: runs the done callbacks of every pending
     * consume_async of this receiver now (waiting for their commits, which
     * take one fdatasync), so none runs after the receiver went. */
    void (*settle)(struct component_host *host);
    /* Receivers: count input refused before it became a batch (bad bytes,
     * too large...), so /metrics shows it. */
    void (*refused)(struct component_host *host, uint32_t profiles,
                    uint64_t bytes);
    /* Processors that hold profiles back (aggregate), main loop only: hand
     * a batch they made to the rest of their pipeline (the processors
     * after them, then its exporters). Consumes b. PC_OK, PC_EBUSY (an
     * exporter's queue is full) or PC_EPERMANENT (a later processor
     * rejected it); e gets the reason. */
    int (*emit)(struct component_host *host, struct batch *b,
                struct errctx *e);
    void *engine; /* engine-private */
};

/* Result of one export attempt. */
struct export_result {
    int64_t retry_after_ms;     /* server asked for a delay; 0 = none */
    uint32_t rejected_profiles; /* partial success: permanently refused */
    char msg[256];              /* reason, for the log */
};

/* start and stop of receivers and exporters may be NULL: nothing to do. */
struct receiver_ops {
    int (*start)(void *ctx);
    /* Stops accepting; pending requests are answered. start() may be
     * called again after stop(): a reload that fails restarts the
     * receivers it stopped to free their ports. */
    void (*stop)(void *ctx);
};

struct processor_ops {
    /* Changes b in place (drop items, change attrs, change payloads).
     * Returns PC_OK, PC_EBUSY to refuse the batch for now (memory limit:
     * the client retries), or PC_EPERMANENT to reject it. */
    int (*process)(void *ctx, struct batch *b, struct errctx *e);
    /* Optional, for processors that hold profiles back: emit everything
     * held (host->emit) now. Called on the main loop when the pipeline
     * goes (shutdown, reload), after its receivers stopped and before its
     * exporters drain. Profiles a process() call keeps are not counted as
     * dropped by the engine for such a processor. */
    void (*flush)(void *ctx);
};

struct exporter_ops {
    int (*start)(void *ctx);
    /* Sends b. PC_OK, PC_ERETRY (transient: retried with backoff) or
     * PC_EPERMANENT (dropped, logged once, counted). May block up to
     * timeout_ms. Does not take ownership of b. */
    int (*export)(void *ctx, struct batch *b, int64_t timeout_ms,
                  struct export_result *r);
    void (*stop)(void *ctx);
};

struct component_factory {
    const char *type; /* "otlp", "file", ... */
    enum component_kind kind;
    const char *stability; /* "development", "alpha", "beta", "stable" */
    const char *description;
    size_t config_size;
    const struct cfg_entry *config; /* NULL-key-terminated */
    /* Cross-field checks after cfg_decode; add errors to d. Optional. */
    void (*validate)(const void *cfg, const struct ynode *node,
                     struct cfg_diag *d);
    /* cfg stays valid for the instance's life. */
    int (*create)(const void *cfg, struct component_host *host, void **ctx,
                  struct errctx *e);
    void (*destroy)(void *ctx);
    union {
        struct receiver_ops receiver;
        struct processor_ops processor;
        struct exporter_ops exporter;
    } ops;
};

/* The registry (component/registry.c). */
const struct component_factory *registry_find(enum component_kind kind,
                                              const char *type);
const struct component_factory *const *registry_all(size_t *n);
const char *component_kind_name(enum component_kind kind);

#endif
