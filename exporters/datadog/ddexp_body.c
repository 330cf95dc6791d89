/*
 * ddexp_body.c: the multipart body of one upload in format v4, as the
 * tracers send it: an `event` part (event.json) first, then one part per
 * attachment whose form name and file name are the attachment's name.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/jsonesc.h"
#include "exporters/datadog/ddexp.h"

void ddexp_time(int64_t ns, char *out, size_t size)
{
    time_t s = (time_t)(ns / 1000000000);
    struct tm tm;

    if (ns < 0) {
        s = 0;
        ns = 0;
    }
    gmtime_r(&s, &tm);
    snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (long long)(ns % 1000000000));
}

static int event_json(const struct ddexp_upload *u, const char *tags,
                      struct buf *out)
{
    char start[48], end[48];
    uint32_t i;
    int rc;

    ddexp_time(u->start_ns, start, sizeof(start));
    /* The intake wants a window: a lone instant gets its second. */
    ddexp_time(u->end_ns > u->start_ns ? u->end_ns : u->start_ns + 1000000000,
               end, sizeof(end));
    rc = buf_append_str(out, "{\"attachments\":[");
    for (i = 0; i < u->natt && rc == PC_OK; i++) {
        if (i > 0) {
            rc = buf_append(out, ",", 1);
        }
        if (rc == PC_OK) {
            rc = jsonesc_quoted(out, u->att[i].name, strlen(u->att[i].name));
        }
    }
    if (rc == PC_OK) {
        char head[192];
        snprintf(head, sizeof(head),
                 "],\"start\":\"%s\",\"end\":\"%s\",\"family\":\"%s\","
                 "\"version\":\"4\",\"tags_profiler\":",
                 start, end, u->family);
        rc = buf_append_str(out, head);
    }
    if (rc == PC_OK) {
        rc = jsonesc_quoted(out, tags, strlen(tags));
    }
    if (rc == PC_OK) {
        rc = buf_append_str(out, "}");
    }
    return rc;
}

static int part_head(struct buf *out, const char *boundary, const char *name,
                     const char *filename, const char *type)
{
    char h[512];

    snprintf(h, sizeof(h),
             "--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
             "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
             boundary, name, filename, type);
    return buf_append_str(out, h);
}

int ddexp_body(const struct ddexp_upload *u, const char *tags,
               const char *boundary, struct buf *out)
{
    uint32_t i;
    int rc;

    rc = part_head(out, boundary, "event", "event.json", "application/json");
    if (rc == PC_OK) {
        rc = event_json(u, tags, out);
    }
    for (i = 0; i < u->natt && rc == PC_OK; i++) {
        rc = buf_append(out, "\r\n", 2);
        if (rc == PC_OK) {
            rc = part_head(out, boundary, u->att[i].name, u->att[i].name,
                           "application/octet-stream");
        }
        if (rc == PC_OK) {
            rc = buf_append(out, u->att[i].data.data, u->att[i].data.len);
        }
    }
    if (rc == PC_OK) {
        char tail[128];
        snprintf(tail, sizeof(tail), "\r\n--%s--\r\n", boundary);
        rc = buf_append_str(out, tail);
    }
    return rc;
}
