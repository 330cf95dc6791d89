/*
 * validate.c: `profcol validate --config FILE`: loads the configuration as
 * `profcol run` would, without starting anything, and prints every error
 * (one per line, "FILE:LINE:COL: message"), then the warnings. Exit status
 * 0 when the file is valid, 1 when it is not, 2 on bad usage.
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/err.h"
#include "pipeline/config.h"

static void validate_usage(FILE *f)
{
    fprintf(f, "usage: profcol validate --config FILE\n");
}

/* --config FILE or --config=FILE; NULL (after a message) when absent. */
static const char *config_arg(int argc, char **argv)
{
    const char *path = NULL;
    int i;

    for (i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "-c") == 0) &&
            i + 1 < argc) {
            path = argv[++i];
        } else if (strncmp(argv[i], "--config=", 9) == 0) {
            path = argv[i] + 9;
        } else {
            fprintf(stderr, "profcol validate: unexpected argument '%s'\n",
                    argv[i]);
            return NULL;
        }
    }
    if (path == NULL || path[0] == '\0') {
        fprintf(stderr, "profcol validate: --config FILE is required\n");
    }
    return path != NULL && path[0] != '\0' ? path : NULL;
}

static uint32_t count_kind(const struct config *cfg, enum component_kind kind)
{
    uint32_t i, n = 0;

    for (i = 0; i < cfg->ncomponents; i++) {
        n += cfg->components[i].kind == kind;
    }
    return n;
}

static const char *plural(uint32_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

static void print_summary(const struct config *cfg)
{
    uint32_t r = count_kind(cfg, COMPONENT_RECEIVER);
    uint32_t p = count_kind(cfg, COMPONENT_PROCESSOR);
    uint32_t e = count_kind(cfg, COMPONENT_EXPORTER);

    printf("config OK: %u %s, %u %s, %u %s, %u %s\n", cfg->npipelines,
           plural(cfg->npipelines, "pipeline", "pipelines"), r,
           plural(r, "receiver", "receivers"), p,
           plural(p, "processor", "processors"), e,
           plural(e, "exporter", "exporters"));
}

int cmd_validate(int argc, char **argv)
{
    struct cfg_diag d;
    struct config cfg;
    const char *path;
    uint32_t i;
    int rc;

    if (argc > 1 &&
        (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        validate_usage(stdout);
        return 0;
    }
    path = config_arg(argc, argv);
    if (path == NULL) {
        validate_usage(stderr);
        return 2;
    }
    memset(&d, 0, sizeof(d));
    rc = config_load(path, &cfg, &d);
    for (i = 0; i < d.nerrors; i++) {
        fprintf(stderr, "%s\n", d.errors[i]);
    }
    if (d.nlost > 0) {
        fprintf(stderr, "%s: %u more errors not shown\n", path, d.nlost);
    }
    for (i = 0; i < d.nwarnings; i++) {
        fprintf(stderr, "warning: %s\n", d.warnings[i]);
    }
    if (rc == PC_OK) {
        print_summary(&cfg);
        config_free(&cfg);
    } else if (d.nerrors == 0 && d.nlost == 0) {
        fprintf(stderr, "%s: %s\n", path, pc_strerror(rc));
    }
    cfg_diag_free(&d);
    return rc == PC_OK ? 0 : 1;
}
