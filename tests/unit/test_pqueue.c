/* test_pqueue.c: the persistent queue: replay, acknowledgements, torn and
 * corrupt records, size bound, segment rollover and deletion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "model/err.h"
#include "pipeline/pqueue.h"

#define RECSZ 3000

struct fx {
    char dir[256];
    struct pqueue_opts o;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/profcol-pq-XXXXXX");
    if (mkdtemp(f->dir) == NULL) {
        return -1;
    }
    f->o.dir = f->dir;
    f->o.fsync = PQUEUE_FSYNC_NEVER;   /* the tests check logic, not disks */
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fx *f = *state;
    char cmd[300];

    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0) {
        return -1;
    }
    free(f);
    return 0;
}

/* Record i: its number, then bytes derived from it (compressible-ish). */
static void make_rec(uint32_t i, uint8_t *p, size_t n)
{
    size_t k;
    uint32_t x = i * 2654435761u + 1;

    memcpy(p, &i, sizeof(i));
    for (k = sizeof(i); k < n; k++) {
        x = x * 1103515245u + 12345u;
        p[k] = (uint8_t)(k % 7 == 0 ? (x >> 16) : (k & 0x3f));
    }
}

static void put_n(struct pqueue *pq, uint32_t from, uint32_t n)
{
    uint8_t rec[RECSZ];
    uint32_t i;

    for (i = from; i < from + n; i++) {
        make_rec(i, rec, sizeof(rec));
        assert_int_equal(pqueue_put(pq, rec, sizeof(rec), 0), PC_OK);
    }
}

/* Takes the next record, checks its bytes, returns its number. */
static uint32_t get_one(struct pqueue *pq, struct pqueue_ticket *t)
{
    uint8_t want[RECSZ];
    uint8_t *data;
    size_t len;
    uint32_t i;

    assert_int_equal(pqueue_get(pq, 0, t, &data, &len), PC_OK);
    assert_int_equal(len, RECSZ);
    memcpy(&i, data, sizeof(i));
    make_rec(i, want, sizeof(want));
    assert_memory_equal(data, want, RECSZ);
    free(data);
    return i;
}

static struct pqueue *open_q(struct fx *f)
{
    struct pqueue *pq = NULL;
    struct errctx e;

    assert_int_equal(pqueue_open(&f->o, &pq, &e), PC_OK);
    return pq;
}

static void test_replay_all(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f);
    struct pqueue_ticket t;
    struct pqueue_stats st;
    uint32_t i;

    put_n(pq, 0, 50);
    assert_int_equal(pqueue_size(pq), 50);
    pqueue_close(pq);
    pq = open_q(f);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.replayed, 50);
    assert_int_equal(st.torn, 0);
    assert_int_equal(st.corrupt, 0);
    for (i = 0; i < 50; i++) {
        assert_int_equal(get_one(pq, &t), i);       /* in order */
    }
    pqueue_close(pq);
}

static void test_ack_some(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f);
    struct pqueue_ticket t[40];
    uint8_t *d;
    size_t n;
    uint32_t i;

    put_n(pq, 0, 40);
    for (i = 0; i < 40; i++) {
        assert_int_equal(get_one(pq, &t[i]), i);
    }
    /* Acknowledge the odd ones and 0..9, out of order. */
    for (i = 39; i > 0; i--) {
        if (i % 2 == 1 || i < 10) {
            assert_int_equal(pqueue_ack(pq, &t[i]), PC_OK);
        }
    }
    assert_int_equal(pqueue_ack(pq, &t[0]), PC_OK);
    pqueue_close(pq);
    pq = open_q(f);
    for (i = 10; i < 40; i += 2) {
        assert_int_equal(get_one(pq, &t[0]), i);
    }
    assert_int_equal(pqueue_get(pq, 0, &t[0], &d, &n), PC_ETIMEDOUT);
    pqueue_close(pq);
}

/* Path of the only (or newest) segment log. */
static void newest_log(struct fx *f, char *path, size_t cap)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    char best[256] = "";

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".log") != NULL &&
            strcmp(de->d_name, best) > 0) {
            snprintf(best, sizeof(best), "%s", de->d_name);
        }
    }
    closedir(d);
    assert_true(best[0] != '\0');
    snprintf(path, cap, "%s/%s", f->dir, best);
}

static off_t file_size(const char *path)
{
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    return sb.st_size;
}

/* Cut the file in the middle of the last record: only that one is lost. */
static void test_torn_last(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f);
    struct pqueue_ticket t;
    struct pqueue_stats st;
    char path[600];
    off_t before, after;
    uint8_t *d;
    size_t n;
    uint32_t i;

    put_n(pq, 0, 10);
    newest_log(f, path, sizeof(path));
    before = file_size(path);
    put_n(pq, 10, 1);
    after = file_size(path);
    pqueue_close(pq);
    assert_int_equal(truncate(path, before + (after - before) / 2), 0);

    pq = open_q(f);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.torn, 1);
    assert_int_equal(st.corrupt, 0);
    assert_int_equal(st.replayed, 10);
    assert_int_equal(file_size(path), before);       /* cut off */
    /* New records follow the good ones and all replay. */
    put_n(pq, 11, 2);
    pqueue_close(pq);
    pq = open_q(f);
    for (i = 0; i < 10; i++) {
        assert_int_equal(get_one(pq, &t), i);
    }
    assert_int_equal(get_one(pq, &t), 11);
    assert_int_equal(get_one(pq, &t), 12);
    assert_int_equal(pqueue_get(pq, 0, &t, &d, &n), PC_ETIMEDOUT);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.torn, 0);
    pqueue_close(pq);
}

/* A torn header only (fewer than 16 bytes of the last record). */
static void test_torn_header(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f);
    struct pqueue_stats st;
    char path[600];
    off_t before;

    put_n(pq, 0, 3);
    newest_log(f, path, sizeof(path));
    before = file_size(path);
    put_n(pq, 3, 1);
    pqueue_close(pq);
    assert_int_equal(truncate(path, before + 7), 0);
    pq = open_q(f);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.torn, 1);
    assert_int_equal(st.replayed, 3);
    pqueue_close(pq);
}

/* Flip a byte inside a middle record: it is reported, the rest kept. */
static void test_corrupt_middle(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f);
    struct pqueue_ticket t;
    struct pqueue_stats st;
    char path[600];
    off_t s5, s6;
    uint8_t c;
    int fd;
    uint32_t i, got;

    put_n(pq, 0, 5);
    newest_log(f, path, sizeof(path));
    s5 = file_size(path);
    put_n(pq, 5, 1);
    s6 = file_size(path);
    put_n(pq, 6, 4);
    pqueue_close(pq);

    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &c, 1, s5 + (s6 - s5) / 2), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, s5 + (s6 - s5) / 2), 1);
    close(fd);

    pq = open_q(f);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.corrupt, 1);
    assert_int_equal(st.torn, 0);
    assert_int_equal(st.replayed, 9);
    for (i = 0; i < 10; i++) {
        if (i == 5) {
            continue;
        }
        got = get_one(pq, &t);
        assert_int_equal(got, i);
    }
    pqueue_close(pq);
}

static void test_max_size(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq;
    struct pqueue_ticket t;
    uint8_t rec[RECSZ];
    int i, rc = PC_OK;

    f->o.max_size = 64 * 1024;
    f->o.segment_size = 16 * 1024;
    pq = open_q(f);
    for (i = 0; i < 1000 && rc == PC_OK; i++) {
        make_rec((uint32_t)i, rec, sizeof(rec));
        rc = pqueue_put(pq, rec, sizeof(rec), 0);
    }
    assert_int_equal(rc, PC_EBUSY);
    assert_true(i > 5);
    /* A waiting put gives up at its deadline. */
    assert_int_equal(pqueue_put(pq, rec, sizeof(rec), 50), PC_EBUSY);
    /* Acknowledging whole segments makes room again. */
    while (pqueue_size(pq) > 0) {
        get_one(pq, &t);
        assert_int_equal(pqueue_ack(pq, &t), PC_OK);
    }
    assert_int_equal(pqueue_put(pq, rec, sizeof(rec), 0), PC_OK);
    pqueue_close(pq);

    /* max_records bounds the count too. */
    f->o.max_size = 0;
    f->o.segment_size = 0;
    f->o.max_records = 3;
    pq = open_q(f);
    put_n(pq, 100, 2);                   /* 1 left over + 2 */
    assert_int_equal(pqueue_put(pq, rec, sizeof(rec), 0), PC_EBUSY);
    pqueue_close(pq);
}

static int count_files(struct fx *f, const char *ext)
{
    DIR *d = opendir(f->dir);
    struct dirent *de;
    int n = 0;

    while ((de = readdir(d)) != NULL) {
        n += strstr(de->d_name, ext) != NULL;
    }
    closedir(d);
    return n;
}

static void test_rollover_and_delete(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq;
    struct pqueue_ticket t[60];
    struct pqueue_stats st;
    uint32_t i;

    f->o.segment_size = 8 * 1024;
    pq = open_q(f);
    put_n(pq, 0, 60);
    pqueue_get_stats(pq, &st);
    assert_true(st.segments > 3);
    assert_int_equal(count_files(f, ".log"), (int)st.segments);
    for (i = 0; i < 60; i++) {
        get_one(pq, &t[i]);
    }
    /* Ack the first half: those segments go away. */
    for (i = 0; i < 30; i++) {
        assert_int_equal(pqueue_ack(pq, &t[i]), PC_OK);
    }
    assert_true(count_files(f, ".log") < (int)st.segments);
    pqueue_close(pq);
    pq = open_q(f);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.replayed, 30);
    for (i = 30; i < 60; i++) {
        assert_int_equal(get_one(pq, &t[i]), i);
        assert_int_equal(pqueue_ack(pq, &t[i]), PC_OK);
    }
    pqueue_close(pq);
    /* Everything acknowledged: reopening leaves no segment behind. */
    pq = open_q(f);
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.replayed, 0);
    assert_int_equal(st.records, 0);
    pqueue_close(pq);
    assert_int_equal(count_files(f, ".log"), 0);
    assert_int_equal(count_files(f, ".ack"), 0);
}

/* A record taken but neither acked nor released is replayed after a
 * "crash"; release puts it back at the front. Also: one process only. */
static void test_release_and_lock(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f), *other = NULL;
    struct pqueue_ticket t;
    struct errctx e;

    put_n(pq, 0, 3);
    assert_int_equal(get_one(pq, &t), 0);
    pqueue_release(pq, &t);
    assert_int_equal(get_one(pq, &t), 0);
    assert_int_equal(get_one(pq, &t), 1);
    assert_int_equal(pqueue_open(&f->o, &other, &e), PC_EBUSY);
    pqueue_close(pq);
    pq = open_q(f);
    assert_int_equal(pqueue_size(pq), 3);
    pqueue_shutdown(pq);
    assert_int_equal(pqueue_put(pq, (const uint8_t *)"x", 1, 0), PC_ECLOSED);
    pqueue_close(pq);
}

/* The fsync policies all write the same format. */
static void test_fsync_policies(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq;
    struct pqueue_ticket t;
    int p;

    for (p = PQUEUE_FSYNC_ALWAYS; p <= PQUEUE_FSYNC_NEVER; p++) {
        f->o.fsync = p;
        f->o.fsync_interval_ms = 10;
        pq = open_q(f);
        put_n(pq, (uint32_t)p * 10, 5);
        usleep(30000);
        pqueue_close(pq);
    }
    pq = open_q(f);
    for (p = 0; p < 15; p++) {
        assert_int_equal(get_one(pq, &t), (uint32_t)((p / 5) * 10 + p % 5));
        pqueue_ack(pq, &t);
    }
    pqueue_close(pq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_replay_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ack_some, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_last, setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_middle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_size, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollover_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_release_and_lock, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_fsync_policies, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
