/*
 * k8s_pods.c: the pod cache (see k8s_pods.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "discovery/k8s_pods.h"
#include "discovery/k8s_sd.h"
#include "discovery/k8s_share.h"
#include "discovery/k8s_targets.h"

#define REFRESH_MIN_NS 1000000000LL

struct k8s_pods {
    struct k8s_watch *w; /* from k8s_share */
    json_t *snap;        /* the store as of the last refresh */
    json_t *by_ip;       /* ip -> pod (borrowed from snap) */
    json_t *by_uid;      /* uid -> pod */
    uint64_t gen;
    int64_t refreshed_ns;
};

int k8s_pods_start(const struct k8s_pods_cfg *cfg, struct k8s_pods **out,
                   struct errctx *e)
{
    struct k8s_pods *p = calloc(1, sizeof(*p));
    struct k8s_watch_spec spec;
    char path[512], field[300];
    int rc;

    *out = NULL;
    if (p == NULL) {
        return PC_ENOMEM;
    }
    k8s_res_path(K8S_RES_PODS, cfg->namespace_, path, sizeof(path));
    snprintf(field, sizeof(field), "spec.nodeName=%s",
             cfg->node != NULL ? cfg->node : "");
    memset(&spec, 0, sizeof(spec));
    spec.path = path;
    spec.kind = "Pod";
    spec.label_selector = cfg->label_selector;
    spec.field_selector = cfg->node != NULL ? field : NULL;
    spec.log_id = cfg->log_id;
    spec.max_objects = cfg->max_pods;
    /* as discovery stores them: the scrape receiver's pod watch with the
     * same selector is this one */
    spec.trim = k8s_drop_managed;
    rc = k8s_share_get(cfg->client, &spec, &p->w, e);
    if (rc != PC_OK) {
        k8s_pods_stop(p);
        return rc;
    }
    *out = p;
    return PC_OK;
}

void k8s_pods_stop(struct k8s_pods *p)
{
    if (p == NULL) {
        return;
    }
    k8s_share_put(p->w);
    json_decref(p->snap);
    json_decref(p->by_ip);
    json_decref(p->by_uid);
    free(p);
}

/* A running pod wins an IP over one that is done with it. */
static void index_ip(json_t *by_ip, const char *ip, json_t *pod)
{
    const json_t *old;
    const char *phase;

    if (ip == NULL || ip[0] == '\0') {
        return;
    }
    old = json_object_get(by_ip, ip);
    phase = k8s_str(old, "status.phase");
    if (old == NULL || phase == NULL || strcmp(phase, "Running") != 0) {
        json_object_set(by_ip, ip, pod);
    }
}

static void index_pod(struct k8s_pods *p, json_t *pod)
{
    const json_t *ips = json_object_get(json_object_get(pod, "status"),
                                        "podIPs");
    const char *uid = k8s_str(pod, "metadata.uid");
    size_t i;
    json_t *x;

    if (uid != NULL) {
        json_object_set(p->by_uid, uid, pod);
    }
    /* host-network pods share the node's address: not theirs to claim */
    if (json_is_true(json_object_get(json_object_get(pod, "spec"),
                                     "hostNetwork"))) {
        return;
    }
    index_ip(p->by_ip, k8s_str(pod, "status.podIP"), pod);
    json_array_foreach((json_t *)ips, i, x)
    {
        index_ip(p->by_ip, k8s_str(x, "ip"), pod);
    }
}

void k8s_pods_refresh(struct k8s_pods *p, int force)
{
    int64_t now = clock_mono_ns();
    uint64_t g = k8s_watch_gen(p->w);
    const char *k;
    json_t *pod, *snap;

    if (g == p->gen || (!force && now - p->refreshed_ns < REFRESH_MIN_NS)) {
        return;
    }
    snap = k8s_watch_snapshot(p->w);
    if (snap == NULL) {
        return;
    }
    json_decref(p->snap);
    json_decref(p->by_ip);
    json_decref(p->by_uid);
    p->snap = snap;
    p->by_ip = json_object();
    p->by_uid = json_object();
    p->gen = g;
    p->refreshed_ns = now;
    json_object_foreach(snap, k, pod)
    {
        index_pod(p, pod);
    }
}

const json_t *k8s_pods_by_ip(const struct k8s_pods *p, const char *ip)
{
    return p->by_ip != NULL ? json_object_get(p->by_ip, ip) : NULL;
}

const json_t *k8s_pods_by_uid(const struct k8s_pods *p, const char *uid)
{
    return p->by_uid != NULL ? json_object_get(p->by_uid, uid) : NULL;
}

void k8s_pods_counts(struct k8s_pods *p, struct k8s_watch_counts *out)
{
    k8s_watch_counts(p->w, out);
}

const char *k8s_pod_deployment(const json_t *pod, char *out, size_t len)
{
    const json_t *refs = json_object_get(json_object_get(pod, "metadata"),
                                         "ownerReferences");
    const char *hash = json_string_value(json_object_get(
        json_object_get(json_object_get(pod, "metadata"), "labels"),
        "pod-template-hash"));
    size_t i, n, h;
    json_t *r;

    json_array_foreach((json_t *)refs, i, r)
    {
        const char *kind = k8s_str(r, "kind"), *name = k8s_str(r, "name");
        if (kind == NULL || name == NULL || strcmp(kind, "ReplicaSet") != 0) {
            continue;
        }
        n = strlen(name);
        h = hash != NULL ? strlen(hash) : 0;
        if (h == 0 || n <= h + 1 || name[n - h - 1] != '-' ||
            strcmp(name + n - h, hash) != 0) {
            return NULL; /* a bare ReplicaSet: no Deployment */
        }
        snprintf(out, len, "%.*s", (int)(n - h - 1), name);
        return out;
    }
    return NULL;
}
