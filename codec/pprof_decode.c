/*
 * pprof_decode.c: perftools.profiles.Profile bytes -> model (see pprof.h).
 *
 * The decoder reads the (decompressed) input in passes over the top-level
 * fields, so that every table is sized before anything is written and no
 * sample needs its own allocation:
 *   1. count: the top-level fields only (samples, locations, strings, ...);
 *      what lies inside samples and locations is not counted: its values
 *      go to blocks carved as the passes go, each message taking room for
 *      the most its length allows (struct pp_chunk);
 *   2. strings, mappings, functions and the profile header;
 *   3. locations (they refer to mappings and functions, which pprof writes
 *      after them);
 *   4. samples (they refer to locations).
 * Pass 1 also records where each kind of field lies (struct pp_run), so
 * that a later pass reads its own fields only, even where a writer
 * interleaves kinds (Go: locations with functions, and in a heap profile
 * with samples). Labels are decoded once per distinct label
 * (pp_label_memo).
 *
 * pprof ids become table positions. Profiles written by Go and most tools
 * number ids 1..N in order; then an id is its own index and no map is built.
 * Otherwise ids are looked up in an intern.h table.
 */
#include "codec/pprof.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <xxhash.h>

#include "codec/compress.h"
#include "core/assert.h"
#include "core/intern.h"
#include "codec/pb.h"

/* Top-level field numbers of perftools.profiles.Profile. */
enum {
    PF_SAMPLE_TYPE = 1,
    PF_SAMPLE = 2,
    PF_MAPPING = 3,
    PF_LOCATION = 4,
    PF_FUNCTION = 5,
    PF_STRING = 6,
    PF_DROP_FRAMES = 7,
    PF_KEEP_FRAMES = 8,
    PF_TIME = 9,
    PF_DURATION = 10,
    PF_PERIOD_TYPE = 11,
    PF_PERIOD = 12,
    PF_COMMENT = 13,
    PF_DEFAULT_SAMPLE_TYPE = 14,
    PF_DOC_URL = 15,
};

/* Slack added to the arena budget so tiny inputs are not refused for the
 * fixed cost of the zero entries and the first arena chunk. */
#define PP_ARENA_SLACK ((size_t)1 << 20)

/* One field as read off the wire: varint/fixed value or a byte range. */
struct pbf {
    uint32_t field;
    unsigned wire;
    uint64_t v;
    const uint8_t *s;
    size_t n;
};

/* What pass 1 counts: top-level fields only. What lies inside samples and
 * locations (location ids, labels, lines) is not counted: the later passes
 * carve it from blocks bounded by each message's length (see pp_chunk). */
struct pp_counts {
    uint32_t sample_types, samples, mappings, locations, functions, strings;
    uint64_t comments, values, string_bytes;
    uint64_t sample_bytes; /* sum of the samples' message lengths */
};

/* Where the fields with one number lie: from the first one's tag to the
 * last one's end. Writers put each repeated field in one run (Go writes
 * samples, then mappings, locations, functions, strings), so a pass over
 * one kind of field reads only that run instead of the whole profile. */
struct pp_span {
    const uint8_t *start, *end;
};

/*
 * Runs of consecutive top-level fields with one number, in input order.
 * Real Go profiles interleave locations with functions (and a heap
 * profile samples with both), so a field's span covers most of the
 * profile and every later pass would re-read it; with the runs a pass
 * reads its own fields only. Pass 1 records at most PP_RUNS_MAX runs;
 * past that (a pathological order) the passes walk the spans instead.
 */
struct pp_run {
    const uint8_t *start, *end;
    uint32_t field;
};

#define PP_RUNS_FIRST 64
#define PP_RUNS_MAX 8192

/* Where a pass is in the fields numbered fn: the runs, else the span. */
struct pp_cur {
    const uint8_t *p, *end;
    uint32_t fn;
    uint32_t run; /* next run to look at */
};

/*
 * Equal labels share one attr entry. The table holds attr indices only
 * (open addressing, -1 = empty) and compares with the attr entries
 * themselves, so it stays 4 bytes a slot.
 */
struct pp_labtab {
    int32_t *slots;
    uint32_t mask;
    uint32_t count;
};

/*
 * Label messages seen before, by their bytes (at most 8, which is nearly
 * every label: key and value are one- or two-byte string indices). A
 * profile repeats a handful of labels on every sample, and decoding one is
 * two fields and a table lookup; equal bytes decode to the same attr
 * index, so a hit skips all of it.
 */
struct pp_labmemo {
    uint64_t bytes;
    uint32_t len; /* 0 = empty slot */
    int32_t attr; /* attr index, -1 = label dropped */
};

#define PP_LABMEMO_BITS 8

/* pprof id -> 1-based table index. */
struct idmap {
    uint64_t *ids; /* id of the entry at position i (malloc) */
    uint32_t n;
    int dense; /* ids are 1..n in order: index == id */
    int has_tab;
    struct itab tab;
};

struct pp_dec {
    struct pdata *pd;
    struct profile *prof;
    const uint8_t *base;
    const uint8_t *end;
    struct errctx *e;
    struct pp_counts c;
    struct idmap mappings, functions, locations;
    struct pp_span spans[PF_DOC_URL + 1];
    struct pp_run *runs; /* malloc, NULL = walk the spans */
    uint32_t nruns, cap_runs;
    struct pp_labtab labels;    /* dedup of equal labels (attr entries) */
    struct pp_labmemo *labmemo; /* 1 << PP_LABMEMO_BITS entries */
    struct pp_attrs *attrs;     /* the attr table's heap block, in the arena */
    char *strpool; /* copies of the strings, NULL when borrowing */
    /* The decompressed input when it is a mapping of our own: pages the
     * sample pass has read are given back as it goes (see pp_release). */
    uint8_t *map;
    size_t map_len;
    size_t released; /* bytes of map given back so far */
    size_t page;
    uint8_t *heap; /* the decompressed input when malloc'd */
    int copy_strings;
    /* The sample pass's output blocks, faulted in a window ahead of where
     * it writes (see pp_ahead). */
    struct pp_pop {
        uint8_t *done, *end;
        size_t lead; /* how far ahead of the writes */
    } pop[5];
};

/*
 * How the values that lie inside messages (a sample's location ids and
 * label indices, a location's lines) are laid out: pass 1 does not count
 * them, so each message asks for the most it can hold, bounded by its
 * length, and gets a new block when the current one has less room left
 * (pp_chunk). A message's values stay contiguous; blocks need not be.
 */
struct pp_chunk {
    uint64_t next; /* elements of the next block */
    unsigned pop;  /* the pp_pop window faulting it in, or PP_POP_NONE */
};

/* Largest block pp_chunk carves (larger only for one huge message). */
#define PP_CHUNK_MAX ((size_t)4 << 20)
/* How far ahead of the writes such a block is faulted in (pp_ahead). */
#define PP_CHUNK_LEAD ((size_t)128 << 10)
#define PP_POP_NONE 5u

static int pp_nomem(struct pp_dec *x);
static void pp_populate(const struct pp_dec *x, void *p, size_t n);
static void pp_pop_init(struct pp_dec *x, unsigned i, void *p, uint64_t n,
                        size_t sz);

/* The hot loops inline pbf_next's fast path and call this out of line. */
__attribute__((noinline)) static int
pbf_next_slow(const uint8_t **p, const uint8_t *end, struct pbf *f)
{
    int rc = pb_read_tag(p, end, &f->field, &f->wire);

    if (rc != PC_OK) {
        return rc;
    }
    switch (f->wire) {
    case PB_VARINT:
        return pb_read_varint(p, end, &f->v);
    case PB_LEN:
        return pb_read_len(p, end, &f->s, &f->n);
    case PB_I64:
        return pb_read_fixed64(p, end, &f->v);
    case PB_I32: {
        uint32_t v32 = 0;
        rc = pb_read_fixed32(p, end, &v32);
        f->v = v32;
        return rc;
    }
    default:
        return PC_ECORRUPT;
    }
}

/* Varint at q, which has at least 10 readable bytes; returns its length,
 * or 0 when it is malformed (more than 10 bytes, or past 64 bits). */
static inline size_t pp_varint10(const uint8_t *q, uint64_t *out)
{
    uint64_t v = 0;
    size_t i;

    for (i = 0; i < 10; i++) {
        uint64_t b = q[i];
        v |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
            if (i == 9 && b > 1) {
                return 0;
            }
            *out = v;
            return i + 1;
        }
    }
    return 0;
}

/*
 * One field off the wire. Nearly every field of a pprof has a one-byte tag
 * and is a varint or a length-delimited run; with 11 bytes left that case
 * needs no per-byte bounds check and is decoded here, inline in every
 * loop, and so is a varint closer to the end. Anything else (and every
 * error) goes to pbf_next_slow.
 */
__attribute__((always_inline)) static inline int
pbf_next(const uint8_t **p, const uint8_t *end, struct pbf *f)
{
    const uint8_t *q = *p;
    size_t k;

    /* One-byte tag, one-byte value or length: labels, most ids. */
    if (end - q >= 2 && q[0] >= 0x08 && q[0] < 0x80 && q[1] < 0x80) {
        f->field = q[0] >> 3;
        f->wire = q[0] & 7;
        if (f->wire == PB_VARINT) {
            f->v = q[1];
            *p = q + 2;
            return PC_OK;
        }
        if (f->wire == PB_LEN && q[1] <= end - q - 2) {
            f->s = q + 2;
            f->n = q[1];
            *p = q + 2 + q[1];
            return PC_OK;
        }
    }
    if (end - q >= 11 && q[0] >= 0x08 && q[0] < 0x80) {
        f->field = q[0] >> 3;
        f->wire = q[0] & 7;
        if (f->wire == PB_VARINT && (k = pp_varint10(q + 1, &f->v)) != 0) {
            *p = q + 1 + k;
            return PC_OK;
        }
        if (f->wire == PB_LEN && (k = pp_varint10(q + 1, &f->v)) != 0 &&
            f->v <= (uint64_t)(end - q - 1 - (ptrdiff_t)k)) {
            f->s = q + 1 + k;
            f->n = (size_t)f->v;
            *p = f->s + f->n;
            return PC_OK;
        }
    }
    /* A varint of several bytes closing its message (a sample's last
     * value, a line's number): bounds checked per byte, still inline. */
    if (end - q >= 2 && q[0] >= 0x08 && q[0] < 0x80 &&
        (q[0] & 7) == PB_VARINT) {
        const uint8_t *r = q + 1;
        if (pb_read_varint(&r, end, &f->v) == PC_OK) {
            f->field = q[0] >> 3;
            f->wire = PB_VARINT;
            *p = r;
            return PC_OK;
        }
    }
    return pbf_next_slow(p, end, f);
}

/*
 * A sample at *p the way writers put them, back to back: a tag byte 0x12
 * and a length of one or two bytes. Read without the general field reader
 * (passes 1 and 4 read every sample); returns 0, *p unmoved, for anything
 * else, which the caller reads with pbf_next.
 */
static inline int pp_sample_field(const uint8_t **p, const uint8_t *end,
                                  struct pbf *f)
{
    const uint8_t *q = *p;
    size_t n, hdr;

    if (end - q < 3 || q[0] != ((PF_SAMPLE << 3) | PB_LEN)) {
        return 0;
    }
    if (q[1] < 0x80) {
        n = q[1];
        hdr = 2;
    } else if (q[2] < 0x80) {
        n = (size_t)(q[1] & 0x7f) | (size_t)q[2] << 7;
        hdr = 3;
    } else {
        return 0;
    }
    if (n > (size_t)(end - q) - hdr) {
        return 0;
    }
    f->field = PF_SAMPLE;
    f->wire = PB_LEN;
    f->s = q + hdr;
    f->n = n;
    *p = f->s + n;
    return 1;
}

/* Number of varints in a packed run: bytes without the continuation bit,
 * eight at a time (pass 1 runs this over every sample). limit is the end
 * of the readable input: when the last word fits before it, the bytes
 * past end are masked off instead of counted one by one. */
static uint64_t pp_count_varints(const uint8_t *p, const uint8_t *end,
                                 const uint8_t *limit)
{
    const uint64_t hi = 0x8080808080808080ULL;
    uint64_t n = 0, w;

    while (end - p >= 8) {
        memcpy(&w, p, 8);
        /* one bit per terminating byte, summed by the multiply */
        n += (((~w & hi) >> 7) * 0x0101010101010101ULL) >> 56;
        p += 8;
    }
    if (p < end && limit - p >= 8) {
        memcpy(&w, p, 8);
        w = ~w & hi & ((UINT64_C(1) << (8 * (end - p))) - 1);
        return n + (((w >> 7) * 0x0101010101010101ULL) >> 56);
    }
    while (p < end) {
        n += (*p++ & 0x80) == 0;
    }
    return n;
}

static size_t pp_off(const struct pp_dec *x, const uint8_t *at)
{
    return (size_t)(at - x->base);
}

/* Error for bytes that do not parse as protobuf, at a given place. */
static int pp_wire_err(struct pp_dec *x, int rc, const uint8_t *at,
                       const char *where)
{
    if (rc == PC_ETRUNC) {
        return err_set(x->e, PC_ETRUNC, "pprof: truncated %s at byte %zu",
                       where, pp_off(x, at));
    }
    return err_set(x->e, PC_ECORRUPT,
                   "not a pprof profile: malformed protobuf in %s at byte %zu",
                   where, pp_off(x, at));
}

static int pp_wire_type_err(struct pp_dec *x, const struct pbf *f,
                            const char *msg)
{
    return err_set(x->e, PC_ECORRUPT,
                   "not a pprof profile: %s field %u has wire type %u", msg,
                   f->field, f->wire);
}

/* Number of scalars a repeated varint field holds (packed or not). */
static int pp_count_scalars(struct pp_dec *x, const struct pbf *f,
                            const char *what, uint64_t *count)
{
    if (f->wire == PB_VARINT) {
        *count += 1;
        return PC_OK;
    }
    if (f->wire == PB_LEN) {
        *count += pp_count_varints(f->s, f->s + f->n, x->end);
        return PC_OK;
    }
    return pp_wire_type_err(x, f, what);
}

/* ---- pass 1: counting ------------------------------------------------- */

/* Counts one top-level field; messages must be length-delimited. */
static int pp_count_field(struct pp_dec *x, const struct pbf *f)
{
    int is_msg = f->field <= PF_STRING || f->field == PF_PERIOD_TYPE;

    if (is_msg && f->wire != PB_LEN) {
        return pp_wire_type_err(x, f, "profile");
    }
    switch (f->field) {
    case PF_SAMPLE_TYPE:
        x->c.sample_types++;
        return PC_OK;
    case PF_SAMPLE:
        x->c.samples++;
        x->c.sample_bytes += f->n;
        return PC_OK;
    case PF_MAPPING:
        x->c.mappings++;
        return PC_OK;
    case PF_LOCATION:
        x->c.locations++;
        return PC_OK;
    case PF_FUNCTION:
        x->c.functions++;
        return PC_OK;
    case PF_STRING:
        x->c.strings++;
        x->c.string_bytes += f->n;
        return PC_OK;
    case PF_COMMENT:
        return pp_count_scalars(x, f, "profile", &x->c.comments);
    default:
        return PC_OK;
    }
}

/* Adds the field [at, p) numbered fn to the runs (see struct pp_run);
 * gives up on them when they outgrow PP_RUNS_MAX or memory. */
static void pp_run_add(struct pp_dec *x, uint32_t fn, const uint8_t *at,
                       const uint8_t *p)
{
    struct pp_run *r;

    if (x->nruns != 0 && x->runs == NULL) {
        return; /* given up */
    }
    r = x->nruns != 0 ? &x->runs[x->nruns - 1] : NULL;
    if (r != NULL && r->field == fn && r->end == at) {
        r->end = p;
        return;
    }
    if (x->nruns == x->cap_runs) {
        uint32_t cap = x->cap_runs != 0 ? x->cap_runs * 2 : PP_RUNS_FIRST;
        r = cap <= PP_RUNS_MAX ? realloc(x->runs, cap * sizeof(*r)) : NULL;
        if (r == NULL) {
            free(x->runs);
            x->runs = NULL;
            x->nruns = 1; /* nonzero with no runs: given up */
            return;
        }
        x->runs = r;
        x->cap_runs = cap;
    }
    x->runs[x->nruns].start = at;
    x->runs[x->nruns].end = p;
    x->runs[x->nruns].field = fn;
    x->nruns++;
}

static int pp_count(struct pp_dec *x)
{
    const uint8_t *p = x->base, *at;
    /* Every top-level field takes two bytes at least: below this size no
     * count can reach INT32_MAX, and the loop need not check. */
    int small = (size_t)(x->end - x->base) / 2 < INT32_MAX;
    struct pbf f = {0};
    int rc;

    while (p < x->end) {
        at = p;
        rc = pp_sample_field(&p, x->end, &f) ? PC_OK
                                             : pbf_next(&p, x->end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "profile");
        }
        rc = pp_count_field(x, &f);
        if (rc != PC_OK) {
            return rc;
        }
        if (f.field <= PF_DOC_URL) {
            struct pp_span *sp = &x->spans[f.field];
            sp->start = sp->start != NULL ? sp->start : at;
            sp->end = p;
            pp_run_add(x, f.field, at, p);
        }
        /* Tables are indexed with int32; refuse what cannot fit. */
        if (small) {
            continue;
        }
        if (x->c.samples >= INT32_MAX || x->c.strings >= INT32_MAX ||
            x->c.locations >= INT32_MAX || x->c.mappings >= INT32_MAX ||
            x->c.functions >= INT32_MAX || x->c.sample_types >= INT32_MAX) {
            return err_set(x->e, PC_ETOOBIG, "pprof: too many entries");
        }
    }
    x->c.values = (uint64_t)x->c.samples * x->c.sample_types;
    /* Every value takes a byte at least: more than that is no pprof (and
     * the block size below must not overflow). */
    if (x->c.values > (uint64_t)(x->end - x->base)) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: %u samples cannot each hold %u values",
                       x->c.samples, x->c.sample_types);
    }
    return PC_OK;
}

/* Bytes the counted tables will take in the arena at the least (what lies
 * inside samples and locations is not counted; the arena limit bounds it
 * as it is carved). */
static uint64_t pp_model_bytes(const struct pp_counts *c)
{
    return (uint64_t)c->samples *
               (sizeof(struct sample) + sizeof(struct stack)) +
           c->values * sizeof(int64_t) +
           (uint64_t)c->strings * sizeof(struct pstr) +
           (uint64_t)c->mappings * sizeof(struct mapping) +
           (uint64_t)c->locations * sizeof(struct location) +
           (uint64_t)c->functions * sizeof(struct function) +
           c->comments * sizeof(int32_t) + c->string_bytes +
           (uint64_t)c->sample_types * sizeof(struct value_type);
}

/* ---- id maps ---------------------------------------------------------- */

static uint64_t pp_id_hash(uint64_t id)
{
    return XXH3_64bits(&id, sizeof(id));
}

static void idmap_free(struct idmap *m)
{
    free(m->ids);
    if (m->has_tab) {
        itab_free(&m->tab);
    }
    memset(m, 0, sizeof(*m));
}

static int idmap_alloc(struct idmap *m, uint32_t n)
{
    m->ids = malloc(((size_t)n + 1) * sizeof(*m->ids));
    m->n = 0;
    m->dense = 1;
    return m->ids == NULL ? PC_ENOMEM : PC_OK;
}

static void idmap_push(struct idmap *m, uint64_t id)
{
    if (id != (uint64_t)m->n + 1) {
        m->dense = 0;
    }
    m->ids[m->n++] = id;
}

/* Builds the lookup table when ids are not 1..n; rejects 0 and duplicates. */
static int idmap_build(struct pp_dec *x, struct idmap *m, const char *what)
{
    struct itab_probe pr;
    uint32_t i;
    int32_t j;
    int rc;

    if (m->dense) {
        /* index == id: the ids are not needed for lookups. */
        free(m->ids);
        m->ids = NULL;
        return PC_OK;
    }
    rc = itab_init(&m->tab, m->n);
    if (rc != PC_OK) {
        return err_set(x->e, rc, "pprof: out of memory for %s ids", what);
    }
    m->has_tab = 1;
    for (i = 0; i < m->n; i++) {
        uint64_t id = m->ids[i];
        if (id == 0) {
            return err_set(x->e, PC_ECORRUPT, "pprof: %s %u has id 0", what,
                           i);
        }
        itab_probe_start(&m->tab, pp_id_hash(id), &pr);
        while ((j = itab_probe_next(&m->tab, &pr)) >= 0) {
            if (m->ids[j] == id) {
                return err_set(x->e, PC_ECORRUPT,
                               "pprof: duplicate %s id %" PRIu64, what, id);
            }
        }
        rc = itab_insert(&m->tab, &pr, (int32_t)i);
        if (rc != PC_OK) {
            return err_set(x->e, rc, "pprof: out of memory for %s ids", what);
        }
    }
    return PC_OK;
}

/* Index (1-based) of the entry with this id, or -1. */
static int32_t idmap_find(const struct idmap *m, uint64_t id)
{
    struct itab_probe pr;
    int32_t j;

    if (m->dense) {
        return id >= 1 && id <= m->n ? (int32_t)id : -1;
    }
    itab_probe_start(&m->tab, pp_id_hash(id), &pr);
    while ((j = itab_probe_next(&m->tab, &pr)) >= 0) {
        if (m->ids[j] == id) {
            return j + 1;
        }
    }
    return -1;
}

/* ---- pass 2: strings, mappings, functions, header ----------------------- */

/* A string index field: must name an existing string. */
static int pp_str(struct pp_dec *x, uint64_t v, int32_t *out, const char *what,
                  uint64_t idx)
{
    if (v >= x->c.strings) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: %s %" PRIu64 ": string index %" PRId64
                       " out of range (%u strings)",
                       what, idx, (int64_t)v, x->c.strings);
    }
    *out = (int32_t)v;
    return PC_OK;
}

static int pp_want(struct pp_dec *x, const struct pbf *f, unsigned wire,
                   const char *what)
{
    return f->wire == wire ? PC_OK : pp_wire_type_err(x, f, what);
}

static int pp_value_type(struct pp_dec *x, const struct pbf *top,
                         struct value_type *vt, const char *what, uint64_t idx)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct pbf f = {0};
    int rc;

    vt->type = 0;
    vt->unit = 0;
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, what);
        }
        if (f.field == 1 || f.field == 2) {
            rc = pp_want(x, &f, PB_VARINT, what);
            if (rc == PC_OK) {
                rc = pp_str(x, f.v, f.field == 1 ? &vt->type : &vt->unit, what,
                            idx);
            }
            if (rc != PC_OK) {
                return rc;
            }
        }
    }
    return PC_OK;
}

static int pp_mapping_field(struct pp_dec *x, const struct pbf *f,
                            struct mapping *m, uint64_t *id, uint64_t idx)
{
    int rc = pp_want(x, f, PB_VARINT, "mapping");

    if (rc != PC_OK) {
        return rc;
    }
    switch (f->field) {
    case 1:
        *id = f->v;
        break;
    case 2:
        m->memory_start = f->v;
        break;
    case 3:
        m->memory_limit = f->v;
        break;
    case 4:
        m->file_offset = f->v;
        break;
    case 5:
        return pp_str(x, f->v, &m->filename, "mapping", idx);
    case 6:
        return pp_str(x, f->v, &m->build_id, "mapping", idx);
    case 7:
        m->flags |= f->v ? MAPPING_HAS_FUNCTIONS : 0;
        break;
    case 8:
        m->flags |= f->v ? MAPPING_HAS_FILENAMES : 0;
        break;
    case 9:
        m->flags |= f->v ? MAPPING_HAS_LINE_NUMBERS : 0;
        break;
    case 10:
        m->flags |= f->v ? MAPPING_HAS_INLINE_FRAMES : 0;
        break;
    default:
        break;
    }
    return PC_OK;
}

static int pp_mapping(struct pp_dec *x, const struct pbf *top)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct dict *d = &x->pd->dict;
    struct mapping *m = &d->mappings[d->nmappings];
    uint64_t id = 0, idx = x->mappings.n;
    struct pbf f = {0};
    int rc;

    memset(m, 0, sizeof(*m));
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "mapping");
        }
        if (f.field >= 1 && f.field <= 10) {
            rc = pp_mapping_field(x, &f, m, &id, idx);
            if (rc != PC_OK) {
                return rc;
            }
        }
    }
    d->nmappings++;
    idmap_push(&x->mappings, id);
    return PC_OK;
}

static int pp_function(struct pp_dec *x, const struct pbf *top)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct dict *d = &x->pd->dict;
    struct function *fn = &d->functions[d->nfunctions];
    uint64_t id = 0, idx = x->functions.n;
    struct pbf f = {0};
    int rc = PC_OK;

    memset(fn, 0, sizeof(*fn));
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "function");
        }
        if (f.field < 1 || f.field > 5) {
            continue;
        }
        rc = pp_want(x, &f, PB_VARINT, "function");
        if (rc == PC_OK && f.field == 1) {
            id = f.v;
        } else if (rc == PC_OK && f.field == 2) {
            rc = pp_str(x, f.v, &fn->name, "function", idx);
        } else if (rc == PC_OK && f.field == 3) {
            rc = pp_str(x, f.v, &fn->system_name, "function", idx);
        } else if (rc == PC_OK && f.field == 4) {
            rc = pp_str(x, f.v, &fn->filename, "function", idx);
        } else if (rc == PC_OK) {
            fn->start_line = (int64_t)f.v;
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    d->nfunctions++;
    idmap_push(&x->functions, id);
    return PC_OK;
}

static int pp_string(struct pp_dec *x, const struct pbf *f, uint32_t *i)
{
    struct dict *d = &x->pd->dict;

    if (*i == 0) {
        /* Model string 0 is the zero entry dict_init added. */
        if (f->n != 0) {
            return err_set(x->e, PC_ECORRUPT,
                           "pprof: string_table[0] is not empty");
        }
    } else {
        if (f->n > UINT32_MAX) {
            return err_set(x->e, PC_ETOOBIG, "pprof: string %u too long", *i);
        }
        d->strings[d->nstrings].ptr = (const char *)f->s;
        d->strings[d->nstrings].len = (uint32_t)f->n;
        if (x->strpool != NULL && f->n != 0) {
            /* Pass 1 summed the lengths: the pool has room. */
            memcpy(x->strpool, f->s, f->n);
            d->strings[d->nstrings].ptr = x->strpool;
            x->strpool += f->n;
        }
        d->nstrings++;
    }
    (*i)++;
    return PC_OK;
}

static int pp_comments(struct pp_dec *x, const struct pbf *f)
{
    struct profile *pr = x->prof;
    const uint8_t *p, *end;
    uint64_t v;
    int rc;

    if (f->wire == PB_VARINT) {
        rc = pp_str(x, f->v, &pr->comments[pr->ncomments], "comment",
                    pr->ncomments);
        pr->ncomments++;
        return rc;
    }
    p = f->s;
    end = f->s + f->n;
    while (p < end) {
        rc = pb_read_varint(&p, end, &v);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, p, "comment");
        }
        if (pr->ncomments >= x->c.comments) {
            return err_set(x->e, PC_ECORRUPT, "pprof: bad comment list");
        }
        rc = pp_str(x, v, &pr->comments[pr->ncomments], "comment",
                    pr->ncomments);
        if (rc != PC_OK) {
            return rc;
        }
        pr->ncomments++;
    }
    return PC_OK;
}

/* A scalar header field (drop/keep frames, times, period, ...). */
static int pp_header_scalar(struct pp_dec *x, const struct pbf *f)
{
    struct profile *pr = x->prof;
    int rc = pp_want(x, f, PB_VARINT, "profile");

    if (rc != PC_OK) {
        return rc;
    }
    switch (f->field) {
    case PF_DROP_FRAMES:
        return pp_str(x, f->v, &pr->drop_frames, "drop_frames", 0);
    case PF_KEEP_FRAMES:
        return pp_str(x, f->v, &pr->keep_frames, "keep_frames", 0);
    case PF_TIME:
        pr->time_nanos = (int64_t)f->v;
        return PC_OK;
    case PF_DURATION:
        pr->duration_nanos = (int64_t)f->v;
        return PC_OK;
    case PF_PERIOD:
        pr->period = (int64_t)f->v;
        return PC_OK;
    case PF_DEFAULT_SAMPLE_TYPE:
        return pp_str(x, f->v, &pr->default_sample_type, "default_sample_type",
                      0);
    case PF_DOC_URL:
        return pp_str(x, f->v, &pr->doc_url, "doc_url", 0);
    default:
        return PC_OK;
    }
}

static int pp_pass2_field(struct pp_dec *x, const struct pbf *f,
                          uint32_t *nstr)
{
    struct profile *pr = x->prof;

    switch (f->field) {
    case PF_SAMPLE_TYPE:
        pr->nsample_types++;
        return pp_value_type(x, f, &pr->sample_types[pr->nsample_types - 1],
                             "sample_type", pr->nsample_types - 1);
    case PF_MAPPING:
        return pp_mapping(x, f);
    case PF_FUNCTION:
        return pp_function(x, f);
    case PF_STRING:
        return pp_string(x, f, nstr);
    case PF_PERIOD_TYPE:
        return pp_value_type(x, f, &pr->period_type, "period_type", 0);
    case PF_COMMENT:
        return pp_comments(x, f);
    case PF_SAMPLE:
    case PF_LOCATION:
        return PC_OK;
    default:
        return f->field <= PF_DOC_URL ? pp_header_scalar(x, f) : PC_OK;
    }
}

/* ---- blocks of values inside messages ---------------------------------- */

/* First block size (elements) for a kind whose values, all messages
 * together, take about `guess`. */
static void pp_chunk_init(struct pp_chunk *k, uint64_t guess, size_t sz,
                          unsigned pop)
{
    k->next = guess < 64 ? 64 : guess;
    if (k->next > PP_CHUNK_MAX / sz) {
        k->next = PP_CHUNK_MAX / sz;
    }
    k->pop = pop;
}

/*
 * A new block of at least n elements of size sz (n: the most one message
 * can hold, which its length bounds). Blocks double up to PP_CHUNK_MAX:
 * at most one message's bound is left unused at the end of each, and the
 * untouched end of the last costs address space, not memory (big arena
 * chunks are mappings of their own; the sample pass faults its blocks in
 * just ahead of its writes, see pp_ahead). NULL when out of memory.
 */
static void *pp_chunk(struct pp_dec *x, struct pp_chunk *k, size_t n,
                      size_t sz, size_t *got)
{
    size_t want = k->next > n ? (size_t)k->next : n;
    void *p;

    if (want > SIZE_MAX / sz) {
        return NULL;
    }
    p = arena_alloc(&x->pd->arena, want * sz);
    if (p == NULL) {
        return NULL;
    }
    *got = want;
    if (k->next * 2 <= PP_CHUNK_MAX / sz) {
        k->next *= 2;
    }
    if (k->pop != PP_POP_NONE) {
        /* How much of the block the values will fill is not known: the
         * window ahead is kept short, as what it faults in past the last
         * value is memory held for nothing. */
        pp_pop_init(x, k->pop, p, want, sz);
        x->pop[k->pop].lead = PP_CHUNK_LEAD;
    } else {
        pp_populate(x, p, want * sz);
    }
    return p;
}

/* ---- pass 3: locations ------------------------------------------------- */

static int pp_line(struct pp_dec *x, const struct pbf *top, struct line *ln,
                   uint64_t idx)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct pbf f = {0};
    int32_t fi;
    int rc;

    memset(ln, 0, sizeof(*ln));
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "line");
        }
        if (f.field < 1 || f.field > 3) {
            continue;
        }
        rc = pp_want(x, &f, PB_VARINT, "line");
        if (rc != PC_OK) {
            return rc;
        }
        if (f.field == 1 && f.v != 0) {
            fi = idmap_find(&x->functions, f.v);
            if (fi < 0) {
                return err_set(x->e, PC_ECORRUPT,
                               "pprof: location %" PRIu64
                               ": unknown function id %" PRIu64,
                               idx, f.v);
            }
            ln->function = fi;
        } else if (f.field == 2) {
            ln->line = (int64_t)f.v;
        } else if (f.field == 3) {
            ln->column = (int64_t)f.v;
        }
    }
    return PC_OK;
}

static int pp_location_field(struct pp_dec *x, const struct pbf *f,
                             struct location *l, const struct line *lines_end,
                             uint64_t *id, uint64_t idx)
{
    int32_t mi;
    int rc;

    if (f->field == 4) {
        rc = pp_want(x, f, PB_LEN, "location");
        if (rc != PC_OK || l->lines + l->nlines >= lines_end) {
            return rc != PC_OK
                       ? rc
                       : err_set(x->e, PC_ECORRUPT, "pprof: bad line list");
        }
        return pp_line(x, f, &l->lines[l->nlines++], idx);
    }
    rc = pp_want(x, f, PB_VARINT, "location");
    if (rc != PC_OK) {
        return rc;
    }
    if (f->field == 1) {
        *id = f->v;
    } else if (f->field == 2) {
        mi = f->v == 0 ? 0 : idmap_find(&x->mappings, f->v);
        if (mi < 0) {
            return err_set(x->e, PC_ECORRUPT,
                           "pprof: location %" PRIu64
                           ": unknown mapping id %" PRIu64,
                           idx, f->v);
        }
        l->mapping = mi;
    } else if (f->field == 3) {
        l->address = f->v;
    } else {
        l->is_folded = f->v != 0;
    }
    return PC_OK;
}

/* Where pass 3 writes lines: [next, end) of the current block. */
struct pp_lines {
    struct line *next, *end;
    struct pp_chunk k;
};

static int pp_location(struct pp_dec *x, const struct pbf *top,
                       struct pp_lines *ls)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct dict *d = &x->pd->dict;
    struct location *l = &d->locations[d->nlocations];
    uint64_t id = 0, idx = x->locations.n;
    struct pbf f = {0};
    /* A line takes two bytes at least (tag and length). */
    size_t most = top->n / 2, got = 0;
    int rc;

    if (most != 0 &&
        (ls->next == NULL || (size_t)(ls->end - ls->next) < most)) {
        ls->next = pp_chunk(x, &ls->k, most, sizeof(struct line), &got);
        if (ls->next == NULL) {
            return pp_nomem(x);
        }
        ls->end = ls->next + got;
    }
    memset(l, 0, sizeof(*l));
    l->lines = ls->next;
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "location");
        }
        if (f.field >= 1 && f.field <= 5) {
            rc = pp_location_field(x, &f, l, ls->end, &id, idx);
            if (rc != PC_OK) {
                return rc;
            }
        }
    }
    if (l->nlines == 0) {
        l->lines = NULL;
    } else {
        ls->next += l->nlines;
    }
    d->nlocations++;
    idmap_push(&x->locations, id);
    return PC_OK;
}

/* ---- pass 4: samples --------------------------------------------------- */

/* Where the sample pass writes: the values in one block carved for all
 * samples (each has one per sample type), location ids and label indices
 * in blocks carved as it goes (struct pp_chunk). */
struct pp_blocks {
    /* Location indices: uint16 when narrow (every index below 65536),
     * else int32 (struct stack); the pointers count bytes. */
    uint8_t *locs, *locs_end;
    int narrow;
    int64_t *vals, *vals_end;
    int32_t *attrs, *attrs_end;
    struct pp_chunk locs_k, attrs_k;
};

/* Cheap mix of a label's numbers: labels are looked up once per label of
 * every sample, so a library hash call here shows in profiles. A string
 * value is hashed by its pointer, as equal labels share the dict string. */
static inline uint32_t pp_attr_hash(const struct attr *a)
{
    uint64_t v = a->value.type == AV_STRING
                     ? (uint64_t)(uintptr_t)a->value.u.s.ptr
                     : (uint64_t)a->value.u.i;
    uint64_t h = (uint64_t)(uint32_t)a->key * 0x9e3779b97f4a7c15ULL;

    h ^= (v + a->value.type) * 0xc2b2ae3d27d4eb4fULL;
    h ^= (uint64_t)(uint32_t)a->unit * 0x165667b19e3779f9ULL;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(h >> 32);
}

static int pp_attr_same(const struct attr *a, const struct attr *b)
{
    return a->key == b->key && a->unit == b->unit &&
           a->value.type == b->value.type &&
           (a->value.type == AV_STRING ? a->value.u.s.ptr == b->value.u.s.ptr
                                       : a->value.u.i == b->value.u.i);
}

/*
 * The attr table: how many distinct labels a profile has is not known
 * before its samples are read. It starts small and doubles, never past
 * the most the samples' bytes allow (a label that becomes an attr takes
 * four bytes at least: tag, length, and a field with a value). It is
 * memory of its own that the arena frees (struct pp_attrs), not arena
 * memory, so that growing leaves no outgrown copy behind: malloc'd while
 * small, a mapping of its own from PP_ATTRS_MAP_MIN bytes on, grown by
 * remapping (a heap block it outgrew would stay resident, and glibc puts
 * even big blocks in the heap once its mmap threshold has risen). Its
 * size counts against the arena's limit. Labels repeat (a 4,000-label
 * profile has some 30 distinct). Set up at the first label, so that a
 * profile without labels pays nothing for it.
 */
#define PP_ATTRS_FIRST 256
#define PP_ATTRS_MAP_MIN ((size_t)1 << 20)

struct pp_attrs {
    struct attr *p; /* freed with the arena */
    size_t mapped;  /* length of the mapping, 0 = malloc'd */
    uint32_t most;  /* entries the samples' bytes allow */
};

static void pp_attrs_free(void *box)
{
    struct pp_attrs *t = box;

    if (t->mapped != 0) {
        munmap(t->p, t->mapped);
    } else {
        free(t->p);
    }
}

/* Moves the table to a mapping of at least bytes (page-rounded), keeping
 * its n entries; NULL when out of memory. */
static struct attr *pp_attrs_map(struct pp_dec *x, size_t bytes, uint32_t n)
{
    struct pp_attrs *t = x->attrs;
    void *m;

    bytes = (bytes + x->page - 1) & ~(x->page - 1);
    if (t->mapped != 0) {
        m = mremap(t->p, t->mapped, bytes, MREMAP_MAYMOVE);
        if (m == MAP_FAILED) {
            return NULL;
        }
    } else {
        m = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            return NULL;
        }
        memcpy(m, t->p, (size_t)n * sizeof(struct attr));
        free(t->p);
    }
    t->mapped = bytes;
    return m;
}

/* Gives the attr table cap entries (at most x->attrs->most): PC_ETOOBIG
 * past the arena's limit, PC_ENOMEM when out of memory. */
static int pp_attrs_resize(struct pp_dec *x, uint32_t cap)
{
    struct dict *d = &x->pd->dict;
    const struct arena *a = &x->pd->arena;
    size_t bytes = (size_t)cap * sizeof(struct attr);
    struct attr *p;

    PC_ASSERT(cap <= x->attrs->most && cap >= d->nattrs);
    if (a->limit != 0 &&
        (bytes > a->limit || arena_bytes(a) > a->limit - bytes)) {
        return PC_ETOOBIG;
    }
    if (bytes >= PP_ATTRS_MAP_MIN) {
        p = pp_attrs_map(x, bytes, d->nattrs);
    } else {
        p = realloc(x->attrs->p, bytes);
    }
    if (p == NULL) {
        return PC_ENOMEM;
    }
    x->attrs->p = p;
    d->attrs = p;
    d->cap_attrs = cap;
    return PC_OK;
}

static int pp_labtab_init(struct pp_dec *x)
{
    struct dict *d = &x->pd->dict;
    struct pp_labtab *t = &x->labels;
    const struct attr *old = d->attrs;
    uint32_t n = d->nattrs;
    uint64_t most = x->c.sample_bytes / 4 + n + 1;
    int rc;

    x->attrs = arena_alloc(&x->pd->arena, sizeof(*x->attrs));
    if (x->attrs == NULL) {
        return PC_ENOMEM;
    }
    memset(x->attrs, 0, sizeof(*x->attrs));
    if (arena_on_free(&x->pd->arena, pp_attrs_free, x->attrs) != PC_OK) {
        return PC_ENOMEM;
    }
    /* More entries would not be indexable. */
    x->attrs->most = most > INT32_MAX ? (uint32_t)INT32_MAX : (uint32_t)most;
    rc = pp_attrs_resize(x, x->attrs->most < PP_ATTRS_FIRST + n
                                ? x->attrs->most
                                : PP_ATTRS_FIRST + n);
    if (rc != PC_OK) {
        return rc;
    }
    memcpy(d->attrs, old, n * sizeof(*old));
    t->slots = malloc(128 * sizeof(*t->slots));
    if (t->slots == NULL) {
        return PC_ENOMEM;
    }
    memset(t->slots, 0xff, 128 * sizeof(*t->slots));
    t->mask = 127;
    /* Without the memo every label is decoded: it only saves time. */
    x->labmemo = calloc((size_t)1 << PP_LABMEMO_BITS, sizeof(*x->labmemo));
    return PC_OK;
}

/* Doubles the attr table, up to the most the samples allow. */
static int pp_labtab_room(struct pp_dec *x)
{
    const struct dict *d = &x->pd->dict;
    uint32_t most = x->attrs->most;

    if (d->cap_attrs >= most) {
        return PC_ETOOBIG; /* INT32_MAX entries: pp_labtab_init */
    }
    return pp_attrs_resize(x,
                           d->cap_attrs > most / 2 ? most : d->cap_attrs * 2);
}

/* Doubles the slot array (load stays at most 1/2). */
static int pp_labtab_grow(struct pp_dec *x)
{
    const struct dict *d = &x->pd->dict;
    struct pp_labtab *t = &x->labels;
    uint32_t cap = (t->mask + 1) * 2, i, pos;
    int32_t *slots, j;

    if (cap > (1u << 30) || (slots = malloc(cap * sizeof(*slots))) == NULL) {
        return PC_ENOMEM;
    }
    memset(slots, 0xff, cap * sizeof(*slots));
    for (i = 0; i <= t->mask; i++) {
        if ((j = t->slots[i]) >= 0) {
            pos = pp_attr_hash(&d->attrs[j]) & (cap - 1);
            while (slots[pos] >= 0) {
                pos = (pos + 1) & (cap - 1);
            }
            slots[pos] = j;
        }
    }
    free(t->slots);
    t->slots = slots;
    t->mask = cap - 1;
    return PC_OK;
}

/* Attr index for a label, sharing one entry among equal labels. */
static int pp_label_attr(struct pp_dec *x, int32_t key, int32_t str,
                         int64_t num, int32_t unit, int32_t *out)
{
    struct dict *d = &x->pd->dict;
    struct pp_labtab *t = &x->labels;
    struct attr a;
    uint32_t pos;
    int32_t j;

    memset(&a, 0, sizeof(a));
    a.key = key;
    if (str != 0) {
        a.value.type = AV_STRING;
        a.value.u.s = d->strings[str];
    } else {
        a.unit = unit;
        a.value.type = AV_INT;
        a.value.u.i = num;
    }
    pos = pp_attr_hash(&a) & t->mask;
    while ((j = t->slots[pos]) >= 0) {
        if (pp_attr_same(&d->attrs[j], &a)) {
            *out = j;
            return PC_OK;
        }
        pos = (pos + 1) & t->mask;
    }
    if (d->nattrs >= d->cap_attrs && (j = pp_labtab_room(x)) != PC_OK) {
        if (j == PC_ETOOBIG && x->pd->arena.limit != 0) {
            return err_set(x->e, PC_ETOOBIG,
                           "pprof: labels past the arena limit of %zu bytes",
                           x->pd->arena.limit);
        }
        return j == PC_ETOOBIG
                   ? err_set(x->e, PC_ETOOBIG, "pprof: too many labels")
                   : err_set(x->e, PC_ENOMEM,
                             "pprof: out of memory for labels");
    }
    j = (int32_t)d->nattrs++;
    d->attrs[j] = a;
    t->slots[pos] = j;
    *out = j;
    if (++t->count * 2 > t->mask && pp_labtab_grow(x) != PC_OK) {
        return err_set(x->e, PC_ENOMEM, "pprof: out of memory for labels");
    }
    return PC_OK;
}

/* Decodes one label to its attr index, -1 when google/pprof would drop it. */
static int pp_label(struct pp_dec *x, const struct pbf *top, int32_t *attr,
                    uint64_t si)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    int32_t key = 0, str = 0, unit = 0;
    int64_t num = 0;
    struct pbf f = {0};
    int rc = PC_OK;

    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "label");
        }
        if (f.field < 1 || f.field > 4) {
            continue;
        }
        rc = pp_want(x, &f, PB_VARINT, "label");
        if (rc == PC_OK && f.field == 1) {
            rc = pp_str(x, f.v, &key, "label of sample", si);
        } else if (rc == PC_OK && f.field == 2) {
            rc = pp_str(x, f.v, &str, "label of sample", si);
        } else if (rc == PC_OK && f.field == 3) {
            num = (int64_t)f.v;
        } else if (rc == PC_OK) {
            rc = pp_str(x, f.v, &unit, "label of sample", si);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    /* google/pprof drops a label with neither a string nor a number; a
     * string label ignores num and num_unit. */
    *attr = -1;
    if (str == 0 && num == 0 && unit == 0) {
        return PC_OK;
    }
    if (str != 0) {
        num = 0;
        unit = 0;
    }
    return pp_label_attr(x, key, str, num, unit, attr);
}

/* Bytes [s, s + n) (n <= 8) as one word; the input has 8 bytes at s. */
static inline uint64_t pp_word(const uint8_t *s, size_t n)
{
    uint64_t w;

    memcpy(&w, s, 8);
    return n == 8 ? w : w & ((UINT64_C(1) << (8 * n)) - 1);
}

/* One label of a sample, through the memo of label bytes. */
static int pp_label_memo(struct pp_dec *x, const struct pbf *f,
                         struct pp_blocks *b, uint64_t si)
{
    struct pp_labmemo *m = NULL;
    int32_t attr = -1;
    uint64_t w = 0;
    int rc;

    if (f->wire != PB_LEN) {
        return pp_wire_type_err(x, f, "sample");
    }
    if (x->attrs == NULL && (rc = pp_labtab_init(x)) != PC_OK) {
        return rc == PC_ETOOBIG ? err_set(x->e, rc, "pprof: too many labels")
                                : err_set(x->e, PC_ENOMEM,
                                          "pprof: out of memory for labels");
    }
    if (x->labmemo != NULL && f->n != 0 && f->n <= 8 && x->end - f->s >= 8) {
        w = pp_word(f->s, f->n);
        m = &x->labmemo[((w ^ f->n) * UINT64_C(0x9e3779b97f4a7c15)) >>
                        (64 - PP_LABMEMO_BITS)];
        if (m->len == f->n && m->bytes == w) {
            attr = m->attr;
            goto put;
        }
    }
    rc = pp_label(x, f, &attr, si);
    if (rc != PC_OK) {
        return rc;
    }
    if (m != NULL) {
        m->bytes = w;
        m->len = (uint32_t)f->n;
        m->attr = attr;
    }
put:
    if (attr < 0) {
        return PC_OK;
    }
    if (b->attrs >= b->attrs_end) {
        return err_set(x->e, PC_ECORRUPT, "pprof: bad label list");
    }
    *b->attrs++ = attr;
    return PC_OK;
}

/* Stores location index v (which fits the width) at o; returns the next
 * place. The blocks are aligned to the width (pp_chunk). */
static inline uint8_t *pp_put_loc(uint8_t *o, int narrow, uint32_t v)
{
    if (narrow) {
        *(uint16_t *)(void *)o = (uint16_t)v;
        return o + sizeof(uint16_t);
    }
    *(int32_t *)(void *)o = (int32_t)v;
    return o + sizeof(int32_t);
}

static int pp_sample_loc(struct pp_dec *x, uint64_t id, struct pp_blocks *b,
                         uint64_t si)
{
    int32_t li = idmap_find(&x->locations, id);

    if (li < 0) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: sample %" PRIu64
                       ": unknown location id %" PRIu64,
                       si, id);
    }
    if (b->locs >= b->locs_end) {
        return err_set(x->e, PC_ECORRUPT, "pprof: bad location id list");
    }
    PC_ASSERT(!b->narrow || li < 65536);
    b->locs = pp_put_loc(b->locs, b->narrow, (uint32_t)li);
    return PC_OK;
}

static int pp_sample_val(struct pp_dec *x, uint64_t v, struct pp_blocks *b,
                         uint64_t si)
{
    if (b->vals >= b->vals_end) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: sample %" PRIu64 " has more values than "
                       "sample types",
                       si);
    }
    *b->vals++ = (int64_t)v;
    return PC_OK;
}

/*
 * Dense location ids of one to three bytes (ids below 2 097 152), read
 * out of a word of eight bytes: no per-byte bounds checks, and one compare
 * per id for both the input and the output, since every id takes at least
 * a byte. Stops at anything else (a longer id, an id that needs the map,
 * the last 7 bytes); returns where it stopped, *out moved past what it
 * wrote. [p, end) holds more than 8 bytes. Inlined into each width's
 * caller, so that the width is a constant there.
 */
static inline __attribute__((always_inline)) const uint8_t *
pp_locs_words(const uint8_t *p, const uint8_t *end, uint8_t **out,
              const uint8_t *out_end, uint64_t dense_n, int narrow)
{
    const uint8_t *stop = end - 7;
    uint8_t *o = *out;
    size_t room = (size_t)(out_end - o) / (narrow ? 2 : 4);
    uint64_t w, id;
    size_t k;

    PC_ASSERT(end - p > 8 && o != NULL);
    if ((size_t)(stop - p) > room) {
        stop = p + room;
    }
    while (p < stop) {
        memcpy(&w, p, 8); /* p + 8 <= end: p < end - 7 */
        if ((w & 0x80) == 0) {
            id = w & 0x7f;
            k = 1;
        } else if ((w & 0x8000) == 0) {
            id = (w & 0x7f) | (w >> 1 & 0x3f80);
            k = 2;
        } else if ((w & 0x800000) == 0) {
            id = (w & 0x7f) | (w >> 1 & 0x3f80) | (w >> 2 & 0x1fc000);
            k = 3;
        } else {
            break;
        }
        if (id - 1 >= dense_n) {
            break;
        }
        o = pp_put_loc(o, narrow, (uint32_t)id);
        p += k;
    }
    *out = o;
    return p;
}

/* Packed location ids: the hot loop of the decoder, one copy per width
 * (pp_sample_locs). */
static inline __attribute__((always_inline)) int
pp_sample_locs_w(struct pp_dec *x, const uint8_t *p, const uint8_t *end,
                 struct pp_blocks *b, uint64_t si, int narrow)
{
    const struct idmap *m = &x->locations;
    const uint64_t dense_n = m->dense ? m->n : 0;
    uint8_t *out = b->locs;
    uint64_t id;
    int rc;

    if (dense_n != 0 && end - p > 8) {
        p = pp_locs_words(p, end, &out, b->locs_end, dense_n, narrow);
    }
    while (p < end) {
        /* Ids under 128 (most of a small profile's) are one byte; a
         * large profile's are two or three. */
        if (*p < 0x80) {
            id = *p++;
        } else if (end - p >= 2 && p[1] < 0x80) {
            id = (uint64_t)(p[0] & 0x7f) | (uint64_t)p[1] << 7;
            p += 2;
        } else if (end - p >= 3 && p[2] < 0x80) {
            id = (uint64_t)(p[0] & 0x7f) | (uint64_t)(p[1] & 0x7f) << 7 |
                 (uint64_t)p[2] << 14;
            p += 3;
        } else if ((rc = pb_read_varint(&p, end, &id)) != PC_OK) {
            return pp_wire_err(x, rc, p, "sample");
        }
        if (out >= b->locs_end) {
            return err_set(x->e, PC_ECORRUPT, "pprof: bad location id list");
        }
        if (id - 1 < dense_n) {
            out = pp_put_loc(out, narrow, (uint32_t)id);
            continue;
        }
        b->locs = out;
        rc = pp_sample_loc(x, id, b, si);
        if (rc != PC_OK) {
            return rc;
        }
        out = b->locs;
    }
    b->locs = out;
    return PC_OK;
}

static int pp_sample_locs(struct pp_dec *x, const uint8_t *p,
                          const uint8_t *end, struct pp_blocks *b, uint64_t si)
{
    return b->narrow ? pp_sample_locs_w(x, p, end, b, si, 1)
                     : pp_sample_locs_w(x, p, end, b, si, 0);
}

/* A repeated varint of a sample (location ids or values), packed or not. */
static int pp_sample_scalars(struct pp_dec *x, const struct pbf *f,
                             struct pp_blocks *b, uint64_t si)
{
    const uint8_t *p, *end;
    uint64_t v;
    int rc;

    if (f->wire == PB_VARINT) {
        return f->field == 1 ? pp_sample_loc(x, f->v, b, si)
                             : pp_sample_val(x, f->v, b, si);
    }
    if (f->wire != PB_LEN) {
        return pp_wire_type_err(x, f, "sample");
    }
    p = f->s;
    end = f->s + f->n;
    if (f->field == 1) {
        return pp_sample_locs(x, p, end, b, si);
    }
    while (p < end) {
        rc = pb_read_varint(&p, end, &v);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, p, "sample");
        }
        rc = pp_sample_val(x, v, b, si);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static void pp_sample_stack(struct pp_dec *x, struct sample *s,
                            const struct pp_blocks *b, uint8_t *locs,
                            uint32_t n)
{
    struct stack *st = &x->pd->dict.stacks[x->pd->dict.nstacks];

    /* Samples without frames share the zero stack. */
    if (n == 0) {
        s->stack = 0;
        return;
    }
    st->n = n;
    st->narrow = (uint32_t)b->narrow;
    st->locs = (int32_t *)(void *)locs; /* or locs16: the same pointer */
    s->stack = (int32_t)x->pd->dict.nstacks++;
}

/*
 * Room for the location ids and label indices of a sample of n bytes: an
 * id takes a byte at least, a label two (tag and length). Taken before
 * the sample is read, so that its values stay contiguous.
 */
static int pp_sample_room(struct pp_dec *x, struct pp_blocks *b, size_t n)
{
    size_t lsz = b->narrow ? sizeof(uint16_t) : sizeof(int32_t), got = 0;

    if (b->locs == NULL || (size_t)(b->locs_end - b->locs) / lsz < n) {
        b->locs = pp_chunk(x, &b->locs_k, n, lsz, &got);
        if (b->locs == NULL) {
            return pp_nomem(x);
        }
        b->locs_end = b->locs + got * lsz;
    }
    if (n / 2 != 0 &&
        (b->attrs == NULL || (size_t)(b->attrs_end - b->attrs) < n / 2)) {
        b->attrs = pp_chunk(x, &b->attrs_k, n / 2, sizeof(int32_t), &got);
        if (b->attrs == NULL) {
            return pp_nomem(x);
        }
        b->attrs_end = b->attrs + got;
    }
    return PC_OK;
}

static int pp_sample(struct pp_dec *x, const struct pbf *top,
                     struct pp_blocks *b)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct profile *pr = x->prof;
    struct sample *s = &pr->samples[pr->nsamples];
    uint8_t *locs0;
    int32_t *attrs0;
    int64_t *vals0 = b->vals;
    uint64_t si = pr->nsamples;
    struct pbf f = {0};
    int rc = top->n != 0 ? pp_sample_room(x, b, top->n) : PC_OK;

    if (rc != PC_OK) {
        return rc;
    }
    locs0 = b->locs;
    attrs0 = b->attrs;
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "sample");
        }
        if (f.field == 1 || f.field == 2) {
            rc = pp_sample_scalars(x, &f, b, si);
        } else if (f.field == 3) {
            rc = pp_label_memo(x, &f, b, si);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    memset(s, 0, sizeof(*s));
    s->nvalues = (uint32_t)(b->vals - vals0);
    if (s->nvalues != pr->nsample_types) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: sample %" PRIu64 " has %u values for %u "
                       "sample types",
                       si, s->nvalues, pr->nsample_types);
    }
    s->values = s->nvalues != 0 ? vals0 : NULL;
    s->nattrs = (uint32_t)(b->attrs - attrs0);
    s->attrs = s->nattrs != 0 ? attrs0 : NULL;
    pp_sample_stack(x, s, b, locs0,
                    (uint32_t)((size_t)(b->locs - locs0) >>
                               (b->narrow ? 1 : 2)));
    pr->nsamples++;
    return PC_OK;
}

/* ---- driver ------------------------------------------------------------- */

/* The field numbers pass 2 reads (all but samples and locations). */
static const uint8_t pp_pass2_fields[] = {
    PF_SAMPLE_TYPE, PF_MAPPING,     PF_FUNCTION, PF_STRING,
    PF_DROP_FRAMES, PF_KEEP_FRAMES, PF_TIME,     PF_DURATION,
    PF_PERIOD_TYPE, PF_PERIOD,      PF_COMMENT,  PF_DEFAULT_SAMPLE_TYPE,
    PF_DOC_URL,
};

/* Next field of the span [*p, end) numbered fn; *found = 0 at the end.
 * Pass 1 parsed every top-level field already, so errors are unexpected
 * but still checked. */
static int pp_span_next(struct pp_dec *x, const uint8_t **p,
                        const uint8_t *end, uint32_t fn, struct pbf *f,
                        int *found)
{
    int rc;

    while (*p != NULL && *p < end) {
        rc = pbf_next(p, end, f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, *p, "profile");
        }
        if (f->field == fn) {
            *found = 1;
            return PC_OK;
        }
    }
    *found = 0;
    return PC_OK;
}

/* A cursor at the first field numbered fn. */
static void pp_cur_init(const struct pp_dec *x, struct pp_cur *c, uint32_t fn)
{
    c->fn = fn;
    c->run = 0;
    c->p = x->runs != NULL ? NULL : x->spans[fn].start;
    c->end = x->runs != NULL ? NULL : x->spans[fn].end;
}

/* Next field numbered c->fn; *found = 0 after the last. */
static int pp_cur_next(struct pp_dec *x, struct pp_cur *c, struct pbf *f,
                       int *found)
{
    int rc;

    for (;;) {
        rc = pp_span_next(x, &c->p, c->end, c->fn, f, found);
        if (rc != PC_OK || *found || x->runs == NULL) {
            return rc;
        }
        while (c->run < x->nruns && x->runs[c->run].field != c->fn) {
            c->run++;
        }
        if (c->run == x->nruns) {
            return PC_OK; /* *found is 0 */
        }
        c->p = x->runs[c->run].start;
        c->end = x->runs[c->run].end;
        c->run++;
    }
}

/*
 * Pass 2 over the runs: one walk in input order, every run but those of
 * samples and locations. Its fields depend on no other field of the pass
 * (string indices are checked against pass 1's count), so reading them
 * in input order gives the tables the kind-by-kind walk gives.
 */
static int pp_pass2_runs(struct pp_dec *x, uint32_t *nstr)
{
    uint32_t i;
    int rc;

    for (i = 0; i < x->nruns; i++) {
        const struct pp_run *r = &x->runs[i];
        const uint8_t *p = r->start;
        struct pbf f = {0};
        if (r->field == PF_SAMPLE || r->field == PF_LOCATION) {
            continue;
        }
        while (p < r->end) {
            rc = pbf_next(&p, r->end, &f);
            if (rc != PC_OK) {
                return pp_wire_err(x, rc, p, "profile");
            }
            rc = pp_pass2_field(x, &f, nstr);
            if (rc != PC_OK) {
                return rc;
            }
        }
    }
    return PC_OK;
}

static int pp_pass2(struct pp_dec *x)
{
    uint32_t nstr = 0;
    size_t i;
    int rc, found;

    if (x->runs != NULL) {
        return pp_pass2_runs(x, &nstr);
    }
    for (i = 0; i < sizeof(pp_pass2_fields); i++) {
        struct pp_cur c;
        struct pbf f = {0};
        pp_cur_init(x, &c, pp_pass2_fields[i]);
        for (;;) {
            rc = pp_cur_next(x, &c, &f, &found);
            if (rc != PC_OK || !found) {
                break;
            }
            rc = pp_pass2_field(x, &f, &nstr);
            if (rc != PC_OK) {
                return rc;
            }
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int pp_locations(struct pp_dec *x)
{
    struct pp_lines ls = {0};
    struct pp_cur c;
    struct pbf f = {0};
    int rc, found;

    /* About one line a location, as most have. */
    pp_chunk_init(&ls.k, (uint64_t)x->c.locations + x->c.locations / 4,
                  sizeof(struct line), PP_POP_NONE);
    pp_cur_init(x, &c, PF_LOCATION);
    for (;;) {
        rc = pp_cur_next(x, &c, &f, &found);
        if (rc != PC_OK || !found) {
            return rc;
        }
        rc = pp_location(x, &f, &ls);
        if (rc != PC_OK) {
            return rc;
        }
    }
}

/*
 * Page faults. A large decode writes tens of MiB of fresh memory (arena
 * chunks of 1 MiB and more are new mappings, and so is the decompressed
 * input); taking those pages one fault at a time costs more than a third
 * of the decode on a VM. Memory that is about to be written in full is
 * faulted in with one madvise(MADV_POPULATE_WRITE) per region instead,
 * which costs the zeroing and little else. Only whole pages inside
 * [p, p + n) are touched, and only what is going to be written anyway:
 * the peak RSS does not grow. Kernels without it (before 5.14) fail the
 * call, and the pages are then faulted as before.
 */
#define PP_POPULATE_MIN ((size_t)64 << 10)
/* How far ahead of the sample pass's writes its blocks are faulted in. */
#define PP_POPULATE_LEAD ((size_t)256 << 10)

static void pp_populate(const struct pp_dec *x, void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t from, to;

    if (p == NULL || n < PP_POPULATE_MIN) {
        return;
    }
    from = ((uintptr_t)p + x->page - 1) & ~(uintptr_t)(x->page - 1);
    to = ((uintptr_t)p + n) & ~(uintptr_t)(x->page - 1);
    if (to > from) {
        (void)madvise((void *)from, to - from, MADV_POPULATE_WRITE);
    }
#else
    (void)x;
    (void)p;
    (void)n;
#endif
}

/* The sample pass writes each of its blocks from start to end while it
 * gives the input's pages back (pp_release): fault each block in a window
 * ahead of its write position, not all at once, so that the block and the
 * input are not both resident in full. */
static void pp_pop_init(struct pp_dec *x, unsigned i, void *p, uint64_t n,
                        size_t sz)
{
    x->pop[i].done = p;
    x->pop[i].end = p != NULL ? (uint8_t *)p + (size_t)n * sz : NULL;
    x->pop[i].lead = PP_POPULATE_LEAD;
}

static inline void pp_ahead(struct pp_dec *x, unsigned i, const void *at)
{
    struct pp_pop *r = &x->pop[i];
    uint8_t *cur = (uint8_t *)(uintptr_t)at, *from, *to;

    if (r->done == r->end ||
        (r->done > cur && (size_t)(r->done - cur) >= r->lead / 2)) {
        return;
    }
    from = r->done > cur ? r->done : cur;
    to = (size_t)(r->end - cur) > r->lead ? cur + r->lead : r->end;
    pp_populate(x, from, (size_t)(to - from));
    r->done = to;
}

/* Bytes of input read between two releases (see pp_release). */
#define PP_RELEASE_STEP ((size_t)256 << 10)

/*
 * Gives back the pages of the decompressed input before p. The sample pass
 * is the last reader of the input and only moves forward, and the earlier
 * passes copied the strings out, so nothing before p is read again. Without
 * this a large decode holds the whole input and the whole model at its end;
 * with it the peak is close to the model alone. Only a mapping of our own
 * (pp_gunzip_map) is released this way.
 */
static void pp_release(struct pp_dec *x, const uint8_t *p)
{
#ifdef MADV_DONTNEED
    size_t to;

    if (x->map == NULL) {
        return;
    }
    to = (size_t)(p - x->map) & ~(x->page - 1);
    if (to - x->released >= PP_RELEASE_STEP) {
        (void)madvise(x->map + x->released, to - x->released, MADV_DONTNEED);
        x->released = to;
    }
#else
    (void)x;
    (void)p;
#endif
}

/* Before the sample pass: everything after the last sample was read. */
static void pp_release_tail(struct pp_dec *x)
{
#ifdef MADV_DONTNEED
    size_t from;

    if (x->map == NULL || x->spans[PF_SAMPLE].end == NULL) {
        return;
    }
    from = ((size_t)(x->spans[PF_SAMPLE].end - x->map) + x->page - 1) &
           ~(x->page - 1);
    if (from < x->map_len) {
        (void)madvise(x->map + from, x->map_len - from, MADV_DONTNEED);
    }
#else
    (void)x;
#endif
}

/*
 * Input bytes the sample pass reads between two calls of pp_housekeep. A
 * sample of n input bytes writes at most 36n bytes to one block (an empty
 * sample: 2 bytes in, a sample and a stack entry out), so 2 KiB of input
 * stay well inside the half window pp_ahead keeps ahead of the writes;
 * calling it per sample cost more than reading a short sample.
 */
#define PP_HOUSEKEEP_STEP ((size_t)2 << 10)

/* Gives back the input read so far and faults in the blocks ahead. */
static void pp_housekeep(struct pp_dec *x, const struct pp_blocks *b,
                         const uint8_t *p)
{
    pp_release(x, p);
    pp_ahead(x, 0, x->prof->samples + x->prof->nsamples);
    pp_ahead(x, 1, x->pd->dict.stacks + x->pd->dict.nstacks);
    pp_ahead(x, 2, b->locs);
    pp_ahead(x, 3, b->vals);
    pp_ahead(x, 4, b->attrs);
}

/* Next sample of the span: pp_sample_field, else pp_cur_next (other
 * fields between samples, the end of a run, every error). */
static inline int pp_next_sample(struct pp_dec *x, struct pp_cur *c,
                                 struct pbf *f, int *found)
{
    if (c->p != NULL && pp_sample_field(&c->p, c->end, f)) {
        *found = 1;
        return PC_OK;
    }
    return pp_cur_next(x, c, f, found);
}

static int pp_samples(struct pp_dec *x, struct pp_blocks *b)
{
    const uint8_t *end = x->spans[PF_SAMPLE].end;
    const uint8_t *next = x->spans[PF_SAMPLE].start;
    struct pp_cur c;
    struct pbf f = {0};
    int rc, found;

    pp_release_tail(x);
    if (next == NULL) {
        return PC_OK; /* no samples */
    }
    pp_housekeep(x, b, next);
    pp_cur_init(x, &c, PF_SAMPLE);
    for (;;) {
        rc = pp_next_sample(x, &c, &f, &found);
        if (rc != PC_OK || !found) {
            return rc;
        }
        rc = pp_sample(x, &f, b);
        if (rc != PC_OK) {
            return rc;
        }
        /* The runs come in input order: c.p only moves forward. */
        if (c.p >= next) {
            pp_housekeep(x, b, c.p);
            next = (size_t)(end - c.p) > PP_HOUSEKEEP_STEP
                       ? c.p + PP_HOUSEKEEP_STEP
                       : end;
        }
    }
}

/* Carves an exact block of n elements of size sz from the arena. */
static void *pp_block(struct pp_dec *x, uint64_t n, size_t sz)
{
    if (n == 0) {
        return NULL;
    }
    return arena_alloc(&x->pd->arena, (size_t)n * sz);
}

static int pp_nomem(struct pp_dec *x)
{
    return err_set(x->e, PC_ENOMEM,
                   "pprof: out of memory (arena limit %zu bytes)",
                   x->pd->arena.limit);
}

/* Gives a dict table exactly n entries (dict_reserve_* rounds up to a
 * power of two, which costs a third more memory on average). */
static int pp_table(struct pp_dec *x, void **arr, uint32_t *cap, uint64_t n,
                    size_t sz)
{
    void *p = arena_alloc(&x->pd->arena, (size_t)n * sz);

    if (p == NULL) {
        return PC_ENOMEM;
    }
    *arr = p;
    *cap = (uint32_t)n;
    return PC_OK;
}

static int pp_alloc_dict(struct pp_dec *x)
{
    struct pdata *pd = x->pd;
    struct dict *d = &pd->dict;
    const struct pp_counts *c = &x->c;

    /* Entry 0 of each table is the zero entry dict_init adds. */
    if (pp_table(x, (void **)&d->strings, &d->cap_strings, c->strings,
                 sizeof(struct pstr)) ||
        pp_table(x, (void **)&d->mappings, &d->cap_mappings,
                 (uint64_t)c->mappings + 1, sizeof(struct mapping)) ||
        pp_table(x, (void **)&d->locations, &d->cap_locations,
                 (uint64_t)c->locations + 1, sizeof(struct location)) ||
        pp_table(x, (void **)&d->functions, &d->cap_functions,
                 (uint64_t)c->functions + 1, sizeof(struct function)) ||
        pp_table(x, (void **)&d->stacks, &d->cap_stacks,
                 (uint64_t)c->samples + 1, sizeof(struct stack)) ||
        dict_init(pd) != PC_OK) {
        return pp_nomem(x);
    }
    if (x->strpool == NULL && c->string_bytes != 0 && x->copy_strings) {
        x->strpool = arena_alloc(&pd->arena, (size_t)c->string_bytes);
        if (x->strpool == NULL) {
            return pp_nomem(x);
        }
    }
    if (idmap_alloc(&x->mappings, c->mappings) != PC_OK ||
        idmap_alloc(&x->functions, c->functions) != PC_OK ||
        idmap_alloc(&x->locations, c->locations) != PC_OK) {
        return err_set(x->e, PC_ENOMEM, "pprof: out of memory for ids");
    }
    /* Pass 2 fills these tables in full before the sample pass. */
    pp_populate(x, d->strings, (size_t)c->strings * sizeof(struct pstr));
    pp_populate(x, d->locations,
                ((size_t)c->locations + 1) * sizeof(struct location));
    pp_populate(x, d->functions,
                ((size_t)c->functions + 1) * sizeof(struct function));
    pp_populate(x, d->mappings,
                ((size_t)c->mappings + 1) * sizeof(struct mapping));
    pp_populate(x, x->strpool, (size_t)c->string_bytes);
    pp_populate(x, x->locations.ids,
                ((size_t)c->locations + 1) * sizeof(uint64_t));
    pp_populate(x, x->functions.ids,
                ((size_t)c->functions + 1) * sizeof(uint64_t));
    return PC_OK;
}

static int pp_alloc_profile(struct pp_dec *x, struct pp_blocks *b)
{
    struct pdata *pd = x->pd;
    const struct pp_counts *c = &x->c;
    struct resource_profiles *rp = pdata_add_resource(pd);
    struct scope_profiles *sp = rp != NULL ? pdata_add_scope(pd, rp) : NULL;
    struct profile *pr = sp != NULL ? pdata_add_profile(pd, sp) : NULL;

    if (pr == NULL) {
        return pp_nomem(x);
    }
    x->prof = pr;
    pr->sample_types = pp_block(x, c->sample_types, sizeof(struct value_type));
    pr->comments = pp_block(x, c->comments, sizeof(int32_t));
    pr->samples = pp_block(x, c->samples, sizeof(struct sample));
    b->vals = pp_block(x, c->values, sizeof(int64_t));
    if ((c->sample_types && !pr->sample_types) ||
        (c->comments && !pr->comments) || (c->samples && !pr->samples) ||
        (c->values && !b->vals)) {
        return pp_nomem(x);
    }
    pp_pop_init(x, 0, pr->samples, c->samples, sizeof(struct sample));
    pp_pop_init(x, 1, pd->dict.stacks, (uint64_t)c->samples + 1,
                sizeof(struct stack));
    pp_pop_init(x, 3, b->vals, c->values, sizeof(int64_t));
    /* Empty blocks are NULL; NULL + 0 is undefined, so guard it. */
    b->vals_end = c->values != 0 ? b->vals + c->values : b->vals;
    /* Location ids: a byte each at least, so half the sample bytes is a
     * generous first block; labels: a label takes four bytes and more,
     * and most samples have few. */
    /* Indices run up to the number of locations: below 65536, two bytes
     * hold each (half the model of a large profile). The first block has
     * the same bytes either way: at half the size, a small profile's
     * decode made glibc shrink and grow its heap each time (the Go CPU
     * profile's decode 20 % slower, in page faults). */
    b->narrow = c->locations < 65536;
    pp_chunk_init(&b->locs_k, c->sample_bytes / (b->narrow ? 1 : 2),
                  b->narrow ? sizeof(uint16_t) : sizeof(int32_t), 2);
    pp_chunk_init(&b->attrs_k, c->sample_bytes / 16, sizeof(int32_t), 4);
    return PC_OK;
}

static int pp_run(struct pp_dec *x)
{
    struct pp_blocks b = {0};
    uint64_t need;
    int rc;

    rc = pp_count(x);
    if (rc != PC_OK) {
        return rc;
    }
    if (x->c.strings == 0) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: string_table is empty (string_table[0] "
                       "must be \"\")");
    }
    need = pp_model_bytes(&x->c);
    if (x->pd->arena.limit != 0 && need > x->pd->arena.limit) {
        return err_set(x->e, PC_ETOOBIG,
                       "pprof: decoded profile would take %" PRIu64
                       " bytes, over the limit of %zu",
                       need, x->pd->arena.limit);
    }
    rc = pp_alloc_dict(x);
    if (rc == PC_OK) {
        rc = pp_alloc_profile(x, &b);
    }
    if (rc == PC_OK) {
        rc = pp_pass2(x);
    }
    if (rc == PC_OK) {
        rc = idmap_build(x, &x->mappings, "mapping");
    }
    if (rc == PC_OK) {
        rc = idmap_build(x, &x->functions, "function");
    }
    if (rc == PC_OK) {
        rc = pp_locations(x);
    }
    if (rc == PC_OK) {
        rc = idmap_build(x, &x->locations, "location");
    }
    if (rc == PC_OK) {
        rc = pp_samples(x, &b);
    }
    return rc;
}

static size_t pp_max_decompressed(const struct decode_limits *lim)
{
    if (lim == NULL || lim->max_decompressed == 0) {
        return LIMIT_DECOMPRESSED_DEFAULT;
    }
    return lim->max_decompressed;
}

/* Arena budget for a decoded size n (plus the copied strings, at most n). */
static size_t pp_arena_limit(size_t n, int copied)
{
    if (n > SIZE_MAX / (LIMIT_ARENA_FACTOR + 2)) {
        return 0;
    }
    return n * LIMIT_ARENA_FACTOR + (copied ? n : 0) + PP_ARENA_SLACK;
}

/* Inputs that inflate to at least this much are decompressed into a
 * mapping of their own, whose pages pp_release gives back early. */
#define PP_MAP_MIN ((size_t)1 << 22)
/* Deflate cannot expand data by more than about 1032:1. */
#define PP_DEFLATE_MAX_RATIO 1032
/* Compression ratio up to which the mapping is populated up front. */
#define PP_POPULATE_RATIO 64
#ifdef MAP_POPULATE
#define PP_MAP_POPULATE MAP_POPULATE
#else
#define PP_MAP_POPULATE 0
#endif

static int pp_gunzip_err(struct errctx *e, int rc, size_t maxd)
{
    if (rc == PC_ETOOBIG) {
        return err_set(e, rc,
                       "pprof: gzip data inflates past the "
                       "limit of %zu bytes",
                       maxd);
    }
    return err_set(e, rc, "pprof: corrupt gzip data (%s)", pc_strerror(rc));
}

/*
 * Large inputs: when the gzip trailer's size is plausible, inflate into an
 * anonymous mapping of exactly that size. Returns PC_OK with x->map set,
 * PC_EAGAIN-like 1 when this path does not apply (the caller falls back to
 * pp_gunzip_buf), or an error.
 */
static int pp_gunzip_map(struct pp_dec *x, const uint8_t *data, size_t len,
                         size_t maxd)
{
    size_t hint = gz_isize(data, len), got = 0;
    uint8_t *mem;
    int rc;

    if (hint < PP_MAP_MIN || hint > maxd ||
        hint / PP_DEFLATE_MAX_RATIO > len) {
        return 1;
    }
    /* Written in full right away: faulted in by mmap, not page by page
     * (see pp_populate). Only at a ratio real profiles have, so that a
     * trailer that lies cannot make a small input commit much memory. */
    mem = mmap(NULL, hint, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS |
                   (hint / PP_POPULATE_RATIO <= len ? PP_MAP_POPULATE : 0),
               -1, 0);
    if (mem == MAP_FAILED) {
        return 1;
    }
    rc = gz_decompress_into(data, len, mem, hint, &got);
    if (rc != PC_OK || got == 0) {
        /* Several members, or a trailer that lies: take the slow path. */
        munmap(mem, hint);
        return rc == PC_OK || rc == PC_ETOOBIG ? 1
                                               : pp_gunzip_err(x->e, rc, maxd);
    }
    x->map = mem;
    x->map_len = hint;
    x->base = mem;
    x->end = mem + got;
    return PC_OK;
}

/* Gunzips into malloc'd memory (x->heap), freed when decoding ends. */
static int pp_gunzip_buf(struct pp_dec *x, const uint8_t *data, size_t len,
                         size_t maxd)
{
    struct buf b;
    size_t n;
    int rc;

    buf_init(&b, maxd);
    rc = gz_decompress(data, len, &b, maxd);
    if (rc != PC_OK) {
        buf_free(&b);
        return pp_gunzip_err(x->e, rc, maxd);
    }
    x->heap = buf_take(&b, &n);
    x->base = x->heap;
    x->end = x->heap + n;
    return PC_OK;
}

static int pp_gunzip(struct pp_dec *x, const uint8_t *data, size_t len,
                     const struct decode_limits *lim)
{
    size_t maxd = pp_max_decompressed(lim);
    int rc = pp_gunzip_map(x, data, len, maxd);

    if (rc == 1) {
        rc = pp_gunzip_buf(x, data, len, maxd);
    }
    if (rc == PC_OK && x->end == x->base) {
        return err_set(x->e, PC_EEMPTY, "pprof: empty input (after gunzip)");
    }
    return rc;
}

/* Releases the decompressed input and the decoder's own tables; the
 * decoded pdata refers to none of them. */
static void pp_cleanup(struct pp_dec *x)
{
    idmap_free(&x->mappings);
    idmap_free(&x->functions);
    idmap_free(&x->locations);
    free(x->labels.slots);
    free(x->labmemo);
    free(x->runs);
    if (x->map != NULL) {
        munmap(x->map, x->map_len);
    }
    free(x->heap);
}

static int pp_decode(const uint8_t *data, size_t len,
                     const struct decode_limits *lim, int borrow,
                     struct pdata **out, struct errctx *e)
{
    struct pp_dec x;
    int rc = PC_OK;

    *out = NULL;
    if (data == NULL || len == 0) {
        return err_set(e, PC_EEMPTY, "pprof: empty input");
    }
    memset(&x, 0, sizeof(x));
    x.e = e;
    x.page = (size_t)sysconf(_SC_PAGESIZE);
    x.base = data;
    x.end = data + len;
    /* Borrowed bytes outlive the pdata; otherwise the strings are copied
     * into the arena and the input is not needed after decoding. */
    x.copy_strings = !borrow;
    if (gz_is_gzip(data, len)) {
        x.copy_strings = 1;
        rc = pp_gunzip(&x, data, len, lim);
    }
    if (rc == PC_OK) {
        x.pd = pdata_new(pp_arena_limit((size_t)(x.end - x.base),
                                        x.copy_strings));
        rc = x.pd != NULL ? pp_run(&x)
                          : err_set(e, PC_ENOMEM, "pprof: out of memory");
    }
    pp_cleanup(&x);
    if (rc != PC_OK) {
        pdata_free(x.pd);
        return rc;
    }
    *out = x.pd;
    return PC_OK;
}

int pprof_decode(const uint8_t *data, size_t len,
                 const struct decode_limits *lim, struct pdata **out,
                 struct errctx *e)
{
    return pp_decode(data, len, lim, 0, out, e);
}

int pprof_decode_borrow(const uint8_t *data, size_t len,
                        const struct decode_limits *lim, struct pdata **out,
                        struct errctx *e)
{
    return pp_decode(data, len, lim, 1, out, e);
}
