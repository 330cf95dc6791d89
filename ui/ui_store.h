/*
 * ui_store.h: the status page's store of flame graphs: per pipeline,
 * service and profile type, one flame tree per time slot over the last
 * `retention`, within `max_bytes` in all.
 *
 * The pipeline hands batches over with ui_store_offer(), which only takes a
 * reference and puts it on a small queue (a bounded critical section, no
 * decoding, no allocation): a worker thread decodes and merges. When the
 * queue is full (UI_QUEUE batches, or payloads of max_bytes / 4 as
 * received) the batch is not taken (counted as dropped): the store never
 * holds the pipeline back, and never keeps more than that alive. When the trees would pass max_bytes, the
 * oldest slots go first; a profile that still does not fit is dropped and
 * counted.
 *
 * Queries (the page's answers, built on the HTTP workers, never on the
 * main loop) take the store's lock while they merge slots into a tree of
 * their own.
 */
#ifndef PROFCOL_UI_STORE_H
#define PROFCOL_UI_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "flame/flame.h"

struct batch;
struct ui_store;

#define UI_KEY_MAX 128    /* longest pipeline id, service or type kept */
#define UI_MAX_SERIES 512 /* most (pipeline, service, type) series */
#define UI_QUEUE 256      /* batches waiting for the worker */

struct ui_series_info {
    char pipeline[UI_KEY_MAX];
    char service[UI_KEY_MAX];
    char type[UI_KEY_MAX]; /* "type:unit" */
    char unit[UI_KEY_MAX];
    uint64_t profiles; /* profiles merged so far */
    int64_t last_ms;   /* wall clock of the last one */
    size_t bytes;      /* held by its slots */
};

struct ui_store_stats {
    uint64_t offered, queue_full, no_room, undecodable, profiles;
    size_t bytes, max_bytes;
    uint32_t series;
    int64_t retention_ms, slot_ms;
};

/* A store of at most max_bytes keeping retention_ms; starts its worker. */
int ui_store_new(int64_t retention_ms, size_t max_bytes,
                 struct ui_store **out);
/* Stops the worker, drops what waits, frees everything. NULL ok. */
void ui_store_free(struct ui_store *s);

/* Takes a reference on b when there is room on the queue (never waits for
 * the worker); pipeline is copied. Safe from any thread. */
void ui_store_offer(struct ui_store *s, const char *pipeline, struct batch *b);

/* Waits until the queue is empty and the worker idle (tests, bench). */
void ui_store_settle(struct ui_store *s);

void ui_store_stats(struct ui_store *s, struct ui_store_stats *st);

/* Copies up to max series descriptions (sorted by pipeline, service,
 * type); returns how many. */
uint32_t ui_store_list(struct ui_store *s, struct ui_series_info *out,
                       uint32_t max);

/* Adds to side of t every slot of the series (pipeline, service, type)
 * that overlaps [from_ms, to_ms) (wall clock). PC_ENOTFOUND when there is
 * no such series. info (may be NULL) receives its description. */
int ui_store_tree(struct ui_store *s, const char *pipeline,
                  const char *service, const char *type, int64_t from_ms,
                  int64_t to_ms, struct flame_tree *t, int side,
                  struct ui_series_info *info);

/* Adds a profile's samples directly (the worker's step, for tests and the
 * benchmark): pd's profiles of resource (-1: all) under service. */
int ui_store_add_pdata(struct ui_store *s, const char *pipeline,
                       const char *service, const struct pdata *pd,
                       int32_t resource, int64_t now_ms);

/*
 * A time range from query parameters: from and to are "now", "now-DUR",
 * "-DUR" (DUR: a number and ms, s, m or h, e.g. "-5m", "now-90s") or unix
 * seconds; NULL or "" take the defaults (from: now - retention, to: now).
 * Errors name the bad value; from must be before to.
 */
int ui_range_parse(const char *from, const char *to, int64_t now_ms,
                   int64_t retention_ms, int64_t *from_ms, int64_t *to_ms,
                   struct errctx *e);

#endif
