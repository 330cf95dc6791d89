/*
 * engine.c: the pipeline graph at run time (see engine.h).
 *
 * Instances are allocated one by one and referenced from the graph by
 * pointer, so a reload can move an unchanged instance into the new graph
 * without its address changing (receivers and exporter threads hold it).
 * Everything here runs on the main loop's thread, except exporters'
 * export(), which the exporter helper runs on its own threads.
 */
#include "pipeline/engine.h"

#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/admin.h"
#include "pipeline/config.h"
#include "pipeline/exporter_helper.h"
#include "pipeline/log.h"
#include "pipeline/metrics.h"
#include "pipeline/retry.h"

struct pl_inst;

struct rx_inst {
    struct config_component *cc;
    void *ctx;
    struct component_host host;
    struct pl_inst **pipelines;     /* the pipelines it feeds */
    uint32_t npipelines;
    struct mcounter *accepted_profiles, *refused_profiles;
    struct mcounter *accepted_samples, *refused_samples;
    struct mcounter *accepted_bytes, *refused_bytes;
    int started;
};

struct px_inst {
    struct config_component *cc;
    void *ctx;
    struct component_host host;
    struct mcounter *dropped;
};

struct ex_inst {
    struct config_component *cc;
    void *ctx;
    struct component_host host;
    struct exphelper *helper;
    int started;
};

struct pl_inst {
    char *id;
    struct px_inst **procs;
    uint32_t nprocs;
    struct ex_inst **exps;
    uint32_t nexps;
};

struct graph {
    struct config cfg;
    struct rx_inst **rx;
    uint32_t nrx;
    struct ex_inst **ex;
    uint32_t nex;
    struct pl_inst **pl;
    uint32_t npl;
};

struct engine {
    struct event_base *base;
    struct metrics *metrics;
    struct admin *admin;
    struct graph *g;
    const char *config_path;
    int exit_code;
};

#define ENGINE_LOG "service"

/* ---- the hand-off ------------------------------------------------------ */

static int run_pipeline(struct pl_inst *pl, struct batch *b, struct errctx *e)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < pl->nprocs; i++) {
        struct px_inst *px = pl->procs[i];
        uint32_t before = batch_profile_count(b);
        rc = px->cc->factory->ops.processor.process(px->ctx, b, e);
        if (rc != PC_OK) {
            batch_unref(b);
            return rc;
        }
        if (batch_profile_count(b) < before) {
            mcounter_add(px->dropped, before - batch_profile_count(b));
        }
    }
    if (b->nitems > 0) {
        for (i = 0; i < pl->nexps; i++) {
            /* submit consumes a reference: each exporter gets its own. */
            int r = exphelper_submit(pl->exps[i]->helper, batch_ref(b));
            if (r != PC_OK && rc == PC_OK) {
                rc = r;
                err_set(e, r, "exporter %s: %s", pl->exps[i]->cc->id,
                        r == PC_EBUSY ? "sending queue is full"
                                      : pc_strerror(r));
            }
        }
    }
    batch_unref(b);
    return rc;
}

/* Gives b to every pipeline the receiver feeds. Each pipeline but the last
 * gets a clone taken before any processor ran, so no pipeline sees another's
 * changes. A retryable refusal wins over a permanent one: the client
 * should retry. */
static int engine_consume(struct component_host *host, struct batch *b,
                          struct errctx *e)
{
    struct rx_inst *rx = host->engine;
    uint32_t profiles = batch_profile_count(b), i, n = rx->npipelines;
    uint64_t samples = batch_sample_count(b), bytes = batch_bytes(b);
    struct batch **copies;
    int rc = PC_OK;

    copies = calloc(n ? n : 1, sizeof(*copies));
    if (copies == NULL) {
        batch_unref(b);
        return err_set(e, PC_EBUSY, "out of memory");
    }
    for (i = 0; i + 1 < n; i++) {
        copies[i] = batch_clone(b);
        if (copies[i] == NULL) {
            rc = err_set(e, PC_EBUSY, "out of memory");
        }
    }
    if (n > 0) {
        copies[n - 1] = b;
    } else {
        batch_unref(b);
    }
    for (i = 0; i < n; i++) {
        if (copies[i] == NULL) {
            continue;
        }
        if (rc == PC_EBUSY) {
            batch_unref(copies[i]);
            continue;
        }
        {
            int r = run_pipeline(rx->pipelines[i], copies[i], e);
            if (r == PC_EBUSY || (r != PC_OK && rc == PC_OK)) {
                rc = r;
            }
        }
    }
    free(copies);
    if (rc == PC_OK) {
        mcounter_add(rx->accepted_profiles, profiles);
        mcounter_add(rx->accepted_samples, samples);
        mcounter_add(rx->accepted_bytes, bytes);
    } else {
        mcounter_add(rx->refused_profiles, profiles);
        mcounter_add(rx->refused_samples, samples);
        mcounter_add(rx->refused_bytes, bytes);
    }
    return rc;
}

static void engine_refused(struct component_host *host, uint32_t profiles,
                           uint64_t bytes)
{
    struct rx_inst *rx = host->engine;

    mcounter_add(rx->refused_profiles, profiles);
    mcounter_add(rx->refused_bytes, bytes);
}

/* ---- building ---------------------------------------------------------- */

static void host_init(struct component_host *h, struct engine *en,
                      const char *id, void *owner)
{
    memset(h, 0, sizeof(*h));
    h->id = id;
    h->base = en->base;
    h->metrics = en->metrics;
    h->consume = engine_consume;
    h->refused = engine_refused;
    h->engine = owner;
}

static struct mcounter *rx_counter(struct engine *en, const char *what,
                                   const char *unit, const char *labels)
{
    char name[128], help[160];

    snprintf(name, sizeof(name), "profcol_receiver_%s_%s_total", what, unit);
    snprintf(help, sizeof(help), "Profile %s %s by the receiver.", unit,
             strcmp(what, "accepted") == 0 ? "accepted" : "refused");
    return metrics_counter(en->metrics, name, help, labels);
}

static struct rx_inst *rx_new(struct engine *en, struct config_component *cc,
                              struct errctx *e)
{
    struct rx_inst *rx = calloc(1, sizeof(*rx));
    char labels[300], esc[260];

    if (rx == NULL) {
        return NULL;
    }
    rx->cc = cc;
    host_init(&rx->host, en, cc->id, rx);
    metrics_escape(cc->id, esc, sizeof(esc));
    snprintf(labels, sizeof(labels), "receiver=\"%s\"", esc);
    rx->accepted_profiles = rx_counter(en, "accepted", "profiles", labels);
    rx->refused_profiles = rx_counter(en, "refused", "profiles", labels);
    rx->accepted_samples = rx_counter(en, "accepted", "samples", labels);
    rx->refused_samples = rx_counter(en, "refused", "samples", labels);
    rx->accepted_bytes = rx_counter(en, "accepted", "bytes", labels);
    rx->refused_bytes = rx_counter(en, "refused", "bytes", labels);
    if (cc->factory->create(cc->cfg, &rx->host, &rx->ctx, e) != PC_OK) {
        free(rx);
        return NULL;
    }
    return rx;
}

static struct px_inst *px_new(struct engine *en, struct config_component *cc,
                              const char *pipeline, struct errctx *e)
{
    struct px_inst *px = calloc(1, sizeof(*px));
    char labels[600], esc1[260], esc2[260];

    if (px == NULL) {
        return NULL;
    }
    px->cc = cc;
    host_init(&px->host, en, cc->id, px);
    metrics_escape(cc->id, esc1, sizeof(esc1));
    metrics_escape(pipeline, esc2, sizeof(esc2));
    snprintf(labels, sizeof(labels), "processor=\"%s\",pipeline=\"%s\"", esc1,
             esc2);
    px->dropped = metrics_counter(en->metrics,
                                  "profcol_processor_dropped_profiles_total",
                                  "Profiles a processor removed from batches.",
                                  labels);
    if (cc->factory->create(cc->cfg, &px->host, &px->ctx, e) != PC_OK) {
        free(px);
        return NULL;
    }
    return px;
}

static struct ex_inst *ex_new(struct engine *en, struct config_component *cc,
                              struct errctx *e)
{
    struct ex_inst *ex = calloc(1, sizeof(*ex));
    /* Every exporter config starts with its helper settings. */
    const struct exphelper_cfg *hc = cc->cfg;

    if (ex == NULL) {
        return NULL;
    }
    ex->cc = cc;
    host_init(&ex->host, en, cc->id, ex);
    if (cc->factory->create(cc->cfg, &ex->host, &ex->ctx, e) != PC_OK) {
        free(ex);
        return NULL;
    }
    if (exphelper_new(hc, cc->id, &cc->factory->ops.exporter, ex->ctx,
                      en->metrics, &ex->helper, e) != PC_OK) {
        cc->factory->destroy(ex->ctx);
        free(ex);
        return NULL;
    }
    return ex;
}

static void rx_free(struct rx_inst *rx)
{
    if (rx == NULL) {
        return;
    }
    if (rx->started) {
        rx->cc->factory->ops.receiver.stop(rx->ctx);
    }
    rx->cc->factory->destroy(rx->ctx);
    free(rx->pipelines);
    free(rx);
}

static void ex_free(struct ex_inst *ex, int64_t deadline_ms)
{
    if (ex == NULL) {
        return;
    }
    if (ex->started) {
        exphelper_stop(ex->helper, deadline_ms);
        ex->cc->factory->ops.exporter.stop(ex->ctx);
    }
    exphelper_free(ex->helper);
    ex->cc->factory->destroy(ex->ctx);
    free(ex);
}

static void px_free(struct px_inst *px)
{
    if (px != NULL) {
        px->cc->factory->destroy(px->ctx);
        free(px);
    }
}

/* Moves an instance with an equal config out of old (NULL when none). */
static struct ex_inst *take_ex(struct graph *old, struct config_component *cc)
{
    uint32_t k;

    for (k = 0; old != NULL && k < old->nex; k++) {
        struct ex_inst *ex = old->ex[k];
        if (ex != NULL && config_component_equal(ex->cc, cc)) {
            old->ex[k] = NULL;
            return ex;
        }
    }
    return NULL;
}

static struct rx_inst *take_rx(struct graph *old, struct config_component *cc)
{
    uint32_t k;

    for (k = 0; old != NULL && k < old->nrx; k++) {
        struct rx_inst *rx = old->rx[k];
        if (rx != NULL && config_component_equal(rx->cc, cc)) {
            old->rx[k] = NULL;
            return rx;
        }
    }
    return NULL;
}

static struct ex_inst *find_ex(struct graph *g, const char *id)
{
    uint32_t i;

    for (i = 0; i < g->nex; i++) {
        if (strcmp(g->ex[i]->cc->id, id) == 0) {
            return g->ex[i];
        }
    }
    return NULL;
}

static struct rx_inst *find_rx(struct graph *g, const char *id)
{
    uint32_t i;

    for (i = 0; i < g->nrx; i++) {
        if (strcmp(g->rx[i]->cc->id, id) == 0) {
            return g->rx[i];
        }
    }
    return NULL;
}

static void graph_free(struct graph *g, int64_t timeout_ms);

/*
 * A moved instance keeps using the decoded config it was created with, so
 * that struct moves to the new config entry (their contents are equal) and
 * the new entry's copy goes away with the old config.
 */
static void adopt(struct config_component **slot, struct config_component *cc)
{
    void *mine = (*slot)->cfg;

    (*slot)->cfg = cc->cfg;
    cc->cfg = mine;
    *slot = cc;
}

/* Builds the instances of cfg (taken by the graph). Instances equal to one
 * of `old` are moved from it. */
static struct graph *graph_build(struct engine *en, struct config *cfg,
                                 struct graph *old, struct errctx *e)
{
    struct graph *g = calloc(1, sizeof(*g));
    uint32_t i, j;

    if (g == NULL) {
        return NULL;
    }
    g->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    g->rx = calloc(g->cfg.ncomponents + 1, sizeof(*g->rx));
    g->ex = calloc(g->cfg.ncomponents + 1, sizeof(*g->ex));
    g->pl = calloc(g->cfg.npipelines + 1, sizeof(*g->pl));
    if (g->rx == NULL || g->ex == NULL || g->pl == NULL) {
        goto fail;
    }
    for (i = 0; i < g->cfg.ncomponents; i++) {
        struct config_component *cc = &g->cfg.components[i];
        if (cc->npipelines == 0) {
            continue;   /* defined but unused: warned about, not built */
        }
        if (cc->kind == COMPONENT_EXPORTER) {
            struct ex_inst *ex = take_ex(old, cc);
            if (ex != NULL) {
                adopt(&ex->cc, cc);
            } else if ((ex = ex_new(en, cc, e)) == NULL) {
                goto fail;
            }
            g->ex[g->nex++] = ex;
        } else if (cc->kind == COMPONENT_RECEIVER) {
            struct rx_inst *rx = take_rx(old, cc);
            if (rx != NULL) {
                adopt(&rx->cc, cc);
                free(rx->pipelines);
                rx->pipelines = NULL;
                rx->npipelines = 0;
            } else if ((rx = rx_new(en, cc, e)) == NULL) {
                goto fail;
            }
            g->rx[g->nrx++] = rx;
        }
    }
    for (i = 0; i < g->cfg.npipelines; i++) {
        struct config_pipeline *cp = &g->cfg.pipelines[i];
        struct pl_inst *pl = calloc(1, sizeof(*pl));
        if (pl == NULL) {
            goto fail;
        }
        g->pl[g->npl++] = pl;
        pl->id = cp->id;
        pl->procs = calloc(cp->nprocessors + 1, sizeof(*pl->procs));
        pl->exps = calloc(cp->nexporters + 1, sizeof(*pl->exps));
        if (pl->procs == NULL || pl->exps == NULL) {
            goto fail;
        }
        for (j = 0; j < cp->nprocessors; j++) {
            /* Processors are per pipeline, as in the Collector. */
            struct px_inst *px = px_new(en, cp->processors[j], cp->id, e);
            if (px == NULL) {
                goto fail;
            }
            pl->procs[pl->nprocs++] = px;
        }
        for (j = 0; j < cp->nexporters; j++) {
            pl->exps[pl->nexps++] = find_ex(g, cp->exporters[j]->id);
        }
        for (j = 0; j < cp->nreceivers; j++) {
            struct rx_inst *rx = find_rx(g, cp->receivers[j]->id);
            struct pl_inst **np = realloc(rx->pipelines,
                                          (rx->npipelines + 1) * sizeof(*np));
            if (np == NULL) {
                goto fail;
            }
            rx->pipelines = np;
            rx->pipelines[rx->npipelines++] = pl;
        }
    }
    return g;
fail:
    graph_free(g, 0);
    return NULL;
}

/* Stops and frees g; exporters' queues drain for at most timeout_ms in
 * total (one deadline shared by all of them). */
static void graph_free(struct graph *g, int64_t timeout_ms)
{
    int64_t deadline_ms = retry_now_ms() + timeout_ms;
    uint32_t i, j;

    if (g == NULL) {
        return;
    }
    /* Receivers first, so nothing new arrives while queues drain. */
    for (i = 0; i < g->nrx; i++) {
        rx_free(g->rx[i]);
    }
    for (i = 0; i < g->npl; i++) {
        if (g->pl[i] == NULL) {
            continue;
        }
        for (j = 0; j < g->pl[i]->nprocs; j++) {
            px_free(g->pl[i]->procs[j]);
        }
        free(g->pl[i]->procs);
        free(g->pl[i]->exps);
        free(g->pl[i]);
    }
    for (i = 0; i < g->nex; i++) {
        ex_free(g->ex[i], deadline_ms);
    }
    free(g->rx);
    free(g->ex);
    free(g->pl);
    config_free(&g->cfg);
    free(g);
}

/* Exporters first, receivers last: nothing is accepted that cannot leave. */
static int graph_start(struct graph *g, struct errctx *e)
{
    uint32_t i;

    for (i = 0; i < g->nex; i++) {
        struct ex_inst *ex = g->ex[i];
        if (ex->started) {
            continue;
        }
        if (ex->cc->factory->ops.exporter.start(ex->ctx) != PC_OK ||
            exphelper_start(ex->helper) != PC_OK) {
            return err_set(e, PC_EIO, "exporter %s failed to start",
                           ex->cc->id);
        }
        ex->started = 1;
    }
    for (i = 0; i < g->nrx; i++) {
        struct rx_inst *rx = g->rx[i];
        if (rx->started) {
            continue;
        }
        if (rx->cc->factory->ops.receiver.start(rx->ctx) != PC_OK) {
            return err_set(e, PC_EIO, "receiver %s failed to start",
                           rx->cc->id);
        }
        rx->started = 1;
    }
    return PC_OK;
}

/* ---- configuration ----------------------------------------------------- */

static int load_config(const char *path, struct config *cfg)
{
    struct cfg_diag d;
    uint32_t i;
    int rc;

    memset(&d, 0, sizeof(d));
    rc = config_load(path, cfg, &d);
    for (i = 0; i < d.nerrors; i++) {
        log_error(ENGINE_LOG, "invalid configuration", "error=\"%s\"",
                  d.errors[i]);
    }
    for (i = 0; i < d.nwarnings; i++) {
        log_warn(ENGINE_LOG, "configuration warning", "warning=\"%s\"",
                 d.warnings[i]);
    }
    cfg_diag_free(&d);
    return rc;
}

static void apply_telemetry(const struct config *cfg)
{
    log_configure((enum log_level)cfg->telemetry.logs.level,
                  (enum log_format)cfg->telemetry.logs.format);
}

static void engine_reload(struct engine *en)
{
    struct config cfg;
    struct graph *g, *old = en->g;
    struct errctx e = {{0}};

    log_info(ENGINE_LOG, "reloading configuration", "file=\"%s\"",
             en->config_path);
    memset(&cfg, 0, sizeof(cfg));
    if (load_config(en->config_path, &cfg) != PC_OK) {
        log_error(ENGINE_LOG, "reload rejected: keeping the running "
                              "configuration", "file=\"%s\"", en->config_path);
        config_free(&cfg);
        return;
    }
    /* Receivers that change stop before the new ones bind their ports;
     * graph_build moved the unchanged ones out of old already. */
    g = graph_build(en, &cfg, old, &e);
    if (g == NULL) {
        log_error(ENGINE_LOG, "reload failed: keeping the running "
                              "configuration", "error=\"%s\"",
                  err_msg(&e, PC_ECONFIG));
        config_free(&cfg);
        return;
    }
    {
        uint32_t i;
        for (i = 0; i < old->nrx; i++) {
            rx_free(old->rx[i]);
            old->rx[i] = NULL;
        }
        old->nrx = 0;
    }
    en->g = g;
    apply_telemetry(&g->cfg);
    if (graph_start(g, &e) != PC_OK) {
        log_error(ENGINE_LOG, "component failed to start after reload",
                  "error=\"%s\"", err_msg(&e, PC_EIO));
    }
    /* What did not carry over drains and goes. */
    graph_free(old, g->cfg.shutdown_timeout_ms);
    log_info(ENGINE_LOG, "configuration reloaded", "pipelines=%u",
             g->cfg.npipelines);
}

/* ---- signals and main loop ---------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct engine *en = arg;

    (void)what;
    if (sig == SIGHUP) {
        engine_reload(en);
        return;
    }
    log_info(ENGINE_LOG, "shutting down", "signal=%d", (int)sig);
    admin_set_state(en->admin, ADMIN_STATE_STOPPING);
    event_base_loopbreak(en->base);
}

int engine_run(const char *config_path)
{
    struct engine en;
    struct config cfg;
    struct errctx e = {{0}};
    struct event *sigs[3] = {NULL, NULL, NULL};
    static const int signums[3] = {SIGTERM, SIGINT, SIGHUP};
    int i, rc = 1;

    memset(&en, 0, sizeof(en));
    memset(&cfg, 0, sizeof(cfg));
    en.config_path = config_path;
    if (load_config(config_path, &cfg) != PC_OK) {
        config_free(&cfg);
        return 1;
    }
    apply_telemetry(&cfg);
    signal(SIGPIPE, SIG_IGN);
    en.base = event_base_new();
    en.metrics = metrics_new();
    if (en.base == NULL || en.metrics == NULL) {
        goto out;
    }
    if (admin_start(en.base, cfg.telemetry.metrics.address,
                    cfg.telemetry.health.address, en.metrics, &en.admin,
                    &e) != PC_OK) {
        log_error(ENGINE_LOG, "cannot serve telemetry", "error=\"%s\"",
                  err_msg(&e, PC_EIO));
        goto out;
    }
    en.g = graph_build(&en, &cfg, NULL, &e);
    if (en.g == NULL) {
        log_error(ENGINE_LOG, "cannot build pipelines", "error=\"%s\"",
                  err_msg(&e, PC_ECONFIG));
        goto out;
    }
    if (graph_start(en.g, &e) != PC_OK) {
        log_error(ENGINE_LOG, "cannot start", "error=\"%s\"",
                  err_msg(&e, PC_EIO));
        goto out;
    }
    for (i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(en.base, signums[i], on_signal, &en);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0) {
            goto out;
        }
    }
    admin_set_state(en.admin, ADMIN_STATE_RUNNING);
    log_info(ENGINE_LOG, "profcol is running",
             "version=%s pipelines=%u metrics=\"%s\" health=\"%s\"",
             PROFCOL_VERSION, en.g->cfg.npipelines,
             en.g->cfg.telemetry.metrics.address,
             en.g->cfg.telemetry.health.address);
    event_base_dispatch(en.base);
    rc = 0;
out:
    if (en.admin != NULL) {
        admin_set_state(en.admin, ADMIN_STATE_STOPPING);
    }
    if (en.g != NULL) {
        graph_free(en.g, en.g->cfg.shutdown_timeout_ms);
    }
    config_free(&cfg);
    for (i = 0; i < 3; i++) {
        if (sigs[i] != NULL) {
            event_free(sigs[i]);
        }
    }
    admin_stop(en.admin);
    metrics_free(en.metrics);
    if (en.base != NULL) {
        event_base_free(en.base);
    }
    log_info(ENGINE_LOG, "stopped", "code=%d", rc);
    return rc;
}
