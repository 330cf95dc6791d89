/*
 * batch_codec.h: a batch as bytes, for the persistent sending queue.
 *
 * A small versioned little-endian format (docs/persistence.md):
 *
 *   "PCB" version(1)  u16 source_len source  u32 nitems  item*
 *   item:   u8 format  u32 nprofiles  u64 nsamples  u64 received_ns
 *           str tenant  u32 nattrs (str key, value)*  u64 payload_len payload
 *   value:  u8 type, then  STRING/BYTES: str | BOOL: u8 | INT: u64 |
 *           DOUBLE: u64 (IEEE bits) | ARRAY: u32 n value* |
 *           KVLIST: u32 n (str key, value)*
 *   str:    u32 len, bytes
 *
 * The payload is the item's original bytes when it has them, else the OTLP
 * encoding of its decoded profile (of its one resource when the item is a
 * resource of a shared pdata), and the format says which. Decoding never
 * trusts a length: every count is checked against the bytes left, nesting
 * is bounded by LIMIT_ANYVALUE_DEPTH, and input is never read past len.
 */
#ifndef PROFCOL_BATCH_CODEC_H
#define PROFCOL_BATCH_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "component/batch.h"

#define BATCH_CODEC_VERSION 1

/*
 * Makes b cost about its wire size while it waits in a queue. An item
 * with its original bytes drops its decoded model (nothing changed it: the
 * bytes say the same); an item with only a model whose arena holds at most
 * BATCH_COMPACT_MAX_ARENA (a small request, where the arena's growth
 * dominates) gets the OTLP encoding of it as its bytes instead, format
 * PAYLOAD_OTLP, its resource alone. Larger models stay (counted by the
 * queue as they are): encoding them would hold up the caller's thread,
 * the main loop. Exporters decode again (batch_item_decode) when they
 * need the model. Only the sole holder of b may call it; an item whose
 * encoding fails keeps its model. Returns the number of items compacted.
 */
/*
 * Bytes of b's serialized form that are payloads kept as received and
 * compressed already (gzip, zstd): what a general compressor run over the
 * serialized batch would not shrink.
 */
uint64_t batch_compressed_bytes(const struct batch *b);

#define BATCH_COMPACT_MAX_ARENA ((size_t)1 << 20)
uint32_t batch_compact(struct batch *b);

/* Appends b's encoding to out. PC_ENOMEM / PC_ETOOBIG / encoder errors. */
int batch_serialize(const struct batch *b, struct buf *out);

/* A new batch (one reference, the caller's) from data.
 * PC_ECORRUPT / PC_ETRUNC / PC_EUNSUPPORTED (version) / PC_ENOMEM. */
int batch_deserialize(const uint8_t *data, size_t len, struct batch **out);

#endif
