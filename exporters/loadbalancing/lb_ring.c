/*
 * lb_ring.c: consistent hashing with virtual nodes (see lb_ring.h).
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "exporters/loadbalancing/lb_ring.h"
#include "core/err.h"

static int lb_ring_cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Ties between points (a 64-bit collision) go to the smaller member, so
 * the order never depends on the input order. */
static int lb_ring_cmp_point(const void *a, const void *b)
{
    const struct lb_ring_point *x = a, *y = b;

    if (x->hash != y->hash) {
        return x->hash < y->hash ? -1 : 1;
    }
    return x->member < y->member ? -1 : (x->member > y->member);
}

void lb_ring_free(struct lb_ring *r)
{
    uint32_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; i < r->nmembers; i++) {
        free(r->members[i]);
    }
    free(r->members);
    free(r->points);
    free(r);
}

/* Copies, sorts and deduplicates the member names into r. */
static int lb_ring_set_members(struct lb_ring *r, const char *const *members,
                               uint32_t n)
{
    uint32_t i;

    r->members = calloc(n + 1, sizeof(*r->members));
    if (r->members == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        r->members[i] = strdup(members[i]);
        if (r->members[i] == NULL) {
            r->nmembers = i;
            return PC_ENOMEM;
        }
    }
    r->nmembers = n;
    qsort(r->members, n, sizeof(*r->members), lb_ring_cmp_str);
    n = 0;
    for (i = 0; i < r->nmembers; i++) {
        if (n > 0 && strcmp(r->members[n - 1], r->members[i]) == 0) {
            free(r->members[i]);
            continue;
        }
        r->members[n++] = r->members[i];
    }
    r->nmembers = n;
    return PC_OK;
}

int lb_ring_build(const char *const *members, uint32_t n, struct lb_ring **out)
{
    struct lb_ring *r;
    uint32_t i, v, k = 0;

    *out = NULL;
    if (n > LB_RING_MAX_MEMBERS) {
        return PC_EINVAL;
    }
    r = calloc(1, sizeof(*r));
    if (r == NULL) {
        return PC_ENOMEM;
    }
    if (lb_ring_set_members(r, members, n) != PC_OK) {
        lb_ring_free(r);
        return PC_ENOMEM;
    }
    r->points = calloc((size_t)r->nmembers * LB_RING_VNODES + 1,
                       sizeof(*r->points));
    if (r->points == NULL) {
        lb_ring_free(r);
        return PC_ENOMEM;
    }
    for (i = 0; i < r->nmembers; i++) {
        size_t len = strlen(r->members[i]);
        for (v = 0; v < LB_RING_VNODES; v++) {
            r->points[k].hash = XXH3_64bits_withSeed(r->members[i], len, v);
            r->points[k].member = i;
            k++;
        }
    }
    r->npoints = k;
    qsort(r->points, k, sizeof(*r->points), lb_ring_cmp_point);
    *out = r;
    return PC_OK;
}

uint64_t lb_ring_hash(const void *p, size_t len)
{
    return XXH3_64bits(p, len);
}

int lb_ring_lookup(const struct lb_ring *r, uint64_t h)
{
    uint32_t lo = 0, hi;

    if (r == NULL || r->npoints == 0) {
        return -1;
    }
    hi = r->npoints;
    /* First point with hash >= h. */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->points[mid].hash < h) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo == r->npoints) {
        lo = 0;
    }
    return (int)r->points[lo].member;
}

int lb_ring_find(const struct lb_ring *r, const char *member)
{
    uint32_t lo = 0, hi;

    if (r == NULL) {
        return -1;
    }
    hi = r->nmembers;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->members[mid], member);
        if (c == 0) {
            return (int)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}
