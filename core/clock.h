/*
 * clock.h: the clock reads profcol needs.
 *
 * Monotonic time measures intervals and deadlines (it never jumps);
 * real time (the wall clock, since the Unix epoch) stamps data and file
 * names. The absolute deadlines are for pthread_cond_timedwait: the
 * monotonic one for a condition variable created with
 * pthread_condattr_setclock(CLOCK_MONOTONIC), the real-time one for a
 * default condition variable.
 */
#ifndef PROFCOL_CLOCK_H
#define PROFCOL_CLOCK_H

#include <stdint.h>
#include <time.h>

int64_t clock_mono_ns(void);
int64_t clock_mono_ms(void);

/* Nanoseconds since the Unix epoch. */
int64_t clock_real_ns(void);

/* CLOCK_MONOTONIC / CLOCK_REALTIME ms milliseconds from now (a negative
 * ms counts as 0). */
struct timespec clock_mono_after(int64_t ms);
struct timespec clock_real_after(int64_t ms);

#endif
