/*
 * test_admin.c: the admin HTTP server on loopback: /metrics and /health
 * through a small blocking client, health state changes, 404 and 405,
 * separate and shared listeners, a disabled endpoint, bind errors and
 * address parsing. The event loop runs on its own thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "pipeline/admin.h"
#include "net/listen.h"
#include "telemetry/metrics.h"

struct server {
    struct event_base *base;
    struct metrics *metrics;
    struct mscope *scope;
    struct admin *admin;
    struct event *stop;
    pthread_t loop;
};

struct response {
    int status;
    char headers[2048];
    char body[65536];
};

static void *loop_main(void *arg)
{
    struct server *s = arg;

    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    return NULL;
}

/* Runs on the loop thread. An activated event stays pending until the
 * loop runs it, so stopping works even before the loop has started
 * (event_base_loopbreak() then would be forgotten). */
static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static int server_up(struct server *s, const char *maddr, const char *haddr,
                     struct errctx *e)
{
    int rc;

    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    assert_non_null(s->base);
    s->metrics = metrics_new();
    assert_non_null(s->metrics);
    s->scope = mscope_new(s->metrics, NULL);
    assert_non_null(s->scope);
    rc = admin_start(s->base, maddr, haddr, s->metrics, &s->admin, e);
    if (rc != 0) {
        return rc;
    }
    s->stop = event_new(s->base, -1, 0, stop_cb, s->base);
    assert_non_null(s->stop);
    assert_int_equal(pthread_create(&s->loop, NULL, loop_main, s), 0);
    return 0;
}

static void server_down(struct server *s)
{
    if (s->admin != NULL) {
        event_active(s->stop, EV_READ, 0);
        pthread_join(s->loop, NULL);
        event_free(s->stop);
        admin_stop(s->admin);
    }
    mscope_free(s->scope);
    metrics_free(s->metrics);
    event_base_free(s->base);
}

static void copy_text(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    assert_true(n < cap);
    memcpy(dst, src, n + 1);
}

/* One HTTP/1.0 exchange with 127.0.0.1:port; the server closes after the
 * reply, so the response is everything read until EOF. */
static void http(uint16_t port, const char *method, const char *path,
                 struct response *r)
{
    struct sockaddr_in sa;
    struct timeval tv = {5, 0};
    char req[512], raw[sizeof(r->headers) + sizeof(r->body)];
    size_t len = 0;
    ssize_t n;
    char *split;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    snprintf(req, sizeof(req), "%s %s HTTP/1.0\r\nHost: test\r\n\r\n", method,
             path);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    while (len < sizeof(raw) - 1 &&
           (n = read(fd, raw + len, sizeof(raw) - 1 - len)) > 0) {
        len += (size_t)n;
    }
    close(fd);
    raw[len] = '\0';
    memset(r, 0, sizeof(*r));
    assert_int_equal(sscanf(raw, "HTTP/1.%*d %d", &r->status), 1);
    split = strstr(raw, "\r\n\r\n");
    assert_non_null(split);
    *split = '\0';
    copy_text(r->headers, sizeof(r->headers), raw);
    copy_text(r->body, sizeof(r->body), split + 4);
}

static const char *header(const struct response *r, const char *name)
{
    static char value[256];
    const char *p = r->headers;
    size_t n = strlen(name);

    while ((p = strstr(p, "\r\n")) != NULL) {
        p += 2;
        if (strncasecmp(p, name, n) == 0 && p[n] == ':') {
            const char *v = p + n + 1, *end = strstr(v, "\r\n");
            size_t vn = end != NULL ? (size_t)(end - v) : strlen(v);

            while (*v == ' ') {
                v++;
                vn--;
            }
            snprintf(value, sizeof(value), "%.*s", (int)vn, v);
            return value;
        }
    }
    return NULL;
}

static void test_shared_listener(void **state)
{
    struct server s;
    struct errctx e = {""};
    struct response *r = malloc(sizeof(*r));
    uint16_t port;

    (void)state;
    assert_non_null(r);
    assert_int_equal(server_up(&s, "127.0.0.1:0", "127.0.0.1:0", &e), 0);
    port = admin_metrics_port(s.admin);
    assert_true(port != 0);
    assert_int_equal(admin_health_port(s.admin), port);
    mcounter_add(mscope_counter(s.scope, "profcol_test_requests", "h", "path",
                                "/x", NULL),
                 5);

    http(port, "GET", "/health", r);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->body, "{\"status\":\"starting\"}\n");
    assert_string_equal(header(r, "Content-Type"), "application/json");

    admin_set_state(s.admin, ADMIN_STATE_RUNNING);
    http(port, "GET", "/health", r);
    assert_int_equal(r->status, 200);
    assert_string_equal(r->body, "{\"status\":\"ok\"}\n");

    admin_set_state(s.admin, ADMIN_STATE_STOPPING);
    http(port, "GET", "/health", r);
    assert_int_equal(r->status, 503);
    assert_string_equal(r->body, "{\"status\":\"stopping\"}\n");

    http(port, "GET", "/metrics", r);
    assert_int_equal(r->status, 200);
    assert_string_equal(header(r, "Content-Type"),
                        "text/plain; version=0.0.4; charset=utf-8");
    assert_non_null(strstr(r->body, "# TYPE profcol_build_info gauge\n"));
    assert_non_null(strstr(r->body,
                           "\nprofcol_test_requests_total{path=\"/x\"} 5\n"));
    assert_non_null(strstr(r->body, "profcol_process_memory_rss_bytes "));

    /* A query string does not change the route. */
    http(port, "GET", "/metrics?name=x", r);
    assert_int_equal(r->status, 200);

    http(port, "GET", "/", r);
    assert_int_equal(r->status, 404);
    http(port, "GET", "/metricsx", r);
    assert_int_equal(r->status, 404);
    http(port, "POST", "/metrics", r);
    assert_int_equal(r->status, 405);
    assert_string_equal(header(r, "Allow"), "GET, HEAD");
    http(port, "DELETE", "/health", r);
    assert_int_equal(r->status, 405);
    http(port, "HEAD", "/health", r);
    assert_int_equal(r->status, 503);

    server_down(&s);
    free(r);
}

/* A port that was free a moment ago. */
static uint16_t free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    close(fd);
    return ntohs(sa.sin_port);
}

static void test_separate_listeners(void **state)
{
    struct server s;
    struct errctx e = {""};
    struct response *r = malloc(sizeof(*r));
    char haddr[64];
    uint16_t mport, hport, want = free_port();

    (void)state;
    assert_non_null(r);
    snprintf(haddr, sizeof(haddr), "127.0.0.1:%u", (unsigned)want);
    assert_int_equal(server_up(&s, "127.0.0.1:0", haddr, &e), 0);
    mport = admin_metrics_port(s.admin);
    hport = admin_health_port(s.admin);
    assert_true(mport != 0 && hport != 0 && mport != hport);
    assert_int_equal(hport, want);
    admin_set_state(s.admin, ADMIN_STATE_RUNNING);

    http(mport, "GET", "/metrics", r);
    assert_int_equal(r->status, 200);
    http(mport, "GET", "/health", r);
    assert_int_equal(r->status, 404);
    http(hport, "GET", "/health", r);
    assert_int_equal(r->status, 200);
    http(hport, "GET", "/metrics", r);
    assert_int_equal(r->status, 404);

    server_down(&s);
    free(r);
}

static void test_disabled_endpoint(void **state)
{
    struct server s;
    struct errctx e = {""};
    struct response *r = malloc(sizeof(*r));

    (void)state;
    assert_non_null(r);
    assert_int_equal(server_up(&s, "", "127.0.0.1:0", &e), 0);
    assert_int_equal(admin_metrics_port(s.admin), 0);
    http(admin_health_port(s.admin), "GET", "/metrics", r);
    assert_int_equal(r->status, 404);
    server_down(&s);

    assert_int_equal(server_up(&s, NULL, NULL, &e), 0);
    assert_int_equal(admin_metrics_port(s.admin), 0);
    assert_int_equal(admin_health_port(s.admin), 0);
    server_down(&s);
    free(r);
}

static void test_bind_error(void **state)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    struct server s;
    struct errctx e = {""};
    char addr[64];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int rc;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(sa.sin_port));

    /* The health address is taken: the metrics listener must not stay
     * open either. */
    rc = server_up(&s, "127.0.0.1:0", addr, &e);
    assert_true(rc < 0);
    assert_null(s.admin);
    assert_non_null(strstr(e.msg, addr));
    assert_non_null(strstr(e.msg, "Address already in use"));
    server_down(&s);

    rc = server_up(&s, "nonsense", "", &e);
    assert_true(rc < 0);
    assert_non_null(strstr(e.msg, "nonsense"));
    server_down(&s);
    close(fd);
}

static void test_all_interfaces(void **state)
{
    struct server s;
    struct errctx e = {""};
    struct response *r = malloc(sizeof(*r));

    (void)state;
    assert_non_null(r);
    assert_int_equal(server_up(&s, ":0", "", &e), 0);
    assert_true(admin_metrics_port(s.admin) != 0);
    http(admin_metrics_port(s.admin), "GET", "/metrics", r);
    assert_int_equal(r->status, 200);
    server_down(&s);
    free(r);
}

static void test_addr_parse(void **state)
{
    char host[64];
    uint16_t port = 1;
    struct errctx e;
    const char *bad[] = {"",           "8888",    "::1:80",  "host:",
                         "host:70000", "host:-1", "host:+1", "host:8a",
                         "[::1]8080",  "[::1:80"};
    size_t i;

    (void)state;
    assert_int_equal(listen_addr_parse("localhost:8888", host, sizeof(host),
                                       &port, &e),
                     0);
    assert_string_equal(host, "localhost");
    assert_int_equal(port, 8888);
    assert_int_equal(listen_addr_parse("[::1]:9090", host, sizeof(host), &port,
                                       &e),
                     0);
    assert_string_equal(host, "::1");
    assert_int_equal(port, 9090);
    assert_int_equal(listen_addr_parse(":13133", host, sizeof(host), &port,
                                       &e),
                     0);
    assert_string_equal(host, "");
    assert_int_equal(port, 13133);
    assert_int_equal(listen_addr_parse("0.0.0.0:0", host, sizeof(host), &port,
                                       &e),
                     0);
    assert_int_equal(port, 0);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (listen_addr_parse(bad[i], host, sizeof(host), &port, &e) == 0) {
            fail_msg("\"%s\" was accepted", bad[i]);
        }
    }
    assert_true(listen_addr_parse("a-very-long-host-name:1", host, 8, &port,
                                  &e) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_listener),
        cmocka_unit_test(test_separate_listeners),
        cmocka_unit_test(test_disabled_endpoint),
        cmocka_unit_test(test_bind_error),
        cmocka_unit_test(test_all_interfaces),
        cmocka_unit_test(test_addr_parse),
    };

    /* The loop runs on another thread than the one that breaks it. */
    evthread_use_pthreads();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
