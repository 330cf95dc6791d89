/*
 * intern.h: an open-addressing index for interning table entries.
 *
 * It stores (hash tag, index) pairs only; the entries themselves stay in
 * the caller's table, and the caller decides equality (two entries may
 * share a tag: a tag is 32 bits of the 64-bit hash). That keeps it one compact
 * allocation (no per-entry malloc, unlike uthash), which matters when an
 * encoder interns hundreds of thousands of stacks.
 *
 *   uint64_t h = hash(entry);
 *   struct itab_probe pr;
 *   int32_t i;
 *   itab_probe_start(t, h, &pr);
 *   while ((i = itab_probe_next(t, &pr)) >= 0)
 *       if (equal(table[i], entry)) return i;        // found
 *   itab_insert(t, &pr, new_index);                   // absent: add
 */
#ifndef PROFCOL_INTERN_H
#define PROFCOL_INTERN_H

#include <stddef.h>
#include <stdint.h>

/* A slot: a 32-bit tag of the entry's hash beside its index, so that a
 * probe reads one cache line, not one in each of two arrays, and a slot
 * takes 8 bytes instead of 12 (an encoder's tables for a large profile are
 * megabytes). The tag decides nothing: callers compare the entries. */
struct itab_slot {
    uint32_t tag;
    int32_t idx; /* -1 = empty slot */
};

struct itab {
    struct itab_slot *slots;
    uint32_t mask; /* capacity - 1, capacity a power of two */
    uint32_t count;
};

struct itab_probe {
    uint32_t tag;
    uint32_t pos;
};

/* Sized for about `expected` entries; grows by itself. */
int itab_init(struct itab *t, uint32_t expected);
void itab_free(struct itab *t);

/* Both halves of the hash go into the tag (the low bits of the tag pick
 * the slot). */
static inline uint32_t itab_tag(uint64_t hash)
{
    return (uint32_t)(hash ^ (hash >> 32));
}

void itab_probe_start(const struct itab *t, uint64_t hash,
                      struct itab_probe *pr);

/* Bytes the table holds. */
static inline size_t itab_bytes(const struct itab *t)
{
    return t->slots != NULL ? ((size_t)t->mask + 1) * sizeof(*t->slots) : 0;
}

/* Starts loading the slot a probe for hash reads first: a caller with
 * several entries to look up in a big table prefetches them all, then
 * probes, so that the cache misses overlap. */
static inline void itab_prefetch(const struct itab *t, uint64_t hash)
{
    __builtin_prefetch(&t->slots[itab_tag(hash) & t->mask]);
}

/* Next candidate index with the same hash, or -1 when none is left. */
int32_t itab_probe_next(const struct itab *t, struct itab_probe *pr);

/* Inserts index after a probe that ended with -1. */
int itab_insert(struct itab *t, struct itab_probe *pr, int32_t index);

#endif
