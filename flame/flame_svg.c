/*
 * flame_svg.c: a flame tree as SVG: one <g class="f"> per frame wide enough
 * to see, root at the bottom, siblings in name order. Every frame carries
 * its place as fractions of the root (data-x, data-w) and its depth (data-d),
 * so the script (assets/flame.js) can zoom without asking the server, and its
 * label is already cut to its width, so the graph reads without the script.
 */
#include "flame/flame.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

#define FLAME_ROW 16     /* pixels per frame row */
#define FLAME_PAD 10     /* left and right margin */
#define FLAME_TOP 34     /* room for the title and buttons */
#define FLAME_BOTTOM 22  /* room for the status line */
#define FLAME_CHAR_PX 7  /* width of a label character, about */
#define FLAME_MIN_PX 0.1 /* frames narrower than this are left out */

struct flame_layout {
    double *x; /* start, as a fraction of the root */
    uint32_t *depth;
    uint32_t max_depth;
    const struct flame_tree *t;
    int side; /* the side that gives widths */
};

struct flame_kid {
    struct pstr name;
    uint32_t node;
};

static int flame_by_name(const void *a, const void *b)
{
    const struct flame_kid *x = a, *y = b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c = memcmp(x->name.ptr, y->name.ptr, n);

    return c != 0 ? c
                  : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

/* x and depth of every node: parents come before children (index order),
 * so one pass places each node's children, sorted by name, after it. */
static int flame_place(struct flame_layout *l)
{
    const struct flame_tree *t = l->t;
    double root = (double)t->nodes[FLAME_ROOT].total[l->side];
    struct flame_kid *kids = malloc(((size_t)t->nnodes + 1) * sizeof(*kids));
    uint32_t i;

    l->x = calloc((size_t)t->nnodes + 1, sizeof(*l->x));
    l->depth = calloc((size_t)t->nnodes + 1, sizeof(*l->depth));
    if (kids == NULL || l->x == NULL || l->depth == NULL) {
        free(kids);
        return PC_ENOMEM;
    }
    l->max_depth = 0;
    for (i = 0; i < t->nnodes; i++) {
        uint32_t c, k = 0, j;
        double x = l->x[i];
        for (c = t->nodes[i].child; c != 0; c = t->nodes[c].next) {
            kids[k].name = flame_name_text(t, t->nodes[c].name);
            kids[k++].node = c;
        }
        qsort(kids, k, sizeof(*kids), flame_by_name);
        for (j = 0; j < k; j++) {
            uint32_t n = kids[j].node;
            l->x[n] = x;
            l->depth[n] = l->depth[i] + 1;
            if (l->depth[n] > l->max_depth) {
                l->max_depth = l->depth[n];
            }
            x += root > 0 ? (double)t->nodes[n].total[l->side] / root : 0;
        }
    }
    free(kids);
    return PC_OK;
}

int flame_xml_escape(struct buf *b, const char *s, size_t n)
{
    size_t i, run = 0;
    int rc = PC_OK;

    for (i = 0; i < n && rc == PC_OK; i++) {
        const char *rep = NULL;
        unsigned char ch = (unsigned char)s[i];
        switch (ch) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        case '\'':
            rep = "&#39;";
            break;
        default:
            if (ch < 0x20 && ch != '\t' && ch != '\n') {
                rep = "?";
            }
        }
        if (rep == NULL) {
            continue;
        }
        rc = buf_append(b, s + run, i - run);
        if (rc == PC_OK) {
            rc = buf_append_str(b, rep);
        }
        run = i + 1;
    }
    if (rc == PC_OK) {
        rc = buf_append(b, s + run, n - run);
    }
    return rc;
}

/* A warm colour that depends on the name only, so a function keeps its
 * colour across graphs. */
static void flame_warm(struct pstr name, char *out, size_t len)
{
    uint32_t h = 2166136261u;
    uint32_t i;

    for (i = 0; i < name.len; i++) {
        h = (h ^ (unsigned char)name.ptr[i]) * 16777619u;
    }
    snprintf(out, len, "rgb(%u,%u,%u)", 205 + (h % 50), 80 + ((h >> 8) % 120),
             40 + ((h >> 16) % 40));
}

static double flame_share(const struct flame_tree *t, int64_t v, int side)
{
    int64_t root = t->nodes[FLAME_ROOT].total[side];

    return root > 0 ? (double)v / (double)root : 0;
}

/* Change of a node's self share from side 0 to side 1. */
static double flame_delta(const struct flame_tree *t, uint32_t i)
{
    return flame_share(t, t->nodes[i].self[1], 1) -
           flame_share(t, t->nodes[i].self[0], 0);
}

/* The largest growth and the largest shrink among the frames drawn: each
 * colour has its own scale, so that the frame that grew most is always
 * drawn fully red, however much a larger frame shrank. */
struct flame_scale {
    double grew, shrank;
};

/* Red for a frame that grew, blue for one that shrank, grey for none: the
 * intensity is the change relative to the largest of its sign drawn. */
static void flame_diff_colour(double d, const struct flame_scale *sc,
                              char *out, size_t len)
{
    double m = d > 0 ? sc->grew : sc->shrank;
    double k = m > 0 ? fabs(d) / m : 0;
    unsigned fade = (unsigned)(255 - 200 * (k > 1 ? 1 : k));

    if (d > 0) {
        snprintf(out, len, "rgb(255,%u,%u)", fade, fade);
    } else if (d < 0) {
        snprintf(out, len, "rgb(%u,%u,255)", fade, fade);
    } else {
        snprintf(out, len, "rgb(235,235,235)");
    }
}

static int flame_label(struct buf *b, struct pstr nm, double wpx)
{
    double fit = (wpx - 6) / FLAME_CHAR_PX;

    if (fit < 3) {
        return PC_OK;
    }
    if (nm.len <= fit) {
        return flame_xml_escape(b, nm.ptr, nm.len);
    }
    /* Cut between UTF-8 characters, never inside one. */
    {
        size_t n = (size_t)fit - 2;
        while (n > 0 && ((unsigned char)nm.ptr[n] & 0xC0) == 0x80) {
            n--;
        }
        int rc = flame_xml_escape(b, nm.ptr, n);
        return rc == PC_OK ? buf_append_str(b, "..") : rc;
    }
}

/* "name (value, shares)": nm is the name drawn ("all" for the root). */
static int flame_tooltip(struct buf *b, const struct flame_tree *t,
                         const struct flame_render *r, uint32_t i,
                         struct pstr nm)
{
    const struct flame_node *nd = &t->nodes[i];
    const char *unit = r->unit != NULL ? r->unit : "";
    int rc = flame_xml_escape(b, nm.ptr, nm.len);

    if (rc != PC_OK) {
        return rc;
    }
    if (!r->diff) {
        return buf_printf(b, " (%" PRId64 " %s, %.2f%%, self %.2f%%)",
                          nd->total[0], unit,
                          100 * flame_share(t, nd->total[0], 0),
                          100 * flame_share(t, nd->self[0], 0));
    }
    return buf_printf(b,
                      " (total %.2f%% to %.2f%%, self %.2f%% to %.2f%%, "
                      "self change %+.2f%%)",
                      100 * flame_share(t, nd->total[0], 0),
                      100 * flame_share(t, nd->total[1], 1),
                      100 * flame_share(t, nd->self[0], 0),
                      100 * flame_share(t, nd->self[1], 1),
                      100 * flame_delta(t, i));
}

static int flame_frame(struct buf *b, const struct flame_tree *t,
                       const struct flame_render *r,
                       const struct flame_layout *l, uint32_t i,
                       const struct flame_scale *sc, uint32_t height)
{
    double inner = (double)r->width - 2 * FLAME_PAD;
    double w = flame_share(t, t->nodes[i].total[l->side], l->side);
    double xpx = FLAME_PAD + l->x[i] * inner, wpx = w * inner;
    uint32_t y = height - FLAME_BOTTOM - (l->depth[i] + 1) * FLAME_ROW;
    struct pstr nm = flame_name_text(t, t->nodes[i].name);
    char fill[32];
    int rc;

    if (i == FLAME_ROOT) {
        nm.ptr = "all";
        nm.len = 3;
    }
    if (r->diff) {
        flame_diff_colour(flame_delta(t, i), sc, fill, sizeof(fill));
    } else {
        flame_warm(nm, fill, sizeof(fill));
    }
    rc = buf_printf(b,
                    "<g class=\"f\" data-x=\"%.7f\" data-w=\"%.7f\" "
                    "data-d=\"%u\" data-n=\"",
                    l->x[i], w, l->depth[i]);
    rc = rc == PC_OK ? flame_xml_escape(b, nm.ptr, nm.len) : rc;
    rc = rc == PC_OK ? buf_append_str(b, "\"><title>") : rc;
    rc = rc == PC_OK ? flame_tooltip(b, t, r, i, nm) : rc;
    rc = rc == PC_OK ? buf_printf(b,
                                  "</title><rect x=\"%.2f\" y=\"%u\" "
                                  "width=\"%.2f\" height=\"%u\" fill=\"%s\" "
                                  "rx=\"2\"/><text x=\"%.2f\" y=\"%u\">",
                                  xpx, y, wpx, FLAME_ROW - 1, fill, xpx + 3,
                                  y + FLAME_ROW - 4)
                     : rc;
    rc = rc == PC_OK ? flame_label(b, nm, wpx) : rc;
    return rc == PC_OK ? buf_append_str(b, "</text></g>\n") : rc;
}

static int flame_head(struct buf *b, const struct flame_render *r,
                      uint32_t height)
{
    int rc = PC_OK;

    if (r->standalone) {
        rc = buf_append_str(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }
    rc = rc == PC_OK ? buf_printf(b,
                                  "<svg xmlns=\"http://www.w3.org/2000/svg\" "
                                  "class=\"flame%s\" width=\"%u\" "
                                  "height=\"%u\" viewBox=\"0 0 %u %u\" "
                                  "data-width=\"%u\" data-pad=\"%u\"",
                                  r->diff ? " diff" : "", r->width, height,
                                  r->width, height, r->width, FLAME_PAD)
                     : rc;
    if (rc == PC_OK && r->id != NULL) {
        rc = buf_append_str(b, " id=\"");
        rc = rc == PC_OK ? flame_xml_escape(b, r->id, strlen(r->id)) : rc;
        rc = rc == PC_OK ? buf_append_str(b, "\"") : rc;
    }
    rc = rc == PC_OK ? buf_append_str(b, ">\n") : rc;
    if (rc == PC_OK && r->standalone) {
        rc = buf_append_str(b, "<style>");
        rc = rc == PC_OK ? buf_append(b, flame_css, flame_css_len) : rc;
        rc = rc == PC_OK ? buf_append_str(b, "</style>\n") : rc;
    }
    rc = rc == PC_OK ? buf_printf(b,
                                  "<rect class=\"bg\" width=\"100%%\" "
                                  "height=\"100%%\"/>\n<text class=\"ttl\" "
                                  "x=\"%u\" y=\"20\">",
                                  r->width / 2)
                     : rc;
    if (rc == PC_OK && r->title != NULL) {
        /* Cut to the room between the buttons, between characters. */
        size_t n = strlen(r->title);
        size_t room = r->width > 200 ? (r->width - 200) / 8 : 0;
        if (n > room) {
            while (room > 0 &&
                   ((unsigned char)r->title[room] & 0xC0) == 0x80) {
                room--;
            }
            rc = flame_xml_escape(b, r->title, room);
            rc = rc == PC_OK ? buf_append_str(b, "..") : rc;
        } else {
            rc = flame_xml_escape(b, r->title, n);
        }
    }
    return rc == PC_OK
               ? buf_printf(b,
                            "</text>\n<text class=\"btn reset\" x=\"%u\" "
                            "y=\"20\">Reset zoom</text>\n<text class=\"btn "
                            "search\" x=\"%u\" y=\"20\">Search</text>\n"
                            "<text class=\"info\" x=\"%u\" y=\"%u\"></text>\n",
                            FLAME_PAD, r->width - FLAME_PAD - 50, FLAME_PAD,
                            height - 6)
               : rc;
}

static int flame_tail(struct buf *b, const struct flame_render *r)
{
    int rc = PC_OK;

    if (r->standalone) {
        rc = buf_append_str(b, "<script><![CDATA[\n");
        rc = rc == PC_OK ? buf_append(b, flame_js, flame_js_len) : rc;
        rc = rc == PC_OK ? buf_append_str(b, "]]></script>\n") : rc;
    }
    return rc == PC_OK ? buf_append_str(b, "</svg>\n") : rc;
}

/* Whether node i is wide enough to be drawn (the root always is). */
static int flame_drawn(const struct flame_layout *l, uint32_t i, double inner)
{
    double w = flame_share(l->t, l->t->nodes[i].total[l->side], l->side);

    return i == FLAME_ROOT || w * inner >= FLAME_MIN_PX;
}

static void flame_max_change(const struct flame_layout *l, double inner,
                             struct flame_scale *sc)
{
    uint32_t i;

    sc->grew = sc->shrank = 0;
    for (i = 1; i < l->t->nnodes; i++) {
        double d = flame_delta(l->t, i);
        if (!flame_drawn(l, i, inner)) {
            continue;
        }
        if (d > sc->grew) {
            sc->grew = d;
        } else if (-d > sc->shrank) {
            sc->shrank = -d;
        }
    }
}

int flame_svg(const struct flame_tree *t, const struct flame_render *ropt,
              struct buf *out)
{
    struct flame_render r = *ropt;
    struct flame_layout l = {0};
    struct flame_scale sc = {0, 0};
    double inner;
    uint32_t i, height;
    int rc;

    if (r.width == 0) {
        r.width = 1200;
    }
    if (r.width < 100 || r.width > 100000) {
        return PC_EINVAL;
    }
    l.t = t;
    l.side = r.diff ? 1 : 0;
    rc = flame_place(&l);
    if (rc != PC_OK) {
        goto out;
    }
    inner = (double)r.width - 2 * FLAME_PAD;
    height = FLAME_TOP + FLAME_BOTTOM + (l.max_depth + 1) * FLAME_ROW;
    if (r.diff) {
        flame_max_change(&l, inner, &sc);
    }
    rc = flame_head(out, &r, height);
    rc = rc == PC_OK ? buf_append_str(out, "<g class=\"frames\">\n") : rc;
    for (i = 0; i < t->nnodes && rc == PC_OK; i++) {
        if (flame_drawn(&l, i, inner)) {
            rc = flame_frame(out, t, &r, &l, i, &sc, height);
        }
    }
    rc = rc == PC_OK ? buf_append_str(out, "</g>\n") : rc;
    rc = rc == PC_OK ? flame_tail(out, &r) : rc;
out:
    free(l.x);
    free(l.depth);
    return rc;
}
