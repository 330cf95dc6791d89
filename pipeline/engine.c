/*
 * engine.c: the pipeline graph at run time (see engine.h).
 *
 * Instances are allocated one by one and referenced from the graph by
 * pointer, so a reload can move an unchanged instance into the new graph
 * without its address changing (receivers and exporter threads hold it).
 * Everything here runs on the main loop's thread, except exporters'
 * export(), which the exporter helper runs on its own threads.
 *
 * Reload is all-or-nothing. Building the new graph never touches the old
 * one: unchanged instances are only *looked up* in it, and every step that
 * can fail (creating instances, starting new exporters, starting new
 * receivers) runs before the commit, which cannot fail. On a failure the
 * new instances are discarded and the old graph keeps running; the only
 * thing the old graph notices is that receivers replaced by the new graph
 * were stopped (so the new ones could bind their ports) and are started
 * again.
 *
 * A decoded component config may point into its YAML document (CFG_NODE),
 * and a moved instance keeps the config it was created with, so documents
 * are refcounted (struct docref): each instance holds the document its
 * config came from, and a document goes when its last holder does.
 */
#include "pipeline/engine.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/assert.h"
#include "component/batch_codec.h"
#include "pipeline/admin.h"
#include "pipeline/config.h"
#include "exporterhelper/exporter_helper.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "pipeline/engine_ui.h"

struct pl_inst;
struct engine;

/* A YAML document shared by the graph and the instances built from it.
 * Only the main thread touches it. */
struct docref {
    struct ydoc doc;
    int refs;
};

struct rx_inst {
    struct config_component *cc;
    char id[CONFIG_ID_MAX]; /* host.id: stable for the life */
    struct docref *doc;
    void *ctx;
    struct component_host host;
    struct pl_inst **pipelines; /* the pipelines it feeds */
    uint32_t npipelines;
    struct mcounter *accepted_profiles, *refused_profiles;
    struct mcounter *accepted_samples, *refused_samples;
    struct mcounter *accepted_bytes, *refused_bytes;
    struct engine *en;
    uint32_t inflight; /* consume_async answers owed (main) */
    int started;
};

struct px_inst {
    struct config_component *cc;
    char id[CONFIG_ID_MAX];
    struct docref *doc;
    void *ctx;
    struct component_host host;
    struct mcounter *dropped;
    struct pl_inst *pl; /* its pipeline, and its place in it (emit) */
    uint32_t pos;
    struct engine *en;
};

struct ex_inst {
    struct config_component *cc;
    char id[CONFIG_ID_MAX];
    struct docref *doc;
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

/* Receivers' pipeline lists of a graph being built: installed into the
 * instance at commit (a moved receiver keeps feeding the old pipelines
 * until then). */
struct rx_plan {
    struct pl_inst **pipelines;
    uint32_t npipelines;
};

struct graph {
    struct config cfg;
    struct docref *doc; /* cfg's document */
    struct rx_inst **rx;
    uint32_t nrx;
    struct ex_inst **ex;
    uint32_t nex;
    struct pl_inst **pl;
    uint32_t npl;
    /* While building: where each instance came from in the old graph
     * (-1 = created for this graph) and the receivers' pipelines. */
    int32_t *rx_from, *ex_from;
    struct rx_plan *rx_plan;
};

/* A consume_async waiting for group commits: the receiver's guard plus one
 * reference per exporter whose commit is pending; whoever drops the last
 * one finishes it. */
struct consume_op {
    atomic_uint refs;
    atomic_int rc;      /* first failed commit, else PC_OK */
    struct rx_inst *rx; /* NULL: detached, nobody waits */
    void (*done)(void *arg, int rc, const char *msg);
    void *arg;
    struct consume_op *next;
};

/* Finished ops on their way from the committers to the main loop. */
struct completions {
    pthread_mutex_t mu;
    pthread_cond_t cv; /* settle() waits on it */
    struct consume_op *head, *tail;
    int wake[2]; /* pipe: a post wakes the loop */
    struct event *ev;
    int ready; /* initialised */
};

struct engine {
    struct event_base *base;
    struct completions done;
    struct metrics *metrics;
    struct mscope *scope; /* the engine's own series */
    struct admin *admin;
    struct ui *ui; /* the status page; NULL when off */
    struct graph *g;
    const char *config_path;
    struct mcounter *reloads_ok, *reloads_failed;
    int exit_code;
};

#define ENGINE_LOG "service"
/* ---- the hand-off ------------------------------------------------------ */

/* ---- completions (any thread -> main loop) ------------------------------ */

static void completions_post(struct completions *c, struct consume_op *op)
{
    int was_empty;
    ssize_t n;

    op->next = NULL;
    pthread_mutex_lock(&c->mu);
    was_empty = c->head == NULL;
    if (c->tail != NULL) {
        c->tail->next = op;
    } else {
        c->head = op;
    }
    c->tail = op;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    /* One byte per non-empty list is enough: the loop takes all of it. */
    if (was_empty) {
        do {
            n = write(c->wake[1], "c", 1);
        } while (n < 0 && errno == EINTR);
    }
}

/* Main loop: answers every finished op. */
static void completions_run(struct completions *c)
{
    struct consume_op *op, *next;
    const char *msg;
    int rc;

    pthread_mutex_lock(&c->mu);
    op = c->head;
    c->head = c->tail = NULL;
    pthread_mutex_unlock(&c->mu);
    for (; op != NULL; op = next) {
        next = op->next;
        rc = atomic_load(&op->rc);
        /* A failed fdatasync: not stored safely, the client retries. */
        msg = rc == PC_OK ? NULL : "persistent queue: cannot sync to disk";
        if (rc != PC_OK) {
            rc = PC_EBUSY;
        }
        /* Only ops a receiver waits for are posted; each once. */
        PC_ASSERT(op->rx != NULL && op->rx->inflight > 0);
        op->rx->inflight--;
        op->done(op->arg, rc, msg);
        free(op);
    }
}

static void on_completions(evutil_socket_t fd, short what, void *arg)
{
    char tmp[64];

    (void)what;
    while (read(fd, tmp, sizeof(tmp)) > 0) {
    }
    completions_run(arg);
}

static int completions_init(struct completions *c, struct event_base *base)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->ready = 1;
    if (pipe2(c->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        c->wake[0] = c->wake[1] = -1;
        return PC_EIO;
    }
    c->ev = event_new(base, c->wake[0], EV_READ | EV_PERSIST, on_completions,
                      c);
    if (c->ev == NULL || event_add(c->ev, NULL) != 0) {
        return PC_ENOMEM;
    }
    return PC_OK;
}

static void completions_free(struct completions *c)
{
    if (!c->ready) {
        return;
    }
    if (c->ev != NULL) {
        event_free(c->ev);
    }
    if (c->wake[0] >= 0) {
        close(c->wake[0]);
        close(c->wake[1]);
    }
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

/* Drops one reference (any thread); the last one hands the op over. */
static void op_put(struct consume_op *op)
{
    unsigned old = atomic_fetch_sub(&op->refs, 1);

    PC_ASSERT(old > 0);
    if (old != 1) {
        return;
    }
    if (op->rx == NULL) {
        free(op);
        return;
    }
    completions_post(&op->rx->en->done, op);
}

/* An exporter's group commit returned (committer thread). */
static void op_part_done(void *arg, int rc)
{
    struct consume_op *op = arg;
    int expect = PC_OK;

    if (rc != PC_OK) {
        atomic_compare_exchange_strong(&op->rc, &expect, rc);
    }
    op_put(op);
}

/* Main loop: answers every pending consume_async of host's receiver now.
 * Commits always finish (an fdatasync, or its error), so this is bounded
 * by the disk. */
static void engine_settle(struct component_host *host)
{
    struct rx_inst *rx = host->engine;
    struct completions *c = &rx->en->done;
    struct timespec dl;

    while (rx->inflight > 0) {
        pthread_mutex_lock(&c->mu);
        if (c->head == NULL) {
            dl = clock_real_after(1000);
            pthread_cond_timedwait(&c->cv, &c->mu, &dl);
        }
        pthread_mutex_unlock(&c->mu);
        completions_run(c);
    }
}

/* ---- the hand-off ------------------------------------------------------ */

/* Hands b to one exporter; a pending commit takes a reference on op. */
static int submit_one(struct ex_inst *ex, struct batch *b,
                      struct consume_op *op, uint32_t *npending)
{
    unsigned old;
    int r;

    atomic_fetch_add(&op->refs, 1);
    r = exphelper_submit_async(ex->helper, b, op_part_done, op);
    if (r == PC_EINPROGRESS) {
        (*npending)++;
        return PC_OK;
    }
    old = atomic_fetch_sub(&op->refs, 1);
    /* The caller's guard reference keeps it above zero. */
    PC_ASSERT(old > 1);
    return r;
}

/*
 * A batch about to wait in an exporter's queue (one already holds
 * batches: its consumers are busy) is compacted to about its wire size
 * (batch_compact): a decoded model costs 10 to 60 times its wire size, and
 * a queue of them behind a slow backend would hold gigabytes. The
 * exporter decodes again, on its consumer thread, when it needs the
 * model. A batch that goes straight to an idle consumer keeps its model:
 * no second decode. Once shared, a batch's items are not written.
 */
static void shed_if_waiting(struct pl_inst *pl, struct batch *b)
{
    uint32_t i;

    if (batch_shared(b)) {
        return;
    }
    for (i = 0; i < pl->nexps; i++) {
        if (exphelper_queue_size(pl->exps[i]->helper) > 0) {
            batch_compact(b);
            return;
        }
    }
}

/* Runs b through pl's processors from the first-th on, then hands it to
 * pl's exporters (and offers it to the status page). */
static int run_pipeline_from(struct pl_inst *pl, uint32_t first,
                             struct batch *b, struct errctx *e,
                             struct consume_op *op, uint32_t *npending,
                             struct ui *ui)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = first; i < pl->nprocs; i++) {
        struct px_inst *px = pl->procs[i];
        uint32_t before = batch_profile_count(b);
        rc = px->cc->factory->ops.processor.process(px->ctx, b, e);
        if (rc != PC_OK) {
            batch_unref(b);
            return rc;
        }
        /* A processor that holds profiles back emits them later. */
        if (batch_profile_count(b) < before &&
            px->cc->factory->ops.processor.flush == NULL) {
            mcounter_add(px->dropped, before - batch_profile_count(b));
        }
    }
    if (b->nitems > 0) {
        shed_if_waiting(pl, b);
        /* The status page sees what passed the processors; it takes a
         * reference or nothing, and never waits. */
        ui_offer(ui, pl->id, b);
        for (i = 0; i < pl->nexps; i++) {
            /* submit consumes a reference: each exporter gets its own. */
            int r = submit_one(pl->exps[i], batch_ref(b), op, npending);
            if (r != PC_OK && rc == PC_OK) {
                rc = r;
                err_set(e, r, "exporter %s: %s", pl->exps[i]->id,
                        r == PC_EBUSY ? "sending queue is full"
                                      : pc_strerror(r));
            }
        }
    }
    batch_unref(b);
    return rc;
}

static int run_pipeline(struct pl_inst *pl, struct batch *b, struct errctx *e,
                        struct consume_op *op, uint32_t *npending,
                        struct ui *ui)
{
    return run_pipeline_from(pl, 0, b, e, op, npending, ui);
}

/* A processor's batch into the rest of its pipeline; nobody waits for
 * the commits (a detached op). */
static int engine_emit(struct component_host *host, struct batch *b,
                       struct errctx *e)
{
    struct px_inst *px = host->engine;
    struct consume_op *op = calloc(1, sizeof(*op));
    uint32_t npending = 0;
    int rc;

    if (op == NULL) {
        batch_unref(b);
        return err_set(e, PC_EBUSY, "out of memory");
    }
    atomic_init(&op->refs, 1);
    atomic_init(&op->rc, PC_OK);
    rc = run_pipeline_from(px->pl, px->pos + 1, b, e, op, &npending,
                           px->en->ui);
    op_put(op);
    return rc;
}

#define COPIES_ON_STACK 8

/* Gives b to every pipeline the receiver feeds. Each pipeline but the last
 * gets a clone taken before any processor ran, so no pipeline sees another's
 * changes. A retryable refusal wins over a permanent one: the client
 * should retry. */
static int consume_all(struct rx_inst *rx, struct batch *b, struct errctx *e,
                       struct consume_op *op, uint32_t *npending)
{
    uint32_t profiles = batch_profile_count(b), i, n = rx->npipelines;
    uint64_t samples = batch_sample_count(b), bytes = batch_bytes(b);
    struct batch *stack[COPIES_ON_STACK], **copies = stack;
    int rc = PC_OK;

    /* Most receivers feed a few pipelines: no allocation for those. */
    if (n > COPIES_ON_STACK) {
        copies = calloc(n, sizeof(*copies));
    }
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
            int r = run_pipeline(rx->pipelines[i], copies[i], e, op, npending,
                                 rx->en->ui);
            if (r == PC_EBUSY || (r != PC_OK && rc == PC_OK)) {
                rc = r;
            }
        }
    }
    if (copies != stack) {
        free(copies);
    }
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

/*
 * consume_async: the pipelines run now; exporters whose persistent queue
 * commits later hold a reference on op. Nobody pending: the answer is
 * known now. A refusal known now is the answer too (the pending commits
 * finish detached: the client retries anyway).
 */
static int engine_consume_async(
    struct component_host *host, struct batch *b, struct errctx *e,
    void (*done)(void *arg, int rc, const char *msg), void *arg)
{
    struct rx_inst *rx = host->engine;
    struct consume_op *op = calloc(1, sizeof(*op));
    uint32_t npending = 0;
    int rc;

    if (op == NULL) {
        batch_unref(b);
        return err_set(e, PC_EBUSY, "out of memory");
    }
    atomic_init(&op->refs, 1);
    atomic_init(&op->rc, PC_OK);
    op->rx = rx;
    op->done = done;
    op->arg = arg;
    rc = consume_all(rx, b, e, op, &npending);
    if (npending == 0) {
        free(op);
        return rc;
    }
    if (rc != PC_OK || done == NULL) {
        op->rx = NULL;
        op_put(op);
        return rc;
    }
    rx->inflight++;
    op_put(op);
    return PC_EINPROGRESS;
}

/* Synchronous form: a persistent queue's commit is not waited for. */
static int engine_consume(struct component_host *host, struct batch *b,
                          struct errctx *e)
{
    return engine_consume_async(host, b, e, NULL, NULL);
}

static void engine_refused(struct component_host *host, uint32_t profiles,
                           uint64_t bytes)
{
    struct rx_inst *rx = host->engine;

    mcounter_add(rx->refused_profiles, profiles);
    mcounter_add(rx->refused_bytes, bytes);
}

/* ---- documents --------------------------------------------------------- */

/* Moves cfg's document into a new docref (refs 1). */
static struct docref *docref_take(struct config *cfg)
{
    struct docref *d = calloc(1, sizeof(*d));

    if (d == NULL) {
        return NULL;
    }
    d->doc = cfg->doc;
    memset(&cfg->doc, 0, sizeof(cfg->doc));
    d->refs = 1;
    return d;
}

static struct docref *docref_ref(struct docref *d)
{
    PC_ASSERT(d->refs > 0);
    d->refs++;
    return d;
}

static void docref_unref(struct docref *d)
{
    PC_ASSERT(d == NULL || d->refs > 0);
    if (d != NULL && --d->refs == 0) {
        ydoc_free(&d->doc);
        free(d);
    }
}

/* ---- instances --------------------------------------------------------- */

/* An instance's host record. Its metrics scope carries the kind and id as
 * labels (receiver="otlp/a"); NULL when out of memory (the instance then
 * runs without metrics). The instance's free function frees it. */
static void host_init(struct component_host *h, struct engine *en,
                      const struct config_component *cc, const char *id,
                      void *owner)
{
    memset(h, 0, sizeof(*h));
    h->id = id;
    h->base = en->base;
    h->metrics = mscope_new(en->metrics,
                            component_kind_name(cc->factory->kind), id, NULL);
    h->consume = engine_consume;
    h->consume_async = engine_consume_async;
    h->settle = engine_settle;
    h->refused = engine_refused;
    h->emit = engine_emit;
    h->engine = owner;
}

static struct mcounter *rx_counter(struct rx_inst *rx, const char *what,
                                   const char *unit)
{
    char name[128], help[160];

    snprintf(name, sizeof(name), "profcol_receiver_%s_%s_total", what, unit);
    snprintf(help, sizeof(help), "Profile %s %s by the receiver.", unit,
             strcmp(what, "accepted") == 0 ? "accepted" : "refused");
    return mscope_counter(rx->host.metrics, name, help, NULL);
}

static struct rx_inst *rx_new(struct engine *en, struct config_component *cc,
                              struct docref *doc, struct errctx *e)
{
    struct rx_inst *rx = calloc(1, sizeof(*rx));

    if (rx == NULL) {
        err_set(e, PC_ENOMEM, "receiver %s: out of memory", cc->id);
        return NULL;
    }
    rx->cc = cc;
    rx->en = en;
    snprintf(rx->id, sizeof(rx->id), "%s", cc->id);
    host_init(&rx->host, en, cc, rx->id, rx);
    rx->accepted_profiles = rx_counter(rx, "accepted", "profiles");
    rx->refused_profiles = rx_counter(rx, "refused", "profiles");
    rx->accepted_samples = rx_counter(rx, "accepted", "samples");
    rx->refused_samples = rx_counter(rx, "refused", "samples");
    rx->accepted_bytes = rx_counter(rx, "accepted", "bytes");
    rx->refused_bytes = rx_counter(rx, "refused", "bytes");
    if (cc->factory->create(cc->cfg, &rx->host, &rx->ctx, e) != PC_OK) {
        mscope_free(rx->host.metrics);
        free(rx);
        return NULL;
    }
    rx->doc = docref_ref(doc);
    return rx;
}

static struct px_inst *px_new(struct engine *en, struct config_component *cc,
                              const char *pipeline, struct docref *doc,
                              struct errctx *e)
{
    struct px_inst *px = calloc(1, sizeof(*px));

    if (px == NULL) {
        err_set(e, PC_ENOMEM, "processor %s: out of memory", cc->id);
        return NULL;
    }
    px->cc = cc;
    snprintf(px->id, sizeof(px->id), "%s", cc->id);
    host_init(&px->host, en, cc, px->id, px);
    /* An instance per pipeline: this one's counter says which. */
    px->dropped = mscope_counter(px->host.metrics,
                                 "profcol_processor_dropped_profiles_total",
                                 "Profiles a processor removed from batches.",
                                 "pipeline", pipeline, NULL);
    if (cc->factory->create(cc->cfg, &px->host, &px->ctx, e) != PC_OK) {
        mscope_free(px->host.metrics);
        free(px);
        return NULL;
    }
    px->doc = docref_ref(doc);
    return px;
}

static struct ex_inst *ex_new(struct engine *en, struct config_component *cc,
                              struct docref *doc, struct errctx *e)
{
    struct ex_inst *ex = calloc(1, sizeof(*ex));
    /* Every exporter config starts with its helper settings. */
    const struct exphelper_cfg *hc = cc->cfg;

    if (ex == NULL) {
        err_set(e, PC_ENOMEM, "exporter %s: out of memory", cc->id);
        return NULL;
    }
    ex->cc = cc;
    snprintf(ex->id, sizeof(ex->id), "%s", cc->id);
    host_init(&ex->host, en, cc, ex->id, ex);
    if (cc->factory->create(cc->cfg, &ex->host, &ex->ctx, e) != PC_OK) {
        mscope_free(ex->host.metrics);
        free(ex);
        return NULL;
    }
    if (exphelper_new(hc, ex->id, &cc->factory->ops.exporter, ex->ctx,
                      ex->host.metrics, &ex->helper, e) != PC_OK) {
        cc->factory->destroy(ex->ctx);
        mscope_free(ex->host.metrics);
        free(ex);
        return NULL;
    }
    ex->doc = docref_ref(doc);
    return ex;
}

/* start/stop callbacks are optional: NULL means there is nothing to do. */
static int call_start(int (*start)(void *), void *ctx)
{
    return start != NULL ? start(ctx) : PC_OK;
}

static void call_stop(void (*stop)(void *), void *ctx)
{
    if (stop != NULL) {
        stop(ctx);
    }
}

static void rx_stop(struct rx_inst *rx)
{
    if (rx->started) {
        /* Answer what waits for a commit while the requests still exist. */
        engine_settle(&rx->host);
        call_stop(rx->cc->factory->ops.receiver.stop, rx->ctx);
        rx->started = 0;
    }
}

static void rx_free(struct rx_inst *rx)
{
    if (rx == NULL) {
        return;
    }
    rx_stop(rx);
    rx->cc->factory->destroy(rx->ctx);
    /* Its series go, unless a replacement holds them too. */
    mscope_free(rx->host.metrics);
    docref_unref(rx->doc);
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
        call_stop(ex->cc->factory->ops.exporter.stop, ex->ctx);
    }
    exphelper_free(ex->helper);
    ex->cc->factory->destroy(ex->ctx);
    mscope_free(ex->host.metrics);
    docref_unref(ex->doc);
    free(ex);
}

static void px_free(struct px_inst *px)
{
    if (px != NULL) {
        px->cc->factory->destroy(px->ctx);
        mscope_free(px->host.metrics);
        docref_unref(px->doc);
        free(px);
    }
}

static int ex_start(struct ex_inst *ex, struct errctx *e)
{
    if (ex->started) {
        return PC_OK;
    }
    if (call_start(ex->cc->factory->ops.exporter.start, ex->ctx) != PC_OK) {
        return err_set(e, PC_EIO, "exporter %s failed to start", ex->id);
    }
    if (exphelper_start(ex->helper) != PC_OK) {
        call_stop(ex->cc->factory->ops.exporter.stop, ex->ctx);
        return err_set(e, PC_EIO,
                       "exporter %s: cannot start its sending "
                       "queue consumers",
                       ex->id);
    }
    ex->started = 1;
    return PC_OK;
}

static int rx_start(struct rx_inst *rx, struct errctx *e)
{
    if (rx->started) {
        return PC_OK;
    }
    if (call_start(rx->cc->factory->ops.receiver.start, rx->ctx) != PC_OK) {
        return err_set(e, PC_EIO,
                       "receiver %s failed to start (the line "
                       "before says why)",
                       rx->id);
    }
    rx->started = 1;
    return PC_OK;
}

/* ---- building ---------------------------------------------------------- */

/* Index of the instance of old with a config equal to cc, or -1. */
static int32_t old_ex_index(const struct graph *old,
                            const struct config_component *cc)
{
    uint32_t k;

    for (k = 0; old != NULL && k < old->nex; k++) {
        if (config_component_equal(old->ex[k]->cc, cc)) {
            return (int32_t)k;
        }
    }
    return -1;
}

static int32_t old_rx_index(const struct graph *old,
                            const struct config_component *cc)
{
    uint32_t k;

    for (k = 0; old != NULL && k < old->nrx; k++) {
        if (config_component_equal(old->rx[k]->cc, cc)) {
            return (int32_t)k;
        }
    }
    return -1;
}

static int32_t find_ex(const struct graph *g, const char *id)
{
    uint32_t i;

    for (i = 0; i < g->nex; i++) {
        if (strcmp(g->ex[i]->id, id) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

static int32_t find_rx(const struct graph *g, const char *id)
{
    uint32_t i;

    for (i = 0; i < g->nrx; i++) {
        if (strcmp(g->rx[i]->id, id) == 0) {
            return (int32_t)i;
        }
    }
    return -1;
}

/* Processors that hold profiles emit them, in pipeline order (what the
 * first emits passes the later ones before they flush). */
static void pl_flush(struct pl_inst *pl)
{
    uint32_t j;

    for (j = 0; pl != NULL && j < pl->nprocs; j++) {
        struct px_inst *px = pl->procs[j];
        if (px->cc->factory->ops.processor.flush != NULL) {
            px->cc->factory->ops.processor.flush(px->ctx);
        }
    }
}

static void pl_free(struct pl_inst *pl)
{
    uint32_t j;

    if (pl == NULL) {
        return;
    }
    for (j = 0; j < pl->nprocs; j++) {
        px_free(pl->procs[j]);
    }
    free(pl->procs);
    free(pl->exps);
    free(pl);
}

static void plan_free(struct graph *g)
{
    uint32_t i;

    for (i = 0; g->rx_plan != NULL && i < g->nrx; i++) {
        free(g->rx_plan[i].pipelines);
    }
    free(g->rx_plan);
    free(g->rx_from);
    free(g->ex_from);
    g->rx_plan = NULL;
    g->rx_from = g->ex_from = NULL;
}

/*
 * Frees what a graph that never committed created itself: instances that
 * were only borrowed from the old graph stay where they are. New exporters
 * that were started drain until deadline_ms.
 */
static void graph_discard(struct graph *g, int64_t deadline_ms)
{
    uint32_t i;

    if (g == NULL) {
        return;
    }
    for (i = 0; i < g->nrx; i++) {
        if (g->rx_from[i] < 0) {
            rx_free(g->rx[i]);
        }
    }
    for (i = 0; i < g->npl; i++) {
        pl_free(g->pl[i]);
    }
    for (i = 0; i < g->nex; i++) {
        if (g->ex_from[i] < 0) {
            ex_free(g->ex[i], deadline_ms);
        }
    }
    plan_free(g);
    free(g->rx);
    free(g->ex);
    free(g->pl);
    config_free(&g->cfg);
    docref_unref(g->doc);
    free(g);
}

/* Creates (or borrows from old) the exporters and receivers of g. */
static int build_components(struct engine *en, struct graph *g,
                            const struct graph *old, struct errctx *e)
{
    uint32_t i;

    for (i = 0; i < g->cfg.ncomponents; i++) {
        struct config_component *cc = &g->cfg.components[i];
        int32_t k;
        if (cc->npipelines == 0) {
            continue; /* defined but unused: warned about, not built */
        }
        if (cc->kind == COMPONENT_EXPORTER) {
            k = old_ex_index(old, cc);
            g->ex_from[g->nex] = k;
            g->ex[g->nex] = k >= 0 ? old->ex[k] : ex_new(en, cc, g->doc, e);
            if (g->ex[g->nex] == NULL) {
                return PC_ECONFIG;
            }
            g->nex++;
        } else if (cc->kind == COMPONENT_RECEIVER) {
            k = old_rx_index(old, cc);
            g->rx_from[g->nrx] = k;
            g->rx[g->nrx] = k >= 0 ? old->rx[k] : rx_new(en, cc, g->doc, e);
            if (g->rx[g->nrx] == NULL) {
                return PC_ECONFIG;
            }
            g->nrx++;
        }
    }
    return PC_OK;
}

static int plan_add(struct rx_plan *p, struct pl_inst *pl)
{
    struct pl_inst **np = realloc(p->pipelines,
                                  (p->npipelines + 1) * sizeof(*np));

    if (np == NULL) {
        return PC_ENOMEM;
    }
    p->pipelines = np;
    p->pipelines[p->npipelines++] = pl;
    return PC_OK;
}

/* One pipeline: its own processors, its exporters, its receivers' plans. */
static int build_pipeline(struct engine *en, struct graph *g,
                          struct config_pipeline *cp, struct errctx *e)
{
    struct pl_inst *pl = calloc(1, sizeof(*pl));
    uint32_t j;

    if (pl == NULL) {
        return err_set(e, PC_ENOMEM, "pipeline %s: out of memory", cp->id);
    }
    g->pl[g->npl++] = pl;
    pl->id = cp->id;
    pl->procs = calloc(cp->nprocessors + 1, sizeof(*pl->procs));
    pl->exps = calloc(cp->nexporters + 1, sizeof(*pl->exps));
    if (pl->procs == NULL || pl->exps == NULL) {
        return err_set(e, PC_ENOMEM, "pipeline %s: out of memory", cp->id);
    }
    for (j = 0; j < cp->nprocessors; j++) {
        /* Processors are per pipeline, as in the Collector. */
        struct px_inst *px = px_new(en, cp->processors[j], cp->id, g->doc, e);
        if (px == NULL) {
            return PC_ECONFIG;
        }
        px->pl = pl;
        px->pos = pl->nprocs;
        px->en = en;
        pl->procs[pl->nprocs++] = px;
    }
    for (j = 0; j < cp->nexporters; j++) {
        pl->exps[pl->nexps++] = g->ex[find_ex(g, cp->exporters[j]->id)];
    }
    for (j = 0; j < cp->nreceivers; j++) {
        int32_t r = find_rx(g, cp->receivers[j]->id);
        if (plan_add(&g->rx_plan[r], pl) != PC_OK) {
            return err_set(e, PC_ENOMEM, "pipeline %s: out of memory", cp->id);
        }
    }
    return PC_OK;
}

/*
 * Builds the instances of cfg (taken by the graph, also on failure).
 * Instances with a config equal to one of old's are borrowed, not moved:
 * old is not changed. Nothing is started. NULL on failure, e says why.
 */
static struct graph *graph_build(struct engine *en, struct config *cfg,
                                 const struct graph *old, struct errctx *e)
{
    struct graph *g = calloc(1, sizeof(*g));
    uint32_t i, n;

    if (g == NULL) {
        config_free(cfg);
        err_set(e, PC_ENOMEM, "out of memory");
        return NULL;
    }
    g->cfg = *cfg;
    memset(cfg, 0, sizeof(*cfg));
    g->doc = docref_take(&g->cfg);
    n = g->cfg.ncomponents + 1;
    g->rx = calloc(n, sizeof(*g->rx));
    g->ex = calloc(n, sizeof(*g->ex));
    g->rx_from = calloc(n, sizeof(*g->rx_from));
    g->ex_from = calloc(n, sizeof(*g->ex_from));
    g->rx_plan = calloc(n, sizeof(*g->rx_plan));
    g->pl = calloc(g->cfg.npipelines + 1, sizeof(*g->pl));
    if (g->doc == NULL || g->rx == NULL || g->ex == NULL ||
        g->rx_from == NULL || g->ex_from == NULL || g->rx_plan == NULL ||
        g->pl == NULL) {
        err_set(e, PC_ENOMEM, "out of memory");
        goto fail;
    }
    if (build_components(en, g, old, e) != PC_OK) {
        goto fail;
    }
    for (i = 0; i < g->cfg.npipelines; i++) {
        if (build_pipeline(en, g, &g->cfg.pipelines[i], e) != PC_OK) {
            goto fail;
        }
    }
    return g;
fail:
    if (g->rx_from == NULL || g->ex_from == NULL) {
        /* Nothing was created yet. */
        free(g->rx_from);
        free(g->ex_from);
        g->rx_from = calloc(1, sizeof(*g->rx_from));
        g->ex_from = calloc(1, sizeof(*g->ex_from));
        g->nrx = g->nex = 0;
    }
    graph_discard(g, 0);
    return NULL;
}

/*
 * A moved instance keeps using the decoded config it was created with, so
 * that struct moves to the new config entry (their contents are equal) and
 * the new entry's copy goes away with the old config. The instance keeps
 * its own document reference, which is what that struct may point into.
 */
static void adopt(struct config_component **slot, struct config_component *cc)
{
    void *mine = (*slot)->cfg;

    (*slot)->cfg = cc->cfg;
    cc->cfg = mine;
    *slot = cc;
}

/* Gives receiver i of g the pipelines planned for it (once). */
static void install_plan(struct graph *g, uint32_t i)
{
    struct rx_inst *rx = g->rx[i];

    if (g->rx_plan[i].pipelines == NULL) {
        return;
    }
    free(rx->pipelines);
    rx->pipelines = g->rx_plan[i].pipelines;
    rx->npipelines = g->rx_plan[i].npipelines;
    g->rx_plan[i].pipelines = NULL;
}

/* Makes g the graph: moves the borrowed instances out of old (which keeps
 * only what did not carry over) and installs the receivers' pipelines.
 * Cannot fail. old may be NULL. */
static void graph_commit(struct graph *g, struct graph *old)
{
    uint32_t i;

    for (i = 0; i < g->nex; i++) {
        if (g->ex_from[i] >= 0) {
            old->ex[g->ex_from[i]] = NULL;
            adopt(&g->ex[i]->cc,
                  config_find(&g->cfg, COMPONENT_EXPORTER, g->ex[i]->id));
        }
    }
    for (i = 0; i < g->nrx; i++) {
        if (g->rx_from[i] >= 0) {
            old->rx[g->rx_from[i]] = NULL;
            adopt(&g->rx[i]->cc,
                  config_find(&g->cfg, COMPONENT_RECEIVER, g->rx[i]->id));
        }
        install_plan(g, i);
    }
    plan_free(g);
}

/* Stops and frees g; exporters' queues drain for at most timeout_ms in
 * total (one deadline shared by all of them). Slots may be NULL (moved). */
static void graph_free(struct graph *g, int64_t timeout_ms)
{
    int64_t deadline_ms = clock_mono_ms() + timeout_ms;
    uint32_t i;

    if (g == NULL) {
        return;
    }
    /* Receivers first, so nothing new arrives while queues drain. */
    for (i = 0; i < g->nrx; i++) {
        rx_free(g->rx[i]);
    }
    /* Exporters (moved ones too) are still there to take what is held. */
    for (i = 0; i < g->npl; i++) {
        pl_flush(g->pl[i]);
    }
    for (i = 0; i < g->npl; i++) {
        pl_free(g->pl[i]);
    }
    for (i = 0; i < g->nex; i++) {
        ex_free(g->ex[i], deadline_ms);
    }
    free(g->rx);
    free(g->ex);
    free(g->pl);
    config_free(&g->cfg);
    docref_unref(g->doc);
    free(g);
}

/* Exporters first, receivers last: nothing is accepted that cannot leave.
 * Only for the first graph (reload starts pieces itself). */
static int graph_start(struct graph *g, struct errctx *e)
{
    uint32_t i;

    for (i = 0; i < g->nex; i++) {
        if (ex_start(g->ex[i], e) != PC_OK) {
            return PC_EIO;
        }
    }
    for (i = 0; i < g->nrx; i++) {
        if (rx_start(g->rx[i], e) != PC_OK) {
            return PC_EIO;
        }
    }
    return PC_OK;
}

/* ---- configuration and reload ------------------------------------------ */

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

static int str_differs(const char *a, const char *b)
{
    return strcmp(a != NULL ? a : "", b != NULL ? b : "") != 0;
}

/* The admin listeners stay where they are until a restart. */
static void warn_telemetry_change(const struct config *now,
                                  const struct config *next)
{
    if (str_differs(now->telemetry.metrics.address,
                    next->telemetry.metrics.address) ||
        str_differs(now->telemetry.health.address,
                    next->telemetry.health.address) ||
        str_differs(now->telemetry.ui.address, next->telemetry.ui.address)) {
        log_warn(ENGINE_LOG, "telemetry addresses change on restart only",
                 "metrics=\"%s\" health=\"%s\"",
                 now->telemetry.metrics.address,
                 now->telemetry.health.address);
    }
}

static int borrowed_from(const struct graph *g, uint32_t k)
{
    uint32_t i;

    for (i = 0; i < g->nrx; i++) {
        if (g->rx_from[i] == (int32_t)k) {
            return 1;
        }
    }
    return 0;
}

/*
 * Starts what the new graph g created: exporters first, then (after the
 * old receivers it replaces were stopped, so their ports are free) its
 * receivers. On failure everything new is stopped again and the stopped
 * old receivers start again: the old graph runs as before.
 */
static int reload_start(struct graph *g, struct graph *old, struct errctx *e)
{
    uint8_t *stopped = calloc(old->nrx + 1, 1);
    uint32_t i, k;
    int rc = PC_OK;

    if (stopped == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < g->nex && rc == PC_OK; i++) {
        if (g->ex_from[i] < 0) {
            rc = ex_start(g->ex[i], e);
        }
    }
    for (k = 0; k < old->nrx && rc == PC_OK; k++) {
        if (!borrowed_from(g, k) && old->rx[k]->started) {
            rx_stop(old->rx[k]);
            stopped[k] = 1;
        }
    }
    for (i = 0; i < g->nrx && rc == PC_OK; i++) {
        if (g->rx_from[i] < 0) {
            install_plan(g, i);
            rc = rx_start(g->rx[i], e);
        }
    }
    if (rc != PC_OK) {
        struct errctx e2 = {{0}};
        for (i = 0; i < g->nrx; i++) {
            if (g->rx_from[i] < 0) {
                rx_stop(g->rx[i]);
            }
        }
        for (k = 0; k < old->nrx; k++) {
            if (stopped[k] && rx_start(old->rx[k], &e2) != PC_OK) {
                log_error(ENGINE_LOG,
                          "cannot restart receiver after a "
                          "failed reload",
                          "error=\"%s\"", err_msg(&e2, PC_EIO));
            }
        }
    }
    free(stopped);
    return rc;
}

static void reload_failed(struct engine *en, const char *why,
                          const char *detail)
{
    mcounter_add(en->reloads_failed, 1);
    log_error(ENGINE_LOG, "reload failed: keeping the running configuration",
              "file=\"%s\" reason=\"%s\" error=\"%s\"", en->config_path, why,
              detail);
}

static void engine_reload(struct engine *en)
{
    struct config cfg;
    struct graph *g, *old = en->g;
    struct errctx e = {{0}};
    int64_t drain_ms;

    log_info(ENGINE_LOG, "reloading configuration", "file=\"%s\"",
             en->config_path);
    memset(&cfg, 0, sizeof(cfg));
    if (load_config(en->config_path, &cfg) != PC_OK) {
        config_free(&cfg);
        reload_failed(en, "invalid configuration", "see the errors above");
        return;
    }
    warn_telemetry_change(&old->cfg, &cfg);
    drain_ms = cfg.shutdown_timeout_ms;
    g = graph_build(en, &cfg, old, &e);
    if (g == NULL) {
        reload_failed(en, "cannot build pipelines", err_msg(&e, PC_ECONFIG));
        return;
    }
    if (reload_start(g, old, &e) != PC_OK) {
        graph_discard(g, clock_mono_ms() + drain_ms);
        reload_failed(en, "cannot start", err_msg(&e, PC_EIO));
        return;
    }
    graph_commit(g, old);
    en->g = g;
    apply_telemetry(&g->cfg);
    ui_pipelines_of(en->ui, &g->cfg);
    /* What did not carry over drains and goes. */
    graph_free(old, drain_ms);
    mcounter_add(en->reloads_ok, 1);
    log_info(ENGINE_LOG, "configuration reloaded",
             "pipelines=%u receivers=%u exporters=%u", g->cfg.npipelines,
             g->nrx, g->nex);
}

/* ---- signals and main loop ---------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct engine *en = arg;

    (void)what;
    if (sig == SIGHUP) {
        /* /health stays 200: the running graph serves until the commit. */
        engine_reload(en);
        return;
    }
    log_info(ENGINE_LOG, "shutting down", "signal=%d", (int)sig);
    admin_set_state(en->admin, ADMIN_STATE_STOPPING);
    event_base_loopbreak(en->base);
}

static void engine_metrics(struct engine *en)
{
    static const char help[] = "Configuration reloads (SIGHUP) by result.";

    en->scope = mscope_new(en->metrics, NULL);
    en->reloads_ok = mscope_counter(en->scope, "profcol_engine_reloads_total",
                                    help, "result", "ok", NULL);
    en->reloads_failed = mscope_counter(en->scope,
                                        "profcol_engine_reloads_total", help,
                                        "result", "failed", NULL);
}

/* Builds and starts the first graph; logs why not. */
static int engine_first_graph(struct engine *en, struct config *cfg)
{
    struct errctx e = {{0}};

    en->g = graph_build(en, cfg, NULL, &e);
    if (en->g == NULL) {
        log_error(ENGINE_LOG, "cannot start: building the pipelines failed",
                  "error=\"%s\"", err_msg(&e, PC_ECONFIG));
        return PC_ECONFIG;
    }
    graph_commit(en->g, NULL);
    if (graph_start(en->g, &e) != PC_OK) {
        log_error(ENGINE_LOG, "cannot start: a component failed to start",
                  "error=\"%s\"", err_msg(&e, PC_EIO));
        return PC_EIO;
    }
    return PC_OK;
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
        log_error(ENGINE_LOG, "cannot start: invalid configuration",
                  "file=\"%s\"", config_path);
        config_free(&cfg);
        return 1;
    }
    apply_telemetry(&cfg);
    signal(SIGPIPE, SIG_IGN);
    en.base = event_base_new();
    en.metrics = metrics_new();
    if (en.base == NULL || en.metrics == NULL) {
        log_error(ENGINE_LOG, "cannot start: out of memory", "%s", "");
        goto out;
    }
    engine_metrics(&en);
    if (completions_init(&en.done, en.base) != PC_OK) {
        log_error(ENGINE_LOG, "cannot start: cannot create a pipe", "%s", "");
        goto out;
    }
    if (admin_start(en.base, cfg.telemetry.metrics.address,
                    cfg.telemetry.health.address, en.metrics, &en.admin,
                    &e) != PC_OK) {
        log_error(ENGINE_LOG, "cannot start: cannot serve telemetry",
                  "error=\"%s\"", err_msg(&e, PC_EIO));
        goto out;
    }
    if (ui_start_from(&cfg, en.base, en.metrics, &en.ui) != PC_OK) {
        goto out;
    }
    /* Signals before the graph starts: a SIGTERM during a slow start (a
     * large persistent queue to scan) is not lost. */
    for (i = 0; i < 3; i++) {
        sigs[i] = evsignal_new(en.base, signums[i], on_signal, &en);
        if (sigs[i] == NULL || event_add(sigs[i], NULL) != 0) {
            log_error(ENGINE_LOG, "cannot start: cannot handle signals",
                      "signal=%d", signums[i]);
            goto out;
        }
    }
    if (engine_first_graph(&en, &cfg) != PC_OK) {
        goto out;
    }
    ui_pipelines_of(en.ui, &en.g->cfg);
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
    ui_stop(en.ui);
    mscope_free(en.scope);
    metrics_free(en.metrics);
    completions_free(&en.done);
    if (en.base != NULL) {
        event_base_free(en.base);
    }
    log_info(ENGINE_LOG, "stopped", "code=%d", rc);
    return rc;
}
