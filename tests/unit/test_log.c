/*
 * test_log.c: the log writer's output shapes (logfmt and JSON), escaping,
 * level filtering, truncation of long lines and whole lines under
 * concurrent writers. stderr is captured through a pipe drained by a
 * reader thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "telemetry/log.h"

struct capture {
    int saved_fd;
    int rd;
    pthread_t reader;
    char *text;
    size_t len;
    size_t cap;
};

static struct capture cap;

static void *reader_main(void *arg)
{
    struct capture *c = arg;
    char chunk[4096];
    ssize_t n;

    while ((n = read(c->rd, chunk, sizeof(chunk))) > 0) {
        if (c->len + (size_t)n + 1 > c->cap) {
            c->cap = (c->len + (size_t)n + 1) * 2;
            c->text = realloc(c->text, c->cap);
            assert_non_null(c->text);
        }
        memcpy(c->text + c->len, chunk, (size_t)n);
        c->len += (size_t)n;
        c->text[c->len] = '\0';
    }
    return NULL;
}

static void capture_begin(void)
{
    int fds[2];

    memset(&cap, 0, sizeof(cap));
    assert_int_equal(pipe(fds), 0);
    cap.saved_fd = dup(STDERR_FILENO);
    assert_true(cap.saved_fd >= 0);
    assert_true(dup2(fds[1], STDERR_FILENO) >= 0);
    close(fds[1]);
    cap.rd = fds[0];
    assert_int_equal(pthread_create(&cap.reader, NULL, reader_main, &cap), 0);
}

/* Restores stderr and returns what was written (owned by cap). */
static const char *capture_end(void)
{
    dup2(cap.saved_fd, STDERR_FILENO);
    close(cap.saved_fd);
    pthread_join(cap.reader, NULL);
    close(cap.rd);
    if (cap.text == NULL) {
        cap.text = calloc(1, 1);
    }
    return cap.text;
}

static void capture_free(void)
{
    free(cap.text);
    cap.text = NULL;
}

static void assert_matches(const char *text, const char *pattern)
{
    regex_t re;
    int rc;

    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    rc = regexec(&re, text, 0, NULL, 0);
    regfree(&re);
    if (rc != 0) {
        fail_msg("\"%s\" does not match /%s/", text, pattern);
    }
}

static void test_logfmt_shape(void **state)
{
    const char *out;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_LOGFMT);
    capture_begin();
    log_info("exporter/otlp", "batch sent", "profiles=%u bytes=%zu", 3u,
             (size_t)1024);
    out = capture_end();
    assert_matches(out,
                   "^ts=[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
                   "\\.[0-9]{3}Z level=info component=exporter/otlp "
                   "msg=\"batch sent\" profiles=3 bytes=1024\n$");
    capture_free();
}

static void test_logfmt_escaping(void **state)
{
    const char *out, *p;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_LOGFMT);
    capture_begin();
    log_warn("c", "say \"hi\"\\\nbye",
             "path=%s q=%s err=\"x \\\"y\\\"\" e=", "/a b", "a=b");
    out = capture_end();
    p = strstr(out, " level=warn component=c ");
    assert_non_null(p);
    assert_string_equal(p, " level=warn component=c "
                           "msg=\"say \\\"hi\\\"\\\\\\nbye\" "
                           "path=\"/a b\" q=\"a=b\" err=\"x \\\"y\\\"\" "
                           "e=\"\"\n");
    /* Exactly one line: the newline in msg was escaped. */
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    capture_free();
}

static void test_null_fields_and_component(void **state)
{
    const char *out;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_LOGFMT);
    capture_begin();
    log_error(NULL, "plain", NULL);
    out = capture_end();
    assert_matches(out, "^ts=[^ ]+ level=error msg=plain\n$");
    capture_free();
}

static void test_json_shape(void **state)
{
    const char *out;
    json_t *root, *v;
    json_error_t jerr;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
    capture_begin();
    log_info("receiver/otlp", "tab\there \"q\" \\ \x01",
             "profiles=%d neg=%d zero=0 lead=007 name=\"a b\" flag big=%s", 12,
             -4, "12345678901234567890");
    out = capture_end();
    assert_int_equal(out[strlen(out) - 1], '\n');
    root = json_loads(out, 0, &jerr);
    if (root == NULL) {
        fail_msg("invalid JSON (%s): %s", jerr.text, out);
    }
    assert_string_equal(json_string_value(json_object_get(root, "level")),
                        "info");
    assert_string_equal(json_string_value(json_object_get(root, "component")),
                        "receiver/otlp");
    assert_string_equal(json_string_value(json_object_get(root, "msg")),
                        "tab\there \"q\" \\ \x01");
    assert_matches(json_string_value(json_object_get(root, "ts")),
                   "^[0-9-]{10}T[0-9:]{8}\\.[0-9]{3}Z$");
    v = json_object_get(root, "profiles");
    assert_true(json_is_integer(v));
    assert_int_equal(json_integer_value(v), 12);
    assert_int_equal(json_integer_value(json_object_get(root, "neg")), -4);
    assert_true(json_is_integer(json_object_get(root, "zero")));
    assert_true(json_is_string(json_object_get(root, "lead")));
    assert_true(json_is_string(json_object_get(root, "big")));
    assert_string_equal(json_string_value(json_object_get(root, "name")),
                        "a b");
    assert_string_equal(json_string_value(json_object_get(root, "flag")), "");
    json_decref(root);
    capture_free();
}

static void test_level_filter(void **state)
{
    const char *out;

    (void)state;
    log_configure(LOG_WARN, LOG_FORMAT_LOGFMT);
    assert_false(log_enabled(LOG_INFO));
    assert_true(log_enabled(LOG_WARN));
    assert_true(log_enabled(LOG_ERROR));
    capture_begin();
    log_debug("c", "dropped-debug", NULL);
    log_info("c", "dropped-info", "k=%d", 1);
    log_warn("c", "kept-warn", NULL);
    log_error("c", "kept-error", NULL);
    out = capture_end();
    assert_null(strstr(out, "dropped"));
    assert_non_null(strstr(out, "msg=kept-warn"));
    assert_non_null(strstr(out, "msg=kept-error"));
    capture_free();
}

static char *long_value(size_t n, char fill)
{
    char *v = malloc(n + 1);

    assert_non_null(v);
    memset(v, fill, n);
    v[n] = '\0';
    return v;
}

static void test_truncation_logfmt(void **state)
{
    char *v = long_value(20000, 'x');
    const char *out;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_LOGFMT);
    capture_begin();
    log_info("c", "long", "v=%s after=1", v);
    out = capture_end();
    assert_true(strlen(out) <= 8192);
    assert_true(strlen(out) > 8000);
    assert_matches(out, " truncated=true\n$");
    assert_null(strstr(out, "after="));
    assert_ptr_equal(strchr(out, '\n'), out + strlen(out) - 1);
    free(v);
    capture_free();
}

static void test_truncation_json(void **state)
{
    char *v = long_value(20000, '"'); /* every byte needs an escape */
    const char *out;
    json_t *root;
    json_error_t jerr;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_JSON);
    capture_begin();
    log_info("c", v, "k=1");
    out = capture_end();
    assert_true(strlen(out) <= 8192);
    root = json_loads(out, 0, &jerr);
    if (root == NULL) {
        fail_msg("invalid JSON after truncation (%s)", jerr.text);
    }
    assert_true(json_is_true(json_object_get(root, "truncated")));
    assert_null(json_object_get(root, "k"));
    assert_true(strlen(json_string_value(json_object_get(root, "msg"))) >
                3000);
    json_decref(root);
    free(v);
    capture_free();
}

static void *writer_main(void *arg)
{
    int i, id = (int)(intptr_t)arg;

    for (i = 0; i < 500; i++) {
        log_info("thread", "concurrent line", "id=%d i=%d pad=%s", id, i,
                 "ppppppppppppppppppppppppppppppppppppppppppppppppppp");
    }
    return NULL;
}

/* Lines from 4 threads never interleave: every captured line is whole. */
static void test_concurrent_lines(void **state)
{
    pthread_t th[4];
    const char *out, *p, *nl;
    int i, lines = 0;

    (void)state;
    log_configure(LOG_DEBUG, LOG_FORMAT_LOGFMT);
    capture_begin();
    for (i = 0; i < 4; i++) {
        pthread_create(&th[i], NULL, writer_main, (void *)(intptr_t)i);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    out = capture_end();
    for (p = out; (nl = strchr(p, '\n')) != NULL; p = nl + 1) {
        char line[512];
        size_t n = (size_t)(nl - p);

        assert_true(n < sizeof(line));
        memcpy(line, p, n);
        line[n] = '\0';
        assert_matches(line, "^ts=[^ ]+ level=info component=thread "
                             "msg=\"concurrent line\" id=[0-3] "
                             "i=[0-9]+ pad=p+$");
        lines++;
    }
    assert_int_equal(lines, 2000);
    capture_free();
}

static void test_parse(void **state)
{
    (void)state;
    assert_int_equal(log_level_parse("debug"), LOG_DEBUG);
    assert_int_equal(log_level_parse("INFO"), LOG_INFO);
    assert_int_equal(log_level_parse("warn"), LOG_WARN);
    assert_int_equal(log_level_parse("warning"), LOG_WARN);
    assert_int_equal(log_level_parse("error"), LOG_ERROR);
    assert_int_equal(log_level_parse("verbose"), -1);
    assert_int_equal(log_level_parse(NULL), -1);
    assert_int_equal(log_format_parse("logfmt"), LOG_FORMAT_LOGFMT);
    assert_int_equal(log_format_parse("json"), LOG_FORMAT_JSON);
    assert_int_equal(log_format_parse("xml"), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_logfmt_shape),
        cmocka_unit_test(test_logfmt_escaping),
        cmocka_unit_test(test_null_fields_and_component),
        cmocka_unit_test(test_json_shape),
        cmocka_unit_test(test_level_filter),
        cmocka_unit_test(test_truncation_logfmt),
        cmocka_unit_test(test_truncation_json),
        cmocka_unit_test(test_concurrent_lines),
        cmocka_unit_test(test_parse),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
