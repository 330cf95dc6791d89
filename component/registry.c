/*
 * registry.c: the one list of component factories compiled into profcol.
 *
 * Adding a component: declare its factory below and add one line to
 * builtin[]. Nothing else in the engine lists components.
 */
#include <stddef.h>
#include <string.h>

#include "component/component.h"
#include "component/registry.h"

extern const struct component_factory file_receiver_factory;
extern const struct component_factory otlp_receiver_factory;
extern const struct component_factory debug_exporter_factory;
extern const struct component_factory file_exporter_factory;
extern const struct component_factory pyroscope_receiver_factory;
extern const struct component_factory parca_exporter_factory;
extern const struct component_factory otlp_exporter_factory;
extern const struct component_factory pyroscope_exporter_factory;
extern const struct component_factory otlphttp_exporter_factory;
extern const struct component_factory memory_limiter_processor_factory;
extern const struct component_factory scrape_receiver_factory;
extern const struct component_factory attributes_processor_factory;
extern const struct component_factory tracelink_processor_factory;
extern const struct component_factory cardinality_processor_factory;
extern const struct component_factory filter_processor_factory;
extern const struct component_factory k8sattributes_processor_factory;
extern const struct component_factory loadbalancing_exporter_factory;
extern const struct component_factory profilemetrics_exporter_factory;
extern const struct component_factory aggregate_processor_factory;
extern const struct component_factory datadog_receiver_factory;
extern const struct component_factory datadog_exporter_factory;

/* One per line (clang-format would pack them into columns). */
/* clang-format off */
static const struct component_factory *const builtin[] = {
    &file_receiver_factory,
    &otlp_receiver_factory,
    &debug_exporter_factory,
    &file_exporter_factory,
    &pyroscope_receiver_factory,
    &parca_exporter_factory,
    &otlp_exporter_factory,
    &pyroscope_exporter_factory,
    &otlphttp_exporter_factory,
    &memory_limiter_processor_factory,
    &scrape_receiver_factory,
    &attributes_processor_factory,
    &tracelink_processor_factory,
    &cardinality_processor_factory,
    &filter_processor_factory,
    &k8sattributes_processor_factory,
    &loadbalancing_exporter_factory,
    &profilemetrics_exporter_factory,
    &aggregate_processor_factory,
    &datadog_receiver_factory,
    &datadog_exporter_factory,
    NULL, /* end marker; not counted */
};
/* clang-format on */

#define NBUILTIN (sizeof(builtin) / sizeof(builtin[0]) - 1)
#define REGISTRY_MAX_EXTRA 32

/* builtin[] followed by the test hook's factories. */
static const struct component_factory *all[NBUILTIN + REGISTRY_MAX_EXTRA + 1];
static size_t nall;
static int ready;

static void registry_build(const struct component_factory *const *extra,
                           size_t nextra)
{
    size_t i;

    nall = 0;
    for (i = 0; builtin[i] != NULL; i++) {
        all[nall++] = builtin[i];
    }
    for (i = 0; i < nextra && i < REGISTRY_MAX_EXTRA; i++) {
        all[nall++] = extra[i];
    }
    all[nall] = NULL;
    ready = 1;
}

void registry_set_extra(const struct component_factory *const *f, size_t n)
{
    registry_build(f, f != NULL ? n : 0);
}

const struct component_factory *const *registry_all(size_t *n)
{
    if (!ready) {
        registry_build(NULL, 0);
    }
    if (n != NULL) {
        *n = nall;
    }
    return all;
}

const struct component_factory *registry_find(enum component_kind kind,
                                              const char *type)
{
    size_t n, i;
    const struct component_factory *const *f = registry_all(&n);

    for (i = 0; i < n; i++) {
        if (f[i]->kind == kind && strcmp(f[i]->type, type) == 0) {
            return f[i];
        }
    }
    return NULL;
}

const char *component_kind_name(enum component_kind kind)
{
    switch (kind) {
    case COMPONENT_RECEIVER:
        return "receiver";
    case COMPONENT_PROCESSOR:
        return "processor";
    case COMPONENT_EXPORTER:
        return "exporter";
    }
    return "unknown";
}
