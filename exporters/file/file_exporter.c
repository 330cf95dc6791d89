/*
 * file_exporter.c: the `file` exporter. Writes every profile it receives to
 * a directory: as pprof (`.pb.gz`, one file per profile), as OTLP (`.pb`,
 * one ExportProfilesServiceRequest per batch), or as JSON lines (one object
 * per profile: its series attributes, counts and the payload in base64).
 * Rotation keeps at most `rotation.max_files` files and `rotation.max_bytes`
 * bytes, deleting the oldest first.
 *
 * Writes go to a temporary name and are renamed into place, so a reader of
 * the directory never sees half a file.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/clock.h"
#include "exporters/file/file_rotate.h"
#include "codec/compress.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "component/batch_otlp.h"
#include "component/component.h"
#include "model/pdata_iter.h"
#include "exporterhelper/exporter_helper.h"
#include "telemetry/log.h"

enum file_format {
    FILE_FORMAT_PPROF,
    FILE_FORMAT_OTLP,
    FILE_FORMAT_JSON,
};

struct file_rotation_cfg {
    int64_t max_files;
    uint64_t max_bytes;
};

struct file_exporter_cfg {
    struct exphelper_cfg helper; /* first: the engine reads it */
    char *path;
    int format;
    struct file_rotation_cfg rotation;
    int64_t gzip_level;
};
EXPHELPER_CFG_FIRST(struct file_exporter_cfg, helper);

static const char *const file_formats[] = {"pprof", "otlp", "json", NULL};

/* clang-format off */
static const struct cfg_entry file_rotation_table[] = {
    {.key = "max_files", .type = CFG_INT, .def = "1000", .min = 0,
     .max = 100000000,
     .offset = offsetof(struct file_rotation_cfg, max_files),
     .doc = "keep at most this many files (0 = no limit)"},
    {.key = "max_bytes", .type = CFG_SIZE, .def = "1GiB",
     .offset = offsetof(struct file_rotation_cfg, max_bytes),
     .doc = "keep at most this many bytes of files (0 = no limit)"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry file_exporter_table[] = {
    EXPHELPER_CFG_ENTRIES(struct file_exporter_cfg, helper),
    {.key = "path", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct file_exporter_cfg, path),
     .doc = "directory the files are written to (created if missing)"},
    {.key = "format", .type = CFG_ENUM, .def = "pprof",
     .enum_values = file_formats,
     .offset = offsetof(struct file_exporter_cfg, format),
     .doc = "pprof (.pb.gz per profile), otlp (.pb per batch) or json (JSON lines)"},
    {.key = "rotation", .type = CFG_SECTION, .sub = file_rotation_table,
     .offset = offsetof(struct file_exporter_cfg, rotation),
     .doc = "how many files / bytes to keep"},
    {.key = "gzip_level", .type = CFG_INT, .def = "6", .min = 1, .max = 12,
     .offset = offsetof(struct file_exporter_cfg, gzip_level),
     .doc = "gzip level of pprof files"},
    {.key = NULL},
};
/* clang-format on */

struct file_exporter {
    const struct file_exporter_cfg *cfg;
    char id[128];
    pthread_mutex_t lock; /* consumers write concurrently */
    uint64_t seq;
    struct file_rotor rotor;
};

static int make_dirs(const char *path)
{
    char tmp[4096];
    size_t i, n = strlen(path);

    if (n == 0 || n >= sizeof(tmp)) {
        return PC_EINVAL;
    }
    memcpy(tmp, path, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) {
                return PC_EIO;
            }
            tmp[i] = c;
        }
    }
    return PC_OK;
}

static int fe_create(const void *cfgp, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    const struct file_exporter_cfg *cfg = cfgp;
    struct file_exporter *fe;

    if (make_dirs(cfg->path) != PC_OK) {
        return err_set(e, PC_EIO, "cannot create directory %s: %s", cfg->path,
                       err_errno(errno));
    }
    fe = calloc(1, sizeof(*fe));
    if (fe == NULL) {
        return PC_ENOMEM;
    }
    fe->cfg = cfg;
    snprintf(fe->id, sizeof(fe->id), "%s", host->id);
    pthread_mutex_init(&fe->lock, NULL);
    file_rotor_init(&fe->rotor, cfg->path, (uint32_t)cfg->rotation.max_files,
                    cfg->rotation.max_bytes);
    *ctx = fe;
    return PC_OK;
}

static void fe_destroy(void *ctx)
{
    struct file_exporter *fe = ctx;

    if (fe == NULL) {
        return;
    }
    file_rotor_free(&fe->rotor);
    pthread_mutex_destroy(&fe->lock);
    free(fe);
}

/* Unique, sortable name: time, sequence, suffix. */
static void next_name(struct file_exporter *fe, const char *suffix, char *out,
                      size_t outlen)
{
    int64_t now = clock_real_ns();
    uint64_t seq;

    pthread_mutex_lock(&fe->lock);
    seq = fe->seq++;
    pthread_mutex_unlock(&fe->lock);
    snprintf(out, outlen, "profile-%" PRId64 "%09ld-%06" PRIu64 "%s",
             now / 1000000000, (long)(now % 1000000000), seq, suffix);
}

static int write_file(struct file_exporter *fe, const char *name,
                      const uint8_t *data, size_t len, struct export_result *r)
{
    char path[4096], tmp[4200];
    int fd, rc = PC_OK;

    snprintf(path, sizeof(path), "%s/%s", fe->cfg->path, name);
    snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", fe->cfg->path, name);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(r->msg, sizeof(r->msg), "open %.150s: %s", tmp,
                 err_errno(errno));
        return PC_ERETRY;
    }
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            snprintf(r->msg, sizeof(r->msg), "write %.150s: %s", tmp,
                     err_errno(errno));
            rc = PC_ERETRY;
            break;
        }
        data += n;
        len -= (size_t)n;
    }
    if (close(fd) != 0 && rc == PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "close %.150s: %s", tmp,
                 err_errno(errno));
        rc = PC_ERETRY;
    }
    if (rc == PC_OK && rename(tmp, path) != 0) {
        snprintf(r->msg, sizeof(r->msg), "rename %.150s: %s", path,
                 err_errno(errno));
        rc = PC_ERETRY;
    }
    if (rc != PC_OK) {
        unlink(tmp);
        return rc;
    }
    pthread_mutex_lock(&fe->lock);
    file_rotor_added(&fe->rotor, name);
    pthread_mutex_unlock(&fe->lock);
    return PC_OK;
}

/* A decode failure is the data's fault: retrying cannot help. */
static int decode_or_fail(struct batch *b, struct item *it,
                          struct export_result *r)
{
    struct errctx e = {{0}};
    int rc = batch_item_decode(b, it, &e);

    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "undecodable payload: %s",
                 err_msg(&e, rc));
        return rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    }
    return PC_OK;
}

/* Every profile of a decoded item as a pprof file of its own. */
static int write_profiles(struct file_exporter *fe, const struct item *it,
                          struct export_result *r)
{
    const struct pdata *pd = it->pd->pd;
    const struct profile *p;
    struct pdata_iter w;
    char name[256];
    int rc = PC_OK;

    pdata_iter_init(&w, pd, it->resource);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        struct buf out;
        struct errctx e = {{0}};
        buf_init(&out, 0);
        rc = pprof_encode_gz(pd, p, (int)fe->cfg->gzip_level, &out, &e);
        if (rc == PC_OK) {
            next_name(fe, ".pb.gz", name, sizeof(name));
            rc = write_file(fe, name, out.data, out.len, r);
        } else {
            snprintf(r->msg, sizeof(r->msg), "pprof encode: %s",
                     err_msg(&e, rc));
            rc = PC_EPERMANENT;
        }
        buf_free(&out);
    }
    return rc;
}

static int export_pprof(struct file_exporter *fe, struct batch *b,
                        struct export_result *r)
{
    uint32_t i;
    char name[256];
    int rc;

    for (i = 0; i < b->nitems; i++) {
        struct item *it = &b->items[i];
        /* Forward the original pprof bytes when nothing changed them. */
        if (it->raw != NULL && it->format == PAYLOAD_PPROF) {
            next_name(fe, ".pb.gz", name, sizeof(name));
            if (!gz_is_gzip(it->raw->data, it->raw->len)) {
                next_name(fe, ".pb", name, sizeof(name));
            }
            rc = write_file(fe, name, it->raw->data, it->raw->len, r);
            if (rc != PC_OK) {
                return rc;
            }
            continue;
        }
        rc = decode_or_fail(b, it, r);
        if (rc != PC_OK) {
            return rc;
        }
        rc = write_profiles(fe, it, r);
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

/* One ExportProfilesServiceRequest per batch, built as the otlp and
 * otlphttp exporters build theirs: each item's series attributes are its
 * resource attributes, so a file holds exactly what they would send. */
static int export_otlp(struct file_exporter *fe, struct batch *b,
                       struct export_result *r)
{
    struct batch_otlp_opts o = {.id = fe->id};
    struct batch_otlp bo;
    struct buf out;
    struct errctx e = {{0}};
    char name[256];
    int rc = batch_otlp_build(b, &o, &bo, r);

    buf_init(&out, 0);
    if (rc == PC_OK && bo.n > 0) {
        rc = otlp_encode_items(bo.items, bo.n, &out, &e);
        if (rc != PC_OK) {
            snprintf(r->msg, sizeof(r->msg), "otlp encode: %s",
                     err_msg(&e, rc));
            rc = rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
        } else {
            next_name(fe, ".pb", name, sizeof(name));
            rc = write_file(fe, name, out.data, out.len, r);
        }
    }
    buf_free(&out);
    batch_otlp_free(&bo);
    return rc;
}

static int export_json(struct file_exporter *fe, struct batch *b,
                       struct export_result *r)
{
    struct buf out;
    char name[256];
    uint32_t i;
    int rc = PC_OK;

    buf_init(&out, 0);
    for (i = 0; i < b->nitems && rc == PC_OK; i++) {
        rc = file_json_item(b, &b->items[i], &out);
    }
    if (rc != PC_OK) {
        snprintf(r->msg, sizeof(r->msg), "json: %s", pc_strerror(rc));
        buf_free(&out);
        return rc == PC_ENOMEM ? PC_ERETRY : PC_EPERMANENT;
    }
    next_name(fe, ".jsonl", name, sizeof(name));
    rc = write_file(fe, name, out.data, out.len, r);
    buf_free(&out);
    return rc;
}

static int fe_export(void *ctx, struct batch *b, int64_t timeout_ms,
                     struct export_result *r)
{
    struct file_exporter *fe = ctx;
    int rc;

    (void)timeout_ms;
    switch (fe->cfg->format) {
    case FILE_FORMAT_OTLP:
        rc = export_otlp(fe, b, r);
        break;
    case FILE_FORMAT_JSON:
        rc = export_json(fe, b, r);
        break;
    default:
        rc = export_pprof(fe, b, r);
        break;
    }
    pthread_mutex_lock(&fe->lock);
    file_rotor_enforce(&fe->rotor);
    pthread_mutex_unlock(&fe->lock);
    return rc;
}

static int fe_start(void *ctx)
{
    struct file_exporter *fe = ctx;

    /* Files left by an earlier run count towards the limits. */
    return file_rotor_scan(&fe->rotor);
}

const struct component_factory file_exporter_factory = {
    .type = "file",
    .kind = COMPONENT_EXPORTER,
    .stability = "beta",
    .description =
        "writes profiles to a directory as pprof, OTLP or JSON lines",
    .config_size = sizeof(struct file_exporter_cfg),
    .config = file_exporter_table,
    .create = fe_create,
    .destroy = fe_destroy,
    .ops.exporter = {.start = fe_start, .export = fe_export},
};
