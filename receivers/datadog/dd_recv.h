/*
 * dd_recv.h: the `datadog` receiver instance, shared by its factory
 * (dd_receiver.c) and its upload endpoint (dd_upload.c).
 *
 * Threads: the upload handler runs on an HTTP decode worker; what needs the
 * main loop (counting refusals, handing the batch to the pipeline,
 * answering once the pipeline answered) travels as a struct dd_job, through
 * net/httpintake.h.
 */
#ifndef PROFCOL_DD_RECV_H
#define PROFCOL_DD_RECV_H

#include "component/batch.h"
#include "component/component.h"
#include "net/httpintake.h"
#include "net/httpsrv.h"

struct dd_cfg {
    struct httpsrv_cfg http;
    char *api_key;    /* set: uploads need a DD-API-KEY header equal to it */
    char *forward_to; /* set: the Agent the other routes are relayed to */
};

struct event;

struct dd_recv {
    const struct dd_cfg *cfg;
    struct component_host *host;
    struct httpsrv *srv;
    /* forward_to (dd_proxy.c), loop only */
    int proxy_pipe[2];
    struct event *proxy_ev;
    int proxy_inflight;
};

/*
 * What the worker decided, carried out on the loop (net/httpintake.h):
 * count refused profiles, hand job.b (if any) to the pipeline, then
 * answer: the pipeline's refusal if it refused, else status with msg (200
 * with an empty body when status is 200).
 */
struct dd_job {
    struct httpintake_job job; /* first */
    int status;
    char msg[1024];
};

/* Worker: a job for r answering as above (status 200), or NULL; handed
 * to the loop with httpintake_submit. */
struct dd_job *dd_job_new(struct dd_recv *r);

void dd_upload_handler(struct httpsrv_req *req, void *arg);

/* The Agent's other routes, NULL-terminated, and their handler. */
extern const char *const dd_proxy_routes[];
void dd_proxy_handler(struct httpsrv_req *req, void *arg);
/* Loop: the relay's pipe and event (start); answers every relay under
 * way, waiting for them (stop, before the server goes); releases. */
int dd_proxy_open(struct dd_recv *r);
void dd_proxy_drain(struct dd_recv *r);
void dd_proxy_close(struct dd_recv *r);

#endif
