/*
 * curl_api.c: loads libcurl at run time (curl_api.h).
 *
 * PROFCOL_CURL_SONAME is the soname of the libcurl found at configure time
 * (CMakeLists.txt), e.g. "libcurl.so.4".
 */
#define PROFCOL_CURL_API_IMPL /* the struct members, not the redirects */
#include "net/curl_api.h"

#include <pthread.h>

#include "net/dynlib.h"

#ifndef PROFCOL_CURL_SONAME
#error "PROFCOL_CURL_SONAME is set by CMakeLists.txt"
#endif

#define WHAT "curl"

struct curl_api curl_api;

static pthread_once_t curl_api_once = PTHREAD_ONCE_INIT;
static int curl_api_rc;
static struct errctx curl_api_err;

/* Resolves one symbol into its member; stops at the first failure. */
#define CURL_API_RESOLVE(name)                                                \
    if (rc == PC_OK) {                                                        \
        void *p_ = dynlib_sym(lib, #name, WHAT, &curl_api_err);               \
        if (p_ == NULL) {                                                     \
            rc = PC_EUNSUPPORTED;                                             \
        } else {                                                              \
            /* POSIX guarantees object and function pointers convert. */      \
            curl_api.name = (__typeof__(curl_api.name))p_;                    \
        }                                                                     \
    }

static void curl_api_init(void)
{
    void *lib = dynlib_open(PROFCOL_CURL_SONAME, WHAT, &curl_api_err);
    int rc = PC_OK;
    CURLcode c;

    if (lib == NULL) {
        curl_api_rc = PC_EUNSUPPORTED;
        return;
    }
    PROFCOL_CURL_FUNCS(CURL_API_RESOLVE)
    if (rc == PC_OK) {
        /* pthread_once runs this before any caller goes on to use curl. */
        c = curl_api.curl_global_init(CURL_GLOBAL_DEFAULT);
        if (c != CURLE_OK) {
            rc = err_set(&curl_api_err, PC_EUNSUPPORTED,
                         "libcurl: curl_global_init failed (code %d)", (int)c);
        }
    }
    curl_api_rc = rc;
}

int curl_api_load(struct errctx *e)
{
    pthread_once(&curl_api_once, curl_api_init);
    if (curl_api_rc != PC_OK) {
        return err_set(e, curl_api_rc, "%s", curl_api_err.msg);
    }
    return PC_OK;
}
