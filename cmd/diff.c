/*
 * diff.c: `profcol diff BASE NEW [--type T] [--select SELECTOR] [--top N]
 * [--threshold PCT] [--json] [--svg OUT]`: what changed between two
 * profiles. Prints the change of the total (in percent of the base's) and
 * the functions whose share of the total changed most, flat (self) and
 * cumulative, in percentage points. Exit code 1 when the total rose by
 * more than PCT percent or any function's flat share rose by more than
 * PCT points (default 10): a CI step fails on a regression. 2 on bad
 * usage or unreadable input. --svg writes a differential flame graph
 * (widths of NEW, red: self share grew, blue: shrank; .html: a page).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/flamesrc.h"
#include "core/err.h"
#include "flame/flame.h"

#define DIFF_TOP_DEFAULT 20
#define DIFF_THRESHOLD_DEFAULT 10.0

struct diff_opts {
    const char *base, *new_, *type, *select, *svg;
    unsigned top;
    double threshold;
    int json;
};

static int diff_usage(void)
{
    fprintf(stderr, "usage: profcol diff BASE NEW [--type T] [--select "
                    "SELECTOR] [--top N] [--threshold PCT] [--json] "
                    "[--svg OUT]\n");
    return 2;
}

static int diff_number(const char *v, double lo, double hi, double *out)
{
    char *end;
    double d;

    errno = 0;
    d = strtod(v, &end);
    if (end == v || *end != '\0' || errno != 0 || !(d >= lo && d <= hi)) {
        return -1;
    }
    *out = d;
    return 0;
}

/* --json is a flag (v NULL: 1); the others take a value. */
static int diff_opt(void *ctx, const char *a, const char *v)
{
    struct diff_opts *o = ctx;
    double d;

    if (v == NULL) {
        if (strcmp(a, "--json") == 0) {
            o->json = 1;
            return 1;
        }
        return 0;
    }
    if (strcmp(a, "--type") == 0) {
        o->type = v;
    } else if (strcmp(a, "--select") == 0) {
        o->select = v;
    } else if (strcmp(a, "--svg") == 0) {
        o->svg = v;
    } else if (strcmp(a, "--top") == 0) {
        if (diff_number(v, 0, 1000000, &d) != 0 || d != floor(d)) {
            fprintf(stderr, "profcol diff: --top must be 0 to 1000000\n");
            return -1;
        }
        o->top = (unsigned)d;
    } else if (strcmp(a, "--threshold") == 0) {
        if (diff_number(v, 0, 1e9, &o->threshold) != 0) {
            fprintf(stderr, "profcol diff: --threshold must be a number of "
                            "percent, at least 0\n");
            return -1;
        }
    } else {
        fprintf(stderr, "profcol diff: unknown option %s\n", a);
        return -1;
    }
    return 0;
}

static int diff_parse(int argc, char **argv, struct diff_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->top = DIFF_TOP_DEFAULT;
    o->threshold = DIFF_THRESHOLD_DEFAULT;
    return cmd_two_paths(argc, argv, diff_opt, o, &o->base, &o->new_);
}

static void diff_print_text(const struct flame_diff *r, const char *type,
                            const struct diff_opts *o)
{
    uint32_t i;

    printf("type %s\n", type);
    printf("total: base %lld, new %lld, change %+.2f%%\n",
           (long long)r->total[0], (long long)r->total[1], r->total_change);
    printf("%9s %9s %9s %9s %9s %9s  %s\n", "flat-base", "flat-new",
           "flat-chg", "cum-base", "cum-new", "cum-chg", "function");
    for (i = 0; i < r->n && i < o->top; i++) {
        const struct flame_diff_row *w = &r->rows[i];
        printf("%8.2f%% %8.2f%% %+8.2f%% %8.2f%% %8.2f%% %+8.2f%%  %.*s\n",
               w->flat[0], w->flat[1], w->flat[1] - w->flat[0], w->cum[0],
               w->cum[1], w->cum[1] - w->cum[0], (int)w->name.len,
               w->name.ptr);
    }
    printf("%s: threshold %.2f%% (total change, or a function's flat share "
           "change)\n",
           r->regression ? "REGRESSION" : "ok", o->threshold);
}

static int diff_load(const struct diff_opts *o, const struct matcher_set *sel,
                     struct flame_tree *t, char *type, size_t typelen)
{
    struct flamesrc base, nw;
    int rc;

    memset(&base, 0, sizeof(base));
    base.type = o->type;
    base.sel = sel;
    rc = flamesrc_load(o->base, &base, t, 0, "diff");
    if (rc != PC_OK) {
        return rc;
    }
    /* NEW is read as the type BASE was drawn with. */
    memset(&nw, 0, sizeof(nw));
    nw.type = base.chosen;
    nw.sel = sel;
    rc = flamesrc_load(o->new_, &nw, t, 1, "diff");
    snprintf(type, typelen, "%s", base.chosen);
    return rc;
}

static int diff_svg(const struct flame_tree *t, const struct diff_opts *o,
                    const char *type)
{
    struct flame_render r;
    char title[512];

    snprintf(title, sizeof(title), "%s vs %s (%s): red grew, blue shrank",
             cmd_base_name(o->new_), cmd_base_name(o->base), type);
    memset(&r, 0, sizeof(r));
    r.title = title;
    r.diff = 1;
    return cmd_write_flame(t, &r, o->svg, "diff");
}

/* --json: the report as flame_diff_json writes it, on stdout. */
static int diff_print_json(const struct flame_diff *r, const char *type,
                           const struct diff_opts *o)
{
    struct buf b;
    int rc;

    buf_init(&b, 0);
    rc = flame_diff_json(r, type, o->threshold, o->top, &b);
    rc = rc == PC_OK ? buf_putc(&b, '\n') : rc;
    if (rc == PC_OK) {
        fwrite(b.data, 1, b.len, stdout);
    }
    buf_free(&b);
    return rc;
}

int cmd_diff(int argc, char **argv)
{
    struct diff_opts o;
    struct flame_diff r;
    struct matcher_set *sel = NULL;
    struct flame_tree t;
    char type[128] = "";
    int rc;

    if (diff_parse(argc, argv, &o) != 0) {
        return diff_usage();
    }
    if (o.select != NULL && flamesrc_selector(o.select, &sel, "diff") != 0) {
        return 2;
    }
    memset(&r, 0, sizeof(r));
    rc = flame_init(&t, 0);
    rc = rc == PC_OK ? diff_load(&o, sel, &t, type, sizeof(type)) : rc;
    rc = rc == PC_OK ? flame_diff(&t, o.threshold, &r) : rc;
    if (rc == PC_OK && o.json) {
        rc = diff_print_json(&r, type, &o);
    } else if (rc == PC_OK) {
        diff_print_text(&r, type, &o);
    }
    if (rc == PC_OK && o.svg != NULL) {
        rc = diff_svg(&t, &o, type);
    }
    flame_diff_free(&r);
    flame_free(&t);
    matcher_free(sel);
    if (rc != PC_OK) {
        return 2;
    }
    return r.regression ? 1 : 0;
}
