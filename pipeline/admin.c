/*
 * admin.c: the admin HTTP server (see admin.h), on libevent's evhttp.
 *
 * Sockets are created and bound here rather than by evhttp_bind_socket()
 * so that a failure can name the address and the system's reason
 * (errno), which evhttp does not report. Each listening socket is then
 * handed to evhttp. A listener knows which routes it serves, so a shared
 * address serves both paths and separate addresses serve one each.
 */
#include "pipeline/admin.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "core/buf.h"
#include "net/connguard.h"
#include "net/listen.h"
#include "telemetry/metrics.h"

#define ROUTE_METRICS 1u
#define ROUTE_HEALTH 2u
#define ADMIN_METRICS_MAX ((size_t)64 << 20)

struct admin_listener {
    struct evhttp *http;
    struct connguard *guard;
    unsigned routes;
    uint16_t port;
    struct admin *admin;
};

struct admin {
    struct admin_listener l[2];
    int nl;
    struct metrics *metrics;
    atomic_int state;
};

static void reply(struct evhttp_request *req, int code, const char *reason,
                  const char *ctype, const void *body, size_t len)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", ctype);
    evbuffer_add(out, body, len);
    connguard_replied(NULL, req);
    evhttp_send_reply(req, code, reason, NULL);
}

static void reply_text(struct evhttp_request *req, int code,
                       const char *reason, const char *text)
{
    reply(req, code, reason, "text/plain; charset=utf-8", text, strlen(text));
}

static void serve_metrics(struct admin *a, struct evhttp_request *req)
{
    struct buf b;

    buf_init(&b, ADMIN_METRICS_MAX);
    if (metrics_render(a->metrics, &b) != PC_OK) {
        buf_free(&b);
        reply_text(req, 500, "Internal Server Error", "render failed\n");
        return;
    }
    reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8",
          b.data != NULL ? (const void *)b.data : "", b.len);
    buf_free(&b);
}

static void serve_health(struct admin *a, struct evhttp_request *req)
{
    static const char *const bodies[] = {
        "{\"status\":\"starting\"}\n",
        "{\"status\":\"ok\"}\n",
        "{\"status\":\"stopping\"}\n",
    };
    int st = atomic_load(&a->state);
    const char *body = bodies[st >= 0 && st <= 2 ? st : 0];

    if (st == ADMIN_STATE_RUNNING) {
        reply(req, 200, "OK", "application/json", body, strlen(body));
    } else {
        reply(req, 503, "Service Unavailable", "application/json", body,
              strlen(body));
    }
}

static void handle(struct evhttp_request *req, void *arg)
{
    struct admin_listener *l = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    unsigned route = 0;

    if (path != NULL && strcmp(path, "/metrics") == 0) {
        route = ROUTE_METRICS;
    } else if (path != NULL && strcmp(path, "/health") == 0) {
        route = ROUTE_HEALTH;
    }
    if ((route & l->routes) == 0) {
        reply_text(req, 404, "Not Found", "not found\n");
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        reply_text(req, 405, "Method Not Allowed", "method not allowed\n");
        return;
    }
    if (route == ROUTE_METRICS) {
        serve_metrics(l->admin, req);
    } else {
        serve_health(l->admin, req);
    }
}

/* Sets up one listener serving routes on addr. */
static int listener_open(struct admin *a, struct event_base *base,
                         const char *addr, unsigned routes, struct errctx *e)
{
    struct admin_listener *l = &a->l[a->nl];
    struct listen_set ls;
    int rc;

    rc = listen_open("admin", addr, 128, &ls, e);
    if (rc != PC_OK) {
        return rc;
    }
    l->http = evhttp_new(base);
    if (l->http == NULL) {
        listen_close(&ls);
        return err_set(e, PC_ENOMEM, "admin: evhttp_new failed");
    }
    l->routes = routes;
    l->admin = a;
    l->port = ls.port;
    a->nl++;
    /* Every method reaches the handler, which answers 405 itself (evhttp
     * would answer 501 for methods outside its allowed set). */
    evhttp_set_allowed_methods(l->http,
                               EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                   EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT |
                                   EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                   EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT |
                                   EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(l->http, 16384);
    evhttp_set_max_body_size(l->http, 4096);
    evhttp_set_timeout(l->http, 30);
    evhttp_set_gencb(l->http, handle, l);
    /* Its own small limits, outside the receivers' descriptor budget, so
     * /health answers when they are full. */
    return connguard_serve_local(base, l->http, "admin", &ls, &l->guard, e);
}

static int addr_set(const char *addr)
{
    return addr != NULL && addr[0] != '\0';
}

/* "localhost:8888" and "localhost:08888" are one address. Port 0 means
 * "any free port": shared only when both are spelled identically. */
static int same_addr(const char *x, const char *y)
{
    char hx[LISTEN_HOST_MAX], hy[LISTEN_HOST_MAX];
    uint16_t px, py;

    if (!addr_set(x) || !addr_set(y)) {
        return 0;
    }
    if (listen_addr_parse(x, hx, sizeof(hx), &px, NULL) != PC_OK ||
        listen_addr_parse(y, hy, sizeof(hy), &py, NULL) != PC_OK) {
        return strcmp(x, y) == 0;
    }
    return px == py && (px != 0 || strcmp(x, y) == 0) && strcmp(hx, hy) == 0;
}

int admin_start(struct event_base *base, const char *metrics_addr,
                const char *health_addr, struct metrics *m, struct admin **out,
                struct errctx *e)
{
    struct admin *a;
    int rc = PC_OK;
    int shared = same_addr(metrics_addr, health_addr);

    *out = NULL;
    if (base == NULL || (addr_set(metrics_addr) && m == NULL)) {
        return err_set(e, PC_EINVAL, "admin: missing event base or registry");
    }
    a = calloc(1, sizeof(*a));
    if (a == NULL) {
        return err_set(e, PC_ENOMEM, "admin: out of memory");
    }
    a->metrics = m;
    atomic_init(&a->state, ADMIN_STATE_STARTING);
    if (addr_set(metrics_addr)) {
        rc = listener_open(a, base, metrics_addr,
                           shared ? ROUTE_METRICS | ROUTE_HEALTH
                                  : ROUTE_METRICS,
                           e);
    }
    if (rc == PC_OK && addr_set(health_addr) && !shared) {
        rc = listener_open(a, base, health_addr, ROUTE_HEALTH, e);
    }
    if (rc != PC_OK) {
        admin_stop(a);
        return rc;
    }
    *out = a;
    return PC_OK;
}

void admin_set_state(struct admin *a, enum admin_state state)
{
    if (a != NULL) {
        atomic_store(&a->state, (int)state);
    }
}

void admin_stop(struct admin *a)
{
    int i;

    if (a == NULL) {
        return;
    }
    for (i = 0; i < a->nl; i++) {
        connguard_free(a->l[i].guard);
        if (a->l[i].http != NULL) {
            evhttp_free(a->l[i].http);
        }
    }
    free(a);
}

static uint16_t port_for(const struct admin *a, unsigned route)
{
    int i;

    for (i = 0; a != NULL && i < a->nl; i++) {
        if (a->l[i].routes & route) {
            return a->l[i].port;
        }
    }
    return 0;
}

uint16_t admin_metrics_port(const struct admin *a)
{
    return port_for(a, ROUTE_METRICS);
}

uint16_t admin_health_port(const struct admin *a)
{
    return port_for(a, ROUTE_HEALTH);
}
