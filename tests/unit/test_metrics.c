/*
 * test_metrics.c: the self-telemetry registry: scopes and their labels,
 * counters, gauges, computed gauges, series identity and lifetime (a
 * series lives while a scope holds it), exposition text (sorting,
 * escaping, process metrics), and lock-free updates from several threads.
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
#include "core/err.h"
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

static double fn_value(void *arg)
{
    return *(double *)arg;
}

static void test_counter_identity(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *rx = mscope_new(m, "receiver", "otlp", NULL);
    struct mscope *rx2 = mscope_new(m, "receiver", "otlp", NULL);
    struct mscope *py = mscope_new(m, "receiver", "pyroscope", NULL);
    struct mcounter *a, *b, *c;

    (void)state;
    assert_non_null(m);
    assert_non_null(rx);
    a = mscope_counter(rx, "profcol_receiver_accepted_profiles_total", "h",
                       NULL);
    b = mscope_counter(rx, "profcol_receiver_accepted_profiles_total", "h",
                       NULL);
    /* The suffix is added when missing: the same family. */
    c = mscope_counter(rx, "profcol_receiver_accepted_profiles", "h", NULL);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_ptr_equal(a, c);
    mcounter_add(a, 3);
    mcounter_add(b, 4);
    assert_int_equal(mcounter_get(a), 7);
    /* Another scope with the same labels: the same series. */
    assert_ptr_equal(mscope_counter(rx2, "profcol_receiver_accepted_profiles",
                                    "h", NULL),
                     a);
    b = mscope_counter(py, "profcol_receiver_accepted_profiles_total", "h",
                       NULL);
    assert_ptr_not_equal(a, b);
    assert_int_equal(mcounter_get(b), 0);
    /* Extra labels make another series. */
    c = mscope_counter(rx, "profcol_receiver_accepted_profiles_total", "h",
                       "transport", "grpc", NULL);
    assert_non_null(c);
    assert_ptr_not_equal(a, c);
    mscope_free(rx);
    mscope_free(rx2);
    mscope_free(py);
    metrics_free(m);
}

static void test_invalid_and_clash(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *s = mscope_new(m, NULL);

    (void)state;
    assert_null(mscope_counter(s, "1bad", "h", NULL));
    assert_null(mscope_gauge(s, "has space", "h", NULL));
    assert_null(mscope_gauge(s, "", "h", NULL));
    assert_null(mscope_gauge(s, NULL, "h", NULL));
    assert_non_null(mscope_gauge(s, "profcol_x_total_gauge", "h", NULL));
    /* A name registered as a gauge cannot become a counter. */
    assert_non_null(mscope_gauge(s, "profcol_thing_total", "h", NULL));
    assert_null(mscope_counter(s, "profcol_thing_total", "h", NULL));
    assert_int_equal(mscope_gauge_fn(s, "bad name", "h", fn_value, NULL, NULL),
                     PC_EINVAL);
    assert_int_equal(mscope_gauge_fn(s, "profcol_ok", "h", NULL, NULL, NULL),
                     PC_EINVAL);
    /* Label keys are label names. */
    assert_null(mscope_new(m, "bad-key", "v", NULL));
    assert_null(mscope_new(m, "", "v", NULL));
    assert_null(mscope_sub(s, "1x", "v", NULL));
    assert_null(mscope_gauge(s, "profcol_g", "h", "a b", "v", NULL));
    /* Without a scope there is nothing to do, and updates are no-ops. */
    assert_null(mscope_new(NULL, "k", "v", NULL));
    assert_null(mscope_sub(NULL, "k", "v", NULL));
    assert_null(mscope_counter(NULL, "profcol_c", "h", NULL));
    assert_null(mscope_gauge(NULL, "profcol_g", "h", NULL));
    assert_int_equal(mscope_gauge_fn(NULL, "profcol_g", "h", fn_value, NULL,
                                     NULL),
                     PC_OK);
    mcounter_add(NULL, 1);
    mgauge_set(NULL, 1);
    mgauge_add(NULL, 1);
    assert_int_equal(mcounter_get(NULL), 0);
    mscope_free(NULL);
    mscope_free(s);
    metrics_free(m);
}

static void test_gauges(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *s = mscope_new(m, NULL);
    struct mgauge *g = mscope_gauge(s, "profcol_g", "h", NULL);
    double v = 42.5, w = -1;
    char *text;

    (void)state;
    assert_ptr_equal(g, mscope_gauge(s, "profcol_g", "h", NULL));
    mgauge_set(g, 1.5);
    mgauge_add(g, 2.25);
    mgauge_add(g, -0.75);
    assert_true(mgauge_get(g) == 3.0);
    assert_int_equal(mscope_gauge_fn(s, "profcol_fn", "computed", fn_value, &v,
                                     "k", "v", NULL),
                     0);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_g 3\n"));
    assert_non_null(strstr(text, "\nprofcol_fn{k=\"v\"} 42.5\n"));
    free(text);
    /* Registering again replaces the function's argument. */
    assert_int_equal(mscope_gauge_fn(s, "profcol_fn", "computed", fn_value, &w,
                                     "k", "v", NULL),
                     0);
    v = 7;
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_fn{k=\"v\"} -1\n"));
    free(text);
    mscope_free(s);
    metrics_free(m);
}

/* A component replaced on reload: the new instance registers the same
 * computed gauge before the old one goes; a failed reload drops the new
 * one again. Whichever scope registered last computes it. */
static void test_gauge_fn_owners(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *old = mscope_new(m, "exporter", "otlp", NULL);
    struct mscope *nw = mscope_new(m, "exporter", "otlp", NULL);
    double vo = 1, vn = 2;
    char *text;

    (void)state;
    assert_int_equal(mscope_gauge_fn(old, "profcol_q", "h", fn_value, &vo,
                                     NULL),
                     PC_OK);
    assert_int_equal(mscope_gauge_fn(nw, "profcol_q", "h", fn_value, &vn,
                                     NULL),
                     PC_OK);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_q{exporter=\"otlp\"} 2\n"));
    free(text);
    /* The new one goes (failed reload): the old one's again. */
    mscope_free(nw);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_q{exporter=\"otlp\"} 1\n"));
    free(text);
    /* A successful reload: the old one goes, the new one stays. */
    nw = mscope_new(m, "exporter", "otlp", NULL);
    assert_int_equal(mscope_gauge_fn(nw, "profcol_q", "h", fn_value, &vn,
                                     NULL),
                     PC_OK);
    mscope_free(old);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_q{exporter=\"otlp\"} 2\n"));
    free(text);
    mscope_free(nw);
    text = render(m);
    assert_null(strstr(text, "profcol_q"));
    free(text);
    metrics_free(m);
}

static void test_special_values(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *s = mscope_new(m, NULL);
    char *text;

    (void)state;
    mgauge_set(mscope_gauge(s, "profcol_nan", "h", NULL), NAN);
    mgauge_set(mscope_gauge(s, "profcol_inf", "h", "s", "p", NULL), INFINITY);
    mgauge_set(mscope_gauge(s, "profcol_inf", "h", "s", "n", NULL), -INFINITY);
    mgauge_set(mscope_gauge(s, "profcol_tenth", "h", NULL), 0.1);
    mgauge_set(mscope_gauge(s, "profcol_third", "h", NULL), 1.0 / 3.0);
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_nan NaN\n"));
    assert_non_null(strstr(text, "\nprofcol_inf{s=\"p\"} +Inf\n"));
    assert_non_null(strstr(text, "\nprofcol_inf{s=\"n\"} -Inf\n"));
    assert_non_null(strstr(text, "\nprofcol_tenth 0.1\n"));
    assert_non_null(strstr(text, "\nprofcol_third 0.33333333333333331\n"));
    free(text);
    mscope_free(s);
    metrics_free(m);
}

static void test_render_exact_family(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *a = mscope_new(m, "exporter", "a", NULL);
    struct mscope *b = mscope_new(m, "exporter", "b", NULL);
    char *text;

    (void)state;
    /* Registered out of order: rendered sorted by label text. */
    mgauge_set(mscope_gauge(b, "profcol_exporter_queue_size",
                            "Current size of the sending queue.", NULL),
               2.5);
    mgauge_set(mscope_gauge(a, "profcol_exporter_queue_size", "ignored", NULL),
               1);
    mcounter_add(mscope_counter(a, "profcol_exporter_sent_profiles",
                                "Profiles sent.\nSecond line \\ end", NULL),
                 18446744073709551615ull);
    text = render(m);
    assert_non_null(strstr(
        text,
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
    mscope_free(a);
    mscope_free(b);
    metrics_free(m);
}

/* Families come out sorted by name whatever the registration order. */
static void test_families_sorted(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *s = mscope_new(m, NULL);
    const char *names[] = {"profcol_zeta", "profcol_alpha", "profcol_mid",
                           "aaa_first", "profcol_process_a"};
    char *text, *p, prev[256] = "";
    size_t i;
    int families = 0;

    (void)state;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        assert_non_null(mscope_gauge(s, names[i], "h", NULL));
    }
    text = render(m);
    assert_true(strncmp(text, "# HELP aaa_first ", 17) == 0);
    for (p = strstr(text, "# TYPE "); p != NULL;
         p = strstr(p + 1, "# TYPE ")) {
        char name[256];

        assert_int_equal(sscanf(p, "# TYPE %255s", name), 1);
        assert_true(strcmp(prev, name) < 0);
        snprintf(prev, sizeof(prev), "%s", name);
        families++;
    }
    /* 5 registered + 4 process/build families. */
    assert_int_equal(families, 9);
    free(text);
    mscope_free(s);
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
        sink += i * 0.5; /* burn a little CPU so the counter moves */
    }
    assert_true(sink > 0.0);
    text = render(m);
    assert_non_null(
        strstr(text, "# TYPE profcol_process_cpu_seconds_total counter\n"));
    assert_non_null(strstr(text,
                           "# TYPE profcol_process_memory_rss_bytes gauge\n"));
    assert_non_null(strstr(text,
                           "# TYPE profcol_process_uptime_seconds gauge\n"));
    p = strstr(text, "\nprofcol_process_cpu_seconds_total ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprofcol_process_cpu_seconds_total %lf",
                            &cpu),
                     1);
    p = strstr(text, "\nprofcol_process_memory_rss_bytes ");
    assert_non_null(p);
    assert_int_equal(sscanf(p, "\nprofcol_process_memory_rss_bytes %lf", &rss),
                     1);
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
    assert_non_null(strstr(
        text, "\nprofcol_build_info{otlp_version=\"" PROFCOL_OTLP_VERSION
              "\",version=\"" PROFCOL_VERSION "\"} 1\n"));
    free(text);
    metrics_free(m);
}

/* Label text is made here: escaped values, keys in the order given, the
 * scope's labels first, a sub-scope's after its parent's. */
static void test_labels(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *rx = mscope_new(m, "receiver", "a\"b\\c\nd", NULL);
    struct mscope *job = mscope_sub(rx, "job", "api", NULL);
    struct mscope *tgt = mscope_sub(job, "instance", NULL, "z", "1", NULL);
    struct mscope *none = mscope_new(m, NULL);
    char *text;

    (void)state;
    mcounter_add(mscope_counter(rx, "profcol_c", "h", NULL), 1);
    mcounter_add(mscope_counter(job, "profcol_c", "h", "reason", "x y", NULL),
                 2);
    mcounter_add(mscope_counter(tgt, "profcol_c", "h", "b", "2", "a", "1",
                                NULL),
                 3);
    mcounter_add(mscope_counter(none, "profcol_c", "h", "k", "v", NULL), 4);
    mcounter_add(mscope_counter(none, "profcol_c", "h", NULL), 5);
    text = render(m);
    assert_non_null(strstr(
        text, "profcol_c_total 5\n"
              "profcol_c_total{k=\"v\"} 4\n"
              "profcol_c_total{receiver=\"a\\\"b\\\\c\\nd\"} 1\n"
              "profcol_c_total{receiver=\"a\\\"b\\\\c\\nd\",job=\"api\","
              "instance=\"\",z=\"1\",b=\"2\",a=\"1\"} 3\n"
              "profcol_c_total{receiver=\"a\\\"b\\\\c\\nd\",job=\"api\","
              "reason=\"x y\"} 2\n"));
    free(text);
    mscope_free(tgt);
    mscope_free(job);
    mscope_free(rx);
    mscope_free(none);
    metrics_free(m);
}

/* A series lives while a scope holds it; freeing a scope takes exactly
 * what it registered, never what merely looks alike. */
static void test_scope_lifetime(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *a = mscope_new(m, "exporter", "otlp/a", NULL);
    struct mscope *a2 = mscope_new(m, "exporter", "otlp/a2", NULL);
    struct mscope *a_again = mscope_new(m, "exporter", "otlp/a", NULL);
    struct mscope *job = mscope_new(m, "job", "exporter=\"otlp/a\"", NULL);
    struct mcounter *c;
    char *text;
    int i;

    (void)state;
    c = mscope_counter(a, "profcol_sent", "h", NULL);
    mcounter_add(c, 5);
    /* Registered many times through one scope: still held once. */
    for (i = 0; i < 10; i++) {
        assert_ptr_equal(mscope_counter(a, "profcol_sent", "h", NULL), c);
    }
    mscope_gauge(a, "profcol_queue_size", "h", NULL);
    mscope_counter(a2, "profcol_sent", "h", NULL);
    mscope_counter(job, "profcol_sent", "h", NULL);
    /* The replacement holds the counter too (it keeps counting). */
    assert_ptr_equal(mscope_counter(a_again, "profcol_sent", "h", NULL), c);

    mscope_free(a);
    text = render(m);
    assert_non_null(strstr(text, "profcol_sent_total{exporter=\"otlp/a\"} 5"));
    assert_non_null(strstr(text,
                           "profcol_sent_total{exporter=\"otlp/a2\"} 0"));
    assert_non_null(
        strstr(text, "profcol_sent_total{job=\"exporter=\\\"otlp/a\\\"\"} 0"));
    /* The family left empty is gone, HELP and TYPE included. */
    assert_null(strstr(text, "profcol_queue_size"));
    assert_non_null(strstr(text, "profcol_build_info{"));
    free(text);

    mscope_free(a_again);
    text = render(m);
    assert_null(strstr(text, "exporter=\"otlp/a\"}"));
    assert_non_null(strstr(text,
                           "profcol_sent_total{exporter=\"otlp/a2\"} 0"));
    assert_non_null(strstr(text, "profcol_sent_total{job="));
    free(text);

    /* Registered again after it went: starts from zero. */
    a = mscope_new(m, "exporter", "otlp/a", NULL);
    mcounter_add(mscope_counter(a, "profcol_sent", "h", NULL), 2);
    text = render(m);
    assert_non_null(strstr(text, "profcol_sent_total{exporter=\"otlp/a\"} 2"));
    free(text);
    mscope_free(a);
    mscope_free(a2);
    mscope_free(job);
    text = render(m);
    assert_null(strstr(text, "profcol_sent"));
    free(text);
    metrics_free(m);
}

/* Freeing a scope frees the sub-scopes still alive; a sub-scope freed
 * first takes only its own series. */
static void test_sub_scopes(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *rx = mscope_new(m, "receiver", "scrape", NULL);
    struct mscope *j1 = mscope_sub(rx, "job", "j1", NULL);
    struct mscope *j2 = mscope_sub(rx, "job", "j2", NULL);
    struct mscope *t1 = mscope_sub(j1, "instance", "h:1", NULL);
    struct mscope *t1b = mscope_sub(j1, "instance", "h:1", NULL);
    char *text;

    (void)state;
    mscope_gauge(rx, "profcol_delta_bytes", "h", NULL);
    mscope_gauge(j1, "profcol_targets", "h", NULL);
    mscope_gauge(j2, "profcol_targets", "h", NULL);
    mgauge_set(mscope_gauge(t1, "profcol_up", "h", NULL), 1);
    /* Two targets with the same labels share the series. */
    mscope_gauge(t1b, "profcol_up", "h", NULL);
    mcounter_add(mscope_counter(t1, "profcol_errors", "h", "reason", "dns",
                                NULL),
                 1);

    mscope_free(j2);
    mscope_free(t1);
    text = render(m);
    assert_null(strstr(text, "job=\"j2\""));
    assert_non_null(strstr(
        text,
        "profcol_up{receiver=\"scrape\",job=\"j1\",instance=\"h:1\"} 1\n"));
    assert_null(strstr(text, "profcol_errors"));
    assert_non_null(strstr(text, "profcol_targets{receiver=\"scrape\","
                                 "job=\"j1\"} 0\n"));
    free(text);

    /* rx takes j1 and t1b with it. */
    mscope_free(rx);
    text = render(m);
    assert_null(strstr(text, "receiver="));
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
    /* Each thread registers through a scope of its own: registration
     * races too. */
    struct mscope *s = mscope_new(w->m, "k", "v", NULL);
    struct mcounter *c = mscope_counter(s, "profcol_race", "h", NULL);
    int i;

    for (i = 0; i < ITERS; i++) {
        mcounter_add(c, 1);
        if (i % 20 == 0) {
            mgauge_add(w->g, 1.0);
        }
    }
    return s;
}

static void test_concurrent_increments(void **state)
{
    struct metrics *m = metrics_new();
    struct mscope *s = mscope_new(m, NULL);
    struct worker w = {m, mscope_gauge(s, "profcol_race_gauge", "h", NULL)};
    struct mscope *held[THREADS];
    pthread_t th[THREADS];
    char *text;
    int i;

    (void)state;
    for (i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w), 0);
    }
    for (i = 0; i < THREADS; i++) {
        void *r;

        pthread_join(th[i], &r);
        held[i] = r;
    }
    text = render(m);
    assert_non_null(strstr(text, "\nprofcol_race_total{k=\"v\"} 800000\n"));
    free(text);
    assert_true(mgauge_get(w.g) == (double)THREADS * (ITERS / 20));
    for (i = 0; i < THREADS; i++) {
        mscope_free(held[i]);
    }
    mscope_free(s);
    metrics_free(m);
}

/* A registry shaped like a running profcol's, for promtool. */
static int dump(const char *path)
{
    struct metrics *m = metrics_new();
    struct mscope *rx = mscope_new(m, "receiver", "otlp", NULL);
    struct mscope *odd = mscope_new(m, "exporter",
                                    "odd \"name\"\\with\nnewline", NULL);
    struct mscope *ex = mscope_new(m, "exporter", "otlp", NULL);
    static double qsize = 12;
    char *text;
    FILE *fp;

    mcounter_add(mscope_counter(rx, "profcol_receiver_accepted_profiles",
                                "Profiles accepted by the receiver.",
                                "transport", "grpc", NULL),
                 41);
    mcounter_add(mscope_counter(rx, "profcol_receiver_refused_profiles",
                                "Profiles refused by the receiver.",
                                "transport", "http", NULL),
                 2);
    mcounter_add(mscope_counter(odd, "profcol_exporter_sent_profiles",
                                "Profiles sent by the exporter.", NULL),
                 7);
    mgauge_set(mscope_gauge(ex, "profcol_exporter_queue_capacity",
                            "Capacity of the sending queue in batches.", NULL),
               1000);
    mscope_gauge_fn(ex, "profcol_exporter_queue_size",
                    "Current size of the sending queue in batches.", fn_value,
                    &qsize, NULL);
    text = render(m);
    mscope_free(rx);
    mscope_free(odd);
    mscope_free(ex);
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
        cmocka_unit_test(test_gauge_fn_owners),
        cmocka_unit_test(test_special_values),
        cmocka_unit_test(test_render_exact_family),
        cmocka_unit_test(test_families_sorted),
        cmocka_unit_test(test_process_metrics),
        cmocka_unit_test(test_labels),
        cmocka_unit_test(test_scope_lifetime),
        cmocka_unit_test(test_sub_scopes),
        cmocka_unit_test(test_concurrent_increments),
    };
    const char *dump_path = getenv("PROFCOL_METRICS_DUMP");

    clock_gettime(CLOCK_MONOTONIC, &main_started);
    if (dump_path != NULL && dump_path[0] != '\0') {
        return dump(dump_path);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
