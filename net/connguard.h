/*
 * connguard.h: the limits every HTTP listener (and the plaintext gRPC
 * listener) of profcol puts on its connections, so that no client can hold
 * the server or its descriptors:
 *
 *   max_connections      open connections per listener; at the cap the
 *                        listener stops accepting (the kernel's backlog
 *                        holds new clients) until one closes
 *   read_header_timeout  first byte of a request to the end of its header
 *                        block, absolute (a byte a second does not extend it)
 *   read_timeout         first byte of a request to its last body byte,
 *                        absolute
 *   idle_timeout         a kept-alive connection waiting for its next
 *                        request (or a new one for its first)
 *
 * A connection past a deadline is closed (no answer, as Go's http.Server).
 * Descriptors: every guarded listener but the admin server's counts against
 * one process-wide budget, the descriptor limit (raised to its hard limit
 * once) less a reserve, so the admin server, exporters and files always
 * have descriptors; when the budget is spent, or accept() fails for want
 * of descriptors or memory, the listener pauses accepting for a moment
 * instead of spinning, logs once per interval and counts it.
 *
 * A server that takes accepted sockets (gRPC, net/grpclisten.h) lets the
 * guard accept for it (connguard_listen) and says when a connection ends
 * (connguard_release); beyond max_connections such a listener closes a new
 * connection at once instead of pausing.
 *
 * The HTTP server (evhttp) hides its connections; the guard learns of them
 * through the bufferevent callback (connguard_track, from evhttp_set_bevcb),
 * of their bytes through a callback on their input buffer, of complete
 * requests and answers from the server (connguard_request, connguard_
 * replied), and of their end by a sweep (every 250 ms) that also enforces
 * the deadlines. Loop thread only.
 */
#ifndef PROFCOL_CONNGUARD_H
#define PROFCOL_CONNGUARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "config/cfg.h"

struct event_base;
struct evhttp;
struct evhttp_request;
struct bufferevent;
struct listen_set;
struct mscope;
struct connguard;

struct connguard_cfg {
    int64_t max_connections;
    int64_t read_header_timeout_ms;
    int64_t read_timeout_ms;
    int64_t idle_timeout_ms;
};

#define CONNGUARD_MAX_CONNECTIONS_DEFAULT "1000"
#define CONNGUARD_SWEEP_MS 250

/* The cfg_entry rows of struct connguard_cfg at byte offset base, one by
 * one (a listener may take some and document them its own way), and all
 * four with the HTTP listeners' docs. */
#define CONNGUARD_CFG_MAX_CONNECTIONS_AT(base, doc_)                          \
    {                                                                         \
        .key = "max_connections", .type = CFG_INT,                            \
        .def = CONNGUARD_MAX_CONNECTIONS_DEFAULT, .min = 1, .max = 1000000,   \
        .offset = (base) + offsetof(struct connguard_cfg, max_connections),   \
        .doc = (doc_)                                                         \
    }
#define CONNGUARD_CFG_READ_HEADER_TIMEOUT_AT(base, doc_)                      \
    {                                                                         \
        .key = "read_header_timeout", .type = CFG_DURATION, .def = "10s",     \
        .min = 1, .max = 86400000,                                            \
        .offset = (base) +                                                    \
                  offsetof(struct connguard_cfg, read_header_timeout_ms),     \
        .doc = (doc_)                                                         \
    }
#define CONNGUARD_CFG_READ_TIMEOUT_AT(base, doc_)                             \
    {                                                                         \
        .key = "read_timeout", .type = CFG_DURATION, .def = "60s", .min = 1,  \
        .max = 86400000,                                                      \
        .offset = (base) + offsetof(struct connguard_cfg, read_timeout_ms),   \
        .doc = (doc_)                                                         \
    }
#define CONNGUARD_CFG_IDLE_TIMEOUT_AT(base, doc_)                             \
    {                                                                         \
        .key = "idle_timeout", .type = CFG_DURATION, .def = "60s", .min = 1,  \
        .max = 86400000,                                                      \
        .offset = (base) + offsetof(struct connguard_cfg, idle_timeout_ms),   \
        .doc = (doc_)                                                         \
    }
#define CONNGUARD_CFG_ENTRIES_AT(base)                                        \
    CONNGUARD_CFG_MAX_CONNECTIONS_AT(                                         \
        base, "open connections at most; beyond, accepting pauses"),          \
        CONNGUARD_CFG_READ_HEADER_TIMEOUT_AT(                                 \
            base, "a request's headers must arrive within this"),             \
        CONNGUARD_CFG_READ_TIMEOUT_AT(                                        \
            base, "a whole request must arrive within this"),                 \
        CONNGUARD_CFG_IDLE_TIMEOUT_AT(                                        \
            base, "a connection waiting for a request is closed after this")

/* Why profcol closed a connection (the reason label). */
enum connguard_reason {
    CONNGUARD_IDLE_TIMEOUT,
    CONNGUARD_READ_HEADER_TIMEOUT,
    CONNGUARD_READ_TIMEOUT,
    CONNGUARD_MAX_CONNECTIONS, /* refused beyond the cap (connguard_listen) */
    CONNGUARD_NREASONS
};

/* A guard for one server. budgeted: counts against the process-wide
 * descriptor budget (every receiver; not the admin server). who names the
 * server in logs. */
int connguard_new(struct event_base *base, const struct connguard_cfg *cfg,
                  const char *who, int budgeted, struct connguard **out,
                  struct errctx *e);
/* Series for the guard's listener in m's scope (NULL: none). */
void connguard_metrics(struct connguard *g, struct mscope *m);
/* Hands the sockets of ls to http (as listen_serve_http) and guards them;
 * ls is left empty. */
int connguard_serve(struct connguard *g, struct evhttp *http,
                    struct listen_set *ls);
/*
 * For a server that takes accepted sockets itself (gRPC): the guard accepts
 * on the sockets of ls (left empty) and hands each connection to fn, which
 * owns its descriptor from then on and calls connguard_release once the
 * connection is gone. Beyond max_connections a new connection is closed at
 * once and counted (reason max_connections), rather than accepting pausing;
 * the descriptor budget and accept() failures pause as for HTTP. conn_fds:
 * descriptors one connection holds (budget); listener: the listener label
 * of the guard's series (a static string).
 */
typedef void (*connguard_accept_fn)(void *arg, int fd);
int connguard_listen(struct connguard *g, struct listen_set *ls,
                     unsigned conn_fds, const char *listener,
                     connguard_accept_fn fn, void *arg);
void connguard_release(struct connguard *g);
/* A warning about the listener, throttled with the guard's own (the first
 * of an interval is logged, the others counted into the next line). */
void connguard_warn(struct connguard *g, const char *msg, const char *why);
/* Counts a connection the owner closed (and logs it at debug level). */
void connguard_count_closed(struct connguard *g, enum connguard_reason why);
/* From the evhttp bufferevent callback: a new connection's bufferevent. */
void connguard_track(struct connguard *g, struct bufferevent *bev);
/* A request of ev's connection was read whole / answered (g NULL: the
 * guard is looked up among every guard of the process). */
void connguard_request(struct connguard *g, struct evhttp_request *ev);
void connguard_replied(struct connguard *g, struct evhttp_request *ev);
/* For profcol's own pages (the admin server, the status page): a guard
 * with small fixed limits outside the receivers' descriptor budget, whose
 * connections are plain sockets, serving the sockets of ls on http (ls is
 * left empty). who names the server in logs. */
int connguard_serve_local(struct event_base *base, struct evhttp *http,
                          const char *who, struct listen_set *ls,
                          struct connguard **out, struct errctx *e);
/* Open connections now. */
size_t connguard_open(const struct connguard *g);
/* Before the evhttp it guards is freed. */
void connguard_free(struct connguard *g);

#endif
