/* flame_diff.c: two sides of a flame tree compared per function (what
 * `profcol diff` reports and /api/diff?format=functions answers). */
#include "flame/flame.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/jsonesc.h"

static double flame_pct(int64_t v, int64_t total)
{
    return total != 0 ? 100.0 * (double)v / (double)total : 0;
}

/* Largest change first: flat, then cumulative, then name for a stable
 * order. */
static int flame_by_change(const void *a, const void *b)
{
    const struct flame_diff_row *x = a, *y = b;
    double fx = fabs(x->flat[1] - x->flat[0]);
    double fy = fabs(y->flat[1] - y->flat[0]);
    double cx = fabs(x->cum[1] - x->cum[0]);
    double cy = fabs(y->cum[1] - y->cum[0]);
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int c;

    if (fx != fy) {
        return fx < fy ? 1 : -1;
    }
    if (cx != cy) {
        return cx < cy ? 1 : -1;
    }
    c = memcmp(x->name.ptr, y->name.ptr, n);
    return c != 0 ? c
                  : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

static double flame_total_change(const int64_t total[2])
{
    if (total[0] == 0) {
        return total[1] != 0 ? INFINITY : 0;
    }
    return 100.0 * ((double)total[1] - (double)total[0]) / (double)total[0];
}

int flame_diff(const struct flame_tree *t, double threshold,
               struct flame_diff *d)
{
    struct flame_fn *fn;
    uint32_t n, i;
    int rc = flame_functions(t, &fn, &n);

    memset(d, 0, sizeof(*d));
    if (rc != PC_OK) {
        return rc;
    }
    d->total[0] = t->nodes[FLAME_ROOT].total[0];
    d->total[1] = t->nodes[FLAME_ROOT].total[1];
    d->total_change = flame_total_change(d->total);
    d->rows = calloc((size_t)n + 1, sizeof(*d->rows));
    if (d->rows == NULL) {
        free(fn);
        return PC_ENOMEM;
    }
    d->regression = d->total_change > threshold;
    for (i = 1; i < n; i++) { /* name 0 is the root's */
        struct flame_diff_row *row = &d->rows[d->n++];
        int s;
        row->name = flame_name_text(t, fn[i].name);
        for (s = 0; s < 2; s++) {
            row->flat[s] = flame_pct(fn[i].flat[s], d->total[s]);
            row->cum[s] = flame_pct(fn[i].cum[s], d->total[s]);
        }
        if (row->flat[1] - row->flat[0] > threshold) {
            d->regression = 1;
        }
    }
    free(fn);
    qsort(d->rows, d->n, sizeof(*d->rows), flame_by_change);
    return PC_OK;
}

void flame_diff_free(struct flame_diff *d)
{
    free(d->rows);
    d->rows = NULL;
    d->n = 0;
}

static int flame_diff_row_json(struct buf *b, const struct flame_diff_row *w,
                               int first)
{
    int rc = buf_append_str(b, first ? "{\"function\":" : ",{\"function\":");

    rc = rc == PC_OK ? jsonesc_quoted(b, w->name.ptr, w->name.len) : rc;
    return rc == PC_OK
               ? buf_printf(b,
                            ",\"flat_base_pct\":%.4f,\"flat_new_pct\":%.4f,"
                            "\"flat_change_pct\":%.4f,\"cum_base_pct\":%.4f,"
                            "\"cum_new_pct\":%.4f,\"cum_change_pct\":%.4f}",
                            w->flat[0], w->flat[1], w->flat[1] - w->flat[0],
                            w->cum[0], w->cum[1], w->cum[1] - w->cum[0])
               : rc;
}

int flame_diff_json(const struct flame_diff *d, const char *type,
                    double threshold, uint32_t top, struct buf *b)
{
    uint32_t i;
    int rc = buf_append_str(b, "{\"type\":");

    rc = rc == PC_OK ? jsonesc_quoted(b, type, strlen(type)) : rc;
    rc = rc == PC_OK
             ? buf_printf(b, ",\"base_total\":%lld,\"new_total\":%lld,",
                          (long long)d->total[0], (long long)d->total[1])
             : rc;
    /* A base of 0 has no percentage of change: null. */
    if (rc == PC_OK && isfinite(d->total_change)) {
        rc = buf_printf(b, "\"total_change_pct\":%.4f", d->total_change);
    } else if (rc == PC_OK) {
        rc = buf_append_str(b, "\"total_change_pct\":null");
    }
    rc = rc == PC_OK ? buf_printf(b,
                                  ",\"threshold_pct\":%.4f,\"regression\":%s,"
                                  "\"functions\":[",
                                  threshold, d->regression ? "true" : "false")
                     : rc;
    for (i = 0; i < d->n && i < top && rc == PC_OK; i++) {
        rc = flame_diff_row_json(b, &d->rows[i], i == 0);
    }
    return rc == PC_OK ? buf_append_str(b, "]}") : rc;
}
