/*
 * batch.h: what flows through a pipeline.
 *
 * A batch is a list of items. An item is one series: its identity (typed
 * attributes such as service.name, the profile name, the tenant) kept beside
 * its payload, so that processors which only touch series attributes never
 * decode or re-encode a payload.
 *
 * The payload is shared and immutable once shared: the original bytes as
 * received (a refcounted blob, forwarded untouched when nothing changed them)
 * and/or the decoded model (a refcounted pdata, decoded at most once, on
 * first need). A processor that changes a payload first takes a private copy
 * (batch_item_payload_mut), which drops the original bytes from that item,
 * and the OTLP original_payload of every profile in the copy.
 *
 * Fan-out: batch_clone() gives each pipeline (and each exporter) its own
 * batch whose items share payloads by reference; attributes are copied into
 * the clone, which is cheap (a few labels), so one pipeline's processors can
 * never change what another sees.
 *
 * Ownership: the receiver creates a batch and hands it to the pipeline with
 * pipeline_consume(), losing it. Whoever holds a batch frees it with
 * batch_unref().
 */
#ifndef PROFCOL_BATCH_H
#define PROFCOL_BATCH_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "model/limits.h"
#include "model/profile.h"

enum payload_format {
    PAYLOAD_NONE = 0,
    PAYLOAD_PPROF, /* raw is a pprof (gzip or plain) */
    PAYLOAD_OTLP,  /* raw is an ExportProfilesServiceRequest */
};

/* Immutable shared bytes. */
struct blob {
    int refs; /* atomic */
    size_t len;
    uint8_t *data;
    /* The same bytes as gzip, as a client sent them (grpc-encoding gzip),
     * owned by this blob; NULL when unknown. An exporter that compresses
     * with gzip may send these instead of compressing data again. */
    struct blob *gz;
};

struct blob *blob_new(const void *data, size_t len); /* copies */
struct blob *blob_take(uint8_t *data, size_t len);   /* takes malloc'd data */
struct blob *blob_ref(struct blob *b);
void blob_unref(struct blob *b);
/* The same for callbacks that take a void * (arena_on_free, a gRPC slice's
 * destroy). */
void blob_ref_cb(void *b);
void blob_unref_cb(void *b);

/* A decoded payload shared by items (and batches) by reference. */
struct shared_pdata {
    int refs; /* atomic */
    struct pdata *pd;
};

struct shared_pdata *shared_pdata_new(struct pdata *pd); /* takes pd */
struct shared_pdata *shared_pdata_ref(struct shared_pdata *s);
void shared_pdata_unref(struct shared_pdata *s);

struct item {
    struct keyvalue *attrs; /* series identity; owned by the batch arena */
    uint32_t nattrs;
    struct pstr tenant;      /* X-Scope-OrgID that brought it, may be empty */
    uint8_t format;          /* enum payload_format of raw */
    struct blob *raw;        /* original bytes, or NULL once modified;
                                while queued, a small model's OTLP
                                encoding (batch_compact) */
    struct shared_pdata *pd; /* decoded payload, or NULL until needed */
    int32_t resource;        /* OTLP: index of the resource in pd this
                                    item is; -1 = the whole pdata */
    uint32_t nprofiles;      /* counts for self-metrics */
    uint64_t nsamples;
    uint64_t received_ns; /* when the receiver accepted it */
    /* The attributes raw's one resource carries (batch arena), noted by
     * the receiver (item_note_raw_attrs); raw_noted 0 = unknown. */
    struct keyvalue *raw_attrs;
    uint32_t raw_nattrs;
    uint8_t raw_noted;
};

struct batch {
    int refs;           /* atomic */
    struct arena arena; /* attrs and other per-batch memory */
    struct item *items;
    uint32_t nitems, cap;
    struct decode_limits limits;
    char source[64];   /* receiver id, for logs and metrics */
    char peer[64];     /* the sending connection's IP address ("" unknown;
                      set by receivers, read by k8sattributes) */
    uint64_t in_bytes; /* the request's bytes as received when no item
                          keeps them (JFR, Datadog, text formats); 0 when
                          the items' raw bytes say it (batch_bytes) */
    pthread_mutex_t decode_lock; /* exporters share a batch: one decodes */
};

struct batch *batch_new(const char *source);
struct batch *batch_ref(struct batch *b);
void batch_unref(struct batch *b);

/* Appends an empty item (zeroed, resource -1); NULL on OOM. */
struct item *batch_add_item(struct batch *b);

/* Deep-copies items' attributes, shares payloads. */
struct batch *batch_clone(const struct batch *b);

/* Decodes the payload if needed (once; the result is shared). Safe to call
 * from several exporter threads on the same batch. */
int batch_item_decode(struct batch *b, struct item *it, struct errctx *e);

/* Nonzero when someone else holds b too (another exporter's queue, the
 * status page): its items must then not be written. */
int batch_shared(const struct batch *b);

/* A pdata this item may change: decodes, then copies it when shared.
 * Drops it->raw and clears original_payload(_format) of every profile of
 * the copy (the original bytes no longer match what will be sent). */
int batch_item_payload_mut(struct batch *b, struct item *it,
                           struct pdata **out, struct errctx *e);

/* Notes that it->raw, an ExportProfilesServiceRequest of the one resource
 * res, carries exactly the attributes the receiver has just set on the item
 * from res (item_set_resource_attrs). Noted only when they came through
 * whole: no duplicate key collapsed, no key cut, no internal `__*` key
 * (an encoder leaves those out). PC_OK (noted or not) or PC_ENOMEM. */
int item_note_raw_attrs(struct batch *b, struct item *it,
                        const struct resource *res);

/* Nonzero when it->raw may go to an OTLP backend as it is: the item came
 * in as that ExportProfilesServiceRequest, of one resource, with its
 * attributes noted (item_note_raw_attrs); no processor changed its payload
 * (that drops raw) and its attributes, internal `__*` ones aside, are
 * still the noted ones in the same order. The encoding of the item would
 * then say the same as raw. */
int item_otlp_as_received(const struct item *it);

/* The item's original pprof bytes: it->raw when the item came in as a
 * pprof and nothing changed its payload; empty otherwise. */
struct pstr item_original_pprof(const struct item *it);

/* A profile's OTLP original_payload when its format is "pprof" (what an
 * OTLP exporter with include_original_payload sends); empty otherwise.
 * The bytes are unchecked: a forwarder sniffs them before trusting. */
struct pstr profile_original_pprof(const struct profile *p);

/* Attribute helpers on an item (values are copied into the batch arena). */
const struct anyvalue *item_attr(const struct item *it, const char *key);
int item_set_attr_str(struct batch *b, struct item *it, const char *key,
                      const char *value, size_t len);
int item_set_attr(struct batch *b, struct item *it, const char *key,
                  const struct anyvalue *v);
int item_del_attr(struct item *it, const char *key);
/* Sets every attribute of res on the item (an OTLP resource becoming a
 * series). */
int item_set_resource_attrs(struct batch *b, struct item *it,
                            const struct resource *res);

uint32_t batch_profile_count(const struct batch *b);
uint64_t batch_sample_count(const struct batch *b);
/* Payload bytes: the items' original bytes, else the batch's in_bytes. */
uint64_t batch_bytes(const struct batch *b);

#endif
