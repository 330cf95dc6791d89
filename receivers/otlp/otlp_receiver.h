/*
 * otlp_receiver.h: the parts of the `otlp` receiver that its gRPC and HTTP
 * sides share. Internal to receivers/otlp/ (the factory is the folder's only
 * public entry).
 *
 * Both sides turn a request into a batch the same way (otlprx_build), off
 * the main loop, and both hand batches to the pipeline on the main loop
 * (host->consume must run there) as an otlprx_job (otlprx_run_job): the
 * gRPC side decodes on its own thread and posts jobs to the main loop
 * (otlprx_post); the HTTP side decodes on the HTTP server's worker threads,
 * which bring the job back to the loop themselves (httpsrv_then).
 */
#ifndef PROFCOL_OTLP_RECEIVER_H
#define PROFCOL_OTLP_RECEIVER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/profile.h"
#include "component/batch.h"
#include "component/component.h"
#include "net/httpsrv.h"

#define OTLPRX_GRPC_METHOD                                                    \
    "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"
#define OTLPRX_HTTP_PATH "/v1development/profiles"
#define OTLPRX_TENANT_MAX 256

struct otlprx_grpc_cfg {
    char *endpoint;
    int64_t max_recv_msg_size_mib;
    int64_t max_concurrent_streams;
    char *bearer_token;
    /* max_connections, read_header_timeout, idle_timeout (read_timeout is
     * not taken: a gRPC connection carries many calls, a stream may last) */
    struct connguard_cfg conn;
    struct httpsrv_tls_cfg tls;
};

extern const struct cfg_entry otlprx_grpc_table[];

/* The outcome of one request, for the transport to map to its codes. */
enum otlprx_outcome {
    OTLPRX_OK = 0,          /* 200 / OK (maybe partial success) */
    OTLPRX_INVALID,         /* 400 / INVALID_ARGUMENT */
    OTLPRX_BUSY,            /* 503 / UNAVAILABLE, retryable */
    OTLPRX_UNAUTHENTICATED, /* 401 / UNAUTHENTICATED */
    OTLPRX_TOOBIG,          /* 413 / RESOURCE_EXHAUSTED */
    OTLPRX_PROTOCOL,        /* 400 / INTERNAL: the peer broke the protocol */
};

struct otlprx_result {
    enum otlprx_outcome outcome;
    uint32_t rejected; /* OTLP profiles dropped by the screen */
    char msg[256];
};

struct otlprx_grpc;
struct otlprx_job;

struct otlprx {
    struct component_host *host;
    int has_grpc, has_http;
    struct otlprx_grpc_cfg grpc_cfg; /* decoded from protocols.grpc */
    struct httpsrv_cfg http_cfg;     /* decoded from protocols.http */
    struct otlprx_grpc *grpc;
    struct httpsrv *http;
    /* gRPC -> main loop: jobs under lock, a pipe to wake the loop. */
    pthread_mutex_t lock;
    pthread_cond_t cond; /* signalled on every post */
    struct otlprx_job *head, *tail;
    int wake[2];
    struct event *wake_ev;
    int started;
    int stopping; /* run_jobs settles: stop must not leave answers owed */
};

/*
 * Screens a decoded request and makes it a batch: profiles the pipeline
 * cannot use are dropped and counted in res (partial success); one item per
 * resource, attributes = the resource's attributes, sharing pd; tenant
 * copied. Takes pd and raw (raw may be NULL; it is kept on the item only
 * when nothing was dropped and one item is the whole request). *out is NULL
 * when nothing is left (res says why). Thread-safe (no host calls).
 */
int otlprx_build(struct otlprx *rx, struct pdata *pd, struct blob *raw,
                 const char *tenant, size_t tenant_len, struct batch **out,
                 struct otlprx_result *res);

/* Main loop only: hands b to the pipeline and fills res. */
void otlprx_consume(struct otlprx *rx, struct batch *b,
                    struct otlprx_result *res);

/* The same, answering only once the batch is durable (persistent queues
 * commit first). Returns 1 when the answer comes later: done(arg, rc, msg)
 * runs on the main loop and should call otlprx_apply(res, rc, msg), then
 * reply. Returns 0 when res is final now (done is not called). res must
 * live until done ran. */
int otlprx_consume_async(struct otlprx *rx, struct batch *b,
                         struct otlprx_result *res,
                         void (*done)(void *arg, int rc, const char *msg),
                         void *arg);

/* Turns the pipeline's answer (rc, msg) into res. */
void otlprx_apply(struct otlprx_result *res, int rc, const char *msg);

/* Appends an ExportProfilesServiceResponse (partial_success when some
 * profiles were rejected) in protobuf. */
int otlprx_response_pb(const struct otlprx_result *res, struct buf *out);

/* Constant-time comparison of an Authorization value with the token. */
int otlprx_bearer_ok(const char *token, const char *value, size_t len);

/* A request's job: the main loop consumes job->batch, then calls done(job,
 * res) (which replies). */
typedef void (*otlprx_done_fn)(struct otlprx_job *job,
                               const struct otlprx_result *res);

struct otlprx_job {
    struct otlprx_job *next;
    struct batch *batch;      /* NULL: nothing to consume */
    struct otlprx_result res; /* filled by the screen */
    uint64_t refused_bytes;   /* counted as refused when no batch
                                          and the outcome is not OK */
    otlprx_done_fn done;
};

/* Any thread: queues a gRPC job for the main loop. */
void otlprx_post(struct otlprx *rx, struct otlprx_job *job);

/* Main loop: consumes job->batch (or counts the refusal when there is
 * none), then calls job->done, now or once the batch is durable. */
void otlprx_run_job(struct otlprx *rx, struct otlprx_job *job);

/* Runs queued jobs now (main loop); returns how many ran. */
int otlprx_run_jobs(struct otlprx *rx);

/* gRPC side (otlp_grpc.c). */
int otlprx_grpc_start(struct otlprx *rx, struct otlprx_grpc **out,
                      struct errctx *e);
/* Stops taking calls, answers the pending ones (running their jobs on the
 * calling main-loop thread) and joins the thread. */
void otlprx_grpc_stop(struct otlprx_grpc *g);

/* HTTP side (otlp_http.c). */
int otlprx_http_start(struct otlprx *rx, struct errctx *e);

#endif
