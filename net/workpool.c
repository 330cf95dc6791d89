/*
 * workpool.c: the process's worker threads and the way back to each
 * user's event loop.
 *
 * One mutex guards everything shared: the queue of jobs waiting for a
 * thread, each handle's count of jobs not yet finished and its list of
 * finished jobs. A worker that finishes a job appends it to its handle's
 * finished list and writes one byte to the handle's pipe, which the
 * handle's loop reads (libevent's event_active would need
 * evthread_use_pthreads for the whole process; a pipe needs nothing).
 * The byte is written under the mutex, so a handle that drains and closes
 * never has its pipe written after it was closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "net/workpool.h"

struct workpool {
    struct event *wake_ev;
    int wake[2];
    /* Under pool.mu. */
    struct workpool_job *fin_head, *fin_tail; /* finished: done() owed */
    int busy;                                 /* queued or running */
    int draining;
};

static struct {
    pthread_mutex_t life; /* open/close: thread start and join */
    pthread_mutex_t mu;
    pthread_cond_t work;     /* a job was queued, or stop */
    pthread_cond_t finished; /* a job finished (drain waits) */
    struct workpool_job *head, *tail;
    int backlog;
    int refs;
    int stop;
    int nthreads;
    pthread_t threads[WORKPOOL_MAX_THREADS];
} pool = {
    .life = PTHREAD_MUTEX_INITIALIZER,
    .mu = PTHREAD_MUTEX_INITIALIZER,
    .work = PTHREAD_COND_INITIALIZER,
    .finished = PTHREAD_COND_INITIALIZER,
};

/* Under pool.mu: hands j back to its handle's loop. */
static void finish_locked(struct workpool_job *j)
{
    struct workpool *wp = j->wp;
    ssize_t n;

    j->next = NULL;
    if (wp->fin_tail != NULL) {
        wp->fin_tail->next = j;
    } else {
        wp->fin_head = j;
    }
    wp->fin_tail = j;
    wp->busy--;
    pthread_cond_broadcast(&pool.finished);
    /* A full pipe already means "wake up": EAGAIN is fine. */
    do {
        n = write(wp->wake[1], "w", 1);
    } while (n < 0 && errno == EINTR);
}

static void *worker_main(void *arg)
{
    struct workpool_job *j;
    sigset_t all;

    (void)arg;
    /* Signals are the main loop's business. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    pthread_setname_np(pthread_self(), "profcol-decode");
    pthread_mutex_lock(&pool.mu);
    while (!pool.stop) {
        j = pool.head;
        if (j == NULL) {
            pthread_cond_wait(&pool.work, &pool.mu);
            continue;
        }
        pool.head = j->next;
        if (pool.head == NULL) {
            pool.tail = NULL;
        }
        pool.backlog--;
        pthread_mutex_unlock(&pool.mu);
        j->run(j);
        pthread_mutex_lock(&pool.mu);
        finish_locked(j);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

/* One thread per core but one: that core is left to the main loop (and
 * the exporters), so a decode never waits for the loop nor the loop for a
 * decode. On 2 cores the probe of bench/bench_loop_stall.sh saw its p99
 * halved against a thread per core, at the same decode throughput. */
static int thread_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN) - 1;

    if (n < 1) {
        return 1;
    }
    return n > WORKPOOL_MAX_THREADS ? WORKPOOL_MAX_THREADS : (int)n;
}

/* Under pool.life. */
static void threads_stop(void)
{
    int i;

    pthread_mutex_lock(&pool.mu);
    pool.stop = 1;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    for (i = 0; i < pool.nthreads; i++) {
        pthread_join(pool.threads[i], NULL);
    }
    pool.nthreads = 0;
}

/* Under pool.life. */
static int threads_start(struct errctx *e)
{
    int i, want = thread_count();

    pool.stop = 0;
    for (i = 0; i < want; i++) {
        if (pthread_create(&pool.threads[i], NULL, worker_main, NULL) != 0) {
            break;
        }
        pool.nthreads++;
    }
    if (pool.nthreads == 0) {
        return err_set(e, PC_ENOMEM, "workpool: cannot start a thread");
    }
    return PC_OK;
}

/* Loop thread: runs the done() of every finished job of wp. */
static void run_finished(struct workpool *wp)
{
    struct workpool_job *j, *next;

    pthread_mutex_lock(&pool.mu);
    j = wp->fin_head;
    wp->fin_head = wp->fin_tail = NULL;
    pthread_mutex_unlock(&pool.mu);
    for (; j != NULL; j = next) {
        next = j->next;
        j->done(j); /* may free j */
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    char tmp[256];

    (void)what;
    while (read(fd, tmp, sizeof(tmp)) > 0) {
    }
    run_finished(arg);
}

static void handle_free(struct workpool *wp)
{
    if (wp->wake_ev != NULL) {
        event_free(wp->wake_ev);
    }
    if (wp->wake[0] >= 0) {
        close(wp->wake[0]);
        close(wp->wake[1]);
    }
    free(wp);
}

int workpool_open(struct event_base *base, struct workpool **out,
                  struct errctx *e)
{
    struct workpool *wp = calloc(1, sizeof(*wp));
    int rc = PC_OK;

    *out = NULL;
    if (wp == NULL) {
        return err_set(e, PC_ENOMEM, "workpool: out of memory");
    }
    wp->wake[0] = wp->wake[1] = -1;
    if (pipe2(wp->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        wp->wake[0] = wp->wake[1] = -1;
        handle_free(wp);
        return err_set(e, PC_EIO, "workpool: pipe: %s", err_errno(errno));
    }
    wp->wake_ev = event_new(base, wp->wake[0], EV_READ | EV_PERSIST, on_wake,
                            wp);
    if (wp->wake_ev == NULL || event_add(wp->wake_ev, NULL) != 0) {
        handle_free(wp);
        return err_set(e, PC_ENOMEM, "workpool: cannot add its event");
    }
    pthread_mutex_lock(&pool.life);
    if (pool.refs == 0) {
        rc = threads_start(e);
    }
    if (rc == PC_OK) {
        pool.refs++;
    }
    pthread_mutex_unlock(&pool.life);
    if (rc != PC_OK) {
        handle_free(wp);
        return rc;
    }
    *out = wp;
    return PC_OK;
}

int workpool_submit(struct workpool *wp, struct workpool_job *j)
{
    pthread_mutex_lock(&pool.mu);
    if (wp->draining) {
        pthread_mutex_unlock(&pool.mu);
        return PC_ECLOSED;
    }
    if (pool.backlog >= WORKPOOL_BACKLOG_MAX) {
        pthread_mutex_unlock(&pool.mu);
        return PC_EBUSY;
    }
    j->next = NULL;
    j->wp = wp;
    j->cancelled = 0;
    if (pool.tail != NULL) {
        pool.tail->next = j;
    } else {
        pool.head = j;
    }
    pool.tail = j;
    pool.backlog++;
    wp->busy++;
    pthread_cond_signal(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    return PC_OK;
}

/* Under pool.mu: moves wp's jobs that no thread took yet to its finished
 * list, marked cancelled. */
static void cancel_queued_locked(struct workpool *wp)
{
    struct workpool_job **pp = &pool.head, *j;

    pool.tail = NULL;
    while ((j = *pp) != NULL) {
        if (j->wp != wp) {
            pool.tail = j;
            pp = &j->next;
            continue;
        }
        *pp = j->next;
        pool.backlog--;
        j->cancelled = 1;
        finish_locked(j);
    }
}

void workpool_drain(struct workpool *wp)
{
    if (wp == NULL) {
        return;
    }
    pthread_mutex_lock(&pool.mu);
    wp->draining = 1;
    cancel_queued_locked(wp);
    while (wp->busy > 0) {
        pthread_cond_wait(&pool.finished, &pool.mu);
    }
    pthread_mutex_unlock(&pool.mu);
    run_finished(wp);
}

void workpool_close(struct workpool *wp)
{
    if (wp == NULL) {
        return;
    }
    workpool_drain(wp);
    handle_free(wp);
    pthread_mutex_lock(&pool.life);
    if (--pool.refs == 0) {
        threads_stop();
    }
    pthread_mutex_unlock(&pool.life);
}

int workpool_threads(void)
{
    int n;

    pthread_mutex_lock(&pool.life);
    n = pool.nthreads;
    pthread_mutex_unlock(&pool.life);
    return n;
}
