/*
 * flamegraph.c: `profcol flamegraph IN OUT [--type T] [--select SELECTOR]
 * [--width PX] [--title TEXT]`: an interactive flame graph of a pprof,
 * OTLP or JFR file, as SVG or as an HTML page by OUT's extension (".html"
 * or ".htm"; anything else, and "-", is SVG). Zoom and search work in a
 * browser with nothing loaded from the network: the script and style are
 * inside the file.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/flamesrc.h"
#include "core/err.h"
#include "flame/flame.h"

/* Largest SVG or page written. */
#define FLAMEGRAPH_MAX_OUT ((size_t)256 << 20)

struct flamegraph_opts {
    const char *in, *out, *type, *select, *title;
    unsigned width;
};

static int flamegraph_usage(void)
{
    fprintf(stderr,
            "usage: profcol flamegraph IN OUT [--type T] [--select SELECTOR] "
            "[--width PX] [--title TEXT]\n"
            "       OUT ending in .html gives a page, else SVG; - is "
            "stdin/stdout\n");
    return 2;
}

/* A whole number of pixels, 100 to 100000. */
int cmd_parse_width(const char *v, unsigned *w)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || n < 100 || n > 100000) {
        return -1;
    }
    *w = (unsigned)n;
    return 0;
}

/* --type, --select, --title take a value; v NULL: none is a flag. */
static int flamegraph_opt(void *ctx, const char *a, const char *v)
{
    struct flamegraph_opts *o = ctx;

    if (v == NULL) {
        return 0;
    }
    if (strcmp(a, "--type") == 0) {
        o->type = v;
    } else if (strcmp(a, "--select") == 0) {
        o->select = v;
    } else if (strcmp(a, "--title") == 0) {
        o->title = v;
    } else if (strcmp(a, "--width") == 0) {
        if (cmd_parse_width(v, &o->width) != 0) {
            fprintf(stderr, "profcol flamegraph: --width must be 100 to "
                            "100000\n");
            return -1;
        }
    } else {
        fprintf(stderr, "profcol flamegraph: unknown option %s\n", a);
        return -1;
    }
    return 0;
}

int cmd_two_paths(int argc, char **argv, cmd_opt_fn opt, void *ctx,
                  const char **p1, const char **p2)
{
    int i, pos = 0;

    *p1 = *p2 = NULL;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r;
        if (a[0] != '-' || a[1] != '-') {
            if (pos == 2) {
                return -1;
            }
            *(pos++ == 0 ? p1 : p2) = a;
            continue;
        }
        r = opt(ctx, a, NULL);
        if (r < 0 ||
            (r == 0 && (i + 1 >= argc || opt(ctx, a, argv[i + 1]) != 0))) {
            return -1;
        }
        i += r == 0;
    }
    return *p1 != NULL && *p2 != NULL ? 0 : -1;
}

static int flamegraph_parse(int argc, char **argv, struct flamegraph_opts *o)
{
    memset(o, 0, sizeof(*o));
    return cmd_two_paths(argc, argv, flamegraph_opt, o, &o->in, &o->out);
}

const char *cmd_base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

int cmd_wants_html(const char *path)
{
    size_t n = strlen(path);

    return (n >= 5 && strcmp(path + n - 5, ".html") == 0) ||
           (n >= 4 && strcmp(path + n - 4, ".htm") == 0);
}

int cmd_write_flame(const struct flame_tree *t, const struct flame_render *r,
                    const char *out, const char *cmd)
{
    struct flame_render rr = *r;
    struct buf b;
    char err[256];
    int html = cmd_wants_html(out), rc;

    buf_init(&b, FLAMEGRAPH_MAX_OUT);
    rr.standalone = !html;
    rr.id = "flame";
    rc = html ? cmd_flame_page(t, &rr, &b) : flame_svg(t, &rr, &b);
    if (rc != PC_OK) {
        fprintf(stderr, "profcol %s: rendering: %s\n", cmd, pc_strerror(rc));
    } else {
        rc = cmd_write_file(out, b.data, b.len, err, sizeof(err));
        if (rc != PC_OK) {
            fprintf(stderr, "profcol %s: %s\n", cmd, err);
        }
    }
    buf_free(&b);
    return rc;
}

int cmd_flamegraph(int argc, char **argv)
{
    struct flamegraph_opts o;
    struct matcher_set *sel = NULL;
    struct flamesrc src;
    struct flame_tree t;
    struct flame_render r;
    char title[256];
    int rc;

    if (flamegraph_parse(argc, argv, &o) != 0) {
        return flamegraph_usage();
    }
    if (o.select != NULL &&
        flamesrc_selector(o.select, &sel, "flamegraph") != PC_OK) {
        return 2;
    }
    memset(&src, 0, sizeof(src));
    src.type = o.type;
    src.sel = sel;
    rc = flame_init(&t, 0);
    if (rc == PC_OK) {
        rc = flamesrc_load(o.in, &src, &t, 0, "flamegraph");
    }
    if (rc == PC_OK) {
        snprintf(title, sizeof(title), "%s (%s)",
                 o.title != NULL ? o.title : cmd_base_name(o.in), src.chosen);
        memset(&r, 0, sizeof(r));
        r.title = title;
        r.unit = src.unit;
        r.width = o.width;
        rc = cmd_write_flame(&t, &r, o.out, "flamegraph");
    }
    flame_free(&t);
    matcher_free(sel);
    return rc == PC_OK ? 0 : 1;
}
