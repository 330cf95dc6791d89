/*
 * otlphttp_exporter.c: the `otlphttp` exporter. Sends each batch as ONE
 * OTLP profiles ExportProfilesServiceRequest (v1.11.0, one merged
 * dictionary) by HTTP POST to <endpoint>/v1development/profiles, as the
 * OpenTelemetry Collector's otlp_http exporter does: protobuf or JSON,
 * gzip / zstd / no compression.
 *
 * Each item becomes its resource(s) with the item's attributes as the
 * resource attributes (profcol-internal `__` attributes left out), so what
 * processors did to the series identity shows in the output.
 *
 * Responses: 2xx is success, and a partial_success in the body is logged
 * and counted (the rejected profiles are dropped by the server for good);
 * 429, 502, 503, 504 are retried, honouring Retry-After; any other status
 * is permanent, logged with the server's message (google.rpc.Status).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/compress.h"
#include "codec/otlp.h"
#include "codec/pb.h"
#include "component/batch_codec.h"
#include "component/batch_otlp.h"
#include "component/component.h"
#include "net/curl_api.h"
#include "exporterhelper/exporter_helper.h"
#include "net/httpcli.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

enum oh_compression { OH_GZIP, OH_ZSTD, OH_NONE };
enum oh_encoding { OH_PROTO, OH_JSON };

struct oh_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *endpoint;
    char *profiles_endpoint;
    int compression;
    struct cfg_compression_params compression_params;
    int include_original_payload;
    int encoding;
    struct cfg_map headers;
    struct httpcli_tls_cfg tls;
    struct httpcli_basic_auth_cfg basic_auth;
    char *bearer_token;
    uint64_t max_request_bytes;
};
EXPHELPER_CFG_FIRST(struct oh_cfg, helper);

static const char *const oh_comps[] = {"gzip", "zstd", "none", NULL};
static const char *const oh_encs[] = {"proto", "json", NULL};

/* clang-format off */
static const struct cfg_entry oh_table[] = {
    EXPHELPER_CFG_ENTRIES(struct oh_cfg, helper),
    {.key = "endpoint", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct oh_cfg, endpoint),
     .doc = "base URL; requests go to <endpoint>/v1development/profiles"},
    {.key = "profiles_endpoint", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct oh_cfg, profiles_endpoint),
     .doc = "full URL of the profiles endpoint (overrides endpoint)"},
    {.key = "compression", .type = CFG_ENUM, .def = "gzip",
     .enum_values = oh_comps, .offset = offsetof(struct oh_cfg, compression),
     .doc = "request body compression: gzip, zstd or none"},
    {.key = "compression_params", .type = CFG_SECTION,
     .sub = cfg_compression_params_table,
     .offset = offsetof(struct oh_cfg, compression_params),
     .doc = "level: gzip (libdeflate) or zstd level 1 (fastest, default) .. 12"},
    {.key = "include_original_payload", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct oh_cfg, include_original_payload),
     .doc = "unchanged pprof input also goes as original_payload (about doubles requests)"},
    {.key = "encoding", .type = CFG_ENUM, .def = "proto",
     .enum_values = oh_encs, .offset = offsetof(struct oh_cfg, encoding),
     .doc = "proto (application/x-protobuf) or json (application/json)"},
    {.key = "headers", .type = CFG_MAP,
     .offset = offsetof(struct oh_cfg, headers),
     .doc = "extra HTTP headers of every request"},
    {.key = "tls", .type = CFG_SECTION, .sub = httpcli_tls_table,
     .offset = offsetof(struct oh_cfg, tls),
     .doc = "TLS / mTLS settings for https endpoints"},
    {.key = "basic_auth", .type = CFG_SECTION, .sub = httpcli_basic_auth_table,
     .offset = offsetof(struct oh_cfg, basic_auth),
     .doc = "HTTP basic auth"},
    {.key = "bearer_token", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct oh_cfg, bearer_token),
     .doc = "sent as Authorization: Bearer <token>"},
    {.key = "max_request_bytes", .type = CFG_SIZE, .def = "64MiB",
     .min = 1024, .max = INT64_MAX,
     .offset = offsetof(struct oh_cfg, max_request_bytes),
     .doc = "largest encoded request; a larger batch is refused as permanent"},
    {.key = NULL},
};
/* clang-format on */

struct oh_exporter {
    const struct oh_cfg *cfg;
    char id[128];
    char url[1024];
    char **headers;
    uint32_t nheaders;
    struct mcounter *rejected;
};

/* ---- lifecycle ----------------------------------------------------------- */

static void oh_free_headers(struct oh_exporter *ox)
{
    uint32_t i;

    for (i = 0; i < ox->nheaders; i++) {
        free(ox->headers[i]);
    }
    free(ox->headers);
}

static int oh_make_url(struct oh_exporter *ox, struct errctx *e)
{
    const struct oh_cfg *c = ox->cfg;
    const char *u = c->profiles_endpoint[0] ? c->profiles_endpoint
                                            : c->endpoint;
    size_t n = strlen(u);

    if (strncmp(u, "http://", 7) != 0 && strncmp(u, "https://", 8) != 0) {
        return err_set(e, PC_ECONFIG,
                       "endpoint \"%s\": want an http:// or https:// URL "
                       "(set endpoint or profiles_endpoint)",
                       u);
    }
    if (n + 32 > sizeof(ox->url)) {
        return err_set(e, PC_ECONFIG, "endpoint too long");
    }
    if (c->profiles_endpoint[0]) {
        snprintf(ox->url, sizeof(ox->url), "%s", u);
        return PC_OK;
    }
    while (n > 0 && u[n - 1] == '/') {
        n--;
    }
    snprintf(ox->url, sizeof(ox->url), "%.*s/v1development/profiles", (int)n,
             u);
    return PC_OK;
}

static int oh_create(const void *cfgp, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    const struct oh_cfg *cfg = cfgp;
    struct oh_exporter *ox = calloc(1, sizeof(*ox));
    uint32_t i;
    int rc;

    if (ox == NULL) {
        return PC_ENOMEM;
    }
    ox->cfg = cfg;
    snprintf(ox->id, sizeof(ox->id), "%s", host->id);
    rc = oh_make_url(ox, e);
    if (rc == PC_OK) {
        rc = httpcli_tls_check(&cfg->tls, e);
    }
    if (rc == PC_OK) {
        rc = curl_api_load(e); /* libcurl is loaded by its first user */
    }
    ox->headers = calloc(cfg->headers.n + 1, sizeof(*ox->headers));
    if (rc == PC_OK && ox->headers == NULL) {
        rc = PC_ENOMEM;
    }
    for (i = 0; rc == PC_OK && i < cfg->headers.n; i++) {
        if (asprintf(&ox->headers[i], "%s: %s", cfg->headers.keys[i],
                     cfg->headers.values[i]) < 0) {
            rc = PC_ENOMEM;
        } else {
            ox->nheaders++;
        }
    }
    if (rc != PC_OK) {
        oh_free_headers(ox);
        free(ox);
        return rc;
    }
    ox->rejected = mscope_counter(
        host->metrics, "profcol_exporter_rejected_profiles_total",
        "Profiles the backend refused in a partial success.", NULL);
    *ctx = ox;
    return PC_OK;
}

static void oh_destroy(void *ctx)
{
    struct oh_exporter *ox = ctx;

    if (ox != NULL) {
        oh_free_headers(ox);
        free(ox);
    }
}

/* ---- request body ---------------------------------------------------------- */

static int encode_body(struct oh_exporter *ox, const struct otlp_item *items,
                       size_t n, struct buf *out, struct errctx *e)
{
    struct buf pb;
    int rc;

    if (ox->cfg->encoding == OH_PROTO) {
        return otlp_encode_items(items, n, out, e);
    }
    buf_init(&pb, out->max);
    rc = otlp_encode_items(items, n, &pb, e);
    if (rc == PC_OK) {
        rc = otlp_pb_to_json(OTLP_JSON_REQUEST, pb.data, pb.len, out, e);
    }
    buf_free(&pb);
    return rc;
}

/* ---- response ---------------------------------------------------------------- */

/* ExportProfilesPartialSuccess {rejected_profiles = 1, error_message = 2} */
static void parse_partial(const uint8_t *p, const uint8_t *end,
                          int64_t *rejected, char *msg, size_t msglen)
{
    uint32_t field;
    unsigned wire;
    uint64_t v;
    const uint8_t *s;
    size_t n;

    while (p < end && pb_read_tag(&p, end, &field, &wire) == PC_OK) {
        if (field == 1 && wire == PB_VARINT) {
            if (pb_read_varint(&p, end, &v) != PC_OK) {
                return;
            }
            *rejected = (int64_t)v;
        } else if (field == 2 && wire == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return;
            }
            snprintf(msg, msglen, "%.*s", (int)(n < 200 ? n : 200), s);
        } else if (pb_skip(&p, end, wire) != PC_OK) {
            return;
        }
    }
}

/* ExportProfilesServiceResponse {partial_success = 1}, protobuf or JSON. */
static void parse_response(const struct httpcli_resp *resp, int64_t *rejected,
                           char *msg, size_t msglen)
{
    struct buf pb;
    struct errctx e = {{0}};
    const uint8_t *p, *end, *s;
    uint32_t field;
    unsigned wire;
    size_t n;

    buf_init(&pb, (size_t)1 << 20);
    p = resp->body.data;
    end = p + resp->body.len;
    if (strstr(resp->content_type, "json") != NULL && resp->body.len > 0) {
        if (otlp_json_to_pb(OTLP_JSON_RESPONSE, (const char *)resp->body.data,
                            resp->body.len, &pb, &e) != PC_OK) {
            buf_free(&pb);
            return;
        }
        p = pb.data;
        end = p + pb.len;
    }
    while (p != NULL && p < end &&
           pb_read_tag(&p, end, &field, &wire) == PC_OK) {
        if (field == 1 && wire == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                break;
            }
            parse_partial(s, s + n, rejected, msg, msglen);
        } else if (pb_skip(&p, end, wire) != PC_OK) {
            break;
        }
    }
    buf_free(&pb);
}

static void partial_success(struct oh_exporter *ox,
                            const struct httpcli_resp *resp,
                            struct export_result *r)
{
    int64_t rejected = 0;
    char msg[208] = "";

    parse_response(resp, &rejected, msg, sizeof(msg));
    if (rejected <= 0 && msg[0] == '\0') {
        return;
    }
    if (rejected > 0) {
        r->rejected_profiles += (uint32_t)(rejected > UINT32_MAX ? UINT32_MAX
                                                                 : rejected);
        if (ox->rejected != NULL) {
            mcounter_add(ox->rejected, (uint64_t)rejected);
        }
    }
    snprintf(r->msg, sizeof(r->msg), "partial success: %s",
             msg[0] ? msg : "(no message)");
    log_warn(ox->id, "backend rejected profiles (partial success)",
             "rejected_profiles=%" PRId64 " message=\"%s\"", rejected, msg);
}

/* ---- export ---------------------------------------------------------------- */

static int send_body(struct oh_exporter *ox, const uint8_t *body, size_t len,
                     int64_t timeout_ms, struct export_result *r)
{
    const struct oh_cfg *c = ox->cfg;
    const char *hdrs[72];
    struct httpcli_req req;
    struct httpcli_resp resp;
    size_t nh = 0, i;
    int rc;

    hdrs[nh++] = c->encoding == OH_JSON
                     ? "Content-Type: application/json"
                     : "Content-Type: application/x-protobuf";
    if (c->compression == OH_GZIP) {
        hdrs[nh++] = "Content-Encoding: gzip";
    } else if (c->compression == OH_ZSTD) {
        hdrs[nh++] = "Content-Encoding: zstd";
    }
    for (i = 0; i < ox->nheaders && nh < 72; i++) {
        hdrs[nh++] = ox->headers[i];
    }
    memset(&req, 0, sizeof(req));
    req.url = ox->url;
    req.headers = hdrs;
    req.nheaders = nh;
    req.body = body;
    req.len = len;
    req.timeout_ms = timeout_ms;
    req.tls = &c->tls;
    req.auth = &c->basic_auth;
    req.bearer_token = c->bearer_token;
    rc = httpcli_post(&req, &resp);
    rc = httpcli_result(rc, &resp, 0, r);
    if (rc == PC_OK) {
        partial_success(ox, &resp, r);
    } else if (rc == PC_EPERMANENT) {
        log_warn(ox->id, "backend refused the request, dropped",
                 "reason=\"%s\"", r->msg);
    }
    httpcli_resp_free(&resp);
    return rc;
}

/* Compressed per `compression` (at compression_params.level, default 1:
 * the body is compressed on every export, and past level 1 the CPU grows
 * much faster than the saving), then sent; `none` sends body as it is. */
static int compress_and_send(struct oh_exporter *ox, const uint8_t *body,
                             size_t len, int64_t timeout_ms,
                             struct export_result *r)
{
    int level = (int)ox->cfg->compression_params.level;
    struct buf wire;
    int rc;

    if (ox->cfg->compression == OH_NONE) {
        return send_body(ox, body, len, timeout_ms, r);
    }
    buf_init(&wire, 0);
    rc = ox->cfg->compression == OH_GZIP
             ? gz_compress(body, len, &wire, level)
             : zstd_compress(body, len, &wire, level);
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "compression failed");
        rc = PC_ERETRY;
    } else {
        rc = send_body(ox, wire.data, wire.len, timeout_ms, r);
    }
    buf_free(&wire);
    return rc;
}

static int encode_and_send(struct oh_exporter *ox,
                           const struct otlp_item *items, size_t n,
                           int64_t timeout_ms, struct export_result *r)
{
    struct buf body;
    struct errctx e = {{0}};
    int rc;

    buf_init(&body, (size_t)ox->cfg->max_request_bytes);
    rc = encode_body(ox, items, n, &body, &e);
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "encode: %s", err_msg(&e, rc));
        rc = rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    } else {
        rc = compress_and_send(ox, body.data, body.len, timeout_ms, r);
    }
    buf_free(&body);
    return rc;
}

/*
 * One request as it came in, nothing changed (item_otlp_as_received): its
 * bytes say what an encoding would, without the decode and encode. With
 * gzip, the client's own gzip bytes go when it sent some; JSON is
 * transcoded from them.
 */
static int send_as_received(struct oh_exporter *ox, struct batch *b,
                            int64_t timeout_ms, struct export_result *r)
{
    const struct blob *raw = b->items[0].raw;
    const uint8_t *body = raw->data;
    size_t len = raw->len;
    struct errctx e = {{0}};
    struct buf json;
    int rc = PC_OK;

    /* The model is not needed: let it go before the compression, unless
     * another holder of b may still read it. */
    if (!batch_shared(b)) {
        (void)batch_compact(b);
    }
    if (ox->cfg->encoding == OH_PROTO && ox->cfg->compression == OH_GZIP &&
        raw->gz != NULL) {
        return send_body(ox, raw->gz->data, raw->gz->len, timeout_ms, r);
    }
    buf_init(&json, (size_t)ox->cfg->max_request_bytes);
    if (ox->cfg->encoding == OH_JSON) {
        rc = otlp_pb_to_json(OTLP_JSON_REQUEST, raw->data, raw->len, &json,
                             &e);
        body = json.data;
        len = json.len;
    }
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "encode: %s", err_msg(&e, rc));
        rc = rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    } else {
        rc = compress_and_send(ox, body, len, timeout_ms, r);
    }
    buf_free(&json);
    return rc;
}

static int oh_export(void *ctx, struct batch *b, int64_t timeout_ms,
                     struct export_result *r)
{
    struct oh_exporter *ox = ctx;
    struct batch_otlp_opts o = {
        .id = ox->id,
        .include_original_payload = ox->cfg->include_original_payload,
    };
    struct batch_otlp bo;
    int rc;

    if (b->nitems == 1 && item_otlp_as_received(&b->items[0])) {
        return send_as_received(ox, b, timeout_ms, r);
    }
    rc = batch_otlp_build(b, &o, &bo, r);
    if (rc == PC_OK && bo.n > 0) {
        rc = encode_and_send(ox, bo.items, bo.n, timeout_ms, r);
    }
    /* Undecodable items count as rejected, as in the other OTLP exporters
     * (partial_success counted the backend's). */
    if (rc == PC_OK && bo.rejected > 0 && ox->rejected != NULL) {
        mcounter_add(ox->rejected, bo.rejected);
    }
    batch_otlp_free(&bo);
    return rc;
}

const struct component_factory otlphttp_exporter_factory = {
    .type = "otlphttp",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "sends OTLP profiles over HTTP (protobuf or JSON)",
    .config_size = sizeof(struct oh_cfg),
    .config = oh_table,
    .create = oh_create,
    .destroy = oh_destroy,
    .ops.exporter = {.export = oh_export},
};
