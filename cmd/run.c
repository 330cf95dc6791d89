/* run.c: `profcol [run] --config FILE`: run the pipelines until a signal. */
#include <stdio.h>
#include <string.h>

#include "core/mempolicy.h"
#include "cmd/cmd.h"
#include "pipeline/engine.h"

/* The value of --config FILE / --config=FILE, or NULL. */
const char *cmd_config_arg(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            return argv[i + 1];
        }
        if (strncmp(argv[i], "--config=", 9) == 0) {
            return argv[i] + 9;
        }
    }
    return NULL;
}

int cmd_run(int argc, char **argv)
{
    const char *path = cmd_config_arg(argc, argv);

    if (path == NULL) {
        fprintf(stderr, "usage: profcol [run] --config FILE\n");
        return 2;
    }
    (void)mempolicy_apply(MEMPOLICY_MMAP_THRESHOLD);
    return engine_run(path);
}
