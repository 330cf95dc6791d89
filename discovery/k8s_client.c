/*
 * k8s_client.c: the Kubernetes API client (see k8s_client.h): resolving
 * in-cluster or explicit settings, credentials, and blocking GETs.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/clock.h"
#include "discovery/k8s_client.h"
#include "discovery/k8s_kubeconfig.h"
#include "net/curl_api.h"

#define TOKEN_MAX 16384
#define TOKEN_REREAD_NS (60LL * 1000000000LL)

struct k8s_client {
    struct k8s_conn conn;
    int follow_redirects;
    int http2;
    pthread_mutex_t mu; /* token, token_read_ns, token_stale */
    char *token;
    int64_t token_read_ns;
    int token_stale; /* a 401 came: re-read before the next request */
};

int k8s_read_small_file(const char *path, size_t max, char **out)
{
    FILE *f = fopen(path, "rb");
    char *s;
    size_t n;

    *out = NULL;
    if (f == NULL) {
        return PC_ENOTFOUND;
    }
    s = malloc(max + 1);
    if (s == NULL) {
        fclose(f);
        return PC_ENOMEM;
    }
    n = fread(s, 1, max + 1, f);
    fclose(f);
    if (n > max) {
        free(s);
        return PC_ETOOBIG;
    }
    s[n] = '\0';
    *out = s;
    return PC_OK;
}

static void trim(char *s)
{
    size_t n = strlen(s);

    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' ||
                     s[n - 1] == '\t')) {
        s[--n] = '\0';
    }
}

static char *dup_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static int in_cluster(struct k8s_conn *k, struct errctx *e)
{
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    const char *dir = getenv(K8S_SA_DIR_ENV);
    char path[1024];
    int v6;

    if (host == NULL || host[0] == '\0' || port == NULL || port[0] == '\0') {
        return err_set(e, PC_ECONFIG,
                       "kubernetes: not in a cluster (KUBERNETES_SERVICE_HOST "
                       "and KUBERNETES_SERVICE_PORT unset) and neither "
                       "api_server nor kubeconfig_file is set");
    }
    if (dir == NULL || dir[0] == '\0') {
        dir = K8S_SA_DIR;
    }
    v6 = strchr(host, ':') != NULL;
    if (asprintf(&k->server, "https://%s%s%s:%s", v6 ? "[" : "", host,
                 v6 ? "]" : "", port) < 0) {
        k->server = NULL;
        return PC_ENOMEM;
    }
    snprintf(path, sizeof(path), "%s/ca.crt", dir);
    k->ca_file = strdup(path);
    snprintf(path, sizeof(path), "%s/token", dir);
    k->token_file = strdup(path);
    snprintf(path, sizeof(path), "%s/namespace", dir);
    if (k8s_read_small_file(path, 1024, &k->own_namespace) != PC_OK) {
        k->own_namespace = NULL; /* only own_namespace needs it */
    }
    return k->ca_file != NULL && k->token_file != NULL ? PC_OK : PC_ENOMEM;
}

static int from_cfg(struct k8s_conn *k, const struct k8s_client_cfg *cfg)
{
    const struct k8s_tls_cfg *t = &cfg->tls_config;

    k->server = strdup(cfg->api_server);
    k->token = dup_or_null(cfg->bearer_token);
    k->token_file = dup_or_null(cfg->bearer_token_file);
    k->username = dup_or_null(cfg->basic_auth.username);
    k->password = dup_or_null(cfg->basic_auth.password);
    k->password_file = dup_or_null(cfg->basic_auth.password_file);
    k->ca_file = dup_or_null(t->ca_file);
    k->cert_file = dup_or_null(t->cert_file);
    k->key_file = dup_or_null(t->key_file);
    k->server_name = dup_or_null(t->server_name);
    k->insecure = t->insecure_skip_verify;
    return k->server != NULL ? PC_OK : PC_ENOMEM;
}

int k8s_client_new(const struct k8s_client_cfg *cfg, struct k8s_client **out,
                   struct errctx *e)
{
    struct k8s_client *c = calloc(1, sizeof(*c));
    int rc;

    *out = NULL;
    if (c == NULL) {
        return PC_ENOMEM;
    }
    /* libcurl is loaded by its first user */
    rc = curl_api_load(e);
    if (rc != PC_OK) {
        free(c);
        return rc;
    }
    pthread_mutex_init(&c->mu, NULL);
    c->follow_redirects = cfg->follow_redirects;
    c->http2 = cfg->enable_http2;
    if (cfg->api_server != NULL && cfg->api_server[0] != '\0') {
        rc = from_cfg(&c->conn, cfg);
    } else if (cfg->kubeconfig_file != NULL &&
               cfg->kubeconfig_file[0] != '\0') {
        rc = k8s_kubeconfig_load(cfg->kubeconfig_file, &c->conn, e);
    } else {
        rc = in_cluster(&c->conn, e);
    }
    if (rc == PC_OK) {
        size_t n = strlen(c->conn.server);
        while (n > 0 && c->conn.server[n - 1] == '/') {
            c->conn.server[--n] = '\0'; /* paths start with '/' */
        }
        if (c->conn.token != NULL) {
            c->token = strdup(c->conn.token);
        }
        *out = c;
        return PC_OK;
    }
    k8s_client_free(c);
    return rc;
}

void k8s_client_free(struct k8s_client *c)
{
    if (c == NULL) {
        return;
    }
    k8s_conn_release(&c->conn);
    free(c->token);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

const char *k8s_client_own_namespace(const struct k8s_client *c)
{
    return c->conn.own_namespace;
}

const char *k8s_client_url(const struct k8s_client *c)
{
    return c->conn.server;
}

/* ---- lines ------------------------------------------------------------------ */

void k8s_lines_init(struct k8s_lines *l, size_t max)
{
    buf_init(&l->cur, max);
    l->max = max;
    l->skipped = 0;
}

void k8s_lines_free(struct k8s_lines *l)
{
    buf_free(&l->cur);
}

static int line_out(struct k8s_lines *l, k8s_line_fn fn, void *priv)
{
    int rc = PC_OK;

    if (l->skipped > 0) {
        rc = fn(priv, NULL, l->skipped);
        l->skipped = 0;
    } else if (l->cur.len > 0) {
        rc = fn(priv, (const char *)l->cur.data, l->cur.len);
    }
    buf_reset(&l->cur);
    return rc;
}

int k8s_lines_feed(struct k8s_lines *l, const char *p, size_t n,
                   k8s_line_fn fn, void *priv)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t take = nl != NULL ? (size_t)(nl - p) : n;
        int rc = PC_OK;

        if (l->skipped > 0) {
            l->skipped += take;
        } else if (buf_append(&l->cur, p, take) != PC_OK) {
            /* over-long: forget what we have, skip to the line's end */
            l->skipped = l->cur.len + take;
            buf_reset(&l->cur);
        }
        if (nl == NULL) {
            return PC_OK;
        }
        rc = line_out(l, fn, priv);
        if (rc < 0) {
            return rc;
        }
        p = nl + 1;
        n -= take + 1;
    }
    return PC_OK;
}

int k8s_lines_end(struct k8s_lines *l, k8s_line_fn fn, void *priv)
{
    return line_out(l, fn, priv);
}

/* ---- requests ---------------------------------------------------------------- */

/* The bearer token to send, re-read from its file when due. */
static char *current_token(struct k8s_client *c)
{
    int64_t now = clock_mono_ns();
    char *t = NULL;

    pthread_mutex_lock(&c->mu);
    if (c->conn.token_file != NULL &&
        (c->token == NULL || c->token_stale ||
         now - c->token_read_ns >= TOKEN_REREAD_NS)) {
        char *fresh = NULL;
        if (k8s_read_small_file(c->conn.token_file, TOKEN_MAX, &fresh) ==
            PC_OK) {
            trim(fresh);
            free(c->token);
            c->token = fresh;
        }
        c->token_read_ns = now;
        c->token_stale = 0;
    }
    if (c->token != NULL) {
        t = strdup(c->token);
    }
    pthread_mutex_unlock(&c->mu);
    return t;
}

static char *current_password(struct k8s_client *c)
{
    char *p = NULL;

    if (c->conn.password_file != NULL) {
        if (k8s_read_small_file(c->conn.password_file, TOKEN_MAX, &p) ==
            PC_OK) {
            trim(p);
        }
        return p;
    }
    return c->conn.password != NULL ? strdup(c->conn.password) : NULL;
}

struct xfer {
    CURL *easy;
    long status;
    struct buf *body;
    struct buf err;
    k8s_line_fn fn;
    void *priv;
    struct k8s_lines lines;
    const atomic_int *stop;
    int rc;
};

static size_t on_write(char *p, size_t sz, size_t nm, void *arg)
{
    struct xfer *x = arg;
    size_t n = sz * nm;

    if (x->status == 0) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    }
    if (x->status < 200 || x->status > 299) {
        (void)buf_append(&x->err, p, n); /* truncated: only a Status */
        return n;
    }
    if (x->fn != NULL) {
        x->rc = k8s_lines_feed(&x->lines, p, n, x->fn, x->priv);
    } else {
        x->rc = buf_append(x->body, p, n);
    }
    return x->rc == PC_OK ? n : 0;
}

static int on_progress(void *arg, curl_off_t a, curl_off_t b, curl_off_t c,
                       curl_off_t d)
{
    struct xfer *x = arg;

    (void)a;
    (void)b;
    (void)c;
    (void)d;
    return x->stop != NULL && atomic_load(x->stop) ? 1 : 0;
}

static void set_tls(struct k8s_client *c, CURL *h)
{
    const struct k8s_conn *k = &c->conn;

    if (k->ca_file != NULL) {
        curl_easy_setopt(h, CURLOPT_CAINFO, k->ca_file);
    }
    if (k->ca_data.len > 0) {
        struct curl_blob b = {k->ca_data.data, k->ca_data.len,
                              CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_CAINFO_BLOB, &b);
    }
    if (k->cert_file != NULL) {
        curl_easy_setopt(h, CURLOPT_SSLCERT, k->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, k->key_file);
    }
    if (k->cert_data.len > 0 && k->key_data.len > 0) {
        struct curl_blob cb = {k->cert_data.data, k->cert_data.len,
                               CURL_BLOB_NOCOPY};
        struct curl_blob kb = {k->key_data.data, k->key_data.len,
                               CURL_BLOB_NOCOPY};
        curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cb);
        curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &kb);
    }
    if (k->insecure) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static struct curl_slist *headers(struct k8s_client *c, CURL *h, char **secret)
{
    struct curl_slist *l = NULL;
    char *tok = current_token(c);

    l = curl_slist_append(l, "Accept: application/json");
    if (tok != NULL && tok[0] != '\0') {
        char *hdr = NULL;
        if (asprintf(&hdr, "Authorization: Bearer %s", tok) >= 0) {
            struct curl_slist *n = curl_slist_append(l, hdr);
            l = n != NULL ? n : l;
            free(hdr);
        }
    } else if (c->conn.username != NULL) {
        *secret = current_password(c);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->conn.username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, *secret != NULL ? *secret : "");
    }
    free(tok);
    return l;
}

static void setup(struct k8s_client *c, CURL *h, const char *url,
                  long timeout_s, struct xfer *x)
{
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "profcol");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, (long)c->follow_redirects);
    curl_easy_setopt(h, CURLOPT_HTTP_VERSION,
                     c->http2 ? (long)CURL_HTTP_VERSION_2TLS
                              : (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
    set_tls(c, h);
}

static int finish(struct k8s_client *c, struct xfer *x, CURLcode cc,
                  struct errctx *e)
{
    if (x->stop != NULL && atomic_load(x->stop)) {
        return PC_ECLOSED;
    }
    if (x->status == 0) {
        curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &x->status);
    }
    if (x->status == 401) {
        pthread_mutex_lock(&c->mu);
        c->token_stale = 1;
        pthread_mutex_unlock(&c->mu);
    }
    if (x->rc != PC_OK) {
        return err_set(e, x->rc, "response: %s", pc_strerror(x->rc));
    }
    if (cc != CURLE_OK && x->status == 0) {
        return err_set(e,
                       cc == CURLE_OPERATION_TIMEDOUT ? PC_ETIMEDOUT : PC_EIO,
                       "%s", curl_easy_strerror(cc));
    }
    if (cc != CURLE_OK && cc != CURLE_OPERATION_TIMEDOUT &&
        cc != CURLE_PARTIAL_FILE) {
        return err_set(e, PC_EIO, "%s", curl_easy_strerror(cc));
    }
    return PC_OK;
}

/* tls_config.server_name: the URL names server_name (so TLS sends and
 * verifies it) and curl connects to the configured host (CONNECT_TO). */
static char *request_url(const struct k8s_client *c, const char *path,
                         struct curl_slist **connect_to)
{
    const char *sn = c->conn.server_name;
    const char *s = c->conn.server;
    const char *host = strstr(s, "://");
    const char *port;
    char *url = NULL, *ct = NULL;

    *connect_to = NULL;
    host = host != NULL ? host + 3 : s;
    port = strrchr(host, ':');
    if (sn == NULL || port == NULL || strchr(port, ']') != NULL) {
        return asprintf(&url, "%s%s", s, path) < 0 ? NULL : url;
    }
    if (asprintf(&url, "%.*s%s%s%s", (int)(host - s), s, sn, port, path) < 0) {
        return NULL;
    }
    if (asprintf(&ct, "%s%s:%.*s%s", sn, port, (int)(port - host), host,
                 port) >= 0) {
        *connect_to = curl_slist_append(NULL, ct);
        free(ct);
    }
    return url;
}

int k8s_client_get(struct k8s_client *c, const char *path, long timeout_s,
                   struct buf *body, k8s_line_fn fn, void *priv,
                   const atomic_int *stop, long *status, struct errctx *e)
{
    struct xfer x;
    struct curl_slist *hl, *connect_to = NULL;
    char *url, *secret = NULL;
    CURLcode cc;
    int rc;

    PC_ASSERT(path[0] == '/');
    memset(&x, 0, sizeof(x));
    *status = 0;
    url = request_url(c, path, &connect_to);
    x.easy = url != NULL ? curl_easy_init() : NULL;
    if (x.easy == NULL) {
        curl_slist_free_all(connect_to);
        free(url);
        return PC_ENOMEM;
    }
    x.body = body;
    x.fn = fn;
    x.priv = priv;
    x.stop = stop;
    buf_init(&x.err, K8S_STATUS_MAX);
    k8s_lines_init(&x.lines, K8S_LINE_MAX);
    setup(c, x.easy, url, timeout_s, &x);
    hl = headers(c, x.easy, &secret);
    curl_easy_setopt(x.easy, CURLOPT_HTTPHEADER, hl);
    if (connect_to != NULL) {
        curl_easy_setopt(x.easy, CURLOPT_CONNECT_TO, connect_to);
    }
    cc = curl_easy_perform(x.easy);
    rc = finish(c, &x, cc, e);
    if (rc == PC_OK && fn != NULL && x.status >= 200 && x.status <= 299) {
        rc = k8s_lines_end(&x.lines, fn, priv);
    }
    if (x.status < 200 || x.status > 299) {
        buf_reset(body);
        (void)buf_append(body, x.err.data, x.err.len);
    }
    *status = x.status;
    curl_slist_free_all(hl);
    curl_easy_cleanup(x.easy);
    curl_slist_free_all(connect_to);
    k8s_lines_free(&x.lines);
    buf_free(&x.err);
    free(secret);
    free(url);
    return rc;
}
