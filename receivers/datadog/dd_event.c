/*
 * dd_event.c: what a Datadog profile upload says about itself. Format v4
 * (every current tracer) sends a JSON `event` part; v3 and v1/v2 (old
 * tracers, still forwarded by the Agent) send form fields instead.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receivers/datadog/dd.h"

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* n decimal digits at s into *v; 0 when they are not all digits. */
static int digits(const char *s, int n, int *v)
{
    int i;

    *v = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

int64_t dd_time_parse(const char *s)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t ns = 0, scale = 100000000, t;
    const char *p;

    if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' ||
        !digits(s + 5, 2, &mo) || s[7] != '-' || !digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &sec) || mo < 1 || mo > 12 ||
        d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) {
        return -1;
    }
    p = s + 19;
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++) {
            ns += (*p - '0') * scale; /* digits past ns are dropped */
            scale /= 10;
        }
    }
    if (*p == '+' || *p == '-') {
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
            p[6] != '\0') {
            return -1;
        }
        if (*p == '+') {
            oh = -oh;
            om = -om;
        }
    } else if ((*p != 'Z' && *p != 'z') || p[1] != '\0') {
        return -1;
    }
    t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec +
        oh * 3600 + om * 60;
    /* Unix nanoseconds in an int64: 1970 up to 2262. */
    if (t < 0 || t >= INT64_MAX / 1000000000LL) {
        return -1;
    }
    return t * 1000000000LL + ns;
}

static void copy_to(char *out, size_t size, const char *s, size_t n)
{
    n = n < size - 1 ? n : size - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

/* A JSON member that must be a string when present; NULL when absent. */
static int json_str(const json_t *o, const char *key, const char **out,
                    struct errctx *e)
{
    const json_t *v = json_object_get(o, key);

    *out = NULL;
    if (v == NULL || json_is_null(v)) {
        return PC_OK;
    }
    if (!json_is_string(v)) {
        return err_set(e, PC_ECORRUPT, "event: \"%s\" is not a string", key);
    }
    *out = json_string_value(v);
    return PC_OK;
}

static int event_times(struct dd_event *ev, const char *start, const char *end,
                       struct errctx *e)
{
    if (start == NULL || end == NULL) {
        return err_set(e, PC_ECORRUPT,
                       "event: \"start\" and \"end\" are "
                       "required");
    }
    ev->start_ns = dd_time_parse(start);
    ev->end_ns = dd_time_parse(end);
    if (ev->start_ns < 0 || ev->end_ns < 0) {
        return err_set(e, PC_ECORRUPT,
                       "event: \"start\"/\"end\" are not RFC 3339 times: "
                       "%.40s, %.40s",
                       start, end);
    }
    return PC_OK;
}

static int event_attachments(struct dd_event *ev, const json_t *o,
                             struct errctx *e)
{
    const json_t *a = json_object_get(o, "attachments"), *v;
    size_t i;

    if (!json_is_array(a)) {
        return err_set(e, PC_ECORRUPT,
                       "event: \"attachments\" is missing or not an array");
    }
    json_array_foreach(a, i, v)
    {
        if (!json_is_string(v)) {
            return err_set(e, PC_ECORRUPT,
                           "event: attachments[%zu] is not a string", i);
        }
        if (ev->nattach == DD_MAX_ATTACH) {
            return err_set(e, PC_ECORRUPT, "event: more than %d attachments",
                           DD_MAX_ATTACH);
        }
        copy_to(ev->attach[ev->nattach++], sizeof(ev->attach[0]),
                json_string_value(v), json_string_length(v));
    }
    return PC_OK;
}

static int event_from_json(const json_t *o, struct dd_event *ev,
                           struct errctx *e)
{
    const char *start, *end, *family, *tags, *version;
    int rc;

    if (!json_is_object(o)) {
        return err_set(e, PC_ECORRUPT, "event: not a JSON object");
    }
    if ((rc = json_str(o, "start", &start, e)) != PC_OK ||
        (rc = json_str(o, "end", &end, e)) != PC_OK ||
        (rc = json_str(o, "family", &family, e)) != PC_OK ||
        (rc = json_str(o, "tags_profiler", &tags, e)) != PC_OK ||
        (rc = json_str(o, "version", &version, e)) != PC_OK) {
        return rc;
    }
    if (version != NULL && strcmp(version, "4") != 0) {
        return err_set(e, PC_ECORRUPT, "event: version \"%.20s\", want \"4\"",
                       version);
    }
    ev->version = 4;
    if ((rc = event_times(ev, start, end, e)) != PC_OK) {
        return rc;
    }
    copy_to(ev->family, sizeof(ev->family), family ? family : "",
            family ? strlen(family) : 0);
    copy_to(ev->tags, sizeof(ev->tags), tags ? tags : "",
            tags ? strlen(tags) : 0);
    return event_attachments(ev, o, e);
}

int dd_event_json(const uint8_t *json, size_t len, struct dd_event *ev,
                  struct errctx *e)
{
    json_error_t je;
    json_t *o;
    int rc;

    memset(ev, 0, sizeof(*ev));
    o = json_loadb((const char *)json, len, 0, &je);
    if (o == NULL) {
        return err_set(e, PC_ECORRUPT, "event: bad JSON at byte %d: %s",
                       je.position, je.text);
    }
    rc = event_from_json(o, ev, e);
    json_decref(o);
    return rc;
}

/* A form field's value as a string into out. */
static const char *field(const struct mpart *parts, uint32_t n,
                         const char *name, char *out, size_t size)
{
    const struct mpart *p = mpart_get(parts, n, name);

    if (p == NULL) {
        return NULL;
    }
    copy_to(out, size, (const char *)p->data, p->len);
    return out;
}

/* The repeated `tags[]` fields of the old forms, joined with ','. */
static void old_tags(const struct mpart *parts, uint32_t n,
                     struct dd_event *ev)
{
    size_t used = 0;
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(parts[i].name, "tags[]") != 0 || parts[i].len == 0 ||
            used + parts[i].len + 2 > sizeof(ev->tags)) {
            continue;
        }
        if (used > 0) {
            ev->tags[used++] = ',';
        }
        memcpy(ev->tags + used, parts[i].data, parts[i].len);
        used += parts[i].len;
        ev->tags[used] = '\0';
    }
}

/* v3 (`version=3`, `family`, `start`, `end`) or v1/v2 (`recording-start`,
 * `recording-end`, `runtime`). */
static int event_from_fields(const struct mpart *parts, uint32_t n,
                             struct dd_event *ev, struct errctx *e)
{
    char v[16], start[64], end[64], fam[32];
    int rc;

    if (field(parts, n, "version", v, sizeof(v)) != NULL &&
        strcmp(v, "3") == 0) {
        ev->version = 3;
        rc = event_times(ev, field(parts, n, "start", start, sizeof(start)),
                         field(parts, n, "end", end, sizeof(end)), e);
        if (field(parts, n, "family", fam, sizeof(fam)) != NULL) {
            copy_to(ev->family, sizeof(ev->family), fam, strlen(fam));
        }
    } else if (mpart_get(parts, n, "recording-start") != NULL) {
        ev->version = 1;
        rc = event_times(
            ev, field(parts, n, "recording-start", start, sizeof(start)),
            field(parts, n, "recording-end", end, sizeof(end)), e);
        if (field(parts, n, "runtime", fam, sizeof(fam)) != NULL) {
            /* The runtime tag says nodejs where the family says node. */
            const char *f = strcmp(fam, "nodejs") == 0 ? "node" : fam;
            copy_to(ev->family, sizeof(ev->family), f, strlen(f));
        }
    } else {
        return err_set(e, PC_EFORMAT,
                       "no \"event\" part (format v4) and no v3 or v1 form "
                       "fields: not a Datadog profile upload");
    }
    if (rc == PC_OK) {
        old_tags(parts, n, ev);
    }
    return rc;
}

int dd_event_read(const struct mpart *parts, uint32_t n, struct dd_event *ev,
                  struct errctx *e)
{
    const struct mpart *p = mpart_get(parts, n, "event");

    if (p != NULL) {
        return dd_event_json(p->data, p->len, ev, e);
    }
    memset(ev, 0, sizeof(*ev));
    return event_from_fields(parts, n, ev, e);
}
