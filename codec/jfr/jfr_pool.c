/*
 * jfr_pool.c: the constant pools of a chunk. Checkpoint events are linked
 * backwards from the header's constant-pool offset by `delta`; each holds
 * pools of (key, value) for one type id. Values are not decoded here, only
 * located: an entry is (type, key, offset of its value in the chunk).
 * Events may come before the checkpoint that defines their constants, so
 * every pool of a chunk is indexed before any event is resolved.
 */
#include <string.h>

#include "codec/jfr/jfr_int.h"

static uint64_t ent_hash(uint64_t type, uint64_t key)
{
    return jfr_mix64(key * 0x9e3779b97f4a7c15ULL + type);
}

static int add_entry(struct jfr_chunk *c, uint64_t type, uint64_t key,
                     size_t off)
{
    struct itab_probe pr;
    struct jfr_pool_ent *en;
    int32_t j;

    itab_probe_start(&c->pool_idx, ent_hash(type, key), &pr);
    while ((j = itab_probe_next(&c->pool_idx, &pr)) >= 0) {
        if (c->pool[j].type == type && c->pool[j].key == key) {
            return PC_OK; /* read newest first: the first one stays */
        }
    }
    if (c->npool >= c->lim->max_pool_entries) {
        return jfr_fail(c, off, PC_ETOOBIG,
                        "more than %u constant-pool "
                        "entries",
                        c->lim->max_pool_entries);
    }
    if (arena_grow_array(&c->arena, (void **)&c->pool, &c->cap_pool,
                         c->npool + 1, sizeof(*en)) != PC_OK ||
        itab_insert(&c->pool_idx, &pr, (int32_t)c->npool) != PC_OK) {
        return jfr_fail(c, off, PC_ENOMEM, "out of memory (constant pools)");
    }
    en = &c->pool[c->npool++];
    en->type = type;
    en->key = key;
    en->off = off;
    return PC_OK;
}

static int read_pool(struct jfr_chunk *c, struct jfr_cur *r)
{
    const struct jfr_class *k;
    uint64_t type, n, key, room;
    size_t at = r->pos;
    int rc;

    if ((rc = jfr_int(r, 8, &type)) != PC_OK ||
        (rc = jfr_int(r, 4, &n)) != PC_OK) {
        return rc;
    }
    k = jfr_class_by_id(c, type);
    if (k == NULL) {
        return jfr_fail(c, at, PC_ECORRUPT,
                        "constant pool of unknown type "
                        "id %llu",
                        (unsigned long long)type);
    }
    if (n > r->end - r->pos) {
        return jfr_fail(c, at, PC_ECORRUPT,
                        "constant pool %s claims %llu "
                        "entries in %zu bytes",
                        k->name, (unsigned long long)n, r->end - r->pos);
    }
    /* Room for the pool's entries at once, not by doubling from 8 (each
     * step a copy in the arena); at most up to the limit, which add_entry
     * checks per entry. */
    room = c->lim->max_pool_entries - (c->npool < c->lim->max_pool_entries
                                           ? c->npool
                                           : c->lim->max_pool_entries);
    if (arena_grow_array(&c->arena, (void **)&c->pool, &c->cap_pool,
                         c->npool + (uint32_t)(n < room ? n : room),
                         sizeof(*c->pool)) != PC_OK) {
        return jfr_fail(c, at, PC_ENOMEM, "out of memory (constant pools)");
    }
    while (n-- > 0) {
        if ((rc = jfr_int(r, 8, &key)) != PC_OK ||
            (rc = add_entry(c, type, key, r->pos)) != PC_OK ||
            (rc = jfr_skip_value(r, (int32_t)(k - c->classes), 0, 0, 0)) !=
                PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

/* One checkpoint at pos; *delta gets its link to the previous one. */
static int read_checkpoint(struct jfr_chunk *c, size_t pos, int64_t *delta)
{
    struct jfr_cur r = {c, pos, c->len};
    uint64_t size, type, skip, n, d;
    uint8_t flags;
    int rc;

    if ((rc = jfr_int(&r, 4, &size)) != PC_OK) {
        return rc;
    }
    if (size == 0 || size > c->len - pos) {
        return jfr_fail(c, pos, size == 0 ? PC_ECORRUPT : PC_ETRUNC,
                        "checkpoint of %llu bytes (%zu left in the chunk)",
                        (unsigned long long)size, c->len - pos);
    }
    r.end = pos + (size_t)size;
    if ((rc = jfr_int(&r, 8, &type)) != PC_OK) {
        return rc;
    }
    if (type != JFR_EV_CHECKPOINT) {
        return jfr_fail(c, pos, PC_ECORRUPT,
                        "checkpoint link points at an "
                        "event of type %llu",
                        (unsigned long long)type);
    }
    if ((rc = jfr_int(&r, 8, &skip)) != PC_OK || /* start ticks */
        (rc = jfr_int(&r, 8, &skip)) != PC_OK || /* duration */
        (rc = jfr_int(&r, 8, &d)) != PC_OK ||
        (rc = jfr_u8(&r, &flags)) != PC_OK ||
        (rc = jfr_int(&r, 4, &n)) != PC_OK) {
        return rc;
    }
    *delta = (int64_t)d;
    if (n > r.end - r.pos) {
        return jfr_fail(c, pos, PC_ECORRUPT, "checkpoint claims %llu pools",
                        (unsigned long long)n);
    }
    while (n-- > 0) {
        if ((rc = read_pool(c, &r)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

int jfr_pools_load(struct jfr_chunk *c)
{
    size_t pos = (size_t)c->cp_off;
    uint32_t count = 0;
    int64_t delta = 0;
    int rc;

    if (itab_init(&c->pool_idx, 1024) != PC_OK) {
        return jfr_fail(c, 0, PC_ENOMEM, "out of memory");
    }
    if (c->cp_off == 0) {
        return PC_OK; /* a chunk without constants */
    }
    for (;;) {
        if (++count > c->lim->max_checkpoints) {
            return jfr_fail(c, pos, PC_ETOOBIG, "more than %u checkpoints",
                            c->lim->max_checkpoints);
        }
        if ((rc = read_checkpoint(c, pos, &delta)) != PC_OK) {
            return rc;
        }
        if (delta == 0) {
            return PC_OK;
        }
        /* Links only go back: anything else would loop or leave the chunk. */
        if (delta > 0 || (uint64_t)-delta > pos - JFR_HEADER_LEN) {
            return jfr_fail(c, pos, PC_ECORRUPT,
                            "checkpoint loop: delta "
                            "%lld does not lead back inside the chunk",
                            (long long)delta);
        }
        pos -= (size_t)-delta;
    }
}

int jfr_pool_find(const struct jfr_chunk *c, uint64_t type, uint64_t key,
                  size_t *off)
{
    struct itab_probe pr;
    int32_t j;

    if (c->pool_idx.slots == NULL) {
        return PC_ENOTFOUND;
    }
    itab_probe_start(&c->pool_idx, ent_hash(type, key), &pr);
    while ((j = itab_probe_next(&c->pool_idx, &pr)) >= 0) {
        if (c->pool[j].type == type && c->pool[j].key == key) {
            *off = c->pool[j].off;
            return PC_OK;
        }
    }
    return PC_ENOTFOUND;
}

int jfr_pool_locate(struct jfr_chunk **c, uint64_t type, uint64_t key,
                    const struct jfr_class **cls, size_t *off)
{
    const struct jfr_class *k = jfr_class_by_id(*c, type);

    if (k == NULL) {
        return jfr_fail(*c, 0, PC_ECORRUPT,
                        "reference to unknown type id "
                        "%llu",
                        (unsigned long long)type);
    }
    if (jfr_pool_find(*c, type, key, off) != PC_OK) {
        return PC_ENOTFOUND;
    }
    *cls = k;
    return PC_OK;
}

int jfr_pool_read(struct jfr_chunk **c, uint64_t type, uint64_t key,
                  const struct jfr_class **cls, struct jfr_val *v, int depth)
{
    struct jfr_cur r;
    int rc = jfr_pool_locate(c, type, key, cls, &r.pos);

    if (rc != PC_OK) {
        return rc;
    }
    r.c = *c;
    r.end = (*c)->len;
    return jfr_read_fields(&r, *cls, v, depth);
}
