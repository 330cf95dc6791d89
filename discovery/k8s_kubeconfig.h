/*
 * k8s_kubeconfig.h: the resolved connection to an API server, and reading
 * it from a kubeconfig file (the current context's cluster and user).
 */
#ifndef PROFCOL_K8S_KUBECONFIG_H
#define PROFCOL_K8S_KUBECONFIG_H

#include <stddef.h>

#include "core/buf.h"
#include "core/err.h"

/* Every string malloc'd (or NULL); released by k8s_conn_release. */
struct k8s_conn {
    char *server; /* https://host:port */
    char *ca_file;
    char *cert_file;
    char *key_file;
    char *server_name;
    char *token;
    char *token_file;
    char *username;
    char *password;
    char *password_file;
    char *own_namespace; /* in-cluster: the namespace file */
    struct buf ca_data;  /* kubeconfig *-data, decoded PEM */
    struct buf cert_data;
    struct buf key_data;
    int insecure;
};

/* Fills k (zeroed) from the kubeconfig at path; e says what is wrong. */
int k8s_kubeconfig_load(const char *path, struct k8s_conn *k,
                        struct errctx *e);
void k8s_conn_release(struct k8s_conn *k);

/* Reads a small file whole (NUL-terminated, at most max bytes). */
int k8s_read_small_file(const char *path, size_t max, char **out);

#endif
