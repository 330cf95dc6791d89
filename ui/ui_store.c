/* ui_store.c: the status page's flame graph store (see ui_store.h). */
#include "ui/ui_store.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/otlp.h"
#include "codec/pprof.h"
#include "component/batch.h"
#include "core/assert.h"
#include "core/clock.h"
#include "model/pdata_iter.h"

/* Slots per retention: a range query is exact to one slot. */
#define UI_SLOTS_PER_RETENTION 15
#define UI_SLOTS_MAX (UI_SLOTS_PER_RETENTION + 2)
#define UI_SLOT_MIN_MS 1000

struct ui_slot {
    int64_t start_ms; /* wall clock; the slot holds [start, start + slot) */
    int used;
    struct flame_tree tree;
};

struct ui_series {
    struct ui_series_info info;
    struct ui_slot slots[UI_SLOTS_MAX];
};

struct ui_job {
    char pipeline[UI_KEY_MAX];
    struct batch *b;
    uint64_t bytes; /* its payloads' size as received */
};

struct ui_store {
    pthread_mutex_t mu; /* the series, their trees, bytes */
    struct ui_series *series[UI_MAX_SERIES];
    uint32_t nseries;
    size_t bytes, max_bytes;
    int64_t retention_ms, slot_ms;
    uint32_t nslots;

    pthread_mutex_t qmu; /* the queue, busy, stop */
    pthread_cond_t qcv;
    struct ui_job queue[UI_QUEUE];
    uint32_t qhead, qcount;
    uint64_t qbytes, qmax_bytes; /* payload bytes the queue keeps alive */
    int busy, stop, started;
    pthread_t worker;

    atomic_uint_fast64_t offered, queue_full, no_room, undecodable, profiles;
};

/* ---- slots ---------------------------------------------------------------- */

static void ui_slot_drop(struct ui_store *s, struct ui_series *se,
                         struct ui_slot *sl)
{
    size_t b;

    if (!sl->used) {
        return;
    }
    b = flame_bytes(&sl->tree);
    PC_ASSERT(s->bytes >= b && se->info.bytes >= b);
    s->bytes -= b;
    se->info.bytes -= b;
    flame_free(&sl->tree);
    sl->used = 0;
}

/* Frees the slots that ended before now - retention. */
static void ui_expire(struct ui_store *s, int64_t now_ms)
{
    uint32_t i, k;

    for (i = 0; i < s->nseries; i++) {
        for (k = 0; k < s->nslots; k++) {
            struct ui_slot *sl = &s->series[i]->slots[k];
            if (sl->used &&
                sl->start_ms + s->slot_ms <= now_ms - s->retention_ms) {
                ui_slot_drop(s, s->series[i], sl);
            }
        }
    }
}

/* Frees the oldest slot other than keep; 0 when there is none. */
static int ui_evict_oldest(struct ui_store *s, const struct ui_slot *keep)
{
    struct ui_series *best_se = NULL;
    struct ui_slot *best = NULL;
    uint32_t i, k;

    for (i = 0; i < s->nseries; i++) {
        for (k = 0; k < s->nslots; k++) {
            struct ui_slot *sl = &s->series[i]->slots[k];
            if (sl->used && sl != keep &&
                (best == NULL || sl->start_ms < best->start_ms)) {
                best = sl;
                best_se = s->series[i];
            }
        }
    }
    if (best == NULL) {
        return 0;
    }
    ui_slot_drop(s, best_se, best);
    return 1;
}

/* Room for about `need` more bytes, the oldest slots (but keep) first. */
static void ui_make_room(struct ui_store *s, size_t need,
                         const struct ui_slot *keep)
{
    while (s->bytes + need > s->max_bytes && ui_evict_oldest(s, keep)) {
    }
}

static struct ui_slot *ui_slot_for(struct ui_store *s, struct ui_series *se,
                                   int64_t now_ms)
{
    int64_t start = now_ms - now_ms % s->slot_ms;
    struct ui_slot *sl =
        &se->slots[(uint64_t)(start / s->slot_ms) % s->nslots];

    if (sl->used && sl->start_ms == start) {
        return sl;
    }
    ui_slot_drop(s, se, sl);
    if (flame_init(&sl->tree, s->max_bytes) != PC_OK) {
        return NULL;
    }
    ui_make_room(s, flame_bytes(&sl->tree), sl);
    if (s->bytes + flame_bytes(&sl->tree) > s->max_bytes) {
        flame_free(&sl->tree);
        return NULL;
    }
    sl->used = 1;
    sl->start_ms = start;
    s->bytes += flame_bytes(&sl->tree);
    se->info.bytes += flame_bytes(&sl->tree);
    return sl;
}

/* ---- series ------------------------------------------------------------- */

static int ui_series_cmp(const struct ui_series_info *a, const char *pipeline,
                         const char *service, const char *type)
{
    int c = strcmp(a->pipeline, pipeline);

    if (c == 0) {
        c = strcmp(a->service, service);
    }
    return c != 0 ? c : strcmp(a->type, type);
}

/* The series' position, or where it would go (*found = 0). Sorted. */
static uint32_t ui_series_find(const struct ui_store *s, const char *pipeline,
                               const char *service, const char *type,
                               int *found)
{
    uint32_t lo = 0, hi = s->nseries;

    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = ui_series_cmp(&s->series[mid]->info, pipeline, service, type);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = 0;
    return lo;
}

static struct ui_series *ui_series_get(struct ui_store *s,
                                       const char *pipeline,
                                       const char *service, const char *type,
                                       const char *unit)
{
    int found;
    uint32_t at = ui_series_find(s, pipeline, service, type, &found);
    struct ui_series *se;

    if (found) {
        return s->series[at];
    }
    if (s->nseries == UI_MAX_SERIES) {
        return NULL;
    }
    se = calloc(1, sizeof(*se));
    if (se == NULL) {
        return NULL;
    }
    snprintf(se->info.pipeline, UI_KEY_MAX, "%s", pipeline);
    snprintf(se->info.service, UI_KEY_MAX, "%s", service);
    snprintf(se->info.type, UI_KEY_MAX, "%s", type);
    snprintf(se->info.unit, UI_KEY_MAX, "%s", unit);
    memmove(&s->series[at + 1], &s->series[at],
            (s->nseries - at) * sizeof(s->series[0]));
    s->series[at] = se;
    s->nseries++;
    return se;
}

/* ---- adding ------------------------------------------------------------- */

static int ui_add_profile(struct ui_store *s, const char *pipeline,
                          const char *service, const struct pdata *pd,
                          const struct profile *p, int64_t now_ms)
{
    char type[UI_KEY_MAX], unit[UI_KEY_MAX];
    struct pstr ty, un;
    struct ui_series *se;
    struct ui_slot *sl;
    uint32_t vi;
    size_t before;
    int rc;

    if (flame_type_index(&pd->dict, p, NULL, &vi) != PC_OK) {
        return PC_OK; /* no sample type: nothing to draw */
    }
    ty = dict_str(&pd->dict, p->sample_types[vi].type);
    un = dict_str(&pd->dict, p->sample_types[vi].unit);
    snprintf(type, sizeof(type), "%.*s:%.*s", (int)ty.len, ty.ptr, (int)un.len,
             un.ptr);
    snprintf(unit, sizeof(unit), "%.*s", (int)un.len, un.ptr);
    se = ui_series_get(s, pipeline, service, type, unit);
    sl = se != NULL ? ui_slot_for(s, se, now_ms) : NULL;
    if (sl == NULL) {
        return PC_ETOOBIG;
    }
    /* Keep a tenth free so most profiles fit without evicting midway. */
    ui_make_room(s, s->max_bytes / 10, sl);
    before = flame_bytes(&sl->tree);
    sl->tree.max_bytes = before + (s->bytes < s->max_bytes
                                       ? s->max_bytes - s->bytes
                                       : 0);
    rc = flame_add_profile(&sl->tree, &pd->dict, p, vi, 0, NULL, NULL);
    s->bytes += flame_bytes(&sl->tree) - before;
    se->info.bytes += flame_bytes(&sl->tree) - before;
    se->info.profiles++;
    se->info.last_ms = now_ms;
    return rc;
}

int ui_store_add_pdata(struct ui_store *s, const char *pipeline,
                       const char *service, const struct pdata *pd,
                       int32_t resource, int64_t now_ms)
{
    struct pdata_iter w;
    struct profile *p;
    int rc = PC_OK;

    pthread_mutex_lock(&s->mu);
    ui_expire(s, now_ms);
    pdata_iter_init(&w, pd, resource);
    while ((p = pdata_iter_next(&w)) != NULL) {
        int r = ui_add_profile(s, pipeline, service, pd, p, now_ms);
        atomic_fetch_add(r == PC_OK ? &s->profiles : &s->no_room, 1);
        rc = rc == PC_OK ? r : rc;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void ui_service_of(const struct item *it, char *out, size_t len)
{
    const struct anyvalue *v = item_attr(it, "service.name");

    if (v != NULL && v->type == AV_STRING && v->u.s.len > 0) {
        snprintf(out, len, "%.*s", (int)v->u.s.len, v->u.s.ptr);
    } else {
        snprintf(out, len, "unknown_service");
    }
}

/*
 * The item's decoded payload: the one it already has (shared, a reference
 * taken), else a private decode of its original bytes, freed after use.
 * A private decode leaves the item as the pipeline handed it over: a
 * profile forwarded as its original bytes does not carry a decoded copy
 * to its exporters because the page looked at it.
 */
static int ui_item_pdata(struct batch *b, const struct item *it,
                         struct shared_pdata **shared, struct pdata **own)
{
    struct blob *raw = NULL;
    uint8_t format;
    int rc;

    *shared = NULL;
    *own = NULL;
    pthread_mutex_lock(&b->decode_lock);
    if (it->pd != NULL) {
        *shared = shared_pdata_ref(it->pd);
    } else if (it->raw != NULL) {
        raw = blob_ref(it->raw);
    }
    format = it->format;
    pthread_mutex_unlock(&b->decode_lock);
    if (*shared != NULL) {
        return PC_OK;
    }
    if (raw == NULL) {
        return PC_EINVAL;
    }
    if (format == PAYLOAD_PPROF) {
        rc = pprof_decode(raw->data, raw->len, &b->limits, own, NULL);
    } else if (format == PAYLOAD_OTLP) {
        rc = otlp_decode(raw->data, raw->len, &b->limits, own, NULL);
    } else {
        rc = PC_EFORMAT;
    }
    blob_unref(raw);
    return rc;
}

static void ui_take_batch(struct ui_store *s, struct ui_job *j)
{
    int64_t now_ms = clock_real_ns() / 1000000;
    uint32_t i;

    for (i = 0; i < j->b->nitems; i++) {
        const struct item *it = &j->b->items[i];
        struct shared_pdata *shared;
        struct pdata *own;
        char service[UI_KEY_MAX];
        if (ui_item_pdata(j->b, it, &shared, &own) != PC_OK) {
            atomic_fetch_add(&s->undecodable, 1);
            continue;
        }
        ui_service_of(it, service, sizeof(service));
        ui_store_add_pdata(s, j->pipeline, service,
                           shared != NULL ? shared->pd : own, it->resource,
                           now_ms);
        shared_pdata_unref(shared);
        pdata_free(own);
    }
}

/* ---- the worker and the queue ------------------------------------------ */

static void *ui_worker(void *arg)
{
    struct ui_store *s = arg;

    pthread_setname_np(pthread_self(), "profcol-ui");
    pthread_mutex_lock(&s->qmu);
    for (;;) {
        struct ui_job j;
        while (s->qcount == 0 && !s->stop) {
            pthread_cond_wait(&s->qcv, &s->qmu);
        }
        if (s->stop) {
            break;
        }
        j = s->queue[s->qhead];
        s->qhead = (s->qhead + 1) % UI_QUEUE;
        s->qcount--;
        s->qbytes -= j.bytes;
        s->busy = 1;
        pthread_mutex_unlock(&s->qmu);
        ui_take_batch(s, &j);
        batch_unref(j.b);
        pthread_mutex_lock(&s->qmu);
        s->busy = 0;
        pthread_cond_broadcast(&s->qcv);
    }
    pthread_mutex_unlock(&s->qmu);
    return NULL;
}

void ui_store_offer(struct ui_store *s, const char *pipeline, struct batch *b)
{
    struct ui_job *j;
    uint64_t bytes = batch_bytes(b);

    atomic_fetch_add(&s->offered, 1);
    pthread_mutex_lock(&s->qmu);
    /* The queue keeps payloads alive past their export: it is bounded by
     * bytes too, and one batch is always taken when it is empty. */
    if (s->qcount == UI_QUEUE || s->stop ||
        (s->qcount > 0 && s->qbytes + bytes > s->qmax_bytes)) {
        pthread_mutex_unlock(&s->qmu);
        atomic_fetch_add(&s->queue_full, 1);
        return;
    }
    j = &s->queue[(s->qhead + s->qcount) % UI_QUEUE];
    snprintf(j->pipeline, sizeof(j->pipeline), "%s", pipeline);
    j->b = batch_ref(b);
    j->bytes = bytes;
    s->qbytes += bytes;
    s->qcount++;
    pthread_cond_signal(&s->qcv);
    pthread_mutex_unlock(&s->qmu);
}

void ui_store_settle(struct ui_store *s)
{
    pthread_mutex_lock(&s->qmu);
    while (s->qcount > 0 || s->busy) {
        pthread_cond_wait(&s->qcv, &s->qmu);
    }
    pthread_mutex_unlock(&s->qmu);
}

int ui_store_new(int64_t retention_ms, size_t max_bytes, struct ui_store **out)
{
    struct ui_store *s;

    if (retention_ms < UI_SLOT_MIN_MS || max_bytes < 65536) {
        return PC_EINVAL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return PC_ENOMEM;
    }
    s->retention_ms = retention_ms;
    s->max_bytes = max_bytes;
    s->qmax_bytes = max_bytes / 4;
    s->slot_ms = retention_ms / UI_SLOTS_PER_RETENTION;
    if (s->slot_ms < UI_SLOT_MIN_MS) {
        s->slot_ms = UI_SLOT_MIN_MS;
    }
    /* The slots of a whole retention, the current one and one more. */
    s->nslots = (uint32_t)((retention_ms + s->slot_ms - 1) / s->slot_ms) + 1;
    PC_ASSERT(s->nslots <= UI_SLOTS_MAX);
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->qmu, NULL);
    pthread_cond_init(&s->qcv, NULL);
    if (pthread_create(&s->worker, NULL, ui_worker, s) != 0) {
        ui_store_free(s);
        return PC_ENOMEM;
    }
    s->started = 1;
    *out = s;
    return PC_OK;
}

void ui_store_free(struct ui_store *s)
{
    uint32_t i, k;

    if (s == NULL) {
        return;
    }
    if (s->started) {
        pthread_mutex_lock(&s->qmu);
        s->stop = 1;
        pthread_cond_broadcast(&s->qcv);
        pthread_mutex_unlock(&s->qmu);
        pthread_join(s->worker, NULL);
    }
    for (; s->qcount > 0; s->qcount--) {
        batch_unref(s->queue[s->qhead].b);
        s->qhead = (s->qhead + 1) % UI_QUEUE;
    }
    for (i = 0; i < s->nseries; i++) {
        for (k = 0; k < s->nslots; k++) {
            ui_slot_drop(s, s->series[i], &s->series[i]->slots[k]);
        }
        free(s->series[i]);
    }
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->qmu);
    pthread_cond_destroy(&s->qcv);
    free(s);
}

/* ---- queries ------------------------------------------------------------ */

void ui_store_stats(struct ui_store *s, struct ui_store_stats *st)
{
    pthread_mutex_lock(&s->mu);
    st->bytes = s->bytes;
    st->series = s->nseries;
    pthread_mutex_unlock(&s->mu);
    st->max_bytes = s->max_bytes;
    st->retention_ms = s->retention_ms;
    st->slot_ms = s->slot_ms;
    st->offered = atomic_load(&s->offered);
    st->queue_full = atomic_load(&s->queue_full);
    st->no_room = atomic_load(&s->no_room);
    st->undecodable = atomic_load(&s->undecodable);
    st->profiles = atomic_load(&s->profiles);
}

uint32_t ui_store_list(struct ui_store *s, struct ui_series_info *out,
                       uint32_t max)
{
    uint32_t i;

    pthread_mutex_lock(&s->mu);
    ui_expire(s, clock_real_ns() / 1000000);
    for (i = 0; i < s->nseries && i < max; i++) {
        out[i] = s->series[i]->info;
    }
    pthread_mutex_unlock(&s->mu);
    return i;
}

int ui_store_tree(struct ui_store *s, const char *pipeline,
                  const char *service, const char *type, int64_t from_ms,
                  int64_t to_ms, struct flame_tree *t, int side,
                  struct ui_series_info *info)
{
    struct ui_series *se;
    uint32_t at, k;
    int found, rc = PC_OK;

    pthread_mutex_lock(&s->mu);
    ui_expire(s, clock_real_ns() / 1000000);
    at = ui_series_find(s, pipeline, service, type, &found);
    if (!found) {
        pthread_mutex_unlock(&s->mu);
        return PC_ENOTFOUND;
    }
    se = s->series[at];
    if (info != NULL) {
        *info = se->info;
    }
    for (k = 0; k < s->nslots && rc == PC_OK; k++) {
        const struct ui_slot *sl = &se->slots[k];
        if (sl->used && sl->start_ms < to_ms &&
            sl->start_ms + s->slot_ms > from_ms) {
            rc = flame_merge(t, &sl->tree, 0, side);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
