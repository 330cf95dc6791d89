/*
 * dd_tags.c: Datadog tags (`tags_profiler`, or the old forms' `tags[]`) as
 * series attributes, with the names the OpenTelemetry semantic conventions
 * give the ones they know.
 */
#include <string.h>

#include "receivers/datadog/dd.h"

uint32_t dd_tags_split(char *s, struct dd_tag *tags, uint32_t max)
{
    uint32_t n = 0;
    char *save = NULL, *t;

    /* ',' is never escaped by the tracers; a value may hold ':'. */
    for (t = strtok_r(s, ",", &save); t != NULL && n < max;
         t = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(t, ':');
        if (colon == NULL || colon == t) {
            continue;
        }
        *colon = '\0';
        tags[n].key = t;
        tags[n].value = colon + 1;
        n++;
    }
    return n;
}

const char *dd_tag_get(const struct dd_tag *tags, uint32_t n, const char *key)
{
    const char *v = NULL;
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(tags[i].key, key) == 0) {
            v = tags[i].value;
        }
    }
    return v;
}

static const char *const tag_attrs[][2] = {
    {"service", "service.name"},
    {"env", "deployment.environment.name"},
    {"version", "service.version"},
    {"host", "host.name"},
    {"runtime-id", "service.instance.id"},
    {"process_id", "process.pid"},
    {"runtime", "process.runtime.name"},
    {"runtime_version", "process.runtime.version"},
    {"language", "telemetry.sdk.language"},
};

const char *dd_tag_attr(const char *key)
{
    size_t i;

    for (i = 0; i < sizeof(tag_attrs) / sizeof(tag_attrs[0]); i++) {
        if (strcmp(key, tag_attrs[i][0]) == 0) {
            return tag_attrs[i][1];
        }
    }
    return key;
}

const char *dd_language(const char *language, const char *family)
{
    const char *l = language != NULL && language[0] != '\0' ? language
                                                            : family;

    if (l == NULL || l[0] == '\0') {
        return NULL;
    }
    if (strcmp(l, "javascript") == 0 || strcmp(l, "node") == 0) {
        return "nodejs";
    }
    /* dd-trace-java tags its uploads language:jvm (family java). */
    if (strcmp(l, "jvm") == 0) {
        return "java";
    }
    return l;
}
