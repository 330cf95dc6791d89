/*
 * scrape_targets.c: from target groups to scrape loops.
 *
 * Every (discovered target x enabled profile) gets Prometheus's meta labels
 * (`job`, `__address__`, `__scheme__`, `__profile_path__`, `__name__`,
 * `__param_<k>`, `__meta_filepath` for file_sd; group labels win over the
 * defaults), then the job's relabel rules. A survivor becomes a loop with
 * `instance` (defaulting to `__address__`), its URL, and its final labels:
 * every label not starting with `__`, plus `__name__`.
 *
 * A loop's identity is a hash of its final labels and URL. On every change
 * of discovery the new candidates and the running loops, both sorted by
 * identity, are merged: unchanged loops keep their timer phase and delta
 * baseline, vanished ones are stopped with their state and metrics, new
 * ones are started.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/hex.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "receivers/scrape/scrape.h"

struct cand {
    uint64_t id;
    struct labelset labels;
    char *url;
    char *host_header;
    char *connect_to;
    const struct scrape_profile *prof;
};

struct cands {
    struct cand *v;
    uint32_t n, cap;
};

static void cand_free(struct cand *c)
{
    labels_free(&c->labels);
    free(c->url);
    free(c->host_header);
    free(c->connect_to);
}

static int has_param(const struct labelset *ls, const char *name)
{
    char key[128];

    snprintf(key, sizeof(key), "__param_%s", name);
    return labels_get(ls, key) != NULL;
}

/* scheme://address/path?__param_*&seconds=N */
static char *build_url(const struct labelset *ls, const char *host,
                       const struct scrape_profile *prof)
{
    const char *scheme = labels_get(ls, "__scheme__");
    const char *path = labels_get(ls, "__profile_path__");
    struct buf b;
    char sep = '?';
    uint32_t i;
    int rc;

    buf_init(&b, 65536);
    rc = buf_printf(&b, "%s://%s%s%s", scheme != NULL ? scheme : "http", host,
                    (path != NULL && path[0] != '/') ? "/" : "",
                    path != NULL ? path : "");
    for (i = 0; i < ls->n && rc == PC_OK; i++) {
        if (strncmp(ls->v[i].name, "__param_", 8) != 0) {
            continue;
        }
        rc = buf_putc(&b, (uint8_t)sep);
        sep = '&';
        if (rc == PC_OK) {
            rc = pct_encode(&b, ls->v[i].name + 8, strlen(ls->v[i].name + 8));
        }
        if (rc == PC_OK) {
            rc = buf_putc(&b, '=');
        }
        if (rc == PC_OK) {
            rc = pct_encode(&b, ls->v[i].value, strlen(ls->v[i].value));
        }
    }
    if (rc == PC_OK && prof->seconds > 0 && !has_param(ls, "seconds")) {
        rc = buf_printf(&b, "%cseconds=%lld", sep, (long long)prof->seconds);
    }
    if (rc == PC_OK) {
        rc = buf_putc(&b, '\0');
    }
    if (rc != PC_OK) {
        buf_free(&b);
        return NULL;
    }
    return (char *)buf_take(&b, NULL);
}

/* With tls_config.server_name the URL names server_name (so TLS sends and
 * verifies it), curl connects to the real address (CONNECT_TO) and the
 * Host header still carries the address, as Prometheus does. */
static int tls_redirect(struct cand *c, const struct labelset *ls,
                        const char *addr, const struct scrape_job_cfg *jc)
{
    const char *sn = jc->tls_config.server_name;
    const char *colon = strrchr(addr, ':');
    const char *bracket = strrchr(addr, ']');
    char host[512];
    char port[16] = "443";

    if (sn == NULL || sn[0] == '\0') {
        return PC_OK;
    }
    if (colon != NULL && (bracket == NULL || colon > bracket)) {
        snprintf(host, sizeof(host), "%.*s", (int)(colon - addr), addr);
        snprintf(port, sizeof(port), "%s", colon + 1);
    } else {
        snprintf(host, sizeof(host), "%s", addr);
    }
    if (asprintf(&c->connect_to, "::%s:%s", host, port) < 0) {
        c->connect_to = NULL;
        return PC_ENOMEM;
    }
    if (asprintf(&c->host_header, "Host: %s", addr) < 0) {
        c->host_header = NULL;
        return PC_ENOMEM;
    }
    snprintf(host, sizeof(host), "%s:%s", sn, port);
    c->url = build_url(ls, host, c->prof);
    return c->url != NULL ? PC_OK : PC_ENOMEM;
}

static int set_default(struct labelset *ls, const char *k, const char *v)
{
    return labels_get(ls, k) != NULL ? PC_OK : labels_set(ls, k, v);
}

/* The labels before relabeling. */
static int base_labels(const struct scrape_job *job,
                       const struct scrape_group *g, const char *target,
                       const char *sdpath, const struct scrape_profile *prof,
                       struct labelset *ls)
{
    const struct scrape_job_cfg *jc = job->cfg;
    int rc = labels_copy(ls, &g->labels);
    uint32_t i;

    if (rc == PC_OK) {
        rc = labels_set(ls, "__address__", target);
    }
    if (rc == PC_OK) {
        rc = set_default(ls, "job", jc->job_name);
    }
    if (rc == PC_OK) {
        rc = set_default(ls, "__scheme__", jc->scheme ? "https" : "http");
    }
    if (rc == PC_OK) {
        rc = labels_set(ls, "__profile_path__", prof->path);
    }
    if (rc == PC_OK) {
        rc = labels_set(ls, "__name__", prof->name);
    }
    if (rc == PC_OK && sdpath != NULL) {
        rc = labels_set(ls, "__meta_filepath", sdpath);
    }
    for (i = 0; i < jc->params.n && rc == PC_OK; i++) {
        char key[256];
        snprintf(key, sizeof(key), "__param_%s", jc->params.keys[i]);
        rc = set_default(ls, key, jc->params.values[i]);
    }
    return rc;
}

/* Final labels: no `__` labels except __name__. */
static int final_labels(const struct labelset *in, struct labelset *out)
{
    uint32_t i;
    int rc = PC_OK;

    labels_init(out);
    for (i = 0; i < in->n && rc == PC_OK; i++) {
        const char *n = in->v[i].name;
        if (strncmp(n, "__", 2) == 0 && strcmp(n, "__name__") != 0) {
            continue;
        }
        rc = labels_set(out, n, in->v[i].value);
    }
    return rc;
}

static int cands_push(struct cands *cs, struct cand *c)
{
    if (cs->n == cs->cap) {
        uint32_t ncap = cs->cap ? cs->cap * 2 : 64;
        struct cand *nv = realloc(cs->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        cs->v = nv;
        cs->cap = ncap;
    }
    cs->v[cs->n++] = *c;
    return PC_OK;
}

/* Pyroscope v0's names of the profiles a per-target switch may use. */
static const char *v0_alias(const char *name)
{
    if (strcmp(name, "process_cpu") == 0) {
        return "cpu";
    }
    if (strcmp(name, "memory") == 0) {
        return "mem";
    }
    if (strcmp(name, "goroutine") == 0) {
        return "goroutines";
    }
    return NULL;
}

/* The target's switch for prof: `__profile_<name>_enabled[__]` (also under
 * the v0 name) = "true" / "false"; -1 when it has none. */
static int profile_switch(const struct labelset *ls,
                          const struct scrape_profile *prof)
{
    const char *names[2] = {prof->name, v0_alias(prof->name)};
    char key[128];
    int i, tail;

    for (i = 0; i < 2; i++) {
        for (tail = 0; tail < 2 && names[i] != NULL; tail++) {
            const char *v;
            snprintf(key, sizeof(key), "__profile_%s_enabled%s", names[i],
                     tail ? "__" : "");
            v = labels_get(ls, key);
            if (v != NULL && strcmp(v, "true") == 0) {
                return 1;
            }
            if (v != NULL && strcmp(v, "false") == 0) {
                return 0;
            }
        }
    }
    return -1;
}

/* service_name from the job's service_name_label; a label other than
 * `service_name` is copied there, and `__name__` (where Pyroscope v0
 * configs write the application name) gets the profile's name back. */
static int service_name(struct scrape_job *job, struct labelset *ls,
                        const struct scrape_profile *prof)
{
    const char *from = job->cfg->service_name_label;
    const char *v;
    int rc = PC_OK;

    if (from == NULL || from[0] == '\0' || strcmp(from, "service_name") == 0) {
        return PC_OK;
    }
    v = labels_get(ls, from);
    if (v != NULL && v[0] != '\0') {
        rc = labels_set(ls, "service_name", v);
    }
    if (rc == PC_OK && strcmp(from, "__name__") == 0) {
        rc = labels_set(ls, "__name__", prof->name);
    }
    return rc;
}

static int relabeled(struct scrape_job *job, struct labelset *ls,
                     struct cand *c, const struct scrape_profile *prof)
{
    const char *addr, *scheme;
    char shown[256];
    int rc = relabel_apply(&job->rules, ls);
    int sw;

    if (rc < 0) {
        labels_format(ls, shown, sizeof(shown));
        log_warn(job->rcv->host->id,
                 "target dropped: labels too large after "
                 "relabeling",
                 "job=\"%s\" labels=\"%s\"", job->cfg->job_name, shown);
        return 0;
    }
    if (rc == 0) {
        return 0;
    }
    sw = profile_switch(ls, prof);
    if (sw == 0 || (prof->off && sw != 1)) {
        return 0;
    }
    if (service_name(job, ls, prof) != PC_OK) {
        return 0;
    }
    addr = labels_get(ls, "__address__");
    if (addr == NULL || addr[0] == '\0') {
        log_warn(job->rcv->host->id,
                 "target dropped: no __address__ after "
                 "relabeling",
                 "job=\"%s\"", job->cfg->job_name);
        return 0;
    }
    if (set_default(ls, "instance", addr) != PC_OK) {
        return 0;
    }
    memset(c, 0, sizeof(*c));
    c->prof = prof;
    if (final_labels(ls, &c->labels) != PC_OK) {
        cand_free(c);
        return 0;
    }
    scheme = labels_get(ls, "__scheme__");
    if (scheme != NULL && strcmp(scheme, "https") == 0) {
        if (tls_redirect(c, ls, addr, job->cfg) != PC_OK) {
            cand_free(c);
            return 0;
        }
    }
    if (c->url == NULL) {
        c->url = build_url(ls, addr, prof);
    }
    if (c->url == NULL) {
        cand_free(c);
        return 0;
    }
    c->id = XXH3_64bits_withSeed(c->url, strlen(c->url),
                                 labels_hash(&c->labels));
    return 1;
}

static void add_group(struct scrape_job *job, const struct scrape_group *g,
                      const char *sdpath, struct cands *cs)
{
    uint32_t t, p;

    for (t = 0; t < g->ntargets; t++) {
        for (p = 0; p < job->nprofiles; p++) {
            struct labelset ls;
            struct cand c;
            const struct scrape_profile *prof = &job->profiles[p];
            if (base_labels(job, g, g->targets[t], sdpath, prof, &ls) ==
                    PC_OK &&
                relabeled(job, &ls, &c, prof) && cands_push(cs, &c) != PC_OK) {
                cand_free(&c);
            }
            labels_free(&ls);
        }
    }
}

static int cand_cmp(const void *a, const void *b)
{
    uint64_t x = ((const struct cand *)a)->id,
             y = ((const struct cand *)b)->id;

    return x < y ? -1 : x > y;
}

static void collect(struct scrape_job *job, struct cands *cs)
{
    uint32_t i, k, n;
    const char *path;

    for (i = 0; i < job->nstatic; i++) {
        add_group(job, &job->static_groups[i], NULL, cs);
    }
    for (i = 0; i < job->nk8s; i++) {
        for (k = 0; k < job->k8s[i].ngroups; k++) {
            add_group(job, &job->k8s[i].groups[k], NULL, cs);
        }
    }
    for (i = 0; i < job->nsd; i++) {
        for (k = 0; k < job->sds[i].nfiles; k++) {
            const struct scrape_group *g = scrape_sd_groups(&job->sds[i], k,
                                                            &n, &path);
            uint32_t j;
            for (j = 0; j < n; j++) {
                add_group(job, &g[j], path, cs);
            }
        }
    }
    if (cs->n > 1) { /* none yet (discovery still listing): v is NULL */
        qsort(cs->v, cs->n, sizeof(*cs->v), cand_cmp);
    }
}

static struct scrape_loop *loop_from(struct scrape_job *job, struct cand *c)
{
    struct scrape_loop *l = scrape_loop_new(job);

    if (l == NULL) {
        cand_free(c);
        return NULL;
    }
    l->id = c->id;
    l->labels = c->labels;
    l->url = c->url;
    l->host_header = c->host_header;
    l->connect_to = c->connect_to;
    l->prof = c->prof;
    memset(c, 0, sizeof(*c));
    if (scrape_loop_start(l) != PC_OK) {
        scrape_loop_free(l);
        return NULL;
    }
    return l;
}

struct merge {
    struct scrape_loop **keep;
    uint32_t nkeep;
    struct scrape_loop **gone;
    uint32_t ngone;
};

static void merge_step(struct scrape_job *job, struct cands *cs,
                       struct merge *m)
{
    uint32_t i = 0, j = 0;
    uint64_t prev = 0; /* id of the candidate taken last (loop_from
                          clears the candidate itself) */

    while (i < job->nloops || j < cs->n) {
        struct scrape_loop *old = i < job->nloops ? job->loops[i] : NULL;
        struct cand *c = j < cs->n ? &cs->v[j] : NULL;
        if (c != NULL && j > 0 && prev == c->id) {
            cand_free(c); /* a duplicate target */
            j++;
        } else if (c == NULL || (old != NULL && old->id < c->id)) {
            m->gone[m->ngone++] = old;
            i++;
        } else if (old != NULL && old->id == c->id) {
            m->keep[m->nkeep++] = old;
            prev = c->id;
            cand_free(c);
            i++;
            j++;
        } else {
            struct scrape_loop *l;
            prev = c->id;
            l = loop_from(job, c);
            if (l != NULL) {
                m->keep[m->nkeep++] = l;
            }
            j++;
        }
    }
}

void scrape_job_sync(struct scrape_job *job)
{
    struct cands cs = {NULL, 0, 0};
    struct merge m;
    uint32_t i;

    collect(job, &cs);
    m.keep = calloc((size_t)job->nloops + cs.n + 1, sizeof(*m.keep));
    m.gone = calloc((size_t)job->nloops + 1, sizeof(*m.gone));
    m.nkeep = m.ngone = 0;
    if (m.keep == NULL || m.gone == NULL) {
        free(m.keep);
        free(m.gone);
        for (i = 0; i < cs.n; i++) {
            cand_free(&cs.v[i]);
        }
        free(cs.v);
        return; /* out of memory: keep the loops we have */
    }
    merge_step(job, &cs, &m);
    free(cs.v);
    free(job->loops);
    job->loops = m.keep;
    job->nloops = m.nkeep;
    for (i = 0; i < m.ngone; i++) {
        scrape_loop_free(m.gone[i]);
    }
    free(m.gone);
    if (job->m_targets != NULL) {
        mgauge_set(job->m_targets, job->nloops);
    }
    log_info(job->rcv->host->id, "targets updated",
             "job=\"%s\" loops=%u "
             "stopped=%u",
             job->cfg->job_name, job->nloops, m.ngone);
}
