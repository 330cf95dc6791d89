/*
 * dd.h: internals of the `datadog` receiver, shared by its files, its unit
 * tests and its fuzz target. Only datadog_receiver_factory is the
 * component's entry point; these are the pure, bounded parsers behind it.
 */
#ifndef PROFCOL_DD_H
#define PROFCOL_DD_H

#include <stddef.h>
#include <stdint.h>

#include "codec/multipart.h"
#include "core/buf.h"
#include "core/err.h"
#include "model/profile.h"

#define DD_MAX_ATTACH 32
#define DD_MAX_TAGS 128
#define DD_TAGS_MAX 16384

/* What an upload says about itself: the v4 `event` part, or the form
 * fields of the older v3 and v1/v2 forms. */
struct dd_event {
    int version;     /* 4, 3, or 1 (v1/v2 are read alike) */
    char family[32]; /* go, node, python, java, ... ("" unknown) */
    int64_t start_ns, end_ns;
    char tags[DD_TAGS_MAX]; /* "k:v,k:v" (old forms' tags[] joined) */
    /* The attachments listed by the event (v4), in its order. */
    char attach[DD_MAX_ATTACH][128];
    uint32_t nattach;
};

/*
 * The event of an upload from its parts: the `event` part's JSON (v4), else
 * the form fields of v3 (`version=3`, `data[<file>]` parts) or v1/v2
 * (`recording-start`, `data[i]` parts, `types[i]`). PC_EFORMAT (reason in
 * e) when there is none, PC_ECORRUPT when the JSON or a field is bad.
 */
int dd_event_read(const struct mpart *parts, uint32_t n, struct dd_event *ev,
                  struct errctx *e);

/* Parses v4's event JSON (exposed for the fuzz target). */
int dd_event_json(const uint8_t *json, size_t len, struct dd_event *ev,
                  struct errctx *e);

/* RFC 3339 time (any fraction digits, Z or +hh:mm) to Unix ns; -1 if bad. */
int64_t dd_time_parse(const char *s);

/* One tag; key and value point into the parsed string. */
struct dd_tag {
    const char *key;
    const char *value;
};

/* Splits "k:v,k:v" in place (s is changed): at the first ':' of each,
 * empty keys and tags without ':' skipped; the last value of a key wins
 * when read with dd_tag_get. Returns the count (at most max). */
uint32_t dd_tags_split(char *s, struct dd_tag *tags, uint32_t max);
const char *dd_tag_get(const struct dd_tag *tags, uint32_t n, const char *key);

/*
 * The series attribute name of a Datadog tag: service -> service.name,
 * env -> deployment.environment.name, version -> service.version, host ->
 * host.name, runtime-id -> service.instance.id, process_id -> process.pid,
 * runtime -> process.runtime.name, runtime_version ->
 * process.runtime.version, language -> telemetry.sdk.language; any other
 * tag keeps its name.
 */
const char *dd_tag_attr(const char *key);

/* telemetry.sdk.language of a `language` tag or, without one, of the
 * event's family (javascript and node are nodejs, jvm is java). */
const char *dd_language(const char *language, const char *family);

/* ---- attachments (dd_attach.c) ----------------------------------------- */

enum dd_codec {
    DD_PLAIN,
    DD_GZIP,
    DD_ZSTD,
    DD_LZ4,
};

/* The compression of an attachment, by its magic bytes. */
enum dd_codec dd_codec_sniff(const uint8_t *p, size_t n);

/* Kinds of attachment: a pprof, a JFR recording, or a file profcol does
 * not convert (metrics.json, go.trace, code-provenance.json). */
enum dd_kind {
    DD_ATT_PPROF,
    DD_ATT_JFR,
    DD_ATT_OTHER,
};

enum dd_kind dd_attach_kind(const char *filename);

/*
 * Decompresses an attachment (gzip, zstd, LZ4 frames, or plain) into out,
 * at most max bytes. PC_ECORRUPT / PC_ETOOBIG / PC_EUNSUPPORTED with the
 * reason in e.
 */
int dd_attach_inflate(const uint8_t *p, size_t n, size_t max, struct buf *out,
                      struct errctx *e);

/*
 * Datadog's pprof labels as the rest of profcol reads them (per dictionary
 * entry, not per sample): `span id` and `local root span id` (decimal
 * strings, or numbers that are uint64 bit patterns) become `span_id` and
 * `local_root_span_id` of 16 lower-case hex digits; other keys with spaces
 * get '_' for each space. Returns the number of entries changed, or a
 * negative PC_E* code.
 */
int dd_labels_normalize(struct pdata *pd);

/* Pyroscope's profile name (`__name__`) of a converted attachment. */
void dd_profile_name(const struct pdata *pd, const char *filename, char *out,
                     size_t outlen);

#endif
