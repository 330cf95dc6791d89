/*
 * k8s_pods.h: a cache of the pods of a cluster (or of one node, or one
 * namespace) for enriching what pods push (the k8sattributes processor):
 * one pods watch, shared with the scrape receiver's discovery when that
 * watches the same pods through the same connection (k8s_share.h), and
 * indexes by pod IP and by UID rebuilt on the event loop when the store
 * changed, at most once a second.
 *
 * Memory is bounded: at most max_pods pods are kept (more are refused and
 * counted), each as the API sends it less metadata.managedFields (5 to
 * 20 KiB typically; annotations are at most 256 KiB by the API's own
 * limit). A watch shared with discovery keeps the larger bound (none when
 * discovery's has none): then the cache is discovery's store, not a second
 * copy.
 */
#ifndef PROFCOL_K8S_PODS_H
#define PROFCOL_K8S_PODS_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "discovery/k8s_cfg.h"
#include "discovery/k8s_watch.h"

struct k8s_pods_cfg {
    const struct k8s_client_cfg *client;
    const char *node;       /* only pods on this node (NULL: all) */
    const char *namespace_; /* only this namespace (NULL: all) */
    const char *label_selector;
    uint32_t max_pods;
    const char *log_id;
};

struct k8s_pods;

int k8s_pods_start(const struct k8s_pods_cfg *cfg, struct k8s_pods **out,
                   struct errctx *e);
void k8s_pods_stop(struct k8s_pods *p);
/* Rebuilds the indexes when the store changed (at most once a second;
 * force: now). Loop thread. */
void k8s_pods_refresh(struct k8s_pods *p, int force);
/* The pod with this IP or UID, or NULL; valid until the next refresh. */
const json_t *k8s_pods_by_ip(const struct k8s_pods *p, const char *ip);
const json_t *k8s_pods_by_uid(const struct k8s_pods *p, const char *uid);
void k8s_pods_counts(struct k8s_pods *p, struct k8s_watch_counts *out);

/* The Deployment owning pod (through its ReplicaSet, whose name is the
 * Deployment's plus "-<pod-template-hash>"), or NULL; written into out. */
const char *k8s_pod_deployment(const json_t *pod, char *out, size_t len);

#endif
