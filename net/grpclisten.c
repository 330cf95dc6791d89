/*
 * grpclisten.c: a plaintext gRPC listener under connection limits
 * (grpclisten.h).
 */
#include "net/grpclisten.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/tcp.h>

#include <event2/event.h>

#include "core/assert.h"
#include "core/clock.h"
#include "net/listen.h"

#define GRPCLISTEN_BACKLOG 512
#define GRPCLISTEN_EVENTS 64

/* RFC 9113 3.4: the HTTP/2 client preface, "PRI * HTTP/2.0...", is 24
 * bytes; gRPC itself closes a connection whose first bytes differ. */
#define H2_PREFACE_LEN 24

struct glconn {
    int dup;       /* profcol's duplicate of the socket gRPC holds */
    int preface;   /* the client sent at least the preface's length */
    int cut;       /* shut down by profcol (preface deadline) */
    int peer_gone; /* the client shut its side; gRPC not yet */
    int64_t t;     /* accepted (ms, monotonic) */
    size_t slot;   /* index in conns */
};

struct grpclisten {
    struct event_base *base;
    grpc_server *server;
    grpc_server_credentials *creds; /* insecure: all from_fd takes */
    struct connguard *guard;
    int64_t preface_ms;
    char who[128];
    uint16_t port;
    int ep; /* epoll set of the duplicates */
    struct event *ep_ev, *sweep;
    struct glconn **conns;
    size_t n, cap;
};

/* gRPC is done with the connection: the duplicate goes too. Removed from
 * the epoll set first: gRPC's descriptor may still be open, and the set
 * watches the socket, not the number. */
static void conn_release(struct grpclisten *l, struct glconn *c)
{
    PC_ASSERT(c->slot < l->n && l->conns[c->slot] == c);
    epoll_ctl(l->ep, EPOLL_CTL_DEL, c->dup, NULL);
    close(c->dup);
    l->conns[c->slot] = l->conns[--l->n];
    l->conns[c->slot]->slot = c->slot;
    free(c);
    connguard_release(l->guard);
}

/* The connection goes to gRPC at once, as from gRPC's own listener: the
 * server's SETTINGS go out without waiting for the client (gRPC clients
 * that reconnect in the background only poll now and then, and would
 * take seconds to answer a server that waits for them). */
static void on_accept(void *arg, int fd)
{
    struct grpclisten *l = arg;
    struct glconn *c = calloc(1, sizeof(*c));
    struct epoll_event ee;
    int d = c != NULL ? fcntl(fd, F_DUPFD_CLOEXEC, 0) : -1;

    /* The guard refuses beyond the cap, so there is a slot. */
    PC_ASSERT(l->n < l->cap);
    memset(&ee, 0, sizeof(ee));
    /* Hang-up only: EPOLLHUP and EPOLLERR are always reported; EPOLLRDHUP
     * says the client shut its side (gRPC closes soon after). Never data,
     * which is gRPC's to read. Edge-triggered, so a half-closed socket
     * does not wake the loop again until its state changes. */
    ee.events = EPOLLRDHUP | EPOLLET;
    ee.data.ptr = c;
    if (d < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, d, &ee) != 0) {
        connguard_warn(l->guard, "connection dropped",
                       c == NULL ? "out of memory" : err_errno(errno));
        if (d >= 0) {
            close(d);
        }
        free(c);
        close(fd);
        connguard_release(l->guard);
        return;
    }
    c->dup = d;
    c->t = clock_mono_ms();
    c->slot = l->n;
    l->conns[l->n++] = c;
    grpc_server_add_channel_from_fd(l->server, fd, l->creds);
}

/* Hang-ups of connections gRPC holds. */
static void on_hangup(evutil_socket_t fd, short what, void *arg)
{
    struct grpclisten *l = arg;
    struct epoll_event evs[GRPCLISTEN_EVENTS];
    int n, i;

    (void)fd;
    (void)what;
    do {
        n = epoll_wait(l->ep, evs, GRPCLISTEN_EVENTS, 0);
        for (i = 0; i < n; i++) {
            struct glconn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLHUP | EPOLLERR)) {
                conn_release(l, c);
            } else {
                c->peer_gone = 1;
            }
        }
    } while (n == GRPCLISTEN_EVENTS);
}

/* Whether gRPC shut c's socket down (the client alone shutting its side
 * is not enough: gRPC may still be writing). */
static int conn_hung_up(const struct glconn *c)
{
    struct pollfd p = {.fd = c->dup, .events = POLLRDHUP};

    return poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* Whether the client has sent the preface's length: the kernel counts
 * the bytes a socket received, whoever read them. A kernel too old to say
 * (before Linux 4.1) is taken at its word that they came. */
static int conn_has_preface(const struct glconn *c)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    if (getsockopt(c->dup, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0) {
        return 0;
    }
    if ((size_t)len < offsetof(struct tcp_info, tcpi_bytes_received) +
                          sizeof(ti.tcpi_bytes_received)) {
        return 1;
    }
    return ti.tcpi_bytes_received >= H2_PREFACE_LEN;
}

/* The preface deadline, absolute from accept: a connection that has not
 * brought it is shut down (gRPC reads the end, closes its side, and the
 * duplicate sees the hang-up). Also connections whose client left, in
 * case gRPC's shutdown came without a wake-up of its own. */
static void on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct grpclisten *l = arg;
    int64_t now = clock_mono_ms();
    size_t i = l->n;

    (void)fd;
    (void)what;
    while (i-- > 0) {
        struct glconn *c = l->conns[i];
        if (!c->preface && !c->cut) {
            c->preface = conn_has_preface(c);
            if (!c->preface && now - c->t > l->preface_ms) {
                connguard_count_closed(l->guard,
                                       CONNGUARD_READ_HEADER_TIMEOUT);
                shutdown(c->dup, SHUT_RDWR);
                c->cut = 1;
            }
        }
        if ((c->peer_gone || c->cut) && conn_hung_up(c)) {
            conn_release(l, c);
        }
    }
}

static int events_setup(struct grpclisten *l, struct errctx *e)
{
    struct timeval tv = {0, CONNGUARD_SWEEP_MS * 1000};

    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        return err_set(e, PC_EIO, "%s: epoll: %s", l->who, err_errno(errno));
    }
    l->ep_ev = event_new(l->base, l->ep, EV_READ | EV_PERSIST, on_hangup, l);
    l->sweep = event_new(l->base, -1, EV_PERSIST, on_sweep, l);
    if (l->ep_ev == NULL || l->sweep == NULL ||
        event_add(l->ep_ev, NULL) != 0 || event_add(l->sweep, &tv) != 0) {
        return err_set(e, PC_ENOMEM, "%s: out of memory", l->who);
    }
    return PC_OK;
}

int grpclisten_start(struct event_base *base, grpc_server *server,
                     const char *endpoint, const struct connguard_cfg *cfg,
                     const char *who, struct grpclisten **out,
                     struct errctx *e)
{
    struct grpclisten *l = calloc(1, sizeof(*l));
    struct listen_set ls;
    int rc;

    *out = NULL;
    if (l == NULL) {
        return err_set(e, PC_ENOMEM, "%s: out of memory", who);
    }
    PC_ASSERT(cfg->max_connections > 0 && cfg->read_header_timeout_ms > 0);
    l->base = base;
    l->server = server;
    l->ep = -1;
    l->preface_ms = cfg->read_header_timeout_ms;
    l->cap = (size_t)cfg->max_connections;
    snprintf(l->who, sizeof(l->who), "%s", who);
    l->conns = calloc(l->cap, sizeof(*l->conns));
    l->creds = grpc_insecure_server_credentials_create();
    if (l->conns == NULL || l->creds == NULL) {
        grpclisten_free(l);
        return err_set(e, PC_ENOMEM, "%s: out of memory", who);
    }
    rc = events_setup(l, e);
    if (rc == PC_OK) {
        rc = connguard_new(base, cfg, who, 1, &l->guard, e);
    }
    if (rc == PC_OK) {
        rc = listen_open(who, endpoint, GRPCLISTEN_BACKLOG, &ls, e);
    }
    if (rc == PC_OK) {
        l->port = ls.port;
        if (connguard_listen(l->guard, &ls, 2, "grpc", on_accept, l) !=
            PC_OK) {
            rc = err_set(e, PC_ENOMEM, "%s: cannot serve on %s", who,
                         endpoint);
        }
    }
    if (rc != PC_OK) {
        grpclisten_free(l);
        return rc;
    }
    *out = l;
    return PC_OK;
}

void grpclisten_metrics(struct grpclisten *l, struct mscope *m)
{
    if (l != NULL) {
        connguard_metrics(l->guard, m);
    }
}

uint16_t grpclisten_port(const struct grpclisten *l)
{
    return l != NULL ? l->port : 0;
}

size_t grpclisten_open(const struct grpclisten *l)
{
    return l != NULL ? l->n : 0;
}

void grpclisten_free(struct grpclisten *l)
{
    if (l == NULL) {
        return;
    }
    while (l->n > 0) {
        conn_release(l, l->conns[l->n - 1]);
    }
    connguard_free(l->guard);
    if (l->ep_ev != NULL) {
        event_free(l->ep_ev);
    }
    if (l->sweep != NULL) {
        event_free(l->sweep);
    }
    if (l->ep >= 0) {
        close(l->ep);
    }
    if (l->creds != NULL) {
        grpc_server_credentials_release(l->creds);
    }
    free(l->conns);
    free(l);
}
