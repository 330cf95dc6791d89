/* fuzz_batch_codec.c: batch_deserialize on arbitrary bytes (what a damaged
 * persistent-queue record could hold). What decodes must re-encode and
 * decode to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/err.h"
#include "component/batch.h"
#include "component/batch_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct batch *b = NULL, *c = NULL;
    struct buf one, two;

    if (batch_deserialize(data, size, &b) != PC_OK) {
        return 0;
    }
    buf_init(&one, BUF_MAX_DEFAULT);
    buf_init(&two, BUF_MAX_DEFAULT);
    if (batch_serialize(b, &one) != PC_OK ||
        batch_deserialize(one.data, one.len, &c) != PC_OK ||
        batch_serialize(c, &two) != PC_OK || one.len != two.len ||
        memcmp(one.data, two.data, one.len) != 0) {
        abort();
    }
    buf_free(&one);
    buf_free(&two);
    batch_unref(b);
    batch_unref(c);
    return 0;
}
