/*
 * test_metrics.c: the self-telemetry registry: counters, gauges, computed
 * gauges, series identity, exposition text (sorting, escaping, process
 * metrics), removal, and lock-free updates from several threads.
 *
 * With PROFCOL_METRICS_DUMP=<file> in the environment the program instead
 * writes a rendered registry to that file and exits, so that the
 * integration test can check the exposition with promtool.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "telemetry/metrics.h"

static struct timespec main_started;

/* Renders m into a NUL-terminated string the caller frees. */
static char *render(struct metrics *m)
{
    struct buf b;
    size_t len;
    char *s;

    buf_init(&b, 0);
    assert_int_equal(metrics_render(m, &b), 0);
    assert_int_equal(buf_putc(&b, '\0'), 0);
    s = (char *)buf_take(&b, &len);
    return s;
}

static void test_counter_identity(void **state)
{
    struct metrics *m = metrics_new();
    struct mcounter *a, *b, *c;

    (void)state;
    assert_non_null(m);
    a = metrics_counter(m, "profcol_receiver_accepted_profiles_total", "h",
                        "receiver=\"otlp\"");
    b = metrics_counter(m, "profcol_receiver_accepted_profiles_total", "h",
                        "receiver=\"otlp\"");
    /* The suffix is added when missing: the same family. */
    c = metrics_counter(m, "profcol_receiver_accepted_profiles", "h",
                        "receiver=\"otlp\"");
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    mcounter_add(a, 3);
    mcounter_add(b, 4);
    assert_int_equal(mcounter_get(a), 7);
    b = metrics_counter(m, "profcol_receiver_accepted_profiles_total", "h",
                        "receiver=\"pyroscope\"");
    assert_ptr_not_equal(a, b);
    assert_int_equal(mcounter_get(b), 0);
    metrics_free(m);
}

static void test_invalid_and_clash(void **state)
{
    struct metrics *m = metrics_new();

    (void)state;
    assert_null(metrics_counter(m, "1bad", "h", NULL));
    assert_null(metrics_gauge(m, "has space", "h", NULL));
    assert_null(metrics_gauge(m, "", "h", NULL));
    assert_non_null(metrics_gauge(m, "profcol_x_total_gauge", "h", NULL));
    /* A name registered as a gauge cannot become a counter. */
    assert_non_null(metrics_gauge(m, "profcol_thing_total", "h", NULL));
    assert_null(metrics_counter(m, "profcol_thing_total", "h", NULL));
    assert_int_equal(metrics_gauge_fn(m, "bad name", "h", NULL, NULL, NULL),
                     -2);
    metrics_free(m);
}

static double fn_value(void *arg)
{
    return *(double *)arg;
}

static void test_gauges(void **state)
{
    struct metrics *m = metrics_new();
    struct mgauge *g = metrics_gauge(m, "profcol_g", "h", "");
    double v = 42.5, w = -1;
    char *text;

    (void)state;
    assert_ptr_equal(g, metrics_gauge(m, "profcol_g", "h", NULL));
    mgauge_set(g, 1.5);
    mgauge_add(g, 2.25);
    mgauge_add(g, -0.75);
    assert_true(mgauge_get(g) == 3.0);
    assert_int_equal(metrics_gauge_fn(m, "profcol_fn", "computed",
                                      "k=\"v\"", fn_value, &v), 0);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_g 3\n"));
    assert_non_null(strstr(text, "\nprofcol_fn{k=\"v\"} 42.5\n"));
    free(text);
    /* Registering again replaces the function's argument. */
    assert_int_equal(metrics_gauge_fn(m, "profcol_fn", "computed",
                                      "k=\"v\"", fn_value, &w), 0);
    v = 7;
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_fn{k=\"v\"} -1\n"));
    free(text);
    metrics_free(m);
}

static void test_special_values(void **state)
{
    struct metrics *m = metrics_new();
    char *text;

    (void)state;
    mgauge_set(metrics_gauge(m, "profcol_nan", "h", NULL), NAN);
    mgauge_set(metrics_gauge(m, "profcol_inf", "h", "s=\"p\""), INFINITY);
    mgauge_set(metrics_gauge(m, "profcol_inf", "h", "s=\"n\""), -INFINITY);
    mgauge_set(metrics_gauge(m, "profcol_tenth", "h", NULL), 0.1);
    mgauge_set(metrics_gauge(m, "profcol_third", "h", NULL), 1.0 / 3.0);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_nan NaN\n"));
    assert_non_null(strstr(text, "\nprofcol_inf{s=\"p\"} +Inf\n"));
    assert_non_null(strstr(text, "\nprofcol_inf{s=\"n\"} -Inf\n"));
    assert_non_null(strstr(text, "\nprofcol_tenth 0.1\n"));
    assert_non_null(strstr(text, "\nprofcol_third 0.33333333333333331\n"));
    free(text);
    metrics_free(m);
}

static void test_render_exact_family(void **state)
{
    struct metrics *m = metrics_new();
    char *text;

    (void)state;
    /* Registered out of order: rendered sorted by label text. */
    mgauge_set(metrics_gauge(m, "profcol_exporter_queue_size",
                             "Current size of the sending queue.",
                             "exporter=\"b\""), 2.5);
    mgauge_set(metrics_gauge(m, "profcol_exporter_queue_size", "ignored",
                             "exporter=\"a\""), 1);
    mcounter_add(metrics_counter(m, "profcol_exporter_sent_profiles",
                                 "Profiles sent.\nSecond line \\ end",
                                 "exporter=\"a\""), 18446744073709551615ull);
    text = render(m);
    assert_non_null(strstr(text,
        "# HELP profcol_exporter_queue_size Current size of the sending "
        "queue.\n"
        "# TYPE profcol_exporter_queue_size gauge\n"
        "profcol_exporter_queue_size{exporter=\"a\"} 1\n"
        "profcol_exporter_queue_size{exporter=\"b\"} 2.5\n"
        "# HELP profcol_exporter_sent_profiles_total Profiles sent.\\nSecond "
        "line \\\\ end\n"
        "# TYPE profcol_exporter_sent_profiles_total counter\n"
        "profcol_exporter_sent_profiles_total{exporter=\"a\"} "
        "18446744073709551615\n"));
    free(text);
    metrics_free(m);
}

/* Families come out sorted by name whatever the registration order. */
static void test_families_sorted(void **state)
{
    struct metrics *m = metrics_new();
    const char *names[] = {"profcol_zeta", "profcol_alpha", "profcol_mid",
                           "aaa_first", "profcol_process_a"};
    char *text, *p, prev[256] = "";
    size_t i;
    int families = 0;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(metrics_gauge(m, names[i], "h", NULL));
    }
    text = render(m);
    assert_true(strncmp(text, "# HELP aaa_first ", 17) == 0);
    for (p = strstr(text, "# TYPE "); p != NULL; p = strstr(p + 1, "# TYPE ")) {
        char name[256];

        assert_int_equal(sscanf(p, "# TYPE %255s", name), 1);
        assert_true(strcmp(prev, name) < 0);
        snprintf(prev, sizeof(prev), "%s", name);
        families++;
    }
    /* 5 registered + 4 process/build families. */
    assert_int_equal(families, 9);
    free(text);
    metrics_free(m);
}

static void test_process_metrics(void **state)
{
    struct metrics *m = metrics_new();
    char *text, *p;
    double cpu = -1, rss = -1, up = -1, since_main;
    struct timespec now;
    volatile double sink = 0;
    int i;

    (void)state;
    for (i = 0; i < 3000000; i++) {
        sink += i * 0.5;   /* burn a little CPU so the counter moves */
    }
    assert_true(sink > 0.0);
    text = render(m);
    assert_non_null(strstr(text,
        "# TYPE profcol_process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text,
        "# TYPE profcol_process_memory_rss_bytes gauge\n"));
    assert_non_null(strstr(text,
        "# TYPE profcol_process_uptime_seconds gauge\n"));
    p = strstr(text, "\nprofcol_process_cpu_seconds_total ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprofcol_process_cpu_seconds_total %lf",
                            &cpu), 1);
    p = strstr(text, "\nprofcol_process_memory_rss_bytes ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprofcol_process_memory_rss_bytes %lf",
                            &rss), 1);
    p = strstr(text, "\nprofcol_process_uptime_seconds ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprofcol_process_uptime_seconds %lf", &up),
                     1);
    assert_true(cpu > 0.0 && cpu < 3600.0);
    assert_true(rss > 100000.0);
    /* The process started just before main(), not at boot. */
    clock_gettime(CLOCK_MONOTONIC, &now);
    since_main = (double)(now.tv_sec - main_started.tv_sec) +
                 (double)(now.tv_nsec - main_started.tv_nsec) / 1e9;
    assert_true(up >= 0.0);
    if (up > since_main + 5.0) {
        fail_msg("uptime %f but main() started %f s ago", up, since_main);
    }
    assert_non_null(strstr(text, "\nprofcol_build_info{otlp_version=\""
                                 PROFCOL_OTLP_VERSION "\",version=\""
                                 PROFCOL_VERSION "\"} 1\n"));
    free(text);
    metrics_free(m);
}

static void test_escape(void **state)
{
    char dst[64], small[6];

    (void)state;
    metrics_escape("a\"b\\c\nd", dst, sizeof(dst));
    assert_string_equal(dst, "a\\\"b\\\\c\\nd");
    metrics_escape(NULL, dst, sizeof(dst));
    assert_string_equal(dst, "");
    /* Out of room: cut before an escape, never in the middle of one. */
    metrics_escape("abcd\"", small, sizeof(small));
    assert_string_equal(small, "abcd");
    metrics_escape("abc\"", small, sizeof(small));
    assert_string_equal(small, "abc\\\"");
}

static void test_remove_matching(void **state)
{
    struct metrics *m = metrics_new();
    char *text;

    (void)state;
    metrics_counter(m, "profcol_sent", "h", "exporter=\"otlp/a\"");
    metrics_counter(m, "profcol_sent", "h", "exporter=\"otlp/b\"");
    metrics_gauge(m, "profcol_queue_size", "h", "exporter=\"otlp/a\"");
    metrics_remove_matching(m, "");
    metrics_remove_matching(m, NULL);
    text = render(m);
    assert_non_null(strstr(text, "profcol_queue_size{exporter=\"otlp/a\"}"));
    free(text);

    metrics_remove_matching(m, "exporter=\"otlp/a\"");
    /* Even a substring that would match the build labels keeps them. */
    metrics_remove_matching(m, "version=");
    text = render(m);
    assert_null(strstr(text, "otlp/a"));
    assert_non_null(strstr(text, "profcol_sent_total{exporter=\"otlp/b\"} 0"));
    /* The family left empty is gone, HELP and TYPE included. */
    assert_null(strstr(text, "profcol_queue_size"));
    assert_non_null(strstr(text, "profcol_build_info{"));
    free(text);

    /* Re-registering after removal starts from zero. */
    mcounter_add(metrics_counter(m, "profcol_sent", "h", "exporter=\"otlp/a\""),
                 2);
    text = render(m);
    assert_non_null(strstr(text, "profcol_sent_total{exporter=\"otlp/a\"} 2"));
    free(text);
    metrics_free(m);
}

#define THREADS 4
#define ITERS 200000

struct worker {
    struct metrics *m;
    struct mgauge *g;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    /* Each thread looks the series up itself: registration races too. */
    struct mcounter *c = metrics_counter(w->m, "profcol_race", "h",
                                         "k=\"v\"");
    int i;

    for (i = 0; i < ITERS; i++) {
        mcounter_add(c, 1);
        if (i % 20 == 0) {
            mgauge_add(w->g, 1.0);
        }
    }
    return NULL;
}

static void test_concurrent_increments(void **state)
{
    struct metrics *m = metrics_new();
    struct worker w = {m, metrics_gauge(m, "profcol_race_gauge", "h", NULL)};
    pthread_t th[THREADS];
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w), 0);
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
    }
    assert_int_equal(mcounter_get(metrics_counter(m, "profcol_race", "h",
                                                  "k=\"v\"")),
                     (uint64_t)THREADS * ITERS);
    assert_true(mgauge_get(w.g) == (double)THREADS * (ITERS / 20));
    metrics_free(m);
}

/* A registry shaped like a running profcol's, for promtool. */
static int dump(const char *path)
{
    struct metrics *m = metrics_new();
    char esc[128], labels[256];
    static double qsize = 12;
    char *text;
    FILE *fp;

    metrics_escape("odd \"name\"\\with\nnewline", esc, sizeof(esc));
    snprintf(labels, sizeof(labels), "exporter=\"%s\"", esc);
    mcounter_add(metrics_counter(m, "profcol_receiver_accepted_profiles",
                                 "Profiles accepted by the receiver.",
                                 "receiver=\"otlp\",transport=\"grpc\""), 41);
    mcounter_add(metrics_counter(m, "profcol_receiver_refused_profiles",
                                 "Profiles refused by the receiver.",
                                 "receiver=\"otlp\",transport=\"http\""), 2);
    mcounter_add(metrics_counter(m, "profcol_exporter_sent_profiles",
                                 "Profiles sent by the exporter.", labels),
                 7);
    mgauge_set(metrics_gauge(m, "profcol_exporter_queue_capacity",
                             "Capacity of the sending queue in batches.",
                             "exporter=\"otlp\""), 1000);
    metrics_gauge_fn(m, "profcol_exporter_queue_size",
                     "Current size of the sending queue in batches.",
                     "exporter=\"otlp\"", fn_value, &qsize);
    text = render(m);
    metrics_free(m);
    fp = fopen(path, "w");
    if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0) {
        perror(path);
        free(text);
        return 1;
    }
    free(text);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_identity),
        cmocka_unit_test(test_invalid_and_clash),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_render_exact_family),
        cmocka_unit_test(test_families_sorted),
        cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_escape),
        cmocka_unit_test(test_remove_matching),
        cmocka_unit_test(test_concurrent_increments),
    };
    const char *dump_path = getenv("PROFCOL_METRICS_DUMP");

    clock_gettime(CLOCK_MONOTONIC, &main_started);
    if (dump_path != NULL && dump_path[0] != '\0') {
        return dump(dump_path);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
