/*
 * pyro_name.c: the `name` and `from`/`until` query parameters of Pyroscope's
 * /ingest, parsed the way the Pyroscope server parses them.
 *
 * The name parser is Pyroscope's character state machine (name, key,
 * value, done) run over name + "{" (the appended brace ends a bare app
 * name). A pair is stored only when ',' or '}' ends it, so an unclosed
 * "app{k=v" has no label k: the quirks are kept on purpose, so the same
 * request names the same series here and in Pyroscope.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "receivers/pyroscope/pyro.h"

enum name_state { ST_NAME, ST_KEY, ST_VALUE, ST_DONE };

struct name_parser {
    enum name_state st;
    char key[PYRO_NAME_MAX + 2];
    size_t klen;
    char val[PYRO_NAME_MAX + 2];
    size_t vlen;
};

static int is_space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static int is_app_rune(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
           c == '/';
}

static int is_key_rune(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Trims s[0..*len) in place (start offset returned). */
static const char *trim(const char *s, size_t *len)
{
    size_t n = *len;

    while (n > 0 && is_space((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_space((unsigned char)s[n - 1])) {
        n--;
    }
    *len = n;
    return s;
}

/* Copies a string into out->store; NULL when full (cannot happen for
 * inputs up to PYRO_NAME_MAX, the store holds two of them). */
static const char *store(struct pyro_name *out, const char *s, size_t n)
{
    char *p;

    if (out->used + n + 1 > sizeof(out->store)) {
        return NULL;
    }
    p = out->store + out->used;
    memcpy(p, s, n);
    p[n] = '\0';
    out->used += n + 1;
    return p;
}

const char *pyro_name_get(const struct pyro_name *n, const char *name)
{
    uint32_t i;

    if (strcmp(name, "__name__") == 0) {
        return n->app;
    }
    for (i = 0; i < n->nlabels; i++) {
        if (strcmp(n->labels[i].name, name) == 0) {
            return n->labels[i].value;
        }
    }
    return NULL;
}

static int end_app(struct name_parser *p, struct pyro_name *out,
                   struct errctx *e)
{
    size_t n = p->klen, i;
    const char *s = trim(p->key, &n);

    if (n == 0) {
        return err_set(e, PC_EINVAL, "service name is required");
    }
    for (i = 0; i < n; i++) {
        if (!is_app_rune((unsigned char)s[i])) {
            return err_set(e, PC_EINVAL,
                           "invalid service name: \"%.*s\" "
                           "(allowed: letters, digits, '_', '.', '-', '/')",
                           (int)(n > 200 ? 200 : n), s);
        }
    }
    out->app = store(out, s, n);
    p->klen = 0;
    return out->app != NULL ? PC_OK : err_set(e, PC_EINVAL, "name too long");
}

/* One key=value pair is complete: validate the key, set (last wins). */
static int end_pair(struct name_parser *p, struct pyro_name *out,
                    struct errctx *e)
{
    size_t kn = p->klen, vn = p->vlen, i;
    const char *k = trim(p->key, &kn), *v = trim(p->val, &vn), *ks, *vs;

    p->klen = 0;
    p->vlen = 0;
    if (kn == 8 && memcmp(k, "__name__", 8) == 0) {
        out->app = store(out, v, vn);
        return out->app != NULL ? PC_OK
                                : err_set(e, PC_EINVAL, "name too long");
    }
    if (kn == 0) {
        return err_set(e, PC_EINVAL, "tag key is required");
    }
    for (i = 0; i < kn; i++) {
        if (!is_key_rune((unsigned char)k[i])) {
            return err_set(e, PC_EINVAL,
                           "invalid tag key: \"%.*s\" "
                           "(allowed: letters, digits, '_', '.')",
                           (int)(kn > 200 ? 200 : kn), k);
        }
    }
    vs = store(out, v, vn);
    for (i = 0; i < out->nlabels; i++) {
        if (strlen(out->labels[i].name) == kn &&
            memcmp(out->labels[i].name, k, kn) == 0) {
            out->labels[i].value = vs;
            return vs != NULL ? PC_OK : err_set(e, PC_EINVAL, "name too long");
        }
    }
    if (out->nlabels == PYRO_MAX_LABELS) {
        return err_set(e, PC_EINVAL, "too many labels in name (max %d)",
                       PYRO_MAX_LABELS);
    }
    ks = store(out, k, kn);
    if (ks == NULL || vs == NULL) {
        return err_set(e, PC_EINVAL, "name too long");
    }
    out->labels[out->nlabels].name = ks;
    out->labels[out->nlabels].value = vs;
    out->nlabels++;
    return PC_OK;
}

static int step(struct name_parser *p, struct pyro_name *out, char c,
                struct errctx *e)
{
    switch (p->st) {
    case ST_NAME:
        if (c == '{') {
            p->st = ST_KEY;
            return end_app(p, out, e);
        }
        p->key[p->klen++] = c;
        return PC_OK;
    case ST_KEY:
        if (c == '}') {
            p->st = ST_DONE;
        } else if (c == '=') {
            p->st = ST_VALUE;
            p->vlen = 0;
        } else {
            p->key[p->klen++] = c;
        }
        return PC_OK;
    case ST_VALUE:
        if (c == ',' || c == '}') {
            p->st = c == '}' ? ST_DONE : ST_KEY;
            return end_pair(p, out, e);
        }
        p->val[p->vlen++] = c;
        return PC_OK;
    case ST_DONE:
        break;
    }
    return PC_OK;
}

int pyro_name_parse(const char *s, size_t len, struct pyro_name *out,
                    struct errctx *e)
{
    struct name_parser *p;
    size_t i;
    int rc = PC_OK;

    out->used = 0;
    out->app = NULL;
    out->nlabels = 0;
    if (len > PYRO_NAME_MAX) {
        return err_set(e, PC_EINVAL, "name is longer than %d bytes",
                       PYRO_NAME_MAX);
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return err_set(e, PC_ENOMEM, "out of memory");
    }
    p->st = ST_NAME;
    for (i = 0; i <= len && rc == PC_OK && p->st != ST_DONE; i++) {
        rc = step(p, out, i < len ? s[i] : '{', e);
    }
    free(p);
    if (rc == PC_OK && (out->app == NULL || out->app[0] == '\0')) {
        rc = err_set(e, PC_EINVAL, "service name is required");
    }
    return rc;
}

/* ---- attime ------------------------------------------------------------- */

static int all_digits(const char *s)
{
    if (*s == '\0') {
        return 0;
    }
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9') {
            return 0;
        }
    }
    return 1;
}

/* v * mul, or fallback when that overflows. */
static int64_t scale(int64_t v, int64_t mul, int64_t fallback)
{
    return v < 0 || v > INT64_MAX / mul ? fallback : v * mul;
}

/* YYYYMMDD as a real date (UTC midnight), or -1. */
static int64_t yyyymmdd(const char *s)
{
    struct tm tm;
    int y, m, d;
    static const int mdays[] = {31, 29, 31, 30, 31, 30,
                                31, 31, 30, 31, 30, 31};

    if (sscanf(s, "%4d%2d%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 ||
        d > mdays[m - 1]) {
        return -1;
    }
    if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) {
        return -1;
    }
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    return scale((int64_t)timegm(&tm), 1000000000LL, -1);
}

static int64_t unit_ns(const char *u, size_t n)
{
    static const struct {
        const char *name;
        int64_t secs;
    } units[] = {
        {"s", 1},       {"sec", 1},      {"min", 60},   {"m", 60},
        {"h", 3600},    {"d", 86400},    {"w", 604800}, {"mon", 2592000},
        {"M", 2592000}, {"y", 31536000},
    };
    size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strlen(units[i].name) == n && memcmp(units[i].name, u, n) == 0) {
            return units[i].secs * 1000000000LL;
        }
    }
    return 0;
}

/* "now", "now-1h", "-10s", "+1d-2h": now plus offsets; -1 when bad. */
static int relative(const char *s, int64_t now_ns, int64_t *out)
{
    int64_t t = now_ns;

    if (strncmp(s, "now", 3) == 0) {
        s += 3;
    }
    while (*s != '\0') {
        int sign = *s == '-' ? -1 : 1;
        int64_t num = 0, u;
        const char *us;
        if (*s != '-' && *s != '+') {
            return -1;
        }
        s++;
        if (*s < '0' || *s > '9') {
            return -1;
        }
        while (*s >= '0' && *s <= '9') {
            if (num > 1000000000) {
                return -1;
            }
            num = num * 10 + (*s++ - '0');
        }
        us = s;
        while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z')) {
            s++;
        }
        u = unit_ns(us, (size_t)(s - us));
        if (u == 0 || num > INT64_MAX / u) {
            return -1;
        }
        if (__builtin_add_overflow(t, sign * num * u, &t)) {
            return -1;
        }
    }
    *out = t;
    return 0;
}

int64_t pyro_attime(const char *s, int64_t now_ns)
{
    char clean[64];
    size_t n = 0;
    int64_t v;

    if (s == NULL) {
        return now_ns;
    }
    for (; *s != '\0'; s++) {
        if (*s == '_' || *s == ',' || *s == ' ') {
            continue;
        }
        if (n + 1 >= sizeof(clean)) {
            return now_ns;
        }
        clean[n++] = *s;
    }
    clean[n] = '\0';
    if (all_digits(clean)) {
        if (n == 8 && (v = yyyymmdd(clean)) >= 0) {
            return v;
        }
        if (n > 19) {
            return now_ns;
        }
        v = strtoll(clean, NULL, 10);
        return scale(v,
                     n == 19   ? 1
                     : n == 16 ? 1000
                     : n == 13 ? 1000000
                               : 1000000000LL,
                     now_ns);
    }
    return relative(clean, now_ns, &v) == 0 ? v : now_ns;
}
