/*
 * scrape_config.c: the scrape receiver's configuration: Prometheus/Parca
 * shaped `scrape_configs`, Alloy's profile targets under
 * `profiling_config`, the checks across keys, and the resolved list of
 * profiles a job scrapes.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "receivers/scrape/scrape.h"

/* One table per built-in profile: only the defaults differ. */
#define SCRAPE_PROF_TABLE(tname, en, pth, dl)                                 \
    static const struct cfg_entry tname[] = {                                 \
        {.key = "enabled",                                                    \
         .type = CFG_BOOL,                                                    \
         .def = en,                                                           \
         .offset = offsetof(struct scrape_prof_cfg, enabled),                 \
         .doc = "scrape this profile"},                                       \
        {.key = "path",                                                       \
         .type = CFG_STRING,                                                  \
         .def = pth,                                                          \
         .offset = offsetof(struct scrape_prof_cfg, path),                    \
         .doc = "HTTP path (after path_prefix)"},                             \
        {.key = "delta",                                                      \
         .type = CFG_BOOL,                                                    \
         .def = dl,                                                           \
         .offset = offsetof(struct scrape_prof_cfg, delta),                   \
         .doc = "add ?seconds=N: the target profiles for N seconds"},         \
        {.key = "seconds",                                                    \
         .type = CFG_INT,                                                     \
         .def = "0",                                                          \
         .min = 0,                                                            \
         .max = 86400,                                                        \
         .offset = offsetof(struct scrape_prof_cfg, seconds),                 \
         .doc = "N for delta (0 = scrape_interval - 1s)"},                    \
        {.key = NULL},                                                        \
    }

SCRAPE_PROF_TABLE(prof_cpu, "true", "/debug/pprof/profile", "true");
SCRAPE_PROF_TABLE(prof_memory, "true", "/debug/pprof/allocs", "false");
SCRAPE_PROF_TABLE(prof_goroutine, "true", "/debug/pprof/goroutine", "false");
SCRAPE_PROF_TABLE(prof_mutex, "true", "/debug/pprof/mutex", "false");
SCRAPE_PROF_TABLE(prof_block, "true", "/debug/pprof/block", "false");
SCRAPE_PROF_TABLE(prof_gd_memory, "false", "/debug/pprof/delta_heap", "false");
SCRAPE_PROF_TABLE(prof_gd_mutex, "false", "/debug/pprof/delta_mutex", "false");
SCRAPE_PROF_TABLE(prof_gd_block, "false", "/debug/pprof/delta_block", "false");
SCRAPE_PROF_TABLE(prof_fgprof, "false", "/debug/fgprof", "true");

/* clang-format off */
static const struct cfg_entry custom_table[] = {
    {.key = "name", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct scrape_custom_cfg, name),
     .doc = "profile name (__name__)"},
    {.key = "path", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct scrape_custom_cfg, path),
     .doc = "HTTP path (after path_prefix)"},
    {.key = "enabled", .type = CFG_BOOL, .def = "true",
     .offset = offsetof(struct scrape_custom_cfg, enabled),
     .doc = "scrape this profile"},
    {.key = "delta", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct scrape_custom_cfg, delta),
     .doc = "add ?seconds=N"},
    {.key = "seconds", .type = CFG_INT, .def = "0", .min = 0, .max = 86400,
     .offset = offsetof(struct scrape_custom_cfg, seconds),
     .doc = "N for delta (0 = scrape_interval - 1s)"},
    {.key = NULL},
};
/* clang-format on */

#define BUILTIN_ENTRY(k, kind, tab)                                           \
    {                                                                         \
        .key = k, .type = CFG_SECTION, .sub = tab,                            \
        .offset = offsetof(struct scrape_profiling_cfg, builtin) +            \
                  (kind) * sizeof(struct scrape_prof_cfg),                    \
        .doc = "profile " k                                                   \
    }

/* clang-format off */
static const struct cfg_entry profiling_table[] = {
    {.key = "path_prefix", .type = CFG_STRING, .def = "",
     .offset = offsetof(struct scrape_profiling_cfg, path_prefix),
     .doc = "prepended to every profile path"},
    BUILTIN_ENTRY("process_cpu", SCRAPE_PROCESS_CPU, prof_cpu),
    BUILTIN_ENTRY("memory", SCRAPE_MEMORY, prof_memory),
    BUILTIN_ENTRY("goroutine", SCRAPE_GOROUTINE, prof_goroutine),
    BUILTIN_ENTRY("mutex", SCRAPE_MUTEX, prof_mutex),
    BUILTIN_ENTRY("block", SCRAPE_BLOCK, prof_block),
    BUILTIN_ENTRY("godeltaprof_memory", SCRAPE_GODELTAPROF_MEMORY,
                  prof_gd_memory),
    BUILTIN_ENTRY("godeltaprof_mutex", SCRAPE_GODELTAPROF_MUTEX,
                  prof_gd_mutex),
    BUILTIN_ENTRY("godeltaprof_block", SCRAPE_GODELTAPROF_BLOCK,
                  prof_gd_block),
    BUILTIN_ENTRY("fgprof", SCRAPE_FGPROF, prof_fgprof),
    {.key = "custom", .type = CFG_SECTION_LIST, .sub = custom_table,
     .sub_size = sizeof(struct scrape_custom_cfg),
     .offset = offsetof(struct scrape_profiling_cfg, custom),
     .doc = "other profiles: [{name, path, enabled, delta, seconds}]"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry static_table[] = {
    {.key = "targets", .type = CFG_STRLIST,
     .offset = offsetof(struct scrape_static_cfg, targets),
     .doc = "host:port of each target"},
    {.key = "labels", .type = CFG_MAP,
     .offset = offsetof(struct scrape_static_cfg, labels),
     .doc = "labels added to these targets"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry filesd_table[] = {
    {.key = "files", .type = CFG_STRLIST, .required = 1,
     .offset = offsetof(struct scrape_filesd_cfg, files),
     .doc = "globs of .json/.yml/.yaml target files"},
    {.key = "refresh_interval", .type = CFG_DURATION, .def = "5m",
     .min = 100, .max = INT64_MAX,
     .offset = offsetof(struct scrape_filesd_cfg, refresh_interval_ms),
     .doc = "re-read every file this often (changes are seen within 5s)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry basic_auth_table[] = {
    {.key = "username", .type = CFG_STRING,
     .offset = offsetof(struct scrape_basic_auth_cfg, username)},
    {.key = "password", .type = CFG_STRING,
     .offset = offsetof(struct scrape_basic_auth_cfg, password)},
    {.key = "password_file", .type = CFG_STRING,
     .offset = offsetof(struct scrape_basic_auth_cfg, password_file),
     .doc = "file holding the password (re-read every minute)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry tls_table[] = {
    {.key = "ca_file", .type = CFG_STRING,
     .offset = offsetof(struct scrape_tls_cfg, ca_file),
     .doc = "CA bundle that verifies the targets"},
    {.key = "cert_file", .type = CFG_STRING,
     .offset = offsetof(struct scrape_tls_cfg, cert_file),
     .doc = "client certificate (PEM)"},
    {.key = "key_file", .type = CFG_STRING,
     .offset = offsetof(struct scrape_tls_cfg, key_file),
     .doc = "client key (PEM)"},
    {.key = "server_name", .type = CFG_STRING,
     .offset = offsetof(struct scrape_tls_cfg, server_name),
     .doc = "name sent (SNI) and verified instead of the address's host"},
    {.key = "insecure_skip_verify", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct scrape_tls_cfg, insecure_skip_verify),
     .doc = "do not verify the target's certificate"},
    {.key = NULL},
};
/* clang-format on */

static const char *const schemes[] = {"http", "https", NULL};

/* clang-format off */
static const struct cfg_entry job_table[] = {
    {.key = "job_name", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct scrape_job_cfg, job_name),
     .doc = "the `job` label"},
    {.key = "scrape_interval", .type = CFG_DURATION, .def = "15s",
     .min = 1000, .max = 86400000,
     .offset = offsetof(struct scrape_job_cfg, interval_ms),
     .doc = "how often each profile of each target is scraped"},
    {.key = "scrape_timeout", .type = CFG_DURATION, .def = "10s",
     .min = 1, .max = 86400000,
     .offset = offsetof(struct scrape_job_cfg, timeout_ms),
     .doc = "HTTP timeout, on top of `seconds` for delta profiles"},
    {.key = "scheme", .type = CFG_ENUM, .def = "http", .enum_values = schemes,
     .offset = offsetof(struct scrape_job_cfg, scheme),
     .doc = "http or https"},
    {.key = "params", .type = CFG_MAP,
     .offset = offsetof(struct scrape_job_cfg, params),
     .doc = "URL query parameters (also __param_<name> labels)"},
    {.key = "static_configs", .type = CFG_SECTION_LIST, .sub = static_table,
     .sub_size = sizeof(struct scrape_static_cfg),
     .offset = offsetof(struct scrape_job_cfg, static_configs),
     .doc = "[{targets, labels}]"},
    {.key = "file_sd_configs", .type = CFG_SECTION_LIST, .sub = filesd_table,
     .sub_size = sizeof(struct scrape_filesd_cfg),
     .offset = offsetof(struct scrape_job_cfg, file_sd_configs),
     .doc = "[{files, refresh_interval}] (Prometheus file_sd format)"},
    {.key = "kubernetes_sd_configs", .type = CFG_SECTION_LIST,
     .sub = k8s_sd_cfg_table, .sub_size = sizeof(struct k8s_sd_cfg),
     .offset = offsetof(struct scrape_job_cfg, kubernetes_sd_configs),
     .doc = "[{role, api_server, kubeconfig_file, namespaces, selectors, "
            "attach_metadata, ...}] (Prometheus kubernetes_sd)"},
    {.key = "service_name_label", .type = CFG_STRING, .def = "service_name",
     .offset = offsetof(struct scrape_job_cfg, service_name_label),
     .doc = "target label whose value is service.name (__name__: Pyroscope "
            "v0 configs, which put the application name there)"},
    {.key = "relabel_configs", .type = CFG_SECTION_LIST,
     .sub = relabel_cfg_table, .sub_size = sizeof(struct relabel_cfg),
     .offset = offsetof(struct scrape_job_cfg, relabel_configs),
     .doc = "Prometheus relabeling of the target labels"},
    {.key = "basic_auth", .type = CFG_SECTION, .sub = basic_auth_table,
     .offset = offsetof(struct scrape_job_cfg, basic_auth),
     .doc = "username, password or password_file"},
    {.key = "bearer_token", .type = CFG_STRING,
     .offset = offsetof(struct scrape_job_cfg, bearer_token),
     .doc = "Authorization: Bearer <token>"},
    {.key = "bearer_token_file", .type = CFG_STRING,
     .offset = offsetof(struct scrape_job_cfg, bearer_token_file),
     .doc = "file holding the bearer token (re-read every minute)"},
    {.key = "tls_config", .type = CFG_SECTION, .sub = tls_table,
     .offset = offsetof(struct scrape_job_cfg, tls_config),
     .doc = "ca_file, cert_file, key_file, server_name, insecure_skip_verify"},
    {.key = "profiling_config", .type = CFG_SECTION, .sub = profiling_table,
     .offset = offsetof(struct scrape_job_cfg, profiling_config),
     .doc = "path_prefix and the profiles to scrape"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
const struct cfg_entry scrape_cfg_table[] = {
    {.key = "scrape_configs", .type = CFG_SECTION_LIST, .sub = job_table,
     .sub_size = sizeof(struct scrape_job_cfg), .required = 1,
     .offset = offsetof(struct scrape_cfg, scrape_configs),
     .doc = "scrape jobs (Prometheus/Parca shape)"},
    {.key = "max_response_size", .type = CFG_SIZE, .def = "64MiB", .min = 1024,
     .max = INT64_MAX, .offset = offsetof(struct scrape_cfg, max_response_size),
     .doc = "larger responses fail the scrape"},
    {.key = "delta_state_per_target", .type = CFG_SIZE, .def = "16MiB",
     .min = 1024, .max = INT64_MAX,
     .offset = offsetof(struct scrape_cfg, delta_state_per_target),
     .doc = "memory for one target profile's delta baseline"},
    {.key = "delta_state_total", .type = CFG_SIZE, .def = "256MiB",
     .min = 1024, .max = INT64_MAX,
     .offset = offsetof(struct scrape_cfg, delta_state_total),
     .doc = "memory for every delta baseline of this receiver"},
    {.key = "max_idle_connections", .type = CFG_INT, .def = "256", .min = 1,
     .max = 100000, .offset = offsetof(struct scrape_cfg, max_connections),
     .doc = "keep-alive connections kept open between scrapes"},
    {.key = NULL},
};
/* clang-format on */

/* ---- profiles -------------------------------------------------------------- */

static const char *const builtin_names[SCRAPE_NBUILTIN] = {
    "process_cpu", "memory", "goroutine", "mutex", "block",
    "memory",      "mutex",  "block",     "fgprof"};

static int64_t default_seconds(const struct scrape_job_cfg *jc, int64_t s)
{
    int64_t d = jc->interval_ms / 1000 - 1;

    if (s > 0) {
        return s;
    }
    return d > 0 ? d : 1;
}

static void join_path(char *out, size_t len, const char *prefix,
                      const char *path)
{
    size_t pl = strlen(prefix);

    if (pl > 0 && prefix[pl - 1] == '/' && path[0] == '/') {
        pl--;
    }
    snprintf(out, len, "%.*s%s%s", (int)pl, prefix,
             (pl > 0 && path[0] != '/') ? "/" : "", path);
}

static void fill_profile(struct scrape_profile *p,
                         const struct scrape_job_cfg *jc, const char *name,
                         const char *path, int delta, int64_t seconds)
{
    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    join_path(p->path, sizeof(p->path), jc->profiling_config.path_prefix,
              path);
    p->seconds = delta ? default_seconds(jc, seconds) : 0;
}

uint32_t scrape_profiles(const struct scrape_job_cfg *jc,
                         struct scrape_profile *out, uint32_t max)
{
    const struct scrape_profiling_cfg *pc = &jc->profiling_config;
    uint32_t n = 0, i;

    for (i = 0; i < SCRAPE_NBUILTIN && n < max; i++) {
        const struct scrape_prof_cfg *b = &pc->builtin[i];
        int cumulative = i == SCRAPE_MEMORY || i == SCRAPE_MUTEX ||
                         i == SCRAPE_BLOCK;
        int godelta = i >= SCRAPE_GODELTAPROF_MEMORY &&
                      i <= SCRAPE_GODELTAPROF_BLOCK;
        /* The standard Go profiles stay listed when disabled so that a
         * target's __profile_<name>_enabled="true" can turn them on. */
        if (!b->enabled && i > SCRAPE_BLOCK) {
            continue;
        }
        fill_profile(&out[n], jc, builtin_names[i], b->path, b->delta,
                     b->seconds);
        out[n].off = !b->enabled;
        out[n].client_delta = cumulative && !b->delta;
        out[n].delta_label = cumulative || godelta;
        n++;
    }
    for (i = 0; i < pc->custom.n && n < max; i++) {
        const struct scrape_custom_cfg *c =
            &((const struct scrape_custom_cfg *)pc->custom.items)[i];
        if (c->enabled) {
            fill_profile(&out[n++], jc, c->name, c->path, c->delta,
                         c->seconds);
        }
    }
    return n;
}

/* ---- validation ------------------------------------------------------------- */

static const struct ynode *at(const struct ynode *n, const char *key)
{
    const struct ynode *c = ynode_get(n, key);

    return c != NULL ? c : n;
}

static int has_ext(const char *s, const char *ext)
{
    size_t l = strlen(s), e = strlen(ext);

    return l >= e && strcmp(s + l - e, ext) == 0;
}

static int set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void check_profiles(const struct scrape_job_cfg *jc,
                           const struct ynode *jn, struct cfg_diag *d)
{
    const struct scrape_profiling_cfg *pc = &jc->profiling_config;
    const struct ynode *pn = at(jn, "profiling_config");
    int64_t max_s = jc->interval_ms / 1000 - 1;
    uint32_t i;

    for (i = 0; i < SCRAPE_NBUILTIN; i++) {
        const struct scrape_prof_cfg *b = &pc->builtin[i];
        if (b->enabled && b->delta && jc->interval_ms < 2000) {
            cfg_diag_error(d, at(jn, "scrape_interval"),
                           "scrape_interval "
                           "must be at least 2s when a delta profile (%s) is "
                           "enabled",
                           builtin_names[i]);
        }
        if (b->enabled && b->delta && b->seconds > 0 && b->seconds > max_s) {
            cfg_diag_error(d, pn,
                           "seconds (%" PRId64 ") must be at most "
                           "scrape_interval - 1s (%" PRId64 ")",
                           b->seconds, max_s);
        }
        if (b->enabled && (b->path == NULL || b->path[0] != '/')) {
            cfg_diag_error(d, pn, "profile path '%s' must start with '/'",
                           b->path ? b->path : "");
        }
    }
    for (i = 0; i < pc->custom.n; i++) {
        const struct scrape_custom_cfg *c =
            &((const struct scrape_custom_cfg *)pc->custom.items)[i];
        if (set(c->name) && !label_name_valid(c->name)) {
            cfg_diag_error(d, pn,
                           "custom profile name '%s' must match "
                           "[a-zA-Z_][a-zA-Z0-9_]*",
                           c->name);
        }
        if (c->path != NULL && c->path[0] != '/') {
            cfg_diag_error(d, pn,
                           "custom profile path '%s' must start "
                           "with '/'",
                           c->path);
        }
        if (c->enabled && c->delta && c->seconds > max_s) {
            cfg_diag_error(d, pn,
                           "custom profile %s: seconds must be at most "
                           "scrape_interval - 1s",
                           c->name ? c->name : "");
        }
    }
}

static void check_discovery(const struct scrape_job_cfg *jc,
                            const struct ynode *jn, struct cfg_diag *d)
{
    uint32_t i, k;

    for (i = 0; i < jc->static_configs.n; i++) {
        const struct scrape_static_cfg *s =
            &((const struct scrape_static_cfg *)jc->static_configs.items)[i];
        for (k = 0; k < s->targets.n; k++) {
            if (s->targets.items[k][0] == '\0') {
                cfg_diag_error(d, at(jn, "static_configs"),
                               "static_configs[%u]: empty target", i);
            }
        }
        for (k = 0; k < s->labels.n; k++) {
            if (!label_name_valid(s->labels.keys[k])) {
                cfg_diag_error(d, at(jn, "static_configs"),
                               "static_configs[%u]: invalid label name '%s'",
                               i, s->labels.keys[k]);
            }
        }
    }
    for (i = 0; i < jc->file_sd_configs.n; i++) {
        const struct scrape_filesd_cfg *f =
            &((const struct scrape_filesd_cfg *)jc->file_sd_configs.items)[i];
        for (k = 0; k < f->files.n; k++) {
            const char *p = f->files.items[k];
            if (!has_ext(p, ".json") && !has_ext(p, ".yml") &&
                !has_ext(p, ".yaml")) {
                cfg_diag_error(d, at(jn, "file_sd_configs"),
                               "file_sd_configs"
                               "[%u]: '%s' must end in .json, .yml or .yaml",
                               i, p);
            }
        }
    }
}

static void check_k8s(const struct scrape_job_cfg *jc, const struct ynode *jn,
                      struct cfg_diag *d)
{
    const struct ynode *list = ynode_get(jn, "kubernetes_sd_configs");
    uint32_t i;

    for (i = 0; i < jc->kubernetes_sd_configs.n; i++) {
        const struct ynode *n = list;
        if (list != NULL && list->kind == YNODE_SEQ && i < list->n) {
            n = list->children[i];
        }
        k8s_sd_cfg_check(
            &((const struct k8s_sd_cfg *)jc->kubernetes_sd_configs.items)[i],
            n != NULL ? n : jn, d);
    }
    if (jc->service_name_label != NULL && jc->service_name_label[0] != '\0' &&
        !label_name_valid(jc->service_name_label)) {
        cfg_diag_error(d, at(jn, "service_name_label"),
                       "service_name_label: invalid label name '%s'",
                       jc->service_name_label);
    }
}

static void check_auth(const struct scrape_job_cfg *jc, const struct ynode *jn,
                       struct cfg_diag *d)
{
    const struct scrape_basic_auth_cfg *ba = &jc->basic_auth;
    const struct scrape_tls_cfg *t = &jc->tls_config;

    if (set(ba->password) && set(ba->password_file)) {
        cfg_diag_error(d, at(jn, "basic_auth"),
                       "basic_auth: at most one of "
                       "password and password_file");
    }
    if (set(jc->bearer_token) && set(jc->bearer_token_file)) {
        cfg_diag_error(d, at(jn, "bearer_token"),
                       "at most one of "
                       "bearer_token and bearer_token_file");
    }
    if (set(ba->username) &&
        (set(jc->bearer_token) || set(jc->bearer_token_file))) {
        cfg_diag_error(d, at(jn, "basic_auth"),
                       "at most one of basic_auth "
                       "and bearer_token[_file]");
    }
    if (set(t->cert_file) != set(t->key_file)) {
        cfg_diag_error(d, at(jn, "tls_config"),
                       "tls_config: cert_file and "
                       "key_file go together");
    }
}

static void check_job(const struct scrape_cfg *cfg, uint32_t i,
                      const struct ynode *jn, struct cfg_diag *d)
{
    const struct scrape_job_cfg *jc =
        &((const struct scrape_job_cfg *)cfg->scrape_configs.items)[i];
    struct relabel_rules rules;
    struct errctx e = {{0}};
    uint32_t k;

    if (jc->job_name == NULL) {
        return; /* already reported as missing */
    }
    if (jc->job_name[0] == '\0') {
        cfg_diag_error(d, at(jn, "job_name"), "job_name must not be empty");
    }
    for (k = 0; k < i; k++) {
        const struct scrape_job_cfg *o =
            &((const struct scrape_job_cfg *)cfg->scrape_configs.items)[k];
        if (o->job_name != NULL && strcmp(o->job_name, jc->job_name) == 0) {
            cfg_diag_error(d, at(jn, "job_name"), "duplicate job_name '%s'",
                           jc->job_name);
        }
    }
    if (relabel_compile((const struct relabel_cfg *)jc->relabel_configs.items,
                        jc->relabel_configs.n, &rules, &e) != PC_OK) {
        cfg_diag_error(d, at(jn, "relabel_configs"), "%s", e.msg);
    } else {
        relabel_free(&rules);
    }
    check_profiles(jc, jn, d);
    check_discovery(jc, jn, d);
    check_k8s(jc, jn, d);
    check_auth(jc, jn, d);
}

void scrape_cfg_validate(const void *cfgp, const struct ynode *node,
                         struct cfg_diag *d)
{
    const struct scrape_cfg *cfg = cfgp;
    const struct ynode *list = ynode_get(node, "scrape_configs");
    uint32_t i;

    if (cfg->scrape_configs.n == 0) {
        cfg_diag_error(d, list != NULL ? list : node,
                       "scrape_configs: at least one job is needed");
        return;
    }
    for (i = 0; i < cfg->scrape_configs.n; i++) {
        const struct ynode *jn = node;
        if (list != NULL && list->kind == YNODE_SEQ && i < list->n) {
            jn = list->children[i];
        }
        check_job(cfg, i, jn, d);
    }
}
