/*
 * ui_api.c: the JSON endpoints behind the status page, for scripts
 * (documented in docs/operations.md):
 *   /api/pipelines   the pipelines, each component's counters and last
 *                    errors
 *   /api/series      the flame graph series held: pipeline, service, type
 *   /api/store       the store's bytes, bound and drop counts
 *   /api/flamegraph  one series over a time range: JSON tree or SVG
 *   /api/diff        one series, two time ranges: differential SVG, the
 *                    two JSON trees, or the functions that changed most
 */
#include <stdio.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/jsonesc.h"
#include "ui/ui_int.h"

static int ui_json_errors(struct buf *b, const char *id)
{
    struct ui_err_line lines[UI_ERR_KEEP];
    uint32_t n = ui_errors_get(id, lines), i;
    int rc = buf_append_str(b, ",\"errors\":[");

    for (i = 0; i < n && rc == PC_OK; i++) {
        rc = buf_printf(b,
                        "%s{\"time_ms\":%" PRId64 ",\"level\":\"%s\","
                        "\"text\":",
                        i ? "," : "", lines[i].ms,
                        lines[i].error ? "error" : "warn");
        rc = rc == PC_OK
                 ? jsonesc_quoted(b, lines[i].text, strlen(lines[i].text))
                 : rc;
        rc = rc == PC_OK ? buf_putc(b, '}') : rc;
    }
    return rc == PC_OK ? buf_append_str(b, "]}") : rc;
}

/* One component: id, its counters of kind, its errors. */
static int ui_json_comp(struct buf *b, const struct buf *m, const char *kind,
                        const char *id, int first)
{
    struct ui_counts c;
    int rc = buf_append_str(b, first ? "{\"id\":" : ",{\"id\":");

    ui_counts_of(m, kind, id, &c);
    rc = rc == PC_OK ? jsonesc_quoted(b, id, strlen(id)) : rc;
    if (rc != PC_OK) {
        return rc;
    }
    if (strcmp(kind, "receiver") == 0) {
        rc = buf_printf(b,
                        ",\"accepted_profiles\":%.0f,"
                        "\"refused_profiles\":%.0f",
                        c.accepted, c.refused);
    } else if (strcmp(kind, "processor") == 0) {
        rc = buf_printf(b, ",\"dropped_profiles\":%.0f", c.dropped);
    } else {
        rc = buf_printf(b,
                        ",\"sent_profiles\":%.0f,\"failed_profiles\":%.0f,"
                        "\"queue_size\":%.0f,\"retries\":%.0f",
                        c.sent, c.failed, c.queue, c.retries);
    }
    return rc == PC_OK ? ui_json_errors(b, id) : rc;
}

static int ui_json_list(struct buf *b, const struct buf *m, const char *key,
                        const char *kind, const char *const *ids, uint32_t n)
{
    uint32_t i;
    int rc = buf_printf(b, ",\"%s\":[", key);

    for (i = 0; i < n && rc == PC_OK; i++) {
        rc = ui_json_comp(b, m, kind, ids[i], i == 0);
    }
    return rc == PC_OK ? buf_putc(b, ']') : rc;
}

static int ui_api_pipelines(struct ui *u, struct buf *b)
{
    struct buf m;
    uint32_t i;
    int rc;

    buf_init(&m, UI_PAGE_MAX);
    rc = ui_metrics_text(u, &m);
    rc = rc == PC_OK ? buf_append_str(b, "{\"pipelines\":[") : rc;
    pthread_mutex_lock(&u->pl_mu);
    for (i = 0; i < u->npl && rc == PC_OK; i++) {
        const struct ui_pipeline *p = &u->pl[i];
        rc = buf_append_str(b, i ? ",{\"id\":" : "{\"id\":");
        rc = rc == PC_OK ? jsonesc_quoted(b, p->id, strlen(p->id)) : rc;
        rc = rc == PC_OK ? ui_json_list(b, &m, "receivers", "receiver",
                                        p->receivers, p->nreceivers)
                         : rc;
        rc = rc == PC_OK ? ui_json_list(b, &m, "processors", "processor",
                                        p->processors, p->nprocessors)
                         : rc;
        rc = rc == PC_OK ? ui_json_list(b, &m, "exporters", "exporter",
                                        p->exporters, p->nexporters)
                         : rc;
        rc = rc == PC_OK ? buf_putc(b, '}') : rc;
    }
    pthread_mutex_unlock(&u->pl_mu);
    buf_free(&m);
    return rc == PC_OK ? buf_append_str(b, "]}\n") : rc;
}

static int ui_json_str_field(struct buf *b, const char *key, const char *v)
{
    int rc = buf_printf(b, "\"%s\":", key);

    return rc == PC_OK ? jsonesc_quoted(b, v, strlen(v)) : rc;
}

static int ui_api_series(struct ui *u, struct buf *b)
{
    struct ui_series_info *v = calloc(UI_MAX_SERIES, sizeof(*v));
    uint32_t n, i;
    int rc;

    if (v == NULL) {
        return PC_ENOMEM;
    }
    n = ui_store_list(u->store, v, UI_MAX_SERIES);
    rc = buf_append_str(b, "{\"series\":[");
    for (i = 0; i < n && rc == PC_OK; i++) {
        rc = buf_append_str(b, i ? ",{" : "{");
        rc = rc == PC_OK ? ui_json_str_field(b, "pipeline", v[i].pipeline)
                         : rc;
        rc = rc == PC_OK ? buf_putc(b, ',') : rc;
        rc = rc == PC_OK ? ui_json_str_field(b, "service", v[i].service) : rc;
        rc = rc == PC_OK ? buf_putc(b, ',') : rc;
        rc = rc == PC_OK ? ui_json_str_field(b, "type", v[i].type) : rc;
        rc = rc == PC_OK
                 ? buf_printf(b,
                              ",\"profiles\":%" PRIu64 ",\"bytes\":%zu,"
                              "\"last_ms\":%" PRId64 "}",
                              v[i].profiles, v[i].bytes, v[i].last_ms)
                 : rc;
    }
    free(v);
    return rc == PC_OK ? buf_append_str(b, "]}\n") : rc;
}

static int ui_api_store(struct ui *u, struct buf *b)
{
    struct ui_store_stats st;

    ui_store_stats(u->store, &st);
    return buf_printf(b,
                      "{\"bytes\":%zu,\"max_bytes\":%zu,\"series\":%u,"
                      "\"retention_ms\":%" PRId64 ",\"slot_ms\":%" PRId64
                      ",\"offered_batches\":%" PRIu64
                      ",\"dropped_batches_queue_full\":%" PRIu64
                      ",\"profiles\":%" PRIu64
                      ",\"dropped_profiles_no_room\":%" PRIu64
                      ",\"undecodable_items\":%" PRIu64 "}\n",
                      st.bytes, st.max_bytes, st.series, st.retention_ms,
                      st.slot_ms, st.offered, st.queue_full, st.profiles,
                      st.no_room, st.undecodable);
}

/* Does info match the parameters given (missing ones match anything)? */
static int ui_matches(const struct ui_series_info *s, const char *pipeline,
                      const char *service, const char *type)
{
    return (pipeline == NULL || strcmp(s->pipeline, pipeline) == 0) &&
           (service == NULL || strcmp(s->service, service) == 0) &&
           (type == NULL || strcmp(s->type, type) == 0);
}

int ui_query_tree(struct ui *u, const struct evkeyvalq *q,
                  const char *from_key, const char *to_key,
                  struct flame_tree *t, int side, struct ui_series_info *info,
                  struct errctx *e)
{
    const char *pl = ui_param(q, "pipeline"), *sv = ui_param(q, "service");
    const char *ty = ui_param(q, "type");
    struct ui_series_info *v = calloc(UI_MAX_SERIES, sizeof(*v));
    struct ui_store_stats st;
    int64_t from, to, now = clock_real_ns() / 1000000;
    uint32_t n, i;
    int rc;

    if (v == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    ui_store_stats(u->store, &st);
    rc = ui_range_parse(ui_param(q, from_key), ui_param(q, to_key), now,
                        st.retention_ms, &from, &to, e);
    n = rc == PC_OK ? ui_store_list(u->store, v, UI_MAX_SERIES) : 0;
    for (i = 0; i < n && !ui_matches(&v[i], pl, sv, ty); i++) {
    }
    if (rc == PC_OK && i == n) {
        rc = err_set(e, PC_ENOTFOUND, "no such series (yet)");
    }
    if (rc == PC_OK) {
        rc = ui_store_tree(u->store, v[i].pipeline, v[i].service, v[i].type,
                           from, to, t, side, info);
        if (rc != PC_OK) {
            err_set(e, rc, "%s", pc_strerror(rc));
        }
    }
    free(v);
    return rc;
}

static int ui_flame_render(const struct flame_tree *t,
                           const struct ui_series_info *info, int diff,
                           struct buf *b)
{
    struct flame_render r = {0};
    char title[3 * UI_KEY_MAX + 32];

    snprintf(title, sizeof(title), "%s · %s · %s%s", info->service, info->type,
             info->pipeline, diff ? " · red grew, blue shrank" : "");
    r.title = title;
    r.unit = info->unit;
    r.diff = diff;
    r.standalone = 1;
    return flame_svg(t, &r, b);
}

/* A number parameter within [lo, hi], or def when absent. */
static int ui_num_param(const struct evkeyvalq *q, const char *key, double def,
                        double lo, double hi, double *out, struct errctx *e)
{
    const char *v = ui_param(q, key);
    char *end;

    *out = def;
    if (v == NULL || v[0] == '\0') {
        return PC_OK;
    }
    errno = 0;
    *out = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 ||
        !(*out >= lo && *out <= hi)) {
        return err_set(e, PC_EINVAL, "%s: want a number from %g to %g", key,
                       lo, hi);
    }
    return PC_OK;
}

/* /api/diff?format=functions: what `profcol diff --json` prints. */
static int ui_diff_functions(const struct flame_tree *t,
                             const struct ui_series_info *info,
                             const struct evkeyvalq *q, struct buf *b,
                             struct errctx *e)
{
    struct flame_diff d;
    double top, threshold;
    int rc = ui_num_param(q, "top", 20, 0, 100000, &top, e);

    rc = rc == PC_OK ? ui_num_param(q, "threshold", 10, 0, 1e9, &threshold, e)
                     : rc;
    rc = rc == PC_OK ? flame_diff(t, threshold, &d) : rc;
    if (rc == PC_OK) {
        rc = flame_diff_json(&d, info->type, threshold, (uint32_t)top, b);
        rc = rc == PC_OK ? buf_putc(b, '\n') : rc;
        flame_diff_free(&d);
    }
    return rc;
}

/* The tree(s) as JSON: one, or {"base":...,"new":...} for a diff. */
static int ui_trees_json(const struct flame_tree *t, int diff, struct buf *b)
{
    int rc = buf_append_str(b, diff ? "{\"base\":" : "");

    rc = rc == PC_OK ? flame_json(t, 0, 0, b) : rc;
    if (diff && rc == PC_OK) {
        rc = buf_append_str(b, ",\"new\":");
        rc = rc == PC_OK ? flame_json(t, 1, 0, b) : rc;
        rc = rc == PC_OK ? buf_putc(b, '}') : rc;
    }
    return rc == PC_OK ? buf_putc(b, '\n') : rc;
}

static int ui_api_flame(struct ui *u, const struct evkeyvalq *q, int diff,
                        struct buf *b, const char **ctype, struct errctx *e)
{
    const char *fmt = ui_param(q, "format");
    int svg = fmt != NULL && strcmp(fmt, "svg") == 0;
    int fns = diff && fmt != NULL && strcmp(fmt, "functions") == 0;
    struct ui_series_info info;
    struct flame_tree t;
    int rc;

    if (fmt != NULL && !svg && !fns && strcmp(fmt, "json") != 0) {
        return err_set(e, PC_EINVAL,
                       diff ? "format: want json, svg or "
                              "functions"
                            : "format: want json or svg");
    }
    rc = flame_init(&t, UI_PAGE_MAX);
    if (rc != PC_OK) {
        return err_set(e, rc, "out of memory");
    }
    if (diff) {
        rc = ui_query_tree(u, q, "base_from", "base_to", &t, 0, &info, e);
        rc = rc == PC_OK ? ui_query_tree(u, q, "from", "to", &t, 1, &info, e)
                         : rc;
    } else {
        rc = ui_query_tree(u, q, "from", "to", &t, 0, &info, e);
    }
    if (rc == PC_OK && svg) {
        *ctype = "image/svg+xml";
        rc = ui_flame_render(&t, &info, diff, b);
    } else if (rc == PC_OK && fns) {
        rc = ui_diff_functions(&t, &info, q, b, e);
    } else if (rc == PC_OK) {
        rc = ui_trees_json(&t, diff, b);
    }
    flame_free(&t);
    return rc;
}

int ui_api(struct ui *u, const char *path, const struct evkeyvalq *q,
           struct buf *out, const char **ctype, struct errctx *e)
{
    *ctype = "application/json";
    if (strcmp(path, "pipelines") == 0) {
        return ui_api_pipelines(u, out);
    }
    if (strcmp(path, "series") == 0) {
        return ui_api_series(u, out);
    }
    if (strcmp(path, "store") == 0) {
        return ui_api_store(u, out);
    }
    if (strcmp(path, "flamegraph") == 0) {
        return ui_api_flame(u, q, 0, out, ctype, e);
    }
    if (strcmp(path, "diff") == 0) {
        return ui_api_flame(u, q, 1, out, ctype, e);
    }
    return err_set(e, PC_ENOTFOUND, "not found: /api/%s", path);
}
