/*
 * pm_rules.c: compiling the profilemetrics rules (see pm_rules.h); their
 * evaluation is pm_eval.c.
 *
 * A rule applies to a profile when its selector matches the item's series
 * attributes (with `__name__` derived from the sample types when the item
 * has none, as the filter processor does) and the profile has the rule's
 * sample type. Its value is the sum of that type over the samples, or over
 * the samples whose stack has a frame whose function name the regex finds;
 * nanoseconds, microseconds and milliseconds become seconds. Labels the
 * series attributes lack are looked up per sample (pprof labels such as
 * span_name); a sample without them gets the value "".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "component/series.h"
#include "exporters/profilemetrics/pm_rules_int.h"

#define PM_MATCH_LIMIT 1000000
#define PM_DEPTH_LIMIT 10000

static int name_char(char c, int first, int colon)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

void pm_metric_name(const char *in, char *out, size_t outlen)
{
    size_t i, o = 0;

    while (in[0] == '_' && in[1] == '_') {
        in += 2;
    }
    if (in[0] >= '0' && in[0] <= '9' && outlen > 1) {
        out[o++] = '_';
    }
    for (i = 0; in[i] != '\0' && o + 1 < outlen; i++) {
        int ok = name_char(in[i], o == 0, 1);
        out[o++] = ok ? in[i] : '_';
    }
    if (o == 0 && outlen > 1) {
        out[o++] = '_';
    }
    out[o] = '\0';
}

void pm_label_name(const char *in, size_t len, char *out, size_t outlen)
{
    while (len > 2 && in[0] == '_' && in[1] == '_') {
        in += 2;
        len -= 2;
    }
    series_label_name(in, len, out, outlen);
    if (out[0] == '_' && out[1] == '_') {
        memmove(out, out + 1, strlen(out));
    }
}

static int compile_regex(struct pm_rule *r, const char *pat, const char *name,
                         struct errctx *e)
{
    PCRE2_UCHAR msg[128];
    PCRE2_SIZE off;
    int code;

    r->fn_re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                             PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code, &off,
                             NULL);
    if (r->fn_re == NULL) {
        pcre2_get_error_message(code, msg, sizeof(msg));
        return err_set(e, PC_ECONFIG,
                       "rule %s: function: invalid regex at %zu: %s", name,
                       (size_t)off, (const char *)msg);
    }
    return PC_OK;
}

/* One rule and its family. */
static int rule_init(struct pm_rule *r, struct pm_family *f,
                     const struct pm_rule_cfg *c, struct errctx *e)
{
    const char *sel = c->selector != NULL ? c->selector : "";
    uint32_t i, j;
    int rc;

    pm_metric_name(c->name != NULL ? c->name : "", f->name, sizeof(f->name));
    f->help = "Sum of a sample type over matching profiles (profilemetrics "
              "rule).";
    if (c->group_by.n > PM_LABELS_MAX) {
        return err_set(e, PC_ECONFIG, "rule %s: more than %d group_by labels",
                       f->name, PM_LABELS_MAX);
    }
    rc = matcher_parse(sel, strlen(sel), &r->sel, e);
    if (rc != PC_OK) {
        return err_set(e, rc, "rule %s: selector: %s", f->name,
                       err_msg(e, rc));
    }
    if (c->function != NULL && c->function[0] != '\0' &&
        compile_regex(r, c->function, f->name, e) != PC_OK) {
        return PC_ECONFIG;
    }
    r->sample_type = c->sample_type;
    r->ngroup = f->nlabels = c->group_by.n;
    for (i = 0; i < c->group_by.n; i++) {
        r->group_keys[i] = c->group_by.items[i];
        pm_label_name(r->group_keys[i], strlen(r->group_keys[i]), f->labels[i],
                      sizeof(f->labels[i]));
        for (j = 0; j < i; j++) {
            if (strcmp(f->labels[i], f->labels[j]) == 0) {
                return err_set(e, PC_ECONFIG,
                               "rule %s: group_by %s and %s are both "
                               "label %s",
                               f->name, r->group_keys[j], r->group_keys[i],
                               f->labels[i]);
            }
        }
    }
    pm_family_sort(f);
    return PC_OK;
}

static void profiles_family(struct pm_family *f)
{
    snprintf(f->name, sizeof(f->name), "%s", PM_PROFILES_METRIC);
    f->help = "Profiles seen by the profilemetrics exporter.";
    f->nlabels = 2;
    snprintf(f->labels[0], sizeof(f->labels[0]), "service_name");
    snprintf(f->labels[1], sizeof(f->labels[1]), "profile_type");
    pm_family_sort(f);
}

static int rules_setup(struct pm_rules *r, const struct pm_rule_cfg *cfgs,
                       uint32_t n, uint32_t max_series, struct errctx *e)
{
    struct pm_family *fams = calloc(n + 1, sizeof(*fams));
    uint32_t i, j;
    int rc = PC_OK;

    if (fams == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    for (i = 0; i < n && rc == PC_OK; i++) {
        rc = rule_init(&r->rules[i], &fams[i], &cfgs[i], e);
        for (j = 0; j < i && rc == PC_OK; j++) {
            if (strcmp(fams[i].name, fams[j].name) == 0) {
                rc = err_set(e, PC_ECONFIG, "two rules named %s",
                             fams[i].name);
            }
        }
    }
    profiles_family(&fams[n]);
    if (rc == PC_OK &&
        pm_store_new(fams, n + 1, max_series, &r->store) != PC_OK) {
        rc = err_set(e, PC_ENOMEM, "out of memory");
    }
    free(fams);
    return rc;
}

int pm_rules_new(const struct pm_rule_cfg *cfgs, uint32_t n,
                 uint32_t max_series, struct pm_rules **out, struct errctx *e)
{
    struct pm_rules *r = calloc(1, sizeof(*r));
    int rc;

    if (r == NULL || (r->rules = calloc(n + 1, sizeof(*r->rules))) == NULL ||
        (r->mctx = pcre2_match_context_create(NULL)) == NULL) {
        pm_rules_free(r);
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    r->n = n;
    pcre2_set_match_limit(r->mctx, PM_MATCH_LIMIT);
    pcre2_set_depth_limit(r->mctx, PM_DEPTH_LIMIT);
    rc = rules_setup(r, cfgs, n, max_series, e);
    if (rc != PC_OK) {
        pm_rules_free(r);
        return rc;
    }
    *out = r;
    return PC_OK;
}

void pm_rules_free(struct pm_rules *r)
{
    uint32_t i;

    if (r == NULL) {
        return;
    }
    for (i = 0; r->rules != NULL && i < r->n; i++) {
        matcher_free(r->rules[i].sel);
        pcre2_code_free(r->rules[i].fn_re);
    }
    free(r->rules);
    pcre2_match_context_free(r->mctx);
    pm_store_free(r->store);
    free(r);
}

struct pm_store *pm_rules_store(struct pm_rules *r)
{
    return r->store;
}
