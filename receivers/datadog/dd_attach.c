/*
 * dd_attach.c: one attachment of a Datadog upload: its compression (each
 * file is compressed on its own, told by magic bytes, never by a header),
 * its kind, and the name Pyroscope would give its profile.
 */
#include <stdio.h>
#include <string.h>

#include "codec/compress.h"
#include "component/series.h"
#include "receivers/datadog/dd.h"

enum dd_codec dd_codec_sniff(const uint8_t *p, size_t n)
{
    if (gz_is_gzip(p, n)) {
        return DD_GZIP;
    }
    if (zstd_is_zstd(p, n)) {
        return DD_ZSTD;
    }
    if (lz4_is_lz4(p, n)) {
        return DD_LZ4;
    }
    return DD_PLAIN;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum dd_kind dd_attach_kind(const char *filename)
{
    /* v1/v2 name files `data[i]` with filename pprof-data or wall.pb.gz. */
    if (ends_with(filename, ".pprof") || ends_with(filename, ".pb.gz") ||
        ends_with(filename, ".pb") || strcmp(filename, "pprof-data") == 0) {
        return DD_ATT_PPROF;
    }
    if (ends_with(filename, ".jfr")) {
        return DD_ATT_JFR;
    }
    return DD_ATT_OTHER;
}

int dd_attach_inflate(const uint8_t *p, size_t n, size_t max, struct buf *out,
                      struct errctx *e)
{
    static const char *const names[] = {"plain", "gzip", "zstd", "lz4"};
    enum dd_codec c = dd_codec_sniff(p, n);
    int rc;

    switch (c) {
    case DD_GZIP:
        rc = gz_decompress(p, n, out, max);
        break;
    case DD_ZSTD:
        rc = zstd_decompress(p, n, out, max);
        break;
    case DD_LZ4:
        rc = lz4_decompress(p, n, out, max);
        break;
    default:
        if (n > max) {
            return err_set(e, PC_ETOOBIG, "%zu bytes, more than %zu", n, max);
        }
        return buf_append(out, p, n);
    }
    if (rc != PC_OK) {
        return err_set(e, rc, "%s: %s", names[c],
                       rc == PC_ETOOBIG        ? "decompressed size over the "
                                                 "limit"
                       : rc == PC_EUNSUPPORTED ? "a frame with a preset "
                                                 "dictionary"
                                               : "corrupt or truncated data");
    }
    return PC_OK;
}

void dd_profile_name(const struct pdata *pd, const char *filename, char *out,
                     size_t outlen)
{
    const struct profile *p = NULL;

    snprintf(out, outlen, "unknown");
    if (pd->nresources > 0 && pd->resources[0].nscopes > 0 &&
        pd->resources[0].scopes[0].nprofiles > 0) {
        p = &pd->resources[0].scopes[0].profiles[0];
    }
    if (p == NULL) {
        return;
    }
    /* Go's mutex and block profiles have the same sample types
     * (contentions, delay); only the file name tells them apart. */
    if (strncmp(filename, "delta-block", 11) == 0 ||
        strncmp(filename, "block", 5) == 0) {
        snprintf(out, outlen, "block");
        return;
    }
    series_profile_name(&pd->dict, p, out, outlen);
}
