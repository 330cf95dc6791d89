/*
 * httpintake.c: the HTTP receivers' server start and loop hand-off
 * (httpintake.h).
 */
#include "net/httpintake.h"

#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "net/peer.h"
#include "telemetry/log.h"

void *httpintake_job_new(struct component_host *host, size_t size)
{
    struct httpintake_job *j;

    PC_ASSERT(size >= sizeof(*j));
    j = calloc(1, size);
    if (j != NULL) {
        j->host = host;
    }
    return j;
}

/* Loop: the pipeline answered about j's batch. */
static void job_consumed(void *arg, int rc, const char *msg)
{
    struct httpintake_job *j = arg;
    struct httpsrv_req req;

    /* A deferred reply: a request holding only the evhttp request. */
    memset(&req, 0, sizeof(req));
    req.ev = j->ev;
    j->answer(j, &req, rc, msg != NULL ? msg : pc_strerror(rc));
    free(j);
}

/* Loop: carries out what the worker decided. */
static void job_run(struct httpsrv_req *req, void *arg)
{
    struct httpintake_job *j = arg;
    struct component_host *host = j->host;
    struct errctx e = {{0}};
    int rc = PC_OK;

    if (j->refused_profiles > 0 || j->refused_bytes > 0) {
        host->refused(host, j->refused_profiles, j->refused_bytes);
    }
    j->ev = req->ev;
    if (j->b != NULL) {
        /* What k8sattributes' `connection` source reads. */
        net_peer_addr(req->ev, j->b->peer, sizeof(j->b->peer));
        /* The answer waits for the batch to be durable. */
        rc = host->consume_async(host, j->b, &e, job_consumed, j);
        j->b = NULL;
        if (rc == PC_EINPROGRESS) {
            return;
        }
    }
    j->answer(j, req, rc, err_msg(&e, rc));
    free(j);
}

void httpintake_submit(struct httpsrv_req *req, struct httpintake_job *j)
{
    PC_ASSERT(j->host != NULL && j->answer != NULL);
    if (j->b != NULL && batch_bytes(j->b) == 0) {
        /* Converted formats keep no original bytes: the body counts. */
        j->b->in_bytes = req->wire_len;
    }
    httpsrv_then(req, job_run, j);
}

void httpintake_reply_busy(struct httpsrv_req *req, int status,
                           const char *code, const char *msg)
{
    httpsrv_reply_json_error(req, status, code,
                             "profcol is over its limits, retry later: %s",
                             msg);
}

int httpintake_start(struct component_host *host,
                     const struct httpsrv_cfg *cfg, struct httpsrv **out)
{
    struct errctx e = {{0}};
    int rc = httpsrv_start(host->base, cfg, host->id, out, &e);

    if (rc != PC_OK) {
        log_error(host->id, "cannot start", "error=\"%s\"", err_msg(&e, rc));
        return rc;
    }
    httpsrv_metrics(*out, host->metrics);
    return PC_OK;
}
