/*
 * grpcmsg.h: what every gRPC server of profcol does with a received
 * message before decoding it, so that no client can make it allocate more
 * than the configured cap.
 *
 * gRPC C core would undo grpc-encoding itself, whole, before its size check
 * (a 1 MiB gzip of zeros becomes 1 GiB). Servers therefore turn gRPC's
 * per-message decompression off (grpcmsg_server_args) and take each message
 * through grpcmsg_take, which copies the slices as received and inflates
 * gzip with the bounded inflater of codec/compress.h: a bomb costs at most
 * the cap. gRPC's own receive limit then applies to the compressed size.
 */
#ifndef PROFCOL_GRPCMSG_H
#define PROFCOL_GRPCMSG_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "net/grpc_api.h"

/* What a server's channel args say (grpcmsg_server_args). */
struct grpcmsg_server_opts {
    size_t max_msg;       /* receive limit, bytes as received */
    int max_streams;      /* concurrent streams per connection; 0: gRPC's */
    int64_t handshake_ms; /* a connection's handshake (HTTP/2 preface,
                             TLS) at most this, instead of gRPC's 120 s */
    int64_t idle_ms;      /* a connection without calls is closed after
                             this (0: never) */
};

/* Channel args for grpc_server_create: the limits of o, and per-message
 * decompression off. They apply to connections gRPC accepts and to those
 * handed to it (grpc_server_add_channel_from_fd) alike. args must hold
 * GRPCMSG_NARGS. */
#define GRPCMSG_NARGS 5
void grpcmsg_server_args(grpc_arg *args, grpc_channel_args *ca,
                         const struct grpcmsg_server_opts *o);

/* A received message: plain, and as it came when it came gzip. */
struct grpcmsg {
    uint8_t *data; /* malloc'd, len bytes; the caller frees it */
    size_t len;
    uint8_t *gz; /* malloc'd gzip bytes it was inflated from, or NULL
                    (kept only when asked for); the caller frees it */
    size_t gzlen;
};

/*
 * The message in bb as one malloc'd block (m->data), inflated when it came
 * compressed; with keep_gz, the compressed bytes are handed over too
 * (m->gz) instead of freed, for a relay to forward as they are. Does not
 * free bb. Errors, with a message in e and m all empty: PC_ETOOBIG past
 * max_out bytes (inflated), PC_ECORRUPT for bad compressed data,
 * PC_EUNSUPPORTED for a coding other than gzip, PC_ENOMEM.
 */
int grpcmsg_take(grpc_byte_buffer *bb, size_t max_out, int keep_gz,
                 struct grpcmsg *m, struct errctx *e);

/* Message flags of the last message received on call (the high bit:
 * flagged compressed on the wire). 0 when libgrpc does not say. */
#define GRPCMSG_FLAG_COMPRESSED 0x80000000u
uint32_t grpcmsg_last_flags(grpc_call *call);

#endif
