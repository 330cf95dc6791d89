/*
 * k8s_sd.c: a kubernetes_sd_configs entry at run time (see k8s_sd.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "discovery/k8s_client.h"
#include "discovery/k8s_sd.h"
#include "discovery/k8s_share.h"
#include "telemetry/log.h"

#define MAX_NS 64

static const struct {
    const char *api;
    const char *name;
    const char *kind;
    int role; /* whose selector filters it */
    int cluster_scoped;
} res_info[K8S_NRES] = {
    [K8S_RES_PODS] = {"/api/v1", "pods", "Pod", K8S_ROLE_POD, 0},
    [K8S_RES_SERVICES] = {"/api/v1", "services", "Service", K8S_ROLE_SERVICE,
                          0},
    [K8S_RES_ENDPOINTS] = {"/api/v1", "endpoints", "Endpoints",
                           K8S_ROLE_ENDPOINTS, 0},
    [K8S_RES_SLICES] = {"/apis/discovery.k8s.io/v1", "endpointslices",
                        "EndpointSlice", K8S_ROLE_ENDPOINTSLICE, 0},
    [K8S_RES_NODES] = {"/api/v1", "nodes", "Node", K8S_ROLE_NODE, 1},
};

struct k8s_sd {
    const struct k8s_sd_cfg *cfg;
    struct k8s_client *client; /* resolves settings and own namespace; the
                                  watches come from k8s_share */
    /* watches[res][ns]; one per namespace, or one cluster-wide */
    struct k8s_watch *w[K8S_NRES][MAX_NS];
    uint32_t nw[K8S_NRES];
    uint64_t built_gen[K8S_NRES][MAX_NS];
    int dirty;
};

void k8s_res_path(int res, const char *ns, char *out, size_t len)
{
    PC_ASSERT(res >= 0 && res < K8S_NRES);
    if (ns != NULL && !res_info[res].cluster_scoped) {
        snprintf(out, len, "%s/namespaces/%s/%s", res_info[res].api, ns,
                 res_info[res].name);
    } else {
        snprintf(out, len, "%s/%s", res_info[res].api, res_info[res].name);
    }
}

/* Which resources a role watches. */
static int role_needs(const struct k8s_sd_cfg *c, int res)
{
    int r = c->role;

    switch (res) {
    case K8S_RES_PODS:
        return r == K8S_ROLE_POD || r == K8S_ROLE_ENDPOINTS ||
               r == K8S_ROLE_ENDPOINTSLICE;
    case K8S_RES_SERVICES:
        return r == K8S_ROLE_SERVICE || r == K8S_ROLE_ENDPOINTS ||
               r == K8S_ROLE_ENDPOINTSLICE;
    case K8S_RES_ENDPOINTS:
        return r == K8S_ROLE_ENDPOINTS;
    case K8S_RES_SLICES:
        return r == K8S_ROLE_ENDPOINTSLICE;
    default:
        return r == K8S_ROLE_NODE ||
               (c->attach_metadata.node && r != K8S_ROLE_SERVICE);
    }
}

static int start_one(struct k8s_sd *sd, int res, const char *ns,
                     const char *log_id, struct errctx *e)
{
    const struct k8s_selector_cfg *sel = k8s_sd_selector(sd->cfg,
                                                         res_info[res].role);
    struct k8s_watch_spec spec;
    char path[512];
    int rc;

    k8s_res_path(res, ns, path, sizeof(path));
    memset(&spec, 0, sizeof(spec));
    spec.path = path;
    spec.kind = res_info[res].kind;
    spec.label_selector = sel != NULL ? sel->label : NULL;
    spec.field_selector = sel != NULL ? sel->field : NULL;
    spec.log_id = log_id;
    spec.trim = k8s_drop_managed;
    rc = k8s_share_get(&sd->cfg->client, &spec, &sd->w[res][sd->nw[res]], e);
    if (rc == PC_OK) {
        sd->nw[res]++;
    }
    return rc;
}

/* names ∪ own namespace; none: cluster-wide (one NULL). */
static uint32_t namespaces(const struct k8s_sd *sd, const char **out,
                           struct errctx *e, int *rc)
{
    const struct k8s_ns_cfg *n = &sd->cfg->namespaces;
    uint32_t k = 0, i;

    *rc = PC_OK;
    for (i = 0; i < n->names.n && k < MAX_NS; i++) {
        out[k++] = n->names.items[i];
    }
    if (n->own_namespace) {
        const char *own = k8s_client_own_namespace(sd->client);
        if (own == NULL || own[0] == '\0') {
            *rc = err_set(e, PC_ECONFIG,
                          "kubernetes: own_namespace: the service account's "
                          "namespace file is missing or empty");
        } else if (k < MAX_NS) {
            out[k++] = own;
        }
    }
    if (k == 0) {
        out[k++] = NULL;
    }
    return k;
}

int k8s_sd_start(const struct k8s_sd_cfg *cfg, const char *log_id,
                 struct k8s_sd **out, struct errctx *e)
{
    struct k8s_sd *sd = calloc(1, sizeof(*sd));
    const char *ns[MAX_NS];
    uint32_t nns, i;
    int rc, res;

    *out = NULL;
    if (sd == NULL) {
        return PC_ENOMEM;
    }
    sd->cfg = cfg;
    rc = k8s_client_new(&cfg->client, &sd->client, e);
    nns = rc == PC_OK ? namespaces(sd, ns, e, &rc) : 0;
    for (res = 0; res < K8S_NRES && rc == PC_OK; res++) {
        if (!role_needs(cfg, res)) {
            continue;
        }
        for (i = 0;
             i < (res_info[res].cluster_scoped ? 1 : nns) && rc == PC_OK;
             i++) {
            rc = start_one(sd, res,
                           res_info[res].cluster_scoped ? NULL : ns[i], log_id,
                           e);
        }
    }
    if (rc != PC_OK) {
        k8s_sd_stop(sd);
        return rc;
    }
    log_info(log_id, "kubernetes discovery started",
             "role=%s api=\"%s\" namespaces=%u", k8s_role_names[cfg->role],
             k8s_client_url(sd->client), nns);
    *out = sd;
    return PC_OK;
}

void k8s_sd_stop(struct k8s_sd *sd)
{
    uint32_t i;
    int res;

    if (sd == NULL) {
        return;
    }
    for (res = 0; res < K8S_NRES; res++) {
        for (i = 0; i < sd->nw[res]; i++) {
            k8s_share_put(sd->w[res][i]);
        }
    }
    k8s_client_free(sd->client);
    free(sd);
}

int k8s_sd_changed(struct k8s_sd *sd)
{
    uint32_t i;
    int res, changed = 0;

    for (res = 0; res < K8S_NRES; res++) {
        for (i = 0; i < sd->nw[res]; i++) {
            uint64_t g = k8s_watch_gen(sd->w[res][i]);
            if (g == 0) {
                return 0; /* not listed yet */
            }
            changed |= g != sd->built_gen[res][i];
        }
    }
    return changed;
}

/* Every namespace's store of res merged into one map (NULL: unwatched). */
static json_t *merged(struct k8s_sd *sd, int res)
{
    json_t *all;
    uint32_t i;

    if (sd->nw[res] == 0) {
        return NULL;
    }
    all = json_object();
    for (i = 0; i < sd->nw[res] && all != NULL; i++) {
        json_t *s;
        sd->built_gen[res][i] = k8s_watch_gen(sd->w[res][i]);
        s = k8s_watch_snapshot(sd->w[res][i]);
        if (s != NULL) {
            (void)json_object_update(all, s);
            json_decref(s);
        }
    }
    return all;
}

int k8s_sd_build(struct k8s_sd *sd, const struct k8s_emit *em)
{
    struct k8s_snap s;
    const struct k8s_selector_cfg *nsel = k8s_sd_selector(sd->cfg,
                                                          K8S_ROLE_NODE);
    int rc;

    memset(&s, 0, sizeof(s));
    s.pods = merged(sd, K8S_RES_PODS);
    s.services = merged(sd, K8S_RES_SERVICES);
    s.endpoints = merged(sd, K8S_RES_ENDPOINTS);
    s.slices = merged(sd, K8S_RES_SLICES);
    s.nodes = merged(sd, K8S_RES_NODES);
    s.attach_node = sd->cfg->attach_metadata.node;
    s.node_filtered = sd->cfg->role != K8S_ROLE_NODE && s.attach_node &&
                      nsel != NULL;
    rc = k8s_targets_build(sd->cfg->role, &s, em);
    json_decref(s.pods);
    json_decref(s.services);
    json_decref(s.endpoints);
    json_decref(s.slices);
    json_decref(s.nodes);
    return rc;
}

void k8s_sd_counts(struct k8s_sd *sd, struct k8s_watch_counts *sum)
{
    struct k8s_watch_counts c;
    uint32_t i;
    int res;

    memset(sum, 0, sizeof(*sum));
    for (res = 0; res < K8S_NRES; res++) {
        for (i = 0; i < sd->nw[res]; i++) {
            k8s_watch_counts(sd->w[res][i], &c);
            sum->events += c.events;
            sum->bad_events += c.bad_events;
            sum->lists += c.lists;
            sum->failures += c.failures;
        }
    }
}
