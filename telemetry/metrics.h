/*
 * metrics.h: self-telemetry registry, rendered in the Prometheus text format
 * (version 0.0.4) on /metrics.
 *
 * Names follow the OpenTelemetry Collector's where one exists, with our
 * prefix: profcol_receiver_accepted_profiles_total{receiver="otlp"},
 * profcol_exporter_sent_profiles_total{exporter="otlp"},
 * profcol_exporter_queue_size{exporter="otlp"}, ...
 *
 * A series is created once (at component creation) and updated lock-free
 * (atomics) on the hot path. Label text is given pre-rendered:
 * "receiver=\"otlp\",transport=\"grpc\"" (values escaped with
 * metrics_escape()).
 */
#ifndef PROFCOL_METRICS_H
#define PROFCOL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct metrics;
struct mcounter;
struct mgauge;

enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
};

struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Returns the series (creating family and series as needed); the same
 * name+labels twice gives the same series. A counter's name gets "_total"
 * appended when it does not end with it. NULL on OOM, on a name that is
 * not a Prometheus metric name, or when the name is already registered
 * with the other type. Handles stay valid until their series is removed
 * or the registry freed. labels may be NULL (no labels). */
struct mcounter *metrics_counter(struct metrics *m, const char *name,
                                 const char *help, const char *labels);
struct mgauge *metrics_gauge(struct metrics *m, const char *name,
                             const char *help, const char *labels);
/* A gauge computed when rendered (queue size, RSS, ...). Registering the
 * same name+labels again replaces fn and arg. fn runs with the registry
 * lock held: it must not call into the registry. */
int metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
                     const char *labels, double (*fn)(void *arg), void *arg);

/* Removes every series whose labels contain `labels_substr` (a component
 * that went away on reload, a scrape target that disappeared), and the
 * families left empty. A series registered N times (the same component
 * id created again on reload before the old instance went) goes at the
 * N-th removal. An empty or NULL substring removes nothing; the process
 * metrics are never removed. Handles to removed series dangle. */
void metrics_remove_matching(struct metrics *m, const char *labels_substr);

/* Withdraws every gauge function registered with arg; a series whose
 * function was replaced by a later registration gets the earlier one
 * back. Call before freeing arg. */
void metrics_gauge_fn_drop(struct metrics *m, const void *arg);

void mcounter_add(struct mcounter *c, uint64_t v);
uint64_t mcounter_get(const struct mcounter *c);
void mgauge_set(struct mgauge *g, double v);
void mgauge_add(struct mgauge *g, double v);
double mgauge_get(const struct mgauge *g);

/* Appends the exposition text (families sorted by name, series by label
 * text) to out. Includes the process metrics, registered by metrics_new()
 * (profcol_process_cpu_seconds_total, profcol_process_memory_rss_bytes,
 * profcol_process_uptime_seconds, profcol_build_info). */
int metrics_render(struct metrics *m, struct buf *out);

/* Escapes a label value (\\, \", \n) into dst (NUL-terminated). */
void metrics_escape(const char *src, char *dst, size_t dstlen);

#endif
