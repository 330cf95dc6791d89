/*
 * grpclisten.h: a plaintext gRPC listener whose connections profcol
 * accepts itself, so that they are under the same limits as the HTTP
 * listeners (net/connguard.h): gRPC C core has no cap on incoming
 * connections.
 *
 * The listening sockets are profcol's (listen.h) and its guard accepts on
 * them (connguard_listen): beyond max_connections a new connection is
 * closed at once and counted; the descriptor budget and accept() failures
 * pause accepting. An accepted connection goes to gRPC at once
 * (grpc_server_add_channel_from_fd), which serves it with the server's
 * channel args (idle_timeout is GRPC_ARG_MAX_CONNECTION_IDLE_MS there) and
 * sends its SETTINGS first, as from its own listener. The client must have
 * sent the 24 bytes of the HTTP/2 preface within read_header_timeout of
 * the accept (absolute; the kernel's count of bytes received, TCP_INFO,
 * says so without reading them), else profcol shuts the socket down and
 * counts it; gRPC closes a connection whose preface is wrong itself.
 *
 * To learn when gRPC lets a connection go, the listener keeps a duplicate
 * of its descriptor in an epoll set of its own, watched for hang-up only
 * (never for data, which is gRPC's to read): gRPC shuts a socket down
 * (SHUT_RDWR) before closing it, which the duplicate sees as EPOLLHUP; the
 * duplicate is then closed and the connection released. A connection thus
 * holds two descriptors (counted so in the budget). Loop thread only.
 */
#ifndef PROFCOL_GRPCLISTEN_H
#define PROFCOL_GRPCLISTEN_H

#include <stdint.h>

#include "core/err.h"
#include "net/connguard.h"
#include "net/grpc_api.h"

struct event_base;
struct mscope;
struct grpclisten;

/* Binds endpoint and accepts for server, which must be started (its
 * channels are added as connections arrive). who names the listener in
 * logs. */
int grpclisten_start(struct event_base *base, grpc_server *server,
                     const char *endpoint, const struct connguard_cfg *cfg,
                     const char *who, struct grpclisten **out,
                     struct errctx *e);
/* The listener's connection series in m's scope (listener="grpc"). */
void grpclisten_metrics(struct grpclisten *l, struct mscope *m);
uint16_t grpclisten_port(const struct grpclisten *l);
/* Connections open now. */
size_t grpclisten_open(const struct grpclisten *l);
/* Stops accepting and forgets every connection (they stay gRPC's to
 * close: its server shutdown does). Before the server is destroyed. */
void grpclisten_free(struct grpclisten *l);

#endif
