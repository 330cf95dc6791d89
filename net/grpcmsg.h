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

/* Channel args for grpc_server_create: receive limit max_msg (bytes, as
 * received), per-message decompression off, a connection's handshake
 * (HTTP/2 preface, TLS) bounded by GRPCMSG_HANDSHAKE_MS instead of gRPC's
 * 120 s, and when max_streams > 0 the concurrent streams per connection.
 * args must hold GRPCMSG_NARGS. */
#define GRPCMSG_NARGS 4
#define GRPCMSG_HANDSHAKE_MS 10000
void grpcmsg_server_args(grpc_arg *args, grpc_channel_args *ca, size_t max_msg,
                         int max_streams);

/*
 * The message in bb as one malloc'd block of *len bytes (the caller frees
 * it), inflated when it came compressed. Does not free bb. Errors, with a
 * message in e: PC_ETOOBIG past max_out bytes (inflated), PC_ECORRUPT for
 * bad compressed data, PC_EUNSUPPORTED for a coding other than gzip,
 * PC_ENOMEM.
 */
int grpcmsg_take(grpc_byte_buffer *bb, size_t max_out, uint8_t **out,
                 size_t *len, struct errctx *e);

/* Message flags of the last message received on call (the high bit:
 * flagged compressed on the wire). 0 when libgrpc does not say. */
#define GRPCMSG_FLAG_COMPRESSED 0x80000000u
uint32_t grpcmsg_last_flags(grpc_call *call);

#endif
