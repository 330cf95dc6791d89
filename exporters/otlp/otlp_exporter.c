/*
 * otlp_exporter.c: the `otlp` exporter. Sends profiles to an OTLP profiles
 * backend (the OpenTelemetry Collector, Pyroscope, Parca, ...) with the
 * gRPC method ProfilesService/Export of opentelemetry-proto v1.11.0.
 *
 * One export = ONE ExportProfilesServiceRequest holding every item of the
 * batch with one merged dictionary (otlp_encode_items), split in parts
 * only when it grows past `max_request_bytes`. Each item's resource
 * attributes are the item's series attributes without the internal `__*`
 * ones, so what processors did to the series is what the backend sees.
 * A batch that is one received OTLP request nothing changed
 * (item_otlp_as_received) goes as its original bytes instead: no decode,
 * no encode, and the backend sees exactly what the client sent.
 *
 * Failures follow the OTLP specification (grpccli_classify): the exporter
 * helper retries UNAVAILABLE and friends with backoff, honours RetryInfo,
 * and drops on permanent statuses. A partial success is logged and its
 * rejected profiles counted (profcol_exporter_rejected_profiles_total).
 * Items whose payload cannot be decoded are left out of the request and
 * counted as rejected, so one bad item never costs the rest of the batch.
 *
 * gzip (the default) is done here (compress.h) at compression_params
 * level (grpccli), not by gRPC's zlib: that was 70% of the exporter's CPU.
 * include_original_payload: an item that came in as a pprof and that no
 * processor changed also carries those bytes as original_payload, so a
 * profcol (or anything) behind the OTLP hop can forward the exact pprof.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/otlp.h"
#include "component/batch_codec.h"
#include "component/batch_otlp.h"
#include "component/component.h"
#include "exporterhelper/exporter_helper.h"
#include "net/grpccli.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

struct otlp_exporter_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *endpoint;
    struct grpccli_conn_cfg conn;
    int compression;
    struct cfg_compression_params compression_params;
    int include_original_payload;
    uint64_t max_request_bytes;
};
EXPHELPER_CFG_FIRST(struct otlp_exporter_cfg, helper);

static const char *const otlpx_compressions[] = {"gzip", "none", NULL};

/* clang-format off */
static const struct cfg_entry otlpx_table[] = {
    EXPHELPER_CFG_ENTRIES(struct otlp_exporter_cfg, helper),
    {.key = "endpoint", .type = CFG_STRING, .def = "localhost:4317",
     .offset = offsetof(struct otlp_exporter_cfg, endpoint),
     .doc = "host:port of the OTLP gRPC server"},
    GRPCCLI_CONN_CFG_ENTRIES(struct otlp_exporter_cfg, conn),
    {.key = "compression", .type = CFG_ENUM, .def = "gzip",
     .enum_values = otlpx_compressions,
     .offset = offsetof(struct otlp_exporter_cfg, compression),
     .doc = "gRPC message compression: gzip or none"},
    {.key = "compression_params", .type = CFG_SECTION,
     .sub = cfg_compression_params_table,
     .offset = offsetof(struct otlp_exporter_cfg, compression_params),
     .doc = "level: gzip level (libdeflate) 1 (fastest, default) .. 12"},
    {.key = "include_original_payload", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct otlp_exporter_cfg, include_original_payload),
     .doc = "unchanged pprof input also goes as original_payload (about doubles requests)"},
    {.key = "max_request_bytes", .type = CFG_SIZE, .def = "4MiB",
     .min = 1024, .max = INT32_MAX,
     .offset = offsetof(struct otlp_exporter_cfg, max_request_bytes),
     .doc = "larger requests are split (gRPC servers refuse > 4MiB by default)"},
    {.key = NULL},
};
/* clang-format on */

struct otlp_exporter {
    const struct otlp_exporter_cfg *cfg;
    char id[128];
    struct grpccli *cli;
    struct mcounter *rejected; /* partial success, undecodable */
};

static int otlpx_create(const void *cfgp, struct component_host *host,
                        void **ctx, struct errctx *e)
{
    const struct otlp_exporter_cfg *cfg = cfgp;
    struct grpccli_opts o;
    struct otlp_exporter *x = calloc(1, sizeof(*x));
    int rc;

    if (x == NULL) {
        return PC_ENOMEM;
    }
    memset(&o, 0, sizeof(o));
    o.endpoint = cfg->endpoint;
    grpccli_opts_conn(&o, &cfg->conn);
    o.gzip = cfg->compression == 0;
    o.gzip_level = (int)cfg->compression_params.level;
    rc = grpccli_new(&o, &x->cli, e);
    if (rc != PC_OK) {
        free(x);
        return rc;
    }
    x->cfg = cfg;
    snprintf(x->id, sizeof(x->id), "%s", host->id);
    x->rejected = mscope_counter(
        host->metrics, "profcol_exporter_rejected_profiles_total",
        "Profiles the backend refused (partial success) or that could "
        "not be encoded.",
        NULL);
    *ctx = x;
    return PC_OK;
}

static void otlpx_destroy(void *ctx)
{
    struct otlp_exporter *x = ctx;

    if (x == NULL) {
        return;
    }
    grpccli_free(x->cli);
    free(x);
}

/* A partial success: logged and counted. */
static void otlpx_note_rejected(struct otlp_exporter *x, int rc,
                                const struct export_result *r)
{
    if (rc == PC_OK && r->rejected_profiles > 0) {
        if (x->rejected != NULL) {
            mcounter_add(x->rejected, r->rejected_profiles);
        }
        log_warn(x->id, "backend rejected profiles",
                 "rejected=%u reason=\"%s\"", r->rejected_profiles, r->msg);
    }
}

static int otlpx_export(void *ctx, struct batch *b, int64_t timeout_ms,
                        struct export_result *r)
{
    struct otlp_exporter *x = ctx;
    struct batch_otlp_opts o = {
        .id = x->id,
        .include_original_payload = x->cfg->include_original_payload,
    };
    struct batch_otlp bo;
    int rc;

    if (b->nitems == 1 && item_otlp_as_received(&b->items[0])) {
        /* One request as it came in, nothing changed: its bytes say what
         * an encoding would, without the decode and encode. */
        const struct blob *raw = b->items[0].raw;
        struct grpccli_msg m = {.data = raw->data, .len = raw->len};
        /* Nor is the model needed: let it go before the compression and
         * the call (a large request's model is several times its size),
         * unless another holder of b may still read it. */
        if (!batch_shared(b)) {
            (void)batch_compact(b);
        }
        if (raw->gz != NULL) {
            m.gz = raw->gz->data;
            m.gzlen = raw->gz->len;
            m.gz_ref = blob_ref_cb;
            m.gz_unref = blob_unref_cb;
            m.gz_owner = raw->gz;
        }
        rc = grpccli_otlp_send(x->cli, &m, timeout_ms, r);
        otlpx_note_rejected(x, rc, r);
        return rc;
    }
    rc = batch_otlp_build(b, &o, &bo, r);
    if (rc == PC_OK) {
        rc = grpccli_otlp_export(x->cli, bo.items, bo.n,
                                 x->cfg->max_request_bytes, timeout_ms, r);
    }
    otlpx_note_rejected(x, rc, r);
    batch_otlp_free(&bo);
    return rc;
}

const struct component_factory otlp_exporter_factory = {
    .type = "otlp",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description =
        "sends profiles to an OTLP gRPC backend (ProfilesService/Export)",
    .config_size = sizeof(struct otlp_exporter_cfg),
    .config = otlpx_table,
    .create = otlpx_create,
    .destroy = otlpx_destroy,
    .ops.exporter = {.export = otlpx_export},
};
