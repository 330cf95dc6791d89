/*
 * memory_limiter.c: the `memory_limiter` processor. Keeps profcol under a
 * memory budget by refusing data before it is too late, with the
 * OpenTelemetry Collector's settings and semantics:
 *
 *   hard limit = limit_mib (or limit_percentage of the memory available:
 *                the cgroup limit, else the machine's RAM)
 *   soft limit = hard limit - spike_limit_mib (default 20 % of the limit)
 *
 * A timer on the main loop measures the process's resident set size (RSS:
 * what the kernel charges to the cgroup, not a heap estimate) every
 * check_interval. While RSS is above the soft limit, process() refuses
 * every batch with PC_EBUSY, so the receiver answers its client with a
 * retryable status (HTTP 429/503, gRPC UNAVAILABLE) and nothing is
 * accepted that the process has no room for. Above the hard limit it also
 * asks the allocator to give freed memory back to the system (the
 * Collector forces a GC there). Entering and leaving the refusing state
 * is logged once each.
 */
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "component/component.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

#define ML_MIB ((uint64_t)1 << 20)
/* Giving memory back to the system costs time: not more often than this. */
#define ML_TRIM_INTERVAL_MS 10000

struct memory_limiter_cfg {
    int64_t check_interval_ms;
    int64_t limit_mib;
    int64_t spike_limit_mib;
    int64_t limit_percentage;
    int64_t spike_limit_percentage;
};

/* clang-format off */
static const struct cfg_entry memory_limiter_table[] = {
    {.key = "check_interval", .type = CFG_DURATION, .def = "1s", .min = 10,
     .max = 3600000,
     .offset = offsetof(struct memory_limiter_cfg, check_interval_ms),
     .doc = "how often the process's RSS is measured"},
    {.key = "limit_mib", .type = CFG_INT, .def = "0", .min = 0,
     .max = INT64_MAX,
     .offset = offsetof(struct memory_limiter_cfg, limit_mib),
     .doc = "hard limit of the RSS in MiB (or use limit_percentage)"},
    {.key = "spike_limit_mib", .type = CFG_INT, .def = "0", .min = 0,
     .max = INT64_MAX,
     .offset = offsetof(struct memory_limiter_cfg, spike_limit_mib),
     .doc = "headroom below the hard limit; default 20% of limit_mib"},
    {.key = "limit_percentage", .type = CFG_INT, .def = "0", .min = 0,
     .max = 100,
     .offset = offsetof(struct memory_limiter_cfg, limit_percentage),
     .doc = "hard limit as a percentage of the cgroup limit or of RAM"},
    {.key = "spike_limit_percentage", .type = CFG_INT, .def = "0", .min = 0,
     .max = 100,
     .offset = offsetof(struct memory_limiter_cfg, spike_limit_percentage),
     .doc = "headroom as a percentage of the cgroup limit or of RAM"},
    {.key = NULL},
};
/* clang-format on */

/* Where the RSS comes from (replaced in tests). */
typedef uint64_t (*ml_rss_fn)(void *arg);

struct memory_limiter {
    char id[128];
    struct component_host *host;
    struct event *timer;
    uint64_t hard_bytes, soft_bytes;
    ml_rss_fn rss_fn;
    void *rss_arg;
    _Atomic int refusing;
    _Atomic uint64_t last_rss;
    int64_t last_trim_ms;
    struct mcounter *refused;
    struct mgauge *rss_gauge;
};

/* ---- measuring -------------------------------------------------------- */

/* Resident pages from /proc/self/statm (second field); 0 when unknown. */
static uint64_t ml_proc_rss(void *arg)
{
    unsigned long long size = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    long page = sysconf(_SC_PAGESIZE);

    (void)arg;
    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu %llu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(f);
    return (uint64_t)resident * (uint64_t)(page > 0 ? page : 4096);
}

/* The first number in path, or 0 ("max", missing file, garbage). */
static uint64_t ml_read_u64(const char *path)
{
    unsigned long long v = 0;
    FILE *f = fopen(path, "r");

    if (f == NULL) {
        return 0;
    }
    if (fscanf(f, "%llu", &v) != 1) {
        v = 0;
    }
    fclose(f);
    return (uint64_t)v;
}

/* The memory this process may use: the cgroup's limit (v2, then v1) when
 * one is set and below the machine's RAM, else the RAM. */
static uint64_t ml_total_memory(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    uint64_t ram = pages > 0 && page > 0 ? (uint64_t)pages * (uint64_t)page
                                         : 0;
    uint64_t cg = ml_read_u64("/sys/fs/cgroup/memory.max");

    if (cg == 0) {
        /* v1 says "no limit" with a huge number: the RAM check below
         * takes care of it. */
        cg = ml_read_u64("/sys/fs/cgroup/memory/memory.limit_in_bytes");
    }
    if (cg != 0 && (ram == 0 || cg < ram)) {
        return cg;
    }
    return ram;
}

/* Hard and soft limits in bytes from the settings; PC_EINVAL when they
 * make no sense (the message says which). total = ml_total_memory(). */
static int ml_limits(const struct memory_limiter_cfg *c, uint64_t total,
                     uint64_t *hard, uint64_t *soft, char *err, size_t len)
{
    uint64_t spike;

    if (c->limit_mib > 0) {
        *hard = (uint64_t)c->limit_mib * ML_MIB;
        spike = c->spike_limit_mib > 0 ? (uint64_t)c->spike_limit_mib * ML_MIB
                                       : *hard / 5;
    } else if (c->limit_percentage > 0) {
        if (total == 0) {
            snprintf(err, len,
                     "cannot tell how much memory there is for "
                     "limit_percentage");
            return PC_EINVAL;
        }
        *hard = total / 100 * (uint64_t)c->limit_percentage;
        spike = c->spike_limit_percentage > 0
                    ? total / 100 * (uint64_t)c->spike_limit_percentage
                    : *hard / 5;
    } else {
        snprintf(err, len, "set limit_mib or limit_percentage");
        return PC_EINVAL;
    }
    if (spike >= *hard) {
        snprintf(err, len,
                 "the spike limit (%" PRIu64 " MiB) must be below "
                 "the limit (%" PRIu64 " MiB)",
                 spike / ML_MIB, *hard / ML_MIB);
        return PC_EINVAL;
    }
    *soft = *hard - spike;
    return PC_OK;
}

/* One measurement: updates the state, logs changes, trims above the hard
 * limit. */
static void ml_check(struct memory_limiter *ml)
{
    uint64_t rss = ml->rss_fn(ml->rss_arg);
    int was = atomic_load(&ml->refusing);
    int now = rss > ml->soft_bytes;

    atomic_store(&ml->last_rss, rss);
    mgauge_set(ml->rss_gauge, (double)rss);
    if (now && !was) {
        log_warn(ml->id, "memory usage above the soft limit: refusing data",
                 "rss_mib=%.1f soft_limit_mib=%.1f hard_limit_mib=%.1f",
                 (double)rss / ML_MIB, (double)ml->soft_bytes / ML_MIB,
                 (double)ml->hard_bytes / ML_MIB);
    } else if (!now && was) {
        log_info(ml->id,
                 "memory usage back below the soft limit: accepting "
                 "data",
                 "rss_mib=%.1f soft_limit_mib=%.1f", (double)rss / ML_MIB,
                 (double)ml->soft_bytes / ML_MIB);
    }
    atomic_store(&ml->refusing, now);
    if (rss > ml->hard_bytes &&
        clock_mono_ms() - ml->last_trim_ms >= ML_TRIM_INTERVAL_MS) {
        ml->last_trim_ms = clock_mono_ms();
        malloc_trim(0);
    }
}

static void ml_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    ml_check(arg);
}

/* ---- the processor ----------------------------------------------------- */

static int ml_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct memory_limiter *ml = ctx;

    if (!atomic_load(&ml->refusing)) {
        return PC_OK;
    }
    mcounter_add(ml->refused, batch_profile_count(b));
    return err_set(e, PC_EBUSY,
                   "%s: memory usage %.1f MiB is above the "
                   "soft limit %.1f MiB, retry later",
                   ml->id, (double)atomic_load(&ml->last_rss) / ML_MIB,
                   (double)ml->soft_bytes / ML_MIB);
}

static void ml_metrics(struct memory_limiter *ml, struct mscope *s)
{
    /* Counter and gauge, not a computed gauge: pipelines each have their
     * own instance with the same labels, and a reload creates the new
     * instance before the old one goes. */
    ml->refused = mscope_counter(
        s, "profcol_processor_memory_limiter_refused_profiles_total",
        "Profiles refused because memory usage was above the soft limit.",
        NULL);
    ml->rss_gauge = mscope_gauge(
        s, "profcol_processor_memory_limiter_rss_bytes",
        "Resident set size measured by the memory limiter.", NULL);
}

/* Creates the limiter with an RSS source (the unit test passes its own). */
static int ml_create_with(const struct memory_limiter_cfg *cfg,
                          struct component_host *host, ml_rss_fn fn, void *arg,
                          void **ctx, struct errctx *e)
{
    struct memory_limiter *ml;
    struct timeval tv;
    uint64_t hard, soft;
    char err[160];

    if (ml_limits(cfg, ml_total_memory(), &hard, &soft, err, sizeof(err)) !=
        PC_OK) {
        return err_set(e, PC_ECONFIG, "%s: %s", host->id, err);
    }
    ml = calloc(1, sizeof(*ml));
    if (ml == NULL) {
        return PC_ENOMEM;
    }
    snprintf(ml->id, sizeof(ml->id), "%s", host->id);
    ml->host = host;
    ml->hard_bytes = hard;
    ml->soft_bytes = soft;
    ml->rss_fn = fn;
    ml->rss_arg = arg;
    ml->last_trim_ms = clock_mono_ms() - ML_TRIM_INTERVAL_MS;
    ml_metrics(ml, host->metrics);
    tv.tv_sec = cfg->check_interval_ms / 1000;
    tv.tv_usec = (cfg->check_interval_ms % 1000) * 1000;
    ml->timer = event_new(host->base, -1, EV_PERSIST, ml_on_timer, ml);
    if (ml->timer == NULL || event_add(ml->timer, &tv) != 0) {
        if (ml->timer != NULL) {
            event_free(ml->timer);
        }
        free(ml);
        return err_set(e, PC_ENOMEM, "%s: cannot arm the check timer",
                       host->id);
    }
    ml_check(ml);
    *ctx = ml;
    return PC_OK;
}

static int ml_create(const void *cfg, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    return ml_create_with(cfg, host, ml_proc_rss, NULL, ctx, e);
}

static void ml_destroy(void *ctx)
{
    struct memory_limiter *ml = ctx;

    if (ml == NULL) {
        return;
    }
    if (ml->timer != NULL) {
        event_free(ml->timer);
    }
    free(ml);
}

static void ml_validate(const void *cfgp, const struct ynode *node,
                        struct cfg_diag *d)
{
    const struct memory_limiter_cfg *c = cfgp;
    uint64_t hard, soft;
    char err[160];

    if (c->limit_mib > 0 && c->limit_percentage > 0) {
        cfg_diag_error(d, node, "set limit_mib or limit_percentage, not both");
        return;
    }
    if (c->limit_mib > 0 && c->spike_limit_percentage > 0) {
        cfg_diag_error(d, ynode_get(node, "spike_limit_percentage"),
                       "spike_limit_percentage goes with limit_percentage; "
                       "use spike_limit_mib with limit_mib");
        return;
    }
    if (c->limit_percentage > 0 && c->spike_limit_mib > 0) {
        cfg_diag_error(d, ynode_get(node, "spike_limit_mib"),
                       "spike_limit_mib goes with limit_mib; use "
                       "spike_limit_percentage with limit_percentage");
        return;
    }
    if (ml_limits(c, ml_total_memory(), &hard, &soft, err, sizeof(err)) !=
        PC_OK) {
        cfg_diag_error(d, node, "%s", err);
    }
}

const struct component_factory memory_limiter_processor_factory = {
    .type = "memory_limiter",
    .kind = COMPONENT_PROCESSOR,
    .stability = "beta",
    .description = "refuses data (retryable) while the process's RSS is "
                   "above a soft limit",
    .config_size = sizeof(struct memory_limiter_cfg),
    .config = memory_limiter_table,
    .validate = ml_validate,
    .create = ml_create,
    .destroy = ml_destroy,
    .ops.processor = {.process = ml_process},
};
