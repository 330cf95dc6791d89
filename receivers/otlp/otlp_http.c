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
 *
 * Threads: http_export runs on an HTTP worker thread (it transcodes,
 * decodes and screens into an otlprx_job); http_run, on the main loop,
 * hands the job to the pipeline and http_done answers, on the loop too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/otlp.h"
#include "codec/pb.h"
#include "telemetry/log.h"
#include "net/peer.h"
#include "receivers/otlp/otlp_receiver.h"

#define CT_PROTOBUF "application/x-protobuf"
#define CT_JSON "application/json"

/* google.rpc.Code values used in Status bodies. */
#define RPC_INVALID_ARGUMENT 3
#define RPC_RESOURCE_EXHAUSTED 8
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
static void reply_msg(struct httpsrv_req *req, enum body_kind kind, int status,
                      enum otlp_json_msg which, const struct buf *pb)
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
        httpsrv_add_header(req, "Retry-After", "1");
        reply_status(req, kind, 503, RPC_UNAVAILABLE, res->msg);
        return;
    case OTLPRX_UNAUTHENTICATED:
        reply_status(req, kind, 401, RPC_UNAUTHENTICATED, res->msg);
        return;
    case OTLPRX_TOOBIG:
        reply_status(req, kind, 413, RPC_RESOURCE_EXHAUSTED, res->msg);
        return;
    case OTLPRX_INVALID:
    default:
        log_debug(rx->host->id, "http request refused", "error=\"%s\"",
                  res->msg);
        reply_status(req, kind, 400, RPC_INVALID_ARGUMENT, res->msg);
        return;
    }
}

/* One request from its worker to its answer; freed by http_done. */
struct http_job {
    struct otlprx_job job; /* first: the job is the request */
    struct otlprx *rx;
    struct evhttp_request *ev; /* set on the loop */
    enum body_kind kind;
    int unsupported; /* 415: not protobuf nor JSON */
};

/* Main loop: the pipeline took the batch (or there was none): answer. */
static void http_done(struct otlprx_job *job, const struct otlprx_result *res)
{
    struct http_job *hj = (struct http_job *)job;
    struct httpsrv_req req;

    memset(&req, 0, sizeof(req));
    req.ev = hj->ev;
    if (hj->unsupported) {
        reply_status(&req, BODY_JSON, 415, RPC_INVALID_ARGUMENT, res->msg);
    } else {
        reply_result(hj->rx, &req, hj->kind, res);
    }
    free(hj);
}

/* Main loop: the worker is done; the pipeline gets the batch. */
static void http_run(struct httpsrv_req *req, void *arg)
{
    struct http_job *hj = arg;

    hj->ev = req->ev;
    if (hj->job.batch != NULL) {
        net_peer_addr(req->ev, hj->job.batch->peer,
                      sizeof(hj->job.batch->peer));
    }
    otlprx_run_job(hj->rx, &hj->job);
}

/* The request body as protobuf bytes in a blob (JSON transcoded); NULL
 * with *rc set on failure. */
static struct blob *body_pb(struct otlprx *rx, struct httpsrv_req *req,
                            enum body_kind kind, struct errctx *e, int *rc)
{
    struct buf pb;
    uint8_t *data;
    size_t n;

    *rc = PC_ENOMEM;
    if (kind == BODY_PROTOBUF) {
        /* A body the server inflated is taken, not copied. */
        uint8_t *mine = httpsrv_take_body(req, &n);
        struct blob *b = mine != NULL ? blob_take(mine, n)
                                      : blob_new(req->body, req->body_len);
        const char *ce = httpsrv_header(req, "Content-Encoding");
        if (b == NULL) {
            err_set(e, PC_ENOMEM, "out of memory");
        } else if (ce != NULL && strcasecmp(ce, "gzip") == 0 &&
                   req->wire != req->body) {
            /* Kept as the client sent them, as the gRPC receiver does:
             * an exporter compressing with gzip sends these instead of
             * compressing again (NULL: just not kept). */
            b->gz = blob_new(req->wire, req->wire_len);
        }
        return b;
    }
    buf_init(&pb, (size_t)rx->http_cfg.max_decompressed_size);
    *rc = otlp_json_to_pb(OTLP_JSON_REQUEST, (const char *)req->body,
                          req->body_len, &pb, e);
    if (*rc != PC_OK) {
        buf_free(&pb);
        return NULL;
    }
    *rc = PC_ENOMEM;
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
    int rc;
    struct blob *b = body_pb(rx, req, kind, e, &rc);

    if (b == NULL) {
        /* A body past a cap is 413; any other failure with a message is
         * the client's bytes. */
        return rc == PC_ETOOBIG || rc == PC_ENOMEM || e->msg[0] == '\0'
                   ? (rc == PC_ETOOBIG ? rc : PC_ENOMEM)
                   : PC_ECORRUPT;
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

/* Worker: decodes and screens the body into hj's job. */
static void http_build(struct http_job *hj, struct httpsrv_req *req)
{
    struct otlprx *rx = hj->rx;
    struct otlprx_result *res = &hj->job.res;
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct blob *raw = NULL;
    const char *tenant;
    int rc;

    rc = http_decode(rx, req, hj->kind, &pd, &raw, &e);
    if (rc == PC_ENOMEM) {
        res->outcome = OTLPRX_BUSY;
        snprintf(res->msg, sizeof(res->msg), "out of memory");
        return;
    }
    if (rc != PC_OK) {
        hj->job.refused_bytes = req->wire_len;
        res->outcome = rc == PC_ETOOBIG ? OTLPRX_TOOBIG : OTLPRX_INVALID;
        snprintf(res->msg, sizeof(res->msg), "%s", err_msg(&e, rc));
        return;
    }
    tenant = httpsrv_header(req, "X-Scope-OrgID");
    rc = otlprx_build(rx, pd, raw, tenant != NULL ? tenant : "",
                      tenant != NULL ? strnlen(tenant, OTLPRX_TENANT_MAX - 1)
                                     : 0,
                      &hj->job.batch, res);
    if (rc != PC_OK) {
        res->outcome = OTLPRX_BUSY;
        snprintf(res->msg, sizeof(res->msg), "out of memory");
    } else if (hj->job.batch == NULL) {
        hj->job.refused_bytes = req->wire_len; /* all screened out */
    }
}

/* Worker thread (the route's handler). */
static void http_export(struct httpsrv_req *req, void *arg)
{
    struct otlprx *rx = arg;
    enum body_kind kind = kind_of(req->content_type);
    struct http_job *hj = calloc(1, sizeof(*hj));

    if (hj == NULL) {
        struct otlprx_result res;
        memset(&res, 0, sizeof(res));
        res.outcome = OTLPRX_BUSY;
        snprintf(res.msg, sizeof(res.msg), "out of memory");
        reply_result(rx, req, kind == BODY_OTHER ? BODY_JSON : kind, &res);
        return;
    }
    hj->rx = rx;
    hj->kind = kind;
    hj->job.done = http_done;
    if (kind == BODY_OTHER) {
        hj->unsupported = 1;
        hj->job.res.outcome = OTLPRX_INVALID;
        hj->job.refused_bytes = req->wire_len;
        snprintf(hj->job.res.msg, sizeof(hj->job.res.msg),
                 "unsupported content type '%.80s': use " CT_PROTOBUF
                 " or " CT_JSON,
                 req->content_type);
    } else {
        http_build(hj, req);
    }
    httpsrv_then(req, http_run, hj);
}

int otlprx_http_start(struct otlprx *rx, struct errctx *e)
{
    int rc = httpsrv_start(rx->host->base, &rx->http_cfg, rx->host->id,
                           &rx->http, e);

    if (rc != PC_OK) {
        return rc;
    }
    httpsrv_metrics(rx->http, rx->host->metrics);
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
