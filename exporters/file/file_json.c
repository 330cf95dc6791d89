/*
 * file_json.c: the JSON-lines form of the file exporter: one object per
 * item with its series attributes, tenant, counts, payload format and the
 * payload itself in base64 (pprof or OTLP bytes as they would be exported).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "exporters/file/file_rotate.h"
#include "codec/otlp.h"
#include "component/series.h"
#include "core/base64.h"
#include "core/jsonesc.h"

/* The payload bytes: the original when unchanged, else OTLP of the model. */
static int item_payload(struct item *it, struct buf *tmp, const uint8_t **p,
                        size_t *n, const char **fmt)
{
    struct otlp_item oi;
    int rc;

    if (it->raw != NULL) {
        *p = it->raw->data;
        *n = it->raw->len;
        *fmt = it->format == PAYLOAD_PPROF ? "pprof" : "otlp";
        return PC_OK;
    }
    if (it->pd == NULL) {
        return PC_EINVAL;
    }
    /* Only the item's own resource: an OTLP request with several resources
     * became several items sharing one payload. */
    memset(&oi, 0, sizeof(oi));
    oi.pd = it->pd->pd;
    oi.resource = it->resource;
    rc = otlp_encode_items(&oi, 1, tmp, NULL);
    *p = tmp->data;
    *n = tmp->len;
    *fmt = "otlp";
    return rc;
}

int file_json_item(struct batch *b, struct item *it, struct buf *out)
{
    struct buf tmp;
    const uint8_t *p = NULL;
    size_t n = 0;
    const char *fmt = "";
    uint32_t i;
    int rc;

    (void)b;
    buf_init(&tmp, 0);
    rc = buf_printf(out,
                    "{\"received_unix_nano\":%" PRIu64 ",\"attributes\":{",
                    it->received_ns);
    for (i = 0; rc == PC_OK && i < it->nattrs; i++) {
        if (i > 0) {
            rc = buf_putc(out, ',');
        }
        if (rc == PC_OK) {
            rc = jsonesc_quoted(out, it->attrs[i].key.ptr,
                                it->attrs[i].key.len);
        }
        if (rc == PC_OK) {
            rc = buf_putc(out, ':');
        }
        if (rc == PC_OK) {
            rc = series_value_json(&it->attrs[i].value, out);
        }
    }
    if (rc == PC_OK) {
        rc = buf_append_str(out, "},\"tenant\":");
    }
    if (rc == PC_OK) {
        rc = jsonesc_quoted(out, it->tenant.ptr, it->tenant.len);
    }
    if (rc == PC_OK) {
        rc = item_payload(it, &tmp, &p, &n, &fmt);
    }
    if (rc == PC_OK) {
        rc = buf_printf(out,
                        ",\"profiles\":%u,\"samples\":%" PRIu64
                        ",\"format\":\"%s\",\"payload_base64\":\"",
                        it->nprofiles, it->nsamples, fmt);
    }
    if (rc == PC_OK) {
        rc = base64_encode(out, p, n);
    }
    if (rc == PC_OK) {
        rc = buf_append_str(out, "\"}\n");
    }
    buf_free(&tmp);
    return rc;
}
