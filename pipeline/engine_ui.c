/* engine_ui.c: the status page started from a loaded configuration and
 * given its pipelines (see engine_ui.h). */
#include "pipeline/engine_ui.h"

#include <stdlib.h>

#include "telemetry/log.h"

#define ENGINE_UI_LOG "service"

int ui_start_from(const struct config *cfg, struct event_base *base,
                  struct metrics *m, struct ui **out)
{
    const struct config_telemetry_ui *c = &cfg->telemetry.ui;
    struct ui_config uc = {c->address, c->retention_ms, c->max_bytes};
    struct errctx e = {{0}};

    if (ui_start(base, &uc, m, out, &e) != PC_OK) {
        log_error(ENGINE_UI_LOG, "cannot start: cannot serve the status page",
                  "error=\"%s\"", err_msg(&e, PC_EIO));
        return PC_EIO;
    }
    return PC_OK;
}

/* The ids of one pipeline's components into ids (from n on). */
static void ui_pipeline_ids(const struct config_pipeline *p,
                            struct ui_pipeline *v, const char **ids,
                            uint32_t *n)
{
    uint32_t k;

    v->id = p->id;
    v->receivers = ids + *n;
    v->nreceivers = p->nreceivers;
    for (k = 0; k < p->nreceivers; k++) {
        ids[(*n)++] = p->receivers[k]->id;
    }
    v->processors = ids + *n;
    v->nprocessors = p->nprocessors;
    for (k = 0; k < p->nprocessors; k++) {
        ids[(*n)++] = p->processors[k]->id;
    }
    v->exporters = ids + *n;
    v->nexporters = p->nexporters;
    for (k = 0; k < p->nexporters; k++) {
        ids[(*n)++] = p->exporters[k]->id;
    }
}

void ui_pipelines_of(struct ui *u, const struct config *cfg)
{
    struct ui_pipeline *v;
    uint32_t i, n = 0;
    const char **ids;

    if (u == NULL) {
        return;
    }
    for (i = 0; i < cfg->npipelines; i++) {
        const struct config_pipeline *p = &cfg->pipelines[i];
        n += p->nreceivers + p->nprocessors + p->nexporters;
    }
    v = calloc((size_t)cfg->npipelines + 1, sizeof(*v));
    ids = calloc((size_t)n + 1, sizeof(*ids));
    for (i = 0, n = 0; v != NULL && ids != NULL && i < cfg->npipelines; i++) {
        ui_pipeline_ids(&cfg->pipelines[i], &v[i], ids, &n);
    }
    if (v == NULL || ids == NULL ||
        ui_set_pipelines(u, v, cfg->npipelines) != PC_OK) {
        log_warn(ENGINE_UI_LOG, "status page: out of memory", "%s", "");
    }
    free(v);
    free(ids);
}
