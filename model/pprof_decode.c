/*
 * pprof_decode.c: perftools.profiles.Profile bytes -> model (see pprof.h).
 *
 * The decoder reads the (decompressed) input in passes over the top-level
 * fields, so that every table is sized exactly before anything is written
 * and no sample needs its own allocation:
 *   1. count: top-level repeated fields, plus the location ids, values and
 *      labels inside samples and the lines inside locations;
 *   2. strings, mappings, functions and the profile header;
 *   3. locations (they refer to mappings and functions, which pprof writes
 *      after them);
 *   4. samples (they refer to locations).
 * Skipping a top-level field is one tag and one length, so the extra passes
 * cost little next to parsing the samples themselves.
 *
 * pprof ids become table positions. Profiles written by Go and most tools
 * number ids 1..N in order; then an id is its own index and no map is built.
 * Otherwise ids are looked up in an intern.h table.
 */
#include "model/pprof.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "model/compress.h"
#include "model/intern.h"
#include "model/pb.h"

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

struct pp_counts {
    uint32_t sample_types, samples, mappings, locations, functions, strings;
    uint64_t comments, locids, values, labels, lines;
};

/* pprof id -> 1-based table index. */
struct idmap {
    uint64_t *ids;        /* id of the entry at position i (malloc) */
    uint32_t n;
    int dense;            /* ids are 1..n in order: index == id */
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
    struct itab labels;   /* dedup of equal labels (attr entries) */
    int has_labels;
};

static int pbf_next(const uint8_t **p, const uint8_t *end, struct pbf *f)
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

/*
 * Varint read for the hot loops (location ids and values of samples): when
 * ten bytes are left no bounds check is needed per byte. Same results and
 * errors as pb_read_varint.
 */
static inline int pp_varint(const uint8_t **p, const uint8_t *end,
                            uint64_t *out)
{
    const uint8_t *q = *p;
    uint64_t v = 0;
    unsigned i;

    if (end - q < 10) {
        return pb_read_varint(p, end, out);
    }
    for (i = 0; i < 10; i++) {
        uint64_t b = q[i];
        v |= (b & 0x7f) << (7 * i);
        if (b < 0x80) {
            if (i == 9 && b > 1) {
                return PC_ECORRUPT;
            }
            *out = v;
            *p = q + i + 1;
            return PC_OK;
        }
    }
    return PC_ECORRUPT;
}

/* Number of varints in a packed run: bytes without the continuation bit,
 * eight at a time (pass 1 runs this over every sample). */
static uint64_t pp_count_varints(const uint8_t *p, const uint8_t *end)
{
    const uint64_t hi = 0x8080808080808080ULL;
    uint64_t n = 0, w;

    while (end - p >= 8) {
        memcpy(&w, p, 8);
        /* one bit per terminating byte, summed by the multiply */
        n += (((~w & hi) >> 7) * 0x0101010101010101ULL) >> 56;
        p += 8;
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
        return err_set(x->e, PC_ETRUNC,
                       "pprof: truncated %s at byte %zu", where,
                       pp_off(x, at));
    }
    return err_set(x->e, PC_ECORRUPT,
                   "not a pprof profile: malformed protobuf in %s at byte %zu",
                   where, pp_off(x, at));
}

static int pp_wire_type_err(struct pp_dec *x, const struct pbf *f,
                            const char *msg)
{
    return err_set(x->e, PC_ECORRUPT,
                   "not a pprof profile: %s field %u has wire type %u",
                   msg, f->field, f->wire);
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
        *count += pp_count_varints(f->s, f->s + f->n);
        return PC_OK;
    }
    return pp_wire_type_err(x, f, what);
}

/* ---- pass 1: counting ------------------------------------------------- */

static int pp_count_sample(struct pp_dec *x, const uint8_t *p,
                           const uint8_t *end)
{
    const uint8_t *at = p;
    struct pbf f = {0};
    int rc;

    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "sample");
        }
        if (f.field == 1) {
            rc = pp_count_scalars(x, &f, "sample", &x->c.locids);
        } else if (f.field == 2) {
            rc = pp_count_scalars(x, &f, "sample", &x->c.values);
        } else if (f.field == 3) {
            rc = f.wire == PB_LEN ? PC_OK
                                  : pp_wire_type_err(x, &f, "sample");
            x->c.labels++;
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int pp_count_location(struct pp_dec *x, const uint8_t *p,
                             const uint8_t *end)
{
    const uint8_t *at;
    struct pbf f = {0};
    int rc;

    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "location");
        }
        if (f.field == 4) {
            if (f.wire != PB_LEN) {
                return pp_wire_type_err(x, &f, "location");
            }
            x->c.lines++;
        }
    }
    return PC_OK;
}

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
        return pp_count_sample(x, f->s, f->s + f->n);
    case PF_MAPPING:
        x->c.mappings++;
        return PC_OK;
    case PF_LOCATION:
        x->c.locations++;
        return pp_count_location(x, f->s, f->s + f->n);
    case PF_FUNCTION:
        x->c.functions++;
        return PC_OK;
    case PF_STRING:
        x->c.strings++;
        return PC_OK;
    case PF_COMMENT:
        return pp_count_scalars(x, f, "profile", &x->c.comments);
    default:
        return PC_OK;
    }
}

static int pp_count(struct pp_dec *x)
{
    const uint8_t *p = x->base, *at;
    struct pbf f = {0};
    int rc;

    while (p < x->end) {
        at = p;
        rc = pbf_next(&p, x->end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "profile");
        }
        rc = pp_count_field(x, &f);
        if (rc != PC_OK) {
            return rc;
        }
        /* Tables are indexed with int32; refuse what cannot fit. */
        if (x->c.samples >= INT32_MAX || x->c.strings >= INT32_MAX ||
            x->c.locations >= INT32_MAX || x->c.mappings >= INT32_MAX ||
            x->c.functions >= INT32_MAX || x->c.sample_types >= INT32_MAX) {
            return err_set(x->e, PC_ETOOBIG, "pprof: too many entries");
        }
    }
    return PC_OK;
}

/* Bytes the counted tables will take in the arena (a close estimate). */
static uint64_t pp_model_bytes(const struct pp_counts *c)
{
    return (uint64_t)c->samples *
               (sizeof(struct sample) + sizeof(struct stack)) +
           c->locids * sizeof(int32_t) + c->values * sizeof(int64_t) +
           c->labels * sizeof(int32_t) +
           (uint64_t)c->strings * sizeof(struct pstr) +
           (uint64_t)c->mappings * sizeof(struct mapping) +
           (uint64_t)c->locations * sizeof(struct location) +
           c->lines * sizeof(struct line) +
           (uint64_t)c->functions * sizeof(struct function) +
           c->comments * sizeof(int32_t) +
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
static int pp_str(struct pp_dec *x, uint64_t v, int32_t *out,
                  const char *what, uint64_t idx)
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
                         struct value_type *vt, const char *what,
                         uint64_t idx)
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
                rc = pp_str(x, f.v, f.field == 1 ? &vt->type : &vt->unit,
                            what, idx);
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
    case 1: *id = f->v; break;
    case 2: m->memory_start = f->v; break;
    case 3: m->memory_limit = f->v; break;
    case 4: m->file_offset = f->v; break;
    case 5: return pp_str(x, f->v, &m->filename, "mapping", idx);
    case 6: return pp_str(x, f->v, &m->build_id, "mapping", idx);
    case 7: m->flags |= f->v ? MAPPING_HAS_FUNCTIONS : 0; break;
    case 8: m->flags |= f->v ? MAPPING_HAS_FILENAMES : 0; break;
    case 9: m->flags |= f->v ? MAPPING_HAS_LINE_NUMBERS : 0; break;
    case 10: m->flags |= f->v ? MAPPING_HAS_INLINE_FRAMES : 0; break;
    default: break;
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
            return err_set(x->e, PC_ETOOBIG, "pprof: string %u too long",
                           *i);
        }
        d->strings[d->nstrings].ptr = (const char *)f->s;
        d->strings[d->nstrings].len = (uint32_t)f->n;
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
        return pp_str(x, f->v, &pr->default_sample_type,
                      "default_sample_type", 0);
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
                             struct location *l, struct line *lines,
                             uint64_t *id, uint64_t idx)
{
    int32_t mi;
    int rc;

    if (f->field == 4) {
        rc = pp_want(x, f, PB_LEN, "location");
        if (rc != PC_OK || l->lines + l->nlines >= lines + x->c.lines) {
            return rc != PC_OK ? rc
                               : err_set(x->e, PC_ECORRUPT,
                                         "pprof: bad line list");
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

static int pp_location(struct pp_dec *x, const struct pbf *top,
                       struct line *lines, struct line **next)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct dict *d = &x->pd->dict;
    struct location *l = &d->locations[d->nlocations];
    uint64_t id = 0, idx = x->locations.n;
    struct pbf f = {0};
    int rc;

    memset(l, 0, sizeof(*l));
    l->lines = *next;
    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "location");
        }
        if (f.field >= 1 && f.field <= 5) {
            rc = pp_location_field(x, &f, l, lines, &id, idx);
            if (rc != PC_OK) {
                return rc;
            }
        }
    }
    if (l->nlines == 0) {
        l->lines = NULL;
    } else {
        *next += l->nlines;
    }
    d->nlocations++;
    idmap_push(&x->locations, id);
    return PC_OK;
}

/* ---- pass 4: samples --------------------------------------------------- */

/* Cursors into the blocks carved for all samples at once. */
struct pp_blocks {
    int32_t *locs, *locs_end;
    int64_t *vals, *vals_end;
    int32_t *attrs, *attrs_end;
};

static uint64_t pp_label_hash(int32_t key, int32_t str, int64_t num,
                              int32_t unit)
{
    int64_t k[4] = {key, str, num, unit};

    return XXH3_64bits(k, sizeof(k));
}

/* Attr index for a label, sharing one entry among equal labels. */
static int pp_label_attr(struct pp_dec *x, int32_t key, int32_t str,
                         int64_t num, int32_t unit, int32_t *out)
{
    struct dict *d = &x->pd->dict;
    struct itab_probe pr;
    struct attr a;
    int32_t j;
    int rc;

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
    itab_probe_start(&x->labels, pp_label_hash(key, str, num, unit), &pr);
    while ((j = itab_probe_next(&x->labels, &pr)) >= 0) {
        const struct attr *b = &d->attrs[j];
        if (b->key == a.key && b->unit == a.unit &&
            b->value.type == a.value.type &&
            (str != 0 ? b->value.u.s.ptr == a.value.u.s.ptr
                      : b->value.u.i == num)) {
            *out = j;
            return PC_OK;
        }
    }
    j = dict_add_attr(x->pd, &a);
    if (j < 0) {
        return err_set(x->e, j, "pprof: out of memory for labels");
    }
    rc = itab_insert(&x->labels, &pr, j);
    if (rc != PC_OK) {
        return err_set(x->e, rc, "pprof: out of memory for labels");
    }
    *out = j;
    return PC_OK;
}

static int pp_label(struct pp_dec *x, const struct pbf *top,
                    struct pp_blocks *b, uint64_t si)
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
    if (str == 0 && num == 0 && unit == 0) {
        return PC_OK;
    }
    if (str != 0) {
        num = 0;
        unit = 0;
    }
    if (b->attrs >= b->attrs_end) {
        return err_set(x->e, PC_ECORRUPT, "pprof: bad label list");
    }
    return pp_label_attr(x, key, str, num, unit, b->attrs++);
}

static int pp_sample_loc(struct pp_dec *x, uint64_t id, struct pp_blocks *b,
                         uint64_t si)
{
    int32_t li = idmap_find(&x->locations, id);

    if (li < 0) {
        return err_set(x->e, PC_ECORRUPT,
                       "pprof: sample %" PRIu64 ": unknown location id %" PRIu64,
                       si, id);
    }
    if (b->locs >= b->locs_end) {
        return err_set(x->e, PC_ECORRUPT, "pprof: bad location id list");
    }
    *b->locs++ = li;
    return PC_OK;
}

static int pp_sample_val(struct pp_dec *x, uint64_t v, struct pp_blocks *b)
{
    if (b->vals >= b->vals_end) {
        return err_set(x->e, PC_ECORRUPT, "pprof: bad value list");
    }
    *b->vals++ = (int64_t)v;
    return PC_OK;
}

/* Packed location ids: the hot loop of the decoder. */
static int pp_sample_locs(struct pp_dec *x, const uint8_t *p,
                          const uint8_t *end, struct pp_blocks *b, uint64_t si)
{
    const struct idmap *m = &x->locations;
    int32_t *out = b->locs;
    uint64_t id;
    int rc;

    while (p < end) {
        rc = pp_varint(&p, end, &id);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, p, "sample");
        }
        if (out >= b->locs_end) {
            return err_set(x->e, PC_ECORRUPT, "pprof: bad location id list");
        }
        if (m->dense && id - 1 < m->n) {
            *out++ = (int32_t)id;
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

/* A repeated varint of a sample (location ids or values), packed or not. */
static int pp_sample_scalars(struct pp_dec *x, const struct pbf *f,
                             struct pp_blocks *b, uint64_t si)
{
    const uint8_t *p, *end;
    uint64_t v;
    int rc;

    if (f->wire == PB_VARINT) {
        return f->field == 1 ? pp_sample_loc(x, f->v, b, si)
                             : pp_sample_val(x, f->v, b);
    }
    p = f->s;
    end = f->s + f->n;
    if (f->field == 1) {
        return pp_sample_locs(x, p, end, b, si);
    }
    while (p < end) {
        rc = pp_varint(&p, end, &v);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, p, "sample");
        }
        rc = pp_sample_val(x, v, b);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static void pp_sample_stack(struct pp_dec *x, struct sample *s, int32_t *locs,
                            uint32_t n)
{
    struct dict *d = &x->pd->dict;

    /* Samples without frames share the zero stack. */
    if (n == 0) {
        s->stack = 0;
        return;
    }
    d->stacks[d->nstacks].n = n;
    d->stacks[d->nstacks].locs = locs;
    s->stack = (int32_t)d->nstacks++;
}

static int pp_sample(struct pp_dec *x, const struct pbf *top,
                     struct pp_blocks *b)
{
    const uint8_t *p = top->s, *end = top->s + top->n, *at;
    struct profile *pr = x->prof;
    struct sample *s = &pr->samples[pr->nsamples];
    int32_t *locs0 = b->locs, *attrs0 = b->attrs;
    int64_t *vals0 = b->vals;
    uint64_t si = pr->nsamples;
    struct pbf f = {0};
    int rc = PC_OK;

    while (p < end) {
        at = p;
        rc = pbf_next(&p, end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, at, "sample");
        }
        if (f.field == 1 || f.field == 2) {
            rc = pp_sample_scalars(x, &f, b, si);
        } else if (f.field == 3) {
            rc = pp_label(x, &f, b, si);
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
    pp_sample_stack(x, s, locs0, (uint32_t)(b->locs - locs0));
    pr->nsamples++;
    return PC_OK;
}

/* ---- driver ------------------------------------------------------------- */

/* Runs fn on every top-level field with the given number (0 = all). */
static int pp_each(struct pp_dec *x, uint32_t only,
                   int (*fn)(struct pp_dec *, const struct pbf *, void *),
                   void *arg)
{
    const uint8_t *p = x->base;
    struct pbf f = {0};
    int rc;

    while (p < x->end) {
        /* Pass 1 parsed every top-level field already. */
        rc = pbf_next(&p, x->end, &f);
        if (rc != PC_OK) {
            return pp_wire_err(x, rc, p, "profile");
        }
        if (only != 0 && f.field != only) {
            continue;
        }
        rc = fn(x, &f, arg);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int pp_pass2_cb(struct pp_dec *x, const struct pbf *f, void *arg)
{
    return pp_pass2_field(x, f, arg);
}


struct pp_lines {
    struct line *base;
    struct line *next;
};

static int pp_location_cb(struct pp_dec *x, const struct pbf *f, void *arg)
{
    struct pp_lines *ls = arg;

    return pp_location(x, f, ls->base, &ls->next);
}

static int pp_sample_cb(struct pp_dec *x, const struct pbf *f, void *arg)
{
    return pp_sample(x, f, arg);
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

static int pp_alloc_dict(struct pp_dec *x)
{
    struct pdata *pd = x->pd;
    const struct pp_counts *c = &x->c;

    if (dict_init(pd) != PC_OK || dict_reserve_strings(pd, c->strings - 1) ||
        dict_reserve_mappings(pd, c->mappings) ||
        dict_reserve_locations(pd, c->locations) ||
        dict_reserve_functions(pd, c->functions) ||
        dict_reserve_stacks(pd, c->samples)) {
        return pp_nomem(x);
    }
    if (idmap_alloc(&x->mappings, c->mappings) != PC_OK ||
        idmap_alloc(&x->functions, c->functions) != PC_OK ||
        idmap_alloc(&x->locations, c->locations) != PC_OK) {
        return err_set(x->e, PC_ENOMEM, "pprof: out of memory for ids");
    }
    if (c->labels != 0) {
        if (itab_init(&x->labels, 64) != PC_OK) {
            return err_set(x->e, PC_ENOMEM, "pprof: out of memory");
        }
        x->has_labels = 1;
    }
    return PC_OK;
}

static int pp_alloc_profile(struct pp_dec *x, struct pp_blocks *b,
                            struct pp_lines *ls)
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
    b->locs = pp_block(x, c->locids, sizeof(int32_t));
    b->vals = pp_block(x, c->values, sizeof(int64_t));
    b->attrs = pp_block(x, c->labels, sizeof(int32_t));
    ls->base = ls->next = pp_block(x, c->lines, sizeof(struct line));
    if ((c->sample_types && !pr->sample_types) ||
        (c->comments && !pr->comments) || (c->samples && !pr->samples) ||
        (c->locids && !b->locs) || (c->values && !b->vals) ||
        (c->labels && !b->attrs) || (c->lines && !ls->base)) {
        return pp_nomem(x);
    }
    /* Empty blocks are NULL; NULL + 0 is undefined, so guard each. */
    b->locs_end = c->locids != 0 ? b->locs + c->locids : b->locs;
    b->vals_end = c->values != 0 ? b->vals + c->values : b->vals;
    b->attrs_end = c->labels != 0 ? b->attrs + c->labels : b->attrs;
    return PC_OK;
}

static int pp_run(struct pp_dec *x)
{
    struct pp_blocks b = {0};
    struct pp_lines ls = {0};
    uint32_t nstr = 0;
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
        rc = pp_alloc_profile(x, &b, &ls);
    }
    if (rc == PC_OK) {
        rc = pp_each(x, 0, pp_pass2_cb, &nstr);
    }
    if (rc == PC_OK) {
        rc = idmap_build(x, &x->mappings, "mapping");
    }
    if (rc == PC_OK) {
        rc = idmap_build(x, &x->functions, "function");
    }
    if (rc == PC_OK) {
        rc = pp_each(x, PF_LOCATION, pp_location_cb, &ls);
    }
    if (rc == PC_OK) {
        rc = idmap_build(x, &x->locations, "location");
    }
    if (rc == PC_OK) {
        rc = pp_each(x, PF_SAMPLE, pp_sample_cb, &b);
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

/* Arena budget for a decoded size n (plus the copied input when copied). */
static size_t pp_arena_limit(size_t n, int copied)
{
    if (n > SIZE_MAX / (LIMIT_ARENA_FACTOR + 2)) {
        return 0;
    }
    return n * LIMIT_ARENA_FACTOR + (copied ? n : 0) + PP_ARENA_SLACK;
}

/* Gunzips into malloc'd memory the new pdata's arena frees. */
static int pp_gunzip(const uint8_t *data, size_t len,
                     const struct decode_limits *lim, struct pdata **pd,
                     const uint8_t **bytes, size_t *n, struct errctx *e)
{
    size_t maxd = pp_max_decompressed(lim);
    struct buf b;
    uint8_t *mem, *shrunk;
    int rc;

    buf_init(&b, maxd);
    rc = gz_decompress(data, len, &b, maxd);
    if (rc != PC_OK) {
        buf_free(&b);
        if (rc == PC_ETOOBIG) {
            return err_set(e, rc, "pprof: gzip data inflates past the "
                                  "limit of %zu bytes", maxd);
        }
        return err_set(e, rc, "pprof: corrupt gzip data (%s)",
                       pc_strerror(rc));
    }
    if (b.len == 0) {
        buf_free(&b);
        return err_set(e, PC_EEMPTY, "pprof: empty input (after gunzip)");
    }
    mem = buf_take(&b, n);
    /* The buffer grew by doubling; give the unused tail back. */
    shrunk = realloc(mem, *n);
    mem = shrunk != NULL ? shrunk : mem;
    *pd = pdata_new(pp_arena_limit(*n, 0));
    if (*pd == NULL || arena_on_free(&(*pd)->arena, free, mem) != PC_OK) {
        free(mem);
        pdata_free(*pd);
        *pd = NULL;
        return err_set(e, PC_ENOMEM, "pprof: out of memory");
    }
    *bytes = mem;
    return PC_OK;
}

static int pp_decode(const uint8_t *data, size_t len,
                     const struct decode_limits *lim, int borrow,
                     struct pdata **out, struct errctx *e)
{
    struct pp_dec x;
    int rc;

    *out = NULL;
    if (data == NULL || len == 0) {
        return err_set(e, PC_EEMPTY, "pprof: empty input");
    }
    memset(&x, 0, sizeof(x));
    x.e = e;
    if (gz_is_gzip(data, len)) {
        rc = pp_gunzip(data, len, lim, &x.pd, &x.base, &len, e);
        if (rc != PC_OK) {
            return rc;
        }
    } else {
        x.pd = pdata_new(pp_arena_limit(len, !borrow));
        if (x.pd == NULL) {
            return err_set(e, PC_ENOMEM, "pprof: out of memory");
        }
        x.base = borrow ? data : arena_memdup(&x.pd->arena, data, len);
        if (x.base == NULL) {
            pdata_free(x.pd);
            return err_set(e, PC_ENOMEM, "pprof: out of memory");
        }
    }
    x.end = x.base + len;
    rc = pp_run(&x);
    idmap_free(&x.mappings);
    idmap_free(&x.functions);
    idmap_free(&x.locations);
    if (x.has_labels) {
        itab_free(&x.labels);
    }
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
