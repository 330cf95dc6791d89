/*
 * jfr_meta.c: the metadata event of a chunk, the class and field tree that
 * gives the chunk's type ids their meaning (type ids are not fixed: each
 * writer numbers its classes as it likes).
 */
#include <stdlib.h>
#include <string.h>

#include "codec/jfr/jfr_int.h"
#include "core/assert.h"

/* The attributes of one element that the reader uses. */
struct meta_attrs {
    const char *name, *id, *super, *cls, *pool, *dim;
};

/* What a metadata string means to the parser, found once per string so
 * that elements and attributes compare small numbers, not text. */
enum meta_word {
    MW_OTHER = 0,
    MW_NAME,
    MW_ID,
    MW_SUPER,
    MW_CLASS, /* an element, and a field's attribute */
    MW_POOL,
    MW_DIM,
    MW_FIELD,
};

struct meta_ctx {
    struct jfr_chunk *c;
    struct jfr_meta *md; /* being parsed */
    struct jfr_cur r;
    char **strings;
    uint8_t *words; /* enum meta_word per string */
    uint32_t nstrings;
};

static uint8_t meta_word(const char *s)
{
    static const struct {
        const char *s;
        uint8_t w;
    } words[] = {
        {"name", MW_NAME},         {"id", MW_ID},
        {"superType", MW_SUPER},   {"class", MW_CLASS},
        {"constantPool", MW_POOL}, {"dimension", MW_DIM},
        {"field", MW_FIELD},
    };
    size_t i;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (jfr_streq(s, words[i].s)) {
            return words[i].w;
        }
    }
    return MW_OTHER;
}

/* The string at m->r copied into the metadata arena when it is UTF-8, or
 * UTF-16 whose units are all one-byte varints (ASCII: the JDK's class and
 * field names): no conversion buffer, one pass. 1: done; 0: the general
 * path is needed (m->r unchanged); < 0: an error. */
static int quick_string(struct meta_ctx *m, char **out)
{
    struct jfr_cur r = m->r;
    const uint8_t *p = r.c->p;
    uint64_t n;
    size_t i;
    int enc;

    if (r.pos >= r.end ||
        (p[r.pos] != 3 && (p[r.pos] != 4 || !r.c->compressed))) {
        return 0;
    }
    enc = p[r.pos++];
    if (jfr_int(&r, 4, &n) != PC_OK || n > r.c->lim->max_string_len ||
        n > r.end - r.pos) {
        return 0; /* the general path says what is wrong */
    }
    for (i = 0; enc == 4 && i < n; i++) {
        if (p[r.pos + i] >= 0x80) {
            return 0;
        }
    }
    *out = arena_strndup(&m->md->arena, (const char *)p + r.pos, (size_t)n);
    if (*out == NULL) {
        return jfr_fail(r.c, r.pos, PC_ENOMEM, "out of memory (metadata)");
    }
    m->r.pos = r.pos + (size_t)n;
    return 1;
}

static int parse_u64(const char *s, uint64_t *v)
{
    uint64_t x = 0;

    if (s == NULL || *s == '\0') {
        return PC_ECORRUPT;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9' || x > (UINT64_MAX - 9) / 10) {
            return PC_ECORRUPT;
        }
        x = x * 10 + (uint64_t)(*s - '0');
    }
    *v = x;
    return PC_OK;
}

static int read_strings(struct meta_ctx *m)
{
    struct jfr_chunk *c = m->c;
    struct buf b;
    struct jfr_str s;
    uint64_t n, i;
    size_t at = m->r.pos;
    int rc;

    if ((rc = jfr_int(&m->r, 4, &n)) != PC_OK) {
        return rc;
    }
    if (n > c->lim->max_meta_strings || n > m->r.end - m->r.pos) {
        return jfr_fail(c, at, PC_ETOOBIG,
                        "metadata string count %llu too "
                        "large",
                        (unsigned long long)n);
    }
    m->strings = arena_calloc(&m->md->arena, (size_t)n + 1, sizeof(char *));
    if (m->strings == NULL) {
        return jfr_fail(c, at, PC_ENOMEM, "out of memory (metadata)");
    }
    m->words = arena_alloc(&m->md->arena, (size_t)n + 1);
    if (m->words == NULL) {
        return jfr_fail(c, at, PC_ENOMEM, "out of memory (metadata)");
    }
    buf_init(&b, (size_t)c->lim->max_string_len * 4 + 1);
    for (i = 0; i < n && rc == PC_OK; i++) {
        buf_reset(&b);
        at = m->r.pos;
        rc = quick_string(m, &m->strings[i]);
        if (rc != 0) {
            if (rc > 0) {
                m->words[i] = meta_word(m->strings[i]);
                rc = PC_OK;
            }
            continue;
        }
        rc = jfr_string(&m->r, &s);
        if (rc == PC_OK && s.enc == 2) {
            rc = jfr_fail(c, at, PC_ECORRUPT,
                          "metadata string %llu uses "
                          "the string pool",
                          (unsigned long long)i);
        }
        if (rc == PC_OK) {
            rc = jfr_str_utf8(c, &s, 0, &b);
        }
        if (rc == PC_OK) {
            /* An empty string may find the buffer never allocated. */
            m->strings[i] = arena_strndup(&m->md->arena,
                                          b.len > 0 ? (const char *)b.data
                                                    : "",
                                          b.len);
            if (m->strings[i] == NULL) {
                rc = jfr_fail(c, at, PC_ENOMEM, "out of memory (metadata)");
            } else {
                m->words[i] = meta_word(m->strings[i]);
            }
        }
    }
    buf_free(&b);
    m->nstrings = (uint32_t)n;
    return rc;
}

/* A string index: *out the string, *word what it means. */
static int read_index(struct meta_ctx *m, const char **out, uint8_t *word)
{
    size_t at = m->r.pos;
    uint64_t i;
    int rc = jfr_int(&m->r, 4, &i);

    if (rc != PC_OK) {
        return rc;
    }
    if (i >= m->nstrings) {
        return jfr_fail(m->c, at, PC_ECORRUPT,
                        "metadata string index %llu "
                        "of %u",
                        (unsigned long long)i, m->nstrings);
    }
    *out = m->strings[i];
    *word = m->words[i];
    return PC_OK;
}

static int read_attrs(struct meta_ctx *m, struct meta_attrs *a)
{
    const char *k, *v;
    uint8_t kw, vw;
    uint64_t n;
    size_t at = m->r.pos;
    int rc;

    memset(a, 0, sizeof(*a));
    if ((rc = jfr_int(&m->r, 4, &n)) != PC_OK) {
        return rc;
    }
    if (n > m->r.end - m->r.pos) {
        return jfr_fail(m->c, at, PC_ECORRUPT, "%llu attributes in %zu bytes",
                        (unsigned long long)n, m->r.end - m->r.pos);
    }
    while (n-- > 0) {
        if ((rc = read_index(m, &k, &kw)) != PC_OK ||
            (rc = read_index(m, &v, &vw)) != PC_OK) {
            return rc;
        }
        switch (kw) {
        case MW_NAME:
            a->name = v;
            break;
        case MW_ID:
            a->id = v;
            break;
        case MW_SUPER:
            a->super = v;
            break;
        case MW_CLASS:
            a->cls = v;
            break;
        case MW_POOL:
            a->pool = v;
            break;
        case MW_DIM:
            a->dim = v;
            break;
        default:
            break;
        }
    }
    return PC_OK;
}

static int add_class(struct meta_ctx *m, const struct meta_attrs *a, size_t at,
                     int32_t *out)
{
    struct jfr_chunk *c = m->c;
    struct jfr_meta *md = m->md;
    struct jfr_class *k;
    uint64_t id;

    if (a->name == NULL || parse_u64(a->id, &id) != PC_OK) {
        return jfr_fail(c, at, PC_ECORRUPT,
                        "class without name or numeric "
                        "id");
    }
    if (md->nclasses >= c->lim->max_classes) {
        return jfr_fail(c, at, PC_ETOOBIG, "more than %u classes",
                        c->lim->max_classes);
    }
    if (arena_grow_array(&md->arena, (void **)&md->classes, &md->cap_classes,
                         md->nclasses + 1, sizeof(*k)) != PC_OK) {
        return jfr_fail(c, at, PC_ENOMEM, "out of memory (classes)");
    }
    k = &md->classes[md->nclasses];
    memset(k, 0, sizeof(*k));
    k->id = id;
    k->name = a->name;
    k->super = a->super;
    *out = (int32_t)md->nclasses++;
    return PC_OK;
}

static int add_field(struct meta_ctx *m, int32_t ci,
                     const struct meta_attrs *a, size_t at)
{
    struct jfr_chunk *c = m->c;
    struct jfr_class *k = &m->md->classes[ci];
    struct jfr_field *f;

    if (a->name == NULL || parse_u64(a->cls, &(uint64_t){0}) != PC_OK) {
        return jfr_fail(c, at, PC_ECORRUPT,
                        "field of %s without name or "
                        "class",
                        k->name);
    }
    if (k->nfields >= c->lim->max_fields) {
        return jfr_fail(c, at, PC_ETOOBIG,
                        "class %s has more than %u "
                        "fields",
                        k->name, c->lim->max_fields);
    }
    if (arena_grow_array(&m->md->arena, (void **)&k->fields, &k->cap_fields,
                         k->nfields + 1, sizeof(*f)) != PC_OK) {
        return jfr_fail(c, at, PC_ENOMEM, "out of memory (fields)");
    }
    f = &k->fields[k->nfields++];
    memset(f, 0, sizeof(*f));
    f->name = a->name;
    parse_u64(a->cls, &f->cls_id);
    f->cls = -1;
    f->pool = a->pool != NULL && strcmp(a->pool, "true") == 0;
    f->array = a->dim != NULL && strcmp(a->dim, "1") == 0;
    return PC_OK;
}

/* One element and its children; `cls` is the enclosing class or -1. */
static int read_element(struct meta_ctx *m, int depth, int32_t cls)
{
    struct meta_attrs a;
    const char *name;
    uint8_t word;
    uint64_t n;
    size_t at = m->r.pos;
    int32_t inner = -1;
    int rc;

    if (depth > (int)m->c->lim->max_nesting) {
        return jfr_fail(m->c, at, PC_ETOOBIG,
                        "metadata elements nested "
                        "deeper than %u",
                        m->c->lim->max_nesting);
    }
    if ((rc = read_index(m, &name, &word)) != PC_OK ||
        (rc = read_attrs(m, &a)) != PC_OK) {
        return rc;
    }
    if (word == MW_CLASS) {
        rc = add_class(m, &a, at, &inner);
    } else if (word == MW_FIELD && cls >= 0) {
        rc = add_field(m, cls, &a, at);
    }
    if (rc != PC_OK || (rc = jfr_int(&m->r, 4, &n)) != PC_OK) {
        return rc;
    }
    if (n > m->r.end - m->r.pos) {
        return jfr_fail(m->c, at, PC_ECORRUPT,
                        "%llu child elements in %zu "
                        "bytes",
                        (unsigned long long)n, m->r.end - m->r.pos);
    }
    while (n-- > 0) {
        if ((rc = read_element(m, depth + 1, inner)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static uint8_t prim_of(const char *name)
{
    static const struct {
        const char *name;
        uint8_t prim;
    } prims[] = {
        {"boolean", JP_BOOL},
        {"byte", JP_BYTE},
        {"char", JP_CHAR},
        {"short", JP_SHORT},
        {"int", JP_INT},
        {"long", JP_LONG},
        {"float", JP_FLOAT},
        {"double", JP_DOUBLE},
        {"java.lang.String", JP_STRING},
    };
    size_t i;

    for (i = 0; i < sizeof(prims) / sizeof(prims[0]); i++) {
        if (jfr_streq(name, prims[i].name)) {
            return prims[i].prim;
        }
    }
    return JP_STRUCT;
}

static int index_classes(struct jfr_chunk *c, struct jfr_meta *md)
{
    struct itab_probe pr;
    uint32_t i;
    int32_t j;

    if (itab_init(&md->class_idx, md->nclasses) != PC_OK) {
        return jfr_fail(c, c->meta_off, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < md->nclasses; i++) {
        struct jfr_class *k = &md->classes[i];
        itab_probe_start(&md->class_idx, jfr_mix64(k->id), &pr);
        while ((j = itab_probe_next(&md->class_idx, &pr)) >= 0) {
            if (md->classes[j].id == k->id) {
                return jfr_fail(c, c->meta_off, PC_ECORRUPT,
                                "class id %llu "
                                "declared twice",
                                (unsigned long long)k->id);
            }
        }
        if (itab_insert(&md->class_idx, &pr, (int32_t)i) != PC_OK) {
            return jfr_fail(c, c->meta_off, PC_ENOMEM, "out of memory");
        }
        k->prim = prim_of(k->name);
        if (k->prim == JP_STRING) {
            md->string_cls = (int32_t)i;
        }
    }
    return PC_OK;
}

/* The dense index, when every class id is small enough for one. */
static int index_dense(struct jfr_chunk *c, struct jfr_meta *md)
{
    uint64_t max = 0;
    uint32_t i;

    for (i = 0; i < md->nclasses; i++) {
        if (md->classes[i].id >= JFR_DENSE_IDS) {
            return PC_OK;
        }
        max = md->classes[i].id > max ? md->classes[i].id : max;
    }
    md->ndense = (uint32_t)max + 1;
    md->dense = arena_alloc(&md->arena, md->ndense * sizeof(int32_t));
    if (md->dense == NULL) {
        return jfr_fail(c, c->meta_off, PC_ENOMEM, "out of memory");
    }
    memset(md->dense, -1, md->ndense * sizeof(int32_t));
    for (i = 0; i < md->nclasses; i++) {
        md->dense[md->classes[i].id] = (int32_t)i;
    }
    return PC_OK;
}

static const char *const fnames[JF_NFNAMES] = {
    [JF_STACK_TRACE] = "stackTrace",
    [JF_STATE] = "state",
    [JF_NAME] = "name",
    [JF_VALUE] = "value",
    [JF_SAMPLES] = "samples",
    [JF_TLAB_SIZE] = "tlabSize",
    [JF_ALLOCATION_SIZE] = "allocationSize",
    [JF_WEIGHT] = "weight",
    [JF_DURATION] = "duration",
    [JF_SIZE] = "size",
    [JF_CONTEXT_ID] = "contextId",
    [JF_SPAN_ID] = "spanId",
    [JF_SPAN_NAME] = "spanName",
    [JF_TRACE_ID_HI] = "traceIdHi",
    [JF_TRACE_ID_LO] = "traceIdLo",
    [JF_TYPE] = "type",
    [JF_STRING] = "string",
    [JF_METHOD] = "method",
    [JF_LINE_NUMBER] = "lineNumber",
    [JF_FRAMES] = "frames",
    [JF_LOCAL_ROOT_SPAN_ID] = "localRootSpanId",
    [JF_CPU_INTERVAL] = "cpuInterval",
    [JF_WALL_INTERVAL] = "wallInterval",
};

const char *jfr_fname_str(enum jfr_fname f)
{
    PC_ASSERT(f < JF_NFNAMES);
    return fnames[f];
}

/* The first field of each name the conversion reads, as an index. */
static void layout_class(struct jfr_class *k)
{
    uint32_t j;
    int n;

    memset(k->layout, -1, sizeof(k->layout));
    for (j = 0; j < k->nfields && j < JFR_MAXV; j++) {
        for (n = 0; n < JF_NFNAMES; n++) {
            if (k->layout[n] < 0 && jfr_streq(k->fields[j].name, fnames[n])) {
                k->layout[n] = (int8_t)j;
                break;
            }
        }
    }
}

static uint8_t field_op(const struct jfr_field *f, const struct jfr_class *t)
{
    if (f->array) {
        return JO_GENERIC;
    }
    if (f->pool) {
        return JO_REF;
    }
    switch (t->prim) {
    case JP_CHAR:
    case JP_SHORT:
    case JP_INT:
    case JP_LONG:
        return JO_NUM;
    default:
        return JO_GENERIC;
    }
}

static int resolve_fields(struct jfr_chunk *c, struct jfr_meta *md)
{
    uint32_t i, j;

    for (i = 0; i < md->nclasses; i++) {
        struct jfr_class *k = &md->classes[i];
        for (j = 0; j < k->nfields; j++) {
            const struct jfr_class *t = jfr_class_by_id(c,
                                                        k->fields[j].cls_id);
            if (t == NULL) {
                return jfr_fail(c, c->meta_off, PC_ECORRUPT,
                                "field %s.%s has "
                                "unknown type id %llu",
                                k->name, k->fields[j].name,
                                (unsigned long long)k->fields[j].cls_id);
            }
            k->fields[j].cls = (int32_t)(t - md->classes);
            k->fields[j].op = field_op(&k->fields[j], t);
        }
        layout_class(k);
    }
    return PC_OK;
}

/* A struct whose every field is an inline zero-size struct takes no bytes;
 * marking those lets the value reader skip them without descending, so a
 * hostile class tree cannot make it work without consuming input. */
static void mark_zero_size(struct jfr_chunk *c, struct jfr_meta *md)
{
    uint32_t round, i, j;
    int changed = 1;

    for (round = 0; changed && round <= c->lim->max_nesting; round++) {
        changed = 0;
        for (i = 0; i < md->nclasses; i++) {
            struct jfr_class *k = &md->classes[i];
            int zero = k->prim == JP_STRUCT;
            for (j = 0; j < k->nfields && zero; j++) {
                const struct jfr_field *f = &k->fields[j];
                zero = !f->pool && !f->array && md->classes[f->cls].zero;
            }
            if (zero && !k->zero) {
                k->zero = 1;
                changed = 1;
            }
        }
    }
}

void jfr_meta_retain(struct jfr_meta *m)
{
    if (m != NULL) {
        m->refs++;
    }
}

void jfr_meta_release(struct jfr_meta *m)
{
    if (m == NULL) {
        return;
    }
    PC_ASSERT(m->refs > 0);
    if (--m->refs > 0) {
        return;
    }
    itab_free(&m->class_idx);
    arena_free_all(&m->arena);
    free(m);
}

/* c borrows md's classes (again: a growing array may have moved). */
static void meta_borrow(struct jfr_chunk *c, const struct jfr_meta *md)
{
    c->classes = md->classes;
    c->nclasses = md->nclasses;
    c->string_cls = md->string_cls;
}

/* c takes a reference to md: closing c lets go of it. */
static void meta_attach(struct jfr_chunk *c, struct jfr_meta *md)
{
    md->refs++;
    c->meta = md;
    meta_borrow(c, md);
}

/* The previous chunk's class tree when it was parsed from the same bytes
 * (the same bytes parse to the same tree: the metadata strings never refer
 * to a constant pool). Only the event header before them may differ. */
static struct jfr_meta *meta_same(const struct jfr_chunk *c, const uint8_t *p,
                                  size_t len)
{
    struct jfr_meta *md = c->prev_meta;

    if (md == NULL || md->bytes == NULL || md->len != len ||
        md->compressed != c->compressed || memcmp(md->bytes, p, len) != 0) {
        return NULL;
    }
    return md;
}

/* Parses the strings and elements at m->r into a new class tree. */
static int meta_build(struct meta_ctx *m)
{
    struct jfr_chunk *c = m->c;
    struct jfr_meta *md = calloc(1, sizeof(*md));
    size_t start = m->r.pos;
    int rc;

    if (md == NULL) {
        return jfr_fail(c, c->meta_off, PC_ENOMEM, "out of memory");
    }
    arena_init(&md->arena, c->lim->max_alloc);
    md->string_cls = -1;
    m->md = md;
    meta_attach(c, md); /* from here on, closing c frees md */
    if ((rc = read_strings(m)) != PC_OK ||
        (rc = read_element(m, 0, -1)) != PC_OK ||
        (rc = index_classes(c, md)) != PC_OK ||
        (rc = index_dense(c, md)) != PC_OK ||
        (rc = resolve_fields(c, md)) != PC_OK) {
        return rc;
    }
    mark_zero_size(c, md);
    meta_borrow(c, md);
    /* Complete: the next chunk may share it (meta_same). A copy, so that
     * no chunk is read again once done (jfr_options.consumed). */
    md->len = m->r.end - start;
    md->bytes = arena_memdup(&md->arena, c->p + start, md->len);
    if (md->bytes == NULL) {
        return jfr_fail(c, c->meta_off, PC_ENOMEM, "out of memory");
    }
    md->compressed = c->compressed;
    return PC_OK;
}

int jfr_meta_parse(struct jfr_chunk *c)
{
    struct meta_ctx m;
    struct jfr_meta *same;
    uint64_t size, type, skip;
    int rc, i;

    PC_ASSERT(c->meta == NULL);
    memset(&m, 0, sizeof(m));
    m.c = c;
    m.r.c = c;
    m.r.pos = (size_t)c->meta_off;
    m.r.end = c->len;
    if ((rc = jfr_int(&m.r, 4, &size)) != PC_OK) {
        return rc;
    }
    if (size == 0 || size > c->len - c->meta_off) {
        return jfr_fail(c, c->meta_off, PC_ECORRUPT,
                        "metadata event of "
                        "%llu bytes",
                        (unsigned long long)size);
    }
    m.r.end = (size_t)(c->meta_off + size);
    if ((rc = jfr_int(&m.r, 8, &type)) != PC_OK) {
        return rc;
    }
    if (type != JFR_EV_METADATA) {
        return jfr_fail(c, c->meta_off, PC_ECORRUPT,
                        "metadata offset points "
                        "at an event of type %llu",
                        (unsigned long long)type);
    }
    for (i = 0; i < 3; i++) { /* start ticks, duration, metadata id */
        if ((rc = jfr_int(&m.r, 8, &skip)) != PC_OK) {
            return rc;
        }
    }
    same = meta_same(c, c->p + m.r.pos, m.r.end - m.r.pos);
    if (same != NULL) {
        meta_attach(c, same);
        c->meta_shared = 1;
    }
    jfr_meta_release(c->prev_meta); /* compared: no longer needed */
    c->prev_meta = NULL;
    return same != NULL ? PC_OK : meta_build(&m);
}

const struct jfr_class *jfr_class_by_id_hashed(const struct jfr_chunk *c,
                                               uint64_t id)
{
    const struct jfr_meta *md = c->meta;
    struct itab_probe pr;
    int32_t j;

    if (md == NULL ||
        (md->class_idx.mask == 0 && md->class_idx.slots == NULL)) {
        return NULL;
    }

    itab_probe_start(&md->class_idx, jfr_mix64(id), &pr);
    while ((j = itab_probe_next(&md->class_idx, &pr)) >= 0) {
        if (md->classes[j].id == id) {
            return &md->classes[j];
        }
    }
    return NULL;
}
