/* test_pwriter.c: the persistent queue's writer thread: records keep the
 * submission order, every batch is answered exactly once (durable, or
 * refused through the failed callback), a stopped writer refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "component/batch_codec.h"
#include "core/err.h"
#include "exporterhelper/pwriter.h"

#define NBATCH 20

struct fx {
    char dir[256];
    struct pqueue *pq;
    atomic_int done, done_ok, failed;
};

static void on_done(void *arg, int rc)
{
    struct fx *f = arg;

    atomic_fetch_add(&f->done, 1);
    if (rc == PC_OK) {
        atomic_fetch_add(&f->done_ok, 1);
    }
}

static void on_failed(void *ctx, const struct batch *b, int rc)
{
    struct fx *f = ctx;

    (void)b;
    assert_true(rc == PC_EBUSY);
    atomic_fetch_add(&f->failed, 1);
}

/* A queue in a fresh directory: fsync always (the committer answers). */
static struct fx *fx_open(uint32_t max_records)
{
    struct fx *f = calloc(1, sizeof(*f));
    struct pqueue_opts o;
    struct errctx e = {{0}};

    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/profcol-pw-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    memset(&o, 0, sizeof(o));
    o.dir = f->dir;
    o.fsync = PQUEUE_FSYNC_ALWAYS;
    o.max_records = max_records;
    assert_int_equal(pqueue_open(&o, &f->pq, &e), PC_OK);
    return f;
}

static void fx_close(struct fx *f)
{
    char cmd[300];

    pqueue_close(f->pq);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
}

static struct batch *named(int i)
{
    char name[32];

    snprintf(name, sizeof(name), "b%d", i);
    return batch_new(name);
}

static void test_order_and_answers(void **state)
{
    struct fx *f = fx_open(0);
    struct pwriter *w = NULL;
    int i;

    (void)state;
    assert_int_equal(pwriter_start(f->pq, on_failed, f, &w), PC_OK);
    for (i = 0; i < NBATCH; i++) {
        struct batch *b = named(i);
        assert_int_equal(pwriter_submit(w, b, -1, on_done, f), PC_EINPROGRESS);
    }
    pwriter_stop(w); /* stores every batch it holds */
    while (atomic_load(&f->done) < NBATCH) {
        usleep(1000); /* the committer answers the last ones */
    }
    assert_int_equal(atomic_load(&f->done_ok), NBATCH);
    assert_int_equal(atomic_load(&f->failed), 0);
    for (i = 0; i < NBATCH; i++) {
        struct pqueue_ticket t;
        struct batch *b = NULL;
        uint8_t *data;
        size_t len;
        char want[32];
        assert_int_equal(pqueue_get(f->pq, 1000, &t, &data, &len), PC_OK);
        assert_int_equal(batch_deserialize(data, len, &b), PC_OK);
        snprintf(want, sizeof(want), "b%d", i);
        assert_string_equal(b->source, want);
        batch_unref(b);
        free(data);
        assert_int_equal(pqueue_ack(f->pq, &t), PC_OK);
    }
    pwriter_free(w);
    fx_close(f);
}

static void test_refused_when_full(void **state)
{
    struct fx *f = fx_open(2);
    struct pwriter *w = NULL;
    int i;

    (void)state;
    assert_int_equal(pwriter_start(f->pq, on_failed, f, &w), PC_OK);
    for (i = 0; i < 5; i++) {
        int rc = pwriter_submit(w, named(i), 0, on_done, f);
        assert_int_equal(rc, PC_EINPROGRESS);
    }
    pwriter_stop(w);
    while (atomic_load(&f->done) < 5) {
        usleep(1000);
    }
    /* max_records 2, nothing consumed, no wait in the queue: refused. */
    assert_int_equal(atomic_load(&f->done_ok), 2);
    assert_int_equal(atomic_load(&f->failed), 3);
    pwriter_free(w);
    fx_close(f);
}

/* A burst of submissions while the writer is held up (here: waiting for
 * room in a full queue) waits in the hand-off instead of being refused at
 * once: receivers submit without waiting, so a small FIFO refused 1 of 16
 * concurrent requests with the queue nearly empty. */
static void test_burst_while_writer_busy(void **state)
{
    enum { BURST = 16 };
    struct fx *f = fx_open(1);
    struct pwriter *w = NULL;
    int i;

    (void)state;
    assert_int_equal(pwriter_start(f->pq, on_failed, f, &w), PC_OK);
    assert_int_equal(pwriter_submit(w, named(0), 0, on_done, f),
                     PC_EINPROGRESS); /* fills the queue */
    /* The writer waits up to 1 s for room for this one. */
    assert_int_equal(pwriter_submit(w, named(1), 1000, on_done, f),
                     PC_EINPROGRESS);
    for (i = 0; i < BURST; i++) {
        assert_int_equal(pwriter_submit(w, named(2 + i), 0, on_done, f),
                         PC_EINPROGRESS);
    }
    pwriter_stop(w);
    while (atomic_load(&f->done) < BURST + 2) {
        usleep(1000);
    }
    /* The queue held one record and nothing consumed it: the rest are
     * answered, refused by the full queue (not by the hand-off). */
    assert_int_equal(atomic_load(&f->done_ok), 1);
    assert_int_equal(atomic_load(&f->failed), BURST + 1);
    pwriter_free(w);
    fx_close(f);
}

static void test_closed_refuses(void **state)
{
    struct fx *f = fx_open(0);
    struct pwriter *w = NULL;
    struct batch *b = named(0);

    (void)state;
    assert_int_equal(pwriter_start(f->pq, on_failed, f, &w), PC_OK);
    pwriter_stop(w);
    assert_int_equal(pwriter_submit(w, b, 0, on_done, f), PC_ECLOSED);
    batch_unref(b); /* refused: still the caller's */
    assert_int_equal(atomic_load(&f->done), 0);
    pwriter_free(w);
    fx_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order_and_answers),
        cmocka_unit_test(test_refused_when_full),
        cmocka_unit_test(test_burst_while_writer_busy),
        cmocka_unit_test(test_closed_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
