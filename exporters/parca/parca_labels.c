/*
 * parca_labels.c: series labels and pprof checks of the `parca` exporter
 * (see parca_labels.h for the rules and why they are Parca's).
 */
#include "exporters/parca/parca_labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pb.h"
#include "component/series.h"

#define PARCA_TEXT_MAX ((size_t)1 << 20)

void parca_labelset_init(struct parca_labelset *ls)
{
    memset(ls, 0, sizeof(*ls));
    buf_init(&ls->text, PARCA_TEXT_MAX);
}

void parca_labelset_free(struct parca_labelset *ls)
{
    buf_free(&ls->text);
}

static int name_char(char c, int first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (!first && c >= '0' && c <= '9');
}

int parca_name_valid(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n >= PARCA_LABEL_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        if (!name_char(s[i], i == 0)) {
            return 0;
        }
    }
    return 1;
}

void parca_profile_name(const struct item *it, const struct dict *d,
                        const struct profile *p, char *out, size_t outlen)
{
    const struct anyvalue *v = item_attr(it, SERIES_NAME_ATTR);

    if (v != NULL && v->type == AV_STRING &&
        parca_name_valid(v->u.s.ptr, v->u.s.len) && v->u.s.len < outlen) {
        memcpy(out, v->u.s.ptr, v->u.s.len);
        out[v->u.s.len] = '\0';
        return;
    }
    series_profile_name(d, p, out, outlen);
}

static int ls_find(const struct parca_labelset *ls, const char *name)
{
    uint32_t i;

    for (i = 0; i < ls->n; i++) {
        if (strcmp(ls->l[i].name, name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

/* Adds name=value unless the name is taken or the value empty. */
static int ls_add(struct parca_labelset *ls, const char *name, const char *v,
                  size_t vlen)
{
    struct parca_label *l;
    int rc;

    if (vlen == 0 || ls_find(ls, name) >= 0) {
        return PC_OK;
    }
    if (ls->n == PARCA_MAX_LABELS) {
        ls->dropped++;
        return PC_OK;
    }
    l = &ls->l[ls->n];
    snprintf(l->name, sizeof(l->name), "%s", name);
    l->voff = ls->text.len;
    l->vlen = vlen;
    rc = buf_append(&ls->text, v, vlen);
    if (rc == PC_OK) {
        ls->n++;
    }
    return rc;
}

static int ls_add_attr(struct parca_labelset *ls, const struct keyvalue *kv,
                       struct buf *tmp)
{
    char name[PARCA_LABEL_NAME_MAX];
    int rc;

    if (series_internal(kv->key)) {
        return PC_OK; /* internal: __name__ is set apart, others dropped */
    }
    if (pstr_eq(kv->key, SERIES_SERVICE_ATTR)) {
        return PC_OK; /* became service_name */
    }
    series_label_name(kv->key.ptr, kv->key.len, name, sizeof(name));
    buf_reset(tmp);
    rc = series_value_text(&kv->value, tmp);
    if (rc != PC_OK) {
        return rc;
    }
    return ls_add(ls, name, (const char *)tmp->data, tmp->len);
}

static int ls_cmp(const void *a, const void *b)
{
    return strcmp(((const struct parca_label *)a)->name,
                  ((const struct parca_label *)b)->name);
}

int parca_labels_build(struct parca_labelset *ls, const struct item *it,
                       const char *profile_name,
                       const struct cfg_map *external)
{
    struct pstr svc = series_service(it);
    struct buf tmp;
    uint32_t i;
    int rc;

    ls->n = 0;
    ls->dropped = 0;
    buf_reset(&ls->text);
    buf_init(&tmp, PARCA_TEXT_MAX);
    rc = ls_add(ls, "__name__", profile_name, strlen(profile_name));
    if (rc == PC_OK) {
        rc = ls_add(ls, "service_name", svc.ptr, svc.len);
    }
    for (i = 0; rc == PC_OK && i < it->nattrs; i++) {
        rc = ls_add_attr(ls, &it->attrs[i], &tmp);
    }
    for (i = 0; rc == PC_OK && external != NULL && i < external->n; i++) {
        char name[PARCA_LABEL_NAME_MAX];
        const char *k = external->keys[i];
        series_label_name(k, strlen(k), name, sizeof(name));
        rc = ls_add(ls, name, external->values[i],
                    strlen(external->values[i]));
    }
    buf_free(&tmp);
    qsort(ls->l, ls->n, sizeof(ls->l[0]), ls_cmp);
    return rc;
}

const char *parca_label_value(const struct parca_labelset *ls,
                              const char *name, size_t *len)
{
    int i = ls_find(ls, name);

    if (i < 0) {
        return NULL;
    }
    *len = ls->l[i].vlen;
    return (const char *)ls->text.data + ls->l[i].voff;
}

int parca_labels_encode(const struct parca_labelset *ls, struct buf *out)
{
    size_t set = 0, lab = 0;
    uint32_t i;
    int rc = pb_msg_begin(out, 1, &set);

    for (i = 0; rc == PC_OK && i < ls->n; i++) {
        const struct parca_label *l = &ls->l[i];
        rc = pb_msg_begin(out, 1, &lab);
        if (rc == PC_OK) {
            rc = pb_put_bytes(out, 1, l->name, strlen(l->name));
        }
        if (rc == PC_OK) {
            rc = pb_put_bytes(out, 2, ls->text.data + l->voff, l->vlen);
        }
        if (rc == PC_OK) {
            rc = pb_msg_end(out, lab);
        }
    }
    return rc == PC_OK ? pb_msg_end(out, set) : rc;
}

/* ---- pprof check ---------------------------------------------------------- */

/* The id (field 1) of a Mapping / Location / Function message; 0 if none. */
static uint64_t msg_id(const uint8_t *p, const uint8_t *end)
{
    uint32_t f;
    unsigned w;
    uint64_t v;

    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return 0;
        }
        if (f == 1 && w == PB_VARINT) {
            return pb_read_varint(&p, end, &v) == PC_OK ? v : 0;
        }
        if (pb_skip(&p, end, w) != PC_OK) {
            return 0;
        }
    }
    return 0;
}

int parca_pprof_forwardable(const uint8_t *p, size_t len, int64_t *time_nanos)
{
    const uint8_t *end = p + len, *s;
    uint64_t next[3] = {1, 1, 1}, v;
    size_t n;
    uint32_t f;
    unsigned w;
    int strings = 0;

    *time_nanos = 0;
    while (p < end) {
        if (pb_read_tag(&p, end, &f, &w) != PC_OK) {
            return 0;
        }
        if (w == PB_LEN && f >= 3 && f <= 6) {
            if (pb_read_len(&p, end, &s, &n) != PC_OK) {
                return 0;
            }
            if (f == 6) {
                if (strings++ == 0 && n != 0) {
                    return 0; /* string_table[0] must be "" */
                }
            } else if (msg_id(s, s + n) != next[f - 3]++) {
                return 0; /* ids not 1..N in table order */
            }
        } else if (f == 9 && w == PB_VARINT) {
            if (pb_read_varint(&p, end, &v) != PC_OK) {
                return 0;
            }
            *time_nanos = (int64_t)v;
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return 0;
        }
    }
    return strings > 0;
}
