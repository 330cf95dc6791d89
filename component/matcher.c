/*
 * matcher.c: parsing and matching PromQL-style label selectors (see
 * matcher.h). The parser is a small hand-written scanner over a bounded
 * text; regexes are compiled once with PCRE2 (anchored, UTF mode off so
 * any byte string can be matched) and matched with per-call match data, so
 * a selector may be used from several threads.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <fnmatch.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "component/matcher.h"
#include "component/series.h"

enum matcher_op {
    MATCH_EQ,
    MATCH_NE,
    MATCH_RE,
    MATCH_NRE,
};

struct matcher_term {
    char *name;
    char *value;
    size_t value_len;
    enum matcher_op op;
    pcre2_code *re; /* MATCH_RE / MATCH_NRE */
};

struct matcher_set {
    struct matcher_term terms[MATCHER_MAX_TERMS];
    uint32_t n;
};

/* The scanner's position in the selector text. */
struct mscan {
    const char *s;
    size_t len, pos;
};

static void ms_skip_space(struct mscan *sc)
{
    while (sc->pos < sc->len &&
           (sc->s[sc->pos] == ' ' || sc->s[sc->pos] == '\t' ||
            sc->s[sc->pos] == '\n' || sc->s[sc->pos] == '\r')) {
        sc->pos++;
    }
}

static int ms_peek(const struct mscan *sc)
{
    return sc->pos < sc->len ? (unsigned char)sc->s[sc->pos] : -1;
}

static int is_name_char(int c, int first)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_') {
        return 1;
    }
    /* Dots are accepted so `service.name` can be written as is. */
    return !first && ((c >= '0' && c <= '9') || c == '.');
}

static int ms_name(struct mscan *sc, char **out, struct errctx *e)
{
    size_t start = sc->pos;

    if (!is_name_char(ms_peek(sc), 1)) {
        return err_set(e, PC_EINVAL,
                       "selector: expected a label name at offset %zu",
                       sc->pos);
    }
    while (is_name_char(ms_peek(sc), 0)) {
        sc->pos++;
    }
    *out = strndup(sc->s + start, sc->pos - start);
    return *out != NULL ? PC_OK : PC_ENOMEM;
}

static int ms_op(struct mscan *sc, enum matcher_op *op, struct errctx *e)
{
    const char *p = sc->s + sc->pos;
    size_t left = sc->len - sc->pos;

    if (left >= 2 && p[0] == '=' && p[1] == '~') {
        *op = MATCH_RE;
        sc->pos += 2;
    } else if (left >= 2 && p[0] == '!' && p[1] == '=') {
        *op = MATCH_NE;
        sc->pos += 2;
    } else if (left >= 2 && p[0] == '!' && p[1] == '~') {
        *op = MATCH_NRE;
        sc->pos += 2;
    } else if (left >= 1 && p[0] == '=') {
        *op = MATCH_EQ;
        sc->pos += 1;
    } else {
        return err_set(e, PC_EINVAL,
                       "selector: expected =, !=, =~ or !~ at offset %zu",
                       sc->pos);
    }
    return PC_OK;
}

static char unescape(char c)
{
    switch (c) {
    case 'n':
        return '\n';
    case 't':
        return '\t';
    case 'r':
        return '\r';
    default:
        return c;
    }
}

/* A quoted value: "..." or '...' with backslash escapes, or `...` raw. */
static int ms_value(struct mscan *sc, char **out, size_t *outlen,
                    struct errctx *e)
{
    int q = ms_peek(sc);
    char *v;
    size_t n = 0;

    if (q != '"' && q != '\'' && q != '`') {
        return err_set(e, PC_EINVAL,
                       "selector: expected a quoted value at offset %zu",
                       sc->pos);
    }
    v = malloc(sc->len - sc->pos + 1);
    if (v == NULL) {
        return PC_ENOMEM;
    }
    sc->pos++;
    while (sc->pos < sc->len && sc->s[sc->pos] != q) {
        char c = sc->s[sc->pos++];
        if (c == '\\' && q != '`' && sc->pos < sc->len) {
            c = unescape(sc->s[sc->pos++]);
        }
        v[n++] = c;
    }
    if (sc->pos >= sc->len) {
        free(v);
        return err_set(e, PC_EINVAL, "selector: unterminated value");
    }
    sc->pos++;
    v[n] = '\0';
    *out = v;
    *outlen = n;
    return PC_OK;
}

static int term_compile(struct matcher_term *t, struct errctx *e)
{
    int code;
    PCRE2_SIZE off;

    if (t->op != MATCH_RE && t->op != MATCH_NRE) {
        return PC_OK;
    }
    t->re = pcre2_compile((PCRE2_SPTR)t->value, t->value_len,
                          PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_DOTALL,
                          &code, &off, NULL);
    if (t->re == NULL) {
        char msg[128];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)msg, sizeof(msg));
        return err_set(e, PC_EINVAL,
                       "selector: label %s: bad regex at offset %zu: %s",
                       t->name, (size_t)off, msg);
    }
    return PC_OK;
}

static int ms_term(struct mscan *sc, struct matcher_term *t, struct errctx *e)
{
    int rc;

    ms_skip_space(sc);
    rc = ms_name(sc, &t->name, e);
    if (rc == PC_OK) {
        ms_skip_space(sc);
        rc = ms_op(sc, &t->op, e);
    }
    if (rc == PC_OK) {
        ms_skip_space(sc);
        rc = ms_value(sc, &t->value, &t->value_len, e);
    }
    if (rc == PC_OK) {
        rc = term_compile(t, e);
    }
    return rc;
}

static int ms_terms(struct mscan *sc, struct matcher_set *m, int braced,
                    struct errctx *e)
{
    for (;;) {
        int c, rc;
        ms_skip_space(sc);
        c = ms_peek(sc);
        if (c == -1 || (braced && c == '}')) {
            return PC_OK;
        }
        if (m->n == MATCHER_MAX_TERMS) {
            return err_set(e, PC_EINVAL, "selector: more than %d matchers",
                           MATCHER_MAX_TERMS);
        }
        rc = ms_term(sc, &m->terms[m->n++], e);
        if (rc != PC_OK) {
            return rc;
        }
        ms_skip_space(sc);
        if (ms_peek(sc) == ',') {
            sc->pos++;
        } else if (ms_peek(sc) != -1 && !(braced && ms_peek(sc) == '}')) {
            return err_set(e, PC_EINVAL,
                           "selector: expected , or } at offset %zu", sc->pos);
        }
    }
}

int matcher_parse(const char *text, size_t len, struct matcher_set **out,
                  struct errctx *e)
{
    struct mscan sc = {text, len, 0};
    struct matcher_set *m;
    int braced, rc;

    *out = NULL;
    if (len > MATCHER_MAX_TEXT) {
        return err_set(e, PC_EINVAL, "selector: longer than %d bytes",
                       MATCHER_MAX_TEXT);
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL) {
        return PC_ENOMEM;
    }
    ms_skip_space(&sc);
    braced = ms_peek(&sc) == '{';
    sc.pos += braced;
    rc = ms_terms(&sc, m, braced, e);
    if (rc == PC_OK && braced) {
        if (ms_peek(&sc) != '}') {
            rc = err_set(e, PC_EINVAL, "selector: missing closing }");
        } else {
            sc.pos++;
            ms_skip_space(&sc);
        }
    }
    if (rc == PC_OK && sc.pos != sc.len) {
        rc = err_set(e, PC_EINVAL, "selector: unexpected text at offset %zu",
                     sc.pos);
    }
    if (rc != PC_OK) {
        matcher_free(m);
        return rc;
    }
    *out = m;
    return PC_OK;
}

void matcher_free(struct matcher_set *m)
{
    uint32_t i;

    if (m == NULL) {
        return;
    }
    for (i = 0; i < m->n; i++) {
        free(m->terms[i].name);
        free(m->terms[i].value);
        pcre2_code_free(m->terms[i].re);
    }
    free(m);
}

uint32_t matcher_count(const struct matcher_set *m)
{
    return m != NULL ? m->n : 0;
}

/* key matches name exactly or in its backend-valid spelling, where every
 * character outside [a-zA-Z0-9_] became '_'. */
static int key_matches(struct pstr key, const char *name)
{
    uint32_t i;

    for (i = 0; i < key.len; i++) {
        char k = key.ptr[i], c = name[i];
        int alnum = (k >= 'a' && k <= 'z') || (k >= 'A' && k <= 'Z') ||
                    (k >= '0' && k <= '9') || k == '_';
        if (c == '\0' || (k != c && !(c == '_' && !alnum))) {
            return 0;
        }
    }
    return name[key.len] == '\0';
}

static const struct anyvalue *find_attr(const struct keyvalue *attrs,
                                        uint32_t n, const char *name)
{
    uint32_t i;

    /* An exact key wins over a sanitized one. */
    for (i = 0; i < n; i++) {
        if (pstr_eq(attrs[i].key, name)) {
            return &attrs[i].value;
        }
    }
    for (i = 0; i < n; i++) {
        if (key_matches(attrs[i].key, name)) {
            return &attrs[i].value;
        }
    }
    return NULL;
}

static int term_match(const struct matcher_term *t, struct pstr v)
{
    int hit;

    if (t->op == MATCH_EQ || t->op == MATCH_NE) {
        hit = v.len == t->value_len && memcmp(v.ptr, t->value, v.len) == 0;
        return t->op == MATCH_EQ ? hit : !hit;
    } else {
        pcre2_match_data *md = pcre2_match_data_create_from_pattern(t->re,
                                                                    NULL);
        if (md == NULL) {
            return 0;
        }
        hit = pcre2_match(t->re, (PCRE2_SPTR)(v.ptr != NULL ? v.ptr : ""),
                          v.len, 0, 0, md, NULL) >= 0;
        pcre2_match_data_free(md);
        return t->op == MATCH_RE ? hit : !hit;
    }
}

int matcher_match(const struct matcher_set *m, const struct keyvalue *attrs,
                  uint32_t nattrs)
{
    uint32_t i;
    struct buf tmp;
    int ok = 1;

    if (m == NULL) {
        return 1;
    }
    buf_init(&tmp, 65536);
    for (i = 0; i < m->n && ok; i++) {
        const struct anyvalue *v = find_attr(attrs, nattrs, m->terms[i].name);
        struct pstr text = {"", 0};
        if (v != NULL && v->type == AV_STRING) {
            text = v->u.s;
        } else if (v != NULL) {
            buf_reset(&tmp);
            if (series_value_text(v, &tmp) == PC_OK) {
                text.ptr = (const char *)tmp.data;
                text.len = (uint32_t)tmp.len;
            }
        }
        ok = term_match(&m->terms[i], text);
    }
    buf_free(&tmp);
    return ok;
}

int matcher_glob(const char *pattern, struct pstr s)
{
    char small[256], *tmp = small;
    int hit;

    if (strpbrk(pattern, "*?[") == NULL) {
        return pstr_eq(s, pattern);
    }
    /* fnmatch wants a NUL-terminated string. */
    if (s.len >= sizeof(small) && (tmp = malloc((size_t)s.len + 1)) == NULL) {
        return 0;
    }
    memcpy(tmp, s.ptr, s.len);
    tmp[s.len] = '\0';
    hit = fnmatch(pattern, tmp, 0) == 0;
    if (tmp != small) {
        free(tmp);
    }
    return hit;
}
