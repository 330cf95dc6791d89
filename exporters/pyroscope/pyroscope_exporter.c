/*
 * pyroscope_exporter.c: the `pyroscope` exporter. Sends profiles to Grafana
 * Pyroscope (or anything speaking its ingest API):
 *
 *   api: push    (default) Connect unary POST /push.v1.PusherService/Push,
 *                application/proto, gzip-compressed PushRequest holding many
 *                series (one per profile), split at max_request_bytes;
 *   api: ingest  POST /ingest?name=<service>{labels}&from=&until=... with
 *                the pprof as the body, one request per profile.
 *
 * A pprof that arrived as bytes and was not changed is forwarded as those
 * bytes; only a light read (pyroscope_pprof.c) gets the name, delta flag
 * and size. So is the OTLP original_payload (format "pprof") of a model
 * profile, when that light read accepts it and it has the profile's
 * sample count: a pprof relayed through OTLP arrives unchanged (a processor
 * that changes a payload clears it, batch_item_payload_mut). Everything
 * else is encoded from the model, one pprof per model profile. Items are grouped by tenant (X-Scope-OrgID) per request.
 *
 * Pyroscope rejects a whole request when one of its profiles breaks a
 * per-tenant limit, so profiles over the configured limits are not sent:
 * they are logged, counted and reported to the helper as rejected, and the
 * rest of the batch goes on.
 *
 * Retries never resend what was accepted: when a batch needs several
 * requests, the consumer thread remembers how many series of that batch
 * the server took, and the retry of that same batch starts after them.
 */
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exporters/pyroscope/pyroscope_labels.h"
#include "codec/compress.h"
#include "codec/pb.h"
#include "codec/pprof.h"
#include "core/hex.h"
#include "component/component.h"
#include "model/pdata_iter.h"
#include "net/curl_api.h"
#include "exporterhelper/exporter_helper.h"
#include "net/httpcli.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "component/series.h"

enum pyro_api { PYRO_API_PUSH, PYRO_API_INGEST };
enum pyro_compression { PYRO_COMP_GZIP, PYRO_COMP_NONE };

struct pyro_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *endpoint;
    int api;
    int compression;
    struct cfg_compression_params compression_params;
    char *tenant_id;
    struct httpcli_basic_auth_cfg basic_auth;
    char *bearer_token;
    struct cfg_map headers;
    struct cfg_map external_labels;
    struct httpcli_tls_cfg tls;
    uint64_t max_request_bytes;
    uint64_t max_profile_bytes;
    int64_t max_samples;
    int64_t max_labels;
    int64_t max_label_value_length;
    int64_t gzip_level;
};
EXPHELPER_CFG_FIRST(struct pyro_cfg, helper);

static const char *const pyro_apis[] = {"push", "ingest", NULL};
static const char *const pyro_comps[] = {"gzip", "none", NULL};

/* clang-format off */
static const struct cfg_entry pyro_table[] = {
    EXPHELPER_CFG_ENTRIES(struct pyro_cfg, helper),
    {.key = "endpoint", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct pyro_cfg, endpoint),
     .doc = "base URL of the Pyroscope server, e.g. http://localhost:4040"},
    {.key = "api", .type = CFG_ENUM, .def = "push", .enum_values = pyro_apis,
     .offset = offsetof(struct pyro_cfg, api),
     .doc = "push (Connect PusherService/Push, batched) or ingest (/ingest per profile)"},
    {.key = "compression", .type = CFG_ENUM, .def = "gzip",
     .enum_values = pyro_comps, .offset = offsetof(struct pyro_cfg, compression),
     .doc = "push request compression: gzip or none"},
    {.key = "compression_params", .type = CFG_SECTION,
     .sub = cfg_compression_params_table,
     .offset = offsetof(struct pyro_cfg, compression_params),
     .doc = "level: gzip level (libdeflate) of push requests, 1 (fastest, default) .. 12"},
    {.key = "tenant_id", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct pyro_cfg, tenant_id),
     .doc = "X-Scope-OrgID for everything (default: the tenant each profile came with)"},
    {.key = "basic_auth", .type = CFG_SECTION, .sub = httpcli_basic_auth_table,
     .offset = offsetof(struct pyro_cfg, basic_auth),
     .doc = "HTTP basic auth (Grafana Cloud: user id and token)"},
    {.key = "bearer_token", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct pyro_cfg, bearer_token),
     .doc = "sent as Authorization: Bearer <token>"},
    {.key = "headers", .type = CFG_MAP,
     .offset = offsetof(struct pyro_cfg, headers),
     .doc = "extra HTTP headers of every request"},
    {.key = "external_labels", .type = CFG_MAP,
     .offset = offsetof(struct pyro_cfg, external_labels),
     .doc = "labels added to every series, replacing labels of the same name"},
    {.key = "tls", .type = CFG_SECTION, .sub = httpcli_tls_table,
     .offset = offsetof(struct pyro_cfg, tls),
     .doc = "TLS / mTLS settings for https endpoints"},
    {.key = "max_request_bytes", .type = CFG_SIZE, .def = "4MiB",
     .min = 1024, .max = INT64_MAX,
     .offset = offsetof(struct pyro_cfg, max_request_bytes),
     .doc = "push: series are split into requests of about this size"},
    {.key = "max_profile_bytes", .type = CFG_SIZE, .def = "4MiB",
     .max = INT64_MAX, .offset = offsetof(struct pyro_cfg, max_profile_bytes),
     .doc = "uncompressed pprof size above which a profile is not sent (0 = no check)"},
    {.key = "max_samples", .type = CFG_INT, .def = "16000", .min = 0,
     .max = INT64_MAX, .offset = offsetof(struct pyro_cfg, max_samples),
     .doc = "samples per profile above which it is not sent (0 = no check)"},
    {.key = "max_labels", .type = CFG_INT, .def = "30", .min = 0,
     .max = INT64_MAX, .offset = offsetof(struct pyro_cfg, max_labels),
     .doc = "labels per series above which it is not sent (0 = no check)"},
    {.key = "max_label_value_length", .type = CFG_INT, .def = "2048",
     .min = 0, .max = INT64_MAX,
     .offset = offsetof(struct pyro_cfg, max_label_value_length),
     .doc = "label value length above which a series is not sent (0 = no check)"},
    {.key = "gzip_level", .type = CFG_INT, .def = "6", .min = 1, .max = 12,
     .offset = offsetof(struct pyro_cfg, gzip_level),
     .doc = "gzip level of pprofs encoded from the model"},
    {.key = NULL},
};
/* clang-format on */

struct pyro_exporter {
    const struct pyro_cfg *cfg;
    char id[128];
    char url[1024]; /* push URL or ingest base */
    char **headers; /* "Name: value" from cfg->headers */
    uint32_t nheaders;
    struct mcounter *oversized;
    _Atomic uint64_t oversized_total;
};

/* Where the current batch of this consumer thread stands (see
 * exphelper_same_batch): enough to resume a retry without duplicates. */
struct pyro_progress {
    struct exphelper_batch_id id;
    uint64_t done;     /* series the server accepted */
    uint64_t seen;     /* series checked against the limits */
    uint32_t rejected; /* profiles not sent (limits, 4xx) */
};

static _Thread_local struct pyro_progress pyro_tl;

/* One export attempt. */
struct pyro_run {
    struct pyro_exporter *px;
    struct batch *b;
    struct export_result *r;
    int64_t timeout_ms;
    const char *tenant;             /* of the current group */
    uint64_t seq;                   /* series index in the batch */
    struct buf req;                 /* push: PushRequest being built */
    uint64_t req_first, req_series; /* seq of its first series, count */
    uint32_t perm_failed;           /* profiles refused by the server */
    uint32_t sent;                  /* series accepted in this attempt */
    struct pyro_labels labels;
    struct buf series; /* one RawProfileSeries */
};

/* ---- lifecycle ----------------------------------------------------------- */

static void free_headers(struct pyro_exporter *px)
{
    uint32_t i;

    for (i = 0; i < px->nheaders; i++) {
        free(px->headers[i]);
    }
    free(px->headers);
}

static int make_headers(struct pyro_exporter *px, const struct cfg_map *m)
{
    uint32_t i;

    px->headers = calloc(m->n + 1, sizeof(*px->headers));
    if (px->headers == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < m->n; i++) {
        if (asprintf(&px->headers[i], "%s: %s", m->keys[i], m->values[i]) <
            0) {
            return PC_ENOMEM;
        }
        px->nheaders++;
    }
    return PC_OK;
}

static int endpoint_ok(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

static int px_create(const void *cfgp, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    const struct pyro_cfg *cfg = cfgp;
    struct pyro_exporter *px;
    size_t n = strlen(cfg->endpoint);

    if (!endpoint_ok(cfg->endpoint) || n + 40 > sizeof(px->url)) {
        return err_set(e, PC_ECONFIG,
                       "endpoint %s: want an http:// or https:// base URL",
                       cfg->endpoint);
    }
    if (httpcli_tls_check(&cfg->tls, e) != PC_OK) {
        return PC_ECONFIG;
    }
    if (curl_api_load(e) != PC_OK) { /* libcurl is loaded by its first user */
        return PC_EUNSUPPORTED;
    }
    px = calloc(1, sizeof(*px));
    if (px == NULL || make_headers(px, &cfg->headers) != PC_OK) {
        if (px != NULL) {
            free_headers(px);
        }
        free(px);
        return PC_ENOMEM;
    }
    px->cfg = cfg;
    snprintf(px->id, sizeof(px->id), "%s", host->id);
    while (n > 0 && cfg->endpoint[n - 1] == '/') {
        n--;
    }
    snprintf(px->url, sizeof(px->url), "%.*s%s", (int)n, cfg->endpoint,
             cfg->api == PYRO_API_PUSH ? "/push.v1.PusherService/Push"
                                       : "/ingest");
    px->oversized = mscope_counter(
        host->metrics, "profcol_exporter_pyroscope_oversized_profiles_total",
        "Profiles not sent because they break Pyroscope's limits.", NULL);
    *ctx = px;
    return PC_OK;
}

static void px_destroy(void *ctx)
{
    struct pyro_exporter *px = ctx;

    if (px != NULL) {
        free_headers(px);
        free(px);
    }
}

/* ---- HTTP ---------------------------------------------------------------- */

static int post(struct pyro_run *run, const char *url, const char *ctype,
                int gz, const uint8_t *body, size_t len)
{
    const struct pyro_cfg *cfg = run->px->cfg;
    const char *hdrs[72];
    char tenant[200], ct[96];
    struct httpcli_req req;
    struct httpcli_resp resp;
    size_t nh = 0, i;
    int rc;

    snprintf(ct, sizeof(ct), "Content-Type: %s", ctype);
    hdrs[nh++] = ct;
    if (cfg->api == PYRO_API_PUSH) {
        hdrs[nh++] = "Connect-Protocol-Version: 1";
    }
    if (gz) {
        hdrs[nh++] = "Content-Encoding: gzip";
    }
    if (run->tenant != NULL && run->tenant[0] != '\0') {
        snprintf(tenant, sizeof(tenant), "X-Scope-OrgID: %s", run->tenant);
        hdrs[nh++] = tenant;
    }
    for (i = 0; i < run->px->nheaders && nh < 72; i++) {
        hdrs[nh++] = run->px->headers[i];
    }
    memset(&req, 0, sizeof(req));
    req.url = url;
    req.headers = hdrs;
    req.nheaders = nh;
    req.body = body;
    req.len = len;
    req.timeout_ms = run->timeout_ms;
    req.tls = &cfg->tls;
    req.auth = &cfg->basic_auth;
    req.bearer_token = cfg->bearer_token;
    rc = httpcli_post(&req, &resp);
    rc = httpcli_result(rc, &resp,
                        HTTPCLI_RETRY_5XX | HTTPCLI_RETRY_408 |
                            HTTPCLI_RETRY_CONNECT_CODES,
                        run->r);
    httpcli_resp_free(&resp);
    return rc;
}

/* What a request's outcome does to the batch: accepted series are
 * remembered; a permanent refusal loses only that request's profiles. */
static int settle(struct pyro_run *run, int rc, uint64_t first, uint64_t count)
{
    if (rc == PC_ERETRY) {
        return rc;
    }
    if (rc != PC_OK) {
        log_warn(run->px->id, "pyroscope refused profiles, dropped",
                 "profiles=%" PRIu64 " tenant=\"%s\" reason=\"%s\"", count,
                 run->tenant ? run->tenant : "", run->r->msg);
        run->perm_failed += (uint32_t)count;
        pyro_tl.rejected += (uint32_t)count;
    } else {
        run->sent += (uint32_t)count;
    }
    pyro_tl.done = first + count;
    return PC_OK;
}

static int flush_push(struct pyro_run *run)
{
    struct buf gz;
    int rc;

    if (run->req_series == 0) {
        return PC_OK;
    }
    if (run->px->cfg->compression == PYRO_COMP_GZIP) {
        buf_init(&gz, 0);
        /* The pprofs inside are gzipped already: the default level 1 is
         * enough for the labels and framing around them. */
        rc = gz_compress(run->req.data, run->req.len, &gz,
                         (int)run->px->cfg->compression_params.level);
        if (rc == PC_OK) {
            rc = post(run, run->px->url, "application/proto", 1, gz.data,
                      gz.len);
        } else {
            snprintf(run->r->msg, sizeof(run->r->msg), "gzip: %s",
                     pc_strerror(rc));
            rc = PC_ERETRY;
        }
        buf_free(&gz);
    } else {
        rc = post(run, run->px->url, "application/proto", 0, run->req.data,
                  run->req.len);
    }
    rc = settle(run, rc, run->req_first, run->req_series);
    buf_reset(&run->req);
    run->req_series = 0;
    return rc;
}

/* ---- push: one series ---------------------------------------------------- */

static int encode_series(struct pyro_run *run, const uint8_t *pprof,
                         size_t len)
{
    const struct pyro_labels *l = &run->labels;
    struct buf *s = &run->series;
    size_t mark, smark;
    uint32_t i;
    int rc = PC_OK;

    buf_reset(s);
    for (i = 0; i < l->n && rc == PC_OK; i++) {
        const char *v = pyro_label_value(l, i);
        rc = pb_msg_begin(s, 1, &mark);
        if (rc == PC_OK) {
            rc = pb_put_bytes(s, 1, pyro_label_name(l, i),
                              strlen(pyro_label_name(l, i)));
        }
        if (rc == PC_OK) {
            rc = pb_put_bytes(s, 2, v, l->v[i].value_len);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(s, mark);
        }
    }
    if (rc == PC_OK) {
        rc = pb_msg_begin(s, 2, &smark);
    }
    if (rc == PC_OK) {
        rc = pb_put_bytes(s, 1, pprof, len);
    }
    return rc == PC_OK ? pb_msg_end(s, smark) : rc;
}

static int add_push(struct pyro_run *run, const uint8_t *pprof, size_t len)
{
    int rc = encode_series(run, pprof, len);

    if (rc != PC_OK) {
        snprintf(run->r->msg, sizeof(run->r->msg), "encode: %s",
                 pc_strerror(rc));
        return PC_ERETRY;
    }
    if (run->req_series > 0 && run->req.len + run->series.len + 16 >
                                   run->px->cfg->max_request_bytes) {
        rc = flush_push(run);
        if (rc != PC_OK) {
            return rc;
        }
    }
    if (run->req_series == 0) {
        run->req_first = run->seq;
    }
    rc = pb_put_bytes(&run->req, 1, run->series.data, run->series.len);
    if (rc != PC_OK) {
        return PC_ERETRY;
    }
    run->req_series++;
    return PC_OK;
}

/* ---- ingest: one request per profile ------------------------------------- */

/* Characters the /ingest name syntax has no escape for become '_'. */
static int name_text(struct buf *o, const char *s, int app)
{
    char tmp[4096];
    size_t i, n = strlen(s);

    n = n < sizeof(tmp) ? n : sizeof(tmp) - 1;
    for (i = 0; i < n; i++) {
        char c = s[i];
        int ok = app ? ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                        (c >= '0' && c <= '9') || c == '_' || c == '.' ||
                        c == '-' || c == '/')
                     : (c != ',' && c != '}' && c != '{' && c != '=');
        tmp[i] = ok ? c : '_';
    }
    return pct_encode(o, tmp, n);
}

/* Labels the server sets itself on /ingest, not sent in name{}. */
static int ingest_skip(const char *name)
{
    return strcmp(name, "__name__") == 0 || strcmp(name, "__delta__") == 0 ||
           strcmp(name, "service_name") == 0 ||
           strcmp(name, "pyroscope_spy") == 0;
}

static int ingest_url(struct pyro_run *run, const struct pyro_peek *pk,
                      struct buf *u)
{
    const struct pyro_labels *l = &run->labels;
    const char *spy = pyro_labels_get(l, "pyroscope_spy");
    int64_t from = pk->time_nanos / 1000000000;
    int64_t until = from + (pk->duration_nanos + 999999999) / 1000000000;
    uint32_t i, k = 0;
    int rc = buf_printf(u, "%s?name=", run->px->url);

    if (rc == PC_OK) {
        rc = name_text(u, pyro_labels_get(l, "service_name"), 1);
    }
    for (i = 0; i < l->n && rc == PC_OK; i++) {
        if (ingest_skip(pyro_label_name(l, i))) {
            continue;
        }
        rc = buf_append_str(u, k++ == 0 ? "%7B" : "%2C");
        if (rc == PC_OK) {
            rc = name_text(u, pyro_label_name(l, i), 1);
        }
        if (rc == PC_OK) {
            rc = buf_append_str(u, "%3D");
        }
        if (rc == PC_OK) {
            rc = name_text(u, pyro_label_value(l, i), 0);
        }
    }
    if (rc == PC_OK && k > 0) {
        rc = buf_append_str(u, "%7D");
    }
    if (rc == PC_OK && pk->time_nanos > 0) {
        rc = buf_printf(u, "&from=%" PRId64 "&until=%" PRId64, from,
                        until > from ? until : from);
    }
    if (rc == PC_OK) {
        rc = buf_append_str(u, "&format=pprof&spyName=");
    }
    if (rc == PC_OK) {
        const char *name = spy != NULL ? spy : "profcol";
        rc = pct_encode(u, name, strlen(name));
    }
    if (rc == PC_OK && pk->period > 0 && strcmp(pk->period_type, "cpu") == 0) {
        rc = buf_printf(u, "&sampleRate=%" PRId64, 1000000000 / pk->period);
    }
    return rc == PC_OK ? buf_putc(u, '\0') : rc;
}

static int send_ingest(struct pyro_run *run, const struct pyro_peek *pk,
                       const uint8_t *pprof, size_t len)
{
    struct buf u;
    int rc;

    buf_init(&u, 65536);
    rc = ingest_url(run, pk, &u);
    if (rc != PC_OK) {
        buf_free(&u);
        snprintf(run->r->msg, sizeof(run->r->msg), "ingest URL too long");
        return settle(run, PC_EPERMANENT, run->seq, 1);
    }
    rc = post(run, (const char *)u.data, "application/octet-stream", 0, pprof,
              len);
    buf_free(&u);
    return settle(run, rc, run->seq, 1);
}

/* ---- one profile ---------------------------------------------------------- */

/* Why a profile breaks a limit; NULL when it does not. */
static const char *over_limit(const struct pyro_run *run,
                              const struct pyro_peek *pk, char *why,
                              size_t whylen)
{
    const struct pyro_cfg *c = run->px->cfg;
    const struct pyro_labels *l = &run->labels;
    uint32_t i;

    if (c->max_profile_bytes && pk->plain_len > c->max_profile_bytes) {
        snprintf(why, whylen,
                 "uncompressed size over max_profile_bytes %" PRIu64,
                 c->max_profile_bytes);
        return why;
    }
    if (c->max_samples && pk->nsamples > (uint64_t)c->max_samples) {
        snprintf(why, whylen, "%" PRIu64 " samples, over max_samples %" PRId64,
                 pk->nsamples, c->max_samples);
        return why;
    }
    if (c->max_labels && l->n > (uint64_t)c->max_labels) {
        snprintf(why, whylen, "%u labels, over max_labels %" PRId64, l->n,
                 c->max_labels);
        return why;
    }
    for (i = 0; c->max_label_value_length && i < l->n; i++) {
        if (l->v[i].value_len > (uint64_t)c->max_label_value_length) {
            snprintf(why, whylen,
                     "label %s longer than max_label_value_length",
                     pyro_label_name(l, i));
            return why;
        }
    }
    return NULL;
}

static void count_oversized(struct pyro_run *run, const char *why)
{
    struct pyro_exporter *px = run->px;

    pyro_tl.rejected++;
    atomic_fetch_add(&px->oversized_total, 1);
    if (px->oversized != NULL) {
        mcounter_add(px->oversized, 1);
    }
    log_warn(px->id, "profile over Pyroscope limits, not sent",
             "service_name=\"%s\" name=\"%s\" reason=\"%s\"",
             pyro_labels_get(&run->labels, "service_name"),
             pyro_labels_get(&run->labels, "__name__"), why);
}

/* One series: labels built, limits checked, then sent or queued. */
static int one_profile(struct pyro_run *run, const struct item *it,
                       const struct pyro_peek *pk, const uint8_t *pprof,
                       size_t len)
{
    char why[160];
    int rc;

    rc = pyro_labels_build(it, pk->name, pk->duration_nanos != 0,
                           &run->px->cfg->external_labels, &run->labels);
    if (rc != PC_OK) {
        snprintf(run->r->msg, sizeof(run->r->msg), "labels: out of memory");
        return PC_ERETRY;
    }
    if (over_limit(run, pk, why, sizeof(why)) != NULL) {
        /* Counted once per batch even when the batch is retried. */
        if (run->seq >= pyro_tl.seen) {
            count_oversized(run, why);
        }
        return PC_OK;
    }
    if (run->px->cfg->api == PYRO_API_INGEST) {
        return send_ingest(run, pk, pprof, len);
    }
    return add_push(run, pprof, len);
}

/*
 * Whether p's OTLP original pprof can go instead of an encoding of p: the
 * light read accepts it, and it names the same profile type with the same
 * number of samples (a cheap guard against a payload some other hop left
 * stale). pk is then filled from those bytes, as for a received pprof.
 */
static int original_usable(const struct pyro_run *run, const struct pdata *pd,
                           const struct profile *p, struct pstr o,
                           struct pyro_peek *pk)
{
    const struct pyro_cfg *c = run->px->cfg;
    size_t max = c->max_profile_bytes ? c->max_profile_bytes
                                      : LIMIT_DECOMPRESSED_DEFAULT;
    char name[sizeof(pk->name)];

    if (o.len == 0 ||
        pyro_pprof_peek((const uint8_t *)o.ptr, o.len, max, pk) != PC_OK) {
        return 0;
    }
    series_profile_name(&pd->dict, p, name, sizeof(name));
    return pk->nsamples == p->nsamples && strcmp(pk->name, name) == 0;
}

/* A model profile: its original pprof when usable, else encoded to pprof
 * (plain first, for the size limit). */
static int model_profile(struct pyro_run *run, const struct item *it,
                         const struct pdata *pd, const struct profile *p)
{
    struct pyro_peek pk;
    struct buf plain, gz;
    struct errctx e = {{0}};
    struct pstr orig = profile_original_pprof(p);
    int rc;

    if (original_usable(run, pd, p, orig, &pk)) {
        return one_profile(run, it, &pk, (const uint8_t *)orig.ptr, orig.len);
    }
    memset(&pk, 0, sizeof(pk));
    series_profile_name(&pd->dict, p, pk.name, sizeof(pk.name));
    pk.nsamples = p->nsamples;
    pk.time_nanos = p->time_nanos;
    pk.duration_nanos = p->duration_nanos;
    pk.period = p->period;
    snprintf(pk.period_type, sizeof(pk.period_type), "%.*s",
             (int)dict_str(&pd->dict, p->period_type.type).len,
             dict_str(&pd->dict, p->period_type.type).ptr);
    buf_init(&plain, 0);
    buf_init(&gz, 0);
    rc = pprof_encode(pd, p, &plain, &e);
    if (rc == PC_OK) {
        pk.plain_len = plain.len;
        rc = gz_compress(plain.data, plain.len, &gz,
                         (int)run->px->cfg->gzip_level);
    }
    buf_free(&plain);
    if (rc == PC_OK) {
        rc = one_profile(run, it, &pk, gz.data, gz.len);
    } else {
        snprintf(run->r->msg, sizeof(run->r->msg), "pprof encode: %s",
                 err_msg(&e, rc));
        rc = rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    }
    buf_free(&gz);
    return rc;
}

/* Original pprof bytes, forwarded untouched. */
static int raw_profile(struct pyro_run *run, const struct item *it)
{
    const struct pyro_cfg *c = run->px->cfg;
    size_t max = c->max_profile_bytes ? c->max_profile_bytes
                                      : LIMIT_DECOMPRESSED_DEFAULT;
    struct pyro_peek pk;
    int rc = pyro_pprof_peek(it->raw->data, it->raw->len, max, &pk);

    if (rc != PC_OK && rc != PC_ETOOBIG) {
        snprintf(run->r->msg, sizeof(run->r->msg), "unreadable pprof: %s",
                 pc_strerror(rc));
        if (run->seq >= pyro_tl.seen) {
            count_oversized(run, "unreadable pprof");
        }
        return PC_OK;
    }
    return one_profile(run, it, &pk, it->raw->data, it->raw->len);
}

/* Runs fn for series number run->seq unless the server already has it. */
static int item_series(struct pyro_run *run, struct item *it)
{
    struct errctx e = {{0}};
    const struct pdata *pd;
    const struct profile *p;
    struct pdata_iter w;
    int rc = PC_OK;

    if (it->raw != NULL && it->format == PAYLOAD_PPROF) {
        if (run->seq >= pyro_tl.done) {
            rc = raw_profile(run, it);
        }
        run->seq++;
        return rc;
    }
    rc = batch_item_decode(run->b, it, &e);
    if (rc != PC_OK) {
        log_warn(run->px->id, "undecodable payload, dropped", "reason=\"%s\"",
                 err_msg(&e, rc));
        if (rc == PC_ENOMEM) {
            return PC_ERETRY;
        }
        if (run->seq >= pyro_tl.seen) {
            pyro_tl.rejected += it->nprofiles ? it->nprofiles : 1;
        }
        run->seq++;
        return PC_OK;
    }
    pd = it->pd->pd;
    pdata_iter_init(&w, pd, it->resource);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        if (run->seq >= pyro_tl.done) {
            rc = model_profile(run, it, pd, p);
        }
        run->seq++;
    }
    return rc;
}

/* ---- export --------------------------------------------------------------- */

static void progress_begin(struct pyro_exporter *px, struct batch *b)
{
    struct pyro_progress *p = &pyro_tl;

    if (exphelper_same_batch(&p->id, px, b)) {
        return; /* a retry of the same batch */
    }
    p->done = 0;
    p->seen = 0;
    p->rejected = 0;
}

static int run_group(struct pyro_run *run, const uint32_t *order,
                     uint32_t from, uint32_t to)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = from; i < to && rc == PC_OK; i++) {
        rc = item_series(run, &run->b->items[order[i]]);
    }
    if (rc == PC_OK) {
        rc = flush_push(run);
    }
    return rc;
}

static void tenant_text(const struct pyro_run *run, const struct item *it,
                        char *out, size_t outlen)
{
    const char *st = run->px->cfg->tenant_id;

    if (st != NULL && st[0] != '\0') {
        snprintf(out, outlen, "%s", st);
    } else {
        snprintf(out, outlen, "%.*s", (int)it->tenant.len,
                 it->tenant.ptr ? it->tenant.ptr : "");
    }
}

static int run_batch(struct pyro_run *run)
{
    struct batch *b = run->b;
    uint32_t *order = malloc(sizeof(uint32_t) * (b->nitems + 1));
    uint32_t *ends = malloc(sizeof(uint32_t) * (b->nitems + 1));
    uint32_t g, ng, start = 0;
    char tenant[160];
    int rc = PC_OK;

    if (order == NULL || ends == NULL) {
        free(order);
        free(ends);
        snprintf(run->r->msg, sizeof(run->r->msg), "out of memory");
        return PC_ERETRY;
    }
    ng = pyro_group_by_tenant(b, run->px->cfg->tenant_id, order, ends);
    for (g = 0; g < ng && rc == PC_OK; g++) {
        tenant_text(run, &b->items[order[start]], tenant, sizeof(tenant));
        run->tenant = tenant;
        rc = run_group(run, order, start, ends[g]);
        start = ends[g];
    }
    free(order);
    free(ends);
    return rc;
}

static int px_export(void *ctx, struct batch *b, int64_t timeout_ms,
                     struct export_result *r)
{
    struct pyro_exporter *px = ctx;
    struct pyro_run run;
    int rc;

    progress_begin(px, b);
    memset(&run, 0, sizeof(run));
    run.px = px;
    run.b = b;
    run.r = r;
    run.timeout_ms = timeout_ms;
    buf_init(&run.req, 0);
    buf_init(&run.series, 0);
    pyro_labels_init(&run.labels);
    rc = run_batch(&run);
    if (run.seq > pyro_tl.seen) {
        pyro_tl.seen = run.seq;
    }
    buf_free(&run.req);
    buf_free(&run.series);
    pyro_labels_free(&run.labels);
    if (rc != PC_OK) {
        return rc; /* PC_ERETRY: resumes after `done` */
    }
    r->rejected_profiles = pyro_tl.rejected;
    /* Refused for good and nothing of it got through: the helper drops the
     * batch as permanent, with the server's message. */
    if (run.perm_failed > 0 && run.sent == 0 &&
        pyro_tl.rejected >= batch_profile_count(b)) {
        memset(&pyro_tl, 0, sizeof(pyro_tl));
        return PC_EPERMANENT;
    }
    memset(&pyro_tl, 0, sizeof(pyro_tl));
    return PC_OK;
}

const struct component_factory pyroscope_exporter_factory = {
    .type = "pyroscope",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "sends profiles to Grafana Pyroscope (push API or /ingest)",
    .config_size = sizeof(struct pyro_cfg),
    .config = pyro_table,
    .create = px_create,
    .destroy = px_destroy,
    .ops.exporter = {.export = px_export},
};
