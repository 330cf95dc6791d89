/*
 * otlp.h: the OTLP profiles v1.11.0 codec of the model.
 *
 * ExportProfilesServiceRequest and ProfilesData share field numbers, so one
 * codec reads and writes both.
 *
 * Decoding keeps everything of the pinned version. Profiles of one scope
 * that came from one pprof (same samples, one value each, same header) are
 * joined back into one model profile with several sample types; attributes
 * with the pprof.* keys of docs/conversion.md are lifted back into the
 * model's pprof fields.
 *
 * Encoding writes one dictionary for all inputs: every table starts with its
 * zero entry, holds no duplicates, and all seven tables are present. A model
 * profile with N sample types becomes N OTLP profiles in a scope of its own.
 */
#ifndef PROFCOL_OTLP_H
#define PROFCOL_OTLP_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/limits.h"
#include "model/profile.h"

/* Decodes an ExportProfilesServiceRequest / ProfilesData (plain protobuf;
 * the transport removes gzip/zstd). Input is copied into pd's arena. */
int otlp_decode(const uint8_t *data, size_t len,
                const struct decode_limits *lim, struct pdata **out,
                struct errctx *e);

/* Same, but data must outlive the pdata (strings point into it). */
int otlp_decode_borrow(const uint8_t *data, size_t len,
                       const struct decode_limits *lim, struct pdata **out,
                       struct errctx *e);

/*
 * Appends one ExportProfilesServiceRequest holding every profile of every
 * input to out, merging their dictionaries into one.
 */
int otlp_encode(const struct pdata *const *in, size_t n, struct buf *out,
                struct errctx *e);

/*
 * otlp_encode for a writer that need not hold the whole request: the
 * resource part (every profile and sample) is handed to part() before the
 * dictionary is written, and out is emptied back to where it began; the
 * dictionary is what out holds at the end. A request's top-level fields
 * need no length and may come in any order, so the two parts written one
 * after the other are the request. On an error the parts already handed
 * out are not taken back.
 */
typedef int (*otlp_part_fn)(const uint8_t *data, size_t len, void *arg);
int otlp_encode_parts(const struct pdata *const *in, size_t n, struct buf *out,
                      otlp_part_fn part, void *arg, struct errctx *e);

/* Checks the v1.11.0 rules on encoded bytes (zero entries present, indices in
 * range, no duplicate dictionary entries, sample_type and period_type set,
 * timestamps inside the profile window). Used by tests and `inspect`. */
int otlp_validate(const uint8_t *data, size_t len, struct errctx *e);

/* ---- OTLP/JSON (codec/otlp_json.c) -------------------------------------
 * The protobuf JSON mapping with OTLP's rules: lowerCamelCase names
 * (snake_case accepted), 64-bit integers as strings (numbers accepted),
 * trace/span/profile ids as hex, other bytes as base64, unknown names
 * ignored. JSON is transcoded to and from protobuf bytes, so the model is
 * reached only through otlp_decode/otlp_encode (one set of rules). */

enum otlp_json_msg {
    OTLP_JSON_REQUEST,  /* ExportProfilesServiceRequest / ProfilesData */
    OTLP_JSON_RESPONSE, /* ExportProfilesServiceResponse */
    OTLP_JSON_STATUS,   /* google.rpc.Status (code, message) */
};

/* Appends the protobuf form of a JSON message to out (bounded by out->max);
 * errors name the JSON path ("resourceProfiles[0].resource: ..."). */
int otlp_json_to_pb(enum otlp_json_msg which, const char *json, size_t len,
                    struct buf *out, struct errctx *e);

/* Appends the JSON form of a protobuf message to out. */
int otlp_pb_to_json(enum otlp_json_msg which, const uint8_t *data, size_t len,
                    struct buf *out, struct errctx *e);

/* JSON request -> model (via otlp_decode_borrow; the protobuf form lives in
 * the pdata's arena). lim->max_decompressed bounds the protobuf form. */
int otlp_json_decode(const char *json, size_t len,
                     const struct decode_limits *lim, struct pdata **out,
                     struct errctx *e);

/* Model -> JSON request (via otlp_encode). */
int otlp_json_encode(const struct pdata *const *in, size_t n, struct buf *out,
                     struct errctx *e);

/* ---- many items into one request (codec/otlp_encode_items.c) ----------
 * An exporter's batch holds items that each name a pdata (shared, never
 * changed here), which of its resources the item is, and the attributes the
 * pipeline gave the series. otlp_encode_items() writes them all as ONE
 * ExportProfilesServiceRequest with one merged dictionary: entries equal
 * across inputs are written once. */

struct otlp_item {
    const struct pdata *pd;
    int32_t resource; /* index into pd->resources; -1 = all */
    /* Non-NULL (even with nattrs 0): replaces the attributes of the
     * item's resource(s); NULL keeps them. */
    const struct keyvalue *attrs;
    uint32_t nattrs;
    /* Non-empty: the pprof bytes the item's one profile was decoded from;
     * they go out as that profile's original_payload (format "pprof", on
     * the first OTLP profile of its group). Ignored unless the item's
     * view holds exactly one profile. */
    struct pstr original_pprof;
    /* Non-empty: every scope of the item is written with this name (and a
     * scope message where the pdata has none): Parca names a profile after
     * its scope and needs the message. */
    struct pstr scope_name;
};

/* Appends the request to out (bounded by out->max: PC_ETOOBIG when it does
 * not fit, out unchanged). PC_EINVAL names an item whose resource index is
 * out of range. */
int otlp_encode_items(const struct otlp_item *items, size_t n, struct buf *out,
                      struct errctx *e);

#endif
