/*
 * pyroscope_labels.h: the label set a Pyroscope series gets from an item
 * (internal to the pyroscope exporter; public for its unit tests).
 *
 *   __name__      the item's __name__ attribute, else the profile name
 *                 derived from the sample types (series_profile_name)
 *   service_name  service.name, else service_name, else unknown_service
 *   __delta__     "false" when the profile already is a delta
 *   every other attribute, its name made label-safe (dots -> '_'); names
 *   starting with "__" are dropped; the first of two equal names wins
 *   external_labels last, replacing labels of the same name
 *
 * The set is sorted by name, as Pyroscope stores it.
 */
#ifndef PROFCOL_PYROSCOPE_LABELS_H
#define PROFCOL_PYROSCOPE_LABELS_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "component/batch.h"
#include "config/cfg.h"

struct pyro_label {
    size_t name, value; /* offsets of NUL-terminated text in `text` */
    uint32_t value_len;
};

struct pyro_labels {
    struct buf text;
    struct pyro_label *v;
    uint32_t n, cap;
};

void pyro_labels_init(struct pyro_labels *l);
void pyro_labels_free(struct pyro_labels *l);
void pyro_labels_reset(struct pyro_labels *l);

static inline const char *pyro_label_name(const struct pyro_labels *l,
                                          uint32_t i)
{
    return (const char *)l->text.data + l->v[i].name;
}

static inline const char *pyro_label_value(const struct pyro_labels *l,
                                           uint32_t i)
{
    return (const char *)l->text.data + l->v[i].value;
}

/* Value of label `name`, or NULL. */
const char *pyro_labels_get(const struct pyro_labels *l, const char *name);

/*
 * Builds the labels of item `it` into l (reset first). profile_name is the
 * name derived from the payload, used when the item has no __name__
 * attribute; is_delta tells the payload already is a delta (duration set).
 * external may be NULL. PC_OK or PC_ENOMEM.
 */
int pyro_labels_build(const struct item *it, const char *profile_name,
                      int is_delta, const struct cfg_map *external,
                      struct pyro_labels *l);

/*
 * Items grouped by tenant: order[] gets the indices of b's items, those of
 * the first tenant seen first, keeping the batch order inside a group;
 * group_end[g] is one past the last position of group g; returns the number
 * of groups. A non-empty static_tenant puts everything in one group.
 * order and group_end need b->nitems entries. Item tenants are compared as
 * bytes.
 */
uint32_t pyro_group_by_tenant(const struct batch *b, const char *static_tenant,
                              uint32_t *order, uint32_t *group_end);

/* What the exporter needs of a pprof it forwards untouched, read without
 * decoding it into the model (pyroscope_pprof.c). */
struct pyro_peek {
    size_t plain_len; /* uncompressed size */
    uint64_t nsamples;
    int64_t time_nanos, duration_nanos, period;
    char name[64]; /* series_profile_name() of its types */
    char period_type[32];
};

/*
 * Reads data (a gzip or plain pprof): PC_OK, PC_ETOOBIG when it
 * decompresses past max_plain bytes (pk->plain_len is then max_plain + 1),
 * or PC_ECORRUPT / PC_ETRUNC.
 */
int pyro_pprof_peek(const uint8_t *data, size_t len, size_t max_plain,
                    struct pyro_peek *pk);

#endif
