/*
 * k8s_targets.h: Kubernetes objects -> scrape targets with Prometheus's
 * `__meta_kubernetes_*` labels, role by role (pod, endpoints,
 * endpointslice, service, node), named exactly as Prometheus names them.
 *
 * A target is emitted as a run of label() calls followed by one target()
 * call; the object's group labels come first, then the target's own, and
 * a later label of the same name wins (the consumer overwrites).
 */
#ifndef PROFCOL_K8S_TARGETS_H
#define PROFCOL_K8S_TARGETS_H

#include <jansson.h>
#include <stddef.h>

#include "discovery/k8s_cfg.h"

#define K8S_META "__meta_kubernetes_"

struct k8s_emit {
    void *ctx;
    int (*label)(void *ctx, const char *name, const char *value);
    /* Ends one target; source is "pod/NS/NAME", "svc/NS/NAME", ... */
    int (*target)(void *ctx, const char *source);
};

/* Snapshots (key -> object maps, see k8s_watch.h) a role reads; any may be
 * NULL when not watched. */
struct k8s_snap {
    json_t *pods;
    json_t *services;
    json_t *endpoints;
    json_t *slices;
    json_t *nodes;
    int attach_node;
    int node_filtered; /* a node selector applies: pods on other nodes
                          get no targets */
};

/* Emits every target of role; returns the first error of the emitter. */
int k8s_targets_build(int role, const struct k8s_snap *s,
                      const struct k8s_emit *em);

/* Role builders (k8s_labels.c, k8s_roles.c). */
int k8s_pod_targets(const json_t *pod, const struct k8s_snap *s,
                    const struct k8s_emit *em);
int k8s_service_targets(const json_t *svc, const struct k8s_emit *em);
int k8s_node_targets(const json_t *node, const struct k8s_emit *em);
int k8s_endpoints_targets(const json_t *ep, const struct k8s_snap *s,
                          const struct k8s_emit *em);
int k8s_slice_targets(const json_t *sl, const struct k8s_snap *s,
                      const struct k8s_emit *em);

/* ---- helpers shared by the role builders ---------------------------------- */

/* `prefix` + key with every character outside [a-zA-Z0-9_] as '_'. */
void k8s_label_name(char *out, size_t len, const char *prefix,
                    const char *key);
/* K8S_META + suffix = value (value NULL: nothing). */
int k8s_put(const struct k8s_emit *em, const char *suffix, const char *value);
/* `<role>_label_<S>`, `_labelpresent_`, `_annotation_`, `_annotationpresent_`
 * of obj's metadata, and `<role>_name` when name_too. */
int k8s_put_meta(const struct k8s_emit *em, const char *role,
                 const json_t *obj, int name_too);
/* obj.a.b... as a string (NULL when absent or not a string). */
const char *k8s_str(const json_t *obj, const char *path);
/* A label read from a field of an object: K8S_META + suffix = obj.path
 * (k8s_str's paths), a string, or with K8S_FIELD_BOOL a boolean as
 * "true"/"false". A field absent or of another type gives no label. */
#define K8S_FIELD_STR 0
#define K8S_FIELD_BOOL 1
struct k8s_field {
    const char *suffix;
    const char *path;
    int type;
};
/* The labels of fields[0, n) read from obj, in that order. */
int k8s_put_fields(const struct k8s_emit *em, const json_t *obj,
                   const struct k8s_field *fields, size_t n);
/* "ip:port", "[v6]:port", or the bare ip when port < 0. */
void k8s_hostport(char *out, size_t len, const char *ip, long long port);
/* The pod's group labels (namespace, pod_*, labels, annotations, node). */
int k8s_pod_group(const json_t *pod, const struct k8s_snap *s,
                  const struct k8s_emit *em);
/* Container labels of pod's container c (init: an init container). */
int k8s_container_labels(const json_t *pod, const json_t *c, int init,
                         const struct k8s_emit *em);
/* Port labels of a container port p (name, number, protocol). */
int k8s_port_labels(const json_t *p, const struct k8s_emit *em);
/* The node's labels (attach_metadata.node). */
int k8s_node_meta(const struct k8s_snap *s, const char *node,
                  const struct k8s_emit *em);

#endif
