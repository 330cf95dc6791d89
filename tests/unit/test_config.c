/* test_config.c: configuration loading and validation. A table of YAML
 * documents with the errors (file:line:col and text) each must produce, then
 * positive cases that check decoded values, and the registry. Three fake
 * factories, registered through the registry's test hook, cover every cfg
 * type. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "config/cfg.h"
#include "component/component.h"
#include "pipeline/config.h"
#include "component/registry.h"
#include "config/ynode.h"

/* ---- fake components ---------------------------------------------------- */

struct fake_tls {
    int insecure;
    char *ca_file;
};

struct fake_target {
    char *url;
    int64_t interval_ms;
};

struct fake_recv_cfg {
    char *endpoint;
    int64_t port;
    int enabled;
    int64_t timeout_ms;
    uint64_t max_size;
    double ratio;
    int mode;
    struct cfg_strlist tags;
    struct cfg_map headers;
    struct fake_tls tls;
    struct cfg_list targets;
    const struct ynode *raw;
};

static const char *const modes[] = {"fast", "safe", NULL};

/* clang-format off */
static const struct cfg_entry tls_table[] = {
    {.key = "insecure", .type = CFG_BOOL,
     .offset = offsetof(struct fake_tls, insecure)},
    {.key = "ca_file", .type = CFG_STRING,
     .offset = offsetof(struct fake_tls, ca_file)},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry target_table[] = {
    {.key = "url", .type = CFG_STRING,
     .offset = offsetof(struct fake_target, url), .required = 1},
    {.key = "interval", .type = CFG_DURATION,
     .offset = offsetof(struct fake_target, interval_ms), .def = "10s"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry recv_table[] = {
    {.key = "endpoint", .type = CFG_STRING,
     .offset = offsetof(struct fake_recv_cfg, endpoint), .def = "0.0.0.0:4040"},
    {.key = "port", .type = CFG_INT, .offset = offsetof(struct fake_recv_cfg, port),
     .def = "4040", .min = 1, .max = 65535},
    {.key = "enabled", .type = CFG_BOOL,
     .offset = offsetof(struct fake_recv_cfg, enabled), .def = "true"},
    {.key = "timeout", .type = CFG_DURATION,
     .offset = offsetof(struct fake_recv_cfg, timeout_ms), .def = "15s",
     .min = 1000, .max = 3600000},
    {.key = "max_size", .type = CFG_SIZE,
     .offset = offsetof(struct fake_recv_cfg, max_size), .def = "16MiB",
     .min = 1024, .max = 1 << 30},
    {.key = "ratio", .type = CFG_DOUBLE,
     .offset = offsetof(struct fake_recv_cfg, ratio), .def = "0.5", .min = 0,
     .max = 1000000},
    {.key = "mode", .type = CFG_ENUM, .offset = offsetof(struct fake_recv_cfg, mode),
     .def = "safe", .enum_values = modes},
    {.key = "tags", .type = CFG_STRLIST,
     .offset = offsetof(struct fake_recv_cfg, tags), .def = "[a, b]"},
    {.key = "headers", .type = CFG_MAP,
     .offset = offsetof(struct fake_recv_cfg, headers)},
    {.key = "tls", .type = CFG_SECTION, .offset = offsetof(struct fake_recv_cfg, tls),
     .sub = tls_table},
    {.key = "targets", .type = CFG_SECTION_LIST,
     .offset = offsetof(struct fake_recv_cfg, targets), .sub = target_table,
     .sub_size = sizeof(struct fake_target)},
    {.key = "raw", .type = CFG_NODE, .offset = offsetof(struct fake_recv_cfg, raw)},
    {0},
};
/* clang-format on */

struct fake_proc_cfg {
    struct cfg_strlist actions;
    int fail;
};

/* clang-format off */
static const struct cfg_entry proc_table[] = {
    {.key = "actions", .type = CFG_STRLIST,
     .offset = offsetof(struct fake_proc_cfg, actions)},
    {.key = "fail", .type = CFG_BOOL, .offset = offsetof(struct fake_proc_cfg, fail)},
    {0},
};
/* clang-format on */

static void proc_validate(const void *cfg, const struct ynode *node,
                          struct cfg_diag *d)
{
    const struct fake_proc_cfg *c = cfg;

    if (c->fail) {
        cfg_diag_error(d, node, "fakeproc: fail requested");
    }
}

struct fake_queue {
    int64_t size;
    int enabled;
};

struct fake_exp_cfg {
    char *endpoint;
    struct fake_queue queue;
};

/* clang-format off */
static const struct cfg_entry queue_table[] = {
    {.key = "size", .type = CFG_INT, .offset = offsetof(struct fake_queue, size),
     .def = "1000", .min = 1, .max = 100000},
    {.key = "enabled", .type = CFG_BOOL,
     .offset = offsetof(struct fake_queue, enabled), .def = "true"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry exp_table[] = {
    {.key = "endpoint", .type = CFG_STRING,
     .offset = offsetof(struct fake_exp_cfg, endpoint), .required = 1},
    {.key = "queue", .type = CFG_SECTION,
     .offset = offsetof(struct fake_exp_cfg, queue), .sub = queue_table},
    {0},
};
/* clang-format on */

static const struct component_factory fake_recv = {
    .type = "fakerecv",
    .kind = COMPONENT_RECEIVER,
    .stability = "alpha",
    .description = "test receiver",
    .config_size = sizeof(struct fake_recv_cfg),
    .config = recv_table,
};
static const struct component_factory fake_proc = {
    .type = "fakeproc",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "test processor",
    .config_size = sizeof(struct fake_proc_cfg),
    .config = proc_table,
    .validate = proc_validate,
};
static const struct component_factory fake_exp = {
    .type = "fakeexp",
    .kind = COMPONENT_EXPORTER,
    .stability = "alpha",
    .description = "test exporter",
    .config_size = sizeof(struct fake_exp_cfg),
    .config = exp_table,
};
static const struct component_factory *const fakes[] = {&fake_recv, &fake_proc,
                                                        &fake_exp};

static int setup(void **state)
{
    (void)state;
    registry_set_extra(fakes, 3);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    registry_set_extra(NULL, 0);
    return 0;
}

/* ---- helpers ------------------------------------------------------------ */

static int load(const char *yaml, struct config *cfg, struct cfg_diag *d)
{
    memset(d, 0, sizeof(*d));
    return config_load_mem("t.yaml", yaml, strlen(yaml), cfg, d);
}

static int has_msg(char **msgs, uint32_t n, const char *sub)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (strstr(msgs[i], sub) != NULL) {
            return 1;
        }
    }
    return 0;
}

static void dump(const struct cfg_diag *d)
{
    uint32_t i;

    for (i = 0; i < d->nerrors; i++) {
        print_message("  error: %s\n", d->errors[i]);
    }
    for (i = 0; i < d->nwarnings; i++) {
        print_message("  warning: %s\n", d->warnings[i]);
    }
}

#define SVC(r, e)                                                             \
    "service:\n  pipelines:\n    profiles:\n      receivers: [" r             \
    "]\n      exporters: [" e "]\n"
/* Exporters and service, to follow a receivers section. */
#define EXP_SVC                                                               \
    "exporters:\n  fakeexp:\n    endpoint: x\n" SVC("fakerecv", "fakeexp")
#define RECV_EXP                                                              \
    "receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n    endpoint: x\n"
/* The smallest valid file: 10 lines. */
#define OK_BODY RECV_EXP SVC("fakerecv", "fakeexp")
/* A fakerecv with one key; the key's value is on line 3. */
#define RECV1(kv) "receivers:\n  fakerecv:\n    " kv "\n" EXP_SVC

/* Table rows leave the trailing message slots empty. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct error_case {
    const char *name;
    const char *yaml;
    const char *errors[4];   /* each must appear in some error */
    const char *warnings[2]; /* each must appear in some warning */
};

static const struct error_case error_cases[] = {
    {"unknown top-level key",
     "bogus: 1\n" OK_BODY,
     {"t.yaml:1:1: unknown top-level key 'bogus' (valid keys: receivers, "
      "processors, exporters, service)"}},
    {"extensions top-level",
     "extensions:\n  health_check:\n" OK_BODY,
     {"t.yaml:1:1: extensions are not supported by profcol"}},
    {"connectors top-level",
     OK_BODY "connectors:\n  x:\n",
     {"t.yaml:11:1: connectors are not supported by profcol"}},
    {"unknown component key",
     RECV1("bogus: 1"),
     {"t.yaml:3:5: unknown key 'bogus' in receivers::fakerecv (valid keys: "
      "endpoint, port, enabled, timeout, max_size, ratio, mode, tags, headers, "
      "tls, targets, raw)"}},
    {"unknown nested key",
     "receivers:\n  fakerecv:\n    tls:\n      insecure: true\n      cafile: x\n"
     "exporters:\n  fakeexp:\n    endpoint: x\n" SVC("fakerecv", "fakeexp"),
     {"t.yaml:5:7: unknown key 'cafile' in receivers::fakerecv::tls (valid "
      "keys: insecure, ca_file)"}},
    {"unknown key in a section list element",
     "receivers:\n  fakerecv:\n    targets:\n      - url: a\n      - url: b\n"
     "        intervall: 5s\nexporters:\n  fakeexp:\n    endpoint: x\n" SVC(
         "fakerecv", "fakeexp"),
     {"t.yaml:6:9: unknown key 'intervall' in receivers::fakerecv::targets[1] "
      "(valid keys: url, interval)"}},
    {"missing required key in a section list element",
     "receivers:\n  fakerecv:\n    targets:\n      - interval: 5s\n"
     "exporters:\n  fakeexp:\n    endpoint: x\n" SVC("fakerecv", "fakeexp"),
     {"t.yaml:4:9: missing required key 'url' in receivers::fakerecv::targets[0]"}},
    {"missing required key",
     "receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n    queue: {size: 5}\n" SVC(
         "fakerecv", "fakeexp"),
     {"t.yaml:5:5: missing required key 'endpoint' in exporters::fakeexp"}},
    {"wrong type: bool",
     RECV1("enabled: maybe"),
     {"t.yaml:3:14: receivers::fakerecv::enabled: expected true or false, got "
      "'maybe'"}},
    {"wrong type: int",
     RECV1("port: abc"),
     {"t.yaml:3:11: receivers::fakerecv::port: expected an integer, got 'abc'"}},
    {"wrong type: number",
     RECV1("ratio: x1"),
     {"t.yaml:3:12: receivers::fakerecv::ratio: expected a number, got 'x1'"}},
    {"wrong type: string",
     RECV1("endpoint: {a: 1}"),
     {"t.yaml:3:15: receivers::fakerecv::endpoint: expected a string, got a "
      "mapping"}},
    {"wrong type: duration",
     RECV1("timeout: abc"),
     {"t.yaml:3:14: receivers::fakerecv::timeout: expected a duration like 15s "
      "or 500ms, got 'abc'"}},
    {"wrong type: duration as plain integer",
     RECV1("timeout: 15"),
     {"t.yaml:3:14: receivers::fakerecv::timeout: expected a duration like 15s "
      "or 500ms, got '15'"}},
    {"wrong type: size",
     RECV1("max_size: 12XB"),
     {"t.yaml:3:15: receivers::fakerecv::max_size: expected a size like 512KiB "
      "or 16MiB, got '12XB'"}},
    {"wrong type: string list",
     RECV1("tags: a"),
     {"t.yaml:3:11: receivers::fakerecv::tags: expected a list of strings, got "
      "a scalar"}},
    {"wrong type: string list item",
     RECV1("tags: [a, [b]]"),
     {"t.yaml:3:15: receivers::fakerecv::tags[1]: expected a string, got a list"}},
    {"wrong type: map",
     RECV1("headers: [a]"),
     {"t.yaml:3:14: receivers::fakerecv::headers: expected a mapping of "
      "strings, got a list"}},
    {"wrong type: section",
     RECV1("tls: 3"),
     {"t.yaml:3:10: receivers::fakerecv::tls: expected a mapping, got a scalar"}},
    {"wrong type: section list",
     RECV1("targets: {url: a}"),
     {"t.yaml:3:14: receivers::fakerecv::targets: expected a list of mappings, "
      "got a mapping"}},
    {"wrong type: component section",
     "receivers:\n  fakerecv: [1]\nexporters:\n  fakeexp:\n    endpoint: x\n" SVC(
         "fakerecv", "fakeexp"),
     {"t.yaml:2:13: receivers::fakerecv: expected a mapping, got a list"}},
    {"out of range: int",
     RECV1("port: 70000"),
     {"t.yaml:3:11: receivers::fakerecv::port: 70000 is out of range (allowed: "
      "1..65535)"}},
    {"out of range: duration",
     RECV1("timeout: 2h"),
     {"t.yaml:3:14: receivers::fakerecv::timeout: 2h is out of range (allowed: "
      "1s..1h)"}},
    {"out of range: size",
     RECV1("max_size: 2GiB"),
     {"t.yaml:3:15: receivers::fakerecv::max_size: 2GiB is out of range "
      "(allowed: 1KiB..1GiB)"}},
    {"out of range: number",
     RECV1("ratio: 1.5"),
     {"t.yaml:3:12: receivers::fakerecv::ratio: 1.5 is out of range (allowed: "
      "0..1)"}},
    {"out of range: nested int",
     "receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n    endpoint: x\n"
     "    queue:\n      size: 0\n" SVC("fakerecv", "fakeexp"),
     {"t.yaml:7:13: exporters::fakeexp::queue::size: 0 is out of range "
      "(allowed: 1..100000)"}},
    {"bad enum",
     RECV1("mode: turbo"),
     {"t.yaml:3:11: receivers::fakerecv::mode: invalid value 'turbo' (allowed: "
      "fast, safe)"}},
    {"bad telemetry enum",
     OK_BODY "  telemetry:\n    logs:\n      level: verbose\n",
     {"t.yaml:13:14: service::telemetry::logs::level: invalid value 'verbose' "
      "(allowed: debug, info, warn, error)"}},
    {"bad shutdown_timeout",
     OK_BODY "  shutdown_timeout: soon\n",
     {"t.yaml:11:21: service::shutdown_timeout: expected a duration like 15s or "
      "500ms, got 'soon'"}},
    {"unknown service key",
     OK_BODY "  pipeline: {}\n",
     {"t.yaml:11:3: unknown key 'pipeline' in service (valid keys: pipelines, "
      "telemetry, shutdown_timeout, extensions)"}},
    {"service extensions",
     OK_BODY "  extensions: [health_check]\n",
     {"t.yaml:11:15: service::extensions: extensions are not supported"}},
    {"unknown component type",
     "receivers:\n  fakerecv:\n  nosuch/a:\nexporters:\n  fakeexp:\n"
     "    endpoint: x\n" SVC("fakerecv", "fakeexp"),
     {"t.yaml:3:3: receivers::nosuch/a: unknown receiver type 'nosuch' (known "
      "types: ",
      "fakerecv"}},
    {"component type of another kind",
     RECV_EXP "processors:\n  fakeexp:\n" SVC("fakerecv", "fakeexp"),
     {"t.yaml:7:3: processors::fakeexp: unknown processor type 'fakeexp' "
      "(known types: ",
      "fakeproc"}},
    {"bad id: type syntax",
     "receivers:\n  9bad:\n  fakerecv:\n" EXP_SVC,
     {"t.yaml:2:3: receivers: invalid id '9bad': the type must match "
      "[a-zA-Z][0-9a-zA-Z_]{0,62}"}},
    {"bad id: empty name",
     "receivers:\n  fakerecv/:\n  fakerecv:\n" EXP_SVC,
     {"t.yaml:2:3: receivers: invalid id 'fakerecv/': the name after '/' must "
      "not be empty"}},
    {"bad id: type too long",
     "receivers:\n  a123456789012345678901234567890123456789012345678901234567890123:\n"
     "  fakerecv:\n" EXP_SVC,
     {"t.yaml:2:3: receivers: invalid id 'a1234"}},
    {"component used but not defined",
     RECV_EXP SVC("fakerecv", "fakeexp, fakeexp/missing"),
     {"t.yaml:10:28: service::pipelines::profiles::exporters[1]: exporter "
      "'fakeexp/missing' used by pipeline 'profiles' is not defined in "
      "exporters (defined: fakeexp)"}},
    {"receiver used but not defined",
     RECV_EXP SVC("otlp", "fakeexp"),
     {"t.yaml:9:19: service::pipelines::profiles::receivers[0]: receiver "
      "'otlp' used by pipeline 'profiles' is not defined in receivers "
      "(defined: fakerecv)"}},
    {"pipeline without receivers",
     RECV_EXP
     "service:\n  pipelines:\n    profiles:\n      exporters: [fakeexp]\n",
     {"t.yaml:8:5: service::pipelines::profiles: pipeline has no receivers "
      "(at least one is required)"},
     {"t.yaml:2:3: receiver 'fakerecv' is defined but not used by any pipeline"}},
    {"pipeline without exporters",
     RECV_EXP
     "service:\n  pipelines:\n    profiles/x:\n      receivers: [fakerecv]\n"
     "      exporters: []\n",
     {"t.yaml:8:5: service::pipelines::profiles/x: pipeline has no exporters "
      "(at least one is required)"}},
    {"processor twice",
     "receivers:\n  fakerecv:\nprocessors:\n  fakeproc:\nexporters:\n  fakeexp:\n"
     "    endpoint: x\nservice:\n  pipelines:\n    profiles:\n"
     "      receivers: [fakerecv]\n      processors: [fakeproc, fakeproc]\n"
     "      exporters: [fakeexp]\n",
     {"t.yaml:12:30: service::pipelines::profiles::processors: processor "
      "'fakeproc' is listed twice in pipeline 'profiles'"}},
    {"unsupported signal",
     RECV_EXP
     "service:\n  pipelines:\n    traces:\n      receivers: [fakerecv]\n"
     "      exporters: [fakeexp]\n",
     {"t.yaml:8:5: service::pipelines: pipeline 'traces': profcol handles "
      "profiles only, not traces"}},
    {"unknown signal",
     OK_BODY
     "    foo/bar:\n      receivers: [fakerecv]\n      exporters: [fakeexp]\n",
     {"t.yaml:11:5: service::pipelines: pipeline 'foo/bar': unknown signal 'foo'"}},
    {"no pipelines",
     RECV_EXP "service:\n  pipelines: {}\n",
     {"t.yaml:7:14: service::pipelines: no pipeline is defined"}},
    {"missing service", RECV_EXP, {"t.yaml:1:1: missing 'service' section"}},
    {"empty document",
     "# nothing\n",
     {"t.yaml:1:1: the configuration is empty"}},
    {"top level not a mapping",
     "- a\n- b\n",
     {"t.yaml:1:1: expected a mapping at the top level"}},
    {"duplicate YAML key",
     "receivers:\n  fakerecv:\n    port: 1\n    port: 2\n" EXP_SVC,
     {"t.yaml:4:5: duplicate key 'port' (first defined at 3:5)"}},
    {"duplicate component id",
     "receivers:\n  fakerecv:\n  fakerecv:\n" EXP_SVC,
     {"t.yaml:3:3: duplicate key 'fakerecv' (first defined at 2:3)"}},
    {"malformed env reference: bad name",
     "receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n    endpoint: ${env:1BAD}\n" SVC(
         "fakerecv", "fakeexp"),
     {"t.yaml:5:15: malformed environment reference '${env:1BAD}'"}},
    {"malformed env reference: unterminated",
     "receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n    endpoint: \"${env:X\"\n" SVC(
         "fakerecv", "fakeexp"),
     {"t.yaml:5:15: malformed environment reference: '${' without a closing '}'"}},
    {"malformed env reference: other provider",
     "receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n    endpoint: ${file:/x}\n" SVC(
         "fakerecv", "fakeexp"),
     {"t.yaml:5:15: malformed environment reference '${file:/x}': unsupported "
      "provider"}},
    {"YAML syntax error",
     "receivers:\n  a: b\n c: d\n",
     {"t.yaml:3:2: invalid YAML: did not find expected key"}},
    {"YAML unterminated flow",
     "receivers:\n  fakerecv: [\n",
     {"t.yaml:3:1: invalid YAML"}},
    {"YAML merge key",
     "receivers:\n  fakerecv:\n    <<: {port: 1}\n" EXP_SVC,
     {"t.yaml:3:5: YAML merge keys ('<<') are not supported"}},
    {"two YAML documents",
     OK_BODY "---\nfoo: 1\n",
     {"t.yaml:12:1: only one YAML document is allowed"}},
    {"component validate hook",
     "receivers:\n  fakerecv:\nprocessors:\n  fakeproc:\n    fail: true\n"
     "exporters:\n  fakeexp:\n    endpoint: x\nservice:\n  pipelines:\n"
     "    profiles:\n      receivers: [fakerecv]\n      processors: [fakeproc]\n"
     "      exporters: [fakeexp]\n",
     {"t.yaml:5:5: fakeproc: fail requested"}},
    {"several errors in one file",
     "receivers:\n  fakerecv:\n    port: 0\n    mode: x\nexporters:\n  fakeexp:\n"
     "    endpoint: x\n" SVC("fakerecv", "fakeexp, nope"),
     {"t.yaml:3:11:", "t.yaml:4:11:", "t.yaml:12:28:"}},
};

static void test_error_table(void **state)
{
    size_t i, j;
    struct config cfg;
    struct cfg_diag d;
    int rc, bad = 0;

    (void)state;
    for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
        const struct error_case *c = &error_cases[i];
        int fail = 0;

        rc = load(c->yaml, &cfg, &d);
        if (rc == PC_OK || d.nerrors == 0) {
            fail = 1;
        }
        for (j = 0; j < 4 && c->errors[j] != NULL; j++) {
            if (!has_msg(d.errors, d.nerrors, c->errors[j])) {
                print_message("[%s] missing error: %s\n", c->name,
                              c->errors[j]);
                fail = 1;
            }
        }
        for (j = 0; j < 2 && c->warnings[j] != NULL; j++) {
            if (!has_msg(d.warnings, d.nwarnings, c->warnings[j])) {
                print_message("[%s] missing warning: %s\n", c->name,
                              c->warnings[j]);
                fail = 1;
            }
        }
        if (fail) {
            print_message("case '%s' failed (rc=%d):\n", c->name, rc);
            dump(&d);
            bad++;
        }
        /* A failed load leaves nothing to free. */
        assert_null(cfg.components);
        assert_null(cfg.doc.root);
        cfg_diag_free(&d);
    }
    assert_int_equal(bad, 0);
}

/* ---- positive cases ------------------------------------------------------ */

static void test_defaults_applied(void **state)
{
    struct config cfg;
    struct cfg_diag d;
    const struct fake_recv_cfg *r;
    const struct fake_exp_cfg *e;

    (void)state;
    assert_int_equal(load(OK_BODY, &cfg, &d), PC_OK);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.nwarnings, 0);
    assert_int_equal(cfg.ncomponents, 2);
    r = config_find(&cfg, COMPONENT_RECEIVER, "fakerecv")->cfg;
    assert_string_equal(r->endpoint, "0.0.0.0:4040");
    assert_int_equal(r->port, 4040);
    assert_int_equal(r->enabled, 1);
    assert_int_equal(r->timeout_ms, 15000);
    assert_int_equal(r->max_size, 16u << 20);
    assert_true(r->ratio == 0.5);
    assert_int_equal(r->mode, 1);
    assert_int_equal(r->tags.n, 2);
    assert_string_equal(r->tags.items[0], "a");
    assert_string_equal(r->tags.items[1], "b");
    assert_int_equal(r->headers.n, 0);
    assert_int_equal(r->tls.insecure, 0);
    assert_null(r->tls.ca_file);
    assert_int_equal(r->targets.n, 0);
    assert_null(r->raw);
    e = config_find(&cfg, COMPONENT_EXPORTER, "fakeexp")->cfg;
    assert_string_equal(e->endpoint, "x");
    assert_int_equal(e->queue.size, 1000);
    assert_int_equal(e->queue.enabled, 1);
    /* service defaults */
    assert_string_equal(cfg.telemetry.metrics.address, "127.0.0.1:8888");
    assert_string_equal(cfg.telemetry.health.address, "127.0.0.1:13133");
    assert_int_equal(cfg.telemetry.logs.level, 1);
    assert_int_equal(cfg.telemetry.logs.format, 0);
    assert_int_equal(cfg.shutdown_timeout_ms, 30000);
    assert_int_equal(cfg.npipelines, 1);
    assert_string_equal(cfg.pipelines[0].id, "profiles");
    assert_null(cfg.pipelines[0].name);
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void test_values_decoded(void **state)
{
    static const char yaml[] =
        "receivers:\n"
        "  fakerecv:\n"
        "    endpoint: \"\"\n"
        "    port: 0x50\n"
        "    enabled: false\n"
        "    timeout: 1m30s\n"
        "    max_size: 512 KiB\n"
        "    ratio: 0.25\n"
        "    mode: fast\n"
        "    tags: []\n"
        "    headers: {X-Org: acme, Empty: }\n"
        "    tls: {insecure: true, ca_file: /ca.pem}\n"
        "    targets:\n"
        "      - url: http://a/\n"
        "      - url: http://b/\n"
        "        interval: 1s\n"
        "    raw: {anything: [1, 2]}\n"
        "exporters:\n  fakeexp:\n    endpoint: x\n"
        "service:\n"
        "  shutdown_timeout: 5s\n"
        "  telemetry:\n"
        "    metrics: {address: \"0.0.0.0:9999\"}\n"
        "    logs: {level: debug, format: json}\n"
        "  pipelines:\n    profiles:\n      receivers: [fakerecv]\n"
        "      exporters: [fakeexp]\n";
    struct config cfg;
    struct cfg_diag d;
    const struct fake_recv_cfg *r;
    const struct fake_target *t;

    (void)state;
    if (load(yaml, &cfg, &d) != PC_OK) {
        dump(&d);
        fail();
    }
    r = config_find(&cfg, COMPONENT_RECEIVER, "fakerecv")->cfg;
    /* A quoted empty string is a value, not "use the default". */
    assert_string_equal(r->endpoint, "");
    assert_int_equal(r->port, 80);
    assert_int_equal(r->enabled, 0);
    assert_int_equal(r->timeout_ms, 90000);
    assert_int_equal(r->max_size, 512 * 1024);
    assert_true(r->ratio == 0.25);
    assert_int_equal(r->mode, 0);
    assert_int_equal(r->tags.n, 0);
    assert_int_equal(r->headers.n, 2);
    assert_string_equal(r->headers.keys[0], "X-Org");
    assert_string_equal(r->headers.values[0], "acme");
    assert_string_equal(r->headers.values[1], "");
    assert_int_equal(r->tls.insecure, 1);
    assert_string_equal(r->tls.ca_file, "/ca.pem");
    assert_int_equal(r->targets.n, 2);
    t = r->targets.items;
    assert_string_equal(t[0].url, "http://a/");
    assert_int_equal(t[0].interval_ms, 10000);
    assert_string_equal(t[1].url, "http://b/");
    assert_int_equal(t[1].interval_ms, 1000);
    assert_non_null(r->raw);
    assert_int_equal(r->raw->kind, YNODE_MAP);
    assert_int_equal(r->raw->line, 17);
    assert_int_equal(cfg.shutdown_timeout_ms, 5000);
    assert_string_equal(cfg.telemetry.metrics.address, "0.0.0.0:9999");
    assert_string_equal(cfg.telemetry.health.address, "127.0.0.1:13133");
    assert_int_equal(cfg.telemetry.logs.level, 0);
    assert_int_equal(cfg.telemetry.logs.format, 1);
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void test_env_expansion(void **state)
{
    static const char yaml[] =
        "receivers:\n"
        "  fakerecv:\n"
        "    endpoint: ${env:PROFCOL_T_HOST}:${PROFCOL_T_PORT}\n"
        "    port: ${env:PROFCOL_T_UNSET:-4041}\n"
        "    tags: [\"$${env:PROFCOL_T_HOST}\", \"a$b\", \"${env:PROFCOL_T_UNSET}\"]\n"
        "    timeout: ${env:PROFCOL_T_TIMEOUT:-2s}\n"
        "exporters:\n  fakeexp:\n    endpoint: \"${env:PROFCOL_T_EMPTY:-dflt}\"\n" SVC(
            "fakerecv", "fakeexp");
    struct config cfg;
    struct cfg_diag d;
    const struct fake_recv_cfg *r;
    const struct fake_exp_cfg *e;

    (void)state;
    setenv("PROFCOL_T_HOST", "example.org", 1);
    setenv("PROFCOL_T_PORT", "4317", 1);
    setenv("PROFCOL_T_TIMEOUT", "2500ms", 1);
    setenv("PROFCOL_T_EMPTY", "", 1);
    unsetenv("PROFCOL_T_UNSET");
    if (load(yaml, &cfg, &d) != PC_OK) {
        dump(&d);
        fail();
    }
    r = config_find(&cfg, COMPONENT_RECEIVER, "fakerecv")->cfg;
    assert_string_equal(r->endpoint, "example.org:4317");
    assert_int_equal(r->port, 4041);
    assert_int_equal(r->tags.n, 3);
    assert_string_equal(r->tags.items[0], "${env:PROFCOL_T_HOST}");
    assert_string_equal(r->tags.items[1], "a$b");
    assert_string_equal(r->tags.items[2], "");
    assert_int_equal(r->timeout_ms, 2500);
    /* Set but empty: the default does not apply (as in the Collector). */
    e = config_find(&cfg, COMPONENT_EXPORTER, "fakeexp")->cfg;
    assert_string_equal(e->endpoint, "");
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void test_named_ids_and_shared_components(void **state)
{
    static const char yaml[] =
        "receivers:\n  fakerecv:\n  fakerecv/push:\n    port: 4041\n"
        "processors:\n  fakeproc/a:\n  fakeproc/b:\n"
        "exporters:\n  fakeexp/one:\n    endpoint: one\n"
        "  fakeexp/two:\n    endpoint: two\n"
        "service:\n  pipelines:\n"
        "    profiles:\n      receivers: [fakerecv, fakerecv/push]\n"
        "      processors: [fakeproc/b, fakeproc/a]\n"
        "      exporters: [fakeexp/one]\n"
        "    profiles/mirror:\n      receivers: [fakerecv/push]\n"
        "      processors: [fakeproc/a]\n"
        "      exporters: [fakeexp/one, fakeexp/two]\n";
    struct config cfg;
    struct cfg_diag d;
    struct config_component *push;
    const struct config_pipeline *p;

    (void)state;
    if (load(yaml, &cfg, &d) != PC_OK) {
        dump(&d);
        fail();
    }
    assert_int_equal(d.nwarnings, 0);
    assert_int_equal(cfg.ncomponents, 6);
    assert_int_equal(cfg.npipelines, 2);
    push = config_find(&cfg, COMPONENT_RECEIVER, "fakerecv/push");
    assert_non_null(push);
    assert_string_equal(push->type, "fakerecv");
    assert_string_equal(push->name, "push");
    assert_ptr_equal(push->factory, &fake_recv);
    assert_int_equal(push->npipelines, 2);
    assert_int_equal(push->key->line, 3);
    assert_int_equal(((const struct fake_recv_cfg *)push->cfg)->port, 4041);
    assert_null(config_find(&cfg, COMPONENT_EXPORTER, "fakerecv/push"));
    p = &cfg.pipelines[0];
    assert_string_equal(p->id, "profiles");
    assert_int_equal(p->nreceivers, 2);
    assert_int_equal(p->nprocessors, 2);
    assert_string_equal(p->processors[0]->id, "fakeproc/b");
    assert_string_equal(p->processors[1]->id, "fakeproc/a");
    assert_int_equal(p->nexporters, 1);
    p = &cfg.pipelines[1];
    assert_string_equal(p->id, "profiles/mirror");
    assert_string_equal(p->name, "mirror");
    assert_ptr_equal(p->receivers[0], push);
    assert_int_equal(p->nexporters, 2);
    assert_ptr_equal(p->exporters[0], cfg.pipelines[0].exporters[0]);
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void test_unused_is_warning_only(void **state)
{
    struct config cfg;
    struct cfg_diag d;

    (void)state;
    assert_int_equal(load(RECV_EXP "  fakeexp/unused:\n    endpoint: y\n" SVC(
                              "fakerecv", "fakeexp"),
                          &cfg, &d),
                     PC_OK);
    assert_int_equal(d.nerrors, 0);
    assert_int_equal(d.nwarnings, 1);
    assert_string_equal(d.warnings[0],
                        "t.yaml:6:3: exporter 'fakeexp/unused' "
                        "is defined but not used by any pipeline");
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void test_aliases_resolved(void **state)
{
    static const char yaml[] = "receivers:\n  fakerecv:\n    tags: &t [x, y]\n"
                               "  fakerecv/b:\n    tags: *t\n"
                               "exporters:\n  fakeexp:\n    endpoint: x\n" SVC(
                                   "fakerecv, fakerecv/b", "fakeexp");
    struct config cfg;
    struct cfg_diag d;
    const struct fake_recv_cfg *b;

    (void)state;
    if (load(yaml, &cfg, &d) != PC_OK) {
        dump(&d);
        fail();
    }
    b = config_find(&cfg, COMPONENT_RECEIVER, "fakerecv/b")->cfg;
    assert_int_equal(b->tags.n, 2);
    assert_string_equal(b->tags.items[1], "y");
    config_free(&cfg);
    cfg_diag_free(&d);
}

static void test_component_equal_for_reload(void **state)
{
    struct config a, b;
    struct cfg_diag d;
    struct config_component *ra, *rb, *ea, *eb;

    (void)state;
    assert_int_equal(load(RECV_EXP SVC("fakerecv", "fakeexp"), &a, &d), PC_OK);
    cfg_diag_free(&d);
    assert_int_equal(load("receivers:\n  fakerecv:\nexporters:\n  fakeexp:\n"
                          "    endpoint: changed\n" SVC("fakerecv", "fakeexp"),
                          &b, &d),
                     PC_OK);
    cfg_diag_free(&d);
    ra = config_find(&a, COMPONENT_RECEIVER, "fakerecv");
    rb = config_find(&b, COMPONENT_RECEIVER, "fakerecv");
    ea = config_find(&a, COMPONENT_EXPORTER, "fakeexp");
    eb = config_find(&b, COMPONENT_EXPORTER, "fakeexp");
    assert_true(config_component_equal(ra, rb));
    assert_false(config_component_equal(ea, eb));
    assert_string_equal(ea->canon, "{\"endpoint\":\"x\"}");
    assert_string_equal(ra->canon, "~");
    config_free(&a);
    config_free(&b);
}

/* ---- bounds of the YAML layer ------------------------------------------- */

static void test_deep_nesting_and_alias_bombs(void **state)
{
    struct config cfg;
    struct cfg_diag d;
    char *deep;
    size_t i;
    struct {
        const char *yaml;
        const char *err;
    } cases[] = {
        {"a: &a [*a]\n", "nesting deeper than 64 levels"},
        {"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
         "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
         "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
         "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
         "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
         "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
         "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n",
         "document too large"},
        {"a: [x\0y]\n", "invalid YAML"},
    };

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_not_equal(load(cases[i].yaml, &cfg, &d), PC_OK);
        if (!has_msg(d.errors, d.nerrors, cases[i].err)) {
            dump(&d);
            fail_msg("case %zu: no '%s'", i, cases[i].err);
        }
        cfg_diag_free(&d);
    }
    deep = malloc(200 * 3 + 16);
    assert_non_null(deep);
    memcpy(deep, "a: ", 3);
    memset(deep + 3, '[', 200);
    memset(deep + 3 + 200, ']', 200);
    memcpy(deep + 3 + 400, "\n", 2);
    assert_int_not_equal(load(deep, &cfg, &d), PC_OK);
    assert_true(has_msg(d.errors, d.nerrors, "nesting deeper than 64 levels"));
    cfg_diag_free(&d);
    free(deep);
}

static void test_ynode_positions_and_paths(void **state)
{
    struct ydoc doc;
    char err[256], path[128];
    const struct ynode *recv, *item;

    (void)state;
    assert_int_equal(ydoc_load_string("p.yaml",
                                      "receivers:\n  scrape:\n"
                                      "    targets:\n      - url: a\n"
                                      "      - {url: \"b\"}\n",
                                      &doc, err, sizeof(err)),
                     PC_OK);
    recv = ynode_get(ynode_get(doc.root, "receivers"), "scrape");
    assert_non_null(recv);
    assert_int_equal(recv->line, 3);
    assert_int_equal(recv->col, 5);
    item = ynode_get(recv, "targets")->children[1];
    assert_int_equal(item->line, 5);
    assert_int_equal(item->col, 9);
    ynode_path(ynode_get(item, "url"), path, sizeof(path));
    assert_string_equal(path, "receivers::scrape::targets[1]::url");
    assert_int_equal(ynode_get(item, "url")->quoted, 1);
    assert_null(ynode_get(item, "nope"));
    ydoc_free(&doc);
}

/* ---- registry ------------------------------------------------------------ */

static void test_registry(void **state)
{
    size_t n, i, j;
    const struct component_factory *const *all;

    (void)state;
    assert_ptr_equal(registry_find(COMPONENT_RECEIVER, "fakerecv"),
                     &fake_recv);
    assert_null(registry_find(COMPONENT_EXPORTER, "fakerecv"));
    assert_null(registry_find(COMPONENT_RECEIVER, "nosuch"));
    assert_string_equal(component_kind_name(COMPONENT_RECEIVER), "receiver");
    assert_string_equal(component_kind_name(COMPONENT_PROCESSOR), "processor");
    assert_string_equal(component_kind_name(COMPONENT_EXPORTER), "exporter");
    all = registry_all(&n);
    assert_true(n >= 3);
    assert_ptr_equal(all[n - 1], &fake_exp);
    registry_set_extra(NULL, 0);
    assert_null(registry_find(COMPONENT_RECEIVER, "fakerecv"));
    /* Every built-in factory: a valid type, unique per kind, and defaults
     * that decode (only required keys may be missing). */
    all = registry_all(&n);
    for (i = 0; i < n; i++) {
        char type[64], err[256];
        const char *name;
        void *cfg;
        struct cfg_diag d;
        uint32_t k;

        assert_int_equal(config_parse_id(all[i]->type, type, sizeof(type),
                                         &name, err, sizeof(err)),
                         PC_OK);
        assert_null(name);
        for (j = 0; j < i; j++) {
            assert_false(all[j]->kind == all[i]->kind &&
                         strcmp(all[j]->type, all[i]->type) == 0);
        }
        cfg = calloc(1, all[i]->config_size ? all[i]->config_size : 1);
        assert_non_null(cfg);
        memset(&d, 0, sizeof(d));
        cfg_decode(all[i]->config, NULL, cfg, &d);
        for (k = 0; k < d.nerrors; k++) {
            if (strstr(d.errors[k], "missing required key") == NULL) {
                fail_msg("%s: %s", all[i]->type, d.errors[k]);
            }
        }
        cfg_release(all[i]->config, cfg);
        free(cfg);
        cfg_diag_free(&d);
    }
    registry_set_extra(fakes, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_defaults_applied),
        cmocka_unit_test(test_values_decoded),
        cmocka_unit_test(test_env_expansion),
        cmocka_unit_test(test_named_ids_and_shared_components),
        cmocka_unit_test(test_unused_is_warning_only),
        cmocka_unit_test(test_aliases_resolved),
        cmocka_unit_test(test_component_equal_for_reload),
        cmocka_unit_test(test_deep_nesting_and_alias_bombs),
        cmocka_unit_test(test_ynode_positions_and_paths),
        cmocka_unit_test(test_registry),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
