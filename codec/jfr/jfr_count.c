/*
 * jfr_count.c: events per type of a JFR file (for `profcol inspect`), read
 * from each chunk's metadata and event framing only.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/jfr/jfr_int.h"

#define JFR_COUNT_MAX_TYPES 4096

struct type_count {
    char *name;
    uint64_t n;
};

struct counts {
    struct type_count v[JFR_COUNT_MAX_TYPES];
    uint32_t n;
};

static int bump(struct counts *t, const char *name)
{
    uint32_t i;

    for (i = 0; i < t->n; i++) {
        if (strcmp(t->v[i].name, name) == 0) {
            t->v[i].n++;
            return PC_OK;
        }
    }
    if (t->n == JFR_COUNT_MAX_TYPES) {
        return PC_OK; /* more types than anyone records: not listed */
    }
    t->v[t->n].name = malloc(strlen(name) + 1);
    if (t->v[t->n].name == NULL) {
        return PC_ENOMEM;
    }
    memcpy(t->v[t->n].name, name, strlen(name) + 1);
    t->v[t->n++].n = 1;
    return PC_OK;
}

static int count_chunk(struct jfr_chunk *c, struct counts *t)
{
    struct jfr_event ev;
    size_t pos = JFR_HEADER_LEN;
    int rc = jfr_meta_parse(c);

    while (rc == PC_OK && (rc = jfr_next_event(c, &pos, &ev)) == 1) {
        const char *name = ev.type == JFR_EV_METADATA     ? "(metadata)"
                           : ev.type == JFR_EV_CHECKPOINT ? "(checkpoint)"
                           : ev.cls != NULL               ? ev.cls->name
                                                          : "(unknown)";
        rc = bump(t, name);
    }
    return rc;
}

int jfr_count_events(const uint8_t *data, size_t len,
                     const struct jfr_limits *lim, jfr_count_fn fn, void *arg,
                     struct errctx *e)
{
    struct jfr_limits dl;
    struct jfr_chunk c;
    struct counts *t = calloc(1, sizeof(*t));
    size_t off = 0;
    uint32_t i;
    int rc = t == NULL ? PC_ENOMEM : PC_OK;

    if (lim == NULL) {
        jfr_limits_default(&dl);
        lim = &dl;
    }
    for (i = 0; rc == PC_OK && off < len; i++) {
        if (i >= lim->max_chunks) {
            rc = err_set(e, PC_ETOOBIG, "jfr: more than %u chunks",
                         lim->max_chunks);
            break;
        }
        rc = jfr_chunk_open(&c, data, len, off, i, lim, e);
        if (rc == PC_OK) {
            rc = count_chunk(&c, t);
        }
        off += c.len;
        jfr_chunk_close(&c);
    }
    for (i = 0; t != NULL && i < t->n; i++) {
        if (rc == PC_OK) {
            fn(arg, t->v[i].name, t->v[i].n);
        }
        free(t->v[i].name);
    }
    free(t);
    return rc;
}
