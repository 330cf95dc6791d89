/* clock.c: clock reads (see clock.h). */
#include "core/clock.h"

static int64_t read_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_ns(void)
{
    return read_ns(CLOCK_MONOTONIC);
}

int64_t clock_mono_ms(void)
{
    return read_ns(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_real_ns(void)
{
    return read_ns(CLOCK_REALTIME);
}

static struct timespec after(clockid_t id, int64_t ms)
{
    struct timespec ts;

    if (ms < 0) {
        ms = 0;
    }
    clock_gettime(id, &ts);
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

struct timespec clock_mono_after(int64_t ms)
{
    return after(CLOCK_MONOTONIC, ms);
}

struct timespec clock_real_after(int64_t ms)
{
    return after(CLOCK_REALTIME, ms);
}
