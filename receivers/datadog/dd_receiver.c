/*
 * dd_receiver.c: the `datadog` receiver: takes the profile uploads of the
 * Datadog tracers (dd-trace for Go, Node, Python, Ruby, .NET, Java) where
 * the Datadog Agent takes them (POST /profiling/v1/input on :8126) and in
 * the intake's shape (POST /api/v2/profile). This file is the factory, the
 * config table and the loop side of a request (struct dd_job).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/log.h"
#include "receivers/datadog/dd_recv.h"

/* clang-format off */
static const struct cfg_entry dd_cfg_table[] = {
    HTTPSRV_CFG_ENTRIES(struct dd_cfg, http, "localhost:8126"),
    {.key = "api_key", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct dd_cfg, api_key),
     .doc = "when set, uploads need a DD-API-KEY header with this value "
            "(403 otherwise)"},
    {.key = "forward_to", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct dd_cfg, forward_to),
     .doc = "Datadog Agent URL (http://host:8126) the other Agent routes "
            "(traces, stats, /info, ...) are relayed to; empty: 404"},
    {.key = NULL},
};
/* clang-format on */

/* Loop: the reply once the pipeline answered about the batch. */
static void job_answer(struct httpintake_job *hj, struct httpsrv_req *req,
                       int rc, const char *msg)
{
    const struct dd_job *j = (const struct dd_job *)hj;

    if (rc == PC_EBUSY) {
        /* The tracers retry 503 (Node, Go); it is what the Agent says when
         * it cannot take the body now. */
        httpintake_reply_busy(req, 503, "unavailable", msg);
    } else if (rc != PC_OK) {
        httpsrv_reply_json_error(req, 400, "invalid_argument", "%s", msg);
    } else if (j->status != 200) {
        httpsrv_reply_json_error(req, j->status, "invalid_argument", "%s",
                                 j->msg);
    } else {
        httpsrv_reply(req, 200, NULL, NULL, 0);
    }
}

struct dd_job *dd_job_new(struct dd_recv *r)
{
    struct dd_job *j = httpintake_job_new(r->host, sizeof(*j));

    if (j != NULL) {
        j->job.answer = job_answer;
        j->status = 200;
    }
    return j;
}

static void dd_validate(const void *cfgp, const struct ynode *node,
                        struct cfg_diag *d)
{
    const struct dd_cfg *c = cfgp;

    if (c->forward_to[0] != '\0' &&
        strncmp(c->forward_to, "http://", 7) != 0 &&
        strncmp(c->forward_to, "https://", 8) != 0) {
        cfg_diag_error(d, ynode_get(node, "forward_to"),
                       "forward_to: want an http:// or https:// URL of a "
                       "Datadog Agent");
    }
}

static int dd_create(const void *cfg, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    struct dd_recv *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    r->cfg = cfg;
    r->host = host;
    *ctx = r;
    return PC_OK;
}

/* The Agent's profile route and the intake's; the Agent's other routes go
 * to dd_proxy.c (relayed to forward_to, or 404, which the tracers take as
 * "no Agent feature here" and carry on profiling). */
static const char *const dd_routes[] = {
    "/profiling/v1/input",
    "/api/v2/profile",
    "/v1/input",
    NULL,
};

static int dd_start(void *ctx)
{
    struct dd_recv *r = ctx;
    int rc, i;

    rc = httpintake_start(r->host, &r->cfg->http, &r->srv);
    if (rc != PC_OK) {
        return rc;
    }
    rc = dd_proxy_open(r);
    for (i = 0; rc == PC_OK && dd_routes[i] != NULL; i++) {
        rc = httpsrv_route(r->srv, dd_routes[i], 0, dd_upload_handler, r);
    }
    for (i = 0; rc == PC_OK && dd_proxy_routes[i] != NULL; i++) {
        rc = httpsrv_route(r->srv, dd_proxy_routes[i],
                           HTTPSRV_ANY_METHOD | HTTPSRV_RAW_BODY,
                           dd_proxy_handler, r);
    }
    if (rc != PC_OK) {
        log_error(r->host->id, "cannot start", "error=\"routes: %s\"",
                  pc_strerror(rc));
        httpsrv_stop(r->srv);
        r->srv = NULL;
        dd_proxy_close(r);
        return rc;
    }
    return PC_OK;
}

static void dd_stop(void *ctx)
{
    struct dd_recv *r = ctx;

    if (r->srv == NULL) {
        return;
    }
    /* Uploads being decoded reach the pipeline now, and their answers are
     * settled while the server still has the requests. */
    httpsrv_drain(r->srv);
    dd_proxy_drain(r);
    if (r->host->settle != NULL) {
        r->host->settle(r->host);
    }
    httpsrv_stop(r->srv);
    r->srv = NULL;
    dd_proxy_close(r);
}

static void dd_destroy(void *ctx)
{
    struct dd_recv *r = ctx;

    if (r != NULL) {
        dd_stop(r);
        free(r);
    }
}

const struct component_factory datadog_receiver_factory = {
    .type = "datadog",
    .kind = COMPONENT_RECEIVER,
    .stability = "alpha",
    .description = "Datadog Agent-compatible profile intake: the dd-trace "
                   "profilers' multipart uploads (v4, v3, v1/v2)",
    .config_size = sizeof(struct dd_cfg),
    .config = dd_cfg_table,
    .validate = dd_validate,
    .create = dd_create,
    .destroy = dd_destroy,
    .ops.receiver = {.start = dd_start, .stop = dd_stop},
};
