/*
 * cfg.h: table-driven configuration (nginx's directive tables, Fluent Bit's
 * config_map). A component declares its keys in a static table of
 * struct cfg_entry; cfg_decode() fills the component's config struct from a
 * YAML mapping node, applies defaults, checks types and bounds, and reports
 * unknown keys, each error naming file, line and column.
 */
#ifndef PROFCOL_CFG_H
#define PROFCOL_CFG_H

#include <stddef.h>
#include <stdint.h>

#include "config/ynode.h"

enum cfg_type {
    CFG_BOOL, /* int */
    CFG_INT,  /* int64_t, bounds min..max */
    CFG_DOUBLE, /* double, bounds min..max (as doubles of the int64 fields / 1e6) */
    CFG_STRING,       /* char * (NUL-terminated, owned by the config) */
    CFG_DURATION,     /* int64_t milliseconds: "15s", "500ms", "1m30s", "2h" */
    CFG_SIZE,         /* uint64_t bytes: "16MiB", "512KiB", "1GB", "4096" */
    CFG_ENUM,         /* int: index into enum_values */
    CFG_STRLIST,      /* struct cfg_strlist */
    CFG_MAP,          /* struct cfg_map: string -> string */
    CFG_SECTION,      /* nested struct at offset, keys in sub */
    CFG_SECTION_LIST, /* struct cfg_list of nested structs of sub_size */
    CFG_NODE,         /* const struct ynode *: kept raw for the component */
};

struct cfg_entry {
    const char *key;
    enum cfg_type type;
    size_t offset;    /* offsetof(struct X, field) */
    const char *def;  /* default as YAML text; NULL = zero */
    int64_t min, max; /* bounds for INT/DURATION/SIZE; 0,0 = none */
    const char *const *enum_values; /* CFG_ENUM: NULL-terminated */
    const struct cfg_entry
        *sub;        /* SECTION / SECTION_LIST: NULL-key-terminated */
    size_t sub_size; /* SECTION_LIST: element size */
    int required;
    const char *doc; /* one line for `profcol components --keys` */
};

struct cfg_strlist {
    char **items;
    uint32_t n;
};

struct cfg_map {
    char **keys;
    char **values;
    uint32_t n;
};

struct cfg_list {
    void *items; /* n elements of the entry's sub_size */
    uint32_t n;
};

/* Collected errors and warnings ("FILE:LINE:COL: message"). Zero it before
 * first use. At most CFG_DIAG_MAX messages of each kind are kept; errors
 * beyond that (or lost to out-of-memory) are counted in nlost. */
#define CFG_DIAG_MAX 200

struct cfg_diag {
    char **errors;
    uint32_t nerrors;
    char **warnings;
    uint32_t nwarnings;
    uint32_t nlost;
};

void cfg_diag_error(struct cfg_diag *d, const struct ynode *at,
                    const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void cfg_diag_warn(struct cfg_diag *d, const struct ynode *at, const char *fmt,
                   ...) __attribute__((format(printf, 3, 4)));
void cfg_diag_free(struct cfg_diag *d);
/* Non-zero when any error was reported (kept or lost). */
int cfg_diag_failed(const struct cfg_diag *d);

/*
 * Fills out (a struct described by table) from node (a mapping, or NULL or
 * a null scalar for all defaults). out must be zeroed beforehand. A key that
 * is absent or null gets its default (def parsed with the same rules as the
 * YAML value). Every problem is added to d, the message naming the node's
 * path ("exporters::file::timeout: ..."); returns PC_OK when there was none,
 * else PC_ECONFIG. table may be NULL (no keys). Memory for strings and lists
 * is malloc'd; cfg_release() frees it (also after a failed decode). CFG_NODE
 * fields point into the YAML document, which must outlive them.
 */
int cfg_decode(const struct cfg_entry *table, const struct ynode *node,
               void *out, struct cfg_diag *d);
void cfg_release(const struct cfg_entry *table, void *out);

/* Parsers shared with code that reads values by hand; 0 or PC_EINVAL.
 * Durations: one or more <number><unit> with unit ns, us (or µs), ms, s, m,
 * h and an optional fraction ("1.5s", "1m30s"); a plain number is refused
 * except "0"; the result is whole milliseconds (a non-zero duration below
 * 1ms is refused). Sizes: <number>[ ][unit] with unit B, KB, MB, GB, TB
 * (powers of 1000) or KiB, MiB, GiB, TiB (powers of 1024), case-insensitive;
 * a plain integer is bytes. */
int cfg_parse_duration_ms(const char *s, int64_t *ms);
int cfg_parse_size(const char *s, uint64_t *bytes);
int cfg_parse_bool(const char *s, int *v);
int cfg_parse_int(const char *s, int64_t *v);

/* "duration", "size", "string list", ... for help output. */
const char *cfg_type_name(enum cfg_type t);

/*
 * The exporters' `compression_params:` section (the Collector's key):
 * `level`, the level of the compressor the exporter's `compression` picks
 * (gzip: libdeflate 1 fastest .. 12 smallest; zstd: zstd level 1 .. 12).
 * The default 1 is deliberate: request bodies are compressed on every
 * export, and past level 1 the CPU grows much faster than the saving.
 */
struct cfg_compression_params {
    int64_t level;
};

#define CFG_COMPRESSION_LEVEL_DEFAULT 1
extern const struct cfg_entry cfg_compression_params_table[];

#endif
