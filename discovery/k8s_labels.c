/*
 * k8s_labels.c: the label helpers every role shares, the pod role, and the
 * dispatch over a role's objects (see k8s_targets.h).
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "discovery/k8s_targets.h"

#define NAME_MAX_LEN 1024
#define NUM_LEN 32

void k8s_label_name(char *out, size_t len, const char *prefix, const char *key)
{
    size_t n = (size_t)snprintf(out, len, "%s", prefix);

    for (; *key != '\0' && n + 1 < len; key++) {
        unsigned char ch = (unsigned char)*key;
        out[n++] = (isalnum(ch) && ch < 0x80) || ch == '_' ? (char)ch : '_';
    }
    out[n < len ? n : len - 1] = '\0';
}

int k8s_put(const struct k8s_emit *em, const char *suffix, const char *value)
{
    char name[NAME_MAX_LEN];

    if (value == NULL) {
        return 0;
    }
    snprintf(name, sizeof(name), K8S_META "%s", suffix);
    return em->label(em->ctx, name, value);
}

/* obj.a.b... (NULL when absent). */
static const json_t *k8s_get(const json_t *obj, const char *path)
{
    char key[128];
    const char *dot;

    while ((dot = strchr(path, '.')) != NULL) {
        snprintf(key, sizeof(key), "%.*s", (int)(dot - path), path);
        obj = json_object_get(obj, key);
        path = dot + 1;
    }
    return json_object_get(obj, path);
}

const char *k8s_str(const json_t *obj, const char *path)
{
    const json_t *v = k8s_get(obj, path);

    return json_is_string(v) ? json_string_value(v) : NULL;
}

int k8s_put_fields(const struct k8s_emit *em, const json_t *obj,
                   const struct k8s_field *fields, size_t n)
{
    size_t i;
    int rc = 0;

    for (i = 0; i < n && rc == 0; i++) {
        const struct k8s_field *f = &fields[i];
        const json_t *v = k8s_get(obj, f->path);
        if (f->type == K8S_FIELD_BOOL) {
            rc = json_is_boolean(v)
                     ? k8s_put(em, f->suffix,
                               json_is_true(v) ? "true" : "false")
                     : 0;
        } else {
            rc = k8s_put(em, f->suffix,
                         json_is_string(v) ? json_string_value(v) : NULL);
        }
    }
    return rc;
}

void k8s_hostport(char *out, size_t len, const char *ip, long long port)
{
    int v6 = strchr(ip, ':') != NULL;

    if (port < 0) {
        snprintf(out, len, "%s", ip);
    } else {
        snprintf(out, len, "%s%s%s:%lld", v6 ? "[" : "", ip, v6 ? "]" : "",
                 port);
    }
}

static int put_map(const struct k8s_emit *em, const char *role,
                   const char *kind, const json_t *map)
{
    const char *k;
    json_t *v;
    char pre[96], prep[96], name[NAME_MAX_LEN];
    int rc = 0;

    snprintf(pre, sizeof(pre), K8S_META "%s_%s_", role, kind);
    snprintf(prep, sizeof(prep), K8S_META "%s_%spresent_", role, kind);
    json_object_foreach((json_t *)map, k, v)
    {
        if (!json_is_string(v) || rc != 0) {
            continue;
        }
        k8s_label_name(name, sizeof(name), pre, k);
        rc = em->label(em->ctx, name, json_string_value(v));
        k8s_label_name(name, sizeof(name), prep, k);
        if (rc == 0) {
            rc = em->label(em->ctx, name, "true");
        }
    }
    return rc;
}

int k8s_put_meta(const struct k8s_emit *em, const char *role,
                 const json_t *obj, int name_too)
{
    const json_t *md = json_object_get(obj, "metadata");
    int rc = put_map(em, role, "label", json_object_get(md, "labels"));
    char suffix[64];

    if (rc == 0) {
        rc = put_map(em, role, "annotation",
                     json_object_get(md, "annotations"));
    }
    if (rc == 0 && name_too) {
        snprintf(suffix, sizeof(suffix), "%s_name", role);
        rc = k8s_put(em, suffix, k8s_str(md, "name"));
    }
    return rc;
}

int k8s_node_meta(const struct k8s_snap *s, const char *node,
                  const struct k8s_emit *em)
{
    const json_t *n;

    if (!s->attach_node || node == NULL || s->nodes == NULL) {
        return 0;
    }
    n = json_object_get(s->nodes, node);
    if (n == NULL) {
        return 0;
    }
    return k8s_put_meta(em, "node", n, 1);
}

/* ---- pod ------------------------------------------------------------------ */

static const char *pod_ready(const json_t *pod)
{
    const json_t *conds = json_object_get(json_object_get(pod, "status"),
                                          "conditions");
    size_t i;
    json_t *c;

    json_array_foreach((json_t *)conds, i, c)
    {
        const char *t = k8s_str(c, "type"), *st = k8s_str(c, "status");
        if (t != NULL && strcmp(t, "Ready") == 0 && st != NULL) {
            return strcmp(st, "True") == 0    ? "true"
                   : strcmp(st, "False") == 0 ? "false"
                                              : "unknown";
        }
    }
    return "unknown";
}

static const json_t *controller(const json_t *pod)
{
    const json_t *refs = json_object_get(json_object_get(pod, "metadata"),
                                         "ownerReferences");
    size_t i;
    json_t *r;

    json_array_foreach((json_t *)refs, i, r)
    {
        if (json_is_true(json_object_get(r, "controller"))) {
            return r;
        }
    }
    return NULL;
}

static const char *nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? s : NULL;
}

int k8s_pod_group(const json_t *pod, const struct k8s_snap *s,
                  const struct k8s_emit *em)
{
    const json_t *md = json_object_get(pod, "metadata");
    const json_t *st = json_object_get(pod, "status");
    const json_t *ctl = controller(pod);
    const char *node = k8s_str(pod, "spec.nodeName");
    int rc = k8s_put(em, "namespace", k8s_str(md, "namespace"));

    rc = rc ? rc : k8s_put(em, "pod_name", k8s_str(md, "name"));
    rc = rc ? rc : k8s_put(em, "pod_ip", k8s_str(st, "podIP"));
    rc = rc ? rc : k8s_put(em, "pod_ready", pod_ready(pod));
    rc = rc ? rc : k8s_put(em, "pod_phase", k8s_str(st, "phase"));
    rc = rc ? rc : k8s_put(em, "pod_node_name", node);
    rc = rc ? rc : k8s_put(em, "pod_host_ip", k8s_str(st, "hostIP"));
    rc = rc ? rc : k8s_put(em, "pod_uid", k8s_str(md, "uid"));
    if (ctl != NULL) {
        rc = rc ? rc
                : k8s_put(em, "pod_controller_kind",
                          nonempty(k8s_str(ctl, "kind")));
        rc = rc ? rc
                : k8s_put(em, "pod_controller_name",
                          nonempty(k8s_str(ctl, "name")));
    }
    rc = rc ? rc : k8s_put_meta(em, "pod", pod, 0);
    return rc ? rc : k8s_node_meta(s, node, em);
}

static const char *container_id(const json_t *pod, const char *name, int init)
{
    const json_t *sts = json_object_get(json_object_get(pod, "status"),
                                        init ? "initContainerStatuses"
                                             : "containerStatuses");
    size_t i;
    json_t *c;

    json_array_foreach((json_t *)sts, i, c)
    {
        const char *n = k8s_str(c, "name");
        if (n != NULL && strcmp(n, name) == 0) {
            const char *id = k8s_str(c, "containerID");
            return id != NULL ? id : "";
        }
    }
    return "";
}

int k8s_container_labels(const json_t *pod, const json_t *c, int init,
                         const struct k8s_emit *em)
{
    const char *name = k8s_str(c, "name");
    int rc = k8s_put(em, "pod_container_name", name);

    rc = rc ? rc : k8s_put(em, "pod_container_image", k8s_str(c, "image"));
    rc = rc ? rc : k8s_put(em, "pod_container_init", init ? "true" : "false");
    if (pod != NULL && name != NULL && rc == 0) {
        rc = k8s_put(em, "pod_container_id", container_id(pod, name, init));
    }
    return rc;
}

int k8s_port_labels(const json_t *p, const struct k8s_emit *em)
{
    char num[NUM_LEN];
    const char *proto = k8s_str(p, "protocol");
    int rc;

    snprintf(num, sizeof(num), "%lld",
             (long long)json_integer_value(json_object_get(p,
                                                           "containerPort")));
    rc = k8s_put(em, "pod_container_port_name",
                 k8s_str(p, "name") != NULL ? k8s_str(p, "name") : "");
    rc = rc ? rc : k8s_put(em, "pod_container_port_number", num);
    return rc ? rc
              : k8s_put(em, "pod_container_port_protocol",
                        proto != NULL ? proto : "TCP");
}

static int pod_container(const json_t *pod, const struct k8s_snap *s,
                         const json_t *c, int init, const char *source,
                         const struct k8s_emit *em)
{
    const char *ip = k8s_str(pod, "status.podIP");
    const json_t *ports = json_object_get(c, "ports");
    char addr[256];
    size_t i;
    json_t *p;
    int rc = 0;

    if (json_array_size(ports) == 0) {
        rc = k8s_pod_group(pod, s, em);
        rc = rc ? rc : em->label(em->ctx, "__address__", ip);
        rc = rc ? rc : k8s_container_labels(pod, c, init, em);
        return rc ? rc : em->target(em->ctx, source);
    }
    json_array_foreach((json_t *)ports, i, p)
    {
        json_int_t port = json_integer_value(json_object_get(p,
                                                             "containerPort"));
        k8s_hostport(addr, sizeof(addr), ip, (long long)port);
        rc = rc ? rc : k8s_pod_group(pod, s, em);
        rc = rc ? rc : em->label(em->ctx, "__address__", addr);
        rc = rc ? rc : k8s_container_labels(pod, c, init, em);
        rc = rc ? rc : k8s_port_labels(p, em);
        rc = rc ? rc : em->target(em->ctx, source);
    }
    return rc;
}

static int on_filtered_node(const json_t *pod, const struct k8s_snap *s)
{
    const char *node = k8s_str(pod, "spec.nodeName");

    return !s->node_filtered || (node != NULL && s->nodes != NULL &&
                                 json_object_get(s->nodes, node) != NULL);
}

int k8s_pod_targets(const json_t *pod, const struct k8s_snap *s,
                    const struct k8s_emit *em)
{
    const json_t *spec = json_object_get(pod, "spec");
    const char *ip = k8s_str(pod, "status.podIP");
    const char *lists[2] = {"containers", "initContainers"};
    char source[600];
    int rc = 0, l;

    if (ip == NULL || ip[0] == '\0' || !on_filtered_node(pod, s)) {
        return 0; /* no address yet: no targets */
    }
    snprintf(source, sizeof(source), "pod/%s/%s",
             k8s_str(pod, "metadata.namespace") != NULL
                 ? k8s_str(pod, "metadata.namespace")
                 : "",
             k8s_str(pod, "metadata.name"));
    for (l = 0; l < 2 && rc == 0; l++) {
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(spec, lists[l]), i, c)
        {
            if (rc == 0 && k8s_str(c, "name") != NULL) {
                rc = pod_container(pod, s, c, l, source, em);
            }
        }
    }
    return rc;
}

/* ---- dispatch ---------------------------------------------------------------- */

typedef int (*obj_fn)(const json_t *o, const struct k8s_snap *s,
                      const struct k8s_emit *em);

static int svc_fn(const json_t *o, const struct k8s_snap *s,
                  const struct k8s_emit *em)
{
    (void)s;
    return k8s_service_targets(o, em);
}

static int node_fn(const json_t *o, const struct k8s_snap *s,
                   const struct k8s_emit *em)
{
    (void)s;
    return k8s_node_targets(o, em);
}

int k8s_targets_build(int role, const struct k8s_snap *s,
                      const struct k8s_emit *em)
{
    json_t *set = NULL;
    obj_fn fn = NULL;
    const char *k;
    json_t *o;
    int rc = 0;

    switch (role) {
    case K8S_ROLE_POD:
        set = s->pods, fn = k8s_pod_targets;
        break;
    case K8S_ROLE_SERVICE:
        set = s->services, fn = svc_fn;
        break;
    case K8S_ROLE_NODE:
        set = s->nodes, fn = node_fn;
        break;
    case K8S_ROLE_ENDPOINTS:
        set = s->endpoints, fn = k8s_endpoints_targets;
        break;
    default:
        set = s->slices, fn = k8s_slice_targets;
        break;
    }
    json_object_foreach(set, k, o)
    {
        rc = rc ? rc : fn(o, s, em);
    }
    return rc;
}
