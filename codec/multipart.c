/*
 * multipart.c: multipart/form-data bodies (Pyroscope /ingest, Datadog
 * profile uploads), read the way Go's mime/multipart (which the Pyroscope
 * server and the Datadog Agent use) reads them: a preamble
 * before the first delimiter line is skipped, a delimiter line may carry
 * trailing spaces or tabs, the line end of the first delimiter (CRLF or
 * bare LF) is the one used for the rest, a part ends before
 * "<nl>--boundary" followed by "--" or the end of the line, and a body
 * without its closing delimiter is an error. Only parts with a non-empty
 * filename are files (all Pyroscope reads); MPART_FIELDS adds the named
 * parts without one. Parts are views into the body, nothing is copied.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec/multipart.h"

#define MP_BOUNDARY_MAX 200
#define MP_HEADER_LINE_MAX 8192

struct mp {
    const uint8_t *p;
    size_t len, pos;
    char dash[MP_BOUNDARY_MAX + 3]; /* "--" boundary */
    size_t dlen;
    const char *nl; /* "\r\n" or "\n" */
    size_t nllen;
};

/* Reads a Content-Type/Disposition parameter value (token or quoted
 * string) starting at s into out; returns the end. */
static const char *param_value(const char *s, char *out, size_t outlen)
{
    size_t n = 0;

    if (*s == '"') {
        s++;
        while (*s != '\0' && *s != '"') {
            if (*s == '\\' && s[1] != '\0') {
                s++;
            }
            if (n + 1 < outlen) {
                out[n++] = *s;
            }
            s++;
        }
        if (*s == '"') {
            s++;
        }
    } else {
        while (*s != '\0' && *s != ';' && *s != ' ' && *s != '\t') {
            if (n + 1 < outlen) {
                out[n++] = *s;
            }
            s++;
        }
    }
    out[n] = '\0';
    return s;
}

/* Finds parameter name (case-insensitive) in a header value like
 * `form-data; name="x"; filename="y"`; 1 when found. */
static int header_param(const char *v, const char *name, char *out,
                        size_t outlen)
{
    size_t nlen = strlen(name);
    const char *s = strchr(v, ';');

    while (s != NULL) {
        s++;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (strncasecmp(s, name, nlen) == 0 && s[nlen] == '=') {
            param_value(s + nlen + 1, out, outlen);
            return 1;
        }
        /* Skip this parameter, honouring quotes (a ';' may be quoted). */
        while (*s != '\0' && *s != ';') {
            if (*s == '"') {
                char skip[2];
                s = param_value(s, skip, sizeof(skip));
            } else {
                s++;
            }
        }
        s = *s == ';' ? s : NULL;
    }
    return 0;
}

int mpart_boundary(const char *content_type, char *out, size_t outlen)
{
    if (content_type == NULL ||
        strncasecmp(content_type, "multipart/", 10) != 0 ||
        !header_param(content_type, "boundary", out, outlen) ||
        out[0] == '\0' || strlen(out) > MP_BOUNDARY_MAX) {
        return PC_EINVAL;
    }
    return PC_OK;
}

/* Is line [s, s+n) (without its line end) a delimiter? 1 = part follows,
 * 2 = the closing one, 0 = not a delimiter. */
static int delimiter_kind(const struct mp *m, const uint8_t *s, size_t n)
{
    size_t i;
    int kind = 1;

    if (n < m->dlen || memcmp(s, m->dash, m->dlen) != 0) {
        return 0;
    }
    i = m->dlen;
    if (n - i >= 2 && s[i] == '-' && s[i + 1] == '-') {
        kind = 2;
        i += 2;
    }
    for (; i < n; i++) {
        if (s[i] != ' ' && s[i] != '\t') {
            return 0;
        }
    }
    return kind;
}

/* Next line from m->pos: start and length without the line end; moves pos
 * past it. -1 at the end of input without a line end. */
static int next_line(struct mp *m, const uint8_t **s, size_t *n, int *crlf)
{
    const uint8_t *start = m->p + m->pos;
    const uint8_t *lf = memchr(start, '\n', m->len - m->pos);

    if (lf == NULL) {
        return -1;
    }
    *s = start;
    *n = (size_t)(lf - start);
    *crlf = *n > 0 && start[*n - 1] == '\r';
    if (*crlf) {
        (*n)--;
    }
    m->pos = (size_t)(lf - m->p) + 1;
    return 0;
}

/* Skips the preamble up to the first delimiter line; 2 when it is the
 * closing one (no parts). */
static int first_delimiter(struct mp *m, struct errctx *e)
{
    const uint8_t *s;
    size_t n;
    int crlf, kind;

    for (;;) {
        if (next_line(m, &s, &n, &crlf) != 0) {
            /* A final "--boundary--" without a line end also ends it. */
            if (m->len - m->pos >= m->dlen + 2 &&
                delimiter_kind(m, m->p + m->pos, m->len - m->pos) == 2) {
                return 2;
            }
            return err_set(e, PC_ECORRUPT,
                           "multipart: no boundary \"%s\" in the body",
                           m->dash + 2);
        }
        kind = delimiter_kind(m, s, n);
        if (kind != 0) {
            m->nl = crlf ? "\r\n" : "\n";
            m->nllen = crlf ? 2 : 1;
            return kind;
        }
    }
}

/* Reads the part headers we need; pos ends after the blank line. */
static int part_headers(struct mp *m, struct mpart *pt, struct errctx *e)
{
    char line[MP_HEADER_LINE_MAX];
    const uint8_t *s;
    size_t n;
    int crlf, lines = 0;

    pt->name[0] = '\0';
    pt->content_type[0] = '\0';
    pt->filename[0] = '\0';
    for (;;) {
        if (next_line(m, &s, &n, &crlf) != 0 || ++lines > 100) {
            return err_set(e, PC_ECORRUPT,
                           "multipart: unexpected end of part headers");
        }
        if (n == 0) {
            return PC_OK;
        }
        if (n >= sizeof(line)) {
            continue; /* no header we read is that long */
        }
        memcpy(line, s, n);
        line[n] = '\0';
        if (strncasecmp(line, "Content-Disposition:", 20) == 0) {
            header_param(line + 20, "name", pt->name, sizeof(pt->name));
            if (!header_param(line + 20, "filename", pt->filename,
                              sizeof(pt->filename))) {
                header_param(line + 20, "filename*", pt->filename,
                             sizeof(pt->filename));
            }
        } else if (strncasecmp(line, "Content-Type:", 13) == 0) {
            const char *v = line + 13;
            while (*v == ' ' || *v == '\t') {
                v++;
            }
            n = strlen(v);
            n = n < sizeof(pt->content_type) ? n
                                             : sizeof(pt->content_type) - 1;
            memcpy(pt->content_type, v, n);
            pt->content_type[n] = '\0';
        }
    }
}

/* The body of the part at pos: up to the next "<nl>--boundary" that is
 * followed by "--" or the end of its line. Sets *kind to the delimiter's. */
static int part_body(struct mp *m, const uint8_t **data, size_t *len,
                     int *kind, struct errctx *e)
{
    size_t from = m->pos;

    /* Go accepts a delimiter right after the header block (empty part
     * without its own line end). */
    if (m->len - m->pos >= m->dlen &&
        memcmp(m->p + m->pos, m->dash, m->dlen) == 0) {
        const uint8_t *s = m->p + m->pos;
        const uint8_t *eol = memchr(s, '\n', m->len - m->pos);
        size_t n = eol != NULL ? (size_t)(eol - s) : m->len - m->pos;
        if (n > 0 && s[n - 1] == '\r') {
            n--;
        }
        *kind = delimiter_kind(m, s, n);
        if (*kind != 0 && (eol != NULL || *kind == 2)) {
            *data = s;
            *len = 0;
            m->pos = eol != NULL ? (size_t)(eol - m->p) + 1 : m->len;
            return PC_OK;
        }
    }
    for (;;) {
        const uint8_t *hit = NULL, *scan = m->p + from;
        size_t left = m->len - from;
        while (left >= m->nllen + m->dlen) {
            const uint8_t *c = memmem(scan, left, m->dash, m->dlen);
            if (c == NULL) {
                break;
            }
            if ((size_t)(c - m->p) >= m->pos + m->nllen &&
                memcmp(c - m->nllen, m->nl, m->nllen) == 0) {
                hit = c;
                break;
            }
            left -= (size_t)(c - scan) + 1;
            scan = c + 1;
        }
        if (hit == NULL) {
            return err_set(e, PC_ECORRUPT,
                           "multipart: unexpected end of "
                           "body (no closing boundary)");
        }
        {
            const uint8_t *eol = memchr(hit, '\n',
                                        m->len - (size_t)(hit - m->p));
            size_t n = eol != NULL ? (size_t)(eol - hit)
                                   : m->len - (size_t)(hit - m->p);
            if (n > 0 && hit[n - 1] == '\r') {
                n--;
            }
            *kind = delimiter_kind(m, hit, n);
            if (*kind != 0 && (eol != NULL || *kind == 2)) {
                *data = m->p + m->pos;
                *len = (size_t)(hit - m->p) - m->nllen - m->pos;
                m->pos = eol != NULL ? (size_t)(eol - m->p) + 1 : m->len;
                return PC_OK;
            }
        }
        from = (size_t)(hit - m->p) + 1;
    }
}

int mpart_parse(const uint8_t *body, size_t len, const char *boundary,
                int flags, struct mpart *parts, uint32_t max, uint32_t *nparts,
                struct errctx *e)
{
    struct mp m;
    int kind, rc, seen = 0;

    *nparts = 0;
    memset(&m, 0, sizeof(m));
    m.p = body;
    m.len = len;
    m.dlen = (size_t)snprintf(m.dash, sizeof(m.dash), "--%s", boundary);
    if (boundary[0] == '\0' || m.dlen >= sizeof(m.dash)) {
        return err_set(e, PC_ECORRUPT, "multipart: bad boundary");
    }
    kind = first_delimiter(&m, e);
    if (kind < 0) {
        return kind;
    }
    while (kind == 1) {
        struct mpart pt;
        if (++seen > 1000) {
            return err_set(e, PC_ETOOBIG, "multipart: too many parts");
        }
        rc = part_headers(&m, &pt, e);
        if (rc == PC_OK) {
            rc = part_body(&m, &pt.data, &pt.len, &kind, e);
        }
        if (rc != PC_OK) {
            return rc;
        }
        if (pt.name[0] == '\0' ||
            (pt.filename[0] == '\0' && !(flags & MPART_FIELDS))) {
            continue; /* not a file part: invisible to Pyroscope */
        }
        if (*nparts == max) {
            return err_set(e, PC_ETOOBIG, "multipart: more than %u parts",
                           max);
        }
        parts[(*nparts)++] = pt;
    }
    return PC_OK;
}

const struct mpart *mpart_get(const struct mpart *parts, uint32_t n,
                              const char *name)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (strcmp(parts[i].name, name) == 0) {
            return &parts[i];
        }
    }
    return NULL;
}
