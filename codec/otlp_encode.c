/*
 * otlp_encode.c: model -> OTLP profiles v1.11.0 ExportProfilesServiceRequest.
 *
 * Every input's dictionary is interned into one output dictionary (flat
 * arrays plus intern.h tables keyed by XXH3, no per-entry malloc), while the
 * resource/scope/profile messages are streamed straight into the output
 * buffer; the dictionary is written last (protobuf allows any field order).
 * Per input, remap arrays translate input indices to output indices; strings,
 * attributes, links and stacks are interned when first referenced, mappings,
 * locations and functions all of them in table order (so that unreferenced
 * pprof mappings survive the trip). The pprof-only model fields become the
 * attributes listed in docs/conversion.md.
 */
#include "codec/otlp.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/intern.h"
#include "codec/pb.h"

/* A growable array of fixed-size elements: malloc'd while small, a mapping
 * of its own from VEC_MAP_MIN bytes on (see vec_grow). */
struct vec {
    void *p;
    uint32_t n, cap;
    size_t mapped; /* length of the mapping, 0 = malloc'd */
};

#define VEC_MAP_MIN ((size_t)1 << 20)

/*
 * Moves v to a mapping of at least bytes (page-rounded): remapped when it
 * is one already, so that growing never copies; else copied out of the
 * heap. A big table as its own mapping leaves nothing behind in the heap
 * when it grows or is freed: in the heap, every block it outgrew would
 * stay resident, and a later encode's tables land there (glibc puts
 * blocks below its mmap threshold, which it raises when a big block is
 * freed, in the heap).
 */
static void *vec_map(struct vec *v, size_t bytes, size_t used)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *np;

    bytes = (bytes + page - 1) & ~(page - 1);
    if (v->mapped != 0) {
        np = mremap(v->p, v->mapped, bytes, MREMAP_MAYMOVE);
        if (np == MAP_FAILED) {
            return NULL;
        }
    } else {
        np = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (np == MAP_FAILED) {
            return NULL;
        }
        if (used != 0) {
            memcpy(np, v->p, used);
        }
        free(v->p);
    }
    v->mapped = bytes;
    return np;
}

/* Makes room for k more elements (the rare path of vec_add). */
__attribute__((noinline)) static int vec_grow(struct vec *v, uint32_t k,
                                              size_t sz)
{
    uint32_t nc = v->cap < 64 ? 64 : v->cap;
    void *np;

    if (v->n > UINT32_MAX / 2 - k) {
        return PC_ENOMEM;
    }
    while (nc < v->n + k) {
        nc *= 2;
    }
    if ((size_t)nc * sz >= VEC_MAP_MIN) {
        np = vec_map(v, (size_t)nc * sz, (size_t)v->n * sz);
    } else {
        np = realloc(v->p, (size_t)nc * sz);
    }
    if (np == NULL) {
        return PC_ENOMEM;
    }
    v->p = np;
    v->cap = nc;
    return PC_OK;
}

static void vec_free(struct vec *v)
{
    if (v->mapped != 0) {
        munmap(v->p, v->mapped);
    } else {
        free(v->p);
    }
    memset(v, 0, sizeof(*v));
}

/* Appends k elements; called once per attribute and stack entry written,
 * so the common case stays inline. */
static inline void *vec_add(struct vec *v, uint32_t k, size_t sz)
{
    if (k > v->cap - v->n && vec_grow(v, k, sz) != PC_OK) {
        return NULL;
    }
    v->n += k;
    return (char *)v->p + (size_t)(v->n - k) * sz;
}

/* Output dictionary entries; lists live in the int32 / line pools. */
struct omap {
    uint64_t start, limit, offset;
    int32_t filename;
    uint32_t aoff, na;
};
struct oloc {
    int32_t mapping;
    uint64_t address;
    uint32_t loff, nl, aoff, na;
};
struct oattr {
    int32_t key, unit;
    struct anyvalue v;
};
/* An output stack: stack `stack` of input `in` (stack 0: the zero stack).
 * Its location indices are mapped and encoded once, when the dictionary is
 * written (enc_dict_stacks), from the input, whose location remap lives
 * until then: no copy of the stack table, the biggest of a large profile
 * (10 of the 18 MB of the benchmark profile's output). */
struct ostack {
    int32_t in, stack;
};

struct enc {
    struct vec strs, maps, locs, funcs, links, attrs, stacks;
    struct vec ipool, lines;
    struct itab t_str, t_map, t_loc, t_func, t_link, t_attr, t_stack;
    struct arena scratch; /* synthesized attribute values */
    /* current input's remap arrays (-1 = not interned yet) */
    const struct pdata *in;
    int32_t *r_str, *r_map, *r_func, *r_link, *r_attr, *r_stack;
    /* every input, and its location remap, kept for the stack table */
    const struct pdata *const *ins;
    int32_t **r_locs;
    size_t nin;
    int32_t cur; /* the input being encoded */
    struct buf *out;
    struct errctx *e;
};

#define I32(v) ((int32_t *)(v).p)

/* ---- interning ---------------------------------------------------------- */

static int32_t enc_intern_pstr(struct enc *x, struct pstr s)
{
    uint64_t h = XXH3_64bits(s.ptr, s.len);
    struct itab_probe pr;
    struct pstr *tab;
    int32_t i;

    itab_probe_start(&x->t_str, h, &pr);
    while ((i = itab_probe_next(&x->t_str, &pr)) >= 0) {
        tab = x->strs.p;
        if (pstr_eqp(tab[i], s)) {
            return i;
        }
    }
    tab = vec_add(&x->strs, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    *tab = s;
    i = (int32_t)(x->strs.n - 1);
    return itab_insert(&x->t_str, &pr, i) == PC_OK ? i : PC_ENOMEM;
}

static int32_t enc_cstr(struct enc *x, const char *s)
{
    struct pstr p = {s, (uint32_t)strlen(s)};

    return enc_intern_pstr(x, p);
}

/* Output index of input string i (0 and out-of-range map to ""). */
static int32_t enc_str(struct enc *x, int32_t i)
{
    int32_t o;

    if (i <= 0 || (uint32_t)i >= x->in->dict.nstrings) {
        return 0;
    }
    if (x->r_str[i] >= 0) {
        return x->r_str[i];
    }
    o = enc_intern_pstr(x, x->in->dict.strings[i]);
    if (o >= 0) {
        x->r_str[i] = o;
    }
    return o;
}

static int32_t enc_intern_attr(struct enc *x, const struct oattr *a)
{
    uint64_t h = av_hash(&a->v, ((uint64_t)(uint32_t)a->key << 32) |
                                    (uint32_t)a->unit);
    struct itab_probe pr;
    struct oattr *tab;
    int32_t i;

    itab_probe_start(&x->t_attr, h, &pr);
    while ((i = itab_probe_next(&x->t_attr, &pr)) >= 0) {
        tab = x->attrs.p;
        if (tab[i].key == a->key && tab[i].unit == a->unit &&
            av_equal(&tab[i].v, &a->v)) {
            return i;
        }
    }
    tab = vec_add(&x->attrs, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    *tab = *a;
    i = (int32_t)(x->attrs.n - 1);
    return itab_insert(&x->t_attr, &pr, i) == PC_OK ? i : PC_ENOMEM;
}

static int32_t enc_attr(struct enc *x, int32_t i)
{
    const struct attr *a;
    struct oattr o;
    int32_t r;

    if (i <= 0 || (uint32_t)i >= x->in->dict.nattrs) {
        return 0;
    }
    if (x->r_attr[i] >= 0) {
        return x->r_attr[i];
    }
    a = &x->in->dict.attrs[i];
    o.key = enc_str(x, a->key);
    o.unit = enc_str(x, a->unit);
    if (o.key < 0 || o.unit < 0) {
        return PC_ENOMEM;
    }
    o.v = a->value;
    r = enc_intern_attr(x, &o);
    if (r >= 0) {
        x->r_attr[i] = r;
    }
    return r;
}

/* Interns a synthesized attribute {key, value}. */
static int32_t enc_kv(struct enc *x, const char *key, const struct anyvalue *v)
{
    struct oattr o;

    o.key = enc_cstr(x, key);
    if (o.key < 0) {
        return o.key;
    }
    o.unit = 0;
    o.v = *v;
    return enc_intern_attr(x, &o);
}

static const struct anyvalue av_true = {AV_BOOL, {.b = 1}};

/* Appends a synthesized string attribute's index to the int32 pool. */
static int enc_push_str_attr(struct enc *x, const char *key, int32_t sidx)
{
    struct anyvalue v;
    int32_t a, *slot;

    v.type = AV_STRING;
    v.u.s = dict_str(&x->in->dict, sidx);
    a = enc_kv(x, key, &v);
    if (a < 0) {
        return a;
    }
    slot = vec_add(&x->ipool, 1, sizeof(int32_t));
    if (slot == NULL) {
        return PC_ENOMEM;
    }
    *slot = a;
    return PC_OK;
}

static int enc_push_bool_attr(struct enc *x, const char *key)
{
    int32_t a = enc_kv(x, key, &av_true), *slot;

    if (a < 0) {
        return a;
    }
    slot = vec_add(&x->ipool, 1, sizeof(int32_t));
    if (slot == NULL) {
        return PC_ENOMEM;
    }
    *slot = a;
    return PC_OK;
}

/* Remaps n input attribute indices onto the end of the int32 pool. */
static int enc_push_attrs(struct enc *x, const int32_t *in, uint32_t n)
{
    uint32_t k;
    int32_t *slot, a;

    for (k = 0; k < n; k++) {
        a = enc_attr(x, in[k]);
        if (a < 0) {
            return a;
        }
        slot = vec_add(&x->ipool, 1, sizeof(int32_t));
        if (slot == NULL) {
            return PC_ENOMEM;
        }
        *slot = a;
    }
    return PC_OK;
}

static uint64_t enc_pool_hash(struct enc *x, uint32_t off, uint32_t n,
                              uint64_t seed)
{
    return XXH3_64bits_withSeed(I32(x->ipool) + off, (size_t)n * 4, seed);
}

static int enc_pool_eq(struct enc *x, uint32_t a, uint32_t b, uint32_t n)
{
    return memcmp(I32(x->ipool) + a, I32(x->ipool) + b, (size_t)n * 4) == 0;
}

static int32_t enc_function(struct enc *x, const struct function *f)
{
    struct function o, *tab;
    struct itab_probe pr;
    int32_t i;

    memset(&o, 0, sizeof(o));
    o.name = enc_str(x, f->name);
    o.system_name = enc_str(x, f->system_name);
    o.filename = enc_str(x, f->filename);
    o.start_line = f->start_line;
    if (o.name < 0 || o.system_name < 0 || o.filename < 0) {
        return PC_ENOMEM;
    }
    itab_probe_start(&x->t_func, XXH3_64bits(&o, sizeof(o)), &pr);
    while ((i = itab_probe_next(&x->t_func, &pr)) >= 0) {
        tab = x->funcs.p;
        if (memcmp(&tab[i], &o, sizeof(o)) == 0) {
            return i;
        }
    }
    tab = vec_add(&x->funcs, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    *tab = o;
    i = (int32_t)(x->funcs.n - 1);
    return itab_insert(&x->t_func, &pr, i) == PC_OK ? i : PC_ENOMEM;
}

static int32_t enc_mapping(struct enc *x, const struct mapping *m)
{
    struct omap o, *tab;
    struct itab_probe pr;
    uint64_t h;
    int32_t i;
    int rc;

    memset(&o, 0, sizeof(o));
    o.start = m->memory_start;
    o.limit = m->memory_limit;
    o.offset = m->file_offset;
    o.filename = enc_str(x, m->filename);
    if (o.filename < 0) {
        return o.filename;
    }
    /* The candidate's attribute list goes onto the pool tail; it is
     * dropped again when an equal mapping already exists. */
    o.aoff = x->ipool.n;
    rc = enc_push_attrs(x, m->attrs, m->nattrs);
    if (rc == PC_OK && m->build_id > 0) {
        rc = enc_push_str_attr(x, "process.executable.build_id.gnu",
                               m->build_id);
    }
    if (rc == PC_OK && (m->flags & MAPPING_HAS_FUNCTIONS)) {
        rc = enc_push_bool_attr(x, "pprof.mapping.has_functions");
    }
    if (rc == PC_OK && (m->flags & MAPPING_HAS_FILENAMES)) {
        rc = enc_push_bool_attr(x, "pprof.mapping.has_filenames");
    }
    if (rc == PC_OK && (m->flags & MAPPING_HAS_LINE_NUMBERS)) {
        rc = enc_push_bool_attr(x, "pprof.mapping.has_line_numbers");
    }
    if (rc == PC_OK && (m->flags & MAPPING_HAS_INLINE_FRAMES)) {
        rc = enc_push_bool_attr(x, "pprof.mapping.has_inline_frames");
    }
    if (rc != PC_OK) {
        return rc;
    }
    o.na = x->ipool.n - o.aoff;
    h = XXH3_64bits(&o, offsetof(struct omap, aoff));
    h = enc_pool_hash(x, o.aoff, o.na, h);
    itab_probe_start(&x->t_map, h, &pr);
    while ((i = itab_probe_next(&x->t_map, &pr)) >= 0) {
        tab = x->maps.p;
        if (tab[i].start == o.start && tab[i].limit == o.limit &&
            tab[i].offset == o.offset && tab[i].filename == o.filename &&
            tab[i].na == o.na && enc_pool_eq(x, tab[i].aoff, o.aoff, o.na)) {
            x->ipool.n = o.aoff;
            return i;
        }
    }
    tab = vec_add(&x->maps, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    *tab = o;
    i = (int32_t)(x->maps.n - 1);
    return itab_insert(&x->t_map, &pr, i) == PC_OK ? i : PC_ENOMEM;
}

static int enc_loc_eq(struct enc *x, const struct oloc *a,
                      const struct oloc *b)
{
    const struct line *l = x->lines.p;

    return a->mapping == b->mapping && a->address == b->address &&
           a->nl == b->nl && a->na == b->na &&
           memcmp(l + a->loff, l + b->loff, (size_t)a->nl * sizeof(*l)) == 0 &&
           enc_pool_eq(x, a->aoff, b->aoff, a->na);
}

static int32_t enc_location(struct enc *x, const struct location *l)
{
    struct oloc o, *tab;
    struct line *ln;
    struct itab_probe pr;
    uint64_t h;
    uint32_t k;
    int32_t i, m;
    int rc;

    memset(&o, 0, sizeof(o));
    m = l->mapping;
    o.mapping = (m > 0 && (uint32_t)m < x->in->dict.nmappings) ? x->r_map[m]
                                                               : 0;
    o.address = l->address;
    o.loff = x->lines.n;
    o.nl = l->nlines;
    ln = vec_add(&x->lines, l->nlines, sizeof(*ln));
    if (ln == NULL && l->nlines != 0) {
        return PC_ENOMEM;
    }
    for (k = 0; k < l->nlines; k++) {
        int32_t f = l->lines[k].function;
        memset(&ln[k], 0, sizeof(ln[k]));
        ln[k].function = (f > 0 && (uint32_t)f < x->in->dict.nfunctions)
                             ? x->r_func[f]
                             : 0;
        ln[k].line = l->lines[k].line;
        ln[k].column = l->lines[k].column;
    }
    o.aoff = x->ipool.n;
    rc = enc_push_attrs(x, l->attrs, l->nattrs);
    if (rc == PC_OK && l->is_folded) {
        rc = enc_push_bool_attr(x, "pprof.location.is_folded");
    }
    if (rc != PC_OK) {
        return rc;
    }
    o.na = x->ipool.n - o.aoff;
    h = XXH3_64bits(&o.address, sizeof(o.address)) ^ (uint64_t)o.mapping;
    h = XXH3_64bits_withSeed((struct line *)x->lines.p + o.loff,
                             (size_t)o.nl * sizeof(struct line), h);
    h = enc_pool_hash(x, o.aoff, o.na, h);
    itab_probe_start(&x->t_loc, h, &pr);
    while ((i = itab_probe_next(&x->t_loc, &pr)) >= 0) {
        if (enc_loc_eq(x, (struct oloc *)x->locs.p + i, &o)) {
            x->ipool.n = o.aoff;
            x->lines.n = o.loff;
            return i;
        }
    }
    tab = vec_add(&x->locs, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    *tab = o;
    i = (int32_t)(x->locs.n - 1);
    return itab_insert(&x->t_loc, &pr, i) == PC_OK ? i : PC_ENOMEM;
}

static int32_t enc_link(struct enc *x, int32_t i)
{
    const struct link *l;
    struct link *tab;
    struct itab_probe pr;
    int32_t o;

    if (i <= 0 || (uint32_t)i >= x->in->dict.nlinks) {
        return 0;
    }
    if (x->r_link[i] >= 0) {
        return x->r_link[i];
    }
    l = &x->in->dict.links[i];
    itab_probe_start(&x->t_link, XXH3_64bits(l, sizeof(*l)), &pr);
    while ((o = itab_probe_next(&x->t_link, &pr)) >= 0) {
        tab = x->links.p;
        if (memcmp(&tab[o], l, sizeof(*l)) == 0) {
            x->r_link[i] = o;
            return o;
        }
    }
    tab = vec_add(&x->links, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    *tab = *l;
    o = (int32_t)(x->links.n - 1);
    if (itab_insert(&x->t_link, &pr, o) != PC_OK) {
        return PC_ENOMEM;
    }
    x->r_link[i] = o;
    return o;
}

/* Output location index of location l of input `in`. */
static inline int32_t enc_loc_out(const struct enc *x, int32_t in, int32_t l)
{
    return (l > 0 && (uint32_t)l < x->ins[in]->dict.nlocations)
               ? x->r_locs[in][l]
               : 0;
}

/* The hash of stack s of input `in` (NULL: the zero stack) by its output
 * location indices. */
static uint64_t enc_stack_hash(const struct enc *x, int32_t in,
                               const struct stack *s)
{
    uint64_t h = s != NULL ? s->n : 0;
    uint32_t k;

    for (k = 0; s != NULL && k < s->n; k++) {
        h = stack_hash_step(h, (uint32_t)enc_loc_out(x, in, stack_loc(s, k)));
    }
    return stack_hash_end(h);
}

/* Whether output stack a and stack b of input `in` have the same output
 * locations. */
static int enc_stack_eq(const struct enc *x, const struct ostack *a,
                        int32_t in, const struct stack *b)
{
    const struct stack *s;
    uint32_t k;

    if (a->stack == 0) {
        return b->n == 0;
    }
    s = &x->ins[a->in]->dict.stacks[a->stack];
    if (s->n != b->n) {
        return 0;
    }
    for (k = 0; k < s->n; k++) {
        if (enc_loc_out(x, a->in, stack_loc(s, k)) !=
            enc_loc_out(x, in, stack_loc(b, k))) {
            return 0;
        }
    }
    return 1;
}

/* Interns stack i of the current input, whose hash is h. */
static int32_t enc_stack_put(struct enc *x, int32_t i, uint64_t h)
{
    const struct stack *s = &x->in->dict.stacks[i];
    struct itab_probe pr;
    struct ostack *tab;
    int32_t o;

    itab_probe_start(&x->t_stack, h, &pr);
    while ((o = itab_probe_next(&x->t_stack, &pr)) >= 0) {
        if (enc_stack_eq(x, (const struct ostack *)x->stacks.p + o, x->cur,
                         s)) {
            return x->r_stack[i] = o;
        }
    }
    tab = vec_add(&x->stacks, 1, sizeof(*tab));
    if (tab == NULL) {
        return PC_ENOMEM;
    }
    tab->in = x->cur;
    tab->stack = i;
    o = (int32_t)(x->stacks.n - 1);
    if (itab_insert(&x->t_stack, &pr, o) != PC_OK) {
        return PC_ENOMEM;
    }
    return x->r_stack[i] = o;
}

/* Output index of stack i of the current input: interned already, with
 * every stack of the profile (enc_stacks_ahead). */
static int32_t enc_stack(const struct enc *x, int32_t i)
{
    if (i <= 0 || (uint32_t)i >= x->in->dict.nstacks) {
        return 0;
    }
    PC_ASSERT(x->r_stack[i] >= 0);
    return x->r_stack[i];
}

/* Stacks interned ahead of p's samples, this many at a time. */
#define ENC_STACK_BATCH 16

/*
 * Interns the stacks of p's samples in the order the samples name them
 * (the order enc_stack would give them), a batch at a time: the batch's
 * hashes are computed and their slots prefetched before any is probed.
 * Each probe is a random read of a table of megabytes for a large profile
 * (a tenth of its conversion, waiting); this way the reads overlap.
 */
static int enc_stacks_ahead(struct enc *x, const struct profile *p)
{
    const struct dict *d = &x->in->dict;
    uint64_t h[ENC_STACK_BATCH];
    int32_t id[ENC_STACK_BATCH];
    uint32_t i = 0, n, k;

    while (i < p->nsamples) {
        for (n = 0; i < p->nsamples && n < ENC_STACK_BATCH; i++) {
            int32_t s = p->samples[i].stack;
            if (s <= 0 || (uint32_t)s >= d->nstacks || x->r_stack[s] >= 0) {
                continue;
            }
            id[n] = s;
            h[n] = enc_stack_hash(x, x->cur, &d->stacks[s]);
            itab_prefetch(&x->t_stack, h[n]);
            n++;
        }
        /* A stack named twice in the batch is interned once. */
        for (k = 0; k < n; k++) {
            if (x->r_stack[id[k]] < 0 && enc_stack_put(x, id[k], h[k]) < 0) {
                return PC_ENOMEM;
            }
        }
    }
    return PC_OK;
}

/* ---- writing messages ---------------------------------------------------- */

static int enc_packed_i32(struct buf *b, uint32_t field, const int32_t *v,
                          uint32_t n)
{
    size_t mark = 0;
    uint32_t k;
    int rc;

    if (n == 0) {
        return PC_OK;
    }
    rc = pb_msg_begin(b, field, &mark);
    for (k = 0; rc == PC_OK && k < n; k++) {
        rc = pb_put_varint(b, (uint64_t)(int64_t)v[k]);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

static int enc_anyvalue(struct buf *b, const struct anyvalue *v);

static int enc_keyvalue(struct buf *b, uint32_t field,
                        const struct keyvalue *kv)
{
    size_t mark = 0, m2 = 0;
    int rc = pb_msg_begin(b, field, &mark);

    if (rc == PC_OK && kv->key.len != 0) {
        rc = pb_put_bytes(b, 1, kv->key.ptr, kv->key.len);
    }
    if (rc == PC_OK && kv->value.type != AV_EMPTY) {
        rc = pb_msg_begin(b, 2, &m2);
        if (rc == PC_OK) {
            rc = enc_anyvalue(b, &kv->value);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, m2);
        }
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

/* The body of an AnyValue; oneof members are written even when zero. */
static int enc_anyvalue(struct buf *b, const struct anyvalue *v)
{
    size_t mark = 0, m2 = 0;
    uint32_t k;
    int rc = PC_OK;

    switch (v->type) {
    case AV_STRING:
        return pb_put_bytes(b, 1, v->u.s.ptr, v->u.s.len);
    case AV_BOOL:
        return pb_put_uint(b, 2, v->u.b != 0);
    case AV_INT:
        return pb_put_int(b, 3, v->u.i);
    case AV_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &v->u.d, 8);
        rc = pb_put_tag(b, 4, PB_I64);
        if (rc == PC_OK) {
            rc = buf_append(b, &bits, 8);
        }
        return rc;
    }
    case AV_BYTES:
        return pb_put_bytes(b, 7, v->u.s.ptr, v->u.s.len);
    case AV_ARRAY:
        rc = pb_msg_begin(b, 5, &mark);
        for (k = 0; rc == PC_OK && k < v->u.arr.n; k++) {
            rc = pb_msg_begin(b, 1, &m2);
            if (rc == PC_OK) {
                rc = enc_anyvalue(b, &v->u.arr.items[k]);
            }
            if (rc == PC_OK) {
                rc = pb_msg_end(b, m2);
            }
        }
        return rc == PC_OK ? pb_msg_end(b, mark) : rc;
    case AV_KVLIST:
        rc = pb_msg_begin(b, 6, &mark);
        for (k = 0; rc == PC_OK && k < v->u.kv.n; k++) {
            rc = enc_keyvalue(b, 1, &v->u.kv.items[k]);
        }
        return rc == PC_OK ? pb_msg_end(b, mark) : rc;
    default:
        return PC_OK;
    }
}

static int enc_value_type(struct enc *x, uint32_t field,
                          const struct value_type *vt)
{
    struct buf *b = x->out;
    int32_t t = enc_str(x, vt->type), u = enc_str(x, vt->unit);
    size_t mark = 0;
    int rc;

    if (t < 0 || u < 0) {
        return PC_ENOMEM;
    }
    /* Always written: consumers read it without a presence check. */
    rc = pb_msg_begin(b, field, &mark);
    if (rc == PC_OK && t != 0) {
        rc = pb_put_uint(b, 1, (uint32_t)t);
    }
    if (rc == PC_OK && u != 0) {
        rc = pb_put_uint(b, 2, (uint32_t)u);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

/* Output key string of input attribute i (0 for the zero / bad entry). */
static int32_t enc_attr_key(struct enc *x, int32_t i)
{
    if (i <= 0 || (uint32_t)i >= x->in->dict.nattrs) {
        return 0;
    }
    return enc_str(x, x->in->dict.attrs[i].key);
}

/* 1 when two attributes of the sample share an output key, 0 when not,
 * negative on error. Keys are compared as output strings, so equal keys
 * under different input indices count too. */
static int enc_attrs_dup(struct enc *x, const int32_t *in, uint32_t n)
{
    uint32_t k, j;
    int32_t a, b, keys[16];

    if (n <= 16) {
        /* Samples have a few labels: each key looked up once. */
        for (k = 0; k < n; k++) {
            if ((keys[k] = enc_attr_key(x, in[k])) < 0) {
                return keys[k];
            }
            for (j = 0; j < k; j++) {
                if (keys[j] == keys[k]) {
                    return 1;
                }
            }
        }
        return 0;
    }
    for (k = 0; k + 1 < n; k++) {
        a = enc_attr_key(x, in[k]);
        for (j = k + 1; a >= 0 && j < n; j++) {
            b = enc_attr_key(x, in[j]);
            if (b < 0 || a == b) {
                return b < 0 ? b : 1;
            }
        }
        if (a < 0) {
            return a;
        }
    }
    return 0;
}

/* One AV_ARRAY attribute for the labels of in[k..n) with key `key` (values
 * in order, unit the first non-empty one). */
static int32_t enc_attr_group(struct enc *x, const int32_t *in, uint32_t k,
                              uint32_t n, int32_t key, uint32_t nv)
{
    const struct dict *d = &x->in->dict;
    struct anyvalue *items;
    struct oattr m;
    uint32_t j;

    items = arena_calloc(&x->scratch, nv, sizeof(*items));
    if (items == NULL) {
        return PC_ENOMEM;
    }
    m.key = key;
    m.unit = 0;
    for (nv = 0, j = k; j < n; j++) {
        if (enc_attr_key(x, in[j]) != key) {
            continue;
        }
        if (in[j] > 0 && (uint32_t)in[j] < d->nattrs) {
            items[nv] = d->attrs[in[j]].value;
            if (m.unit == 0) {
                m.unit = enc_str(x, d->attrs[in[j]].unit);
            }
        }
        if (m.unit < 0) {
            return m.unit;
        }
        nv++;
    }
    m.v.type = AV_ARRAY;
    m.v.u.arr.items = items;
    m.v.u.arr.n = nv;
    return enc_intern_attr(x, &m);
}

/*
 * Output attribute indices of one sample. pprof allows several labels with
 * one key, OTLP wants unique keys: such groups become one AV_ARRAY attribute
 * (values in order, unit the first non-zero one), placed where the key first
 * appears. The grouped labels themselves are not interned: an entry no
 * sample refers to would not survive the next decode/encode round.
 */
static int enc_sample_attrs(struct enc *x, const struct sample *s,
                            uint32_t *off, uint32_t *n)
{
    const int32_t *in = s->attrs;
    uint32_t k, j, nv;
    int32_t key, a, *slot;
    int dup = enc_attrs_dup(x, in, s->nattrs);

    *off = x->ipool.n;
    *n = 0;
    if (dup <= 0) {
        *n = s->nattrs;
        return dup < 0 ? dup : enc_push_attrs(x, in, s->nattrs);
    }
    for (k = 0; k < s->nattrs; k++) {
        int seen = 0;
        key = enc_attr_key(x, in[k]);
        for (j = 0; j < k && !seen; j++) {
            seen = enc_attr_key(x, in[j]) == key;
        }
        if (seen) {
            continue;
        }
        for (nv = 0, j = k; j < s->nattrs; j++) {
            nv += enc_attr_key(x, in[j]) == key;
        }
        a = nv > 1 ? enc_attr_group(x, in, k, s->nattrs, key, nv)
                   : enc_attr(x, in[k]);
        slot = a < 0 ? NULL : vec_add(&x->ipool, 1, sizeof(int32_t));
        if (slot == NULL) {
            return a < 0 ? a : PC_ENOMEM;
        }
        *slot = a;
        (*n)++;
    }
    return PC_OK;
}

static int enc_sample(struct enc *x, const struct profile *p,
                      const struct sample *s, uint32_t k, uint32_t ntypes)
{
    struct buf *b = x->out;
    int32_t st = enc_stack(x, s->stack), lk = enc_link(x, s->link);
    uint32_t aoff, na, i;
    size_t mark = 0, m2 = 0;
    int rc;

    (void)p;
    if (st < 0 || lk < 0) {
        return PC_ENOMEM;
    }
    rc = enc_sample_attrs(x, s, &aoff, &na);
    if (rc == PC_OK) {
        rc = pb_msg_begin(b, 2, &mark);
    }
    if (rc == PC_OK && st != 0) {
        rc = pb_put_uint(b, 1, (uint32_t)st);
    }
    if (rc == PC_OK) {
        rc = enc_packed_i32(b, 2, I32(x->ipool) + aoff, na);
    }
    x->ipool.n = aoff;
    if (rc == PC_OK && lk != 0) {
        rc = pb_put_uint(b, 3, (uint32_t)lk);
    }
    if (rc == PC_OK && ntypes > 1) {
        rc = pb_msg_begin(b, 4, &m2);
        if (rc == PC_OK) {
            rc = pb_put_varint(b,
                               (uint64_t)(k < s->nvalues ? s->values[k] : 0));
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, m2);
        }
    } else if (rc == PC_OK && s->nvalues != 0) {
        rc = pb_msg_begin(b, 4, &m2);
        for (i = 0; rc == PC_OK && i < s->nvalues; i++) {
            rc = pb_put_varint(b, (uint64_t)s->values[i]);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, m2);
        }
    }
    if (rc == PC_OK && s->nts != 0) {
        rc = pb_put_bytes(b, 5, sample_ts(s), (size_t)s->nts * 8);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

/* Profile attributes: the model's own plus the pprof.profile.* ones. */
static int enc_profile_attrs(struct enc *x, const struct profile *p,
                             uint32_t *off, uint32_t *n)
{
    uint32_t k;
    int rc;

    *off = x->ipool.n;
    rc = enc_push_attrs(x, p->attrs, p->nattrs);
    if (rc == PC_OK && p->ncomments != 0) {
        struct anyvalue v, *items;
        int32_t a, *slot;
        items = arena_calloc(&x->scratch, p->ncomments, sizeof(*items));
        if (items == NULL) {
            return PC_ENOMEM;
        }
        for (k = 0; k < p->ncomments; k++) {
            items[k].type = AV_STRING;
            items[k].u.s = dict_str(&x->in->dict, p->comments[k]);
        }
        v.type = AV_ARRAY;
        v.u.arr.items = items;
        v.u.arr.n = p->ncomments;
        a = enc_kv(x, "pprof.profile.comment", &v);
        slot = a < 0 ? NULL : vec_add(&x->ipool, 1, sizeof(int32_t));
        if (slot == NULL) {
            return a < 0 ? a : PC_ENOMEM;
        }
        *slot = a;
    }
    if (rc == PC_OK && p->drop_frames > 0) {
        rc = enc_push_str_attr(x, "pprof.profile.drop_frames", p->drop_frames);
    }
    if (rc == PC_OK && p->keep_frames > 0) {
        rc = enc_push_str_attr(x, "pprof.profile.keep_frames", p->keep_frames);
    }
    if (rc == PC_OK && p->doc_url > 0) {
        rc = enc_push_str_attr(x, "pprof.profile.doc_url", p->doc_url);
    }
    *n = x->ipool.n - *off;
    return rc;
}

/* Moves the profile attribute list off the pool tail, where stacks interned
 * while writing samples must be able to grow. */
static int enc_take_attrs(struct enc *x, uint32_t off, uint32_t n,
                          int32_t **out)
{
    *out = NULL;
    if (n != 0) {
        *out = arena_memdup(&x->scratch, I32(x->ipool) + off,
                            (size_t)n * sizeof(int32_t));
        if (*out == NULL) {
            return PC_ENOMEM;
        }
    }
    x->ipool.n = off;
    return PC_OK;
}

/*
 * The OTLP window must hold every timestamp; when a sample lies outside
 * [time, time + duration] the window is widened to cover it.
 */
static void enc_window(const struct profile *p, uint64_t *t, uint64_t *d)
{
    uint64_t start = (uint64_t)p->time_nanos,
             dur = (uint64_t)p->duration_nanos;
    uint64_t end = start + dur < start ? UINT64_MAX : start + dur;
    uint64_t lo = UINT64_MAX, hi = 0;
    uint32_t i, k;

    for (i = 0; i < p->nsamples; i++) {
        const uint64_t *tv = sample_ts(&p->samples[i]);
        for (k = 0; k < p->samples[i].nts; k++) {
            uint64_t ts = tv[k];
            lo = ts < lo ? ts : lo;
            hi = ts > hi ? ts : hi;
        }
    }
    if (lo <= hi && (lo < start || hi > end)) {
        if (start == 0 && dur == 0) {
            start = lo;
            end = hi;
        }
        start = lo < start ? lo : start;
        end = hi > end ? hi : end;
        dur = end - start;
    }
    *t = start;
    *d = dur;
}

static int enc_profile(struct enc *x, const struct profile *p, uint32_t k,
                       uint32_t ntypes, const int32_t *pattrs, uint32_t na)
{
    struct buf *b = x->out;
    static const struct value_type zero_vt = {0, 0};
    uint64_t t, d;
    size_t mark = 0;
    uint32_t i;
    int rc = pb_msg_begin(b, 2, &mark);

    if (rc == PC_OK) {
        rc = enc_value_type(x, 1,
                            k < p->nsample_types ? &p->sample_types[k]
                                                 : &zero_vt);
    }
    for (i = 0; rc == PC_OK && i < p->nsamples; i++) {
        rc = enc_sample(x, p, &p->samples[i], k, ntypes);
    }
    enc_window(p, &t, &d);
    if (rc == PC_OK && t != 0) {
        rc = pb_put_fixed64(b, 3, t);
    }
    if (rc == PC_OK && d != 0) {
        rc = pb_put_uint(b, 4, d);
    }
    if (rc == PC_OK) {
        rc = enc_value_type(x, 5, &p->period_type);
    }
    if (rc == PC_OK && p->period != 0) {
        rc = pb_put_int(b, 6, p->period);
    }
    if (rc == PC_OK) {
        static const uint8_t zid[16];
        if (memcmp(p->profile_id, zid, 16) != 0) {
            rc = pb_put_bytes(b, 7, p->profile_id, 16);
        }
    }
    if (rc == PC_OK && p->dropped_attributes_count != 0) {
        rc = pb_put_uint(b, 8, p->dropped_attributes_count);
    }
    /* The original payload goes on the first OTLP profile of the group
     * only: once is enough to rebuild it, and the decoder joins a run
     * whose later profiles carry none (docs/conversion.md, section 5). */
    if (rc == PC_OK && k == 0 && p->original_payload_format.len != 0) {
        rc = pb_put_bytes(b, 9, p->original_payload_format.ptr,
                          p->original_payload_format.len);
    }
    if (rc == PC_OK && k == 0 && p->original_payload.len != 0) {
        rc = pb_put_bytes(b, 10, p->original_payload.ptr,
                          p->original_payload.len);
    }
    if (rc == PC_OK) {
        rc = enc_packed_i32(b, 11, pattrs, na);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

/*
 * A scope attribute saying what p's own default_sample_type says, written
 * once, last, from the profile's field: decoding lifts the last one back
 * (docs/conversion.md), so the encoding is a fixed point.
 */
static int enc_scope_attr_lifted(struct enc *x, const struct keyvalue *kv,
                                 const struct profile *p)
{
    return p->default_sample_type > 0 && kv->value.type == AV_STRING &&
           pstr_eq(kv->key, "pprof.scope.default_sample_type") &&
           pstr_eqp(kv->value.u.s,
                    dict_str(&x->in->dict, p->default_sample_type));
}

/* One model profile -> one ScopeProfiles holding N OTLP profiles. */
static int enc_scope_profile(struct enc *x, const struct scope_profiles *sp,
                             const struct profile *p)
{
    struct buf *b = x->out;
    size_t mark = 0, m2 = 0;
    uint32_t k, ntypes = p->nsample_types ? p->nsample_types : 1;
    uint32_t aoff, na;
    int32_t *pattrs = NULL;
    int rc = pb_msg_begin(b, 2, &mark);

    if (rc == PC_OK && (sp->has_scope || p->default_sample_type > 0)) {
        rc = pb_msg_begin(b, 1, &m2);
        if (rc == PC_OK && sp->scope.name.len) {
            rc = pb_put_bytes(b, 1, sp->scope.name.ptr, sp->scope.name.len);
        }
        if (rc == PC_OK && sp->scope.version.len) {
            rc = pb_put_bytes(b, 2, sp->scope.version.ptr,
                              sp->scope.version.len);
        }
        for (k = 0; rc == PC_OK && k < sp->scope.nattrs; k++) {
            if (!enc_scope_attr_lifted(x, &sp->scope.attrs[k], p)) {
                rc = enc_keyvalue(b, 3, &sp->scope.attrs[k]);
            }
        }
        if (rc == PC_OK && p->default_sample_type > 0) {
            struct keyvalue kv;
            kv.key.ptr = "pprof.scope.default_sample_type";
            kv.key.len = (uint32_t)strlen(kv.key.ptr);
            kv.value.type = AV_STRING;
            kv.value.u.s = dict_str(&x->in->dict, p->default_sample_type);
            rc = enc_keyvalue(b, 3, &kv);
        }
        if (rc == PC_OK && sp->scope.dropped_attributes_count) {
            rc = pb_put_uint(b, 4, sp->scope.dropped_attributes_count);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, m2);
        }
    }
    if (rc == PC_OK) {
        rc = enc_profile_attrs(x, p, &aoff, &na);
    }
    if (rc == PC_OK) {
        rc = enc_take_attrs(x, aoff, na, &pattrs);
    }
    if (rc == PC_OK) {
        rc = enc_stacks_ahead(x, p);
    }
    for (k = 0; rc == PC_OK && k < ntypes; k++) {
        rc = enc_profile(x, p, k, ntypes, pattrs, na);
    }
    if (rc == PC_OK && sp->schema_url.len) {
        rc = pb_put_bytes(b, 3, sp->schema_url.ptr, sp->schema_url.len);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

/* A scope without profiles keeps its place: written with none. */
static int enc_scope_empty(struct enc *x, const struct scope_profiles *sp)
{
    struct buf *b = x->out;
    size_t mark = 0, m2 = 0;
    uint32_t k;
    int rc = pb_msg_begin(b, 2, &mark);

    if (rc == PC_OK && sp->has_scope) {
        rc = pb_msg_begin(b, 1, &m2);
        if (rc == PC_OK && sp->scope.name.len) {
            rc = pb_put_bytes(b, 1, sp->scope.name.ptr, sp->scope.name.len);
        }
        if (rc == PC_OK && sp->scope.version.len) {
            rc = pb_put_bytes(b, 2, sp->scope.version.ptr,
                              sp->scope.version.len);
        }
        for (k = 0; rc == PC_OK && k < sp->scope.nattrs; k++) {
            rc = enc_keyvalue(b, 3, &sp->scope.attrs[k]);
        }
        if (rc == PC_OK && sp->scope.dropped_attributes_count) {
            rc = pb_put_uint(b, 4, sp->scope.dropped_attributes_count);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, m2);
        }
    }
    if (rc == PC_OK && sp->schema_url.len) {
        rc = pb_put_bytes(b, 3, sp->schema_url.ptr, sp->schema_url.len);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

static int enc_entity_ref(struct buf *b, const struct entity_ref *er)
{
    size_t mark = 0;
    uint32_t k;
    int rc = pb_msg_begin(b, 3, &mark);

    if (rc == PC_OK && er->schema_url.len) {
        rc = pb_put_bytes(b, 1, er->schema_url.ptr, er->schema_url.len);
    }
    if (rc == PC_OK && er->type.len) {
        rc = pb_put_bytes(b, 2, er->type.ptr, er->type.len);
    }
    for (k = 0; rc == PC_OK && k < er->nid_keys; k++) {
        rc = pb_put_bytes(b, 3, er->id_keys[k].ptr, er->id_keys[k].len);
    }
    for (k = 0; rc == PC_OK && k < er->ndescription_keys; k++) {
        rc = pb_put_bytes(b, 4, er->description_keys[k].ptr,
                          er->description_keys[k].len);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

static int enc_resource(struct enc *x, const struct resource_profiles *rp)
{
    struct buf *b = x->out;
    size_t mark = 0, m2 = 0;
    uint32_t k, j;
    int rc = pb_msg_begin(b, 1, &mark);

    if (rc == PC_OK && rp->has_resource) {
        const struct resource *r = &rp->resource;
        rc = pb_msg_begin(b, 1, &m2);
        for (k = 0; rc == PC_OK && k < r->nattrs; k++) {
            rc = enc_keyvalue(b, 1, &r->attrs[k]);
        }
        if (rc == PC_OK && r->dropped_attributes_count) {
            rc = pb_put_uint(b, 2, r->dropped_attributes_count);
        }
        for (k = 0; rc == PC_OK && k < r->nentity_refs; k++) {
            rc = enc_entity_ref(b, &r->entity_refs[k]);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, m2);
        }
    }
    for (k = 0; rc == PC_OK && k < rp->nscopes; k++) {
        const struct scope_profiles *sp = &rp->scopes[k];
        if (sp->nprofiles == 0) {
            rc = enc_scope_empty(x, sp);
        }
        for (j = 0; rc == PC_OK && j < sp->nprofiles; j++) {
            rc = enc_scope_profile(x, sp, &sp->profiles[j]);
        }
    }
    if (rc == PC_OK && rp->schema_url.len) {
        rc = pb_put_bytes(b, 3, rp->schema_url.ptr, rp->schema_url.len);
    }
    return rc == PC_OK ? pb_msg_end(b, mark) : rc;
}

/* ---- per input ------------------------------------------------------------ */

static int enc_remap_alloc(int32_t **r, uint32_t n)
{
    *r = malloc((size_t)(n ? n : 1) * sizeof(int32_t));
    if (*r == NULL) {
        return PC_ENOMEM;
    }
    memset(*r, 0xff, (size_t)(n ? n : 1) * sizeof(int32_t));
    return PC_OK;
}

static void enc_remap_free(struct enc *x)
{
    free(x->r_str);
    free(x->r_map);
    free(x->r_func);
    free(x->r_link);
    free(x->r_attr);
    free(x->r_stack);
    x->r_str = x->r_map = x->r_func = NULL;
    x->r_link = x->r_attr = x->r_stack = NULL;
}

/* Input k. Its remap arrays go when it is done, but the location remap,
 * which the stack table needs when it is written. */
static int enc_input(struct enc *x, int32_t k)
{
    const struct pdata *pd = x->ins[k];
    const struct dict *d = &pd->dict;
    int32_t *r_loc;
    uint32_t i;
    int32_t o;
    int rc;

    x->in = pd;
    x->cur = k;
    rc = enc_remap_alloc(&x->r_str, d->nstrings);
    rc = rc ? rc : enc_remap_alloc(&x->r_map, d->nmappings);
    rc = rc ? rc : enc_remap_alloc(&x->r_locs[k], d->nlocations);
    r_loc = x->r_locs[k];
    rc = rc ? rc : enc_remap_alloc(&x->r_func, d->nfunctions);
    rc = rc ? rc : enc_remap_alloc(&x->r_link, d->nlinks);
    rc = rc ? rc : enc_remap_alloc(&x->r_attr, d->nattrs);
    rc = rc ? rc : enc_remap_alloc(&x->r_stack, d->nstacks);
    for (i = 0; rc == PC_OK && i < d->nfunctions; i++) {
        o = enc_function(x, &d->functions[i]);
        rc = o < 0 ? o : PC_OK;
        x->r_func[i] = o;
    }
    for (i = 0; rc == PC_OK && i < d->nmappings; i++) {
        o = enc_mapping(x, &d->mappings[i]);
        rc = o < 0 ? o : PC_OK;
        x->r_map[i] = o;
    }
    for (i = 0; rc == PC_OK && i < d->nlocations; i++) {
        o = enc_location(x, &d->locations[i]);
        rc = o < 0 ? o : PC_OK;
        r_loc[i] = o;
    }
    for (i = 0; rc == PC_OK && i < pd->nresources; i++) {
        rc = enc_resource(x, &pd->resources[i]);
    }
    enc_remap_free(x);
    return rc;
}

/* ---- the dictionary --------------------------------------------------------- */

static int enc_dict_mappings(struct enc *x, struct buf *b)
{
    const struct omap *t = x->maps.p;
    size_t mark = 0;
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; rc == PC_OK && i < x->maps.n; i++) {
        rc = pb_msg_begin(b, 1, &mark);
        if (rc == PC_OK && t[i].start) {
            rc = pb_put_uint(b, 1, t[i].start);
        }
        if (rc == PC_OK && t[i].limit) {
            rc = pb_put_uint(b, 2, t[i].limit);
        }
        if (rc == PC_OK && t[i].offset) {
            rc = pb_put_uint(b, 3, t[i].offset);
        }
        if (rc == PC_OK && t[i].filename) {
            rc = pb_put_uint(b, 4, (uint32_t)t[i].filename);
        }
        if (rc == PC_OK) {
            rc = enc_packed_i32(b, 5, I32(x->ipool) + t[i].aoff, t[i].na);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, mark);
        }
    }
    return rc;
}

static int enc_dict_locations(struct enc *x, struct buf *b)
{
    const struct oloc *t = x->locs.p;
    const struct line *ln = x->lines.p;
    size_t mark = 0, m2 = 0;
    uint32_t i, k;
    int rc = PC_OK;

    for (i = 0; rc == PC_OK && i < x->locs.n; i++) {
        rc = pb_msg_begin(b, 2, &mark);
        if (rc == PC_OK && t[i].mapping) {
            rc = pb_put_uint(b, 1, (uint32_t)t[i].mapping);
        }
        if (rc == PC_OK && t[i].address) {
            rc = pb_put_uint(b, 2, t[i].address);
        }
        for (k = 0; rc == PC_OK && k < t[i].nl; k++) {
            const struct line *l = &ln[t[i].loff + k];
            rc = pb_msg_begin(b, 3, &m2);
            if (rc == PC_OK && l->function) {
                rc = pb_put_uint(b, 1, (uint32_t)l->function);
            }
            if (rc == PC_OK && l->line) {
                rc = pb_put_int(b, 2, l->line);
            }
            if (rc == PC_OK && l->column) {
                rc = pb_put_int(b, 3, l->column);
            }
            if (rc == PC_OK) {
                rc = pb_msg_end(b, m2);
            }
        }
        if (rc == PC_OK) {
            rc = enc_packed_i32(b, 4, I32(x->ipool) + t[i].aoff, t[i].na);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, mark);
        }
    }
    return rc;
}

static int enc_dict_small(struct enc *x, struct buf *b)
{
    const struct function *f = x->funcs.p;
    const struct link *l = x->links.p;
    static const uint8_t z[sizeof(struct link)];
    size_t mark = 0;
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; rc == PC_OK && i < x->funcs.n; i++) {
        rc = pb_msg_begin(b, 3, &mark);
        if (rc == PC_OK && f[i].name) {
            rc = pb_put_uint(b, 1, (uint32_t)f[i].name);
        }
        if (rc == PC_OK && f[i].system_name) {
            rc = pb_put_uint(b, 2, (uint32_t)f[i].system_name);
        }
        if (rc == PC_OK && f[i].filename) {
            rc = pb_put_uint(b, 3, (uint32_t)f[i].filename);
        }
        if (rc == PC_OK && f[i].start_line) {
            rc = pb_put_int(b, 4, f[i].start_line);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, mark);
        }
    }
    for (i = 0; rc == PC_OK && i < x->links.n; i++) {
        rc = pb_msg_begin(b, 4, &mark);
        /* Ids are written whole unless the link is the zero entry. */
        if (rc == PC_OK && memcmp(&l[i], z, sizeof(l[i])) != 0) {
            rc = pb_put_bytes(b, 1, l[i].trace_id, 16);
            if (rc == PC_OK) {
                rc = pb_put_bytes(b, 2, l[i].span_id, 8);
            }
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, mark);
        }
    }
    for (i = 0; rc == PC_OK && i < x->strs.n; i++) {
        const struct pstr *s = (const struct pstr *)x->strs.p + i;
        rc = pb_put_bytes(b, 5, s->ptr, s->len);
    }
    return rc;
}

/* The output location indices of stack s of input `in`, as packed
 * varints. */
static int enc_stack_locs(const struct enc *x, struct buf *b, int32_t in,
                          const struct stack *s)
{
    int narrow = x->locs.n < (1u << 28); /* every index fits 28 bits */
    uint8_t *w;
    uint32_t k;
    int rc = PC_OK;

    if (buf_reserve(b, (size_t)s->n * 10) != PC_OK) {
        /* The longest case does not fit under the bound: one by one,
         * as far as they do. */
        for (k = 0; rc == PC_OK && k < s->n; k++) {
            rc = pb_put_varint(b,
                               (uint64_t)enc_loc_out(x, in, stack_loc(s, k)));
        }
        return rc;
    }
    w = b->data + b->len;
    for (k = 0; k < s->n; k++) {
        int32_t v = enc_loc_out(x, in, stack_loc(s, k));
        w += narrow ? pb_encode_varint28(w, (uint32_t)v)
                    : pb_encode_varint(w, (uint64_t)v);
    }
    b->len = (size_t)(w - b->data);
    return PC_OK;
}

/* The stack table: each output stack's locations, mapped. */
static int enc_dict_stacks(struct enc *x, struct buf *b)
{
    const struct ostack *t = x->stacks.p;
    size_t mark = 0, m2 = 0;
    uint32_t o;
    int rc = PC_OK;

    for (o = 0; rc == PC_OK && o < x->stacks.n; o++) {
        const struct stack *s = t[o].stack > 0
                                    ? &x->ins[t[o].in]->dict.stacks[t[o].stack]
                                    : NULL;
        rc = pb_msg_begin(b, 7, &mark);
        if (rc == PC_OK && s != NULL && s->n > 0) {
            rc = pb_msg_begin(b, 1, &m2);
            rc = rc ? rc : enc_stack_locs(x, b, t[o].in, s);
            rc = rc ? rc : pb_msg_end(b, m2);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, mark);
        }
    }
    return rc;
}

static int enc_dict_rest(struct enc *x, struct buf *b)
{
    const struct oattr *a = x->attrs.p;
    size_t mark = 0, m2 = 0;
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; rc == PC_OK && i < x->attrs.n; i++) {
        rc = pb_msg_begin(b, 6, &mark);
        if (rc == PC_OK && a[i].key) {
            rc = pb_put_uint(b, 1, (uint32_t)a[i].key);
        }
        if (rc == PC_OK && a[i].v.type != AV_EMPTY) {
            rc = pb_msg_begin(b, 2, &m2);
            if (rc == PC_OK) {
                rc = enc_anyvalue(b, &a[i].v);
            }
            if (rc == PC_OK) {
                rc = pb_msg_end(b, m2);
            }
        }
        if (rc == PC_OK && a[i].unit) {
            rc = pb_put_uint(b, 3, (uint32_t)a[i].unit);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(b, mark);
        }
    }
    return rc == PC_OK ? enc_dict_stacks(x, b) : rc;
}

/* Every entry is interned by now: the tables that found them can go
 * before the dictionary, the biggest part of the output, is written (a
 * large profile's tables are a fifth of the encoder's peak). */
static void enc_tables_free(struct enc *x)
{
    itab_free(&x->t_str);
    itab_free(&x->t_map);
    itab_free(&x->t_loc);
    itab_free(&x->t_func);
    itab_free(&x->t_link);
    itab_free(&x->t_attr);
    itab_free(&x->t_stack);
}

static int enc_dictionary(struct enc *x)
{
    size_t mark = 0;
    int rc;

    enc_tables_free(x);
    rc = pb_msg_begin(x->out, 2, &mark);

    rc = rc ? rc : enc_dict_mappings(x, x->out);
    rc = rc ? rc : enc_dict_locations(x, x->out);
    rc = rc ? rc : enc_dict_small(x, x->out);
    rc = rc ? rc : enc_dict_rest(x, x->out);
    return rc == PC_OK ? pb_msg_end(x->out, mark) : rc;
}

/* Entry 0 of every output table is the zero value, interned first. */
static int enc_zero_entries(struct enc *x)
{
    struct pstr es = {"", 0};
    struct function f;
    struct mapping m;
    struct location l;
    struct link k;
    struct oattr a;
    struct pdata none;
    int rc = PC_OK;

    memset(&f, 0, sizeof(f));
    memset(&m, 0, sizeof(m));
    memset(&l, 0, sizeof(l));
    memset(&k, 0, sizeof(k));
    memset(&a, 0, sizeof(a));
    memset(&none, 0, sizeof(none));
    x->in = &none;
    if (enc_intern_pstr(x, es) != 0 || enc_function(x, &f) != 0 ||
        enc_mapping(x, &m) != 0 || enc_location(x, &l) != 0 ||
        enc_intern_attr(x, &a) != 0) {
        rc = PC_ENOMEM;
    }
    if (rc == PC_OK) {
        struct link *lt = vec_add(&x->links, 1, sizeof(*lt));
        struct ostack *st = vec_add(&x->stacks, 1, sizeof(*st));
        struct itab_probe pr;
        if (lt == NULL || st == NULL) {
            return PC_ENOMEM;
        }
        *lt = k;
        st->in = 0;
        st->stack = 0; /* the zero stack has no locations */
        itab_probe_start(&x->t_link, XXH3_64bits(&k, sizeof(k)), &pr);
        rc = itab_insert(&x->t_link, &pr, 0);
        itab_probe_start(&x->t_stack, enc_stack_hash(x, 0, NULL), &pr);
        rc = rc ? rc : itab_insert(&x->t_stack, &pr, 0);
    }
    return rc;
}

static void enc_free(struct enc *x)
{
    size_t i;

    vec_free(&x->strs);
    vec_free(&x->maps);
    vec_free(&x->locs);
    vec_free(&x->funcs);
    vec_free(&x->links);
    vec_free(&x->attrs);
    vec_free(&x->stacks);
    vec_free(&x->ipool);
    vec_free(&x->lines);
    enc_tables_free(x);
    arena_free_all(&x->scratch);
    enc_remap_free(x);
    for (i = 0; x->r_locs != NULL && i < x->nin; i++) {
        free(x->r_locs[i]);
    }
    free(x->r_locs);
}

static int enc_init(struct enc *x, const struct pdata *const *in, size_t n)
{
    uint32_t ns = 16, nl = 16, nf = 16, nm = 16, na = 16, nst = 16;
    size_t i;
    int rc;

    for (i = 0; i < n; i++) {
        ns += in[i]->dict.nstrings;
        nl += in[i]->dict.nlocations;
        nf += in[i]->dict.nfunctions;
        nm += in[i]->dict.nmappings;
        na += in[i]->dict.nattrs;
        nst += in[i]->dict.nstacks;
    }
    arena_init(&x->scratch, 0);
    /* Pools start allocated so that pointer arithmetic never sees NULL. */
    x->ins = in;
    x->nin = n;
    x->r_locs = calloc(n != 0 ? n : 1, sizeof(*x->r_locs));
    if (x->r_locs == NULL || vec_add(&x->ipool, 1, sizeof(int32_t)) == NULL ||
        vec_add(&x->lines, 1, sizeof(struct line)) == NULL) {
        return PC_ENOMEM;
    }
    x->ipool.n = 0;
    x->lines.n = 0;
    rc = itab_init(&x->t_str, ns);
    rc = rc ? rc : itab_init(&x->t_map, nm);
    rc = rc ? rc : itab_init(&x->t_loc, nl);
    rc = rc ? rc : itab_init(&x->t_func, nf);
    rc = rc ? rc : itab_init(&x->t_link, 16);
    rc = rc ? rc : itab_init(&x->t_attr, na);
    rc = rc ? rc : itab_init(&x->t_stack, nst);
    return rc;
}

int otlp_encode_parts(const struct pdata *const *in, size_t n, struct buf *out,
                      otlp_part_fn part, void *arg, struct errctx *e)
{
    struct enc x;
    size_t i, start = out->len;
    int rc;

    memset(&x, 0, sizeof(x));
    x.out = out;
    x.e = e;
    rc = enc_init(&x, in, n);
    if (rc == PC_OK) {
        /* One growth step up front instead of a dozen copies of a
         * multi-megabyte buffer; a guess, the buffer still grows. */
        uint64_t guess = 1024;
        for (i = 0; i < n; i++) {
            guess += pdata_sample_count(in[i]) * 24 +
                     (uint64_t)in[i]->dict.nlocations * 24 +
                     (uint64_t)in[i]->dict.nstrings * 24;
        }
        if (guess < out->max - out->len) {
            rc = buf_reserve(out, (size_t)guess);
        }
    }
    rc = rc ? rc : enc_zero_entries(&x);
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = enc_input(&x, (int32_t)i);
    }
    if (rc == PC_OK && part != NULL) {
        /* The dictionary then reuses the resource part's memory. */
        rc = part(out->data + start, out->len - start, arg);
        out->len = start;
    }
    if (rc == PC_OK) {
        rc = enc_dictionary(&x);
    }
    enc_free(&x);
    if (rc != PC_OK) {
        out->len = start;
        return err_set(e, rc, "otlp: encode: %s", pc_strerror(rc));
    }
    return PC_OK;
}

int otlp_encode(const struct pdata *const *in, size_t n, struct buf *out,
                struct errctx *e)
{
    return otlp_encode_parts(in, n, out, NULL, NULL, e);
}
