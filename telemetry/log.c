/*
 * log.c: leveled logs to stderr (see log.h).
 *
 * A line is assembled in a fixed stack buffer of LOG_LINE_MAX bytes and
 * handed to the kernel with one write(), so lines from different threads
 * never interleave and logging never allocates. The fields argument is
 * logfmt written by the caller with printf; it is parsed back into
 * key/value pairs and re-emitted, so values are quoted and escaped
 * correctly in both output formats even when the caller did not quote a
 * value that holds spaces. A line that does not fit is cut at a clean
 * point and ends with a marker (truncated=true).
 */
#include "telemetry/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/jsonesc.h"

#define LOG_LINE_MAX 8192
/* Room kept at the end of a line for the closing quote, the truncation
 * marker, the JSON closing brace and the newline. */
#define LOG_RESERVE 48
#define LOG_KEY_MAX 128

static atomic_int log_min_level = LOG_INFO;
static atomic_int log_fmt = LOG_FORMAT_LOGFMT;

static _Atomic(log_tap_fn) log_tap; /* zero: none */

void log_set_tap(log_tap_fn fn)
{
    atomic_store(&log_tap, fn);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

/* A line under construction. Once `truncated` is set every append is
 * ignored, so the line ends at the last piece that fit. */
struct line {
    char buf[LOG_LINE_MAX];
    size_t len;
    int truncated;
    int in_string; /* inside a quoted value: close it when truncating */
    enum log_format format;
};

void log_configure(enum log_level level, enum log_format format)
{
    atomic_store(&log_min_level, (int)level);
    atomic_store(&log_fmt, (int)format);
}

int log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&log_min_level);
}

int log_level_parse(const char *s)
{
    size_t i;

    if (s == NULL) {
        return -1;
    }
    for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcasecmp(s, level_names[i]) == 0) {
            return (int)i;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        return LOG_WARN;
    }
    return -1;
}

int log_format_parse(const char *s)
{
    if (s == NULL) {
        return -1;
    }
    if (strcasecmp(s, "logfmt") == 0 || strcasecmp(s, "text") == 0) {
        return LOG_FORMAT_LOGFMT;
    }
    if (strcasecmp(s, "json") == 0) {
        return LOG_FORMAT_JSON;
    }
    return -1;
}

/* Appends n bytes whole, or marks the line truncated. */
static void line_put(struct line *l, const char *p, size_t n)
{
    if (l->truncated) {
        return;
    }
    if (n > LOG_LINE_MAX - LOG_RESERVE - l->len) {
        l->truncated = 1;
        return;
    }
    memcpy(l->buf + l->len, p, n);
    l->len += n;
}

/* Appends s[0..n) escaped for a JSON string or a quoted logfmt value (the
 * escapes are the same for both); when it does not fit, the part that
 * does, cut between characters, and the line is marked truncated. */
static void line_put_escaped(struct line *l, const char *s, size_t n)
{
    struct buf b;

    if (l->truncated) {
        return;
    }
    buf_init_fixed(&b, l->buf, LOG_LINE_MAX - LOG_RESERVE);
    b.len = l->len;
    if (jsonesc_append(&b, s, n) != PC_OK) {
        l->truncated = 1;
    }
    l->len = b.len;
}

/* logfmt needs quotes when a value is empty or holds a space, a quote,
 * '=' or any control character. */
static int logfmt_needs_quotes(const char *s, size_t n)
{
    size_t i;

    if (n == 0) {
        return 1;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7F) {
            return 1;
        }
    }
    return 0;
}

/* An integer JSON can carry as a number: -?(0|[1-9][0-9]*), short enough
 * to be exact in a double-based parser. */
static int is_json_int(const char *s, size_t n)
{
    size_t i = 0;

    if (n > 0 && s[0] == '-') {
        i = 1;
    }
    if (i == n || n - i > 15) {
        return 0;
    }
    if (s[i] == '0' && n - i > 1) {
        return 0;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return 1;
}

static int is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-' ||
           c == '/';
}

/* Emits one key/value member in the line's format. The key and what
 * precedes the value go in with one append, so a cut never leaves a
 * half-written key; keys are sanitized (other characters become '_') so
 * they never need escaping. */
static void line_field(struct line *l, const char *k, size_t kn, const char *v,
                       size_t vn, int force_string)
{
    char pre[LOG_KEY_MAX + 8];
    size_t n = 0, i;
    int json = l->format == LOG_FORMAT_JSON;
    int quoted = json ? force_string || !is_json_int(v, vn)
                      : logfmt_needs_quotes(v, vn);

    if (l->truncated) {
        return;
    }
    if (json) {
        if (l->len > 1) {
            pre[n++] = ',';
        }
        pre[n++] = '"';
    } else if (l->len > 0) {
        pre[n++] = ' ';
    }
    for (i = 0; i < kn && i < LOG_KEY_MAX; i++) {
        pre[n++] = is_key_char(k[i]) ? k[i] : '_';
    }
    if (json) {
        pre[n++] = '"';
        pre[n++] = ':';
    } else {
        pre[n++] = '=';
    }
    if (quoted) {
        pre[n++] = '"';
    }
    if (json && !quoted && n + vn > LOG_LINE_MAX - LOG_RESERVE - l->len) {
        l->truncated = 1; /* a JSON number is kept whole or not at all */
        return;
    }
    line_put(l, pre, n);
    if (!quoted) {
        /* Nothing to escape here; this appends piece by piece so that a
         * long bare logfmt value is cut rather than dropped. */
        line_put_escaped(l, v, vn);
        return;
    }
    if (l->truncated) {
        return;
    }
    l->in_string = 1;
    line_put_escaped(l, v, vn);
    if (!l->truncated) {
        line_put(l, "\"", 1);
        l->in_string = 0;
    }
}

/* True when p starts with "key=": where an unquoted value ends. */
static int at_key(const char *p)
{
    const char *q = p;

    while (is_key_char(*q)) {
        q++;
    }
    return q > p && *q == '=';
}

/* Reads a quoted value starting after the opening quote; unescapes into
 * out (bounded by outcap) and returns the position after the closing
 * quote (or the end of the text when the quote is missing). */
static const char *parse_quoted(const char *p, char *out, size_t outcap,
                                size_t *outlen)
{
    size_t n = 0;

    while (*p != '\0' && *p != '"') {
        char c = *p++;
        if (c == '\\' && *p != '\0') {
            c = *p++;
            c = c == 'n' ? '\n' : c == 't' ? '\t' : c == 'r' ? '\r' : c;
        }
        if (n < outcap) {
            out[n++] = c;
        }
    }
    *outlen = n;
    return *p == '"' ? p + 1 : p;
}

/* Parses the caller's logfmt text and emits its pairs. A token without
 * '=' becomes a key with an empty value; an unquoted value runs until a
 * space followed by the next "key=". */
static void line_fields(struct line *l, const char *p)
{
    static _Thread_local char val[LOG_LINE_MAX];
    const char *k, *v;
    size_t kn, vn;

    for (;;) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0' || l->truncated) {
            return;
        }
        k = p;
        while (*p != '\0' && *p != '=' && *p != ' ') {
            p++;
        }
        kn = (size_t)(p - k);
        if (*p != '=') {
            line_field(l, k, kn, "", 0, 1);
            continue;
        }
        p++;
        if (*p == '"') {
            p = parse_quoted(p + 1, val, sizeof(val), &vn);
            line_field(l, k, kn, val, vn, 1);
            continue;
        }
        v = p;
        while (*p != '\0' && !(*p == ' ' && at_key(p + 1))) {
            p++;
        }
        vn = (size_t)(p - v);
        while (vn > 0 && v[vn - 1] == ' ') {
            vn--;
        }
        line_field(l, k, kn, v, vn, 0);
    }
}

/* RFC 3339 UTC with milliseconds: 2026-11-21T07:00:00.123Z */
static void format_ts(char *out, size_t cap)
{
    int64_t now = clock_real_ns();
    time_t sec = (time_t)(now / 1000000000);
    struct tm tm;
    size_t n;

    gmtime_r(&sec, &tm);
    n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03ldZ", (long)(now % 1000000000 / 1000000));
}

/* Closes an unfinished value, adds the truncation marker and the end of
 * the line. LOG_RESERVE guarantees the room. */
static void line_finish(struct line *l)
{
    const char *tail;

    if (l->truncated && l->in_string) {
        l->buf[l->len++] = '"';
    }
    if (l->format == LOG_FORMAT_JSON) {
        tail = l->truncated ? ",\"truncated\":true}\n" : "}\n";
    } else {
        tail = l->truncated ? " truncated=true\n" : "\n";
    }
    memcpy(l->buf + l->len, tail, strlen(tail));
    l->len += strlen(tail);
}

static void write_all(const char *p, size_t n)
{
    ssize_t w;

    while (n > 0) {
        w = write(STDERR_FILENO, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void log_write(enum log_level level, const char *component, const char *msg,
               const char *fields_fmt, ...)
{
    static _Thread_local struct line l;
    static _Thread_local char fields[LOG_LINE_MAX];
    char ts[40];
    va_list ap;
    int n;
    int lv = (int)level < 0 || (int)level > LOG_ERROR ? LOG_ERROR : (int)level;

    if (!log_enabled(level)) {
        return;
    }
    l.len = 0;
    l.truncated = 0;
    l.in_string = 0;
    l.format = (enum log_format)atomic_load(&log_fmt);
    if (l.format == LOG_FORMAT_JSON) {
        line_put(&l, "{", 1);
    }
    format_ts(ts, sizeof(ts));
    line_field(&l, "ts", 2, ts, strlen(ts), 1);
    line_field(&l, "level", 5, level_names[lv], strlen(level_names[lv]), 1);
    if (component != NULL) {
        line_field(&l, "component", 9, component, strlen(component), 1);
    }
    if (msg != NULL) {
        line_field(&l, "msg", 3, msg, strlen(msg), 1);
    }
    if (fields_fmt != NULL) {
        va_start(ap, fields_fmt);
        n = vsnprintf(fields, sizeof(fields), fields_fmt, ap);
        va_end(ap);
        if (n < 0) {
            fields[0] = '\0';
        }
        if (n > 0) {
            line_fields(&l, fields);
        }
        if (n >= (int)sizeof(fields)) {
            l.truncated = 1;
        }
    }
    line_finish(&l);
    write_all(l.buf, l.len);
    if (level >= LOG_WARN) {
        log_tap_fn tap = atomic_load(&log_tap);
        if (tap != NULL) {
            tap(level, component, msg, fields_fmt != NULL ? fields : "");
        }
    }
}
