/*
 * fuzz_pyro_name.c: the Pyroscope `name` parser and attime on arbitrary
 * bytes. A parsed name always has a non-empty app name made of allowed
 * characters, and label keys of allowed characters, none of them
 * duplicated. The label check (UTF-8, lengths) accepts exactly the names
 * whose labels are valid UTF-8 within the lengths, and says why otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"
#include "receivers/pyroscope/pyro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pyro_name nm;

static int text_ok(const char *s, size_t max)
{
    size_t n = strlen(s);

    return n <= max && utf8_check(s, n) == n;
}

static void check_labels(const struct pyro_name *n)
{
    struct errctx e = {{0}};
    int ok = 1;
    uint32_t i;

    for (i = 0; i < n->nlabels; i++) {
        ok &= text_ok(n->labels[i].name, PYRO_LABEL_NAME_MAX) &&
              text_ok(n->labels[i].value, PYRO_LABEL_VALUE_MAX);
    }
    if ((pyro_labels_check(n->labels, n->nlabels, &e) == PC_OK) != ok ||
        (!ok && e.msg[0] == '\0')) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct errctx e = {{0}};
    char t[80];
    uint32_t i, j;

    if (pyro_name_parse((const char *)data, size, &nm, &e) == PC_OK) {
        if (nm.app == NULL || nm.app[0] == '\0') {
            abort();
        }
        for (i = 0; i < nm.nlabels; i++) {
            if (nm.labels[i].name[0] == '\0' ||
                strspn(nm.labels[i].name,
                       "abcdefghijklmnopqrstuvwxyz"
                       "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.") !=
                    strlen(nm.labels[i].name)) {
                abort();
            }
            for (j = 0; j < i; j++) {
                if (strcmp(nm.labels[i].name, nm.labels[j].name) == 0) {
                    abort();
                }
            }
        }
        check_labels(&nm);
    } else if (e.msg[0] == '\0') {
        abort();
    }
    size = size < sizeof(t) - 1 ? size : sizeof(t) - 1;
    memcpy(t, data, size);
    t[size] = '\0';
    (void)pyro_attime(t, 1700000000000000000LL);
    return 0;
}
