/*
 * pyro_recv.h: the `pyroscope` receiver instance, shared by its factory
 * (pyro_receiver.c) and its two endpoints (pyro_ingest.c for /ingest,
 * pyro_connect.c for the Connect push API).
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

/* The request's tenant ("" when none); answers 401 and returns NULL when
 * the receiver requires one and the request has none. */
const char *pyro_tenant(struct pyro_recv *r, struct httpsrv_req *req,
                        int connect);

void pyro_ingest_handler(struct httpsrv_req *req, void *arg);
void pyro_connect_handler(struct httpsrv_req *req, void *arg);

#endif
