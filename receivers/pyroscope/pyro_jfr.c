/*
 * pyro_jfr.c: a JFR upload into one pdata per profile kind, each an item of
 * its own with its `__name__` (the batch holds them side by side).
 */
#include <stdio.h>
#include <string.h>

#include "codec/compress.h"
#include "model/limits.h"
#include "receivers/pyroscope/pyro.h"
#include "receivers/pyroscope/pyro_jfr.h"

/* data itself, or its gunzipped copy in b. */
static int maybe_gunzip(const uint8_t **data, size_t *len, size_t max,
                        struct buf *b, const char *what, struct errctx *e)
{
    int rc;

    if (!gz_is_gzip(*data, *len)) {
        return PC_OK;
    }
    rc = gz_decompress(*data, *len, b, max);
    if (rc != PC_OK) {
        return err_set(e, rc, "jfr: %s part: gzip: %s", what, pc_strerror(rc));
    }
    *data = b->data;
    *len = b->len;
    return PC_OK;
}

/* One item per kind: each profile a resource of the shared pdata. */
static int split(struct jfr_result *res, struct pyro_jfr_items *out)
{
    uint32_t i;
    int rc = jfr_split_kinds(res);

    if (rc != PC_OK) {
        return rc;
    }
    out->pd = res->pd;
    for (i = 0; i < res->nprofiles; i++) {
        out->metric[i] = jfr_kind_metric(res->kind[i]);
    }
    out->n = res->nprofiles;
    return PC_OK;
}

int pyro_jfr_convert(const uint8_t *jfr, size_t jlen, const uint8_t *labels,
                     size_t llen, int64_t sample_rate, size_t max,
                     struct pyro_jfr_items *out, struct errctx *e)
{
    struct buf jb, lb;
    struct jfr_limits lim;
    struct jfr_options o = {0};
    struct jfr_result res;
    int rc;

    memset(out, 0, sizeof(*out));
    buf_init(&jb, 0);
    buf_init(&lb, 0);
    jfr_limits_default(&lim);
    lim.max_alloc = max * LIMIT_ARENA_FACTOR;
    rc = maybe_gunzip(&jfr, &jlen, max, &jb, "jfr", e);
    if (rc == PC_OK && labels != NULL) {
        rc = maybe_gunzip(&labels, &llen, max, &lb, "labels", e);
    }
    if (rc == PC_OK) {
        o.limits = &lim;
        o.sample_rate = sample_rate;
        o.labels = labels;
        o.labels_len = labels != NULL ? llen : 0;
        rc = jfr_convert(jfr, jlen, &o, &res, e);
    }
    if (rc == PC_OK) {
        snprintf(out->jfr_event, sizeof(out->jfr_event), "%s", res.jfr_event);
        rc = split(&res, out);
        if (rc != PC_OK) {
            pdata_free(res.pd);
            rc = err_set(e, rc, "jfr: out of memory");
        }
    }
    buf_free(&jb);
    buf_free(&lb);
    return rc;
}

void pyro_jfr_items_free(struct pyro_jfr_items *it)
{
    pdata_free(it->pd);
    it->pd = NULL;
    it->n = 0;
}

void pyro_jfr_service(const char *app, char *out, size_t size)
{
    const char *dot = strrchr(app, '.');
    struct pyro_ptype pt;
    size_t n = strlen(app);

    if (dot != NULL &&
        pyro_profile_type(dot + 1, strlen(dot + 1), &pt) == PC_OK) {
        n = (size_t)(dot - app);
    }
    snprintf(out, size, "%.*s", (int)n, app);
}
