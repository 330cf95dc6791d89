/*
 * jfr_labels.c: the Pyroscope Java agent's `labels` part, a LabelsSnapshot
 * protobuf: contexts (context id -> {string id -> string id}) and strings
 * (string id -> text). Events carry a context id (and, from newer agents,
 * span and trace ids); each distinct combination becomes one set of sample
 * labels, built once and reused.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/jfr/jfr_conv.h"
#include "codec/pb.h"
#include "core/assert.h"

#define JFR_LABELS_MAX_ENTRIES (1u << 20)

struct snap_ent {
    uint64_t id;
    const uint8_t *p; /* Context message, or the string's bytes */
    size_t len;
};

struct labelset {
    struct jfr_ctx_key key;
    int32_t *attrs;
    uint32_t n;
};

struct jfr_labelsnap {
    struct snap_ent *ctx, *str;
    uint32_t nctx, nstr, cap_ctx, cap_str;
    struct labelset *sets;
    uint32_t nsets, cap_sets;
    struct itab idx;
};

static int cmp_ent(const void *a, const void *b)
{
    const struct snap_ent *x = a, *y = b;

    return x->id < y->id ? -1 : x->id > y->id;
}

static const struct snap_ent *find_ent(const struct snap_ent *v, uint32_t n,
                                       uint64_t id)
{
    struct snap_ent k = {id, NULL, 0};

    return n == 0 ? NULL : bsearch(&k, v, n, sizeof(*v), cmp_ent);
}

/* A map entry {1: int64 key, 2: value bytes or varint}. */
static int map_entry(const uint8_t *p, const uint8_t *end, uint64_t *key,
                     const uint8_t **val, size_t *vlen, uint64_t *vint)
{
    uint32_t field;
    unsigned wire;
    int rc = PC_OK;

    *key = 0;
    *val = NULL;
    *vlen = 0;
    *vint = 0;
    while (p < end && rc == PC_OK) {
        if ((rc = pb_read_tag(&p, end, &field, &wire)) != PC_OK) {
            break;
        }
        if (field == 1 && wire == PB_VARINT) {
            rc = pb_read_varint(&p, end, key);
        } else if (field == 2 && wire == PB_LEN) {
            rc = pb_read_len(&p, end, val, vlen);
        } else if (field == 2 && wire == PB_VARINT) {
            rc = pb_read_varint(&p, end, vint);
        } else {
            rc = pb_skip(&p, end, wire);
        }
    }
    return rc;
}

static int push_ent(struct snap_ent **v, uint32_t *n, uint32_t *cap,
                    const struct snap_ent *e)
{
    if (*n >= JFR_LABELS_MAX_ENTRIES) {
        return PC_ETOOBIG;
    }
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 64;
        struct snap_ent *nv = realloc(*v, nc * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = *e;
    return PC_OK;
}

int jfr_labels_parse(const uint8_t *p, size_t len, struct jfr_labelsnap **out,
                     struct errctx *e)
{
    /* p may be NULL with len 0: an empty snapshot still caches span labels */
    const uint8_t *end = p + len, *body;
    struct jfr_labelsnap *s = calloc(1, sizeof(*s));
    struct snap_ent ent;
    uint32_t field;
    unsigned wire;
    size_t blen;
    uint64_t vint;
    int rc = s == NULL ? PC_ENOMEM : itab_init(&s->idx, 64);

    while (rc == PC_OK && p < end) {
        if ((rc = pb_read_tag(&p, end, &field, &wire)) != PC_OK) {
            break;
        }
        if ((field != 1 && field != 2) || wire != PB_LEN) {
            rc = pb_skip(&p, end, wire);
            continue;
        }
        if ((rc = pb_read_len(&p, end, &body, &blen)) != PC_OK ||
            (rc = map_entry(body, body + blen, &ent.id, &ent.p, &ent.len,
                            &vint)) != PC_OK) {
            break;
        }
        rc = field == 1 ? push_ent(&s->ctx, &s->nctx, &s->cap_ctx, &ent)
                        : push_ent(&s->str, &s->nstr, &s->cap_str, &ent);
    }
    if (rc != PC_OK) {
        jfr_labels_free(s);
        return err_set(e, rc, "jfr labels: not a LabelsSnapshot (%s)",
                       pc_strerror(rc));
    }
    if (s->nctx > 1) {
        qsort(s->ctx, s->nctx, sizeof(*s->ctx), cmp_ent);
    }
    if (s->nstr > 1) {
        qsort(s->str, s->nstr, sizeof(*s->str), cmp_ent);
    }
    *out = s;
    return PC_OK;
}

void jfr_labels_free(struct jfr_labelsnap *s)
{
    if (s == NULL) {
        return;
    }
    itab_free(&s->idx);
    free(s->ctx);
    free(s->str);
    free(s->sets);
    free(s);
}

static int add_label(struct jfr_conv *cv, const char *k, size_t kl,
                     const char *v, size_t vl, int32_t *attrs, uint32_t *n)
{
    struct attr a;
    int32_t ki, vi, ai;
    int rc;

    if ((rc = jfr_conv_string(cv, k, kl, &ki)) != PC_OK ||
        (rc = jfr_conv_string(cv, v, vl, &vi)) != PC_OK) {
        return rc;
    }
    memset(&a, 0, sizeof(a));
    a.key = ki;
    a.value.type = AV_STRING;
    a.value.u.s = cv->pd->dict.strings[vi];
    if ((ai = dict_add_attr(cv->pd, &a)) < 0) {
        return ai;
    }
    attrs[(*n)++] = ai;
    return PC_OK;
}

static const struct snap_ent *snap_str(const struct jfr_labelsnap *s,
                                       uint64_t id)
{
    return s == NULL ? NULL : find_ent(s->str, s->nstr, id);
}

/* The labels of context id ctx, at most max. */
static int context_labels(struct jfr_conv *cv, uint64_t ctx, int32_t *attrs,
                          uint32_t *n, uint32_t max)
{
    const struct jfr_labelsnap *s = cv->snap;
    const struct snap_ent *c = s ? find_ent(s->ctx, s->nctx, ctx) : NULL;
    const uint8_t *p, *end, *body, *val;
    uint64_t k, vid, vint;
    uint32_t field;
    unsigned wire;
    size_t blen, vlen;
    int rc = PC_OK;

    if (c == NULL || c->p == NULL) {
        return PC_OK;
    }
    for (p = c->p, end = c->p + c->len; p < end && rc == PC_OK && *n < max;) {
        if ((rc = pb_read_tag(&p, end, &field, &wire)) != PC_OK) {
            break;
        }
        if (field != 1 || wire != PB_LEN) {
            rc = pb_skip(&p, end, wire);
            continue;
        }
        rc = pb_read_len(&p, end, &body, &blen);
        if (rc == PC_OK) {
            rc = map_entry(body, body + blen, &k, &val, &vlen, &vid);
        }
        if (rc == PC_OK) {
            const struct snap_ent *ks = snap_str(s, k), *vs = snap_str(s, vid);
            (void)vint;
            if (ks != NULL && vs != NULL) {
                rc = add_label(cv, (const char *)ks->p, ks->len,
                               (const char *)vs->p, vs->len, attrs, n);
            }
        }
    }
    return rc;
}

static int build_set(struct jfr_conv *cv, const struct jfr_ctx_key *k,
                     struct labelset *ls)
{
    /* The context's labels, then at most five of the ids below. */
    int32_t attrs[64];
    uint32_t n = 0;
    char hex[40];
    const struct snap_ent *sn;
    int rc = context_labels(cv, k->context, attrs, &n, 59);

    if (rc == PC_OK && k->span != 0) {
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)k->span);
        rc = add_label(cv, "profile_id", 10, hex, 16, attrs, &n);
    }
    sn = k->span_name != 0 ? snap_str(cv->snap, k->span_name) : NULL;
    if (rc == PC_OK && sn != NULL && sn->len > 0) {
        rc = add_label(cv, "span_name", 9, (const char *)sn->p, sn->len, attrs,
                       &n);
    }
    if (rc == PC_OK && (k->trace_hi != 0 || k->trace_lo != 0)) {
        snprintf(hex, sizeof(hex), "%016llx%016llx",
                 (unsigned long long)k->trace_hi,
                 (unsigned long long)k->trace_lo);
        rc = add_label(cv, "trace_id", 8, hex, 32, attrs, &n);
    }
    if (rc == PC_OK && k->dd_span != 0) {
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)k->dd_span);
        rc = add_label(cv, "span_id", 7, hex, 16, attrs, &n);
    }
    if (rc == PC_OK && k->dd_root != 0) {
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)k->dd_root);
        rc = add_label(cv, "local_root_span_id", 18, hex, 16, attrs, &n);
    }
    if (rc != PC_OK) {
        return rc;
    }
    PC_ASSERT(n <= sizeof(attrs) / sizeof(attrs[0]));
    ls->key = *k;
    ls->n = n;
    ls->attrs = n ? arena_memdup(&cv->pd->arena, attrs, n * sizeof(int32_t))
                  : NULL;
    return n && ls->attrs == NULL ? PC_ENOMEM : PC_OK;
}

int jfr_labels_attrs(struct jfr_conv *cv, const struct jfr_ctx_key *k,
                     int32_t **attrs, uint32_t *n)
{
    struct jfr_labelsnap *s = cv->snap;
    struct itab_probe pr;
    uint64_t h;
    int32_t j;
    int rc;

    *attrs = NULL;
    *n = 0;
    if (k->context == 0 && k->span == 0 && k->span_name == 0 &&
        k->trace_hi == 0 && k->trace_lo == 0 && k->dd_span == 0 &&
        k->dd_root == 0) {
        return PC_OK;
    }
    h = jfr_mix64(k->context ^
                  jfr_mix64(k->span ^
                            jfr_mix64(k->span_name ^
                                      jfr_mix64(k->trace_hi ^
                                                jfr_mix64(k->trace_lo)))));
    h = jfr_mix64(h ^ jfr_mix64(k->dd_span ^ jfr_mix64(k->dd_root)));
    itab_probe_start(&s->idx, h, &pr);
    while ((j = itab_probe_next(&s->idx, &pr)) >= 0) {
        if (memcmp(&s->sets[j].key, k, sizeof(*k)) == 0) {
            *attrs = s->sets[j].attrs;
            *n = s->sets[j].n;
            return PC_OK;
        }
    }
    if (s->nsets == s->cap_sets) {
        uint32_t nc = s->cap_sets ? s->cap_sets * 2 : 64;
        struct labelset *nv = realloc(s->sets, nc * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        s->sets = nv;
        s->cap_sets = nc;
    }
    if ((rc = build_set(cv, k, &s->sets[s->nsets])) != PC_OK ||
        (rc = itab_insert(&s->idx, &pr, (int32_t)s->nsets)) != PC_OK) {
        return rc;
    }
    *attrs = s->sets[s->nsets].attrs;
    *n = s->sets[s->nsets++].n;
    return PC_OK;
}
