/* json_budget.c: jansson's parser under a per-thread memory budget. */
#include "codec/json_budget.h"

#include <malloc.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static _Thread_local size_t jb_used, jb_limit;
static _Thread_local int jb_over;

/* Blocks are counted by their usable size (glibc's malloc_usable_size):
 * no header, so counting costs no memory. */
static void *jb_malloc(size_t n)
{
    void *p;

    if (jb_limit != 0 && (jb_used > jb_limit || n > jb_limit - jb_used)) {
        jb_over = 1;
        return NULL;
    }
    p = malloc(n);
    if (p != NULL) {
        jb_used += malloc_usable_size(p);
    }
    return p;
}

static void jb_free(void *p)
{
    size_t n;

    if (p == NULL) {
        return;
    }
    n = malloc_usable_size(p);
    /* A tree freed by another thread than the one that built it only
     * lowers this thread's count: never below zero. */
    jb_used = jb_used > n ? jb_used - n : 0;
    free(p);
}

/* Before main: no jansson block may exist yet that the pair did not
 * allocate. */
__attribute__((constructor)) static void jb_install(void)
{
    json_set_alloc_funcs(jb_malloc, jb_free);
}

json_t *jsonbudget_loadb(const char *s, size_t n, size_t flags,
                         json_error_t *err, int *over)
{
    json_t *root;

    jb_used = 0;
    jb_over = 0;
    jb_limit = n > (SIZE_MAX - JSON_BUDGET_SLACK) / JSON_BUDGET_FACTOR
                   ? SIZE_MAX
                   : n * JSON_BUDGET_FACTOR + JSON_BUDGET_SLACK;
    root = json_loadb(s, n, flags, err);
    *over = jb_over;
    jb_limit = 0;
    if (*over && root != NULL) {
        json_decref(root);
        root = NULL;
    }
    return root;
}
