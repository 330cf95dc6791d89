/*
 * dd_proxy.c: the Agent routes that are not profiles (traces, stats,
 * /info, telemetry, remote config, ...). With forward_to set they are
 * relayed to that Agent and its answer relayed back; without, they get 404
 * saying so, never a silent 200.
 *
 * Threads: the handler (decode worker) copies the request; the loop starts
 * one short-lived thread per relayed request (at most DD_PROXY_MAX at a
 * time, 503 beyond), which waits for the Agent (up to DD_PROXY_TIMEOUT_MS)
 * so neither the loop nor the decode workers ever wait on the network; the
 * thread hands the answer back through a pipe the loop reads, and the loop
 * replies (evhttp is the loop's).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/httpcli.h"
#include "telemetry/log.h"
#include "receivers/datadog/dd_recv.h"

#define DD_PROXY_MAX 16
#define DD_PROXY_TIMEOUT_MS 10000
#define DD_PROXY_HDRS 32

/* What the tracers send the Agent besides the body: relayed as is. */
static const char *const proxy_headers[] = {
    "Content-Type",
    "Content-Encoding",
    "Accept",
    "DD-API-KEY",
    "Datadog-Meta-Lang",
    "Datadog-Meta-Lang-Version",
    "Datadog-Meta-Lang-Interpreter",
    "Datadog-Meta-Tracer-Version",
    "Datadog-Container-ID",
    "Datadog-Entity-ID",
    "Datadog-External-Env",
    "Datadog-Client-Computed-Stats",
    "Datadog-Client-Computed-Top-Level",
    "Datadog-Client-Dropped-P0-Traces",
    "Datadog-Client-Dropped-P0-Spans",
    "Datadog-Send-Real-Http-Status",
    "X-Datadog-Trace-Count",
    "DD-Telemetry-API-Version",
    "DD-Telemetry-Request-Type",
    "DD-Telemetry-Debug-Enabled",
    "DD-Client-Library-Language",
    "DD-Client-Library-Version",
    "DD-EVP-ORIGIN",
    "DD-EVP-ORIGIN-VERSION",
    NULL,
};

/* The Agent's other routes (exact paths, as the tracers call them). */
const char *const dd_proxy_routes[] = {
    "/info",
    "/v0.3/traces",
    "/v0.4/traces",
    "/v0.5/traces",
    "/v0.7/traces",
    "/v0.3/services",
    "/v0.4/services",
    "/v0.6/stats",
    "/v0.1/pipeline_stats",
    "/v0.7/config",
    "/telemetry/proxy/api/v2/apmtelemetry",
    "/debugger/v1/input",
    "/debugger/v1/diagnostics",
    "/debugger/v2/input",
    "/symdb/v1/input",
    "/tracer_flare/v1",
    "/dogstatsd/v2/proxy",
    NULL,
};

struct proxy_job {
    struct dd_recv *r;
    struct evhttp_request *ev; /* set on the loop */
    char method[8];
    char url[2048];
    char *hdrs[DD_PROXY_HDRS];
    size_t nhdrs;
    uint8_t *body;
    size_t len;
    struct httpcli_resp resp; /* the Agent's answer */
    int rc;
    int wfd; /* the loop's pipe, write end */
};

static void job_free(struct proxy_job *j)
{
    size_t i;

    for (i = 0; i < j->nhdrs; i++) {
        free(j->hdrs[i]);
    }
    free(j->body);
    free(j);
}

/* Loop: the Agent's answer (or 502) to the tracer. */
static void proxy_reply(struct proxy_job *j)
{
    struct httpsrv_req req;

    memset(&req, 0, sizeof(req));
    req.ev = j->ev;
    if (j->resp.status == 0) {
        httpsrv_reply_json_error(&req, 502, "unavailable", "forward_to: %s",
                                 j->resp.err);
    } else {
        httpsrv_reply(&req, (int)j->resp.status,
                      j->resp.content_type[0] ? j->resp.content_type : NULL,
                      j->resp.body.data, j->resp.body.len);
    }
    httpcli_resp_free(&j->resp);
    j->r->proxy_inflight--;
    job_free(j);
}

/* Loop: answers every relayed request whose thread is done. */
static void proxy_collect(struct dd_recv *r)
{
    struct proxy_job *j;

    while (read(r->proxy_pipe[0], &j, sizeof(j)) == (ssize_t)sizeof(j)) {
        proxy_reply(j);
    }
}

static void on_proxy_done(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    proxy_collect(arg);
}

/* Its own thread: one request to the Agent. */
static void *proxy_run(void *arg)
{
    struct proxy_job *j = arg;
    struct httpcli_req req;
    ssize_t w;

    memset(&req, 0, sizeof(req));
    req.method = j->method;
    req.url = j->url;
    req.headers = (const char *const *)j->hdrs;
    req.nheaders = j->nhdrs;
    req.body = j->body;
    req.len = j->len;
    req.timeout_ms = DD_PROXY_TIMEOUT_MS;
    req.max_body = (size_t)4 << 20;
    j->rc = httpcli_post(&req, &j->resp);
    /* A pointer is less than PIPE_BUF: the write is whole. */
    do {
        w = write(j->wfd, &j, sizeof(j));
    } while (w < 0 && errno == EINTR);
    return NULL;
}

/* Loop: the handler's copy of the request, relayed on a thread. */
static void proxy_start(struct httpsrv_req *req, void *arg)
{
    struct proxy_job *j = arg;
    struct dd_recv *r = j->r;
    pthread_attr_t at;
    pthread_t t;
    int rc;

    j->ev = req->ev;
    j->wfd = r->proxy_pipe[1];
    if (r->proxy_inflight >= DD_PROXY_MAX) {
        httpsrv_reply_json_error(req, 503, "unavailable",
                                 "%d requests to forward_to under way",
                                 DD_PROXY_MAX);
        job_free(j);
        return;
    }
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &at, proxy_run, j);
    pthread_attr_destroy(&at);
    if (rc != 0) {
        httpsrv_reply_json_error(req, 503, "unavailable", "no thread");
        job_free(j);
        return;
    }
    r->proxy_inflight++;
}

static int copy_request(struct proxy_job *j, struct httpsrv_req *req)
{
    const char *base = j->r->cfg->forward_to;
    size_t n = strlen(base), i;

    while (n > 0 && base[n - 1] == '/') {
        n--;
    }
    snprintf(j->method, sizeof(j->method), "%s", req->method);
    snprintf(j->url, sizeof(j->url), "%.*s%s%s%s", (int)n, base, req->path,
             req->query[0] ? "?" : "", req->query);
    for (i = 0; proxy_headers[i] != NULL && j->nhdrs < DD_PROXY_HDRS; i++) {
        const char *v = httpsrv_header(req, proxy_headers[i]);
        if (v != NULL &&
            asprintf(&j->hdrs[j->nhdrs], "%s: %s", proxy_headers[i], v) < 0) {
            return PC_ENOMEM;
        }
        j->nhdrs += v != NULL;
    }
    if (req->body_len > 0) {
        if ((j->body = malloc(req->body_len)) == NULL) {
            return PC_ENOMEM;
        }
        memcpy(j->body, req->body, req->body_len);
        j->len = req->body_len;
    }
    return PC_OK;
}

/* Worker thread (the Agent routes' handler). */
void dd_proxy_handler(struct httpsrv_req *req, void *arg)
{
    struct dd_recv *r = arg;
    struct proxy_job *j;

    if (r->cfg->forward_to[0] == '\0') {
        httpsrv_reply_json_error(req, 404, "not_found",
                                 "%s: profcol's datadog receiver takes "
                                 "profiles only (set forward_to to relay the "
                                 "rest to a Datadog Agent)",
                                 req->path);
        return;
    }
    j = calloc(1, sizeof(*j));
    if (j == NULL) {
        httpsrv_reply_json_error(req, 500, "internal", "out of memory");
        return;
    }
    j->r = r;
    if (copy_request(j, req) != PC_OK) {
        job_free(j);
        httpsrv_reply_json_error(req, 500, "internal", "out of memory");
        return;
    }
    httpsrv_then(req, proxy_start, j);
}

int dd_proxy_open(struct dd_recv *r)
{
    r->proxy_pipe[0] = r->proxy_pipe[1] = -1;
    if (pipe2(r->proxy_pipe, O_CLOEXEC) != 0 ||
        fcntl(r->proxy_pipe[0], F_SETFL, O_NONBLOCK) != 0) {
        return PC_EIO;
    }
    r->proxy_ev = event_new(r->host->base, r->proxy_pipe[0],
                            EV_READ | EV_PERSIST, on_proxy_done, r);
    if (r->proxy_ev == NULL || event_add(r->proxy_ev, NULL) != 0) {
        return PC_ENOMEM;
    }
    return PC_OK;
}

void dd_proxy_drain(struct dd_recv *r)
{
    struct pollfd p = {.fd = r->proxy_pipe[0], .events = POLLIN};

    /* Relays under way end within their timeout: wait for them here, on
     * the loop, so every tracer is answered before the server goes. */
    while (r->proxy_inflight > 0 && r->proxy_pipe[0] >= 0) {
        if (poll(&p, 1, DD_PROXY_TIMEOUT_MS + 5000) <= 0) {
            log_warn(r->host->id, "forward_to requests left unanswered",
                     "count=%d", r->proxy_inflight);
            break;
        }
        proxy_collect(r);
    }
}

void dd_proxy_close(struct dd_recv *r)
{
    if (r->proxy_ev != NULL) {
        event_free(r->proxy_ev);
        r->proxy_ev = NULL;
    }
    /* Left open while threads may still write (only after a drain that
     * timed out): their write then fails quietly instead of hitting a
     * reused descriptor. */
    if (r->proxy_inflight == 0) {
        if (r->proxy_pipe[0] >= 0) {
            close(r->proxy_pipe[0]);
        }
        if (r->proxy_pipe[1] >= 0) {
            close(r->proxy_pipe[1]);
        }
        r->proxy_pipe[0] = r->proxy_pipe[1] = -1;
    }
}
