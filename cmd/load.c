/* load.c: read and decode a profile file for the subcommands. */
#include "cmd/load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/buf.h"
#include "codec/compress.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "codec/sniff.h"
#include "model/pdata_iter.h"

static int decode_otlp_maybe_gz(const uint8_t *data, size_t len,
                                struct pdata **pd, struct errctx *e)
{
    struct buf plain;
    int rc;

    if (!gz_is_gzip(data, len)) {
        return otlp_decode(data, len, NULL, pd, e);
    }
    buf_init(&plain, 0);
    rc = gz_decompress(data, len, &plain, LIMIT_DECOMPRESSED_DEFAULT);
    if (rc != PC_OK) {
        buf_free(&plain);
        return err_set(e, rc, "gzip: %s", pc_strerror(rc));
    }
    rc = otlp_decode(plain.data, plain.len, NULL, pd, e);
    buf_free(&plain);
    return rc;
}

static int pick_format(const uint8_t *data, size_t len, const char *from,
                       enum loaded_format *f, struct errctx *e)
{
    enum sniff_format s;

    if (strcmp(from, "pprof") == 0) {
        *f = LOADED_PPROF;
        return PC_OK;
    }
    if (strcmp(from, "otlp") == 0) {
        *f = LOADED_OTLP;
        return PC_OK;
    }
    if (strcmp(from, "jfr") == 0) {
        *f = LOADED_JFR;
        return PC_OK;
    }
    if (strcmp(from, "auto") != 0) {
        return err_set(e, PC_EINVAL,
                       "--from must be auto, pprof, otlp or jfr");
    }
    s = sniff_format(data, len);
    switch (s) {
    case SNIFF_PPROF:
        *f = LOADED_PPROF;
        return PC_OK;
    case SNIFF_OTLP:
    case SNIFF_OTLP_GZIP:
        *f = LOADED_OTLP;
        return PC_OK;
    case SNIFF_JFR:
        *f = LOADED_JFR;
        return PC_OK;
    case SNIFF_OTLP_JSON:
        return err_set(e, PC_EUNSUPPORTED,
                       "OTLP JSON input is not supported by convert; "
                       "use the protobuf encoding");
    default:
        return err_set(e, PC_EFORMAT,
                       "not a profile: neither pprof, OTLP profiles nor JFR");
    }
}

/* jfr_options.consumed: the JFR reader is done with a chunk. */
static void jfr_consumed(void *arg, size_t upto)
{
    cmd_drop_file(arg, upto);
}

int load_profile_file(const char *path, const char *from, size_t max,
                      struct loaded *out, const char *cmd)
{
    struct cmd_file in;
    const unsigned char *data;
    size_t len;
    char err[256];
    struct errctx e = {{0}};
    int rc;

    memset(out, 0, sizeof(*out));
    rc = cmd_open_file(path, max, &in, err, sizeof(err));
    if (rc != PC_OK) {
        fprintf(stderr, "profcol %s: %s\n", cmd, err);
        return rc;
    }
    data = in.data;
    len = in.len;
    if (len == 0) {
        fprintf(stderr, "profcol %s: %s: empty input\n", cmd, path);
        cmd_close_file(&in);
        return PC_EEMPTY;
    }
    rc = pick_format(data, len, from, &out->format, &e);
    if (rc == PC_OK) {
        if (out->format == LOADED_PPROF) {
            rc = pprof_decode(data, len, NULL, &out->pd, &e);
        } else if (out->format == LOADED_JFR) {
            struct jfr_options jo = {0};
            jo.consumed = jfr_consumed;
            jo.consumed_arg = &in;
            rc = jfr_convert(data, len, &jo, &out->jfr, &e);
            out->pd = out->jfr.pd;
        } else {
            rc = decode_otlp_maybe_gz(data, len, &out->pd, &e);
        }
    }
    cmd_close_file(&in);
    if (rc != PC_OK) {
        fprintf(stderr, "profcol %s: %s: %s\n", cmd, path, err_msg(&e, rc));
        return rc;
    }
    out->file_bytes = len;
    return PC_OK;
}

void loaded_free(struct loaded *ld)
{
    pdata_free(ld->pd);
    ld->pd = NULL;
}

int loaded_profiles(const struct loaded *ld, struct profile ***out,
                    uint32_t *n)
{
    uint32_t total = pdata_profile_count(ld->pd), k = 0;
    struct profile **v = calloc(total + 1, sizeof(*v));
    struct pdata_iter w;
    struct profile *p;

    if (v == NULL) {
        return PC_ENOMEM;
    }
    pdata_iter_init(&w, ld->pd, -1);
    while ((p = pdata_iter_next(&w)) != NULL) {
        v[k++] = p;
    }
    *out = v;
    *n = k;
    return PC_OK;
}
