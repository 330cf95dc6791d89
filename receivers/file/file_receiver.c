/*
 * file_receiver.c: the `file` receiver. Watches a directory and ingests each
 * pprof or OTLP file dropped into it once (backfill, testing, air-gapped
 * hand-over). Files are read when their size has stayed the same for one
 * poll, so a file still being written is not taken half-way. A file refused
 * for back-pressure is tried again at the next poll; a file that is not a
 * profile is logged once, counted as refused and skipped.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codec/compress.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "codec/sniff.h"
#include "component/component.h"
#include "telemetry/log.h"

struct file_receiver_cfg {
    char *include;
    char *pattern;
    int64_t poll_interval_ms;
    int delete_after_read;
    uint64_t max_file_size;
};

/* clang-format off */
static const struct cfg_entry file_receiver_table[] = {
    {.key = "include", .type = CFG_STRING, .required = 1,
     .offset = offsetof(struct file_receiver_cfg, include),
     .doc = "directory to watch"},
    {.key = "pattern", .type = CFG_STRING, .def = "*",
     .offset = offsetof(struct file_receiver_cfg, pattern),
     .doc = "shell glob the file names must match"},
    {.key = "poll_interval", .type = CFG_DURATION, .def = "1s", .min = 10,
     .max = 86400000,
     .offset = offsetof(struct file_receiver_cfg, poll_interval_ms),
     .doc = "how often the directory is listed"},
    {.key = "delete_after_read", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct file_receiver_cfg, delete_after_read),
     .doc = "remove each file once it was accepted"},
    {.key = "max_file_size", .type = CFG_SIZE, .def = "64MiB", .min = 1, .max = INT64_MAX,
     .offset = offsetof(struct file_receiver_cfg, max_file_size),
     .doc = "larger files are refused"},
    {.key = NULL},
};
/* clang-format on */

/* What is known about one file of the directory. */
struct seen_file {
    char *name;
    int64_t size;
    int64_t mtime_ns;
    int done;    /* ingested or skipped */
    int alive;   /* present at the last listing */
    int pending; /* handed over, waiting to be durable */
};

struct file_receiver {
    const struct file_receiver_cfg *cfg;
    struct component_host *host;
    struct event *timer;
    struct seen_file *files;
    uint32_t nfiles, cap;
};

static struct seen_file *seen_find(struct file_receiver *fr, const char *name)
{
    uint32_t i;

    for (i = 0; i < fr->nfiles; i++) {
        if (strcmp(fr->files[i].name, name) == 0) {
            return &fr->files[i];
        }
    }
    return NULL;
}

static struct seen_file *seen_add(struct file_receiver *fr, const char *name)
{
    struct seen_file *f;

    if (fr->nfiles == fr->cap) {
        uint32_t ncap = fr->cap ? fr->cap * 2 : 32;
        struct seen_file *n = realloc(fr->files, ncap * sizeof(*n));
        if (n == NULL) {
            return NULL;
        }
        fr->files = n;
        fr->cap = ncap;
    }
    f = &fr->files[fr->nfiles];
    memset(f, 0, sizeof(*f));
    f->name = strdup(name);
    if (f->name == NULL) {
        return NULL;
    }
    f->size = -1;
    fr->nfiles++;
    return f;
}

/* Forget files that disappeared, so the list stays bounded. */
static void seen_prune(struct file_receiver *fr)
{
    uint32_t i = 0;

    while (i < fr->nfiles) {
        /* A file in flight stays known until its answer came. */
        if (!fr->files[i].alive && !fr->files[i].pending) {
            free(fr->files[i].name);
            fr->files[i] = fr->files[--fr->nfiles];
        } else {
            fr->files[i++].alive = 0;
        }
    }
}

/* One item per resource, sharing the decoded request. */
static int add_items(struct batch *b, struct pdata *pd, struct blob *raw,
                     uint8_t format)
{
    struct shared_pdata *sp = shared_pdata_new(pd);
    uint32_t r, n = pd->nresources ? pd->nresources : 1;
    int rc = PC_OK;

    if (sp == NULL) {
        blob_unref(raw);
        return PC_ENOMEM;
    }
    for (r = 0; r < n && rc == PC_OK; r++) {
        struct item *it = batch_add_item(b);
        if (it == NULL) {
            rc = PC_ENOMEM;
            break;
        }
        it->format = format;
        it->raw = n == 1 ? blob_ref(raw) : NULL;
        it->pd = shared_pdata_ref(sp);
        it->resource = n == 1 ? -1 : (int32_t)r;
        if (r < pd->nresources) {
            rc = item_set_resource_attrs(b, it, &pd->resources[r].resource);
            pdata_count(pd, (int32_t)r, &it->nprofiles, &it->nsamples);
        }
    }
    shared_pdata_unref(sp);
    blob_unref(raw);
    return rc;
}

static int decode_file(const uint8_t *data, size_t len, struct pdata **pd,
                       uint8_t *format, struct errctx *e)
{
    enum sniff_format f = sniff_format(data, len);
    struct buf plain;
    int rc;

    switch (f) {
    case SNIFF_PPROF:
        *format = PAYLOAD_PPROF;
        return pprof_decode(data, len, NULL, pd, e);
    case SNIFF_OTLP:
        *format = PAYLOAD_OTLP;
        return otlp_decode(data, len, NULL, pd, e);
    case SNIFF_OTLP_GZIP:
        *format = PAYLOAD_OTLP;
        buf_init(&plain, 0);
        rc = gz_decompress(data, len, &plain, LIMIT_DECOMPRESSED_DEFAULT);
        if (rc == PC_OK) {
            rc = otlp_decode(plain.data, plain.len, NULL, pd, e);
        } else {
            err_set(e, rc, "gzip: %s", pc_strerror(rc));
        }
        buf_free(&plain);
        return rc;
    default:
        return err_set(e, PC_EFORMAT, "not a pprof or OTLP profiles file");
    }
}

static uint8_t *read_all(const char *path, uint64_t max, size_t *len,
                         struct errctx *e)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    int rc = PC_OK;

    if (f == NULL) {
        err_set(e, PC_EIO, "open: %s", err_errno(errno));
        return NULL;
    }
    buf_init(&b, (size_t)max);
    for (;;) {
        size_t n;
        rc = buf_reserve(&b, 65536);
        if (rc != PC_OK) {
            err_set(e, rc, "larger than max_file_size");
            break;
        }
        n = fread(b.data + b.len, 1, b.cap - b.len, f);
        b.len += n;
        if (n == 0) {
            break;
        }
    }
    fclose(f);
    if (rc != PC_OK) {
        buf_free(&b);
        return NULL;
    }
    return buf_take(&b, len);
}

/* The pipeline holds the file's profiles durably: done with the file. */
static void file_accepted(struct file_receiver *fr, const char *path,
                          size_t len)
{
    log_debug(fr->host->id, "file ingested", "file=\"%s\" bytes=%zu", path,
              len);
    if (fr->cfg->delete_after_read && unlink(path) != 0) {
        log_warn(fr->host->id, "cannot delete file",
                 "file=\"%s\" error=\"%s\"", path, err_errno(errno));
    }
}

/* A file handed over with consume_async, until the answer. */
struct file_wait {
    struct file_receiver *fr;
    size_t len;
    char name[256];
    char path[4096];
};

/* Main loop: the file's batch is durable (rc PC_OK) or was refused. Only
 * now may the file be marked done (and deleted). */
static void file_consumed(void *arg, int rc, const char *msg)
{
    struct file_wait *w = arg;
    struct seen_file *f = seen_find(w->fr, w->name);

    if (rc == PC_OK) {
        file_accepted(w->fr, w->path, w->len);
    } else if (rc != PC_EBUSY) {
        log_warn(w->fr->host->id, "file rejected", "file=\"%s\" error=\"%s\"",
                 w->path, msg != NULL ? msg : pc_strerror(rc));
    }
    if (f != NULL) {
        f->pending = 0;
        f->done = rc != PC_EBUSY; /* busy: tried again at the next poll */
    }
    free(w);
}

/* Hands b over; PC_EINPROGRESS when the answer comes to file_consumed. */
static int hand_over(struct file_receiver *fr, const char *name,
                     const char *path, size_t len, struct batch *b,
                     struct errctx *e)
{
    struct file_wait *w = calloc(1, sizeof(*w));
    int rc;

    if (w == NULL || strlen(name) >= sizeof(w->name) ||
        fr->host->consume_async == NULL) {
        free(w);
        return fr->host->consume(fr->host, b, e);
    }
    w->fr = fr;
    w->len = len;
    snprintf(w->name, sizeof(w->name), "%s", name);
    snprintf(w->path, sizeof(w->path), "%s", path);
    rc = fr->host->consume_async(fr->host, b, e, file_consumed, w);
    if (rc != PC_EINPROGRESS) {
        free(w);
    }
    return rc;
}

/* Reads, decodes and hands over one file. PC_EBUSY = try again later;
 * PC_EINPROGRESS = the answer comes later (file_consumed). */
static int ingest(struct file_receiver *fr, const char *name)
{
    char path[4096];
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct batch *b;
    struct blob *raw;
    uint8_t format = PAYLOAD_NONE, *data;
    size_t len = 0;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", fr->cfg->include, name);
    data = read_all(path, fr->cfg->max_file_size, &len, &e);
    if (data == NULL) {
        log_warn(fr->host->id, "file refused", "file=\"%s\" error=\"%s\"",
                 path, err_msg(&e, PC_EIO));
        fr->host->refused(fr->host, 1, 0);
        return PC_EPERMANENT;
    }
    rc = decode_file(data, len, &pd, &format, &e);
    if (rc != PC_OK) {
        log_warn(fr->host->id, "file refused", "file=\"%s\" error=\"%s\"",
                 path, err_msg(&e, rc));
        fr->host->refused(fr->host, 1, len);
        free(data);
        return PC_EPERMANENT;
    }
    raw = blob_take(data, len);
    b = batch_new(fr->host->id);
    if (raw == NULL || b == NULL || add_items(b, pd, raw, format) != PC_OK) {
        if (raw == NULL || b == NULL) {
            pdata_free(pd);
            blob_unref(raw);
        }
        batch_unref(b);
        return PC_ENOMEM;
    }
    rc = hand_over(fr, name, path, len, b, &e);
    if (rc == PC_OK) {
        file_accepted(fr, path, len);
    } else if (rc == PC_EINPROGRESS) {
        return rc;
    } else if (rc != PC_EBUSY) {
        log_warn(fr->host->id, "file rejected", "file=\"%s\" error=\"%s\"",
                 path, err_msg(&e, rc));
    }
    return rc;
}

static void consider(struct file_receiver *fr, const char *name,
                     const struct stat *st)
{
    struct seen_file *f = seen_find(fr, name);
    int64_t mtime = (int64_t)st->st_mtim.tv_sec * 1000000000 +
                    st->st_mtim.tv_nsec;
    int rc;

    if (f == NULL) {
        f = seen_add(fr, name);
        if (f == NULL) {
            return;
        }
    }
    f->alive = 1;
    if (f->pending) {
        return;
    }
    if (f->done) {
        if (st->st_size == f->size && mtime == f->mtime_ns) {
            return;
        }
        f->done = 0; /* replaced by a new file of the same name */
    }
    /* Wait until the size is stable across two listings. */
    if (st->st_size != f->size || mtime != f->mtime_ns) {
        f->size = st->st_size;
        f->mtime_ns = mtime;
        return;
    }
    rc = ingest(fr, name);
    if (rc == PC_EINPROGRESS) {
        f->pending = 1;
    } else if (rc != PC_EBUSY && rc != PC_ENOMEM) {
        f->done = 1;
    }
}

static void poll_dir(evutil_socket_t fd, short what, void *arg)
{
    struct file_receiver *fr = arg;
    DIR *d = opendir(fr->cfg->include);
    struct dirent *de;

    (void)fd;
    (void)what;
    if (d == NULL) {
        log_warn(fr->host->id, "cannot list directory",
                 "dir=\"%s\" error=\"%s\"", fr->cfg->include,
                 err_errno(errno));
        return;
    }
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        char path[4096];
        if (de->d_name[0] == '.' ||
            fnmatch(fr->cfg->pattern, de->d_name, 0) != 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", fr->cfg->include, de->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            continue;
        }
        consider(fr, de->d_name, &st);
    }
    closedir(d);
    seen_prune(fr);
}

static int fr_create(const void *cfg, struct component_host *host, void **ctx,
                     struct errctx *e)
{
    struct file_receiver *fr = calloc(1, sizeof(*fr));

    (void)e;
    if (fr == NULL) {
        return PC_ENOMEM;
    }
    fr->cfg = cfg;
    fr->host = host;
    *ctx = fr;
    return PC_OK;
}

static int fr_start(void *ctx)
{
    struct file_receiver *fr = ctx;
    struct timeval tv;

    tv.tv_sec = fr->cfg->poll_interval_ms / 1000;
    tv.tv_usec = (fr->cfg->poll_interval_ms % 1000) * 1000;
    fr->timer = event_new(fr->host->base, -1, EV_PERSIST, poll_dir, fr);
    if (fr->timer == NULL || event_add(fr->timer, &tv) != 0) {
        return PC_ENOMEM;
    }
    poll_dir(-1, 0, fr);
    return PC_OK;
}

static void fr_stop(void *ctx)
{
    struct file_receiver *fr = ctx;

    if (fr->timer != NULL) {
        event_free(fr->timer);
        fr->timer = NULL;
    }
}

static void fr_destroy(void *ctx)
{
    struct file_receiver *fr = ctx;
    uint32_t i;

    if (fr == NULL) {
        return;
    }
    fr_stop(fr);
    for (i = 0; i < fr->nfiles; i++) {
        free(fr->files[i].name);
    }
    free(fr->files);
    free(fr);
}

static void fr_validate(const void *cfgp, const struct ynode *node,
                        struct cfg_diag *d)
{
    const struct file_receiver_cfg *cfg = cfgp;
    struct stat st;

    if (cfg->include != NULL && cfg->include[0] != '\0' &&
        stat(cfg->include, &st) == 0 && !S_ISDIR(st.st_mode)) {
        cfg_diag_error(d, ynode_get(node, "include"),
                       "include: %s is not a directory", cfg->include);
    }
}

const struct component_factory file_receiver_factory = {
    .type = "file",
    .kind = COMPONENT_RECEIVER,
    .stability = "beta",
    .description =
        "ingests pprof/OTLP files dropped into a directory, once each",
    .config_size = sizeof(struct file_receiver_cfg),
    .config = file_receiver_table,
    .validate = fr_validate,
    .create = fr_create,
    .destroy = fr_destroy,
    .ops.receiver = {.start = fr_start, .stop = fr_stop},
};
