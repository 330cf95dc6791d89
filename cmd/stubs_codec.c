/* stubs_codec.c: placeholder until the codecs land (replaced by convert.c / inspect.c). */
#include <stdio.h>

#include "cmd/cmd.h"

int cmd_convert(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "profcol: convert is not built yet\n");
    return 1;
}

int cmd_inspect(int argc, char **argv)
{
    return cmd_convert(argc, argv);
}
