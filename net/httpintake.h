/*
 * httpintake.h: what the HTTP receivers that decode on workers share
 * (`pyroscope`, `datadog`): starting their server, and bringing what a
 * handler decided back to the loop, where the pipeline is fed and the
 * client answered once the pipeline answered.
 *
 * Threads: a handler runs on a worker (net/httpsrv.h) and cannot touch the
 * pipeline, so it fills a struct httpintake_job and submits it; the loop
 * counts the refused input, hands the batch to the pipeline and calls the
 * job's answer with the pipeline's result, at once or when a persistent
 * queue commits (the request is held until then).
 */
#ifndef PROFCOL_HTTPINTAKE_H
#define PROFCOL_HTTPINTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "component/batch.h"
#include "component/component.h"
#include "net/httpsrv.h"

/*
 * What a handler decided. A receiver embeds it first in a larger struct
 * of its own (allocated with calloc: it is freed with free after the
 * answer).
 */
struct httpintake_job {
    struct component_host *host;
    struct evhttp_request *ev; /* set on the loop */
    /* Counted as refused (host->refused) when either is non-zero. */
    uint32_t refused_profiles;
    uint64_t refused_bytes;
    /* Handed to the pipeline (taken) when set; NULL: answer gets PC_OK. */
    struct batch *b;
    /* Loop: answers req with the pipeline's result rc and its msg. */
    void (*answer)(struct httpintake_job *j, struct httpsrv_req *req, int rc,
                   const char *msg);
};

/* Worker: a zeroed job of size bytes (the receiver's struct) for host, or
 * NULL. */
void *httpintake_job_new(struct component_host *host, size_t size);

/* Worker (the handler, instead of replying): hands j (taken) to the loop. */
void httpintake_submit(struct httpsrv_req *req, struct httpintake_job *j);

/* The reply to a batch the pipeline refused for back-pressure (PC_EBUSY):
 * status (the protocol's retryable one) with code and "profcol is over
 * its limits, retry later: msg". */
void httpintake_reply_busy(struct httpsrv_req *req, int status,
                           const char *code, const char *msg);

/* Loop: starts the receiver's server on host's loop, named by host's id,
 * with its connection series in host's metrics; logs why it cannot. */
int httpintake_start(struct component_host *host,
                     const struct httpsrv_cfg *cfg, struct httpsrv **out);

#endif
