/*
 * pyro_recv.h: the `pyroscope` receiver instance, shared by its factory
 * (pyro_receiver.c) and its two endpoints (pyro_ingest.c for /ingest,
 * pyro_connect.c for the Connect push API).
 *
 * Threads: the endpoints' handlers run on the HTTP server's worker threads
 * (decoding, building the batch). What needs the main loop (counting a
 * refusal, handing the batch to the pipeline) travels as a struct pyro_job
 * that pyro_job_submit brings back to the loop.
 */
#ifndef PROFCOL_PYRO_RECV_H
#define PROFCOL_PYRO_RECV_H

#include "component/batch.h"
#include "component/component.h"
#include "net/httpsrv.h"
#include "receivers/pyroscope/pyro.h"

struct pyro_cfg {
    struct httpsrv_cfg http;
    int require_tenant;
};

struct pyro_recv {
    const struct pyro_cfg *cfg;
    struct component_host *host;
    struct httpsrv *srv;
};

/* Series attributes collected for one item before it exists. */
#define PYRO_MAX_ATTRS (PYRO_MAX_LABELS + 8)

struct pyro_attrs {
    const char *key[PYRO_MAX_ATTRS];
    const char *value[PYRO_MAX_ATTRS];
    uint32_t n;
};

/* Sets key (replacing an earlier value of it); ignored when full. */
void pyro_attrs_set(struct pyro_attrs *a, const char *key, const char *value);
const char *pyro_attrs_get(const struct pyro_attrs *a, const char *key);

/* Appends one item for pd (taken) and raw (taken, may be NULL) to b, with
 * the attributes and the request's tenant. */
int pyro_batch_add(struct batch *b, struct pdata *pd, struct blob *raw,
                   const struct pyro_attrs *attrs, const char *tenant);

/* The same for resource `resource` of sp (-1: all of it): the item takes a
 * reference to sp, so several items can view one shared payload. */
int pyro_batch_add_view(struct batch *b, struct shared_pdata *sp,
                        int32_t resource, struct blob *raw,
                        const struct pyro_attrs *attrs, const char *tenant);

/*
 * What a handler decided, carried out on the main loop: count the refusal
 * (refused_*), then answer status with code and msg, or hand b to the
 * pipeline and let answer() reply with its result (rc PC_OK and no call to
 * the pipeline when b is NULL). An endpoint embeds it first in a larger
 * struct of its own; it is freed (free) after the answer.
 */
struct pyro_job {
    struct pyro_recv *r;
    struct evhttp_request *ev; /* set on the loop */
    uint32_t refused_profiles;
    uint64_t refused_bytes;
    int status; /* != 0: answer this error */
    const char *code;
    char msg[512];
    struct batch *b;
    void (*answer)(struct pyro_job *j, struct httpsrv_req *req, int rc,
                   const char *msg);
};

/* Worker: a zeroed job of size bytes (the endpoint's struct), or NULL. */
void *pyro_job_new(struct pyro_recv *r, size_t size);
/* Worker: hands j to the loop (takes j). */
void pyro_job_submit(struct httpsrv_req *req, struct pyro_job *j);
/* Worker: counts profiles refused with the request's bytes and answers
 * status {code, msg}, both on the loop. */
void pyro_refuse(struct pyro_recv *r, struct httpsrv_req *req,
                 uint32_t profiles, int status, const char *code,
                 const char *msg);

/* The request's tenant ("" when none); answers 401 and returns NULL when
 * the receiver requires one and the request has none. */
const char *pyro_tenant(struct pyro_recv *r, struct httpsrv_req *req,
                        int connect);

void pyro_ingest_handler(struct httpsrv_req *req, void *arg);
void pyro_connect_handler(struct httpsrv_req *req, void *arg);

#endif
