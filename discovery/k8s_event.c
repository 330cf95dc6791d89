/*
 * k8s_event.c: watch events and list pages (see k8s_event.h).
 */
#include <stdio.h>
#include <string.h>

#include "discovery/k8s_event.h"

static const char *const ev_names[] = {"ADDED",    "MODIFIED", "DELETED",
                                       "BOOKMARK", "ERROR",    NULL};

static const char *str_at(const json_t *o, const char *key)
{
    const json_t *v = json_is_object(o) ? json_object_get(o, key) : NULL;

    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void copy(char *dst, size_t len, const char *s)
{
    snprintf(dst, len, "%s", s != NULL ? s : "");
}

int k8s_obj_check(const json_t *obj, const char *kind, char *key, size_t len,
                  struct errctx *e)
{
    const json_t *md = json_object_get(obj, "metadata");
    const char *k = str_at(obj, "kind");
    const char *name = str_at(md, "name");
    const char *ns = str_at(md, "namespace");
    int n;

    if (!json_is_object(obj) || !json_is_object(md)) {
        return err_set(e, PC_ECORRUPT, "object without metadata");
    }
    if (k != NULL && kind != NULL && strcmp(k, kind) != 0) {
        return err_set(e, PC_ECORRUPT, "unexpected kind '%.64s' (want %s)", k,
                       kind);
    }
    if (name == NULL || name[0] == '\0') {
        return err_set(e, PC_ECORRUPT, "object without metadata.name");
    }
    if (ns != NULL && ns[0] != '\0') {
        n = snprintf(key, len, "%s/%s", ns, name);
    } else {
        n = snprintf(key, len, "%s", name);
    }
    if (n < 0 || (size_t)n >= len) {
        return err_set(e, PC_ECORRUPT, "object name too long");
    }
    return PC_OK;
}

static int ev_type(const char *t)
{
    int i;

    for (i = 0; t != NULL && ev_names[i] != NULL; i++) {
        if (strcmp(t, ev_names[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static int ev_fill(struct k8s_event *ev, json_t *obj, const char *kind,
                   struct errctx *e)
{
    const json_t *md = json_object_get(obj, "metadata");
    const json_t *code = json_object_get(obj, "code");

    copy(ev->rv, sizeof(ev->rv), str_at(md, "resourceVersion"));
    switch (ev->type) {
    case K8S_EV_ERROR:
        ev->code = json_is_integer(code) ? (long)json_integer_value(code) : 0;
        copy(ev->reason, sizeof(ev->reason), str_at(obj, "reason"));
        return PC_OK;
    case K8S_EV_BOOKMARK:
        if (ev->rv[0] == '\0') {
            return err_set(e, PC_ECORRUPT, "BOOKMARK without resourceVersion");
        }
        return PC_OK;
    default:
        return k8s_obj_check(obj, kind, ev->key, sizeof(ev->key), e);
    }
}

int k8s_event_parse(const char *line, size_t len, const char *kind,
                    struct k8s_event *ev, struct errctx *e)
{
    json_error_t je;
    json_t *doc, *obj;
    int rc;

    memset(ev, 0, sizeof(*ev));
    doc = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
    if (doc == NULL) {
        return err_set(e, PC_ECORRUPT, "malformed JSON at %d: %.80s",
                       je.position, je.text);
    }
    ev->type = ev_type(str_at(doc, "type"));
    obj = json_object_get(doc, "object");
    if (ev->type < 0) {
        json_decref(doc);
        return err_set(e, PC_ECORRUPT, "unknown event type");
    }
    if (!json_is_object(obj)) {
        json_decref(doc);
        return err_set(e, PC_ECORRUPT, "event without object");
    }
    rc = ev_fill(ev, obj, kind, e);
    if (rc == PC_OK) {
        ev->obj = json_incref(obj);
    }
    json_decref(doc);
    return rc;
}

void k8s_event_release(struct k8s_event *ev)
{
    json_decref(ev->obj);
    ev->obj = NULL;
}

int k8s_page_parse(const char *body, size_t len, struct k8s_page *p,
                   struct errctx *e)
{
    json_error_t je;
    const json_t *md;

    memset(p, 0, sizeof(*p));
    p->doc = json_loadb(body, len, 0, &je);
    if (p->doc == NULL) {
        return err_set(e, PC_ECORRUPT, "malformed JSON at %d: %.80s",
                       je.position, je.text);
    }
    md = json_object_get(p->doc, "metadata");
    p->items = json_object_get(p->doc, "items");
    if (json_is_null(p->items)) {
        p->items = NULL; /* an empty list may say "items": null */
    }
    if (!json_is_object(md) ||
        (p->items != NULL && !json_is_array(p->items))) {
        k8s_page_release(p);
        return err_set(e, PC_ECORRUPT, "not a list (metadata, items)");
    }
    copy(p->rv, sizeof(p->rv), str_at(md, "resourceVersion"));
    if (str_at(md, "continue") != NULL &&
        strlen(str_at(md, "continue")) >= sizeof(p->cont)) {
        k8s_page_release(p);
        return err_set(e, PC_ECORRUPT, "continue token too long");
    }
    copy(p->cont, sizeof(p->cont), str_at(md, "continue"));
    return PC_OK;
}

void k8s_page_release(struct k8s_page *p)
{
    json_decref(p->doc);
    p->doc = NULL;
    p->items = NULL;
}

void k8s_status_text(const char *body, size_t len, char *out, size_t outlen)
{
    json_t *doc = json_loadb(body, len, 0, NULL);
    const char *reason = str_at(doc, "reason");
    const char *msg = str_at(doc, "message");

    snprintf(out, outlen, "%s: %.200s", reason != NULL ? reason : "?",
             msg != NULL ? msg : "");
    json_decref(doc);
}
