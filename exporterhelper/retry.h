/*
 * retry.h: the backoff schedule of an exporter's retries.
 *
 * Exponential backoff with the OpenTelemetry Collector's settings and
 * meaning: the n-th wait is initial_interval * multiplier^(n-1), capped at
 * max_interval, then randomized uniformly within +-randomization_factor of
 * itself (so with the defaults a 30 s interval becomes a wait in 15..45 s).
 * A server's Retry-After wins when it asks for longer. Retrying stops when
 * the next wait would end past max_elapsed_time since the first failure
 * (0 = never stop).
 *
 * The clock and the random source are injectable so tests are
 * deterministic; both default to the monotonic clock and a per-state
 * xorshift generator seeded from the clock and the state's address.
 */
#ifndef PROFCOL_RETRY_H
#define PROFCOL_RETRY_H

#include <stdint.h>

struct retry_cfg {
    int enabled;                 /* CFG_BOOL */
    int64_t initial_interval_ms; /* CFG_DURATION */
    int64_t max_interval_ms;     /* CFG_DURATION */
    double multiplier;           /* CFG_DOUBLE */
    double randomization_factor; /* CFG_DOUBLE */
    int64_t max_elapsed_time_ms; /* CFG_DURATION, 0 = retry forever */
};

/* Milliseconds of a monotonic clock. */
typedef int64_t (*retry_clock_fn)(void *arg);
/* A uniform double in [0, 1). */
typedef double (*retry_rand_fn)(void *arg);

struct retry_state {
    const struct retry_cfg *cfg; /* borrowed; outlives the state */
    retry_clock_fn clock;
    void *clock_arg;
    retry_rand_fn rand;
    void *rand_arg;
    uint64_t rng;       /* default generator's state */
    int64_t start_ms;   /* time of retry_reset() */
    double interval_ms; /* next interval before jitter */
    uint32_t attempts;  /* waits handed out since reset */
};

/* Fills cfg with the Collector's defaults (5 s, 30 s, 1.5, 0.5, 300 s). */
void retry_cfg_default(struct retry_cfg *cfg);

/* Sets up r; clock/rand may be NULL for the defaults. Calls retry_reset(). */
void retry_init(struct retry_state *r, const struct retry_cfg *cfg,
                retry_clock_fn clock, void *clock_arg, retry_rand_fn rand,
                void *rand_arg);

/* Starts a new schedule (first failure of a new request is "now"). */
void retry_reset(struct retry_state *r);

/*
 * The wait before the next attempt, given the server's retry_after_ms
 * (0 = none). PC_OK with *delay_ms set; PC_ETIMEDOUT when the wait would end
 * past max_elapsed_time (give up); PC_EUNSUPPORTED when retries are
 * disabled.
 */
int retry_next(struct retry_state *r, int64_t retry_after_ms,
               int64_t *delay_ms);

#endif
