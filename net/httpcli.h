/*
 * httpcli.h: the small blocking HTTP client of the exporters (libcurl easy
 * interface).
 *
 * Exporters' export() runs on the exporter helper's consumer threads and may
 * block, so a plain easy handle is enough: each thread keeps one handle
 * (thread-local, reset before every request, freed when the thread exits),
 * which keeps connections alive between requests to the same backend.
 *
 * The settings shared by every HTTP exporter are here too, as config tables:
 *
 *   tls:        {ca_file, cert_file, key_file, insecure_skip_verify}
 *   basic_auth: {username, password}
 *
 * and httpcli_result() turns a response into an exporter outcome: PC_OK,
 * PC_ERETRY (with the server's Retry-After) or PC_EPERMANENT, with the
 * server's own message in the export_result.
 */
#ifndef PROFCOL_HTTPCLI_H
#define PROFCOL_HTTPCLI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "config/cfg.h"
#include "component/component.h"

struct httpcli_tls_cfg {
    char *ca_file;   /* PEM bundle to verify the server; "" = system */
    char *cert_file; /* client certificate (mTLS) */
    char *key_file;  /* its private key */
    int insecure_skip_verify; /* no server certificate / host name check */
};

struct httpcli_basic_auth_cfg {
    char *username;
    char *password;
};

extern const struct cfg_entry httpcli_tls_table[];
extern const struct cfg_entry httpcli_basic_auth_table[];

/* Checks that the configured TLS files can be read; message in e. */
int httpcli_tls_check(const struct httpcli_tls_cfg *tls, struct errctx *e);

struct httpcli_req {
    const char *method; /* NULL = POST; "GET", "PUT", ... (a proxy's) */
    const char *url;
    const char *const *headers; /* "Name: value" lines */
    size_t nheaders;
    const uint8_t *body;
    size_t len;
    int64_t timeout_ms;                        /* whole request; <= 0 = 30 s */
    const struct httpcli_tls_cfg *tls;         /* may be NULL */
    const struct httpcli_basic_auth_cfg *auth; /* used when username set */
    const char *bearer_token; /* "Authorization: Bearer ..." when set */
    size_t max_body;          /* response body kept; 0 = 64 KiB */
};

struct httpcli_resp {
    long status;            /* 0 when no response came */
    int64_t retry_after_ms; /* Retry-After, 0 = none */
    char content_type[96];
    struct buf body; /* at most max_body bytes of the body */
    char err[256];   /* transport error, when status == 0 */
};

/*
 * POSTs req. PC_OK when a response arrived (any status: see resp->status);
 * PC_ERETRY on a transport failure that may pass (connection refused,
 * timeout, reset, TLS handshake), PC_EPERMANENT on one that cannot (bad
 * URL, unsupported scheme); resp->err says which. resp is initialised
 * here; free it with httpcli_resp_free() in all cases.
 */
int httpcli_post(const struct httpcli_req *req, struct httpcli_resp *resp);
void httpcli_resp_free(struct httpcli_resp *resp);

/* Retry-After: delay-seconds or an HTTP-date (relative to now); -1 when
 * unparsable; 0 for a date in the past. */
int64_t httpcli_parse_retry_after(const char *value, time_t now);

/* Which failures httpcli_result() retries besides 429, 502, 503 and 504. */
enum httpcli_retry_flags {
    HTTPCLI_RETRY_5XX = 1 << 0,           /* every 5xx */
    HTTPCLI_RETRY_408 = 1 << 1,           /* request timeout */
    HTTPCLI_RETRY_CONNECT_CODES = 1 << 2, /* Connect JSON codes unavailable,
                                             resource_exhausted, ... */
};

/*
 * Maps an httpcli_post() outcome (rc and resp) to an exporter result:
 * 2xx -> PC_OK; retryable statuses -> PC_ERETRY with r->retry_after_ms;
 * everything else -> PC_EPERMANENT. r->msg gets "HTTP <status>: <the
 * server's message>" (the "message" of a JSON error body, the message of a
 * google.rpc.Status protobuf body, or the start of a text body).
 */
int httpcli_result(int rc, const struct httpcli_resp *resp, unsigned flags,
                   struct export_result *r);

/* The server's message of an error body (as in httpcli_result) into out. */
void httpcli_error_message(const struct httpcli_resp *resp, char *out,
                           size_t outlen);

#endif
