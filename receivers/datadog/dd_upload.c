/*
 * dd_upload.c: one Datadog profile upload (POST /profiling/v1/input or
 * /api/v2/profile), on an HTTP decode worker: the multipart body, its
 * event, then each attachment on its own. A bad attachment does not cost
 * the others: the whole ones are delivered, the client is told 400 with
 * every reason, and the refused ones are counted.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/jfr/jfr.h"
#include "codec/pprof.h"
#include "model/limits.h"
#include "core/clock.h"
#include "component/series.h"
#include "telemetry/log.h"
#include "receivers/datadog/dd.h"
#include "receivers/datadog/dd_recv.h"

struct upload {
    struct dd_recv *r;
    struct httpsrv_req *req;
    struct dd_job *j; /* its msg gathers the reasons of refusals */
    struct mpart parts[MPART_MAX];
    uint32_t nparts;
    struct dd_event ev;
    char tagbuf[DD_TAGS_MAX];
    struct dd_tag tags[DD_MAX_TAGS];
    uint32_t ntags;
    const char *language;
    struct batch *b;
};

/* Records why something of the upload was refused (the answer is 400). */
static void refuse(struct upload *u, uint32_t profiles, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void refuse(struct upload *u, uint32_t profiles, const char *fmt, ...)
{
    size_t used = strlen(u->j->msg);
    va_list ap;

    u->j->status = 400;
    u->j->job.refused_profiles += profiles;
    if (used > 0 && used + 2 < sizeof(u->j->msg)) {
        memcpy(u->j->msg + used, "; ", 3);
        used += 2;
    }
    va_start(ap, fmt);
    vsnprintf(u->j->msg + used, sizeof(u->j->msg) - used, fmt, ap);
    va_end(ap);
}

/* The name an attachment goes by: v4's file name, v3's `data[<name>]`. */
static void attach_name(const struct mpart *p, char *out, size_t size)
{
    size_t n = strlen(p->name);

    if (n > 6 && strncmp(p->name, "data[", 5) == 0 && p->name[n - 1] == ']' &&
        (p->name[5] < '0' || p->name[5] > '9')) {
        snprintf(out, size, "%.*s", (int)(n - 6), p->name + 5);
    } else {
        snprintf(out, size, "%s", p->filename[0] ? p->filename : p->name);
    }
}

static int is_attachment(const struct mpart *p)
{
    return p->filename[0] != '\0' && strcmp(p->name, "event") != 0;
}

static int item_attrs(struct upload *u, struct item *it, const char *name)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < u->ntags && rc == PC_OK; i++) {
        const char *k = u->tags[i].key, *v = u->tags[i].value;
        if (v[0] == '\0' || strcmp(k, "language") == 0) {
            continue;
        }
        rc = item_set_attr_str(u->b, it, dd_tag_attr(k), v, strlen(v));
    }
    if (rc == PC_OK && u->language != NULL) {
        rc = item_set_attr_str(u->b, it, "telemetry.sdk.language", u->language,
                               strlen(u->language));
    }
    if (rc == PC_OK) {
        rc = item_set_attr_str(u->b, it, SERIES_NAME_ATTR, name, strlen(name));
    }
    if (rc == PC_OK) {
        rc = item_set_attr_str(u->b, it, "__delta__", "false", 5);
    }
    return rc;
}

/* One item viewing resource `resource` (-1: all) of sp (a reference is
 * taken). */
static int add_view(struct upload *u, struct shared_pdata *sp,
                    int32_t resource, const char *name)
{
    struct item *it;

    if (u->b == NULL && (u->b = batch_new(u->r->host->id)) == NULL) {
        return PC_ENOMEM;
    }
    if ((it = batch_add_item(u->b)) == NULL) {
        return PC_ENOMEM;
    }
    it->format = PAYLOAD_PPROF;
    it->pd = shared_pdata_ref(sp);
    it->resource = resource;
    pdata_count(sp->pd, resource, &it->nprofiles, &it->nsamples);
    it->received_ns = (uint64_t)clock_real_ns();
    return item_attrs(u, it, name);
}

/* One item for pd (taken). */
static int add_item(struct upload *u, struct pdata *pd, const char *name)
{
    struct shared_pdata *sp = shared_pdata_new(pd);
    int rc;

    if (sp == NULL) {
        pdata_free(pd);
        return PC_ENOMEM;
    }
    rc = add_view(u, sp, -1, name);
    shared_pdata_unref(sp);
    return rc;
}

/* The window of the upload where the profile has none. */
static void default_times(struct upload *u, struct pdata *pd)
{
    struct profile *p;

    if (pd->nresources == 0 || pd->resources[0].nscopes == 0 ||
        pd->resources[0].scopes[0].nprofiles == 0) {
        return;
    }
    p = &pd->resources[0].scopes[0].profiles[0];
    /* A duration of 0 is the profiler's choice (Node's heap snapshot):
     * only a profile without a time gets the window. */
    if (p->time_nanos <= 0) {
        p->time_nanos = u->ev.start_ns;
        if (p->duration_nanos <= 0 && u->ev.end_ns > u->ev.start_ns) {
            p->duration_nanos = u->ev.end_ns - u->ev.start_ns;
        }
    }
}

static void take_pprof(struct upload *u, const char *name, const uint8_t *p,
                       size_t n)
{
    size_t max = (size_t)u->r->cfg->http.max_decompressed_size;
    struct decode_limits lim = {max};
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    char metric[128];
    struct buf b;
    int rc;

    buf_init(&b, max);
    rc = dd_attach_inflate(p, n, max, &b, &e);
    if (rc == PC_OK) {
        rc = pprof_decode(b.data, b.len, &lim, &pd, &e);
    }
    buf_free(&b);
    if (rc == PC_OK) {
        rc = pdata_check_text(pd, &e); /* a backend would refuse it later */
    }
    if (rc == PC_OK && (rc = dd_labels_normalize(pd)) > 0) {
        rc = PC_OK;
    }
    if (rc != PC_OK) {
        pdata_free(pd);
        refuse(u, 1, "attachment %s: %s", name, err_msg(&e, rc));
        return;
    }
    if (pdata_sample_count(pd) == 0) {
        pdata_free(pd); /* nothing happened in the window */
        return;
    }
    default_times(u, pd);
    dd_profile_name(pd, name, metric, sizeof(metric));
    if (add_item(u, pd, metric) != PC_OK) {
        refuse(u, 1, "attachment %s: out of memory", name);
    }
}

/* Java's main.jfr: one item per profile kind, all viewing one pdata. */
static void take_jfr(struct upload *u, const char *name, const uint8_t *p,
                     size_t n)
{
    size_t max = (size_t)u->r->cfg->http.max_decompressed_size;
    struct jfr_options o = {0};
    struct jfr_limits lim;
    struct jfr_result res;
    struct shared_pdata *sp;
    struct errctx e = {{0}};
    struct buf b;
    uint32_t i;
    int rc;

    jfr_limits_default(&lim);
    lim.max_alloc = max * LIMIT_ARENA_FACTOR;
    o.limits = &lim;
    buf_init(&b, max);
    rc = dd_attach_inflate(p, n, max, &b, &e);
    if (rc == PC_OK) {
        rc = jfr_convert(b.data, b.len, &o, &res, &e);
    }
    buf_free(&b);
    if (rc == PC_OK && res.nprofiles == 0) {
        /* Only events of kinds that are not profiles (CPU load, GC, ...):
         * a valid upload, which the intake takes too, with nothing to
         * forward, like a pprof without samples. Refusing it made the
         * tracer log a failed upload for a quiet window. */
        log_debug(u->r->host->id, "upload without profiles",
                  "attachment=%s events=%llu", name,
                  (unsigned long long)res.nevents);
        pdata_free(res.pd);
        return;
    }
    if (rc == PC_OK && ((rc = pdata_check_text(res.pd, &e)) != PC_OK ||
                        (rc = jfr_split_kinds(&res)) != PC_OK)) {
        pdata_free(res.pd);
    }
    if (rc != PC_OK) {
        refuse(u, 1, "attachment %s: %s", name, err_msg(&e, rc));
        return;
    }
    if ((sp = shared_pdata_new(res.pd)) == NULL) {
        pdata_free(res.pd);
        refuse(u, 1, "attachment %s: out of memory", name);
        return;
    }
    for (i = 0; i < res.nprofiles; i++) {
        if (add_view(u, sp, (int32_t)i, jfr_kind_metric(res.kind[i])) !=
            PC_OK) {
            refuse(u, 1, "attachment %s: out of memory", name);
            break;
        }
    }
    shared_pdata_unref(sp);
}

/* Every listed attachment must be there; each one there is converted. */
static void take_attachments(struct upload *u)
{
    char name[256];
    uint32_t i, k;

    for (i = 0; i < u->ev.nattach; i++) {
        for (k = 0; k < u->nparts; k++) {
            attach_name(&u->parts[k], name, sizeof(name));
            if (is_attachment(&u->parts[k]) &&
                strcmp(name, u->ev.attach[i]) == 0) {
                break;
            }
        }
        if (k == u->nparts) {
            refuse(u, 1,
                   "attachment %s: listed in the event, missing from "
                   "the body",
                   u->ev.attach[i]);
        }
    }
    for (k = 0; k < u->nparts; k++) {
        const struct mpart *p = &u->parts[k];
        if (!is_attachment(p)) {
            continue;
        }
        attach_name(p, name, sizeof(name));
        switch (dd_attach_kind(name)) {
        case DD_ATT_PPROF:
            take_pprof(u, name, p->data, p->len);
            break;
        case DD_ATT_JFR:
            take_jfr(u, name, p->data, p->len);
            break;
        default:
            break; /* metrics.json, go.trace, code-provenance.json */
        }
    }
}

/* The body's parts; a body cut short keeps the parts before the cut. */
static int read_parts(struct upload *u)
{
    struct errctx e = {{0}};
    char boundary[256];
    int rc;

    if (mpart_boundary(u->req->content_type, boundary, sizeof(boundary)) !=
        PC_OK) {
        refuse(u, 0,
               "Content-Type is not multipart/form-data with a "
               "boundary");
        return -1;
    }
    rc = mpart_parse(u->req->body, u->req->body_len, boundary, MPART_FIELDS,
                     u->parts, MPART_MAX, &u->nparts, &e);
    if (rc != PC_OK) {
        refuse(u, 0, "%s", err_msg(&e, rc));
    }
    return PC_OK;
}

static int check_key(struct upload *u)
{
    const char *want = u->r->cfg->api_key, *got;

    if (want == NULL || want[0] == '\0') {
        return 0;
    }
    got = httpsrv_header(u->req, "DD-API-KEY");
    if (got == NULL || strcmp(got, want) != 0) {
        u->j->status = 403;
        snprintf(u->j->msg, sizeof(u->j->msg), "%s",
                 got == NULL ? "no DD-API-KEY header" : "bad DD-API-KEY");
        return -1;
    }
    return 0;
}

static void upload_run(struct upload *u)
{
    struct errctx e = {{0}};
    int rc;

    if (check_key(u) != 0 || read_parts(u) != 0) {
        return;
    }
    rc = dd_event_read(u->parts, u->nparts, &u->ev, &e);
    if (rc != PC_OK) {
        refuse(u, 0, "%s", err_msg(&e, rc));
        return;
    }
    memcpy(u->tagbuf, u->ev.tags, sizeof(u->tagbuf));
    u->ntags = dd_tags_split(u->tagbuf, u->tags, DD_MAX_TAGS);
    u->language = dd_language(dd_tag_get(u->tags, u->ntags, "language"),
                              u->ev.family);
    take_attachments(u);
}

/* Worker thread (the routes' handler). */
void dd_upload_handler(struct httpsrv_req *req, void *arg)
{
    struct upload *u = calloc(1, sizeof(*u)); /* large: not on the stack */
    struct dd_job *j = dd_job_new(arg);

    if (u == NULL || j == NULL) {
        free(u);
        free(j);
        httpsrv_reply_json_error(req, 500, "internal", "out of memory");
        return;
    }
    u->r = arg;
    u->req = req;
    u->j = j;
    upload_run(u);
    j->job.b = u->b;
    if (j->status != 200) {
        /* The body's bytes count as refused with its refused profiles. */
        if (j->job.refused_profiles > 0) {
            j->job.refused_bytes = req->wire_len;
        }
        log_debug(u->r->host->id, "upload refused", "status=%d error=\"%s\"",
                  j->status, j->msg);
    }
    free(u);
    httpintake_submit(req, &j->job);
}
