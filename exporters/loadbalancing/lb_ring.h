/*
 * lb_ring.h: the consistent-hash ring of the `loadbalancing` exporter.
 *
 * Each member (a backend endpoint, "host:port") owns LB_RING_VNODES points
 * on a 64-bit circle: point i of member m is XXH3_64bits_withSeed(m, i).
 * A key belongs to the member of the first point at or after
 * XXH3_64bits(key), wrapping around. Members are sorted and deduplicated,
 * so the ring depends only on the set of members: every front-end that sees
 * the same set routes the same way, and adding or removing one member moves
 * only the keys that land on (or came from) that member's points, about
 * 1/N of them.
 *
 * A ring is immutable once built: readers share it without locks.
 */
#ifndef PROFCOL_LB_RING_H
#define PROFCOL_LB_RING_H

#include <stddef.h>
#include <stdint.h>

#define LB_RING_VNODES 200
#define LB_RING_MAX_MEMBERS 1024

struct lb_ring_point {
    uint64_t hash;
    uint32_t member; /* index into members */
};

struct lb_ring {
    char **members; /* sorted, unique, owned */
    uint32_t nmembers;
    struct lb_ring_point *points; /* sorted by (hash, member) */
    uint32_t npoints;
};

/* Builds the ring of the given members (copied; duplicates removed).
 * n may be 0 (an empty ring owns no key). PC_OK, PC_ENOMEM, PC_EINVAL
 * (more than LB_RING_MAX_MEMBERS). */
int lb_ring_build(const char *const *members, uint32_t n,
                  struct lb_ring **out);
void lb_ring_free(struct lb_ring *r);

/* The key hash the ring uses. */
uint64_t lb_ring_hash(const void *p, size_t len);

/* The owner (member index) of a key hash; -1 for an empty ring. */
int lb_ring_lookup(const struct lb_ring *r, uint64_t h);

/* The index of a member by name, -1 when absent. */
int lb_ring_find(const struct lb_ring *r, const char *member);

#endif
