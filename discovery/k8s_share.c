/*
 * k8s_share.c: the process-wide registry of watches (see k8s_share.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "discovery/k8s_client.h"
#include "discovery/k8s_share.h"

struct share {
    struct share *next;
    char *key;
    unsigned refs;
    uint32_t max; /* combined bound (0: none) */
    struct k8s_client *client;
    struct k8s_watch *w;
};

static pthread_mutex_t share_mu = PTHREAD_MUTEX_INITIALIZER;
static struct share *shares;

json_t *k8s_drop_managed(json_t *obj)
{
    json_t *md = json_object_get(obj, "metadata");
    json_t *o, *m;

    if (json_object_get(md, "managedFields") == NULL) {
        return json_incref(obj);
    }
    o = json_copy(obj); /* shallow: values shared */
    m = json_copy(md);
    if (o == NULL || m == NULL) {
        json_decref(o);
        json_decref(m);
        return NULL;
    }
    json_object_del(m, "managedFields");
    json_object_set_new(o, "metadata", m);
    return o;
}

static const char *z(const char *s)
{
    return s != NULL ? s : "";
}

/* Everything that makes two watches differ, in one string. */
static char *make_key(const struct k8s_client_cfg *c,
                      const struct k8s_watch_spec *s)
{
    const struct k8s_tls_cfg *t = &c->tls_config;
    struct buf b;

    buf_init(&b, 64 << 10);
    if (buf_printf(&b,
                   "%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s\x1f%s"
                   "\x1f%s\x1f%d\x1f%d\x1f%d\x1f%s\x1f%s\x1f%s\x1f%s\x1f%p",
                   z(c->api_server), z(c->kubeconfig_file), z(c->bearer_token),
                   z(c->bearer_token_file), z(c->basic_auth.username),
                   z(c->basic_auth.password), z(c->basic_auth.password_file),
                   z(t->ca_file), z(t->cert_file), z(t->key_file),
                   z(t->server_name), t->insecure_skip_verify,
                   c->follow_redirects, c->enable_http2, z(s->path),
                   z(s->kind), z(s->label_selector), z(s->field_selector),
                   (void *)s->trim) != PC_OK ||
        buf_putc(&b, '\0') != PC_OK) {
        buf_free(&b);
        return NULL;
    }
    return (char *)buf_take(&b, NULL);
}

static uint32_t combine(uint32_t a, uint32_t b)
{
    if (a == 0 || b == 0) {
        return 0;
    }
    return a > b ? a : b;
}

static struct share *find(const char *key)
{
    struct share *s;

    for (s = shares; s != NULL; s = s->next) {
        if (strcmp(s->key, key) == 0) {
            return s;
        }
    }
    return NULL;
}

static int create(const struct k8s_client_cfg *cc,
                  const struct k8s_watch_spec *spec, char *key,
                  struct share **out, struct errctx *e)
{
    struct share *s = calloc(1, sizeof(*s));
    int rc;

    if (s == NULL) {
        return PC_ENOMEM;
    }
    s->key = key;
    s->refs = 1;
    s->max = spec->max_objects;
    rc = k8s_client_new(cc, &s->client, e);
    if (rc == PC_OK) {
        rc = k8s_watch_start(s->client, spec, &s->w);
    }
    if (rc != PC_OK) {
        k8s_client_free(s->client);
        free(s);
        return rc;
    }
    *out = s;
    return PC_OK;
}

int k8s_share_get(const struct k8s_client_cfg *cc,
                  const struct k8s_watch_spec *spec, struct k8s_watch **out,
                  struct errctx *e)
{
    char *key = make_key(cc, spec);
    struct share *s;
    int rc = PC_OK;

    *out = NULL;
    if (key == NULL) {
        return PC_ENOMEM;
    }
    pthread_mutex_lock(&share_mu);
    s = find(key);
    if (s != NULL) {
        free(key);
        s->refs++;
        s->max = combine(s->max, spec->max_objects);
        k8s_watch_set_max(s->w, s->max);
    } else {
        rc = create(cc, spec, key, &s, e);
        if (rc == PC_OK) {
            s->next = shares;
            shares = s;
        } else {
            free(key);
        }
    }
    if (rc == PC_OK) {
        *out = s->w;
    }
    pthread_mutex_unlock(&share_mu);
    return rc;
}

void k8s_share_put(struct k8s_watch *w)
{
    struct share **pp, *s = NULL;

    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&share_mu);
    for (pp = &shares; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->w == w) {
            s = *pp;
            break;
        }
    }
    if (s != NULL && --s->refs == 0) {
        *pp = s->next;
    } else {
        s = NULL;
    }
    pthread_mutex_unlock(&share_mu);
    if (s != NULL) {
        /* stopped outside the lock: joining may take a moment */
        k8s_watch_stop(s->w);
        k8s_client_free(s->client);
        free(s->key);
        free(s);
    }
}
