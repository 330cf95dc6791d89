/* fuzz_ui_range.c: the status page's time range parameters (from and to,
 * split at the first newline) through ui_range_parse. A range that parses
 * has from before to, within the bounds the parser promises. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "ui/ui_store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const int64_t now = 1796528294000LL, retention = 900000;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n1 = nl != NULL ? (size_t)(nl - data) : size;
    char *from = malloc(n1 + 1), *to;
    size_t n2 = nl != NULL ? size - n1 - 1 : 0;
    struct errctx e = {{0}};
    int64_t f = 0, t = 0;

    to = malloc(n2 + 1);
    if (from == NULL || to == NULL) {
        abort();
    }
    memcpy(from, data, n1);
    from[n1] = '\0';
    memcpy(to, data + n1 + (nl != NULL), n2);
    to[n2] = '\0';
    if (ui_range_parse(from, nl != NULL ? to : NULL, now, retention, &f, &t,
                       &e) == PC_OK) {
        /* Not before 2000 (unix seconds and ten years back are both
         * after it), not after 2100. */
        if (f >= t || f < 946684800000LL || t > 4102444800000LL) {
            abort();
        }
    } else if (e.msg[0] == '\0') {
        abort(); /* an error always says why */
    }
    free(from);
    free(to);
    return 0;
}
