/*
 * pm_store.c: series of the profilemetrics exporter (see pm_store.h).
 *
 * A series is found by its key: the family index and the label values,
 * each length-prefixed, hashed into an open-addressing index (core/intern)
 * over the series array. Series are never removed: counters only grow, and
 * max_series bounds the memory.
 */
#include "exporters/profilemetrics/pm_store.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/assert.h"
#include "core/err.h"
#include "core/intern.h"
#include "codec/pb.h"
#include "telemetry/metrics.h"

#define PM_KEY_MAX (4 + PM_LABELS_MAX * (4 + PM_VALUE_MAX))

struct pm_series {
    uint32_t fam;
    uint32_t keylen;
    uint8_t *key; /* fam, then (len, bytes) per label value */
    double value;
};

struct pm_store {
    pthread_mutex_t mu;
    struct pm_family *fams;
    uint32_t nfams;
    struct pm_series *series;
    uint32_t n, cap, max;
    struct itab idx;
    uint64_t refused;
};

static int label_cmp(const struct pm_family *f, uint32_t a, uint32_t b)
{
    return strcmp(f->labels[a], f->labels[b]);
}

void pm_family_sort(struct pm_family *f)
{
    uint32_t i, j;

    for (i = 0; i < f->nlabels; i++) {
        f->order[i] = i;
    }
    /* Insertion sort: at most PM_LABELS_MAX labels. */
    for (i = 1; i < f->nlabels; i++) {
        uint32_t v = f->order[i];
        for (j = i; j > 0 && label_cmp(f, f->order[j - 1], v) > 0; j--) {
            f->order[j] = f->order[j - 1];
        }
        f->order[j] = v;
    }
}

int pm_store_new(const struct pm_family *families, uint32_t nfamilies,
                 uint32_t max_series, struct pm_store **out)
{
    struct pm_store *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return PC_ENOMEM;
    }
    s->fams = calloc(nfamilies + 1, sizeof(*s->fams));
    if (s->fams == NULL || itab_init(&s->idx, 64) != PC_OK) {
        free(s->fams);
        free(s);
        return PC_ENOMEM;
    }
    memcpy(s->fams, families, nfamilies * sizeof(*families));
    s->nfams = nfamilies;
    s->max = max_series;
    pthread_mutex_init(&s->mu, NULL);
    *out = s;
    return PC_OK;
}

const struct pm_family *pm_store_family(const struct pm_store *s, uint32_t fam)
{
    PC_ASSERT(fam < s->nfams);
    return &s->fams[fam];
}

void pm_store_free(struct pm_store *s)
{
    uint32_t i;

    if (s == NULL) {
        return;
    }
    for (i = 0; i < s->n; i++) {
        free(s->series[i].key);
    }
    free(s->series);
    free(s->fams);
    itab_free(&s->idx);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}

/* The key of (fam, values) into key[PM_KEY_MAX]; values are cut at
 * PM_VALUE_MAX bytes. */
static uint32_t make_key(uint8_t *key, uint32_t fam, uint32_t nlabels,
                         const struct pstr *values)
{
    uint32_t i, n = 4;

    put_u32(key, fam);
    for (i = 0; i < nlabels; i++) {
        uint32_t len = values[i].len < PM_VALUE_MAX ? values[i].len
                                                    : PM_VALUE_MAX;
        put_u32(key + n, len);
        if (len > 0) {
            memcpy(key + n + 4, values[i].ptr, len);
        }
        n += 4 + len;
    }
    PC_ASSERT(n <= PM_KEY_MAX);
    return n;
}

/* A new series for key; the caller holds the lock and probed for it. */
static int series_insert(struct pm_store *s, struct itab_probe *pr,
                         uint32_t fam, const uint8_t *key, uint32_t keylen,
                         double v)
{
    struct pm_series *se;

    if (s->n == s->cap) {
        uint32_t ncap = s->cap != 0 ? s->cap * 2 : 64;
        struct pm_series *ns = realloc(s->series, ncap * sizeof(*ns));
        if (ns == NULL) {
            return PC_ENOMEM;
        }
        s->series = ns;
        s->cap = ncap;
    }
    se = &s->series[s->n];
    se->key = malloc(keylen);
    if (se->key == NULL) {
        return PC_ENOMEM;
    }
    memcpy(se->key, key, keylen);
    se->keylen = keylen;
    se->fam = fam;
    se->value = v;
    if (itab_insert(&s->idx, pr, (int32_t)s->n) != PC_OK) {
        free(se->key);
        return PC_ENOMEM;
    }
    s->n++;
    return PC_OK;
}

int pm_store_add(struct pm_store *s, uint32_t fam, const struct pstr *values,
                 double v)
{
    uint8_t key[PM_KEY_MAX];
    struct itab_probe pr;
    uint32_t keylen;
    int32_t i;
    int rc = PC_OK;

    PC_ASSERT(fam < s->nfams);
    keylen = make_key(key, fam, s->fams[fam].nlabels, values);
    pthread_mutex_lock(&s->mu);
    itab_probe_start(&s->idx, XXH3_64bits(key, keylen), &pr);
    while ((i = itab_probe_next(&s->idx, &pr)) >= 0) {
        struct pm_series *se = &s->series[i];
        if (se->keylen == keylen && memcmp(se->key, key, keylen) == 0) {
            se->value += v;
            break;
        }
    }
    if (i < 0 && s->n >= s->max) {
        s->refused++;
        rc = PC_ETOOBIG;
    } else if (i < 0) {
        rc = series_insert(s, &pr, fam, key, keylen, v);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

uint64_t pm_store_refused(struct pm_store *s)
{
    uint64_t v;

    pthread_mutex_lock(&s->mu);
    v = s->refused;
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint32_t pm_store_size(struct pm_store *s)
{
    uint32_t v;

    pthread_mutex_lock(&s->mu);
    v = s->n;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* The k-th label value of a series key. */
static struct pstr key_value(const struct pm_series *se, uint32_t k)
{
    struct pstr v;
    uint32_t off = 4, i;

    for (i = 0; i < k; i++) {
        off += 4 + get_u32(se->key + off);
    }
    v.len = get_u32(se->key + off);
    v.ptr = (const char *)se->key + off + 4;
    return v;
}

static int render_series(const struct pm_family *f, const struct pm_series *se,
                         struct buf *out)
{
    int rc = buf_append_str(out, f->name);
    uint32_t k;

    for (k = 0; k < f->nlabels && rc == PC_OK; k++) {
        struct pstr v = key_value(se, k);
        rc = buf_printf(out, "%s%s=\"", k == 0 ? "{" : ",", f->labels[k]);
        if (rc == PC_OK) {
            rc = metrics_label_value(out, v.ptr, v.len);
        }
        if (rc == PC_OK) {
            rc = buf_putc(out, '"');
        }
    }
    if (rc == PC_OK && f->nlabels > 0) {
        rc = buf_putc(out, '}');
    }
    if (rc == PC_OK) {
        rc = buf_printf(out, " %.17g\n", se->value);
    }
    return rc;
}

static int render_family(struct pm_store *s, uint32_t fam, struct buf *out)
{
    const struct pm_family *f = &s->fams[fam];
    int rc = PC_OK, head = 0;
    uint32_t i;

    for (i = 0; i < s->n && rc == PC_OK; i++) {
        if (s->series[i].fam != fam) {
            continue;
        }
        if (!head) {
            rc = buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", f->name,
                            f->help, f->name);
            head = 1;
        }
        if (rc == PC_OK) {
            rc = render_series(f, &s->series[i], out);
        }
    }
    return rc;
}

int pm_store_render(struct pm_store *s, struct buf *out)
{
    uint32_t fam;
    int rc = PC_OK;

    pthread_mutex_lock(&s->mu);
    for (fam = 0; fam < s->nfams && rc == PC_OK; fam++) {
        rc = render_family(s, fam, out);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* prometheus.Label {name = 1; value = 2} as field `field` of the caller. */
static int put_label(struct buf *out, const char *name, struct pstr value)
{
    size_t mark;
    int rc = pb_msg_begin(out, 1, &mark);

    if (rc == PC_OK) {
        rc = pb_put_bytes(out, 1, name, strlen(name));
    }
    if (rc == PC_OK) {
        rc = pb_put_bytes(out, 2, value.ptr, value.len);
    }
    return rc == PC_OK ? pb_msg_end(out, mark) : rc;
}

/* prometheus.TimeSeries {labels = 1 (sorted by name); samples = 2}. */
static int put_timeseries(const struct pm_family *f,
                          const struct pm_series *se, int64_t ts_ms,
                          struct buf *out)
{
    struct pstr name = {f->name, (uint32_t)strlen(f->name)};
    size_t mark, smark;
    uint64_t bits;
    uint32_t k;
    int named = 0, rc = pb_msg_begin(out, 1, &mark);

    /* Labels sorted by name, __name__ among them. */
    for (k = 0; k <= f->nlabels && rc == PC_OK; k++) {
        uint32_t o = k < f->nlabels ? f->order[k] : 0;
        if (!named &&
            (k == f->nlabels || strcmp("__name__", f->labels[o]) < 0)) {
            rc = put_label(out, "__name__", name);
            named = 1;
        }
        if (rc == PC_OK && k < f->nlabels) {
            rc = put_label(out, f->labels[o], key_value(se, o));
        }
    }
    if (rc == PC_OK) {
        rc = pb_msg_begin(out, 2, &smark);
    }
    memcpy(&bits, &se->value, sizeof(bits));
    if (rc == PC_OK) {
        rc = pb_put_fixed64(out, 1, bits);
    }
    if (rc == PC_OK) {
        rc = pb_put_int(out, 2, ts_ms);
    }
    if (rc == PC_OK) {
        rc = pb_msg_end(out, smark);
    }
    return rc == PC_OK ? pb_msg_end(out, mark) : rc;
}

int pm_store_write_request(struct pm_store *s, int64_t ts_ms, struct buf *out)
{
    uint32_t i;
    int rc = PC_OK;

    pthread_mutex_lock(&s->mu);
    for (i = 0; i < s->n && rc == PC_OK; i++) {
        rc = put_timeseries(&s->fams[s->series[i].fam], &s->series[i], ts_ms,
                            out);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
