/* version.c: `profcol version`: our version and the pinned wire versions. */
#include <stdio.h>

#include "cmd/cmd.h"

int cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("profcol %s\n", PROFCOL_VERSION);
    printf("otlp-profiles %s (opentelemetry-proto, pinned)\n",
           PROFCOL_OTLP_VERSION);
    printf("otlp-profiles grpc /opentelemetry.proto.collector.profiles."
           "v1development.ProfilesService/Export\n");
    printf("otlp-profiles http POST /v1development/profiles\n");
    return 0;
}
