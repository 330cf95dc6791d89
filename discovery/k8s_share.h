/*
 * k8s_share.h: watches shared process-wide. The scrape receiver's
 * kubernetes_sd_configs entries and the k8sattributes processor ask for
 * their watches here; asking twice for the same resource through the same
 * connection settings with the same selectors gives the same watch (one
 * list+watch against the API server, one store in memory), counted by
 * reference. Alloy-style configurations (one job per profile type, each
 * with the same discovery) and a node agent that both scrapes and enriches
 * pushes (the same pods of the same node) watch once.
 *
 * Bounds combine: a shared watch keeps the largest max_objects its users
 * asked for, and none when one of them asked for none.
 *
 * Loop thread (component create/start/stop/destroy); the registry has its
 * own lock all the same.
 */
#ifndef PROFCOL_K8S_SHARE_H
#define PROFCOL_K8S_SHARE_H

#include "core/err.h"
#include "discovery/k8s_cfg.h"
#include "discovery/k8s_watch.h"

/* The watch for spec through a client made from cc (new, or shared). */
int k8s_share_get(const struct k8s_client_cfg *cc,
                  const struct k8s_watch_spec *spec, struct k8s_watch **out,
                  struct errctx *e);
/* Lets go of a watch from k8s_share_get; the last one stops it. */
void k8s_share_put(struct k8s_watch *w);

/* What discovery stores of an object: all of it but
 * metadata.managedFields (server-side apply bookkeeping, often the largest
 * part, never a label). A new reference, NULL on out of memory. */
json_t *k8s_drop_managed(json_t *obj);

#endif
