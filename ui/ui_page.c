/*
 * ui_page.c: the status page, rendered on the server: the store's state,
 * the pipeline graph with counters, the last errors, the flame graph series
 * and, for the one chosen (query parameters pipeline, service, type), its
 * flame graph over from..to, or its differential flame graph against
 * base_from..base_to. Everything reads without JavaScript; the script
 * (flame.js, ui.js, inline) adds zoom, search and live counters.
 */
#include <stdio.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/http.h>

#include "ui/ui_int.h"

extern const unsigned char ui_css[];
extern const size_t ui_css_len;
extern const unsigned char ui_js[];
extern const size_t ui_js_len;

static int ui_esc(struct buf *b, const char *s)
{
    return flame_xml_escape(b, s, strlen(s));
}

/* key=value&, the value URL-encoded (then escaped for an attribute). */
static int ui_qarg(struct buf *b, const char *key, const char *v, int first)
{
    char *enc = evhttp_uriencode(v, -1, 0);
    int rc;

    if (enc == NULL) {
        return PC_ENOMEM;
    }
    rc = buf_printf(b, "%s%s=", first ? "" : "&amp;", key);
    rc = rc == PC_OK ? ui_esc(b, enc) : rc;
    free(enc);
    return rc;
}

static int ui_head(struct ui *u, struct buf *b)
{
    struct ui_store_stats st;
    int rc = buf_append_str(b,
                            "<!DOCTYPE html>\n<html lang=\"en\"><head>"
                            "<meta charset=\"utf-8\"><meta name=\"viewport\" "
                            "content=\"width=device-width\">"
                            "<title>profcol status</title><style>");

    rc = rc == PC_OK ? buf_append(b, ui_css, ui_css_len) : rc;
    rc = rc == PC_OK ? buf_append(b, flame_css, flame_css_len) : rc;
    ui_store_stats(u->store, &st);
    return rc == PC_OK
               ? buf_printf(
                     b,
                     "</style></head><body>\n<header><h1>profcol "
                     "status</h1><p class=\"store\">flame graph store: "
                     "<span id=\"store-bytes\">%zu</span> of %zu bytes, "
                     "%u series, %" PRIu64 " profiles, retention %" PRId64
                     " s, %" PRIu64 " batches dropped (queue full), %" PRIu64
                     " profiles cut (no room)</p></header>\n",
                     st.bytes, st.max_bytes, st.series, st.profiles,
                     st.retention_ms / 1000, st.queue_full, st.no_room)
               : rc;
}

static int ui_err_item(struct buf *b, const char *id,
                       const struct ui_err_line *l)
{
    time_t secs = (time_t)(l->ms / 1000);
    struct tm tm;
    char ts[32];
    int rc;

    gmtime_r(&secs, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    rc = buf_printf(b, "<li class=\"%s\"><b>", l->error ? "error" : "warn");
    rc = rc == PC_OK ? ui_esc(b, id) : rc;
    rc = rc == PC_OK ? buf_printf(b, "</b> <time>%s UTC</time> ", ts) : rc;
    rc = rc == PC_OK ? ui_esc(b, l->text) : rc;
    return rc == PC_OK ? buf_append_str(b, "</li>\n") : rc;
}

static int ui_in_list(const char *const *ids, uint32_t n, const char *id)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(ids[i], id) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Whether a pipeline before pipeline i names id (listed there already). */
static int ui_listed_before(const struct ui *u, uint32_t i, const char *id)
{
    uint32_t j;

    for (j = 0; j < i; j++) {
        const struct ui_pipeline *p = &u->pl[j];
        if (ui_in_list(p->receivers, p->nreceivers, id) ||
            ui_in_list(p->processors, p->nprocessors, id) ||
            ui_in_list(p->exporters, p->nexporters, id)) {
            return 1;
        }
    }
    return 0;
}

/* Each component's last errors, once per id. */
static int ui_errors_section(struct ui *u, struct buf *b)
{
    struct ui_err_line lines[UI_ERR_KEEP];
    uint32_t i, k, n, any = 0;
    int rc = buf_append_str(b, "<section id=\"errors\"><h2>Last errors</h2>"
                               "<ul>\n");

    for (i = 0; i < u->npl && rc == PC_OK; i++) {
        const struct ui_pipeline *p = &u->pl[i];
        const char *const *lists[3] = {p->receivers, p->processors,
                                       p->exporters};
        uint32_t counts[3] = {p->nreceivers, p->nprocessors, p->nexporters};
        int l;
        for (l = 0; l < 3; l++) {
            for (k = 0; k < counts[l] && rc == PC_OK; k++) {
                uint32_t j;
                if (ui_listed_before(u, i, lists[l][k])) {
                    continue;
                }
                n = ui_errors_get(lists[l][k], lines);
                for (j = 0; j < n && rc == PC_OK; j++) {
                    rc = ui_err_item(b, lists[l][k], &lines[j]);
                    any++;
                }
            }
        }
    }
    if (rc == PC_OK && any == 0) {
        rc = buf_append_str(b, "<li class=\"none\">none</li>\n");
    }
    return rc == PC_OK ? buf_append_str(b, "</ul></section>\n") : rc;
}

static int ui_series_link(struct buf *b, const struct ui_series_info *s,
                          int chosen)
{
    int rc = buf_printf(b, "<li%s><a href=\"/?",
                        chosen ? " class=\"chosen\"" : "");

    rc = rc == PC_OK ? ui_qarg(b, "pipeline", s->pipeline, 1) : rc;
    rc = rc == PC_OK ? ui_qarg(b, "service", s->service, 0) : rc;
    rc = rc == PC_OK ? ui_qarg(b, "type", s->type, 0) : rc;
    rc = rc == PC_OK ? buf_append_str(b, "#flames\">") : rc;
    rc = rc == PC_OK ? ui_esc(b, s->service) : rc;
    rc = rc == PC_OK ? buf_append_str(b, " · ") : rc;
    rc = rc == PC_OK ? ui_esc(b, s->type) : rc;
    rc = rc == PC_OK ? buf_append_str(b, " <small>(pipeline ") : rc;
    rc = rc == PC_OK ? ui_esc(b, s->pipeline) : rc;
    return rc == PC_OK ? buf_printf(b,
                                    ", %" PRIu64 " profiles)</small></a>"
                                    "</li>\n",
                                    s->profiles)
                       : rc;
}

static int ui_hidden(struct buf *b, const char *name, const char *v)
{
    int rc = buf_printf(b, "<input type=\"hidden\" name=\"%s\" value=\"",
                        name);

    rc = rc == PC_OK ? ui_esc(b, v) : rc;
    return rc == PC_OK ? buf_append_str(b, "\">") : rc;
}

static int ui_text_input(struct buf *b, const char *label, const char *name,
                         const char *v, const char *placeholder)
{
    int rc = buf_printf(b,
                        "<label>%s <input name=\"%s\" size=\"10\" "
                        "placeholder=\"%s\" value=\"",
                        label, name, placeholder);

    rc = rc == PC_OK ? ui_esc(b, v != NULL ? v : "") : rc;
    return rc == PC_OK ? buf_append_str(b, "\"></label> ") : rc;
}

/* The range form: the chosen series, from/to, and the diff's base. */
static int ui_form(struct buf *b, const struct evkeyvalq *q,
                   const struct ui_series_info *s)
{
    int rc = buf_append_str(b, "<form class=\"range\" method=\"get\" "
                               "action=\"/#flames\">");

    rc = rc == PC_OK ? ui_hidden(b, "pipeline", s->pipeline) : rc;
    rc = rc == PC_OK ? ui_hidden(b, "service", s->service) : rc;
    rc = rc == PC_OK ? ui_hidden(b, "type", s->type) : rc;
    rc = rc == PC_OK
             ? ui_text_input(b, "from", "from", ui_param(q, "from"), "-15m")
             : rc;
    rc = rc == PC_OK ? ui_text_input(b, "to", "to", ui_param(q, "to"), "now")
                     : rc;
    rc = rc == PC_OK ? buf_append_str(b, "<span class=\"sep\">diff against"
                                         "</span> ")
                     : rc;
    rc = rc == PC_OK ? ui_text_input(b, "base from", "base_from",
                                     ui_param(q, "base_from"), "-15m")
                     : rc;
    rc = rc == PC_OK ? ui_text_input(b, "base to", "base_to",
                                     ui_param(q, "base_to"), "-5m")
                     : rc;
    return rc == PC_OK ? buf_append_str(b, "<button type=\"submit\">Show"
                                           "</button></form>\n")
                       : rc;
}

/* The chosen series' flame graph (or diff) into b. */
static int ui_flame(struct ui *u, const struct evkeyvalq *q,
                    const struct ui_series_info *s, struct buf *b,
                    struct errctx *e)
{
    const char *bf = ui_param(q, "base_from"), *bt = ui_param(q, "base_to");
    int diff = (bf != NULL && bf[0] != '\0') || (bt != NULL && bt[0] != '\0');
    struct flame_render r = {0};
    struct ui_series_info info;
    struct flame_tree t;
    char title[3 * UI_KEY_MAX + 64];
    int rc = flame_init(&t, UI_PAGE_MAX);

    if (rc != PC_OK) {
        return rc;
    }
    (void)s;
    if (diff) {
        rc = ui_query_tree(u, q, "base_from", "base_to", &t, 0, &info, e);
    }
    rc = rc == PC_OK ? ui_query_tree(u, q, "from", "to", &t, diff, &info, e)
                     : rc;
    if (rc == PC_OK) {
        snprintf(title, sizeof(title), "%s · %s%s", info.service, info.type,
                 diff ? " · diff: red grew, blue shrank" : "");
        r.title = title;
        r.unit = info.unit;
        r.diff = diff;
        r.id = "flame-main";
        rc = flame_svg(&t, &r, b);
    }
    flame_free(&t);
    return rc;
}

static int ui_flames_section(struct ui *u, const struct evkeyvalq *q,
                             struct buf *b, struct errctx *e)
{
    struct ui_series_info *v = calloc(UI_MAX_SERIES, sizeof(*v));
    const char *pl = ui_param(q, "pipeline"), *sv = ui_param(q, "service");
    const char *ty = ui_param(q, "type");
    uint32_t n, i, chosen = UINT32_MAX;
    int rc;

    if (v == NULL) {
        return PC_ENOMEM;
    }
    n = ui_store_list(u->store, v, UI_MAX_SERIES);
    for (i = 0; i < n && chosen == UINT32_MAX; i++) {
        if ((pl == NULL || strcmp(v[i].pipeline, pl) == 0) &&
            (sv == NULL || strcmp(v[i].service, sv) == 0) &&
            (ty == NULL || strcmp(v[i].type, ty) == 0)) {
            chosen = i;
        }
    }
    rc = buf_append_str(b, "<section id=\"flames\"><h2>Flame graphs</h2>"
                           "<ul class=\"series\">\n");
    for (i = 0; i < n && rc == PC_OK; i++) {
        rc = ui_series_link(b, &v[i], i == chosen);
    }
    rc = rc == PC_OK ? buf_append_str(b, "</ul>\n") : rc;
    if (rc == PC_OK && chosen == UINT32_MAX) {
        rc = buf_append_str(b, "<p class=\"empty\">No profiles yet: point a "
                               "profiler at a receiver.</p>\n");
    } else if (rc == PC_OK) {
        rc = ui_form(b, q, &v[chosen]);
        rc = rc == PC_OK ? buf_append_str(b, "<p><label>Search <input "
                                             "class=\"flame-search\" "
                                             "data-for=\"flame-main\" "
                                             "type=\"search\" placeholder="
                                             "\"regular expression\">"
                                             "</label></p>\n<div "
                                             "class=\"flame-box\">")
                         : rc;
        rc = rc == PC_OK ? ui_flame(u, q, &v[chosen], b, e) : rc;
        rc = rc == PC_OK ? buf_append_str(b, "</div>\n") : rc;
    }
    free(v);
    return rc == PC_OK ? buf_append_str(b, "</section>\n") : rc;
}

int ui_page(struct ui *u, const struct evkeyvalq *q, struct buf *out,
            struct errctx *e)
{
    struct buf m;
    int rc;

    buf_init(&m, UI_PAGE_MAX);
    rc = ui_metrics_text(u, &m);
    rc = rc == PC_OK ? ui_head(u, out) : rc;
    rc = rc == PC_OK ? buf_append_str(out, "<section id=\"pipelines\"><h2>"
                                           "Pipelines</h2>\n")
                     : rc;
    pthread_mutex_lock(&u->pl_mu);
    rc = rc == PC_OK ? ui_graph_svg(u, &m, out) : rc;
    rc = rc == PC_OK ? buf_append_str(out, "</section>\n") : rc;
    rc = rc == PC_OK ? ui_errors_section(u, out) : rc;
    pthread_mutex_unlock(&u->pl_mu);
    buf_free(&m);
    rc = rc == PC_OK ? ui_flames_section(u, q, out, e) : rc;
    rc = rc == PC_OK ? buf_append_str(out, "<script>\n") : rc;
    rc = rc == PC_OK ? buf_append(out, flame_js, flame_js_len) : rc;
    rc = rc == PC_OK ? buf_append(out, ui_js, ui_js_len) : rc;
    return rc == PC_OK ? buf_append_str(out, "</script>\n</body></html>\n")
                       : rc;
}
