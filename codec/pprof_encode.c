/*
 * pprof_encode.c: one model profile -> perftools.profiles.Profile bytes
 * (see pprof.h and docs/conversion.md).
 *
 * Two phases. Marking walks the profile and notes which strings, mappings,
 * locations and functions it uses, and turns every sample attribute and link
 * it meets into pprof label records once (attributes are shared dictionary
 * entries, so a label set is converted once, not once per sample). Writing
 * then streams the message straight into the output buffer with ids 1..N
 * in table order and strings renumbered in model order.
 *
 * Label values that are not model strings (a bool's "true", a double's
 * digits, hex of bytes or of a trace id, "<key>.<entry>" keys of a kvlist)
 * are "extra" strings, written after the model strings. A string reference
 * (ref) below is a model string index when < nstrings, else an extra.
 */
#include "codec/pprof.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "codec/compress.h"
#include "core/hex.h"
#include "core/intern.h"
#include "codec/pb.h"

#define PE_NONE UINT32_MAX

/* One pprof label, its strings as refs. */
struct pe_label {
    uint32_t key;
    uint32_t str;
    uint32_t unit;
    int64_t num;
    uint8_t is_num;
    uint8_t key_kind; /* PE_KEY_* */
};

enum { PE_KEY_OTHER = 0, PE_KEY_TRACE = 1, PE_KEY_SPAN = 2 };

/* A run of label records: what one attribute or link turns into. */
struct pe_run {
    uint32_t first;
    uint32_t n;
};

struct pe {
    const struct pdata *pd;
    const struct dict *d;
    const struct profile *p;
    struct errctx *e;
    int32_t *smap; /* model string -> new index (marks first) */
    int32_t *mmap, *lmap, *fmap;
    int fn0_used;      /* a line names the zero function (OTLP index 0) */
    int lone;          /* the only profile of pd: every location is kept */
    struct itab shash; /* content -> model string (built lazily) */
    int has_shash;
    struct buf xbytes; /* extra strings, back to back */
    uint32_t *xoff, *xlen;
    uint32_t nx, capx;
    struct itab xhash;
    int has_xhash;
    struct pe_run *attr_runs; /* per dictionary attr, first = PE_NONE */
    struct pe_run *link_runs; /* per link: [2k] trace id, [2k + 1] span id */
    struct pe_label *labels;
    uint32_t nlabels, caplabels;
    uint32_t ref_trace, ref_span;
    int32_t sbase; /* new index of the first extra string */
    char scratch[64];
};

static int pe_nomem(struct pe *x)
{
    return err_set(x->e, PC_ENOMEM, "pprof encode: out of memory");
}

static int pe_bad(struct pe *x, const char *what, int64_t i)
{
    return err_set(x->e, PC_EINVAL,
                   "pprof encode: %s %" PRId64 " out of range", what, i);
}

/* ---- strings ---------------------------------------------------------- */

static int pe_use_string(struct pe *x, int32_t i)
{
    if (i < 0 || (uint32_t)i >= x->d->nstrings) {
        return pe_bad(x, "string index", i);
    }
    x->smap[i] = 1;
    return PC_OK;
}

static struct pstr pe_ref_str(const struct pe *x, uint32_t ref)
{
    struct pstr s;

    if (ref < x->d->nstrings) {
        return x->d->strings[ref];
    }
    ref -= x->d->nstrings;
    s.ptr = (const char *)x->xbytes.data + x->xoff[ref];
    s.len = x->xlen[ref];
    return s;
}

static int pe_build_shash(struct pe *x)
{
    const struct dict *d = x->d;
    struct itab_probe pr;
    uint32_t i;
    int32_t j;

    if (itab_init(&x->shash, d->nstrings) != PC_OK) {
        return pe_nomem(x);
    }
    x->has_shash = 1;
    for (i = 1; i < d->nstrings; i++) {
        struct pstr s = d->strings[i];
        itab_probe_start(&x->shash, XXH3_64bits(s.ptr, s.len), &pr);
        while ((j = itab_probe_next(&x->shash, &pr)) >= 0) {
            if (pstr_eqp(d->strings[j], s)) {
                break;
            }
        }
        if (j < 0 && itab_insert(&x->shash, &pr, (int32_t)i) != PC_OK) {
            return pe_nomem(x);
        }
    }
    return PC_OK;
}

static int pe_add_extra(struct pe *x, const char *s, uint32_t len,
                        struct itab_probe *pr, uint32_t *ref)
{
    uint32_t *no, *nl;
    uint32_t ncap;

    if (x->nx == x->capx) {
        ncap = x->capx != 0 ? x->capx * 2 : 64;
        no = realloc(x->xoff, ncap * sizeof(*no));
        if (no == NULL) {
            return pe_nomem(x);
        }
        x->xoff = no;
        nl = realloc(x->xlen, ncap * sizeof(*nl));
        if (nl == NULL) {
            return pe_nomem(x);
        }
        x->xlen = nl;
        x->capx = ncap;
    }
    if (x->xbytes.len > UINT32_MAX - len ||
        buf_append(&x->xbytes, s, len) != PC_OK) {
        return pe_nomem(x);
    }
    x->xoff[x->nx] = (uint32_t)(x->xbytes.len - len);
    x->xlen[x->nx] = len;
    if (itab_insert(&x->xhash, pr, (int32_t)x->nx) != PC_OK) {
        return pe_nomem(x);
    }
    *ref = x->d->nstrings + x->nx++;
    return PC_OK;
}

/* Ref of a string given by content: a model string when one is equal
 * (marked used), else an extra string (added once). */
static int pe_str_ref(struct pe *x, const char *s, size_t len, uint32_t *ref)
{
    struct itab_probe pr;
    uint64_t h;
    int32_t j;
    int rc;

    if (len == 0) {
        *ref = 0;
        return PC_OK;
    }
    if (len > UINT32_MAX) {
        return err_set(x->e, PC_ETOOBIG, "pprof encode: string too long");
    }
    if (!x->has_shash && (rc = pe_build_shash(x)) != PC_OK) {
        return rc;
    }
    h = XXH3_64bits(s, len);
    itab_probe_start(&x->shash, h, &pr);
    while ((j = itab_probe_next(&x->shash, &pr)) >= 0) {
        struct pstr m = x->d->strings[j];
        if (m.len == len && memcmp(m.ptr, s, len) == 0) {
            x->smap[j] = 1;
            *ref = (uint32_t)j;
            return PC_OK;
        }
    }
    itab_probe_start(&x->xhash, h, &pr);
    while ((j = itab_probe_next(&x->xhash, &pr)) >= 0) {
        if (x->xlen[j] == len &&
            memcmp(x->xbytes.data + x->xoff[j], s, len) == 0) {
            *ref = x->d->nstrings + (uint32_t)j;
            return PC_OK;
        }
    }
    return pe_add_extra(x, s, (uint32_t)len, &pr, ref);
}

static int32_t pe_final_str(const struct pe *x, uint32_t ref)
{
    if (ref < x->d->nstrings) {
        return x->smap[ref];
    }
    return x->sbase + (int32_t)(ref - x->d->nstrings);
}

/* ---- labels ------------------------------------------------------------ */

static int pe_push_label(struct pe *x, const struct pe_label *l)
{
    struct pe_label *n;
    uint32_t ncap;

    if (x->nlabels == x->caplabels) {
        ncap = x->caplabels != 0 ? x->caplabels * 2 : 64;
        n = realloc(x->labels, ncap * sizeof(*n));
        if (n == NULL) {
            return pe_nomem(x);
        }
        x->labels = n;
        x->caplabels = ncap;
    }
    x->labels[x->nlabels++] = *l;
    return PC_OK;
}

static uint8_t pe_key_kind(const struct pe *x, uint32_t key)
{
    struct pstr k = pe_ref_str(x, key);

    if (pstr_eq(k, "trace_id")) {
        return PE_KEY_TRACE;
    }
    return pstr_eq(k, "span_id") ? PE_KEY_SPAN : PE_KEY_OTHER;
}

static int pe_str_label(struct pe *x, uint32_t key, const char *s, size_t len)
{
    struct pe_label l;
    int rc;

    memset(&l, 0, sizeof(l));
    l.key = key;
    l.key_kind = pe_key_kind(x, key);
    rc = pe_str_ref(x, s, len, &l.str);
    return rc != PC_OK ? rc : pe_push_label(x, &l);
}

static int pe_bytes_label(struct pe *x, uint32_t key, struct pstr b)
{
    char *hex;
    int rc;

    if (b.len > UINT32_MAX / 2) {
        return err_set(x->e, PC_ETOOBIG, "pprof encode: bytes too long");
    }
    hex = malloc((size_t)b.len * 2 + 1);
    if (hex == NULL) {
        return pe_nomem(x);
    }
    hex_encode((const uint8_t *)b.ptr, b.len, hex);
    rc = pe_str_label(x, key, hex, (size_t)b.len * 2);
    free(hex);
    return rc;
}

static int pe_value_labels(struct pe *x, uint32_t key, int32_t unit,
                           const struct anyvalue *v, int depth);

/* A kvlist entry becomes labels keyed "<key>.<entry key>". */
static int pe_kv_labels(struct pe *x, uint32_t key, int32_t unit,
                        const struct keyvalue *kv, int depth)
{
    struct pstr k = pe_ref_str(x, key);
    size_t n = (size_t)k.len + 1 + kv->key.len;
    uint32_t sub;
    char *s;
    int rc;

    s = malloc(n);
    if (s == NULL) {
        return pe_nomem(x);
    }
    memcpy(s, k.ptr, k.len);
    s[k.len] = '.';
    memcpy(s + k.len + 1, kv->key.ptr, kv->key.len);
    rc = pe_str_ref(x, s, n, &sub);
    free(s);
    return rc != PC_OK ? rc
                       : pe_value_labels(x, sub, unit, &kv->value, depth + 1);
}

static int pe_value_labels(struct pe *x, uint32_t key, int32_t unit,
                           const struct anyvalue *v, int depth)
{
    struct pe_label l;
    uint32_t i;
    int rc = PC_OK, n;

    if (depth > LIMIT_ANYVALUE_DEPTH) {
        return err_set(x->e, PC_EINVAL,
                       "pprof encode: attribute nested "
                       "deeper than %d",
                       LIMIT_ANYVALUE_DEPTH);
    }
    switch (v->type) {
    case AV_STRING:
        return pe_str_label(x, key, v->u.s.ptr, v->u.s.len);
    case AV_BOOL:
        return pe_str_label(x, key, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
    case AV_DOUBLE:
        n = snprintf(x->scratch, sizeof(x->scratch), "%.17g", v->u.d);
        return pe_str_label(x, key, x->scratch, (size_t)n);
    case AV_BYTES:
        return pe_bytes_label(x, key, v->u.s);
    case AV_INT:
        memset(&l, 0, sizeof(l));
        l.key = key;
        l.key_kind = pe_key_kind(x, key);
        l.is_num = 1;
        l.num = v->u.i;
        l.unit = (uint32_t)unit;
        return pe_push_label(x, &l);
    case AV_ARRAY:
        for (i = 0; i < v->u.arr.n && rc == PC_OK; i++) {
            rc = pe_value_labels(x, key, unit, &v->u.arr.items[i], depth + 1);
        }
        return rc;
    case AV_KVLIST:
        for (i = 0; i < v->u.kv.n && rc == PC_OK; i++) {
            rc = pe_kv_labels(x, key, unit, &v->u.kv.items[i], depth);
        }
        return rc;
    default:
        return PC_OK;
    }
}

/* Converts dictionary attr a into label records, once. */
static int pe_attr_run(struct pe *x, int32_t a)
{
    const struct attr *at;
    struct pe_run *r;
    int rc;

    if (a < 0 || (uint32_t)a >= x->d->nattrs) {
        return pe_bad(x, "attribute index", a);
    }
    r = &x->attr_runs[a];
    if (r->first != PE_NONE) {
        return PC_OK;
    }
    at = &x->d->attrs[a];
    rc = pe_use_string(x, at->key);
    /* Arrays and kvlists of ints carry the unit too. */
    if (rc == PC_OK && at->unit != 0) {
        rc = pe_use_string(x, at->unit);
    }
    if (rc != PC_OK) {
        return rc;
    }
    r->first = x->nlabels;
    rc = pe_value_labels(x, (uint32_t)at->key, at->unit, &at->value, 0);
    r->n = x->nlabels - r->first;
    return rc;
}

/* Whether sample s already has a label with this key kind. */
static int pe_sample_has_key(const struct pe *x, const struct sample *s,
                             uint8_t kind)
{
    uint32_t i, j;

    for (i = 0; i < s->nattrs; i++) {
        const struct pe_run *r = &x->attr_runs[s->attrs[i]];
        for (j = 0; j < r->n; j++) {
            if (x->labels[r->first + j].key_kind == kind) {
                return 1;
            }
        }
    }
    return 0;
}

static int pe_link_label(struct pe *x, const uint8_t *id, size_t n,
                         uint8_t kind, struct pe_run *r)
{
    static const uint8_t zero[16];
    uint32_t *keyref = kind == PE_KEY_TRACE ? &x->ref_trace : &x->ref_span;
    char hex[32];
    int rc;

    r->first = x->nlabels;
    r->n = 0;
    if (memcmp(id, zero, n) == 0) {
        return PC_OK;
    }
    if (*keyref == PE_NONE) {
        rc = kind == PE_KEY_TRACE ? pe_str_ref(x, "trace_id", 8, keyref)
                                  : pe_str_ref(x, "span_id", 7, keyref);
        if (rc != PC_OK) {
            return rc;
        }
    }
    hex_encode(id, n, hex);
    rc = pe_str_label(x, *keyref, hex, n * 2);
    r->n = x->nlabels - r->first;
    return rc;
}

/* Label records for the link of s, made when first needed. */
static int pe_link_runs(struct pe *x, const struct sample *s)
{
    const struct link *lk;
    struct pe_run *r;
    int rc = PC_OK;

    if (s->link == 0) {
        return PC_OK;
    }
    if (s->link < 0 || (uint32_t)s->link >= x->d->nlinks) {
        return pe_bad(x, "link index", s->link);
    }
    lk = &x->d->links[s->link];
    r = &x->link_runs[2 * (size_t)s->link];
    if (r[0].first == PE_NONE && !pe_sample_has_key(x, s, PE_KEY_TRACE)) {
        rc = pe_link_label(x, lk->trace_id, 16, PE_KEY_TRACE, &r[0]);
    }
    if (rc == PC_OK && r[1].first == PE_NONE &&
        !pe_sample_has_key(x, s, PE_KEY_SPAN)) {
        rc = pe_link_label(x, lk->span_id, 8, PE_KEY_SPAN, &r[1]);
    }
    return rc;
}

/* ---- marking ------------------------------------------------------------ */

static int pe_use_mapping(struct pe *x, int32_t m)
{
    const struct mapping *mp;
    int rc;

    if (m == 0) {
        return PC_OK;
    }
    if (m < 0 || (uint32_t)m >= x->d->nmappings) {
        return pe_bad(x, "mapping index", m);
    }
    if (x->mmap[m] != 0) {
        return PC_OK;
    }
    x->mmap[m] = 1;
    mp = &x->d->mappings[m];
    rc = pe_use_string(x, mp->filename);
    return rc != PC_OK ? rc : pe_use_string(x, mp->build_id);
}

static int pe_use_function(struct pe *x, int32_t f)
{
    const struct function *fn;
    int rc;

    if (f == 0) {
        /* OTLP's function_table[0] is a real (empty) function; pprof has no
         * "none" for a line, google/pprof rejects a line without one. */
        x->fn0_used = x->d->nfunctions > 0;
        return PC_OK;
    }
    if (f < 0 || (uint32_t)f >= x->d->nfunctions) {
        return pe_bad(x, "function index", f);
    }
    if (x->fmap[f] != 0) {
        return PC_OK;
    }
    x->fmap[f] = 1;
    fn = &x->d->functions[f];
    rc = pe_use_string(x, fn->name);
    if (rc == PC_OK) {
        rc = pe_use_string(x, fn->system_name);
    }
    return rc != PC_OK ? rc : pe_use_string(x, fn->filename);
}

static int pe_use_location(struct pe *x, int32_t l)
{
    const struct location *lo;
    uint32_t i;
    int rc;

    if (l < 0 || (uint32_t)l >= x->d->nlocations) {
        return pe_bad(x, "location index", l);
    }
    if (l == 0 || x->lmap[l] != 0) {
        return PC_OK;
    }
    x->lmap[l] = 1;
    lo = &x->d->locations[l];
    rc = pe_use_mapping(x, lo->mapping);
    for (i = 0; i < lo->nlines && rc == PC_OK; i++) {
        rc = pe_use_function(x, lo->lines[i].function);
    }
    return rc;
}

static int pe_mark_sample(struct pe *x, const struct sample *s)
{
    const struct stack *st;
    const int32_t *lmap;
    uint32_t i, nlocs, top;
    int rc = PC_OK;

    if (s->stack < 0 || (uint32_t)s->stack >= x->d->nstacks) {
        return pe_bad(x, "stack index", s->stack);
    }
    st = &x->d->stacks[s->stack];
    /* Loop invariants in locals: the calls below could, for all the
     * compiler knows, change them, and this loop runs once per frame. A
     * lone profile has every location marked already (pe_mark): its
     * frames need only a range check, which pe_stack_write makes. */
    nlocs = x->lone ? 0 : st->n;
    lmap = x->lmap;
    top = x->d->nlocations != 0 ? x->d->nlocations - 1 : 0;
    for (i = 0; i < nlocs; i++) {
        uint32_t l = (uint32_t)stack_loc(st, i);
        /* Most locations are marked already (always, for a lone profile);
         * l - 1 < top: 0 < l < nlocations. */
        if (l - 1 < top && lmap[l] != 0) {
            continue;
        }
        rc = pe_use_location(x, (int32_t)l);
        if (rc != PC_OK) {
            return rc;
        }
    }
    for (i = 0; i < s->nattrs && rc == PC_OK; i++) {
        rc = pe_attr_run(x, s->attrs[i]);
    }
    if (rc == PC_OK) {
        rc = pe_link_runs(x, s);
    }
    if (rc == PC_OK && x->p->nsample_types > 1 &&
        s->nvalues != x->p->nsample_types) {
        rc = err_set(x->e, PC_EINVAL,
                     "pprof encode: sample has %u values "
                     "for %u sample types",
                     s->nvalues, x->p->nsample_types);
    }
    return rc;
}

static int pe_mark_header(struct pe *x)
{
    const struct profile *p = x->p;
    int32_t idx[7];
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < p->nsample_types && rc == PC_OK; i++) {
        rc = pe_use_string(x, p->sample_types[i].type);
        if (rc == PC_OK) {
            rc = pe_use_string(x, p->sample_types[i].unit);
        }
    }
    for (i = 0; i < p->ncomments && rc == PC_OK; i++) {
        rc = pe_use_string(x, p->comments[i]);
    }
    idx[0] = p->default_sample_type;
    idx[1] = p->period_type.type;
    idx[2] = p->period_type.unit;
    idx[3] = p->drop_frames;
    idx[4] = p->keep_frames;
    idx[5] = p->doc_url;
    idx[6] = 0;
    for (i = 0; i < 7 && rc == PC_OK; i++) {
        rc = pe_use_string(x, idx[i]);
    }
    return rc;
}

static int pe_mark(struct pe *x)
{
    const struct dict *d = x->d;
    uint32_t i;
    int rc = pe_mark_header(x);

    /* A pprof of its own keeps unreferenced entries (a Go profile lists
     * every mapping of the process); a profile sharing a dictionary with
     * others takes only what it references. */
    x->lone = pdata_profile_count(x->pd) == 1;
    if (x->lone) {
        for (i = 1; i < d->nlocations && rc == PC_OK; i++) {
            rc = pe_use_location(x, (int32_t)i);
        }
        for (i = 1; i < d->nmappings && rc == PC_OK; i++) {
            rc = pe_use_mapping(x, (int32_t)i);
        }
        for (i = 1; i < d->nfunctions && rc == PC_OK; i++) {
            rc = pe_use_function(x, (int32_t)i);
        }
    }
    for (i = 0; i < x->p->nsamples && rc == PC_OK; i++) {
        rc = pe_mark_sample(x, &x->p->samples[i]);
    }
    return rc;
}

/* Turns marks into new ids 1..N in table order. */
static int32_t pe_number(int32_t *map, uint32_t n)
{
    int32_t k = 0;
    uint32_t i;

    map[0] = 0; /* index 0 is "none" and stays 0 */
    for (i = 1; i < n; i++) {
        if (map[i] != 0) {
            map[i] = ++k;
        }
    }
    return k;
}

/* ---- writing ------------------------------------------------------------ */

static int pe_put_nz(struct buf *b, uint32_t field, uint64_t v)
{
    return v == 0 ? PC_OK : pb_put_uint(b, field, v);
}

static int pe_value_type(struct pe *x, struct buf *b, uint32_t field,
                         const struct value_type *vt)
{
    int32_t t = x->smap[vt->type], u = x->smap[vt->unit];
    size_t mark = 0;
    int rc = pb_msg_begin(b, field, &mark);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 1, (uint64_t)t);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 2, (uint64_t)u);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_label_write(struct pe *x, struct buf *b,
                          const struct pe_label *l)
{
    size_t mark = 0;
    int rc = pb_msg_begin(b, 3, &mark);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 1, (uint64_t)pe_final_str(x, l->key));
    }
    if (rc == PC_OK && !l->is_num) {
        rc = pe_put_nz(b, 2, (uint64_t)pe_final_str(x, l->str));
    }
    if (rc == PC_OK && l->is_num) {
        rc = pe_put_nz(b, 3, (uint64_t)l->num);
    }
    if (rc == PC_OK && l->is_num) {
        rc = pe_put_nz(b, 4, (uint64_t)x->smap[l->unit]);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_run_write(struct pe *x, struct buf *b, const struct pe_run *r)
{
    uint32_t i;
    int rc = PC_OK;

    if (r->first == PE_NONE) {
        return PC_OK;
    }
    for (i = 0; i < r->n && rc == PC_OK; i++) {
        rc = pe_label_write(x, b, &x->labels[r->first + i]);
    }
    return rc;
}

/*
 * Packed location ids of a stack (frames at location 0 are skipped). One
 * pass: the ids are written after a one-byte length, which is widened (and
 * the ids moved) in the rare case the run is 128 bytes or longer.
 */
static int pe_stack_write(struct pe *x, struct buf *b, const struct stack *st)
{
    const int32_t *lmap, *locs;
    const uint16_t *locs16;
    size_t start, body, lsz;
    uint32_t i, n, nloc = x->d->nlocations;
    uint8_t *w;
    int rc;

    if (st->n == 0) {
        return PC_OK;
    }
    rc = buf_reserve(b, (size_t)st->n * 5 + 12);
    if (rc != PC_OK) {
        return rc;
    }
    b->data[b->len++] = (1 << 3) | PB_LEN;
    start = ++b->len;
    w = b->data + start;
    /* The stores through w may alias anything for the compiler: the loop
     * reads its invariants from locals. */
    n = st->n;
    lmap = x->lmap;
    locs = st->narrow ? NULL : st->locs;
    locs16 = st->narrow ? st->locs16 : NULL;
    for (i = 0; i < n; i++) {
        int32_t l = locs16 != NULL ? (int32_t)locs16[i] : locs[i];
        uint32_t id;
        /* Checked here, not only when marking: a lone profile's frames
         * are not marked one by one (pe_mark_sample). */
        if ((uint32_t)l >= nloc) {
            return pe_bad(x, "location index", l);
        }
        id = (uint32_t)lmap[l];
        /* Ids of one and two bytes (below 16384) are most, written here
         * without the general varint loop. */
        if (l == 0) {
            continue;
        }
        if (id < 0x80) {
            *w++ = (uint8_t)id;
        } else if (id < 0x4000) {
            w[0] = (uint8_t)(id | 0x80);
            w[1] = (uint8_t)(id >> 7);
            w += 2;
        } else {
            w += pb_encode_varint(w, id);
        }
    }
    body = (size_t)(w - (b->data + start));
    if (body == 0) {
        b->len -= 2;
        return PC_OK;
    }
    lsz = pb_varint_size(body);
    if (lsz > 1) {
        memmove(b->data + start + lsz - 1, b->data + start, body);
    }
    pb_encode_varint(b->data + start - 1, body);
    b->len = start - 1 + lsz + body;
    return PC_OK;
}

/* With one sample type a sample's values are per-event: pprof gets their
 * sum, or one count per timestamp when there are no values. */
static int pe_values_write(struct pe *x, struct buf *b, const struct sample *s)
{
    const int64_t *v = s->values;
    uint32_t nv = s->nvalues, i;
    uint64_t one;
    size_t n = 0;
    int rc;

    if (x->p->nsample_types == 1) {
        one = nv == 0 ? s->nts : 0;
        for (i = 0; i < nv; i++) {
            one += (uint64_t)v[i];
        }
        v = (const int64_t *)&one;
        nv = 1;
    }
    for (i = 0; i < nv; i++) {
        n += pb_varint_size((uint64_t)v[i]);
    }
    if (n == 0) {
        return PC_OK;
    }
    rc = buf_reserve(b, n + 11);
    if (rc != PC_OK) {
        return rc;
    }
    b->data[b->len++] = (2 << 3) | PB_LEN;
    b->len += pb_encode_varint(b->data + b->len, n);
    for (i = 0; i < nv; i++) {
        b->len += pb_encode_varint(b->data + b->len, (uint64_t)v[i]);
    }
    return PC_OK;
}

static int pe_sample_write(struct pe *x, struct buf *b, const struct sample *s)
{
    size_t mark = 0;
    uint32_t i;
    int rc = pb_msg_begin(b, 2, &mark);

    if (rc == PC_OK) {
        rc = pe_stack_write(x, b, &x->d->stacks[s->stack]);
    }
    if (rc == PC_OK) {
        rc = pe_values_write(x, b, s);
    }
    for (i = 0; i < s->nattrs && rc == PC_OK; i++) {
        rc = pe_run_write(x, b, &x->attr_runs[s->attrs[i]]);
    }
    /* The link's labels are shared by samples with that link, but a sample
     * with its own trace_id / span_id label keeps only that one. */
    if (rc == PC_OK && s->link != 0 &&
        !pe_sample_has_key(x, s, PE_KEY_TRACE)) {
        rc = pe_run_write(x, b, &x->link_runs[2 * (size_t)s->link]);
    }
    if (rc == PC_OK && s->link != 0 && !pe_sample_has_key(x, s, PE_KEY_SPAN)) {
        rc = pe_run_write(x, b, &x->link_runs[2 * (size_t)s->link + 1]);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_mapping_write(struct pe *x, struct buf *b, uint32_t i)
{
    const struct mapping *m = &x->d->mappings[i];
    size_t mark = 0;
    int rc = pb_msg_begin(b, 3, &mark);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 1, (uint64_t)x->mmap[i]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 2, m->memory_start);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 3, m->memory_limit);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 4, m->file_offset);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 5, (uint64_t)x->smap[m->filename]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 6, (uint64_t)x->smap[m->build_id]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 7, (m->flags & MAPPING_HAS_FUNCTIONS) != 0);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 8, (m->flags & MAPPING_HAS_FILENAMES) != 0);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 9, (m->flags & MAPPING_HAS_LINE_NUMBERS) != 0);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 10, (m->flags & MAPPING_HAS_INLINE_FRAMES) != 0);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_line_write(struct pe *x, struct buf *b, const struct line *ln)
{
    size_t mark = 0;
    int rc = pb_msg_begin(b, 4, &mark);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 1, (uint64_t)x->fmap[ln->function]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 2, (uint64_t)ln->line);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 3, (uint64_t)ln->column);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_location_write(struct pe *x, struct buf *b, uint32_t i)
{
    const struct location *l = &x->d->locations[i];
    size_t mark = 0;
    uint32_t j;
    int rc = pb_msg_begin(b, 4, &mark);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 1, (uint64_t)x->lmap[i]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 2, (uint64_t)x->mmap[l->mapping]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 3, l->address);
    }
    for (j = 0; j < l->nlines && rc == PC_OK; j++) {
        rc = pe_line_write(x, b, &l->lines[j]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 5, l->is_folded != 0);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_function_write(struct pe *x, struct buf *b, uint32_t i)
{
    const struct function *f = &x->d->functions[i];
    size_t mark = 0;
    int rc = pb_msg_begin(b, 5, &mark);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 1, (uint64_t)x->fmap[i]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 2, (uint64_t)x->smap[f->name]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 3, (uint64_t)x->smap[f->system_name]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 4, (uint64_t)x->smap[f->filename]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 5, (uint64_t)f->start_line);
    }
    return rc != PC_OK ? rc : pb_msg_end(b, mark);
}

static int pe_tables_write(struct pe *x, struct buf *b)
{
    const struct dict *d = x->d;
    uint32_t i;
    int rc = PC_OK;

    for (i = 1; i < d->nmappings && rc == PC_OK; i++) {
        rc = x->mmap[i] != 0 ? pe_mapping_write(x, b, i) : PC_OK;
    }
    for (i = 1; i < d->nlocations && rc == PC_OK; i++) {
        rc = x->lmap[i] != 0 ? pe_location_write(x, b, i) : PC_OK;
    }
    for (i = 1; i < d->nfunctions && rc == PC_OK; i++) {
        rc = x->fmap[i] != 0 ? pe_function_write(x, b, i) : PC_OK;
    }
    if (rc == PC_OK && x->fn0_used) {
        rc = pe_function_write(x, b, 0);
    }
    return rc;
}

static int pe_strings_write(struct pe *x, struct buf *b)
{
    const struct dict *d = x->d;
    uint32_t i;
    int rc = pb_put_bytes(b, 6, "", 0);

    for (i = 1; i < d->nstrings && rc == PC_OK; i++) {
        if (x->smap[i] != 0) {
            rc = pb_put_bytes(b, 6, d->strings[i].ptr, d->strings[i].len);
        }
    }
    for (i = 0; i < x->nx && rc == PC_OK; i++) {
        rc = pb_put_bytes(b, 6, x->xbytes.data + x->xoff[i], x->xlen[i]);
    }
    return rc;
}

static int pe_comments_write(struct pe *x, struct buf *b)
{
    const struct profile *p = x->p;
    size_t n = 0;
    uint32_t i;
    int rc;

    for (i = 0; i < p->ncomments; i++) {
        n += pb_varint_size((uint64_t)x->smap[p->comments[i]]);
    }
    if (n == 0) {
        return PC_OK;
    }
    rc = pb_put_tag(b, 13, PB_LEN);
    if (rc == PC_OK) {
        rc = pb_put_varint(b, n);
    }
    for (i = 0; i < p->ncomments && rc == PC_OK; i++) {
        rc = pb_put_varint(b, (uint64_t)x->smap[p->comments[i]]);
    }
    return rc;
}

static int pe_header_write(struct pe *x, struct buf *b)
{
    const struct profile *p = x->p;
    int rc = pe_put_nz(b, 7, (uint64_t)x->smap[p->drop_frames]);

    if (rc == PC_OK) {
        rc = pe_put_nz(b, 8, (uint64_t)x->smap[p->keep_frames]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 9, (uint64_t)p->time_nanos);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 10, (uint64_t)p->duration_nanos);
    }
    if (rc == PC_OK &&
        (p->period_type.type != 0 || p->period_type.unit != 0)) {
        rc = pe_value_type(x, b, 11, &p->period_type);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 12, (uint64_t)p->period);
    }
    if (rc == PC_OK) {
        rc = pe_comments_write(x, b);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 14, (uint64_t)x->smap[p->default_sample_type]);
    }
    if (rc == PC_OK) {
        rc = pe_put_nz(b, 15, (uint64_t)x->smap[p->doc_url]);
    }
    return rc;
}

static int pe_write(struct pe *x, struct buf *b)
{
    const struct profile *p = x->p;
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < p->nsample_types && rc == PC_OK; i++) {
        rc = pe_value_type(x, b, 1, &p->sample_types[i]);
    }
    for (i = 0; i < p->nsamples && rc == PC_OK; i++) {
        rc = pe_sample_write(x, b, &p->samples[i]);
    }
    if (rc == PC_OK) {
        rc = pe_tables_write(x, b);
    }
    if (rc == PC_OK) {
        rc = pe_strings_write(x, b);
    }
    if (rc == PC_OK) {
        rc = pe_header_write(x, b);
    }
    /* PC_EINVAL is a bad model, which pe_bad described (a lone profile's
     * frames are checked as they are written); the rest is the output's. */
    if (rc != PC_OK && rc != PC_EINVAL) {
        return err_set(x->e, rc, "pprof encode: output: %s", pc_strerror(rc));
    }
    return rc;
}

/* ---- entry points ------------------------------------------------------- */

static int pe_init(struct pe *x)
{
    const struct dict *d = x->d;
    size_t i;

    x->smap = calloc(d->nstrings + 1, sizeof(*x->smap));
    x->mmap = calloc(d->nmappings + 1, sizeof(*x->mmap));
    x->lmap = calloc(d->nlocations + 1, sizeof(*x->lmap));
    x->fmap = calloc(d->nfunctions + 1, sizeof(*x->fmap));
    x->attr_runs = malloc((d->nattrs + 1) * sizeof(*x->attr_runs));
    x->link_runs = malloc((2 * (size_t)d->nlinks + 2) * sizeof(*x->link_runs));
    buf_init(&x->xbytes, 0);
    x->ref_trace = x->ref_span = PE_NONE;
    if (!x->smap || !x->mmap || !x->lmap || !x->fmap || !x->attr_runs ||
        !x->link_runs || itab_init(&x->xhash, 64) != PC_OK) {
        return pe_nomem(x);
    }
    x->has_xhash = 1;
    for (i = 0; i <= d->nattrs; i++) {
        x->attr_runs[i].first = PE_NONE;
        x->attr_runs[i].n = 0;
    }
    for (i = 0; i < 2 * (size_t)d->nlinks + 2; i++) {
        x->link_runs[i].first = PE_NONE;
        x->link_runs[i].n = 0;
    }
    return PC_OK;
}

static void pe_free(struct pe *x)
{
    free(x->smap);
    free(x->mmap);
    free(x->lmap);
    free(x->fmap);
    free(x->attr_runs);
    free(x->link_runs);
    free(x->labels);
    free(x->xoff);
    free(x->xlen);
    buf_free(&x->xbytes);
    if (x->has_shash) {
        itab_free(&x->shash);
    }
    if (x->has_xhash) {
        itab_free(&x->xhash);
    }
}

int pprof_encode(const struct pdata *pd, const struct profile *p,
                 struct buf *out, struct errctx *e)
{
    size_t start = out->len;
    struct pe x;
    int32_t nfn;
    int rc;

    if (pd == NULL || p == NULL || pd->dict.nstrings == 0) {
        return err_set(e, PC_EINVAL,
                       "pprof encode: no profile or empty "
                       "dictionary");
    }
    memset(&x, 0, sizeof(x));
    x.pd = pd;
    x.d = &pd->dict;
    x.p = p;
    x.e = e;
    rc = pe_init(&x);
    if (rc == PC_OK) {
        rc = pe_mark(&x);
    }
    if (rc == PC_OK) {
        pe_number(x.mmap, x.d->nmappings);
        pe_number(x.lmap, x.d->nlocations);
        nfn = pe_number(x.fmap, x.d->nfunctions);
        x.fmap[0] = x.fn0_used ? nfn + 1 : 0;
        x.sbase = pe_number(x.smap, x.d->nstrings) + 1;
        rc = pe_write(&x, out);
    }
    pe_free(&x);
    if (rc != PC_OK) {
        out->len = start;
    }
    return rc;
}

int pprof_encode_gz(const struct pdata *pd, const struct profile *p, int level,
                    struct buf *out, struct errctx *e)
{
    struct buf tmp;
    int rc;

    buf_init(&tmp, out->max);
    rc = pprof_encode(pd, p, &tmp, e);
    if (rc == PC_OK) {
        rc = gz_compress(tmp.data, tmp.len, out, level);
        if (rc != PC_OK) {
            err_set(e, rc, "pprof encode: gzip: %s", pc_strerror(rc));
        }
    }
    buf_free(&tmp);
    return rc;
}
