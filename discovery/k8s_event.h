/*
 * k8s_event.h: parsing what the API server sends: one watch event (a line
 * `{"type":...,"object":{...}}`) and one list page (`{"metadata":
 * {"resourceVersion","continue"},"items":[...]}`). Outside bytes: every
 * shape is checked, and a bad one is an error, never an assert.
 */
#ifndef PROFCOL_K8S_EVENT_H
#define PROFCOL_K8S_EVENT_H

#include <jansson.h>
#include <stddef.h>

#include "core/err.h"

enum k8s_ev_type {
    K8S_EV_ADDED = 0,
    K8S_EV_MODIFIED,
    K8S_EV_DELETED,
    K8S_EV_BOOKMARK,
    K8S_EV_ERROR,
};

#define K8S_RV_MAX 128
#define K8S_KEY_MAX 512

struct k8s_event {
    int type;
    json_t *obj;           /* owned reference (ADDED/MODIFIED/DELETED) */
    char rv[K8S_RV_MAX];   /* object's resourceVersion ("" when none) */
    char key[K8S_KEY_MAX]; /* "namespace/name" or "name" */
    long code;             /* ERROR: the Status code */
    char reason[64];       /* ERROR: the Status reason */
};

/* Parses one event line. kind (e.g. "Pod") is the only kind accepted when
 * an object names one. */
int k8s_event_parse(const char *line, size_t len, const char *kind,
                    struct k8s_event *ev, struct errctx *e);
void k8s_event_release(struct k8s_event *ev);

struct k8s_page {
    json_t *doc;         /* owned */
    json_t *items;       /* borrowed from doc: array of objects */
    char rv[K8S_RV_MAX]; /* list resourceVersion */
    char cont[4096];     /* metadata.continue ("" on the last page) */
};

int k8s_page_parse(const char *body, size_t len, struct k8s_page *p,
                   struct errctx *e);
void k8s_page_release(struct k8s_page *p);

/* Checks one object (kind if named, metadata.name) and writes its key. */
int k8s_obj_check(const json_t *obj, const char *kind, char *key, size_t len,
                  struct errctx *e);

/* A Status body (error answers): code and message for logs. */
void k8s_status_text(const char *body, size_t len, char *out, size_t outlen);

#endif
