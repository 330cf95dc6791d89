/* stubs_engine.c: run arrives with the pipeline engine. */
#include <stdio.h>

#include "cmd/cmd.h"
