/*
 * jfr_stack.c: JFR stack traces into the model's stacks, locations and
 * functions, named as Pyroscope names them: a function per method called
 * "<class>.<method>" (class in internal form, java/util/HashMap), a
 * location per (function, line), one mapping for all. Model entries are
 * interned across chunks by content, so equal stacks from different chunks
 * (whose pool keys differ) become one.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/jfr/jfr_conv.h"

/* ---- a small 64-bit key map (per-chunk caches) ------------------------ */

int jfr_map_init(struct jfr_map *m)
{
    memset(m, 0, sizeof(*m));
    return itab_init(&m->idx, 256);
}

void jfr_map_free(struct jfr_map *m)
{
    itab_free(&m->idx);
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof(*m));
}

void jfr_map_clear(struct jfr_map *m)
{
    itab_free(&m->idx);
    m->n = 0;
    if (itab_init(&m->idx, 256) != PC_OK) {
        m->idx.slots = NULL;
    }
}

int jfr_map_get(const struct jfr_map *m, uint64_t k, int64_t *v)
{
    struct itab_probe pr;
    int32_t j;

    if (m->idx.slots == NULL) {
        return 0;
    }
    itab_probe_start(&m->idx, jfr_mix64(k), &pr);
    while ((j = itab_probe_next(&m->idx, &pr)) >= 0) {
        if (m->keys[j] == k) {
            *v = m->vals[j];
            return 1;
        }
    }
    return 0;
}

int jfr_map_put(struct jfr_map *m, uint64_t k, int64_t v)
{
    struct itab_probe pr;

    if (m->idx.slots == NULL) {
        return PC_ENOMEM;
    }
    if (m->n == m->cap) {
        uint32_t cap = m->cap ? m->cap * 2 : 256;
        uint64_t *nk = realloc(m->keys, cap * sizeof(*nk));
        int64_t *nv;
        if (nk == NULL) {
            return PC_ENOMEM;
        }
        m->keys = nk;
        nv = realloc(m->vals, cap * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        m->vals = nv;
        m->cap = cap;
    }
    itab_probe_start(&m->idx, jfr_mix64(k), &pr);
    while (itab_probe_next(&m->idx, &pr) >= 0) {
    }
    if (itab_insert(&m->idx, &pr, (int32_t)m->n) != PC_OK) {
        return PC_ENOMEM;
    }
    m->keys[m->n] = k;
    m->vals[m->n++] = v;
    return PC_OK;
}

/* ---- interning in the model ------------------------------------------ */

static uint64_t hash_bytes(const void *p, size_t n, uint64_t h)
{
    const uint8_t *b = p;
    size_t i;

    for (i = 0; i < n; i++) {
        h = (h ^ b[i]) * 0x100000001b3ULL;
    }
    return jfr_mix64(h);
}

int jfr_conv_string(struct jfr_conv *cv, const char *s, size_t len,
                    int32_t *out)
{
    struct itab_probe pr;
    const struct dict *d = &cv->pd->dict;
    int32_t j;

    itab_probe_start(&cv->strings, hash_bytes(s, len, 0xcbf29ce484222325ULL),
                     &pr);
    while ((j = itab_probe_next(&cv->strings, &pr)) >= 0) {
        if (d->strings[j].len == len &&
            memcmp(d->strings[j].ptr, s, len) == 0) {
            *out = j;
            return PC_OK;
        }
    }
    j = dict_add_string_copy(cv->pd, s, len);
    if (j < 0 || itab_insert(&cv->strings, &pr, j) != PC_OK) {
        return PC_ENOMEM;
    }
    *out = j;
    return PC_OK;
}

static int intern_function(struct jfr_conv *cv, int32_t name, int32_t *out)
{
    struct itab_probe pr;
    struct function f;
    int32_t j;

    itab_probe_start(&cv->funcs, jfr_mix64((uint64_t)name), &pr);
    while ((j = itab_probe_next(&cv->funcs, &pr)) >= 0) {
        if (cv->pd->dict.functions[j].name == name) {
            *out = j;
            return PC_OK;
        }
    }
    memset(&f, 0, sizeof(f));
    f.name = name;
    j = dict_add_function(cv->pd, &f);
    if (j < 0 || itab_insert(&cv->funcs, &pr, j) != PC_OK) {
        return PC_ENOMEM;
    }
    *out = j;
    return PC_OK;
}

static int intern_location(struct jfr_conv *cv, int32_t fn, int64_t line,
                           int32_t *out)
{
    struct itab_probe pr;
    struct location l;
    struct line *ln;
    int32_t j;

    itab_probe_start(&cv->locs, jfr_mix64((uint64_t)fn << 32 ^ (uint64_t)line),
                     &pr);
    while ((j = itab_probe_next(&cv->locs, &pr)) >= 0) {
        const struct location *o = &cv->pd->dict.locations[j];
        if (o->lines[0].function == fn && o->lines[0].line == line) {
            *out = j;
            return PC_OK;
        }
    }
    ln = arena_calloc(&cv->pd->arena, 1, sizeof(*ln));
    if (ln == NULL) {
        return PC_ENOMEM;
    }
    ln->function = fn;
    ln->line = line;
    memset(&l, 0, sizeof(l));
    l.mapping = cv->mapping;
    l.nlines = 1;
    l.lines = ln;
    j = dict_add_location(cv->pd, &l);
    if (j < 0 || itab_insert(&cv->locs, &pr, j) != PC_OK) {
        return PC_ENOMEM;
    }
    *out = j;
    return PC_OK;
}

static int intern_stack(struct jfr_conv *cv, const int32_t *locs, uint32_t n,
                        int32_t *out)
{
    struct itab_probe pr;
    int32_t j;

    itab_probe_start(&cv->stacks, hash_bytes(locs, n * sizeof(*locs), n), &pr);
    while ((j = itab_probe_next(&cv->stacks, &pr)) >= 0) {
        const struct stack *s = &cv->pd->dict.stacks[j];
        if (s->n == n && memcmp(s->locs, locs, n * sizeof(*locs)) == 0) {
            *out = j;
            return PC_OK;
        }
    }
    j = dict_add_stack(cv->pd, locs, n);
    if (j < 0 || itab_insert(&cv->stacks, &pr, j) != PC_OK) {
        return PC_ENOMEM;
    }
    *out = j;
    return PC_OK;
}

int jfr_conv_init_tables(struct jfr_conv *cv)
{
    struct mapping m;

    if (itab_init(&cv->strings, 1024) != PC_OK ||
        itab_init(&cv->funcs, 1024) != PC_OK ||
        itab_init(&cv->locs, 1024) != PC_OK ||
        itab_init(&cv->stacks, 1024) != PC_OK ||
        jfr_map_init(&cv->stack_cache) != PC_OK ||
        jfr_map_init(&cv->method_cache) != PC_OK) {
        return PC_ENOMEM;
    }
    cv->frames = calloc(cv->lim->max_stack_depth + 1, sizeof(int32_t));
    if (cv->frames == NULL) {
        return PC_ENOMEM;
    }
    memset(&m, 0, sizeof(m));
    m.flags = MAPPING_HAS_FUNCTIONS;
    cv->mapping = dict_add_mapping(cv->pd, &m);
    return cv->mapping < 0 ? PC_ENOMEM : PC_OK;
}

void jfr_conv_free_tables(struct jfr_conv *cv)
{
    itab_free(&cv->strings);
    itab_free(&cv->funcs);
    itab_free(&cv->locs);
    itab_free(&cv->stacks);
    jfr_map_free(&cv->stack_cache);
    jfr_map_free(&cv->method_cache);
    free(cv->frames);
    cv->frames = NULL;
}

/* ---- resolving pool references --------------------------------------- */

static int missing(struct jfr_chunk *c, const char *what, uint64_t key)
{
    return jfr_fail(c, 0, PC_ECORRUPT, "%s %llu is in no constant pool", what,
                    (unsigned long long)key);
}

/* Reads the entry a reference field `name` of cls (values v, read in *c)
 * points to; *c becomes the chunk that entry is in. */
static int follow(struct jfr_chunk **c, const struct jfr_class *cls,
                  const struct jfr_val *v, enum jfr_fname name,
                  const struct jfr_class **out, struct jfr_val *ov)
{
    int i = jfr_field_index(cls, name);
    int rc;

    if (i < 0 || v[i].kind != JV_REF || v[i].u == 0) {
        return PC_ENOTFOUND;
    }
    rc = jfr_pool_read(c, cls->fields[i].cls_id, v[i].u, out, ov, 1);
    if (rc == PC_ENOTFOUND) {
        return missing(*c, jfr_fname_str(name), v[i].u);
    }
    return rc;
}

/* Appends the text of Symbol field `name` of cls to out (nothing if null). */
static int append_symbol(struct jfr_chunk *c, const struct jfr_class *cls,
                         const struct jfr_val *v, enum jfr_fname name,
                         struct buf *out)
{
    const struct jfr_class *sc;
    struct jfr_val sv[JFR_MAXV];
    int i = jfr_field_index(cls, name), rc, si;

    if (i >= 0 && v[i].kind == JV_STR) { /* a writer may inline it */
        return jfr_str_utf8(c, &v[i].s, 0, out);
    }
    rc = follow(&c, cls, v, name, &sc, sv);
    if (rc == PC_ENOTFOUND) {
        return PC_OK;
    }
    if (rc != PC_OK) {
        return rc;
    }
    si = jfr_field_index(sc, JF_STRING);
    if (si < 0 || sv[si].kind != JV_STR) {
        return PC_OK;
    }
    return jfr_str_utf8(c, &sv[si].s, 0, out);
}

/* "<class>.<method>" of a method entry into cv->tmp. */
static int method_name(struct jfr_conv *cv, struct jfr_chunk *c, uint64_t type,
                       uint64_t key)
{
    const struct jfr_class *mc, *kc;
    struct jfr_val mv[JFR_MAXV], kv[JFR_MAXV];
    struct jfr_chunk *kch;
    int rc = jfr_pool_read(&c, type, key, &mc, mv, 1);

    if (rc == PC_ENOTFOUND) {
        return missing(c, "method", key);
    }
    if (rc != PC_OK) {
        return rc;
    }
    buf_reset(&cv->tmp);
    kch = c;
    rc = follow(&kch, mc, mv, JF_TYPE, &kc, kv);
    if (rc == PC_OK) {
        rc = append_symbol(kch, kc, kv, JF_NAME, &cv->tmp);
        if (rc == PC_OK) {
            rc = buf_putc(&cv->tmp, '.');
        }
    } else if (rc == PC_ENOTFOUND) {
        rc = PC_OK;
    }
    return rc == PC_OK ? append_symbol(c, mc, mv, JF_NAME, &cv->tmp) : rc;
}

static int method_function(struct jfr_conv *cv, struct jfr_chunk *c,
                           uint64_t type, uint64_t key, int32_t *fn)
{
    /* Keys are only unique within a chunk: the cache is the current
     * chunk's (cleared for each). */
    int64_t cached;
    int32_t name;
    int rc;

    if (jfr_map_get(&cv->method_cache, key, &cached)) {
        *fn = (int32_t)cached;
        return PC_OK;
    }
    if ((rc = method_name(cv, c, type, key)) != PC_OK) {
        return rc;
    }
    cv->tmp.len = jfr_normalize_symbol((char *)cv->tmp.data, cv->tmp.len);
    if ((rc = jfr_conv_string(cv, (const char *)cv->tmp.data, cv->tmp.len,
                              &name)) != PC_OK ||
        (rc = intern_function(cv, name, fn)) != PC_OK) {
        return rc;
    }
    return jfr_map_put(&cv->method_cache, key, *fn);
}

/* One frame (StackFrame fields in fv, read in c) to a location. */
static int frame_location(struct jfr_conv *cv, struct jfr_chunk *c,
                          const struct jfr_class *fc, const struct jfr_val *fv,
                          int32_t *loc)
{
    int mi = jfr_field_index(fc, JF_METHOD);
    int li = jfr_field_index(fc, JF_LINE_NUMBER);
    int64_t line = 0;
    int32_t fn = 0;
    int rc;

    if (mi < 0 || fv[mi].kind != JV_REF || fv[mi].u == 0) {
        return jfr_fail(c, 0, PC_ECORRUPT, "stack frame without a method");
    }
    rc = method_function(cv, c, fc->fields[mi].cls_id, fv[mi].u, &fn);
    if (rc != PC_OK) {
        return rc;
    }
    /* Pyroscope writes the line as unsigned 32 bits (-1 = 4294967295);
     * a negative line means "none" here (docs/conversion.md). */
    if (li >= 0 && fv[li].kind == JV_NUM && (int32_t)fv[li].u > 0) {
        line = (int32_t)fv[li].u;
    }
    return intern_location(cv, fn, line, loc);
}

/* The frames of a stack trace entry (values sv, read in chunk c). */
static int read_frames(struct jfr_conv *cv, struct jfr_chunk *c,
                       const struct jfr_class *sc, const struct jfr_val *sv,
                       uint32_t *n)
{
    int fi = jfr_field_index(sc, JF_FRAMES);
    const struct jfr_field *f;
    const struct jfr_class *fc;
    struct jfr_val fv[JFR_MAXV];
    struct jfr_cur r = {c, 0, c->len};
    uint64_t i, key;
    int rc;

    if (fi < 0 || sv[fi].kind != JV_ARRAY) {
        return jfr_fail(c, 0, PC_ECORRUPT, "stack trace without frames");
    }
    if (sv[fi].u > cv->lim->max_stack_depth) {
        return jfr_fail(c, sv[fi].off, PC_ETOOBIG,
                        "stack of %llu frames "
                        "(limit %u)",
                        (unsigned long long)sv[fi].u,
                        cv->lim->max_stack_depth);
    }
    f = &sc->fields[fi];
    fc = &c->classes[f->cls];
    r.pos = sv[fi].off;
    for (i = 0; i < sv[fi].u; i++) {
        struct jfr_chunk *fch = c;
        const struct jfr_class *pc = fc;
        if (f->pool) {
            rc = jfr_int(&r, 8, &key);
            if (rc == PC_OK) {
                rc = jfr_pool_read(&fch, fc->id, key, &pc, fv, 1);
                rc = rc == PC_ENOTFOUND ? missing(c, "frame", key) : rc;
            }
        } else {
            rc = jfr_read_fields(&r, fc, fv, 1);
        }
        if (rc != PC_OK ||
            (rc = frame_location(cv, fch, pc, fv, &cv->frames[i])) != PC_OK) {
            return rc;
        }
    }
    *n = (uint32_t)sv[fi].u;
    return PC_OK;
}

int jfr_conv_stack(struct jfr_conv *cv, struct jfr_chunk *c, uint64_t type,
                   uint64_t key, int32_t *out)
{
    const struct jfr_class *sc;
    struct jfr_val sv[JFR_MAXV];
    struct jfr_chunk *sch = c;
    int64_t cached;
    uint32_t n = 0;
    int rc;

    *out = 0;
    if (key == 0) {
        return PC_OK;
    }
    if (jfr_map_get(&cv->stack_cache, key, &cached)) {
        *out = (int32_t)cached;
        return PC_OK;
    }
    rc = jfr_pool_read(&sch, type, key, &sc, sv, 1);
    if (rc == PC_ENOTFOUND) {
        /* Pyroscope drops such a sample; it is counted, not an error. */
        cv->unresolved++;
        return PC_OK;
    }
    if (rc != PC_OK || (rc = read_frames(cv, sch, sc, sv, &n)) != PC_OK) {
        return rc;
    }
    if (n > 0 && (rc = intern_stack(cv, cv->frames, n, out)) != PC_OK) {
        return rc;
    }
    return jfr_map_put(&cv->stack_cache, key, *out);
}
