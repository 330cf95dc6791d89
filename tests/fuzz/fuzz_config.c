/*
 * fuzz_config.c: arbitrary bytes as a configuration file. YAML parsing, env
 * expansion, decoding through every cfg type (two fake components carry
 * them), pipeline resolution and the diagnostics must never crash, leak or
 * read out of bounds, whatever the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "component/component.h"
#include "pipeline/config.h"
#include "component/registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_item {
    char *name;
    int64_t every_ms;
};

struct fz_sec {
    int64_t depth;
    char *path;
};

struct fz_cfg {
    int flag;
    int64_t n;
    double ratio;
    char *s;
    int64_t dur_ms;
    uint64_t size;
    int mode;
    struct cfg_strlist list;
    struct cfg_map map;
    struct fz_sec sec;
    struct cfg_list items;
    const struct ynode *raw;
};

static const char *const fz_modes[] = {"a", "b", "c", NULL};

/* clang-format off */
static const struct cfg_entry fz_sec[] = {
    {.key = "depth", .type = CFG_INT, .offset = offsetof(struct fz_sec, depth),
     .def = "3", .min = 0, .max = 10},
    {.key = "path", .type = CFG_STRING, .offset = offsetof(struct fz_sec, path)},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry fz_item_table[] = {
    {.key = "name", .type = CFG_STRING, .offset = offsetof(struct fz_item, name),
     .required = 1},
    {.key = "every", .type = CFG_DURATION,
     .offset = offsetof(struct fz_item, every_ms), .def = "1m"},
    {0},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry fz_table[] = {
    {.key = "flag", .type = CFG_BOOL, .offset = offsetof(struct fz_cfg, flag)},
    {.key = "n", .type = CFG_INT, .offset = offsetof(struct fz_cfg, n),
     .def = "1", .min = -5, .max = 1000},
    {.key = "ratio", .type = CFG_DOUBLE, .offset = offsetof(struct fz_cfg, ratio),
     .min = 0, .max = 1000000},
    {.key = "s", .type = CFG_STRING, .offset = offsetof(struct fz_cfg, s),
     .def = "x"},
    {.key = "dur", .type = CFG_DURATION, .offset = offsetof(struct fz_cfg, dur_ms),
     .def = "5s"},
    {.key = "size", .type = CFG_SIZE, .offset = offsetof(struct fz_cfg, size),
     .def = "1MiB", .min = 1, .max = INT64_MAX},
    {.key = "mode", .type = CFG_ENUM, .offset = offsetof(struct fz_cfg, mode),
     .def = "b", .enum_values = fz_modes},
    {.key = "list", .type = CFG_STRLIST, .offset = offsetof(struct fz_cfg, list),
     .def = "[p, q]"},
    {.key = "map", .type = CFG_MAP, .offset = offsetof(struct fz_cfg, map)},
    {.key = "sec", .type = CFG_SECTION, .offset = offsetof(struct fz_cfg, sec),
     .sub = fz_sec},
    {.key = "items", .type = CFG_SECTION_LIST,
     .offset = offsetof(struct fz_cfg, items), .sub = fz_item_table,
     .sub_size = sizeof(struct fz_item)},
    {.key = "raw", .type = CFG_NODE, .offset = offsetof(struct fz_cfg, raw)},
    {0},
};
/* clang-format on */

static void fz_validate(const void *cfg, const struct ynode *node,
                        struct cfg_diag *d)
{
    const struct fz_cfg *c = cfg;

    if (c->flag && c->n > 10) {
        cfg_diag_error(d, node, "flag needs n <= 10");
    }
}

static const struct component_factory fz_recv = {
    .type = "r",
    .kind = COMPONENT_RECEIVER,
    .config_size = sizeof(struct fz_cfg),
    .config = fz_table,
    .validate = fz_validate,
};
static const struct component_factory fz_proc = {
    .type = "p",
    .kind = COMPONENT_PROCESSOR,
    .config_size = sizeof(struct fz_cfg),
    .config = fz_table,
};
static const struct component_factory fz_exp = {
    .type = "e",
    .kind = COMPONENT_EXPORTER,
    .config_size = sizeof(struct fz_cfg),
    .config = fz_table,
};
static const struct component_factory *const fz_all[] = {&fz_recv, &fz_proc,
                                                         &fz_exp};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    struct config cfg;
    struct cfg_diag d;
    char *text;
    int64_t ms;
    uint64_t bytes;

    if (!ready) {
        registry_set_extra(fz_all, 3);
        setenv("FZ_VAR", "r/x", 1);
        ready = 1;
    }
    memset(&d, 0, sizeof(d));
    if (config_load_mem("fuzz.yaml", (const char *)data, size, &cfg, &d) ==
        PC_OK) {
        /* A valid config must be internally consistent. */
        if (cfg.npipelines == 0 || cfg.pipelines[0].nreceivers == 0 ||
            cfg.pipelines[0].nexporters == 0 || d.nerrors != 0) {
            abort();
        }
        config_free(&cfg);
    }
    cfg_diag_free(&d);
    /* The scalar parsers on the raw bytes too. */
    text = malloc(size + 1);
    if (text != NULL) {
        memcpy(text, data, size);
        text[size] = '\0';
        (void)cfg_parse_duration_ms(text, &ms);
        (void)cfg_parse_size(text, &bytes);
        free(text);
    }
    return 0;
}
