/*
 * pyro_connect.c: POST /push.v1.PusherService/Push, the Connect unary call
 * Grafana Alloy's pyroscope.write and newer clients use.
 *
 * Each RawSample of each series becomes one item: labels as series
 * attributes (service_name -> service.name, missing -> unknown_service;
 * __name__ kept, derived from the sample types when absent), the raw pprof
 * forwarded as received. Like Pyroscope, the call is not atomic: the
 * samples that decode are handed to the pipeline even when others are
 * refused; the call then fails with invalid_argument naming the first
 * refused sample and the count, so the client sees the loss.
 *
 * Threads: pyro_connect_handler and the decoding run on an HTTP worker
 * thread; counting the refused samples, the pipeline and the answer
 * (push_answer) on the main loop (struct httpintake_job).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "codec/pprof.h"
#include "telemetry/log.h"
#include "component/series.h"
#include "receivers/pyroscope/pyro_recv.h"

enum codec { CODEC_PROTO, CODEC_JSON, CODEC_NONE };

struct push_state {
    struct pyro_recv *r;
    struct httpsrv_req *req;
    const char *tenant;
    struct batch *b;
    uint32_t accepted, refused, empty;
    uint64_t refused_bytes;
    char first_error[300];
};

static enum codec pick_codec(const char *ct)
{
    size_t n = strcspn(ct, ";");

    while (n > 0 && ct[n - 1] == ' ') {
        n--;
    }
    if ((n == 17 && strncasecmp(ct, "application/proto", n) == 0) ||
        (n == 22 && strncasecmp(ct, "application/x-protobuf", n) == 0)) {
        return CODEC_PROTO;
    }
    if (n == 16 && strncasecmp(ct, "application/json", n) == 0) {
        return CODEC_JSON;
    }
    return CODEC_NONE;
}

static void series_attrs(const struct pyro_push_series *s,
                         struct pyro_attrs *a)
{
    uint32_t i;

    pyro_attrs_set(a, SERIES_SERVICE_ATTR, SERIES_UNKNOWN_SERVICE);
    for (i = 0; i < s->nlabels; i++) {
        const struct pyro_label *l = &s->labels[i];
        if (l->name[0] == '\0') {
            continue;
        }
        pyro_attrs_set(a,
                       strcmp(l->name, "service_name") == 0
                           ? SERIES_SERVICE_ATTR
                           : l->name,
                       l->value);
    }
}

/* The whole request is refused for one bad label: nothing of it is
 * acknowledged that a backend would refuse later. */
static int push_labels_check(const struct pyro_push *p, struct errctx *e)
{
    struct errctx le = {{0}};
    uint32_t i;
    int rc;

    for (i = 0; i < p->nseries; i++) {
        rc = pyro_labels_check(p->series[i].labels, p->series[i].nlabels, &le);
        if (rc != PC_OK) {
            return err_set(e, rc, "series[%u]: %s", i, le.msg);
        }
    }
    return PC_OK;
}

static void note_refused(struct push_state *st, uint32_t si, uint32_t ji,
                         size_t len, const char *why)
{
    if (st->refused++ == 0) {
        snprintf(st->first_error, sizeof(st->first_error),
                 "series[%u].samples[%u]: %s", si, ji, why);
    }
    st->refused_bytes += len;
}

static int one_sample(struct push_state *st, const struct pyro_push_series *s,
                      uint32_t si, uint32_t ji)
{
    const struct pyro_push_sample *smp = &s->samples[ji];
    struct decode_limits lim = {
        (size_t)st->r->cfg->http.max_decompressed_size};
    struct pyro_attrs a = {{0}, {0}, 0};
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    char metric[128];
    int rc;

    rc = pprof_decode(smp->raw, smp->len, &lim, &pd, &e);
    if (rc == PC_OK && (rc = pdata_check_text(pd, &e)) != PC_OK) {
        pdata_free(pd); /* a backend would refuse it later */
    }
    if (rc != PC_OK) {
        note_refused(st, si, ji, smp->len, err_msg(&e, rc));
        return PC_OK;
    }
    if (pdata_sample_count(pd) == 0) {
        pdata_free(pd);
        st->empty++;
        return PC_OK;
    }
    series_attrs(s, &a);
    if (pyro_attrs_get(&a, SERIES_NAME_ATTR) == NULL) {
        pyro_metric_name(pd, NULL, 0, 0, metric, sizeof(metric));
        pyro_attrs_set(&a, SERIES_NAME_ATTR, metric);
    }
    rc = pyro_batch_add(st->b, pd, blob_new(smp->raw, smp->len), &a,
                        st->tenant);
    if (rc == PC_OK) {
        st->accepted++;
    }
    return rc;
}

/* What the reply needs once the pipeline answered (possibly later, when
 * a persistent queue commits: the request is held until then). */
struct push_job {
    struct httpintake_job job; /* first */
    enum codec c;
    uint32_t refused, total;
    char first_error[300];
};

static void push_answer(struct httpintake_job *j, struct httpsrv_req *req,
                        int rc, const char *msg)
{
    const struct push_job *p = (const struct push_job *)j;

    if (rc == PC_EBUSY) {
        httpintake_reply_busy(req, 429, "resource_exhausted", msg);
    } else if (rc != PC_OK) {
        httpsrv_reply_json_error(req, 400, "invalid_argument", "%s", msg);
    } else if (p->refused > 0) {
        httpsrv_reply_json_error(req, 400, "invalid_argument",
                                 "%u of %u profiles refused (the others "
                                 "were accepted); first: %s",
                                 p->refused, p->total, p->first_error);
    } else if (p->c == CODEC_JSON) {
        httpsrv_reply(req, 200, "application/json", "{}", 2);
    } else {
        httpsrv_reply(req, 200, "application/proto", NULL, 0);
    }
}

/* Hands the accepted samples (if any) and the refusal count to the loop. */
static void answer(struct push_state *st, enum codec c, uint32_t total)
{
    struct push_job *p = httpintake_job_new(st->r->host, sizeof(*p));

    if (p == NULL) {
        batch_unref(st->b);
        st->b = NULL;
        httpsrv_reply_json_error(st->req, 500, "internal", "out of memory");
        return;
    }
    p->job.refused_profiles = st->refused;
    p->job.refused_bytes = st->refused_bytes;
    p->job.answer = push_answer;
    p->c = c;
    p->refused = st->refused;
    p->total = total;
    snprintf(p->first_error, sizeof(p->first_error), "%s", st->first_error);
    if (st->accepted > 0) {
        p->job.b = st->b;
    } else {
        batch_unref(st->b);
    }
    st->b = NULL;
    httpintake_submit(st->req, &p->job);
}

static void push_all(struct push_state *st, const struct pyro_push *p,
                     enum codec c)
{
    uint32_t i, j, total = 0;
    int rc = PC_OK;

    for (i = 0; i < p->nseries && rc == PC_OK; i++) {
        for (j = 0; j < p->series[i].nsamples && rc == PC_OK; j++) {
            total++;
            rc = one_sample(st, &p->series[i], i, j);
        }
    }
    if (rc != PC_OK) {
        batch_unref(st->b);
        httpsrv_reply_json_error(st->req, 500, "internal", "out of memory");
        return;
    }
    if (total == 0) {
        batch_unref(st->b);
        httpsrv_reply_json_error(st->req, 400, "invalid_argument",
                                 "no profiles received");
        return;
    }
    answer(st, c, total);
}

/* Worker thread (the route's handler). */
void pyro_connect_handler(struct httpsrv_req *req, void *arg)
{
    struct push_state st;
    struct pyro_push p;
    struct errctx e = {{0}};
    const char *ver = httpsrv_header(req, "Connect-Protocol-Version");
    enum codec c = pick_codec(req->content_type);
    int rc;

    memset(&st, 0, sizeof(st));
    st.r = arg;
    st.req = req;
    if (c == CODEC_NONE) {
        httpsrv_reply_json_error(req, 415, "invalid_argument",
                                 "unsupported Content-Type \"%s\" (use "
                                 "application/proto or application/json)",
                                 req->content_type);
        return;
    }
    if (ver != NULL && strcmp(ver, "1") != 0) {
        httpsrv_reply_json_error(req, 400, "invalid_argument",
                                 "Connect-Protocol-Version must be \"1\", "
                                 "got \"%s\"",
                                 ver);
        return;
    }
    st.tenant = pyro_tenant(st.r, req, 1);
    if (st.tenant == NULL) {
        return;
    }
    rc = c == CODEC_PROTO
             ? pyro_push_decode_proto(req->body, req->body_len, &p, &e)
             : pyro_push_decode_json(req->body, req->body_len, &p, &e);
    if (rc != PC_OK) {
        pyro_refuse(st.r, req, 1, rc == PC_ETOOBIG ? 413 : 400,
                    rc == PC_ETOOBIG ? "resource_exhausted"
                                     : "invalid_argument",
                    err_msg(&e, rc));
        return;
    }
    rc = push_labels_check(&p, &e);
    if (rc != PC_OK) {
        pyro_push_free(&p);
        pyro_refuse(st.r, req, 1, 400, "invalid_argument", err_msg(&e, rc));
        return;
    }
    st.b = batch_new(st.r->host->id);
    if (st.b == NULL) {
        pyro_push_free(&p);
        httpsrv_reply_json_error(req, 500, "internal", "out of memory");
        return;
    }
    push_all(&st, &p, c);
    pyro_push_free(&p);
}
