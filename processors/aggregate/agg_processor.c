/*
 * agg_processor.c: the `aggregate` processor. Merges the profiles of one
 * series and profile type that arrive within a `window` into one (samples
 * with the same stack and labels summed; time = window start, duration =
 * window), so that fewer, larger profiles leave: less volume for backends
 * that store every upload.
 *
 * Windows are aligned to the wall clock (multiples of `window` since the
 * epoch) and follow arrival time. A timer on the main loop emits what a
 * window holds when it ends (host->emit: the rest of the pipeline); the
 * engine calls flush on shutdown and reload. A profile alone in its window
 * leaves untouched (original bytes and original_payload kept). Past
 * `max_bytes` held, items pass on unmerged and are counted.
 */
#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "component/component.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "processors/aggregate/agg_buckets.h"

struct agg_cfg {
    int64_t window_ms;
    struct cfg_strlist group_by;
    struct cfg_strlist drop_sample_labels;
    uint64_t max_bytes;
};

/* clang-format off */
static const struct cfg_entry agg_table[] = {
    {.key = "window", .type = CFG_DURATION, .def = "60s", .min = 100,
     .max = 86400000, .offset = offsetof(struct agg_cfg, window_ms),
     .doc = "profiles of a series arriving within it become one"},
    {.key = "group_by", .type = CFG_STRLIST,
     .offset = offsetof(struct agg_cfg, group_by),
     .doc = "series attributes kept (and merged over); empty: all"},
    {.key = "drop_sample_labels", .type = CFG_STRLIST,
     .offset = offsetof(struct agg_cfg, drop_sample_labels),
     .doc = "sample labels removed before merging (span_id, ...)"},
    {.key = "max_bytes", .type = CFG_SIZE, .def = "256MiB", .min = 1,
     .max = INT64_MAX, .offset = offsetof(struct agg_cfg, max_bytes),
     .doc = "memory held; beyond it profiles pass unmerged (counted)"},
    {.key = NULL},
};
/* clang-format on */

struct agg_proc {
    const struct agg_cfg *cfg;
    struct component_host *host;
    struct agg_buckets buckets;
    struct event *timer;
    int64_t win_start_ns, win_ns; /* current window */
    struct mcounter *in, *out, *passed_bytes, *passed_error, *lost;
    struct mcounter *lost_merge;
};

static void agg_metrics(struct agg_proc *ap)
{
    struct mscope *m = ap->host->metrics;
    static const char passed[] =
        "Profiles passed on unmerged by the aggregate processor.";

    ap->in = mscope_counter(m, "profcol_processor_aggregate_profiles_in",
                            "Profiles taken into an aggregation window.",
                            NULL);
    ap->out = mscope_counter(m, "profcol_processor_aggregate_profiles_out",
                             "Profiles emitted at the end of windows.", NULL);
    ap->passed_bytes =
        mscope_counter(m, "profcol_processor_aggregate_passed_profiles",
                       passed, "reason", "max_bytes", NULL);
    ap->passed_error =
        mscope_counter(m, "profcol_processor_aggregate_passed_profiles",
                       passed, "reason", "undecodable", NULL);
    ap->lost = mscope_counter(
        m, "profcol_processor_aggregate_dropped_profiles",
        "Profiles the aggregate processor could not emit, by reason.",
        "reason", "emit_refused", NULL);
    ap->lost_merge = mscope_counter(
        m, "profcol_processor_aggregate_dropped_profiles",
        "Profiles the aggregate processor could not emit, by reason.",
        "reason", "merge_failed", NULL);
}

/* Whether attribute key is one group_by keeps (all when it is empty). */
static int kept(const struct agg_cfg *c, struct pstr key)
{
    uint32_t i;

    for (i = 0; i < c->group_by.n; i++) {
        if (pstr_eq(key, c->group_by.items[i])) {
            return 1;
        }
    }
    return c->group_by.n == 0;
}

static void keep_attrs(const struct agg_cfg *c, struct item *it)
{
    uint32_t i, n = 0;

    for (i = 0; i < it->nattrs; i++) {
        if (kept(c, it->attrs[i].key)) {
            it->attrs[n++] = it->attrs[i];
        }
    }
    it->nattrs = n;
}

/* Emits what the window holds; the window is over or the pipeline goes. */
static void agg_emit(struct agg_proc *ap)
{
    struct errctx e = {{0}};
    uint32_t nout = 0, nlost = 0;
    struct batch *b;
    int rc;

    if (ap->buckets.n == 0) {
        return;
    }
    b = batch_new(ap->host->id);
    if (b == NULL) {
        log_error(ap->host->id, "cannot emit a window: out of memory", "%s",
                  "");
        return;
    }
    rc = agg_buckets_flush(&ap->buckets, b, ap->win_start_ns, ap->win_ns,
                           &nout, &nlost);
    if (rc != PC_OK) {
        mcounter_add(ap->lost, nlost);
        log_error(ap->host->id, "window profiles lost", "profiles=%u error=%s",
                  nlost, pc_strerror(rc));
    }
    if (b->nitems == 0) {
        batch_unref(b);
        return;
    }
    rc = ap->host->emit != NULL
             ? ap->host->emit(ap->host, b, &e)
             : (batch_unref(b), err_set(&e, PC_EUNSUPPORTED, "no pipeline"));
    if (rc != PC_OK) {
        mcounter_add(ap->lost, nout);
        log_error(ap->host->id, "window not taken by the pipeline",
                  "profiles=%u error=\"%s\"", nout, err_msg(&e, rc));
    } else {
        mcounter_add(ap->out, nout);
    }
}

/* Moves to the window holding now, emitting the one that ended. */
static void agg_roll(struct agg_proc *ap, int64_t now_ns)
{
    if (now_ns < ap->win_start_ns + ap->win_ns) {
        return;
    }
    agg_emit(ap);
    ap->win_start_ns = now_ns - now_ns % ap->win_ns;
}

static void agg_arm(struct agg_proc *ap)
{
    int64_t left = ap->win_start_ns + ap->win_ns - clock_real_ns();
    struct timeval tv;

    if (left < 0) {
        left = 0;
    }
    /* A millisecond late: the window is surely over when it fires. */
    left += 1000000;
    tv.tv_sec = (time_t)(left / 1000000000);
    tv.tv_usec = (suseconds_t)(left % 1000000000 / 1000);
    evtimer_add(ap->timer, &tv);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct agg_proc *ap = arg;

    (void)fd;
    (void)what;
    agg_roll(ap, clock_real_ns());
    agg_arm(ap);
}

static int agg_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct agg_proc *ap = ctx;
    uint32_t i, n = 0;

    (void)e;
    agg_roll(ap, clock_real_ns());
    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        struct errctx ie = {{0}};
        uint32_t nlost;
        int rc;
        keep_attrs(ap->cfg, it);
        rc = agg_buckets_take(&ap->buckets, b, it, &nlost, &ie);
        if (rc == PC_OK && nlost > 0) {
            mcounter_add(ap->lost_merge, nlost);
            log_error(ap->host->id, "profiles lost while merging",
                      "profiles=%u error=%s", nlost, err_msg(&ie, PC_ENOMEM));
        }
        if (rc == PC_OK) {
            mcounter_add(ap->in, it->nprofiles - nlost);
            blob_unref(it->raw);
            shared_pdata_unref(it->pd);
            continue;
        }
        mcounter_add(rc == PC_ETOOBIG ? ap->passed_bytes : ap->passed_error,
                     it->nprofiles);
        b->items[n++] = *it;
    }
    b->nitems = n;
    return PC_OK;
}

static void agg_flush(void *ctx)
{
    agg_emit(ctx);
}

static int agg_create(const void *cfg, struct component_host *host, void **ctx,
                      struct errctx *e)
{
    const struct agg_cfg *c = cfg;
    struct agg_proc *ap = calloc(1, sizeof(*ap));
    int64_t now = clock_real_ns();

    if (ap == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    ap->cfg = c;
    ap->host = host;
    ap->win_ns = c->window_ms * 1000000;
    ap->win_start_ns = now - now % ap->win_ns;
    if (agg_buckets_init(&ap->buckets, &c->drop_sample_labels,
                         (size_t)c->max_bytes) != PC_OK ||
        (host->base != NULL &&
         (ap->timer = evtimer_new(host->base, on_timer, ap)) == NULL)) {
        agg_buckets_free(&ap->buckets);
        free(ap);
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    agg_metrics(ap);
    if (ap->timer != NULL) {
        agg_arm(ap);
    }
    *ctx = ap;
    return PC_OK;
}

static void agg_destroy(void *ctx)
{
    struct agg_proc *ap = ctx;

    if (ap->timer != NULL) {
        event_free(ap->timer);
    }
    agg_buckets_free(&ap->buckets);
    free(ap);
}

const struct component_factory aggregate_processor_factory = {
    .type = "aggregate",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "merges the profiles of a series arriving within a window "
                   "into one",
    .config_size = sizeof(struct agg_cfg),
    .config = agg_table,
    .create = agg_create,
    .destroy = agg_destroy,
    .ops.processor = {.process = agg_process, .flush = agg_flush},
};
