/*
 * convert.c: `profcol convert [--to pprof|otlp]
 * [--from auto|pprof|otlp|jfr] [--level N] IN OUT`. Reads a pprof (gzip or plain), an OTLP profiles
 * request or a JFR recording, writes the other format (or the one asked
 * for). Without --to, pprof becomes OTLP, OTLP becomes pprof and JFR (one
 * profile per event kind) becomes OTLP. OTLP output is plain protobuf
 * (an ExportProfilesServiceRequest); pprof output is gzipped, as pprof files
 * are. An OTLP input holding several profiles gives a pprof of the first
 * and a warning, unless OUT contains "%d", which numbers one file per
 * profile.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "cmd/load.h"
#include "codec/compress.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "core/mempolicy.h"

#define CONVERT_MAX_INPUT ((size_t)1 << 30)

struct convert_opts {
    const char *to;
    const char *from;
    const char *in;
    const char *out;
    int level;
};

static int convert_usage(void)
{
    fprintf(stderr, "usage: profcol convert [--to pprof|otlp] "
                    "[--from auto|pprof|otlp|jfr] [--level 1-12] IN OUT\n"
                    "       IN and OUT may be - for stdin/stdout\n");
    return 2;
}

/* A whole decimal number; the range is the encoder's to check. */
static int parse_level(const char *v, int *level)
{
    char *end;
    long n;

    errno = 0;
    n = strtol(v, &end, 10);
    if (end == v || *end != '\0' || errno != 0 || n < INT_MIN || n > INT_MAX) {
        return -1;
    }
    *level = (int)n;
    return 0;
}

static int parse_opts(int argc, char **argv, struct convert_opts *o)
{
    int i, pos = 0;

    memset(o, 0, sizeof(*o));
    o->from = "auto";
    o->level = 6;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if ((strcmp(a, "--to") == 0 || strcmp(a, "--from") == 0 ||
             strcmp(a, "--level") == 0) &&
            i + 1 < argc) {
            const char *v = argv[++i];
            if (a[2] == 't') {
                o->to = v;
            } else if (a[2] == 'f') {
                o->from = v;
            } else if (parse_level(v, &o->level) != 0) {
                fprintf(stderr, "profcol convert: --level must be a number\n");
                return -1;
            }
        } else if (strncmp(a, "--to=", 5) == 0) {
            o->to = a + 5;
        } else if (strncmp(a, "--from=", 7) == 0) {
            o->from = a + 7;
        } else if (a[0] == '-' && a[1] != '\0') {
            fprintf(stderr, "profcol convert: unknown option %s\n", a);
            return -1;
        } else if (pos == 0) {
            o->in = a;
            pos++;
        } else if (pos == 1) {
            o->out = a;
            pos++;
        } else {
            return -1;
        }
    }
    if (o->in == NULL || o->out == NULL) {
        return -1;
    }
    if (o->to != NULL && strcmp(o->to, "pprof") != 0 &&
        strcmp(o->to, "otlp") != 0) {
        fprintf(stderr, "profcol convert: --to must be pprof or otlp\n");
        return -1;
    }
    return 0;
}

/*
 * pprof profile i of ld, gzip-compressed at o's level, into out. The last
 * profile lets go of the model between encoding and compressing: nothing
 * refers to it any more, and a large profile's model is the biggest thing
 * in memory, so the peak is the model and the encoding, or the encoding
 * and its compressed copy, never all three.
 */
static int encode_pprof(struct loaded *ld, struct profile *prof, int last,
                        const struct convert_opts *o, struct buf *out,
                        struct errctx *e)
{
    struct buf raw;
    int rc;

    buf_init(&raw, 0);
    rc = pprof_encode(ld->pd, prof, &raw, e);
    if (last) {
        loaded_free(ld);
    }
    if (rc == PC_OK) {
        rc = gz_compress(raw.data, raw.len, out, o->level);
        if (rc != PC_OK) {
            err_set(e, rc, "pprof encode: gzip: %s", pc_strerror(rc));
        }
    }
    buf_free(&raw);
    return rc;
}

/* Writes the profiles of ld as pprof files; the model is freed on the way
 * (see encode_pprof). */
static int write_pprofs(struct loaded *ld, const struct convert_opts *o)
{
    struct profile **profs = NULL;
    uint32_t n = 0, i;
    char err[256], path[4096];
    int rc = PC_OK;
    int many = strstr(o->out, "%d") != NULL;

    rc = loaded_profiles(ld, &profs, &n);
    if (rc != PC_OK) {
        fprintf(stderr, "profcol convert: out of memory\n");
        return 1;
    }
    if (n == 0) {
        fprintf(stderr, "profcol convert: %s holds no profile\n", o->in);
        free(profs);
        return 1;
    }
    if (n > 1 && !many) {
        fprintf(stderr,
                "profcol convert: warning: %s holds %u profiles; "
                "writing the first (use %%d in OUT for all)\n",
                o->in, n);
        n = 1;
    }
    for (i = 0; i < n && rc == PC_OK; i++) {
        struct buf out;
        struct errctx e = {{0}};
        buf_init(&out, 0);
        rc = encode_pprof(ld, profs[i], i + 1 == n, o, &out, &e);
        if (rc != PC_OK) {
            fprintf(stderr, "profcol convert: encoding pprof: %s\n",
                    err_msg(&e, rc));
        } else {
            if (many) {
                snprintf(path, sizeof(path), o->out, (int)i);
            } else {
                snprintf(path, sizeof(path), "%s", o->out);
            }
            rc = cmd_write_file(path, out.data, out.len, err, sizeof(err));
            if (rc != PC_OK) {
                fprintf(stderr, "profcol convert: %s\n", err);
            }
        }
        buf_free(&out);
    }
    free(profs);
    return rc == PC_OK ? 0 : 1;
}

static int write_part(const uint8_t *data, size_t len, void *arg)
{
    return cmd_out_write(arg, data, len);
}

/* The request is written in two parts (otlp_encode_parts), so that the
 * output is never held whole: a large profile's dictionary then reuses
 * the memory of its samples' part (peak RSS). */
static int write_otlp(const struct loaded *ld, const struct convert_opts *o)
{
    const struct pdata *in[1];
    struct buf out;
    struct errctx e = {{0}};
    struct cmd_out w;
    int rc, made;

    in[0] = ld->pd;
    buf_init(&out, 0);
    rc = cmd_out_open(&w, o->out);
    made = rc == PC_OK && w.f != stdout;
    if (rc == PC_OK) {
        rc = otlp_encode_parts(in, 1, &out, write_part, &w, &e);
    }
    if (rc == PC_OK) {
        rc = cmd_out_write(&w, out.data, out.len);
    }
    if (cmd_out_close(&w) != PC_OK) {
        fprintf(stderr, "profcol convert: %s\n", w.err);
        rc = PC_EIO;
    } else if (rc != PC_OK) {
        fprintf(stderr, "profcol convert: encoding OTLP: %s\n",
                err_msg(&e, rc));
    }
    if (rc != PC_OK && made) {
        (void)unlink(o->out); /* no half a request left behind */
    }
    buf_free(&out);
    return rc == PC_OK ? 0 : 1;
}

/* Allocations from this size on are mappings of their own (see
 * cmd_convert); glibc's default threshold. */
#define CONVERT_MMAP_MIN (128 * 1024)

int cmd_convert(int argc, char **argv)
{
    struct convert_opts o;
    struct loaded ld;
    const char *to;
    int rc;

    if (parse_opts(argc, argv, &o) != 0) {
        return convert_usage();
    }
    /* A conversion's peak RSS is its footprint. glibc raises its mmap
     * threshold when the first big block is freed (the input file, after
     * decoding), and the encoders' growing tables and output then live in
     * the heap, where every block they outgrow stays resident (the OTLP
     * encoder's peak: 1.3x as much). A fixed threshold keeps big blocks
     * mappings of their own, grown by remapping and returned at once. */
    (void)mempolicy_apply(CONVERT_MMAP_MIN);
    if (load_profile_file(o.in, o.from, CONVERT_MAX_INPUT, &ld, "convert") !=
        PC_OK) {
        return 1;
    }
    to = o.to != NULL ? o.to : (ld.format == LOADED_OTLP ? "pprof" : "otlp");
    if (strcmp(to, "pprof") == 0) {
        rc = write_pprofs(&ld, &o);
    } else {
        rc = write_otlp(&ld, &o);
    }
    loaded_free(&ld);
    return rc;
}
