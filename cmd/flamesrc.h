/* flamesrc.h: a profile file into a flame tree, for `flamegraph` and
 * `diff`. */
#ifndef PROFCOL_CMD_FLAMESRC_H
#define PROFCOL_CMD_FLAMESRC_H

#include <stddef.h>

#include "component/matcher.h"
#include "flame/flame.h"

struct flamesrc {
    const char *type;              /* "type" or "type:unit"; NULL: default */
    const struct matcher_set *sel; /* NULL: every sample */
    char chosen[128];              /* out: "type:unit" drawn */
    char unit[64];                 /* out: its unit */
    unsigned profiles;             /* out: profiles taken */
};

/*
 * Reads path (pprof, OTLP or JFR; "-" = stdin) and adds to side of t the
 * samples of every profile that has the sample type src->type. Without a
 * type, the first profile's default type is chosen and every profile with
 * that type taken. A selector keeps the samples whose resource attributes
 * and labels match it. Prints "profcol CMD: ..." and returns an error code
 * on failure (a file with no profile of the type is one).
 */
int flamesrc_load(const char *path, struct flamesrc *src, struct flame_tree *t,
                  int side, const char *cmd);

/* Parses --select text; prints the error. */
int flamesrc_selector(const char *text, struct matcher_set **out,
                      const char *cmd);

#endif
