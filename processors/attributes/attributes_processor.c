/*
 * attributes_processor.c: the `attributes` processor. Changes series
 * attributes (an item's identity: service.name, env, k8s.pod.name, ...)
 * and never decodes a payload, so a pprof that only gets new labels is
 * still forwarded as its original bytes.
 *
 * Per item, first the detectors' attributes are added (inserted, or
 * upserted with `override: true`), then the actions run in order:
 * insert / update / upsert (value, from_attribute or from_env, optionally
 * converted), delete and hash (one key, or every key matching `pattern`),
 * rename (from_attribute -> key), extract (PCRE2 named groups of `pattern`
 * applied to key's value become attributes). Detector values and from_env
 * values are read once, when the processor is created.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/hex.h"
#include "component/component.h"
#include "telemetry/log.h"
#include "component/series.h"
#include "net/ssl_api.h"

enum attr_action {
    ACT_INSERT,
    ACT_UPDATE,
    ACT_UPSERT,
    ACT_DELETE,
    ACT_RENAME,
    ACT_HASH,
    ACT_EXTRACT,
};

static const char *const action_names[] = {
    "insert", "update", "upsert", "delete", "rename", "hash", "extract", NULL,
};

enum conv_type {
    CONV_NONE,
    CONV_STRING,
    CONV_INT,
    CONV_DOUBLE,
    CONV_BOOL,
};

static const char *const conv_names[] = {
    "", "string", "int", "double", "bool", NULL,
};

static const char *const detector_names[] = {
    "env",
    "host",
    "kubernetes",
    NULL,
};

struct attr_action_cfg {
    char *key;
    int action;
    char *value;
    char *from_attribute;
    char *from_env;
    char *pattern;
    int converted_type;
};

struct attributes_cfg {
    struct cfg_list actions;
    struct cfg_strlist detectors;
    int override;
};

/* clang-format off */
static const struct cfg_entry action_table[] = {
    {.key = "key", .type = CFG_STRING,
     .offset = offsetof(struct attr_action_cfg, key),
     .doc = "attribute the action works on (the target of rename)"},
    {.key = "action", .type = CFG_ENUM, .required = 1,
     .enum_values = action_names,
     .offset = offsetof(struct attr_action_cfg, action),
     .doc = "insert, update, upsert, delete, rename, hash or extract"},
    {.key = "value", .type = CFG_STRING,
     .offset = offsetof(struct attr_action_cfg, value),
     .doc = "literal value (insert/update/upsert)"},
    {.key = "from_attribute", .type = CFG_STRING,
     .offset = offsetof(struct attr_action_cfg, from_attribute),
     .doc = "take the value of this attribute (insert/update/upsert; the source of rename)"},
    {.key = "from_env", .type = CFG_STRING,
     .offset = offsetof(struct attr_action_cfg, from_env),
     .doc = "take the value of this environment variable, read at start"},
    {.key = "pattern", .type = CFG_STRING,
     .offset = offsetof(struct attr_action_cfg, pattern),
     .doc = "PCRE2 regex: keys to delete/hash, or named groups to extract"},
    {.key = "converted_type", .type = CFG_ENUM, .def = "",
     .enum_values = conv_names,
     .offset = offsetof(struct attr_action_cfg, converted_type),
     .doc = "string, int, double or bool: type of the value set"},
    {.key = NULL},
};
/* clang-format on */

/* clang-format off */
static const struct cfg_entry attributes_table[] = {
    {.key = "actions", .type = CFG_SECTION_LIST, .sub = action_table,
     .sub_size = sizeof(struct attr_action_cfg),
     .offset = offsetof(struct attributes_cfg, actions),
     .doc = "actions applied in order to every item's attributes"},
    {.key = "detectors", .type = CFG_STRLIST,
     .offset = offsetof(struct attributes_cfg, detectors),
     .doc = "env, host, kubernetes: attributes detected at start"},
    {.key = "override", .type = CFG_BOOL, .def = "false",
     .offset = offsetof(struct attributes_cfg, override),
     .doc = "detected attributes replace existing ones"},
    {.key = NULL},
};
/* clang-format on */

/* A compiled action. */
struct act {
    const struct attr_action_cfg *cfg;
    struct anyvalue lit; /* value / from_env, converted */
    char *text;          /* owned text lit may point to */
    int has_lit;
    pcre2_code *re;
    uint32_t ngroups; /* extract: named groups */
    char **group_names;
    uint32_t *group_nums;
};

struct detected {
    char *key;
    char *value;
};

struct attributes_proc {
    const struct attributes_cfg *cfg;
    struct act *acts;
    uint32_t nacts;
    struct detected *det;
    uint32_t ndet;
};

/* ---- config checks ------------------------------------------------------ */

static int needs_key(int action)
{
    return action != ACT_DELETE && action != ACT_HASH;
}

static void validate_action(const struct attr_action_cfg *a, uint32_t i,
                            const struct ynode *node, struct cfg_diag *d)
{
    int nsrc = (a->value != NULL) + (a->from_attribute != NULL) +
               (a->from_env != NULL);

    if (a->key == NULL && (needs_key(a->action) || a->pattern == NULL)) {
        cfg_diag_error(d, node, "actions[%u]: %s needs `key`%s", i,
                       action_names[a->action],
                       needs_key(a->action) ? "" : " or `pattern`");
    }
    switch (a->action) {
    case ACT_INSERT:
    case ACT_UPDATE:
    case ACT_UPSERT:
        if (nsrc != 1) {
            cfg_diag_error(d, node,
                           "actions[%u]: %s needs exactly one of "
                           "`value`, `from_attribute`, `from_env`",
                           i, action_names[a->action]);
        }
        break;
    case ACT_RENAME:
        if (a->from_attribute == NULL) {
            cfg_diag_error(d, node,
                           "actions[%u]: rename needs "
                           "`from_attribute` (the old name) and `key` "
                           "(the new name)",
                           i);
        }
        break;
    case ACT_EXTRACT:
        if (a->pattern == NULL) {
            cfg_diag_error(d, node,
                           "actions[%u]: extract needs `pattern` "
                           "with named groups",
                           i);
        }
        break;
    default:
        break;
    }
}

static void attributes_validate(const void *cfgp, const struct ynode *node,
                                struct cfg_diag *d)
{
    const struct attributes_cfg *cfg = cfgp;
    uint32_t i, j;

    for (i = 0; i < cfg->actions.n; i++) {
        validate_action((const struct attr_action_cfg *)cfg->actions.items + i,
                        i, node, d);
    }
    for (i = 0; i < cfg->detectors.n; i++) {
        int ok = 0;
        for (j = 0; detector_names[j] != NULL; j++) {
            ok |= strcmp(cfg->detectors.items[i], detector_names[j]) == 0;
        }
        if (!ok) {
            cfg_diag_error(d, node,
                           "detectors: unknown detector \"%s\" "
                           "(known: env, host, kubernetes)",
                           cfg->detectors.items[i]);
        }
    }
}

/* ---- values ------------------------------------------------------------- */

/* Converts text to the configured type; a value that does not convert
 * stays a string (as the Collector's attributes processor does). */
static void convert_text(const char *s, size_t len, int type,
                         struct anyvalue *out, char *scratch, size_t cap)
{
    char *end;

    out->type = AV_STRING;
    out->u.s.ptr = s;
    out->u.s.len = (uint32_t)len;
    if (type == CONV_NONE || type == CONV_STRING || len == 0 || len >= cap) {
        return;
    }
    memcpy(scratch, s, len);
    scratch[len] = '\0';
    if (type == CONV_INT) {
        long long v = strtoll(scratch, &end, 10);
        if (*end == '\0') {
            out->type = AV_INT;
            out->u.i = v;
        }
    } else if (type == CONV_DOUBLE) {
        double v = strtod(scratch, &end);
        if (*end == '\0') {
            out->type = AV_DOUBLE;
            out->u.d = v;
        }
    } else if (type == CONV_BOOL) {
        if (strcmp(scratch, "true") == 0 || strcmp(scratch, "false") == 0) {
            out->type = AV_BOOL;
            out->u.b = scratch[0] == 't';
        }
    }
}

/* A value of another type converted as configured, into the batch arena. */
static int convert_value(struct batch *b, const struct anyvalue *in, int type,
                         struct anyvalue *out)
{
    struct buf t;
    char scratch[128];
    int rc;

    if (type == CONV_NONE) {
        *out = *in;
        return PC_OK;
    }
    buf_init(&t, 1 << 20);
    rc = series_value_text(in, &t);
    if (rc == PC_OK) {
        char *s = arena_strndup(&b->arena, t.len ? (char *)t.data : "", t.len);
        if (s == NULL) {
            rc = PC_ENOMEM;
        } else {
            convert_text(s, t.len, type, out, scratch, sizeof(scratch));
        }
    }
    buf_free(&t);
    return rc;
}

static int set_value(struct batch *b, struct item *it, const struct act *a)
{
    const struct anyvalue *src;
    struct anyvalue v;
    int rc;

    if (a->has_lit) {
        return item_set_attr(b, it, a->cfg->key, &a->lit);
    }
    src = item_attr(it, a->cfg->from_attribute);
    if (src == NULL) {
        return PC_OK;
    }
    rc = convert_value(b, src, a->cfg->converted_type, &v);
    return rc == PC_OK ? item_set_attr(b, it, a->cfg->key, &v) : rc;
}

/* ---- actions ------------------------------------------------------------ */

static int key_selected(const struct act *a, struct pstr key)
{
    pcre2_match_data *md;
    int hit;

    if (a->re == NULL) {
        return pstr_eq(key, a->cfg->key);
    }
    md = pcre2_match_data_create_from_pattern(a->re, NULL);
    if (md == NULL) {
        return 0;
    }
    hit = pcre2_match(a->re, (PCRE2_SPTR)key.ptr, key.len, 0, 0, md, NULL) >=
          0;
    pcre2_match_data_free(md);
    return hit;
}

static int do_delete(struct item *it, const struct act *a)
{
    uint32_t i = 0;

    while (i < it->nattrs) {
        if (key_selected(a, it->attrs[i].key)) {
            memmove(&it->attrs[i], &it->attrs[i + 1],
                    (it->nattrs - i - 1) * sizeof(*it->attrs));
            it->nattrs--;
        } else {
            i++;
        }
    }
    return PC_OK;
}

static int hash_value(struct batch *b, struct anyvalue *v)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    struct buf t;
    char *out;
    int rc;

    if (ssl_api_load(NULL) != PC_OK) {
        return PC_EUNSUPPORTED; /* libcrypto is missing */
    }
    buf_init(&t, 16u << 20);
    /* Strings (the common case) are hashed in place, without a copy. */
    if (v->type == AV_STRING) {
        rc = EVP_Digest(v->u.s.len ? (const void *)v->u.s.ptr : "", v->u.s.len,
                        md, &mdlen, EVP_sha256(), NULL)
                 ? PC_OK
                 : PC_EINVAL;
    } else if ((rc = series_value_text(v, &t)) == PC_OK &&
               !EVP_Digest(t.len ? t.data : (const uint8_t *)"", t.len, md,
                           &mdlen, EVP_sha256(), NULL)) {
        rc = PC_EINVAL;
    }
    buf_free(&t);
    if (rc != PC_OK) {
        return rc;
    }
    out = arena_alloc(&b->arena, (size_t)mdlen * 2);
    if (out == NULL) {
        return PC_ENOMEM;
    }
    hex_encode(md, mdlen, out);
    v->type = AV_STRING;
    v->u.s.ptr = out;
    v->u.s.len = mdlen * 2;
    return PC_OK;
}

static int do_hash(struct batch *b, struct item *it, const struct act *a)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < it->nattrs && rc == PC_OK; i++) {
        if (key_selected(a, it->attrs[i].key)) {
            rc = hash_value(b, &it->attrs[i].value);
        }
    }
    return rc;
}

static int do_rename(struct batch *b, struct item *it, const struct act *a)
{
    const struct anyvalue *src = item_attr(it, a->cfg->from_attribute);
    struct anyvalue v;
    int rc;

    if (src == NULL || strcmp(a->cfg->from_attribute, a->cfg->key) == 0) {
        return PC_OK;
    }
    v = *src; /* points into the arena, which outlives the delete */
    rc = item_set_attr(b, it, a->cfg->key, &v);
    if (rc == PC_OK) {
        item_del_attr(it, a->cfg->from_attribute);
    }
    return rc;
}

static int do_extract(struct batch *b, struct item *it, const struct act *a)
{
    const struct anyvalue *src = item_attr(it, a->cfg->key);
    pcre2_match_data *md;
    PCRE2_SIZE *ov;
    uint32_t g;
    int rc = PC_OK;
    struct pstr s;

    if (src == NULL || src->type != AV_STRING) {
        return PC_OK;
    }
    s = src->u.s;
    md = pcre2_match_data_create_from_pattern(a->re, NULL);
    if (md == NULL) {
        return PC_ENOMEM;
    }
    if (pcre2_match(a->re, (PCRE2_SPTR)s.ptr, s.len, 0, 0, md, NULL) >= 0) {
        ov = pcre2_get_ovector_pointer(md);
        for (g = 0; g < a->ngroups && rc == PC_OK; g++) {
            PCRE2_SIZE st = ov[2 * a->group_nums[g]];
            PCRE2_SIZE en = ov[2 * a->group_nums[g] + 1];
            if (st == PCRE2_UNSET || en < st) {
                continue;
            }
            rc = item_set_attr_str(b, it, a->group_names[g], s.ptr + st,
                                   en - st);
        }
    }
    pcre2_match_data_free(md);
    return rc;
}

static int run_action(struct batch *b, struct item *it, const struct act *a)
{
    int present;

    switch (a->cfg->action) {
    case ACT_INSERT:
    case ACT_UPDATE:
    case ACT_UPSERT:
        present = item_attr(it, a->cfg->key) != NULL;
        if ((a->cfg->action == ACT_INSERT && present) ||
            (a->cfg->action == ACT_UPDATE && !present)) {
            return PC_OK;
        }
        return set_value(b, it, a);
    case ACT_DELETE:
        return do_delete(it, a);
    case ACT_HASH:
        return do_hash(b, it, a);
    case ACT_RENAME:
        return do_rename(b, it, a);
    case ACT_EXTRACT:
        return do_extract(b, it, a);
    }
    return PC_OK;
}

static int attributes_process(void *ctx, struct batch *b, struct errctx *e)
{
    struct attributes_proc *ap = ctx;
    uint32_t i, j;
    int rc = PC_OK;

    for (i = 0; i < b->nitems && rc == PC_OK; i++) {
        struct item *it = &b->items[i];
        for (j = 0; j < ap->ndet && rc == PC_OK; j++) {
            if (ap->cfg->override || item_attr(it, ap->det[j].key) == NULL) {
                rc = item_set_attr_str(b, it, ap->det[j].key, ap->det[j].value,
                                       strlen(ap->det[j].value));
            }
        }
        for (j = 0; j < ap->nacts && rc == PC_OK; j++) {
            rc = run_action(b, it, &ap->acts[j]);
        }
    }
    if (rc != PC_OK) {
        /* Only memory can fail here: the client may retry later. */
        return err_set(e, PC_EBUSY, "attributes: %s", pc_strerror(rc));
    }
    return PC_OK;
}

/* ---- detectors ---------------------------------------------------------- */

static int det_add(struct attributes_proc *ap, const char *key,
                   const char *value, size_t vlen)
{
    struct detected *n;
    uint32_t i;

    for (i = 0; i < ap->ndet; i++) {
        if (strcmp(ap->det[i].key, key) == 0) {
            /* A later source of the same key wins (OTEL_SERVICE_NAME). */
            char *v = strndup(value, vlen);
            if (v == NULL) {
                return PC_ENOMEM;
            }
            free(ap->det[i].value);
            ap->det[i].value = v;
            return PC_OK;
        }
    }
    n = realloc(ap->det, (ap->ndet + 1) * sizeof(*n));
    if (n == NULL) {
        return PC_ENOMEM;
    }
    ap->det = n;
    n[ap->ndet].key = strdup(key);
    n[ap->ndet].value = strndup(value, vlen);
    if (n[ap->ndet].key == NULL || n[ap->ndet].value == NULL) {
        free(n[ap->ndet].key);
        free(n[ap->ndet].value);
        return PC_ENOMEM;
    }
    ap->ndet++;
    return PC_OK;
}

/* Percent-decodes and trims s[0..len) into out (at least len + 1 bytes);
 * an invalid escape is kept as is (the W3C Baggage rule is to keep going). */
static size_t pct_decode(const char *s, size_t len, char *out)
{
    size_t i, n = 0;

    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t')) {
        len--;
    }
    for (i = 0; i < len; i++) {
        int hi = -1, lo = -1;

        if (s[i] == '%' && i + 2 < len) {
            hi = hex_val((unsigned char)s[i + 1]);
            lo = hex_val((unsigned char)s[i + 2]);
        }
        if (hi >= 0 && lo >= 0) {
            out[n++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return n;
}

/* OTEL_RESOURCE_ATTRIBUTES=k=v,k2=v2 (values percent-encoded), then
 * OTEL_SERVICE_NAME, which wins over a service.name in the former. */
static int detect_env(struct attributes_proc *ap)
{
    const char *ra = getenv("OTEL_RESOURCE_ATTRIBUTES");
    const char *sn = getenv("OTEL_SERVICE_NAME");
    int rc = PC_OK;

    while (ra != NULL && *ra != '\0' && rc == PC_OK) {
        const char *end = strchr(ra, ',');
        size_t len = end != NULL ? (size_t)(end - ra) : strlen(ra);
        const char *eq = memchr(ra, '=', len);
        if (eq != NULL) {
            char *k = malloc(len + 1), *v = malloc(len + 1);
            size_t kl = 0, vl;
            if (k == NULL || v == NULL) {
                rc = PC_ENOMEM;
            } else {
                kl = pct_decode(ra, (size_t)(eq - ra), k);
                vl = pct_decode(eq + 1, len - (size_t)(eq - ra) - 1, v);
                if (kl > 0) {
                    rc = det_add(ap, k, v, vl);
                }
            }
            free(k);
            free(v);
        } else if (len > 0) {
            log_warn("processor/attributes",
                     "OTEL_RESOURCE_ATTRIBUTES: "
                     "entry without '=' ignored",
                     "entry=\"%.*s\"", (int)(len > 64 ? 64 : len), ra);
        }
        ra = end != NULL ? end + 1 : NULL;
    }
    if (rc == PC_OK && sn != NULL && *sn != '\0') {
        rc = det_add(ap, SERIES_SERVICE_ATTR, sn, strlen(sn));
    }
    return rc;
}

/* uname's machine as the semantic-convention host.arch value. */
static const char *arch_name(const char *m)
{
    static const char *const map[][2] = {
        {"x86_64", "amd64"},  {"amd64", "amd64"}, {"aarch64", "arm64"},
        {"arm64", "arm64"},   {"i386", "x86"},    {"i686", "x86"},
        {"ppc64le", "ppc64"}, {"ppc64", "ppc64"}, {"ppc", "ppc32"},
        {"s390x", "s390x"},   {"ia64", "ia64"},
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strcmp(m, map[i][0]) == 0) {
            return map[i][1];
        }
    }
    return strncmp(m, "arm", 3) == 0 ? "arm32" : m;
}

static int detect_host(struct attributes_proc *ap)
{
    char host[256] = "";
    struct utsname u;
    char os[sizeof(u.sysname)];
    size_t i;
    int rc = PC_OK;

    if (gethostname(host, sizeof(host) - 1) == 0 && host[0] != '\0') {
        rc = det_add(ap, "host.name", host, strlen(host));
    }
    if (rc == PC_OK && uname(&u) == 0) {
        for (i = 0; u.sysname[i] != '\0' && i + 1 < sizeof(os); i++) {
            os[i] = (char)(u.sysname[i] >= 'A' && u.sysname[i] <= 'Z'
                               ? u.sysname[i] - 'A' + 'a'
                               : u.sysname[i]);
        }
        os[i] = '\0';
        rc = det_add(ap, "os.type", os, strlen(os));
        if (rc == PC_OK) {
            const char *arch = arch_name(u.machine);
            rc = det_add(ap, "host.arch", arch, strlen(arch));
        }
    }
    return rc;
}

/* Downward-API variables a pod spec sets (fieldRef metadata.name, ...). */
static int detect_k8s(struct attributes_proc *ap)
{
    static const char *const vars[][2] = {
        {"K8S_POD_NAME", "k8s.pod.name"},
        {"K8S_NAMESPACE_NAME", "k8s.namespace.name"},
        {"K8S_NODE_NAME", "k8s.node.name"},
        {"K8S_POD_UID", "k8s.pod.uid"},
        {"K8S_CONTAINER_NAME", "k8s.container.name"},
    };
    size_t i;
    int rc = PC_OK;

    for (i = 0; i < sizeof(vars) / sizeof(vars[0]) && rc == PC_OK; i++) {
        const char *v = getenv(vars[i][0]);
        if (v != NULL && *v != '\0') {
            rc = det_add(ap, vars[i][1], v, strlen(v));
        }
    }
    return rc;
}

static int run_detectors(struct attributes_proc *ap)
{
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; i < ap->cfg->detectors.n && rc == PC_OK; i++) {
        const char *d = ap->cfg->detectors.items[i];
        if (strcmp(d, "env") == 0) {
            rc = detect_env(ap);
        } else if (strcmp(d, "host") == 0) {
            rc = detect_host(ap);
        } else if (strcmp(d, "kubernetes") == 0) {
            rc = detect_k8s(ap);
        }
    }
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

static int compile_groups(struct act *a, struct errctx *e)
{
    uint32_t count = 0, size = 0, i;
    PCRE2_SPTR table;

    pcre2_pattern_info(a->re, PCRE2_INFO_NAMECOUNT, &count);
    pcre2_pattern_info(a->re, PCRE2_INFO_NAMEENTRYSIZE, &size);
    pcre2_pattern_info(a->re, PCRE2_INFO_NAMETABLE, &table);
    if (count == 0) {
        return err_set(e, PC_ECONFIG,
                       "attributes: extract pattern \"%s\" "
                       "has no named group (?P<name>...)",
                       a->cfg->pattern);
    }
    a->group_names = calloc(count, sizeof(char *));
    a->group_nums = calloc(count, sizeof(uint32_t));
    if (a->group_names == NULL || a->group_nums == NULL) {
        return PC_ENOMEM;
    }
    /* Each entry: 2-byte group number, then the NUL-terminated name. */
    for (i = 0; i < count; i++) {
        PCRE2_SPTR ent = table + (size_t)i * size;
        a->group_nums[i] = (uint32_t)((ent[0] << 8) | ent[1]);
        a->group_names[i] = strdup((const char *)ent + 2);
        if (a->group_names[i] == NULL) {
            return PC_ENOMEM;
        }
        a->ngroups = i + 1;
    }
    return PC_OK;
}

static int compile_action(struct act *a, struct errctx *e)
{
    const struct attr_action_cfg *c = a->cfg;
    int code;
    PCRE2_SIZE off;

    if (c->value != NULL || c->from_env != NULL) {
        const char *v = c->value;
        char scratch[128];
        if (v == NULL && (v = getenv(c->from_env)) == NULL) {
            v = "";
            log_warn("processor/attributes",
                     "environment variable not set; "
                     "using an empty value",
                     "variable=%s", c->from_env);
        }
        /* A private copy: the environment may change later. */
        a->text = strdup(v);
        if (a->text == NULL) {
            return PC_ENOMEM;
        }
        convert_text(a->text, strlen(v), c->converted_type, &a->lit, scratch,
                     sizeof(scratch));
        a->has_lit = 1;
    }
    if (c->pattern == NULL) {
        return PC_OK;
    }
    a->re = pcre2_compile((PCRE2_SPTR)c->pattern, PCRE2_ZERO_TERMINATED,
                          c->action == ACT_EXTRACT
                              ? 0
                              : PCRE2_ANCHORED | PCRE2_ENDANCHORED,
                          &code, &off, NULL);
    if (a->re == NULL) {
        char msg[128];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        return err_set(e, PC_ECONFIG,
                       "attributes: pattern \"%s\" at offset "
                       "%zu: %s",
                       c->pattern, (size_t)off, msg);
    }
    return c->action == ACT_EXTRACT ? compile_groups(a, e) : PC_OK;
}

static void attributes_destroy(void *ctx)
{
    struct attributes_proc *ap = ctx;
    uint32_t i, j;

    if (ap == NULL) {
        return;
    }
    for (i = 0; i < ap->nacts; i++) {
        pcre2_code_free(ap->acts[i].re);
        free(ap->acts[i].text);
        for (j = 0; j < ap->acts[i].ngroups; j++) {
            free(ap->acts[i].group_names[j]);
        }
        free(ap->acts[i].group_names);
        free(ap->acts[i].group_nums);
    }
    for (i = 0; i < ap->ndet; i++) {
        free(ap->det[i].key);
        free(ap->det[i].value);
    }
    free(ap->det);
    free(ap->acts);
    free(ap);
}

static int attributes_create(const void *cfgp, struct component_host *host,
                             void **ctx, struct errctx *e)
{
    const struct attributes_cfg *cfg = cfgp;
    struct attributes_proc *ap = calloc(1, sizeof(*ap));
    uint32_t i;
    int rc = PC_OK;

    if (ap == NULL) {
        return PC_ENOMEM;
    }
    ap->cfg = cfg;
    ap->acts = calloc(cfg->actions.n + 1, sizeof(*ap->acts));
    if (ap->acts == NULL) {
        rc = PC_ENOMEM;
    }
    for (i = 0; rc == PC_OK && i < cfg->actions.n; i++) {
        ap->acts[i].cfg = (const struct attr_action_cfg *)cfg->actions.items +
                          i;
        ap->nacts = i + 1;
        rc = compile_action(&ap->acts[i], e);
    }
    if (rc == PC_OK) {
        rc = run_detectors(ap);
    }
    if (rc != PC_OK) {
        attributes_destroy(ap);
        return rc == PC_ENOMEM ? err_set(e, rc, "attributes: out of memory")
                               : rc;
    }
    for (i = 0; i < ap->ndet; i++) {
        log_debug(host->id, "detected attribute", "key=%s value=\"%s\"",
                  ap->det[i].key, ap->det[i].value);
    }
    *ctx = ap;
    return PC_OK;
}

const struct component_factory attributes_processor_factory = {
    .type = "attributes",
    .kind = COMPONENT_PROCESSOR,
    .stability = "alpha",
    .description = "insert, update, delete, rename, hash and extract series "
                   "attributes; detect env, host and Kubernetes attributes",
    .config_size = sizeof(struct attributes_cfg),
    .config = attributes_table,
    .validate = attributes_validate,
    .create = attributes_create,
    .destroy = attributes_destroy,
    .ops.processor = {.process = attributes_process},
};
