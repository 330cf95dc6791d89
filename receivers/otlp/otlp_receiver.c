/*
 * otlp_receiver.c: the `otlp` receiver: OTLP profiles v1.11.0 over gRPC
 * (ProfilesService/Export) and HTTP (POST /v1development/profiles, protobuf
 * or JSON), configured like the OpenTelemetry Collector's:
 *
 *   otlp:
 *     protocols:
 *       grpc: {endpoint: localhost:4317}
 *       http: {endpoint: localhost:4318}
 *
 * A protocol is on when its key is present (even empty), as in the
 * Collector; at least one is required.
 *
 * This file holds what both transports share: the configuration, the screen
 * that makes partial success (profiles the pipeline cannot use are dropped
 * and counted, the valid rest of the request is kept), building the batch
 * (one item per resource), running a request's job on the main loop where
 * host->consume must run, and the queue that brings gRPC requests, decoded
 * on the gRPC thread, to that loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "core/clock.h"
#include "codec/pb.h"
#include "net/grpc_api.h"
#include "net/ssl_api.h"
#include "telemetry/log.h"
#include "receivers/otlp/otlp_receiver.h"

/* ---- configuration -------------------------------------------------------- */

struct otlprx_cfg {
    const struct ynode *protocols;
};

/* clang-format off */
static const struct cfg_entry otlprx_table[] = {
    {.key = "protocols", .type = CFG_NODE, .required = 1,
     .offset = offsetof(struct otlprx_cfg, protocols),
     .doc = "grpc and/or http; a protocol is enabled by its key being present"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry otlprx_grpc_table[] = {
    {.key = "endpoint", .type = CFG_STRING, .def = "localhost:4317",
     .offset = offsetof(struct otlprx_grpc_cfg, endpoint),
     .doc = "host:port the gRPC server listens on"},
    {.key = "max_recv_msg_size_mib", .type = CFG_INT, .def = "16", .min = 1,
     .max = 2047,
     .offset = offsetof(struct otlprx_grpc_cfg, max_recv_msg_size_mib),
     .doc = "largest request message (after gzip) in MiB: RESOURCE_EXHAUSTED"},
    {.key = "max_concurrent_streams", .type = CFG_INT, .def = "0", .min = 0,
     .max = 2147483647,
     .offset = offsetof(struct otlprx_grpc_cfg, max_concurrent_streams),
     .doc = "concurrent calls per connection (0 = gRPC's default)"},
    {.key = "bearer_token", .type = CFG_STRING,
     .offset = offsetof(struct otlprx_grpc_cfg, bearer_token),
     .doc = "when set, calls need metadata authorization: Bearer <token>"},
    CONNGUARD_CFG_MAX_CONNECTIONS_AT(offsetof(struct otlprx_grpc_cfg, conn),
        "open connections at most; beyond, a new one is closed at once "
        "(without tls; with tls the descriptor budget bounds them)"),
    CONNGUARD_CFG_READ_HEADER_TIMEOUT_AT(offsetof(struct otlprx_grpc_cfg, conn),
        "from accept, the HTTP/2 preface (with tls: the TLS handshake) must "
        "arrive within this"),
    CONNGUARD_CFG_IDLE_TIMEOUT_AT(offsetof(struct otlprx_grpc_cfg, conn),
        "a connection without calls is closed after this"),
    {.key = "tls", .type = CFG_SECTION, .sub = httpsrv_tls_cfg_table,
     .offset = offsetof(struct otlprx_grpc_cfg, tls),
     .doc = "cert_file, key_file, client_ca_file (mTLS)"},
    {.key = NULL},
};
/* clang-format on */

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void check_tls(const struct httpsrv_tls_cfg *t, const struct ynode *at,
                      struct cfg_diag *d)
{
    if (nonempty(t->cert_file) != nonempty(t->key_file)) {
        cfg_diag_error(d, at, "tls: cert_file and key_file go together");
    }
    if (nonempty(t->client_ca_file) && !nonempty(t->cert_file)) {
        cfg_diag_error(d, at, "tls: client_ca_file needs cert_file/key_file");
    }
}

/* Decodes the present protocol sections of the protocols node. */
static void otlprx_decode(const struct ynode *protocols, struct otlprx *rx,
                          struct cfg_diag *d)
{
    const struct ynode *g = ynode_get(protocols, "grpc");
    const struct ynode *h = ynode_get(protocols, "http");
    uint32_t i;

    for (i = 0; i < protocols->n; i++) {
        const char *k = protocols->keys[i]->value;
        if (strcmp(k, "grpc") != 0 && strcmp(k, "http") != 0) {
            cfg_diag_error(d, protocols->keys[i],
                           "unknown protocol '%.64s' (grpc or http)", k);
        }
    }
    if (g != NULL) {
        rx->has_grpc = 1;
        cfg_decode(otlprx_grpc_table, g, &rx->grpc_cfg, d);
        check_tls(&rx->grpc_cfg.tls, g, d);
    }
    if (h != NULL) {
        rx->has_http = 1;
        cfg_decode(httpsrv_cfg_table, h, &rx->http_cfg, d);
        check_tls(&rx->http_cfg.tls, h, d);
    }
    if (!rx->has_grpc && !rx->has_http) {
        cfg_diag_error(d, protocols,
                       "protocols: enable at least one of grpc, http");
    }
}

static void otlprx_release(struct otlprx *rx)
{
    cfg_release(otlprx_grpc_table, &rx->grpc_cfg);
    cfg_release(httpsrv_cfg_table, &rx->http_cfg);
}

static void otlprx_validate(const void *cfgp, const struct ynode *node,
                            struct cfg_diag *d)
{
    const struct otlprx_cfg *cfg = cfgp;
    struct otlprx tmp;

    if (cfg->protocols == NULL || cfg->protocols->kind != YNODE_MAP) {
        cfg_diag_error(d, cfg->protocols ? cfg->protocols : node,
                       "protocols: expected a mapping with grpc and/or http");
        return;
    }
    memset(&tmp, 0, sizeof(tmp));
    otlprx_decode(cfg->protocols, &tmp, d);
    otlprx_release(&tmp);
}

/* ---- screening and batches ---------------------------------------------- */

static const char *screen_profile(const struct dict *d,
                                  const struct profile *p, char *why, size_t n)
{
    uint32_t i, t;

    for (t = 0; t < p->nsample_types; t++) {
        if (dict_str(d, p->sample_types[t].type).len == 0) {
            snprintf(why, n, "sample_type has no type name");
            return why;
        }
    }
    if (p->nsample_types == 0) {
        snprintf(why, n, "no sample_type");
        return why;
    }
    for (i = 0; i < p->nsamples; i++) {
        const struct sample *s = &p->samples[i];
        if (p->nsample_types > 1 && s->nvalues != p->nsample_types) {
            snprintf(why, n, "sample %u has %u values for %u sample types", i,
                     s->nvalues, p->nsample_types);
            return why;
        }
        /* OTLP: values and timestamps pair up, or one of them is empty. */
        if (p->nsample_types == 1 && s->nvalues != 0 && s->nts != 0 &&
            s->nvalues != s->nts) {
            snprintf(why, n, "sample %u has %u values but %u timestamps", i,
                     s->nvalues, s->nts);
            return why;
        }
    }
    return NULL;
}

/*
 * Drops the profiles the pipeline cannot use, in place. rejected counts OTLP
 * profiles (a joined profile with N sample types was N on the wire); the
 * first reason goes into res->msg.
 */
static void screen(struct pdata *pd, struct otlprx_result *res)
{
    uint32_t r, s, p;
    char why[160];

    for (r = 0; r < pd->nresources; r++) {
        struct resource_profiles *rp = &pd->resources[r];
        for (s = 0; s < rp->nscopes; s++) {
            struct scope_profiles *sp = &rp->scopes[s];
            uint32_t keep = 0;
            for (p = 0; p < sp->nprofiles; p++) {
                const struct profile *pr = &sp->profiles[p];
                if (screen_profile(&pd->dict, pr, why, sizeof(why)) == NULL) {
                    sp->profiles[keep++] = *pr;
                    continue;
                }
                if (res->rejected == 0) {
                    snprintf(res->msg, sizeof(res->msg),
                             "resourceProfiles[%u].scopeProfiles[%u] "
                             "profile %u: %s",
                             r, s, p, why);
                }
                res->rejected += pr->nsample_types ? pr->nsample_types : 1;
            }
            sp->nprofiles = keep;
        }
    }
}

/* One item per resource that still holds profiles, sharing sp. */
static int add_items(struct batch *b, struct shared_pdata *sp,
                     struct blob *raw, const char *tenant, size_t tlen)
{
    const struct pdata *pd = sp->pd;
    uint64_t t = (uint64_t)clock_real_ns();
    uint32_t r;
    char *ten = NULL;
    int rc = PC_OK;

    if (tlen > 0 && (ten = arena_strndup(&b->arena, tenant, tlen)) == NULL) {
        return PC_ENOMEM;
    }
    for (r = 0; r < pd->nresources && rc == PC_OK; r++) {
        struct item *it;
        uint32_t np;
        uint64_t ns;
        pdata_count(pd, (int32_t)r, &np, &ns);
        if (np == 0) {
            continue;
        }
        it = batch_add_item(b);
        if (it == NULL) {
            return PC_ENOMEM;
        }
        it->format = PAYLOAD_OTLP;
        it->pd = shared_pdata_ref(sp);
        it->resource = pd->nresources == 1 ? -1 : (int32_t)r;
        /* The original bytes stand for the item only when it is all of
         * them: the exporter may then forward them untouched. */
        it->raw = pd->nresources == 1 && raw != NULL ? blob_ref(raw) : NULL;
        it->tenant.ptr = ten;
        it->tenant.len = (uint32_t)tlen;
        it->received_ns = t;
        it->nprofiles = np;
        it->nsamples = ns;
        rc = item_set_resource_attrs(b, it, &pd->resources[r].resource);
        if (rc == PC_OK && it->raw != NULL) {
            rc = item_note_raw_attrs(b, it, &pd->resources[r].resource);
        }
    }
    return rc;
}

int otlprx_build(struct otlprx *rx, struct pdata *pd, struct blob *raw,
                 const char *tenant, size_t tenant_len, struct batch **out,
                 struct otlprx_result *res)
{
    struct shared_pdata *sp;
    struct errctx e = {{0}};
    struct batch *b;
    int rc;

    *out = NULL;
    if (pdata_check_text(pd, &e) != PC_OK) {
        /* A backend would refuse it after the client heard OK. */
        pdata_free(pd);
        blob_unref(raw);
        res->outcome = OTLPRX_INVALID;
        snprintf(res->msg, sizeof(res->msg), "%s", e.msg);
        return PC_OK;
    }
    screen(pd, res);
    if (res->rejected != 0) {
        blob_unref(raw); /* the bytes no longer match the data */
        raw = NULL;
    }
    if (pdata_profile_count(pd) == 0) {
        pdata_free(pd);
        blob_unref(raw);
        if (res->rejected != 0) {
            res->outcome = OTLPRX_INVALID;
        }
        return PC_OK;
    }
    b = batch_new(rx->host->id);
    sp = shared_pdata_new(pd);
    if (b == NULL || sp == NULL) {
        if (sp == NULL) {
            pdata_free(pd);
        }
        batch_unref(b);
        shared_pdata_unref(sp);
        blob_unref(raw);
        return PC_ENOMEM;
    }
    rc = add_items(b, sp, raw, tenant, tenant_len);
    shared_pdata_unref(sp);
    blob_unref(raw);
    if (rc != PC_OK) {
        batch_unref(b);
        return rc;
    }
    *out = b;
    return PC_OK;
}

void otlprx_apply(struct otlprx_result *res, int rc, const char *msg)
{
    if (rc == PC_OK) {
        return;
    }
    res->outcome = rc == PC_EPERMANENT ? OTLPRX_INVALID : OTLPRX_BUSY;
    snprintf(res->msg, sizeof(res->msg), "%s",
             msg != NULL ? msg : pc_strerror(rc));
}

int otlprx_consume_async(struct otlprx *rx, struct batch *b,
                         struct otlprx_result *res,
                         void (*done)(void *arg, int rc, const char *msg),
                         void *arg)
{
    struct errctx e = {{0}};
    int rc;

    /* Profiles the screen dropped are refused whatever becomes of the rest. */
    if (res->rejected != 0) {
        rx->host->refused(rx->host, res->rejected, 0);
    }
    rc = done != NULL && rx->host->consume_async != NULL
             ? rx->host->consume_async(rx->host, b, &e, done, arg)
             : rx->host->consume(rx->host, b, &e);
    if (rc == PC_EINPROGRESS) {
        return 1;
    }
    otlprx_apply(res, rc, err_msg(&e, rc));
    return 0;
}

void otlprx_consume(struct otlprx *rx, struct batch *b,
                    struct otlprx_result *res)
{
    otlprx_consume_async(rx, b, res, NULL, NULL);
}

/* A gRPC job's batch is durable (or refused): reply now (main loop). */
static void job_consumed(void *arg, int rc, const char *msg)
{
    struct otlprx_job *j = arg;

    otlprx_apply(&j->res, rc, msg);
    j->done(j, &j->res);
}

int otlprx_response_pb(const struct otlprx_result *res, struct buf *out)
{
    size_t mark = 0;
    int rc;

    if (res->rejected == 0) {
        return PC_OK; /* the empty response: everything accepted */
    }
    rc = pb_msg_begin(out, 1, &mark);
    if (rc == PC_OK) {
        rc = pb_put_int(out, 1, (int64_t)res->rejected);
    }
    if (rc == PC_OK && res->msg[0] != '\0') {
        rc = pb_put_bytes(out, 2, res->msg, strlen(res->msg));
    }
    return rc == PC_OK ? pb_msg_end(out, mark) : rc;
}

int otlprx_bearer_ok(const char *token, const char *value, size_t len)
{
    size_t tl = strlen(token);

    if (len < 7 || strncasecmp(value, "Bearer ", 7) != 0) {
        return 0;
    }
    value += 7;
    len -= 7;
    /* Constant time in the token's content: no timing oracle. */
    return len == tl && ssl_api_load(NULL) == PC_OK &&
           CRYPTO_memcmp(value, token, tl) == 0;
}

/* ---- gRPC thread -> main loop -------------------------------------------- */

void otlprx_post(struct otlprx *rx, struct otlprx_job *job)
{
    ssize_t n;

    job->next = NULL;
    pthread_mutex_lock(&rx->lock);
    if (rx->tail != NULL) {
        rx->tail->next = job;
    } else {
        rx->head = job;
    }
    rx->tail = job;
    pthread_cond_broadcast(&rx->cond);
    pthread_mutex_unlock(&rx->lock);
    /* A full pipe already means "wake up": EAGAIN is fine. */
    do {
        n = write(rx->wake[1], "j", 1);
    } while (n < 0 && errno == EINTR);
}

void otlprx_run_job(struct otlprx *rx, struct otlprx_job *j)
{
    struct batch *b = j->batch;

    j->batch = NULL;
    if (b != NULL) {
        /* The reply waits for the batch to be durable. */
        if (otlprx_consume_async(rx, b, &j->res, job_consumed, j)) {
            return;
        }
    } else if (j->res.outcome != OTLPRX_OK) {
        rx->host->refused(rx->host, j->res.rejected, j->refused_bytes);
    }
    j->done(j, &j->res);
}

int otlprx_run_jobs(struct otlprx *rx)
{
    struct otlprx_job *j, *next;
    int n = 0;

    pthread_mutex_lock(&rx->lock);
    j = rx->head;
    rx->head = rx->tail = NULL;
    pthread_mutex_unlock(&rx->lock);
    for (; j != NULL; j = next) {
        next = j->next;
        n++;
        otlprx_run_job(rx, j);
    }
    /* Stopping: the gRPC side waits for every reply before it goes. */
    if (rx->stopping && rx->host->settle != NULL) {
        rx->host->settle(rx->host);
    }
    return n;
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    char tmp[256];

    (void)what;
    while (read(fd, tmp, sizeof(tmp)) > 0) {
    }
    otlprx_run_jobs(arg);
}

/* ---- lifecycle ------------------------------------------------------------- */

static int otlprx_create(const void *cfgp, struct component_host *host,
                         void **ctx, struct errctx *e)
{
    const struct otlprx_cfg *cfg = cfgp;
    struct otlprx *rx = calloc(1, sizeof(*rx));
    struct cfg_diag d;

    if (rx == NULL) {
        return PC_ENOMEM;
    }
    memset(&d, 0, sizeof(d));
    rx->host = host;
    rx->wake[0] = rx->wake[1] = -1;
    if (cfg->protocols == NULL || cfg->protocols->kind != YNODE_MAP) {
        free(rx);
        return err_set(e, PC_ECONFIG, "protocols: expected grpc and/or http");
    }
    otlprx_decode(cfg->protocols, rx, &d);
    if (cfg_diag_failed(&d)) {
        err_set(e, PC_ECONFIG, "%s",
                d.nerrors ? d.errors[0] : "invalid configuration");
        cfg_diag_free(&d);
        otlprx_release(rx);
        free(rx);
        return PC_ECONFIG;
    }
    cfg_diag_free(&d);
    /* libgrpc is loaded by its first user: only when grpc is enabled. */
    if (rx->has_grpc && grpc_api_load(e) != PC_OK) {
        otlprx_release(rx);
        free(rx);
        return PC_EUNSUPPORTED;
    }
    pthread_mutex_init(&rx->lock, NULL);
    pthread_cond_init(&rx->cond, NULL);
    *ctx = rx;
    return PC_OK;
}

static void otlprx_stop(void *ctx)
{
    struct otlprx *rx = ctx;

    rx->stopping = 1;
    if (rx->grpc != NULL) {
        otlprx_grpc_stop(rx->grpc);
        rx->grpc = NULL;
    }
    if (rx->http != NULL) {
        /* Requests being decoded reach the pipeline now, and their
         * answers are settled while the server still has the requests. */
        httpsrv_drain(rx->http);
        if (rx->host->settle != NULL) {
            rx->host->settle(rx->host);
        }
        httpsrv_stop(rx->http);
        rx->http = NULL;
    }
    otlprx_run_jobs(rx);
    if (rx->wake_ev != NULL) {
        event_free(rx->wake_ev);
        rx->wake_ev = NULL;
    }
    if (rx->wake[0] >= 0) {
        close(rx->wake[0]);
        close(rx->wake[1]);
        rx->wake[0] = rx->wake[1] = -1;
    }
}

static int otlprx_start(void *ctx)
{
    struct otlprx *rx = ctx;
    struct errctx e = {{0}};
    int rc = PC_OK;

    rx->stopping = 0;
    if (pipe2(rx->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        rx->wake[0] = rx->wake[1] = -1;
        log_error(rx->host->id, "cannot start", "error=\"pipe: %s\"",
                  err_errno(errno));
        return PC_EIO;
    }
    rx->wake_ev = event_new(rx->host->base, rx->wake[0], EV_READ | EV_PERSIST,
                            on_wake, rx);
    if (rx->wake_ev == NULL || event_add(rx->wake_ev, NULL) != 0) {
        otlprx_stop(rx);
        return PC_ENOMEM;
    }
    if (rx->has_grpc) {
        rc = otlprx_grpc_start(rx, &rx->grpc, &e);
    }
    if (rc == PC_OK && rx->has_http) {
        rc = otlprx_http_start(rx, &e);
    }
    if (rc != PC_OK) {
        log_error(rx->host->id, "cannot start", "error=\"%s\"",
                  err_msg(&e, rc));
        otlprx_stop(rx);
    }
    return rc;
}

static void otlprx_destroy(void *ctx)
{
    struct otlprx *rx = ctx;

    if (rx == NULL) {
        return;
    }
    otlprx_stop(rx);
    otlprx_release(rx);
    pthread_mutex_destroy(&rx->lock);
    pthread_cond_destroy(&rx->cond);
    free(rx);
}

const struct component_factory otlp_receiver_factory = {
    .type = "otlp",
    .kind = COMPONENT_RECEIVER,
    .stability = "alpha",
    .description = "OTLP profiles v1.11.0 over gRPC and HTTP (protobuf, JSON)",
    .config_size = sizeof(struct otlprx_cfg),
    .config = otlprx_table,
    .validate = otlprx_validate,
    .create = otlprx_create,
    .destroy = otlprx_destroy,
    .ops.receiver = {.start = otlprx_start, .stop = otlprx_stop},
};
