/*
 * ddexp.h: internals of the `datadog` exporter, shared by its files and its
 * unit tests. Only datadog_exporter_factory is the component's entry point.
 *
 * A batch becomes uploads: one per series (the item attributes but the
 * profcol-internal `__` ones) and window, with one attachment per profile
 * type, named as the source runtime's profiler names it (the intake keys
 * features on family and attachment names).
 */
#ifndef PROFCOL_DDEXP_H
#define PROFCOL_DDEXP_H

#include <stddef.h>
#include <stdint.h>

#include "component/batch.h"
#include "core/buf.h"
#include "core/err.h"
#include "config/cfg.h"

#define DDEXP_MAX_ATTACH 16

struct ddexp_attach {
    char name[64];   /* cpu.pprof, wall.pprof, profile.pprof, ... */
    struct buf data; /* the pprof, compressed */
};

struct ddexp_upload {
    const struct item *item; /* its attributes become the tags */
    char family[16];
    int64_t start_ns, end_ns;
    struct ddexp_attach att[DDEXP_MAX_ATTACH];
    uint32_t natt;
};

struct ddexp_uploads {
    struct ddexp_upload *u;
    uint32_t n, cap;
};

enum ddexp_compression { DDEXP_ZSTD, DDEXP_GZIP, DDEXP_NONE };

/*
 * Groups every profile of b into uploads (appended to out), each profile
 * encoded as pprof and compressed. Profiles that cannot be encoded are
 * counted in *bad with the last reason in e. max bounds each attachment.
 */
int ddexp_group(struct batch *b, int compression, size_t max,
                struct ddexp_uploads *out, uint32_t *bad, struct errctx *e);
void ddexp_uploads_free(struct ddexp_uploads *us);

/* The intake's family of a telemetry.sdk.language (go, node, python, ...;
 * "native" when unknown). */
const char *ddexp_family(const char *language);

/* The attachment name of a profile named `name` (Pyroscope's __name__) from
 * a runtime of family. */
void ddexp_attach_name(const char *family, const char *name, char *out,
                       size_t size);

/*
 * The `tags_profiler` of an upload: the item's attributes with the Datadog
 * names (service.name -> service, deployment.environment.name -> env, ...;
 * internal `__` ones left out; ',' in values becomes '_'), then the
 * configured tags (replacing tags of the same name), and service,
 * runtime (the family) and profiler_version when there are none.
 */
int ddexp_tags(const struct item *it, const char *family,
               const struct cfg_map *extra, struct buf *out);

/* The multipart body of an upload (event part, then the attachments) with
 * boundary; tags is its tags_profiler. */
int ddexp_body(const struct ddexp_upload *u, const char *tags,
               const char *boundary, struct buf *out);

/* Whether pd has labels Datadog names otherwise (span_id,
 * local_root_span_id, thread_name, trace_endpoint, ...). */
int ddexp_labels_wanted(const struct pdata *pd);

/* Renames them in pd (a private copy) to Datadog's names, span ids as
 * decimal strings; PC_OK or a PC_E* code. */
int ddexp_labels_rewrite(struct pdata *pd);

/* RFC 3339 UTC with nanoseconds, as dd-trace-go writes times. */
void ddexp_time(int64_t ns, char *out, size_t size);

#endif
