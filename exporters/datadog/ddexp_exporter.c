/*
 * ddexp_exporter.c: the `datadog` exporter. Sends profiles to Datadog's
 * profiling intake (https://intake.profile.<site>/api/v2/profile) as the
 * tracers' agentless mode does, or to any URL taking the same uploads (a
 * Datadog Agent's /profiling/v1/input, another profcol's datadog
 * receiver): one multipart v4 upload per series and window
 * (ddexp_group.c).
 *
 * Responses: 2xx is success (the intake says 202, the Agent 200); 429,
 * 5xx and network errors are retried with backoff; any other status (400,
 * 403 bad key, 413 too large) is permanent: logged and counted by status.
 * Retries never resend what was accepted: the consumer thread remembers
 * how many uploads of the batch went through, and the retry of the same
 * batch starts after them.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "component/component.h"
#include "exporterhelper/exporter_helper.h"
#include "net/curl_api.h"
#include "net/httpcli.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "exporters/datadog/ddexp.h"

struct ddexp_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *site;
    char *api_key;
    char *endpoint;
    struct cfg_map tags;
    int compression;
    struct httpcli_tls_cfg tls;
    uint64_t max_upload_bytes;
};
EXPHELPER_CFG_FIRST(struct ddexp_cfg, helper);

static const char *const ddexp_comps[] = {"zstd", "gzip", "none", NULL};

/* clang-format off */
static const struct cfg_entry ddexp_table[] = {
    EXPHELPER_CFG_ENTRIES(struct ddexp_cfg, helper),
    {.key = "site", .type = CFG_STRING, .def = "datadoghq.com",
     .offset = offsetof(struct ddexp_cfg, site),
     .doc = "Datadog site: datadoghq.com, us3.datadoghq.com, "
            "us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, "
            "ap2.datadoghq.com, ddog-gov.com"},
    {.key = "api_key", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct ddexp_cfg, api_key),
     .doc = "sent as DD-API-KEY; required for the intake"},
    {.key = "endpoint", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct ddexp_cfg, endpoint),
     .doc = "full URL instead of the site's intake, e.g. an Agent's "
            "http://host:8126/profiling/v1/input"},
    {.key = "tags", .type = CFG_MAP,
     .offset = offsetof(struct ddexp_cfg, tags),
     .doc = "tags added to every upload, replacing tags of the same name"},
    {.key = "compression", .type = CFG_ENUM, .def = "zstd",
     .enum_values = ddexp_comps,
     .offset = offsetof(struct ddexp_cfg, compression),
     .doc = "compression of each attachment: zstd, gzip or none"},
    {.key = "tls", .type = CFG_SECTION, .sub = httpcli_tls_table,
     .offset = offsetof(struct ddexp_cfg, tls),
     .doc = "TLS / mTLS settings for https endpoints"},
    {.key = "max_upload_bytes", .type = CFG_SIZE, .def = "32MiB",
     .min = 1024, .max = INT64_MAX,
     .offset = offsetof(struct ddexp_cfg, max_upload_bytes),
     .doc = "largest upload; a profile that cannot fit is dropped as "
            "permanent"},
    {.key = NULL},
};
/* clang-format on */

static const char *const ddexp_sites[] = {
    "datadoghq.com",     "us3.datadoghq.com",
    "us5.datadoghq.com", "datadoghq.eu",
    "ap1.datadoghq.com", "ap2.datadoghq.com",
    "ddog-gov.com",      NULL,
};

/* Refusals counted by status: the ones the intake documents, and others. */
static const char *const ddexp_statuses[] = {"400", "403", "413", "other",
                                             NULL};

struct ddexp {
    const struct ddexp_cfg *cfg;
    char id[128];
    char url[1024];
    struct mcounter *refused[4];
    _Atomic uint64_t seq; /* makes boundaries unique */
};

/* Where this consumer thread's current batch stands (see the top). */
struct ddexp_progress {
    struct exphelper_batch_id id;
    uint32_t done; /* uploads the server accepted */
};

static _Thread_local struct ddexp_progress ddexp_tl;

/* What is wrong with the settings, or NULL (validate and create). */
static const char *ddexp_problem(const struct ddexp_cfg *c)
{
    int i;

    if (c->endpoint[0] != '\0') {
        return strncmp(c->endpoint, "http://", 7) == 0 ||
                       strncmp(c->endpoint, "https://", 8) == 0
                   ? NULL
                   : "endpoint: want an http:// or https:// URL";
    }
    for (i = 0; ddexp_sites[i] != NULL; i++) {
        if (strcmp(c->site, ddexp_sites[i]) == 0) {
            break;
        }
    }
    if (ddexp_sites[i] == NULL) {
        return "site: not a Datadog site (datadoghq.com, us3.datadoghq.com, "
               "us5.datadoghq.com, datadoghq.eu, ap1.datadoghq.com, "
               "ap2.datadoghq.com, ddog-gov.com)";
    }
    return c->api_key[0] == '\0'
               ? "api_key is required to send to a Datadog site's intake "
                 "(or set endpoint)"
               : NULL;
}

static void ddexp_validate(const void *cfg, const struct ynode *node,
                           struct cfg_diag *d)
{
    const char *why = ddexp_problem(cfg);

    if (why != NULL) {
        cfg_diag_error(d, node, "%s", why);
    }
}

static int ddexp_make_url(struct ddexp *x, struct errctx *e)
{
    const struct ddexp_cfg *c = x->cfg;
    const char *why = ddexp_problem(c);

    if (why != NULL) {
        return err_set(e, PC_ECONFIG, "%s", why);
    }
    if (c->endpoint[0] != '\0') {
        snprintf(x->url, sizeof(x->url), "%s", c->endpoint);
    } else {
        snprintf(x->url, sizeof(x->url),
                 "https://intake.profile.%s/api/v2/profile", c->site);
    }
    return PC_OK;
}

static int ddexp_create(const void *cfgp, struct component_host *host,
                        void **ctx, struct errctx *e)
{
    struct ddexp *x = calloc(1, sizeof(*x));
    int rc, i;

    if (x == NULL) {
        return PC_ENOMEM;
    }
    x->cfg = cfgp;
    snprintf(x->id, sizeof(x->id), "%s", host->id);
    rc = ddexp_make_url(x, e);
    if (rc == PC_OK) {
        rc = httpcli_tls_check(&x->cfg->tls, e);
    }
    if (rc == PC_OK) {
        rc = curl_api_load(e); /* libcurl is loaded by its first user */
    }
    if (rc != PC_OK) {
        free(x);
        return rc;
    }
    for (i = 0; ddexp_statuses[i] != NULL; i++) {
        x->refused[i] = mscope_counter(
            host->metrics, "profcol_exporter_refused_uploads_total",
            "Uploads the Datadog intake refused for good, by status.",
            "status", ddexp_statuses[i], NULL);
    }
    *ctx = x;
    return PC_OK;
}

static void ddexp_destroy(void *ctx)
{
    free(ctx);
}

static void count_refused(struct ddexp *x, long status)
{
    int i = status == 400 ? 0 : status == 403 ? 1 : status == 413 ? 2 : 3;

    if (x->refused[i] != NULL) {
        mcounter_add(x->refused[i], 1);
    }
}

static int send_upload(struct ddexp *x, const struct ddexp_upload *u,
                       int64_t timeout_ms, struct export_result *r)
{
    char boundary[64], ctype[128], key[300], origin[64];
    const char *hdrs[4];
    struct httpcli_req req;
    struct httpcli_resp resp;
    struct buf tags, body;
    size_t nh = 0;
    int rc;

    snprintf(boundary, sizeof(boundary), "profcol%016llx%08llx",
             (unsigned long long)clock_real_ns(),
             (unsigned long long)atomic_fetch_add(&x->seq, 1));
    snprintf(ctype, sizeof(ctype),
             "Content-Type: multipart/form-data; boundary=%s", boundary);
    hdrs[nh++] = ctype;
    snprintf(origin, sizeof(origin), "DD-EVP-ORIGIN-VERSION: %s",
             PROFCOL_VERSION);
    hdrs[nh++] = "DD-EVP-ORIGIN: profcol";
    hdrs[nh++] = origin;
    if (x->cfg->api_key[0] != '\0') {
        snprintf(key, sizeof(key), "DD-API-KEY: %s", x->cfg->api_key);
        hdrs[nh++] = key;
    }
    buf_init(&tags, 65536);
    buf_init(&body, (size_t)x->cfg->max_upload_bytes);
    rc = ddexp_tags(u->item, u->family, &x->cfg->tags, &tags);
    if (rc == PC_OK) {
        rc = buf_append(&tags, "", 1); /* NUL-terminated */
    }
    if (rc == PC_OK) {
        rc = ddexp_body(u, (const char *)tags.data, boundary, &body);
    }
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "upload of %u profiles: %s", u->natt,
                 rc == PC_ETOOBIG ? "over max_upload_bytes" : pc_strerror(rc));
        buf_free(&tags);
        buf_free(&body);
        return rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    }
    memset(&req, 0, sizeof(req));
    req.url = x->url;
    req.headers = hdrs;
    req.nheaders = nh;
    req.body = body.data;
    req.len = body.len;
    req.timeout_ms = timeout_ms;
    req.tls = &x->cfg->tls;
    rc = httpcli_post(&req, &resp);
    rc = httpcli_result(rc, &resp, HTTPCLI_RETRY_5XX, r);
    if (rc == PC_EPERMANENT) {
        count_refused(x, resp.status);
        log_warn(x->id, "intake refused an upload, dropped",
                 "status=%ld attachments=%u reason=\"%s\"", resp.status,
                 u->natt, r->msg);
    }
    httpcli_resp_free(&resp);
    buf_free(&tags);
    buf_free(&body);
    return rc;
}

static int ddexp_export(void *ctx, struct batch *b, int64_t timeout_ms,
                        struct export_result *r)
{
    struct ddexp *x = ctx;
    struct ddexp_uploads us = {NULL, 0, 0};
    struct errctx e = {{0}};
    uint32_t bad = 0, i;
    int rc, permanent = 0;

    if (!exphelper_same_batch(&ddexp_tl.id, x, b)) {
        ddexp_tl.done = 0;
    }
    rc = ddexp_group(b, x->cfg->compression, (size_t)x->cfg->max_upload_bytes,
                     &us, &bad, &e);
    if (rc != PC_OK) {
        ddexp_uploads_free(&us);
        snprintf(r->msg, sizeof(r->msg), "%s", err_msg(&e, rc));
        return PC_ERETRY;
    }
    if (bad > 0) {
        r->rejected_profiles += bad;
        log_warn(x->id, "profiles not encodable, dropped",
                 "count=%u error=\"%s\"", bad, err_msg(&e, PC_ECORRUPT));
    }
    for (i = ddexp_tl.done; i < us.n; i++) {
        rc = send_upload(x, &us.u[i], timeout_ms, r);
        if (rc == PC_ERETRY) {
            break; /* the retry resumes at upload i */
        }
        if (rc == PC_EPERMANENT) {
            r->rejected_profiles += us.u[i].natt;
            permanent++;
        }
        ddexp_tl.done = i + 1;
    }
    /* All refused for good: the helper drops the batch with the reason;
     * some refused: the others were delivered, the refused counted. */
    if (rc != PC_ERETRY) {
        rc = permanent > 0 && (uint32_t)permanent == us.n ? PC_EPERMANENT
                                                          : PC_OK;
    }
    ddexp_uploads_free(&us);
    return rc;
}

const struct component_factory datadog_exporter_factory = {
    .type = "datadog",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "sends profiles to Datadog's profiling intake (multipart "
                   "v4 uploads, as the tracers' agentless mode)",
    .config_size = sizeof(struct ddexp_cfg),
    .config = ddexp_table,
    .validate = ddexp_validate,
    .create = ddexp_create,
    .destroy = ddexp_destroy,
    .ops.exporter = {.export = ddexp_export},
};
