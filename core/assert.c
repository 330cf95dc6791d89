/* assert.c: the failure path of PC_ASSERT (see assert.h). */
#include "core/assert.h"

#include <stdio.h>
#include <stdlib.h>

void pc_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: assertion failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}
