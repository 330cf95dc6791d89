/* mempolicy.c: the daemon's allocator settings (see mempolicy.h). */
#include "core/mempolicy.h"

#include <stdlib.h>
#include <string.h>

#ifdef __GLIBC__
#include <malloc.h>
#endif

/* True when the operator tuned malloc through the environment. */
static int mempolicy_env_set(void)
{
    static const char *const vars[] = {"MALLOC_ARENA_MAX",
                                       "MALLOC_MMAP_THRESHOLD_",
                                       "MALLOC_TRIM_THRESHOLD_", NULL};
    const char *t = getenv("GLIBC_TUNABLES");
    int i;

    for (i = 0; vars[i] != NULL; i++) {
        if (getenv(vars[i]) != NULL) {
            return 1;
        }
    }
    return t != NULL && strstr(t, "glibc.malloc.") != NULL;
}

int mempolicy_apply(int mmap_threshold)
{
#ifdef __GLIBC__
    if (mempolicy_env_set()) {
        return 0;
    }
    /* mallopt returns 1 on success; a refused setting leaves glibc's. */
    return mallopt(M_ARENA_MAX, MEMPOLICY_ARENAS) == 1 &&
           mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 &&
           mallopt(M_TRIM_THRESHOLD, 2 * mmap_threshold) == 1;
#else
    (void)mmap_threshold;
    return 0;
#endif
}
