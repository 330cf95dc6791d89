/*
 * otlp_grpc.c: the gRPC side of the `otlp` receiver, on gRPC C core.
 *
 * One thread owns a completion queue. It keeps a few Export calls requested
 * (registered method, payload read by gRPC as sent: gRPC's decompression
 * is off and net/grpcmsg.h inflates gzip under max_recv_msg_size_mib, so a
 * bomb costs at most that), checks that the call is one message (a second
 * message, or one flagged compressed without grpc-encoding, is INTERNAL, as
 * the gRPC protocol says), checks the bearer token, decodes and screens each request
 * and posts a job to the main loop, where the batch is consumed and the
 * reply is sent (grpc_call_start_batch may be called from any thread). So
 * decoding never blocks the main loop, and every client hears back only
 * after the pipeline took or refused its data. Calls to other methods get
 * UNIMPLEMENTED.
 *
 * Connections: without tls the listener is profcol's (net/grpclisten.h:
 * max_connections, sockets handed to gRPC, the HTTP/2 preface within
 * read_header_timeout); with tls gRPC listens itself (it takes plaintext sockets
 * only), and read_header_timeout is its handshake timeout. idle_timeout is
 * gRPC's max_connection_idle either way.
 *
 * Status codes: bad bytes -> INVALID_ARGUMENT with the decoder's message;
 * back-pressure -> UNAVAILABLE (retryable); missing/wrong token ->
 * UNAUTHENTICATED; larger than max_recv_msg_size_mib, as sent (gRPC itself)
 * or inflated -> RESOURCE_EXHAUSTED; success -> ExportProfilesServiceResponse, with
 * partial_success when the screen dropped profiles.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "codec/otlp.h"
#include "net/grpc_api.h"
#include "net/grpclisten.h"
#include "net/grpcmsg.h"
#include "net/peer.h"
#include "telemetry/log.h"
#include "receivers/otlp/otlp_receiver.h"

/* Export calls kept requested at once: how many can arrive between two
 * turns of the completion-queue thread. */
#define GRPC_PENDING_CALLS 16
#define GRPC_STOP_GRACE_MS 5000
#define GRPC_PEM_MAX ((size_t)1 << 20)

struct otlprx_grpc {
    struct otlprx *rx;
    const struct otlprx_grpc_cfg *cfg;
    grpc_server *server;
    struct grpclisten *listen; /* without tls: profcol accepts */
    grpc_completion_queue *cq;
    void *method;
    pthread_t thread;
    int thread_started;
    atomic_int stopping;
    int done;         /* thread finished; under rx->lock */
    int shutdown_tag; /* its address is the shutdown tag */
};

enum gcall_stage {
    GC_REQUESTED,
    GC_CHECK_EOF, /* reading on, to make sure the call has one message */
    GC_REPLYING,
};

struct gcall {
    struct otlprx_job job; /* first: the job is the call */
    struct otlprx_grpc *g;
    int generic;
    int stage;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_call_details details; /* generic calls */
    grpc_metadata_array md;
    grpc_byte_buffer *payload;
    grpc_byte_buffer *extra; /* a second message: a protocol error */
    grpc_byte_buffer *resp;
    grpc_slice status_msg;
    int has_status_msg;
    int cancelled;
};

static void gcall_free(struct gcall *c)
{
    if (c->call != NULL) {
        grpc_call_unref(c->call);
    }
    grpc_metadata_array_destroy(&c->md);
    if (c->generic) {
        grpc_call_details_destroy(&c->details);
    }
    if (c->payload != NULL) {
        grpc_byte_buffer_destroy(c->payload);
    }
    if (c->extra != NULL) {
        grpc_byte_buffer_destroy(c->extra);
    }
    if (c->resp != NULL) {
        grpc_byte_buffer_destroy(c->resp);
    }
    if (c->has_status_msg) {
        grpc_slice_unref(c->status_msg);
    }
    if (c->job.batch != NULL) {
        batch_unref(c->job.batch);
    }
    free(c);
}

/* Keeps one more call requested; quiet when the server is shutting down. */
static void gcall_request(struct otlprx_grpc *g, int generic)
{
    struct gcall *c = calloc(1, sizeof(*c));
    grpc_call_error err;

    if (c == NULL) {
        return;
    }
    c->g = g;
    c->generic = generic;
    grpc_metadata_array_init(&c->md);
    if (generic) {
        grpc_call_details_init(&c->details);
        err = grpc_server_request_call(g->server, &c->call, &c->details,
                                       &c->md, g->cq, g->cq, c);
    } else {
        err = grpc_server_request_registered_call(g->server, g->method,
                                                  &c->call, &c->deadline,
                                                  &c->md, &c->payload, g->cq,
                                                  g->cq, c);
    }
    if (err != GRPC_CALL_OK) {
        c->call = NULL;
        gcall_free(c);
    }
}

static grpc_status_code status_of(enum otlprx_outcome o)
{
    switch (o) {
    case OTLPRX_OK:
        return GRPC_STATUS_OK;
    case OTLPRX_INVALID:
        return GRPC_STATUS_INVALID_ARGUMENT;
    case OTLPRX_BUSY:
        return GRPC_STATUS_UNAVAILABLE;
    case OTLPRX_UNAUTHENTICATED:
        return GRPC_STATUS_UNAUTHENTICATED;
    case OTLPRX_TOOBIG:
        return GRPC_STATUS_RESOURCE_EXHAUSTED;
    case OTLPRX_PROTOCOL:
        return GRPC_STATUS_INTERNAL;
    }
    return GRPC_STATUS_INTERNAL;
}

/* Sends the reply; the completion (on the gRPC thread) frees the call. */
static void gcall_reply(struct gcall *c, grpc_status_code code,
                        const struct otlprx_result *res)
{
    grpc_op ops[4];
    struct buf body;
    size_t n = 0;

    memset(ops, 0, sizeof(ops));
    ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
    buf_init(&body, 0);
    if (code == GRPC_STATUS_OK && otlprx_response_pb(res, &body) == PC_OK) {
        grpc_slice s = grpc_slice_from_copied_buffer(
            body.data != NULL ? (const char *)body.data : "", body.len);
        c->resp = grpc_raw_byte_buffer_create(&s, 1);
        grpc_slice_unref(s);
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->resp;
    }
    buf_free(&body);
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = code;
    if (code != GRPC_STATUS_OK && res->msg[0] != '\0') {
        c->status_msg = grpc_slice_from_copied_string(res->msg);
        c->has_status_msg = 1;
        ops[n].data.send_status_from_server.status_details = &c->status_msg;
    }
    n++;
    ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    ops[n++].data.recv_close_on_server.cancelled = &c->cancelled;
    c->stage = GC_REPLYING;
    if (grpc_call_start_batch(c->call, ops, n, c, NULL) != GRPC_CALL_OK) {
        gcall_free(c);
    }
}

/* Main loop: the job ran (consumed or not); answer the client. */
static void gcall_done(struct otlprx_job *job, const struct otlprx_result *res)
{
    struct gcall *c = (struct gcall *)job;

    if (res->outcome != OTLPRX_OK) {
        log_debug(c->g->rx->host->id, "grpc request refused",
                  "status=%d error=\"%s\"", (int)status_of(res->outcome),
                  res->msg);
    }
    gcall_reply(c, status_of(res->outcome), res);
}

/* The value of metadata key (lowercase), or NULL. */
static const grpc_slice *md_get(const grpc_metadata_array *md, const char *key)
{
    size_t i, kl = strlen(key);

    for (i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == kl &&
            memcmp(GRPC_SLICE_START_PTR(*k), key, kl) == 0) {
            return &md->metadata[i].value;
        }
    }
    return NULL;
}

static int gcall_authorized(struct gcall *c)
{
    const char *token = c->g->cfg->bearer_token;
    const grpc_slice *v;

    if (token == NULL || token[0] == '\0') {
        return 1;
    }
    v = md_get(&c->md, "authorization");
    return v != NULL &&
           otlprx_bearer_ok(token, (const char *)GRPC_SLICE_START_PTR(*v),
                            GRPC_SLICE_LENGTH(*v));
}

/* The payload, inflated under the receive limit, with the gzip bytes it
 * came as (for an exporter to forward); PC_OK, or res filled. */
static int gcall_payload(struct gcall *c, struct grpcmsg *m)
{
    struct otlprx_result *res = &c->job.res;
    size_t max = (size_t)c->g->cfg->max_recv_msg_size_mib << 20;
    struct errctx e = {{0}};
    int rc = grpcmsg_take(c->payload, max, 1, m, &e);

    grpc_byte_buffer_destroy(c->payload);
    c->payload = NULL;
    if (rc != PC_OK) {
        res->outcome = rc == PC_ETOOBIG  ? OTLPRX_TOOBIG
                       : rc == PC_ENOMEM ? OTLPRX_BUSY
                                         : OTLPRX_INVALID;
        snprintf(res->msg, sizeof(res->msg), "%s", err_msg(&e, rc));
    }
    return rc;
}

/* The message's bytes as a blob, its gzip form attached when it came so;
 * NULL (all freed) when out of memory. */
static struct blob *payload_blob(struct grpcmsg *m)
{
    struct blob *raw = blob_take(m->data, m->len);

    if (raw != NULL && m->gz != NULL) {
        raw->gz = blob_take(m->gz, m->gzlen); /* NULL: just not kept */
    } else {
        free(m->gz);
    }
    memset(m, 0, sizeof(*m));
    return raw;
}

/* Decodes and screens; fills c->job (batch and/or result). */
static void gcall_decode(struct gcall *c, const char *tenant, size_t tlen)
{
    struct otlprx_result *res = &c->job.res;
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct grpcmsg m;
    struct blob *raw;
    int rc;

    if (gcall_payload(c, &m) != PC_OK) {
        return;
    }
    rc = otlp_decode_borrow(m.data, m.len, NULL, &pd, &e);
    if (rc != PC_OK) {
        res->outcome = OTLPRX_INVALID;
        c->job.refused_bytes = m.len;
        snprintf(res->msg, sizeof(res->msg), "%s", err_msg(&e, rc));
        free(m.data);
        free(m.gz);
        return;
    }
    /* The pdata points into the bytes: the blob lives as long as its
     * arena. */
    raw = payload_blob(&m);
    if (raw == NULL ||
        arena_on_free(&pd->arena, blob_unref_cb, blob_ref(raw)) != 0) {
        if (raw != NULL) {
            blob_unref(raw);
            blob_unref(raw);
        }
        pdata_free(pd);
        res->outcome = OTLPRX_BUSY;
        snprintf(res->msg, sizeof(res->msg), "out of memory");
        return;
    }
    if (otlprx_build(c->g->rx, pd, raw, tenant, tlen, &c->job.batch, res) !=
        PC_OK) {
        res->outcome = OTLPRX_BUSY;
        snprintf(res->msg, sizeof(res->msg), "out of memory");
    } else if (c->job.batch != NULL) {
        char *peer = grpc_call_get_peer(c->call);
        net_peer_from_grpc(peer, c->job.batch->peer,
                           sizeof(c->job.batch->peer));
        gpr_free(peer);
    }
}

/* A new Export call arrived (gRPC thread). */
static void gcall_export(struct gcall *c)
{
    const grpc_slice *t;
    char tenant[OTLPRX_TENANT_MAX];
    size_t tlen = 0;

    c->job.done = gcall_done;
    if (!gcall_authorized(c)) {
        c->job.res.outcome = OTLPRX_UNAUTHENTICATED;
        snprintf(c->job.res.msg, sizeof(c->job.res.msg),
                 "missing or wrong bearer token");
    } else if (c->payload == NULL) {
        c->job.res.outcome = OTLPRX_INVALID;
        snprintf(c->job.res.msg, sizeof(c->job.res.msg),
                 "no ExportProfilesServiceRequest message");
    } else {
        t = md_get(&c->md, "x-scope-orgid");
        if (t != NULL) {
            tlen = GRPC_SLICE_LENGTH(*t) < sizeof(tenant)
                       ? GRPC_SLICE_LENGTH(*t)
                       : sizeof(tenant) - 1;
            memcpy(tenant, GRPC_SLICE_START_PTR(*t), tlen);
        }
        gcall_decode(c, tenant, tlen);
    }
    otlprx_post(c->g->rx, &c->job);
}

static void gcall_unknown(struct gcall *c)
{
    struct otlprx_result res;

    memset(&res, 0, sizeof(res));
    snprintf(res.msg, sizeof(res.msg), "unknown method %.*s",
             (int)GRPC_SLICE_LENGTH(c->details.method),
             (const char *)GRPC_SLICE_START_PTR(c->details.method));
    gcall_reply(c, GRPC_STATUS_UNIMPLEMENTED, &res);
}

/* Answers a call that broke the gRPC protocol (gRPC thread). */
static void gcall_protocol_error(struct gcall *c, const char *msg)
{
    struct otlprx_result res;

    memset(&res, 0, sizeof(res));
    snprintf(res.msg, sizeof(res.msg), "%s", msg);
    log_debug(c->g->rx->host->id, "grpc call refused", "error=\"%s\"", msg);
    gcall_reply(c, GRPC_STATUS_INTERNAL, &res);
}

/* The first message is in: reads on, so that a second message in this
 * unary call is refused rather than ignored. A well-behaved client closed
 * its side with the message, so the answer comes at once. */
static void gcall_check_eof(struct gcall *c)
{
    grpc_op op;

    if (c->payload != NULL &&
        (grpcmsg_last_flags(c->call) & GRPCMSG_FLAG_COMPRESSED) &&
        c->payload->data.raw.compression == GRPC_COMPRESS_NONE) {
        gcall_protocol_error(c, "message flagged compressed without "
                                "grpc-encoding");
        return;
    }
    if (c->payload == NULL) {
        gcall_export(c);
        return;
    }
    memset(&op, 0, sizeof(op));
    op.op = GRPC_OP_RECV_MESSAGE;
    op.data.recv_message.recv_message = &c->extra;
    c->stage = GC_CHECK_EOF;
    if (grpc_call_start_batch(c->call, &op, 1, c, NULL) != GRPC_CALL_OK) {
        gcall_free(c);
    }
}

static void on_event(struct otlprx_grpc *g, struct gcall *c, int ok)
{
    if (c->stage == GC_REPLYING || !ok) {
        gcall_free(c);
        return;
    }
    if (c->stage == GC_CHECK_EOF) {
        if (c->extra != NULL) {
            gcall_protocol_error(c, "more than one message in a unary call");
        } else {
            gcall_export(c);
        }
        return;
    }
    if (!atomic_load(&g->stopping)) {
        gcall_request(g, c->generic);
    }
    if (c->generic) {
        gcall_unknown(c);
    } else {
        gcall_check_eof(c);
    }
}

static void *grpc_thread(void *arg)
{
    struct otlprx_grpc *g = arg;

    for (;;) {
        grpc_event ev = grpc_completion_queue_next(
            g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
        if (ev.type == GRPC_QUEUE_SHUTDOWN) {
            break;
        }
        if (ev.type != GRPC_OP_COMPLETE) {
            continue;
        }
        if (ev.tag == &g->shutdown_tag) {
            grpc_completion_queue_shutdown(g->cq);
            continue;
        }
        on_event(g, ev.tag, ev.success);
    }
    pthread_mutex_lock(&g->rx->lock);
    g->done = 1;
    pthread_cond_broadcast(&g->rx->cond);
    pthread_mutex_unlock(&g->rx->lock);
    return NULL;
}

/* ---- setup ------------------------------------------------------------------ */

static char *read_pem(const char *path, struct errctx *e)
{
    FILE *f = fopen(path, "rb");
    char *s;
    size_t n;

    if (f == NULL) {
        err_set(e, PC_ECONFIG, "tls: cannot open %s: %s", path,
                err_errno(errno));
        return NULL;
    }
    s = malloc(GRPC_PEM_MAX + 1);
    n = s != NULL ? fread(s, 1, GRPC_PEM_MAX, f) : 0;
    fclose(f);
    if (s == NULL || n == 0 || n == GRPC_PEM_MAX) {
        free(s);
        err_set(e, PC_ECONFIG, "tls: %s is empty or larger than 1MiB", path);
        return NULL;
    }
    s[n] = '\0';
    return s;
}

static grpc_server_credentials *make_creds(const struct httpsrv_tls_cfg *t,
                                           struct errctx *e)
{
    grpc_ssl_pem_key_cert_pair pair;
    grpc_server_credentials *cr = NULL;
    char *cert = NULL, *key = NULL, *ca = NULL;
    int mtls = t->client_ca_file != NULL && t->client_ca_file[0] != '\0';

    if (t->cert_file == NULL || t->cert_file[0] == '\0') {
        return grpc_insecure_server_credentials_create();
    }
    cert = read_pem(t->cert_file, e);
    key = cert != NULL ? read_pem(t->key_file, e) : NULL;
    ca = key != NULL && mtls ? read_pem(t->client_ca_file, e) : NULL;
    if (key != NULL && (!mtls || ca != NULL)) {
        pair.private_key = key;
        pair.cert_chain = cert;
        cr = grpc_ssl_server_credentials_create_ex(
            ca, &pair, 1,
            mtls ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
                 : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
        if (cr == NULL) {
            err_set(e, PC_ECONFIG, "tls: gRPC refused the certificate/key");
        }
    }
    free(cert);
    free(key);
    free(ca);
    return cr;
}

static int tls_on(const struct otlprx_grpc_cfg *cfg)
{
    return cfg->tls.cert_file != NULL && cfg->tls.cert_file[0] != '\0';
}

static grpc_server *make_server(const struct otlprx_grpc_cfg *cfg)
{
    struct grpcmsg_server_opts o = {
        .max_msg = (size_t)cfg->max_recv_msg_size_mib << 20,
        .max_streams = (int)cfg->max_concurrent_streams,
        .handshake_ms = cfg->conn.read_header_timeout_ms,
        .idle_ms = cfg->conn.idle_timeout_ms,
    };
    grpc_arg args[GRPCMSG_NARGS];
    grpc_channel_args ca;

    grpcmsg_server_args(args, &ca, &o);
    return grpc_server_create(&ca, NULL);
}

static void grpc_free(struct otlprx_grpc *g)
{
    grpclisten_free(g->listen);
    g->listen = NULL;
    if (g->server != NULL) {
        grpc_server_destroy(g->server);
    }
    if (g->cq != NULL) {
        grpc_completion_queue_destroy(g->cq);
    }
    free(g);
    grpc_shutdown();
}

/* With tls: gRPC's own listener (grpc_server_add_channel_from_fd takes
 * plaintext connections only). */
static int grpc_bind_tls(struct otlprx_grpc *g, struct errctx *e)
{
    grpc_server_credentials *cr = make_creds(&g->cfg->tls, e);
    int port;

    if (cr == NULL) {
        return PC_ECONFIG;
    }
    port = grpc_server_add_http2_port(g->server, g->cfg->endpoint, cr);
    grpc_server_credentials_release(cr);
    if (port == 0) {
        return err_set(e, PC_EIO,
                       "grpc: cannot listen on %s (address in "
                       "use, or not a local address?)",
                       g->cfg->endpoint);
    }
    return PC_OK;
}

/* Binds and starts the server (no thread yet). Without tls the listener
 * is profcol's: bound now, accepting once the loop runs (by then the
 * server has started, as grpc_server_add_channel_from_fd needs). */
static int grpc_setup(struct otlprx_grpc *g, struct errctx *e)
{
    int rc;

    g->server = make_server(g->cfg);
    g->cq = grpc_completion_queue_create_for_next(NULL);
    if (g->server == NULL || g->cq == NULL) {
        return err_set(e, PC_ENOMEM, "grpc: cannot create the server");
    }
    grpc_server_register_completion_queue(g->server, g->cq, NULL);
    g->method = grpc_server_register_method(
        g->server, OTLPRX_GRPC_METHOD, NULL,
        GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0);
    if (g->method == NULL) {
        return err_set(e, PC_ENOMEM, "grpc: register");
    }
    if (tls_on(g->cfg)) {
        rc = grpc_bind_tls(g, e);
    } else {
        rc = grpclisten_start(g->rx->host->base, g->server, g->cfg->endpoint,
                              &g->cfg->conn, g->rx->host->id, &g->listen, e);
    }
    if (rc != PC_OK) {
        return rc;
    }
    grpc_server_start(g->server);
    return PC_OK;
}

int otlprx_grpc_start(struct otlprx *rx, struct otlprx_grpc **out,
                      struct errctx *e)
{
    struct otlprx_grpc *g = calloc(1, sizeof(*g));
    int rc, i;

    if (g == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    grpc_init();
    g->rx = rx;
    g->cfg = &rx->grpc_cfg;
    rc = grpc_setup(g, e);
    if (rc == PC_OK) {
        for (i = 0; i < GRPC_PENDING_CALLS; i++) {
            gcall_request(g, 0);
        }
        gcall_request(g, 1);
        if (pthread_create(&g->thread, NULL, grpc_thread, g) != 0) {
            rc = err_set(e, PC_ENOMEM, "grpc: cannot start its thread");
        } else {
            g->thread_started = 1;
        }
    }
    if (rc != PC_OK) {
        if (g->cq != NULL && g->server != NULL) {
            /* Calls were requested on a started server: drain them. */
            otlprx_grpc_stop(g);
            return rc;
        }
        grpc_free(g);
        return rc;
    }
    grpclisten_metrics(g->listen, rx->host->metrics);
    if (g->listen != NULL) {
        log_info(rx->host->id, "grpc listening",
                 "endpoint=%s port=%u tls=off max_connections=%lld",
                 g->cfg->endpoint, (unsigned)grpclisten_port(g->listen),
                 (long long)g->cfg->conn.max_connections);
    } else {
        /* gRPC accepts TLS connections itself: no cap of profcol's. */
        log_info(rx->host->id, "grpc listening", "endpoint=%s tls=on",
                 g->cfg->endpoint);
    }
    *out = g;
    return PC_OK;
}

/* Answers what is pending, then lets the thread see the queue shut down. */
static void grpc_drain(struct otlprx_grpc *g)
{
    struct otlprx *rx = g->rx;
    struct timespec deadline = clock_real_after(GRPC_STOP_GRACE_MS), ts;
    int cancelled = 0;

    pthread_mutex_lock(&rx->lock);
    while (!g->done) {
        if (rx->head != NULL) {
            pthread_mutex_unlock(&rx->lock);
            otlprx_run_jobs(rx);
            pthread_mutex_lock(&rx->lock);
            continue;
        }
        if (!cancelled &&
            clock_real_ns() / 1000000000 > (int64_t)deadline.tv_sec) {
            pthread_mutex_unlock(&rx->lock);
            grpc_server_cancel_all_calls(g->server);
            pthread_mutex_lock(&rx->lock);
            cancelled = 1;
        }
        ts = clock_real_after(50);
        pthread_cond_timedwait(&rx->cond, &rx->lock, &ts);
    }
    pthread_mutex_unlock(&rx->lock);
}

void otlprx_grpc_stop(struct otlprx_grpc *g)
{
    if (g == NULL) {
        return;
    }
    atomic_store(&g->stopping, 1);
    /* No new connections; those gRPC holds go with its shutdown. */
    grpclisten_free(g->listen);
    g->listen = NULL;
    grpc_server_shutdown_and_notify(g->server, g->cq, &g->shutdown_tag);
    if (g->thread_started) {
        grpc_drain(g);
        pthread_join(g->thread, NULL);
    } else {
        /* No thread: drain the queue here. */
        for (;;) {
            grpc_event ev = grpc_completion_queue_next(
                g->cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type == GRPC_QUEUE_SHUTDOWN) {
                break;
            }
            if (ev.tag == &g->shutdown_tag) {
                grpc_completion_queue_shutdown(g->cq);
            } else if (ev.type == GRPC_OP_COMPLETE) {
                gcall_free(ev.tag);
            }
        }
    }
    otlprx_run_jobs(g->rx);
    grpc_free(g);
}
