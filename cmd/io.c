/* io.c: whole-file reads and writes for the subcommands ("-" = stdio). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "core/buf.h"
#include "core/err.h"

int cmd_read_file(const char *path, size_t max, unsigned char **data,
                  size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct buf b;
    int rc = PC_OK;

    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, err_errno(errno));
        return PC_EIO;
    }
    buf_init(&b, max);
    for (;;) {
        size_t n;
        rc = buf_reserve(&b, 65536);
        if (rc != PC_OK) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            break;
        }
        n = fread(b.data + b.len, 1, b.cap - b.len, f);
        b.len += n;
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "cannot read %s: %s", path,
                         err_errno(errno));
                rc = PC_EIO;
            }
            break;
        }
    }
    if (f != stdin) {
        fclose(f);
    }
    if (rc != PC_OK) {
        buf_free(&b);
        return rc;
    }
    *data = buf_take(&b, len);
    return PC_OK;
}

int cmd_write_file(const char *path, const unsigned char *data, size_t len,
                   char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    int rc = PC_OK;

    if (f == NULL) {
        snprintf(err, errlen, "cannot create %s: %s", path, err_errno(errno));
        return PC_EIO;
    }
    if (len != 0 && fwrite(data, 1, len, f) != len) {
        snprintf(err, errlen, "cannot write %s: %s", path, err_errno(errno));
        rc = PC_EIO;
    }
    if (f == stdout) {
        if (fflush(f) != 0 && rc == PC_OK) {
            snprintf(err, errlen, "cannot write to stdout: %s",
                     err_errno(errno));
            rc = PC_EIO;
        }
    } else if (fclose(f) != 0 && rc == PC_OK) {
        snprintf(err, errlen, "cannot write %s: %s", path, err_errno(errno));
        rc = PC_EIO;
    }
    return rc;
}
