/*
 * pm_rules_int.h: the compiled rules, shared by their compilation
 * (pm_rules.c) and their evaluation (pm_eval.c).
 */
#ifndef PROFCOL_PM_RULES_INT_H
#define PROFCOL_PM_RULES_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdint.h>

#include "component/matcher.h"
#include "exporters/profilemetrics/pm_rules.h"

struct pm_rule {
    struct matcher_set *sel;
    const char *sample_type; /* borrowed from the config */
    pcre2_code *fn_re;       /* NULL: every stack */
    uint32_t ngroup;
    const char *group_keys[PM_LABELS_MAX]; /* as configured */
};

struct pm_rules {
    struct pm_rule *rules;
    uint32_t n;
    pcre2_match_context *mctx;
    struct pm_store *store;
};

#endif
