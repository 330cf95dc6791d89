/*
 * admin.h: the admin HTTP server: GET /metrics (Prometheus text, version
 * 0.0.4, rendered from the registry) and GET /health (200 while the engine
 * runs, 503 while it starts or stops).
 *
 * Both endpoints run on the main event loop. They may listen on different
 * addresses (self-metrics on 8888, health on 13133 by default); when both
 * addresses are the same, one listener serves both paths. An empty (or
 * NULL) address disables that endpoint. Addresses are "host:port",
 * "[v6addr]:port" or ":port" (all interfaces).
 */
#ifndef PROFCOL_ADMIN_H
#define PROFCOL_ADMIN_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct event_base;
struct metrics;
struct admin;

enum admin_state {
    ADMIN_STATE_STARTING = 0,
    ADMIN_STATE_RUNNING,
    ADMIN_STATE_STOPPING,
};

/* Binds and starts serving on base. The registry is borrowed and must
 * outlive the server. On failure (bad address, bind error: the message
 * names the address and the system's reason) nothing stays open. The
 * initial state is STARTING. */
int admin_start(struct event_base *base, const char *metrics_addr,
                const char *health_addr, struct metrics *m, struct admin **out,
                struct errctx *e);

/* Safe from any thread. */
void admin_set_state(struct admin *a, enum admin_state state);

/* Closes the listeners and frees a; call on the loop's thread. NULL ok. */
void admin_stop(struct admin *a);

/* The port actually bound (useful with port 0); 0 when disabled. */
uint16_t admin_metrics_port(const struct admin *a);
uint16_t admin_health_port(const struct admin *a);

#endif
