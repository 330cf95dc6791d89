/*
 * ui.h: the status page: an HTTP server (service.telemetry.ui.address) that
 * draws the pipelines with live counters and each component's last errors,
 * and flame graphs of what passed them (ui_store.h), with zoom, search and a
 * diff of two time ranges. The page is rendered on the server (counters and
 * SVG flame graphs read without JavaScript); the script and style are built
 * into the binary. JSON endpoints under /api/ serve scripts.
 *
 * Runs on the main loop; ui_offer() may be called from the pipeline's
 * hand-off on the main loop and never waits for the store's work.
 */
#ifndef PROFCOL_UI_H
#define PROFCOL_UI_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "telemetry/log.h"

struct event_base;
struct metrics;
struct batch;
struct ui;
struct ui_store;

struct ui_config {
    const char *address;  /* host:port; NULL or "" = off */
    int64_t retention_ms; /* default 15m */
    uint64_t max_bytes;   /* default 64MiB */
};

/* The pipelines as the page draws them: ids only. */
struct ui_pipeline {
    const char *id;
    const char *const *receivers;
    uint32_t nreceivers;
    const char *const *processors;
    uint32_t nprocessors;
    const char *const *exporters;
    uint32_t nexporters;
};

/* Binds and serves; the registry is borrowed and outlives the page. */
int ui_start(struct event_base *base, const struct ui_config *c,
             struct metrics *m, struct ui **out, struct errctx *e);
/* Closes the listener, stops the store; on the loop's thread. NULL ok. */
void ui_stop(struct ui *u);

/* Replaces the pipelines drawn (copied). */
int ui_set_pipelines(struct ui *u, const struct ui_pipeline *p, uint32_t n);

/* Hands b (not consumed) to the store for pipeline: a reference is taken
 * if there is room on its queue. NULL u: nothing. */
void ui_offer(struct ui *u, const char *pipeline, struct batch *b);

/* ---- each component's last warnings and errors (ui_errors.c) ---------- */

#define UI_ERR_COMPONENTS 256
#define UI_ERR_KEEP 5
#define UI_ERR_ID 128
#define UI_ERR_TEXT 240

struct ui_err_line {
    int64_t ms; /* wall clock */
    int error;  /* 1 error, 0 warning */
    char text[UI_ERR_TEXT];
};

/* The logger's tap (log_set_tap). */
void ui_errors_tap(enum log_level level, const char *component,
                   const char *msg, const char *fields);
/* Copies the last lines of component id, newest first, into
 * out[0..UI_ERR_KEEP); returns how many. */
uint32_t ui_errors_get(const char *id, struct ui_err_line *out);

#endif
