/*
 * workpool.h: worker threads for the work a server must not do on its
 * event loop (decompressing and decoding request bodies), with the results
 * brought back to that loop.
 *
 * One set of threads serves the whole process (online cores minus one,
 * at least one, at most WORKPOOL_MAX_THREADS; the Collector has no such
 * setting, so neither has profcol): decoding is CPU-bound, so more threads
 * than cores would only add memory (each running job holds a decoded body),
 * and the core left over keeps the main loop answering at once. It starts with the first workpool_open and stops with the last
 * workpool_close. Each user (an HTTP server) opens its own handle on its
 * loop: its jobs run on any worker, and their done() runs on that loop's
 * thread, so done() may use the loop's non-thread-safe objects (evhttp).
 *
 * A job belongs to the user from submit until its done() ran; the pool
 * never frees one.
 */
#ifndef PROFCOL_WORKPOOL_H
#define PROFCOL_WORKPOOL_H

#include "core/err.h"

struct event_base;
struct workpool;

#define WORKPOOL_MAX_THREADS 16
/* Jobs waiting for a thread, over every user: past it, submit refuses. */
#define WORKPOOL_BACKLOG_MAX 256

struct workpool_job {
    struct workpool_job *next; /* the pool's */
    struct workpool *wp;       /* the pool's */
    /* Worker thread. Not called when the job was cancelled. */
    void (*run)(struct workpool_job *j);
    /* The handle's loop thread, once, after run (or instead of it when
     * cancelled is set: workpool_drain dropped it before it started). */
    void (*done)(struct workpool_job *j);
    int cancelled;
};

/* Loop thread: a handle whose done() callbacks run on base. */
int workpool_open(struct event_base *base, struct workpool **out,
                  struct errctx *e);
/* Loop thread: queues j. PC_EBUSY when the backlog is full (j untouched:
 * the caller answers and frees it), PC_ECLOSED while draining. */
int workpool_submit(struct workpool *wp, struct workpool_job *j);
/* Loop thread: cancels this handle's jobs not yet started, waits for its
 * running ones, and runs every pending done() here. Nothing of the handle
 * is pending afterwards; submit refuses until workpool_close. */
void workpool_drain(struct workpool *wp);
/* Loop thread: drains, then releases the handle (and the threads with the
 * last one). NULL is fine. */
void workpool_close(struct workpool *wp);
/* Worker threads of the process (0 before the first open). */
int workpool_threads(void);

#endif
