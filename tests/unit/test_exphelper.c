/* test_exphelper.c: the exporter helper with a fake exporter: retries,
 * permanent failures, a full queue, draining at stop, and the persistent
 * queue surviving a simulated crash. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "exporterhelper/exporter_helper.h"
#include "telemetry/metrics.h"

#define MAXIDS 256

/* The fake backend. */
struct fake {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fail_retry;  /* next N calls return PC_ERETRY (-1: always) */
    int permanent;   /* every call returns PC_EPERMANENT */
    int gate_closed; /* calls wait until opened */
    int64_t retry_after;
    int calls;
    int delivered[MAXIDS]; /* times each batch id was delivered */
    int ndelivered;
};

static int fake_export(void *ctx, struct batch *b, int64_t timeout_ms,
                       struct export_result *r)
{
    struct fake *f = ctx;
    int rc = PC_OK;
    uint64_t id = b->items[0].nsamples;

    (void)timeout_ms;
    pthread_mutex_lock(&f->mu);
    f->calls++;
    while (f->gate_closed) {
        pthread_cond_wait(&f->cv, &f->mu);
    }
    if (f->permanent) {
        snprintf(r->msg, sizeof(r->msg), "400 bad profile");
        rc = PC_EPERMANENT;
    } else if (f->fail_retry != 0) {
        if (f->fail_retry > 0) {
            f->fail_retry--;
        }
        snprintf(r->msg, sizeof(r->msg), "503 unavailable");
        r->retry_after_ms = f->retry_after;
        rc = PC_ERETRY;
    } else if (id < MAXIDS) {
        f->delivered[id]++;
        f->ndelivered++;
    }
    pthread_mutex_unlock(&f->mu);
    return rc;
}

static const struct exporter_ops fake_ops = {.export = fake_export};

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->mu, NULL);
    pthread_cond_init(&f->cv, NULL);
}

static void fake_set(struct fake *f, int *field, int v)
{
    pthread_mutex_lock(&f->mu);
    *field = v;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->mu);
}

static int fake_get(struct fake *f, const int *field)
{
    int v;

    pthread_mutex_lock(&f->mu);
    v = *field;
    pthread_mutex_unlock(&f->mu);
    return v;
}

static void fast_cfg(struct exphelper_cfg *c)
{
    exphelper_cfg_default(c);
    c->retry.initial_interval_ms = 1;
    c->retry.max_interval_ms = 5;
    c->retry.randomization_factor = 0;
    c->retry.max_elapsed_time_ms = 0;
    c->queue.num_consumers = 2;
}

static struct batch *mkbatch(uint64_t id)
{
    struct batch *b = batch_new("receiver/test");
    struct item *it = batch_add_item(b);

    it->format = PAYLOAD_PPROF;
    it->raw = blob_new("pprof-bytes", 11);
    it->nprofiles = 1;
    it->nsamples = id;
    return b;
}

/* Polls cond(h) for up to 10 s. */
static int wait_for(struct exphelper *h,
                    int (*cond)(struct exphelper *, void *), void *arg)
{
    int i;

    for (i = 0; i < 2000; i++) {
        if (cond(h, arg)) {
            return 1;
        }
        usleep(5000);
    }
    return 0;
}

static int sent_at_least(struct exphelper *h, void *arg)
{
    struct exphelper_stats st;

    exphelper_get_stats(h, &st);
    return st.sent_profiles >= (uint64_t)(uintptr_t)arg;
}

static int dropped_at_least(struct exphelper *h, void *arg)
{
    struct exphelper_stats st;

    exphelper_get_stats(h, &st);
    return st.dropped_permanent + st.dropped_exhausted >=
           (uint64_t)(uintptr_t)arg;
}

static void test_retry_then_success(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct metrics *m = metrics_new();
    struct mscope *sc = mscope_new(m, "exporter", "otlp/a", NULL);
    struct buf text;
    struct errctx e;
    struct fake f;

    (void)state;
    fast_cfg(&c);
    fake_init(&f);
    f.fail_retry = 3;
    assert_int_equal(exphelper_new(&c, "otlp/a", &fake_ops, &f, sc, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(7)), PC_OK);
    assert_true(wait_for(h, sent_at_least, (void *)1));
    exphelper_get_stats(h, &st);
    assert_int_equal(st.retries, 3);
    assert_int_equal(st.exports, 4);
    assert_int_equal(st.send_failed_profiles, 0);
    assert_int_equal(fake_get(&f, &f.delivered[7]), 1);
    /* The helper's series, seen through the exporter's scope. */
    assert_int_equal(mcounter_get(mscope_counter(
                         sc, "profcol_exporter_retries_total", "", NULL)),
                     3);
    assert_int_equal(
        mcounter_get(mscope_counter(sc, "profcol_exporter_sent_profiles_total",
                                    "", NULL)),
        1);
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 5000), PC_OK);
    exphelper_free(h);
    /* The helper let go of its series: what the test's scope also holds
     * stays, the rest (the queue-size gauge calling into h) is gone. */
    buf_init(&text, 0);
    assert_int_equal(metrics_render(m, &text), PC_OK);
    assert_int_equal(buf_putc(&text, 0), PC_OK);
    assert_non_null(
        strstr((char *)text.data,
               "\nprofcol_exporter_retries_total{exporter=\"otlp/a\"} 3\n"));
    assert_null(strstr((char *)text.data, "profcol_exporter_queue_size"));
    assert_null(strstr((char *)text.data, "profcol_exporter_sent_bytes"));
    buf_free(&text);
    mscope_free(sc);
    metrics_free(m);
}

/* Retry-After and max_elapsed_time: exhausted retries drop and count. */
static void test_retries_exhausted(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct errctx e;
    struct fake f;

    (void)state;
    fast_cfg(&c);
    c.retry.max_elapsed_time_ms = 100;
    fake_init(&f);
    f.fail_retry = -1;
    f.retry_after = 30; /* longer than the 1..5 ms backoff */
    assert_int_equal(exphelper_new(&c, "otlp/b", &fake_ops, &f, NULL, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(1)), PC_OK);
    assert_true(wait_for(h, dropped_at_least, (void *)1));
    exphelper_get_stats(h, &st);
    assert_int_equal(st.dropped_exhausted, 1);
    assert_int_equal(st.send_failed_profiles, 1);
    /* 30 ms waits within 100 ms: about 3 retries, far fewer than the
     * ~50 that 1..5 ms backoffs would allow. */
    assert_in_range(st.retries, 2, 4);
    exphelper_free(h);
}

static void test_permanent(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct errctx e;
    struct fake f;

    (void)state;
    fast_cfg(&c);
    fake_init(&f);
    f.permanent = 1;
    assert_int_equal(exphelper_new(&c, "otlp/p", &fake_ops, &f, NULL, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(1)), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(2)), PC_OK);
    assert_true(wait_for(h, dropped_at_least, (void *)2));
    exphelper_get_stats(h, &st);
    assert_int_equal(st.dropped_permanent, 2);
    assert_int_equal(st.exports, 2); /* not retried */
    assert_int_equal(st.retries, 0);
    exphelper_free(h);
}

static int queue_is(struct exphelper *h, void *arg)
{
    return exphelper_queue_size(h) == (uint32_t)(uintptr_t)arg;
}

static void test_queue_full(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct errctx e;
    struct fake f;
    int64_t t0;
    int i;

    (void)state;
    fast_cfg(&c);
    c.queue.queue_size = 2;
    c.queue.num_consumers = 1;
    /* block_on_overflow waits up to `timeout` for room, then refuses. */
    c.queue.block_on_overflow = 1;
    c.timeout_ms = 100;
    fake_init(&f);
    f.gate_closed = 1;
    assert_int_equal(exphelper_new(&c, "otlp/q", &fake_ops, &f, NULL, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(0)), PC_OK);
    assert_true(wait_for(h, queue_is, (void *)0)); /* consumer holds it */
    assert_int_equal(exphelper_submit(h, mkbatch(1)), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(2)), PC_OK);
    t0 = clock_mono_ms();
    assert_int_equal(exphelper_submit(h, mkbatch(3)), PC_EBUSY);
    assert_true(clock_mono_ms() - t0 >= 90);
    exphelper_get_stats(h, &st);
    assert_int_equal(st.enqueue_failed_profiles, 1);
    assert_int_equal(exphelper_queue_size(h), 2);
    fake_set(&f, &f.gate_closed, 0);
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 5000), PC_OK);
    for (i = 0; i < 3; i++) {
        assert_int_equal(f.delivered[i], 1);
    }
    assert_int_equal(f.delivered[3], 0);
    assert_int_equal(exphelper_submit(h, mkbatch(5)), PC_EBUSY); /* stopped */
    exphelper_free(h);
}

static void test_stop_drains(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct errctx e;
    struct fake f;
    int i;

    (void)state;
    fast_cfg(&c);
    c.queue.queue_size = 50;
    fake_init(&f);
    f.gate_closed = 1;
    assert_int_equal(exphelper_new(&c, "otlp/d", &fake_ops, &f, NULL, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    for (i = 0; i < 20; i++) {
        assert_int_equal(exphelper_submit(h, mkbatch((uint64_t)i)), PC_OK);
    }
    fake_set(&f, &f.gate_closed, 0);
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 10000), PC_OK);
    exphelper_get_stats(h, &st);
    assert_int_equal(st.sent_profiles, 20);
    assert_int_equal(st.dropped_shutdown, 0);
    exphelper_free(h);

    /* A backend that never recovers: at the deadline, what is left is
     * dropped with reason "shutdown". */
    fake_init(&f);
    f.fail_retry = -1;
    assert_int_equal(exphelper_new(&c, "otlp/d", &fake_ops, &f, NULL, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    for (i = 0; i < 5; i++) {
        assert_int_equal(exphelper_submit(h, mkbatch((uint64_t)i)), PC_OK);
    }
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 100), PC_ETIMEDOUT);
    exphelper_get_stats(h, &st);
    assert_int_equal(st.dropped_shutdown, 5);
    assert_int_equal(st.sent_profiles, 0);
    exphelper_free(h);
}

/* Queue disabled: the caller exports, with retries. */
static void test_sync(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct errctx e;
    struct fake f;

    (void)state;
    fast_cfg(&c);
    c.queue.enabled = 0;
    fake_init(&f);
    f.fail_retry = 2;
    assert_int_equal(exphelper_new(&c, "otlp/s", &fake_ops, &f, NULL, &h, &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(3)), PC_OK);
    assert_int_equal(f.delivered[3], 1);
    f.permanent = 1;
    assert_int_equal(exphelper_submit(h, mkbatch(4)), PC_EPERMANENT);
    exphelper_get_stats(h, &st);
    assert_int_equal(st.retries, 2);
    assert_int_equal(st.send_failed_profiles, 1);
    exphelper_free(h);
}

static int exports_at_least(struct exphelper *h, void *arg)
{
    struct exphelper_stats st;

    exphelper_get_stats(h, &st);
    return st.exports >= (uint64_t)(uintptr_t)arg;
}

/* Submit while the backend fails, "crash", reopen with a healthy backend:
 * every batch is delivered. */
static void test_persistent_crash(void **state)
{
    struct exphelper_cfg c;
    struct exphelper_stats st;
    struct exphelper *h;
    struct errctx e;
    struct fake f;
    struct stat sb;
    char dir[64] = "/tmp/profcol-exph-XXXXXX", sub[128], cmd[160];
    int i;

    (void)state;
    assert_non_null(mkdtemp(dir));
    fast_cfg(&c);
    c.queue.storage.directory = dir;
    c.queue.num_consumers = 3;
    fake_init(&f);
    f.fail_retry = -1;
    assert_int_equal(exphelper_new(&c, "otlp/disk", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    for (i = 0; i < 40; i++) {
        assert_int_equal(exphelper_submit(h, mkbatch((uint64_t)i)), PC_OK);
    }
    assert_int_equal(exphelper_queue_size(h), 40);
    assert_true(wait_for(h, exports_at_least, (void *)10));
    exphelper_crash_for_test(h);
    exphelper_free(h);
    snprintf(sub, sizeof(sub), "%s/otlp_disk", dir);
    assert_int_equal(stat(sub, &sb), 0);

    fake_init(&f);
    assert_int_equal(exphelper_new(&c, "otlp/disk", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_queue_size(h), 40);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_true(wait_for(h, sent_at_least, (void *)40));
    assert_true(wait_for(h, queue_is, (void *)0));
    for (i = 0; i < 40; i++) {
        assert_int_equal(fake_get(&f, &f.delivered[i]), 1);
    }
    exphelper_get_stats(h, &st);
    assert_int_equal(st.sent_profiles, 40);
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 1000), PC_OK);
    exphelper_free(h);

    /* Acknowledged: a third start has nothing to send. */
    assert_int_equal(exphelper_new(&c, "otlp/disk", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_queue_size(h), 0);
    exphelper_free(h);

    /* A normal stop while failing keeps the records on disk too. */
    fake_init(&f);
    f.fail_retry = -1;
    assert_int_equal(exphelper_new(&c, "otlp/disk", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit(h, mkbatch(1)), PC_OK);
    assert_true(wait_for(h, exports_at_least, (void *)2));
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 1000), PC_OK);
    exphelper_get_stats(h, &st);
    assert_int_equal(st.dropped_shutdown, 0);
    exphelper_free(h);
    assert_int_equal(exphelper_new(&c, "otlp/disk", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_queue_size(h), 1);
    exphelper_free(h);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* submit_async: a persistent queue under `fsync: always` answers later,
 * once, after the group commit (the record is on disk by then: a crash
 * right after the answer replays it); in memory it answers at once. */
struct async_done {
    pthread_mutex_t mu;
    int calls, rc;
};

static void async_cb(void *arg, int rc)
{
    struct async_done *d = arg;

    pthread_mutex_lock(&d->mu);
    d->calls++;
    d->rc = rc;
    pthread_mutex_unlock(&d->mu);
}

static int async_calls(struct async_done *d)
{
    int n;

    pthread_mutex_lock(&d->mu);
    n = d->calls;
    pthread_mutex_unlock(&d->mu);
    return n;
}

static void test_submit_async(void **state)
{
    struct exphelper_cfg c;
    struct exphelper *h;
    struct errctx e;
    struct fake f;
    struct async_done d[5];
    char dir[64] = "/tmp/profcol-exph-XXXXXX", cmd[160];
    int i, k;

    (void)state;
    assert_non_null(mkdtemp(dir));
    fast_cfg(&c);
    c.queue.storage.directory = dir;
    fake_init(&f);
    f.fail_retry = -1; /* nothing leaves the queue */
    assert_int_equal(exphelper_new(&c, "otlp/async", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    for (i = 0; i < 5; i++) {
        memset(&d[i], 0, sizeof(d[i]));
        pthread_mutex_init(&d[i].mu, NULL);
        d[i].rc = 1;
        assert_int_equal(exphelper_submit_async(h, mkbatch((uint64_t)i),
                                                async_cb, &d[i]),
                         PC_EINPROGRESS);
    }
    for (k = 0; k < 2000; k++) {
        int all = 1;
        for (i = 0; i < 5; i++) {
            all &= async_calls(&d[i]) == 1;
        }
        if (all) {
            break;
        }
        usleep(5000);
    }
    for (i = 0; i < 5; i++) {
        assert_int_equal(async_calls(&d[i]), 1);
        assert_int_equal(d[i].rc, PC_OK);
    }
    exphelper_crash_for_test(h);
    exphelper_free(h);
    for (i = 0; i < 5; i++) {
        assert_int_equal(async_calls(&d[i]), 1); /* exactly once */
    }
    assert_int_equal(exphelper_new(&c, "otlp/async", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_queue_size(h), 5);
    exphelper_free(h);

    /* In memory: durable at enqueue, answered now, no callback. */
    fast_cfg(&c);
    fake_init(&f);
    assert_int_equal(exphelper_new(&c, "otlp/mem", &fake_ops, &f, NULL, &h,
                                   &e),
                     PC_OK);
    assert_int_equal(exphelper_start(h), PC_OK);
    assert_int_equal(exphelper_submit_async(h, mkbatch(1), async_cb, &d[0]),
                     PC_OK);
    assert_int_equal(exphelper_stop(h, clock_mono_ms() + 1000), PC_OK);
    exphelper_free(h);
    assert_int_equal(async_calls(&d[0]), 1);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_then_success),
        cmocka_unit_test(test_retries_exhausted),
        cmocka_unit_test(test_permanent),
        cmocka_unit_test(test_queue_full),
        cmocka_unit_test(test_stop_drains),
        cmocka_unit_test(test_sync),
        cmocka_unit_test(test_persistent_crash),
        cmocka_unit_test(test_submit_async),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
