/*
 * ssl_api.h: the OpenSSL (and libevent_openssl) functions profcol calls,
 * reached through pointers filled by ssl_api_load() (see dynlib.h for why:
 * libssl and libcrypto are 2 MiB of resident pages and most of the dynamic
 * linker's work at every start, and only TLS servers, hashing actions and
 * bearer tokens use them; `profcol convert` and a plain-HTTP pipeline never
 * do).
 *
 * Include this header instead of the OpenSSL headers: after them it
 * defines every listed name as a call through the table, so call sites
 * read as plain OpenSSL. The member types come from OpenSSL's declarations
 * (__typeof__), so a signature cannot drift. OpenSSL macros that expand to
 * a listed function (SSL_CTX_set_min_proto_version -> SSL_CTX_ctrl) work.
 *
 * To call another function, add it to PROFCOL_SSL_FUNCS (with the library
 * that exports it) *and* add its #define below. A name missing from the
 * list fails at link time (OpenSSL is not linked); a #define without a
 * list entry fails to compile.
 */
#ifndef PROFCOL_SSL_API_H
#define PROFCOL_SSL_API_H

#include <event2/bufferevent_ssl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>

#include "core/err.h"

/* X(library, function): library is ssl, crypto or event_openssl. */
#define PROFCOL_SSL_FUNCS(X)                                                  \
    X(ssl, SSL_CTX_check_private_key)                                         \
    X(ssl, SSL_CTX_ctrl)                                                      \
    X(ssl, SSL_CTX_free)                                                      \
    X(ssl, SSL_CTX_load_verify_locations)                                     \
    X(ssl, SSL_CTX_new)                                                       \
    X(ssl, SSL_CTX_set_verify)                                                \
    X(ssl, SSL_CTX_use_PrivateKey_file)                                       \
    X(ssl, SSL_CTX_use_certificate_chain_file)                                \
    X(ssl, SSL_new)                                                           \
    X(ssl, TLS_server_method)                                                 \
    X(crypto, CRYPTO_memcmp)                                                  \
    X(crypto, ERR_clear_error)                                                \
    X(crypto, ERR_error_string_n)                                             \
    X(crypto, ERR_get_error)                                                  \
    X(crypto, EVP_Digest)                                                     \
    X(crypto, EVP_md5)                                                        \
    X(crypto, EVP_sha256)                                                     \
    X(event_openssl, bufferevent_openssl_socket_new)

struct ssl_api {
#define SSL_API_MEMBER(lib, name) __typeof__(&name) name;
    PROFCOL_SSL_FUNCS(SSL_API_MEMBER)
#undef SSL_API_MEMBER
};

extern struct ssl_api ssl_api;

/*
 * Loads libssl, libcrypto and libevent_openssl (sonames fixed at build
 * time) and fills ssl_api. Idempotent and thread-safe, cheap after the
 * first call (pthread_once); the outcome of the first call is kept. PC_OK,
 * or PC_EUNSUPPORTED with e = "ssl library not available: libssl.so.3:
 * cannot open shared object file: ...". Call it before the first use of
 * any listed function.
 */
int ssl_api_load(struct errctx *e);

#ifndef PROFCOL_SSL_API_IMPL
#define SSL_CTX_check_private_key (ssl_api.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl (ssl_api.SSL_CTX_ctrl)
#define SSL_CTX_free (ssl_api.SSL_CTX_free)
#define SSL_CTX_load_verify_locations (ssl_api.SSL_CTX_load_verify_locations)
#define SSL_CTX_new (ssl_api.SSL_CTX_new)
#define SSL_CTX_set_verify (ssl_api.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file (ssl_api.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file                                    \
    (ssl_api.SSL_CTX_use_certificate_chain_file)
#define SSL_new (ssl_api.SSL_new)
#define TLS_server_method (ssl_api.TLS_server_method)
#define CRYPTO_memcmp (ssl_api.CRYPTO_memcmp)
#define ERR_clear_error (ssl_api.ERR_clear_error)
#define ERR_error_string_n (ssl_api.ERR_error_string_n)
#define ERR_get_error (ssl_api.ERR_get_error)
#define EVP_Digest (ssl_api.EVP_Digest)
#define EVP_md5 (ssl_api.EVP_md5)
#define EVP_sha256 (ssl_api.EVP_sha256)
#define bufferevent_openssl_socket_new (ssl_api.bufferevent_openssl_socket_new)
#endif

#endif
