/*
 * fuzz_datadog.c: the `datadog` receiver's path on arbitrary bodies: the
 * multipart reader (boundary "XyZ", form fields on), the event (v4 JSON or
 * the old forms' fields), the tags, then each attachment: decompression
 * under a cap, pprof decoding, the label rewrite and the profile name.
 * The whole input also goes through the attachment path on its own, so
 * the decompressors (LZ4 frames among them) see raw bytes too. Failures
 * must name their cause; no label key keeps a space.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pprof.h"
#include "core/assert.h"
#include "receivers/datadog/dd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX (1u << 20)

static void check_labels(const struct pdata *pd)
{
    uint32_t i;

    for (i = 1; i < pd->dict.nattrs; i++) {
        const struct attr *a = &pd->dict.attrs[i];
        struct pstr k = dict_str(&pd->dict, a->key);
        if (memchr(k.ptr, ' ', k.len) != NULL) {
            abort(); /* every key with spaces was renamed */
        }
    }
}

static void attachment(const uint8_t *p, size_t n, const char *name)
{
    struct decode_limits lim = {FUZZ_MAX};
    struct errctx e = {{0}};
    struct pdata *pd = NULL;
    struct buf b;
    char metric[128];
    int rc;

    buf_init(&b, FUZZ_MAX);
    rc = dd_attach_inflate(p, n, FUZZ_MAX, &b, &e);
    if (rc != PC_OK && e.msg[0] == '\0') {
        abort();
    }
    if (rc == PC_OK && pprof_decode(b.data, b.len, &lim, &pd, &e) == PC_OK) {
        if (dd_labels_normalize(pd) >= 0) {
            check_labels(pd);
        }
        dd_profile_name(pd, name, metric, sizeof(metric));
        pdata_free(pd);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct dd_event ev;
    struct mpart parts[MPART_MAX];
    struct dd_tag tags[DD_MAX_TAGS];
    static char tagbuf[DD_TAGS_MAX];
    struct errctx e = {{0}};
    uint32_t n = 0, i;
    int rc;

    attachment(data, size, "raw.pprof");
    rc = mpart_parse(data, size, "XyZ", MPART_FIELDS, parts, MPART_MAX, &n,
                     &e);
    if (rc != PC_OK && e.msg[0] == '\0') {
        abort();
    }
    e.msg[0] = '\0';
    rc = dd_event_read(parts, n, &ev, &e);
    if (rc != PC_OK) {
        if (e.msg[0] == '\0') {
            abort();
        }
        return 0;
    }
    memcpy(tagbuf, ev.tags, sizeof(tagbuf));
    (void)dd_tags_split(tagbuf, tags, DD_MAX_TAGS);
    for (i = 0; i < n; i++) {
        if (parts[i].filename[0] != '\0' &&
            dd_attach_kind(parts[i].filename) == DD_ATT_PPROF) {
            attachment(parts[i].data, parts[i].len, parts[i].filename);
        }
    }
    return 0;
}
