/* cmd.h: the subcommands of the profcol binary. Each returns the exit code. */
#ifndef PROFCOL_CMD_H
#define PROFCOL_CMD_H

#include <stddef.h>
#include <stdio.h>

int cmd_version(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_validate(int argc, char **argv);
int cmd_components(int argc, char **argv);
int cmd_flamegraph(int argc, char **argv);
int cmd_diff(int argc, char **argv);

/* Shared by flamegraph and diff (flamegraph.c, flamepage.c). */
struct flame_tree;
struct flame_render;
struct buf;
/* The last part of a path (a title names no directories). */
const char *cmd_base_name(const char *path);
/* An option of a subcommand: with v NULL, 1 when a is a flag it took, 0
 * when a takes a value; then with the value, 0 when taken. -1: refused
 * (the option prints why). */
typedef int (*cmd_opt_fn)(void *ctx, const char *a, const char *v);
/* argv[1..]: options ("--x" and "--x VALUE", through opt) and exactly two
 * paths ("-" counts as one). -1 on a usage error. */
int cmd_two_paths(int argc, char **argv, cmd_opt_fn opt, void *ctx,
                  const char **p1, const char **p2);
/* Non-zero when path ends in .html or .htm. */
int cmd_wants_html(const char *path);
/* A whole number of pixels, 100 to 100000, or -1. */
int cmd_parse_width(const char *v, unsigned *w);
/* t rendered to out (.html: a page, else SVG; "-": stdout); prints errors. */
int cmd_write_flame(const struct flame_tree *t, const struct flame_render *r,
                    const char *out, const char *cmd);
/* t as a standalone HTML page with a search box. */
int cmd_flame_page(const struct flame_tree *t, const struct flame_render *r,
                   struct buf *b);

/* Reads a whole file ("-" = stdin) into a malloc'd buffer of at most max
 * bytes. Returns 0 or a PC_E* code, with a message in err. */
/* The value of --config FILE / --config=FILE in argv, or NULL. */
const char *cmd_config_arg(int argc, char **argv);

int cmd_read_file(const char *path, size_t max, unsigned char **data,
                  size_t *len, char *err, size_t errlen);

/* A whole input file, mapped (regular files) or read (stdin, pipes). */
struct cmd_file {
    const unsigned char *data;
    size_t len;
    int mapped;
    size_t dropped; /* bytes before this are no longer resident */
};
/* Opens path ("-" = stdin) as cmd_read_file does, mapping it when it is a
 * regular file; cmd_close_file lets go of it. An error is in err. */
int cmd_open_file(const char *path, size_t max, struct cmd_file *f, char *err,
                  size_t errlen);
void cmd_close_file(struct cmd_file *f);
/* The caller reads no byte of f before upto again: a mapped file lets go of
 * those pages (peak RSS), a read one keeps them. */
void cmd_drop_file(struct cmd_file *f, size_t upto);

/* Writes len bytes to path ("-" = stdout). */
int cmd_write_file(const char *path, const unsigned char *data, size_t len,
                   char *err, size_t errlen);

/* The same in parts: open, write any number of times, close (which
 * reports the first error of the three). */
struct cmd_out {
    FILE *f;
    const char *path;
    int rc;
    char err[256];
};
int cmd_out_open(struct cmd_out *o, const char *path);
int cmd_out_write(struct cmd_out *o, const void *data, size_t len);
int cmd_out_close(struct cmd_out *o);

#endif
