/*
 * dynlib.c: dlopen once per soname, dlsym with readable errors (dynlib.h).
 *
 * dlerror() is per thread but its text is only valid until the next dl*
 * call of that thread, so it is copied into the errctx at once. One mutex
 * serialises the opens: they happen a handful of times per process.
 */
#include "net/dynlib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>

#define DYNLIB_MAX 8

static pthread_mutex_t dynlib_lock = PTHREAD_MUTEX_INITIALIZER;

/* The libraries opened so far (the sonames are compile-time constants). */
static struct {
    const char *soname;
    void *handle;
} dynlib_open_libs[DYNLIB_MAX];

static int dl_error(struct errctx *e, const char *what)
{
    const char *msg = dlerror();

    return err_set(e, PC_EUNSUPPORTED, "%s library not available: %s", what,
                   msg != NULL ? msg : "unknown dynamic loader error");
}

void *dynlib_open(const char *soname, const char *what, struct errctx *e)
{
    void *h = NULL;
    size_t i;

    pthread_mutex_lock(&dynlib_lock);
    for (i = 0; i < DYNLIB_MAX && dynlib_open_libs[i].soname != NULL; i++) {
        if (strcmp(dynlib_open_libs[i].soname, soname) == 0) {
            h = dynlib_open_libs[i].handle;
            break;
        }
    }
    if (h == NULL) {
        /* RTLD_LOCAL: the library's symbols stay out of the global scope,
         * so nothing else in the process binds to them by accident. */
        h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
        if (h == NULL) {
            dl_error(e, what);
        } else if (i < DYNLIB_MAX) {
            dynlib_open_libs[i].soname = soname;
            dynlib_open_libs[i].handle = h;
        }
        /* (A full table only costs a repeated dlopen, which is refcounted
         * and returns the same handle.) */
    }
    pthread_mutex_unlock(&dynlib_lock);
    return h;
}

void *dynlib_sym(void *handle, const char *name, const char *what,
                 struct errctx *e)
{
    void *p;

    dlerror(); /* clear a stale error */
    p = dlsym(handle, name);
    if (p == NULL) {
        dl_error(e, what);
    }
    return p;
}
