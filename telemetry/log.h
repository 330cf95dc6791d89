/*
 * log.h: leveled logs to stderr, one line per event, logfmt or JSON.
 *
 *   log_info("exporter/otlp", "batch sent", "profiles=%u bytes=%zu", n, sz);
 *
 * gives  ts=2026-11-21T07:00:00.123Z level=info component=exporter/otlp
 *        msg="batch sent" profiles=3 bytes=1024
 * or the same fields as one JSON object. The fields argument is logfmt
 * (key=value pairs separated by spaces; values with spaces in double
 * quotes); it may be NULL. Thread-safe: a line is written with one write().
 */
#ifndef PROFCOL_LOG_H
#define PROFCOL_LOG_H

#include <stdint.h>

enum log_level {
    LOG_DEBUG = 0,
    LOG_INFO,
    LOG_WARN,
    LOG_ERROR,
};

enum log_format {
    LOG_FORMAT_LOGFMT = 0,
    LOG_FORMAT_JSON,
};

void log_configure(enum log_level level, enum log_format format);
int log_enabled(enum log_level level);

void log_write(enum log_level level, const char *component, const char *msg,
               const char *fields_fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(c, m, ...) log_write(LOG_DEBUG, (c), (m), __VA_ARGS__)
#define log_info(c, m, ...) log_write(LOG_INFO, (c), (m), __VA_ARGS__)
#define log_warn(c, m, ...) log_write(LOG_WARN, (c), (m), __VA_ARGS__)
#define log_error(c, m, ...) log_write(LOG_ERROR, (c), (m), __VA_ARGS__)

/* Parses "debug|info|warn|error" / "logfmt|json"; -1 when unknown. */
/* A function that sees every warning and error written (the status page
 * keeps each component's last ones): component and msg as given, fields
 * formatted. It runs on the logging thread and must not log. NULL turns
 * it off. */
typedef void (*log_tap_fn)(enum log_level level, const char *component,
                           const char *msg, const char *fields);
void log_set_tap(log_tap_fn fn);

int log_level_parse(const char *s);
int log_format_parse(const char *s);

#endif
