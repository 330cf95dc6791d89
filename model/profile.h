/*
 * profile.h: the one in-memory profile model of profcol.
 *
 * It follows OTLP profiles v1.11.0 (a dictionary of tables shared by every
 * profile of a request, profiles grouped by resource and scope) and is a
 * superset of pprof: a profile may carry several sample types, and the
 * pprof-only fields (comments, drop/keep frames, doc URL, default sample type,
 * mapping build id and has_* flags, location is_folded) are fields here, not
 * attributes. pprof and OTLP are codecs of this model (pprof.h, otlp.h).
 *
 * Ownership: a struct pdata owns one arena; everything reachable from it
 * (tables, samples, strings) lives in that arena, or in input bytes or a
 * table of its own that the arena keeps alive and frees (arena_on_free),
 * and is released by pdata_free().
 *
 * Indices: every table's entry 0 is the zero value and is present once
 * dict_init() ran. Index 0 means "none" wherever an index is stored
 * (string 0 is "", mapping 0 is no mapping, link 0 is no link, ...).
 * Tables may hold duplicates; encoders that must not emit duplicates (OTLP)
 * deduplicate while encoding.
 */
#ifndef PROFCOL_PROFILE_H
#define PROFCOL_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"

/* A string or byte view: not NUL-terminated, not owned. */
struct pstr {
    const char *ptr;
    uint32_t len;
};

/* OTLP AnyValue. string_value_strindex is resolved to a string on decode. */
enum av_type {
    AV_EMPTY = 0,
    AV_STRING,
    AV_BOOL,
    AV_INT,
    AV_DOUBLE,
    AV_ARRAY,
    AV_KVLIST,
    AV_BYTES,
};

struct keyvalue;

struct anyvalue {
    uint8_t type; /* enum av_type */
    union {
        struct pstr s; /* AV_STRING, AV_BYTES */
        int64_t i;     /* AV_INT */
        double d;      /* AV_DOUBLE */
        int b;         /* AV_BOOL */
        struct {
            struct anyvalue *items;
            uint32_t n;
        } arr; /* AV_ARRAY */
        struct {
            struct keyvalue *items;
            uint32_t n;
        } kv; /* AV_KVLIST */
    } u;
};

/* OTLP KeyValue with an inline key (resource and scope attributes). */
struct keyvalue {
    struct pstr key;
    struct anyvalue value;
};

/* A pair of string indices. */
struct value_type {
    int32_t type;
    int32_t unit;
};

enum mapping_flags {
    MAPPING_HAS_FUNCTIONS = 1 << 0,
    MAPPING_HAS_FILENAMES = 1 << 1,
    MAPPING_HAS_LINE_NUMBERS = 1 << 2,
    MAPPING_HAS_INLINE_FRAMES = 1 << 3,
};

struct mapping {
    uint64_t memory_start;
    uint64_t memory_limit;
    uint64_t file_offset;
    int32_t filename; /* string index */
    int32_t build_id; /* string index (pprof build_id) */
    uint8_t flags;    /* enum mapping_flags */
    uint32_t nattrs;
    int32_t *attrs; /* attribute indices */
};

struct line {
    int32_t function; /* function index */
    int64_t line;
    int64_t column;
};

/* Wide fields first: 40 bytes, not 48 with interleaved padding. */
struct location {
    uint64_t address;
    struct line *lines; /* inlined callee first, caller last */
    int32_t *attrs;
    int32_t mapping; /* mapping index, 0 = none */
    uint32_t nlines;
    uint32_t nattrs;
    uint8_t is_folded;
};

struct function {
    int32_t name; /* string indices */
    int32_t system_name;
    int32_t filename;
    int64_t start_line;
};

struct link {
    uint8_t trace_id[16];
    uint8_t span_id[8];
};

/* OTLP KeyValueAndUnit: pprof labels are these (string or int value). */
struct attr {
    int32_t key;  /* string index */
    int32_t unit; /* string index, 0 = none */
    struct anyvalue value;
};

/* Location indices, leaf first: int32 (locs), or uint16 (locs16, when
 * narrow) where the pprof decoder knows every index fits, which halves
 * the largest part of a big profile's model (5 M indices of the 200k
 * benchmark profile). Read them with stack_loc. */
struct stack {
    uint32_t n;
    uint32_t narrow; /* 1: locs16 */
    union {
        int32_t *locs;
        uint16_t *locs16;
    };
};

/* Location index k (< s->n) of stack s. */
static inline int32_t stack_loc(const struct stack *s, uint32_t k)
{
    return s->narrow ? (int32_t)s->locs16[k] : s->locs[k];
}

struct dict {
    struct pstr *strings;
    uint32_t nstrings, cap_strings;
    struct mapping *mappings;
    uint32_t nmappings, cap_mappings;
    struct location *locations;
    uint32_t nlocations, cap_locations;
    struct function *functions;
    uint32_t nfunctions, cap_functions;
    struct link *links;
    uint32_t nlinks, cap_links;
    struct attr *attrs;
    uint32_t nattrs, cap_attrs;
    struct stack *stacks;
    uint32_t nstacks, cap_stacks;
};

/*
 * values: with one sample type (every OTLP profile) they are per-event values
 * and timestamps, if any, pair with them (OTLP rules: nvalues == nts, or one
 * of them is 0; a sample with only timestamps counts 1 per timestamp). With
 * several sample types (a pprof), nvalues == nsample_types, one per type.
 */
/* Pointers first, counts after, and the timestamps in the values' block:
 * 40 bytes, where interleaved fields took 56 and a pointer of their own
 * for the timestamps 48 (a 200k-sample profile holds 200k of these). */
struct sample {
    int64_t *values; /* nvalues values, then nts timestamps: sample_ts */
    int32_t *attrs;  /* attribute indices (pprof labels) */
    int32_t stack;   /* stack index */
    int32_t link;    /* link index, 0 = none */
    uint32_t nvalues;
    uint32_t nattrs;
    uint32_t nts;
};

/* The nts timestamps of s (unix ns), which follow its values: whoever sets
 * nts > 0 gives values room for nvalues + nts elements. int64_t and
 * uint64_t may alias each other. */
static inline uint64_t *sample_ts(const struct sample *s)
{
    return s->nts != 0 ? (uint64_t *)(s->values + s->nvalues) : NULL;
}

struct profile {
    uint32_t nsample_types;
    struct value_type *sample_types;
    int32_t default_sample_type; /* string index, 0 = unset (pprof) */
    struct value_type period_type;
    int64_t period;
    int64_t time_nanos; /* OTLP time_unix_nano, same bits */
    int64_t duration_nanos;
    uint32_t ncomments;
    int32_t *comments;   /* string indices (pprof) */
    int32_t drop_frames; /* string indices (pprof), 0 = unset */
    int32_t keep_frames;
    int32_t doc_url;
    uint32_t nsamples;
    struct sample *samples;
    uint32_t nattrs;
    int32_t *attrs;         /* profile attribute indices */
    uint8_t profile_id[16]; /* all zero = unset */
    uint32_t dropped_attributes_count;
    struct pstr original_payload_format;
    struct pstr original_payload;
};

struct entity_ref {
    struct pstr schema_url;
    struct pstr type;
    uint32_t nid_keys;
    struct pstr *id_keys;
    uint32_t ndescription_keys;
    struct pstr *description_keys;
};

struct resource {
    uint32_t nattrs;
    struct keyvalue *attrs;
    uint32_t dropped_attributes_count;
    uint32_t nentity_refs;
    struct entity_ref *entity_refs;
};

struct scope {
    struct pstr name;
    struct pstr version;
    uint32_t nattrs;
    struct keyvalue *attrs;
    uint32_t dropped_attributes_count;
};

struct scope_profiles {
    int has_scope; /* scope field present on the wire */
    struct scope scope;
    struct pstr schema_url;
    uint32_t nprofiles;
    struct profile *profiles;
};

struct resource_profiles {
    int has_resource;
    struct resource resource;
    struct pstr schema_url;
    uint32_t nscopes;
    struct scope_profiles *scopes;
};

/* One decoded request (OTLP ProfilesData) or one decoded pprof. */
struct pdata {
    struct arena arena;
    struct dict dict;
    uint32_t nresources;
    struct resource_profiles *resources;
};

/* ---- construction ------------------------------------------------------ */

/* New empty pdata whose arena may take at most arena_limit bytes (0 = no
 * limit). Tables are empty: call dict_init() for the zero entries. */
struct pdata *pdata_new(size_t arena_limit);
void pdata_free(struct pdata *pd);

/* PC_OK when every string a protobuf encoder sends as a `string` field
 * (string table, string attribute values and keys, resource and scope
 * attributes, scope name and version, schema URLs) is valid UTF-8; else
 * PC_EINVAL naming the first that is not (model/pdata_text.c). */
int pdata_check_text(const struct pdata *pd, struct errctx *e);

/* Deep copy of a pdata into a new arena (copy-on-write of payloads). */
struct pdata *pdata_clone(const struct pdata *pd);

/* Deep copy of src into dst, strings and nested values in arena a
 * (PC_ENOMEM, or PC_ENOMEM too past the nesting limit). */
int av_copy(struct arena *a, struct anyvalue *dst, const struct anyvalue *src);

/* Adds the zero entry to every empty table. */
int dict_init(struct pdata *pd);

/* Append one entry; return its index (>= 0) or a negative PC_E* code.
 * Pointers inside the entry must live as long as pd (arena or input). */
int32_t dict_add_string(struct pdata *pd, const char *s, size_t len);
int32_t dict_add_mapping(struct pdata *pd, const struct mapping *m);
int32_t dict_add_location(struct pdata *pd, const struct location *l);
int32_t dict_add_function(struct pdata *pd, const struct function *f);
int32_t dict_add_link(struct pdata *pd, const struct link *l);
int32_t dict_add_attr(struct pdata *pd, const struct attr *a);
int32_t dict_add_stack(struct pdata *pd, const int32_t *locs, uint32_t n);
/* Whether stacks a and b hold the same indices (of either width), and a
 * hash of those indices that does not depend on the width. */
int stack_eq(const struct stack *a, const struct stack *b);
uint64_t stack_hash(const struct stack *s, uint64_t seed);

/* The steps of stack_hash, for a caller hashing indices it maps first
 * (one multiply per index: a stack hash is on the encoders' hot path). */
static inline uint64_t stack_hash_step(uint64_t h, uint32_t v)
{
    return (h ^ v) * 0x9e3779b97f4a7c15ull;
}

static inline uint64_t stack_hash_end(uint64_t h)
{
    h ^= h >> 32;
    h *= 0xd6e8feb86659fd93ull;
    return h ^ (h >> 29);
}

/* Copies s into the arena, then adds it. */
int32_t dict_add_string_copy(struct pdata *pd, const char *s, size_t len);

/* Index of an equal string, searching linearly; -1 when absent. For rare
 * lookups by processors; bulk interning uses intern.h. */
int32_t dict_find_string(const struct pdata *pd, const char *s, size_t len);

/* Finds or adds (linear search) a string, copying it into the arena. */
int32_t dict_string(struct pdata *pd, const char *s, size_t len);

/* Reserves room for n more entries in a table of pd's dict; the decoders
 * call these once they have counted the entries. */
int dict_reserve_strings(struct pdata *pd, uint32_t n);
int dict_reserve_mappings(struct pdata *pd, uint32_t n);
int dict_reserve_locations(struct pdata *pd, uint32_t n);
int dict_reserve_functions(struct pdata *pd, uint32_t n);
int dict_reserve_links(struct pdata *pd, uint32_t n);
int dict_reserve_attrs(struct pdata *pd, uint32_t n);
int dict_reserve_stacks(struct pdata *pd, uint32_t n);

/* Appends a resource / scope / profile; returns a zeroed entry or NULL. */
struct resource_profiles *pdata_add_resource(struct pdata *pd);
struct scope_profiles *pdata_add_scope(struct pdata *pd,
                                       struct resource_profiles *rp);
struct profile *pdata_add_profile(struct pdata *pd, struct scope_profiles *sp);

/* Grows an arena-backed array to hold at least need elements of size sz
 * (old contents copied; the old block stays in the arena). */
int arena_grow_array(struct arena *a, void **arr, uint32_t *cap, uint32_t need,
                     size_t sz);

/* ---- reading ----------------------------------------------------------- */

static inline struct pstr dict_str(const struct dict *d, int32_t i)
{
    struct pstr none = {"", 0};

    if (i <= 0 || (uint32_t)i >= d->nstrings) {
        return none;
    }
    return d->strings[i];
}

int pstr_eq(struct pstr a, const char *s); /* a equals NUL-terminated s */
int pstr_eqp(struct pstr a, struct pstr b);

int av_equal(const struct anyvalue *a, const struct anyvalue *b);
uint64_t av_hash(const struct anyvalue *v, uint64_t seed);

/* Profiles (model profiles, not OTLP profiles) and samples of resource
 * `resource` of pd (< 0: of all; out of range: none). */
void pdata_count(const struct pdata *pd, int32_t resource, uint32_t *profiles,
                 uint64_t *samples);
/* Total number of profiles (model profiles, not OTLP profiles) in pd. */
uint32_t pdata_profile_count(const struct pdata *pd);
/* Total number of samples in pd. */
uint64_t pdata_sample_count(const struct pdata *pd);

#endif
