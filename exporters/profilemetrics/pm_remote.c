/*
 * pm_remote.c: the remote-write thread of the profilemetrics exporter (see
 * pm_remote.h).
 */
#include "exporters/profilemetrics/pm_remote.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "net/httpcli.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

#define PM_REMOTE_BODY_MAX (256u << 20)

struct pm_remote {
    const struct pm_remote_cfg *cfg;
    const struct exphelper_cfg *helper;
    struct pm_store *store;
    char id[128];
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
    struct mcounter *pushes_ok, *pushes_failed;
};

/* Waits up to ms or until stopped; non-zero when stopping. */
static int wait_or_stop(struct pm_remote *r, int64_t ms)
{
    struct timespec until = clock_real_after(ms);
    int stop;

    pthread_mutex_lock(&r->mu);
    while (!r->stopping &&
           pthread_cond_timedwait(&r->cv, &r->mu, &until) != ETIMEDOUT) {
    }
    stop = r->stopping;
    pthread_mutex_unlock(&r->mu);
    return stop;
}

/* The snappy-compressed WriteRequest of every series, now. */
static int encode(struct pm_remote *r, struct buf *body)
{
    struct buf pb;
    int rc;

    buf_init(&pb, PM_REMOTE_BODY_MAX);
    rc = pm_store_write_request(r->store, clock_real_ns() / 1000000, &pb);
    if (rc == PC_OK) {
        rc = pm_snappy_compress(pb.data, pb.len, body);
    }
    buf_free(&pb);
    return rc;
}

static int post(struct pm_remote *r, const struct buf *body,
                struct export_result *res)
{
    static const char *const headers[] = {
        "Content-Type: application/x-protobuf",
        "Content-Encoding: snappy",
        "X-Prometheus-Remote-Write-Version: 0.1.0",
    };
    struct httpcli_req req;
    struct httpcli_resp resp;
    int rc;

    memset(&req, 0, sizeof(req));
    req.url = r->cfg->endpoint;
    req.headers = headers;
    req.nheaders = sizeof(headers) / sizeof(headers[0]);
    req.body = body->data;
    req.len = body->len;
    req.timeout_ms = r->helper->timeout_ms;
    rc = httpcli_post(&req, &resp);
    rc = httpcli_result(rc, &resp, HTTPCLI_RETRY_5XX, res);
    httpcli_resp_free(&resp);
    return rc;
}

/* One push with retries until it succeeds, fails for good, the next push
 * is due (deadline) or the exporter stops. */
static int push(struct pm_remote *r, int64_t deadline_ms, int last)
{
    struct export_result res;
    struct retry_state rs;
    struct buf body;
    int64_t delay;
    int rc;

    buf_init(&body, PM_REMOTE_BODY_MAX);
    rc = encode(r, &body);
    retry_init(&rs, &r->helper->retry, NULL, NULL, NULL, NULL);
    while (rc == PC_OK || rc == PC_ERETRY) {
        memset(&res, 0, sizeof(res));
        rc = post(r, &body, &res);
        if (rc != PC_ERETRY || last ||
            retry_next(&rs, res.retry_after_ms, &delay) != PC_OK ||
            clock_mono_ms() + delay >= deadline_ms || wait_or_stop(r, delay)) {
            break;
        }
    }
    if (rc != PC_OK) {
        mcounter_add(r->pushes_failed, 1);
        log_warn(r->id, "remote write failed", "endpoint=\"%s\" error=\"%s\"",
                 r->cfg->endpoint, res.msg[0] ? res.msg : pc_strerror(rc));
    } else {
        mcounter_add(r->pushes_ok, 1);
    }
    buf_free(&body);
    return rc;
}

static void *run(void *arg)
{
    struct pm_remote *r = arg;
    int64_t next = clock_mono_ms() + r->cfg->interval_ms;

    while (!wait_or_stop(r, next - clock_mono_ms())) {
        push(r, next + r->cfg->interval_ms, 0);
        next += r->cfg->interval_ms;
        if (next < clock_mono_ms()) {
            next = clock_mono_ms() + r->cfg->interval_ms;
        }
    }
    push(r, 0, 1);
    return NULL;
}

int pm_remote_start(const struct pm_remote_cfg *cfg,
                    const struct exphelper_cfg *helper, struct pm_store *store,
                    const char *id, struct mscope *metrics,
                    struct pm_remote **out, struct errctx *e)
{
    static const char help[] = "Remote-write pushes by result.";
    struct pm_remote *r;
    int rc = pm_snappy_load(e);

    if (rc != PC_OK) {
        return rc;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    r->cfg = cfg;
    r->helper = helper;
    r->store = store;
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->pushes_ok = mscope_counter(metrics, "profcol_profilemetrics_pushes",
                                  help, "result", "ok", NULL);
    r->pushes_failed = mscope_counter(metrics, "profcol_profilemetrics_pushes",
                                      help, "result", "failed", NULL);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    if (pthread_create(&r->th, NULL, run, r) != 0) {
        pthread_cond_destroy(&r->cv);
        pthread_mutex_destroy(&r->mu);
        free(r);
        return err_set(e, PC_EIO, "cannot start the remote-write thread");
    }
    *out = r;
    return PC_OK;
}

void pm_remote_stop(struct pm_remote *r)
{
    if (r == NULL) {
        return;
    }
    pthread_mutex_lock(&r->mu);
    r->stopping = 1;
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
    pthread_join(r->th, NULL);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
}
