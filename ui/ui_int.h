/* ui_int.h: what the status page's files share (not for other folders). */
#ifndef PROFCOL_UI_INT_H
#define PROFCOL_UI_INT_H

#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include "core/buf.h"
#include "ui/ui.h"
#include "ui/ui_store.h"

#define UI_PAGE_MAX ((size_t)64 << 20) /* largest answer */

struct evhttp;
struct workpool;
struct evkeyvalq;

struct ui {
    struct evhttp *http;
    struct connguard *guard; /* connection limits of the page's listener */
    struct workpool *wp;     /* answers are built off the loop */
    uint16_t port;
    struct metrics *metrics;
    struct ui_store *store;
    /* The pipelines drawn: replaced on the loop (ui_set_pipelines), read
     * by the workers that build answers; pl_mu guards both. */
    pthread_mutex_t pl_mu;
    struct ui_pipeline *pl; /* deep copies */
    uint32_t npl;
};

/* A component's counters, read from the metrics registry. */
struct ui_counts {
    double accepted, refused;            /* receivers */
    double dropped;                      /* processors */
    double sent, failed, queue, retries; /* exporters */
};

/* The registry's text, rendered once per answer. */
int ui_metrics_text(struct ui *u, struct buf *text);
/* The counters of component kind ("receiver", "processor", "exporter") and
 * id in a rendered registry text. */
void ui_counts_of(const struct buf *text, const char *kind, const char *id,
                  struct ui_counts *c);

/* A query parameter, or NULL. */
const char *ui_param(const struct evkeyvalq *q, const char *key);

/*
 * The series a query names (pipeline, service, type; each may be missing:
 * then the first series that matches the others) over the range of
 * from/to: its tree on side. PC_ENOTFOUND when there is none, PC_EINVAL
 * (e says why) for a bad range.
 */
int ui_query_tree(struct ui *u, const struct evkeyvalq *q,
                  const char *from_key, const char *to_key,
                  struct flame_tree *t, int side, struct ui_series_info *info,
                  struct errctx *e);

/* The pipelines as an SVG graph with counters and error marks (the
 * caller holds pl_mu). */
int ui_graph_svg(struct ui *u, const struct buf *metrics, struct buf *out);

/* The page (GET /). Runs on a worker thread, like ui_api. */
int ui_page(struct ui *u, const struct evkeyvalq *q, struct buf *out,
            struct errctx *e);

/* /api/... answers: JSON (or SVG for format=svg); *ctype is set. */
int ui_api(struct ui *u, const char *path, const struct evkeyvalq *q,
           struct buf *out, const char **ctype, struct errctx *e);

#endif
