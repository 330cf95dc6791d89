/*
 * ddexp_group.c: a batch as Datadog uploads: profiles of one series go
 * together, each type once per upload (a second profile of a type starts
 * another upload: another window), each encoded as pprof and compressed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/compress.h"
#include "codec/pprof.h"
#include "component/series.h"
#include "model/pdata_iter.h"
#include "exporters/datadog/ddexp.h"

static uint32_t public_attrs(const struct item *it)
{
    uint32_t i, n = 0;

    for (i = 0; i < it->nattrs; i++) {
        n += !series_internal(it->attrs[i].key);
    }
    return n;
}

/* Same series: the same attributes but the internal ones, and tenant. */
static int same_series(const struct item *a, const struct item *b)
{
    uint32_t i, k;

    if (a == b) {
        return 1;
    }
    if (!pstr_eqp(a->tenant, b->tenant) ||
        public_attrs(a) != public_attrs(b)) {
        return 0;
    }
    for (i = 0; i < a->nattrs; i++) {
        if (series_internal(a->attrs[i].key)) {
            continue;
        }
        for (k = 0; k < b->nattrs; k++) {
            if (pstr_eqp(a->attrs[i].key, b->attrs[k].key)) {
                break;
            }
        }
        if (k == b->nattrs ||
            !av_equal(&a->attrs[i].value, &b->attrs[k].value)) {
            return 0;
        }
    }
    return 1;
}

static const char *attr_str(const struct item *it, const char *key, char *buf,
                            size_t size)
{
    const struct anyvalue *v = item_attr(it, key);

    if (v == NULL || v->type != AV_STRING) {
        return NULL;
    }
    snprintf(buf, size, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    return buf;
}

/* The upload of item's series that has no attachment `name` yet. */
static struct ddexp_upload *upload_for(struct ddexp_uploads *us,
                                       const struct item *it, const char *name)
{
    struct ddexp_upload *u;
    char lang[32];
    uint32_t i, k;

    for (i = 0; i < us->n; i++) {
        u = &us->u[i];
        if (!same_series(u->item, it) || u->natt == DDEXP_MAX_ATTACH) {
            continue;
        }
        for (k = 0; k < u->natt && strcmp(u->att[k].name, name) != 0; k++) {
        }
        if (k == u->natt) {
            return u;
        }
    }
    if (us->n == us->cap) {
        uint32_t cap = us->cap ? us->cap * 2 : 8;
        void *p = realloc(us->u, cap * sizeof(*us->u));
        if (p == NULL) {
            return NULL;
        }
        us->u = p;
        us->cap = cap;
    }
    u = &us->u[us->n++];
    memset(u, 0, sizeof(*u));
    u->item = it;
    u->start_ns = INT64_MAX;
    snprintf(u->family, sizeof(u->family), "%s",
             ddexp_family(attr_str(it, "telemetry.sdk.language", lang,
                                   sizeof(lang))));
    return u;
}

/* The pprof of p, compressed as configured, into out. */
static int encode(const struct pdata *pd, const struct profile *p, int comp,
                  size_t max, struct buf *out, struct errctx *e)
{
    struct buf raw;
    int rc;

    buf_init(&raw, max);
    rc = pprof_encode(pd, p, &raw, e);
    if (rc == PC_OK) {
        switch (comp) {
        case DDEXP_ZSTD:
            rc = zstd_compress(raw.data, raw.len, out, 2);
            break;
        case DDEXP_GZIP:
            rc = gz_compress(raw.data, raw.len, out, 1);
            break;
        default:
            rc = buf_append(out, raw.data, raw.len);
            break;
        }
    }
    buf_free(&raw);
    return rc;
}

/* The profile's name: the item's __name__ when it holds one profile,
 * otherwise the name Pyroscope would give each profile. */
static void profile_name(const struct item *it, const struct pdata *pd,
                         const struct profile *p, char *out, size_t size)
{
    if (it->nprofiles == 1 && attr_str(it, SERIES_NAME_ATTR, out, size)) {
        return;
    }
    series_profile_name(&pd->dict, p, out, size);
}

static int add_profile(struct ddexp_uploads *us, const struct item *it,
                       const struct pdata *pd, const struct profile *p,
                       int comp, size_t max, struct errctx *e)
{
    struct ddexp_upload *u;
    struct ddexp_attach *a;
    char name[64], att[64], lang[32];
    int64_t t = p->time_nanos > 0 ? p->time_nanos : (int64_t)it->received_ns;
    int rc;

    profile_name(it, pd, p, name, sizeof(name));
    ddexp_attach_name(ddexp_family(attr_str(it, "telemetry.sdk.language", lang,
                                            sizeof(lang))),
                      name, att, sizeof(att));
    u = upload_for(us, it, att);
    if (u == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    a = &u->att[u->natt];
    snprintf(a->name, sizeof(a->name), "%s", att);
    buf_init(&a->data, max);
    rc = encode(pd, p, comp, max, &a->data, e);
    if (rc != PC_OK) {
        buf_free(&a->data);
        if (u->natt == 0) {
            us->n--; /* the upload was made for it */
        }
        return rc;
    }
    u->natt++;
    u->start_ns = t < u->start_ns ? t : u->start_ns;
    t += p->duration_nanos > 0 ? p->duration_nanos : 0;
    u->end_ns = t > u->end_ns ? t : u->end_ns;
    return PC_OK;
}

/* The payload of it as Datadog names its labels: the shared one, or a
 * rewritten copy in *copy (the caller frees it). */
static int payload(const struct item *it, const struct pdata **pd,
                   struct pdata **copy)
{
    *pd = it->pd->pd;
    *copy = NULL;
    if (!ddexp_labels_wanted(*pd)) {
        return PC_OK;
    }
    if ((*copy = pdata_clone(*pd)) == NULL) {
        return PC_ENOMEM;
    }
    *pd = *copy;
    return ddexp_labels_rewrite(*copy);
}

/* Every profile of one item into out; *bad counts those not encodable. */
static int add_item(struct ddexp_uploads *out, const struct item *it,
                    int compression, size_t max, uint32_t *bad,
                    struct errctx *e)
{
    const struct pdata *pd;
    struct pdata *copy;
    const struct profile *p;
    struct pdata_iter w;
    int rc = payload(it, &pd, &copy);

    if (rc == PC_OK) {
        pdata_iter_init(&w, pd, it->resource);
        while (rc != PC_ENOMEM && (p = pdata_iter_next(&w)) != NULL) {
            rc = add_profile(out, it, pd, p, compression, max, e);
            *bad += rc != PC_OK;
        }
    } else {
        rc = err_set(e, rc, "out of memory");
    }
    pdata_free(copy);
    return rc == PC_ENOMEM ? rc : PC_OK;
}

int ddexp_group(struct batch *b, int compression, size_t max,
                struct ddexp_uploads *out, uint32_t *bad, struct errctx *e)
{
    uint32_t i;
    int rc;

    *bad = 0;
    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        rc = batch_item_decode(b, it, e);
        if (rc != PC_OK) {
            *bad += it->nprofiles;
            continue;
        }
        if ((rc = add_item(out, it, compression, max, bad, e)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

void ddexp_uploads_free(struct ddexp_uploads *us)
{
    uint32_t i, k;

    for (i = 0; i < us->n; i++) {
        for (k = 0; k < us->u[i].natt; k++) {
            buf_free(&us->u[i].att[k].data);
        }
    }
    free(us->u);
    memset(us, 0, sizeof(*us));
}
