/* stubs_engine.c: run/validate/components arrive with the pipeline engine. */
#include <stdio.h>

#include "cmd/cmd.h"

int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "profcol: the pipeline engine is not built yet\n");
    return 1;
}

int cmd_validate(int argc, char **argv)
{
    return cmd_run(argc, argv);
}

int cmd_components(int argc, char **argv)
{
    return cmd_run(argc, argv);
}
