/*
 * scrape_loop.c: one scrape loop per (target, profile).
 *
 * A loop wakes up every scrape_interval at a fixed phase (its identity hash
 * modulo the interval, so a thousand targets spread over the interval
 * instead of arriving at once), sends one GET through the shared curl multi
 * handle, and when the transfer ends checks the response as Alloy does
 * (2xx, not empty, not HTML/JSON, gzip or protobuf), decodes it, computes
 * the delta of cumulative profiles, and hands one batch with one item to
 * the pipeline. A loop never runs two scrapes at once: a tick that finds
 * the previous scrape still running is skipped and counted.
 */
#include <event2/event.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "codec/pprof.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "component/series.h"
#include "receivers/scrape/scrape.h"

#define CREDS_REFRESH_NS (60 * (int64_t)1000000000)

/* ---- credentials ------------------------------------------------------------ */

static char *read_secret(const char *path, const char *component)
{
    char buf[8192];
    FILE *f = fopen(path, "r");
    size_t n;

    if (f == NULL) {
        log_warn(component, "cannot read credentials file", "file=\"%s\"",
                 path);
        return NULL;
    }
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    /* Trailing newlines are not part of the secret (as Prometheus). */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r')) {
        n--;
    }
    buf[n] = '\0';
    return strdup(buf);
}

void scrape_job_creds(struct scrape_job *job)
{
    const struct scrape_job_cfg *jc = job->cfg;
    int64_t now = clock_mono_ns();
    const char *comp = job->rcv->host->id;

    if (job->creds_read_ns != 0 &&
        now - job->creds_read_ns < CREDS_REFRESH_NS) {
        return;
    }
    job->creds_read_ns = now;
    if (jc->basic_auth.password_file != NULL &&
        jc->basic_auth.password_file[0] != '\0') {
        char *p = read_secret(jc->basic_auth.password_file, comp);
        if (p != NULL) {
            free(job->password);
            job->password = p;
        }
    }
    if (jc->bearer_token_file != NULL && jc->bearer_token_file[0] != '\0') {
        char *p = read_secret(jc->bearer_token_file, comp);
        if (p != NULL) {
            free(job->bearer);
            job->bearer = p;
        }
    }
}

/* ---- loop life -------------------------------------------------------------- */

struct scrape_loop *scrape_loop_new(struct scrape_job *job)
{
    struct scrape_loop *l = calloc(1, sizeof(*l));

    if (l == NULL) {
        return NULL;
    }
    l->job = job;
    labels_init(&l->labels);
    delta_state_init(&l->delta);
    buf_init(&l->body, (size_t)job->rcv->cfg->max_response_size);
    return l;
}

static void loop_tick(evutil_socket_t fd, short what, void *arg);

int scrape_loop_start(struct scrape_loop *l)
{
    struct scrape_receiver *r = l->job->rcv;
    int64_t interval = l->job->cfg->interval_ms * 1000000;
    int64_t offset = (int64_t)(l->id % (uint64_t)interval);
    struct timeval tv;
    const char *job = labels_get(&l->labels, "job");

    /* The job label as relabeled, else the job's name. */
    l->mscope = mscope_sub(r->host->metrics, "job",
                           job != NULL ? job : l->job->cfg->job_name,
                           "instance", labels_get(&l->labels, "instance"),
                           "profile", l->prof->name, NULL);
    l->m_up = mscope_gauge(l->mscope, "profcol_scrape_target_up",
                           "1 when the last scrape of the target "
                           "succeeded, else 0",
                           NULL);
    l->m_duration = mscope_gauge(l->mscope,
                                 "profcol_scrape_target_duration_seconds",
                                 "how long the last scrape took", NULL);
    l->timer = evtimer_new(r->host->base, loop_tick, l);
    if (l->timer == NULL) {
        return PC_ENOMEM;
    }
    l->next_due_ns = clock_mono_ns() + offset;
    tv.tv_sec = offset / 1000000000;
    tv.tv_usec = (offset % 1000000000) / 1000;
    return evtimer_add(l->timer, &tv) == 0 ? PC_OK : PC_ENOMEM;
}

static void loop_release_transfer(struct scrape_loop *l)
{
    if (l->easy != NULL) {
        curl_easy_cleanup(l->easy);
        l->easy = NULL;
    }
    curl_slist_free_all(l->headers);
    curl_slist_free_all(l->connect_list);
    l->headers = NULL;
    l->connect_list = NULL;
}

void scrape_loop_free(struct scrape_loop *l)
{
    struct scrape_receiver *r;

    if (l == NULL) {
        return;
    }
    r = l->job->rcv;
    if (l->timer != NULL) {
        event_free(l->timer);
    }
    if (l->easy != NULL) {
        scrape_fetch_cancel(r->fetch, l->easy);
        loop_release_transfer(l);
    }
    r->delta_bytes -= delta_state_bytes(&l->delta);
    delta_state_free(&l->delta);
    mscope_free(l->mscope);
    labels_free(&l->labels);
    buf_free(&l->body);
    free(l->url);
    free(l->host_header);
    free(l->connect_to);
    free(l);
}

/* ---- errors -------------------------------------------------------------------- */

/* Counts the failure by reason, marks the target down and logs the first
 * failure of a streak at warn level (the rest at debug, to keep a dead
 * target from flooding the log). */
static void loop_fail(struct scrape_loop *l, const char *reason,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A series per reason, registered when the reason first occurs (reasons
 * are static strings); a dead target fails every interval, so the handle
 * is kept. */
static void loop_count(struct scrape_loop *l, const char *reason)
{
    struct mcounter *c = NULL;
    int i;

    for (i = 0; i < SCRAPE_LOOP_REASONS && l->m_errors[i].reason != NULL;
         i++) {
        if (strcmp(l->m_errors[i].reason, reason) == 0) {
            mcounter_add(l->m_errors[i].c, 1);
            return;
        }
    }
    c = mscope_counter(l->mscope, "profcol_scrape_target_errors",
                       "failed scrapes by reason", "reason", reason, NULL);
    if (c != NULL && i < SCRAPE_LOOP_REASONS) {
        l->m_errors[i].reason = reason;
        l->m_errors[i].c = c;
    }
    mcounter_add(c, 1);
}

static void loop_fail(struct scrape_loop *l, const char *reason,
                      const char *fmt, ...)
{
    struct scrape_receiver *r = l->job->rcv;
    char msg[300];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    loop_count(l, reason);
    if (l->m_up != NULL) {
        mgauge_set(l->m_up, 0);
    }
    log_write(l->up || l->last_ok_ns == 0 ? LOG_WARN : LOG_DEBUG, r->host->id,
              "scrape failed", "url=\"%s\" profile=%s reason=%s error=\"%s\"",
              l->url, l->prof->name, reason, msg);
    l->up = 0;
    l->last_ok_ns = l->last_ok_ns == 0 ? -1 : l->last_ok_ns;
}

static void loop_ok(struct scrape_loop *l)
{
    if (!l->up && l->last_ok_ns != 0) {
        log_info(l->job->rcv->host->id, "scrape target up", "url=\"%s\"",
                 l->url);
    }
    l->up = 1;
    l->last_ok_ns = clock_real_ns();
    if (l->m_up != NULL) {
        mgauge_set(l->m_up, 1);
    }
}

/* ---- request ---------------------------------------------------------------------- */

static size_t loop_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct scrape_loop *l = arg;
    size_t n = size * nmemb;

    if (buf_append(&l->body, ptr, n) != PC_OK) {
        l->body_too_large = 1;
        return 0;
    }
    return n;
}

static void loop_auth(struct scrape_loop *l, CURL *h)
{
    const struct scrape_job *job = l->job;
    const struct scrape_job_cfg *jc = job->cfg;
    const char *bearer = job->bearer != NULL ? job->bearer : jc->bearer_token;

    if (jc->basic_auth.username != NULL && jc->basic_auth.username[0]) {
        const char *pw = job->password != NULL ? job->password
                                               : jc->basic_auth.password;
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, jc->basic_auth.username);
        curl_easy_setopt(h, CURLOPT_PASSWORD, pw != NULL ? pw : "");
    } else if (bearer != NULL && bearer[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, bearer);
    }
}

static void loop_tls(struct scrape_loop *l, CURL *h)
{
    const struct scrape_tls_cfg *t = &l->job->cfg->tls_config;

    if (t->ca_file != NULL && t->ca_file[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_CAINFO, t->ca_file);
    }
    if (t->cert_file != NULL && t->cert_file[0] != '\0') {
        curl_easy_setopt(h, CURLOPT_SSLCERT, t->cert_file);
        curl_easy_setopt(h, CURLOPT_SSLKEY, t->key_file);
    }
    if (t->insecure_skip_verify) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (l->connect_to != NULL) {
        l->connect_list = curl_slist_append(NULL, l->connect_to);
        curl_easy_setopt(h, CURLOPT_CONNECT_TO, l->connect_list);
        l->headers = curl_slist_append(NULL, l->host_header);
    }
}

static int loop_request(struct scrape_loop *l)
{
    const struct scrape_job_cfg *jc = l->job->cfg;
    int64_t timeout = jc->timeout_ms + l->prof->seconds * 1000;
    CURL *h = curl_easy_init();

    if (h == NULL) {
        return PC_ENOMEM;
    }
    scrape_job_creds(l->job);
    buf_reset(&l->body);
    l->body_too_large = 0;
    curl_easy_setopt(h, CURLOPT_URL, l->url);
    curl_easy_setopt(h, CURLOPT_PRIVATE, (char *)l);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, loop_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, l);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)(jc->timeout_ms < 10000 ? jc->timeout_ms : 10000));
    curl_easy_setopt(h, CURLOPT_USERAGENT, "profcol/" PROFCOL_VERSION);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)l->job->rcv->cfg->max_response_size);
    loop_auth(l, h);
    loop_tls(l, h);
    if (l->headers != NULL) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, l->headers);
    }
    l->easy = h;
    l->started_ns = clock_mono_ns();
    if (scrape_fetch_add(l->job->rcv->fetch, h) != PC_OK) {
        loop_release_transfer(l);
        return PC_ENOMEM;
    }
    return PC_OK;
}

static void loop_tick(evutil_socket_t fd, short what, void *arg)
{
    struct scrape_loop *l = arg;
    int64_t interval = l->job->cfg->interval_ms * 1000000;
    int64_t now = clock_mono_ns(), wait;
    struct timeval tv;

    (void)fd;
    (void)what;
    /* Next tick at the same phase; ticks missed (a stalled loop) are
     * skipped, not bunched up. */
    do {
        l->next_due_ns += interval;
    } while (l->next_due_ns <= now);
    wait = l->next_due_ns - now;
    tv.tv_sec = wait / 1000000000;
    tv.tv_usec = (wait % 1000000000) / 1000;
    evtimer_add(l->timer, &tv);
    if (l->easy != NULL) {
        loop_fail(l, "still_running",
                  "previous scrape still running after "
                  "scrape_interval");
        return;
    }
    if (loop_request(l) != PC_OK) {
        loop_fail(l, "internal", "cannot start the request (out of memory)");
    }
}

/* ---- response ------------------------------------------------------------------------- */

static const char *curl_reason(CURLcode rc, int too_large)
{
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return "timeout";
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return "dns";
    case CURLE_COULDNT_CONNECT:
        return "connection_refused";
    case CURLE_WRITE_ERROR:
    case CURLE_FILESIZE_EXCEEDED:
        return too_large || rc == CURLE_FILESIZE_EXCEEDED ? "too_large"
                                                          : "http";
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CACERT_BADFILE:
        return "tls";
    default:
        return "http";
    }
}

/* Alloy's checks: not HTML, not JSON, gzip magic or a first byte that is
 * a valid protobuf tag (wire type 0..5, field number > 0). */
static const char *body_problem(const uint8_t *d, size_t n, const char *ctype)
{
    if (n == 0) {
        return "empty response body";
    }
    if (ctype != NULL && (strncasecmp(ctype, "text/", 5) == 0 ||
                          strncasecmp(ctype, "application/json", 16) == 0)) {
        return "response is not a profile (Content-Type is text or JSON)";
    }
    if (n >= 2 && d[0] == 0x1f && d[1] == 0x8b) {
        return NULL;
    }
    if (d[0] == '<' || d[0] == '{' || d[0] == '[') {
        return "response looks like HTML or JSON, not a profile";
    }
    if ((d[0] & 7) > 5 || (d[0] >> 3) == 0) {
        return "response is neither gzip nor protobuf";
    }
    return NULL;
}

/* The item's series attributes: the final labels, service_name becoming
 * service.name (the job when absent). */
static int loop_attrs(struct scrape_loop *l, struct batch *b, struct item *it,
                      int delta_label)
{
    const char *svc = labels_get(&l->labels, "service_name");
    const char *job = labels_get(&l->labels, "job");
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < l->labels.n && rc == PC_OK; i++) {
        const struct label *lb = &l->labels.v[i];
        if (strcmp(lb->name, "service_name") == 0) {
            continue;
        }
        rc = item_set_attr_str(b, it, lb->name, lb->value, strlen(lb->value));
    }
    if (svc == NULL) {
        svc = job != NULL ? job : l->job->cfg->job_name;
    }
    if (rc == PC_OK) {
        rc = item_set_attr_str(b, it, SERIES_SERVICE_ATTR, svc, strlen(svc));
    }
    if (rc == PC_OK && delta_label) {
        rc = item_set_attr_str(b, it, "__delta__", "false", 5);
    }
    return rc;
}

/* Hands one profile over; returns consume()'s answer. Takes pd. */
static int loop_deliver(struct scrape_loop *l, struct pdata *pd, int keep_raw,
                        int delta_label)
{
    struct component_host *host = l->job->rcv->host;
    struct batch *b = batch_new(host->id);
    struct errctx e = {{0}};
    struct item *it = b != NULL ? batch_add_item(b) : NULL;
    uint8_t *data;
    size_t len = 0;
    int rc;

    if (it == NULL) {
        pdata_free(pd);
        batch_unref(b);
        return PC_ENOMEM;
    }
    it->format = PAYLOAD_PPROF;
    it->resource = -1;
    it->nprofiles = 1;
    it->nsamples = pdata_sample_count(pd);
    it->received_ns = (uint64_t)clock_real_ns();
    it->pd = shared_pdata_new(pd);
    if (it->pd == NULL) {
        pdata_free(pd);
    }
    if (keep_raw) {
        data = buf_take(&l->body, &len);
        it->raw = data != NULL ? blob_take(data, len) : NULL;
        if (it->raw == NULL) {
            free(data);
        }
    }
    if (it->pd == NULL || (keep_raw && it->raw == NULL) ||
        loop_attrs(l, b, it, delta_label) != PC_OK) {
        batch_unref(b);
        return PC_ENOMEM;
    }
    rc = host->consume(host, b, &e);
    if (rc != PC_OK) {
        /* The target is fine (up stays 1): the pipeline said no. Back-
         * pressure is routine under load, so it is logged at debug. */
        loop_count(l, rc == PC_EBUSY ? "refused" : "rejected");
        log_write(rc == PC_EBUSY ? LOG_DEBUG : LOG_WARN, host->id,
                  "scraped profile not accepted", "url=\"%s\" error=\"%s\"",
                  l->url, err_msg(&e, rc));
    }
    return rc;
}

static void loop_commit(struct scrape_loop *l, int accepted);

/* The delta of a cumulative profile; returns 1 when pd is to be sent
 * (*computed says whether it now holds a delta), 0 when it was only the
 * baseline. */
static int loop_delta(struct scrape_loop *l, struct pdata *pd, int *computed)
{
    struct scrape_receiver *r = l->job->rcv;
    size_t own = delta_state_bytes(&l->delta);
    size_t others = r->delta_bytes - own;
    size_t budget = r->cfg->delta_state_per_target;
    enum delta_outcome out;
    struct errctx e = {{0}};
    int rc;

    if (r->cfg->delta_state_total <= others) {
        budget = 0;
    } else if (r->cfg->delta_state_total - others < budget) {
        budget = r->cfg->delta_state_total - others;
    }
    rc = delta_compute(&l->delta, pd, clock_real_ns(), budget, &out, &e);
    if (rc != PC_OK) {
        /* No room for a baseline: the cumulative profile goes out as it
         * is, without __delta__="false", so a Pyroscope backend computes
         * the delta itself. */
        r->delta_bytes -= own;
        loop_count(l, "delta_state_limit");
        log_warn(r->host->id, "delta not computed, cumulative profile sent",
                 "url=\"%s\" error=\"%s\"", l->url, err_msg(&e, rc));
        *computed = 0;
        return 1;
    }
    *computed = out == DELTA_EMIT;
    if (out == DELTA_BASELINE) {
        loop_commit(l, 1);
        return 0;
    }
    return 1;
}

static void loop_commit(struct scrape_loop *l, int accepted)
{
    struct scrape_receiver *r = l->job->rcv;

    if (!accepted) {
        delta_abort(&l->delta); /* diffed again next time: nothing lost */
        return;
    }
    r->delta_bytes -= delta_state_bytes(&l->delta);
    delta_commit(&l->delta);
    r->delta_bytes += delta_state_bytes(&l->delta);
    if (r->m_delta_bytes != NULL) {
        mgauge_set(r->m_delta_bytes, (double)r->delta_bytes);
    }
}

static void loop_body(struct scrape_loop *l)
{
    struct component_host *host = l->job->rcv->host;
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    int rc, computed = 0, delta_label = l->prof->delta_label;

    rc = pprof_decode(l->body.data, l->body.len, NULL, &pd, &e);
    if (rc != PC_OK) {
        host->refused(host, 1, l->body.len);
        loop_fail(l, "invalid_profile", "%s", err_msg(&e, rc));
        return;
    }
    loop_ok(l);
    if (l->prof->client_delta && delta_applies(pd)) {
        if (!loop_delta(l, pd, &computed)) {
            pdata_free(pd);
            return;
        }
        delta_label = computed;
    }
    rc = loop_deliver(l, pd, !computed, delta_label);
    if (computed) {
        loop_commit(l, rc == PC_OK || rc == PC_EPERMANENT);
    }
}

void scrape_loop_done(void *priv, CURL *easy, CURLcode rc)
{
    struct scrape_loop *l = priv;
    const char *problem;
    char *ct = NULL;
    char ctype[128] = "";
    long status = 0;

    (void)easy;
    if (l->m_duration != NULL) {
        mgauge_set(l->m_duration,
                   (double)(clock_mono_ns() - l->started_ns) / 1e9);
    }
    curl_easy_getinfo(l->easy, CURLINFO_RESPONSE_CODE, &status);
    if (curl_easy_getinfo(l->easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK &&
        ct != NULL) {
        snprintf(ctype, sizeof(ctype), "%s", ct);
    }
    loop_release_transfer(l);
    if (rc != CURLE_OK) {
        loop_fail(l, curl_reason(rc, l->body_too_large), "%s%s",
                  curl_easy_strerror(rc),
                  l->body_too_large ? " (larger than max_response_size)" : "");
    } else if (status < 200 || status > 299) {
        loop_fail(l, "http_status", "HTTP status %ld", status);
    } else if ((problem = body_problem(l->body.data, l->body.len,
                                       ctype[0] ? ctype : NULL)) != NULL) {
        l->job->rcv->host->refused(l->job->rcv->host, 1, l->body.len);
        loop_fail(l, "invalid_response", "%s", problem);
    } else {
        loop_body(l);
    }
    buf_free(&l->body);
    buf_init(&l->body, (size_t)l->job->rcv->cfg->max_response_size);
}
