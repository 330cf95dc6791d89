/*
 * httpsrv.h: the HTTP server the HTTP receivers share (OTLP/HTTP, Pyroscope),
 * on the main libevent loop (evhttp), optionally TLS/mTLS (OpenSSL via
 * bufferevent_openssl).
 *
 * It owns what every endpoint needs the same way: the listen address, TLS,
 * the request body cap (413 past max_request_body_size, also for chunked
 * bodies), connection limits (max_connections, read_header_timeout,
 * read_timeout, idle_timeout: net/connguard.h; a Transfer-Encoding other
 * than chunked gets 501), request decompression by Content-Encoding (gzip, zstd) under a
 * cap on the decompressed size (decompression bombs get 413/400), optional
 * bearer-token auth (401), and replies.
 *
 * Threads: the loop only reads the request (evhttp), checks route, method
 * and token, and hands the body (moved out of the request, not copied) with
 * copies of the path, query and headers to a worker thread (net/workpool.h,
 * shared by every server of the process). The worker undoes the
 * Content-Encoding and calls the route's handler with the whole body, so
 * neither decompression nor decoding ever holds up the loop. The handler
 * answers with httpsrv_reply*() (recorded, sent by the loop as soon as the
 * handler returned), or, when the answer needs the loop (the pipeline is
 * fed from the loop only), with httpsrv_then(): the loop then calls the
 * continuation with a request that holds the evhttp request, which may be
 * answered at once or later (a receiver waiting for its batch to be
 * durable keeps req->ev and replies with a struct httpsrv_req holding only
 * that ev). A client that hung up meanwhile costs nothing: libevent keeps
 * the request until the reply and frees it then.
 *
 * Stopping: httpsrv_drain waits for the handlers running on workers, gives
 * requests not yet started 503 (retryable), and runs every continuation
 * owed; the receiver then settles its deferred replies (they must all be
 * sent before httpsrv_stop, which frees pending requests).
 */
#ifndef PROFCOL_HTTPSRV_H
#define PROFCOL_HTTPSRV_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "config/cfg.h"
#include "net/connguard.h"

struct event_base;
struct evhttp_request;
struct httpsrv;

struct httpsrv_tls_cfg {
    char *cert_file; /* server certificate (PEM); empty = no TLS */
    char *key_file;
    char *client_ca_file; /* set: clients must present a cert it signed */
};

struct httpsrv_cfg {
    char *endpoint;                 /* "host:port" */
    uint64_t max_request_body_size; /* compressed, default 16MiB */
    uint64_t max_decompressed_size; /* default 64MiB */
    char *bearer_token;             /* empty = no auth */
    struct httpsrv_tls_cfg tls;
    struct connguard_cfg conn; /* connection limits (net/connguard.h) */
};

/* cfg_entry rows for the fields above, to embed in a receiver's table as a
 * CFG_SECTION (httpsrv_cfg_table: endpoint defaults to localhost:4318) or
 * inline: HTTPSRV_CFG_ENTRIES(struct x, field, "localhost:4040") expands to
 * the rows for a struct httpsrv_cfg named field inside struct x, with that
 * default endpoint. */
extern const struct cfg_entry httpsrv_cfg_table[];
extern const struct cfg_entry httpsrv_tls_cfg_table[];

#define HTTPSRV_CFG_ENTRIES(T, f, endpoint_default)                           \
    HTTPSRV_CFG_ENTRIES_AT(offsetof(T, f), endpoint_default)

/* The same for a struct httpsrv_cfg at byte offset base. */
#define HTTPSRV_CFG_ENTRIES_AT(base, endpoint_default)                        \
    {.key = "endpoint",                                                       \
     .type = CFG_STRING,                                                      \
     .def = (endpoint_default),                                               \
     .offset = (base) + offsetof(struct httpsrv_cfg, endpoint),               \
     .doc = "host:port to listen on"},                                        \
        {.key = "max_request_body_size",                                      \
         .type = CFG_SIZE,                                                    \
         .def = "16MiB",                                                      \
         .min = 1,                                                            \
         .max = INT64_MAX,                                                    \
         .offset = (base) +                                                   \
                   offsetof(struct httpsrv_cfg, max_request_body_size),       \
         .doc = "larger request bodies (as received) get 413"},               \
        {.key = "max_decompressed_size",                                      \
         .type = CFG_SIZE,                                                    \
         .def = "64MiB",                                                      \
         .min = 1,                                                            \
         .max = INT64_MAX,                                                    \
         .offset = (base) +                                                   \
                   offsetof(struct httpsrv_cfg, max_decompressed_size),       \
         .doc = "bodies inflating past this get 413"},                        \
        {.key = "bearer_token",                                               \
         .type = CFG_STRING,                                                  \
         .offset = (base) + offsetof(struct httpsrv_cfg, bearer_token),       \
         .doc = "when set, requests need Authorization: Bearer <token>"},     \
        CONNGUARD_CFG_ENTRIES_AT((base) +                                     \
                                 offsetof(struct httpsrv_cfg, conn)),         \
    {                                                                         \
        .key = "tls", .type = CFG_SECTION,                                    \
        .offset = (base) + offsetof(struct httpsrv_cfg, tls),                 \
        .sub = httpsrv_tls_cfg_table,                                         \
        .doc = "cert_file, key_file, client_ca_file (mTLS)"                   \
    }

/* Route flags (the allow_get argument of httpsrv_route is a bit set; 1
 * keeps its old meaning). */
#define HTTPSRV_ALLOW_GET 1
/* Hand the body over as received: no Content-Encoding decompression (for
 * protocols that sniff compression themselves, like Pyroscope /ingest). */
#define HTTPSRV_RAW_BODY 2
/* Any method (GET, HEAD, POST, PUT, DELETE, ...): for a proxy; the handler
 * reads req->method. */
#define HTTPSRV_ANY_METHOD 4

struct httpsrv_job;
struct buf;

/* One request as the handler sees it. On the worker ev is NULL; in a
 * continuation (and a deferred reply) ev is set and body is gone. */
struct httpsrv_req {
    struct evhttp_request *ev; /* loop thread only */
    struct httpsrv_job *job;   /* the server's; NULL in deferred replies */
    const char *method;        /* "GET", "POST", ...; handler only */
    const char *path;          /* without the query */
    const char *query;         /* raw query string or "" */
    const char *content_type;  /* "" when absent */
    const uint8_t *body;       /* decompressed; valid during the
                                       handler's call (worker thread) */
    size_t body_len;
    size_t wire_len;     /* bytes as received (compressed) */
    const uint8_t *wire; /* those bytes, valid as body is; equal to body
                            when the request had no Content-Encoding */
    struct buf *plain;   /* worker: the buffer body lies in when the server
                            decompressed it (httpsrv_take_body), or NULL */
};

/* Worker thread. Returns nothing: the handler answers with httpsrv_reply*()
 * or hands over to the loop with httpsrv_then(), exactly once. It must not
 * use the loop's objects (the pipeline, evhttp). */
typedef void (*httpsrv_handler)(struct httpsrv_req *req, void *arg);
/* Loop thread: the rest of a request after its handler; answers req (now,
 * or later from req->ev). path, query, content type and headers are still
 * valid during the call; body is not. */
typedef void (*httpsrv_then_fn)(struct httpsrv_req *req, void *arg);

int httpsrv_start(struct event_base *base, const struct httpsrv_cfg *cfg,
                  const char *component_id, struct httpsrv **out,
                  struct errctx *e);
/* The listener's connection series (net/connguard.h) in m's scope: the
 * receiver's, so they carry its identity. */
void httpsrv_metrics(struct httpsrv *s, struct mscope *m);
/* Exact path; method must be POST unless allow_get has HTTPSRV_ALLOW_GET
 * (then GET and HEAD too). Other methods get 405, unknown paths 404. */
int httpsrv_route(struct httpsrv *s, const char *path, int allow_get,
                  httpsrv_handler h, void *arg);
/* Loop thread: finishes what workers hold (see the top); afterwards no
 * request reaches a handler. httpsrv_stop drains too. */
void httpsrv_drain(struct httpsrv *s);
void httpsrv_stop(struct httpsrv *s);
uint16_t httpsrv_port(const struct httpsrv *s); /* bound port */

/* Header of the request (case-insensitive), or NULL. */
const char *httpsrv_header(const struct httpsrv_req *req, const char *name);

/* Worker: the memory of a body the server decompressed, handed to the
 * caller (free() it; body keeps pointing into it), so that a handler
 * keeping the body need not copy it; NULL when the body is the server's
 * (it came uncompressed, or was taken already): copy that. */
uint8_t *httpsrv_take_body(struct httpsrv_req *req, size_t *len);

/* Value of a query parameter, URL-decoded into buf; NULL when absent. */
const char *httpsrv_query_param(const struct httpsrv_req *req,
                                const char *name, char *buf, size_t buflen);
/* The same on a raw query string (Go's url.Query().Get: first occurrence,
 * '+' is a space, %XX decoded; a pair with a bad escape is skipped; a
 * value longer than buflen-1 is NULL). */
const char *httpsrv_query_get(const char *query, const char *name, char *buf,
                              size_t buflen);

/* Worker (the handler) only, instead of replying: the loop calls fn(req,
 * arg) once the handler returned; fn owns arg from then on. */
void httpsrv_then(struct httpsrv_req *req, httpsrv_then_fn fn, void *arg);

/* Replies: sent at once on the loop (req->ev set), recorded and sent by
 * the loop when called from a handler on a worker. The first reply of a
 * request wins. */
void httpsrv_add_header(struct httpsrv_req *req, const char *name,
                        const char *value);
void httpsrv_reply(struct httpsrv_req *req, int status,
                   const char *content_type, const void *body, size_t len);
/* {"code":"<code>","message":"<msg>"} with application/json. */
void httpsrv_reply_json_error(struct httpsrv_req *req, int status,
                              const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#endif
