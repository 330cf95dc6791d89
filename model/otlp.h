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

#include "model/buf.h"
#include "model/err.h"
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

/* Checks the v1.11.0 rules on encoded bytes (zero entries present, indices in
 * range, no duplicate dictionary entries, sample_type and period_type set,
 * timestamps inside the profile window). Used by tests and `inspect`. */
int otlp_validate(const uint8_t *data, size_t len, struct errctx *e);

#endif
