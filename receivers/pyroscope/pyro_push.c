/*
 * pyro_push.c: decoding push.v1.PushRequest, the body of Pyroscope's
 * Connect unary call POST /push.v1.PusherService/Push, from its two Connect
 * codecs: `application/proto` (protobuf-c code generated from
 * proto/pyroscope) and `application/json` (proto3 JSON: field names in
 * lowerCamel or as declared, bytes as standard or URL-safe base64, null for
 * absent, unknown fields ignored as connect-go's JSON codec does).
 *
 * Both produce the same struct pyro_push, whose arrays and strings live in
 * one arena owned by it; raw profiles point into the protobuf-c message or
 * into the arena.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "core/arena.h"
#include "core/base64.h"
#include "codec/json_budget.h"
#include "push/v1/push.pb-c.h"
#include "receivers/pyroscope/pyro.h"

struct push_priv {
    struct arena arena;
    Push__V1__PushRequest *msg;
};

static struct push_priv *priv_new(struct pyro_push *out)
{
    struct push_priv *pv = calloc(1, sizeof(*pv));

    memset(out, 0, sizeof(*out));
    if (pv != NULL) {
        arena_init(&pv->arena, 0);
        out->priv = pv;
    }
    return pv;
}

void pyro_push_free(struct pyro_push *p)
{
    struct push_priv *pv = p->priv;

    if (pv != NULL) {
        if (pv->msg != NULL) {
            push__v1__push_request__free_unpacked(pv->msg, NULL);
        }
        arena_free_all(&pv->arena);
        free(pv);
    }
    memset(p, 0, sizeof(*p));
}

int pyro_push_decode_proto(const uint8_t *body, size_t len,
                           struct pyro_push *out, struct errctx *e)
{
    struct push_priv *pv = priv_new(out);
    Push__V1__PushRequest *m;
    size_t i, j;

    if (pv == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    m = push__v1__push_request__unpack(NULL, len, body);
    if (m == NULL) {
        pyro_push_free(out);
        return err_set(e, PC_ECORRUPT,
                       "cannot decode PushRequest "
                       "(application/proto)");
    }
    pv->msg = m;
    out->series = arena_calloc(&pv->arena, m->n_series ? m->n_series : 1,
                               sizeof(*out->series));
    if (out->series == NULL) {
        pyro_push_free(out);
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < m->n_series; i++) {
        const Push__V1__RawProfileSeries *s = m->series[i];
        struct pyro_push_series *d = &out->series[i];
        d->labels = arena_calloc(&pv->arena, s->n_labels + 1,
                                 sizeof(*d->labels));
        d->samples = arena_calloc(&pv->arena, s->n_samples + 1,
                                  sizeof(*d->samples));
        if (d->labels == NULL || d->samples == NULL) {
            pyro_push_free(out);
            return err_set(e, PC_ENOMEM, "out of memory");
        }
        for (j = 0; j < s->n_labels; j++) {
            d->labels[j].name = s->labels[j]->name;
            d->labels[j].value = s->labels[j]->value;
        }
        d->nlabels = (uint32_t)s->n_labels;
        for (j = 0; j < s->n_samples; j++) {
            d->samples[j].raw = s->samples[j]->raw_profile.data;
            d->samples[j].len = s->samples[j]->raw_profile.len;
        }
        d->nsamples = (uint32_t)s->n_samples;
    }
    out->nseries = (uint32_t)m->n_series;
    return PC_OK;
}

/* ---- JSON --------------------------------------------------------------- */

/* obj[a] or obj[b] (lowerCamel and declared names); NULL for null. */
static json_t *field(json_t *obj, const char *a, const char *b)
{
    json_t *v = json_object_get(obj, a);

    if (v == NULL && b != NULL) {
        v = json_object_get(obj, b);
    }
    return json_is_null(v) ? NULL : v;
}

/* An array field, or an empty one; -1 when it is not an array. */
static int array_field(json_t *obj, const char *a, const char *b, json_t **arr,
                       size_t *n)
{
    *arr = field(obj, a, b);
    if (*arr == NULL) {
        *n = 0;
        return 0;
    }
    if (!json_is_array(*arr)) {
        return -1;
    }
    *n = json_array_size(*arr);
    return 0;
}

static const char *str_field(struct arena *a, json_t *obj, const char *name,
                             int *bad)
{
    json_t *v = field(obj, name, NULL);

    if (v == NULL) {
        return "";
    }
    if (!json_is_string(v)) {
        *bad = 1;
        return "";
    }
    return arena_strndup(a, json_string_value(v), json_string_length(v));
}

static int json_labels(struct push_priv *pv, json_t *s,
                       struct pyro_push_series *d, size_t si, struct errctx *e)
{
    json_t *arr;
    size_t n, j;
    int bad = 0;

    if (array_field(s, "labels", NULL, &arr, &n) != 0) {
        return err_set(e, PC_ECORRUPT, "series[%zu].labels: not an array", si);
    }
    d->labels = arena_calloc(&pv->arena, n + 1, sizeof(*d->labels));
    if (d->labels == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    for (j = 0; j < n; j++) {
        json_t *l = json_array_get(arr, j);
        if (!json_is_object(l)) {
            return err_set(e, PC_ECORRUPT,
                           "series[%zu].labels[%zu]: not an "
                           "object",
                           si, j);
        }
        d->labels[j].name = str_field(&pv->arena, l, "name", &bad);
        d->labels[j].value = str_field(&pv->arena, l, "value", &bad);
        if (bad || d->labels[j].name == NULL || d->labels[j].value == NULL) {
            return err_set(e, bad ? PC_ECORRUPT : PC_ENOMEM,
                           "series[%zu].labels[%zu]: name and value must be "
                           "strings",
                           si, j);
        }
    }
    d->nlabels = (uint32_t)n;
    return PC_OK;
}

static int json_samples(struct push_priv *pv, json_t *s,
                        struct pyro_push_series *d, size_t si,
                        struct errctx *e)
{
    json_t *arr;
    size_t n, j;

    if (array_field(s, "samples", NULL, &arr, &n) != 0) {
        return err_set(e, PC_ECORRUPT, "series[%zu].samples: not an array",
                       si);
    }
    d->samples = arena_calloc(&pv->arena, n + 1, sizeof(*d->samples));
    if (d->samples == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    for (j = 0; j < n; j++) {
        json_t *smp = json_array_get(arr, j);
        json_t *raw = json_is_object(smp)
                          ? field(smp, "rawProfile", "raw_profile")
                          : NULL;
        json_t *id = json_is_object(smp) ? field(smp, "ID", "iD") : NULL;
        size_t blen;
        uint8_t *bytes;
        if (!json_is_object(smp) || (raw != NULL && !json_is_string(raw)) ||
            (id != NULL && !json_is_string(id))) {
            return err_set(e, PC_ECORRUPT,
                           "series[%zu].samples[%zu]: "
                           "expected {\"rawProfile\": base64, \"ID\": string}",
                           si, j);
        }
        blen = raw != NULL ? json_string_length(raw) : 0;
        bytes = arena_alloc(&pv->arena, BASE64_DECODED_MAX(blen));
        if (bytes == NULL) {
            return err_set(e, PC_ENOMEM, "out of memory");
        }
        d->samples[j].raw = bytes;
        if (raw != NULL && base64_decode(json_string_value(raw), blen, bytes,
                                         &d->samples[j].len) != PC_OK) {
            return err_set(e, PC_ECORRUPT,
                           "series[%zu].samples[%zu]."
                           "rawProfile: invalid base64",
                           si, j);
        }
    }
    d->nsamples = (uint32_t)n;
    return PC_OK;
}

int pyro_push_decode_json(const uint8_t *body, size_t len,
                          struct pyro_push *out, struct errctx *e)
{
    struct push_priv *pv = priv_new(out);
    json_error_t je;
    json_t *root, *series;
    size_t n, i;
    int rc = PC_OK, over = 0;

    if (pv == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    root = jsonbudget_loadb((const char *)body, len, 0, &je, &over);
    if (over) {
        rc = err_set(e, PC_ETOOBIG,
                     "PushRequest JSON: parsing takes more than %d times "
                     "the %zu bytes of the body",
                     JSON_BUDGET_FACTOR, len);
    } else if (root == NULL || !json_is_object(root)) {
        rc = err_set(e, PC_ECORRUPT, "cannot decode PushRequest JSON: %s",
                     root == NULL ? je.text : "not an object");
    } else if (array_field(root, "series", NULL, &series, &n) != 0) {
        rc = err_set(e, PC_ECORRUPT, "PushRequest.series: not an array");
    } else {
        out->series = arena_calloc(&pv->arena, n + 1, sizeof(*out->series));
        rc = out->series != NULL ? PC_OK
                                 : err_set(e, PC_ENOMEM, "out of memory");
        for (i = 0; i < n && rc == PC_OK; i++) {
            json_t *s = json_array_get(series, i);
            if (!json_is_object(s)) {
                rc = err_set(e, PC_ECORRUPT, "series[%zu]: not an object", i);
                break;
            }
            rc = json_labels(pv, s, &out->series[i], i, e);
            if (rc == PC_OK) {
                rc = json_samples(pv, s, &out->series[i], i, e);
            }
        }
        out->nseries = (uint32_t)n;
    }
    json_decref(root);
    if (rc != PC_OK) {
        pyro_push_free(out);
    }
    return rc;
}
