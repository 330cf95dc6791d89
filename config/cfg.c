/*
 * cfg.c: table-driven decoding of a YAML mapping into a component's config
 * struct, and the collected diagnostics.
 *
 * One rule for values and defaults: a default is text and goes through the
 * same parser as the YAML value would (scalar defaults as a scalar, list and
 * map defaults as YAML), so a default can never mean something a user could
 * not have written. Messages name the node's path from the document root,
 * and list the allowed keys, values or range, so that the message alone is
 * enough to fix the file.
 */
#include "config/cfg.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/buf.h"
#include "core/err.h"

#define CFG_PATH_MAX 512
#define CFG_MSG_MAX 1024

/* ---- diagnostics ------------------------------------------------------ */

static void diag_add(struct cfg_diag *d, int is_error, char *msg)
{
    char ***list = is_error ? &d->errors : &d->warnings;
    uint32_t *n = is_error ? &d->nerrors : &d->nwarnings;
    char **grown;

    if (msg == NULL || *n >= CFG_DIAG_MAX) {
        goto lost;
    }
    grown = realloc(*list, (*n + 1) * sizeof(**list));
    if (grown == NULL) {
        goto lost;
    }
    *list = grown;
    grown[(*n)++] = msg;
    return;
lost:
    free(msg);
    if (is_error) {
        d->nlost++;
    }
}

static void diag_vadd(struct cfg_diag *d, int is_error, const struct ynode *at,
                      const char *fmt, va_list ap)
{
    char *msg = malloc(CFG_MSG_MAX);
    int n = 0;

    if (msg != NULL) {
        if (at != NULL) {
            n = snprintf(msg, CFG_MSG_MAX, "%s:%u:%u: ", at->file, at->line,
                         at->col);
            if (n < 0 || n >= CFG_MSG_MAX) {
                n = 0;
            }
        }
        vsnprintf(msg + n, CFG_MSG_MAX - (size_t)n, fmt, ap);
    }
    diag_add(d, is_error, msg);
}

void cfg_diag_error(struct cfg_diag *d, const struct ynode *at,
                    const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_vadd(d, 1, at, fmt, ap);
    va_end(ap);
}

void cfg_diag_warn(struct cfg_diag *d, const struct ynode *at, const char *fmt,
                   ...)
{
    va_list ap;

    va_start(ap, fmt);
    diag_vadd(d, 0, at, fmt, ap);
    va_end(ap);
}

void cfg_diag_free(struct cfg_diag *d)
{
    uint32_t i;

    for (i = 0; i < d->nerrors; i++) {
        free(d->errors[i]);
    }
    for (i = 0; i < d->nwarnings; i++) {
        free(d->warnings[i]);
    }
    free(d->errors);
    free(d->warnings);
    memset(d, 0, sizeof(*d));
}

int cfg_diag_failed(const struct cfg_diag *d)
{
    return d->nerrors > 0 || d->nlost > 0;
}

/* ---- value parsers ---------------------------------------------------- */

int cfg_parse_bool(const char *s, int *v)
{
    static const char *const yes[] = {"true", "True", "TRUE", NULL};
    static const char *const no[] = {"false", "False", "FALSE", NULL};
    int i;

    for (i = 0; yes[i] != NULL; i++) {
        if (strcmp(s, yes[i]) == 0) {
            *v = 1;
            return PC_OK;
        }
        if (strcmp(s, no[i]) == 0) {
            *v = 0;
            return PC_OK;
        }
    }
    return PC_EINVAL;
}

/* Decimal, or 0x / 0o prefixed; optional sign; nothing else. */
int cfg_parse_int(const char *s, int64_t *v)
{
    const char *p = s;
    char *end;
    int neg = 0, base = 10;
    unsigned long long u;

    if (*p == '-' || *p == '+') {
        neg = *p == '-';
        p++;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    } else if (p[0] == '0' && p[1] == 'o') {
        base = 8;
        p += 2;
    }
    if (!((*p >= '0' && *p <= '9') ||
          (base == 16 &&
           ((*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F'))))) {
        return PC_EINVAL;
    }
    errno = 0;
    u = strtoull(p, &end, base);
    if (errno != 0 || *end != '\0') {
        return PC_EINVAL;
    }
    if (neg ? u > (unsigned long long)INT64_MAX + 1 : u > INT64_MAX) {
        return PC_EINVAL;
    }
    *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    return PC_OK;
}

/* Reads digits[.digits] at *p; at least one digit. frac_scale = 10^nfrac. */
static int parse_decimal(const char **p, uint64_t *ip, uint64_t *frac,
                         uint64_t *frac_scale)
{
    const char *s = *p;
    int digits = 0;

    *ip = 0;
    *frac = 0;
    *frac_scale = 1;
    while (*s >= '0' && *s <= '9') {
        uint64_t dig = (uint64_t)(*s++ - '0');

        if (*ip > (UINT64_MAX - dig) / 10) {
            return PC_EINVAL;
        }
        *ip = *ip * 10 + dig;
        digits++;
    }
    if (*s == '.') {
        s++;
        while (*s >= '0' && *s <= '9') {
            /* Digits past 18 cannot change a millisecond or a byte. */
            if (*frac_scale < 1000000000000000000ULL) {
                *frac = *frac * 10 + (uint64_t)(*s - '0');
                *frac_scale *= 10;
            }
            s++;
            digits++;
        }
    }
    if (digits == 0) {
        return PC_EINVAL;
    }
    *p = s;
    return PC_OK;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL}, /* µs (micro sign) */
    {"\xce\xbcs", 1000ULL}, /* μs (Greek mu) */
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
    {NULL, 0},
};

/* Longest unit name that prefixes p. */
static const struct unit *duration_unit(const char *p)
{
    const struct unit *best = NULL;
    size_t i, len;

    for (i = 0; duration_units[i].name != NULL; i++) {
        len = strlen(duration_units[i].name);
        if (strncmp(p, duration_units[i].name, len) == 0 &&
            (best == NULL || len > strlen(best->name))) {
            best = &duration_units[i];
        }
    }
    return best;
}

/* ip + frac/scale units of mult, added to *acc with overflow checks. */
static int add_scaled(uint64_t *acc, uint64_t ip, uint64_t frac,
                      uint64_t scale, uint64_t mult, uint64_t limit)
{
    long double part;
    uint64_t whole;

    if (ip != 0 && ip > limit / mult) {
        return PC_EINVAL;
    }
    whole = ip * mult;
    part = (long double)frac / (long double)scale * (long double)mult;
    if (whole > limit - (uint64_t)part ||
        *acc > limit - whole - (uint64_t)part) {
        return PC_EINVAL;
    }
    *acc += whole + (uint64_t)part;
    return PC_OK;
}

int cfg_parse_duration_ms(const char *s, int64_t *ms)
{
    const char *p = s;
    const struct unit *u;
    uint64_t ns = 0, ip, frac, scale;

    if (strcmp(s, "0") == 0) {
        *ms = 0;
        return PC_OK;
    }
    if (*p == '\0') {
        return PC_EINVAL;
    }
    while (*p != '\0') {
        if (parse_decimal(&p, &ip, &frac, &scale) != PC_OK) {
            return PC_EINVAL;
        }
        u = duration_unit(p);
        if (u == NULL) {
            return PC_EINVAL;
        }
        p += strlen(u->name);
        if (add_scaled(&ns, ip, frac, scale, u->mult, INT64_MAX) != PC_OK) {
            return PC_EINVAL;
        }
    }
    /* Timers run in milliseconds; a sub-millisecond setting would silently
     * become 0 (often "disabled"), so it is refused instead. */
    if (ns > 0 && ns < 1000000) {
        return PC_EINVAL;
    }
    *ms = (int64_t)(ns / 1000000);
    return PC_OK;
}

static const struct unit size_units[] = {
    {"", 1ULL},
    {"b", 1ULL},
    {"kb", 1000ULL},
    {"mb", 1000ULL * 1000},
    {"gb", 1000ULL * 1000 * 1000},
    {"tb", 1000ULL * 1000 * 1000 * 1000},
    {"kib", 1ULL << 10},
    {"mib", 1ULL << 20},
    {"gib", 1ULL << 30},
    {"tib", 1ULL << 40},
    {NULL, 0},
};

int cfg_parse_size(const char *s, uint64_t *bytes)
{
    const char *p = s;
    uint64_t ip, frac, scale, acc = 0;
    size_t i;
    int space = 0;

    if (parse_decimal(&p, &ip, &frac, &scale) != PC_OK) {
        return PC_EINVAL;
    }
    if (*p == ' ') {
        space = 1;
        p++;
    }
    for (i = 0; size_units[i].name != NULL; i++) {
        if (strcasecmp(p, size_units[i].name) == 0) {
            break;
        }
    }
    if (size_units[i].name == NULL || (space && *p == '\0')) {
        return PC_EINVAL;
    }
    /* A fraction of a byte means nothing. */
    if (size_units[i].mult == 1 && scale > 1) {
        return PC_EINVAL;
    }
    if (add_scaled(&acc, ip, frac, scale, size_units[i].mult, UINT64_MAX) !=
        PC_OK) {
        return PC_EINVAL;
    }
    *bytes = acc;
    return PC_OK;
}

const char *cfg_type_name(enum cfg_type t)
{
    switch (t) {
    case CFG_BOOL:
        return "bool";
    case CFG_INT:
        return "int";
    case CFG_DOUBLE:
        return "number";
    case CFG_STRING:
        return "string";
    case CFG_DURATION:
        return "duration";
    case CFG_SIZE:
        return "size";
    case CFG_ENUM:
        return "enum";
    case CFG_STRLIST:
        return "string list";
    case CFG_MAP:
        return "string map";
    case CFG_SECTION:
        return "section";
    case CFG_SECTION_LIST:
        return "section list";
    case CFG_NODE:
        return "yaml";
    }
    return "?";
}

/* ---- rendering values in messages ------------------------------------ */

static void fmt_duration(int64_t ms, char *out, size_t len)
{
    static const struct {
        const char *u;
        int64_t ms;
    } parts[] = {
        {"h", 3600000},
        {"m", 60000},
        {"s", 1000},
        {"ms", 1},
    };
    size_t used = 0, i;
    int w;

    if (ms <= 0) {
        snprintf(out, len, "%" PRId64 "ms", ms);
        return;
    }
    out[0] = '\0';
    for (i = 0; i < 4 && used < len; i++) {
        if (ms >= parts[i].ms) {
            w = snprintf(out + used, len - used, "%" PRId64 "%s",
                         ms / parts[i].ms, parts[i].u);
            if (w < 0) {
                return;
            }
            used += (size_t)w;
            ms %= parts[i].ms;
        }
    }
}

static void fmt_size(uint64_t b, char *out, size_t len)
{
    static const struct {
        const char *u;
        uint64_t m;
    } units[] = {
        {"TiB", 1ULL << 40}, {"GiB", 1ULL << 30},   {"MiB", 1ULL << 20},
        {"KiB", 1ULL << 10}, {"GB", 1000000000ULL}, {"MB", 1000000ULL},
        {"KB", 1000ULL},
    };
    size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (b >= units[i].m && b % units[i].m == 0) {
            snprintf(out, len, "%" PRIu64 "%s", b / units[i].m, units[i].u);
            return;
        }
    }
    snprintf(out, len, "%" PRIu64 "B", b);
}

/* "1..65535", ">= 1", "<= 10" for the entry's bounds. */
static void fmt_range(const struct cfg_entry *e, char *out, size_t len)
{
    char lo[48], hi[48];

    switch (e->type) {
    case CFG_DURATION:
        fmt_duration(e->min, lo, sizeof(lo));
        fmt_duration(e->max, hi, sizeof(hi));
        break;
    case CFG_SIZE:
        fmt_size((uint64_t)(e->min < 0 ? 0 : e->min), lo, sizeof(lo));
        fmt_size((uint64_t)e->max, hi, sizeof(hi));
        break;
    case CFG_DOUBLE:
        snprintf(lo, sizeof(lo), "%g", (double)e->min / 1e6);
        snprintf(hi, sizeof(hi), "%g", (double)e->max / 1e6);
        break;
    default:
        snprintf(lo, sizeof(lo), "%" PRId64, e->min);
        snprintf(hi, sizeof(hi), "%" PRId64, e->max);
        break;
    }
    if (e->max == INT64_MAX) {
        snprintf(out, len, ">= %s", lo);
    } else {
        snprintf(out, len, "%s..%s", lo, hi);
    }
}

static int has_bounds(const struct cfg_entry *e)
{
    return e->min != 0 || e->max != 0;
}

/* ---- decoding --------------------------------------------------------- */

struct dec {
    struct cfg_diag *d;
    int failed;
    const char *def_key; /* set while decoding a built-in default */
};

static int decode_table(struct dec *x, const struct cfg_entry *table,
                        const struct ynode *node, void *out);

static void value_error(struct dec *x, const struct ynode *n, const char *fmt,
                        ...) __attribute__((format(printf, 3, 4)));

/* "PATH: message"; for a built-in default "default of 'key': message". */
static void value_error(struct dec *x, const struct ynode *n, const char *fmt,
                        ...)
{
    char path[CFG_PATH_MAX], msg[CFG_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    x->failed = 1;
    if (x->def_key != NULL) {
        cfg_diag_error(x->d, NULL, "built-in default of '%s': %s", x->def_key,
                       msg);
        return;
    }
    ynode_path(n, path, sizeof(path));
    cfg_diag_error(x->d, n, "%s: %s", path[0] ? path : "value", msg);
}

static const char *kind_word(const struct ynode *n)
{
    return n->kind == YNODE_MAP   ? "a mapping"
           : n->kind == YNODE_SEQ ? "a list"
                                  : "a scalar";
}

/* The scalar text of n, or NULL after reporting "expected <what>". */
static const char *scalar_of(struct dec *x, const struct ynode *n,
                             const char *what)
{
    if (n->kind != YNODE_SCALAR) {
        value_error(x, n, "expected %s, got %s", what, kind_word(n));
        return NULL;
    }
    return n->value;
}

static void check_int_range(struct dec *x, const struct cfg_entry *e,
                            const struct ynode *n, int64_t v, const char *txt)
{
    char range[128];

    if (has_bounds(e) && (v < e->min || v > e->max)) {
        fmt_range(e, range, sizeof(range));
        value_error(x, n, "%s is out of range (allowed: %s)", txt, range);
    }
}

static void dec_int(struct dec *x, const struct cfg_entry *e,
                    const struct ynode *n, void *field)
{
    const char *s = scalar_of(x, n, "an integer");
    int64_t v;

    if (s == NULL) {
        return;
    }
    if (cfg_parse_int(s, &v) != PC_OK) {
        value_error(x, n, "expected an integer, got '%.100s'", s);
        return;
    }
    check_int_range(x, e, n, v, s);
    *(int64_t *)field = v;
}

static void dec_double(struct dec *x, const struct cfg_entry *e,
                       const struct ynode *n, void *field)
{
    const char *s = scalar_of(x, n, "a number");
    char *end, range[128];
    double v;

    if (s == NULL) {
        return;
    }
    errno = 0;
    v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || errno != 0 || !isfinite(v)) {
        value_error(x, n, "expected a number, got '%.100s'", s);
        return;
    }
    if (has_bounds(e) &&
        (v < (double)e->min / 1e6 || v > (double)e->max / 1e6)) {
        fmt_range(e, range, sizeof(range));
        value_error(x, n, "%s is out of range (allowed: %s)", s, range);
    }
    *(double *)field = v;
}

static void dec_duration(struct dec *x, const struct cfg_entry *e,
                         const struct ynode *n, void *field)
{
    const char *s = scalar_of(x, n, "a duration");
    int64_t ms;

    if (s == NULL) {
        return;
    }
    if (cfg_parse_duration_ms(s, &ms) != PC_OK) {
        value_error(x, n,
                    "expected a duration like 15s or 500ms, got "
                    "'%.100s'",
                    s);
        return;
    }
    check_int_range(x, e, n, ms, s);
    *(int64_t *)field = ms;
}

static void dec_size(struct dec *x, const struct cfg_entry *e,
                     const struct ynode *n, void *field)
{
    const char *s = scalar_of(x, n, "a size");
    uint64_t b;
    char range[128];

    if (s == NULL) {
        return;
    }
    if (cfg_parse_size(s, &b) != PC_OK) {
        value_error(x, n,
                    "expected a size like 512KiB or 16MiB, got "
                    "'%.100s'",
                    s);
        return;
    }
    if (has_bounds(e) && ((e->min > 0 && b < (uint64_t)e->min) ||
                          (e->max >= 0 && b > (uint64_t)e->max))) {
        fmt_range(e, range, sizeof(range));
        value_error(x, n, "%s is out of range (allowed: %s)", s, range);
    }
    *(uint64_t *)field = b;
}

static void enum_list(const char *const *values, char *out, size_t len)
{
    size_t used = 0;
    int w, i;

    out[0] = '\0';
    for (i = 0; values != NULL && values[i] != NULL && used < len; i++) {
        w = snprintf(out + used, len - used, "%s%s", i ? ", " : "", values[i]);
        if (w < 0) {
            return;
        }
        used += (size_t)w;
    }
}

static void dec_enum(struct dec *x, const struct cfg_entry *e,
                     const struct ynode *n, void *field)
{
    const char *s = scalar_of(x, n, "one of the allowed values");
    char allowed[512];
    int i;

    if (s == NULL) {
        return;
    }
    for (i = 0; e->enum_values != NULL && e->enum_values[i] != NULL; i++) {
        if (strcmp(s, e->enum_values[i]) == 0) {
            *(int *)field = i;
            return;
        }
    }
    enum_list(e->enum_values, allowed, sizeof(allowed));
    value_error(x, n, "invalid value '%.100s' (allowed: %s)", s, allowed);
}

static char *dup_or_fail(struct dec *x, const struct ynode *n, const char *s)
{
    char *c = strdup(s);

    if (c == NULL) {
        value_error(x, n, "out of memory");
    }
    return c;
}

static void dec_string(struct dec *x, const struct ynode *n, void *field)
{
    const char *s = scalar_of(x, n, "a string");
    char **dst = field;

    if (s == NULL) {
        return;
    }
    free(*dst);
    *dst = dup_or_fail(x, n, s);
}

static void dec_strlist(struct dec *x, const struct ynode *n, void *field)
{
    struct cfg_strlist *l = field;
    uint32_t i;

    if (n->kind != YNODE_SEQ) {
        value_error(x, n, "expected a list of strings, got %s", kind_word(n));
        return;
    }
    l->items = calloc(n->n ? n->n : 1, sizeof(*l->items));
    if (l->items == NULL) {
        value_error(x, n, "out of memory");
        return;
    }
    for (i = 0; i < n->n; i++) {
        const struct ynode *it = n->children[i];
        const char *s = scalar_of(x, it, "a string");

        if (s != NULL) {
            l->items[l->n] = dup_or_fail(x, it, s);
            if (l->items[l->n] != NULL) {
                l->n++;
            }
        }
    }
}

static void dec_map(struct dec *x, const struct ynode *n, void *field)
{
    struct cfg_map *m = field;
    uint32_t i;

    if (n->kind != YNODE_MAP) {
        value_error(x, n, "expected a mapping of strings, got %s",
                    kind_word(n));
        return;
    }
    m->keys = calloc(n->n ? n->n : 1, sizeof(*m->keys));
    m->values = calloc(n->n ? n->n : 1, sizeof(*m->values));
    if (m->keys == NULL || m->values == NULL) {
        value_error(x, n, "out of memory");
        return;
    }
    for (i = 0; i < n->n; i++) {
        const char *v = scalar_of(x, n->children[i], "a string");
        char *k, *vc;

        if (v == NULL) {
            continue;
        }
        k = dup_or_fail(x, n->keys[i], n->keys[i]->value);
        vc = dup_or_fail(x, n->children[i], n->children[i]->is_null ? "" : v);
        if (k == NULL || vc == NULL) {
            free(k);
            free(vc);
            continue;
        }
        m->keys[m->n] = k;
        m->values[m->n++] = vc;
    }
}

static void dec_section_list(struct dec *x, const struct cfg_entry *e,
                             const struct ynode *n, void *field)
{
    struct cfg_list *l = field;
    uint32_t i;

    if (n->kind != YNODE_SEQ) {
        value_error(x, n, "expected a list of mappings, got %s", kind_word(n));
        return;
    }
    l->items = calloc(n->n ? n->n : 1, e->sub_size ? e->sub_size : 1);
    if (l->items == NULL) {
        value_error(x, n, "out of memory");
        return;
    }
    /* Every element is counted, so cfg_release() frees what a failed
     * element decoded. */
    for (i = 0; i < n->n; i++) {
        decode_table(x, e->sub, n->children[i],
                     (char *)l->items + (size_t)i * e->sub_size);
        l->n++;
    }
}

static void decode_value(struct dec *x, const struct cfg_entry *e,
                         const struct ynode *n, void *field)
{
    switch (e->type) {
    case CFG_BOOL: {
        const char *s = scalar_of(x, n, "true or false");

        if (s != NULL && cfg_parse_bool(s, (int *)field) != PC_OK) {
            value_error(x, n, "expected true or false, got '%.100s'", s);
        }
        break;
    }
    case CFG_INT:
        dec_int(x, e, n, field);
        break;
    case CFG_DOUBLE:
        dec_double(x, e, n, field);
        break;
    case CFG_STRING:
        dec_string(x, n, field);
        break;
    case CFG_DURATION:
        dec_duration(x, e, n, field);
        break;
    case CFG_SIZE:
        dec_size(x, e, n, field);
        break;
    case CFG_ENUM:
        dec_enum(x, e, n, field);
        break;
    case CFG_STRLIST:
        dec_strlist(x, n, field);
        break;
    case CFG_MAP:
        dec_map(x, n, field);
        break;
    case CFG_SECTION:
        decode_table(x, e->sub, n, field);
        break;
    case CFG_SECTION_LIST:
        dec_section_list(x, e, n, field);
        break;
    case CFG_NODE:
        *(const struct ynode **)field = n;
        break;
    }
}

static int is_scalar_type(enum cfg_type t)
{
    return t != CFG_STRLIST && t != CFG_MAP && t != CFG_SECTION &&
           t != CFG_SECTION_LIST && t != CFG_NODE;
}

/* An absent or null key: its default, through the same parsers. */
static void apply_default(struct dec *x, const struct cfg_entry *e,
                          void *field)
{
    struct ynode syn;
    struct ydoc doc;
    char err[256];

    if (e->type == CFG_SECTION) {
        decode_table(x, e->sub, NULL, field);
        return;
    }
    if (e->def == NULL || e->type == CFG_NODE) {
        return;
    }
    x->def_key = e->key;
    if (is_scalar_type(e->type)) {
        memset(&syn, 0, sizeof(syn));
        syn.kind = YNODE_SCALAR;
        syn.file = "(default)";
        syn.value = (char *)e->def;
        decode_value(x, e, &syn, field);
    } else if (ydoc_load_string("(default)", e->def, &doc, err, sizeof(err)) !=
               PC_OK) {
        value_error(x, NULL, "%s", err);
    } else {
        if (doc.root != NULL) {
            decode_value(x, e, doc.root, field);
        }
        ydoc_free(&doc);
    }
    x->def_key = NULL;
}

static const struct cfg_entry *find_entry(const struct cfg_entry *table,
                                          const char *key)
{
    for (; table != NULL && table->key != NULL; table++) {
        if (strcmp(table->key, key) == 0) {
            return table;
        }
    }
    return NULL;
}

static void report_unknown(struct dec *x, const struct cfg_entry *table,
                           const struct ynode *map, const struct ynode *key)
{
    char path[CFG_PATH_MAX], keys[768];
    size_t used = 0;
    int w;

    keys[0] = '\0';
    for (; table != NULL && table->key != NULL && used < sizeof(keys);
         table++) {
        w = snprintf(keys + used, sizeof(keys) - used, "%s%s",
                     used ? ", " : "", table->key);
        if (w < 0) {
            break;
        }
        used += (size_t)w;
    }
    ynode_path(map, path, sizeof(path));
    x->failed = 1;
    cfg_diag_error(x->d, key, "unknown key '%.100s' in %s (%s%s)", key->value,
                   path[0] ? path : "the document",
                   keys[0] ? "valid keys: " : "this section takes no keys",
                   keys);
}

static int decode_table(struct dec *x, const struct cfg_entry *table,
                        const struct ynode *node, void *out)
{
    const struct cfg_entry *e;
    const struct ynode *v;
    char path[CFG_PATH_MAX];
    uint32_t i;

    if (node != NULL && !ynode_is_null(node)) {
        if (node->kind != YNODE_MAP) {
            value_error(x, node, "expected a mapping, got %s",
                        kind_word(node));
            return PC_ECONFIG;
        }
        for (i = 0; i < node->n; i++) {
            if (find_entry(table, node->keys[i]->value) == NULL) {
                report_unknown(x, table, node, node->keys[i]);
            }
        }
    }
    for (e = table; e != NULL && e->key != NULL; e++) {
        void *field = (char *)out + e->offset;

        v = node != NULL ? ynode_get(node, e->key) : NULL;
        /* A quoted "" is an explicit empty string, not "use the default". */
        if (!ynode_is_null(v)) {
            decode_value(x, e, v, field);
        } else if (e->required) {
            ynode_path(node, path, sizeof(path));
            x->failed = 1;
            cfg_diag_error(x->d, v != NULL ? v : node,
                           "missing required key '%s' in %s", e->key,
                           path[0] ? path : "the document");
        } else {
            apply_default(x, e, field);
        }
    }
    return x->failed ? PC_ECONFIG : PC_OK;
}

int cfg_decode(const struct cfg_entry *table, const struct ynode *node,
               void *out, struct cfg_diag *d)
{
    struct dec x;

    memset(&x, 0, sizeof(x));
    x.d = d;
    return decode_table(&x, table, node, out);
}

/* ---- release ---------------------------------------------------------- */

static void release_strings(char **items, uint32_t n)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        free(items[i]);
    }
    free(items);
}

void cfg_release(const struct cfg_entry *table, void *out)
{
    const struct cfg_entry *e;
    uint32_t i;

    for (e = table; e != NULL && e->key != NULL; e++) {
        void *field = (char *)out + e->offset;

        switch (e->type) {
        case CFG_STRING:
            free(*(char **)field);
            *(char **)field = NULL;
            break;
        case CFG_STRLIST: {
            struct cfg_strlist *l = field;

            release_strings(l->items, l->n);
            memset(l, 0, sizeof(*l));
            break;
        }
        case CFG_MAP: {
            struct cfg_map *m = field;

            release_strings(m->keys, m->n);
            release_strings(m->values, m->n);
            memset(m, 0, sizeof(*m));
            break;
        }
        case CFG_SECTION:
            cfg_release(e->sub, field);
            break;
        case CFG_SECTION_LIST: {
            struct cfg_list *l = field;

            for (i = 0; i < l->n; i++) {
                cfg_release(e->sub,
                            (char *)l->items + (size_t)i * e->sub_size);
            }
            free(l->items);
            memset(l, 0, sizeof(*l));
            break;
        }
        case CFG_NODE:
            *(const struct ynode **)field = NULL;
            break;
        default:
            break;
        }
    }
}

/* clang-format off */
const struct cfg_entry cfg_compression_params_table[] = {
    {.key = "level", .type = CFG_INT, .def = "1", .min = 1, .max = 12,
     .offset = offsetof(struct cfg_compression_params, level),
     .doc = "compression level: 1 (fastest, default) .. 12 (smallest)"},
    {.key = NULL},
};
/* clang-format on */
