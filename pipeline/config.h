/*
 * config.h: the whole configuration file, loaded and validated.
 *
 *   receivers: / processors: / exporters:   id -> component config
 *   service:
 *     pipelines:  profiles[/name] -> {receivers, processors, exporters}
 *     telemetry:  metrics.address, health.address, logs.level, logs.format,
 *                 ui.address, ui.retention, ui.max_bytes
 *     shutdown_timeout: 30s
 *
 * config_load() decodes every component's section with its factory's table,
 * runs the factory's validate(), resolves the pipelines' references and
 * reports every problem it finds (not just the first) into a cfg_diag. A
 * loaded config is complete and valid; the engine builds from it and can
 * compare two loaded configs component by component on reload.
 */
#ifndef PROFCOL_CONFIG_H
#define PROFCOL_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "component/component.h"
#include "config/ynode.h"

#define CONFIG_ID_MAX 256

struct config_component {
    enum component_kind kind;
    char *id; /* "type" or "type/name" */
    char *type;
    char *name; /* NULL when the id has no "/name" */
    const struct component_factory *factory;
    void *cfg;                /* factory->config_size bytes, decoded with
                               * factory->config; cfg_release()d by
                               * config_free() */
    const struct ynode *node; /* its YAML value (may be a null scalar) */
    const struct ynode *key;  /* the id's position in the file */
    /* Canonical text of the YAML value after env expansion: two components
     * with equal kind, id and canon have the same configuration. */
    char *canon;
    uint32_t npipelines; /* pipelines that reference it */
};

struct config_pipeline {
    char *id;   /* "profiles" or "profiles/name" */
    char *name; /* NULL for plain "profiles" */
    const struct ynode *node;
    /* Point into config.components; in the order the pipeline lists them. */
    struct config_component **receivers;
    uint32_t nreceivers;
    struct config_component **processors;
    uint32_t nprocessors;
    struct config_component **exporters;
    uint32_t nexporters;
};

/* Orders match enum log_level / enum log_format (telemetry/log.h). */
struct config_telemetry_metrics {
    char *address; /* default 127.0.0.1:8888 */
};
struct config_telemetry_health {
    char *address; /* default 127.0.0.1:13133 */
};
struct config_telemetry_logs {
    int level;  /* enum log_level, default info */
    int format; /* enum log_format, default logfmt */
};
struct config_telemetry_ui {
    char *address;        /* default "" (off) */
    int64_t retention_ms; /* default 15m */
    uint64_t max_bytes;   /* default 64MiB */
};
struct config_telemetry {
    struct config_telemetry_metrics metrics;
    struct config_telemetry_health health;
    struct config_telemetry_logs logs;
    struct config_telemetry_ui ui;
};

struct config {
    struct ydoc doc; /* nodes referenced above live here */
    struct config_component *components;
    uint32_t ncomponents;
    struct config_pipeline *pipelines;
    uint32_t npipelines;
    struct config_telemetry telemetry;
    int64_t shutdown_timeout_ms; /* default 30s */
};

/*
 * Loads and validates path. Errors and warnings go to d (zeroed by the
 * caller, freed with cfg_diag_free). Returns PC_OK when there was no error
 * (warnings allowed): cfg is then complete and owned by the caller
 * (config_free). Otherwise PC_ECONFIG (or PC_EIO / PC_ENOMEM ...) and cfg is
 * left empty (config_free is still safe).
 */
int config_load(const char *path, struct config *cfg, struct cfg_diag *d);
int config_load_mem(const char *name, const char *text, size_t len,
                    struct config *cfg, struct cfg_diag *d);
void config_free(struct config *cfg);

/* The component of that kind and id, or NULL. */
struct config_component *config_find(const struct config *cfg,
                                     enum component_kind kind, const char *id);

/* Same kind, id and configuration text (so a reload can keep it running). */
int config_component_equal(const struct config_component *a,
                           const struct config_component *b);

/* Splits "type[/name]" and checks the syntax; on error, a message in err. */
int config_parse_id(const char *id, char *type, size_t typelen,
                    const char **name, char *err, size_t errlen);

#endif
