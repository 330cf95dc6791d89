/*
 * k8s_sd.h: one `kubernetes_sd_configs` entry at run time: its client, the
 * watches its role needs (per namespace, with the configured selectors),
 * and the targets built from their stores on demand.
 *
 *   role            watches
 *   pod             pods (+ nodes with attach_metadata.node)
 *   endpoints       endpoints, services, pods (+ nodes)
 *   endpointslice   endpointslices, services, pods (+ nodes)
 *   service         services
 *   node            nodes
 *
 * Nothing is emitted until every watch has listed once (as Prometheus).
 * start/stop/changed/build are called from one thread (the event loop);
 * the watches run on their own threads.
 */
#ifndef PROFCOL_K8S_SD_H
#define PROFCOL_K8S_SD_H

#include "core/err.h"
#include "discovery/k8s_cfg.h"
#include "discovery/k8s_targets.h"
#include "discovery/k8s_watch.h"

struct k8s_sd;

int k8s_sd_start(const struct k8s_sd_cfg *cfg, const char *log_id,
                 struct k8s_sd **out, struct errctx *e);
void k8s_sd_stop(struct k8s_sd *sd);
/* Non-zero once every watch has listed and a store changed since the last
 * k8s_sd_build. */
int k8s_sd_changed(struct k8s_sd *sd);
/* Emits every target of the role from the stores as they are now. */
int k8s_sd_build(struct k8s_sd *sd, const struct k8s_emit *em);
/* Sum of the watches' counters. */
void k8s_sd_counts(struct k8s_sd *sd, struct k8s_watch_counts *sum);

/* The resources the API serves (shared with k8sattributes). */
enum k8s_res {
    K8S_RES_PODS = 0,
    K8S_RES_SERVICES,
    K8S_RES_ENDPOINTS,
    K8S_RES_SLICES,
    K8S_RES_NODES,
    K8S_NRES,
};

/* The watch path of res in namespace ns (NULL: cluster-wide). */
void k8s_res_path(int res, const char *ns, char *out, size_t len);

#endif
