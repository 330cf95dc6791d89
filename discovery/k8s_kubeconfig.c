/*
 * k8s_kubeconfig.c: reading a kubeconfig (see k8s_kubeconfig.h). Only
 * what a client needs: current-context -> context.cluster (server,
 * certificate-authority[-data], insecure-skip-tls-verify, tls-server-name)
 * and context.user (token, tokenFile, client-certificate[-data],
 * client-key[-data], username, password). Exec and auth-provider plugins
 * are refused with a message: the daemon starts no commands. File paths in
 * it that are relative are relative to the kubeconfig's own folder, as
 * kubectl reads them (kind and minikube write them so).
 */
#include <stdlib.h>
#include <string.h>

#include "config/ynode.h"
#include "core/base64.h"
#include "discovery/k8s_kubeconfig.h"

#define PEM_MAX ((size_t)1 << 20)

static const char *scalar(const struct ynode *map, const char *key)
{
    const struct ynode *n = map != NULL ? ynode_get(map, key) : NULL;

    return n != NULL && n->kind == YNODE_SCALAR && !n->is_null ? n->value
                                                               : NULL;
}

/* The entry of a named list (clusters, users, contexts) called name. */
static const struct ynode *named(const struct ynode *root, const char *list,
                                 const char *name, const char *inner)
{
    const struct ynode *l = ynode_get(root, list);
    uint32_t i;

    if (l == NULL || l->kind != YNODE_SEQ || name == NULL) {
        return NULL;
    }
    for (i = 0; i < l->n; i++) {
        const char *nm = scalar(l->children[i], "name");
        if (nm != NULL && strcmp(nm, name) == 0) {
            return ynode_get(l->children[i], inner);
        }
    }
    return NULL;
}

static char *dup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* s, a file the kubeconfig at path names, resolved against the
 * kubeconfig's folder: path's first dlen bytes (0: the working one). */
static char *file_in(const char *path, size_t dlen, const char *s)
{
    size_t ns;
    char *p;

    if (s == NULL || s[0] == '/' || s[0] == '\0' || dlen == 0) {
        return dup(s);
    }
    ns = strlen(s);
    p = malloc(dlen + ns + 2);
    if (p != NULL) {
        memcpy(p, path, dlen);
        p[dlen] = '/';
        memcpy(p + dlen + 1, s, ns + 1);
    }
    return p;
}

/* Where a kubeconfig's files are looked for (file_in). */
struct kc_dir {
    const char *path;
    size_t len;
};

static int decode_pem(const char *b64, struct buf *out, struct errctx *e,
                      const char *what)
{
    size_t n = strlen(b64), len = 0;

    buf_init(out, PEM_MAX);
    if (buf_reserve(out, BASE64_DECODED_MAX(n)) != PC_OK ||
        base64_decode(b64, n, out->data, &len) != PC_OK) {
        return err_set(e, PC_ECONFIG, "kubeconfig: %s is not base64", what);
    }
    out->len = len;
    return PC_OK;
}

static int cluster(const struct ynode *c, struct kc_dir d, struct k8s_conn *k,
                   struct errctx *e)
{
    const char *v;

    k->server = dup(scalar(c, "server"));
    if (k->server == NULL) {
        return err_set(e, PC_ECONFIG, "kubeconfig: cluster has no server");
    }
    k->ca_file = file_in(d.path, d.len, scalar(c, "certificate-authority"));
    k->server_name = dup(scalar(c, "tls-server-name"));
    v = scalar(c, "insecure-skip-tls-verify");
    k->insecure = v != NULL && strcmp(v, "true") == 0;
    v = scalar(c, "certificate-authority-data");
    return v != NULL
               ? decode_pem(v, &k->ca_data, e, "certificate-authority-data")
               : PC_OK;
}

static int user(const struct ynode *u, struct kc_dir d, struct k8s_conn *k,
                struct errctx *e)
{
    const char *v;
    int rc = PC_OK;

    if (u == NULL) {
        return PC_OK; /* anonymous */
    }
    if (ynode_get(u, "exec") != NULL ||
        ynode_get(u, "auth-provider") != NULL) {
        return err_set(e, PC_EUNSUPPORTED,
                       "kubeconfig: exec and auth-provider credential "
                       "plugins are not supported; use a token or a "
                       "client certificate");
    }
    k->token = dup(scalar(u, "token"));
    k->token_file = file_in(d.path, d.len, scalar(u, "tokenFile"));
    k->cert_file = file_in(d.path, d.len, scalar(u, "client-certificate"));
    k->key_file = file_in(d.path, d.len, scalar(u, "client-key"));
    k->username = dup(scalar(u, "username"));
    k->password = dup(scalar(u, "password"));
    v = scalar(u, "client-certificate-data");
    if (v != NULL) {
        rc = decode_pem(v, &k->cert_data, e, "client-certificate-data");
    }
    v = scalar(u, "client-key-data");
    if (v != NULL && rc == PC_OK) {
        rc = decode_pem(v, &k->key_data, e, "client-key-data");
    }
    return rc;
}

int k8s_kubeconfig_load(const char *path, struct k8s_conn *k, struct errctx *e)
{
    struct ydoc doc;
    char err[256];
    const char *cur, *cname, *uname, *slash = strrchr(path, '/');
    const struct ynode *ctx, *cl;
    /* The folder of path: none ("") without a slash, "/" for a file in /. */
    struct kc_dir d = {path, slash == NULL   ? 0
                             : slash == path ? 1
                                             : (size_t)(slash - path)};
    int rc;

    rc = ydoc_load_file(path, &doc, err, sizeof(err));
    if (rc != PC_OK || doc.root == NULL) {
        ydoc_free(&doc);
        return err_set(e, PC_ECONFIG, "kubeconfig: %s",
                       rc != PC_OK ? err : "empty file");
    }
    cur = scalar(doc.root, "current-context");
    ctx = named(doc.root, "contexts", cur, "context");
    cname = scalar(ctx, "cluster");
    uname = scalar(ctx, "user");
    cl = named(doc.root, "clusters", cname, "cluster");
    if (ctx == NULL || cl == NULL) {
        rc = err_set(e, PC_ECONFIG,
                     "kubeconfig %s: current-context '%s' or its cluster "
                     "not found",
                     path, cur != NULL ? cur : "");
    } else {
        rc = cluster(cl, d, k, e);
    }
    if (rc == PC_OK) {
        rc = user(named(doc.root, "users", uname, "user"), d, k, e);
    }
    ydoc_free(&doc);
    return rc;
}

void k8s_conn_release(struct k8s_conn *k)
{
    free(k->server);
    free(k->ca_file);
    free(k->cert_file);
    free(k->key_file);
    free(k->server_name);
    free(k->token);
    free(k->token_file);
    free(k->username);
    free(k->password);
    free(k->password_file);
    free(k->own_namespace);
    buf_free(&k->ca_data);
    buf_free(&k->cert_data);
    buf_free(&k->key_data);
    memset(k, 0, sizeof(*k));
}
