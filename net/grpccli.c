/*
 * grpccli.c: unary gRPC calls with the gRPC C core (see grpccli.h).
 *
 * Each call gets its own pluck completion queue, so concurrent consumer
 * threads never see each other's events; the channel is shared. The
 * request is copied into a gRPC slice (gRPC may keep it past our call for
 * transparent retries, so it must own it). The call carries its deadline;
 * the pluck waits a little longer and cancels the call if gRPC ever
 * overshoots, so a call never blocks an exporter thread unboundedly.
 */
#include "net/grpccli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "codec/compress.h"
#include "codec/pb.h"
#include "component/component.h"
#include "net/grpc_api.h"

#define GRPCCLI_FILE_MAX ((size_t)1 << 20) /* PEM files */
#define GRPCCLI_GRACE_MS 2000

/* clang-format off */
const struct cfg_entry grpccli_tls_table[] = {
    {.key = "ca_file", .type = CFG_STRING,
     .offset = offsetof(struct grpccli_tls_cfg, ca_file),
     .doc = "PEM file of the CAs that sign the server certificate (default: system roots)"},
    {.key = "cert_file", .type = CFG_STRING,
     .offset = offsetof(struct grpccli_tls_cfg, cert_file),
     .doc = "PEM client certificate, for mutual TLS (with key_file)"},
    {.key = "key_file", .type = CFG_STRING,
     .offset = offsetof(struct grpccli_tls_cfg, key_file),
     .doc = "PEM client private key, for mutual TLS (with cert_file)"},
    {.key = "insecure_skip_verify", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct grpccli_tls_cfg, insecure_skip_verify),
     .doc = "use TLS but do not verify the server certificate"},
    {.key = "server_name_override", .type = CFG_STRING,
     .offset = offsetof(struct grpccli_tls_cfg, server_name_override),
     .doc = "host name the server certificate is checked against"},
    {.key = NULL},
};
/* clang-format on */

struct grpccli {
    grpc_channel *channel;
    grpc_metadata *md;
    size_t nmd;
    int gzip_level; /* > 0: we gzip messages (see send_buffer) */
};

/* ---- status --------------------------------------------------------------- */

static const char *const status_names[] = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

const char *grpccli_status_name(int status)
{
    if (status < 0 ||
        (size_t)status >= sizeof(status_names) / sizeof(status_names[0])) {
        return "UNKNOWN";
    }
    return status_names[status];
}

int grpccli_classify(int status, int64_t retry_delay_ms)
{
    switch (status) {
    case GRPC_STATUS_OK:
        return PC_OK;
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_ABORTED:
    case GRPC_STATUS_OUT_OF_RANGE:
    case GRPC_STATUS_DATA_LOSS:
        return PC_ERETRY;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        /* The OTLP spec: retryable only when the server says when. */
        return retry_delay_ms >= 0 ? PC_ERETRY : PC_EPERMANENT;
    default:
        return PC_EPERMANENT;
    }
}

/* google.protobuf.Duration {1 seconds, 2 nanos} -> ms. */
static int64_t retry_duration_ms(const uint8_t *p, const uint8_t *end)
{
    int64_t secs = 0, nanos = 0;
    uint32_t f;
    unsigned w;
    uint64_t v;

    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return -1;
        }
        if (w == PB_VARINT && (f == 1 || f == 2)) {
            if (pb_read_varint(&p, end, &v) != PC_OK) {
                return -1;
            }
            if (f == 1) {
                secs = (int64_t)v;
            } else {
                nanos = (int64_t)v;
            }
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return -1;
        }
    }
    if (secs < 0 || secs > 86400 || nanos < 0) {
        return secs < 0 || nanos < 0 ? 0 : 86400000;
    }
    return secs * 1000 + nanos / 1000000;
}

/* google.rpc.RetryInfo {1 retry_delay Duration}. */
static int64_t retry_info_delay(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s;
    size_t n;
    uint32_t f;
    unsigned w;
    int64_t d = 0;

    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return -1;
        }
        if (f == 1 && w == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return -1;
            }
            d = retry_duration_ms(s, s + n);
            if (d < 0) {
                return -1;
            }
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return -1;
        }
    }
    return d;
}

#define RETRY_INFO_URL "type.googleapis.com/google.rpc.RetryInfo"

/* google.protobuf.Any {1 type_url, 2 value}: the RetryInfo delay or -1. */
static int64_t retry_any(const uint8_t *p, const uint8_t *end)
{
    const uint8_t *s, *val = NULL;
    size_t n, nval = 0;
    uint32_t f;
    unsigned w;
    int is_retry = 0;

    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return -1;
        }
        if ((f == 1 || f == 2) && w == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return -1;
            }
            if (f == 1) {
                is_retry = n == strlen(RETRY_INFO_URL) &&
                           memcmp(s, RETRY_INFO_URL, n) == 0;
            } else {
                val = s;
                nval = n;
            }
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return -1;
        }
    }
    if (!is_retry) {
        return -1;
    }
    return val != NULL ? retry_info_delay(val, val + nval) : 0;
}

int64_t grpccli_parse_retry_info(const uint8_t *p, size_t len)
{
    const uint8_t *end = p + len, *s;
    size_t n;
    uint32_t f;
    unsigned w;
    int64_t d;

    /* google.rpc.Status {1 code, 2 message, 3 repeated Any details}. */
    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return -1;
        }
        if (f == 3 && w == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return -1;
            }
            d = retry_any(s, s + n);
            if (d >= 0) {
                return d;
            }
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return -1;
        }
    }
    return -1;
}

/* ---- channel -------------------------------------------------------------- */

static int read_file(const char *path, char **out, struct errctx *e)
{
    FILE *f = fopen(path, "rb");
    char *data;
    size_t n;

    if (f == NULL) {
        return err_set(e, PC_ECONFIG, "cannot read %s: %s", path,
                       err_errno(errno));
    }
    data = malloc(GRPCCLI_FILE_MAX + 1);
    if (data == NULL) {
        fclose(f);
        return PC_ENOMEM;
    }
    n = fread(data, 1, GRPCCLI_FILE_MAX + 1, f);
    fclose(f);
    if (n > GRPCCLI_FILE_MAX) {
        free(data);
        return err_set(e, PC_ECONFIG, "%s: larger than 1 MiB", path);
    }
    data[n] = '\0';
    *out = data;
    return PC_OK;
}

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

struct tls_pem {
    char *ca, *cert, *key;
};

static void tls_pem_free(struct tls_pem *t)
{
    free(t->ca);
    free(t->cert);
    free(t->key);
}

static int tls_pem_load(const struct grpccli_tls_cfg *tls, struct tls_pem *t,
                        struct errctx *e)
{
    int rc = PC_OK;

    memset(t, 0, sizeof(*t));
    if (tls == NULL) {
        return PC_OK;
    }
    if (nonempty(tls->cert_file) != nonempty(tls->key_file)) {
        return err_set(e, PC_ECONFIG,
                       "tls: cert_file and key_file go together");
    }
    if (nonempty(tls->ca_file)) {
        rc = read_file(tls->ca_file, &t->ca, e);
    }
    if (rc == PC_OK && nonempty(tls->cert_file)) {
        rc = read_file(tls->cert_file, &t->cert, e);
    }
    if (rc == PC_OK && nonempty(tls->key_file)) {
        rc = read_file(tls->key_file, &t->key, e);
    }
    return rc;
}

/* TLS that trusts any server: gRPC's TLS credentials with verification
 * switched off (the classic SSL credentials always verify the chain). */
static grpc_channel_credentials *creds_skip_verify(const struct tls_pem *t)
{
    grpc_tls_credentials_options *o = grpc_tls_credentials_options_create();
    grpc_channel_credentials *c;

    if (o == NULL) {
        return NULL;
    }
    if (t->cert != NULL) {
        grpc_tls_identity_pairs *pairs = grpc_tls_identity_pairs_create();
        grpc_tls_certificate_provider *prov;
        grpc_tls_identity_pairs_add_pair(pairs, t->key, t->cert);
        prov = grpc_tls_certificate_provider_static_data_create(t->ca, pairs);
        grpc_tls_credentials_options_set_certificate_provider(o, prov);
        grpc_tls_credentials_options_watch_identity_key_cert_pairs(o);
        grpc_tls_certificate_provider_release(prov);
    }
    grpc_tls_credentials_options_set_verify_server_cert(o, 0);
    grpc_tls_credentials_options_set_check_call_host(o, 0);
    {
        grpc_tls_certificate_verifier *v =
            grpc_tls_certificate_verifier_no_op_create();
        grpc_tls_credentials_options_set_certificate_verifier(o, v);
        grpc_tls_certificate_verifier_release(v);
    }
    c = grpc_tls_credentials_create(o); /* takes o */
    return c;
}

static grpc_channel_credentials *make_creds(const struct grpccli_opts *o,
                                            struct errctx *e)
{
    grpc_channel_credentials *c;
    struct tls_pem t;
    grpc_ssl_pem_key_cert_pair pair;

    if (o->insecure) {
        return grpc_insecure_credentials_create();
    }
    if (tls_pem_load(o->tls, &t, e) != PC_OK) {
        tls_pem_free(&t);
        return NULL;
    }
    if (o->tls != NULL && o->tls->insecure_skip_verify) {
        c = creds_skip_verify(&t);
    } else {
        pair.private_key = t.key;
        pair.cert_chain = t.cert;
        c = grpc_ssl_credentials_create(t.ca, t.cert ? &pair : NULL, NULL,
                                        NULL);
    }
    tls_pem_free(&t);
    if (c == NULL) {
        err_set(e, PC_ECONFIG, "tls: cannot create credentials");
    }
    return c;
}

/* Metadata keys must be lower case for HTTP/2; values go as given. */
static int md_add(struct grpccli *c, const char *key, const char *val)
{
    char lk[128];
    size_t i, n = strlen(key);

    if (n == 0 || n >= sizeof(lk)) {
        return PC_EINVAL;
    }
    for (i = 0; i <= n; i++) {
        lk[i] = (key[i] >= 'A' && key[i] <= 'Z') ? (char)(key[i] + 32)
                                                 : key[i];
    }
    c->md[c->nmd].key = grpc_slice_from_copied_string(lk);
    c->md[c->nmd].value = grpc_slice_from_copied_string(val);
    c->nmd++;
    return PC_OK;
}

static int md_build(struct grpccli *c, const struct grpccli_opts *o,
                    struct errctx *e)
{
    uint32_t i, n = o->headers != NULL ? o->headers->n : 0;
    char auth[4096];

    c->md = calloc(n + 1, sizeof(*c->md));
    if (c->md == NULL) {
        return PC_ENOMEM;
    }
    if (nonempty(o->bearer_token)) {
        if (snprintf(auth, sizeof(auth), "Bearer %s", o->bearer_token) >=
            (int)sizeof(auth)) {
            return err_set(e, PC_ECONFIG, "bearer_token: too long");
        }
        md_add(c, "authorization", auth);
    }
    for (i = 0; i < n; i++) {
        if (md_add(c, o->headers->keys[i], o->headers->values[i]) != PC_OK) {
            return err_set(e, PC_ECONFIG, "headers: bad name '%s'",
                           o->headers->keys[i]);
        }
    }
    return PC_OK;
}

static void channel_args(const struct grpccli_opts *o, grpc_arg *a, size_t *n)
{
    size_t k = 0;

    /* Reconnect quickly after an outage: the exporter helper already
     * backs off between exports, gRPC's own 2-minute ceiling would only
     * make every retry fail fast with UNAVAILABLE for that long. */
    a[k].type = GRPC_ARG_INTEGER;
    a[k].key = (char *)GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS;
    a[k++].value.integer = 500;
    a[k].type = GRPC_ARG_INTEGER;
    a[k].key = (char *)GRPC_ARG_MIN_RECONNECT_BACKOFF_MS;
    a[k++].value.integer = 500;
    a[k].type = GRPC_ARG_INTEGER;
    a[k].key = (char *)GRPC_ARG_MAX_RECONNECT_BACKOFF_MS;
    a[k++].value.integer = 5000;
    a[k].type = GRPC_ARG_INTEGER;
    a[k].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    a[k++].value.integer = (int)GRPCCLI_RESPONSE_MAX;
    if (o->max_send_bytes > 0 && o->max_send_bytes < (uint64_t)INT32_MAX) {
        a[k].type = GRPC_ARG_INTEGER;
        a[k].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
        a[k++].value.integer = (int)o->max_send_bytes + 4096;
    }
    a[k].type = GRPC_ARG_INTEGER;
    a[k].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
    a[k++].value.integer = o->gzip ? GRPC_COMPRESS_GZIP : GRPC_COMPRESS_NONE;
    if (nonempty(o->authority)) {
        a[k].type = GRPC_ARG_STRING;
        a[k].key = (char *)GRPC_ARG_DEFAULT_AUTHORITY;
        a[k++].value.string = (char *)o->authority;
    }
    if (!o->insecure && o->tls != NULL &&
        nonempty(o->tls->server_name_override)) {
        a[k].type = GRPC_ARG_STRING;
        a[k].key = (char *)GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
        a[k++].value.string = o->tls->server_name_override;
    }
    a[k].type = GRPC_ARG_STRING;
    a[k].key = (char *)GRPC_ARG_PRIMARY_USER_AGENT_STRING;
    a[k++].value.string = (char *)"profcol";
    *n = k;
}

int grpccli_new(const struct grpccli_opts *o, struct grpccli **out,
                struct errctx *e)
{
    struct grpccli *c;
    grpc_channel_credentials *creds;
    grpc_arg args[12];
    grpc_channel_args ca;
    size_t nargs;
    int rc;

    if (!nonempty(o->endpoint)) {
        return err_set(e, PC_ECONFIG, "endpoint: empty");
    }
    rc = grpc_api_load(e); /* libgrpc is loaded by its first user */
    if (rc != PC_OK) {
        return rc;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return PC_ENOMEM;
    }
    grpc_init();
    rc = md_build(c, o, e);
    if (rc != PC_OK) {
        grpccli_free(c);
        return rc;
    }
    creds = make_creds(o, e);
    if (creds == NULL) {
        grpccli_free(c);
        return PC_ECONFIG;
    }
    if (o->gzip) {
        c->gzip_level = o->gzip_level >= 1 && o->gzip_level <= 12
                            ? o->gzip_level
                            : 1;
    }
    channel_args(o, args, &nargs);
    ca.num_args = nargs;
    ca.args = args;
    c->channel = grpc_channel_create(o->endpoint, creds, &ca);
    grpc_channel_credentials_release(creds);
    if (c->channel == NULL) {
        grpccli_free(c);
        return err_set(e, PC_ECONFIG, "endpoint %s: cannot create channel",
                       o->endpoint);
    }
    *out = c;
    return PC_OK;
}

void grpccli_free(struct grpccli *c)
{
    size_t i;

    if (c == NULL) {
        return;
    }
    if (c->channel != NULL) {
        grpc_channel_destroy(c->channel);
    }
    for (i = 0; i < c->nmd; i++) {
        grpc_slice_unref(c->md[i].key);
        grpc_slice_unref(c->md[i].value);
    }
    free(c->md);
    free(c);
    grpc_shutdown();
}

/* ---- calls ---------------------------------------------------------------- */

void grpccli_result_init(struct grpccli_result *r)
{
    memset(r, 0, sizeof(*r));
    r->status = GRPC_STATUS_UNKNOWN;
    r->retry_delay_ms = -1;
    buf_init(&r->response, GRPCCLI_RESPONSE_MAX);
}

void grpccli_result_free(struct grpccli_result *r)
{
    buf_free(&r->response);
}

static void read_response(grpc_byte_buffer *bb, struct grpccli_result *r)
{
    grpc_byte_buffer_reader rd;
    grpc_slice s;

    if (bb == NULL || !grpc_byte_buffer_reader_init(&rd, bb)) {
        return;
    }
    while (grpc_byte_buffer_reader_next(&rd, &s)) {
        if (buf_append(&r->response, GRPC_SLICE_START_PTR(s),
                       GRPC_SLICE_LENGTH(s)) != PC_OK) {
            grpc_slice_unref(s);
            break; /* a response past the bound is cut: we only log it */
        }
        grpc_slice_unref(s);
    }
    grpc_byte_buffer_reader_destroy(&rd);
}

static void read_trailers(const grpc_metadata_array *t,
                          struct grpccli_result *r)
{
    size_t i;

    for (i = 0; i < t->count; i++) {
        const grpc_metadata *m = &t->metadata[i];
        if (grpc_slice_str_cmp(m->key, "grpc-status-details-bin") == 0) {
            r->retry_delay_ms = grpccli_parse_retry_info(
                GRPC_SLICE_START_PTR(m->value), GRPC_SLICE_LENGTH(m->value));
        }
    }
}

static gpr_timespec deadline_in(int64_t ms)
{
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                        gpr_time_from_millis(ms, GPR_TIMESPAN));
}

/* Waits for the batch; cancels the call when gRPC overshoots its own
 * deadline by the grace period, then waits for the cancellation. */
static int call_wait(grpc_completion_queue *cq, grpc_call *call, void *tag,
                     int64_t timeout_ms)
{
    grpc_event ev = grpc_completion_queue_pluck(
        cq, tag, deadline_in(timeout_ms + GRPCCLI_GRACE_MS), NULL);

    if (ev.type == GRPC_QUEUE_TIMEOUT) {
        grpc_call_cancel(call, NULL);
        ev = grpc_completion_queue_pluck(cq, tag,
                                         gpr_inf_future(GPR_CLOCK_MONOTONIC),
                                         NULL);
    }
    return ev.type == GRPC_OP_COMPLETE && ev.success ? PC_OK : PC_EIO;
}

static void cq_destroy(grpc_completion_queue *cq)
{
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME),
                                       NULL)
               .type != GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
}

struct call_state {
    grpc_metadata_array initial, trailing;
    grpc_byte_buffer *send, *recv;
    grpc_status_code status;
    grpc_slice details;
};

static int call_run(struct grpccli *c, grpc_call *call,
                    grpc_completion_queue *cq, struct call_state *st,
                    int64_t timeout_ms)
{
    grpc_op ops[6];
    grpc_call_error ce;
    int tag;

    memset(ops, 0, sizeof(ops));
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[0].data.send_initial_metadata.count = c->nmd;
    ops[0].data.send_initial_metadata.metadata = c->md;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = st->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &st->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &st->trailing;
    ops[5].data.recv_status_on_client.status = &st->status;
    ops[5].data.recv_status_on_client.status_details = &st->details;
    ce = grpc_call_start_batch(call, ops, 6, &tag, NULL);
    if (ce != GRPC_CALL_OK) {
        return PC_EIO;
    }
    return call_wait(cq, call, &tag, timeout_ms);
}

static void result_fill(struct call_state *st, struct grpccli_result *r)
{
    size_t n = GRPC_SLICE_LENGTH(st->details);

    r->status = (int)st->status;
    if (n >= sizeof(r->message)) {
        n = sizeof(r->message) - 1;
    }
    memcpy(r->message, GRPC_SLICE_START_PTR(st->details), n);
    r->message[n] = '\0';
    read_response(st->recv, r);
    read_trailers(&st->trailing, r);
}

/*
 * The message to send. With gzip on, we compress it ourselves with
 * libdeflate at the configured level and hand gRPC a byte buffer marked
 * GRPC_COMPRESS_GZIP: C core then skips its own compression (zlib at its
 * fixed default level, several times slower: most of an OTLP exporter's
 * CPU) and sends the bytes as they are, with the message's compressed flag
 * set, under the `grpc-encoding: gzip` the channel's default algorithm
 * puts on the call. Any failure falls back to the plain message, which
 * gRPC then compresses itself.
 */
static grpc_byte_buffer *send_buffer(const struct grpccli *c,
                                     const struct grpccli_msg *m)
{
    const uint8_t *req = m->data;
    size_t len = m->len;
    grpc_byte_buffer *bb = NULL;
    grpc_slice body;
    struct buf gz;

    if (c->gzip_level > 0 && m->gz != NULL) {
        /* Compressed already, by the client that sent it: gzip is gzip,
         * whatever level it used. Without a copy when the owner lends it
         * (a large request's gzip bytes are megabytes). */
        if (m->gz_ref != NULL) {
            m->gz_ref(m->gz_owner);
            body = grpc_slice_new_with_user_data((void *)m->gz, m->gzlen,
                                                 m->gz_unref, m->gz_owner);
        } else {
            body = grpc_slice_from_copied_buffer((const char *)m->gz,
                                                 m->gzlen);
        }
        bb = grpc_raw_compressed_byte_buffer_create(&body, 1,
                                                    GRPC_COMPRESS_GZIP);
        grpc_slice_unref(body);
        return bb;
    }
    if (c->gzip_level > 0) {
        buf_init(&gz, 0);
        if (gz_compress(req, len, &gz, c->gzip_level) == PC_OK) {
            /* The slice takes the compressed bytes (freed with it): no
             * second copy of a message that may be megabytes. */
            size_t n;
            uint8_t *p = buf_take(&gz, &n);
            body = grpc_slice_new(p, n, free);
            bb = grpc_raw_compressed_byte_buffer_create(&body, 1,
                                                        GRPC_COMPRESS_GZIP);
            grpc_slice_unref(body);
        }
        buf_free(&gz);
        if (bb != NULL) {
            return bb;
        }
    }
    body = grpc_slice_from_copied_buffer((const char *)req, len);
    bb = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    return bb;
}

int grpccli_unary(struct grpccli *c, const char *method,
                  const struct grpccli_msg *m, int64_t timeout_ms,
                  struct grpccli_result *r)
{
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice msl = grpc_slice_from_static_string(method);
    struct call_state st;
    grpc_call *call;
    int rc;

    memset(&st, 0, sizeof(st));
    grpc_metadata_array_init(&st.initial);
    grpc_metadata_array_init(&st.trailing);
    st.details = grpc_empty_slice();
    st.send = send_buffer(c, m);
    call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS,
                                    cq, msl, NULL, deadline_in(timeout_ms),
                                    NULL);
    rc = call != NULL ? call_run(c, call, cq, &st, timeout_ms) : PC_EIO;
    if (rc == PC_OK) {
        result_fill(&st, r);
    } else {
        snprintf(r->message, sizeof(r->message), "gRPC call could not run");
    }
    if (call != NULL) {
        grpc_call_unref(call);
    }
    grpc_byte_buffer_destroy(st.send);
    if (st.recv != NULL) {
        grpc_byte_buffer_destroy(st.recv);
    }
    grpc_slice_unref(st.details);
    grpc_metadata_array_destroy(&st.initial);
    grpc_metadata_array_destroy(&st.trailing);
    cq_destroy(cq);
    return rc;
}

/* ---- outcome for the exporter helper ---------------------------------------- */

int grpccli_call(struct grpccli *c, const char *method,
                 const struct grpccli_msg *m, int64_t timeout_ms,
                 struct buf *resp, struct export_result *r)
{
    struct grpccli_result res;
    int rc;

    grpccli_result_init(&res);
    rc = grpccli_unary(c, method, m, timeout_ms, &res);
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "%s", res.message);
        grpccli_result_free(&res);
        /* Could not even start the call: transient by nature. */
        return PC_ERETRY;
    }
    rc = grpccli_classify(res.status, res.retry_delay_ms);
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "%s: %.200s",
                 grpccli_status_name(res.status), res.message);
    }
    if (res.retry_delay_ms > 0) {
        r->retry_after_ms = res.retry_delay_ms;
    }
    if (rc == PC_OK && resp != NULL && res.response.len > 0) {
        buf_append(resp, res.response.data, res.response.len);
    }
    grpccli_result_free(&res);
    return rc;
}

/* ---- OTLP Export ------------------------------------------------------------- */

/* ExportProfilesPartialSuccess {1 rejected_profiles int64, 2 error_message}. */
static int partial_inner(const uint8_t *p, const uint8_t *end,
                         int64_t *rejected, char *msg, size_t msglen)
{
    const uint8_t *s;
    size_t n;
    uint32_t f;
    unsigned w;
    uint64_t v;

    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return PC_ECORRUPT;
        }
        if (f == 1 && w == PB_VARINT) {
            if (pb_read_varint(&p, end, &v) != PC_OK) {
                return PC_ECORRUPT;
            }
            *rejected = (int64_t)v;
        } else if (f == 2 && w == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return PC_ECORRUPT;
            }
            if (msglen > 0) {
                n = n < msglen - 1 ? n : msglen - 1;
                memcpy(msg, s, n);
                msg[n] = '\0';
            }
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return PC_ECORRUPT;
        }
    }
    return PC_OK;
}

int grpccli_otlp_partial(const uint8_t *p, size_t len, int64_t *rejected,
                         char *msg, size_t msglen)
{
    const uint8_t *end = p + len, *s;
    size_t n;
    uint32_t f;
    unsigned w;

    *rejected = 0;
    if (msglen > 0) {
        msg[0] = '\0';
    }
    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return PC_ECORRUPT;
        }
        if (f == 1 && w == PB_LEN) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK ||
                partial_inner(s, s + n, rejected, msg, msglen) != PC_OK) {
                return PC_ECORRUPT;
            }
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return PC_ECORRUPT;
        }
    }
    return PC_OK;
}

static void otlp_note_partial(const struct buf *resp, struct export_result *r)
{
    int64_t rej = 0;
    char msg[200];

    if (grpccli_otlp_partial(resp->data, resp->len, &rej, msg, sizeof(msg)) !=
        PC_OK) {
        return; /* an unreadable response body is not the data's fault */
    }
    if (rej > 0) {
        uint64_t sum = (uint64_t)r->rejected_profiles + (uint64_t)rej;
        r->rejected_profiles = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
    }
    if (rej > 0 || msg[0] != '\0') {
        snprintf(r->msg, sizeof(r->msg), "partial success: %lld rejected: %s",
                 (long long)rej, msg);
    }
}

static int otlp_send_one(struct grpccli *c, const struct grpccli_msg *m,
                         int64_t deadline_ms, struct export_result *r)
{
    int64_t left = deadline_ms - clock_mono_ms();
    struct buf resp;
    int rc;

    if (left <= 0) {
        snprintf(r->msg, sizeof(r->msg), "timed out before all parts went");
        return PC_ERETRY;
    }
    buf_init(&resp, GRPCCLI_RESPONSE_MAX);
    rc = grpccli_call(c, GRPCCLI_OTLP_EXPORT_METHOD, m, left, &resp, r);
    if (rc == PC_OK) {
        otlp_note_partial(&resp, r);
    }
    buf_free(&resp);
    return rc;
}

static int otlp_export_part(struct grpccli *c, const struct otlp_item *items,
                            size_t n, uint64_t max_bytes, int64_t deadline_ms,
                            struct export_result *r)
{
    struct grpccli_msg m = {0};
    struct buf req;
    struct errctx e = {{0}};
    int rc;

    /* A lone item over the limit still goes: the limit is there to cut
     * batches, not to refuse a profile the backend may well accept. */
    buf_init(&req,
             n == 1 || max_bytes == 0 ? BUF_MAX_DEFAULT : (size_t)max_bytes);
    rc = otlp_encode_items(items, n, &req, &e);
    if (rc == PC_ETOOBIG && n > 1) {
        buf_free(&req);
        rc = otlp_export_part(c, items, n / 2, max_bytes, deadline_ms, r);
        return rc != PC_OK ? rc
                           : otlp_export_part(c, items + n / 2, n - n / 2,
                                              max_bytes, deadline_ms, r);
    }
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "otlp encode: %s", err_msg(&e, rc));
        buf_free(&req);
        return rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    }
    m.data = req.data;
    m.len = req.len;
    rc = otlp_send_one(c, &m, deadline_ms, r);
    buf_free(&req);
    return rc;
}

int grpccli_otlp_send(struct grpccli *c, const struct grpccli_msg *m,
                      int64_t timeout_ms, struct export_result *r)
{
    return otlp_send_one(c, m, clock_mono_ms() + timeout_ms, r);
}

int grpccli_otlp_export(struct grpccli *c, const struct otlp_item *items,
                        size_t n, uint64_t max_bytes, int64_t timeout_ms,
                        struct export_result *r)
{
    if (n == 0) {
        return PC_OK;
    }
    return otlp_export_part(c, items, n, max_bytes,
                            clock_mono_ms() + timeout_ms, r);
}

void grpccli_opts_conn(struct grpccli_opts *o,
                       const struct grpccli_conn_cfg *c)
{
    o->insecure = c->insecure;
    o->tls = &c->tls;
    o->authority = c->authority;
    o->headers = &c->headers;
    o->bearer_token = c->bearer_token;
}
