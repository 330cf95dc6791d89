/*
 * pyro_ingest.c: POST /ingest, Pyroscope's legacy ingest endpoint, as the
 * Pyroscope server answers it.
 *
 * The format is chosen in Pyroscope's order: trie/tree (by `format` or
 * Content-Type), lines, jfr, pprof (raw body), speedscope, then a
 * multipart/form-data body is pprof, and anything else is folded text.
 * Status codes follow Pyroscope: 400 for a bad `name` or an unknown profile
 * type, 422 for a body that does not parse, 415 for formats profcol does
 * not convert (trie, tree, speedscope), 429 when the pipeline refuses
 * for back-pressure, 200 with an empty body on success and for an empty
 * profile.
 *
 * Threads: pyro_ingest_handler and everything it calls run on an HTTP
 * worker thread; the pipeline gets the batch on the main loop
 * (struct httpintake_job), where ingest_job_answer answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/clock.h"
#include "codec/multipart.h"
#include "codec/pprof.h"
#include "telemetry/log.h"
#include "component/series.h"
#include "receivers/pyroscope/pyro_jfr.h"
#include "receivers/pyroscope/pyro_recv.h"

enum ingest_format {
    IN_FOLDED,
    IN_LINES,
    IN_PPROF,
    IN_MULTIPART,
    IN_JFR,
    IN_UNSUPPORTED,
};

/* Everything a request said, parsed. */
struct ingest {
    struct pyro_recv *r;
    struct httpsrv_req *req;
    struct pyro_name name;
    const char *tenant;
    int64_t from_ns;
    int64_t sample_rate;
    char spy[128];
    char format[32];
    char unsupported[64];
    char metric[128];
    char namebuf[PYRO_NAME_MAX + 2];
};

static const char *const unsupported_fmts[] = {"trie", "tree", "speedscope",
                                               NULL};

static enum ingest_format pick_format(struct ingest *in)
{
    const char *ct = in->req->content_type;
    int i;

    if (strcmp(ct, "binary/octet-stream+trie") == 0 ||
        strcmp(ct, "binary/octet-stream+tree") == 0) {
        snprintf(in->unsupported, sizeof(in->unsupported), "%s", ct + 20);
        return IN_UNSUPPORTED;
    }
    for (i = 0; unsupported_fmts[i] != NULL; i++) {
        if (strcmp(in->format, unsupported_fmts[i]) == 0) {
            snprintf(in->unsupported, sizeof(in->unsupported), "%s",
                     in->format);
            return IN_UNSUPPORTED;
        }
    }
    if (strcmp(in->format, "lines") == 0) {
        return IN_LINES;
    }
    if (strcmp(in->format, "pprof") == 0) {
        return IN_PPROF;
    }
    if (strcasestr(ct, "multipart/form-data") != NULL) {
        return IN_MULTIPART; /* a `jfr` part makes it JFR */
    }
    if (strcmp(in->format, "jfr") == 0) {
        return IN_JFR;
    }
    return IN_FOLDED;
}

/* Go's strconv.Atoi; Pyroscope replaces a bad or negative rate by 100. */
static int64_t parse_rate(const char *s)
{
    char *end;
    long long v;

    if (s == NULL || s[0] == '\0') {
        return 100;
    }
    v = strtoll(s, &end, 10);
    if (*end != '\0' || v < 0 || v > 1000000000LL) {
        return 100;
    }
    return v;
}

static int parse_query(struct ingest *in)
{
    char small[256];
    const char *v;
    struct errctx e = {{0}};
    int64_t now = clock_real_ns();

    v = httpsrv_query_param(in->req, "name", in->namebuf, sizeof(in->namebuf));
    if (v == NULL && (strncmp(in->req->query, "name=", 5) == 0 ||
                      strstr(in->req->query, "&name=") != NULL)) {
        httpsrv_reply_json_error(in->req, 400, "invalid_argument",
                                 "name: bad %%-escape or longer than %d bytes",
                                 PYRO_NAME_MAX);
        return -1;
    }
    if (pyro_name_parse(v != NULL ? v : "", v != NULL ? strlen(v) : 0,
                        &in->name, &e) != PC_OK ||
        pyro_labels_check(in->name.labels, in->name.nlabels, &e) != PC_OK) {
        httpsrv_reply_json_error(in->req, 400, "invalid_argument", "%s",
                                 e.msg);
        return -1;
    }
    v = httpsrv_query_param(in->req, "from", small, sizeof(small));
    in->from_ns = pyro_attime(v != NULL ? v : "", now);
    v = httpsrv_query_param(in->req, "sampleRate", small, sizeof(small));
    in->sample_rate = parse_rate(v);
    v = httpsrv_query_param(in->req, "spyName", small, sizeof(small));
    snprintf(in->spy, sizeof(in->spy), "%s",
             v != NULL && v[0] != '\0' ? v : "unknown");
    v = httpsrv_query_param(in->req, "format", small, sizeof(small));
    snprintf(in->format, sizeof(in->format), "%s", v != NULL ? v : "");
    return 0;
}

/* The name's labels Pyroscope lets through /ingest: none starting with
 * "__" except __session_id__; service_name is service.name. */
static void user_labels(const struct ingest *in, struct pyro_attrs *a)
{
    uint32_t i;

    for (i = 0; i < in->name.nlabels; i++) {
        const struct pyro_label *l = &in->name.labels[i];
        if (strncmp(l->name, "__", 2) == 0 &&
            strcmp(l->name, "__session_id__") != 0) {
            continue;
        }
        if (strcmp(l->name, "service_name") == 0) {
            pyro_attrs_set(a, SERIES_SERVICE_ATTR, l->value);
        } else {
            pyro_attrs_set(a, l->name, l->value);
        }
    }
}

/* The pipeline's answer, as /ingest gives it. */
static void ingest_answer(struct httpsrv_req *req, int rc, const char *msg,
                          int text)
{
    if (rc == PC_OK) {
        httpsrv_reply(req, 200, NULL, NULL, 0);
    } else if (rc == PC_EBUSY) {
        httpintake_reply_busy(req, 429, "resource_exhausted", msg);
    } else if (text) {
        httpsrv_reply_json_error(req, 400, "invalid_argument", "%s", msg);
    } else {
        httpsrv_reply_json_error(req, 422, "unknown", "%s", msg);
    }
}

/* The loop's part of a request that made a batch. */
struct ingest_job {
    struct httpintake_job job; /* first */
    int text;
};

static void ingest_job_answer(struct httpintake_job *j,
                              struct httpsrv_req *req, int rc, const char *msg)
{
    ingest_answer(req, rc, msg, ((struct ingest_job *)j)->text);
}

/* Hands b (taken) to the pipeline on the loop, which answers the client
 * (once the batch is durable, when a persistent queue commits later). */
static void deliver_batch(struct ingest *in, struct batch *b, int text)
{
    struct ingest_job *ij = httpintake_job_new(in->r->host, sizeof(*ij));

    if (ij == NULL) {
        batch_unref(b);
        httpsrv_reply_json_error(in->req, 500, "internal", "out of memory");
        return;
    }
    ij->job.b = b;
    ij->job.answer = ingest_job_answer;
    ij->text = text;
    httpintake_submit(in->req, &ij->job);
}

/* One item: the profile pd (taken) and its original bytes. */
static void deliver(struct ingest *in, struct pdata *pd, struct blob *raw,
                    const struct pyro_attrs *a, int text)
{
    struct batch *b = batch_new(in->r->host->id);
    int rc;

    if (b == NULL) {
        pdata_free(pd);
        blob_unref(raw);
        httpsrv_reply_json_error(in->req, 500, "internal", "out of memory");
        return;
    }
    rc = pyro_batch_add(b, pd, raw, a, in->tenant);
    if (rc != PC_OK) {
        batch_unref(b);
        httpsrv_reply_json_error(in->req, 500, "internal", "out of memory");
        return;
    }
    deliver_batch(in, b, text);
}

static void refuse(struct ingest *in, int status, const char *code,
                   const char *msg)
{
    log_debug(in->r->host->id, "ingest refused", "status=%d error=\"%s\"",
              status, msg);
    pyro_refuse(in->r, in->req, 1, status, code, msg);
}

/* Ensures the profile has a time: Pyroscope uses `from` when it has none.
 * Returns 1 when it changed the profile. */
static int default_time(struct pdata *pd, int64_t from_ns)
{
    struct profile *p;

    if (pd->nresources == 0 || pd->resources[0].nscopes == 0 ||
        pd->resources[0].scopes[0].nprofiles == 0) {
        return 0;
    }
    p = &pd->resources[0].scopes[0].profiles[0];
    if (p->time_nanos > 0) {
        return 0;
    }
    p->time_nanos = from_ns;
    return 1;
}

/* A pprof (raw or the multipart `profile` part), with its optional
 * sample_type_config. */
static void ingest_pprof(struct ingest *in, const uint8_t *data, size_t len,
                         const struct pyro_stc *stc, uint32_t nstc,
                         int have_stc)
{
    struct decode_limits lim = {
        (size_t)in->r->cfg->http.max_decompressed_size};
    struct pyro_attrs a = {{0}, {0}, 0};
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct blob *raw = NULL;
    char msg[300];
    int rc, changed = 0;

    if (len == 0) {
        httpsrv_reply(in->req, 200, NULL, NULL, 0); /* empty: no-op */
        return;
    }
    rc = pprof_decode(data, len, &lim, &pd, &e);
    if (rc == PC_OK && (rc = pdata_check_text(pd, &e)) != PC_OK) {
        pdata_free(pd); /* a backend would refuse it later */
    }
    if (rc != PC_OK) {
        /* Pyroscope answers 422 for every pprof failure, a decompressed
         * size over its limit included. */
        if (rc == PC_ETOOBIG) {
            snprintf(msg, sizeof(msg),
                     "decompressed profile exceeds "
                     "max_decompressed_size (%llu bytes): %s",
                     (unsigned long long)lim.max_decompressed,
                     err_msg(&e, rc));
        } else {
            snprintf(msg, sizeof(msg), "%s", err_msg(&e, rc));
        }
        refuse(in, 422, "unknown", msg);
        return;
    }
    if (pdata_sample_count(pd) == 0) {
        pdata_free(pd);
        httpsrv_reply(in->req, 200, NULL, NULL, 0);
        return;
    }
    if (have_stc) {
        rc = pyro_stc_apply(pd, stc, nstc);
        changed = rc > 0;
    }
    changed |= default_time(pd, in->from_ns);
    if (!changed) {
        raw = blob_new(data, len);
    }
    pyro_metric_name(pd, stc, nstc, have_stc, in->metric, sizeof(in->metric));
    pyro_attrs_set(&a, SERIES_NAME_ATTR, in->metric);
    pyro_attrs_set(&a, "__delta__", "false");
    pyro_attrs_set(&a, "pyroscope_spy", in->spy);
    pyro_attrs_set(&a, SERIES_SERVICE_ATTR, in->name.app);
    user_labels(in, &a);
    deliver(in, pd, raw, &a, 0);
}

/* The series attributes of one JFR profile kind. */
static void jfr_attrs(struct ingest *in, const struct pyro_jfr_items *it,
                      uint32_t i, const char *svc, struct pyro_attrs *a)
{
    pyro_attrs_set(a, SERIES_NAME_ATTR, it->metric[i]);
    pyro_attrs_set(a, "__delta__", "false");
    pyro_attrs_set(a, "pyroscope_spy", in->spy[0] ? in->spy : "unknown");
    pyro_attrs_set(a, "jfr_event", it->jfr_event);
    user_labels(in, a);
    if (pyro_attrs_get(a, SERIES_SERVICE_ATTR) == NULL) {
        pyro_attrs_set(a, SERIES_SERVICE_ATTR, svc);
    } else if (pyro_attrs_get(a, "app_name") == NULL) {
        pyro_attrs_set(a, "app_name", svc);
    }
}

/* A JFR file (raw body or `jfr` part) and its optional `labels` part: one
 * item per profile kind, in one batch. */
static void ingest_jfr(struct ingest *in, const uint8_t *jfr, size_t jlen,
                       const uint8_t *labels, size_t llen)
{
    struct pyro_jfr_items it;
    struct errctx e = {{0}};
    struct shared_pdata *sp;
    struct batch *b;
    char svc[PYRO_NAME_MAX + 1], msg[300];
    uint32_t i;
    int rc;

    rc = pyro_jfr_convert(jfr, jlen, labels, llen, in->sample_rate,
                          (size_t)in->r->cfg->http.max_decompressed_size, &it,
                          &e);
    if (rc == PC_OK && (rc = pdata_check_text(it.pd, &e)) != PC_OK) {
        pyro_jfr_items_free(&it);
    }
    if (rc != PC_OK) {
        snprintf(msg, sizeof(msg), "%s", err_msg(&e, rc));
        refuse(in, rc == PC_ETOOBIG || rc == PC_ENOMEM ? 413 : 422,
               rc == PC_ETOOBIG || rc == PC_ENOMEM ? "invalid_argument"
                                                   : "unknown",
               msg);
        return;
    }
    if (it.n == 0) {
        pyro_jfr_items_free(&it);
        httpsrv_reply(in->req, 200, NULL, NULL, 0); /* no samples: no-op */
        return;
    }
    b = batch_new(in->r->host->id);
    sp = b != NULL ? shared_pdata_new(it.pd) : NULL;
    if (sp == NULL) {
        batch_unref(b);
        pyro_jfr_items_free(&it);
        httpsrv_reply_json_error(in->req, 500, "internal", "out of memory");
        return;
    }
    it.pd = NULL; /* sp owns it */
    pyro_jfr_service(in->name.app, svc, sizeof(svc));
    for (i = 0, rc = PC_OK; i < it.n && rc == PC_OK; i++) {
        struct pyro_attrs a = {{0}, {0}, 0};
        jfr_attrs(in, &it, i, svc, &a);
        rc = pyro_batch_add_view(b, sp, (int32_t)i, NULL, &a, in->tenant);
    }
    shared_pdata_unref(sp);
    if (rc != PC_OK) {
        batch_unref(b);
        httpsrv_reply_json_error(in->req, 500, "internal", "out of memory");
        return;
    }
    deliver_batch(in, b, 0);
}

static void ingest_multipart(struct ingest *in)
{
    struct mpart parts[MPART_MAX];
    struct pyro_stc stc[PYRO_MAX_STC];
    const struct mpart *p;
    struct errctx e = {{0}};
    char boundary[256];
    uint32_t n, nstc = 0;
    int have_stc = 0;

    if (mpart_boundary(in->req->content_type, boundary, sizeof(boundary)) !=
        PC_OK) {
        refuse(in, 422, "unknown", "multipart: no boundary in Content-Type");
        return;
    }
    if (mpart_parse(in->req->body, in->req->body_len, boundary, 0, parts,
                    MPART_MAX, &n, &e) != PC_OK) {
        refuse(in, 422, "unknown", e.msg);
        return;
    }
    p = mpart_get(parts, n, "prev_profile");
    if (p != NULL && p->len > 0) {
        refuse(in, 422, "unknown",
               "unsupported client version. Please "
               "update github.com/grafana/pyroscope-go");
        return;
    }
    p = mpart_get(parts, n, "sample_type_config");
    if (p != NULL) {
        if (pyro_stc_parse(p->data, p->len, stc, PYRO_MAX_STC, &nstc, &e) !=
            PC_OK) {
            refuse(in, 422, "unknown", e.msg);
            return;
        }
        have_stc = 1;
    }
    p = mpart_get(parts, n, "profile");
    if (p == NULL && (p = mpart_get(parts, n, "jfr")) != NULL) {
        const struct mpart *l = mpart_get(parts, n, "labels");
        ingest_jfr(in, p->data, p->len, l != NULL ? l->data : NULL,
                   l != NULL ? l->len : 0);
        return;
    }
    if (p == NULL) {
        httpsrv_reply(in->req, 200, NULL, NULL, 0); /* nothing to ingest */
        return;
    }
    ingest_pprof(in, p->data, p->len, stc, nstc, have_stc);
}

/* Folded or lines: the profile type is the app name's last '.' suffix. */
static void ingest_text(struct ingest *in, enum pyro_text_format fmt)
{
    struct pyro_attrs a = {{0}, {0}, 0};
    struct pyro_ptype pt;
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    const char *app = in->name.app, *dot = strrchr(app, '.');
    const char *suffix = dot != NULL ? dot + 1 : "cpu";
    const char *pid = pyro_name_get(&in->name, "profile_id");
    char base[PYRO_NAME_MAX + 1], msg[300];
    size_t blen = dot != NULL ? (size_t)(dot - app) : strlen(app);
    int rc;

    if (pyro_profile_type(suffix, strlen(suffix), &pt) != PC_OK) {
        snprintf(msg, sizeof(msg), "unknown profile type: %.200s", suffix);
        refuse(in, 400, "invalid_argument", msg);
        return;
    }
    if (pid != NULL && pid[0] != '\0') {
        httpsrv_reply(in->req, 200, NULL, NULL, 0); /* Pyroscope drops it */
        return;
    }
    rc = pyro_folded_parse(in->req->body, in->req->body_len, fmt, &pt,
                           in->sample_rate, in->from_ns,
                           (size_t)in->r->cfg->http.max_decompressed_size *
                               LIMIT_ARENA_FACTOR,
                           &pd, &e);
    if (rc == PC_OK && pd != NULL &&
        (rc = pdata_check_text(pd, &e)) != PC_OK) {
        pdata_free(pd); /* a backend would refuse it later */
        pd = NULL;
    }
    if (rc != PC_OK) {
        snprintf(msg, sizeof(msg), "%s", err_msg(&e, rc));
        refuse(in, rc == PC_ETOOBIG || rc == PC_ENOMEM ? 413 : 422,
               rc == PC_ETOOBIG || rc == PC_ENOMEM ? "invalid_argument"
                                                   : "unknown",
               msg);
        return;
    }
    if (pd == NULL) {
        httpsrv_reply(in->req, 200, NULL, NULL, 0); /* empty profile */
        return;
    }
    memcpy(base, app, blen);
    base[blen] = '\0';
    pyro_attrs_set(&a, SERIES_NAME_ATTR, pt.metric);
    pyro_attrs_set(&a, "__delta__", "false");
    pyro_attrs_set(&a, "pyroscope_spy", in->spy);
    user_labels(in, &a);
    if (pyro_attrs_get(&a, SERIES_SERVICE_ATTR) == NULL) {
        pyro_attrs_set(&a, SERIES_SERVICE_ATTR, base);
    } else if (pyro_attrs_get(&a, "app_name") == NULL) {
        pyro_attrs_set(&a, "app_name", base);
    }
    deliver(in, pd, NULL, &a, 1);
}

/* Worker thread (the route's handler). */
void pyro_ingest_handler(struct httpsrv_req *req, void *arg)
{
    struct ingest *in = calloc(1, sizeof(*in)); /* large: not on stack */
    char msg[200];

    if (in == NULL) {
        httpsrv_reply_json_error(req, 500, "internal", "out of memory");
        return;
    }
    in->r = arg;
    in->req = req;
    in->tenant = pyro_tenant(in->r, req, 0);
    if (in->tenant != NULL && parse_query(in) == 0) {
        switch (pick_format(in)) {
        case IN_UNSUPPORTED:
            snprintf(msg, sizeof(msg),
                     "format \"%s\" is not supported by "
                     "profcol (send pprof, folded or lines)",
                     in->unsupported);
            refuse(in, 415, "invalid_argument", msg);
            break;
        case IN_LINES:
            ingest_text(in, PYRO_TEXT_LINES);
            break;
        case IN_PPROF:
            ingest_pprof(in, req->body, req->body_len, NULL, 0, 0);
            break;
        case IN_MULTIPART:
            ingest_multipart(in);
            break;
        case IN_JFR:
            ingest_jfr(in, req->body, req->body_len, NULL, 0);
            break;
        case IN_FOLDED:
            ingest_text(in, PYRO_TEXT_FOLDED);
            break;
        }
    }
    free(in);
}
