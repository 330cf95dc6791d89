/*
 * httpsrv.c: the HTTP server shared by the HTTP receivers.
 *
 * One evhttp per server on the main loop. Every request goes through one
 * dispatch callback that applies, on the loop, route lookup (404), method
 * (405) and bearer token (401), then makes a job of the request (struct
 * httpsrv_job) for a worker thread, which applies Content-Encoding (415 for
 * unknown codings, 413 past max_decompressed_size, 400 for corrupt data)
 * and calls the route's handler with the whole body. The job comes back to
 * the loop (job_done), which sends the recorded reply or runs the
 * handler's continuation, then frees the job. The compressed-size cap is
 * enforced by evhttp itself (evhttp_set_max_body_size), which also covers
 * chunked bodies and answers 413 before the body is buffered.
 *
 * Ownership: the job owns copies of the path, query and request headers,
 * the body (an evbuffer the request's input was moved into) and the
 * recorded reply. The loop creates and frees it; between submit and
 * job_done only the worker touches it, and nobody but the loop ever
 * touches the evhttp request.
 *
 * TLS: when a certificate is configured, every accepted connection gets an
 * OpenSSL bufferevent (evhttp_set_bevcb); with client_ca_file the handshake
 * requires a client certificate signed by that CA.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/hex.h"
#include "core/jsonesc.h"
#include "codec/compress.h"
#include "net/listen.h"
#include "net/httpsrv.h"
#include "net/ssl_api.h"
#include "net/workpool.h"
#include "telemetry/log.h"

#define HTTPSRV_MAX_ROUTES 32
#define HTTPSRV_HEADERS_MAX 65536
#define HTTPSRV_TIMEOUT_S 60
#define HTTPSRV_PATH_MAX 2048
#define HTTPSRV_CTYPE_MAX 128
/* Handlers' replies are short messages; longer ones are cut. */
#define HTTPSRV_REPLY_MAX (1u << 20)

/* clang-format off */
const struct cfg_entry httpsrv_tls_cfg_table[] = {
    {.key = "cert_file", .type = CFG_STRING,
     .offset = offsetof(struct httpsrv_tls_cfg, cert_file),
     .doc = "server certificate (PEM); empty = plain HTTP"},
    {.key = "key_file", .type = CFG_STRING,
     .offset = offsetof(struct httpsrv_tls_cfg, key_file),
     .doc = "private key of cert_file (PEM)"},
    {.key = "client_ca_file", .type = CFG_STRING,
     .offset = offsetof(struct httpsrv_tls_cfg, client_ca_file),
     .doc = "when set, clients must present a certificate signed by it"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry httpsrv_cfg_table[] = {
    HTTPSRV_CFG_ENTRIES_AT(0, "localhost:4318"),
    {.key = NULL},
};
/* clang-format on */

struct httpsrv_route_ent {
    char *path;
    int flags;
    httpsrv_handler h;
    void *arg;
};

struct httpsrv {
    struct evhttp *http;
    struct workpool *wp;
    SSL_CTX *ssl;
    struct connguard *guard;
    char id[128];
    uint64_t max_decompressed;
    char *token; /* NULL = no auth */
    uint16_t port;
    struct httpsrv_route_ent routes[HTTPSRV_MAX_ROUTES];
    int nroutes;
};

/* A request on its way through a worker (see the top). */
struct httpsrv_job {
    struct workpool_job wj; /* first: the pool's job is this */
    struct httpsrv *s;
    const struct httpsrv_route_ent *r;
    struct evhttp_request *ev; /* loop only */
    enum evhttp_cmd_type cmd;
    struct evbuffer *wire; /* the body as received; worker frees */
    size_t wire_len;
    char *path, *query;
    struct evkeyvalq in_headers;
    /* What the handler answered: a reply (status != 0)... */
    int status;
    char ctype[HTTPSRV_CTYPE_MAX];
    struct buf body;
    struct evkeyvalq out_headers;
    /* ...or the continuation. */
    httpsrv_then_fn then;
    void *then_arg;
};

/* A minimal reason-phrase table: evhttp wants one with every reply. */
static const char *reason_for(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return status < 400 ? "OK" : "Error";
    }
}

void httpsrv_add_header(struct httpsrv_req *req, const char *name,
                        const char *value)
{
    if (req->ev != NULL) {
        evhttp_add_header(evhttp_request_get_output_headers(req->ev), name,
                          value);
    } else if (req->job != NULL && req->job->status == 0) {
        evhttp_add_header(&req->job->out_headers, name, value);
    }
}

/* Worker: keeps the reply for the loop (the first one only). */
static void reply_record(struct httpsrv_job *j, int status,
                         const char *content_type, const void *body,
                         size_t len)
{
    if (j->status != 0 || j->then != NULL) {
        return;
    }
    j->status = status;
    snprintf(j->ctype, sizeof(j->ctype), "%s",
             content_type != NULL ? content_type : "");
    if (body != NULL && len > 0) {
        buf_append(&j->body, body, len);
    }
}

static void reply_send(struct evhttp_request *ev, int status,
                       const char *content_type, const void *body, size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(ev);
    struct evkeyvalq *h = evhttp_request_get_output_headers(ev);

    /* From here the connection waits for its next request. */
    connguard_replied(NULL, ev);
    if (content_type != NULL && content_type[0] != '\0') {
        evhttp_add_header(h, "Content-Type", content_type);
    }
    if (body != NULL && len > 0) {
        evbuffer_add(out, body, len);
    }
    evhttp_send_reply(ev, status, reason_for(status), NULL);
}

void httpsrv_reply(struct httpsrv_req *req, int status,
                   const char *content_type, const void *body, size_t len)
{
    if (req->ev != NULL) {
        reply_send(req->ev, status, content_type, body, len);
    } else if (req->job != NULL) {
        reply_record(req->job, status, content_type, body, len);
    }
}

void httpsrv_then(struct httpsrv_req *req, httpsrv_then_fn fn, void *arg)
{
    if (req->job != NULL && req->job->status == 0 && req->job->then == NULL) {
        req->job->then = fn;
        req->job->then_arg = arg;
    }
}

void httpsrv_reply_json_error(struct httpsrv_req *req, int status,
                              const char *code, const char *fmt, ...)
{
    char msg[1024];
    struct buf b;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    buf_init(&b, 8192);
    buf_append_str(&b, "{\"code\":");
    jsonesc_quoted(&b, code, strlen(code));
    buf_append_str(&b, ",\"message\":");
    jsonesc_quoted(&b, msg, strlen(msg));
    buf_putc(&b, '}');
    httpsrv_add_header(req, "X-Content-Type-Options", "nosniff");
    httpsrv_reply(req, status, "application/json", b.data, b.len);
    buf_free(&b);
}

uint8_t *httpsrv_take_body(struct httpsrv_req *req, size_t *len)
{
    uint8_t *p;

    if (req->plain == NULL || req->plain->data == NULL) {
        return NULL;
    }
    PC_ASSERT(req->body == req->plain->data);
    p = buf_take(req->plain, len);
    req->plain = NULL;
    return p;
}

const char *httpsrv_header(const struct httpsrv_req *req, const char *name)
{
    if (req->job != NULL) {
        return evhttp_find_header(&req->job->in_headers, name);
    }
    return req->ev != NULL
               ? evhttp_find_header(evhttp_request_get_input_headers(req->ev),
                                    name)
               : NULL;
}

/* Decodes one query component (form encoding) into out; -1 on a bad escape
 * or when it does not fit. */
static int qs_unescape(const char *s, size_t n, char *out, size_t outlen)
{
    size_t i, j = 0;

    for (i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n) {
                return -1;
            }
            hi = hex_val((unsigned char)s[i + 1]);
            lo = hex_val((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0) {
                return -1;
            }
            c = hi * 16 + lo;
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (j + 1 >= outlen) {
            return -1;
        }
        out[j++] = (char)c;
    }
    out[j] = '\0';
    return (int)j;
}

const char *httpsrv_query_get(const char *query, const char *name, char *buf,
                              size_t buflen)
{
    const char *p = query;
    char key[256];

    if (query == NULL || buf == NULL || buflen == 0) {
        return NULL;
    }
    while (*p != '\0') {
        const char *amp = strchr(p, '&');
        const char *end = amp != NULL ? amp : p + strlen(p);
        const char *eq = memchr(p, '=', (size_t)(end - p));
        const char *kend = eq != NULL ? eq : end;
        if (qs_unescape(p, (size_t)(kend - p), key, sizeof(key)) >= 0 &&
            strcmp(key, name) == 0) {
            const char *v = eq != NULL ? eq + 1 : end;
            if (qs_unescape(v, (size_t)(end - v), buf, buflen) >= 0) {
                return buf;
            }
        }
        p = amp != NULL ? amp + 1 : end;
    }
    return NULL;
}

const char *httpsrv_query_param(const struct httpsrv_req *req,
                                const char *name, char *buf, size_t buflen)
{
    return httpsrv_query_get(req->query, name, buf, buflen);
}

static const struct httpsrv_route_ent *route_find(const struct httpsrv *s,
                                                  const char *path)
{
    int i;

    for (i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            return &s->routes[i];
        }
    }
    return NULL;
}

/* Constant-time compare so the token cannot be guessed byte by byte. */
static int token_ok(const struct httpsrv *s, const char *auth)
{
    size_t n = strlen(s->token), i;
    unsigned diff = 0;

    if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0) {
        return 0;
    }
    auth += 7;
    while (*auth == ' ') {
        auth++;
    }
    if (strlen(auth) != n) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        diff |= (unsigned)(auth[i] ^ s->token[i]);
    }
    return diff == 0;
}

/* Decompresses per Content-Encoding into plain. Returns 0 when the body is
 * usable (plain may stay empty: use the wire bytes), else answers the
 * request and returns -1. */
static int decode_body(struct httpsrv *s, struct httpsrv_req *req,
                       struct buf *plain)
{
    const char *ce = httpsrv_header(req, "Content-Encoding");
    int rc;

    if (ce == NULL || ce[0] == '\0' || strcasecmp(ce, "identity") == 0) {
        return 0;
    }
    if (strcasecmp(ce, "gzip") == 0 || strcasecmp(ce, "x-gzip") == 0) {
        rc = gz_decompress(req->body, req->body_len, plain,
                           (size_t)s->max_decompressed);
    } else if (strcasecmp(ce, "zstd") == 0) {
        rc = zstd_decompress(req->body, req->body_len, plain,
                             (size_t)s->max_decompressed);
    } else {
        httpsrv_reply_json_error(req, 415, "invalid_argument",
                                 "unsupported Content-Encoding \"%s\" "
                                 "(supported: gzip, zstd, identity)",
                                 ce);
        return -1;
    }
    if (rc == PC_ETOOBIG) {
        httpsrv_reply_json_error(req, 413, "resource_exhausted",
                                 "decompressed body exceeds "
                                 "max_decompressed_size (%llu bytes)",
                                 (unsigned long long)s->max_decompressed);
        return -1;
    }
    if (rc != PC_OK) {
        httpsrv_reply_json_error(req, 400, "invalid_argument",
                                 "cannot decompress %s body: %s", ce,
                                 pc_strerror(rc));
        return -1;
    }
    return 0;
}

/* Splits the URI into path and query (copies: the handler gets
 * NUL-terminated strings). */
static int split_uri(struct evhttp_request *ev, char *path, size_t plen,
                     const char **query)
{
    const char *uri = evhttp_request_get_uri(ev);
    const char *q = uri != NULL ? strchr(uri, '?') : NULL;
    size_t n = q != NULL ? (size_t)(q - uri) : (uri != NULL ? strlen(uri) : 0);

    if (uri == NULL || n >= plen) {
        return -1;
    }
    memcpy(path, uri, n);
    path[n] = '\0';
    *query = q != NULL ? q + 1 : "";
    return 0;
}

static int method_ok(enum evhttp_cmd_type cmd, int flags)
{
    if (cmd == EVHTTP_REQ_POST || (flags & HTTPSRV_ANY_METHOD)) {
        return 1;
    }
    return (flags & HTTPSRV_ALLOW_GET) &&
           (cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD);
}

static const char *method_name(enum evhttp_cmd_type cmd)
{
    switch (cmd) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    default:
        return "POST";
    }
}

static void job_free(struct httpsrv_job *j)
{
    if (j->wire != NULL) {
        evbuffer_free(j->wire);
    }
    evhttp_clear_headers(&j->in_headers);
    evhttp_clear_headers(&j->out_headers);
    buf_free(&j->body);
    free(j->path);
    free(j->query);
    free(j);
}

/* Worker: the body (decompressed unless the route wants it raw) to the
 * handler. The body's memory goes with the handler's return: what it
 * keeps, it copies. */
static void job_run(struct workpool_job *wj)
{
    struct httpsrv_job *j = (struct httpsrv_job *)wj;
    struct httpsrv_req req;
    const char *ct = evhttp_find_header(&j->in_headers, "Content-Type");
    struct buf plain;

    memset(&req, 0, sizeof(req));
    req.job = j;
    req.method = method_name(j->cmd);
    req.path = j->path;
    req.query = j->query;
    req.content_type = ct != NULL ? ct : "";
    req.wire_len = j->wire_len;
    req.body = j->wire_len > 0 ? evbuffer_pullup(j->wire, -1)
                               : (const uint8_t *)"";
    req.body_len = j->wire_len;
    req.wire = req.body;
    if (req.body == NULL) {
        httpsrv_reply_json_error(&req, 500, "internal", "out of memory");
        return;
    }
    buf_init(&plain, (size_t)j->s->max_decompressed);
    if (!(j->r->flags & HTTPSRV_RAW_BODY)) {
        if (decode_body(j->s, &req, &plain) != 0) {
            buf_free(&plain);
            return;
        }
        if (plain.data != NULL) {
            req.body = plain.data;
            req.body_len = plain.len;
            req.plain = &plain;
        } else if (httpsrv_header(&req, "Content-Encoding") != NULL &&
                   req.wire_len > 0) {
            req.body_len = 0; /* decompressed to nothing */
        }
    }
    j->r->h(&req, j->r->arg);
    buf_free(&plain);
    evbuffer_free(j->wire);
    j->wire = NULL;
}

/* Loop: sends what the handler recorded into ev. */
static void job_send(struct httpsrv_job *j)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(j->ev);
    struct evkeyval *kv;

    TAILQ_FOREACH(kv, &j->out_headers, next)
    {
        evhttp_add_header(h, kv->key, kv->value);
    }
    reply_send(j->ev, j->status, j->ctype, j->body.data, j->body.len);
}

/* Loop: the worker is done with j (or never started it: drain). */
static void job_done(struct workpool_job *wj)
{
    struct httpsrv_job *j = (struct httpsrv_job *)wj;
    struct httpsrv_req req;

    memset(&req, 0, sizeof(req));
    req.ev = j->ev;
    req.job = j;
    req.path = j->path;
    req.query = j->query;
    req.content_type = "";
    req.wire_len = j->wire_len;
    if (wj->cancelled) {
        httpsrv_add_header(&req, "Retry-After", "1");
        httpsrv_reply_json_error(&req, 503, "unavailable",
                                 "%s is stopping, retry", j->s->id);
    } else if (j->status != 0) {
        job_send(j);
    } else if (j->then != NULL) {
        const char *ct = httpsrv_header(&req, "Content-Type");
        req.content_type = ct != NULL ? ct : "";
        j->then(&req, j->then_arg);
    } else {
        httpsrv_reply_json_error(&req, 500, "internal",
                                 "the handler gave no answer");
    }
    job_free(j);
}

/* Loop: a job holding everything the worker needs of ev (the body moved
 * out of ev's input, not copied), or NULL. */
static struct httpsrv_job *job_new(struct httpsrv *s,
                                   const struct httpsrv_route_ent *r,
                                   struct evhttp_request *ev, const char *path,
                                   const char *query)
{
    struct httpsrv_job *j = calloc(1, sizeof(*j));
    struct evkeyval *kv;
    int bad = 0;

    if (j == NULL) {
        return NULL;
    }
    TAILQ_INIT(&j->in_headers);
    TAILQ_INIT(&j->out_headers);
    buf_init(&j->body, HTTPSRV_REPLY_MAX);
    j->wj.run = job_run;
    j->wj.done = job_done;
    j->s = s;
    j->r = r;
    j->ev = ev;
    j->cmd = evhttp_request_get_command(ev);
    j->path = strdup(path);
    j->query = strdup(query);
    j->wire = evbuffer_new();
    TAILQ_FOREACH(kv, evhttp_request_get_input_headers(ev), next)
    {
        bad |= evhttp_add_header(&j->in_headers, kv->key, kv->value) != 0;
    }
    if (j->path == NULL || j->query == NULL || j->wire == NULL || bad ||
        evbuffer_add_buffer(j->wire, evhttp_request_get_input_buffer(ev)) !=
            0) {
        job_free(j);
        return NULL;
    }
    j->wire_len = evbuffer_get_length(j->wire);
    return j;
}

/* evhttp knows only chunked: any other Transfer-Encoding would be read as
 * an empty body. 501 (RFC 9112 6.1), and the connection closes, as what
 * follows the headers cannot be framed. */
static int transfer_coding_ok(struct httpsrv_req *req)
{
    const char *te = httpsrv_header(req, "Transfer-Encoding");

    if (te == NULL || strcasecmp(te, "chunked") == 0) {
        return 1;
    }
    httpsrv_add_header(req, "Connection", "close");
    httpsrv_reply_json_error(req, 501, "unimplemented",
                             "unsupported Transfer-Encoding \"%.64s\" "
                             "(supported: chunked)",
                             te);
    return 0;
}

static void dispatch(struct evhttp_request *ev, void *arg)
{
    struct httpsrv *s = arg;
    const struct httpsrv_route_ent *r;
    struct httpsrv_job *j;
    struct httpsrv_req req;
    char path[HTTPSRV_PATH_MAX];
    int rc;

    memset(&req, 0, sizeof(req));
    req.ev = ev;
    connguard_request(s->guard, ev);
    if (!transfer_coding_ok(&req)) {
        return;
    }
    if (split_uri(ev, path, sizeof(path), &req.query) != 0) {
        httpsrv_reply_json_error(&req, 400, "invalid_argument",
                                 "request URI too long");
        return;
    }
    req.path = path;
    r = route_find(s, path);
    if (r == NULL) {
        httpsrv_reply_json_error(&req, 404, "not_found", "no handler for %s",
                                 path);
        return;
    }
    if (!method_ok(evhttp_request_get_command(ev), r->flags)) {
        httpsrv_add_header(&req, "Allow",
                           (r->flags & HTTPSRV_ALLOW_GET) ? "GET, HEAD, POST"
                                                          : "POST");
        httpsrv_reply_json_error(&req, 405, "unimplemented",
                                 "method not allowed");
        return;
    }
    if (s->token != NULL &&
        !token_ok(s, httpsrv_header(&req, "Authorization"))) {
        httpsrv_add_header(&req, "WWW-Authenticate", "Bearer");
        httpsrv_reply_json_error(&req, 401, "unauthenticated",
                                 "missing or invalid bearer token");
        return;
    }
    j = job_new(s, r, ev, path, req.query);
    if (j == NULL) {
        httpsrv_reply_json_error(&req, 500, "internal", "out of memory");
        return;
    }
    rc = workpool_submit(s->wp, &j->wj);
    if (rc != PC_OK) {
        /* Every decoder is taken and the backlog is full (or stopping):
         * retryable, like the pipeline's own back-pressure. */
        job_free(j);
        httpsrv_add_header(&req, "Retry-After", "1");
        httpsrv_reply_json_error(&req, 503, "unavailable",
                                 "%s: too many requests waiting to be "
                                 "decoded, retry later",
                                 s->id);
    }
}

/* Every new connection: a bufferevent (wrapped in OpenSSL on a TLS
 * server), tracked by the connection guard. Without CLOSE_ON_FREE on plain
 * connections evhttp closes the socket itself as soon as it is done. */
static struct bufferevent *conn_bevcb(struct event_base *base, void *arg)
{
    struct httpsrv *s = arg;
    struct bufferevent *bev;

    if (s->ssl != NULL) {
        SSL *ssl = SSL_new(s->ssl);
        if (ssl == NULL) {
            return NULL;
        }
        bev = bufferevent_openssl_socket_new(base, -1, ssl,
                                             BUFFEREVENT_SSL_ACCEPTING,
                                             BEV_OPT_CLOSE_ON_FREE);
    } else {
        bev = bufferevent_socket_new(base, -1, 0);
    }
    connguard_track(s->guard, bev);
    return bev;
}

static int tls_setup(struct httpsrv *s, const struct httpsrv_tls_cfg *t,
                     struct errctx *e)
{
    struct errctx le = {{0}};
    unsigned long ossl;
    char why[256];

    if (ssl_api_load(&le) != PC_OK) {
        return err_set(e, PC_EUNSUPPORTED, "%s: tls: %s", s->id, le.msg);
    }
    s->ssl = SSL_CTX_new(TLS_server_method());
    if (s->ssl == NULL) {
        return err_set(e, PC_ENOMEM, "%s: cannot create TLS context", s->id);
    }
    SSL_CTX_set_min_proto_version(s->ssl, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(s->ssl, t->cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(s->ssl,
                                    t->key_file != NULL ? t->key_file : "",
                                    SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(s->ssl) != 1) {
        ossl = ERR_get_error();
        ERR_error_string_n(ossl, why, sizeof(why));
        ERR_clear_error();
        return err_set(e, PC_ECONFIG, "%s: tls: cannot load %s / %s: %s",
                       s->id, t->cert_file,
                       t->key_file != NULL ? t->key_file : "(no key_file)",
                       why);
    }
    if (t->client_ca_file != NULL && t->client_ca_file[0] != '\0') {
        if (SSL_CTX_load_verify_locations(s->ssl, t->client_ca_file, NULL) !=
            1) {
            ERR_clear_error();
            return err_set(e, PC_ECONFIG,
                           "%s: tls: cannot load "
                           "client_ca_file %s",
                           s->id, t->client_ca_file);
        }
        SSL_CTX_set_verify(s->ssl,
                           SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                           NULL);
    }
    return PC_OK;
}

static int bind_all(struct httpsrv *s, const char *endpoint, struct errctx *e)
{
    struct listen_set ls;
    int rc = listen_open(s->id, endpoint, 512, &ls, e);

    if (rc != PC_OK) {
        return rc;
    }
    s->port = ls.port;
    if (connguard_serve(s->guard, s->http, &ls) != PC_OK) {
        return err_set(e, PC_ENOMEM, "%s: cannot serve on %s", s->id,
                       endpoint);
    }
    return PC_OK;
}

/* A zeroed connguard_cfg (a server set up in code, not from YAML) takes
 * the documented defaults. */
static const struct connguard_cfg *guard_cfg(const struct connguard_cfg *c)
{
    static const struct connguard_cfg defaults = {
        .max_connections = 1000,
        .read_header_timeout_ms = 10000,
        .read_timeout_ms = 60000,
        .idle_timeout_ms = 60000,
    };

    return c->max_connections > 0 ? c : &defaults;
}

/* evhttp's own timeout (silence while reading or writing) is a backstop
 * behind the guard's deadlines, never shorter than they are. */
static void set_timeout(struct evhttp *http, const struct connguard_cfg *c)
{
    const struct connguard_cfg *g = guard_cfg(c);
    int64_t ms = HTTPSRV_TIMEOUT_S * 1000;
    struct timeval tv;

    ms = g->read_timeout_ms > ms ? g->read_timeout_ms : ms;
    ms = g->idle_timeout_ms > ms ? g->idle_timeout_ms : ms;
    ms += 1000;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    evhttp_set_timeout_tv(http, &tv);
}

void httpsrv_metrics(struct httpsrv *s, struct mscope *m)
{
    if (s != NULL && s->guard != NULL) {
        connguard_metrics(s->guard, m);
    }
}

int httpsrv_start(struct event_base *base, const struct httpsrv_cfg *cfg,
                  const char *component_id, struct httpsrv **out,
                  struct errctx *e)
{
    struct httpsrv *s = calloc(1, sizeof(*s));
    int rc = PC_OK;

    *out = NULL;
    if (s == NULL) {
        return err_set(e, PC_ENOMEM, "httpsrv: out of memory");
    }
    snprintf(s->id, sizeof(s->id), "%s", component_id ? component_id : "http");
    s->max_decompressed = cfg->max_decompressed_size
                              ? cfg->max_decompressed_size
                              : (64u << 20);
    if (cfg->bearer_token != NULL && cfg->bearer_token[0] != '\0') {
        s->token = strdup(cfg->bearer_token);
        if (s->token == NULL) {
            free(s);
            return err_set(e, PC_ENOMEM, "httpsrv: out of memory");
        }
    }
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        httpsrv_stop(s);
        return err_set(e, PC_ENOMEM, "%s: evhttp_new failed", s->id);
    }
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE |
                                            EVHTTP_REQ_OPTIONS |
                                            EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(s->http, HTTPSRV_HEADERS_MAX);
    evhttp_set_max_body_size(s->http,
                             cfg->max_request_body_size
                                 ? (ev_ssize_t)cfg->max_request_body_size
                                 : (ev_ssize_t)16 << 20);
    set_timeout(s->http, &cfg->conn);
    evhttp_set_gencb(s->http, dispatch, s);
    evhttp_set_bevcb(s->http, conn_bevcb, s);
    rc = connguard_new(base, guard_cfg(&cfg->conn), s->id, 1, &s->guard, e);
    if (rc == PC_OK) {
        rc = workpool_open(base, &s->wp, e);
    }
    if (rc == PC_OK && cfg->tls.cert_file != NULL &&
        cfg->tls.cert_file[0] != '\0') {
        rc = tls_setup(s, &cfg->tls, e);
    }
    if (rc == PC_OK) {
        rc = bind_all(s, cfg->endpoint != NULL ? cfg->endpoint : "", e);
    }
    if (rc != PC_OK) {
        httpsrv_stop(s);
        return rc;
    }
    log_info(s->id, "HTTP server listening", "endpoint=\"%s\" port=%u tls=%s",
             cfg->endpoint, (unsigned)s->port, s->ssl != NULL ? "on" : "off");
    *out = s;
    return PC_OK;
}

int httpsrv_route(struct httpsrv *s, const char *path, int allow_get,
                  httpsrv_handler h, void *arg)
{
    struct httpsrv_route_ent *r;

    if (s->nroutes == HTTPSRV_MAX_ROUTES || route_find(s, path) != NULL) {
        return PC_EINVAL;
    }
    r = &s->routes[s->nroutes];
    r->path = strdup(path);
    if (r->path == NULL) {
        return PC_ENOMEM;
    }
    r->flags = allow_get;
    r->h = h;
    r->arg = arg;
    s->nroutes++;
    return PC_OK;
}

void httpsrv_drain(struct httpsrv *s)
{
    if (s != NULL) {
        workpool_drain(s->wp);
    }
}

void httpsrv_stop(struct httpsrv *s)
{
    int i;

    if (s == NULL) {
        return;
    }
    /* Before evhttp_free: jobs hold its requests. */
    workpool_close(s->wp);
    connguard_free(s->guard);
    if (s->http != NULL) {
        evhttp_free(s->http);
    }
    if (s->ssl != NULL) {
        SSL_CTX_free(s->ssl);
    }
    for (i = 0; i < s->nroutes; i++) {
        free(s->routes[i].path);
    }
    free(s->token);
    free(s);
}

uint16_t httpsrv_port(const struct httpsrv *s)
{
    return s != NULL ? s->port : 0;
}
