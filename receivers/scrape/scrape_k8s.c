/*
 * scrape_k8s.c: kubernetes_sd_configs for the scrape receiver. The
 * discovery layer (discovery/k8s_sd.h) watches the API server on its own
 * threads; on the event loop the job's timer asks whether anything
 * changed and, when it did, turns every discovered target into a group of
 * its own (one target, its full label set), which then goes through the
 * job's relabeling like any static or file target.
 */
#include <stdlib.h>
#include <string.h>

#include "telemetry/log.h"
#include "receivers/scrape/scrape.h"

struct collect {
    struct scrape_group *v;
    uint32_t n, cap;
    struct labelset cur;
    int bad; /* the current target broke a bound */
    uint64_t dropped;
};

static int on_label(void *ctx, const char *name, const char *value)
{
    struct collect *c = ctx;

    if (!c->bad && labels_set(&c->cur, name, value) != PC_OK) {
        c->bad = 1; /* dropped at target(); discovery goes on */
    }
    return 0;
}

static int on_target(void *ctx, const char *source)
{
    struct collect *c = ctx;
    const char *addr = labels_get(&c->cur, "__address__");
    struct scrape_group *g;

    (void)source;
    if (c->bad || addr == NULL) {
        c->dropped++;
        labels_free(&c->cur);
        c->bad = 0;
        return 0;
    }
    if (c->n == c->cap) {
        uint32_t ncap = c->cap ? c->cap * 2 : 64;
        struct scrape_group *nv = realloc(c->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        c->v = nv;
        c->cap = ncap;
    }
    g = &c->v[c->n];
    memset(g, 0, sizeof(*g));
    g->targets = calloc(1, sizeof(*g->targets));
    if (g->targets == NULL || (g->targets[0] = strdup(addr)) == NULL) {
        free(g->targets);
        return PC_ENOMEM;
    }
    g->ntargets = 1;
    g->labels = c->cur; /* taken */
    labels_init(&c->cur);
    c->n++;
    return 0;
}

void scrape_k8s_poll(struct scrape_k8s *k, const char *component, int *changed)
{
    struct collect c;
    struct k8s_emit em = {&c, on_label, on_target};
    int rc;

    if (k->sd == NULL || !k8s_sd_changed(k->sd)) {
        return;
    }
    memset(&c, 0, sizeof(c));
    labels_init(&c.cur);
    rc = k8s_sd_build(k->sd, &em);
    labels_free(&c.cur);
    if (rc != 0) {
        /* out of memory: keep the targets we had */
        scrape_groups_free(c.v, c.n);
        log_warn(component, "kubernetes targets not rebuilt", "error=\"%s\"",
                 pc_strerror(rc));
        return;
    }
    if (c.dropped > k->dropped) {
        log_warn(component,
                 "kubernetes targets dropped: labels over the bounds",
                 "dropped=%llu", (unsigned long long)c.dropped);
    }
    k->dropped = c.dropped;
    scrape_groups_free(k->groups, k->ngroups);
    k->groups = c.v;
    k->ngroups = c.n;
    *changed = 1;
}

void scrape_k8s_free(struct scrape_k8s *k)
{
    k8s_sd_stop(k->sd);
    k->sd = NULL;
    scrape_groups_free(k->groups, k->ngroups);
    k->groups = NULL;
    k->ngroups = 0;
}
