/*
 * ui_graph.c: the pipelines as an SVG graph: per pipeline one row, its
 * receivers stacked on the left, its processors in order in the middle, its
 * exporters stacked on the right, edges between them. Each box holds the
 * component's id and counters; every number is a <tspan data-c="KIND/ID/
 * FIELD"> the page's script refreshes from /api/pipelines. A component with
 * errors logged gets a red border.
 */
#include <stdio.h>
#include <string.h>

#include "flame/flame.h"
#include "ui/ui_int.h"

#define UI_BOX_W 190
#define UI_BOX_H 58
#define UI_GAP_X 50
#define UI_GAP_Y 12
#define UI_ROW_TITLE 22

struct ui_box {
    const char *kind;
    const char *id;
    int x, y;
};

static int ui_counter(struct buf *b, const struct ui_box *bx,
                      const char *field, double v, const char *label)
{
    int rc = buf_printf(b, "%s <tspan class=\"num\" data-c=\"%s/", label,
                        bx->kind);

    rc = rc == PC_OK ? flame_xml_escape(b, bx->id, strlen(bx->id)) : rc;
    return rc == PC_OK ? buf_printf(b, "/%s\">%.0f</tspan>", field, v) : rc;
}

static int ui_box_counters(struct buf *b, const struct ui_box *bx,
                           const struct ui_counts *c)
{
    int rc = buf_printf(b, "<text x=\"%d\" y=\"%d\" class=\"ctr\">", bx->x + 8,
                        bx->y + 36);

    if (strcmp(bx->kind, "receiver") == 0) {
        rc = rc == PC_OK
                 ? ui_counter(b, bx, "accepted", c->accepted, "accepted")
                 : rc;
        rc = rc == PC_OK ? ui_counter(b, bx, "refused", c->refused, " refused")
                         : rc;
    } else if (strcmp(bx->kind, "processor") == 0) {
        rc = rc == PC_OK ? ui_counter(b, bx, "dropped", c->dropped, "dropped")
                         : rc;
    } else {
        rc = rc == PC_OK ? ui_counter(b, bx, "sent", c->sent, "sent") : rc;
        rc = rc == PC_OK ? ui_counter(b, bx, "failed", c->failed, " failed")
                         : rc;
        rc = rc == PC_OK ? buf_printf(b,
                                      "</text><text x=\"%d\" y=\"%d\" "
                                      "class=\"ctr\">",
                                      bx->x + 8, bx->y + 51)
                         : rc;
        rc = rc == PC_OK ? ui_counter(b, bx, "queue", c->queue, "queue") : rc;
        rc = rc == PC_OK ? ui_counter(b, bx, "retries", c->retries, " retries")
                         : rc;
    }
    return rc == PC_OK ? buf_append_str(b, "</text>") : rc;
}

static int ui_box(struct buf *b, const struct buf *m, const struct ui_box *bx)
{
    struct ui_err_line lines[UI_ERR_KEEP];
    struct ui_counts c;
    int errs = ui_errors_get(bx->id, lines) > 0;
    int rc;

    ui_counts_of(m, bx->kind, bx->id, &c);
    rc = buf_printf(b, "<g class=\"comp %s%s\" data-id=\"", bx->kind,
                    errs ? " has-errors" : "");
    rc = rc == PC_OK ? flame_xml_escape(b, bx->id, strlen(bx->id)) : rc;
    rc = rc == PC_OK
             ? buf_printf(b,
                          "\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
                          "height=\"%d\" rx=\"6\"/><text x=\"%d\" y=\"%d\" "
                          "class=\"cid\">%s: ",
                          bx->x, bx->y, UI_BOX_W, UI_BOX_H, bx->x + 8,
                          bx->y + 17, bx->kind)
             : rc;
    rc = rc == PC_OK ? flame_xml_escape(b, bx->id, strlen(bx->id)) : rc;
    rc = rc == PC_OK ? buf_append_str(b, "</text>") : rc;
    rc = rc == PC_OK ? ui_box_counters(b, bx, &c) : rc;
    return rc == PC_OK ? buf_append_str(b, "</g>\n") : rc;
}

static int ui_edge(struct buf *b, const struct ui_box *from,
                   const struct ui_box *to)
{
    int x1 = from->x + UI_BOX_W, y1 = from->y + UI_BOX_H / 2;
    int x2 = to->x, y2 = to->y + UI_BOX_H / 2;

    return buf_printf(b,
                      "<path class=\"edge\" d=\"M%d %d C%d %d %d %d %d "
                      "%d\" marker-end=\"url(#arrow)\"/>\n",
                      x1, y1, (x1 + x2) / 2, y1, (x1 + x2) / 2, y2, x2 - 2,
                      y2);
}

/* Height of a pipeline's row. */
static int ui_row_h(const struct ui_pipeline *p)
{
    uint32_t n = p->nreceivers > p->nexporters ? p->nreceivers : p->nexporters;

    if (n == 0) {
        n = 1;
    }
    return UI_ROW_TITLE + (int)n * (UI_BOX_H + UI_GAP_Y) + UI_GAP_Y;
}

static int ui_row(struct buf *b, const struct buf *m,
                  const struct ui_pipeline *p, int y, uint32_t maxproc)
{
    struct ui_box prev[64], cur;
    uint32_t nprev = 0, i, k;
    int rc = buf_printf(b, "<text class=\"pl\" x=\"10\" y=\"%d\">pipeline ",
                        y + 15);

    rc = rc == PC_OK ? flame_xml_escape(b, p->id, strlen(p->id)) : rc;
    rc = rc == PC_OK ? buf_append_str(b, "</text>\n") : rc;
    for (i = 0; i < p->nreceivers && rc == PC_OK; i++) {
        cur = (struct ui_box){"receiver", p->receivers[i], 10,
                              y + UI_ROW_TITLE +
                                  (int)i * (UI_BOX_H + UI_GAP_Y)};
        rc = ui_box(b, m, &cur);
        if (nprev < 64) {
            prev[nprev++] = cur;
        }
    }
    for (i = 0; i < p->nprocessors && rc == PC_OK; i++) {
        cur = (struct ui_box){"processor", p->processors[i],
                              10 + (int)(i + 1) * (UI_BOX_W + UI_GAP_X),
                              y + UI_ROW_TITLE};
        rc = ui_box(b, m, &cur);
        for (k = 0; k < nprev && rc == PC_OK; k++) {
            rc = ui_edge(b, &prev[k], &cur);
        }
        prev[0] = cur;
        nprev = 1;
    }
    for (i = 0; i < p->nexporters && rc == PC_OK; i++) {
        cur = (struct ui_box){"exporter", p->exporters[i],
                              10 + (int)(maxproc + 1) * (UI_BOX_W + UI_GAP_X),
                              y + UI_ROW_TITLE +
                                  (int)i * (UI_BOX_H + UI_GAP_Y)};
        rc = ui_box(b, m, &cur);
        for (k = 0; k < nprev && rc == PC_OK; k++) {
            rc = ui_edge(b, &prev[k], &cur);
        }
    }
    return rc;
}

int ui_graph_svg(struct ui *u, const struct buf *m, struct buf *out)
{
    uint32_t i, maxproc = 0;
    int h = 0, y = 0, w, rc;

    for (i = 0; i < u->npl; i++) {
        h += ui_row_h(&u->pl[i]);
        if (u->pl[i].nprocessors > maxproc) {
            maxproc = u->pl[i].nprocessors;
        }
    }
    w = 20 + (int)(maxproc + 2) * (UI_BOX_W + UI_GAP_X) - UI_GAP_X;
    rc = buf_printf(out,
                    "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                    "class=\"graph\" width=\"%d\" height=\"%d\" "
                    "viewBox=\"0 0 %d %d\"><defs><marker id=\"arrow\" "
                    "viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" "
                    "markerWidth=\"7\" markerHeight=\"7\" "
                    "orient=\"auto\"><path d=\"M0 0L10 5L0 10z\"/>"
                    "</marker></defs>\n",
                    w, h + 4, w, h + 4);
    for (i = 0; i < u->npl && rc == PC_OK; i++) {
        rc = ui_row(out, m, &u->pl[i], y, maxproc);
        y += ui_row_h(&u->pl[i]);
    }
    return rc == PC_OK ? buf_append_str(out, "</svg>\n") : rc;
}
