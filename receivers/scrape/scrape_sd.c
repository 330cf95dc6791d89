/*
 * scrape_sd.c: file-based target discovery in Prometheus's file_sd format:
 * a JSON or YAML list of {targets: [host:port, ...], labels: {k: v}}.
 *
 * Files are found with glob(3) and watched by polling (mtime and size):
 * cheap for the handful of files a job lists, and it works on every file
 * system, including the symlink swaps Kubernetes uses for ConfigMaps. A
 * file that fails to parse keeps its previous targets (as Prometheus does),
 * so a half-written file never empties a job.
 */
#include <errno.h>
#include <glob.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "telemetry/log.h"
#include "config/ynode.h"
#include "receivers/scrape/scrape.h"

#define SD_MAX_FILE ((size_t)4 << 20)
#define SD_MAX_TARGETS 100000

struct scrape_sd_file {
    char *path;
    int64_t mtime_ns;
    int64_t size;
    struct scrape_group *groups;
    uint32_t ngroups;
    int alive;
};

void scrape_groups_free(struct scrape_group *g, uint32_t n)
{
    uint32_t i, k;

    for (i = 0; i < n; i++) {
        for (k = 0; k < g[i].ntargets; k++) {
            free(g[i].targets[k]);
        }
        free(g[i].targets);
        labels_free(&g[i].labels);
    }
    free(g);
}

static int groups_equal(const struct scrape_group *a, uint32_t na,
                        const struct scrape_group *b, uint32_t nb)
{
    uint32_t i, k;

    if (na != nb) {
        return 0;
    }
    for (i = 0; i < na; i++) {
        if (a[i].ntargets != b[i].ntargets ||
            !labels_equal(&a[i].labels, &b[i].labels)) {
            return 0;
        }
        for (k = 0; k < a[i].ntargets; k++) {
            if (strcmp(a[i].targets[k], b[i].targets[k]) != 0) {
                return 0;
            }
        }
    }
    return 1;
}

/* ---- parsing --------------------------------------------------------------- */

/* Collects the groups of one document; both parsers fill it. */
struct sd_parse {
    struct scrape_group *g;
    uint32_t n;
    uint32_t total_targets;
    struct errctx *e;
};

static struct scrape_group *parse_group_new(struct sd_parse *p,
                                            uint32_t ntargets)
{
    struct scrape_group *g = &p->g[p->n];

    memset(g, 0, sizeof(*g));
    p->total_targets += ntargets;
    if (p->total_targets > SD_MAX_TARGETS) {
        err_set(p->e, PC_ETOOBIG, "more than %d targets", SD_MAX_TARGETS);
        return NULL;
    }
    g->targets = calloc(ntargets ? ntargets : 1, sizeof(*g->targets));
    if (g->targets == NULL) {
        err_set(p->e, PC_ENOMEM, "out of memory");
        return NULL;
    }
    p->n++;
    return g;
}

static int parse_add_target(struct sd_parse *p, struct scrape_group *g,
                            uint32_t i, const char *t)
{
    if (t == NULL || t[0] == '\0') {
        return err_set(p->e, PC_EFORMAT,
                       "group %u: targets must be "
                       "non-empty strings",
                       p->n - 1);
    }
    g->targets[g->ntargets] = strdup(t);
    if (g->targets[g->ntargets] == NULL) {
        return err_set(p->e, PC_ENOMEM, "out of memory");
    }
    g->ntargets++;
    (void)i;
    return PC_OK;
}

static int parse_add_label(struct sd_parse *p, struct scrape_group *g,
                           const char *k, const char *v)
{
    if (!label_name_valid(k)) {
        return err_set(p->e, PC_EFORMAT,
                       "group %u: invalid label name '%.64s'", p->n - 1, k);
    }
    if (v == NULL) {
        return err_set(p->e, PC_EFORMAT,
                       "group %u: label '%.64s' must be a "
                       "string",
                       p->n - 1, k);
    }
    if (labels_set(&g->labels, k, v) != PC_OK) {
        return err_set(p->e, PC_ETOOBIG,
                       "group %u: too many or too long "
                       "labels",
                       p->n - 1);
    }
    return PC_OK;
}

static int parse_json_group(struct sd_parse *p, json_t *o)
{
    json_t *targets = json_object_get(o, "targets");
    json_t *labels = json_object_get(o, "labels");
    struct scrape_group *g;
    const char *k;
    json_t *v;
    size_t i;
    int rc = PC_OK;

    if (!json_is_object(o) || !json_is_array(targets)) {
        return err_set(p->e, PC_EFORMAT,
                       "group %u: expected an object with "
                       "a \"targets\" list",
                       p->n);
    }
    if (labels != NULL && !json_is_object(labels) && !json_is_null(labels)) {
        return err_set(p->e, PC_EFORMAT,
                       "group %u: \"labels\" must be an "
                       "object",
                       p->n);
    }
    g = parse_group_new(p, (uint32_t)json_array_size(targets));
    if (g == NULL) {
        return PC_ETOOBIG;
    }
    json_array_foreach(targets, i, v)
    {
        if (rc == PC_OK) {
            rc = parse_add_target(p, g, (uint32_t)i, json_string_value(v));
        }
    }
    if (json_is_object(labels)) {
        json_object_foreach(labels, k, v)
        {
            if (rc == PC_OK) {
                rc = parse_add_label(p, g, k, json_string_value(v));
            }
        }
    }
    return rc;
}

static int parse_json(struct sd_parse *p, const char *text, size_t len)
{
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    json_t *o;
    size_t i;
    int rc = PC_OK;

    if (root == NULL) {
        return err_set(p->e, PC_EFORMAT, "line %d column %d: %s", jerr.line,
                       jerr.column, jerr.text);
    }
    if (!json_is_array(root)) {
        json_decref(root);
        return err_set(p->e, PC_EFORMAT, "expected a list of target groups");
    }
    p->g = calloc(json_array_size(root) + 1, sizeof(*p->g));
    if (p->g == NULL) {
        json_decref(root);
        return PC_ENOMEM;
    }
    json_array_foreach(root, i, o)
    {
        if (rc == PC_OK) {
            rc = parse_json_group(p, o);
        }
    }
    json_decref(root);
    return rc;
}

static const char *yscalar(const struct ynode *n)
{
    return (n != NULL && n->kind == YNODE_SCALAR) ? n->value : NULL;
}

static int parse_yaml_group(struct sd_parse *p, const struct ynode *o)
{
    const struct ynode *targets = ynode_get(o, "targets");
    const struct ynode *labels = ynode_get(o, "labels");
    struct scrape_group *g;
    uint32_t i;
    int rc = PC_OK;

    if (o->kind != YNODE_MAP || targets == NULL ||
        targets->kind != YNODE_SEQ) {
        return err_set(p->e, PC_EFORMAT,
                       "line %u: expected a mapping with "
                       "a targets list",
                       o->line);
    }
    if (labels != NULL && labels->kind != YNODE_MAP &&
        !ynode_is_null(labels)) {
        return err_set(p->e, PC_EFORMAT, "line %u: labels must be a mapping",
                       labels->line);
    }
    g = parse_group_new(p, targets->n);
    if (g == NULL) {
        return PC_ETOOBIG;
    }
    for (i = 0; i < targets->n && rc == PC_OK; i++) {
        rc = parse_add_target(p, g, i, yscalar(targets->children[i]));
    }
    for (i = 0; labels != NULL && labels->kind == YNODE_MAP && i < labels->n &&
                rc == PC_OK;
         i++) {
        rc = parse_add_label(p, g, labels->keys[i]->value,
                             yscalar(labels->children[i]));
    }
    return rc;
}

static int parse_yaml(struct sd_parse *p, const char *name, const char *text,
                      size_t len)
{
    struct ydoc doc;
    char err[256];
    uint32_t i;
    int rc;

    rc = ydoc_load_mem(name, text, len, &doc, err, sizeof(err));
    if (rc != PC_OK) {
        ydoc_free(&doc);
        return err_set(p->e, PC_EFORMAT, "%s", err);
    }
    if (doc.root == NULL) {
        ydoc_free(&doc);
        p->g = calloc(1, sizeof(*p->g));
        return p->g != NULL ? PC_OK : PC_ENOMEM;
    }
    if (doc.root->kind != YNODE_SEQ) {
        ydoc_free(&doc);
        return err_set(p->e, PC_EFORMAT, "expected a list of target groups");
    }
    p->g = calloc(doc.root->n + 1, sizeof(*p->g));
    if (p->g == NULL) {
        ydoc_free(&doc);
        return PC_ENOMEM;
    }
    for (i = 0, rc = PC_OK; i < doc.root->n && rc == PC_OK; i++) {
        rc = parse_yaml_group(p, doc.root->children[i]);
    }
    ydoc_free(&doc);
    return rc;
}

int scrape_sd_parse(const char *name, const char *text, size_t len, int json,
                    struct scrape_group **out, uint32_t *n, struct errctx *e)
{
    struct sd_parse p = {NULL, 0, 0, e};
    int rc;

    rc = json ? parse_json(&p, text, len) : parse_yaml(&p, name, text, len);
    if (rc != PC_OK) {
        scrape_groups_free(p.g, p.n);
        return rc;
    }
    *out = p.g;
    *n = p.n;
    return PC_OK;
}

/* ---- files ------------------------------------------------------------------- */

static char *read_file(const char *path, size_t *len, struct errctx *e)
{
    FILE *f = fopen(path, "rb");
    struct buf b;
    size_t n;
    int rc = PC_OK;

    if (f == NULL) {
        err_set(e, PC_EIO, "%s", err_errno(errno));
        return NULL;
    }
    buf_init(&b, SD_MAX_FILE + 1);
    do {
        rc = buf_reserve(&b, 65536);
        n = rc == PC_OK ? fread(b.data + b.len, 1, b.cap - b.len - 1, f) : 0;
        b.len += n;
    } while (rc == PC_OK && n > 0);
    fclose(f);
    if (rc != PC_OK) {
        buf_free(&b);
        err_set(e, rc, "larger than %zu bytes", SD_MAX_FILE);
        return NULL;
    }
    b.data[b.len] = '\0';
    *len = b.len;
    return (char *)buf_take(&b, NULL);
}

static int has_suffix(const char *s, const char *suf)
{
    size_t l = strlen(s), m = strlen(suf);

    return l >= m && strcmp(s + l - m, suf) == 0;
}

/* Re-reads one file; keeps its old groups when the new text is bad. */
static void sd_reload(struct scrape_sd_file *f, const char *component,
                      int *changed)
{
    struct errctx e = {{0}};
    struct scrape_group *g = NULL;
    uint32_t n = 0;
    size_t len = 0;
    char *text = read_file(f->path, &len, &e);
    int rc = text != NULL ? PC_OK : PC_EIO;

    if (text != NULL) {
        rc = scrape_sd_parse(f->path, text, len, has_suffix(f->path, ".json"),
                             &g, &n, &e);
        free(text);
    }
    if (rc != PC_OK) {
        log_warn(component,
                 "file_sd: cannot use file, keeping its previous "
                 "targets",
                 "file=\"%s\" error=\"%s\"", f->path, err_msg(&e, rc));
        return;
    }
    if (!groups_equal(g, n, f->groups, f->ngroups)) {
        *changed = 1;
    }
    scrape_groups_free(f->groups, f->ngroups);
    f->groups = g;
    f->ngroups = n;
}

static struct scrape_sd_file *sd_find_or_add(struct scrape_sd *sd,
                                             const char *path)
{
    struct scrape_sd_file *nf;
    uint32_t i;

    for (i = 0; i < sd->nfiles; i++) {
        if (strcmp(sd->files[i].path, path) == 0) {
            return &sd->files[i];
        }
    }
    nf = realloc(sd->files, (sd->nfiles + 1) * sizeof(*nf));
    if (nf == NULL) {
        return NULL;
    }
    sd->files = nf;
    nf = &sd->files[sd->nfiles];
    memset(nf, 0, sizeof(*nf));
    nf->path = strdup(path);
    if (nf->path == NULL) {
        return NULL;
    }
    nf->mtime_ns = -1;
    nf->size = -1;
    sd->nfiles++;
    return nf;
}

static void sd_consider(struct scrape_sd *sd, const char *path,
                        const char *component, int full, int *changed)
{
    struct scrape_sd_file *f;
    struct stat st;
    int64_t mtime;

    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;
    }
    f = sd_find_or_add(sd, path);
    if (f == NULL) {
        return;
    }
    f->alive = 1;
    mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
    if (!full && mtime == f->mtime_ns && st.st_size == f->size) {
        return;
    }
    f->mtime_ns = mtime;
    f->size = st.st_size;
    sd_reload(f, component, changed);
}

/* Files no longer matched (deleted, renamed) take their targets along. */
static void sd_prune(struct scrape_sd *sd, int *changed)
{
    uint32_t i = 0;

    while (i < sd->nfiles) {
        struct scrape_sd_file *f = &sd->files[i];
        if (f->alive) {
            f->alive = 0;
            i++;
            continue;
        }
        if (f->ngroups > 0) {
            *changed = 1;
        }
        scrape_groups_free(f->groups, f->ngroups);
        free(f->path);
        sd->files[i] = sd->files[--sd->nfiles];
    }
}

void scrape_sd_poll(struct scrape_sd *sd, const char *component, int full,
                    int *changed)
{
    uint32_t i;

    for (i = 0; i < sd->cfg->files.n; i++) {
        glob_t g;
        size_t k;
        int rc = glob(sd->cfg->files.items[i], 0, NULL, &g);
        if (rc == 0) {
            for (k = 0; k < g.gl_pathc; k++) {
                sd_consider(sd, g.gl_pathv[k], component, full, changed);
            }
        }
        globfree(&g);
    }
    sd_prune(sd, changed);
}

void scrape_sd_free(struct scrape_sd *sd)
{
    uint32_t i;

    for (i = 0; i < sd->nfiles; i++) {
        scrape_groups_free(sd->files[i].groups, sd->files[i].ngroups);
        free(sd->files[i].path);
    }
    free(sd->files);
    sd->files = NULL;
    sd->nfiles = 0;
}

const struct scrape_group *scrape_sd_groups(const struct scrape_sd *sd,
                                            uint32_t i, uint32_t *n,
                                            const char **path)
{
    *n = sd->files[i].ngroups;
    *path = sd->files[i].path;
    return sd->files[i].groups;
}
