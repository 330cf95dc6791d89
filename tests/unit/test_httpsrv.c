/*
 * test_httpsrv.c: the shared HTTP server on loopback, driven by libcurl
 * from the test thread while the event loop runs on its own thread: routing
 * (404/405), bodies (plain, chunked, gzip, zstd), the body cap (413 with a
 * Content-Length and chunked), decompression bombs (413), unknown encodings
 * (415), corrupt gzip (400), raw-body routes, bearer auth (401), query
 * decoding, JSON error bodies, and TLS with and without client
 * certificates (certificates made with the openssl tool when present).
 * Handlers run on worker threads: a slow one holds up neither the loop nor
 * the other requests, a client that hangs up before its answer costs
 * nothing, and stopping waits for the handlers still running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "core/buf.h"
#include "codec/compress.h"
#include "net/httpsrv.h"
#include "net/workpool.h"

struct server {
    struct event_base *base;
    struct httpsrv *srv;
    struct event *stop;
    pthread_t loop;
};

struct response {
    long status;
    struct buf body;
};

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t park_cv = PTHREAD_COND_INITIALIZER;
static int loop_done;

/* After its loop ends the thread parks until the process exits instead of
 * exiting: the gzip decoder keeps a per-thread decompressor that is only
 * released with the process, and a live thread keeps it reachable for the
 * leak checker. */
static void *loop_main(void *arg)
{
    struct server *s = arg;

    event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    pthread_mutex_lock(&park_mu);
    loop_done++;
    pthread_cond_broadcast(&park_cv);
    for (;;) {
        pthread_cond_wait(&park_cv, &park_mu);
    }
    return NULL;
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

/* Echo handler: answers "<len>:<first bytes>|q=<param>" so tests see what
 * the handler got. */
static void echo(struct httpsrv_req *req, void *arg)
{
    char out[512], q[64];
    const char *v = httpsrv_query_param(req, "q", q, sizeof(q));
    size_t show = req->body_len < 32 ? req->body_len : 32;
    int n;

    (void)arg;
    n = snprintf(out, sizeof(out), "%zu:%.*s|q=%s|wire=%zu|ct=%s",
                 req->body_len, (int)show, (const char *)req->body,
                 v != NULL ? v : "(none)", req->wire_len, req->content_type);
    httpsrv_reply(req, 200, "text/plain", out, (size_t)n);
}

/* Takes the body when the server inflated it: "taken=1 again=0 same=1
 * N:text" (a second take gives nothing, the body is what was taken),
 * "taken=0 ..." for a body it did not inflate. It runs on a worker
 * thread: what it finds goes into the reply, the test asserts on that. */
static void take(struct httpsrv_req *req, void *arg)
{
    char out[128];
    size_t n = 0, m = 0;
    uint8_t *mine = httpsrv_take_body(req, &n);
    uint8_t *again = httpsrv_take_body(req, &m);
    int k;

    (void)arg;
    k = snprintf(out, sizeof(out), "taken=%d again=%d same=%d %zu:%.*s",
                 mine != NULL, again != NULL,
                 mine == NULL || (mine == req->body && n == req->body_len),
                 req->body_len, (int)(req->body_len < 16 ? req->body_len : 16),
                 (const char *)req->body);
    free(mine);
    free(again);
    httpsrv_reply(req, 200, "text/plain", out, (size_t)k);
}

static void fail_json(struct httpsrv_req *req, void *arg)
{
    (void)arg;
    httpsrv_reply_json_error(req, 422, "unknown", "bad \"thing\"\n%d", 7);
}

/* How long the slow handlers take: a large body's decode, exaggerated. */
#define SLOW_MS 1500

static atomic_int slow_ran, then_ran;

static void slow(struct httpsrv_req *req, void *arg)
{
    (void)arg;
    usleep(SLOW_MS * 1000);
    atomic_fetch_add(&slow_ran, 1);
    httpsrv_reply(req, 200, "text/plain", "slow", 4);
}

/* Loop thread: the continuation of slow_then. */
static void slow_then_loop(struct httpsrv_req *req, void *arg)
{
    (void)arg;
    atomic_fetch_add(&then_ran, 1);
    httpsrv_reply(req, 200, "text/plain", "then", 4);
}

static void slow_then(struct httpsrv_req *req, void *arg)
{
    (void)arg;
    usleep(SLOW_MS * 1000);
    httpsrv_then(req, slow_then_loop, NULL);
}

static void server_up(struct server *s, struct httpsrv_cfg *cfg)
{
    struct errctx e = {{0}};
    int rc;

    memset(s, 0, sizeof(*s));
    s->base = event_base_new();
    assert_non_null(s->base);
    rc = httpsrv_start(s->base, cfg, "receiver/test", &s->srv, &e);
    if (rc != 0) {
        fail_msg("httpsrv_start: %s", e.msg);
    }
    assert_int_equal(httpsrv_route(s->srv, "/echo", 0, echo, NULL), 0);
    assert_int_equal(httpsrv_route(s->srv, "/get", HTTPSRV_ALLOW_GET, echo,
                                   NULL),
                     0);
    assert_int_equal(httpsrv_route(s->srv, "/raw", HTTPSRV_RAW_BODY, echo,
                                   NULL),
                     0);
    assert_int_equal(httpsrv_route(s->srv, "/fail", 0, fail_json, NULL), 0);
    assert_int_equal(httpsrv_route(s->srv, "/take", 0, take, NULL), 0);
    assert_int_equal(httpsrv_route(s->srv, "/slow", 0, slow, NULL), 0);
    assert_int_equal(httpsrv_route(s->srv, "/slowthen", 0, slow_then, NULL),
                     0);
    assert_int_not_equal(httpsrv_route(s->srv, "/echo", 0, echo, NULL), 0);
    s->stop = event_new(s->base, -1, 0, stop_cb, s->base);
    assert_non_null(s->stop);
    assert_int_equal(pthread_create(&s->loop, NULL, loop_main, s), 0);
}

static void server_down(struct server *s)
{
    int target;

    pthread_mutex_lock(&park_mu);
    target = loop_done + 1;
    pthread_mutex_unlock(&park_mu);
    event_active(s->stop, EV_READ, 0);
    pthread_mutex_lock(&park_mu);
    while (loop_done < target) {
        pthread_cond_wait(&park_cv, &park_mu);
    }
    pthread_mutex_unlock(&park_mu);
    pthread_detach(s->loop);
    event_free(s->stop);
    httpsrv_stop(s->srv);
    event_base_free(s->base);
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg)
{
    struct buf *b = arg;

    buf_append(b, p, sz * n);
    return sz * n;
}

/* Sends one request; chunked when len is (size_t)-1 is not wanted, so a
 * separate flag says so. */
static void request(const char *url, const char *method, const void *body,
                    size_t len, int chunked, struct curl_slist *hdrs,
                    const char *certs, struct response *r)
{
    CURL *c = curl_easy_init();
    char cafile[600], cert[600], key[600];

    assert_non_null(c);
    memset(r, 0, sizeof(*r));
    buf_init(&r->body, 1 << 20);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &r->body);
    if (chunked) {
        hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
    }
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        if (!chunked) {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        } else {
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
        }
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    if (certs != NULL) {
        snprintf(cafile, sizeof(cafile), "%s/ca.pem", certs);
        curl_easy_setopt(c, CURLOPT_CAINFO, cafile);
        if (strstr(url, "withcert") != NULL) {
            snprintf(cert, sizeof(cert), "%s/client.pem", certs);
            snprintf(key, sizeof(key), "%s/client.key", certs);
            curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
            curl_easy_setopt(c, CURLOPT_SSLKEY, key);
        }
    }
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    } else {
        r->status = -1;
    }
    buf_putc(&r->body, 0);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
}

static void url_for(char *out, size_t n, const struct server *s,
                    const char *scheme, const char *path)
{
    snprintf(out, n, "%s://localhost:%u%s", scheme,
             (unsigned)httpsrv_port(s->srv), path);
}

static struct httpsrv_cfg default_cfg(void)
{
    struct httpsrv_cfg cfg;

    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint = "localhost:0";
    cfg.max_request_body_size = 4096;
    cfg.max_decompressed_size = 100000;
    return cfg;
}

static void test_routes_and_methods(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    struct response r;
    char url[256];

    (void)state;
    server_up(&s, &cfg);
    assert_true(httpsrv_port(s.srv) > 0);
    url_for(url, sizeof(url), &s, "http", "/echo?q=a%20b+c&q=second");
    request(url, "POST", "hello", 5, 0,
            curl_slist_append(NULL, "Content-Type: text/plain"), NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body.data,
                        "5:hello|q=a b c|wire=5|ct=text/plain");
    buf_free(&r.body);

    url_for(url, sizeof(url), &s, "http", "/nope");
    request(url, "POST", "x", 1, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr((char *)r.body.data, "\"code\":\"not_found\""));
    buf_free(&r.body);

    url_for(url, sizeof(url), &s, "http", "/echo");
    request(url, "GET", NULL, 0, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    buf_free(&r.body);
    request(url, "PUT", NULL, 0, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 405);
    buf_free(&r.body);

    url_for(url, sizeof(url), &s, "http", "/get?z=1");
    request(url, "GET", NULL, 0, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal((char *)r.body.data, "0:|q=(none)|wire=0|ct=");
    buf_free(&r.body);

    url_for(url, sizeof(url), &s, "http", "/fail");
    request(url, "POST", "", 0, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 422);
    assert_string_equal((char *)r.body.data,
                        "{\"code\":\"unknown\",\"message\":\"bad \\\"thing\\\""
                        "\\n7\"}");
    buf_free(&r.body);
    server_down(&s);
}

static void test_body_caps(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    struct response r;
    char url[256], *big = malloc(8192);

    (void)state;
    memset(big, 'a', 8192);
    server_up(&s, &cfg);
    url_for(url, sizeof(url), &s, "http", "/echo");
    request(url, "POST", big, 4096, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    buf_free(&r.body);
    request(url, "POST", big, 4097, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 413);
    buf_free(&r.body);
    /* Chunked: evhttp counts the chunks against the same cap. */
    request(url, "POST", big, 3000, 1, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp((char *)r.body.data, "3000:", 5) == 0);
    buf_free(&r.body);
    request(url, "POST", big, 8192, 1, NULL, NULL, &r);
    assert_true(r.status == 413 || r.status == -1);
    buf_free(&r.body);
    /* Still serving after the refusals. */
    request(url, "POST", "ok", 2, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    buf_free(&r.body);
    free(big);
    server_down(&s);
}

static void test_encodings(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    struct response r;
    struct buf gz, zs, bomb;
    char url[256], *zeros = calloc(1, 200000);
    const char *text = "the quick brown fox jumps over the lazy dog";

    (void)state;
    server_up(&s, &cfg);
    buf_init(&gz, 0);
    buf_init(&zs, 0);
    buf_init(&bomb, 0);
    assert_int_equal(gz_compress((const uint8_t *)text, strlen(text), &gz, 6),
                     0);
    assert_int_equal(zstd_compress((const uint8_t *)text, strlen(text), &zs,
                                   3),
                     0);
    assert_int_equal(gz_compress((const uint8_t *)zeros, 200000, &bomb, 9), 0);
    assert_true(bomb.len < 4096);

    url_for(url, sizeof(url), &s, "http", "/echo");
    request(url, "POST", gz.data, gz.len, 0,
            curl_slist_append(NULL, "Content-Encoding: gzip"), NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp((char *)r.body.data, "43:the quick brown fox jumps ov",
                        31) == 0);
    buf_free(&r.body);
    request(url, "POST", zs.data, zs.len, 0,
            curl_slist_append(NULL, "Content-Encoding: zstd"), NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp((char *)r.body.data, "43:the quick", 12) == 0);
    buf_free(&r.body);
    /* An inflated body can be taken instead of copied; a plain one not. */
    url_for(url, sizeof(url), &s, "http", "/take");
    request(url, "POST", gz.data, gz.len, 0,
            curl_slist_append(NULL, "Content-Encoding: gzip"), NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp((char *)r.body.data,
                        "taken=1 again=0 same=1 43:the quick brown", 41) == 0);
    buf_free(&r.body);
    request(url, "POST", text, strlen(text), 0, NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp((char *)r.body.data,
                        "taken=0 again=0 same=1 43:the quick brown", 41) == 0);
    buf_free(&r.body);
    url_for(url, sizeof(url), &s, "http", "/echo");
    request(url, "POST", bomb.data, bomb.len, 0,
            curl_slist_append(NULL, "Content-Encoding: gzip"), NULL, &r);
    assert_int_equal(r.status, 413);
    assert_non_null(strstr((char *)r.body.data,
                           "decompressed body exceeds max_decompressed_size"));
    buf_free(&r.body);
    request(url, "POST", "nope", 4, 0,
            curl_slist_append(NULL, "Content-Encoding: br"), NULL, &r);
    assert_int_equal(r.status, 415);
    assert_non_null(strstr((char *)r.body.data, "br"));
    buf_free(&r.body);
    request(url, "POST", "\x1f\x8b garbage", 10, 0,
            curl_slist_append(NULL, "Content-Encoding: gzip"), NULL, &r);
    assert_int_equal(r.status, 400);
    buf_free(&r.body);
    /* A raw-body route sees the compressed bytes. */
    url_for(url, sizeof(url), &s, "http", "/raw");
    request(url, "POST", gz.data, gz.len, 0,
            curl_slist_append(NULL, "Content-Encoding: gzip"), NULL, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(strtoul((char *)r.body.data, NULL, 10), gz.len);
    buf_free(&r.body);
    buf_free(&gz);
    buf_free(&zs);
    buf_free(&bomb);
    free(zeros);
    server_down(&s);
}

static void test_bearer(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    struct response r;
    char url[256];

    (void)state;
    cfg.bearer_token = "s3cret";
    server_up(&s, &cfg);
    url_for(url, sizeof(url), &s, "http", "/echo");
    request(url, "POST", "x", 1, 0, NULL, NULL, &r);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr((char *)r.body.data, "unauthenticated"));
    buf_free(&r.body);
    request(url, "POST", "x", 1, 0,
            curl_slist_append(NULL, "Authorization: Bearer wrong!"), NULL, &r);
    assert_int_equal(r.status, 401);
    buf_free(&r.body);
    request(url, "POST", "x", 1, 0,
            curl_slist_append(NULL, "Authorization: Bearer s3cret"), NULL, &r);
    assert_int_equal(r.status, 200);
    buf_free(&r.body);
    server_down(&s);
}

static void test_query_get(void **state)
{
    char b[16];

    (void)state;
    assert_string_equal(httpsrv_query_get("a=1&b=x%7Dy", "b", b, sizeof(b)),
                        "x}y");
    assert_string_equal(httpsrv_query_get("a&b=2", "a", b, sizeof(b)), "");
    assert_null(httpsrv_query_get("a=1", "b", b, sizeof(b)));
    /* A bad escape skips that pair; the next one is used. */
    assert_string_equal(httpsrv_query_get("a=%zz&a=ok", "a", b, sizeof(b)),
                        "ok");
    assert_null(httpsrv_query_get("a=%4", "a", b, sizeof(b)));
    assert_null(httpsrv_query_get("a=0123456789abcdefXYZ", "a", b, sizeof(b)));
    assert_string_equal(httpsrv_query_get("n%61me=v", "name", b, sizeof(b)),
                        "v");
}

static void test_bad_endpoint(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct event_base *base = event_base_new();
    struct httpsrv *srv = NULL;
    struct errctx e = {{0}};

    (void)state;
    cfg.endpoint = "localhost";
    assert_int_not_equal(httpsrv_start(base, &cfg, "r", &srv, &e), 0);
    assert_null(srv);
    assert_non_null(strstr(e.msg, "localhost"));
    cfg.endpoint = "localhost:0";
    cfg.tls.cert_file = "/nonexistent/cert.pem";
    cfg.tls.key_file = "/nonexistent/key.pem";
    assert_int_not_equal(httpsrv_start(base, &cfg, "r", &srv, &e), 0);
    assert_non_null(strstr(e.msg, "tls"));
    event_base_free(base);
}

/* Makes a CA, a server cert for localhost and a client cert in dir. */
static int make_certs(const char *dir)
{
    char cmd[4096];

    snprintf(
        cmd, sizeof(cmd),
        "(cd %s && "
        "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=testca "
        "-keyout ca.key -out ca.pem && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=localhost "
        "-keyout server.key -out server.csr && "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\\n' > ext && "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -days 1 -extfile ext -out server.pem && "
        "openssl req -newkey rsa:2048 -nodes -subj /CN=client "
        "-keyout client.key -out client.csr && "
        "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key "
        "-CAcreateserial -days 1 -out client.pem) >/dev/null 2>&1",
        dir);
    return system(cmd);
}

static void test_tls(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    struct response r;
    char dir[] = "/tmp/profcol-httpsrv-XXXXXX", url[256], cert[300], key[300],
         ca[300], cmd[400];

    (void)state;
    if (system("command -v openssl >/dev/null 2>&1") != 0 ||
        mkdtemp(dir) == NULL) {
        skip();
    }
    assert_int_equal(make_certs(dir), 0);
    snprintf(cert, sizeof(cert), "%s/server.pem", dir);
    snprintf(key, sizeof(key), "%s/server.key", dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
    cfg.tls.cert_file = cert;
    cfg.tls.key_file = key;
    server_up(&s, &cfg);
    url_for(url, sizeof(url), &s, "https", "/echo");
    request(url, "POST", "tls!", 4, 0, NULL, dir, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp((char *)r.body.data, "4:tls!", 6) == 0);
    buf_free(&r.body);
    /* Plain HTTP to a TLS port does not get through. */
    url_for(url, sizeof(url), &s, "http", "/echo");
    request(url, "POST", "x", 1, 0, NULL, NULL, &r);
    assert_int_not_equal(r.status, 200);
    buf_free(&r.body);
    server_down(&s);

    cfg.tls.client_ca_file = ca;
    server_up(&s, &cfg);
    url_for(url, sizeof(url), &s, "https", "/echo");
    request(url, "POST", "x", 1, 0, NULL, dir, &r);
    assert_int_equal(r.status, -1); /* handshake refused */
    buf_free(&r.body);
    url_for(url, sizeof(url), &s, "https", "/echo?withcert");
    request(url, "POST", "mtls", 4, 0, NULL, dir, &r);
    assert_int_equal(r.status, 200);
    buf_free(&r.body);
    server_down(&s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct slow_client {
    const struct server *s;
    const char *path;
    struct response r;
    int64_t ms;
    pthread_t tid;
};

static void *slow_client_run(void *arg)
{
    struct slow_client *c = arg;
    char url[256];
    int64_t t0 = now_ms();

    url_for(url, sizeof(url), c->s, "http", c->path);
    request(url, "POST", "x", 1, 0, NULL, NULL, &c->r);
    c->ms = now_ms() - t0;
    return NULL;
}

/* Times one POST of "x" to path. */
static int64_t timed(const struct server *s, const char *path, long status)
{
    struct response r;
    char url[256];
    int64_t t0 = now_ms();

    url_for(url, sizeof(url), s, "http", path);
    request(url, "POST", "x", 1, 0, NULL, NULL, &r);
    assert_int_equal(r.status, status);
    buf_free(&r.body);
    return now_ms() - t0;
}

/* While a handler takes SLOW_MS on a worker, the loop answers at once,
 * and so does another handler when there is a free worker. */
static void test_slow_handler_does_not_block(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    struct slow_client c = {.path = "/slow"};
    int64_t loop_ms, other_ms = 0;

    (void)state;
    server_up(&s, &cfg);
    c.s = &s;
    assert_int_equal(pthread_create(&c.tid, NULL, slow_client_run, &c), 0);
    usleep(200 * 1000); /* the slow request is on a worker */
    loop_ms = timed(&s, "/nope", 404);
    if (workpool_threads() >= 2) {
        other_ms = timed(&s, "/echo", 200);
    }
    pthread_join(c.tid, NULL);
    assert_int_equal(c.r.status, 200);
    assert_string_equal((char *)c.r.body.data, "slow");
    buf_free(&c.r.body);
    /* The loop's answers came while the slow one was still running. */
    assert_true(c.ms >= SLOW_MS);
    assert_true(loop_ms < SLOW_MS / 3);
    assert_true(other_ms < SLOW_MS / 3);
    server_down(&s);
}

/* Sends a POST of path on a raw connection and returns the socket. */
static int raw_post(const struct server *s, const char *path)
{
    struct sockaddr_in a;
    char req[256];
    int fd = socket(AF_INET, SOCK_STREAM, 0), n;

    assert_true(fd >= 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(httpsrv_port(s->srv));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    n = snprintf(req, sizeof(req),
                 "POST %s HTTP/1.1\r\nHost: x\r\n"
                 "Content-Length: 5\r\n\r\nhello",
                 path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    return fd;
}

static void wait_count(atomic_int *v, int want)
{
    int64_t end = now_ms() + 10 * SLOW_MS;

    while (atomic_load(v) < want && now_ms() < end) {
        usleep(10 * 1000);
    }
    assert_true(atomic_load(v) >= want);
}

/* Clients that hang up while their handler runs: the answers (recorded on
 * the worker, or from the loop's continuation) go nowhere, safely. */
static void test_client_gone(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    int slow0 = atomic_load(&slow_ran), then0 = atomic_load(&then_ran);

    (void)state;
    server_up(&s, &cfg);
    close(raw_post(&s, "/slow"));
    close(raw_post(&s, "/slowthen"));
    wait_count(&slow_ran, slow0 + 1);
    wait_count(&then_ran, then0 + 1);
    usleep(100 * 1000); /* the loop sent (and dropped) the replies */
    assert_true(timed(&s, "/echo", 200) < SLOW_MS);
    server_down(&s);
}

/* Stopping while a handler runs waits for it and runs its continuation,
 * before the requests are freed. */
static void test_stop_drains(void **state)
{
    struct httpsrv_cfg cfg = default_cfg();
    struct server s;
    int then0 = atomic_load(&then_ran);
    int fd;

    (void)state;
    server_up(&s, &cfg);
    fd = raw_post(&s, "/slowthen");
    usleep(300 * 1000); /* on a worker by now */
    server_down(&s);
    assert_int_equal(atomic_load(&then_ran), then0 + 1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_routes_and_methods),
        cmocka_unit_test(test_body_caps),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_bearer),
        cmocka_unit_test(test_query_get),
        cmocka_unit_test(test_bad_endpoint),
        cmocka_unit_test(test_tls),
        cmocka_unit_test(test_slow_handler_does_not_block),
        cmocka_unit_test(test_client_gone),
        cmocka_unit_test(test_stop_drains),
    };
    int rc;

    evthread_use_pthreads();
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
