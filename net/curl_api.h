/*
 * curl_api.h: the libcurl functions profcol calls, reached through pointers
 * filled by curl_api_load() (see dynlib.h for why).
 *
 * Include this header instead of <curl/curl.h>: after curl's headers it
 * defines every listed name as a call through the table, so call sites
 * read as plain libcurl. The member types come from curl's declarations
 * (__typeof__), so a signature can never drift.
 *
 * curl_easy_setopt, curl_easy_getinfo and curl_multi_setopt are macros in
 * curl.h (with GCC, compile-time checks of the option's argument type);
 * they are redefined here as calls through the table, which keeps the
 * three-argument check but not curl's type check.
 *
 * To call another libcurl function, add it to PROFCOL_CURL_FUNCS *and* add
 * its #define below. A name missing from the list fails at link time
 * (libcurl is not linked); a #define without a list entry fails to compile.
 */
#ifndef PROFCOL_CURL_API_H
#define PROFCOL_CURL_API_H

#include <curl/curl.h>

#include "core/err.h"

#define PROFCOL_CURL_FUNCS(X)                                                 \
    X(curl_easy_cleanup)                                                      \
    X(curl_easy_getinfo)                                                      \
    X(curl_easy_init)                                                         \
    X(curl_easy_perform)                                                      \
    X(curl_easy_reset)                                                        \
    X(curl_easy_setopt)                                                       \
    X(curl_easy_strerror)                                                     \
    X(curl_getdate)                                                           \
    X(curl_global_init)                                                       \
    X(curl_multi_add_handle)                                                  \
    X(curl_multi_assign)                                                      \
    X(curl_multi_cleanup)                                                     \
    X(curl_multi_info_read)                                                   \
    X(curl_multi_init)                                                        \
    X(curl_multi_remove_handle)                                               \
    X(curl_multi_setopt)                                                      \
    X(curl_multi_socket_action)                                               \
    X(curl_slist_append)                                                      \
    X(curl_slist_free_all)

struct curl_api {
#define CURL_API_MEMBER(name) __typeof__(&name) name;
    PROFCOL_CURL_FUNCS(CURL_API_MEMBER)
#undef CURL_API_MEMBER
};

extern struct curl_api curl_api;

/*
 * Loads libcurl (soname fixed at build time), fills curl_api and runs
 * curl_global_init(CURL_GLOBAL_DEFAULT) (which must happen before any
 * thread uses curl; there is no matching cleanup: the library stays for
 * the life of the process). Idempotent and thread-safe; the outcome of
 * the first call is kept. PC_OK, or PC_EUNSUPPORTED with e = "curl
 * library not available: libcurl.so.4: cannot open shared object file:
 * ...". Every component that uses curl calls it when it is created.
 */
int curl_api_load(struct errctx *e);

#ifndef PROFCOL_CURL_API_IMPL
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_multi_setopt
#define curl_easy_cleanup (curl_api.curl_easy_cleanup)
#define curl_easy_getinfo(h, info, arg)                                       \
    (curl_api.curl_easy_getinfo)(h, info, arg)
#define curl_easy_init (curl_api.curl_easy_init)
#define curl_easy_perform (curl_api.curl_easy_perform)
#define curl_easy_reset (curl_api.curl_easy_reset)
#define curl_easy_setopt(h, opt, val) (curl_api.curl_easy_setopt)(h, opt, val)
#define curl_easy_strerror (curl_api.curl_easy_strerror)
#define curl_getdate (curl_api.curl_getdate)
#define curl_global_init (curl_api.curl_global_init)
#define curl_multi_add_handle (curl_api.curl_multi_add_handle)
#define curl_multi_assign (curl_api.curl_multi_assign)
#define curl_multi_cleanup (curl_api.curl_multi_cleanup)
#define curl_multi_info_read (curl_api.curl_multi_info_read)
#define curl_multi_init (curl_api.curl_multi_init)
#define curl_multi_remove_handle (curl_api.curl_multi_remove_handle)
#define curl_multi_setopt(m, opt, val)                                        \
    (curl_api.curl_multi_setopt)(m, opt, val)
#define curl_multi_socket_action (curl_api.curl_multi_socket_action)
#define curl_slist_append (curl_api.curl_slist_append)
#define curl_slist_free_all (curl_api.curl_slist_free_all)
#endif

#endif
