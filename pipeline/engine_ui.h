/* engine_ui.h: the status page (ui/ui.h) started from a loaded
 * configuration, and told which pipelines to draw. */
#ifndef PROFCOL_ENGINE_UI_H
#define PROFCOL_ENGINE_UI_H

#include "pipeline/config.h"
#include "ui/ui.h"

struct event_base;
struct metrics;

/* Starts the page when service.telemetry.ui.address is set (*out stays
 * NULL otherwise); logs why not on failure. */
int ui_start_from(const struct config *cfg, struct event_base *base,
                  struct metrics *m, struct ui **out);

/* Hands cfg's pipelines to the page (u NULL: nothing); logs a failure,
 * which leaves the page without a graph but running. */
void ui_pipelines_of(struct ui *u, const struct config *cfg);

#endif
