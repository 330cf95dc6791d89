/* load.h: read a profile file of either format into the model (CLI). */
#ifndef PROFCOL_CMD_LOAD_H
#define PROFCOL_CMD_LOAD_H

#include <stddef.h>
#include <stdint.h>

#include "codec/jfr/jfr.h"
#include "model/profile.h"

enum loaded_format {
    LOADED_PPROF,
    LOADED_OTLP,
    LOADED_JFR,
};

struct loaded {
    struct pdata *pd;
    enum loaded_format format;
    size_t file_bytes;
    struct jfr_result jfr; /* LOADED_JFR: kinds of the profiles, chunks */
};

/* Reads path ("-" = stdin) and decodes it as `from` (auto|pprof|otlp|jfr).
 * Prints "profcol CMD: <one line>" and returns an error code on failure. */
int load_profile_file(const char *path, const char *from, size_t max,
                      struct loaded *out, const char *cmd);
void loaded_free(struct loaded *ld);

/* Every model profile of ld, in order (malloc'd array). */
int loaded_profiles(const struct loaded *ld, struct profile ***out,
                    uint32_t *n);

#endif
