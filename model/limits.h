/*
 * limits.h: the named bounds every decoder of outside bytes obeys. Each can be
 * overridden by configuration; these are the defaults.
 */
#ifndef PROFCOL_LIMITS_H
#define PROFCOL_LIMITS_H

#include <stddef.h>

/* Decompressed size cap: decompression bombs stop here. */
#define LIMIT_DECOMPRESSED_DEFAULT ((size_t)256 << 20)
/* Arena cap for one decoded request, as a multiple of its decoded size. */
#define LIMIT_ARENA_FACTOR 8
/* Deepest AnyValue nesting accepted (arrays/kvlists inside each other). */
#define LIMIT_ANYVALUE_DEPTH 32

struct decode_limits {
    size_t max_decompressed; /* 0 = LIMIT_DECOMPRESSED_DEFAULT */
};

#endif
