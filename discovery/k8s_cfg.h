/*
 * k8s_cfg.h: the `kubernetes_sd_configs` entry (Prometheus's keys) and the
 * API client settings shared by the scrape receiver's discovery and the
 * k8sattributes processor.
 *
 * discovery/ is the layer between net/ and pipeline/: the Kubernetes API
 * client (in-cluster, kubeconfig or api_server), list+watch of objects,
 * and the role -> target/label logic. Components include it; it includes
 * nothing above net/.
 */
#ifndef PROFCOL_K8S_CFG_H
#define PROFCOL_K8S_CFG_H

#include <stdint.h>

#include <stddef.h>

#include "config/cfg.h"

enum k8s_role {
    K8S_ROLE_POD = 0,
    K8S_ROLE_ENDPOINTS,
    K8S_ROLE_ENDPOINTSLICE,
    K8S_ROLE_SERVICE,
    K8S_ROLE_NODE,
    K8S_NROLES,
};

extern const char *const k8s_role_names[];

struct k8s_selector_cfg {
    int role;
    char *label;
    char *field;
};

struct k8s_ns_cfg {
    int own_namespace;
    struct cfg_strlist names;
};

struct k8s_attach_cfg {
    int node;
};

struct k8s_basic_auth_cfg {
    char *username;
    char *password;
    char *password_file;
};

struct k8s_tls_cfg {
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *server_name;
    int insecure_skip_verify;
};

/* The API client: where and how to connect. */
struct k8s_client_cfg {
    char *api_server;
    char *kubeconfig_file;
    char *bearer_token;
    char *bearer_token_file;
    struct k8s_basic_auth_cfg basic_auth;
    struct k8s_tls_cfg tls_config;
    int follow_redirects;
    int enable_http2;
};

struct k8s_sd_cfg {
    int role;
    struct k8s_client_cfg client; /* keys inline, as Prometheus has them */
    struct k8s_ns_cfg namespaces;
    struct cfg_list selectors; /* struct k8s_selector_cfg */
    struct k8s_attach_cfg attach_metadata;
};

extern const struct cfg_entry k8s_sd_cfg_table[];
/* The client keys alone, for a component that embeds them as a section. */
extern const struct cfg_entry k8s_client_cfg_table[];

extern const struct cfg_entry k8s_basic_auth_table[];
extern const struct cfg_entry k8s_tls_table[];

/* The client keys as entries of a table whose struct holds a struct
 * k8s_client_cfg at offset base (inline keys, as Prometheus has them). */
#define K8S_CLIENT_ENTRIES(base)                                              \
    {.key = "api_server",                                                     \
     .type = CFG_STRING,                                                      \
     .offset = (base) + offsetof(struct k8s_client_cfg, api_server),          \
     .doc = "API server URL (unset: in-cluster or kubeconfig_file)"},         \
        {.key = "kubeconfig_file",                                            \
         .type = CFG_STRING,                                                  \
         .offset = (base) + offsetof(struct k8s_client_cfg, kubeconfig_file), \
         .doc = "kubeconfig whose current context is used"},                  \
        {.key = "bearer_token",                                               \
         .type = CFG_STRING,                                                  \
         .offset = (base) + offsetof(struct k8s_client_cfg, bearer_token),    \
         .doc = "Authorization: Bearer <token>"},                             \
        {.key = "bearer_token_file",                                          \
         .type = CFG_STRING,                                                  \
         .offset = (base) +                                                   \
                   offsetof(struct k8s_client_cfg, bearer_token_file),        \
         .doc = "file holding the token (re-read every minute, after 401)"},  \
        {.key = "basic_auth",                                                 \
         .type = CFG_SECTION,                                                 \
         .sub = k8s_basic_auth_table,                                         \
         .offset = (base) + offsetof(struct k8s_client_cfg, basic_auth),      \
         .doc = "username, password or password_file"},                       \
        {.key = "tls_config",                                                 \
         .type = CFG_SECTION,                                                 \
         .sub = k8s_tls_table,                                                \
         .offset = (base) + offsetof(struct k8s_client_cfg, tls_config),      \
         .doc = "ca_file, cert_file, key_file, server_name, "                 \
                "insecure_skip_verify"},                                      \
        {.key = "follow_redirects",                                           \
         .type = CFG_BOOL,                                                    \
         .def = "true",                                                       \
         .offset = (base) +                                                   \
                   offsetof(struct k8s_client_cfg, follow_redirects),         \
         .doc = "follow HTTP redirects of the API server"},                   \
    {                                                                         \
        .key = "enable_http2", .type = CFG_BOOL, .def = "true",               \
        .offset = (base) + offsetof(struct k8s_client_cfg, enable_http2),     \
        .doc = "offer HTTP/2 to the API server"                               \
    }

/* Prometheus's checks across keys; errors point at node (the entry). */
void k8s_sd_cfg_check(const struct k8s_sd_cfg *c, const struct ynode *node,
                      struct cfg_diag *d);
void k8s_client_cfg_check(const struct k8s_client_cfg *c,
                          const struct ynode *node, struct cfg_diag *d);

/* The selector configured for role r, or NULL. */
const struct k8s_selector_cfg *k8s_sd_selector(const struct k8s_sd_cfg *c,
                                               int r);

#endif
