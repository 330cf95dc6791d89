/*
 * k8sattributes_processor.c: the `k8sattributes` processor (the
 * OpenTelemetry Collector's name and keys where they fit): adds pod
 * metadata (k8s.pod.name, k8s.pod.uid, k8s.namespace.name, k8s.node.name,
 * k8s.deployment.name, k8s.container.name, chosen labels and annotations)
 * to the series of profiles pushed from pods.
 *
 * The pod is found by the `pod_association` rules: a series attribute
 * (k8s.pod.ip, k8s.pod.uid, or any attribute holding a pod IP) or the
 * connection's peer address that the receiver recorded on the batch. The
 * pods come from discovery's pod cache (discovery/k8s_pods.h: one pods
 * watch on its own thread, bounded by max_pods); lookups on the event loop
 * are hash lookups. Attributes the series already has are left as they
 * are. With `passthrough` no pods are watched: only k8s.pod.ip is set from
 * the peer address, for a gateway further on to enrich.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "component/batch.h"
#include "component/component.h"
#include "discovery/k8s_pods.h"
#include "discovery/k8s_targets.h"

#define MAX_ASSOC 8
#define MAX_SOURCES 4

static const char *const auth_types[] = {"serviceAccount", "kubeConfig",
                                         "none", NULL};
enum { AUTH_SA = 0, AUTH_KUBECONFIG, AUTH_NONE };

static const char *const from_values[] = {"resource_attribute", "connection",
                                          NULL};
enum { FROM_ATTR = 0, FROM_CONNECTION };

struct k8sattr_field {
    char *key;
    char *tag_name;
};

struct k8sattr_source {
    int from;
    char *name;
};

struct k8sattr_assoc {
    struct cfg_list sources; /* struct k8sattr_source */
};

struct k8sattr_filter {
    char *node_from_env_var;
    char *node;
    char *namespace_;
};

struct k8sattr_extract {
    struct cfg_strlist metadata;
    struct cfg_list labels;      /* struct k8sattr_field */
    struct cfg_list annotations; /* struct k8sattr_field */
};

struct k8sattr_cfg {
    int auth_type;
    struct k8s_client_cfg client;
    int passthrough;
    struct k8sattr_filter filter;
    struct k8sattr_extract extract;
    struct cfg_list pod_association; /* struct k8sattr_assoc */
    int64_t max_pods;
};

/* clang-format off */
static const struct cfg_entry field_table[] = {
    {.key = "key", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct k8sattr_field, key),
     .doc = "the pod label or annotation key"},
    {.key = "tag_name", .type = CFG_STRING,
     .offset = offsetof(struct k8sattr_field, tag_name),
     .doc = "attribute written (default k8s.pod.labels.<key> or "
            "k8s.pod.annotations.<key>)"},
    {.key = NULL},
};

static const struct cfg_entry source_table[] = {
    {.key = "from", .type = CFG_ENUM, .required = 1,
     .enum_values = from_values,
     .offset = offsetof(struct k8sattr_source, from),
     .doc = "resource_attribute or connection"},
    {.key = "name", .type = CFG_STRING,
     .offset = offsetof(struct k8sattr_source, name),
     .doc = "resource_attribute: the attribute (k8s.pod.ip, k8s.pod.uid)"},
    {.key = NULL},
};

static const struct cfg_entry assoc_table[] = {
    {.key = "sources", .type = CFG_SECTION_LIST, .sub = source_table,
     .sub_size = sizeof(struct k8sattr_source),
     .offset = offsetof(struct k8sattr_assoc, sources),
     .doc = "[{from, name}]: every source must name the same pod"},
    {.key = NULL},
};

static const struct cfg_entry filter_table[] = {
    {.key = "node_from_env_var", .type = CFG_STRING,
     .offset = offsetof(struct k8sattr_filter, node_from_env_var),
     .doc = "only pods on the node named by this environment variable"},
    {.key = "node", .type = CFG_STRING,
     .offset = offsetof(struct k8sattr_filter, node),
     .doc = "only pods on this node"},
    {.key = "namespace", .type = CFG_STRING,
     .offset = offsetof(struct k8sattr_filter, namespace_),
     .doc = "only pods of this namespace"},
    {.key = NULL},
};

static const struct cfg_entry extract_table[] = {
    {.key = "metadata", .type = CFG_STRLIST,
     .offset = offsetof(struct k8sattr_extract, metadata),
     .doc = "attributes to add (default: k8s.namespace.name, k8s.pod.name, "
            "k8s.pod.uid, k8s.node.name, k8s.deployment.name, "
            "k8s.container.name)"},
    {.key = "labels", .type = CFG_SECTION_LIST, .sub = field_table,
     .sub_size = sizeof(struct k8sattr_field),
     .offset = offsetof(struct k8sattr_extract, labels),
     .doc = "[{key, tag_name}]: pod labels to add"},
    {.key = "annotations", .type = CFG_SECTION_LIST, .sub = field_table,
     .sub_size = sizeof(struct k8sattr_field),
     .offset = offsetof(struct k8sattr_extract, annotations),
     .doc = "[{key, tag_name}]: pod annotations to add"},
    {.key = NULL},
};

static const struct cfg_entry k8sattr_table[] = {
    {.key = "auth_type", .type = CFG_ENUM, .def = "serviceAccount",
     .enum_values = auth_types,
     .offset = offsetof(struct k8sattr_cfg, auth_type),
     .doc = "serviceAccount (in-cluster), kubeConfig (kubeconfig_file, "
            "else $KUBECONFIG), none (api_server without credentials)"},
    K8S_CLIENT_ENTRIES(offsetof(struct k8sattr_cfg, client)),
    {.key = "passthrough", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct k8sattr_cfg, passthrough),
     .doc = "only set k8s.pod.ip from the connection; watch nothing"},
    {.key = "filter", .type = CFG_SECTION, .sub = filter_table,
     .offset = offsetof(struct k8sattr_cfg, filter),
     .doc = "node_from_env_var, node, namespace: which pods are watched"},
    {.key = "extract", .type = CFG_SECTION, .sub = extract_table,
     .offset = offsetof(struct k8sattr_cfg, extract),
     .doc = "metadata, labels, annotations: what is added"},
    {.key = "pod_association", .type = CFG_SECTION_LIST, .sub = assoc_table,
     .sub_size = sizeof(struct k8sattr_assoc),
     .offset = offsetof(struct k8sattr_cfg, pod_association),
     .doc = "[{sources: [{from, name}]}], tried in order (default: "
            "k8s.pod.ip, k8s.pod.uid, connection)"},
    {.key = "max_pods", .type = CFG_INT, .def = "10000", .min = 1,
     .max = 1000000, .offset = offsetof(struct k8sattr_cfg, max_pods),
     .doc = "pods kept in the cache at most (more are refused, counted)"},
    {.key = NULL},
};
/* clang-format on */

static const char *const default_metadata[] = {"k8s.namespace.name",
                                               "k8s.pod.name",
                                               "k8s.pod.uid",
                                               "k8s.node.name",
                                               "k8s.deployment.name",
                                               "k8s.container.name",
                                               NULL};

static const char *const known_metadata[] = {"k8s.namespace.name",
                                             "k8s.pod.name",
                                             "k8s.pod.uid",
                                             "k8s.pod.ip",
                                             "k8s.node.name",
                                             "k8s.deployment.name",
                                             "k8s.replicaset.name",
                                             "k8s.statefulset.name",
                                             "k8s.daemonset.name",
                                             "k8s.job.name",
                                             "k8s.container.name",
                                             "k8s.pod.start_time",
                                             NULL};

struct k8sattr {
    const struct k8sattr_cfg *cfg;
    struct component_host *host;
    struct k8s_pods *pods;
    struct k8s_client_cfg client; /* cfg's, completed for auth_type */
    char *kubeconfig;             /* $KUBECONFIG for kubeConfig */
    struct mcounter *m_assoc;
    struct mcounter *m_unassoc;
    struct mcounter *m_bad;
    uint64_t bad_seen;
};

static int known(const char *k)
{
    int i;

    for (i = 0; known_metadata[i] != NULL; i++) {
        if (strcmp(known_metadata[i], k) == 0) {
            return 1;
        }
    }
    return 0;
}

static void k8sattr_validate(const void *cfgp, const struct ynode *node,
                             struct cfg_diag *d)
{
    const struct k8sattr_cfg *c = cfgp;
    const struct k8sattr_assoc *a = c->pod_association.items;
    uint32_t i, k;

    for (i = 0; i < c->extract.metadata.n; i++) {
        if (!known(c->extract.metadata.items[i])) {
            cfg_diag_error(d, node, "extract.metadata: unknown '%s'",
                           c->extract.metadata.items[i]);
        }
    }
    for (i = 0; i < c->pod_association.n; i++) {
        const struct k8sattr_source *s = a[i].sources.items;
        if (a[i].sources.n == 0 || a[i].sources.n > MAX_SOURCES) {
            cfg_diag_error(d, node, "pod_association[%u]: 1 to %d sources", i,
                           MAX_SOURCES);
        }
        for (k = 0; k < a[i].sources.n; k++) {
            if (s[k].from == FROM_ATTR &&
                (s[k].name == NULL || s[k].name[0] == '\0')) {
                cfg_diag_error(d, node,
                               "pod_association[%u]: resource_attribute "
                               "needs a name",
                               i);
            }
        }
    }
    if (c->pod_association.n > MAX_ASSOC) {
        cfg_diag_error(d, node, "pod_association: at most %d entries",
                       MAX_ASSOC);
    }
    if (!c->passthrough) {
        k8s_client_cfg_check(&c->client, node, d);
    }
}

/* ---- association ------------------------------------------------------------ */

static int attr_str(const struct item *it, const char *key, char *out,
                    size_t len)
{
    const struct anyvalue *v = item_attr(it, key);

    if (v == NULL || v->type != AV_STRING || v->u.s.len == 0 ||
        v->u.s.len >= len) {
        return 0;
    }
    memcpy(out, v->u.s.ptr, v->u.s.len);
    out[v->u.s.len] = '\0';
    return 1;
}

static const json_t *by_source(const struct k8sattr *ka, const struct batch *b,
                               const struct item *it,
                               const struct k8sattr_source *s)
{
    char v[256];

    if (s->from == FROM_CONNECTION) {
        return b->peer[0] != '\0' ? k8s_pods_by_ip(ka->pods, b->peer) : NULL;
    }
    if (!attr_str(it, s->name, v, sizeof(v))) {
        return NULL;
    }
    if (strcmp(s->name, "k8s.pod.uid") == 0) {
        return k8s_pods_by_uid(ka->pods, v);
    }
    /* any other attribute may hold either */
    return k8s_pods_by_ip(ka->pods, v) != NULL ? k8s_pods_by_ip(ka->pods, v)
                                               : k8s_pods_by_uid(ka->pods, v);
}

static const struct k8sattr_source default_sources[3] = {
    {FROM_ATTR, "k8s.pod.ip"},
    {FROM_ATTR, "k8s.pod.uid"},
    {FROM_CONNECTION, NULL},
};

static const json_t *find_pod(const struct k8sattr *ka, const struct batch *b,
                              const struct item *it)
{
    const struct k8sattr_assoc *a = ka->cfg->pod_association.items;
    uint32_t i, k;

    if (ka->cfg->pod_association.n == 0) {
        for (i = 0; i < 3; i++) {
            const json_t *p = by_source(ka, b, it, &default_sources[i]);
            if (p != NULL) {
                return p;
            }
        }
        return NULL;
    }
    for (i = 0; i < ka->cfg->pod_association.n; i++) {
        const struct k8sattr_source *s = a[i].sources.items;
        const json_t *pod = NULL;
        for (k = 0; k < a[i].sources.n; k++) {
            const json_t *p = by_source(ka, b, it, &s[k]);
            if (p == NULL || (pod != NULL && p != pod)) {
                pod = NULL;
                break;
            }
            pod = p;
        }
        if (pod != NULL) {
            return pod;
        }
    }
    return NULL;
}

/* ---- attributes --------------------------------------------------------------- */

static int put(struct batch *b, struct item *it, const char *k, const char *v)
{
    if (v == NULL || v[0] == '\0' || item_attr(it, k) != NULL) {
        return PC_OK; /* what the series says stays */
    }
    return item_set_attr_str(b, it, k, v, strlen(v));
}

static const char *owner(const json_t *pod, const char *kind)
{
    const json_t *refs = json_object_get(json_object_get(pod, "metadata"),
                                         "ownerReferences");
    size_t i;
    json_t *r;

    json_array_foreach((json_t *)refs, i, r)
    {
        const char *k = k8s_str(r, "kind");
        if (k != NULL && strcmp(k, kind) == 0) {
            return k8s_str(r, "name");
        }
    }
    return NULL;
}

static const char *only_container(const json_t *pod)
{
    const json_t *cs = json_object_get(json_object_get(pod, "spec"),
                                       "containers");

    return json_array_size(cs) == 1 ? k8s_str(json_array_get(cs, 0), "name")
                                    : NULL;
}

static const char *meta_value(const json_t *pod, const char *k, char *tmp,
                              size_t len)
{
    if (strcmp(k, "k8s.namespace.name") == 0) {
        return k8s_str(pod, "metadata.namespace");
    }
    if (strcmp(k, "k8s.pod.name") == 0) {
        return k8s_str(pod, "metadata.name");
    }
    if (strcmp(k, "k8s.pod.uid") == 0) {
        return k8s_str(pod, "metadata.uid");
    }
    if (strcmp(k, "k8s.pod.ip") == 0) {
        return k8s_str(pod, "status.podIP");
    }
    if (strcmp(k, "k8s.node.name") == 0) {
        return k8s_str(pod, "spec.nodeName");
    }
    if (strcmp(k, "k8s.pod.start_time") == 0) {
        return k8s_str(pod, "status.startTime");
    }
    if (strcmp(k, "k8s.deployment.name") == 0) {
        return k8s_pod_deployment(pod, tmp, len);
    }
    if (strcmp(k, "k8s.replicaset.name") == 0) {
        return owner(pod, "ReplicaSet");
    }
    if (strcmp(k, "k8s.statefulset.name") == 0) {
        return owner(pod, "StatefulSet");
    }
    if (strcmp(k, "k8s.daemonset.name") == 0) {
        return owner(pod, "DaemonSet");
    }
    if (strcmp(k, "k8s.job.name") == 0) {
        return owner(pod, "Job");
    }
    return only_container(pod); /* k8s.container.name */
}

static int put_fields(struct batch *b, struct item *it, const json_t *map,
                      const struct cfg_list *fields, const char *prefix)
{
    const struct k8sattr_field *f = fields->items;
    char tag[512];
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < fields->n && rc == PC_OK; i++) {
        const char *v = json_string_value(json_object_get(map, f[i].key));
        if (f[i].tag_name != NULL && f[i].tag_name[0] != '\0') {
            snprintf(tag, sizeof(tag), "%s", f[i].tag_name);
        } else {
            snprintf(tag, sizeof(tag), "%s%s", prefix, f[i].key);
        }
        rc = put(b, it, tag, v);
    }
    return rc;
}

static int enrich(const struct k8sattr *ka, struct batch *b, struct item *it,
                  const json_t *pod)
{
    const struct cfg_strlist *md = &ka->cfg->extract.metadata;
    const json_t *meta = json_object_get(pod, "metadata");
    char tmp[256];
    uint32_t i;
    int rc = PC_OK;

    if (md->n == 0) {
        for (i = 0; default_metadata[i] != NULL && rc == PC_OK; i++) {
            rc = put(b, it, default_metadata[i],
                     meta_value(pod, default_metadata[i], tmp, sizeof(tmp)));
        }
    }
    for (i = 0; i < md->n && rc == PC_OK; i++) {
        rc = put(b, it, md->items[i],
                 meta_value(pod, md->items[i], tmp, sizeof(tmp)));
    }
    if (rc == PC_OK) {
        rc = put_fields(b, it, json_object_get(meta, "labels"),
                        &ka->cfg->extract.labels, "k8s.pod.labels.");
    }
    if (rc == PC_OK) {
        rc = put_fields(b, it, json_object_get(meta, "annotations"),
                        &ka->cfg->extract.annotations, "k8s.pod.annotations.");
    }
    return rc;
}

static void count_bad(struct k8sattr *ka)
{
    struct k8s_watch_counts c;

    k8s_pods_counts(ka->pods, &c);
    if (ka->m_bad != NULL && c.bad_events > ka->bad_seen) {
        mcounter_add(ka->m_bad, c.bad_events - ka->bad_seen);
    }
    ka->bad_seen = c.bad_events;
}

static int k8sattr_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct k8sattr *ka = ctx;
    uint64_t hit = 0, miss = 0;
    uint32_t i;
    int rc = PC_OK;

    (void)e;
    if (ka->cfg->passthrough) {
        for (i = 0; i < b->nitems && rc == PC_OK; i++) {
            rc = put(b, &b->items[i], "k8s.pod.ip", b->peer);
        }
        return rc == PC_ENOMEM ? PC_EBUSY : PC_OK;
    }
    k8s_pods_refresh(ka->pods, 0);
    count_bad(ka);
    for (i = 0; i < b->nitems && rc == PC_OK; i++) {
        const json_t *pod = find_pod(ka, b, &b->items[i]);
        if (pod == NULL) {
            miss++;
            continue;
        }
        hit++;
        rc = enrich(ka, b, &b->items[i], pod);
    }
    mcounter_add(ka->m_assoc, hit);
    mcounter_add(ka->m_unassoc, miss);
    /* out of memory in the batch arena: the client retries */
    return rc == PC_OK ? PC_OK : PC_EBUSY;
}

/* ---- lifecycle -------------------------------------------------------------------- */

static void k8sattr_destroy(void *ctx)
{
    struct k8sattr *ka = ctx;

    if (ka == NULL) {
        return;
    }
    k8s_pods_stop(ka->pods);
    free(ka->kubeconfig);
    free(ka);
}

/* auth_type on top of the client keys: kubeConfig without a file takes
 * $KUBECONFIG; none drops the credentials. */
static int client_for(struct k8sattr *ka, struct errctx *e)
{
    const struct k8sattr_cfg *c = ka->cfg;
    const char *env;

    ka->client = c->client;
    if (c->auth_type == AUTH_KUBECONFIG &&
        (c->client.kubeconfig_file == NULL ||
         c->client.kubeconfig_file[0] == '\0')) {
        env = getenv("KUBECONFIG");
        if (env == NULL || env[0] == '\0') {
            return err_set(e, PC_ECONFIG,
                           "k8sattributes: auth_type kubeConfig needs "
                           "kubeconfig_file or $KUBECONFIG");
        }
        ka->kubeconfig = strdup(env);
        ka->client.kubeconfig_file = ka->kubeconfig;
    }
    if (c->auth_type == AUTH_NONE) {
        ka->client.bearer_token = NULL;
        ka->client.bearer_token_file = NULL;
    }
    return PC_OK;
}

static int start_pods(struct k8sattr *ka, struct errctx *e)
{
    const struct k8sattr_filter *f = &ka->cfg->filter;
    struct k8s_pods_cfg pc;
    const char *node = f->node;

    if (f->node_from_env_var != NULL && f->node_from_env_var[0] != '\0') {
        node = getenv(f->node_from_env_var);
        if (node == NULL || node[0] == '\0') {
            return err_set(e, PC_ECONFIG,
                           "k8sattributes: filter.node_from_env_var: "
                           "$%s is not set",
                           f->node_from_env_var);
        }
    }
    memset(&pc, 0, sizeof(pc));
    pc.client = &ka->client;
    pc.node = node != NULL && node[0] != '\0' ? node : NULL;
    pc.namespace_ = f->namespace_ != NULL && f->namespace_[0] != '\0'
                        ? f->namespace_
                        : NULL;
    pc.max_pods = (uint32_t)ka->cfg->max_pods;
    pc.log_id = ka->host->id;
    return k8s_pods_start(&pc, &ka->pods, e);
}

static int k8sattr_create(const void *cfgp, struct component_host *host,
                          void **ctx, struct errctx *e)
{
    struct k8sattr *ka = calloc(1, sizeof(*ka));
    int rc;

    if (ka == NULL) {
        return PC_ENOMEM;
    }
    ka->cfg = cfgp;
    ka->host = host;
    ka->m_assoc = mscope_counter(host->metrics,
                                 "profcol_k8sattributes_associated_items",
                                 "items matched to a pod", NULL);
    ka->m_unassoc = mscope_counter(host->metrics,
                                   "profcol_k8sattributes_unassociated_items",
                                   "items no pod matched", NULL);
    ka->m_bad = mscope_counter(
        host->metrics, "profcol_k8sattributes_bad_events",
        "pod watch events refused (malformed, unknown kind, over max_pods)",
        NULL);
    rc = ka->cfg->passthrough ? PC_OK : client_for(ka, e);
    if (rc == PC_OK && !ka->cfg->passthrough) {
        rc = start_pods(ka, e);
    }
    if (rc != PC_OK) {
        k8sattr_destroy(ka);
        return rc;
    }
    log_info(host->id, "k8sattributes started", "passthrough=%d",
             ka->cfg->passthrough);
    *ctx = ka;
    return PC_OK;
}

const struct component_factory k8sattributes_processor_factory = {
    .type = "k8sattributes",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "adds Kubernetes pod metadata to profiles pushed from "
                   "pods (by peer address or k8s.pod.ip / k8s.pod.uid)",
    .config_size = sizeof(struct k8sattr_cfg),
    .config = k8sattr_table,
    .validate = k8sattr_validate,
    .create = k8sattr_create,
    .destroy = k8sattr_destroy,
    .ops.processor = {.process = k8sattr_process},
};
