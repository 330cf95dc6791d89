/*
 * merge.c: `profcol merge [--to pprof|otlp] [--from auto|pprof|otlp|jfr]
 * [--drop-label KEY]... IN... OUT`. The aggregate processor's merge,
 * offline: every profile of every input (pprof, OTLP, JFR) joins the merge
 * of its sample types (model/pdata_merge.h): samples with the same stack
 * and labels summed, one profile per distinct set of sample types, spanning
 * from the earliest start to the latest end. OTLP output is one request
 * holding them all; pprof output needs "%d" in OUT when there are several.
 * Without --to, the output is pprof when every input was a pprof, else
 * OTLP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "cmd/load.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "model/pdata_merge.h"

#define MERGE_MAX_INPUT ((size_t)1 << 30)
#define MERGE_MAX_GROUPS 64
#define MERGE_MAX_DROP 32

struct merge_opts {
    const char *to, *from, *out;
    const char **in;
    int nin;
    const char *drop[MERGE_MAX_DROP];
    uint32_t ndrop;
};

/* One merge per distinct list of sample types. */
struct merge_group {
    char types[1024];
    struct pdata_merge *m;
    int64_t start, end;
    struct pdata *pd; /* the result */
};

static int merge_usage(void)
{
    fprintf(stderr,
            "usage: profcol merge [--to pprof|otlp] "
            "[--from auto|pprof|otlp|jfr] [--drop-label KEY]... IN... OUT\n"
            "       OUT with %%d: one pprof per profile type\n");
    return 2;
}

static int parse_flag(struct merge_opts *o, const char *a, const char *v)
{
    if (strcmp(a, "--to") == 0) {
        o->to = v;
    } else if (strcmp(a, "--from") == 0) {
        o->from = v;
    } else if (strcmp(a, "--drop-label") == 0 && o->ndrop < MERGE_MAX_DROP) {
        o->drop[o->ndrop++] = v;
    } else {
        fprintf(stderr, "profcol merge: unknown option %s\n", a);
        return -1;
    }
    return 0;
}

static int parse_opts(int argc, char **argv, struct merge_opts *o)
{
    int i;

    memset(o, 0, sizeof(*o));
    o->from = "auto";
    o->in = calloc((size_t)argc + 1, sizeof(*o->in));
    if (o->in == NULL) {
        return -1;
    }
    for (i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            if (i + 1 >= argc || parse_flag(o, argv[i], argv[i + 1]) != 0) {
                return -1;
            }
            i++;
        } else {
            o->in[o->nin++] = argv[i];
        }
    }
    if (o->nin < 2 || (o->to != NULL && strcmp(o->to, "pprof") != 0 &&
                       strcmp(o->to, "otlp") != 0)) {
        return -1;
    }
    o->out = o->in[--o->nin];
    return 0;
}

static void types_text(const struct dict *d, const struct profile *p,
                       char *out, size_t n)
{
    size_t used = 0;
    uint32_t i;

    out[0] = '\0';
    for (i = 0; i < p->nsample_types && used < n; i++) {
        struct pstr t = dict_str(d, p->sample_types[i].type);
        struct pstr u = dict_str(d, p->sample_types[i].unit);
        int w = snprintf(out + used, n - used, "%.*s/%.*s;", (int)t.len, t.ptr,
                         (int)u.len, u.ptr);
        used += w > 0 ? (size_t)w : 0;
    }
}

static struct merge_group *group_of(struct merge_group *g, uint32_t *ng,
                                    const char *types)
{
    uint32_t i;

    for (i = 0; i < *ng; i++) {
        if (strcmp(g[i].types, types) == 0) {
            return &g[i];
        }
    }
    if (*ng == MERGE_MAX_GROUPS) {
        return NULL;
    }
    g = &g[(*ng)++];
    memset(g, 0, sizeof(*g));
    snprintf(g->types, sizeof(g->types), "%s", types);
    g->start = INT64_MAX;
    g->end = INT64_MIN;
    return pdata_merge_new(0, &g->m) == PC_OK ? g : NULL;
}

/* Adds every profile of one input. */
static int merge_input(const struct merge_opts *o, const struct loaded *ld,
                       struct merge_group *g, uint32_t *ng)
{
    struct profile **profs = NULL;
    uint32_t n = 0, i;
    char types[1024];
    int rc = loaded_profiles(ld, &profs, &n);

    for (i = 0; i < n && rc == PC_OK; i++) {
        struct merge_group *k;
        types_text(&ld->pd->dict, profs[i], types, sizeof(types));
        k = group_of(g, ng, types);
        if (k == NULL) {
            rc = PC_ENOMEM;
            break;
        }
        rc = pdata_merge_add(k->m, ld->pd, profs[i], o->drop, o->ndrop);
        if (profs[i]->time_nanos != 0 && profs[i]->time_nanos < k->start) {
            k->start = profs[i]->time_nanos;
        }
        if (profs[i]->time_nanos + profs[i]->duration_nanos > k->end) {
            k->end = profs[i]->time_nanos + profs[i]->duration_nanos;
        }
    }
    free(profs);
    return rc;
}

static int write_pprofs(const struct merge_opts *o, struct merge_group *g,
                        uint32_t ng)
{
    char err[256], path[4096];
    uint32_t i;
    int rc = PC_OK;

    if (ng > 1 && strstr(o->out, "%d") == NULL) {
        fprintf(stderr,
                "profcol merge: %u profile types; use %%d in OUT for one "
                "pprof each, or --to otlp\n",
                ng);
        return PC_EINVAL;
    }
    for (i = 0; i < ng && rc == PC_OK; i++) {
        struct errctx e = {{0}};
        struct buf out;
        buf_init(&out, 0);
        rc = pprof_encode_gz(g[i].pd,
                             &g[i].pd->resources[0].scopes[0].profiles[0], 6,
                             &out, &e);
        if (rc != PC_OK) {
            fprintf(stderr, "profcol merge: encoding pprof: %s\n",
                    err_msg(&e, rc));
        } else {
            snprintf(path, sizeof(path), o->out, (int)i);
            rc = cmd_write_file(path, out.data, out.len, err, sizeof(err));
            if (rc != PC_OK) {
                fprintf(stderr, "profcol merge: %s\n", err);
            }
        }
        buf_free(&out);
    }
    return rc;
}

static int write_otlp(const struct merge_opts *o, struct merge_group *g,
                      uint32_t ng)
{
    const struct pdata *in[MERGE_MAX_GROUPS];
    struct errctx e = {{0}};
    struct buf out;
    char err[256];
    uint32_t i;
    int rc;

    for (i = 0; i < ng; i++) {
        in[i] = g[i].pd;
    }
    buf_init(&out, 0);
    rc = otlp_encode(in, ng, &out, &e);
    if (rc != PC_OK) {
        fprintf(stderr, "profcol merge: encoding OTLP: %s\n", err_msg(&e, rc));
    } else {
        rc = cmd_write_file(o->out, out.data, out.len, err, sizeof(err));
        if (rc != PC_OK) {
            fprintf(stderr, "profcol merge: %s\n", err);
        }
    }
    buf_free(&out);
    return rc;
}

/* Loads and merges every input; *all_pprof says whether they were. */
static int merge_all(const struct merge_opts *o, struct merge_group *g,
                     uint32_t *ng, int *all_pprof)
{
    int i, rc = PC_OK;

    *all_pprof = 1;
    for (i = 0; i < o->nin && rc == PC_OK; i++) {
        struct loaded ld;
        if (load_profile_file(o->in[i], o->from, MERGE_MAX_INPUT, &ld,
                              "merge") != PC_OK) {
            return PC_EINVAL;
        }
        *all_pprof &= ld.format == LOADED_PPROF;
        rc = merge_input(o, &ld, g, ng);
        if (rc != PC_OK) {
            fprintf(stderr, "profcol merge: %s: %s\n", o->in[i],
                    pc_strerror(rc));
        }
        loaded_free(&ld);
    }
    for (i = 0; i < (int)*ng && rc == PC_OK; i++) {
        int64_t start = g[i].start == INT64_MAX ? 0 : g[i].start;
        int64_t dur = g[i].end > start && start != 0 ? g[i].end - start : 0;
        rc = pdata_merge_finish(g[i].m, NULL, start, dur, &g[i].pd);
        g[i].m = NULL;
    }
    return rc;
}

int cmd_merge(int argc, char **argv)
{
    struct merge_group *g = calloc(MERGE_MAX_GROUPS, sizeof(*g));
    struct merge_opts o;
    uint32_t ng = 0, i;
    int all_pprof = 0, rc;

    memset(&o, 0, sizeof(o));
    if (g == NULL || parse_opts(argc, argv, &o) != 0) {
        free(g);
        free(o.in);
        return merge_usage();
    }
    rc = merge_all(&o, g, &ng, &all_pprof);
    if (rc == PC_OK && ng == 0) {
        fprintf(stderr, "profcol merge: the inputs hold no profile\n");
        rc = PC_EEMPTY;
    }
    if (rc == PC_OK) {
        const char *to = o.to != NULL ? o.to : all_pprof ? "pprof" : "otlp";
        rc = strcmp(to, "pprof") == 0 ? write_pprofs(&o, g, ng)
                                      : write_otlp(&o, g, ng);
    }
    for (i = 0; i < ng; i++) {
        pdata_merge_free(g[i].m);
        pdata_free(g[i].pd);
    }
    free(g);
    free(o.in);
    return rc == PC_OK ? 0 : 1;
}
