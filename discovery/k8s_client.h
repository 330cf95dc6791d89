/*
 * k8s_client.h: a Kubernetes API client: where the API server is
 * (in-cluster service account, kubeconfig, or api_server with Prometheus's
 * HTTP client keys), its credentials (a projected token re-read at most
 * every minute and right after a 401), and blocking GETs whose body is
 * either kept whole (lists, error Status) or split into lines as it
 * arrives (watch streams). GETs run on discovery's own threads, never on
 * the event loop.
 */
#ifndef PROFCOL_K8S_CLIENT_H
#define PROFCOL_K8S_CLIENT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "discovery/k8s_cfg.h"

/* The service-account directory of in-cluster configuration; the
 * environment variable overrides it (tests, unusual mounts). */
#define K8S_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define K8S_SA_DIR_ENV "PROFCOL_K8S_SERVICEACCOUNT_DIR"

/* A watch event or list page larger than this is refused (and counted):
 * etcd stores objects up to 1.5 MiB; a list page of 500 objects is far
 * below the page bound. */
#define K8S_LINE_MAX ((size_t)8 << 20)
#define K8S_PAGE_MAX ((size_t)256 << 20)
#define K8S_STATUS_MAX ((size_t)64 << 10)

struct k8s_client;

/* Resolves the configuration (reading the kubeconfig or the service
 * account's files); e says what is missing. */
int k8s_client_new(const struct k8s_client_cfg *cfg, struct k8s_client **out,
                   struct errctx *e);
void k8s_client_free(struct k8s_client *c);
/* In-cluster: the namespace file's content; else NULL. */
const char *k8s_client_own_namespace(const struct k8s_client *c);
/* "https://10.96.0.1:443" (for logs). */
const char *k8s_client_url(const struct k8s_client *c);

/* Incremental line splitting of a stream whose chunks do not align with
 * lines. A line longer than max is dropped whole (fn gets line NULL and the
 * dropped length once it ends) so one huge object cannot hold memory. */
typedef int (*k8s_line_fn)(void *priv, const char *line, size_t len);

struct k8s_lines {
    struct buf cur;
    size_t max;
    size_t skipped; /* > 0: inside an over-long line */
};

void k8s_lines_init(struct k8s_lines *l, size_t max);
void k8s_lines_free(struct k8s_lines *l);
/* Feeds a chunk; calls fn per complete line (without its '\n', empty lines
 * skipped). Returns fn's first negative answer, else PC_OK. */
int k8s_lines_feed(struct k8s_lines *l, const char *p, size_t n,
                   k8s_line_fn fn, void *priv);
/* End of stream: a last line without '\n' is delivered. */
int k8s_lines_end(struct k8s_lines *l, k8s_line_fn fn, void *priv);

/* GET path (starting with '/', query included). A 2xx body goes to fn line
 * by line when fn is set, else into body (bounded by its max); any other
 * status keeps (up to K8S_STATUS_MAX of) the body in body. *status is the
 * HTTP status, 0 when none came. PC_OK when an answer came (any status),
 * PC_EIO/PC_ETIMEDOUT-like codes (with e) when not, PC_ECANCELED when stop
 * became non-zero, PC_ETOOBIG when body overflowed. A 401 makes the next
 * request re-read the token. */
int k8s_client_get(struct k8s_client *c, const char *path, long timeout_s,
                   struct buf *body, k8s_line_fn fn, void *priv,
                   const atomic_int *stop, long *status, struct errctx *e);

#endif
