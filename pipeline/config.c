/*
 * config.c: loading the configuration file into a struct config.
 *
 * The loader keeps going after a problem so that one run of
 * `profcol validate` shows every error in the file. To avoid an error
 * causing a cascade of follow-up errors, a component whose id, type or
 * settings are wrong is still entered in the component list (without a
 * factory), so pipelines that reference it do not also report "not
 * defined". The service section itself is decoded with cfg tables, like any
 * component, so its keys get the same checks and messages.
 */
#include "pipeline/config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "telemetry/log.h"

/* The enum tables below are indexed like enum log_level / log_format. */
_Static_assert(LOG_DEBUG == 0 && LOG_INFO == 1 && LOG_WARN == 2 &&
                   LOG_ERROR == 3,
               "log level order");
_Static_assert(LOG_FORMAT_LOGFMT == 0 && LOG_FORMAT_JSON == 1,
               "log format order");

#define CONFIG_CANON_MAX ((size_t)16 << 20)

static const char *const log_levels[] = {"debug", "info", "warn", "error",
                                         NULL};
static const char *const log_formats[] = {"logfmt", "json", NULL};

/* clang-format off */
static const struct cfg_entry metrics_table[] = {
    {.key = "address", .type = CFG_STRING,
     .offset = offsetof(struct config_telemetry_metrics, address),
     .def = "127.0.0.1:8888",
     .doc = "host:port of the Prometheus /metrics endpoint"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry health_table[] = {
    {.key = "address", .type = CFG_STRING,
     .offset = offsetof(struct config_telemetry_health, address),
     .def = "127.0.0.1:13133", .doc = "host:port of the /health endpoint"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry logs_table[] = {
    {.key = "level", .type = CFG_ENUM,
     .offset = offsetof(struct config_telemetry_logs, level), .def = "info",
     .enum_values = log_levels, .doc = "least severe level written"},
    {.key = "format", .type = CFG_ENUM,
     .offset = offsetof(struct config_telemetry_logs, format),
     .def = "logfmt", .enum_values = log_formats,
     .doc = "log line format on stderr"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry ui_table[] = {
    {.key = "address", .type = CFG_STRING,
     .offset = offsetof(struct config_telemetry_ui, address), .def = "",
     .doc = "host:port of the status page (empty: off)"},
    {.key = "retention", .type = CFG_DURATION,
     .offset = offsetof(struct config_telemetry_ui, retention_ms),
     .def = "15m", .min = 1000, .max = 7LL * 24 * 3600 * 1000,
     .doc = "how far back the page's flame graphs reach"},
    {.key = "max_bytes", .type = CFG_SIZE,
     .offset = offsetof(struct config_telemetry_ui, max_bytes),
     .def = "64MiB", .min = 1 << 20, .max = (int64_t)1 << 40,
     .doc = "memory the page's flame graphs may hold in all"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry telemetry_table[] = {
    {.key = "metrics", .type = CFG_SECTION,
     .offset = offsetof(struct config_telemetry, metrics), .sub = metrics_table,
     .doc = "self-metrics endpoint"},
    {.key = "health", .type = CFG_SECTION,
     .offset = offsetof(struct config_telemetry, health), .sub = health_table,
     .doc = "health endpoint"},
    {.key = "logs", .type = CFG_SECTION,
     .offset = offsetof(struct config_telemetry, logs), .sub = logs_table,
     .doc = "own logs"},
    {.key = "ui", .type = CFG_SECTION,
     .offset = offsetof(struct config_telemetry, ui), .sub = ui_table,
     .doc = "status page: pipelines, counters, flame graphs"},
    {0},
};
/* clang-format on */

struct service_cfg {
    const struct ynode *pipelines;
    const struct ynode *extensions;
    struct config_telemetry telemetry;
    int64_t shutdown_timeout_ms;
};

/* clang-format off */
static const struct cfg_entry service_table[] = {
    {.key = "pipelines", .type = CFG_NODE,
     .offset = offsetof(struct service_cfg, pipelines),
     .doc = "profiles[/name] -> {receivers, processors, exporters}"},
    {.key = "telemetry", .type = CFG_SECTION,
     .offset = offsetof(struct service_cfg, telemetry), .sub = telemetry_table,
     .doc = "profcol's own metrics, health and logs"},
    {.key = "shutdown_timeout", .type = CFG_DURATION,
     .offset = offsetof(struct service_cfg, shutdown_timeout_ms), .def = "30s",
     .min = 0, .max = INT64_MAX,
     .doc = "how long shutdown may take to drain the queues"},
    {.key = "extensions", .type = CFG_NODE,
     .offset = offsetof(struct service_cfg, extensions),
     .doc = "not supported (health and metrics are built in)"},
    {0},
};
/* clang-format on */

struct pipeline_cfg {
    const struct ynode *receivers, *processors, *exporters;
};

/* clang-format off */
static const struct cfg_entry pipeline_table[] = {
    {.key = "receivers", .type = CFG_NODE,
     .offset = offsetof(struct pipeline_cfg, receivers)},
    {.key = "processors", .type = CFG_NODE,
     .offset = offsetof(struct pipeline_cfg, processors)},
    {.key = "exporters", .type = CFG_NODE,
     .offset = offsetof(struct pipeline_cfg, exporters)},
    {0},
};
/* clang-format on */

static const char *const section_names[] = {"receivers", "processors",
                                            "exporters"};

/* ---- ids -------------------------------------------------------------- */

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

int config_parse_id(const char *id, char *type, size_t typelen,
                    const char **name, char *err, size_t errlen)
{
    const char *slash = strchr(id, '/');
    size_t tlen = slash != NULL ? (size_t)(slash - id) : strlen(id), i;
    const unsigned char *p;

    *name = NULL;
    if (tlen == 0 || tlen > 63 || !is_alpha(id[0])) {
        goto bad_type;
    }
    for (i = 1; i < tlen; i++) {
        if (!is_alpha(id[i]) && !(id[i] >= '0' && id[i] <= '9') &&
            id[i] != '_') {
            goto bad_type;
        }
    }
    if (tlen >= typelen) {
        goto bad_type;
    }
    memcpy(type, id, tlen);
    type[tlen] = '\0';
    if (slash == NULL) {
        return PC_OK;
    }
    if (slash[1] == '\0') {
        snprintf(err, errlen,
                 "invalid id '%.100s': the name after '/' must "
                 "not be empty",
                 id);
        return PC_EINVAL;
    }
    for (p = (const unsigned char *)slash + 1; *p != '\0'; p++) {
        if (*p <= 0x20 || *p == 0x7f) {
            snprintf(err, errlen,
                     "invalid id '%.100s': the name must not "
                     "contain spaces or control characters",
                     id);
            return PC_EINVAL;
        }
    }
    if (strlen(id) >= CONFIG_ID_MAX) {
        snprintf(err, errlen, "invalid id '%.100s...': longer than %d bytes",
                 id, CONFIG_ID_MAX - 1);
        return PC_EINVAL;
    }
    *name = slash + 1;
    return PC_OK;
bad_type:
    snprintf(err, errlen,
             "invalid id '%.100s': the type must match "
             "[a-zA-Z][0-9a-zA-Z_]{0,62}, optionally followed by /name",
             id);
    return PC_EINVAL;
}

/* ---- canonical text --------------------------------------------------- */

static int canon_scalar(struct buf *b, const struct ynode *n)
{
    const unsigned char *p;
    int rc;

    if (n->is_null) {
        return buf_putc(b, '~');
    }
    rc = buf_putc(b, '"');
    for (p = (const unsigned char *)n->value; rc == PC_OK && *p; p++) {
        if (*p == '"' || *p == '\\') {
            rc = buf_putc(b, '\\');
            if (rc == PC_OK) {
                rc = buf_putc(b, *p);
            }
        } else if (*p < 0x20) {
            rc = buf_printf(b, "\\x%02x", *p);
        } else {
            rc = buf_putc(b, *p);
        }
    }
    return rc == PC_OK ? buf_putc(b, '"') : rc;
}

/* A stable rendering of a subtree: keys in document order, values after env
 * expansion, so a changed environment variable counts as a change. */
static int canon_node(struct buf *b, const struct ynode *n)
{
    uint32_t i;
    int rc = PC_OK;

    if (n->kind == YNODE_SCALAR) {
        return canon_scalar(b, n);
    }
    rc = buf_putc(b, n->kind == YNODE_MAP ? '{' : '[');
    for (i = 0; rc == PC_OK && i < n->n; i++) {
        if (i > 0) {
            rc = buf_putc(b, ',');
        }
        if (rc == PC_OK && n->kind == YNODE_MAP) {
            rc = canon_scalar(b, n->keys[i]);
            if (rc == PC_OK) {
                rc = buf_putc(b, ':');
            }
        }
        if (rc == PC_OK) {
            rc = canon_node(b, n->children[i]);
        }
    }
    return rc == PC_OK ? buf_putc(b, n->kind == YNODE_MAP ? '}' : ']') : rc;
}

static char *canon_text(const struct ynode *n)
{
    struct buf b;

    buf_init(&b, CONFIG_CANON_MAX);
    if (canon_node(&b, n) != PC_OK || buf_putc(&b, '\0') != PC_OK) {
        buf_free(&b);
        return NULL;
    }
    return (char *)buf_take(&b, NULL);
}

/* ---- components ------------------------------------------------------- */

static void known_types(enum component_kind kind, char *out, size_t len)
{
    size_t n, i, used = 0;
    const struct component_factory *const *f = registry_all(&n);
    int w;

    out[0] = '\0';
    for (i = 0; i < n && used < len; i++) {
        if (f[i]->kind != kind) {
            continue;
        }
        w = snprintf(out + used, len - used, "%s%s", used ? ", " : "",
                     f[i]->type);
        if (w < 0) {
            return;
        }
        used += (size_t)w;
    }
}

static void decode_component(struct config_component *c, struct cfg_diag *d)
{
    const struct component_factory *f = c->factory;
    uint32_t before = d->nerrors + d->nlost;

    c->cfg = calloc(1, f->config_size ? f->config_size : 1);
    if (c->cfg == NULL) {
        cfg_diag_error(d, c->key, "out of memory");
        return;
    }
    cfg_decode(f->config, c->node, c->cfg, d);
    /* Cross-field checks only make sense on a well-typed config. */
    if (f->validate != NULL && d->nerrors + d->nlost == before) {
        f->validate(c->cfg, c->node, d);
    }
}

static int add_component(struct config *cfg, enum component_kind kind,
                         const struct ynode *key, const struct ynode *value,
                         struct cfg_diag *d)
{
    struct config_component *c = &cfg->components[cfg->ncomponents];
    char type[64], err[256], known[512];
    const char *name;

    memset(c, 0, sizeof(*c));
    c->kind = kind;
    c->key = key;
    c->node = value;
    c->id = strdup(key->value);
    c->canon = canon_text(value);
    if (c->id == NULL || c->canon == NULL) {
        free(c->id);
        free(c->canon);
        cfg_diag_error(d, key,
                       "%s::%.100s: out of memory or configuration "
                       "too large",
                       section_names[kind], key->value);
        return PC_ENOMEM;
    }
    cfg->ncomponents++;
    if (config_parse_id(key->value, type, sizeof(type), &name, err,
                        sizeof(err)) != PC_OK) {
        cfg_diag_error(d, key, "%s: %s", section_names[kind], err);
        return PC_OK;
    }
    c->type = strdup(type);
    c->name = name != NULL ? strdup(name) : NULL;
    if (c->type == NULL || (name != NULL && c->name == NULL)) {
        cfg_diag_error(d, key, "out of memory");
        return PC_ENOMEM;
    }
    c->factory = registry_find(kind, type);
    if (c->factory == NULL) {
        known_types(kind, known, sizeof(known));
        cfg_diag_error(d, key, "%s::%.100s: unknown %s type '%s' (%s%s)",
                       section_names[kind], key->value,
                       component_kind_name(kind), type,
                       known[0] ? "known types: " : "none is built in", known);
        return PC_OK;
    }
    decode_component(c, d);
    return PC_OK;
}

static int load_section(struct config *cfg, enum component_kind kind,
                        const struct ynode *sec, struct cfg_diag *d)
{
    uint32_t i;
    int rc;

    if (ynode_is_null(sec)) {
        return PC_OK;
    }
    for (i = 0; i < sec->n; i++) {
        rc = add_component(cfg, kind, sec->keys[i], sec->children[i], d);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

struct config_component *config_find(const struct config *cfg,
                                     enum component_kind kind, const char *id)
{
    uint32_t i;

    for (i = 0; i < cfg->ncomponents; i++) {
        if (cfg->components[i].kind == kind &&
            strcmp(cfg->components[i].id, id) == 0) {
            return &cfg->components[i];
        }
    }
    return NULL;
}

int config_component_equal(const struct config_component *a,
                           const struct config_component *b)
{
    return a->kind == b->kind && strcmp(a->id, b->id) == 0 &&
           a->factory == b->factory && strcmp(a->canon, b->canon) == 0;
}

/* ---- pipelines -------------------------------------------------------- */

static void defined_ids(const struct config *cfg, enum component_kind kind,
                        char *out, size_t len)
{
    size_t used = 0;
    uint32_t i;
    int w;

    out[0] = '\0';
    for (i = 0; i < cfg->ncomponents && used < len; i++) {
        /* Components with an invalid id were reported already. */
        if (cfg->components[i].kind != kind ||
            cfg->components[i].type == NULL) {
            continue;
        }
        w = snprintf(out + used, len - used, "%s%s", used ? ", " : "",
                     cfg->components[i].id);
        if (w < 0) {
            return;
        }
        used += (size_t)w;
    }
}

static void report_undefined(struct config *cfg, const struct ynode *item,
                             enum component_kind kind, const char *plid,
                             struct cfg_diag *d)
{
    char path[512], ids[512];

    ynode_path(item, path, sizeof(path));
    defined_ids(cfg, kind, ids, sizeof(ids));
    cfg_diag_error(d, item,
                   "%s: %s '%.100s' used by pipeline '%s' is not "
                   "defined in %s (%s%s)",
                   path, component_kind_name(kind), item->value, plid,
                   section_names[kind],
                   ids[0] ? "defined: " : "none is defined", ids);
}

/* Resolves one list of a pipeline (receivers, processors or exporters). */
static int resolve_list(struct config *cfg, struct config_pipeline *pl,
                        enum component_kind kind, const struct ynode *list,
                        struct config_component ***out, uint32_t *nout,
                        struct cfg_diag *d)
{
    struct config_component *c;
    const struct ynode *it;
    char path[512];
    uint32_t i, j;

    if (ynode_is_null(list)) {
        return PC_OK;
    }
    ynode_path(list, path, sizeof(path));
    if (list->kind != YNODE_SEQ) {
        cfg_diag_error(d, list, "%s: expected a list of component ids", path);
        return PC_OK;
    }
    *out = calloc(list->n ? list->n : 1, sizeof(**out));
    if (*out == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < list->n; i++) {
        it = list->children[i];
        if (it->kind != YNODE_SCALAR || it->is_null) {
            cfg_diag_error(d, it, "%s: expected a component id", path);
            continue;
        }
        c = config_find(cfg, kind, it->value);
        if (c == NULL) {
            report_undefined(cfg, it, kind, pl->id, d);
            continue;
        }
        for (j = 0; j < *nout && (*out)[j] != c; j++) {
        }
        if (j < *nout) {
            cfg_diag_error(d, it,
                           "%s: %s '%s' is listed twice in pipeline "
                           "'%s'",
                           path, component_kind_name(kind), c->id, pl->id);
            continue;
        }
        (*out)[(*nout)++] = c;
        c->npipelines++;
    }
    return PC_OK;
}

/* The pipeline id: "profiles" or "profiles/<name>", nothing else. */
static int check_pipeline_id(const struct ynode *key,
                             struct config_pipeline *pl, struct cfg_diag *d)
{
    char type[64], err[256];
    const char *name;

    if (config_parse_id(key->value, type, sizeof(type), &name, err,
                        sizeof(err)) != PC_OK) {
        cfg_diag_error(d, key, "service::pipelines: %s", err);
        return PC_EINVAL;
    }
    if (strcmp(type, "traces") == 0 || strcmp(type, "metrics") == 0 ||
        strcmp(type, "logs") == 0) {
        cfg_diag_error(d, key,
                       "service::pipelines: pipeline '%.100s': profcol "
                       "handles profiles only, not %s (use 'profiles' or "
                       "'profiles/<name>')",
                       key->value, type);
        return PC_EINVAL;
    }
    if (strcmp(type, "profiles") != 0) {
        cfg_diag_error(d, key,
                       "service::pipelines: pipeline '%.100s': "
                       "unknown signal '%s' (use 'profiles' or "
                       "'profiles/<name>')",
                       key->value, type);
        return PC_EINVAL;
    }
    pl->id = strdup(key->value);
    pl->name = name != NULL ? strdup(name) : NULL;
    if (pl->id == NULL || (name != NULL && pl->name == NULL)) {
        return PC_ENOMEM;
    }
    return PC_OK;
}

static int list_empty(const struct ynode *list)
{
    return ynode_is_null(list) || (list->kind == YNODE_SEQ && list->n == 0);
}

static int load_pipeline(struct config *cfg, const struct ynode *key,
                         const struct ynode *value, struct cfg_diag *d)
{
    struct config_pipeline *pl = &cfg->pipelines[cfg->npipelines];
    struct pipeline_cfg pc;
    int rc;

    memset(pl, 0, sizeof(*pl));
    memset(&pc, 0, sizeof(pc));
    pl->node = value;
    rc = check_pipeline_id(key, pl, d);
    if (rc != PC_OK) {
        free(pl->id);
        free(pl->name);
        return rc == PC_ENOMEM ? rc : PC_OK;
    }
    cfg->npipelines++;
    cfg_decode(pipeline_table, value, &pc, d);
    rc = resolve_list(cfg, pl, COMPONENT_RECEIVER, pc.receivers,
                      &pl->receivers, &pl->nreceivers, d);
    if (rc == PC_OK) {
        rc = resolve_list(cfg, pl, COMPONENT_PROCESSOR, pc.processors,
                          &pl->processors, &pl->nprocessors, d);
    }
    if (rc == PC_OK) {
        rc = resolve_list(cfg, pl, COMPONENT_EXPORTER, pc.exporters,
                          &pl->exporters, &pl->nexporters, d);
    }
    if (rc != PC_OK) {
        return rc;
    }
    /* Only report an empty list when nothing was listed at all, not when
     * every listed id was already reported as undefined. */
    if (pl->nreceivers == 0 && list_empty(pc.receivers)) {
        cfg_diag_error(d, key,
                       "service::pipelines::%s: pipeline has no "
                       "receivers (at least one is required)",
                       pl->id);
    }
    if (pl->nexporters == 0 && list_empty(pc.exporters)) {
        cfg_diag_error(d, key,
                       "service::pipelines::%s: pipeline has no "
                       "exporters (at least one is required)",
                       pl->id);
    }
    return PC_OK;
}

static int load_pipelines(struct config *cfg, const struct ynode *pls,
                          const struct ynode *service, struct cfg_diag *d)
{
    uint32_t i;
    int rc;

    if (ynode_is_null(pls) || (pls->kind == YNODE_MAP && pls->n == 0)) {
        cfg_diag_error(d, pls != NULL ? pls : service,
                       "service::pipelines: "
                       "no pipeline is defined (at least one is required)");
        return PC_OK;
    }
    if (pls->kind != YNODE_MAP) {
        cfg_diag_error(d, pls,
                       "service::pipelines: expected a mapping of "
                       "pipeline ids to pipelines");
        return PC_OK;
    }
    cfg->pipelines = calloc(pls->n, sizeof(*cfg->pipelines));
    if (cfg->pipelines == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < pls->n; i++) {
        rc = load_pipeline(cfg, pls->keys[i], pls->children[i], d);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int load_service(struct config *cfg, const struct ynode *service,
                        struct cfg_diag *d)
{
    struct service_cfg sc;
    int rc;

    memset(&sc, 0, sizeof(sc));
    cfg_decode(service_table, service, &sc, d);
    /* Keep the telemetry (and its strings) even on error, so config_free
     * releases them in one place. */
    cfg->telemetry = sc.telemetry;
    cfg->shutdown_timeout_ms = sc.shutdown_timeout_ms;
    if (!ynode_is_null(sc.extensions) &&
        !(sc.extensions->kind == YNODE_SEQ && sc.extensions->n == 0)) {
        cfg_diag_error(d, sc.extensions,
                       "service::extensions: extensions are "
                       "not supported by profcol (health and metrics are "
                       "built in: see service::telemetry)");
    }
    if (service->kind != YNODE_MAP) {
        return PC_OK; /* cfg_decode reported it */
    }
    rc = load_pipelines(cfg, sc.pipelines, service, d);
    return rc;
}

static void warn_unused(const struct config *cfg, struct cfg_diag *d)
{
    uint32_t i;
    const struct config_component *c;

    for (i = 0; i < cfg->ncomponents; i++) {
        c = &cfg->components[i];
        if (c->npipelines == 0 && c->factory != NULL) {
            cfg_diag_warn(d, c->key,
                          "%s '%s' is defined but not used by any "
                          "pipeline",
                          component_kind_name(c->kind), c->id);
        }
    }
}

/* ---- top level -------------------------------------------------------- */

static int top_key(const struct ynode *key, struct cfg_diag *d)
{
    static const char *const known[] = {"receivers", "processors", "exporters",
                                        "service", NULL};
    int i;

    for (i = 0; known[i] != NULL; i++) {
        if (strcmp(key->value, known[i]) == 0) {
            return i;
        }
    }
    if (strcmp(key->value, "extensions") == 0 ||
        strcmp(key->value, "connectors") == 0) {
        cfg_diag_error(d, key, "%s are not supported by profcol%s", key->value,
                       key->value[0] == 'e'
                           ? " (health and metrics are built in: see "
                             "service::telemetry)"
                           : "");
    } else {
        cfg_diag_error(d, key,
                       "unknown top-level key '%.100s' (valid keys: "
                       "receivers, processors, exporters, service)",
                       key->value);
    }
    return -1;
}

static int load_root(struct config *cfg, struct cfg_diag *d)
{
    const struct ynode *root = cfg->doc.root, *sec[4] = {NULL};
    uint32_t i, total = 0;
    int k, rc;

    if (root->kind != YNODE_MAP) {
        cfg_diag_error(d, root,
                       "expected a mapping at the top level "
                       "(receivers, processors, exporters, service)");
        return PC_OK;
    }
    for (i = 0; i < root->n; i++) {
        k = top_key(root->keys[i], d);
        if (k >= 0) {
            sec[k] = root->children[i];
        }
    }
    for (k = 0; k < 3; k++) {
        if (!ynode_is_null(sec[k]) && sec[k]->kind != YNODE_MAP) {
            cfg_diag_error(d, sec[k],
                           "%s: expected a mapping of component "
                           "ids to their settings",
                           section_names[k]);
            sec[k] = NULL;
        } else if (!ynode_is_null(sec[k])) {
            total += sec[k]->n;
        }
    }
    cfg->components = calloc(total ? total : 1, sizeof(*cfg->components));
    if (cfg->components == NULL) {
        return PC_ENOMEM;
    }
    for (k = 0; k < 3; k++) {
        rc = load_section(cfg, (enum component_kind)k, sec[k], d);
        if (rc != PC_OK) {
            return rc;
        }
    }
    if (ynode_is_null(sec[3])) {
        cfg_diag_error(d, sec[3] != NULL ? sec[3] : root,
                       "missing 'service' "
                       "section (it defines the pipelines)");
        return PC_OK;
    }
    rc = load_service(cfg, sec[3], d);
    if (rc == PC_OK) {
        warn_unused(cfg, d);
    }
    return rc;
}

_Static_assert(COMPONENT_RECEIVER == 0 && COMPONENT_PROCESSOR == 1 &&
                   COMPONENT_EXPORTER == 2,
               "section_names order");

/* After the document is loaded: everything else. */
static int config_build(struct config *cfg, struct cfg_diag *d)
{
    struct ynode top;
    int rc;

    if (cfg->doc.root == NULL) {
        memset(&top, 0, sizeof(top));
        top.file = cfg->doc.file;
        top.line = 1;
        top.col = 1;
        cfg_diag_error(d, &top, "the configuration is empty");
        return PC_ECONFIG;
    }
    rc = load_root(cfg, d);
    if (rc == PC_ENOMEM) {
        cfg_diag_error(d, cfg->doc.root, "out of memory");
    }
    if (rc == PC_OK && cfg_diag_failed(d)) {
        rc = PC_ECONFIG;
    }
    return rc;
}

static int finish(struct config *cfg, struct cfg_diag *d, int rc,
                  const char *err)
{
    if (rc != PC_OK) {
        cfg_diag_error(d, NULL, "%s", err);
        config_free(cfg);
        return rc == PC_EINVAL || rc == PC_EUNSUPPORTED || rc == PC_ETOOBIG
                   ? PC_ECONFIG
                   : rc;
    }
    rc = config_build(cfg, d);
    if (rc != PC_OK) {
        config_free(cfg);
    }
    return rc;
}

int config_load(const char *path, struct config *cfg, struct cfg_diag *d)
{
    char err[512];
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    rc = ydoc_load_file(path, &cfg->doc, err, sizeof(err));
    return finish(cfg, d, rc, err);
}

int config_load_mem(const char *name, const char *text, size_t len,
                    struct config *cfg, struct cfg_diag *d)
{
    char err[512];
    int rc;

    memset(cfg, 0, sizeof(*cfg));
    rc = ydoc_load_mem(name, text, len, &cfg->doc, err, sizeof(err));
    return finish(cfg, d, rc, err);
}

void config_free(struct config *cfg)
{
    struct config_component *c;
    uint32_t i;

    for (i = 0; i < cfg->ncomponents; i++) {
        c = &cfg->components[i];
        if (c->factory != NULL && c->cfg != NULL) {
            cfg_release(c->factory->config, c->cfg);
        }
        free(c->cfg);
        free(c->id);
        free(c->type);
        free(c->name);
        free(c->canon);
    }
    free(cfg->components);
    for (i = 0; i < cfg->npipelines; i++) {
        free(cfg->pipelines[i].id);
        free(cfg->pipelines[i].name);
        free(cfg->pipelines[i].receivers);
        free(cfg->pipelines[i].processors);
        free(cfg->pipelines[i].exporters);
    }
    free(cfg->pipelines);
    cfg_release(telemetry_table, &cfg->telemetry);
    ydoc_free(&cfg->doc);
    memset(cfg, 0, sizeof(*cfg));
}
