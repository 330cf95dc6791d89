/* test_pqueue.c: the persistent queue: replay, acknowledgements, torn and
 * corrupt records, size bound, segment rollover and deletion, group commit
 * (no put is answered before the fdatasync covering it returned), the
 * in-memory copies kept with records. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/err.h"
#include "exporterhelper/pqueue.h"

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
    f->o.fsync = PQUEUE_FSYNC_NEVER; /* the tests check logic, not disks */
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
        assert_int_equal(get_one(pq, &t), i); /* in order */
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
    assert_int_equal(file_size(path), before); /* cut off */
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
    put_n(pq, 100, 2); /* 1 left over + 2 */
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

/* ---- group commit ------------------------------------------------------- */

/* The sync hook runs after each data fdatasync returned and before the
 * records it covered are answered; a gate lets the test hold it there. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed;
static atomic_uint syncs_entered, syncs_done, sync_records;
static atomic_uint acked_puts;

static void gate_hook(void *arg, uint32_t records)
{
    (void)arg;
    atomic_fetch_add(&syncs_entered, 1);
    pthread_mutex_lock(&gate_mu);
    while (gate_closed) {
        pthread_cond_wait(&gate_cv, &gate_mu);
    }
    pthread_mutex_unlock(&gate_mu);
    atomic_fetch_add(&sync_records, records);
    atomic_fetch_add(&syncs_done, 1);
}

static void gate_set(int closed)
{
    pthread_mutex_lock(&gate_mu);
    gate_closed = closed;
    pthread_cond_broadcast(&gate_cv);
    pthread_mutex_unlock(&gate_mu);
}

/* A put's answer: it must come after a sync hook returned, and only once
 * the syncs that returned covered at least as many records as were
 * answered. */
static atomic_uint violations; /* counted here, asserted by the test */

static void on_durable(void *arg, int rc)
{
    unsigned n = atomic_fetch_add(&acked_puts, 1) + 1;

    (void)arg;
    if (rc != PC_OK || atomic_load(&syncs_done) < 1 ||
        atomic_load(&sync_records) < n) {
        atomic_fetch_add(&violations, 1);
    }
}

static void wait_for(atomic_uint *v, unsigned want)
{
    int i;

    for (i = 0; i < 500 && atomic_load(v) < want; i++) {
        usleep(10000);
    }
    assert_true(atomic_load(v) >= want);
}

static void group_reset(void)
{
    atomic_store(&syncs_entered, 0);
    atomic_store(&syncs_done, 0);
    atomic_store(&sync_records, 0);
    atomic_store(&acked_puts, 0);
    atomic_store(&violations, 0);
}

/* No answer before its fdatasync; records written during a sync share the
 * next one; consumers see a record only once it is durable. */
static void test_group_commit_order(void **state)
{
    struct fx *f = *state;
    struct pqueue_stats st;
    struct pqueue *pq;
    struct pqueue_ticket t;
    uint8_t rec[RECSZ], *d;
    size_t dl;
    uint32_t i;

    group_reset();
    f->o.fsync = PQUEUE_FSYNC_ALWAYS;
    pqueue_set_sync_hook_for_test(gate_hook, NULL);
    gate_set(1);
    pq = open_q(f);
    make_rec(0, rec, sizeof(rec));
    assert_int_equal(pqueue_put_async(pq, rec, sizeof(rec), 0, on_durable,
                                      NULL),
                     PC_EINPROGRESS);
    wait_for(&syncs_entered, 1); /* its fdatasync is held at the gate */
    for (i = 1; i <= 5; i++) {
        make_rec(i, rec, sizeof(rec));
        assert_int_equal(pqueue_put_async(pq, rec, sizeof(rec), 0, on_durable,
                                          NULL),
                         PC_EINPROGRESS);
    }
    usleep(50000);
    assert_int_equal(atomic_load(&acked_puts), 0);
    /* Written but not durable: not for consumers yet. */
    assert_int_equal(pqueue_get(pq, 0, &t, &d, &dl), PC_ETIMEDOUT);
    gate_set(0);
    wait_for(&acked_puts, 6);
    assert_int_equal(atomic_load(&violations), 0);
    pqueue_get_stats(pq, &st);
    /* One commit for the first record, one for the five behind it. */
    assert_int_equal(st.commits, 2);
    assert_int_equal(st.committed, 6);
    for (i = 0; i <= 5; i++) {
        assert_int_equal(get_one(pq, &t), i);
        pqueue_ack(pq, &t);
    }
    pqueue_close(pq);
    pqueue_set_sync_hook_for_test(NULL, NULL);
}

struct putter {
    struct pqueue *pq;
    uint32_t base;
};

static void *put_sync_thread(void *arg)
{
    struct putter *p = arg;
    uint8_t rec[RECSZ];
    uint32_t i;

    for (i = 0; i < 20; i++) {
        make_rec(p->base + i, rec, sizeof(rec));
        if (pqueue_put(p->pq, rec, sizeof(rec), -1) != PC_OK) {
            return (void *)1;
        }
        /* Returned: its commit's hook must have run. */
        if (atomic_load(&sync_records) < 1) {
            return (void *)1;
        }
    }
    return NULL;
}

/* Synchronous puts from several threads share fdatasyncs, and everything
 * is there after a reopen. */
static void test_group_commit_threads(void **state)
{
    struct fx *f = *state;
    struct pqueue_stats st;
    struct putter p[8];
    pthread_t th[8];
    struct pqueue *pq;
    void *ret;
    int i;

    group_reset();
    f->o.fsync = PQUEUE_FSYNC_ALWAYS;
    pqueue_set_sync_hook_for_test(gate_hook, NULL);
    pq = open_q(f);
    for (i = 0; i < 8; i++) {
        p[i].pq = pq;
        p[i].base = (uint32_t)i * 100;
        assert_int_equal(pthread_create(&th[i], NULL, put_sync_thread, &p[i]),
                         0);
    }
    for (i = 0; i < 8; i++) {
        pthread_join(th[i], &ret);
        assert_null(ret);
    }
    pqueue_get_stats(pq, &st);
    assert_int_equal(st.committed, 160);
    assert_true(st.commits <= 160);
    pqueue_close(pq);
    pqueue_set_sync_hook_for_test(NULL, NULL);
    pq = open_q(f);
    assert_int_equal(pqueue_size(pq), 160);
    pqueue_close(pq);
}

/* Close completes every pending ticket. */
static void test_group_commit_close(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq;
    uint8_t rec[RECSZ];
    uint32_t i;

    group_reset();
    f->o.fsync = PQUEUE_FSYNC_ALWAYS;
    pqueue_set_sync_hook_for_test(gate_hook, NULL);
    pq = open_q(f);
    for (i = 0; i < 10; i++) {
        make_rec(i, rec, sizeof(rec));
        assert_int_equal(pqueue_put_async(pq, rec, sizeof(rec), 0, on_durable,
                                          NULL),
                         PC_EINPROGRESS);
    }
    pqueue_close(pq);
    assert_int_equal(atomic_load(&acked_puts), 10);
    assert_int_equal(atomic_load(&violations), 0);
    pqueue_set_sync_hook_for_test(NULL, NULL);
    pq = open_q(f);
    assert_int_equal(pqueue_size(pq), 10);
    pqueue_close(pq);
}

/* ---- in-memory copies ---------------------------------------------------- */

static atomic_int held_freed, held_durable;

static void count_free(void *held)
{
    atomic_fetch_add(&held_freed, 1);
    free(held);
}

static void count_durable(void *arg, int rc)
{
    (void)arg;
    assert_int_equal(rc, PC_OK);
    atomic_fetch_add(&held_durable, 1);
}

/* Puts record i (group commit) with a copy of its bytes; returns kept. */
static int put_held(struct pqueue *pq, uint32_t i)
{
    uint8_t rec[RECSZ];
    uint8_t *copy = malloc(RECSZ);
    int kept = -1;

    make_rec(i, rec, sizeof(rec));
    memcpy(copy, rec, RECSZ);
    assert_int_equal(pqueue_put_held(pq, rec, sizeof(rec), 0, count_durable,
                                     NULL, copy, RECSZ, 0, &kept),
                     PC_EINPROGRESS);
    if (!kept) {
        free(copy);
    }
    return kept;
}

/* Waits until n group-committed puts were answered (bounded). */
static void wait_durable(int n)
{
    int i;

    for (i = 0; i < 5000 && atomic_load(&held_durable) < n; i++) {
        usleep(1000);
    }
    assert_int_equal(atomic_load(&held_durable), n);
}

/* Takes the next record, which must come with its copy: returns its number. */
static uint32_t get_held(struct pqueue *pq, struct pqueue_ticket *t)
{
    uint8_t want[RECSZ];
    uint8_t *data = (uint8_t *)"not cleared";
    size_t len = 1;
    uint32_t i;

    assert_int_equal(pqueue_get(pq, 5000, t, &data, &len), PC_OK);
    assert_null(data);
    assert_int_equal(len, 0);
    assert_non_null(t->held);
    memcpy(&i, t->held, sizeof(i));
    make_rec(i, want, sizeof(want));
    assert_memory_equal(t->held, want, RECSZ);
    return i;
}

/* Copies kept with records go to the consumer instead of a read, within
 * held_max; the records are on disk all the same (a reopen replays the
 * unacknowledged ones), and close frees the copies still pending. */
static void test_held_copies(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq;
    struct pqueue_ticket t, taken;

    atomic_store(&held_freed, 0);
    atomic_store(&held_durable, 0);
    f->o.fsync = PQUEUE_FSYNC_ALWAYS;
    f->o.held_free = count_free;
    f->o.held_max = 2 * RECSZ;
    pq = open_q(f);
    assert_true(put_held(pq, 0));
    assert_true(put_held(pq, 1));
    assert_false(put_held(pq, 2)); /* over held_max: read from disk */
    wait_durable(3); /* all visible to consumers: get_one does not wait */
    assert_int_equal(get_held(pq, &t), 0);
    pqueue_release(pq, &t); /* back with its copy */
    assert_int_equal(get_held(pq, &t), 0);
    assert_int_equal(pqueue_ack(pq, &t), PC_OK);
    free(t.held);                 /* the consumer's after ack */
    assert_true(put_held(pq, 3)); /* the ack gave its cost back */
    assert_int_equal(get_held(pq, &taken), 1);
    assert_int_equal(get_one(pq, &t), 2);
    assert_null(t.held);
    pqueue_close(pq); /* record 3's copy is still pending */
    assert_int_equal(atomic_load(&held_freed), 1);
    assert_int_equal(atomic_load(&held_durable), 4);
    free(taken.held);
    f->o.held_free = NULL;
    pq = open_q(f);
    assert_int_equal(pqueue_size(pq), 3);
    assert_int_equal(get_one(pq, &t), 1);
    assert_int_equal(get_one(pq, &t), 2);
    assert_int_equal(get_one(pq, &t), 3);
    pqueue_close(pq);
}

/* Records stored without zstd (PQUEUE_PUT_STORE) take their size on disk,
 * mix with compressed ones in a segment, and read back alike, also after
 * a reopen. */
static void test_stored_records(void **state)
{
    struct fx *f = *state;
    struct pqueue *pq = open_q(f);
    struct pqueue_stats st;
    struct pqueue_ticket t;
    uint8_t rec[RECSZ];
    uint32_t i;
    int kept = -1;

    for (i = 0; i < 4; i++) {
        make_rec(i, rec, sizeof(rec));
        assert_int_equal(pqueue_put_held(pq, rec, sizeof(rec), 0, NULL, NULL,
                                         NULL, 0, i % 2 ? PQUEUE_PUT_STORE : 0,
                                         &kept),
                         PC_OK);
        assert_false(kept);
        pqueue_get_stats(pq, &st);
        if (i == 0) {
            assert_true(st.bytes < 16 + RECSZ); /* zstd shrank it */
        } else if (i == 1) {
            assert_true(st.bytes > 16 + RECSZ); /* this one as it is */
        }
    }
    assert_int_equal(get_one(pq, &t), 0);
    assert_int_equal(get_one(pq, &t), 1);
    assert_int_equal(pqueue_ack(pq, &t), PC_OK);
    pqueue_close(pq);
    pq = open_q(f);
    assert_int_equal(pqueue_size(pq), 3);
    assert_int_equal(get_one(pq, &t), 0);
    assert_int_equal(get_one(pq, &t), 2);
    assert_int_equal(get_one(pq, &t), 3);
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
        cmocka_unit_test_setup_teardown(test_group_commit_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_threads, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_group_commit_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_held_copies, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stored_records, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
