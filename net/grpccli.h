/*
 * grpccli.h: the gRPC client of the gRPC exporters (gRPC C core).
 *
 * One client = one channel to one endpoint, plaintext or TLS (server CA,
 * client certificate for mTLS, optionally without verification), shared by
 * the exporter's consumer threads (gRPC channels are thread-safe). A call is
 * unary: a method path, the serialized request, a deadline; outgoing
 * metadata (`authorization: Bearer ...` and the configured headers) goes on
 * every call. The result is the gRPC status, its message, the response
 * bytes, and the delay of a google.rpc.RetryInfo found in the
 * `grpc-status-details-bin` trailer.
 *
 * grpccli_classify() says what the exporter helper should do with a status,
 * by the OTLP specification: UNAVAILABLE, CANCELLED, DEADLINE_EXCEEDED,
 * ABORTED, OUT_OF_RANGE and DATA_LOSS are retried; RESOURCE_EXHAUSTED only
 * when the server sent RetryInfo (then after that delay); every other
 * status is permanent.
 */
#ifndef PROFCOL_GRPCCLI_H
#define PROFCOL_GRPCCLI_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "codec/otlp.h"
#include "config/cfg.h"

struct export_result;

/* The `tls:` section shared by the gRPC exporters. */
struct grpccli_tls_cfg {
    char *ca_file;              /* PEM roots; empty = system roots */
    char *cert_file;            /* client certificate (mTLS) */
    char *key_file;             /* client key (mTLS) */
    int insecure_skip_verify;   /* TLS without checking the server */
    char *server_name_override; /* name the certificate must carry */
};

extern const struct cfg_entry grpccli_tls_table[];

/*
 * How an exporter reaches a gRPC server: the keys every gRPC exporter
 * (otlp, parca, loadbalancing's backends) takes, declared once. An exporter
 * embeds the struct and puts GRPCCLI_CONN_CFG_ENTRIES(struct x, field) in its
 * table: the keys stay flat (`insecure:`, `tls:`, ...), as users write them.
 */
struct grpccli_conn_cfg {
    int insecure;
    struct grpccli_tls_cfg tls;
    char *authority;
    struct cfg_map headers;
    char *bearer_token;
};

#define GRPCCLI_CONN_CFG_ENTRIES(T, f)                                        \
    {.key = "insecure",                                                       \
     .type = CFG_BOOL,                                                        \
     .def = "false",                                                          \
     .offset = offsetof(T, f.insecure),                                       \
     .doc = "plaintext gRPC (no TLS)"},                                       \
        {.key = "tls",                                                        \
         .type = CFG_SECTION,                                                 \
         .sub = grpccli_tls_table,                                            \
         .offset = offsetof(T, f.tls),                                        \
         .doc = "TLS / mutual TLS settings (ignored with insecure: true)"},   \
        {.key = "authority",                                                  \
         .type = CFG_STRING,                                                  \
         .offset = offsetof(T, f.authority),                                  \
         .doc = "the :authority header sent instead of the endpoint's host"}, \
        {.key = "headers",                                                    \
         .type = CFG_MAP,                                                     \
         .offset = offsetof(T, f.headers),                                    \
         .doc = "gRPC metadata added to every call"},                         \
    {                                                                         \
        .key = "bearer_token", .type = CFG_STRING,                            \
        .offset = offsetof(T, f.bearer_token),                                \
        .doc = "sent as 'authorization: Bearer <token>'"                      \
    }

struct grpccli_opts {
    const char *endpoint;              /* host:port (a gRPC target) */
    int insecure;                      /* plaintext */
    const struct grpccli_tls_cfg *tls; /* may be NULL */
    const char *authority;         /* :authority override; NULL/"" = none */
    int gzip;                      /* gzip message compression */
    int gzip_level;                /* with gzip: libdeflate level 1..12 of the
                                    messages we compress; 0 = 1 */
    const struct cfg_map *headers; /* extra metadata; may be NULL */
    const char *bearer_token;      /* NULL/"" = none */
    uint64_t max_send_bytes;       /* 0 = gRPC's default */
};

/* Fills the connection fields of o from c (borrowed: c must outlive o). */
void grpccli_opts_conn(struct grpccli_opts *o,
                       const struct grpccli_conn_cfg *c);

struct grpccli;

/* Reads the TLS files and creates the channel (no connection yet: gRPC
 * connects on the first call and reconnects by itself). */
int grpccli_new(const struct grpccli_opts *o, struct grpccli **out,
                struct errctx *e);
void grpccli_free(struct grpccli *c);

#define GRPCCLI_RESPONSE_MAX ((size_t)4 << 20)

struct grpccli_result {
    int status;             /* grpc_status_code */
    char message[256];      /* status details, or why the call failed */
    struct buf response;    /* response message (bounded) */
    int64_t retry_delay_ms; /* RetryInfo delay; -1 = none sent */
};

void grpccli_result_init(struct grpccli_result *r);
void grpccli_result_free(struct grpccli_result *r);

/* A request message to send: its bytes, and optionally the same bytes
 * already gzip-compressed (as a client sent them), which a client that
 * compresses with gzip sends instead of compressing again. */
struct grpccli_msg {
    const uint8_t *data;
    size_t len;
    const uint8_t *gz; /* NULL: compressed here when gzip is on */
    size_t gzlen;
    /* With gz: gRPC sends gz without a copy, holding one reference of
     * gz_owner, which it gives back with gz_unref(gz_owner) once sent; the
     * caller takes that reference for it (gz_ref(gz_owner)). */
    void (*gz_ref)(void *owner);
    void (*gz_unref)(void *owner);
    void *gz_owner;
};

/*
 * One unary call of `method` ("/pkg.Service/Method"). Returns PC_OK when
 * the call completed (whatever its status: see r->status), PC_ENOMEM or
 * PC_EIO when it could not be made at all. Blocks at most timeout_ms (plus
 * a bounded grace for the cancellation).
 */
int grpccli_unary(struct grpccli *c, const char *method,
                  const struct grpccli_msg *m, int64_t timeout_ms,
                  struct grpccli_result *r);

/* PC_OK, PC_ERETRY or PC_EPERMANENT for a status (see above). */
int grpccli_classify(int status, int64_t retry_delay_ms);

/* "UNAVAILABLE", "OK", ...; "UNKNOWN(n)" style codes give "UNKNOWN". */
const char *grpccli_status_name(int status);

/* Parses a serialized google.rpc.Status for a google.rpc.RetryInfo detail;
 * its delay in ms, or -1. Exposed for tests. */
int64_t grpccli_parse_retry_info(const uint8_t *p, size_t len);

/*
 * One unary call whose outcome is said the exporter helper's way: PC_OK,
 * PC_ERETRY or PC_EPERMANENT, with r->msg ("UNAVAILABLE: connection
 * refused") and r->retry_after_ms (RetryInfo) filled. The response bytes
 * are appended to resp when it is not NULL.
 */
int grpccli_call(struct grpccli *c, const char *method,
                 const struct grpccli_msg *m, int64_t timeout_ms,
                 struct buf *resp, struct export_result *r);

/* ---- OTLP profiles Export over a client --------------------------------- */

#define GRPCCLI_OTLP_EXPORT_METHOD                                            \
    "/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export"

/*
 * Sends the items as ExportProfilesServiceRequests of at most max_bytes
 * each (one request when they fit; otherwise the list is halved until the
 * parts fit; a single item larger than max_bytes goes alone). Every request
 * has one merged dictionary. The calls share timeout_ms. Partial success:
 * rejected_profiles is added to r->rejected_profiles and the error message
 * put in r->msg. Returns PC_OK, PC_ERETRY or PC_EPERMANENT.
 */
int grpccli_otlp_export(struct grpccli *c, const struct otlp_item *items,
                        size_t n, uint64_t max_bytes, int64_t timeout_ms,
                        struct export_result *r);

/* Sends m, an ExportProfilesServiceRequest already encoded (one a
 * receiver got, forwarded as it is, with the gzip bytes it came as when it
 * came so), as one call; partial success and return values as
 * grpccli_otlp_export. */
int grpccli_otlp_send(struct grpccli *c, const struct grpccli_msg *m,
                      int64_t timeout_ms, struct export_result *r);

/* Parses an ExportProfilesServiceResponse: rejected profiles and message
 * (NUL-terminated, cut to msglen). PC_OK or PC_ECORRUPT. */
int grpccli_otlp_partial(const uint8_t *p, size_t len, int64_t *rejected,
                         char *msg, size_t msglen);

#endif
