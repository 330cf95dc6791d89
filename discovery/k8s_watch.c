/*
 * k8s_watch.c: the reflector thread (see k8s_watch.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hex.h"
#include "discovery/k8s_event.h"
#include "discovery/k8s_watch.h"
#include "telemetry/log.h"

#define BACKOFF_MIN_MS 800
#define BACKOFF_MAX_MS 30000
#define BACKOFF_RESET_MS (2 * 60 * 1000)
#define PAGE_LIMIT 500
#define LIST_TIMEOUT_S 60

enum watch_end {
    END_RESTART, /* stream ended normally: watch again */
    END_RELIST,  /* 410 / error: list again */
    END_RETRY,   /* 429, refused: watch again after backoff */
    END_STOPPED,
};

struct k8s_watch {
    struct k8s_client *client;
    char *path;
    char *kind;
    char *selectors; /* "&labelSelector=..&fieldSelector=.." or "" */
    char *log_id;
    atomic_uint max_objects; /* may grow when the watch is shared */
    json_t *(*trim)(json_t *obj);
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu; /* store, gen, counts; cond for the stop wait */
    pthread_cond_t cv;
    json_t *store;
    uint64_t gen;
    struct k8s_watch_counts counts;
    /* thread-only state */
    char rv[K8S_RV_MAX];
    int64_t backoff_ms;
    int64_t last_fail_ms;
    uint64_t rng;
    int stream_events;
};

/* ---- small helpers ---------------------------------------------------------- */

static uint64_t next_rand(struct k8s_watch *w)
{
    /* xorshift64*: jitter only, no need for quality */
    w->rng ^= w->rng >> 12;
    w->rng ^= w->rng << 25;
    w->rng ^= w->rng >> 27;
    return w->rng * 2685821657736338717ULL;
}

/* Sleeps ms unless stopped; returns non-zero when stopped. */
static int nap(struct k8s_watch *w, int64_t ms)
{
    struct timespec ts = clock_real_after(ms);
    int stopped;

    pthread_mutex_lock(&w->mu);
    while (!atomic_load(&w->stop) &&
           pthread_cond_timedwait(&w->cv, &w->mu, &ts) == 0) {
    }
    stopped = atomic_load(&w->stop);
    pthread_mutex_unlock(&w->mu);
    return stopped;
}

/* The backoff before the next attempt: 0.8 s doubling, times a jitter in
 * [1, 2), at most 30 s; back to 0.8 s after 2 minutes without failure. */
static int backoff(struct k8s_watch *w)
{
    int64_t now = clock_mono_ms(), ms;

    if (w->backoff_ms == 0 || now - w->last_fail_ms > BACKOFF_RESET_MS) {
        w->backoff_ms = BACKOFF_MIN_MS;
    } else if (w->backoff_ms < BACKOFF_MAX_MS) {
        w->backoff_ms *= 2;
        if (w->backoff_ms > BACKOFF_MAX_MS) {
            w->backoff_ms = BACKOFF_MAX_MS;
        }
    }
    w->last_fail_ms = now;
    ms = w->backoff_ms + (int64_t)(next_rand(w) % (uint64_t)w->backoff_ms);
    return nap(w, ms < BACKOFF_MAX_MS ? ms : BACKOFF_MAX_MS);
}

static void count(struct k8s_watch *w, uint64_t *field)
{
    pthread_mutex_lock(&w->mu);
    (*field)++;
    pthread_mutex_unlock(&w->mu);
}

static void failed(struct k8s_watch *w, const char *what, long status,
                   const struct buf *body, const char *msg)
{
    char st[300] = "";

    if (status != 0 && body->len > 0) {
        k8s_status_text((const char *)body->data, body->len, st, sizeof(st));
    }
    count(w, &w->counts.failures);
    log_warn(
        w->log_id, "kubernetes request failed",
        "request=%s path=\"%s\" status=%ld error=\"%s\" status_text=\"%s\"",
        what, w->path, status, msg != NULL ? msg : "", st);
}

/* ---- list ----------------------------------------------------------------------- */

/* Stores obj (trimmed) under key, within max_objects; an object over the
 * bound is refused (PC_ETOOBIG, logged; the caller counts it). Called with
 * mu held or on a private store. */
static int store_put(struct k8s_watch *w, json_t *store, const char *key,
                     json_t *obj)
{
    unsigned max = atomic_load(&w->max_objects);
    json_t *v;
    int rc;

    if (max > 0 && json_object_size(store) >= max &&
        json_object_get(store, key) == NULL) {
        log_warn(w->log_id, "kubernetes object refused: store full",
                 "path=\"%s\" max_objects=%u", w->path, max);
        return PC_ETOOBIG;
    }
    v = w->trim != NULL ? w->trim(obj) : json_incref(obj);
    if (v == NULL) {
        return PC_ETOOBIG;
    }
    rc = json_object_set_new(store, key, v) == 0 ? PC_OK : PC_ENOMEM;
    return rc;
}

static int page_into(struct k8s_watch *w, json_t *store, struct k8s_page *p)
{
    size_t i;
    json_t *o;

    json_array_foreach(p->items, i, o)
    {
        char key[K8S_KEY_MAX];
        struct errctx e = {{0}};
        if (k8s_obj_check(o, w->kind, key, sizeof(key), &e) != PC_OK) {
            count(w, &w->counts.bad_events);
            log_warn(w->log_id, "kubernetes list item skipped",
                     "path=\"%s\" error=\"%s\"", w->path, e.msg);
            continue;
        }
        int rc = store_put(w, store, key, o);
        if (rc == PC_ETOOBIG) {
            count(w, &w->counts.bad_events);
        } else if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static void list_url(struct k8s_watch *w, struct buf *u, const char *rv,
                     const char *cont)
{
    buf_reset(u);
    (void)buf_printf(u, "%s?limit=%d%s", w->path, PAGE_LIMIT, w->selectors);
    if (rv != NULL) {
        (void)buf_printf(u, "&resourceVersion=%s", rv);
    }
    if (cont[0] != '\0') {
        (void)buf_append_str(u, "&continue=");
        (void)pct_encode(u, cont, strlen(cont));
    }
    (void)buf_putc(u, '\0');
}

/* One full list (every page). PC_OK, PC_ENOTFOUND on a 410 (expired
 * resourceVersion or continue token), PC_ECLOSED when stopped, else an
 * error (logged). */
static int list_all(struct k8s_watch *w, const char *rv)
{
    struct buf u, body;
    struct k8s_page p;
    json_t *store = json_object();
    char cont[4096] = "", last_rv[K8S_RV_MAX] = "";
    int rc = store != NULL ? PC_OK : PC_ENOMEM;

    buf_init(&u, 16384);
    buf_init(&body, K8S_PAGE_MAX);
    while (rc == PC_OK) {
        struct errctx e = {{0}};
        long status = 0;
        list_url(w, &u, cont[0] != '\0' ? NULL : rv, cont);
        buf_reset(&body);
        rc = k8s_client_get(w->client, (const char *)u.data, LIST_TIMEOUT_S,
                            &body, NULL, NULL, &w->stop, &status, &e);
        if (rc == PC_OK && status == 410) {
            rc = PC_ENOTFOUND;
            failed(w, "list", status, &body, "expired");
            break;
        }
        if (rc == PC_OK && status != 200) {
            rc = PC_EIO;
        }
        if (rc == PC_OK) {
            rc = k8s_page_parse((const char *)body.data, body.len, &p, &e);
        }
        if (rc != PC_OK) {
            if (rc != PC_ECLOSED) {
                failed(w, "list", status, &body, e.msg);
            }
            break;
        }
        rc = page_into(w, store, &p);
        snprintf(cont, sizeof(cont), "%s", p.cont);
        snprintf(last_rv, sizeof(last_rv), "%s", p.rv);
        k8s_page_release(&p);
        if (cont[0] == '\0') {
            break;
        }
    }
    if (rc == PC_OK) {
        pthread_mutex_lock(&w->mu);
        json_decref(w->store);
        w->store = store;
        store = NULL;
        w->gen++;
        w->counts.lists++;
        pthread_mutex_unlock(&w->mu);
        snprintf(w->rv, sizeof(w->rv), "%s", last_rv);
    }
    json_decref(store);
    buf_free(&u);
    buf_free(&body);
    return rc;
}

/* ---- watch ----------------------------------------------------------------------- */

struct stream {
    struct k8s_watch *w;
    int relist; /* an ERROR event asked for a re-list */
};

static void apply(struct k8s_watch *w, struct k8s_event *ev)
{
    pthread_mutex_lock(&w->mu);
    if (ev->type == K8S_EV_DELETED) {
        (void)json_object_del(w->store, ev->key);
    } else {
        if (store_put(w, w->store, ev->key, ev->obj) == PC_ETOOBIG) {
            w->counts.bad_events++;
        }
    }
    w->gen++;
    w->counts.events++;
    pthread_mutex_unlock(&w->mu);
}

static int on_line(void *priv, const char *line, size_t len)
{
    struct stream *s = priv;
    struct k8s_watch *w = s->w;
    struct k8s_event ev;
    struct errctx e = {{0}};

    if (line == NULL) {
        count(w, &w->counts.bad_events);
        log_warn(w->log_id, "kubernetes watch event too large, skipped",
                 "path=\"%s\" bytes=%zu max=%zu", w->path, len,
                 (size_t)K8S_LINE_MAX);
        return PC_OK;
    }
    if (k8s_event_parse(line, len, w->kind, &ev, &e) != PC_OK) {
        count(w, &w->counts.bad_events);
        log_warn(w->log_id, "kubernetes watch event skipped",
                 "path=\"%s\" error=\"%s\"", w->path, e.msg);
        return PC_OK;
    }
    s->w->stream_events++;
    if (ev.type == K8S_EV_ERROR) {
        log_warn(w->log_id, "kubernetes watch error event",
                 "path=\"%s\" code=%ld reason=\"%s\"", w->path, ev.code,
                 ev.reason);
        s->relist = 1;
        k8s_event_release(&ev);
        return PC_ECLOSED; /* ends the stream */
    }
    if (ev.type != K8S_EV_BOOKMARK) {
        apply(w, &ev);
    }
    if (ev.rv[0] != '\0') {
        snprintf(w->rv, sizeof(w->rv), "%s", ev.rv);
    }
    k8s_event_release(&ev);
    return PC_OK;
}

static int watch_once(struct k8s_watch *w)
{
    struct stream s = {w, 0};
    struct buf u, body;
    struct errctx e = {{0}};
    long status = 0, t = 300 + (long)(next_rand(w) % 301);
    int64_t started = clock_mono_ms();
    int rc;

    buf_init(&u, 16384);
    buf_init(&body, K8S_STATUS_MAX);
    (void)buf_printf(&u,
                     "%s?watch=true&allowWatchBookmarks=true&"
                     "timeoutSeconds=%ld&resourceVersion=",
                     w->path, t);
    (void)pct_encode(&u, w->rv, strlen(w->rv));
    (void)buf_printf(&u, "%s", w->selectors);
    (void)buf_putc(&u, '\0');
    w->stream_events = 0;
    rc = k8s_client_get(w->client, (const char *)u.data, t + 30, &body,
                        on_line, &s, &w->stop, &status, &e);
    buf_free(&u);
    if (atomic_load(&w->stop)) {
        buf_free(&body);
        return END_STOPPED;
    }
    if (s.relist || status == 410) {
        buf_free(&body);
        return END_RELIST;
    }
    if (status == 429 || (rc != PC_OK && status == 0)) {
        failed(w, "watch", status, &body, e.msg);
        buf_free(&body);
        return END_RETRY;
    }
    if (rc != PC_OK || status != 200) {
        failed(w, "watch", status, &body, e.msg);
        buf_free(&body);
        return END_RELIST;
    }
    buf_free(&body);
    /* A stream ending within a second without any event is a failure
     * (a misbehaving proxy would otherwise make us spin). */
    if (w->stream_events == 0 && clock_mono_ms() - started < 1000) {
        return END_RETRY;
    }
    return END_RESTART;
}

/* ---- thread ---------------------------------------------------------------------- */

/* Lists until it works; the first list reads the API server's cache
 * (resourceVersion=0), a re-list the last version seen, and after a 410
 * a consistent read (no resourceVersion). */
static int relist(struct k8s_watch *w, int first)
{
    int fresh = 0;

    for (;;) {
        const char *rv = first ? "0" : fresh ? NULL : w->rv;
        int rc = list_all(w, rv != NULL && rv[0] != '\0' ? rv : NULL);
        if (rc == PC_OK) {
            return 0;
        }
        if (rc == PC_ECLOSED) {
            return 1;
        }
        first = 0;
        fresh = rc == PC_ENOTFOUND;
        if (backoff(w)) {
            return 1;
        }
    }
}

static void *run(void *arg)
{
    struct k8s_watch *w = arg;
    int need_list = 1, first = 1;

    while (!atomic_load(&w->stop)) {
        int end;
        if (need_list) {
            if (relist(w, first)) {
                break;
            }
            first = need_list = 0;
        }
        end = watch_once(w);
        if (end == END_STOPPED) {
            break;
        }
        if (end == END_RELIST) {
            need_list = 1;
            if (backoff(w)) {
                break;
            }
        } else if (end == END_RETRY && backoff(w)) {
            break;
        }
    }
    return NULL;
}

static int sel_append(struct buf *b, const char *key, const char *v)
{
    int rc;

    if (v == NULL || v[0] == '\0') {
        return PC_OK;
    }
    rc = buf_printf(b, "&%s=", key);
    return rc == PC_OK ? pct_encode(b, v, strlen(v)) : rc;
}

int k8s_watch_start(struct k8s_client *c, const struct k8s_watch_spec *spec,
                    struct k8s_watch **out)
{
    struct k8s_watch *w = calloc(1, sizeof(*w));
    struct buf sel;

    *out = NULL;
    if (w == NULL) {
        return PC_ENOMEM;
    }
    buf_init(&sel, 8192);
    if (sel_append(&sel, "labelSelector", spec->label_selector) != PC_OK ||
        sel_append(&sel, "fieldSelector", spec->field_selector) != PC_OK ||
        buf_putc(&sel, '\0') != PC_OK) {
        buf_free(&sel);
        free(w);
        return PC_ETOOBIG;
    }
    w->selectors = (char *)buf_take(&sel, NULL);
    w->client = c;
    w->path = strdup(spec->path);
    w->kind = strdup(spec->kind);
    w->log_id = strdup(spec->log_id != NULL ? spec->log_id : "kubernetes");
    w->rng = (uint64_t)clock_real_ns() | 1;
    atomic_init(&w->max_objects, spec->max_objects);
    w->trim = spec->trim;
    atomic_init(&w->stop, 0);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    if (w->selectors == NULL || w->path == NULL || w->kind == NULL ||
        w->log_id == NULL || pthread_create(&w->th, NULL, run, w) != 0) {
        free(w->selectors);
        free(w->path);
        free(w->kind);
        free(w->log_id);
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return PC_ENOMEM;
    }
    *out = w;
    return PC_OK;
}

void k8s_watch_stop(struct k8s_watch *w)
{
    if (w == NULL) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    atomic_store(&w->stop, 1);
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->th, NULL);
    json_decref(w->store);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->selectors);
    free(w->path);
    free(w->kind);
    free(w->log_id);
    free(w);
}

void k8s_watch_set_max(struct k8s_watch *w, uint32_t max)
{
    atomic_store(&w->max_objects, max);
}

uint64_t k8s_watch_gen(struct k8s_watch *w)
{
    uint64_t g;

    pthread_mutex_lock(&w->mu);
    g = w->gen;
    pthread_mutex_unlock(&w->mu);
    return g;
}

json_t *k8s_watch_snapshot(struct k8s_watch *w)
{
    json_t *s = NULL;

    pthread_mutex_lock(&w->mu);
    if (w->store != NULL) {
        s = json_copy(w->store); /* shallow: values are shared */
    }
    pthread_mutex_unlock(&w->mu);
    return s;
}

void k8s_watch_counts(struct k8s_watch *w, struct k8s_watch_counts *out)
{
    pthread_mutex_lock(&w->mu);
    *out = w->counts;
    pthread_mutex_unlock(&w->mu);
}
