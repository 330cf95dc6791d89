/*
 * pm_rules.h: the rules of the profilemetrics exporter: which profiles
 * (selector), which value (sample type), which stacks (function regex) and
 * which groups (group_by) make a counter, evaluated into a pm_store.
 */
#ifndef PROFCOL_PM_RULES_H
#define PROFCOL_PM_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "component/batch.h"
#include "config/cfg.h"
#include "exporters/profilemetrics/pm_store.h"

/* The metric of every profile seen, one series per service and type. */
#define PM_PROFILES_METRIC "profilemetrics_profiles_total"

struct pm_rule_cfg {
    char *name;
    char *selector;
    char *sample_type;
    char *function; /* "" = every stack */
    struct cfg_strlist group_by;
};

struct pm_rules;

/* Compiles n rules into a store bounded by max_series; e names the rule
 * and what is wrong. */
int pm_rules_new(const struct pm_rule_cfg *cfgs, uint32_t n,
                 uint32_t max_series, struct pm_rules **out, struct errctx *e);
void pm_rules_free(struct pm_rules *r);

struct pm_store *pm_rules_store(struct pm_rules *r);

/* Adds what every profile of the item contributes to every rule (any
 * thread). PC_OK, or the decode error (e says what). Series refused for
 * max_series are counted in the store, not an error. */
int pm_rules_eval_item(struct pm_rules *r, struct batch *b, struct item *it,
                       struct errctx *e);

/* A valid metric name of in ([a-zA-Z_:][a-zA-Z0-9_:]*, no leading "__"),
 * and a valid label name (series_label_name without leading "__"). */
void pm_metric_name(const char *in, char *out, size_t outlen);
void pm_label_name(const char *in, size_t len, char *out, size_t outlen);

#endif
