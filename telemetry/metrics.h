/*
 * metrics.h: self-telemetry registry, rendered in the Prometheus text format
 * (version 0.0.4) on /metrics.
 *
 * Names follow the OpenTelemetry Collector's where one exists, with our
 * prefix: profcol_receiver_accepted_profiles_total{receiver="otlp"},
 * profcol_exporter_sent_profiles_total{exporter="otlp"},
 * profcol_exporter_queue_size{exporter="otlp"}, ...
 *
 * Series are registered through a scope (struct mscope). A scope carries
 * identity labels: the engine creates one for each component instance
 * (receiver="otlp/a", processor="...", exporter="...") and hands it to the
 * instance as host->metrics. Whoever registers through a scope names only
 * the labels of its own (reason="shutdown"), as key/value pairs; label
 * text is rendered and escaped here, never by the caller. Freeing a scope
 * releases everything registered through it.
 *
 * A series lives while a scope holds it: the same name and labels
 * registered through several scopes is one series (one value), which goes
 * with the last of them. That is how a component replaced on reload keeps
 * counting (the new instance registers before the old one goes), and how
 * the instances of one processor in several pipelines share its series.
 *
 * Registration takes the registry's lock and allocates; do it when a
 * component is created or starts, never per request. Updates through the
 * handles are lock-free atomics, and a NULL handle is a no-op, so a
 * component without a scope (NULL host->metrics) needs no checks.
 */
#ifndef PROFCOL_METRICS_H
#define PROFCOL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

struct metrics;
struct mscope;
struct mcounter;
struct mgauge;

/* The registry, with the process metrics (profcol_process_cpu_seconds_total,
 * profcol_process_memory_rss_bytes, profcol_process_uptime_seconds,
 * profcol_build_info). Free every scope before the registry. */
struct metrics *metrics_new(void);
void metrics_free(struct metrics *m);

/* Appends the exposition text (families sorted by name, series by label
 * text) to out. */
int metrics_render(struct metrics *m, struct buf *out);

/* Appends len bytes of v as an exposition label value (\\, \" and \n
 * escaped), for code that renders series of its own. */
int metrics_label_value(struct buf *b, const char *v, size_t len);

/*
 * Scopes. The variadic arguments are the scope's identity labels as
 * key/value pairs, ending with a NULL key:
 *
 *   mscope_new(m, "receiver", "otlp/a", NULL)       receiver="otlp/a"
 *   mscope_new(m, NULL)                             no labels
 *   mscope_sub(rx, "job", "api", NULL)              receiver="otlp/a",job="api"
 *
 * Keys are label names ([a-zA-Z_][a-zA-Z0-9_]*); a NULL value is "". NULL
 * on OOM, on an invalid key, or when m (parent) is NULL.
 *
 * A sub-scope adds labels to its parent's, for a part of a component that
 * comes and goes on its own (a scrape target, a job). Free it when the
 * part goes; freeing a scope frees its sub-scopes too, so a sub-scope must
 * not be freed after its parent.
 */
struct mscope *mscope_new(struct metrics *m, ...) __attribute__((sentinel));
struct mscope *mscope_sub(struct mscope *parent, ...)
    __attribute__((sentinel));
void mscope_free(struct mscope *s);

/*
 * The series name{scope labels, extra labels}, created when needed; the
 * variadic arguments are the extra labels, as for mscope_new. A counter's
 * name gets "_total" appended when it does not end with it. The same
 * series twice through one scope is the same handle. NULL on OOM, when s
 * is NULL, or when the name is not a metric name or is registered with
 * the other type. A handle stays valid until its scope is freed.
 */
struct mcounter *mscope_counter(struct mscope *s, const char *name,
                                const char *help, ...)
    __attribute__((sentinel));
struct mgauge *mscope_gauge(struct mscope *s, const char *name,
                            const char *help, ...) __attribute__((sentinel));
/* A gauge computed when rendered (a queue's size, ...): fn(arg), until the
 * scope is freed; then an earlier registration of the series through
 * another scope, if any, applies again. Registering it again through the
 * same scope replaces fn and arg. fn runs with the registry lock held: it
 * must not call into the registry. PC_OK when s is NULL (nothing to do). */
int mscope_gauge_fn(struct mscope *s, const char *name, const char *help,
                    double (*fn)(void *arg), void *arg, ...)
    __attribute__((sentinel));

void mcounter_add(struct mcounter *c, uint64_t v);
uint64_t mcounter_get(const struct mcounter *c);
void mgauge_set(struct mgauge *g, double v);
void mgauge_add(struct mgauge *g, double v);
double mgauge_get(const struct mgauge *g);

#endif
