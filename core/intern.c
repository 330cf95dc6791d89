/* intern.c: open-addressing (hash, index) table (see intern.h). */
#include "core/intern.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int itab_alloc(struct itab *t, uint32_t cap)
{
    t->hashes = malloc((size_t)cap * sizeof(*t->hashes));
    t->idx = malloc((size_t)cap * sizeof(*t->idx));
    if (t->hashes == NULL || t->idx == NULL) {
        free(t->hashes);
        free(t->idx);
        t->hashes = NULL;
        t->idx = NULL;
        return PC_ENOMEM;
    }
    memset(t->idx, 0xff, (size_t)cap * sizeof(*t->idx));
    t->mask = cap - 1;
    t->count = 0;
    return PC_OK;
}

int itab_init(struct itab *t, uint32_t expected)
{
    uint32_t cap = 16;

    /* Load factor at most 1/2 keeps probe runs short. */
    while (cap < expected * 2u && cap < (1u << 31)) {
        cap <<= 1;
    }
    return itab_alloc(t, cap);
}

void itab_free(struct itab *t)
{
    free(t->hashes);
    free(t->idx);
    memset(t, 0, sizeof(*t));
}

void itab_probe_start(const struct itab *t, uint64_t hash,
                      struct itab_probe *pr)
{
    pr->hash = hash;
    pr->pos = (uint32_t)hash & t->mask;
}

int32_t itab_probe_next(const struct itab *t, struct itab_probe *pr)
{
    for (;;) {
        uint32_t p = pr->pos;
        int32_t i = t->idx[p];
        if (i < 0) {
            return -1;
        }
        pr->pos = (p + 1) & t->mask;
        if (t->hashes[p] == pr->hash) {
            return i;
        }
    }
}

static int itab_rehash(struct itab *t)
{
    struct itab old = *t;
    uint32_t i;
    int rc;

    if (old.mask >= (1u << 30)) {
        return PC_ETOOBIG;
    }
    rc = itab_alloc(t, (old.mask + 1) * 2);
    if (rc != PC_OK) {
        *t = old;
        return rc;
    }
    for (i = 0; i <= old.mask; i++) {
        if (old.idx[i] >= 0) {
            uint32_t p = (uint32_t)old.hashes[i] & t->mask;
            while (t->idx[p] >= 0) {
                p = (p + 1) & t->mask;
            }
            t->idx[p] = old.idx[i];
            t->hashes[p] = old.hashes[i];
            t->count++;
        }
    }
    free(old.hashes);
    free(old.idx);
    return PC_OK;
}

int itab_insert(struct itab *t, struct itab_probe *pr, int32_t index)
{
    uint32_t p;
    int rc;

    if ((t->count + 1) * 2 > t->mask + 1) {
        rc = itab_rehash(t);
        if (rc != PC_OK) {
            return rc;
        }
    }
    p = (uint32_t)pr->hash & t->mask;
    while (t->idx[p] >= 0) {
        p = (p + 1) & t->mask;
    }
    t->idx[p] = index;
    t->hashes[p] = pr->hash;
    t->count++;
    return PC_OK;
}
