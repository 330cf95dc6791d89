/*
 * lb_exporter.c: the `loadbalancing` exporter, the front tier of a scaled
 * gateway. Every item (series) of a batch is routed by a key (its service,
 * its whole series, or its first trace id) over a consistent-hash ring of
 * backends (lb_ring.h) and sent to its owner with OTLP gRPC
 * (ProfilesService/Export), one gRPC channel per backend, with the `otlp`
 * exporter's settings under `protocol.otlp`. Backends come from a static
 * list or from DNS (A/AAAA), re-resolved on a thread of its own.
 *
 * Delivery: the exporter sits behind the exporter helper (queue, retry,
 * persistence) like any other. One export attempt sends each backend its
 * part in parallel. When some parts fail with a retryable error, the items
 * that were delivered (or settled for good) are recorded against the batch,
 * and the helper's retry of the same batch sends only the rest, routed by
 * the ring of that moment (a backend that left gives its keys to their new
 * owner). The record holds a reference on the batch, so its address cannot
 * be reused by another batch while the record lives; records untouched for
 * longer than the retry schedule allows are dropped. After a crash the
 * persistent queue replays whole batches (at-least-once).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <xxhash.h>

#include "core/clock.h"
#include "exporters/loadbalancing/lb_dns.h"
#include "exporters/loadbalancing/lb_ring.h"
#include "core/assert.h"
#include "codec/otlp.h"
#include "component/batch_otlp.h"
#include "component/component.h"
#include "core/hex.h"
#include "model/pdata_iter.h"
#include "exporterhelper/exporter_helper.h"
#include "net/grpccli.h"
#include "telemetry/log.h"
#include "telemetry/metrics.h"
#include "component/series.h"

#define LB_ENDPOINT_MAX 280
#define LB_RECORDS_MAX 65536
#define LB_DEFAULT_PORT 4317

enum lb_routing { LB_ROUTE_SERVICE, LB_ROUTE_SERIES, LB_ROUTE_TRACE_ID };

static const char *const lb_routing_names[] = {"service", "series", "trace_id",
                                               NULL};
static const char *const lb_compressions[] = {"gzip", "none", NULL};

struct lb_otlp_cfg {
    char *endpoint; /* must stay unset */
    int64_t timeout_ms;
    struct grpccli_conn_cfg conn;
    int compression;
    uint64_t max_request_bytes;
};

struct lb_protocol_cfg {
    struct lb_otlp_cfg otlp;
};

struct lb_static_cfg {
    struct cfg_strlist hostnames;
};

struct lb_dns_cfg {
    char *hostname;
    int64_t port;
    int64_t interval_ms;
    int64_t timeout_ms;
    char *server;
};

struct lb_resolver_cfg {
    struct lb_static_cfg st;
    struct lb_dns_cfg dns;
};

struct lb_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    int routing_key;
    struct lb_protocol_cfg protocol;
    struct lb_resolver_cfg resolver;
};
EXPHELPER_CFG_FIRST(struct lb_cfg, helper);

/* clang-format off */
static const struct cfg_entry lb_otlp_table[] = {
    {.key = "endpoint", .type = CFG_STRING,
     .offset = offsetof(struct lb_otlp_cfg, endpoint),
     .doc = "must not be set: the resolver gives the endpoints"},
    {.key = "timeout", .type = CFG_DURATION, .def = "5s", .min = 1,
     .max = 3600000, .offset = offsetof(struct lb_otlp_cfg, timeout_ms),
     .doc = "time limit of one call to one backend"},
    GRPCCLI_CONN_CFG_ENTRIES(struct lb_otlp_cfg, conn),
    {.key = "compression", .type = CFG_ENUM, .def = "gzip",
     .enum_values = lb_compressions,
     .offset = offsetof(struct lb_otlp_cfg, compression),
     .doc = "gRPC message compression: gzip or none"},
    {.key = "max_request_bytes", .type = CFG_SIZE, .def = "4MiB",
     .min = 1024, .max = INT32_MAX,
     .offset = offsetof(struct lb_otlp_cfg, max_request_bytes),
     .doc = "larger requests are split"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry lb_protocol_table[] = {
    {.key = "otlp", .type = CFG_SECTION, .sub = lb_otlp_table,
     .offset = offsetof(struct lb_protocol_cfg, otlp),
     .doc = "the otlp exporter's settings for every backend"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry lb_static_table[] = {
    {.key = "hostnames", .type = CFG_STRLIST,
     .offset = offsetof(struct lb_static_cfg, hostnames),
     .doc = "backends as host:port (port 4317 when left out)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry lb_dns_table[] = {
    {.key = "hostname", .type = CFG_STRING,
     .offset = offsetof(struct lb_dns_cfg, hostname),
     .doc = "name whose A/AAAA records are the backends"},
    {.key = "port", .type = CFG_INT, .def = "4317", .min = 1, .max = 65535,
     .offset = offsetof(struct lb_dns_cfg, port),
     .doc = "port of every backend"},
    {.key = "interval", .type = CFG_DURATION, .def = "5s", .min = 100,
     .max = 86400000, .offset = offsetof(struct lb_dns_cfg, interval_ms),
     .doc = "how often the name is resolved again"},
    {.key = "timeout", .type = CFG_DURATION, .def = "1s", .min = 1,
     .max = 60000, .offset = offsetof(struct lb_dns_cfg, timeout_ms),
     .doc = "time limit of one DNS try (whole seconds, at least 1)"},
    {.key = "server", .type = CFG_STRING,
     .offset = offsetof(struct lb_dns_cfg, server),
     .doc = "IPv4:port of the DNS server to ask (default: resolv.conf)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry lb_resolver_table[] = {
    {.key = "static", .type = CFG_SECTION, .sub = lb_static_table,
     .offset = offsetof(struct lb_resolver_cfg, st),
     .doc = "a fixed list of backends"},
    {.key = "dns", .type = CFG_SECTION, .sub = lb_dns_table,
     .offset = offsetof(struct lb_resolver_cfg, dns),
     .doc = "backends from a DNS name (e.g. a headless Service)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry lb_table[] = {
    EXPHELPER_CFG_ENTRIES(struct lb_cfg, helper),
    {.key = "routing_key", .type = CFG_ENUM, .def = "service",
     .enum_values = lb_routing_names,
     .offset = offsetof(struct lb_cfg, routing_key),
     .doc = "service, series or trace_id"},
    {.key = "protocol", .type = CFG_SECTION, .sub = lb_protocol_table,
     .offset = offsetof(struct lb_cfg, protocol),
     .doc = "how backends are reached (protocol.otlp)"},
    {.key = "resolver", .type = CFG_SECTION, .sub = lb_resolver_table,
     .offset = offsetof(struct lb_cfg, resolver), .required = 1,
     .doc = "where the backends come from: static or dns"},
    {.key = NULL},
};
/* clang-format on */

/* ---- backends and the routing view -------------------------------------- */

struct lb_backend {
    atomic_int refs;
    char endpoint[LB_ENDPOINT_MAX];
    struct grpccli *cli;
    struct mcounter *ok, *failed;
};

/* An immutable routing table: the ring and one backend per member. */
struct lb_view {
    atomic_int refs;
    struct lb_ring *ring;
    struct lb_backend **backends; /* indexed like ring->members */
};

struct lb_record {
    struct lb_record *next;
    struct batch *b; /* a reference */
    uint8_t *done;   /* per item: delivered or settled */
    int64_t touched_ms;
};

struct lb_exporter {
    const struct lb_cfg *cfg;
    char id[128];
    struct mscope *metrics; /* the exporter's (host->metrics) */
    pthread_mutex_t mu;     /* view, records, stopping */
    pthread_cond_t cv;      /* wakes the resolver thread */
    struct lb_view *view;
    struct lb_record *records;
    uint32_t nrecords;
    int64_t record_ttl_ms;
    pthread_t thr;
    int thr_started, stopping;
    char last_dns_error[256];
    struct mgauge *num_backends;
    struct mcounter *res_ok, *res_failed;
    struct mcounter *rejected;
};

static void lb_backend_unref(struct lb_backend *be)
{
    int old;

    if (be == NULL) {
        return;
    }
    old = atomic_fetch_sub(&be->refs, 1);
    PC_ASSERT(old > 0);
    if (old == 1) {
        grpccli_free(be->cli);
        free(be);
    }
}

static void lb_view_unref(struct lb_view *v)
{
    uint32_t i;
    int old;

    if (v == NULL) {
        return;
    }
    old = atomic_fetch_sub(&v->refs, 1);
    PC_ASSERT(old > 0);
    if (old != 1) {
        return;
    }
    for (i = 0; v->ring != NULL && i < v->ring->nmembers; i++) {
        lb_backend_unref(v->backends[i]);
    }
    free(v->backends);
    lb_ring_free(v->ring);
    free(v);
}

/* The current view, referenced; NULL when none was resolved yet. */
static struct lb_view *lb_view_get(struct lb_exporter *x)
{
    struct lb_view *v;

    pthread_mutex_lock(&x->mu);
    v = x->view;
    if (v != NULL) {
        atomic_fetch_add(&v->refs, 1);
    }
    pthread_mutex_unlock(&x->mu);
    return v;
}

static struct lb_backend *
lb_backend_new(struct lb_exporter *x, const char *endpoint, struct errctx *e)
{
    const struct lb_otlp_cfg *oc = &x->cfg->protocol.otlp;
    struct lb_backend *be = calloc(1, sizeof(*be));
    struct grpccli_opts o;

    if (be == NULL) {
        err_set(e, PC_ENOMEM, "out of memory");
        return NULL;
    }
    atomic_init(&be->refs, 1);
    snprintf(be->endpoint, sizeof(be->endpoint), "%s", endpoint);
    memset(&o, 0, sizeof(o));
    o.endpoint = be->endpoint;
    grpccli_opts_conn(&o, &oc->conn);
    o.gzip = oc->compression == 0;
    if (grpccli_new(&o, &be->cli, e) != PC_OK) {
        free(be);
        return NULL;
    }
    /* A backend that comes back gets its series again: the scope holds
     * them once, until the exporter goes. */
    be->ok = mscope_counter(x->metrics,
                            "profcol_loadbalancer_backend_outcome_total",
                            "Export calls to each backend, by outcome.",
                            "backend", endpoint, "success", "true", NULL);
    be->failed = mscope_counter(x->metrics,
                                "profcol_loadbalancer_backend_outcome_total",
                                "Export calls to each backend, by outcome.",
                                "backend", endpoint, "success", "false", NULL);
    return be;
}

/* Same members as the current view? (Both sorted and unique.) */
static int lb_same_members(const struct lb_view *v, const struct lb_ring *r)
{
    uint32_t i;

    if (v == NULL || v->ring->nmembers != r->nmembers) {
        return 0;
    }
    for (i = 0; i < r->nmembers; i++) {
        if (strcmp(v->ring->members[i], r->members[i]) != 0) {
            return 0;
        }
    }
    return 1;
}

/* A backend for each member of ring: the old view's when it had one (its
 * channel stays connected), else a new one. */
static int lb_view_fill(struct lb_exporter *x, struct lb_view *nv,
                        const struct lb_view *old, struct errctx *e)
{
    uint32_t i;

    for (i = 0; i < nv->ring->nmembers; i++) {
        int j = old != NULL ? lb_ring_find(old->ring, nv->ring->members[i])
                            : -1;
        if (j >= 0) {
            nv->backends[i] = old->backends[j];
            atomic_fetch_add(&nv->backends[i]->refs, 1);
            continue;
        }
        nv->backends[i] = lb_backend_new(x, nv->ring->members[i], e);
        if (nv->backends[i] == NULL) {
            return PC_EIO;
        }
    }
    return PC_OK;
}

/* Says which backends the ring has now (the list cut to a log line). */
static void lb_log_members(struct lb_exporter *x, const struct lb_ring *ring)
{
    char list[1024];
    size_t used = 0;
    uint32_t i;

    list[0] = '\0';
    for (i = 0; i < ring->nmembers && used + 2 < sizeof(list); i++) {
        int k = snprintf(list + used, sizeof(list) - used, "%s%s",
                         i ? "," : "", ring->members[i]);
        if (k < 0 || (size_t)k >= sizeof(list) - used) {
            break;
        }
        used += (size_t)k;
    }
    log_info(x->id, "backends changed", "backends=%u members=\"%s\"",
             ring->nmembers, list);
}

/*
 * Makes `members` the backend set. Unchanged sets keep the view. Exports in
 * flight finish with the view they hold; a backend that left is freed with
 * the last view naming it.
 */
static int lb_set_members(struct lb_exporter *x, const char *const *members,
                          uint32_t n, struct errctx *e)
{
    struct lb_view *old = lb_view_get(x), *nv;
    struct lb_ring *ring;
    int rc = lb_ring_build(members, n, &ring);

    if (rc != PC_OK) {
        lb_view_unref(old);
        return err_set(e, rc, "cannot build the ring of %u backends", n);
    }
    if (lb_same_members(old, ring)) {
        lb_ring_free(ring);
        lb_view_unref(old);
        return PC_OK;
    }
    nv = calloc(1, sizeof(*nv));
    if (nv == NULL || (nv->backends = calloc(ring->nmembers + 1,
                                             sizeof(*nv->backends))) == NULL) {
        free(nv);
        lb_ring_free(ring);
        lb_view_unref(old);
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    atomic_init(&nv->refs, 1);
    nv->ring = ring;
    rc = lb_view_fill(x, nv, old, e);
    lb_view_unref(old);
    if (rc != PC_OK) {
        lb_view_unref(nv);
        return rc;
    }
    pthread_mutex_lock(&x->mu);
    old = x->view;
    x->view = nv;
    pthread_mutex_unlock(&x->mu);
    lb_view_unref(old);
    if (x->num_backends != NULL) {
        mgauge_set(x->num_backends, ring->nmembers);
    }
    lb_log_members(x, ring);
    return PC_OK;
}

/* ---- resolvers ------------------------------------------------------------ */

/* "host:port" with the default port added when there is none. */
static void lb_static_endpoint(const char *h, char *out, size_t len)
{
    const char *rb = strrchr(h, ']');
    const char *colon = strrchr(h, ':');
    int has_port = h[0] == '[' ? (rb != NULL && rb[1] == ':')
                               : (colon != NULL && strchr(h, ':') == colon);

    if (has_port) {
        snprintf(out, len, "%s", h);
    } else if (h[0] != '[' && colon != NULL) {
        snprintf(out, len, "[%s]:%d", h, LB_DEFAULT_PORT); /* bare IPv6 */
    } else {
        snprintf(out, len, "%s:%d", h, LB_DEFAULT_PORT);
    }
}

static int lb_static_resolve(struct lb_exporter *x, struct errctx *e)
{
    const struct cfg_strlist *hl = &x->cfg->resolver.st.hostnames;
    char **eps = calloc(hl->n + 1, sizeof(*eps));
    uint32_t i;
    int rc = PC_OK;

    if (eps == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < hl->n && rc == PC_OK; i++) {
        eps[i] = malloc(LB_ENDPOINT_MAX);
        if (eps[i] == NULL) {
            rc = err_set(e, PC_ENOMEM, "out of memory");
            break;
        }
        lb_static_endpoint(hl->items[i], eps[i], LB_ENDPOINT_MAX);
    }
    if (rc == PC_OK) {
        rc = lb_set_members(x, (const char *const *)eps, hl->n, e);
    }
    if (x->res_ok != NULL && rc == PC_OK) {
        mcounter_add(x->res_ok, 1);
    }
    for (i = 0; i < hl->n; i++) {
        free(eps[i]);
    }
    free(eps);
    return rc;
}

/* One DNS resolution. A failure keeps the backends known so far: a DNS
 * hiccup must not empty the ring. Logged when the error changes. */
static void lb_dns_once(struct lb_exporter *x)
{
    const struct lb_dns_cfg *d = &x->cfg->resolver.dns;
    char err[256];
    char **eps = NULL;
    uint32_t n = 0;
    struct errctx e = {{0}};
    int rc = lb_dns_resolve(d->hostname, (int)d->port, d->server,
                            d->timeout_ms, &eps, &n, err, sizeof(err));

    if (rc == PC_OK) {
        rc = lb_set_members(x, (const char *const *)eps, n, &e);
        snprintf(err, sizeof(err), "%s", err_msg(&e, rc));
    }
    lb_dns_free(eps, n);
    if (rc == PC_OK) {
        x->last_dns_error[0] = '\0';
        if (x->res_ok != NULL) {
            mcounter_add(x->res_ok, 1);
        }
        return;
    }
    if (x->res_failed != NULL) {
        mcounter_add(x->res_failed, 1);
    }
    if (strcmp(err, x->last_dns_error) != 0) {
        log_warn(x->id, "DNS resolution failed, keeping the known backends",
                 "hostname=\"%s\" reason=\"%s\"", d->hostname, err);
        snprintf(x->last_dns_error, sizeof(x->last_dns_error), "%s", err);
    }
}

static void *lb_resolver_main(void *arg)
{
    struct lb_exporter *x = arg;
    struct timespec ts;
    int stop = 0;

    while (!stop) {
        lb_dns_once(x);
        ts = clock_mono_after(x->cfg->resolver.dns.interval_ms);
        pthread_mutex_lock(&x->mu);
        while (!x->stopping &&
               pthread_cond_timedwait(&x->cv, &x->mu, &ts) == 0) {
        }
        stop = x->stopping;
        pthread_mutex_unlock(&x->mu);
    }
    return NULL;
}

/* ---- delivery records ----------------------------------------------------- */

static void lb_record_free(struct lb_record *rec)
{
    batch_unref(rec->b);
    free(rec->done);
    free(rec);
}

/* Drops records no retry can come back for (called with mu held). */
static void lb_records_expire(struct lb_exporter *x, int64_t now)
{
    struct lb_record **pp = &x->records;

    while (*pp != NULL) {
        struct lb_record *rec = *pp;
        if (x->record_ttl_ms > 0 && now - rec->touched_ms > x->record_ttl_ms) {
            *pp = rec->next;
            x->nrecords--;
            lb_record_free(rec);
            continue;
        }
        pp = &rec->next;
    }
}

/* The done-flags of b (copied into done), 0 when b has no record. */
static int lb_record_load(struct lb_exporter *x, struct batch *b,
                          uint8_t *done)
{
    struct lb_record *rec;
    int found = 0;

    pthread_mutex_lock(&x->mu);
    lb_records_expire(x, clock_mono_ms());
    for (rec = x->records; rec != NULL; rec = rec->next) {
        if (rec->b == b) {
            memcpy(done, rec->done, b->nitems);
            rec->touched_ms = clock_mono_ms();
            found = 1;
            break;
        }
    }
    pthread_mutex_unlock(&x->mu);
    return found;
}

/* Stores (all_done == 0) or removes (all_done) the record of b. Out of
 * memory or too many records: no record, the retry sends everything again
 * (at-least-once). */
static void lb_record_store(struct lb_exporter *x, struct batch *b,
                            const uint8_t *done, int all_done)
{
    struct lb_record **pp, *rec = NULL;

    pthread_mutex_lock(&x->mu);
    for (pp = &x->records; *pp != NULL; pp = &(*pp)->next) {
        if ((*pp)->b == b) {
            rec = *pp;
            break;
        }
    }
    if (all_done) {
        if (rec != NULL) {
            *pp = rec->next;
            x->nrecords--;
            lb_record_free(rec);
        }
    } else if (rec != NULL) {
        memcpy(rec->done, done, b->nitems);
        rec->touched_ms = clock_mono_ms();
    } else if (x->nrecords < LB_RECORDS_MAX &&
               (rec = calloc(1, sizeof(*rec))) != NULL) {
        rec->done = malloc(b->nitems + 1);
        if (rec->done == NULL) {
            free(rec);
        } else {
            memcpy(rec->done, done, b->nitems);
            rec->b = batch_ref(b);
            rec->touched_ms = clock_mono_ms();
            rec->next = x->records;
            x->records = rec;
            x->nrecords++;
        }
    }
    pthread_mutex_unlock(&x->mu);
}

/* ---- routing keys --------------------------------------------------------- */

static int lb_attr_cmp(const void *a, const void *b)
{
    const struct keyvalue *x = *(const struct keyvalue *const *)a;
    const struct keyvalue *y = *(const struct keyvalue *const *)b;
    uint32_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int c = memcmp(x->key.ptr, y->key.ptr, n);

    return c != 0 ? c : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* Every attribute as key=value, sorted by key, NUL-separated. */
static uint64_t lb_series_hash(const struct item *it)
{
    const struct keyvalue *sorted[256];
    struct buf text;
    uint32_t i, n = it->nattrs < 256 ? it->nattrs : 256;
    uint64_t h;

    for (i = 0; i < n; i++) {
        sorted[i] = &it->attrs[i];
    }
    qsort(sorted, n, sizeof(sorted[0]), lb_attr_cmp);
    buf_init(&text, (size_t)1 << 20);
    for (i = 0; i < n; i++) {
        buf_append(&text, sorted[i]->key.ptr, sorted[i]->key.len);
        buf_putc(&text, '=');
        series_value_text(&sorted[i]->value, &text);
        buf_putc(&text, '\0');
    }
    h = lb_ring_hash(text.data != NULL ? text.data : (const uint8_t *)"",
                     text.len);
    buf_free(&text);
    return h;
}

/* 32 hex digits, not all zero, into 16 bytes. */
static int lb_parse_trace_id(const struct pstr *s, uint8_t id[16])
{
    uint8_t any = 0;
    int i;

    if (s->len != 32 || hex_decode(s->ptr, 32, id) != PC_OK) {
        return 0;
    }
    for (i = 0; i < 16; i++) {
        any |= id[i];
    }
    return any != 0;
}

/* A sample's trace id: its link's, else its `trace_id` label's. */
static int lb_sample_trace_id(const struct dict *d, const struct sample *s,
                              uint8_t id[16])
{
    static const uint8_t zero[16];
    uint32_t a;

    if (s->link > 0 && (uint32_t)s->link < d->nlinks &&
        memcmp(d->links[s->link].trace_id, zero, 16) != 0) {
        memcpy(id, d->links[s->link].trace_id, 16);
        return 1;
    }
    for (a = 0; a < s->nattrs; a++) {
        const struct attr *at;
        const struct pstr *k;
        if (s->attrs[a] <= 0 || (uint32_t)s->attrs[a] >= d->nattrs) {
            continue;
        }
        at = &d->attrs[s->attrs[a]];
        if (at->key <= 0 || (uint32_t)at->key >= d->nstrings) {
            continue;
        }
        k = &d->strings[at->key];
        if (k->len == 8 && memcmp(k->ptr, "trace_id", 8) == 0 &&
            at->value.type == AV_STRING &&
            lb_parse_trace_id(&at->value.u.s, id)) {
            return 1;
        }
    }
    return 0;
}

/* The first trace id of the item's profiles, in payload order. */
static int lb_item_trace_id(const struct pdata *pd, int32_t resource,
                            uint8_t id[16])
{
    const struct profile *pr;
    struct pdata_iter w;
    uint32_t k;

    pdata_iter_init(&w, pd, resource);
    while ((pr = pdata_iter_next(&w)) != NULL) {
        for (k = 0; k < pr->nsamples; k++) {
            if (lb_sample_trace_id(&pd->dict, &pr->samples[k], id)) {
                return 1;
            }
        }
    }
    return 0;
}

static uint64_t lb_service_hash(const struct item *it)
{
    struct pstr s = series_service(it);

    return lb_ring_hash(s.ptr, s.len);
}

static uint64_t lb_key_hash(struct lb_exporter *x, struct batch *b,
                            struct item *it)
{
    uint8_t id[16];

    switch (x->cfg->routing_key) {
    case LB_ROUTE_SERIES:
        return lb_series_hash(it);
    case LB_ROUTE_TRACE_ID:
        if (batch_item_decode(b, it, NULL) == PC_OK &&
            lb_item_trace_id(it->pd->pd, it->resource, id)) {
            return lb_ring_hash(id, sizeof(id));
        }
        return lb_service_hash(it);
    default:
        return lb_service_hash(it);
    }
}

/* ---- export --------------------------------------------------------------- */

/* One backend's share of a batch. */
struct lb_part {
    struct lb_exporter *x;
    struct batch *b;
    struct lb_backend *be;
    uint32_t *idx; /* item indices */
    uint32_t n;
    int64_t timeout_ms;
    int rc;
    struct export_result r;
    pthread_t thr;
    int threaded;
};

/* Builds the OTLP items of a part (undecodable ones left out and counted)
 * and sends them. */
static void lb_part_send(struct lb_part *p)
{
    struct batch_otlp_opts o = {.id = p->x->id, .idx = p->idx, .nidx = p->n};
    struct batch_otlp bo;

    p->rc = batch_otlp_build(p->b, &o, &bo, &p->r);
    if (p->rc == PC_OK) {
        p->rc = grpccli_otlp_export(p->be->cli, bo.items, bo.n,
                                    p->x->cfg->protocol.otlp.max_request_bytes,
                                    p->timeout_ms, &p->r);
    }
    batch_otlp_free(&bo);
}

static void *lb_part_main(void *arg)
{
    lb_part_send(arg);
    return NULL;
}

/* Sends every part at once: a slow backend costs one timeout, not one per
 * backend. The last part runs on the calling thread. */
static void lb_parts_run(struct lb_part *parts, uint32_t np)
{
    uint32_t i;

    for (i = 0; i + 1 < np; i++) {
        parts[i].threaded = pthread_create(&parts[i].thr, NULL, lb_part_main,
                                           &parts[i]) == 0;
        if (!parts[i].threaded) {
            lb_part_send(&parts[i]);
        }
    }
    if (np > 0) {
        lb_part_send(&parts[np - 1]);
    }
    for (i = 0; i + 1 < np; i++) {
        if (parts[i].threaded) {
            pthread_join(parts[i].thr, NULL);
        }
    }
}

/* Groups the items not done yet by owner; returns the number of parts. */
static uint32_t lb_route(struct lb_exporter *x, struct batch *b,
                         const struct lb_view *v, const uint8_t *done,
                         uint32_t *owner, uint32_t *idx, struct lb_part *parts)
{
    uint32_t i, m, np = 0, *count, pos = 0;

    count = calloc(v->ring->nmembers + 1, sizeof(*count));
    if (count == NULL) {
        return UINT32_MAX;
    }
    for (i = 0; i < b->nitems; i++) {
        if (!done[i]) {
            owner[i] = (uint32_t)lb_ring_lookup(v->ring,
                                                lb_key_hash(x, b,
                                                            &b->items[i]));
            count[owner[i]]++;
        }
    }
    for (m = 0; m < v->ring->nmembers; m++) {
        if (count[m] == 0) {
            continue;
        }
        parts[np].be = v->backends[m];
        parts[np].idx = idx + pos;
        for (i = 0; i < b->nitems; i++) {
            if (!done[i] && owner[i] == m) {
                parts[np].idx[parts[np].n++] = i;
            }
        }
        pos += parts[np].n;
        np++;
    }
    free(count);
    return np;
}

/* Folds the parts' outcomes into done[], r and metrics; the result of the
 * whole attempt. */
static int lb_settle(struct lb_exporter *x, struct lb_part *parts, uint32_t np,
                     uint8_t *done, struct export_result *r)
{
    uint32_t i, k, retry = 0, ok = 0;

    for (i = 0; i < np; i++) {
        struct lb_part *p = &parts[i];
        /* A part's rejected profiles (undecodable ones included) count
         * once, when it settles: a part sent again counts them again, and
         * a part refused for good counts all its items below. */
        if (p->rc == PC_ERETRY) {
            retry++;
            if (p->r.retry_after_ms > r->retry_after_ms) {
                r->retry_after_ms = p->r.retry_after_ms;
            }
            snprintf(r->msg, sizeof(r->msg), "backend %.100s: %.140s",
                     p->be->endpoint, p->r.msg);
            if (p->be->failed != NULL) {
                mcounter_add(p->be->failed, 1);
            }
            continue;
        }
        /* Delivered, partly rejected, or refused for good: settled. */
        for (k = 0; k < p->n; k++) {
            done[p->idx[k]] = 1;
        }
        if (p->rc == PC_OK) {
            ok++;
            r->rejected_profiles += p->r.rejected_profiles;
            if (p->be->ok != NULL) {
                mcounter_add(p->be->ok, 1);
            }
        } else {
            for (k = 0; k < p->n; k++) {
                struct item *it = &p->b->items[p->idx[k]];
                r->rejected_profiles += it->nprofiles ? it->nprofiles : 1;
            }
            log_warn(x->id, "backend refused profiles for good",
                     "backend=%s reason=\"%s\"", p->be->endpoint, p->r.msg);
            if (p->be->failed != NULL) {
                mcounter_add(p->be->failed, 1);
            }
        }
    }
    if (r->rejected_profiles > 0 && x->rejected != NULL) {
        mcounter_add(x->rejected, r->rejected_profiles);
    }
    if (retry > 0) {
        return PC_ERETRY;
    }
    return ok > 0 || np == 0 || r->rejected_profiles == 0 ? PC_OK
                                                          : PC_EPERMANENT;
}

static int lb_export_view(struct lb_exporter *x, struct batch *b,
                          const struct lb_view *v, int64_t timeout_ms,
                          struct export_result *r)
{
    uint8_t *done = calloc(b->nitems + 1, 1);
    uint32_t *owner = calloc(b->nitems + 1, sizeof(*owner));
    uint32_t *idx = calloc(b->nitems + 1, sizeof(*idx));
    struct lb_part *parts = calloc(v->ring->nmembers + 1, sizeof(*parts));
    uint32_t np, i, left = 0;
    int rc = PC_ERETRY, had_record;

    snprintf(r->msg, sizeof(r->msg), "out of memory");
    if (done == NULL || owner == NULL || idx == NULL || parts == NULL) {
        goto out;
    }
    had_record = lb_record_load(x, b, done);
    np = lb_route(x, b, v, done, owner, idx, parts);
    if (np == UINT32_MAX) {
        goto out;
    }
    for (i = 0; i < np; i++) {
        parts[i].x = x;
        parts[i].b = b;
        parts[i].timeout_ms = timeout_ms;
    }
    r->msg[0] = '\0';
    lb_parts_run(parts, np);
    rc = lb_settle(x, parts, np, done, r);
    for (i = 0; i < b->nitems; i++) {
        left += !done[i];
    }
    if (left > 0 || had_record) {
        lb_record_store(x, b, done, left == 0);
    }
out:
    free(done);
    free(owner);
    free(idx);
    free(parts);
    return rc;
}

static int lbx_export(void *ctx, struct batch *b, int64_t timeout_ms,
                      struct export_result *r)
{
    struct lb_exporter *x = ctx;
    struct lb_view *v = lb_view_get(x);
    int64_t t = x->cfg->protocol.otlp.timeout_ms;
    int rc;

    if (v == NULL || v->ring->nmembers == 0) {
        lb_view_unref(v);
        snprintf(r->msg, sizeof(r->msg), "no backend known yet");
        return PC_ERETRY;
    }
    rc = lb_export_view(x, b, v, t < timeout_ms ? t : timeout_ms, r);
    lb_view_unref(v);
    return rc;
}

/* ---- lifecycle ------------------------------------------------------------ */

static void lbx_metrics(struct lb_exporter *x)
{
    x->num_backends = mscope_gauge(
        x->metrics, "profcol_loadbalancer_num_backends",
        "Backends the loadbalancing exporter routes to now.", NULL);
    x->rejected = mscope_counter(
        x->metrics, "profcol_exporter_rejected_profiles_total",
        "Profiles the backend refused (partial success) or that could "
        "not be encoded.",
        NULL);
    x->res_ok = mscope_counter(x->metrics,
                               "profcol_loadbalancer_num_resolutions_total",
                               "Resolutions of the backend set, by outcome.",
                               "success", "true", NULL);
    x->res_failed = mscope_counter(
        x->metrics, "profcol_loadbalancer_num_resolutions_total",
        "Resolutions of the backend set, by outcome.", "success", "false",
        NULL);
}

/* How long a delivery record may wait for the helper's next retry: the
 * whole retry schedule plus slack; 0 (forever) when retries never end. */
static int64_t lbx_record_ttl(const struct exphelper_cfg *h)
{
    if (!h->retry.enabled) {
        return 2 * h->timeout_ms + 1000;
    }
    if (h->retry.max_elapsed_time_ms == 0) {
        return 0;
    }
    return h->retry.max_elapsed_time_ms + h->retry.max_interval_ms +
           2 * h->timeout_ms + 60000;
}

static void lbx_destroy(void *ctx)
{
    struct lb_exporter *x = ctx;

    if (x == NULL) {
        return;
    }
    while (x->records != NULL) {
        struct lb_record *rec = x->records;
        x->records = rec->next;
        lb_record_free(rec);
    }
    lb_view_unref(x->view);
    pthread_cond_destroy(&x->cv);
    pthread_mutex_destroy(&x->mu);
    free(x);
}

static int lbx_create(const void *cfgp, struct component_host *host,
                      void **ctx, struct errctx *e)
{
    const struct lb_cfg *cfg = cfgp;
    struct lb_exporter *x = calloc(1, sizeof(*x));
    pthread_condattr_t ca;

    if (x == NULL) {
        return PC_ENOMEM;
    }
    x->cfg = cfg;
    snprintf(x->id, sizeof(x->id), "%s", host->id);
    x->metrics = host->metrics;
    x->record_ttl_ms = lbx_record_ttl(&cfg->helper);
    pthread_mutex_init(&x->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&x->cv, &ca);
    pthread_condattr_destroy(&ca);
    lbx_metrics(x);
    if (cfg->resolver.st.hostnames.n > 0 && lb_static_resolve(x, e) != PC_OK) {
        lbx_destroy(x);
        return PC_ECONFIG;
    }
    *ctx = x;
    return PC_OK;
}

static int lbx_start(void *ctx)
{
    struct lb_exporter *x = ctx;
    const char *h = x->cfg->resolver.dns.hostname;

    if (h == NULL || h[0] == '\0' || x->thr_started) {
        return PC_OK;
    }
    pthread_mutex_lock(&x->mu);
    x->stopping = 0;
    pthread_mutex_unlock(&x->mu);
    if (pthread_create(&x->thr, NULL, lb_resolver_main, x) != 0) {
        log_error(x->id, "cannot start the DNS resolver thread", "%s", "");
        return PC_EIO;
    }
    x->thr_started = 1;
    return PC_OK;
}

static void lbx_stop(void *ctx)
{
    struct lb_exporter *x = ctx;

    if (!x->thr_started) {
        return;
    }
    pthread_mutex_lock(&x->mu);
    x->stopping = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    /* A lookup in progress ends within its own timeout. */
    pthread_join(x->thr, NULL);
    x->thr_started = 0;
}

static void lbx_validate(const void *cfgp, const struct ynode *node,
                         struct cfg_diag *d)
{
    const struct lb_cfg *cfg = cfgp;
    const struct ynode *res = ynode_get(node, "resolver");
    const struct ynode *proto = ynode_get(node, "protocol");
    const struct ynode *otlp = ynode_get(proto, "otlp");
    int has_static = cfg->resolver.st.hostnames.n > 0;
    int has_dns = cfg->resolver.dns.hostname != NULL &&
                  cfg->resolver.dns.hostname[0] != '\0';
    struct sockaddr_in sin;
    uint32_t i;

    if (has_static == has_dns) {
        cfg_diag_error(d, res != NULL ? res : node,
                       "resolver: set exactly one of static.hostnames "
                       "(non-empty) and dns.hostname");
    }
    if (cfg->resolver.st.hostnames.n > LB_RING_MAX_MEMBERS) {
        cfg_diag_error(d, res, "resolver.static.hostnames: at most %d",
                       LB_RING_MAX_MEMBERS);
    }
    for (i = 0; i < cfg->resolver.st.hostnames.n; i++) {
        const char *h = cfg->resolver.st.hostnames.items[i];
        if (h[0] == '\0' || strlen(h) >= LB_ENDPOINT_MAX - 8) {
            cfg_diag_error(d, res,
                           "resolver.static.hostnames: bad entry "
                           "\"%s\"",
                           h);
        }
    }
    if (cfg->resolver.dns.server != NULL &&
        cfg->resolver.dns.server[0] != '\0' &&
        lb_dns_parse_server(cfg->resolver.dns.server, &sin) != PC_OK) {
        cfg_diag_error(d, ynode_get(res, "dns"),
                       "resolver.dns.server: "
                       "expected IPv4:port, got \"%s\"",
                       cfg->resolver.dns.server);
    }
    if (cfg->protocol.otlp.endpoint != NULL &&
        cfg->protocol.otlp.endpoint[0] != '\0') {
        cfg_diag_error(d, ynode_get(otlp, "endpoint"),
                       "protocol.otlp.endpoint must not be set: the "
                       "resolver gives the backends' endpoints");
    }
}

const struct component_factory loadbalancing_exporter_factory = {
    .type = "loadbalancing",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "routes each series by a consistent hash over a set of "
                   "OTLP gRPC backends (static list or DNS)",
    .config_size = sizeof(struct lb_cfg),
    .config = lb_table,
    .validate = lbx_validate,
    .create = lbx_create,
    .destroy = lbx_destroy,
    .ops.exporter = {.start = lbx_start,
                     .export = lbx_export,
                     .stop = lbx_stop},
};
