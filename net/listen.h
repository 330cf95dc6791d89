/*
 * listen.h: the listening sockets of every server profcol runs (the HTTP
 * receivers and the admin server). Sockets are created and bound here
 * rather than by libevent so that a failure names the address and the
 * system's reason (errno).
 *
 * Addresses are "host:port", "[v6addr]:port" or ":port" (all interfaces).
 */
#ifndef PROFCOL_LISTEN_H
#define PROFCOL_LISTEN_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define LISTEN_MAX_FDS 4 /* "localhost" and ":port" bind v4 and v6 */
#define LISTEN_HOST_MAX 256

/* The sockets one address resolved to, all bound to one port. */
struct listen_set {
    int fds[LISTEN_MAX_FDS];
    int n;
    uint16_t port; /* the port actually bound (useful with 0) */
};

/* Splits addr into host (empty for all interfaces, brackets removed) and
 * port. */
int listen_addr_parse(const char *addr, char *host, size_t hostlen,
                      uint16_t *port, struct errctx *e);

/* Binds and listens (non-blocking, close-on-exec) on every address addr
 * resolves to: "localhost" is both 127.0.0.1 and ::1, and clients pick
 * either. With port 0 the first socket's port is reused for the others. An
 * address family the system lacks is skipped; any other failure is an error
 * that starts with who and names the address, and leaves nothing open. */
int listen_open(const char *who, const char *addr, int backlog,
                struct listen_set *ls, struct errctx *e);

struct evhttp;

/* Hands every socket of ls to http, which owns them from then on; ls is
 * left empty. On failure the sockets not yet handed over are closed. */
int listen_serve_http(struct evhttp *http, struct listen_set *ls);

/* Closes the sockets still in ls (those not handed over). */
void listen_close(struct listen_set *ls);

#endif
