/* intern.c: open-addressing (hash, index) table (see intern.h). */
#include "core/intern.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"

static int itab_alloc(struct itab *t, uint32_t cap)
{
    t->slots = malloc((size_t)cap * sizeof(*t->slots));
    if (t->slots == NULL) {
        return PC_ENOMEM;
    }
    /* All ones: every idx is -1. */
    memset(t->slots, 0xff, (size_t)cap * sizeof(*t->slots));
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
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

void itab_probe_start(const struct itab *t, uint64_t hash,
                      struct itab_probe *pr)
{
    pr->tag = itab_tag(hash);
    pr->pos = pr->tag & t->mask;
}

int32_t itab_probe_next(const struct itab *t, struct itab_probe *pr)
{
    for (;;) {
        const struct itab_slot *sl = &t->slots[pr->pos];
        if (sl->idx < 0) {
            return -1;
        }
        pr->pos = (pr->pos + 1) & t->mask;
        if (sl->tag == pr->tag) {
            return sl->idx;
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
        if (old.slots[i].idx >= 0) {
            uint32_t p = old.slots[i].tag & t->mask;
            while (t->slots[p].idx >= 0) {
                p = (p + 1) & t->mask;
            }
            t->slots[p] = old.slots[i];
            t->count++;
        }
    }
    free(old.slots);
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
    p = pr->tag & t->mask;
    while (t->slots[p].idx >= 0) {
        p = (p + 1) & t->mask;
    }
    t->slots[p].tag = pr->tag;
    t->slots[p].idx = index;
    t->count++;
    return PC_OK;
}
