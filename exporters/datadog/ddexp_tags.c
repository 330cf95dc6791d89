/*
 * ddexp_tags.c: what an upload is called on Datadog's side: its family,
 * its attachments' names and its tags, from profcol's series attributes
 * (the inverse of the datadog receiver's mapping).
 */
#include <stdio.h>
#include <string.h>

#include "component/series.h"
#include "exporters/datadog/ddexp.h"

/* telemetry.sdk.language -> the intake's family. */
static const char *const families[][2] = {
    {"go", "go"},     {"nodejs", "node"}, {"python", "python"},
    {"java", "java"}, {"ruby", "ruby"},   {"dotnet", "dotnet"},
    {"php", "php"},   {"cpp", "native"},  {"rust", "native"},
};

const char *ddexp_family(const char *language)
{
    size_t i;

    for (i = 0; language != NULL && i < sizeof(families) / sizeof(families[0]);
         i++) {
        if (strcmp(language, families[i][0]) == 0) {
            return families[i][1];
        }
    }
    return "native";
}

/* (family, __name__) -> attachment, as each runtime's profiler names it. */
static const char *const attach_names[][3] = {
    {"go", "process_cpu", "cpu.pprof"},
    {"go", "memory", "delta-heap.pprof"},
    {"go", "mutex", "delta-mutex.pprof"},
    {"go", "block", "delta-block.pprof"},
    {"go", "goroutine", "goroutines.pprof"},
    {"go", "goroutines", "goroutines.pprof"},
    {"node", "wall", "wall.pprof"},
    {"node", "memory", "space.pprof"},
    {"node", "timeline", "events.pprof"},
};

void ddexp_attach_name(const char *family, const char *name, char *out,
                       size_t size)
{
    size_t i;

    for (i = 0; i < sizeof(attach_names) / sizeof(attach_names[0]); i++) {
        if (strcmp(family, attach_names[i][0]) == 0 &&
            strcmp(name, attach_names[i][1]) == 0) {
            snprintf(out, size, "%s", attach_names[i][2]);
            return;
        }
    }
    /* libdatadog sends every sample type in one profile.pprof. */
    if (strcmp(family, "python") == 0 || strcmp(family, "ruby") == 0 ||
        strcmp(family, "dotnet") == 0 || strcmp(family, "php") == 0) {
        snprintf(out, size, "profile.pprof");
        return;
    }
    snprintf(out, size, "%s.pprof", name);
    /* It goes into a quoted header parameter: keep it to safe bytes. */
    for (i = 0; out[i] != '\0'; i++) {
        char c = out[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_')) {
            out[i] = '_';
        }
    }
}

/* Series attribute -> Datadog tag. */
static const char *const tag_names[][2] = {
    {"service.name", "service"},
    {"deployment.environment.name", "env"},
    {"service.version", "version"},
    {"host.name", "host"},
    {"service.instance.id", "runtime-id"},
    {"process.pid", "process_id"},
    {"process.runtime.name", "runtime"},
    {"process.runtime.version", "runtime_version"},
    {"telemetry.sdk.language", "language"},
};

static void tag_name(struct pstr key, char *out, size_t size)
{
    size_t i;

    for (i = 0; i < sizeof(tag_names) / sizeof(tag_names[0]); i++) {
        if (pstr_eq(key, tag_names[i][0])) {
            snprintf(out, size, "%s", tag_names[i][1]);
            return;
        }
    }
    snprintf(out, size, "%.*s", (int)key.len, key.ptr);
}

/* Appends "k:v," with ',' in the value made '_' (tags are ','-joined with
 * no escaping); language nodejs is javascript, as dd-trace-js says, and
 * java is jvm, as dd-trace-java says. */
static int put_tag(struct buf *out, const char *k, const char *v, size_t vlen)
{
    size_t i, at;
    int rc;

    if (strcmp(k, "language") == 0 && vlen == 6 &&
        memcmp(v, "nodejs", 6) == 0) {
        v = "javascript";
        vlen = 10;
    } else if (strcmp(k, "language") == 0 && vlen == 4 &&
               memcmp(v, "java", 4) == 0) {
        v = "jvm";
        vlen = 3;
    }
    if (out->len > 0 && (rc = buf_append(out, ",", 1)) != PC_OK) {
        return rc;
    }
    if ((rc = buf_append_str(out, k)) != PC_OK ||
        (rc = buf_append(out, ":", 1)) != PC_OK) {
        return rc;
    }
    at = out->len;
    if ((rc = buf_append(out, v, vlen)) != PC_OK) {
        return rc;
    }
    for (i = at; i < out->len; i++) {
        if (out->data[i] == ',') {
            out->data[i] = '_';
        }
    }
    return PC_OK;
}

static int is_extra(const struct cfg_map *extra, const char *k)
{
    uint32_t i;

    for (i = 0; extra != NULL && i < extra->n; i++) {
        if (strcmp(extra->keys[i], k) == 0) {
            return 1;
        }
    }
    return 0;
}

int ddexp_tags(const struct item *it, const char *family,
               const struct cfg_map *extra, struct buf *out)
{
    struct buf v;
    char k[128];
    uint32_t i;
    int rc = PC_OK, have_pv = 0, have_svc = 0, have_rt = 0;

    buf_init(&v, 65536);
    for (i = 0; i < it->nattrs && rc == PC_OK; i++) {
        if (series_internal(it->attrs[i].key)) {
            continue;
        }
        tag_name(it->attrs[i].key, k, sizeof(k));
        if (is_extra(extra, k)) {
            continue;
        }
        v.len = 0;
        rc = series_value_text(&it->attrs[i].value, &v);
        if (rc == PC_OK && v.len > 0) {
            rc = put_tag(out, k, (const char *)v.data, v.len);
        }
        have_pv |= strcmp(k, "profiler_version") == 0;
        have_svc |= strcmp(k, "service") == 0;
        have_rt |= strcmp(k, "language") == 0 || strcmp(k, "runtime") == 0;
    }
    buf_free(&v);
    for (i = 0; extra != NULL && i < extra->n && rc == PC_OK; i++) {
        rc = put_tag(out, extra->keys[i], extra->values[i],
                     strlen(extra->values[i]));
        have_pv |= strcmp(extra->keys[i], "profiler_version") == 0;
        have_svc |= strcmp(extra->keys[i], "service") == 0;
        have_rt |= strcmp(extra->keys[i], "language") == 0 ||
                   strcmp(extra->keys[i], "runtime") == 0;
    }
    /* What every tracer sends (the intake may key on it): a service and a
     * runtime, so profiles from other sources get them too. */
    if (rc == PC_OK && !have_svc) {
        struct pstr s = series_service(it);
        rc = put_tag(out, "service", s.ptr, s.len);
    }
    if (rc == PC_OK && !have_rt) {
        rc = put_tag(out, "runtime", family, strlen(family));
    }
    if (rc == PC_OK && !have_pv) {
        rc = put_tag(out, "profiler_version", "profcol-" PROFCOL_VERSION,
                     strlen("profcol-" PROFCOL_VERSION));
    }
    return rc;
}
