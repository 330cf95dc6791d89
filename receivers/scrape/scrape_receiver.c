/*
 * scrape_receiver.c: the `scrape` receiver (pull mode). Scrapes pprof
 * endpoints (Go's net/http/pprof, godeltaprof, fgprof, anything serving
 * pprof over HTTP) like Prometheus scrapes metrics and Parca / Grafana
 * Alloy scrape profiles: scrape_configs with static and file-based
 * discovery, relabeling, per-profile paths, `seconds` windows computed by
 * the target, and collector-side deltas of cumulative profiles.
 *
 * create() compiles the configuration (relabel rules, profile list, static
 * groups); start() builds the runtime (curl multi handle, discovery, loops)
 * and stop() tears it down again, so a failed reload can start it anew.
 */
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "receivers/scrape/scrape.h"

#define SD_WATCH_MAX_MS 5000
/* Kubernetes stores are checked this often: targets follow pods within
 * about a second. */
#define K8S_POLL_MS 1000

/* ---- static groups ---------------------------------------------------------- */

static int static_groups(struct scrape_job *job)
{
    const struct scrape_job_cfg *jc = job->cfg;
    uint32_t i, k;

    job->static_groups = calloc(jc->static_configs.n + 1,
                                sizeof(*job->static_groups));
    if (job->static_groups == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < jc->static_configs.n; i++) {
        const struct scrape_static_cfg *s =
            &((const struct scrape_static_cfg *)jc->static_configs.items)[i];
        struct scrape_group *g = &job->static_groups[i];
        job->nstatic = i + 1;
        labels_init(&g->labels);
        g->targets = calloc(s->targets.n + 1, sizeof(*g->targets));
        if (g->targets == NULL) {
            return PC_ENOMEM;
        }
        for (k = 0; k < s->targets.n; k++) {
            g->targets[k] = strdup(s->targets.items[k]);
            if (g->targets[k] == NULL) {
                return PC_ENOMEM;
            }
            g->ntargets = k + 1;
        }
        for (k = 0; k < s->labels.n; k++) {
            if (labels_set(&g->labels, s->labels.keys[k],
                           s->labels.values[k]) != PC_OK) {
                return PC_ETOOBIG;
            }
        }
    }
    return PC_OK;
}

static int job_init(struct scrape_receiver *r, struct scrape_job *job,
                    const struct scrape_job_cfg *jc, struct errctx *e)
{
    int rc;

    job->rcv = r;
    job->cfg = jc;
    rc = relabel_compile((const struct relabel_cfg *)jc->relabel_configs.items,
                         jc->relabel_configs.n, &job->rules, e);
    if (rc != PC_OK) {
        return rc;
    }
    job->nprofiles = scrape_profiles(jc, job->profiles, SCRAPE_MAX_PROFILES);
    rc = static_groups(job);
    if (rc != PC_OK) {
        return err_set(e, rc, "job %s: static_configs: %s", jc->job_name,
                       pc_strerror(rc));
    }
    return PC_OK;
}

static void job_fini(struct scrape_job *job)
{
    relabel_free(&job->rules);
    scrape_groups_free(job->static_groups, job->nstatic);
    free(job->password);
    free(job->bearer);
}

/* ---- discovery timer ------------------------------------------------------------- */

/* Adds what the watches counted since the last look to the counters. */
static void job_k8s_counts(struct scrape_job *job)
{
    struct k8s_watch_counts sum = {0}, c;
    uint32_t i;

    for (i = 0; i < job->nk8s; i++) {
        if (job->k8s[i].sd != NULL) {
            k8s_sd_counts(job->k8s[i].sd, &c);
            sum.events += c.events;
            sum.bad_events += c.bad_events;
            sum.failures += c.failures;
        }
    }
    if (job->m_k8s_events != NULL && sum.events >= job->k8s_seen.events) {
        mcounter_add(job->m_k8s_events, sum.events - job->k8s_seen.events);
    }
    if (job->m_k8s_bad != NULL && sum.bad_events >= job->k8s_seen.bad_events) {
        mcounter_add(job->m_k8s_bad,
                     sum.bad_events - job->k8s_seen.bad_events);
    }
    if (job->m_k8s_failures != NULL &&
        sum.failures >= job->k8s_seen.failures) {
        mcounter_add(job->m_k8s_failures,
                     sum.failures - job->k8s_seen.failures);
    }
    job->k8s_seen = sum;
}

static void job_poll_sd(struct scrape_job *job, int force_full)
{
    int64_t now = clock_real_ns();
    int changed = 0;
    uint32_t i;

    for (i = 0; i < job->nk8s; i++) {
        scrape_k8s_poll(&job->k8s[i], job->rcv->host->id, &changed);
    }
    job_k8s_counts(job);

    for (i = 0; i < job->nsd; i++) {
        struct scrape_sd *sd = &job->sds[i];
        int full = force_full || now >= sd->next_full_ns;
        if (full) {
            sd->next_full_ns = now + sd->cfg->refresh_interval_ms * 1000000;
        }
        scrape_sd_poll(sd, job->rcv->host->id, full, &changed);
    }
    if (changed) {
        scrape_job_sync(job);
    }
}

static void job_sd_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    job_poll_sd(arg, 0);
}

/* Starts the job's Kubernetes discovery; a failure (no cluster, a bad
 * kubeconfig) is logged and leaves that entry without targets, as the
 * other jobs go on. */
static int job_k8s_start(struct scrape_job *job)
{
    const struct scrape_job_cfg *jc = job->cfg;
    uint32_t i;

    if (jc->kubernetes_sd_configs.n == 0) {
        return PC_OK;
    }
    job->k8s = calloc(jc->kubernetes_sd_configs.n, sizeof(*job->k8s));
    if (job->k8s == NULL) {
        return PC_ENOMEM;
    }
    job->nk8s = jc->kubernetes_sd_configs.n;
    job->m_k8s_events = mscope_counter(job->mscope,
                                       "profcol_scrape_kubernetes_events",
                                       "Kubernetes watch events applied",
                                       NULL);
    job->m_k8s_bad = mscope_counter(
        job->mscope, "profcol_scrape_kubernetes_bad_events",
        "Kubernetes events or list items refused (malformed, unknown "
        "type or kind, too large)",
        NULL);
    job->m_k8s_failures = mscope_counter(
        job->mscope, "profcol_scrape_kubernetes_request_failures",
        "failed Kubernetes list and watch requests", NULL);
    for (i = 0; i < job->nk8s; i++) {
        struct errctx e = {{0}};
        int rc;
        job->k8s[i].cfg =
            &((const struct k8s_sd_cfg *)jc->kubernetes_sd_configs.items)[i];
        rc = k8s_sd_start(job->k8s[i].cfg, job->rcv->host->id, &job->k8s[i].sd,
                          &e);
        if (rc != PC_OK) {
            log_error(job->rcv->host->id, "kubernetes discovery not started",
                      "job=\"%s\" error=\"%s\"", jc->job_name,
                      err_msg(&e, rc));
        }
    }
    return PC_OK;
}

/* file_sd files are checked for changes every min(refresh_interval, 5s);
 * a full re-read happens every refresh_interval; Kubernetes stores every
 * second. */
static int job_sd_start(struct scrape_job *job)
{
    const struct scrape_job_cfg *jc = job->cfg;
    int64_t watch = SD_WATCH_MAX_MS;
    struct timeval tv;
    uint32_t i;
    int rc = job_k8s_start(job);

    job->nsd = jc->file_sd_configs.n;
    if (rc != PC_OK || (job->nsd == 0 && job->nk8s == 0)) {
        return rc;
    }
    if (job->nk8s > 0) {
        watch = K8S_POLL_MS;
    }
    job->sds = calloc(job->nsd + 1, sizeof(*job->sds));
    if (job->sds == NULL) {
        job->nsd = 0;
        return PC_ENOMEM;
    }
    for (i = 0; i < job->nsd; i++) {
        job->sds[i].cfg =
            &((const struct scrape_filesd_cfg *)jc->file_sd_configs.items)[i];
        if (job->sds[i].cfg->refresh_interval_ms < watch) {
            watch = job->sds[i].cfg->refresh_interval_ms;
        }
    }
    job->sd_timer = event_new(job->rcv->host->base, -1, EV_PERSIST,
                              job_sd_tick, job);
    tv.tv_sec = watch / 1000;
    tv.tv_usec = (watch % 1000) * 1000;
    if (job->sd_timer == NULL || event_add(job->sd_timer, &tv) != 0) {
        return PC_ENOMEM;
    }
    for (i = 0; i < job->nsd; i++) {
        int changed = 0;
        job->sds[i].next_full_ns = clock_real_ns() +
                                   job->sds[i].cfg->refresh_interval_ms *
                                       1000000;
        scrape_sd_poll(&job->sds[i], job->rcv->host->id, 1, &changed);
    }
    return PC_OK;
}

static void job_stop(struct scrape_job *job)
{
    uint32_t i;

    if (job->sd_timer != NULL) {
        event_free(job->sd_timer);
        job->sd_timer = NULL;
    }
    for (i = 0; i < job->nloops; i++) {
        scrape_loop_free(job->loops[i]);
    }
    free(job->loops);
    job->loops = NULL;
    job->nloops = 0;
    for (i = 0; i < job->nsd; i++) {
        scrape_sd_free(&job->sds[i]);
    }
    for (i = 0; i < job->nk8s; i++) {
        scrape_k8s_free(&job->k8s[i]);
    }
    free(job->k8s);
    job->k8s = NULL;
    job->nk8s = 0;
    memset(&job->k8s_seen, 0, sizeof(job->k8s_seen));
    job->m_k8s_events = job->m_k8s_bad = job->m_k8s_failures = NULL;
    free(job->sds);
    job->sds = NULL;
    job->nsd = 0;
    mscope_free(job->mscope);
    job->mscope = NULL;
    job->m_targets = NULL;
}

static int job_start(struct scrape_job *job)
{
    int rc;

    job->mscope = mscope_sub(job->rcv->host->metrics, "job",
                             job->cfg->job_name, NULL);
    job->m_targets = mscope_gauge(job->mscope, "profcol_scrape_targets",
                                  "scrape loops (target x profile) running",
                                  NULL);
    rc = job_sd_start(job);
    if (rc != PC_OK) {
        return rc;
    }
    scrape_job_sync(job);
    return PC_OK;
}

/* ---- factory callbacks ------------------------------------------------------------ */

static void sr_destroy(void *ctx);

static int sr_create(const void *cfgp, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    const struct scrape_cfg *cfg = cfgp;
    struct scrape_receiver *r = calloc(1, sizeof(*r));
    uint32_t i;
    int rc = PC_OK;

    if (r == NULL) {
        return PC_ENOMEM;
    }
    /* libcurl is loaded by its first user (curl_global_init included). */
    rc = curl_api_load(e);
    if (rc != PC_OK) {
        free(r);
        return rc;
    }
    r->cfg = cfg;
    r->host = host;
    r->jobs = calloc(cfg->scrape_configs.n + 1, sizeof(*r->jobs));
    if (r->jobs == NULL) {
        sr_destroy(r);
        return PC_ENOMEM;
    }
    for (i = 0; i < cfg->scrape_configs.n && rc == PC_OK; i++) {
        r->njobs = i + 1;
        rc = job_init(
            r, &r->jobs[i],
            &((const struct scrape_job_cfg *)cfg->scrape_configs.items)[i], e);
    }
    if (rc != PC_OK) {
        sr_destroy(r);
        return rc;
    }
    *ctx = r;
    return PC_OK;
}

static void sr_stop(void *ctx)
{
    struct scrape_receiver *r = ctx;
    uint32_t i;

    if (!r->running) {
        return;
    }
    for (i = 0; i < r->njobs; i++) {
        job_stop(&r->jobs[i]);
    }
    scrape_fetch_free(r->fetch);
    r->fetch = NULL;
    r->delta_bytes = 0;
    if (r->m_delta_bytes != NULL) {
        mgauge_set(r->m_delta_bytes, 0);
    }
    r->running = 0;
}

static int sr_start(void *ctx)
{
    struct scrape_receiver *r = ctx;
    uint32_t i;
    int rc = PC_OK;

    r->fetch = scrape_fetch_new(r->host->base, scrape_loop_done,
                                (long)r->cfg->max_connections);
    if (r->fetch == NULL) {
        return PC_ENOMEM;
    }
    r->running = 1;
    r->m_delta_bytes = mscope_gauge(r->host->metrics,
                                    "profcol_scrape_delta_state_bytes",
                                    "memory held by delta baselines", NULL);
    for (i = 0; i < r->njobs && rc == PC_OK; i++) {
        rc = job_start(&r->jobs[i]);
    }
    if (rc != PC_OK) {
        sr_stop(r);
    }
    return rc;
}

static void sr_destroy(void *ctx)
{
    struct scrape_receiver *r = ctx;
    uint32_t i;

    if (r == NULL) {
        return;
    }
    sr_stop(r);
    for (i = 0; i < r->njobs; i++) {
        job_fini(&r->jobs[i]);
    }
    free(r->jobs);
    free(r);
}

const struct component_factory scrape_receiver_factory = {
    .type = "scrape",
    .kind = COMPONENT_RECEIVER,
    .stability = "alpha",
    .description = "scrapes pprof endpoints (Go /debug/pprof) like "
                   "Prometheus/Parca/Alloy, with relabeling and deltas",
    .config_size = sizeof(struct scrape_cfg),
    .config = scrape_cfg_table,
    .validate = scrape_cfg_validate,
    .create = sr_create,
    .destroy = sr_destroy,
    .ops.receiver = {.start = sr_start, .stop = sr_stop},
};
