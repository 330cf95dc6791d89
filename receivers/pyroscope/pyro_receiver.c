/*
 * pyro_receiver.c: the `pyroscope` receiver: a Pyroscope-compatible HTTP
 * server (default localhost:4040) taking what Pyroscope's own server takes
 * from SDKs and agents: the legacy POST /ingest (and /pyroscope/ingest) and
 * the Connect push API POST /push.v1.PusherService/Push. This file is the
 * factory, the config table and the helpers both endpoints share.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "component/series.h"
#include "receivers/pyroscope/pyro_recv.h"

/* clang-format off */
static const struct cfg_entry pyro_cfg_table[] = {
    HTTPSRV_CFG_ENTRIES(struct pyro_cfg, http, "localhost:4040"),
    {.key = "require_tenant", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct pyro_cfg, require_tenant),
     .doc = "refuse requests without X-Scope-OrgID (401), as Pyroscope "
            "with multi-tenancy on"},
    {.key = NULL},
};
/* clang-format on */

void pyro_attrs_set(struct pyro_attrs *a, const char *key, const char *value)
{
    uint32_t i;

    for (i = 0; i < a->n; i++) {
        if (strcmp(a->key[i], key) == 0) {
            a->value[i] = value;
            return;
        }
    }
    if (a->n < PYRO_MAX_ATTRS) {
        a->key[a->n] = key;
        a->value[a->n] = value;
        a->n++;
    }
}

const char *pyro_attrs_get(const struct pyro_attrs *a, const char *key)
{
    uint32_t i;

    for (i = 0; i < a->n; i++) {
        if (strcmp(a->key[i], key) == 0) {
            return a->value[i];
        }
    }
    return NULL;
}

int pyro_batch_add_view(struct batch *b, struct shared_pdata *sp,
                        int32_t resource, struct blob *raw,
                        const struct pyro_attrs *attrs, const char *tenant)
{
    struct item *it = batch_add_item(b);
    uint32_t i;
    int rc = PC_OK;

    if (it == NULL) {
        blob_unref(raw);
        return PC_ENOMEM;
    }
    it->format = PAYLOAD_PPROF;
    it->raw = raw;
    it->pd = shared_pdata_ref(sp);
    it->resource = resource;
    pdata_count(sp->pd, resource, &it->nprofiles, &it->nsamples);
    it->received_ns = (uint64_t)clock_real_ns();
    if (tenant != NULL && tenant[0] != '\0') {
        size_t n = strlen(tenant);
        it->tenant.ptr = arena_strndup(&b->arena, tenant, n);
        it->tenant.len = (uint32_t)n;
        if (it->tenant.ptr == NULL) {
            return PC_ENOMEM;
        }
    }
    for (i = 0; i < attrs->n && rc == PC_OK; i++) {
        rc = item_set_attr_str(b, it, attrs->key[i], attrs->value[i],
                               strlen(attrs->value[i]));
    }
    return rc;
}

int pyro_batch_add(struct batch *b, struct pdata *pd, struct blob *raw,
                   const struct pyro_attrs *attrs, const char *tenant)
{
    struct shared_pdata *sp = shared_pdata_new(pd);
    int rc;

    if (sp == NULL) {
        pdata_free(pd);
        blob_unref(raw);
        return PC_ENOMEM;
    }
    rc = pyro_batch_add_view(b, sp, -1, raw, attrs, tenant);
    shared_pdata_unref(sp);
    return rc;
}

const char *pyro_tenant(struct pyro_recv *r, struct httpsrv_req *req,
                        int connect)
{
    const char *t = httpsrv_header(req, "X-Scope-OrgID");

    if (t != NULL && t[0] != '\0') {
        return t;
    }
    if (r->cfg->require_tenant) {
        httpsrv_reply_json_error(req, 401, "unauthenticated",
                                 connect ? "no org id"
                                         : "no org id: X-Scope-OrgID header "
                                           "required");
        return NULL;
    }
    return "";
}

/* A refusal's job: the answer is the refusal, whatever the loop did. */
struct refuse_job {
    struct httpintake_job job; /* first */
    int status;
    const char *code;
    char msg[512];
};

static void refuse_answer(struct httpintake_job *j, struct httpsrv_req *req,
                          int rc, const char *msg)
{
    const struct refuse_job *rj = (const struct refuse_job *)j;

    (void)rc; /* no batch: the loop had nothing to refuse */
    (void)msg;
    httpsrv_reply_json_error(req, rj->status, rj->code, "%s", rj->msg);
}

void pyro_refuse(struct pyro_recv *r, struct httpsrv_req *req,
                 uint32_t profiles, int status, const char *code,
                 const char *msg)
{
    struct refuse_job *j = httpintake_job_new(r->host, sizeof(*j));

    if (j == NULL) {
        httpsrv_reply_json_error(req, 500, "internal", "out of memory");
        return;
    }
    j->job.refused_profiles = profiles;
    j->job.refused_bytes = req->wire_len;
    j->job.answer = refuse_answer;
    j->status = status;
    j->code = code;
    snprintf(j->msg, sizeof(j->msg), "%s", msg);
    httpintake_submit(req, &j->job);
}

static int pyro_create(const void *cfg, struct component_host *host,
                       void **ctx, struct errctx *e)
{
    struct pyro_recv *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    r->cfg = cfg;
    r->host = host;
    *ctx = r;
    return PC_OK;
}

static int pyro_start(void *ctx)
{
    struct pyro_recv *r = ctx;
    int rc = httpintake_start(r->host, &r->cfg->http, &r->srv);

    if (rc != PC_OK) {
        return rc;
    }
    /* /ingest sniffs gzip itself and ignores Content-Encoding, as
     * Pyroscope does; the Connect endpoint honours it. */
    if (httpsrv_route(r->srv, "/ingest", HTTPSRV_RAW_BODY, pyro_ingest_handler,
                      r) != PC_OK ||
        httpsrv_route(r->srv, "/pyroscope/ingest", HTTPSRV_RAW_BODY,
                      pyro_ingest_handler, r) != PC_OK ||
        httpsrv_route(r->srv, "/push.v1.PusherService/Push", 0,
                      pyro_connect_handler, r) != PC_OK) {
        httpsrv_stop(r->srv);
        r->srv = NULL;
        return PC_ENOMEM;
    }
    return PC_OK;
}

static void pyro_stop(void *ctx)
{
    struct pyro_recv *r = ctx;

    if (r->srv == NULL) {
        return;
    }
    /* Requests being decoded reach the pipeline now, and their answers
     * are settled while the server still has the requests. */
    httpsrv_drain(r->srv);
    if (r->host->settle != NULL) {
        r->host->settle(r->host);
    }
    httpsrv_stop(r->srv);
    r->srv = NULL;
}

static void pyro_destroy(void *ctx)
{
    struct pyro_recv *r = ctx;

    if (r != NULL) {
        pyro_stop(r);
        free(r);
    }
}

const struct component_factory pyroscope_receiver_factory = {
    .type = "pyroscope",
    .kind = COMPONENT_RECEIVER,
    .stability = "alpha",
    .description = "Pyroscope-compatible HTTP server: /ingest (pprof, "
                   "folded, lines) and the push.v1 Connect API",
    .config_size = sizeof(struct pyro_cfg),
    .config = pyro_cfg_table,
    .create = pyro_create,
    .destroy = pyro_destroy,
    .ops.receiver = {.start = pyro_start, .stop = pyro_stop},
};
