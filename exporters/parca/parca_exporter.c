/*
 * parca_exporter.c: the `parca` exporter. Sends profiles to Parca over
 * gRPC, by default with ProfileStoreService/WriteRaw (the ingest Parca's
 * own scraper and the agent's OOM profiles use), or with OTLP
 * ProfilesService/Export (`protocol: otlp`), which Parca serves on the
 * same port.
 *
 * WriteRaw: one RawProfileSeries per profile, labelled as Parca users
 * query (parca_labels.h), carrying the gzipped pprof. Parca validates
 * harder than google/pprof (ids 1..N in table order, string_table[0] ==
 * ""), and stores a profile at `time_nanos` without falling back to "now",
 * so original bytes are forwarded only when they pass those checks and
 * carry a time; otherwise the profile is re-encoded by the pprof encoder
 * (which numbers ids that way) with time_nanos set to when profcol
 * received it. The same holds for the OTLP original_payload (format
 * "pprof") of a model profile: a pprof relayed through OTLP is forwarded
 * as its original bytes when they pass the checks (a processor that
 * changes a payload clears it). Series are packed into requests of at most
 * `max_request_bytes` (the agent's 32 MiB default).
 *
 * OTLP: resource attributes are the series labels as strings (Parca keeps
 * only string attributes), plus the external labels.
 *
 * A request that fails after an earlier part of the same batch went out
 * is retried whole by the exporter helper: delivery is at-least-once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "exporters/parca/parca_labels.h"
#include "codec/compress.h"
#include "codec/otlp.h"
#include "codec/pb.h"
#include "codec/pprof.h"
#include "component/batch_otlp.h"
#include "component/component.h"
#include "model/pdata_iter.h"
#include "exporterhelper/exporter_helper.h"
#include "net/grpccli.h"
#include "telemetry/log.h"
#include "component/series.h"

#define PARCA_WRITERAW_METHOD                                                 \
    "/parca.profilestore.v1alpha1.ProfileStoreService/WriteRaw"

enum parca_protocol {
    PARCA_PROTO_WRITERAW,
    PARCA_PROTO_OTLP,
};

struct parca_exporter_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *endpoint;
    struct grpccli_conn_cfg conn;
    struct cfg_map external_labels;
    int protocol;
    int compression;
    uint64_t max_request_bytes;
    int64_t gzip_level;
};
EXPHELPER_CFG_FIRST(struct parca_exporter_cfg, helper);

static const char *const parca_protocols[] = {"writeraw", "otlp", NULL};
static const char *const parca_compressions[] = {"none", "gzip", NULL};

/* clang-format off */
static const struct cfg_entry parca_table[] = {
    EXPHELPER_CFG_ENTRIES(struct parca_exporter_cfg, helper),
    {.key = "endpoint", .type = CFG_STRING, .def = "localhost:7070",
     .offset = offsetof(struct parca_exporter_cfg, endpoint),
     .doc = "host:port of the Parca gRPC server"},
    GRPCCLI_CONN_CFG_ENTRIES(struct parca_exporter_cfg, conn),
    {.key = "external_labels", .type = CFG_MAP,
     .offset = offsetof(struct parca_exporter_cfg, external_labels),
     .doc = "labels added to every series that lacks them"},
    {.key = "protocol", .type = CFG_ENUM, .def = "writeraw",
     .enum_values = parca_protocols,
     .offset = offsetof(struct parca_exporter_cfg, protocol),
     .doc = "writeraw (ProfileStoreService/WriteRaw) or otlp (ProfilesService/Export)"},
    {.key = "compression", .type = CFG_ENUM, .def = "none",
     .enum_values = parca_compressions,
     .offset = offsetof(struct parca_exporter_cfg, compression),
     .doc = "gRPC message compression (pprofs are gzipped in any case)"},
    {.key = "max_request_bytes", .type = CFG_SIZE, .def = "32MiB",
     .min = 1024, .max = INT32_MAX,
     .offset = offsetof(struct parca_exporter_cfg, max_request_bytes),
     .doc = "larger batches are split into several requests"},
    {.key = "gzip_level", .type = CFG_INT, .def = "6", .min = 1, .max = 12,
     .offset = offsetof(struct parca_exporter_cfg, gzip_level),
     .doc = "gzip level of re-encoded pprofs"},
    {.key = NULL},
};
/* clang-format on */

struct parca_exporter {
    const struct parca_exporter_cfg *cfg;
    char id[128];
    struct grpccli *cli;
};

static int parca_create(const void *cfgp, struct component_host *host,
                        void **ctx, struct errctx *e)
{
    const struct parca_exporter_cfg *cfg = cfgp;
    struct grpccli_opts o;
    struct parca_exporter *x = calloc(1, sizeof(*x));
    int rc;

    if (x == NULL) {
        return PC_ENOMEM;
    }
    memset(&o, 0, sizeof(o));
    o.endpoint = cfg->endpoint;
    grpccli_opts_conn(&o, &cfg->conn);
    o.gzip = cfg->compression == 1;
    rc = grpccli_new(&o, &x->cli, e);
    if (rc != PC_OK) {
        free(x);
        return rc;
    }
    x->cfg = cfg;
    snprintf(x->id, sizeof(x->id), "%s", host->id);
    *ctx = x;
    return PC_OK;
}

static void parca_destroy(void *ctx)
{
    struct parca_exporter *x = ctx;

    if (x == NULL) {
        return;
    }
    grpccli_free(x->cli);
    free(x);
}

/* ---- WriteRaw --------------------------------------------------------------- */

/* One export's state: the request being filled and the time left. */
struct wr_req {
    struct parca_exporter *x;
    struct buf req;    /* WriteRawRequest, series so far */
    struct buf series; /* one RawProfileSeries */
    struct buf pprof;  /* one gzipped pprof */
    struct parca_labelset ls;
    int64_t deadline_ms;
    uint32_t nseries;
    struct export_result *r;
};

static int wr_send(struct wr_req *w)
{
    int64_t left = w->deadline_ms - clock_mono_ms();
    struct grpccli_msg m = {0};
    int rc;

    if (w->req.len == 0) {
        return PC_OK;
    }
    if (left <= 0) {
        snprintf(w->r->msg, sizeof(w->r->msg),
                 "timed out before all parts went");
        return PC_ERETRY;
    }
    m.data = w->req.data;
    m.len = w->req.len;
    rc = grpccli_call(w->x->cli, PARCA_WRITERAW_METHOD, &m, left, NULL, w->r);
    buf_reset(&w->req);
    w->nseries = 0;
    return rc;
}

/* Appends the series in w->series, sending first when it would not fit. */
static int wr_add_series(struct wr_req *w)
{
    size_t need = w->series.len + 16;
    int rc;

    if (w->req.len > 0 && w->req.len + need > w->x->cfg->max_request_bytes) {
        rc = wr_send(w);
        if (rc != PC_OK) {
            return rc;
        }
    }
    rc = pb_put_bytes(&w->req, 2, w->series.data, w->series.len);
    w->nseries++;
    return rc == PC_OK ? PC_OK : PC_ERETRY;
}

/* RawProfileSeries {1 labels, 2 samples [RawSample {1 raw_profile}]}. */
static int wr_series(struct wr_req *w, const struct item *it, const char *name)
{
    size_t mark = 0;
    int rc = parca_labels_build(&w->ls, it, name, &w->x->cfg->external_labels);

    buf_reset(&w->series);
    rc = rc ? rc : parca_labels_encode(&w->ls, &w->series);
    rc = rc ? rc : pb_msg_begin(&w->series, 2, &mark);
    rc = rc ? rc : pb_put_bytes(&w->series, 1, w->pprof.data, w->pprof.len);
    rc = rc ? rc : pb_msg_end(&w->series, mark);
    if (rc != PC_OK) {
        snprintf(w->r->msg, sizeof(w->r->msg), "series: %s", pc_strerror(rc));
        return PC_ERETRY;
    }
    return wr_add_series(w);
}

/*
 * Original pprof bytes (data, len) into w->pprof (gzipped) when Parca would
 * take them as they are; 0 when the profile must be re-encoded.
 */
static int wr_bytes_ok(struct wr_req *w, struct batch *b, const uint8_t *data,
                       size_t len)
{
    struct buf plain;
    const uint8_t *p = data;
    size_t n = len;
    int64_t tn = 0;
    int ok, gz = gz_is_gzip(p, n);

    buf_init(&plain, BUF_MAX_DEFAULT);
    if (gz) {
        size_t max = b->limits.max_decompressed ? b->limits.max_decompressed
                                                : LIMIT_DECOMPRESSED_DEFAULT;
        if (gz_decompress(p, n, &plain, max) != PC_OK) {
            buf_free(&plain);
            return 0;
        }
        p = plain.data;
        n = plain.len;
    }
    ok = parca_pprof_forwardable(p, n, &tn) && tn != 0;
    buf_reset(&w->pprof);
    if (ok) {
        ok = (gz ? buf_append(&w->pprof, data, len)
                 : gz_compress(p, n, &w->pprof, (int)w->x->cfg->gzip_level)) ==
             PC_OK;
    }
    buf_free(&plain);
    return ok;
}

static int wr_raw_ok(struct wr_req *w, struct batch *b, const struct item *it)
{
    return wr_bytes_ok(w, b, it->raw->data, it->raw->len);
}

/* A profile's OTLP original pprof into w->pprof, when Parca would take it. */
static int wr_original_ok(struct wr_req *w, struct batch *b,
                          const struct profile *p)
{
    struct pstr o = profile_original_pprof(p);

    return o.len != 0 && wr_bytes_ok(w, b, (const uint8_t *)o.ptr, o.len);
}

/* Every profile of the item's resource(s): its original pprof when Parca
 * takes it, else re-encoded. */
static int wr_item_encoded(struct wr_req *w, struct batch *b,
                           const struct item *it, const struct pdata *pd)
{
    char name[PARCA_LABEL_NAME_MAX];
    const struct profile *pp;
    struct pdata_iter pi;
    int rc = PC_OK;

    pdata_iter_init(&pi, pd, it->resource);
    while (rc == PC_OK && (pp = pdata_iter_next(&pi)) != NULL) {
        struct profile p = *pp;
        struct errctx e = {{0}};
        if (wr_original_ok(w, b, &p)) {
            parca_profile_name(it, &pd->dict, &p, name, sizeof(name));
            rc = wr_series(w, it, name);
            continue;
        }
        if (p.time_nanos == 0) {
            p.time_nanos = (int64_t)it->received_ns;
        }
        buf_reset(&w->pprof);
        rc = pprof_encode_gz(pd, &p, (int)w->x->cfg->gzip_level, &w->pprof,
                             &e);
        if (rc != PC_OK) {
            log_warn(w->x->id, "profile left out: cannot encode",
                     "reason=\"%s\"", err_msg(&e, rc));
            w->r->rejected_profiles++;
            rc = PC_OK;
            continue;
        }
        parca_profile_name(it, &pd->dict, &p, name, sizeof(name));
        rc = wr_series(w, it, name);
    }
    return rc;
}

/* The name when the item says it; otherwise the payload must tell. */
static int wr_item_name(const struct item *it, char *name, size_t len)
{
    const struct anyvalue *v = item_attr(it, SERIES_NAME_ATTR);

    if (v != NULL && v->type == AV_STRING &&
        parca_name_valid(v->u.s.ptr, v->u.s.len) && v->u.s.len < len) {
        memcpy(name, v->u.s.ptr, v->u.s.len);
        name[v->u.s.len] = '\0';
        return 1;
    }
    return 0;
}

static int wr_item(struct wr_req *w, struct batch *b, struct item *it)
{
    char name[PARCA_LABEL_NAME_MAX];
    struct errctx e = {{0}};
    const struct pdata *pd;
    int rc;

    if (it->raw != NULL && it->format == PAYLOAD_PPROF &&
        wr_item_name(it, name, sizeof(name)) && wr_raw_ok(w, b, it)) {
        return wr_series(w, it, name);
    }
    rc = batch_item_decode(b, it, &e);
    if (rc == PC_ENOMEM) {
        /* Not the data's fault: the whole batch again later (as
         * batch_otlp_build does for the OTLP protocol). */
        snprintf(w->r->msg, sizeof(w->r->msg), "out of memory");
        return PC_ERETRY;
    }
    if (rc != PC_OK) {
        /* The data's fault: leave it out, send the rest. */
        log_warn(w->x->id, "item left out: undecodable payload",
                 "reason=\"%s\"", err_msg(&e, rc));
        w->r->rejected_profiles += it->nprofiles ? it->nprofiles : 1;
        return PC_OK;
    }
    pd = it->pd->pd;
    if (it->raw != NULL && it->format == PAYLOAD_PPROF &&
        pd->nresources == 1 && pd->resources[0].nscopes == 1 &&
        pd->resources[0].scopes[0].nprofiles == 1 && wr_raw_ok(w, b, it)) {
        parca_profile_name(it, &pd->dict,
                           &pd->resources[0].scopes[0].profiles[0], name,
                           sizeof(name));
        return wr_series(w, it, name);
    }
    return wr_item_encoded(w, b, it, pd);
}

static int parca_export_writeraw(struct parca_exporter *x, struct batch *b,
                                 int64_t timeout_ms, struct export_result *r)
{
    struct wr_req w;
    uint32_t i;
    int rc = PC_OK;

    memset(&w, 0, sizeof(w));
    w.x = x;
    w.r = r;
    w.deadline_ms = clock_mono_ms() + timeout_ms;
    buf_init(&w.req, BUF_MAX_DEFAULT);
    buf_init(&w.series, BUF_MAX_DEFAULT);
    buf_init(&w.pprof, BUF_MAX_DEFAULT);
    parca_labelset_init(&w.ls);
    for (i = 0; rc == PC_OK && i < b->nitems; i++) {
        rc = wr_item(&w, b, &b->items[i]);
    }
    if (rc == PC_OK) {
        rc = wr_send(&w);
    }
    parca_labelset_free(&w.ls);
    buf_free(&w.req);
    buf_free(&w.series);
    buf_free(&w.pprof);
    return rc;
}

/* ---- OTLP -------------------------------------------------------------------- */

/* The `__name__` of the profiles of oi's view when they all have the same,
 * else "unknown" (as Parca calls a profile whose scope has no name). */
static void otlp_item_name(const struct item *it, const struct otlp_item *oi,
                           char *name, size_t len)
{
    const struct pdata *pd = oi->pd;
    char n[PARCA_LABEL_NAME_MAX];
    uint32_t r, s, j;

    name[0] = '\0';
    for (r = 0; r < pd->nresources; r++) {
        if (oi->resource >= 0 && (uint32_t)oi->resource != r) {
            continue;
        }
        for (s = 0; s < pd->resources[r].nscopes; s++) {
            const struct scope_profiles *sp = &pd->resources[r].scopes[s];
            for (j = 0; j < sp->nprofiles; j++) {
                parca_profile_name(it, &pd->dict, &sp->profiles[j], n,
                                   sizeof(n));
                if (name[0] != '\0' && strcmp(name, n) != 0) {
                    snprintf(name, len, "unknown");
                    return;
                }
                snprintf(name, len, "%s", n);
            }
        }
    }
    if (name[0] == '\0') {
        snprintf(name, len, "unknown");
    }
}

/* The item's labels as string resource attributes, and its `__name__` as
 * the name of its scopes: Parca names an OTLP profile after its scope (and
 * needs the scope message). In arena a (batch_otlp_attrs_fn). */
static int otlp_item_attrs(void *arg, const struct item *it, struct arena *a,
                           struct otlp_item *oi)
{
    struct parca_exporter *x = arg;
    struct parca_labelset ls;
    struct keyvalue *kv;
    char name[PARCA_LABEL_NAME_MAX];
    uint32_t i, k = 0;
    int rc;

    otlp_item_name(it, oi, name, sizeof(name));
    parca_labelset_init(&ls);
    rc = parca_labels_build(&ls, it, name, &x->cfg->external_labels);
    kv = arena_calloc(a, ls.n + 1, sizeof(*kv));
    if (rc != PC_OK || kv == NULL) {
        parca_labelset_free(&ls);
        return PC_ENOMEM;
    }
    for (i = 0; i < ls.n; i++) {
        const struct parca_label *l = &ls.l[i];
        if (strcmp(l->name, "__name__") == 0) {
            oi->scope_name.ptr = arena_memdup(a, ls.text.data + l->voff,
                                              l->vlen);
            oi->scope_name.len = (uint32_t)l->vlen;
            if (oi->scope_name.ptr == NULL) {
                rc = PC_ENOMEM;
                break;
            }
            continue;
        }
        kv[k].key.ptr = arena_strndup(a, l->name, strlen(l->name));
        kv[k].key.len = (uint32_t)strlen(l->name);
        kv[k].value.type = AV_STRING;
        kv[k].value.u.s.ptr = arena_memdup(a, ls.text.data + l->voff, l->vlen);
        kv[k].value.u.s.len = (uint32_t)l->vlen;
        if (kv[k].key.ptr == NULL || kv[k].value.u.s.ptr == NULL) {
            rc = PC_ENOMEM;
            break;
        }
        k++;
    }
    parca_labelset_free(&ls);
    oi->attrs = kv;
    oi->nattrs = k;
    return rc;
}

static int parca_export_otlp(struct parca_exporter *x, struct batch *b,
                             int64_t timeout_ms, struct export_result *r)
{
    struct batch_otlp_opts o = {
        .id = x->id,
        .attrs = otlp_item_attrs,
        .attrs_arg = x,
    };
    struct batch_otlp bo;
    int rc = batch_otlp_build(b, &o, &bo, r);

    if (rc == PC_OK) {
        rc = grpccli_otlp_export(x->cli, bo.items, bo.n,
                                 x->cfg->max_request_bytes, timeout_ms, r);
    }
    batch_otlp_free(&bo);
    return rc;
}

static int parca_export(void *ctx, struct batch *b, int64_t timeout_ms,
                        struct export_result *r)
{
    struct parca_exporter *x = ctx;
    int rc;

    if (x->cfg->protocol == PARCA_PROTO_OTLP) {
        rc = parca_export_otlp(x, b, timeout_ms, r);
    } else {
        rc = parca_export_writeraw(x, b, timeout_ms, r);
    }
    if (rc == PC_OK && r->rejected_profiles > 0) {
        log_warn(x->id, "profiles rejected", "rejected=%u reason=\"%s\"",
                 r->rejected_profiles, r->msg);
    }
    return rc;
}

const struct component_factory parca_exporter_factory = {
    .type = "parca",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "sends profiles to Parca (gRPC WriteRaw, or OTLP Export)",
    .config_size = sizeof(struct parca_exporter_cfg),
    .config = parca_table,
    .create = parca_create,
    .destroy = parca_destroy,
    .ops.exporter = {.export = parca_export},
};
