/*
 * httpcli.c: blocking HTTP POST for exporters on a per-thread libcurl easy
 * handle, and the mapping of responses to exporter outcomes (httpcli.h).
 *
 * Each consumer thread keeps its own handle (a pthread key whose destructor
 * frees it when the thread exits): curl keeps the connection to the backend
 * open between requests, and no handle is ever shared between threads.
 */
#include "net/httpcli.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "codec/pb.h"
#include "net/curl_api.h"

#define HTTPCLI_BODY_DEFAULT ((size_t)64 << 10)
#define HTTPCLI_TIMEOUT_DEFAULT 30000

/* clang-format off */
const struct cfg_entry httpcli_tls_table[] = {
    {.key = "ca_file", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct httpcli_tls_cfg, ca_file),
     .doc = "PEM CA bundle that verifies the server (default: system CAs)"},
    {.key = "cert_file", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct httpcli_tls_cfg, cert_file),
     .doc = "client certificate (PEM) for mutual TLS"},
    {.key = "key_file", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct httpcli_tls_cfg, key_file),
     .doc = "private key (PEM) of cert_file"},
    {.key = "insecure_skip_verify", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct httpcli_tls_cfg, insecure_skip_verify),
     .doc = "do not verify the server certificate (testing only)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry httpcli_basic_auth_table[] = {
    {.key = "username", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct httpcli_basic_auth_cfg, username),
     .doc = "HTTP basic auth user"},
    {.key = "password", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct httpcli_basic_auth_cfg, password),
     .doc = "HTTP basic auth password"},
    {.key = NULL},
};
/* clang-format on */

static pthread_once_t httpcli_once = PTHREAD_ONCE_INIT;
static pthread_key_t httpcli_key;

static void handle_free(void *h)
{
    curl_easy_cleanup(h);
}

static void httpcli_init_once(void)
{
    pthread_key_create(&httpcli_key, handle_free);
}

/* This thread's handle, reset to defaults (the connection cache stays). */
static CURL *thread_handle(void)
{
    CURL *h;

    pthread_once(&httpcli_once, httpcli_init_once);
    h = pthread_getspecific(httpcli_key);
    if (h == NULL) {
        h = curl_easy_init();
        if (h != NULL && pthread_setspecific(httpcli_key, h) != 0) {
            curl_easy_cleanup(h);
            return NULL;
        }
        return h;
    }
    curl_easy_reset(h);
    return h;
}

static int file_readable(const char *path)
{
    return path == NULL || path[0] == '\0' || access(path, R_OK) == 0;
}

int httpcli_tls_check(const struct httpcli_tls_cfg *tls, struct errctx *e)
{
    const char *files[3] = {tls->ca_file, tls->cert_file, tls->key_file};
    const char *names[3] = {"tls.ca_file", "tls.cert_file", "tls.key_file"};
    int i;

    for (i = 0; i < 3; i++) {
        if (!file_readable(files[i])) {
            return err_set(e, PC_ECONFIG, "%s %s: %s", names[i], files[i],
                           err_errno(errno));
        }
    }
    if ((tls->cert_file != NULL && tls->cert_file[0] != '\0') !=
        (tls->key_file != NULL && tls->key_file[0] != '\0')) {
        return err_set(e, PC_ECONFIG,
                       "tls.cert_file and tls.key_file go together");
    }
    return PC_OK;
}

/* ---- response capture ---------------------------------------------------- */

struct capture {
    struct httpcli_resp *resp;
    size_t max;
};

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct capture *c = arg;
    size_t len = size * n, room;

    /* Past the cap the rest is read and thrown away, not an error. */
    room = c->resp->body.len < c->max ? c->max - c->resp->body.len : 0;
    if (room > 0) {
        buf_append(&c->resp->body, p, len < room ? len : room);
    }
    return len;
}

/* Copies the value of header line p (name: value\r\n) when it is `name`. */
static int header_value(const char *p, size_t len, const char *name, char *out,
                        size_t outlen)
{
    size_t nl = strlen(name), i, j;

    if (len <= nl || strncasecmp(p, name, nl) != 0 || p[nl] != ':') {
        return 0;
    }
    i = nl + 1;
    while (i < len && (p[i] == ' ' || p[i] == '\t')) {
        i++;
    }
    j = len;
    while (j > i &&
           (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) {
        j--;
    }
    snprintf(out, outlen, "%.*s", (int)(j - i), p + i);
    return 1;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct capture *c = arg;
    size_t len = size * n;
    char v[128];

    /* A new status line (redirect, 100 Continue) starts a new header set. */
    if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
        c->resp->retry_after_ms = 0;
        c->resp->content_type[0] = '\0';
        return len;
    }
    if (header_value(p, len, "Retry-After", v, sizeof(v))) {
        int64_t ms = httpcli_parse_retry_after(v, time(NULL));
        c->resp->retry_after_ms = ms > 0 ? ms : 0;
    } else {
        header_value(p, len, "Content-Type", c->resp->content_type,
                     sizeof(c->resp->content_type));
    }
    return len;
}

int64_t httpcli_parse_retry_after(const char *value, time_t now)
{
    char *end;
    long long s;
    time_t t;

    while (*value == ' ') {
        value++;
    }
    if (isdigit((unsigned char)*value)) {
        errno = 0;
        s = strtoll(value, &end, 10);
        while (*end == ' ') {
            end++;
        }
        if (errno != 0 || *end != '\0' || s < 0 || s > 86400LL * 365) {
            return -1;
        }
        return (int64_t)s * 1000;
    }
    if (curl_api_load(NULL) != PC_OK) { /* loaded by any real caller */
        return -1;
    }
    t = curl_getdate(value, NULL);
    if (t == (time_t)-1) {
        return -1;
    }
    return t > now ? (int64_t)(t - now) * 1000 : 0;
}

/* ---- request ------------------------------------------------------------- */

static struct curl_slist *build_headers(const struct httpcli_req *req)
{
    struct curl_slist *l = NULL, *n;
    char line[4200];
    size_t i;

    /* No "Expect: 100-continue" round trip before large bodies. */
    l = curl_slist_append(l, "Expect:");
    for (i = 0; l != NULL && i < req->nheaders; i++) {
        n = curl_slist_append(l, req->headers[i]);
        if (n == NULL) {
            curl_slist_free_all(l);
            return NULL;
        }
        l = n;
    }
    if (l != NULL && req->bearer_token != NULL && req->bearer_token[0]) {
        snprintf(line, sizeof(line), "Authorization: Bearer %s",
                 req->bearer_token);
        n = curl_slist_append(l, line);
        if (n == NULL) {
            curl_slist_free_all(l);
            return NULL;
        }
        l = n;
    }
    return l;
}

static void set_tls(CURL *h, const struct httpcli_tls_cfg *tls)
{
    if (tls == NULL) {
        return;
    }
    if (tls->ca_file != NULL && tls->ca_file[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_CAINFO, tls->ca_file);
    }
    if (tls->cert_file != NULL && tls->cert_file[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_SSLCERT, tls->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, tls->key_file);
    }
    if (tls->insecure_skip_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static void set_options(CURL *h, const struct httpcli_req *req,
                        struct curl_slist *hdrs, struct capture *cap,
                        char *errbuf)
{
    long timeout = req->timeout_ms > 0 ? (long)req->timeout_ms
                                       : HTTPCLI_TIMEOUT_DEFAULT;

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)req->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    if (req->method != NULL && strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else if (req->method != NULL && strcmp(req->method, "POST") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
    }
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, cap);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, cap);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "profcol/" PROFCOL_VERSION);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    set_tls(h, req->tls);
    if (req->auth != NULL && req->auth->username != NULL &&
        req->auth->username[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, req->auth->username);
        curl_easy_setopt(h, CURLOPT_PASSWORD,
                         req->auth->password ? req->auth->password : "");
    }
}

/* Transport failures that a later attempt cannot fix. */
static int curl_permanent(CURLcode c)
{
    return c == CURLE_URL_MALFORMAT || c == CURLE_UNSUPPORTED_PROTOCOL ||
           c == CURLE_BAD_FUNCTION_ARGUMENT || c == CURLE_SSL_CERTPROBLEM ||
           c == CURLE_SSL_CACERT_BADFILE;
}

int httpcli_post(const struct httpcli_req *req, struct httpcli_resp *resp)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct capture cap = {resp, req->max_body ? req->max_body
                                              : HTTPCLI_BODY_DEFAULT};
    struct curl_slist *hdrs;
    struct errctx e = {{0}};
    CURLcode c;
    CURL *h;

    memset(resp, 0, sizeof(*resp));
    buf_init(&resp->body, cap.max);
    /* The exporters load libcurl when created; this is a no-op then. */
    if (curl_api_load(&e) != PC_OK) {
        snprintf(resp->err, sizeof(resp->err), "%s", e.msg);
        return PC_EPERMANENT;
    }
    h = thread_handle();
    hdrs = h != NULL ? build_headers(req) : NULL;
    if (hdrs == NULL) {
        snprintf(resp->err, sizeof(resp->err), "out of memory");
        return PC_ERETRY;
    }
    set_options(h, req, hdrs, &cap, errbuf);
    c = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    if (c != CURLE_OK) {
        /* Bounded pieces: the URL and curl's message share resp->err. */
        snprintf(resp->err, sizeof(resp->err), "%.120s: %.120s", req->url,
                 errbuf[0] ? errbuf : curl_easy_strerror(c));
        resp->status = 0;
        return curl_permanent(c) ? PC_EPERMANENT : PC_ERETRY;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
    return PC_OK;
}

void httpcli_resp_free(struct httpcli_resp *resp)
{
    buf_free(&resp->body);
}

/* ---- outcome ------------------------------------------------------------- */

/* Printable single-line copy of at most outlen-1 bytes. */
static void copy_text(const char *p, size_t n, char *out, size_t outlen)
{
    size_t i, j = 0;

    for (i = 0; i < n && j + 1 < outlen; i++) {
        unsigned char ch = (unsigned char)p[i];
        out[j++] = (ch < 0x20 || ch == 0x7f) ? ' ' : (char)ch;
    }
    while (j > 0 && out[j - 1] == ' ') {
        j--;
    }
    out[j] = '\0';
}

static int json_field(const struct httpcli_resp *resp, const char *key,
                      char *out, size_t outlen)
{
    json_t *root, *v;
    int ok = 0;

    if (resp->body.len == 0 || resp->body.data[0] != '{') {
        return 0;
    }
    root = json_loadb((const char *)resp->body.data, resp->body.len, 0, NULL);
    if (root == NULL) {
        return 0;
    }
    v = json_object_get(root, key);
    if (json_is_string(v)) {
        copy_text(json_string_value(v), json_string_length(v), out, outlen);
        ok = 1;
    }
    json_decref(root);
    return ok;
}

/* google.rpc.Status.message (field 2) of a protobuf error body. */
static int status_message(const struct httpcli_resp *resp, char *out,
                          size_t outlen)
{
    const uint8_t *p = resp->body.data, *end = p + resp->body.len, *s;
    uint32_t field;
    unsigned wire;
    size_t n;

    if (strstr(resp->content_type, "protobuf") == NULL) {
        return 0;
    }
    while (p < end) {
        if (pb_read_tag(&p, end, &field, &wire) != PC_OK) {
            return 0;
        }
        if (field == 2 && wire == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return 0;
            }
            copy_text((const char *)s, n, out, outlen);
            return 1;
        }
        if (pb_skip(&p, end, wire) != PC_OK) {
            return 0;
        }
    }
    return 0;
}

void httpcli_error_message(const struct httpcli_resp *resp, char *out,
                           size_t outlen)
{
    if (json_field(resp, "message", out, outlen) ||
        status_message(resp, out, outlen)) {
        return;
    }
    copy_text((const char *)resp->body.data, resp->body.len, out, outlen);
}

/* Connect error codes a later attempt may get past. */
static int connect_code_retryable(const struct httpcli_resp *resp)
{
    static const char *const codes[] = {
        "unavailable",       "resource_exhausted",
        "deadline_exceeded", "internal",
        "unknown",           "aborted",
        "data_loss",         NULL};
    char code[64];
    int i;

    if (!json_field(resp, "code", code, sizeof(code))) {
        return 0;
    }
    for (i = 0; codes[i] != NULL; i++) {
        if (strcmp(code, codes[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int status_retryable(const struct httpcli_resp *resp, unsigned flags)
{
    long s = resp->status;

    if (s == 429 || s == 502 || s == 503 || s == 504) {
        return 1;
    }
    if ((flags & HTTPCLI_RETRY_5XX) && s >= 500 && s <= 599) {
        return 1;
    }
    if ((flags & HTTPCLI_RETRY_408) && s == 408) {
        return 1;
    }
    return (flags & HTTPCLI_RETRY_CONNECT_CODES) && s >= 400 &&
           connect_code_retryable(resp);
}

int httpcli_result(int rc, const struct httpcli_resp *resp, unsigned flags,
                   struct export_result *r)
{
    char msg[200];

    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "%s", resp->err);
        return rc == PC_EPERMANENT ? PC_EPERMANENT : PC_ERETRY;
    }
    if (resp->status >= 200 && resp->status <= 299) {
        return PC_OK;
    }
    httpcli_error_message(resp, msg, sizeof(msg));
    snprintf(r->msg, sizeof(r->msg), "HTTP %ld: %s", resp->status,
             msg[0] ? msg : "(no message)");
    if (status_retryable(resp, flags)) {
        r->retry_after_ms = resp->retry_after_ms;
        return PC_ERETRY;
    }
    return PC_EPERMANENT;
}
