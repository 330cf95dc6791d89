/*
 * k8s_cfg.c: `kubernetes_sd_configs` keys and Prometheus's checks across
 * them (see k8s_cfg.h).
 */
#include <stddef.h>
#include <string.h>

#include "discovery/k8s_cfg.h"

const char *const k8s_role_names[] = {"pod",     "endpoints", "endpointslice",
                                      "service", "node",      NULL};

/* clang-format off */
const struct cfg_entry k8s_basic_auth_table[] = {
    {.key = "username", .type = CFG_STRING,
     .offset = offsetof(struct k8s_basic_auth_cfg, username)},
    {.key = "password", .type = CFG_STRING,
     .offset = offsetof(struct k8s_basic_auth_cfg, password)},
    {.key = "password_file", .type = CFG_STRING,
     .offset = offsetof(struct k8s_basic_auth_cfg, password_file),
     .doc = "file holding the password (re-read every minute)"},
    {.key = NULL},
};

const struct cfg_entry k8s_tls_table[] = {
    {.key = "ca_file", .type = CFG_STRING,
     .offset = offsetof(struct k8s_tls_cfg, ca_file),
     .doc = "CA bundle that verifies the API server"},
    {.key = "cert_file", .type = CFG_STRING,
     .offset = offsetof(struct k8s_tls_cfg, cert_file),
     .doc = "client certificate (PEM)"},
    {.key = "key_file", .type = CFG_STRING,
     .offset = offsetof(struct k8s_tls_cfg, key_file),
     .doc = "client key (PEM)"},
    {.key = "server_name", .type = CFG_STRING,
     .offset = offsetof(struct k8s_tls_cfg, server_name),
     .doc = "name verified in the API server's certificate"},
    {.key = "insecure_skip_verify", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct k8s_tls_cfg, insecure_skip_verify),
     .doc = "do not verify the API server's certificate"},
    {.key = NULL},
};

static const struct cfg_entry selector_table[] = {
    {.key = "role", .type = CFG_ENUM, .required = 1,
     .enum_values = k8s_role_names,
     .offset = offsetof(struct k8s_selector_cfg, role),
     .doc = "the role whose watch is filtered"},
    {.key = "label", .type = CFG_STRING,
     .offset = offsetof(struct k8s_selector_cfg, label),
     .doc = "label selector (labelSelector)"},
    {.key = "field", .type = CFG_STRING,
     .offset = offsetof(struct k8s_selector_cfg, field),
     .doc = "field selector (fieldSelector), e.g. spec.nodeName=node-a"},
    {.key = NULL},
};

static const struct cfg_entry ns_table[] = {
    {.key = "own_namespace", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct k8s_ns_cfg, own_namespace),
     .doc = "watch the namespace profcol runs in (in-cluster only)"},
    {.key = "names", .type = CFG_STRLIST,
     .offset = offsetof(struct k8s_ns_cfg, names),
     .doc = "namespaces to watch (none: every namespace)"},
    {.key = NULL},
};

static const struct cfg_entry attach_table[] = {
    {.key = "node", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct k8s_attach_cfg, node),
     .doc = "add the node's labels to pod, endpoints, endpointslice targets"},
    {.key = NULL},
};
/* clang-format on */

const struct cfg_entry k8s_client_cfg_table[] = {
    K8S_CLIENT_ENTRIES(0),
    {.key = NULL},
};

/* clang-format off */
const struct cfg_entry k8s_sd_cfg_table[] = {
    {.key = "role", .type = CFG_ENUM, .required = 1,
     .enum_values = k8s_role_names,
     .offset = offsetof(struct k8s_sd_cfg, role),
     .doc = "pod, endpoints, endpointslice, service or node"},
    K8S_CLIENT_ENTRIES(offsetof(struct k8s_sd_cfg, client)),
    {.key = "namespaces", .type = CFG_SECTION, .sub = ns_table,
     .offset = offsetof(struct k8s_sd_cfg, namespaces),
     .doc = "own_namespace, names (default: every namespace)"},
    {.key = "selectors", .type = CFG_SECTION_LIST, .sub = selector_table,
     .sub_size = sizeof(struct k8s_selector_cfg),
     .offset = offsetof(struct k8s_sd_cfg, selectors),
     .doc = "[{role, label, field}]: server-side filters of the watches"},
    {.key = "attach_metadata", .type = CFG_SECTION, .sub = attach_table,
     .offset = offsetof(struct k8s_sd_cfg, attach_metadata),
     .doc = "node: add the node's labels to the targets"},
    {.key = NULL},
};
/* clang-format on */

static int set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static const struct ynode *at(const struct ynode *n, const char *key)
{
    const struct ynode *c = n != NULL ? ynode_get(n, key) : NULL;

    return c != NULL ? c : n;
}

/* Non-default HTTP keys: they only make sense with api_server. */
static int custom_http(const struct k8s_client_cfg *c)
{
    const struct k8s_tls_cfg *t = &c->tls_config;

    return set(c->bearer_token) || set(c->bearer_token_file) ||
           set(c->basic_auth.username) || set(t->ca_file) ||
           set(t->cert_file) || set(t->key_file) || set(t->server_name) ||
           t->insecure_skip_verify;
}

void k8s_client_cfg_check(const struct k8s_client_cfg *c,
                          const struct ynode *node, struct cfg_diag *d)
{
    int auths = set(c->bearer_token) + set(c->bearer_token_file) +
                set(c->basic_auth.username);

    if (set(c->api_server) && set(c->kubeconfig_file)) {
        cfg_diag_error(d, at(node, "kubeconfig_file"),
                       "api_server and kubeconfig_file are mutually "
                       "exclusive");
    }
    if (set(c->kubeconfig_file) && custom_http(c)) {
        cfg_diag_error(d, at(node, "kubeconfig_file"),
                       "kubeconfig_file cannot be used with custom HTTP "
                       "client settings");
    }
    if (!set(c->api_server) && !set(c->kubeconfig_file) && custom_http(c)) {
        cfg_diag_error(d, node,
                       "to use custom HTTP client settings, api_server "
                       "must be set");
    }
    if (set(c->api_server) && strncmp(c->api_server, "http://", 7) != 0 &&
        strncmp(c->api_server, "https://", 8) != 0) {
        cfg_diag_error(d, at(node, "api_server"),
                       "api_server must be an http:// or https:// URL");
    }
    if (auths > 1) {
        cfg_diag_error(d, node,
                       "at most one of basic_auth, bearer_token and "
                       "bearer_token_file");
    }
    if (set(c->tls_config.cert_file) != set(c->tls_config.key_file)) {
        cfg_diag_error(d, at(node, "tls_config"),
                       "tls_config: cert_file and key_file go together");
    }
}

/* Which selector roles each role may carry (Prometheus's table). */
static int selector_allowed(int role, int sel)
{
    switch (role) {
    case K8S_ROLE_POD:
        return sel == K8S_ROLE_POD || sel == K8S_ROLE_NODE;
    case K8S_ROLE_ENDPOINTS:
        return sel == K8S_ROLE_POD || sel == K8S_ROLE_SERVICE ||
               sel == K8S_ROLE_ENDPOINTS;
    case K8S_ROLE_ENDPOINTSLICE:
        return sel == K8S_ROLE_POD || sel == K8S_ROLE_SERVICE ||
               sel == K8S_ROLE_ENDPOINTSLICE;
    default:
        return sel == role;
    }
}

const struct k8s_selector_cfg *k8s_sd_selector(const struct k8s_sd_cfg *c,
                                               int r)
{
    const struct k8s_selector_cfg *s = c->selectors.items;
    uint32_t i;

    for (i = 0; i < c->selectors.n; i++) {
        if (s[i].role == r) {
            return &s[i];
        }
    }
    return NULL;
}

void k8s_sd_cfg_check(const struct k8s_sd_cfg *c, const struct ynode *node,
                      struct cfg_diag *d)
{
    const struct k8s_selector_cfg *s = c->selectors.items;
    uint32_t i, k;

    k8s_client_cfg_check(&c->client, node, d);
    if (c->namespaces.own_namespace &&
        (set(c->client.api_server) || set(c->client.kubeconfig_file))) {
        cfg_diag_error(d, at(node, "namespaces"),
                       "namespaces.own_namespace works in-cluster only "
                       "(not with api_server or kubeconfig_file)");
    }
    for (i = 0; i < c->selectors.n; i++) {
        if (!selector_allowed(c->role, s[i].role)) {
            cfg_diag_error(d, at(node, "selectors"),
                           "%s role supports only %s selectors here, not %s",
                           k8s_role_names[c->role], k8s_role_names[c->role],
                           k8s_role_names[s[i].role]);
        }
        for (k = 0; k < i; k++) {
            if (s[k].role == s[i].role) {
                cfg_diag_error(d, at(node, "selectors"),
                               "duplicated selector role: %s",
                               k8s_role_names[s[i].role]);
            }
        }
    }
}
