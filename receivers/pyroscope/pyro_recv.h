/*
 * pyro_recv.h: the `pyroscope` receiver instance, shared by its factory
 * (pyro_receiver.c) and its two endpoints (pyro_ingest.c for /ingest,
 * pyro_connect.c for the Connect push API).
 *
 * Threads: the endpoints' handlers run on the HTTP server's worker threads
 * (decoding, building the batch). What needs the main loop (counting a
 * refusal, handing the batch to the pipeline) travels as a struct
 * httpintake_job that httpintake_submit brings back to the loop.
 */
#ifndef PROFCOL_PYRO_RECV_H
#define PROFCOL_PYRO_RECV_H

#include "component/batch.h"
#include "component/component.h"
#include "net/httpintake.h"
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
