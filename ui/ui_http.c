/*
 * ui_http.c: the status page's HTTP server (libevent's evhttp on the main
 * loop): GET / (the page), GET /api/... (ui_api.c); nothing else. Answers
 * are built on the process's worker threads (net/workpool) in a bounded
 * buffer and sent from the loop; a bad query parameter is a 400 that says
 * which.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sys/queue.h>

#include "component/batch.h"
#include "net/connguard.h"
#include "net/listen.h"
#include "net/workpool.h"
#include "ui/ui_int.h"

/* Longest request URI taken (query parameters included). */
#define UI_URI_MAX 4096

const char *ui_param(const struct evkeyvalq *q, const char *key)
{
    return evhttp_find_header(q, key);
}

static void ui_reply(struct evhttp_request *req, int code, const char *reason,
                     const char *ctype, const void *body, size_t len)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", ctype);
    evhttp_add_header(h, "Cache-Control", "no-store");
    /* Nothing on the page may come from elsewhere. */
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'unsafe-inline'; "
                      "style-src 'unsafe-inline'; img-src 'self'; "
                      "connect-src 'self'; form-action 'self'");
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    connguard_replied(NULL, req);
    evhttp_send_reply(req, code, reason, NULL);
}

static void ui_reply_error(struct evhttp_request *req, int rc,
                           const struct errctx *e)
{
    const char *msg = err_msg(e, rc);
    char body[320];
    int n;

    n = snprintf(body, sizeof(body), "%s\n", msg);
    if (rc == PC_ENOTFOUND) {
        ui_reply(req, 404, "Not Found", "text/plain; charset=utf-8", body,
                 (size_t)n);
    } else if (rc == PC_EINVAL) {
        ui_reply(req, 400, "Bad Request", "text/plain; charset=utf-8", body,
                 (size_t)n);
    } else {
        ui_reply(req, 500, "Internal Server Error",
                 "text/plain; charset=utf-8", body, (size_t)n);
    }
}

/* A request on its way through a worker: the page or an /api/ answer is
 * built there (merging flame graph slots and rendering take milliseconds
 * to seconds, never on the loop), and sent from the loop. */
struct ui_job {
    struct workpool_job wj; /* first: the pool's job is this */
    struct ui *u;
    struct evhttp_request *req; /* loop only */
    char *path;
    struct evkeyvalq q;
    struct buf out;
    const char *ctype;
    struct errctx e;
    int rc;
};

static void ui_job_free(struct ui_job *j)
{
    evhttp_clear_headers(&j->q);
    buf_free(&j->out);
    free(j->path);
    free(j);
}

/* Worker. */
static void ui_job_run(struct workpool_job *wj)
{
    struct ui_job *j = (struct ui_job *)wj;

    if (strcmp(j->path, "/") == 0) {
        j->rc = ui_page(j->u, &j->q, &j->out, &j->e);
    } else {
        j->rc = ui_api(j->u, j->path + 5, &j->q, &j->out, &j->ctype, &j->e);
    }
}

/* Loop: the answer is ready (or the job was dropped: stopping). */
static void ui_job_done(struct workpool_job *wj)
{
    struct ui_job *j = (struct ui_job *)wj;

    if (wj->cancelled) {
        ui_reply(j->req, 503, "Service Unavailable", "text/plain",
                 "stopping\n", 9);
    } else if (j->rc == PC_OK) {
        ui_reply(j->req, 200, "OK", j->ctype,
                 j->out.data != NULL ? (const void *)j->out.data : "",
                 j->out.len);
    } else {
        ui_reply_error(j->req, j->rc, &j->e);
    }
    ui_job_free(j);
}

/* Loop: a job for path with its query parsed, or NULL (*bad: the query
 * is malformed). */
static struct ui_job *ui_job_new(struct ui *u, struct evhttp_request *req,
                                 const char *path, const char *query, int *bad)
{
    struct ui_job *j = calloc(1, sizeof(*j));

    *bad = 0;
    if (j == NULL) {
        return NULL;
    }
    TAILQ_INIT(&j->q);
    buf_init(&j->out, UI_PAGE_MAX);
    j->u = u;
    j->req = req;
    j->ctype = "text/html; charset=utf-8";
    j->wj.run = ui_job_run;
    j->wj.done = ui_job_done;
    j->path = strdup(path);
    if (query != NULL && evhttp_parse_query_str(query, &j->q) != 0) {
        *bad = 1;
    }
    if (j->path == NULL || *bad) {
        ui_job_free(j);
        return NULL;
    }
    return j;
}

static void ui_handle(struct evhttp_request *req, void *arg)
{
    struct ui *u = arg;
    const char *uri = evhttp_request_get_uri(req);
    const struct evhttp_uri *pu = evhttp_request_get_evhttp_uri(req);
    const char *path = pu != NULL ? evhttp_uri_get_path(pu) : NULL;
    const char *query = pu != NULL ? evhttp_uri_get_query(pu) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    struct ui_job *j;
    int bad;

    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        ui_reply(req, 405, "Method Not Allowed", "text/plain", "", 0);
        return;
    }
    if (path == NULL || uri == NULL || strlen(uri) > UI_URI_MAX) {
        ui_reply(req, 414, "URI Too Long", "text/plain", "", 0);
        return;
    }
    if (strcmp(path, "/") != 0 && strncmp(path, "/api/", 5) != 0) {
        ui_reply(req, 404, "Not Found", "text/plain", "not found\n", 10);
        return;
    }
    j = ui_job_new(u, req, path, query, &bad);
    if (j == NULL) {
        ui_reply(req, bad ? 400 : 500, bad ? "Bad Request" : "Error",
                 "text/plain", bad ? "malformed query\n" : "out of memory\n",
                 bad ? 16 : 14);
        return;
    }
    if (workpool_submit(u->wp, &j->wj) != PC_OK) {
        /* Every worker is taken and the backlog is full: retry. */
        ui_job_free(j);
        evhttp_add_header(evhttp_request_get_output_headers(req),
                          "Retry-After", "1");
        ui_reply(req, 503, "Service Unavailable", "text/plain", "busy\n", 5);
    }
}

int ui_start(struct event_base *base, const struct ui_config *c,
             struct metrics *m, struct ui **out, struct errctx *e)
{
    struct listen_set ls;
    struct ui *u;
    int rc;

    *out = NULL;
    if (c->address == NULL || c->address[0] == '\0') {
        return PC_OK;
    }
    u = calloc(1, sizeof(*u));
    if (u == NULL) {
        return err_set(e, PC_ENOMEM, "ui: out of memory");
    }
    u->metrics = m;
    pthread_mutex_init(&u->pl_mu, NULL);
    rc = ui_store_new(c->retention_ms, (size_t)c->max_bytes, &u->store);
    if (rc != PC_OK) {
        free(u);
        return err_set(e, rc, "ui: cannot start the flame graph store");
    }
    rc = workpool_open(base, &u->wp, e);
    if (rc != PC_OK) {
        ui_stop(u);
        return rc;
    }
    rc = listen_open("ui", c->address, 128, &ls, e);
    if (rc != PC_OK) {
        ui_stop(u);
        return rc;
    }
    u->port = ls.port;
    u->http = evhttp_new(base);
    if (u->http == NULL) {
        listen_close(&ls);
        ui_stop(u);
        return err_set(e, PC_ENOMEM, "ui: evhttp_new failed");
    }
    evhttp_set_allowed_methods(u->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE);
    evhttp_set_max_headers_size(u->http, 16384);
    evhttp_set_max_body_size(u->http, 4096);
    evhttp_set_timeout(u->http, 30);
    evhttp_set_gencb(u->http, ui_handle, u);
    /* Limits as the admin server's, outside the receivers' budget. */
    rc = connguard_serve_local(base, u->http, "ui", &ls, &u->guard, e);
    if (rc != PC_OK) {
        ui_stop(u);
        return err_set(e, rc, "ui: cannot serve on %s", c->address);
    }
    log_set_tap(ui_errors_tap);
    *out = u;
    return PC_OK;
}

static void ui_free_pipelines(struct ui *u)
{
    uint32_t i, k;

    for (i = 0; i < u->npl; i++) {
        struct ui_pipeline *p = &u->pl[i];
        const char *const *lists[3] = {p->receivers, p->processors,
                                       p->exporters};
        uint32_t counts[3] = {p->nreceivers, p->nprocessors, p->nexporters};
        int l;
        for (l = 0; l < 3; l++) {
            for (k = 0; k < counts[l]; k++) {
                free((char *)lists[l][k]);
            }
            free((void *)lists[l]);
        }
        free((char *)p->id);
    }
    free(u->pl);
    u->pl = NULL;
    u->npl = 0;
}

void ui_stop(struct ui *u)
{
    if (u == NULL) {
        return;
    }
    log_set_tap(NULL);
    /* Answers being built finish and are sent first: they use the store,
     * the pipelines and their requests. */
    workpool_close(u->wp);
    connguard_free(u->guard);
    if (u->http != NULL) {
        evhttp_free(u->http);
    }
    ui_store_free(u->store);
    ui_free_pipelines(u);
    pthread_mutex_destroy(&u->pl_mu);
    free(u);
}

/* A copy of the id list, or NULL (n == 0 gives a valid empty list). */
static const char *const *ui_copy_ids(const char *const *ids, uint32_t n)
{
    char **v = calloc((size_t)n + 1, sizeof(*v));
    uint32_t i;

    for (i = 0; v != NULL && i < n; i++) {
        v[i] = strdup(ids[i]);
        if (v[i] == NULL) {
            while (i-- > 0) {
                free(v[i]);
            }
            free(v);
            return NULL;
        }
    }
    return (const char *const *)v;
}

static int ui_copy_pipelines(struct ui *u, const struct ui_pipeline *p,
                             uint32_t n);

int ui_set_pipelines(struct ui *u, const struct ui_pipeline *p, uint32_t n)
{
    int rc = PC_OK;

    if (u == NULL) {
        return PC_OK;
    }
    pthread_mutex_lock(&u->pl_mu);
    rc = ui_copy_pipelines(u, p, n);
    pthread_mutex_unlock(&u->pl_mu);
    return rc;
}

/* Replaces u's pipelines with copies of p[0..n) (pl_mu held). */
static int ui_copy_pipelines(struct ui *u, const struct ui_pipeline *p,
                             uint32_t n)
{
    uint32_t i;

    ui_free_pipelines(u);
    u->pl = calloc((size_t)n + 1, sizeof(*u->pl));
    if (u->pl == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        struct ui_pipeline *d = &u->pl[u->npl++];
        d->id = strdup(p[i].id);
        d->receivers = ui_copy_ids(p[i].receivers, p[i].nreceivers);
        d->nreceivers = d->receivers != NULL ? p[i].nreceivers : 0;
        d->processors = ui_copy_ids(p[i].processors, p[i].nprocessors);
        d->nprocessors = d->processors != NULL ? p[i].nprocessors : 0;
        d->exporters = ui_copy_ids(p[i].exporters, p[i].nexporters);
        d->nexporters = d->exporters != NULL ? p[i].nexporters : 0;
        if (d->id == NULL || d->receivers == NULL || d->processors == NULL ||
            d->exporters == NULL) {
            ui_free_pipelines(u);
            return PC_ENOMEM;
        }
    }
    return PC_OK;
}

void ui_offer(struct ui *u, const char *pipeline, struct batch *b)
{
    if (u != NULL) {
        ui_store_offer(u->store, pipeline, b);
    }
}
