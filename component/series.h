/*
 * series.h: series identity, shared by receivers, processors and exporters.
 *
 * An item's attributes (batch.h) name its series. The conventions:
 *  - `service.name` is the service (OpenTelemetry semantic conventions);
 *    receivers map Pyroscope's `service_name` label to it, exporters map it
 *    back to each backend's label name.
 *  - other attributes keep their names as received (`env`, `k8s.pod.name`,
 *    `process.runtime.name`); exporters make backend-valid label names of
 *    them (series_label_name: dots and other characters -> `_`).
 *  - names starting with `__` are profcol/Pyroscope/Parca internal labels:
 *    `__name__` (profile name: process_cpu, memory, ...), `__delta__`,
 *    `__session_id__`. A receiver that knows the profile name sets
 *    `__name__`; otherwise exporters derive it from the sample types.
 *  - the tenant is item->tenant, not an attribute.
 */
#ifndef PROFCOL_SERIES_H
#define PROFCOL_SERIES_H

#include <stddef.h>

#include "core/buf.h"
#include "model/profile.h"
#include "component/batch.h"

#define SERIES_SERVICE_ATTR "service.name"
#define SERIES_NAME_ATTR "__name__"
#define SERIES_UNKNOWN_SERVICE "unknown_service"

/*
 * Pyroscope's profile name for a profile's sample types: `wall` if a type is
 * wall, else the first type containing `cpu` -> `process_cpu`; `alloc_*`,
 * `inuse_*`, `space`, `objects` -> `memory`; `mutex_*` or contentions/delay
 * -> `mutex` (block profiles carry `block_*` names when the sender says so);
 * `block_*` -> `block`; `goroutine(s)` -> `goroutine`; otherwise the last
 * sample type. Always a valid label value without `.` or `-`.
 */
void series_profile_name(const struct dict *d, const struct profile *p,
                         char *out, size_t outlen);

/* A Prometheus-valid label name ([a-zA-Z_][a-zA-Z0-9_]*): other characters
 * become '_', a leading digit gets a '_' prefix. */
void series_label_name(const char *in, size_t len, char *out, size_t outlen);

/* Whether an attribute name is a profcol/Pyroscope/Parca internal one
 * (starts with `__`): exporters that send resource attributes leave those
 * out. */
int series_internal(struct pstr key);

/* The item's service: service.name, else service_name, else
 * "unknown_service". Points into the item or to a static string. */
struct pstr series_service(const struct item *it);

/* Appends the text form of a value: strings as is, ints/doubles/bools as
 * text, bytes as hex, arrays/kvlists as compact JSON. */
int series_value_text(const struct anyvalue *v, struct buf *out);

/* Appends v as a JSON value (strings quoted and escaped, bytes as a hex
 * string, empty as null). */
int series_value_json(const struct anyvalue *v, struct buf *out);

#endif
