/*
 * grpcmsg.c: received gRPC messages, taken without gRPC's own
 * decompression (see grpcmsg.h).
 */
#include "net/grpcmsg.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/buf.h"
#include "codec/compress.h"
#include "net/dynlib.h"

static int clamp_int(int64_t v)
{
    return v > INT32_MAX ? INT32_MAX : (int)v;
}

void grpcmsg_server_args(grpc_arg *args, grpc_channel_args *ca,
                         const struct grpcmsg_server_opts *o)
{
    size_t n = 0;

    memset(args, 0, sizeof(*args) * GRPCMSG_NARGS);
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[n++].value.integer = o->max_msg > INT32_MAX ? INT32_MAX
                                                     : (int)o->max_msg;
    /* Messages arrive as sent; grpcmsg_take inflates them under a cap. */
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION;
    args[n++].value.integer = 0;
    PC_ASSERT(o->handshake_ms > 0);
    args[n].type = GRPC_ARG_INTEGER;
    args[n].key = (char *)GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS;
    args[n++].value.integer = clamp_int(o->handshake_ms);
    if (o->idle_ms > 0) {
        args[n].type = GRPC_ARG_INTEGER;
        args[n].key = (char *)GRPC_ARG_MAX_CONNECTION_IDLE_MS;
        args[n++].value.integer = clamp_int(o->idle_ms);
    }
    if (o->max_streams > 0) {
        args[n].type = GRPC_ARG_INTEGER;
        args[n].key = (char *)GRPC_ARG_MAX_CONCURRENT_STREAMS;
        args[n++].value.integer = o->max_streams;
    }
    PC_ASSERT(n <= GRPCMSG_NARGS);
    ca->num_args = n;
    ca->args = args;
}

/* The slices of bb, as received, into one buffer. Not through
 * grpc_byte_buffer_reader: it inflates a compressed buffer whole. */
static int gather(grpc_byte_buffer *bb, struct buf *out)
{
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    size_t i;
    /* One allocation of the whole size (its bound checked by the buf):
     * growing by doubling would copy a large message several times. */
    int rc = buf_reserve(out, sb->length);

    for (i = 0; i < sb->count && rc == PC_OK; i++) {
        rc = buf_append(out, GRPC_SLICE_START_PTR(sb->slices[i]),
                        GRPC_SLICE_LENGTH(sb->slices[i]));
    }
    return rc;
}

static int inflate_gzip(struct buf *wire, size_t max_out, struct buf *plain,
                        struct errctx *e)
{
    int rc = gz_decompress(wire->data, wire->len, plain, max_out);

    if (rc == PC_ETOOBIG) {
        return err_set(e, rc,
                       "grpc-encoding gzip: message inflates past the "
                       "limit of %zu bytes",
                       max_out);
    }
    if (rc != PC_OK) {
        return err_set(e, rc, "grpc-encoding gzip: %s", pc_strerror(rc));
    }
    return PC_OK;
}

/* The buffer's bytes as a block to free(); an empty message is a block of
 * its own too (one byte), so NULL only means out of memory. */
static uint8_t *take_block(struct buf *b, size_t *len)
{
    uint8_t *p = buf_take(b, len);

    return p != NULL ? p : (*len == 0 ? malloc(1) : NULL);
}

int grpcmsg_take(grpc_byte_buffer *bb, size_t max_out, int keep_gz,
                 struct grpcmsg *m, struct errctx *e)
{
    grpc_compression_algorithm alg = bb->data.raw.compression;
    struct buf wire, plain;
    int rc;

    memset(m, 0, sizeof(*m));
    if (bb->type != GRPC_BB_RAW) {
        return err_set(e, PC_EUNSUPPORTED, "unknown gRPC byte buffer type");
    }
    if (alg != GRPC_COMPRESS_NONE && alg != GRPC_COMPRESS_GZIP) {
        return err_set(e, PC_EUNSUPPORTED,
                       "unsupported grpc-encoding (supported: gzip, "
                       "identity)");
    }
    /* As received, the message is within gRPC's receive limit; plain, it
     * must be within max_out. */
    buf_init(&wire, alg == GRPC_COMPRESS_NONE ? max_out : SIZE_MAX);
    rc = gather(bb, &wire);
    if (rc == PC_ETOOBIG) {
        buf_free(&wire);
        return err_set(e, rc, "message larger than the limit of %zu bytes",
                       max_out);
    }
    if (rc != PC_OK || alg == GRPC_COMPRESS_NONE) {
        m->data = rc == PC_OK ? take_block(&wire, &m->len) : NULL;
        buf_free(&wire);
        return rc == PC_OK && m->data == NULL ? PC_ENOMEM : rc;
    }
    buf_init(&plain, max_out);
    rc = inflate_gzip(&wire, max_out, &plain, e);
    if (rc == PC_OK) {
        m->data = take_block(&plain, &m->len);
        rc = m->data == NULL ? PC_ENOMEM : PC_OK;
    }
    if (rc == PC_OK && keep_gz) {
        /* Optional: without it the relay compresses again. */
        m->gz = buf_take(&wire, &m->gzlen);
    }
    buf_free(&wire);
    buf_free(&plain);
    if (rc != PC_OK) {
        free(m->data);
        memset(m, 0, sizeof(*m));
    }
    return rc;
}

/* libgrpc has no public accessor for the flags of a received message; its
 * C++-mangled test accessor is exported by every libgrpc profcol builds
 * against. Looked up once, optional: without it the check is skipped. */
typedef uint32_t (*flags_fn)(grpc_call *);
static flags_fn grpcmsg_flags_fn;
static pthread_once_t grpcmsg_flags_once = PTHREAD_ONCE_INIT;

static void flags_lookup(void)
{
    struct errctx e;
    void *lib = dynlib_open(PROFCOL_GRPC_SONAME, "gRPC", &e);
    void *p = lib != NULL ? dlsym(lib, "_Z37grpc_call_test_only_get_"
                                       "message_flagsP9grpc_call")
                          : NULL;

    /* POSIX guarantees object and function pointers convert. */
    grpcmsg_flags_fn = (flags_fn)p;
}

uint32_t grpcmsg_last_flags(grpc_call *call)
{
    pthread_once(&grpcmsg_flags_once, flags_lookup);
    return grpcmsg_flags_fn != NULL ? grpcmsg_flags_fn(call) : 0;
}
