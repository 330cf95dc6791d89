/*
 * jfr_int.h: what the jfr_*.c files share inside codec/ (not a public API).
 *
 * A chunk is read in place: constant-pool entries are remembered as byte
 * offsets into the chunk and decoded when an event refers to them, so a
 * chunk costs its metadata tables and one (type, key, offset) per entry.
 */
#ifndef PROFCOL_JFR_INT_H
#define PROFCOL_JFR_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "codec/jfr/jfr.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/intern.h"

#define JFR_HEADER_LEN 68
#define JFR_EV_METADATA 0
#define JFR_EV_CHECKPOINT 1
/* Class ids below this are found through an array (jfr_meta.dense). */
#define JFR_DENSE_IDS 65536
/* Fields past this index of a class are read but not kept (jfr_read_fields). */
#define JFR_MAXV 32

enum jfr_prim {
    JP_STRUCT = 0,
    JP_BOOL,
    JP_BYTE,
    JP_CHAR,
    JP_SHORT,
    JP_INT,
    JP_LONG,
    JP_FLOAT,
    JP_DOUBLE,
    JP_STRING,
};

/* How a field is read when the chunk's integers are varints: most fields
 * of an event are one varint (a pool key, a time, a size), read inline by
 * jfr_read_fields; the rest take the value reader's general path. */
enum jfr_fop {
    JO_GENERIC = 0,
    JO_NUM, /* char, short, int, long: JV_NUM */
    JO_REF, /* a constant-pool key: JV_REF */
};

struct jfr_field {
    const char *name;
    uint64_t cls_id;
    int32_t cls;   /* index into the chunk's classes */
    uint8_t pool;  /* constantPool="true": a varint key */
    uint8_t array; /* dimension="1": count + elements */
    uint8_t op;    /* enum jfr_fop, set with cls */
};

/* The fields the conversion reads by name. Each class resolves them to
 * field indexes once, when its metadata is parsed (jfr_class.layout), so
 * that an event costs no string compare per field it reads. */
enum jfr_fname {
    JF_STACK_TRACE = 0,
    JF_STATE,
    JF_NAME,
    JF_VALUE,
    JF_SAMPLES,
    JF_TLAB_SIZE,
    JF_ALLOCATION_SIZE,
    JF_WEIGHT,
    JF_DURATION,
    JF_SIZE,
    JF_CONTEXT_ID,
    JF_SPAN_ID,
    JF_SPAN_NAME,
    JF_TRACE_ID_HI,
    JF_TRACE_ID_LO,
    JF_TYPE,
    JF_STRING,
    JF_METHOD,
    JF_LINE_NUMBER,
    JF_FRAMES,
    JF_LOCAL_ROOT_SPAN_ID,
    JF_CPU_INTERVAL,
    JF_WALL_INTERVAL,
    JF_NFNAMES
};

struct jfr_class {
    uint64_t id;
    const char *name;
    const char *super;
    uint8_t prim; /* enum jfr_prim */
    uint8_t zero; /* struct of zero bytes: never descended */
    uint32_t nfields, cap_fields;
    struct jfr_field *fields;
    /* Index of the field named jfr_fname (among the first JFR_MAXV), or
     * -1 when the class has none. */
    int8_t layout[JF_NFNAMES];
};

/* The class tree of a metadata event. Chunks whose metadata bytes are the
 * same (a recording repeats its metadata in every chunk) share one, parsed
 * once; the last chunk to let go of it frees it. */
struct jfr_meta {
    struct arena arena; /* strings, classes, fields; limit max_alloc */
    struct jfr_class *classes;
    uint32_t nclasses, cap_classes;
    struct itab class_idx; /* by id */
    /* By id again, as an array, when every id is below JFR_DENSE_IDS (the
     * JDK numbers its classes from 1 up): each event looks its type up. */
    int32_t *dense;
    uint32_t ndense;
    int32_t string_cls;   /* java.lang.String, -1 = none */
    const uint8_t *bytes; /* a copy of what it was parsed from: */
    size_t len;           /* strings and elements */
    int compressed;       /* the integers of those bytes were varints */
    uint32_t refs;
};

/* A string as found in the chunk; decoded by jfr_str_utf8. */
struct jfr_str {
    uint8_t enc;  /* 0 null, 1 "", 2 pool key, 3 UTF-8, 4 UTF-16,
                                  5 Latin-1 */
    uint32_t len; /* bytes (3, 5) or units (4) */
    size_t off;   /* chunk offset of the first byte / unit */
    uint64_t key; /* encoding 2 */
};

struct jfr_pool_ent {
    uint64_t type;
    uint64_t key;
    size_t off; /* chunk offset of the value */
};

struct jfr_chunk {
    const uint8_t *p; /* chunk bytes [p, p + len) */
    size_t len;
    size_t file_off;
    uint32_t index;
    int compressed; /* flags bit0: varint integers */
    uint16_t major, minor;
    uint64_t cp_off, meta_off;
    uint64_t start_nanos, duration_nanos, start_ticks, ticks_per_sec;
    const struct jfr_limits *lim;
    struct errctx *e;
    struct arena arena;    /* pool tables; limit max_alloc */
    struct jfr_meta *meta; /* one reference, or NULL before the load */
    /* Borrowed from meta, for the readers: the classes and String's. */
    struct jfr_class *classes;
    uint32_t nclasses;
    int32_t string_cls; /* java.lang.String, -1 = none */
    struct jfr_pool_ent *pool;
    uint32_t npool, cap_pool;
    struct itab pool_idx; /* by (type, key) */
    /* The class tree of the chunk before, shared when this chunk's metadata
     * bytes are the same; constant pools are never shared: they belong to
     * their chunk. One reference, or NULL: jfr_meta_parse lets go of it
     * once it has compared (before building a new tree, so that two trees
     * are not held at once), else jfr_chunk_close does. */
    struct jfr_meta *prev_meta;
    int meta_shared; /* meta is prev_meta's tree */
};

struct jfr_cur {
    struct jfr_chunk *c;
    size_t pos;
    size_t end;
};

enum jfr_vkind {
    JV_NONE = 0,
    JV_NUM,
    JV_DBL,
    JV_STR,
    JV_REF,
    JV_ARRAY,
    JV_STRUCT
};

/* One decoded field: a number, a string, a pool key, or where an array
 * (u = count) or inline struct starts (off). */
struct jfr_val {
    uint8_t kind;
    uint64_t u;
    double d;
    struct jfr_str s;
    size_t off;
};

/* strcmp(a, b) == 0 with the first bytes compared inline: the metadata
 * parser compares thousands of names, which mostly differ there. */
static inline int jfr_streq(const char *a, const char *b)
{
    return a[0] == b[0] && strcmp(a, b) == 0;
}

/* A 64-bit mix for the hash indexes (splitmix64's finaliser). */
static inline uint64_t jfr_mix64(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    return x ^ (x >> 33);
}

/* ---- jfr_reader.c: errors, primitives, chunks, events ---------------- */

/* "jfr: chunk N at byte X: <msg>" into c->e; returns code. */
int jfr_fail(const struct jfr_chunk *c, size_t pos, int code, const char *fmt,
             ...) __attribute__((format(printf, 4, 5)));
int jfr_u8(struct jfr_cur *r, uint8_t *v);
/* jfr_varint near the end of r, where each byte is checked. */
int jfr_varint_slow(struct jfr_cur *r, uint64_t *v);
int jfr_fixed(struct jfr_cur *r, unsigned size, uint64_t *v);

/* The 7-bit groups of the low bytes of w (a varint's bytes, little-endian,
 * the bytes past its last one cleared) put together. */
static inline uint64_t jfr_varint_gather(uint64_t w)
{
    return (w & 0x7fULL) | ((w >> 1) & 0x3f80ULL) | ((w >> 2) & 0x1fc000ULL) |
           ((w >> 3) & 0xfe00000ULL) | ((w >> 4) & 0x7f0000000ULL) |
           ((w >> 5) & 0x3f800000000ULL) | ((w >> 6) & 0x1fc0000000000ULL) |
           ((w >> 7) & 0xfe000000000000ULL);
}

/* The varint at p, which has 9 bytes readable; returns its length (1-9).
 * Branch-free but for the 9-byte form: timestamps and ids are 5-8 bytes,
 * where a byte-by-byte loop mispredicts its exit. */
static inline unsigned jfr_varint9(const uint8_t *p, uint64_t *v)
{
    uint64_t w, stop;
    unsigned n;

    memcpy(&w, p, sizeof(w)); /* one load; the bytes in little-endian */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    w = __builtin_bswap64(w);
#endif
    stop = ~w & 0x8080808080808080ULL; /* bytes without the continuation bit */
    if (stop == 0) {
        *v = jfr_varint_gather(w) | (uint64_t)p[8] << 56;
        return 9;
    }
    n = (unsigned)__builtin_ctzll(stop) / 8 + 1;
    if (n < 8) {
        w &= (1ULL << (8 * n)) - 1;
    }
    *v = jfr_varint_gather(w);
    return n;
}

/* jfr_varint past its one-byte form (jfr_reader.c). */
int jfr_varint_long(struct jfr_cur *r, uint64_t *v);

/* Unsigned LEB128 of at most 9 bytes, the 9th carrying 8 bits. Padded
 * (non-minimal) forms are valid: writers pad sizes they patch later.
 * Inline, the one-byte form only: every integer of a compressed chunk is
 * a varint, most of them one byte, and a small body inlines everywhere. */
static inline int jfr_varint(struct jfr_cur *r, uint64_t *v)
{
    if (r->pos < r->end && r->c->p[r->pos] < 0x80) {
        *v = r->c->p[r->pos++];
        return PC_OK;
    }
    return jfr_varint_long(r, v);
}

/* An integer of `size` bytes: varint when the chunk is compressed. */
static inline int jfr_int(struct jfr_cur *r, unsigned size, uint64_t *v)
{
    if (r->c->compressed) {
        return jfr_varint(r, v);
    }
    return jfr_fixed(r, size, v);
}

/* Parses the header of the chunk at off of the file into c. */
int jfr_chunk_open(struct jfr_chunk *c, const uint8_t *file, size_t flen,
                   size_t off, uint32_t index, const struct jfr_limits *lim,
                   struct errctx *e);
/* Reads the metadata and every constant pool of an opened chunk. */
int jfr_chunk_load(struct jfr_chunk *c);
void jfr_chunk_close(struct jfr_chunk *c);

struct jfr_event {
    const struct jfr_class *cls; /* NULL: type unknown to the metadata */
    uint64_t type;
    size_t start, body, end; /* size field, first field, next event */
};
/* Next event at *pos (starting at JFR_HEADER_LEN); 1 = one read, 0 = end. */
int jfr_next_event(struct jfr_chunk *c, size_t *pos, struct jfr_event *ev);

/* ---- jfr_value.c: fields and strings --------------------------------- */

int jfr_string(struct jfr_cur *r, struct jfr_str *s);
/* Appends s as UTF-8 to out (encoding 2 through the String pool). */
int jfr_str_utf8(struct jfr_chunk *c, const struct jfr_str *s, int depth,
                 struct buf *out);
/* Reads every field of cls at r; keeps the first JFR_MAXV in v. */
int jfr_read_fields(struct jfr_cur *r, const struct jfr_class *cls,
                    struct jfr_val *v, int depth);
/* Skips one value of class index cls (array when array is set). */
int jfr_skip_value(struct jfr_cur *r, int32_t cls, int array, int pool,
                   int depth);

/* ---- jfr_meta.c: the class tree -------------------------------------- */

/* Parses the chunk's metadata event into c->meta, or takes a reference to
 * the previous chunk's when the bytes are the same. */
int jfr_meta_parse(struct jfr_chunk *c);
/* Drops one reference to m; frees it with the last. NULL is allowed. */
void jfr_meta_release(struct jfr_meta *m);
/* Takes one more reference to m. NULL is allowed. */
void jfr_meta_retain(struct jfr_meta *m);
/* jfr_class_by_id without the dense index: the hash table. */
const struct jfr_class *jfr_class_by_id_hashed(const struct jfr_chunk *c,
                                               uint64_t id);
/* The class of a type id, NULL if the metadata has none. Inline: every
 * event looks up its type. */
static inline const struct jfr_class *
jfr_class_by_id(const struct jfr_chunk *c, uint64_t id)
{
    const struct jfr_meta *md = c->meta;

    if (md == NULL || md->dense == NULL) {
        return jfr_class_by_id_hashed(c, id);
    }
    if (id >= md->ndense || md->dense[id] < 0) {
        return NULL;
    }
    return &md->classes[md->dense[id]];
}
/* The index of field f in cls (among the first JFR_MAXV), or -1. */
static inline int jfr_field_index(const struct jfr_class *cls,
                                  enum jfr_fname f)
{
    return cls->layout[f];
}
/* The name of field f, for messages. */
const char *jfr_fname_str(enum jfr_fname f);

/* ---- jfr_pool.c: constant pools -------------------------------------- */

int jfr_pools_load(struct jfr_chunk *c);
/* PC_ENOTFOUND when (type, key) is in no pool of the chunk. */
int jfr_pool_find(const struct jfr_chunk *c, uint64_t type, uint64_t key,
                  size_t *off);
/* Finds (type, key) in the pools of *c and its class: pools belong to
 * their chunk, never to another. PC_ENOTFOUND if absent. */
int jfr_pool_locate(struct jfr_chunk **c, uint64_t type, uint64_t key,
                    const struct jfr_class **cls, size_t *off);
/* Decodes the entry (type, key) of chunk *c into v (JFR_MAXV entries) and
 * its class; its values belong to that chunk. */
int jfr_pool_read(struct jfr_chunk **c, uint64_t type, uint64_t key,
                  const struct jfr_class **cls, struct jfr_val *v, int depth);

#endif
