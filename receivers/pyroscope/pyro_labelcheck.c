/*
 * pyro_labelcheck.c: labels are checked before a request is acknowledged,
 * so that what got 200 is something every exporter can send: protobuf
 * backends (Pyroscope, OTLP, Parca) refuse a string that is not UTF-8, and
 * Pyroscope refuses names and values past its default lengths.
 */
#include <string.h>

#include "core/utf8.h"
#include "receivers/pyroscope/pyro.h"

static int check_text(const char *what, uint32_t i, const char *s, size_t max,
                      struct errctx *e)
{
    size_t n = strlen(s), bad = utf8_check(s, n);

    if (bad != n) {
        return err_set(e, PC_EINVAL,
                       "label %u: %s is not valid UTF-8 (byte %zu is 0x%02x)",
                       i, what, bad, (unsigned)(unsigned char)s[bad]);
    }
    if (n > max) {
        return err_set(e, PC_EINVAL,
                       "label %u: %s is %zu bytes long (at most %zu)", i, what,
                       n, max);
    }
    return PC_OK;
}

int pyro_labels_check(const struct pyro_label *l, uint32_t n, struct errctx *e)
{
    uint32_t i;
    int rc;

    if (n > PYRO_MAX_LABELS) {
        return err_set(e, PC_EINVAL, "%u labels (at most %d)", n,
                       PYRO_MAX_LABELS);
    }
    for (i = 0; i < n; i++) {
        rc = check_text("name", i, l[i].name, PYRO_LABEL_NAME_MAX, e);
        if (rc == PC_OK) {
            rc = check_text("value", i, l[i].value, PYRO_LABEL_VALUE_MAX, e);
        }
        if (rc != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}
