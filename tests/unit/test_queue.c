/* test_queue.c: the bounded in-memory sending queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "exporterhelper/queue.h"

static struct batch *mk(int n)
{
    struct batch *b = batch_new("test");

    assert_non_null(b);
    b->source[0] = (char)('a' + n); /* identity for FIFO checks */
    return b;
}

static void test_fifo_and_overflow(void **state)
{
    struct queue *q;
    struct batch *b, *extra = mk(9);
    int i;

    (void)state;
    assert_int_equal(queue_new(3, &q), PC_OK);
    assert_int_equal(queue_capacity(q), 3);
    for (i = 0; i < 3; i++) {
        assert_int_equal(queue_push(q, mk(i), 0), PC_OK);
    }
    assert_int_equal(queue_size(q), 3);
    /* Full: refused at once, the caller keeps its reference. */
    assert_int_equal(queue_push(q, extra, 0), PC_EBUSY);
    for (i = 0; i < 3; i++) {
        assert_int_equal(queue_pop(q, 0, &b), PC_OK);
        assert_int_equal(b->source[0], 'a' + i);
        batch_unref(b);
    }
    assert_int_equal(queue_pop(q, 0, &b), PC_ETIMEDOUT);
    assert_int_equal(queue_size(q), 0);
    batch_unref(extra);
    queue_free(q);
}

/* A batch holding one original payload of n bytes. */
static struct batch *mk_bytes(size_t n)
{
    struct batch *b = batch_new("test");
    struct item *it = b != NULL ? batch_add_item(b) : NULL;
    static uint8_t zeros[1 << 16];

    assert_non_null(it);
    assert_true(n <= sizeof(zeros));
    it->raw = blob_new(zeros, n);
    assert_non_null(it->raw);
    return b;
}

static void test_max_bytes(void **state)
{
    struct queue *q;
    struct batch *b, *big = mk_bytes(60000), *small = mk_bytes(1000);
    uint64_t c_small = queue_batch_cost(small), c_big = queue_batch_cost(big);

    (void)state;
    /* The cost counts the payload. */
    assert_true(c_big >= 60000 && c_small >= 1000 && c_big > c_small);
    assert_int_equal(queue_new(100, &q), PC_OK);
    queue_set_max_bytes(q, 3 * c_small + c_small / 2);
    assert_int_equal(queue_push(q, mk_bytes(1000), 0), PC_OK);
    assert_int_equal(queue_push(q, mk_bytes(1000), 0), PC_OK);
    assert_int_equal(queue_push(q, mk_bytes(1000), 0), PC_OK);
    assert_int_equal(queue_bytes(q), 3 * c_small);
    /* Slots are left, bytes are not: refused as a full queue is. */
    assert_int_equal(queue_push(q, small, 0), PC_EBUSY);
    assert_int_equal(queue_push(q, big, 0), PC_EBUSY);
    assert_int_equal(queue_pop(q, 0, &b), PC_OK);
    batch_unref(b);
    assert_int_equal(queue_bytes(q), 2 * c_small);
    assert_int_equal(queue_push(q, small, 0), PC_OK);
    while (queue_pop(q, 0, &b) == PC_OK) {
        batch_unref(b);
    }
    assert_int_equal(queue_bytes(q), 0);
    /* Larger than the cap on its own: taken by an empty queue only. */
    assert_int_equal(queue_push(q, big, 0), PC_OK);
    b = mk_bytes(1000);
    assert_int_equal(queue_push(q, b, 0), PC_EBUSY);
    batch_unref(b);
    queue_free(q);
}

static void test_block_deadline(void **state)
{
    struct queue *q;
    struct batch *b = mk(1);
    int64_t t0;

    (void)state;
    assert_int_equal(queue_new(1, &q), PC_OK);
    assert_int_equal(queue_push(q, mk(0), 0), PC_OK);
    t0 = clock_mono_ms();
    assert_int_equal(queue_push(q, b, 150), PC_EBUSY);
    assert_true(clock_mono_ms() - t0 >= 140);
    assert_true(clock_mono_ms() - t0 < 2000);
    batch_unref(b);
    queue_free(q); /* frees the queued batch too (ASan checks) */
}

struct popper {
    struct queue *q;
    int delay_ms;
    int got;
};

static void *pop_later(void *arg)
{
    struct popper *p = arg;
    struct batch *b;

    usleep((useconds_t)p->delay_ms * 1000);
    if (queue_pop(p->q, 1000, &b) == PC_OK) {
        p->got = b->source[0];
        batch_unref(b);
    }
    return NULL;
}

/* A blocked push completes when a consumer makes room. */
static void test_block_until_room(void **state)
{
    struct queue *q;
    struct popper p;
    pthread_t t;
    struct batch *b;

    (void)state;
    assert_int_equal(queue_new(1, &q), PC_OK);
    assert_int_equal(queue_push(q, mk(0), 0), PC_OK);
    p.q = q;
    p.delay_ms = 50;
    p.got = 0;
    pthread_create(&t, NULL, pop_later, &p);
    assert_int_equal(queue_push(q, mk(1), 5000), PC_OK);
    pthread_join(t, NULL);
    assert_int_equal(p.got, 'a');
    assert_int_equal(queue_pop(q, 0, &b), PC_OK);
    assert_int_equal(b->source[0], 'b');
    batch_unref(b);
    queue_free(q);
}

static void *close_later(void *arg)
{
    usleep(50000);
    queue_close(arg);
    return NULL;
}

/* Close: pushes fail, pops drain what is left, then PC_ECLOSED; waiters
 * are woken. */
static void test_close_drain(void **state)
{
    struct queue *q;
    struct batch *b, *x = mk(7);
    pthread_t t;

    (void)state;
    assert_int_equal(queue_new(4, &q), PC_OK);
    pthread_create(&t, NULL, close_later, q);
    assert_int_equal(queue_pop(q, -1, &b), PC_ECLOSED); /* woken */
    pthread_join(t, NULL);
    queue_free(q);

    assert_int_equal(queue_new(4, &q), PC_OK);
    assert_int_equal(queue_push(q, mk(0), 0), PC_OK);
    assert_int_equal(queue_push(q, mk(1), 0), PC_OK);
    queue_close(q);
    queue_close(q);
    assert_int_equal(queue_push(q, x, 0), PC_ECLOSED);
    assert_int_equal(queue_pop(q, -1, &b), PC_OK);
    assert_int_equal(b->source[0], 'a');
    batch_unref(b);
    assert_int_equal(queue_pop(q, -1, &b), PC_OK);
    assert_int_equal(b->source[0], 'b');
    batch_unref(b);
    assert_int_equal(queue_pop(q, -1, &b), PC_ECLOSED);
    batch_unref(x);
    queue_free(q);
    assert_int_equal(queue_new(0, &q), PC_EINVAL);
}

struct mt {
    struct queue *q;
    int n;
    long sum;
};

static void *producer(void *arg)
{
    struct mt *m = arg;
    int i;

    for (i = 0; i < m->n; i++) {
        struct batch *b = batch_new("p");
        b->nitems = 0;
        b->source[1] = (char)(i % 100);
        assert_int_equal(queue_push(m->q, b, -1), PC_OK);
    }
    return NULL;
}

static void *consumer(void *arg)
{
    struct mt *m = arg;
    struct batch *b;

    while (queue_pop(m->q, -1, &b) == PC_OK) {
        m->sum += b->source[1];
        batch_unref(b);
    }
    return NULL;
}

/* Many producers and consumers: nothing lost, nothing twice. */
static void test_threads(void **state)
{
    struct mt p[4], c[3];
    pthread_t tp[4], tc[3];
    struct queue *q;
    long sum = 0, want = 0;
    int i;

    (void)state;
    assert_int_equal(queue_new(8, &q), PC_OK);
    for (i = 0; i < 3; i++) {
        c[i].q = q;
        c[i].sum = 0;
        pthread_create(&tc[i], NULL, consumer, &c[i]);
    }
    for (i = 0; i < 4; i++) {
        p[i].q = q;
        p[i].n = 2000;
        pthread_create(&tp[i], NULL, producer, &p[i]);
    }
    for (i = 0; i < 4; i++) {
        pthread_join(tp[i], NULL);
    }
    queue_close(q);
    for (i = 0; i < 3; i++) {
        pthread_join(tc[i], NULL);
        sum += c[i].sum;
    }
    for (i = 0; i < 2000; i++) {
        want += 4 * (i % 100);
    }
    assert_int_equal(sum, want);
    queue_free(q);
}

/* A slow consumer: takes one batch, works 100 ms on it, until closed. */
static void *slow_consumer(void *arg)
{
    struct queue *q = arg;
    struct batch *b;

    while (queue_pop(q, -1, &b) == PC_OK) {
        usleep(100000);
        batch_unref(b);
    }
    return NULL;
}

/* Pushes wake only consumers no other is headed for, yet a burst still
 * spreads over every sleeping consumer (a slow exporter keeps its
 * parallelism): 4 batches, 4 consumers of 100 ms each, about 100 ms. */
static void test_burst_spreads(void **state)
{
    struct queue *q;
    pthread_t th[4];
    int64_t t0;
    int i;

    (void)state;
    assert_int_equal(queue_new(16, &q), PC_OK);
    for (i = 0; i < 4; i++) {
        assert_int_equal(pthread_create(&th[i], NULL, slow_consumer, q), 0);
    }
    usleep(50000); /* all asleep */
    t0 = clock_mono_ms();
    for (i = 0; i < 4; i++) {
        assert_int_equal(queue_push(q, mk(i), 0), PC_OK);
    }
    while (queue_size(q) > 0) {
        usleep(1000);
    }
    queue_close(q);
    for (i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
    }
    /* Serial would be 400 ms; allow a loaded machine some slack. */
    assert_true(clock_mono_ms() - t0 < 300);
    queue_free(q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fifo_and_overflow),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_block_deadline),
        cmocka_unit_test(test_block_until_room),
        cmocka_unit_test(test_close_drain),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_burst_spreads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
