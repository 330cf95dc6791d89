/*
 * main.c: the profcol command line. Dispatches to a subcommand:
 *   profcol [run] --config FILE   run the pipelines
 *   profcol validate --config FILE
 *   profcol convert [--to pprof|otlp] [--from auto|pprof|otlp|jfr] IN OUT
 *   profcol merge [--to pprof|otlp] [--drop-label KEY]... IN... OUT
 *   profcol inspect FILE
 *   profcol version
 *   profcol components
 *   profcol flamegraph IN OUT [--type T] [--select SELECTOR]
 *   profcol diff BASE NEW [--type T] [--top N] [--threshold PCT] [--json]
 */
#include <stdio.h>
#include <string.h>

#include "cmd/cmd.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: profcol [run] --config FILE\n"
        "       profcol validate --config FILE\n"
        "       profcol convert [--to pprof|otlp] [--from auto|pprof|otlp|jfr] IN OUT\n"
        "       profcol merge [--to pprof|otlp] [--drop-label KEY]... IN... OUT\n"
        "       profcol inspect FILE\n"
        "       profcol version\n"
        "       profcol components\n"
        "       profcol flamegraph IN OUT [--type T] [--select SELECTOR]\n"
        "       profcol diff BASE NEW [--type T] [--top N] [--threshold PCT] "
        "[--json] [--svg OUT]\n");
}

int main(int argc, char **argv)
{
    const char *sub;

    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    sub = argv[1];
    if (strcmp(sub, "version") == 0 || strcmp(sub, "--version") == 0) {
        return cmd_version(argc - 1, argv + 1);
    }
    if (strcmp(sub, "convert") == 0) {
        return cmd_convert(argc - 1, argv + 1);
    }
    if (strcmp(sub, "merge") == 0) {
        return cmd_merge(argc - 1, argv + 1);
    }
    if (strcmp(sub, "inspect") == 0) {
        return cmd_inspect(argc - 1, argv + 1);
    }
    if (strcmp(sub, "run") == 0) {
        return cmd_run(argc - 1, argv + 1);
    }
    if (strcmp(sub, "validate") == 0) {
        return cmd_validate(argc - 1, argv + 1);
    }
    if (strcmp(sub, "components") == 0) {
        return cmd_components(argc - 1, argv + 1);
    }
    if (strcmp(sub, "flamegraph") == 0) {
        return cmd_flamegraph(argc - 1, argv + 1);
    }
    if (strcmp(sub, "diff") == 0) {
        return cmd_diff(argc - 1, argv + 1);
    }
    if (strcmp(sub, "--config") == 0 || strncmp(sub, "--config=", 9) == 0) {
        return cmd_run(argc, argv);
    }
    if (strcmp(sub, "-h") == 0 || strcmp(sub, "--help") == 0 ||
        strcmp(sub, "help") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "profcol: unknown command '%s'\n", sub);
    usage(stderr);
    return 2;
}
