/*
 * ssl_api.c: loads OpenSSL and libevent_openssl at run time (ssl_api.h).
 *
 * PROFCOL_SSL_SONAME, PROFCOL_CRYPTO_SONAME and
 * PROFCOL_EVENT_OPENSSL_SONAME are the sonames of the libraries found at
 * configure time (CMakeLists.txt), e.g. "libssl.so.3".
 */
#define PROFCOL_SSL_API_IMPL /* the struct members, not the redirects */
#include "net/ssl_api.h"

#include <pthread.h>

#include "net/dynlib.h"

#if !defined(PROFCOL_SSL_SONAME) || !defined(PROFCOL_CRYPTO_SONAME) ||        \
    !defined(PROFCOL_EVENT_OPENSSL_SONAME)
#error "the OpenSSL sonames are set by CMakeLists.txt"
#endif

#define WHAT "ssl"

struct ssl_api ssl_api;

static pthread_once_t ssl_api_once = PTHREAD_ONCE_INIT;
static int ssl_api_rc;
static struct errctx ssl_api_err;

/* Resolves one symbol into its member; stops at the first failure. */
#define SSL_API_RESOLVE(lib, name)                                            \
    if (rc == PC_OK) {                                                        \
        void *p_ = dynlib_sym(lib, #name, WHAT, &ssl_api_err);                \
        if (p_ == NULL) {                                                     \
            rc = PC_EUNSUPPORTED;                                             \
        } else {                                                              \
            /* POSIX guarantees object and function pointers convert. */      \
            ssl_api.name = (__typeof__(ssl_api.name))p_;                      \
        }                                                                     \
    }

static void ssl_api_init(void)
{
    /* libcrypto first: libssl and libevent_openssl need it. */
    void *crypto = dynlib_open(PROFCOL_CRYPTO_SONAME, WHAT, &ssl_api_err);
    void *ssl = crypto != NULL
                    ? dynlib_open(PROFCOL_SSL_SONAME, WHAT, &ssl_api_err)
                    : NULL;
    void *event_openssl = ssl != NULL
                              ? dynlib_open(PROFCOL_EVENT_OPENSSL_SONAME, WHAT,
                                            &ssl_api_err)
                              : NULL;
    int rc = PC_OK;

    if (event_openssl == NULL) {
        ssl_api_rc = PC_EUNSUPPORTED;
        return;
    }
    PROFCOL_SSL_FUNCS(SSL_API_RESOLVE)
    ssl_api_rc = rc;
}

int ssl_api_load(struct errctx *e)
{
    pthread_once(&ssl_api_once, ssl_api_init);
    if (ssl_api_rc != PC_OK) {
        return err_set(e, ssl_api_rc, "%s", ssl_api_err.msg);
    }
    return PC_OK;
}
