/*
 * k8s_roles.c: the service, node, endpoints and endpointslice roles (see
 * k8s_targets.h). The pod role and the helpers are in k8s_labels.c.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "discovery/k8s_targets.h"

#define NUM_LEN 32

/* The labels of a struct k8s_field table read from obj. */
#define FIELDS(em, obj, table)                                                \
    k8s_put_fields(em, obj, table, sizeof(table) / sizeof(table[0]))

static void num(char *out, const json_t *v)
{
    snprintf(out, NUM_LEN, "%lld", (long long)json_integer_value(v));
}

static const char *str_or(const char *s, const char *def)
{
    return s != NULL ? s : def;
}

/* ---- service ----------------------------------------------------------------- */

static int service_group(const json_t *svc, const struct k8s_emit *em)
{
    int rc = k8s_put(em, "namespace", k8s_str(svc, "metadata.namespace"));

    return rc ? rc : k8s_put_meta(em, "service", svc, 1);
}

int k8s_service_targets(const json_t *svc, const struct k8s_emit *em)
{
    const json_t *spec = json_object_get(svc, "spec");
    const char *name = k8s_str(svc, "metadata.name");
    const char *ns = str_or(k8s_str(svc, "metadata.namespace"), "");
    const char *type = k8s_str(spec, "type");
    char addr[700], n[NUM_LEN], source[600];
    size_t i;
    json_t *p;
    int rc = 0;

    snprintf(source, sizeof(source), "svc/%s/%s", ns, name);
    json_array_foreach(json_object_get(spec, "ports"), i, p)
    {
        num(n, json_object_get(p, "port"));
        snprintf(addr, sizeof(addr), "%s.%s.svc:%s", name, ns, n);
        rc = rc ? rc : service_group(svc, em);
        rc = rc ? rc : em->label(em->ctx, "__address__", addr);
        rc = rc ? rc
                : k8s_put(em, "service_port_name",
                          str_or(k8s_str(p, "name"), ""));
        rc = rc ? rc : k8s_put(em, "service_port_number", n);
        rc = rc ? rc
                : k8s_put(em, "service_port_protocol",
                          str_or(k8s_str(p, "protocol"), "TCP"));
        rc = rc ? rc : k8s_put(em, "service_type", type);
        if (type != NULL && strcmp(type, "ExternalName") == 0) {
            rc = rc ? rc
                    : k8s_put(em, "service_external_name",
                              k8s_str(spec, "externalName"));
        } else {
            rc = rc ? rc
                    : k8s_put(em, "service_cluster_ip",
                              k8s_str(spec, "clusterIP"));
        }
        if (type != NULL && strcmp(type, "LoadBalancer") == 0) {
            rc = rc ? rc
                    : k8s_put(em, "service_loadbalancer_ip",
                              k8s_str(spec, "loadBalancerIP"));
        }
        rc = rc ? rc : em->target(em->ctx, source);
    }
    return rc;
}

/* ---- node ----------------------------------------------------------------------- */

static const char *const addr_order[] = {
    "InternalIP",   "InternalDNS", "ExternalIP", "ExternalDNS",
    "LegacyHostIP", "Hostname",    NULL};

static const char *node_address(const json_t *addrs)
{
    size_t i;
    json_t *a;
    int k;

    for (k = 0; addr_order[k] != NULL; k++) {
        json_array_foreach((json_t *)addrs, i, a)
        {
            const char *t = k8s_str(a, "type");
            if (t != NULL && strcmp(t, addr_order[k]) == 0 &&
                k8s_str(a, "address") != NULL) {
                return k8s_str(a, "address");
            }
        }
    }
    return NULL;
}

static int node_addr_labels(const json_t *addrs, const struct k8s_emit *em)
{
    char suffix[160], seen[16][64];
    size_t i, nseen = 0, k;
    json_t *a;
    int rc = 0;

    json_array_foreach((json_t *)addrs, i, a)
    {
        const char *t = k8s_str(a, "type"), *v = k8s_str(a, "address");
        int dup = 0;
        if (t == NULL || v == NULL || rc != 0) {
            continue;
        }
        for (k = 0; k < nseen; k++) {
            dup |= strcmp(seen[k], t) == 0;
        }
        if (dup) {
            continue; /* the first address of each type */
        }
        if (nseen < 16) {
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", t);
        }
        k8s_label_name(suffix, sizeof(suffix), "node_address_", t);
        rc = k8s_put(em, suffix, v);
    }
    return rc;
}

static int node_conditions(const json_t *st, const struct k8s_emit *em)
{
    char suffix[160], val[32];
    size_t i, k;
    json_t *c;
    int rc = 0;

    json_array_foreach(json_object_get(st, "conditions"), i, c)
    {
        const char *t = k8s_str(c, "type"), *v = k8s_str(c, "status");
        if (t == NULL || v == NULL || rc != 0) {
            continue;
        }
        k8s_label_name(suffix, sizeof(suffix), "node_condition_", t);
        for (k = 0; suffix[k] != '\0'; k++) {
            suffix[k] = (char)tolower((unsigned char)suffix[k]);
        }
        for (k = 0; v[k] != '\0' && k + 1 < sizeof(val); k++) {
            val[k] = (char)tolower((unsigned char)v[k]);
        }
        val[k] = '\0';
        rc = k8s_put(em, suffix, val);
    }
    return rc;
}

int k8s_node_targets(const json_t *node, const struct k8s_emit *em)
{
    const json_t *st = json_object_get(node, "status");
    const json_t *addrs = json_object_get(st, "addresses");
    const char *ip = node_address(addrs);
    const char *name = k8s_str(node, "metadata.name");
    char addr[300], source[300];
    json_int_t port = json_integer_value(
        json_object_get(json_object_get(json_object_get(st, "daemonEndpoints"),
                                        "kubeletEndpoint"),
                        "Port"));
    int rc;

    if (ip == NULL || name == NULL) {
        return 0; /* no address: skipped, as Prometheus does */
    }
    k8s_hostport(addr, sizeof(addr), ip, (long long)port);
    snprintf(source, sizeof(source), "node/%s", name);
    rc = k8s_put_meta(em, "node", node, 1);
    rc = rc ? rc
            : k8s_put(em, "node_provider_id",
                      str_or(k8s_str(node, "spec.providerID"), ""));
    rc = rc ? rc : node_addr_labels(addrs, em);
    rc = rc ? rc : node_conditions(st, em);
    rc = rc ? rc : em->label(em->ctx, "instance", name);
    rc = rc ? rc : em->label(em->ctx, "__address__", addr);
    return rc ? rc : em->target(em->ctx, source);
}

/* ---- endpoints and endpointslices ------------------------------------------------- */

/* Pods seen behind an endpoint, so their other ports become targets too. */
#define SEEN_PODS 256

struct pods_seen {
    const json_t *pod[SEEN_PODS];
    char ports[SEEN_PODS][16][8]; /* covered container ports, as text */
    int nports[SEEN_PODS];
    int n;
};

static const json_t *ref_pod(const struct k8s_snap *s, const json_t *ref)
{
    const char *kind = k8s_str(ref, "kind");
    char key[600];

    if (s->pods == NULL || kind == NULL || strcmp(kind, "Pod") != 0) {
        return NULL;
    }
    snprintf(key, sizeof(key), "%s/%s", str_or(k8s_str(ref, "namespace"), ""),
             str_or(k8s_str(ref, "name"), ""));
    return json_object_get(s->pods, key);
}

static void seen_add(struct pods_seen *ps, const json_t *pod, const char *port)
{
    int i;

    for (i = 0; i < ps->n && ps->pod[i] != pod; i++) {
    }
    if (i == ps->n) {
        if (ps->n == SEEN_PODS) {
            return;
        }
        ps->pod[ps->n] = pod;
        ps->nports[ps->n++] = 0;
    }
    if (port != NULL && ps->nports[i] < 16) {
        snprintf(ps->ports[i][ps->nports[i]++], 8, "%s", port);
    }
}

static int seen_covered(const struct pods_seen *ps, int i, const char *port)
{
    int k;

    for (k = 0; k < ps->nports[i]; k++) {
        if (strcmp(ps->ports[i][k], port) == 0) {
            return 1;
        }
    }
    return 0;
}

/* Pod and container labels of the container port equal to port. */
static int pod_enrich(const json_t *pod, const struct k8s_snap *s,
                      const char *port, const struct k8s_emit *em)
{
    size_t i, k;
    json_t *c, *p;
    char n[NUM_LEN];
    int rc = k8s_pod_group(pod, s, em);

    json_array_foreach(json_object_get(json_object_get(pod, "spec"),
                                       "containers"),
                       i, c)
    {
        json_array_foreach(json_object_get(c, "ports"), k, p)
        {
            num(n, json_object_get(p, "containerPort"));
            if (rc == 0 && strcmp(n, port) == 0) {
                rc = k8s_container_labels(NULL, c, 0, em);
                rc = rc ? rc : k8s_port_labels(p, em);
            }
        }
    }
    return rc;
}

/* Each container port of the pods seen that no endpoint covered. */
static int uncovered(const struct pods_seen *ps, const struct k8s_snap *s,
                     int (*group)(const void *, const struct k8s_emit *),
                     const void *obj, const char *source,
                     const struct k8s_emit *em)
{
    int i, rc = 0;

    for (i = 0; i < ps->n && rc == 0; i++) {
        const json_t *pod = ps->pod[i];
        const char *ip = k8s_str(pod, "status.podIP");
        size_t ci, pi;
        json_t *c, *p;
        if (ip == NULL || ip[0] == '\0') {
            continue;
        }
        json_array_foreach(json_object_get(json_object_get(pod, "spec"),
                                           "containers"),
                           ci, c)
        {
            json_array_foreach(json_object_get(c, "ports"), pi, p)
            {
                char n[NUM_LEN], addr[300];
                num(n, json_object_get(p, "containerPort"));
                if (rc != 0 || seen_covered(ps, i, n)) {
                    continue;
                }
                k8s_hostport(
                    addr, sizeof(addr), ip,
                    json_integer_value(json_object_get(p, "containerPort")));
                rc = group(obj, em);
                rc = rc ? rc : k8s_pod_group(pod, s, em);
                rc = rc ? rc : k8s_container_labels(NULL, c, 0, em);
                rc = rc ? rc : k8s_port_labels(p, em);
                rc = rc ? rc : em->label(em->ctx, "__address__", addr);
                rc = rc ? rc : em->target(em->ctx, source);
            }
        }
    }
    return rc;
}

/* The Service named svc in ns: its labels on every target. */
static int svc_meta(const struct k8s_snap *s, const char *ns, const char *svc,
                    const struct k8s_emit *em)
{
    char key[600];
    const json_t *o;

    if (s->services == NULL || svc == NULL) {
        return 0;
    }
    snprintf(key, sizeof(key), "%s/%s", ns, svc);
    o = json_object_get(s->services, key);
    return o != NULL ? k8s_put_meta(em, "service", o, 1) : 0;
}

/* The snapshot of the object being built (targets are built on one
 * thread, one object at a time): the group callbacks need it. */
static const struct k8s_snap *ep_snap;

static int ep_group(const void *obj, const struct k8s_emit *em)
{
    const json_t *ep = obj;
    const char *ns = str_or(k8s_str(ep, "metadata.namespace"), "");
    int rc = k8s_put(em, "namespace", ns);

    rc = rc ? rc : k8s_put_meta(em, "endpoints", ep, 1);
    return rc ? rc : svc_meta(ep_snap, ns, k8s_str(ep, "metadata.name"), em);
}

/* The labels of an endpoint's port and of its address. */
static const struct k8s_field ep_port_fields[] = {
    {"endpoint_port_name", "name", K8S_FIELD_STR},
    {"endpoint_port_protocol", "protocol", K8S_FIELD_STR},
};
static const struct k8s_field ep_address_fields[] = {
    {"endpoint_address_target_kind", "targetRef.kind", K8S_FIELD_STR},
    {"endpoint_address_target_name", "targetRef.name", K8S_FIELD_STR},
    {"endpoint_node_name", "nodeName", K8S_FIELD_STR},
    {"endpoint_hostname", "hostname", K8S_FIELD_STR},
};

static int ep_address(const json_t *ep, const json_t *a, const json_t *port,
                      int ready, struct pods_seen *ps, const char *source,
                      const struct k8s_emit *em)
{
    const json_t *ref = json_object_get(a, "targetRef");
    const json_t *pod = ref_pod(ep_snap, ref);
    const char *ip = k8s_str(a, "ip");
    char n[NUM_LEN], addr[300];
    int rc;

    num(n, json_object_get(port, "port"));
    k8s_hostport(addr, sizeof(addr), ip != NULL ? ip : "",
                 json_integer_value(json_object_get(port, "port")));
    rc = ep_group(ep, em);
    if (pod != NULL) {
        seen_add(ps, pod, n);
        rc = rc ? rc : pod_enrich(pod, ep_snap, n, em);
    }
    rc = rc ? rc : em->label(em->ctx, "__address__", addr);
    rc = rc ? rc : k8s_put(em, "endpoint_ready", ready ? "true" : "false");
    rc = rc ? rc : FIELDS(em, port, ep_port_fields);
    rc = rc ? rc : FIELDS(em, a, ep_address_fields);
    return rc ? rc : em->target(em->ctx, source);
}

int k8s_endpoints_targets(const json_t *ep, const struct k8s_snap *s,
                          const struct k8s_emit *em)
{
    static struct pods_seen ps; /* large; discovery builds on one thread */
    const char *kinds[2] = {"addresses", "notReadyAddresses"};
    char source[600];
    size_t i, k, j;
    json_t *sub, *port, *a;
    int rc = 0, r;

    ep_snap = s;
    ps.n = 0;
    snprintf(source, sizeof(source), "endpoints/%s/%s",
             str_or(k8s_str(ep, "metadata.namespace"), ""),
             str_or(k8s_str(ep, "metadata.name"), ""));
    json_array_foreach(json_object_get(ep, "subsets"), i, sub)
    {
        json_array_foreach(json_object_get(sub, "ports"), k, port)
        {
            for (r = 0; r < 2; r++) {
                json_array_foreach(json_object_get(sub, kinds[r]), j, a)
                {
                    rc = rc ? rc
                            : ep_address(ep, a, port, r == 0, &ps, source, em);
                }
            }
        }
    }
    return rc ? rc : uncovered(&ps, s, ep_group, ep, source, em);
}

static int slice_group(const void *obj, const struct k8s_emit *em)
{
    const json_t *sl = obj;
    const char *ns = str_or(k8s_str(sl, "metadata.namespace"), "");
    /* the label key has dots: looked up directly, not by path */
    const json_t *svc = json_object_get(
        json_object_get(json_object_get(sl, "metadata"), "labels"),
        "kubernetes.io/service-name");
    int rc = k8s_put(em, "namespace", ns);

    rc = rc ? rc : k8s_put_meta(em, "endpointslice", sl, 1);
    rc = rc ? rc
            : k8s_put(em, "endpointslice_address_type",
                      k8s_str(sl, "addressType"));
    return rc ? rc : svc_meta(ep_snap, ns, json_string_value(svc), em);
}

/* The labels of an endpointslice's endpoint, and of its port (before the
 * port number). */
static const struct k8s_field slice_endpoint_fields[] = {
    {"endpointslice_endpoint_conditions_ready", "conditions.ready",
     K8S_FIELD_BOOL},
    {"endpointslice_endpoint_conditions_serving", "conditions.serving",
     K8S_FIELD_BOOL},
    {"endpointslice_endpoint_conditions_terminating", "conditions.terminating",
     K8S_FIELD_BOOL},
    {"endpointslice_endpoint_hostname", "hostname", K8S_FIELD_STR},
    {"endpointslice_endpoint_node_name", "nodeName", K8S_FIELD_STR},
    {"endpointslice_endpoint_zone", "zone", K8S_FIELD_STR},
    {"endpointslice_address_target_kind", "targetRef.kind", K8S_FIELD_STR},
    {"endpointslice_address_target_name", "targetRef.name", K8S_FIELD_STR},
};
static const struct k8s_field slice_port_fields[] = {
    {"endpointslice_port_name", "name", K8S_FIELD_STR},
    {"endpointslice_port_protocol", "protocol", K8S_FIELD_STR},
};

static int slice_endpoint(const json_t *e, const struct k8s_emit *em)
{
    const char *k;
    json_t *v;
    char suffix[600];
    int rc = FIELDS(em, e, slice_endpoint_fields);

    json_object_foreach(json_object_get(e, "deprecatedTopology"), k, v)
    {
        if (rc != 0 || !json_is_string(v)) {
            continue;
        }
        k8s_label_name(suffix, sizeof(suffix),
                       "endpointslice_endpoint_topology_", k);
        rc = k8s_put(em, suffix, json_string_value(v));
        k8s_label_name(suffix, sizeof(suffix),
                       "endpointslice_endpoint_topology_present_", k);
        rc = rc ? rc : k8s_put(em, suffix, "true");
    }
    return rc;
}

static int slice_port(const json_t *p, char *n, const struct k8s_emit *em)
{
    int rc = FIELDS(em, p, slice_port_fields);

    rc = rc ? rc : k8s_put(em, "endpointslice_port", n);
    return rc ? rc
              : k8s_put(em, "endpointslice_port_app_protocol",
                        k8s_str(p, "appProtocol"));
}

static int slice_address(const json_t *sl, const json_t *e, const char *ip,
                         const json_t *p, struct pods_seen *ps,
                         const char *source, const struct k8s_emit *em)
{
    const json_t *pod = ref_pod(ep_snap, json_object_get(e, "targetRef"));
    const json_t *pn = json_object_get(p, "port");
    char n[NUM_LEN] = "", addr[300];
    int rc;

    if (json_is_integer(pn)) {
        num(n, pn);
    }
    k8s_hostport(addr, sizeof(addr), ip,
                 json_is_integer(pn) ? (long long)json_integer_value(pn) : -1);
    rc = slice_group(sl, em);
    if (pod != NULL) {
        seen_add(ps, pod, n[0] != '\0' ? n : NULL);
        rc = rc ? rc : pod_enrich(pod, ep_snap, n, em);
    }
    rc = rc ? rc : em->label(em->ctx, "__address__", addr);
    rc = rc ? rc : slice_endpoint(e, em);
    rc = rc ? rc
            : (p != NULL ? slice_port(p, json_is_integer(pn) ? n : NULL, em)
                         : 0);
    return rc ? rc : em->target(em->ctx, source);
}

int k8s_slice_targets(const json_t *sl, const struct k8s_snap *s,
                      const struct k8s_emit *em)
{
    static struct pods_seen ps; /* large; discovery builds on one thread */
    const json_t *ports = json_object_get(sl, "ports");
    char source[600];
    size_t i, k, j;
    json_t *e, *p, *a;
    int rc = 0;

    ep_snap = s;
    ps.n = 0;
    snprintf(source, sizeof(source), "endpointslice/%s/%s",
             str_or(k8s_str(sl, "metadata.namespace"), ""),
             str_or(k8s_str(sl, "metadata.name"), ""));
    json_array_foreach(json_object_get(sl, "endpoints"), i, e)
    {
        json_array_foreach(json_object_get(e, "addresses"), j, a)
        {
            if (!json_is_string(a)) {
                continue;
            }
            if (json_array_size(ports) == 0) {
                rc = rc ? rc
                        : slice_address(sl, e, json_string_value(a), NULL, &ps,
                                        source, em);
            }
            json_array_foreach((json_t *)ports, k, p)
            {
                rc = rc ? rc
                        : slice_address(sl, e, json_string_value(a), p, &ps,
                                        source, em);
            }
        }
    }
    return rc ? rc : uncovered(&ps, s, slice_group, sl, source, em);
}
