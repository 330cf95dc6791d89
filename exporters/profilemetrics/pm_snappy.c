/*
 * pm_snappy.c: the snappy block format of a remote-write body (see
 * pm_remote.h), compressed by libsnappy's C API.
 *
 * libsnappy is loaded at run time (net/dynlib.h), like libcurl: it is C++
 * and brings libstdc++ along, about 1 MiB of resident memory that every
 * profcol process would pay, though only a remote-writing profilemetrics
 * exporter uses it. PROFCOL_SNAPPY_SONAME is the soname of the libsnappy
 * found at configure time (CMakeLists.txt), e.g. "libsnappy.so.1".
 */
#include "exporters/profilemetrics/pm_remote.h"

#include <pthread.h>
#include <snappy-c.h>

#include "core/assert.h"
#include "net/dynlib.h"

#ifndef PROFCOL_SNAPPY_SONAME
#error "PROFCOL_SNAPPY_SONAME is set by CMakeLists.txt"
#endif

#define WHAT "snappy"

static struct {
    __typeof__(&snappy_compress) compress;
    __typeof__(&snappy_max_compressed_length) max_len;
} pm_snappy;

static pthread_once_t pm_snappy_once = PTHREAD_ONCE_INIT;
static int pm_snappy_rc;
static struct errctx pm_snappy_err;

static void pm_snappy_init(void)
{
    void *lib = dynlib_open(PROFCOL_SNAPPY_SONAME, WHAT, &pm_snappy_err);
    void *c = NULL, *m = NULL;

    if (lib != NULL) {
        c = dynlib_sym(lib, "snappy_compress", WHAT, &pm_snappy_err);
    }
    if (c != NULL) {
        m = dynlib_sym(lib, "snappy_max_compressed_length", WHAT,
                       &pm_snappy_err);
    }
    if (m == NULL) {
        pm_snappy_rc = PC_EUNSUPPORTED;
        return;
    }
    /* POSIX guarantees object and function pointers convert. */
    pm_snappy.compress = (__typeof__(pm_snappy.compress))c;
    pm_snappy.max_len = (__typeof__(pm_snappy.max_len))m;
}

int pm_snappy_load(struct errctx *e)
{
    pthread_once(&pm_snappy_once, pm_snappy_init);
    if (pm_snappy_rc != PC_OK) {
        return err_set(e, pm_snappy_rc, "%s", pm_snappy_err.msg);
    }
    return PC_OK;
}

int pm_snappy_compress(const uint8_t *in, size_t len, struct buf *out)
{
    size_t got;
    int rc;

    PC_ASSERT(pm_snappy.compress != NULL); /* pm_snappy_load succeeded */
    /* Snappy lengths are 32-bit. */
    if (len > UINT32_MAX) {
        return PC_ETOOBIG;
    }
    got = pm_snappy.max_len(len);
    if ((rc = buf_reserve(out, got)) != PC_OK) {
        return rc;
    }
    if (pm_snappy.compress((const char *)in, len, (char *)out->data + out->len,
                           &got) != SNAPPY_OK) {
        return PC_EIO;
    }
    out->len += got;
    return PC_OK;
}
