/*
 * pm_exporter.c: the `profilemetrics` exporter. Counters computed from the
 * profiles that reach it (pm_rules.h), served in the Prometheus text format
 * at its own `endpoint` (GET /metrics) and, when `remote_write.endpoint`
 * is set, pushed with Prometheus remote write (pm_remote.h).
 *
 * export() runs on the exporter helper's threads and only adds to the
 * counters; /metrics is rendered on an HTTP worker; both take the store's
 * lock, never the loop.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/component.h"
#include "exporterhelper/exporter_helper.h"
#include "net/httpsrv.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "exporters/profilemetrics/pm_remote.h"
#include "exporters/profilemetrics/pm_rules.h"

#define PM_RENDER_MAX (512u << 20)
#define PM_LISTENERS_MAX 16

struct pm_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *endpoint;
    struct cfg_list rules; /* struct pm_rule_cfg */
    int64_t max_series;
    struct pm_remote_cfg remote_write;
};
EXPHELPER_CFG_FIRST(struct pm_cfg, helper);

/* clang-format off */
static const struct cfg_entry pm_rule_table[] = {
    {.key = "name", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct pm_rule_cfg, name),
     .doc = "metric name (made valid for Prometheus)"},
    {.key = "selector", .type = CFG_STRING, .def = "{}",
     .offset = offsetof(struct pm_rule_cfg, selector),
     .doc = "label selector over the series attributes"},
    {.key = "sample_type", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct pm_rule_cfg, sample_type),
     .doc = "sample type summed (cpu, alloc_space, ...); time in seconds"},
    {.key = "function", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct pm_rule_cfg, function),
     .doc = "only stacks with a function this regex finds; all if empty"},
    {.key = "group_by", .type = CFG_STRLIST,
     .offset = offsetof(struct pm_rule_cfg, group_by),
     .doc = "series attributes or sample labels that make the groups"},
    {.key = NULL},
};

static const struct cfg_entry pm_remote_table[] = {
    {.key = "endpoint", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct pm_remote_cfg, endpoint),
     .doc = "remote-write URL (http://host:9090/api/v1/write); empty: off"},
    {.key = "interval", .type = CFG_DURATION, .def = "15s", .min = 100,
     .max = 86400000, .offset = offsetof(struct pm_remote_cfg, interval_ms),
     .doc = "time between two pushes"},
    {.key = NULL},
};

static const struct cfg_entry pm_table[] = {
    EXPHELPER_CFG_ENTRIES(struct pm_cfg, helper),
    {.key = "endpoint", .type = CFG_STRING, .def = "localhost:9465",
     .offset = offsetof(struct pm_cfg, endpoint),
     .doc = "host:port serving GET /metrics"},
    {.key = "rules", .type = CFG_SECTION_LIST, .sub = pm_rule_table,
     .sub_size = sizeof(struct pm_rule_cfg),
     .offset = offsetof(struct pm_cfg, rules),
     .doc = "name, selector, sample_type, function, group_by"},
    {.key = "max_series", .type = CFG_INT, .def = "10000", .min = 1,
     .max = 10000000, .offset = offsetof(struct pm_cfg, max_series),
     .doc = "series beyond it are counted, not created"},
    {.key = "remote_write", .type = CFG_SECTION, .sub = pm_remote_table,
     .offset = offsetof(struct pm_cfg, remote_write),
     .doc = "endpoint, interval: Prometheus remote write"},
    {.key = NULL},
};
/* clang-format on */

struct pm_exporter;

/*
 * The HTTP servers, by endpoint. A reload starts the new instance before it
 * stops the old one, so two instances with one endpoint run for a moment:
 * the new one takes the server over (its counters are served from then on)
 * instead of failing to bind. start/stop run on the main loop; requests on
 * HTTP workers; pm_listeners_mu covers owner changes and rendering.
 */
struct pm_listener {
    char endpoint[256];
    struct httpsrv *srv;
    struct pm_exporter *owner; /* NULL: nobody (empty /metrics) */
    int refs;                  /* instances using it; 0 = free slot */
};

static struct pm_listener pm_listeners[PM_LISTENERS_MAX];
static pthread_mutex_t pm_listeners_mu = PTHREAD_MUTEX_INITIALIZER;

struct pm_exporter {
    const struct pm_cfg *cfg;
    struct component_host *host;
    struct pm_rules *rules;
    struct pm_listener *listener;
    struct pm_remote *remote;
    struct mcounter *undecodable;
    char id[128];
};

static double refused_series(void *arg)
{
    struct pm_exporter *pm = arg;

    return (double)pm_store_refused(pm_rules_store(pm->rules));
}

static double held_series(void *arg)
{
    struct pm_exporter *pm = arg;

    return (double)pm_store_size(pm_rules_store(pm->rules));
}

static void pm_metrics(struct pm_exporter *pm)
{
    struct mscope *m = pm->host->metrics;

    pm->undecodable = mscope_counter(
        m, "profcol_profilemetrics_undecodable_profiles",
        "Profiles the exporter could not decode (no metrics from them).",
        NULL);
    mscope_gauge_fn(m, "profcol_profilemetrics_series_refused",
                    "Series not created because max_series was reached.",
                    refused_series, pm, NULL);
    mscope_gauge_fn(m, "profcol_profilemetrics_series",
                    "Series the exporter holds.", held_series, pm, NULL);
}

static int pm_create(const void *cfg, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    const struct pm_cfg *c = cfg;
    struct pm_exporter *pm = calloc(1, sizeof(*pm));
    int rc;

    if (pm == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    pm->cfg = c;
    pm->host = host;
    snprintf(pm->id, sizeof(pm->id), "%s", host->id);
    rc = pm_rules_new(c->rules.items, c->rules.n, (uint32_t)c->max_series,
                      &pm->rules, e);
    if (rc != PC_OK) {
        free(pm);
        return rc;
    }
    pm_metrics(pm);
    *ctx = pm;
    return PC_OK;
}

static void pm_destroy(void *ctx)
{
    struct pm_exporter *pm = ctx;

    pm_rules_free(pm->rules);
    free(pm);
}

/* GET /metrics, on an HTTP worker. */
static void on_metrics(struct httpsrv_req *req, void *arg)
{
    struct pm_listener *l = arg;
    struct buf out;
    int rc = PC_OK;

    buf_init(&out, PM_RENDER_MAX);
    pthread_mutex_lock(&pm_listeners_mu);
    if (l->owner != NULL) {
        rc = pm_store_render(pm_rules_store(l->owner->rules), &out);
    }
    pthread_mutex_unlock(&pm_listeners_mu);
    if (rc != PC_OK) {
        httpsrv_reply(req, 500, "text/plain", "render failed\n", 14);
    } else {
        httpsrv_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                      out.data, out.len);
    }
    buf_free(&out);
}

/* The listener of pm's endpoint, taken over when another instance has
 * it, else started. Main loop. */
static int listener_take(struct pm_exporter *pm, struct errctx *e)
{
    struct pm_listener *l = NULL, *free_slot = NULL;
    struct httpsrv_cfg hc;
    int i, rc;

    pthread_mutex_lock(&pm_listeners_mu);
    for (i = 0; i < PM_LISTENERS_MAX; i++) {
        struct pm_listener *c = &pm_listeners[i];
        if (c->refs > 0 && strcmp(c->endpoint, pm->cfg->endpoint) == 0) {
            l = c;
        } else if (c->refs == 0 && free_slot == NULL) {
            free_slot = c;
        }
    }
    if (l != NULL) {
        l->owner = pm;
        l->refs++;
    }
    pthread_mutex_unlock(&pm_listeners_mu);
    if (l != NULL || free_slot == NULL) {
        pm->listener = l;
        return l != NULL ? PC_OK : err_set(e, PC_ENOMEM, "too many endpoints");
    }
    l = free_slot;
    memset(&hc, 0, sizeof(hc));
    hc.endpoint = pm->cfg->endpoint;
    hc.max_request_body_size = 4096; /* GET only */
    rc = httpsrv_start(pm->host->base, &hc, pm->id, &l->srv, e);
    if (rc == PC_OK) {
        rc = httpsrv_route(l->srv, "/metrics", HTTPSRV_ALLOW_GET, on_metrics,
                           l);
    }
    if (rc != PC_OK) {
        httpsrv_stop(l->srv);
        l->srv = NULL;
        return rc;
    }
    pthread_mutex_lock(&pm_listeners_mu);
    snprintf(l->endpoint, sizeof(l->endpoint), "%s", pm->cfg->endpoint);
    l->owner = pm;
    l->refs = 1;
    pthread_mutex_unlock(&pm_listeners_mu);
    pm->listener = l;
    return PC_OK;
}

/* Lets go of pm's listener; the last user stops the server. */
static void listener_drop(struct pm_exporter *pm)
{
    struct pm_listener *l = pm->listener;
    struct httpsrv *srv = NULL;

    if (l == NULL) {
        return;
    }
    pthread_mutex_lock(&pm_listeners_mu);
    if (l->owner == pm) {
        l->owner = NULL;
    }
    if (--l->refs == 0) {
        srv = l->srv;
        l->srv = NULL;
    }
    pthread_mutex_unlock(&pm_listeners_mu);
    /* Drains its workers first: no request sees the slot reused. */
    httpsrv_stop(srv);
    pm->listener = NULL;
}

static int pm_start(void *ctx)
{
    struct pm_exporter *pm = ctx;
    struct errctx e = {{0}};
    int rc = listener_take(pm, &e);

    if (rc == PC_OK && pm->cfg->remote_write.endpoint[0] != '\0') {
        rc = pm_remote_start(&pm->cfg->remote_write, &pm->cfg->helper,
                             pm_rules_store(pm->rules), pm->id,
                             pm->host->metrics, &pm->remote, &e);
    }
    if (rc != PC_OK) {
        log_error(pm->id, "cannot start", "error=\"%s\"", err_msg(&e, rc));
        listener_drop(pm);
    }
    return rc;
}

static void pm_stop(void *ctx)
{
    struct pm_exporter *pm = ctx;

    pm_remote_stop(pm->remote);
    pm->remote = NULL;
    listener_drop(pm);
}

static int pm_export(void *ctx, struct batch *b, int64_t timeout_ms,
                     struct export_result *r)
{
    struct pm_exporter *pm = ctx;
    uint32_t i;

    (void)timeout_ms;
    for (i = 0; i < b->nitems; i++) {
        struct errctx e = {{0}};
        int rc = pm_rules_eval_item(pm->rules, b, &b->items[i], &e);
        if (rc != PC_OK) {
            /* Its profiles are lost to the metrics only: counted, and the
             * batch is not retried for them. */
            mcounter_add(pm->undecodable, b->items[i].nprofiles);
            log_warn(pm->id, "undecodable profile: no metrics from it",
                     "profiles=%u error=\"%s\"", b->items[i].nprofiles,
                     err_msg(&e, rc));
            snprintf(r->msg, sizeof(r->msg), "%s", err_msg(&e, rc));
        }
    }
    return PC_OK;
}

static void pm_validate(const void *cfg, const struct ynode *node,
                        struct cfg_diag *d)
{
    const struct pm_cfg *c = cfg;
    struct pm_rules *rules = NULL;
    struct errctx e = {{0}};
    int rc = pm_rules_new(c->rules.items, c->rules.n, 1, &rules, &e);

    if (rc != PC_OK) {
        cfg_diag_error(d, node, "rules: %s", err_msg(&e, rc));
    }
    pm_rules_free(rules);
}

const struct component_factory profilemetrics_exporter_factory = {
    .type = "profilemetrics",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "Prometheus counters from profiles (/metrics and remote "
                   "write)",
    .config_size = sizeof(struct pm_cfg),
    .config = pm_table,
    .validate = pm_validate,
    .create = pm_create,
    .destroy = pm_destroy,
    .ops.exporter = {.start = pm_start, .export = pm_export, .stop = pm_stop},
};
