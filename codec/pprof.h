/*
 * pprof.h: the pprof codec (perftools.profiles.Profile) of the model.
 *
 * Decoding: gzip (sniffed by magic bytes) or plain protobuf; packed and
 * unpacked repeated fields; unknown fields skipped. The result is one
 * resource with one scope with one profile holding every sample type, in
 * order. pprof string indices are kept as they are: model string i is pprof
 * string i. pprof ids become table positions (mapping with id k at position
 * i becomes mapping index i + 1; index 0 is the zero entry).
 *
 * Encoding: one model profile to one pprof. Only the strings, mappings,
 * locations and functions the profile uses are written, ids numbered 1..N in
 * table order (Parca requires it), string_table[0] = "". OTLP-only details
 * are mapped as docs/conversion.md says: links become span_id / trace_id
 * string labels, attributes of other types become labels, and so on.
 */
#ifndef PROFCOL_PPROF_H
#define PROFCOL_PPROF_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "model/limits.h"
#include "model/profile.h"

/*
 * Decodes data (gzip or plain) into a new pdata. The input bytes are copied
 * or decompressed into pd's arena, so the caller may free data afterwards.
 * Errors: PC_EEMPTY, PC_ETRUNC, PC_ECORRUPT, PC_ETOOBIG, PC_ENOMEM, with a
 * message in e naming what is wrong.
 */
int pprof_decode(const uint8_t *data, size_t len,
                 const struct decode_limits *lim, struct pdata **out,
                 struct errctx *e);

/*
 * Like pprof_decode, but data must stay alive and unchanged as long as the
 * pdata: strings point into it. Used where the caller owns the bytes anyway.
 */
int pprof_decode_borrow(const uint8_t *data, size_t len,
                        const struct decode_limits *lim, struct pdata **out,
                        struct errctx *e);

/* Appends the uncompressed pprof encoding of profile p of pd to out. */
int pprof_encode(const struct pdata *pd, const struct profile *p,
                 struct buf *out, struct errctx *e);

/* Same, gzip-compressed at level (libdeflate levels; 6 if out of range). */
int pprof_encode_gz(const struct pdata *pd, const struct profile *p, int level,
                    struct buf *out, struct errctx *e);

#endif
