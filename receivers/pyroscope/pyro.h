/*
 * pyro.h: internals of the `pyroscope` receiver, shared by its files and by
 * its unit tests and fuzz targets. Only pyroscope_receiver_factory is the
 * component's entry point; these are the parsers behind it, each a pure
 * function of its input, bounded, and safe on any bytes.
 */
#ifndef PROFCOL_PYRO_H
#define PROFCOL_PYRO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/profile.h"

/* ---- name: "app.name{k=v,k2=v2}" (pyro_name.c) ------------------------ */

#define PYRO_MAX_LABELS 64
#define PYRO_NAME_MAX 8192

struct pyro_label {
    const char *name;
    const char *value;
};

struct pyro_name {
    char store[PYRO_NAME_MAX * 2 + 16]; /* the strings below point here */
    size_t used;
    const char *app;                           /* the value of __name__ */
    struct pyro_label labels[PYRO_MAX_LABELS]; /* without __name__ */
    uint32_t nlabels;
};

/*
 * Parses Pyroscope's `name` query parameter exactly as Pyroscope does: the
 * app name is everything before the first '{' (trimmed, runes
 * [A-Za-z0-9_.\-/], required); inside braces key=value pairs separated by
 * ',' until '}' (anything after it is ignored); keys trimmed, runes
 * [A-Za-z0-9_.], `__name__` reserved (it replaces the app name); values
 * trimmed, any byte but ',' and '}' (no quoting or escaping); the last of
 * duplicate keys wins. A pair not ended by ',' or '}' is never set (an
 * unclosed "app{k=v" has no label k). PC_EINVAL with a message on a
 * name Pyroscope refuses.
 */
int pyro_name_parse(const char *s, size_t len, struct pyro_name *out,
                    struct errctx *e);

/* Pyroscope's default limits on a label's name and value, in bytes. */
#define PYRO_LABEL_NAME_MAX 1024
#define PYRO_LABEL_VALUE_MAX 2048

/* Every name and value valid UTF-8 and within the lengths above, at most
 * PYRO_MAX_LABELS labels; PC_EINVAL naming the first label that is not. */
int pyro_labels_check(const struct pyro_label *l, uint32_t n,
                      struct errctx *e);

/* The value of label name, or NULL. */
const char *pyro_name_get(const struct pyro_name *n, const char *name);

/*
 * Pyroscope's `from`/`until` (attime): '_', ',' and ' ' removed; all digits:
 * 8 digits that form a valid YYYYMMDD date -> that date (UTC), else unix
 * time by digit count (13 ms, 16 us, 19 ns, otherwise seconds); otherwise
 * "now" with optional +/-N<unit> offsets (s, min, m, h, d, w, mon, M, y).
 * Anything unparsable, or empty, is now. Returns unix nanoseconds.
 */
int64_t pyro_attime(const char *s, int64_t now_ns);

/* ---- folded / lines text and profile types (pyro_folded.c) ------------- */

/* What a folded app-name suffix ("cpu", "alloc_space", ...) means. */
struct pyro_ptype {
    const char *metric; /* __name__: process_cpu, memory, ... */
    const char *type;   /* sample type */
    const char *unit;
    int scalable; /* cpu/wall: scaled by the sample rate */
};

/* PC_ENOTFOUND for a suffix Pyroscope does not know. */
int pyro_profile_type(const char *suffix, size_t len, struct pyro_ptype *out);

enum pyro_text_format {
    PYRO_TEXT_FOLDED, /* "frame;frame COUNT" (Pyroscope "groups") */
    PYRO_TEXT_LINES,  /* "frame;frame": one sample per line */
};

/*
 * Builds a one-profile pdata from folded or lines text: one function and
 * one location per distinct frame name, one sample per distinct stack.
 * Lines are split at the last space (folded), lines without a space are
 * skipped, a bad count fails (PC_ECORRUPT), a line longer than 64 KiB ends
 * the input (as Go's bufio.Scanner does). With sample_rate > 0 and a
 * scalable type, values are scaled to nanoseconds (period 1e9/sample_rate).
 * *out is NULL (and PC_OK returned) when there is no sample.
 */
int pyro_folded_parse(const uint8_t *body, size_t len,
                      enum pyro_text_format fmt, const struct pyro_ptype *pt,
                      int64_t sample_rate, int64_t time_ns, size_t arena_limit,
                      struct pdata **out, struct errctx *e);

/* ---- pprof sample types (pyro_folded.c) ---------------------------------- */

/* One entry of a sample_type_config JSON object. */
struct pyro_stc {
    char sample_type[64];
    char display_name[64];
    char units[64];
};

#define PYRO_MAX_STC 32

/* Parses sample_type_config JSON ({"<type>": {"display-name":..,
 * "units":..}, ...}); PC_ECORRUPT on bad JSON. */
int pyro_stc_parse(const uint8_t *json, size_t len, struct pyro_stc *out,
                   uint32_t max, uint32_t *n, struct errctx *e);

/* Renames sample types (and units) of every profile of pd as the config
 * says. Returns 1 when something changed, 0 when not, or a PC_E* code. */
int pyro_stc_apply(struct pdata *pd, const struct pyro_stc *c, uint32_t n);

/* Pyroscope's metric name for the sample types of a pprof (ingest path):
 * with no config, its default mapping (contentions -> mutex_count, ...). */
void pyro_metric_name(const struct pdata *pd, const struct pyro_stc *c,
                      uint32_t n, int have_config, char *out, size_t outlen);

/* ---- push.v1.PusherService/Push (pyro_push.c) ---------------------------- */

struct pyro_push_sample {
    const uint8_t *raw;
    size_t len;
};

struct pyro_push_series {
    struct pyro_label *labels;
    uint32_t nlabels;
    struct pyro_push_sample *samples;
    uint32_t nsamples;
};

/* A decoded PushRequest; everything it points to is owned by it. */
struct pyro_push {
    struct pyro_push_series *series;
    uint32_t nseries;
    void *priv;
};

/* application/proto body. */
int pyro_push_decode_proto(const uint8_t *body, size_t len,
                           struct pyro_push *out, struct errctx *e);
/* application/json body (Connect JSON: proto3 JSON mapping). */
int pyro_push_decode_json(const uint8_t *body, size_t len,
                          struct pyro_push *out, struct errctx *e);
void pyro_push_free(struct pyro_push *p);

#endif
