/*
 * otlp_http.c: the HTTP side of the `otlp` receiver (OTLP/HTTP), on the
 * shared HTTP server (net/httpsrv.h), which already applied the body
 * cap (413), Content-Encoding gzip/zstd, TLS and the bearer token (401).
 *
 * POST /v1development/profiles with Content-Type application/x-protobuf or
 * application/json. Replies use the request's content type: 200 with an
 * ExportProfilesServiceResponse (partial_success when profiles were
 * dropped), 400 with a google.rpc.Status naming what is wrong, 415 for other
 * content types, 503 with Retry-After when the pipeline pushes back.
 * JSON is transcoded to protobuf first, and those bytes travel as the
 * item's original payload, so an OTLP exporter forwards them as they are.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "codec/otlp.h"
#include "codec/pb.h"
#include "telemetry/log.h"
#include "receivers/otlp/otlp_receiver.h"

#define CT_PROTOBUF "application/x-protobuf"
#define CT_JSON "application/json"

/* google.rpc.Code values used in Status bodies. */
#define RPC_INVALID_ARGUMENT 3
#define RPC_UNAVAILABLE 14
#define RPC_UNAUTHENTICATED 16

enum body_kind {
    BODY_OTHER,
    BODY_PROTOBUF,
    BODY_JSON,
};

/* The media type of a Content-Type value, parameters ignored. */
static enum body_kind kind_of(const char *ct)
{
    size_t n = strcspn(ct, "; \t");

    if (n == strlen(CT_PROTOBUF) && strncasecmp(ct, CT_PROTOBUF, n) == 0) {
        return BODY_PROTOBUF;
    }
    if (n == strlen(CT_JSON) && strncasecmp(ct, CT_JSON, n) == 0) {
        return BODY_JSON;
    }
    return BODY_OTHER;
}

/* Writes body (protobuf of message `which`) in the request's form. */
static void reply_msg(struct httpsrv_req *req, enum body_kind kind,
                      int status, enum otlp_json_msg which,
                      const struct buf *pb)
{
    struct buf js;
    struct errctx e;

    if (kind == BODY_PROTOBUF) {
        httpsrv_reply(req, status, CT_PROTOBUF, pb->data, pb->len);
        return;
    }
    buf_init(&js, 0);
    if (otlp_pb_to_json(which, pb->data, pb->len, &js, &e) != PC_OK) {
        buf_reset(&js);
        buf_append_str(&js, "{}");
    }
    httpsrv_reply(req, status, CT_JSON, js.data, js.len);
    buf_free(&js);
}

static void reply_status(struct httpsrv_req *req, enum body_kind kind,
                         int status, int code, const char *msg)
{
    struct buf pb;

    buf_init(&pb, 0);
    if (pb_put_int(&pb, 1, code) == PC_OK) {
        pb_put_bytes(&pb, 2, msg, strlen(msg));
    }
    reply_msg(req, kind, status, OTLP_JSON_STATUS, &pb);
    buf_free(&pb);
}

static void reply_result(struct otlprx *rx, struct httpsrv_req *req,
                         enum body_kind kind, const struct otlprx_result *res)
{
    struct buf pb;

    switch (res->outcome) {
    case OTLPRX_OK:
        buf_init(&pb, 0);
        otlprx_response_pb(res, &pb);
        reply_msg(req, kind, 200, OTLP_JSON_RESPONSE, &pb);
        buf_free(&pb);
        return;
    case OTLPRX_BUSY:
        /* Retryable: the OTLP client waits and sends again. */
        evhttp_add_header(evhttp_request_get_output_headers(req->ev),
                          "Retry-After", "1");
        reply_status(req, kind, 503, RPC_UNAVAILABLE, res->msg);
        return;
    case OTLPRX_UNAUTHENTICATED:
        reply_status(req, kind, 401, RPC_UNAUTHENTICATED, res->msg);
        return;
    case OTLPRX_INVALID:
    default:
        log_debug(rx->host->id, "http request refused", "error=\"%s\"",
                  res->msg);
        reply_status(req, kind, 400, RPC_INVALID_ARGUMENT, res->msg);
        return;
    }
}

/* A request whose reply waits for its batch to be durable. */
struct http_wait {
    struct otlprx *rx;
    struct evhttp_request *ev;
    enum body_kind kind;
    struct otlprx_result res;
};

/* Main loop: the pipeline answered; so does the request. */
static void http_consumed(void *arg, int rc, const char *msg)
{
    struct http_wait *w = arg;
    struct httpsrv_req req;

    memset(&req, 0, sizeof(req));
    req.ev = w->ev;
    otlprx_apply(&w->res, rc, msg);
    reply_result(w->rx, &req, w->kind, &w->res);
    free(w);
}

/* Consumes b; 1 when the reply was deferred to http_consumed. */
static int http_consume(struct otlprx *rx, struct httpsrv_req *req,
                        enum body_kind kind, struct batch *b,
                        struct otlprx_result *res)
{
    struct http_wait *w = malloc(sizeof(*w));

    if (w == NULL) {
        batch_unref(b);
        res->outcome = OTLPRX_BUSY;
        snprintf(res->msg, sizeof(res->msg), "out of memory");
        return 0;
    }
    w->rx = rx;
    w->ev = req->ev;
    w->kind = kind;
    w->res = *res;
    if (otlprx_consume_async(rx, b, &w->res, http_consumed, w)) {
        return 1;
    }
    *res = w->res;
    free(w);
    return 0;
}

static void blob_unref_cb(void *p)
{
    blob_unref(p);
}

/* The request body as protobuf bytes in a blob (JSON transcoded). */
static struct blob *body_pb(struct otlprx *rx, struct httpsrv_req *req,
                            enum body_kind kind, struct errctx *e)
{
    struct buf pb;
    uint8_t *data;
    size_t n;

    if (kind == BODY_PROTOBUF) {
        struct blob *b = blob_new(req->body, req->body_len);
        if (b == NULL) {
            err_set(e, PC_ENOMEM, "out of memory");
        }
        return b;
    }
    buf_init(&pb, (size_t)rx->http_cfg.max_decompressed_size);
    if (otlp_json_to_pb(OTLP_JSON_REQUEST, (const char *)req->body,
                        req->body_len, &pb, e) != PC_OK) {
        buf_free(&pb);
        return NULL;
    }
    data = buf_take(&pb, &n);
    if (data == NULL) {
        data = malloc(1);
    }
    return data != NULL ? blob_take(data, n) : NULL;
}

/* Decodes the body; *pd borrows from the returned blob via its arena. */
static int http_decode(struct otlprx *rx, struct httpsrv_req *req,
                       enum body_kind kind, struct pdata **pd,
                       struct blob **raw, struct errctx *e)
{
    struct blob *b = body_pb(rx, req, kind, e);
    int rc;

    if (b == NULL) {
        return e->msg[0] != '\0' ? PC_ECORRUPT : PC_ENOMEM;
    }
    rc = otlp_decode_borrow(b->data, b->len, NULL, pd, e);
    if (rc != PC_OK) {
        blob_unref(b);
        return rc;
    }
    if (arena_on_free(&(*pd)->arena, blob_unref_cb, blob_ref(b)) != 0) {
        blob_unref(b);
        blob_unref(b);
        pdata_free(*pd);
        *pd = NULL;
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    *raw = b;
    return PC_OK;
}

static void http_export(struct httpsrv_req *req, void *arg)
{
    struct otlprx *rx = arg;
    enum body_kind kind = kind_of(req->content_type);
    struct otlprx_result res;
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct blob *raw = NULL;
    struct batch *b = NULL;
    const char *tenant;
    int rc;

    memset(&res, 0, sizeof(res));
    if (kind == BODY_OTHER) {
        char msg[200];
        snprintf(msg, sizeof(msg), "unsupported content type '%.80s': use "
                 CT_PROTOBUF " or " CT_JSON, req->content_type);
        rx->host->refused(rx->host, 0, req->wire_len);
        reply_status(req, BODY_JSON, 415, RPC_INVALID_ARGUMENT, msg);
        return;
    }
    rc = http_decode(rx, req, kind, &pd, &raw, &e);
    if (rc == PC_ENOMEM) {
        res.outcome = OTLPRX_BUSY;
        snprintf(res.msg, sizeof(res.msg), "out of memory");
        reply_result(rx, req, kind, &res);
        return;
    }
    if (rc != PC_OK) {
        rx->host->refused(rx->host, 0, req->wire_len);
        res.outcome = OTLPRX_INVALID;
        snprintf(res.msg, sizeof(res.msg), "%s", err_msg(&e, rc));
        reply_result(rx, req, kind, &res);
        return;
    }
    tenant = httpsrv_header(req, "X-Scope-OrgID");
    rc = otlprx_build(rx, pd, raw, tenant != NULL ? tenant : "",
                      tenant != NULL ? strnlen(tenant, OTLPRX_TENANT_MAX - 1)
                                     : 0,
                      &b, &res);
    if (rc != PC_OK) {
        res.outcome = OTLPRX_BUSY;
        snprintf(res.msg, sizeof(res.msg), "out of memory");
    } else if (b != NULL) {
        if (http_consume(rx, req, kind, b, &res)) {
            return;
        }
    } else if (res.outcome != OTLPRX_OK) {
        rx->host->refused(rx->host, res.rejected, req->wire_len);
    }
    reply_result(rx, req, kind, &res);
}

int otlprx_http_start(struct otlprx *rx, struct errctx *e)
{
    int rc = httpsrv_start(rx->host->base, &rx->http_cfg, rx->host->id,
                           &rx->http, e);

    if (rc != PC_OK) {
        return rc;
    }
    rc = httpsrv_route(rx->http, OTLPRX_HTTP_PATH, 0, http_export, rx);
    if (rc != PC_OK) {
        httpsrv_stop(rx->http);
        rx->http = NULL;
        return err_set(e, rc, "http: cannot add route " OTLPRX_HTTP_PATH);
    }
    log_info(rx->host->id, "http listening", "endpoint=%s path=%s",
             rx->http_cfg.endpoint, OTLPRX_HTTP_PATH);
    return PC_OK;
}
