/*
 * delta.c: collector-side deltas of cumulative profiles (see delta.h).
 *
 * A table maps a sample key (XXH3 of the stack's content and the labels)
 * to the key's summed cumulative values. The 64-bit key is the identity:
 * the intern index holds it already, so no key array is kept. A collision
 * (two different stacks with one 64-bit hash, about n^2 / 2^65) would only
 * merge two rows' deltas.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "receivers/scrape/delta.h"

static const char *const cumulative_types[] = {"alloc_objects", "alloc_space",
                                               "contentions", "delay", NULL};

int delta_type_cumulative(struct pstr type)
{
    int i;

    for (i = 0; cumulative_types[i] != NULL; i++) {
        if (pstr_eq(type, cumulative_types[i])) {
            return 1;
        }
    }
    return 0;
}

static const struct profile *first_profile(const struct pdata *pd)
{
    if (pd->nresources == 0 || pd->resources[0].nscopes == 0 ||
        pd->resources[0].scopes[0].nprofiles == 0) {
        return NULL;
    }
    return &pd->resources[0].scopes[0].profiles[0];
}

int delta_applies(const struct pdata *pd)
{
    const struct profile *p = first_profile(pd);
    uint32_t t;

    for (t = 0; p != NULL && t < p->nsample_types; t++) {
        if (delta_type_cumulative(dict_str(&pd->dict,
                                           p->sample_types[t].type))) {
            return 1;
        }
    }
    return 0;
}

/* ---- tables ------------------------------------------------------------- */

static void table_free(struct delta_table *t)
{
    itab_free(&t->idx);
    free(t->keys);
    free(t->vals);
    free(t->seen);
    memset(t, 0, sizeof(*t));
}

static size_t table_bytes(const struct delta_table *t)
{
    if (!t->valid) {
        return 0;
    }
    return (size_t)t->cap *
               (sizeof(uint64_t) + t->ncum * sizeof(int64_t) + 1) +
           itab_bytes(&t->idx);
}

void delta_state_init(struct delta_state *s)
{
    memset(s, 0, sizeof(*s));
}

void delta_state_free(struct delta_state *s)
{
    table_free(&s->base);
    table_free(&s->pending);
}

size_t delta_state_bytes(const struct delta_state *s)
{
    return table_bytes(&s->base);
}

size_t delta_pending_bytes(const struct delta_state *s)
{
    return table_bytes(&s->pending);
}

/* Entry of key, -1 when absent. The key (a 64-bit hash of the sample's
 * stack and labels) is the entry's identity; the index's tag is not. */
static int32_t table_probe(const struct delta_table *t, uint64_t key,
                           struct itab_probe *pr)
{
    int32_t i;

    itab_probe_start(&t->idx, key, pr);
    while ((i = itab_probe_next(&t->idx, pr)) >= 0) {
        if (t->keys[i] == key) {
            return i;
        }
    }
    return -1;
}

static int32_t table_find(const struct delta_table *t, uint64_t key)
{
    struct itab_probe pr;

    if (!t->valid || t->idx.slots == NULL) {
        return -1;
    }
    return table_probe(t, key, &pr);
}

/* Entry for key, added (zeroed) when absent; -1 on OOM. */
static int32_t table_upsert(struct delta_table *t, uint64_t key)
{
    struct itab_probe pr;
    int32_t i;

    i = table_probe(t, key, &pr);
    if (i >= 0) {
        return i;
    }
    if (t->n == t->cap) {
        uint32_t ncap = t->cap ? t->cap * 2 : 64;
        int64_t *nv = realloc(t->vals, (size_t)ncap * t->ncum * sizeof(*nv));
        uint64_t *nk;
        uint8_t *ns;
        if (nv == NULL) {
            return -1;
        }
        t->vals = nv;
        nk = realloc(t->keys, (size_t)ncap * sizeof(*nk));
        if (nk == NULL) {
            return -1;
        }
        t->keys = nk;
        ns = realloc(t->seen, ncap);
        if (ns == NULL) {
            return -1;
        }
        t->seen = ns;
        t->cap = ncap;
    }
    i = (int32_t)t->n;
    if (itab_insert(&t->idx, &pr, i) != PC_OK) {
        return -1;
    }
    memset(&t->vals[(size_t)i * t->ncum], 0, t->ncum * sizeof(int64_t));
    t->keys[i] = key;
    t->seen[i] = 0;
    t->n++;
    return i;
}

/* ---- keys ------------------------------------------------------------------ */

static uint64_t hash_str(struct pstr s, uint64_t seed)
{
    return XXH3_64bits_withSeed(s.ptr, s.len, seed ^ s.len);
}

/* A location by content: ids and table positions change between two
 * scrapes of the same process, addresses, names and lines do not. */
static uint64_t location_hash(const struct dict *d, const struct location *l)
{
    uint64_t h = XXH3_64bits(&l->address, sizeof(l->address));
    uint32_t i;

    if (l->mapping > 0 && (uint32_t)l->mapping < d->nmappings) {
        h = hash_str(dict_str(d, d->mappings[l->mapping].filename), h);
    }
    for (i = 0; i < l->nlines; i++) {
        const struct line *ln = &l->lines[i];
        h = XXH3_64bits_withSeed(&ln->line, sizeof(ln->line), h);
        if (ln->function > 0 && (uint32_t)ln->function < d->nfunctions) {
            const struct function *f = &d->functions[ln->function];
            h = hash_str(dict_str(d, f->name), h);
            h = hash_str(dict_str(d, f->filename), h);
        }
    }
    return h;
}

/* Labels are hashed one by one and summed, so their order does not
 * matter. */
static uint64_t labels_hash(const struct dict *d, const struct sample *s)
{
    uint64_t sum = 0;
    uint32_t i;

    for (i = 0; i < s->nattrs; i++) {
        const struct attr *a;
        uint64_t h;
        if (s->attrs[i] <= 0 || (uint32_t)s->attrs[i] >= d->nattrs) {
            continue;
        }
        a = &d->attrs[s->attrs[i]];
        h = hash_str(dict_str(d, a->key), 0x51ed);
        h = hash_str(dict_str(d, a->unit), h);
        sum += av_hash(&a->value, h);
    }
    return sum;
}

static uint64_t sample_key(const struct dict *d, const uint64_t *lochash,
                           const struct sample *s)
{
    uint64_t h[2] = {0x243f6a8885a308d3ULL, 0};
    uint32_t i;

    if (s->stack > 0 && (uint32_t)s->stack < d->nstacks) {
        const struct stack *st = &d->stacks[s->stack];
        for (i = 0; i < st->n; i++) {
            int32_t l = stack_loc(st, i);
            uint64_t lh = (l > 0 && (uint32_t)l < d->nlocations) ? lochash[l]
                                                                 : 0;
            h[0] = XXH3_64bits_withSeed(&lh, sizeof(lh), h[0]);
        }
    }
    h[1] = labels_hash(d, s);
    return XXH3_64bits(h, sizeof(h));
}

/* ---- compute ---------------------------------------------------------------- */

struct delta_job {
    struct pdata *pd;
    struct profile *p;
    uint32_t cum[DELTA_MAX_TYPES]; /* indices of the cumulative types */
    uint32_t ncum;
    uint64_t *keys; /* per sample */
};

static uint64_t types_signature(const struct pdata *pd,
                                const struct profile *p)
{
    uint64_t h = p->nsample_types;
    uint32_t t;

    for (t = 0; t < p->nsample_types; t++) {
        h = hash_str(dict_str(&pd->dict, p->sample_types[t].type), h);
        h = hash_str(dict_str(&pd->dict, p->sample_types[t].unit), h);
    }
    return h;
}

static int job_keys(struct delta_job *j)
{
    const struct dict *d = &j->pd->dict;
    uint64_t *lochash = calloc(d->nlocations ? d->nlocations : 1,
                               sizeof(*lochash));
    uint32_t i;

    j->keys = malloc((j->p->nsamples ? j->p->nsamples : 1) * sizeof(*j->keys));
    if (lochash == NULL || j->keys == NULL) {
        free(lochash);
        return PC_ENOMEM;
    }
    for (i = 1; i < d->nlocations; i++) {
        lochash[i] = location_hash(d, &d->locations[i]);
    }
    for (i = 0; i < j->p->nsamples; i++) {
        j->keys[i] = sample_key(d, lochash, &j->p->samples[i]);
    }
    free(lochash);
    return PC_OK;
}

static int64_t sample_value(const struct sample *s, uint32_t t)
{
    return t < s->nvalues ? s->values[t] : 0;
}

/* Fills the pending table with the summed cumulative values per key. */
static int build_pending(struct delta_state *s, struct delta_job *j,
                         size_t max_bytes, struct errctx *e)
{
    struct delta_table *t = &s->pending;
    uint32_t i, c;

    table_free(t);
    t->ncum = j->ncum;
    t->valid = 1;
    if (itab_init(&t->idx, j->p->nsamples) != PC_OK) {
        return PC_ENOMEM;
    }
    for (i = 0; i < j->p->nsamples; i++) {
        int32_t k = table_upsert(t, j->keys[i]);
        if (k < 0) {
            return PC_ENOMEM;
        }
        for (c = 0; c < j->ncum; c++) {
            t->vals[(size_t)k * j->ncum + c] += sample_value(&j->p->samples[i],
                                                             j->cum[c]);
        }
        if (table_bytes(t) > max_bytes) {
            return err_set(e, PC_ETOOBIG,
                           "delta state of this target would "
                           "exceed %zu bytes (%u samples)",
                           max_bytes, j->p->nsamples);
        }
    }
    return PC_OK;
}

/* A key whose sum went down: the process restarted. */
static int detect_reset(const struct delta_table *base,
                        const struct delta_table *cur)
{
    struct itab_probe pr;
    uint32_t i, c;

    if (base->idx.slots == NULL) {
        return 0;
    }
    for (i = 0; i < cur->n; i++) {
        int32_t b = table_probe(base, cur->keys[i], &pr);
        if (b < 0) {
            continue;
        }
        for (c = 0; c < cur->ncum; c++) {
            if (cur->vals[(size_t)i * cur->ncum + c] <
                base->vals[(size_t)b * base->ncum + c]) {
                return 1;
            }
        }
    }
    return 0;
}

static int all_zero(const struct sample *s)
{
    uint32_t v;

    for (v = 0; v < s->nvalues; v++) {
        if (s->values[v] != 0) {
            return 0;
        }
    }
    return 1;
}

/* Rewrites the cumulative values into the window's delta and drops the
 * samples left all zero. */
static void rewrite(struct delta_state *s, struct delta_job *j, int reset)
{
    struct delta_table *cur = &s->pending, *base = &s->base;
    struct profile *p = j->p;
    uint32_t i, c, out = 0;

    for (i = 0; i < p->nsamples; i++) {
        struct sample *sm = &p->samples[i];
        int32_t k = table_find(cur, j->keys[i]);
        int32_t b = table_find(base, j->keys[i]);
        if (!reset && k >= 0) {
            for (c = 0; c < j->ncum; c++) {
                int64_t v = 0;
                if (!cur->seen[k]) {
                    v = cur->vals[(size_t)k * cur->ncum + c] -
                        (b >= 0 ? base->vals[(size_t)b * base->ncum + c] : 0);
                }
                if (j->cum[c] < sm->nvalues) {
                    sm->values[j->cum[c]] = v;
                }
            }
            cur->seen[k] = 1;
        }
        if (!all_zero(sm)) {
            p->samples[out++] = *sm;
        }
    }
    p->nsamples = out;
}

static int job_init(struct delta_job *j, struct pdata *pd)
{
    uint32_t t;

    memset(j, 0, sizeof(*j));
    j->pd = pd;
    j->p = (struct profile *)first_profile(pd);
    if (j->p == NULL) {
        return PC_EINVAL;
    }
    for (t = 0; t < j->p->nsample_types && j->ncum < DELTA_MAX_TYPES; t++) {
        if (delta_type_cumulative(dict_str(&pd->dict,
                                           j->p->sample_types[t].type))) {
            j->cum[j->ncum++] = t;
        }
    }
    return j->ncum > 0 ? PC_OK : PC_EINVAL;
}

int delta_compute(struct delta_state *s, struct pdata *pd, int64_t scrape_ns,
                  size_t max_bytes, enum delta_outcome *outcome,
                  struct errctx *e)
{
    struct delta_job j;
    int rc;

    *outcome = DELTA_BASELINE;
    rc = job_init(&j, pd);
    if (rc != PC_OK) {
        return err_set(e, rc,
                       "no cumulative sample type to compute a "
                       "delta of");
    }
    rc = job_keys(&j);
    if (rc == PC_OK) {
        rc = build_pending(s, &j, max_bytes, e);
    }
    if (rc != PC_OK) {
        free(j.keys);
        table_free(&s->pending);
        table_free(&s->base);
        return rc;
    }
    s->pending.signature = types_signature(pd, j.p);
    s->pending.time_ns = j.p->time_nanos > 0 ? j.p->time_nanos : scrape_ns;
    if (s->base.valid && s->base.signature == s->pending.signature &&
        s->base.ncum == s->pending.ncum) {
        int64_t window = s->pending.time_ns - s->base.time_ns;
        rewrite(s, &j, detect_reset(&s->base, &s->pending));
        j.p->duration_nanos = window > 0 ? window : 0;
        *outcome = DELTA_EMIT;
    }
    free(j.keys);
    return PC_OK;
}

void delta_commit(struct delta_state *s)
{
    if (!s->pending.valid) {
        return;
    }
    table_free(&s->base);
    s->base = s->pending;
    free(s->base.seen);
    s->base.seen = NULL;
    memset(&s->pending, 0, sizeof(s->pending));
}

void delta_abort(struct delta_state *s)
{
    table_free(&s->pending);
}
