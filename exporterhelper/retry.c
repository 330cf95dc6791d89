/*
 * retry.c: exponential backoff with jitter (see retry.h).
 *
 * The schedule is kept as a double so that a multiplier like 1.5 does not
 * drift through integer rounding; it is rounded once, when handed out.
 */
#include "exporterhelper/retry.h"

#include <stdint.h>
#include "core/clock.h"
#include "core/err.h"

static int64_t default_clock(void *arg)
{
    (void)arg;
    return clock_mono_ms();
}

/* xorshift64*: good enough for jitter, and lock-free per state. */
static double default_rand(void *arg)
{
    uint64_t *s = arg;
    uint64_t x = *s;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return (double)((x * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

void retry_cfg_default(struct retry_cfg *cfg)
{
    cfg->enabled = 1;
    cfg->initial_interval_ms = 5000;
    cfg->max_interval_ms = 30000;
    cfg->multiplier = 1.5;
    cfg->randomization_factor = 0.5;
    cfg->max_elapsed_time_ms = 300000;
}

void retry_init(struct retry_state *r, const struct retry_cfg *cfg,
                retry_clock_fn clock, void *clock_arg, retry_rand_fn rand,
                void *rand_arg)
{
    int64_t now = clock_real_ns();

    r->cfg = cfg;
    r->clock = clock != NULL ? clock : default_clock;
    r->clock_arg = clock_arg;
    r->rng = ((uint64_t)(now % 1000000000) << 20) ^
             (uint64_t)(now / 1000000000) ^ (uint64_t)(uintptr_t)r;
    if (r->rng == 0) {
        r->rng = 0x9e3779b97f4a7c15ULL;
    }
    r->rand = rand != NULL ? rand : default_rand;
    r->rand_arg = rand != NULL ? rand_arg : &r->rng;
    retry_reset(r);
}

void retry_reset(struct retry_state *r)
{
    r->start_ms = r->clock(r->clock_arg);
    r->interval_ms = (double)r->cfg->initial_interval_ms;
    r->attempts = 0;
}

/* The current interval randomized within +-factor of itself. */
static double jitter(struct retry_state *r, double interval)
{
    double f = r->cfg->randomization_factor;
    double lo, hi;

    if (f <= 0) {
        return interval;
    }
    if (f > 1) {
        f = 1;
    }
    lo = interval - f * interval;
    hi = interval + f * interval;
    return lo + r->rand(r->rand_arg) * (hi - lo);
}

int retry_next(struct retry_state *r, int64_t retry_after_ms,
               int64_t *delay_ms)
{
    const struct retry_cfg *c = r->cfg;
    double cur = r->interval_ms;
    double max = (double)c->max_interval_ms;
    double wait;
    int64_t elapsed;

    if (!c->enabled) {
        return PC_EUNSUPPORTED;
    }
    if (max > 0 && cur > max) {
        cur = max;
    }
    wait = jitter(r, cur);
    /* Advance the schedule now so the cap applies to the next interval. */
    r->interval_ms = cur * (c->multiplier >= 1 ? c->multiplier : 1);
    if (max > 0 && r->interval_ms > max) {
        r->interval_ms = max;
    }
    if (retry_after_ms > 0 && (double)retry_after_ms > wait) {
        wait = (double)retry_after_ms;
    }
    if (wait < 0) {
        wait = 0;
    }
    elapsed = r->clock(r->clock_arg) - r->start_ms;
    if (c->max_elapsed_time_ms > 0 &&
        (double)elapsed + wait > (double)c->max_elapsed_time_ms) {
        return PC_ETIMEDOUT;
    }
    r->attempts++;
    *delay_ms = (int64_t)(wait + 0.5);
    return PC_OK;
}
