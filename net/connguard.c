/*
 * connguard.c: connection limits of the HTTP listeners (connguard.h).
 *
 * Every tracked connection holds a reference on its bufferevent, so the
 * guard may look at it after evhttp freed it: bufferevent_free clears the
 * callbacks, which is how the sweep learns that a connection ended, and
 * the guard's reference is dropped then.
 */
#include "net/connguard.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "core/assert.h"
#include "core/clock.h"
#include "net/listen.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"

#define CONNGUARD_ERR_PAUSE_MS 500
#define CONNGUARD_LOG_INTERVAL_MS 10000
#define CONNGUARD_RESERVE_MIN 64

enum gphase {
    GP_WAIT,    /* accepted or answered: waiting for a request */
    GP_HEADERS, /* a request began; its header block has not ended */
    GP_BODY,    /* headers in, body arriving */
    GP_BUSY,    /* read whole, being answered: no deadline of ours */
};

/* Why accepting pauses (bits). */
#define PAUSE_MAX 1u
#define PAUSE_BUDGET 2u
#define PAUSE_ERROR 4u

struct gconn {
    struct bufferevent *bev;
    struct evbuffer_cb_entry *cb;
    enum gphase phase;
    int64_t t;   /* ms: start of the wait or of the request */
    int nl;      /* header-end scanner: a line just ended */
    int closing; /* shut down by the sweep; evhttp frees it next */
    /* Set once evhttp calls on_conn_close when it frees it. */
    struct evhttp_connection *evcon;
};

struct connguard {
    struct event_base *base;
    struct connguard_cfg cfg;
    char who[128];
    int budgeted;
    struct gconn **conns;
    size_t n, cap;
    /* Connections accepted for an owner (connguard_listen), which tells
     * when they end: beyond the cap they are refused, not paused for. */
    size_t ext;
    unsigned conn_fds; /* descriptors one connection holds */
    connguard_accept_fn on_accept;
    void *accept_arg;
    const char *listener; /* the listener label: "http", "grpc" */
    struct evconnlistener *lis[LISTEN_MAX_FDS];
    int nlis;
    int owns_lis;   /* the listeners are the guard's (connguard_listen) */
    unsigned pause; /* PAUSE_* bits wanted */
    int paused;     /* listeners disabled */
    struct event *sweep, *resume;
    int64_t last_log;
    uint64_t unlogged;
    struct mgauge *m_open;
    struct mcounter *m_closed[CONNGUARD_NREASONS];
    struct mcounter *m_paused[3];
    struct connguard *next; /* every guard of the process */
};

static const char *const closed_reason[CONNGUARD_NREASONS] = {
    "idle_timeout", "read_header_timeout", "read_timeout", "max_connections"};
static const char *const pause_reason[3] = {"max_connections", "fd_budget",
                                            "accept_error"};

/* The process-wide descriptor budget (loop thread only). */
static size_t budget_max, budget_used;
static struct connguard *guards;

static void budget_init(void)
{
    struct rlimit rl;
    size_t soft, reserve;

    if (budget_max != 0) {
        return;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        rl.rlim_cur = rl.rlim_max = 1024;
    }
    /* As Go does at start: a soft limit below the hard one only gets in
     * the way of a server. */
    if (rl.rlim_cur < rl.rlim_max) {
        rlim_t want = rl.rlim_max;
        rl.rlim_cur = want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            getrlimit(RLIMIT_NOFILE, &rl);
        }
    }
    soft = rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1u << 24)
               ? (size_t)1 << 24
               : (size_t)rl.rlim_cur;
    reserve = soft / 8 > CONNGUARD_RESERVE_MIN ? soft / 8
                                               : CONNGUARD_RESERVE_MIN;
    budget_max = soft > 2 * reserve ? soft - reserve : soft / 2;
}

/* Connections open now, whoever holds them. */
static size_t guard_open(const struct connguard *g)
{
    return g->n + g->ext;
}

/* Throttled: the first event of an interval is logged, the others counted
 * into the next line. */
static void guard_log(struct connguard *g, const char *msg, const char *why)
{
    int64_t now = clock_mono_ms();

    if (g->last_log != 0 && now - g->last_log < CONNGUARD_LOG_INTERVAL_MS) {
        g->unlogged++;
        return;
    }
    log_warn(g->who, msg,
             "reason=%s open=%zu max_connections=%lld budget=%zu/%zu "
             "suppressed=%llu",
             why, guard_open(g), (long long)g->cfg.max_connections,
             budget_used, budget_max, (unsigned long long)g->unlogged);
    g->last_log = now;
    g->unlogged = 0;
}

static void listeners_set(struct connguard *g, int enable)
{
    int i;

    for (i = 0; i < g->nlis; i++) {
        if (enable) {
            evconnlistener_enable(g->lis[i]);
        } else {
            evconnlistener_disable(g->lis[i]);
        }
    }
    g->paused = !enable;
}

/* Recomputes why g pauses and switches its listeners to match. */
static void guard_update(struct connguard *g)
{
    unsigned was = g->pause;
    int i;

    g->pause &= PAUSE_ERROR;
    /* An owner's listener refuses beyond the cap instead (on_accept). */
    if (g->on_accept == NULL && g->n >= (size_t)g->cfg.max_connections) {
        g->pause |= PAUSE_MAX;
    }
    if (g->budgeted && budget_used + g->conn_fds > budget_max) {
        g->pause |= PAUSE_BUDGET;
    }
    for (i = 0; i < 2; i++) {
        unsigned bit = 1u << i;
        if ((g->pause & bit) && !(was & bit)) {
            mcounter_add(g->m_paused[i], 1);
            guard_log(g, "accepting paused", pause_reason[i]);
        }
    }
    if ((g->pause != 0) != g->paused) {
        listeners_set(g, g->pause == 0);
    }
}

/* The budget went below its cap: budgeted guards may accept again. */
static void budget_changed(struct connguard *self)
{
    struct connguard *g;

    for (g = guards; g != NULL; g = g->next) {
        if (g->budgeted && g != self) {
            guard_update(g);
        }
    }
}

static struct gconn *conn_find(struct connguard *g, struct bufferevent *bev)
{
    size_t i;

    for (i = 0; i < g->n; i++) {
        if (g->conns[i]->bev == bev) {
            return g->conns[i];
        }
    }
    return NULL;
}

/* Scans the newest bytes of a request for the blank line that ends its
 * header block. */
static void scan_headers(struct gconn *c, struct evbuffer *in, size_t added)
{
    size_t len = evbuffer_get_length(in);
    struct evbuffer_ptr pos;
    struct evbuffer_iovec v[16];
    int nv, i;
    size_t j;

    if (evbuffer_ptr_set(in, &pos, len >= added ? len - added : 0,
                         EVBUFFER_PTR_SET) != 0) {
        return;
    }
    nv = evbuffer_peek(in, (ev_ssize_t)added, &pos, v, 16);
    for (i = 0; i < nv && i < 16 && c->phase == GP_HEADERS; i++) {
        const unsigned char *p = v[i].iov_base;
        for (j = 0; j < v[i].iov_len; j++) {
            if (p[j] == '\n') {
                if (c->nl) {
                    c->phase = GP_BODY;
                    break;
                }
                c->nl = 1;
            } else if (p[j] != '\r') {
                c->nl = 0;
            }
        }
    }
}

static void on_input(struct evbuffer *in, const struct evbuffer_cb_info *info,
                     void *arg)
{
    struct gconn *c = arg;

    if (info->n_added == 0) {
        return;
    }
    if (c->phase == GP_WAIT) {
        c->phase = GP_HEADERS;
        c->t = clock_mono_ms();
        c->nl = 0;
    }
    if (c->phase == GP_HEADERS) {
        scan_headers(c, in, info->n_added);
    }
}

static int conn_dead(const struct gconn *c)
{
    bufferevent_data_cb r = NULL;
    bufferevent_event_cb ev = NULL;

    bufferevent_getcb(c->bev, &r, NULL, &ev, NULL);
    return r == NULL && ev == NULL;
}

static void conn_remove(struct connguard *g, size_t i)
{
    struct gconn *c = g->conns[i];

    g->conns[i] = g->conns[--g->n];
    /* The bufferevent may outlive the guard's hold (evhttp's own). */
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->cb);
    bufferevent_decref(c->bev);
    free(c);
    mgauge_add(g->m_open, -1);
    if (g->budgeted) {
        PC_ASSERT(budget_used > 0);
        budget_used--;
    }
}

/* The deadline c missed (index into closed_reason), or -1. */
static int conn_expired(const struct connguard *g, const struct gconn *c,
                        int64_t now)
{
    switch (c->phase) {
    case GP_WAIT:
        return now - c->t > g->cfg.idle_timeout_ms ? 0 : -1;
    case GP_HEADERS:
        if (now - c->t > g->cfg.read_header_timeout_ms) {
            return 1;
        }
        return now - c->t > g->cfg.read_timeout_ms ? 2 : -1;
    case GP_BODY:
        return now - c->t > g->cfg.read_timeout_ms ? 2 : -1;
    case GP_BUSY:
        return -1;
    }
    return -1;
}

/* Ends c the way a client hanging up would: evhttp reads end of file and
 * frees the connection; the next sweep sees it gone. */
static void conn_close(struct connguard *g, struct gconn *c, int why)
{
    evutil_socket_t fd = bufferevent_getfd(c->bev);

    c->closing = 1;
    mcounter_add(g->m_closed[why], 1);
    log_debug(g->who, "connection closed", "reason=%s", closed_reason[why]);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
    }
}

static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct connguard *g = arg;
    size_t i = g->n, before = g->n;
    int64_t now = clock_mono_ms();
    int why;

    (void)fd;
    (void)what;
    while (i-- > 0) {
        struct gconn *c = g->conns[i];
        if (conn_dead(c)) {
            conn_remove(g, i);
        } else if (!c->closing && (why = conn_expired(g, c, now)) >= 0) {
            conn_close(g, c, why);
        }
    }
    if (g->n != before) {
        guard_update(g);
        if (g->budgeted) {
            budget_changed(g);
        }
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct connguard *g = arg;

    (void)fd;
    (void)what;
    g->pause &= ~PAUSE_ERROR;
    guard_update(g);
}

/* The guard of listener l. The error callback's argument is evhttp's, so
 * the guard is looked up among those of the process. */
static struct connguard *guard_of(const struct evconnlistener *l)
{
    struct connguard *g;
    int i;

    for (g = guards; g != NULL; g = g->next) {
        for (i = 0; i < g->nlis; i++) {
            if (g->lis[i] == l) {
                return g;
            }
        }
    }
    return NULL;
}

/* accept() failed. Without descriptors or memory the listening socket
 * stays readable, so retrying at once would spin: pause for a moment. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
    struct connguard *g = guard_of(l);
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = {0, CONNGUARD_ERR_PAUSE_MS * 1000};

    (void)arg;
    if (g == NULL) {
        return;
    }
    if (err != EMFILE && err != ENFILE && err != ENOBUFS && err != ENOMEM) {
        guard_log(g, "accept failed", err_errno(err));
        return;
    }
    mcounter_add(g->m_paused[2], 1);
    guard_log(g, "accepting paused", err_errno(err));
    g->pause |= PAUSE_ERROR;
    guard_update(g);
    evtimer_add(g->resume, &tv);
}

int connguard_new(struct event_base *base, const struct connguard_cfg *cfg,
                  const char *who, int budgeted, struct connguard **out,
                  struct errctx *e)
{
    struct connguard *g = calloc(1, sizeof(*g));
    struct timeval tv = {0, CONNGUARD_SWEEP_MS * 1000};

    *out = NULL;
    if (g == NULL) {
        return err_set(e, PC_ENOMEM, "%s: out of memory", who);
    }
    budget_init();
    g->base = base;
    g->cfg = *cfg;
    g->budgeted = budgeted;
    g->conn_fds = 1;
    g->listener = "http";
    snprintf(g->who, sizeof(g->who), "%s", who);
    g->cap = (size_t)cfg->max_connections;
    g->conns = calloc(g->cap, sizeof(*g->conns));
    g->sweep = event_new(base, -1, EV_PERSIST, on_sweep, g);
    g->resume = evtimer_new(base, on_resume, g);
    if (g->conns == NULL || g->sweep == NULL || g->resume == NULL ||
        event_add(g->sweep, &tv) != 0) {
        connguard_free(g);
        return err_set(e, PC_ENOMEM, "%s: out of memory", who);
    }
    g->next = guards;
    guards = g;
    *out = g;
    return PC_OK;
}

void connguard_metrics(struct connguard *g, struct mscope *m)
{
    int i;

    /* The listener label keeps the series of a receiver's listeners (the
     * otlp receiver has an HTTP and a gRPC one) apart. */
    g->m_open = mscope_gauge(m, "profcol_receiver_open_connections",
                             "connections open on the receiver's listener",
                             "listener", g->listener, NULL);
    for (i = 0; i < CONNGUARD_NREASONS; i++) {
        g->m_closed[i] = mscope_counter(
            m, "profcol_receiver_connections_closed_total",
            "connections closed by profcol: a missed deadline, or refused "
            "beyond max_connections",
            "listener", g->listener, "reason", closed_reason[i], NULL);
    }
    for (i = 0; i < 3; i++) {
        g->m_paused[i] = mscope_counter(
            m, "profcol_receiver_accept_paused_total",
            "times the listener stopped accepting connections", "listener",
            g->listener, "reason", pause_reason[i], NULL);
    }
    mgauge_set(g->m_open, (double)guard_open(g));
}

int connguard_serve(struct connguard *g, struct evhttp *http,
                    struct listen_set *ls)
{
    int i;

    for (i = 0; i < ls->n; i++) {
        struct evhttp_bound_socket *b =
            evhttp_accept_socket_with_handle(http, ls->fds[i]);
        if (b == NULL) {
            while (--ls->n >= i) {
                close(ls->fds[ls->n]);
            }
            ls->n = 0;
            return PC_ENOMEM;
        }
        PC_ASSERT(g->nlis < LISTEN_MAX_FDS);
        g->lis[g->nlis] = evhttp_bound_socket_get_listener(b);
        evconnlistener_set_error_cb(g->lis[g->nlis], on_accept_error);
        g->nlis++;
    }
    ls->n = 0;
    guard_update(g);
    return PC_OK;
}

/* A connection on an owner's listener (connguard_listen). */
static void on_owner_accept(struct evconnlistener *l, evutil_socket_t fd,
                            struct sockaddr *sa, int salen, void *arg)
{
    struct connguard *g = arg;

    (void)l;
    (void)sa;
    (void)salen;
    if (guard_open(g) >= (size_t)g->cfg.max_connections) {
        /* Closed at once: the client learns now and may retry elsewhere
         * or later, instead of waiting in the backlog. */
        close(fd);
        mcounter_add(g->m_closed[CONNGUARD_MAX_CONNECTIONS], 1);
        guard_log(g, "connection refused", "max_connections");
        return;
    }
    g->ext++;
    mgauge_add(g->m_open, 1);
    if (g->budgeted) {
        budget_used += g->conn_fds;
    }
    guard_update(g);
    if (g->budgeted && budget_used + g->conn_fds > budget_max) {
        budget_changed(g);
    }
    g->on_accept(g->accept_arg, fd);
}

int connguard_listen(struct connguard *g, struct listen_set *ls,
                     unsigned conn_fds, const char *listener,
                     connguard_accept_fn fn, void *arg)
{
    int i;

    PC_ASSERT(g->nlis == 0 && g->n == 0 && conn_fds >= 1);
    g->on_accept = fn;
    g->accept_arg = arg;
    g->conn_fds = conn_fds;
    g->listener = listener;
    g->owns_lis = 1;
    for (i = 0; i < ls->n; i++) {
        struct evconnlistener *l = evconnlistener_new(
            g->base, on_owner_accept, g,
            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, ls->fds[i]);
        if (l == NULL) {
            while (--ls->n >= i) {
                close(ls->fds[ls->n]);
            }
            ls->n = 0;
            return PC_ENOMEM;
        }
        evconnlistener_set_error_cb(l, on_accept_error);
        g->lis[g->nlis++] = l;
    }
    ls->n = 0;
    guard_update(g);
    return PC_OK;
}

void connguard_release(struct connguard *g)
{
    PC_ASSERT(g->ext > 0);
    g->ext--;
    mgauge_add(g->m_open, -1);
    if (g->budgeted) {
        PC_ASSERT(budget_used >= g->conn_fds);
        budget_used -= g->conn_fds;
    }
    guard_update(g);
    if (g->budgeted) {
        budget_changed(g);
    }
}

void connguard_warn(struct connguard *g, const char *msg, const char *why)
{
    guard_log(g, msg, why);
}

void connguard_count_closed(struct connguard *g, enum connguard_reason why)
{
    PC_ASSERT((int)why >= 0 && why < CONNGUARD_NREASONS);
    mcounter_add(g->m_closed[why], 1);
    log_debug(g->who, "connection closed", "reason=%s", closed_reason[why]);
}

/* Drops the connections evhttp has freed, in every guard. The guard's
 * reference keeps a freed connection's bufferevent, and with it its
 * events, registered on a descriptor evhttp has closed: a new socket given
 * the same number would then never be watched by the loop (libevent
 * believes it is), and its requests would hang. So this runs before a new
 * connection is set up, besides the sweep. */
static void purge_dead(void)
{
    struct connguard *g;
    size_t i;

    for (g = guards; g != NULL; g = g->next) {
        size_t before = g->n;
        for (i = g->n; i-- > 0;) {
            if (conn_dead(g->conns[i])) {
                conn_remove(g, i);
            }
        }
        if (g->n != before) {
            guard_update(g);
        }
    }
}

void connguard_track(struct connguard *g, struct bufferevent *bev)
{
    struct gconn *c;

    if (bev == NULL) {
        return;
    }
    purge_dead();
    if (g->n == g->cap || (c = calloc(1, sizeof(*c))) == NULL) {
        /* Not tracked (cannot happen at the cap: accepting pauses
         * there); evhttp serves it all the same. */
        return;
    }
    c->bev = bev;
    c->phase = GP_WAIT;
    c->t = clock_mono_ms();
    c->cb = evbuffer_add_cb(bufferevent_get_input(bev), on_input, c);
    bufferevent_incref(bev);
    g->conns[g->n++] = c;
    mgauge_add(g->m_open, 1);
    if (g->budgeted) {
        budget_used++;
    }
    guard_update(g);
    if (g->budgeted && budget_used >= budget_max) {
        budget_changed(g);
    }
}

static struct gconn *conn_of(struct connguard *g, struct evhttp_request *ev)
{
    struct evhttp_connection *evcon = ev != NULL
                                          ? evhttp_request_get_connection(ev)
                                          : NULL;

    return evcon != NULL
               ? conn_find(g, evhttp_connection_get_bufferevent(evcon))
               : NULL;
}

/* evhttp is freeing evcon (before it frees the bufferevent and closes the
 * descriptor): the guard lets go of it now, so the bufferevent's events
 * go with it while the descriptor is still this connection's. */
static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct connguard *g = arg;
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    size_t i;

    for (i = 0; i < g->n; i++) {
        if (g->conns[i]->bev == bev) {
            conn_remove(g, i);
            guard_update(g);
            if (g->budgeted) {
                budget_changed(g);
            }
            return;
        }
    }
}

/* From the first request of c's connection on, evhttp tells when it
 * frees the connection. */
static void watch_close(struct connguard *g, struct gconn *c,
                        struct evhttp_request *ev)
{
    if (c->evcon == NULL) {
        c->evcon = evhttp_request_get_connection(ev);
        evhttp_connection_set_closecb(c->evcon, on_conn_close, g);
    }
}

void connguard_request(struct connguard *g, struct evhttp_request *ev)
{
    struct gconn *c = conn_of(g, ev);

    if (c != NULL) {
        c->phase = GP_BUSY;
        watch_close(g, c, ev);
    }
}

void connguard_replied(struct connguard *g, struct evhttp_request *ev)
{
    struct gconn *c = NULL;

    if (g != NULL) {
        c = conn_of(g, ev);
    }
    if (c == NULL) {
        for (g = guards; g != NULL; g = g->next) {
            if ((c = conn_of(g, ev)) != NULL) {
                break;
            }
        }
    }
    if (c != NULL) {
        c->phase = GP_WAIT;
        c->t = clock_mono_ms();
        watch_close(g, c, ev);
    }
}

size_t connguard_open(const struct connguard *g)
{
    return g != NULL ? guard_open(g) : 0;
}

void connguard_free(struct connguard *g)
{
    struct connguard **pp;
    int i;

    if (g == NULL) {
        return;
    }
    for (pp = &guards; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    }
    for (i = 0; i < g->nlis && g->owns_lis; i++) {
        evconnlistener_free(g->lis[i]);
    }
    if (g->budgeted) {
        PC_ASSERT(budget_used >= g->ext * g->conn_fds);
        budget_used -= g->ext * g->conn_fds;
    }
    while (g->n > 0) {
        struct gconn *c = g->conns[g->n - 1];
        if (c->evcon != NULL && !conn_dead(c)) {
            /* evhttp frees its connections after the guard is gone. */
            evhttp_connection_set_closecb(c->evcon, NULL, NULL);
        }
        conn_remove(g, g->n - 1);
    }
    if (g->sweep != NULL) {
        event_free(g->sweep);
    }
    if (g->resume != NULL) {
        event_free(g->resume);
    }
    free(g->conns);
    free(g);
    budget_changed(NULL);
}

/* Small: a handful of people and scrapers look at profcol's own pages. */
static const struct connguard_cfg local_cfg = {
    .max_connections = 64,
    .read_header_timeout_ms = 10000,
    .read_timeout_ms = 30000,
    .idle_timeout_ms = 60000,
};

static struct bufferevent *local_bevcb(struct event_base *base, void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);

    connguard_track(arg, bev);
    return bev;
}

int connguard_serve_local(struct event_base *base, struct evhttp *http,
                          const char *who, struct listen_set *ls,
                          struct connguard **out, struct errctx *e)
{
    int rc = connguard_new(base, &local_cfg, who, 0, out, e);

    if (rc != PC_OK) {
        listen_close(ls);
        return rc;
    }
    evhttp_set_bevcb(http, local_bevcb, *out);
    if (connguard_serve(*out, http, ls) != PC_OK) {
        return err_set(e, PC_EIO, "%s: cannot serve", who);
    }
    return PC_OK;
}
