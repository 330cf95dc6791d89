/*
 * pyroscope_labels.c: the Pyroscope label set of an item, and grouping of
 * a batch's items by tenant (see pyroscope_labels.h).
 *
 * Label text lives in one growable buffer and labels refer to it by offset,
 * so one pyro_labels is reused for every series of an export without a
 * malloc per label.
 */
#include "exporters/pyroscope/pyroscope_labels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/series.h"

#define PYRO_LABEL_TEXT_MAX ((size_t)1 << 20)

void pyro_labels_init(struct pyro_labels *l)
{
    memset(l, 0, sizeof(*l));
    buf_init(&l->text, PYRO_LABEL_TEXT_MAX);
}

void pyro_labels_free(struct pyro_labels *l)
{
    buf_free(&l->text);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void pyro_labels_reset(struct pyro_labels *l)
{
    buf_reset(&l->text);
    l->n = 0;
}

static int find(const struct pyro_labels *l, const char *name)
{
    uint32_t i;

    for (i = 0; i < l->n; i++) {
        if (strcmp(pyro_label_name(l, i), name) == 0) {
            return (int)i;
        }
    }
    return -1;
}

const char *pyro_labels_get(const struct pyro_labels *l, const char *name)
{
    int i = find(l, name);

    return i < 0 ? NULL : pyro_label_value(l, (uint32_t)i);
}

static int put_text(struct buf *t, const char *s, size_t n, size_t *off)
{
    int rc;

    *off = t->len;
    rc = buf_append(t, s, n);
    return rc == PC_OK ? buf_putc(t, '\0') : rc;
}

/*
 * Adds name=value; an existing label of that name is kept (replace == 0)
 * or given the new value (replace == 1).
 */
static int add(struct pyro_labels *l, const char *name, const char *value,
               size_t vlen, int replace)
{
    int at = find(l, name);
    struct pyro_label lab;
    int rc;

    if (at >= 0 && !replace) {
        return PC_OK;
    }
    rc = put_text(&l->text, value, vlen, &lab.value);
    lab.value_len = (uint32_t)vlen;
    if (rc == PC_OK && at >= 0) {
        l->v[at].value = lab.value;
        l->v[at].value_len = lab.value_len;
        return PC_OK;
    }
    if (rc == PC_OK) {
        rc = put_text(&l->text, name, strlen(name), &lab.name);
    }
    if (rc == PC_OK && l->n == l->cap) {
        uint32_t cap = l->cap ? l->cap * 2 : 16;
        struct pyro_label *nv = realloc(l->v, cap * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        l->v = nv;
        l->cap = cap;
    }
    if (rc == PC_OK) {
        l->v[l->n++] = lab;
    }
    return rc;
}

/* Internal or mapped elsewhere: not copied as an ordinary label. */
static int skip_attr(struct pstr key)
{
    return series_internal(key) || pstr_eq(key, SERIES_SERVICE_ATTR) ||
           pstr_eq(key, "service_name");
}

static int add_attrs(const struct item *it, struct pyro_labels *l)
{
    struct buf v;
    char name[256];
    uint32_t i;
    int rc = PC_OK;

    buf_init(&v, PYRO_LABEL_TEXT_MAX);
    for (i = 0; i < it->nattrs && rc == PC_OK; i++) {
        struct pstr key = it->attrs[i].key;
        if (skip_attr(key)) {
            continue;
        }
        series_label_name(key.ptr, key.len, name, sizeof(name));
        buf_reset(&v);
        rc = series_value_text(&it->attrs[i].value, &v);
        if (rc == PC_OK) {
            rc = add(l, name, (const char *)v.data ? (const char *)v.data : "",
                     v.len, 0);
        }
    }
    buf_free(&v);
    return rc;
}

static int cmp_name(const void *a, const void *b, void *arg)
{
    const struct pyro_labels *l = arg;
    const struct pyro_label *x = a, *y = b;

    return strcmp((const char *)l->text.data + x->name,
                  (const char *)l->text.data + y->name);
}

/* A value as text, for __name__ / __delta__ attributes of any type. */
static int attr_text(const struct item *it, const char *key, struct buf *out)
{
    const struct anyvalue *v = item_attr(it, key);

    if (v == NULL) {
        return 0;
    }
    buf_reset(out);
    return series_value_text(v, out) == PC_OK && out->len > 0;
}

static int add_identity(const struct item *it, const char *profile_name,
                        int is_delta, struct pyro_labels *l)
{
    struct pstr svc = series_service(it);
    struct buf t;
    int rc;

    buf_init(&t, PYRO_LABEL_TEXT_MAX);
    if (attr_text(it, SERIES_NAME_ATTR, &t)) {
        rc = add(l, "__name__", (const char *)t.data, t.len, 1);
    } else {
        rc = add(l, "__name__", profile_name ? profile_name : "unknown",
                 profile_name ? strlen(profile_name) : 7, 1);
    }
    if (rc == PC_OK) {
        rc = add(l, "service_name", svc.ptr, svc.len, 1);
    }
    if (rc == PC_OK && attr_text(it, "__delta__", &t)) {
        rc = add(l, "__delta__", (const char *)t.data, t.len, 1);
    } else if (rc == PC_OK && is_delta) {
        rc = add(l, "__delta__", "false", 5, 1);
    }
    buf_free(&t);
    return rc;
}

int pyro_labels_build(const struct item *it, const char *profile_name,
                      int is_delta, const struct cfg_map *external,
                      struct pyro_labels *l)
{
    char name[256];
    uint32_t i;
    int rc;

    pyro_labels_reset(l);
    rc = add_identity(it, profile_name, is_delta, l);
    if (rc == PC_OK) {
        rc = add_attrs(it, l);
    }
    for (i = 0; rc == PC_OK && external != NULL && i < external->n; i++) {
        const char *k = external->keys[i];
        /* __name__ and __delta__ may be overridden as given; any other
         * name is made label-safe like attribute names. */
        if (strcmp(k, "__name__") == 0 || strcmp(k, "__delta__") == 0) {
            snprintf(name, sizeof(name), "%s", k);
        } else {
            series_label_name(k, strlen(k), name, sizeof(name));
        }
        rc = add(l, name, external->values[i], strlen(external->values[i]), 1);
    }
    if (rc == PC_OK && l->n > 1) {
        qsort_r(l->v, l->n, sizeof(*l->v), cmp_name, l);
    }
    return rc;
}

static int tenant_eq(struct pstr a, struct pstr b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

uint32_t pyro_group_by_tenant(const struct batch *b, const char *static_tenant,
                              uint32_t *order, uint32_t *group_end)
{
    uint32_t i, j, n = 0, ngroups = 0, start;

    if (b->nitems == 0) {
        return 0;
    }
    if (static_tenant != NULL && static_tenant[0] != '\0') {
        for (i = 0; i < b->nitems; i++) {
            order[i] = i;
        }
        group_end[0] = b->nitems;
        return 1;
    }
    /* Quadratic in the number of distinct tenants, which is small; a batch
     * comes from one receiver request, usually one tenant. */
    for (i = 0; i < b->nitems; i++) {
        int seen = 0;
        for (j = 0; j < i && !seen; j++) {
            seen = tenant_eq(b->items[j].tenant, b->items[i].tenant);
        }
        if (seen) {
            continue;
        }
        start = n;
        for (j = i; j < b->nitems; j++) {
            if (tenant_eq(b->items[j].tenant, b->items[i].tenant)) {
                order[n++] = j;
            }
        }
        if (n > start) {
            group_end[ngroups++] = n;
        }
    }
    return ngroups;
}
