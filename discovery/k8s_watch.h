/*
 * k8s_watch.h: one list+watch of one resource (client-go's reflector, as
 * Prometheus runs it) on its own thread, keeping a store of the objects.
 *
 * List with `continue` paging (resourceVersion=0 the first time), then
 * watch from the list's resourceVersion with bookmarks; a stream that
 * ends is re-watched from the last resourceVersion; ERROR 410 or HTTP 410
 * re-lists (a 410 on that list re-lists with no resourceVersion, as does
 * an expired continue token); other failures re-list after a backoff of
 * 0.8 s doubling to 30 s with jitter, reset after 2 minutes of health; a
 * 429 or refused connection on a watch retries the watch after the
 * backoff. Bad events (malformed JSON, unknown type or kind, objects over
 * K8S_LINE_MAX) are logged, counted and skipped: the store keeps its last
 * good state.
 *
 * The store is read by other threads through snapshots: a new reference
 * to a shallow copy of the key -> object map. Objects are never changed
 * once stored (an update replaces the object), so a snapshot stays
 * consistent while the watch goes on.
 */
#ifndef PROFCOL_K8S_WATCH_H
#define PROFCOL_K8S_WATCH_H

#include <jansson.h>
#include <stdint.h>

#include "discovery/k8s_client.h"

struct k8s_watch_spec {
    const char *path; /* "/api/v1/pods", "/api/v1/namespaces/shop/pods" */
    const char *kind; /* "Pod" */
    const char *label_selector; /* NULL: none */
    const char *field_selector;
    const char *log_id; /* the component, for logs */
    /* At most this many objects are kept (0: no bound); more are refused
     * and counted as bad events. */
    uint32_t max_objects;
    /* When set, what is stored of each object: a new reference to a
     * smaller copy (NULL: refused as bad). */
    json_t *(*trim)(json_t *obj);
};

/* Counters since start; read with k8s_watch_counts. */
struct k8s_watch_counts {
    uint64_t events;     /* applied ADDED/MODIFIED/DELETED */
    uint64_t bad_events; /* logged and skipped */
    uint64_t lists;      /* successful (re-)lists */
    uint64_t failures;   /* failed requests */
};

struct k8s_watch;

/* Starts the thread; the client must outlive the watch. */
int k8s_watch_start(struct k8s_client *c, const struct k8s_watch_spec *spec,
                    struct k8s_watch **out);
/* Stops the thread (aborting a request in flight) and frees. */
void k8s_watch_stop(struct k8s_watch *w);

/* Changes the bound on objects (0: none) for what comes next. */
void k8s_watch_set_max(struct k8s_watch *w, uint32_t max);

/* Changes with every change of the store; 0 until the first list. */
uint64_t k8s_watch_gen(struct k8s_watch *w);
/* New reference to a copy of the store (key -> object), or NULL before the
 * first list. json_decref it. */
json_t *k8s_watch_snapshot(struct k8s_watch *w);
void k8s_watch_counts(struct k8s_watch *w, struct k8s_watch_counts *out);

#endif
