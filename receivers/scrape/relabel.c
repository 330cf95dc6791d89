/*
 * relabel.c: label sets and Prometheus relabeling (see relabel.h).
 *
 * Regexes are PCRE2, compiled as `\A(?:re)\z` with PCRE2_DOTALL so they
 * behave as Prometheus's `^(?s:re)$` (PCRE2's `$` would also match before
 * a final newline, `\z` does not), with match and depth limits so that a
 * pathological pattern cannot stall the event loop.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <inttypes.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "core/buf.h"
#include "net/ssl_api.h"
#include "receivers/scrape/relabel.h"

#define RELABEL_MATCH_LIMIT 1000000
#define RELABEL_DEPTH_LIMIT 10000

struct relabel_rule {
    const struct relabel_cfg *cfg;
    pcre2_code *re;
    pcre2_match_data *md;
};

static const char *const relabel_actions[] = {"replace",   "keep",
                                              "drop",      "hashmod",
                                              "labelmap",  "labeldrop",
                                              "labelkeep", "lowercase",
                                              "uppercase", "keepequal",
                                              "dropequal", NULL};

/* clang-format off */
const struct cfg_entry relabel_cfg_table[] = {
    {.key = "source_labels", .type = CFG_STRLIST,
     .offset = offsetof(struct relabel_cfg, source_labels),
     .doc = "labels whose values are joined with separator and matched"},
    {.key = "separator", .type = CFG_STRING, .def = ";",
     .offset = offsetof(struct relabel_cfg, separator),
     .doc = "joins the source label values"},
    {.key = "regex", .type = CFG_STRING, .def = "(.*)",
     .offset = offsetof(struct relabel_cfg, regex),
     .doc = "anchored regular expression (PCRE2)"},
    {.key = "target_label", .type = CFG_STRING,
     .offset = offsetof(struct relabel_cfg, target_label),
     .doc = "label written by replace, hashmod, lowercase, uppercase"},
    {.key = "replacement", .type = CFG_STRING, .def = "$1",
     .offset = offsetof(struct relabel_cfg, replacement),
     .doc = "value written on a match; $1, ${1}, $name expand"},
    {.key = "modulus", .type = CFG_INT, .def = "0", .min = 0,
     .max = INT64_MAX, .offset = offsetof(struct relabel_cfg, modulus),
     .doc = "hashmod: modulus of the hash"},
    {.key = "action", .type = CFG_ENUM, .def = "replace",
     .enum_values = relabel_actions,
     .offset = offsetof(struct relabel_cfg, action),
     .doc = "replace, keep, drop, hashmod, labelmap, labeldrop, labelkeep, "
            "lowercase, uppercase, keepequal, dropequal"},
    {.key = NULL},
};
/* clang-format on */

/* ---- label sets -------------------------------------------------------- */

void labels_init(struct labelset *ls)
{
    memset(ls, 0, sizeof(*ls));
}

void labels_free(struct labelset *ls)
{
    uint32_t i;

    for (i = 0; i < ls->n; i++) {
        free(ls->v[i].name);
        free(ls->v[i].value);
    }
    free(ls->v);
    labels_init(ls);
}

int labels_copy(struct labelset *dst, const struct labelset *src)
{
    uint32_t i;
    int rc = PC_OK;

    labels_init(dst);
    for (i = 0; i < src->n && rc == PC_OK; i++) {
        rc = labels_set(dst, src->v[i].name, src->v[i].value);
    }
    if (rc != PC_OK) {
        labels_free(dst);
    }
    return rc;
}

/* Position of name, or where it would be inserted (*found = 0). */
static uint32_t labels_find(const struct labelset *ls, const char *name,
                            int *found)
{
    uint32_t lo = 0, hi = ls->n;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        int c = strcmp(ls->v[mid].name, name);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    *found = 0;
    return lo;
}

const char *labels_get(const struct labelset *ls, const char *name)
{
    int found;
    uint32_t i = labels_find(ls, name, &found);

    return found ? ls->v[i].value : NULL;
}

static char *dupn(const char *s, size_t n)
{
    char *c = malloc(n + 1);

    if (c != NULL) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

static int labels_insert(struct labelset *ls, uint32_t at, const char *name,
                         char *value)
{
    char *n;

    if (ls->n >= LABELS_MAX || strlen(name) > LABEL_VALUE_MAX) {
        free(value);
        return PC_ETOOBIG;
    }
    if (ls->n == ls->cap) {
        uint32_t ncap = ls->cap ? ls->cap * 2 : 8;
        struct label *nv = realloc(ls->v, ncap * sizeof(*nv));
        if (nv == NULL) {
            free(value);
            return PC_ENOMEM;
        }
        ls->v = nv;
        ls->cap = ncap;
    }
    n = strdup(name);
    if (n == NULL) {
        free(value);
        return PC_ENOMEM;
    }
    memmove(&ls->v[at + 1], &ls->v[at], (ls->n - at) * sizeof(ls->v[0]));
    ls->v[at].name = n;
    ls->v[at].value = value;
    ls->n++;
    return PC_OK;
}

int labels_set_n(struct labelset *ls, const char *name, const char *value,
                 size_t vlen)
{
    int found;
    uint32_t i;
    char *v;

    if (vlen > LABEL_VALUE_MAX) {
        return PC_ETOOBIG;
    }
    v = dupn(value, vlen);
    if (v == NULL) {
        return PC_ENOMEM;
    }
    i = labels_find(ls, name, &found);
    if (found) {
        free(ls->v[i].value);
        ls->v[i].value = v;
        return PC_OK;
    }
    return labels_insert(ls, i, name, v);
}

int labels_set(struct labelset *ls, const char *name, const char *value)
{
    return labels_set_n(ls, name, value, strlen(value));
}

void labels_del(struct labelset *ls, const char *name)
{
    int found;
    uint32_t i = labels_find(ls, name, &found);

    if (!found) {
        return;
    }
    free(ls->v[i].name);
    free(ls->v[i].value);
    memmove(&ls->v[i], &ls->v[i + 1], (ls->n - i - 1) * sizeof(ls->v[0]));
    ls->n--;
}

uint64_t labels_hash(const struct labelset *ls)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL;
    uint32_t i;

    /* Names and values hashed with their terminating NULs, so that
     * {a="bc"} and {ab="c"} differ. */
    for (i = 0; i < ls->n; i++) {
        h = XXH3_64bits_withSeed(ls->v[i].name, strlen(ls->v[i].name) + 1, h);
        h = XXH3_64bits_withSeed(ls->v[i].value, strlen(ls->v[i].value) + 1,
                                 h);
    }
    return h;
}

int labels_equal(const struct labelset *a, const struct labelset *b)
{
    uint32_t i;

    if (a->n != b->n) {
        return 0;
    }
    for (i = 0; i < a->n; i++) {
        if (strcmp(a->v[i].name, b->v[i].name) != 0 ||
            strcmp(a->v[i].value, b->v[i].value) != 0) {
            return 0;
        }
    }
    return 1;
}

void labels_format(const struct labelset *ls, char *out, size_t len)
{
    size_t off = 0;
    uint32_t i;

    if (len == 0) {
        return;
    }
    off += (size_t)snprintf(out, len, "{");
    for (i = 0; i < ls->n && off < len; i++) {
        off += (size_t)snprintf(out + off, len - off, "%s%s=\"%s\"",
                                i ? ", " : "", ls->v[i].name, ls->v[i].value);
    }
    if (off < len) {
        snprintf(out + off, len - off, "}");
    }
}

int label_name_valid(const char *s)
{
    size_t i;

    if (s == NULL || s[0] == '\0' || isdigit((unsigned char)s[0])) {
        return 0;
    }
    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '_') || c >= 0x80) {
            return 0;
        }
    }
    return 1;
}

/* ---- expansion ----------------------------------------------------------- */

static int is_word(unsigned char c)
{
    return isalnum(c) || c == '_';
}

/* Go's regexp extract(): a group reference after '$'. Returns the length
 * consumed (0 = malformed), the name (start, len) and its number (-1 for a
 * name that is not a plain non-negative number without leading zeros). */
static size_t expand_ref(const char *t, const char **name, size_t *nlen,
                         long *num)
{
    size_t i = 0, brace = 0;

    if (t[0] == '{') {
        brace = 1;
    }
    while (is_word((unsigned char)t[brace + i])) {
        i++;
    }
    if (i == 0) {
        return 0;
    }
    if (brace && t[1 + i] != '}') {
        return 0;
    }
    *name = t + brace;
    *nlen = i;
    *num = 0;
    for (size_t k = 0; k < i; k++) {
        char c = (*name)[k];
        if (c < '0' || c > '9' || *num >= 100000000L) {
            *num = -1;
            break;
        }
        *num = *num * 10 + (c - '0');
    }
    if ((*name)[0] == '0' && i > 1) {
        *num = -1;
    }
    return brace + i + brace;
}

/* Appends group g of the last match, nothing when it did not take part. */
static int append_group(struct buf *out, const char *subj, PCRE2_SIZE *ov,
                        int nmatch, long g)
{
    if (g < 0 || g >= nmatch || ov[2 * g] == PCRE2_UNSET) {
        return PC_OK;
    }
    return buf_append(out, subj + ov[2 * g], ov[2 * g + 1] - ov[2 * g]);
}

static int expand(const pcre2_code *re, const char *tmpl, const char *subj,
                  PCRE2_SIZE *ov, int nmatch, struct buf *out)
{
    const char *p = tmpl;
    int rc = PC_OK;

    while (*p != '\0' && rc == PC_OK) {
        const char *name;
        size_t nlen, used;
        long num;

        if (*p != '$') {
            rc = buf_putc(out, (uint8_t)*p++);
            continue;
        }
        p++;
        if (*p == '$') {
            rc = buf_putc(out, '$');
            p++;
            continue;
        }
        used = expand_ref(p, &name, &nlen, &num);
        if (used == 0) {
            rc = buf_putc(out, '$'); /* malformed: '$' stays as text */
            continue;
        }
        p += used;
        if (num < 0) {
            char nm[256];
            snprintf(nm, sizeof(nm), "%.*s", (int)nlen, name);
            num = pcre2_substring_number_from_name(re, (PCRE2_SPTR)nm);
        }
        rc = append_group(out, subj, ov, nmatch, num);
    }
    return rc == PC_OK ? buf_putc(out, '\0') : rc;
}

/* ---- rules ---------------------------------------------------------------- */

/* 1 on a match (ovector in r->md), 0 on none or on hitting a limit. */
static int rule_match(const struct relabel_rule *r, const char *s, int *nmatch)
{
    static pcre2_match_context *mctx;
    int rc;

    /* One shared context holding only the limits; created once, read-only
     * afterwards. Rules are applied on one thread (the main loop). */
    if (mctx == NULL) {
        mctx = pcre2_match_context_create(NULL);
        if (mctx != NULL) {
            pcre2_set_match_limit(mctx, RELABEL_MATCH_LIMIT);
            pcre2_set_depth_limit(mctx, RELABEL_DEPTH_LIMIT);
        }
    }
    rc = pcre2_match(r->re, (PCRE2_SPTR)s, strlen(s), 0, 0, r->md, mctx);
    if (rc <= 0) {
        return 0;
    }
    *nmatch = rc;
    return 1;
}

static int default_fields(const struct relabel_cfg *c)
{
    return c->source_labels.n == 0 &&
           (c->target_label == NULL || c->target_label[0] == '\0') &&
           c->modulus == 0 && strcmp(c->separator, ";") == 0 &&
           strcmp(c->replacement, "$1") == 0;
}

/* Prometheus: target_label may use $1/${name} only with replace. */
static int target_template_valid(const char *t)
{
    for (; *t != '\0'; t++) {
        if (!is_word((unsigned char)*t) && *t != '$' && *t != '{' &&
            *t != '}') {
            return 0;
        }
    }
    return 1;
}

static int rule_check(const struct relabel_cfg *c, struct errctx *e)
{
    const char *act = relabel_actions[c->action];
    int needs_target = c->action == RELABEL_REPLACE ||
                       c->action == RELABEL_HASHMOD ||
                       c->action == RELABEL_LOWERCASE ||
                       c->action == RELABEL_UPPERCASE ||
                       c->action == RELABEL_KEEPEQUAL ||
                       c->action == RELABEL_DROPEQUAL;
    const char *t = c->target_label != NULL ? c->target_label : "";

    if (needs_target && t[0] == '\0') {
        return err_set(e, PC_ECONFIG, "%s action requires 'target_label'",
                       act);
    }
    if (c->action == RELABEL_REPLACE && !target_template_valid(t)) {
        return err_set(e, PC_ECONFIG, "'%s' is not a valid target_label", t);
    }
    if (needs_target && c->action != RELABEL_REPLACE && !label_name_valid(t)) {
        return err_set(e, PC_ECONFIG, "'%s' is not a valid label name", t);
    }
    if (c->action == RELABEL_HASHMOD && c->modulus == 0) {
        return err_set(e, PC_ECONFIG,
                       "hashmod action requires a non-zero "
                       "'modulus'");
    }
    if ((c->action == RELABEL_LABELDROP || c->action == RELABEL_LABELKEEP) &&
        !default_fields(c)) {
        return err_set(e, PC_ECONFIG,
                       "%s action requires only 'regex', and "
                       "no other fields",
                       act);
    }
    if ((c->action == RELABEL_KEEPEQUAL || c->action == RELABEL_DROPEQUAL) &&
        (strcmp(c->regex, "(.*)") != 0 || c->modulus != 0 ||
         strcmp(c->separator, ";") != 0 ||
         strcmp(c->replacement, "$1") != 0)) {
        return err_set(e, PC_ECONFIG,
                       "%s action requires only "
                       "'source_labels' and 'target_label'",
                       act);
    }
    return PC_OK;
}

static int rule_compile(const struct relabel_cfg *c, struct relabel_rule *r,
                        struct errctx *e)
{
    struct buf pat;
    int errcode, rc;
    PCRE2_SIZE erroff;
    PCRE2_UCHAR msg[160];

    rc = rule_check(c, e);
    if (rc != PC_OK) {
        return rc;
    }
    buf_init(&pat, LABEL_VALUE_MAX * 4);
    rc = buf_printf(&pat, "\\A(?:%s)\\z", c->regex);
    if (rc != PC_OK) {
        buf_free(&pat);
        return err_set(e, PC_ECONFIG, "regex too long");
    }
    r->cfg = c;
    r->re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len,
                          PCRE2_DOTALL | PCRE2_UTF | PCRE2_MATCH_INVALID_UTF,
                          &errcode, &erroff, NULL);
    buf_free(&pat);
    if (r->re == NULL) {
        pcre2_get_error_message(errcode, msg, sizeof(msg));
        return err_set(e, PC_ECONFIG, "invalid regex '%.100s': %s", c->regex,
                       (const char *)msg);
    }
    r->md = pcre2_match_data_create_from_pattern(r->re, NULL);
    if (r->md == NULL) {
        return PC_ENOMEM;
    }
    return PC_OK;
}

int relabel_compile(const struct relabel_cfg *cfg, uint32_t n,
                    struct relabel_rules *out, struct errctx *e)
{
    uint32_t i;
    int rc;

    out->n = 0;
    out->r = calloc(n ? n : 1, sizeof(*out->r));
    if (out->r == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        rc = rule_compile(&cfg[i], &out->r[i], e);
        out->n = i + 1;
        if (rc != PC_OK) {
            char m[sizeof(e->msg)];
            snprintf(m, sizeof(m), "%s", err_msg(e, rc));
            err_set(e, rc, "relabel_configs[%u]: %s", i, m);
            relabel_free(out);
            return rc;
        }
    }
    return PC_OK;
}

void relabel_free(struct relabel_rules *rules)
{
    uint32_t i;

    for (i = 0; i < rules->n; i++) {
        pcre2_match_data_free(rules->r[i].md);
        pcre2_code_free(rules->r[i].re);
    }
    free(rules->r);
    rules->r = NULL;
    rules->n = 0;
}

uint64_t relabel_hashmod(const char *value, size_t len, uint64_t modulus)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    uint64_t v = 0;
    int i;

    if (modulus == 0 || ssl_api_load(NULL) != PC_OK ||
        EVP_Digest(value, len, md, &mdlen, EVP_md5(), NULL) != 1 ||
        mdlen != 16) {
        return 0;
    }
    for (i = 8; i < 16; i++) {
        v = (v << 8) | md[i];
    }
    return v % modulus;
}

/* Joins the source label values (absent labels are ""). */
static int join_sources(const struct relabel_cfg *c, const struct labelset *ls,
                        struct buf *out)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < c->source_labels.n && rc == PC_OK; i++) {
        const char *v = labels_get(ls, c->source_labels.items[i]);
        if (i > 0) {
            rc = buf_append_str(out, c->separator);
        }
        if (rc == PC_OK && v != NULL) {
            rc = buf_append_str(out, v);
        }
    }
    return rc == PC_OK ? buf_putc(out, '\0') : rc;
}

/* Sets name=value; an empty value deletes (as Prometheus's builder). */
static int set_or_del(struct labelset *ls, const char *name, const char *value)
{
    if (value[0] == '\0') {
        labels_del(ls, name);
        return PC_OK;
    }
    return labels_set(ls, name, value);
}

static int do_replace(const struct relabel_rule *r, struct labelset *ls,
                      const char *val)
{
    struct buf tgt, res;
    int nm, rc;

    if (!rule_match(r, val, &nm)) {
        return PC_OK;
    }
    buf_init(&tgt, LABEL_VALUE_MAX + 1);
    buf_init(&res, LABEL_VALUE_MAX + 1);
    rc = expand(r->re, r->cfg->target_label, val,
                pcre2_get_ovector_pointer(r->md), nm, &tgt);
    if (rc == PC_OK) {
        rc = expand(r->re, r->cfg->replacement, val,
                    pcre2_get_ovector_pointer(r->md), nm, &res);
    }
    if (rc == PC_OK && label_name_valid((const char *)tgt.data)) {
        rc = set_or_del(ls, (const char *)tgt.data, (const char *)res.data);
    }
    buf_free(&tgt);
    buf_free(&res);
    return rc;
}

static int do_case(const struct relabel_rule *r, struct labelset *ls,
                   char *val, int upper)
{
    char *p;

    for (p = val; *p != '\0'; p++) {
        *p = (char)(upper ? toupper((unsigned char)*p)
                          : tolower((unsigned char)*p));
    }
    return set_or_del(ls, r->cfg->target_label, val);
}

/* labelmap / labeldrop / labelkeep work on a snapshot of the names, so
 * labels a rule adds are not visited by the same rule. */
static int do_names(const struct relabel_rule *r, struct labelset *ls)
{
    struct labelset snap;
    uint32_t i;
    int nm, rc = labels_copy(&snap, ls);

    for (i = 0; i < snap.n && rc == PC_OK; i++) {
        const char *name = snap.v[i].name;
        int m = rule_match(r, name, &nm);
        if (r->cfg->action == RELABEL_LABELDROP && m) {
            labels_del(ls, name);
        } else if (r->cfg->action == RELABEL_LABELKEEP && !m) {
            labels_del(ls, name);
        } else if (r->cfg->action == RELABEL_LABELMAP && m) {
            struct buf res;
            buf_init(&res, LABEL_VALUE_MAX + 1);
            rc = expand(r->re, r->cfg->replacement, name,
                        pcre2_get_ovector_pointer(r->md), nm, &res);
            if (rc == PC_OK && res.data[0] != '\0') {
                rc = set_or_del(ls, (const char *)res.data, snap.v[i].value);
            }
            buf_free(&res);
        }
    }
    labels_free(&snap);
    return rc;
}

/* 1 keep, 0 drop, <0 error. */
static int rule_apply(const struct relabel_rule *r, struct labelset *ls,
                      char *val)
{
    const struct relabel_cfg *c = r->cfg;
    const char *tv;
    char num[32];
    int nm;

    switch (c->action) {
    case RELABEL_DROP:
        return rule_match(r, val, &nm) ? 0 : 1;
    case RELABEL_KEEP:
        return rule_match(r, val, &nm) ? 1 : 0;
    case RELABEL_DROPEQUAL:
        tv = labels_get(ls, c->target_label);
        return strcmp(tv != NULL ? tv : "", val) == 0 ? 0 : 1;
    case RELABEL_KEEPEQUAL:
        tv = labels_get(ls, c->target_label);
        return strcmp(tv != NULL ? tv : "", val) == 0 ? 1 : 0;
    case RELABEL_REPLACE:
        return do_replace(r, ls, val) == PC_OK ? 1 : PC_ETOOBIG;
    case RELABEL_LOWERCASE:
    case RELABEL_UPPERCASE:
        return do_case(r, ls, val, c->action == RELABEL_UPPERCASE) == PC_OK
                   ? 1
                   : PC_ETOOBIG;
    case RELABEL_HASHMOD:
        snprintf(num, sizeof(num), "%" PRIu64,
                 relabel_hashmod(val, strlen(val), (uint64_t)c->modulus));
        return labels_set(ls, c->target_label, num) == PC_OK ? 1 : PC_ETOOBIG;
    default:
        return do_names(r, ls) == PC_OK ? 1 : PC_ETOOBIG;
    }
}

int relabel_apply(const struct relabel_rules *rules, struct labelset *ls)
{
    uint32_t i;
    int rc = 1;

    for (i = 0; i < rules->n && rc == 1; i++) {
        struct buf val;
        buf_init(&val, (size_t)LABEL_VALUE_MAX * 8);
        rc = join_sources(rules->r[i].cfg, ls, &val);
        if (rc == PC_OK) {
            rc = rule_apply(&rules->r[i], ls, (char *)val.data);
        }
        buf_free(&val);
    }
    return rc;
}
