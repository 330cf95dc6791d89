/*
 * fuzz_pyro_name.c: the Pyroscope `name` parser and attime on arbitrary
 * bytes. A parsed name always has a non-empty app name made of allowed
 * characters, and label keys of allowed characters, none of them
 * duplicated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receivers/pyroscope/pyro.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pyro_name nm;

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
    } else if (e.msg[0] == '\0') {
        abort();
    }
    size = size < sizeof(t) - 1 ? size : sizeof(t) - 1;
    memcpy(t, data, size);
    t[size] = '\0';
    (void)pyro_attime(t, 1700000000000000000LL);
    return 0;
}
