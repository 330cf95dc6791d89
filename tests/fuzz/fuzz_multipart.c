/*
 * fuzz_multipart.c: the multipart/form-data reader on arbitrary bodies
 * (boundary "XyZ", and a boundary taken from the first input line). Every
 * part found lies inside the body; failures name their cause.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/multipart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(const uint8_t *data, size_t size, const char *boundary)
{
    struct mpart parts[MPART_MAX];
    struct errctx e = {{0}};
    uint32_t n = 0, i;
    int rc = mpart_parse(data, size, boundary, 0, parts, MPART_MAX, &n, &e);

    if (rc != PC_OK && e.msg[0] == '\0') {
        abort();
    }
    for (i = 0; i < n; i++) {
        if (parts[i].data < data || parts[i].len > size ||
            parts[i].data + parts[i].len > data + size) {
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char ct[300], b[256];
    const uint8_t *nl = memchr(data, '\n', size < 200 ? size : 200);

    check(data, size, "XyZ");
    if (nl != NULL) {
        size_t n = (size_t)(nl - data);
        memcpy(ct, "multipart/form-data; boundary=", 30);
        memcpy(ct + 30, data, n);
        ct[30 + n] = '\0';
        if (mpart_boundary(ct, b, sizeof(b)) == PC_OK) {
            check(nl + 1, size - n - 1, b);
        }
    }
    return 0;
}
