/*
 * pqueue.c: the persistent queue (see pqueue.h and docs/persistence.md).
 *
 * Files in the queue's directory:
 *   LOCK                 flock()ed while open: one process per queue
 *   seg-<16 hex>.log     records, appended; ids grow, never reused
 *   seg-<16 hex>.ack     acknowledgements of that segment's records
 *
 * record:  u32 magic "PCQ1" | u32 len | u32 crc32(payload) |
 *          u32 crc32(first 12 header bytes) | payload (len bytes, zstd)
 *          or magic "PCQS": the same with the payload stored as it is
 *          (PQUEUE_PUT_STORE: already compressed, zstd would not shrink it)
 * ack:     u32 magic "PCA1" | u32 crc32(offset) | u64 offset of the record
 *
 * All integers little-endian. The header carries its own CRC so that the
 * scanner, resynchronising after damage, does not take four payload bytes
 * that happen to spell the magic for a record.
 *
 * Why this survives kill -9 at any point: a record is written with one
 * pwrite at the end of the segment and becomes visible to consumers only
 * afterwards; a record cut short is a torn tail that the next open
 * truncates (it was never acknowledged to the producer). An ack entry is
 * written before the record is forgotten; a segment is deleted (log
 * first, then its ack log) only when every record in it is acknowledged,
 * and an ack log without its segment is removed at open.
 *
 * Under PQUEUE_FSYNC_ALWAYS a put appends and returns; the committer
 * thread (committer_main) fdatasyncs every segment written since its last
 * sync, unlocked, then hands the records to consumers and answers their
 * puts: one fdatasync per group of records instead of one per record,
 * and nothing answered before it is on disk.
 */
#include "exporterhelper/pqueue.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/assert.h"
#include "core/buf.h"
#include "core/clock.h"
#include "codec/compress.h"
#include "telemetry/log.h"

#define REC_MAGIC 0x31514350u        /* "PCQ1" */
#define REC_MAGIC_STORED 0x53514350u /* "PCQS"; same first byte as PCQ1 */
#define ACK_MAGIC 0x31414350u        /* "PCA1" */
#define REC_HDR 16
#define ACK_LEN 16

struct pq_seg {
    uint64_t id;
    int fd;        /* O_RDWR */
    int ack_fd;    /* -1 until the first ack */
    uint64_t size; /* bytes of the log (end of the last record) */
    uint32_t live; /* unacknowledged records */
    int dirty;     /* written since the last fdatasync */
    int ack_dirty;
    struct pq_seg *next;
};

/* A record appended under PQUEUE_FSYNC_ALWAYS and not yet durable. Async
 * waiters are malloc'd and freed by the committer; a synchronous put's
 * lives on its stack and is only marked finished. */
struct pq_waiter {
    struct pqueue_ticket t;
    pqueue_durable_fn done; /* NULL: a synchronous put waits */
    void *arg;
    int finished, rc; /* synchronous waiters, under the mutex */
    struct pq_waiter *next;
};

/* A growable deque of tickets: records waiting for a consumer. */
struct pq_fifo {
    struct pqueue_ticket *v;
    size_t cap, head, len;
};

struct pqueue {
    pthread_mutex_t mu;
    pthread_cond_t not_empty;
    pthread_cond_t not_full;
    pthread_cond_t flusher_cv;
    pthread_cond_t durable_cv; /* a group commit finished */
    pthread_t flusher;         /* committer (always) or flusher (interval) */
    int has_flusher;
    char *dir;
    char log_id[96];
    int lock_fd;
    int dir_fd;
    uint64_t max_size, seg_size;
    uint32_t max_records;
    int fsync, level;
    int64_t fsync_interval_ms;
    struct pq_seg *segs, *tail; /* by id; tail is the writer (if open) */
    int tail_writable;          /* tail accepts appends */
    uint64_t next_id;
    struct pq_fifo pending;
    /* Appended, waiting for the committer's next fdatasync (always). */
    struct pq_waiter *wait_head, *wait_tail;
    int acks_dirty;          /* some ack log not synced yet */
    int64_t commit_delay_ms; /* fault injection: a slow disk (tests) */
    uint32_t live;
    uint64_t bytes;
    void (*held_free)(void *held);
    uint64_t held_max, held_bytes; /* in-memory copies kept with tickets */
    int closed;
    struct pqueue_stats st;
};

/* ---- little helpers ------------------------------------------------------ */

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint32_t crc(const uint8_t *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);

    /* zlib's crc32 takes uInt lengths: feed large payloads in pieces. */
    while (n > 0) {
        uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, p, k);
        p += k;
        n -= k;
    }
    return (uint32_t)c;
}

static void seg_path(const struct pqueue *pq, uint64_t id, const char *ext,
                     char *out, size_t cap)
{
    snprintf(out, cap, "%s/seg-%016" PRIx64 ".%s", pq->dir, id, ext);
}

/* Waits (mutex held); nonzero when the wait is over for good. */
static int wait_on(struct pqueue *pq, pthread_cond_t *cv, int64_t wait_ms,
                   const struct timespec *dl)
{
    if (wait_ms == 0) {
        return 1;
    }
    if (wait_ms < 0) {
        pthread_cond_wait(cv, &pq->mu);
        return 0;
    }
    return pthread_cond_timedwait(cv, &pq->mu, dl) == ETIMEDOUT;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return PC_EIO;
        }
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return PC_OK;
}

static int read_all(int fd, uint8_t *p, size_t n, uint64_t off)
{
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return PC_EIO;
        }
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return PC_OK;
}

/* ---- pending fifo -------------------------------------------------------- */

static int fifo_grow(struct pq_fifo *f)
{
    size_t ncap = f->cap != 0 ? f->cap * 2 : 64;
    struct pqueue_ticket *nv = malloc(ncap * sizeof(*nv));
    size_t i;

    if (nv == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < f->len; i++) {
        nv[i] = f->v[(f->head + i) % f->cap];
    }
    free(f->v);
    f->v = nv;
    f->cap = ncap;
    f->head = 0;
    return PC_OK;
}

static int fifo_push_back(struct pq_fifo *f, const struct pqueue_ticket *t)
{
    if (f->len == f->cap && fifo_grow(f) != PC_OK) {
        return PC_ENOMEM;
    }
    f->v[(f->head + f->len) % f->cap] = *t;
    f->len++;
    return PC_OK;
}

static int fifo_push_front(struct pq_fifo *f, const struct pqueue_ticket *t)
{
    if (f->len == f->cap && fifo_grow(f) != PC_OK) {
        return PC_ENOMEM;
    }
    f->head = (f->head + f->cap - 1) % f->cap;
    f->v[f->head] = *t;
    f->len++;
    return PC_OK;
}

static void fifo_pop(struct pq_fifo *f, struct pqueue_ticket *t)
{
    PC_ASSERT(f->len > 0);
    *t = f->v[f->head];
    f->head = (f->head + 1) % f->cap;
    f->len--;
}

/* Lets go of a ticket's in-memory copy (mutex held): the consumer will
 * read the record from disk instead. */
static void held_drop(struct pqueue *pq, struct pqueue_ticket *t)
{
    if (t->held == NULL) {
        return;
    }
    PC_ASSERT(pq->held_bytes >= t->held_cost);
    pq->held_bytes -= t->held_cost;
    pq->held_free(t->held);
    t->held = NULL;
    t->held_cost = 0;
}

/* ---- segments ------------------------------------------------------------ */

static struct pq_seg *seg_find(struct pqueue *pq, uint64_t id)
{
    struct pq_seg *s;

    for (s = pq->segs; s != NULL; s = s->next) {
        if (s->id == id) {
            return s;
        }
    }
    return NULL;
}

static void seg_append(struct pqueue *pq, struct pq_seg *s)
{
    s->next = NULL;
    if (pq->tail != NULL) {
        pq->tail->next = s;
    } else {
        pq->segs = s;
    }
    pq->tail = s;
}

static void seg_close_fds(struct pq_seg *s)
{
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->ack_fd >= 0) {
        close(s->ack_fd);
    }
    s->fd = s->ack_fd = -1;
}

/* The directory entry of a new or removed file must be durable too, or a
 * power cut could lose a whole segment that fdatasync said was safe. */
static void sync_dir(struct pqueue *pq)
{
    if (pq->fsync == PQUEUE_FSYNC_ALWAYS && pq->dir_fd >= 0) {
        fsync(pq->dir_fd);
    }
}

/* Unlinks a fully acknowledged segment: the log first, so that a crash in
 * between leaves only an orphan ack log, which open removes. */
static void seg_delete(struct pqueue *pq, struct pq_seg *s)
{
    struct pq_seg **pp;
    char path[4096];

    for (pp = &pq->segs; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    if (pq->tail == s) {
        struct pq_seg *t = pq->segs;
        while (t != NULL && t->next != NULL) {
            t = t->next;
        }
        pq->tail = t;
        pq->tail_writable = 0;
    }
    seg_close_fds(s);
    seg_path(pq, s->id, "log", path, sizeof(path));
    unlink(path);
    seg_path(pq, s->id, "ack", path, sizeof(path));
    unlink(path);
    sync_dir(pq);
    pq->bytes -= s->size;
    free(s);
    pthread_cond_broadcast(&pq->not_full);
}

static struct pq_seg *seg_new_struct(uint64_t id)
{
    struct pq_seg *s = calloc(1, sizeof(*s));

    if (s != NULL) {
        s->id = id;
        s->fd = s->ack_fd = -1;
    }
    return s;
}

/* Starts a new segment file as the writer. */
static int seg_create(struct pqueue *pq)
{
    struct pq_seg *s = seg_new_struct(pq->next_id);
    struct pq_seg *old = pq->tail_writable ? pq->tail : NULL;
    char path[4096];

    if (s == NULL) {
        return PC_ENOMEM;
    }
    seg_path(pq, s->id, "log", path, sizeof(path));
    s->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        log_error(pq->log_id, "persistent queue: cannot create segment",
                  "path=\"%s\" error=\"%s\"", path, err_errno(errno));
        free(s);
        return PC_EIO;
    }
    sync_dir(pq);
    pq->next_id++;
    if (old != NULL && old->dirty && pq->fsync != PQUEUE_FSYNC_NEVER) {
        fdatasync(old->fd);
        old->dirty = 0;
    }
    seg_append(pq, s);
    pq->tail_writable = 1;
    if (old != NULL && old->live == 0) {
        seg_delete(pq, old);
    }
    return PC_OK;
}

/* ---- open: scanning ------------------------------------------------------ */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/*
 * Reads a segment's ack log into a sorted array of record offsets. A torn
 * or damaged entry ends the log: the file is cut there so that later
 * appends stay aligned (an ack lost that way only means a duplicate).
 */
static int acks_load(struct pqueue *pq, uint64_t id, uint64_t **out, size_t *n)
{
    char path[4096];
    struct stat sb;
    uint8_t *data = NULL;
    uint64_t *offs = NULL;
    size_t i, cnt = 0, valid = 0;
    int fd;

    *out = NULL;
    *n = 0;
    seg_path(pq, id, "ack", path, sizeof(path));
    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return PC_OK;
    }
    if (fstat(fd, &sb) != 0 || sb.st_size == 0) {
        close(fd);
        return PC_OK;
    }
    data = malloc((size_t)sb.st_size);
    offs = malloc(((size_t)sb.st_size / ACK_LEN + 1) * sizeof(*offs));
    if (data == NULL || offs == NULL ||
        read_all(fd, data, (size_t)sb.st_size, 0) != PC_OK) {
        free(data);
        free(offs);
        close(fd);
        return PC_EIO;
    }
    for (i = 0; i + ACK_LEN <= (size_t)sb.st_size; i += ACK_LEN) {
        uint64_t off = (uint64_t)get32(data + i + 8) |
                       (uint64_t)get32(data + i + 12) << 32;
        if (get32(data + i) != ACK_MAGIC ||
            get32(data + i + 4) != crc(data + i + 8, 8)) {
            break;
        }
        offs[cnt++] = off;
        valid = i + ACK_LEN;
    }
    if (valid != (size_t)sb.st_size) {
        log_warn(pq->log_id, "persistent queue: ack log cut at damage",
                 "path=\"%s\" offset=%zu", path, valid);
        if (ftruncate(fd, (off_t)valid) != 0) {
            valid = 0;
        }
    }
    close(fd);
    free(data);
    if (cnt > 1) {
        qsort(offs, cnt, sizeof(*offs), cmp_u64);
    }
    *out = offs;
    *n = cnt;
    return PC_OK;
}

/* Length of a complete, checksummed record at off, or 0. */
static int is_rec_magic(uint32_t m)
{
    return m == REC_MAGIC || m == REC_MAGIC_STORED;
}

static uint64_t record_at(const uint8_t *p, uint64_t size, uint64_t off)
{
    uint32_t len;

    if (size - off < REC_HDR || !is_rec_magic(get32(p + off)) ||
        get32(p + off + 12) != crc(p + off, 12)) {
        return 0;
    }
    len = get32(p + off + 4);
    if (len > size - off - REC_HDR ||
        get32(p + off + 8) != crc(p + off + REC_HDR, len)) {
        return 0;
    }
    return REC_HDR + (uint64_t)len;
}

/* Next offset after off where a complete record starts, or size. */
static uint64_t resync(const uint8_t *p, uint64_t size, uint64_t off)
{
    for (off++; off + REC_HDR <= size; off++) {
        if (p[off] == (uint8_t)REC_MAGIC && record_at(p, size, off) != 0) {
            return off;
        }
    }
    return size;
}

struct scan_ctx {
    struct pqueue *pq;
    struct pq_seg *seg;
    const uint64_t *acks;
    size_t nacks;
};

static int scan_record(struct scan_ctx *c, uint64_t off, uint64_t rlen)
{
    struct pqueue_ticket t = {.seg = c->seg->id,
                              .off = off,
                              .len = (uint32_t)(rlen - REC_HDR)};

    if (c->nacks != 0 &&
        bsearch(&off, c->acks, c->nacks, sizeof(off), cmp_u64) != NULL) {
        return PC_OK;
    }
    if (fifo_push_back(&c->pq->pending, &t) != PC_OK) {
        return PC_ENOMEM;
    }
    c->seg->live++;
    c->pq->live++;
    c->pq->st.replayed++;
    return PC_OK;
}

/*
 * Walks the records of a mapped segment. Damage followed by a good record
 * is corruption (reported, skipped); damage running to the end of the last
 * segment is a torn write, cut off so new records follow good ones.
 */
static int scan_records(struct scan_ctx *c, const uint8_t *p, uint64_t size,
                        int is_last, uint64_t *good_end)
{
    struct pqueue *pq = c->pq;
    uint64_t off = 0, rlen, next;
    int rc;

    while (off < size) {
        rlen = record_at(p, size, off);
        if (rlen != 0) {
            rc = scan_record(c, off, rlen);
            if (rc != PC_OK) {
                return rc;
            }
            off += rlen;
            continue;
        }
        next = resync(p, size, off);
        if (next == size && is_last) {
            pq->st.torn++;
            log_warn(pq->log_id, "persistent queue: torn record cut off",
                     "segment=%016" PRIx64 " offset=%" PRIu64
                     " bytes=%" PRIu64,
                     c->seg->id, off, size - off);
            break;
        }
        pq->st.corrupt++;
        log_error(pq->log_id, "persistent queue: corrupt region skipped",
                  "segment=%016" PRIx64 " offset=%" PRIu64 " bytes=%" PRIu64,
                  c->seg->id, off, next - off);
        if (next == size) {
            off = size;
            break;
        }
        off = next;
    }
    *good_end = off;
    return PC_OK;
}

static int scan_segment(struct pqueue *pq, struct pq_seg *s, int is_last)
{
    struct scan_ctx c = {pq, s, NULL, 0};
    uint64_t *acks;
    struct stat sb;
    uint64_t end = 0;
    void *map = NULL;
    int rc;

    rc = acks_load(pq, s->id, &acks, &c.nacks);
    if (rc != PC_OK) {
        return rc;
    }
    c.acks = acks;
    if (fstat(s->fd, &sb) != 0) {
        free(acks);
        return PC_EIO;
    }
    s->size = (uint64_t)sb.st_size;
    if (s->size != 0) {
        map = mmap(NULL, (size_t)s->size, PROT_READ, MAP_PRIVATE, s->fd, 0);
        if (map == MAP_FAILED) {
            free(acks);
            return PC_EIO;
        }
        rc = scan_records(&c, map, s->size, is_last, &end);
        munmap(map, (size_t)s->size);
    }
    free(acks);
    if (rc == PC_OK && is_last && end < s->size) {
        if (ftruncate(s->fd, (off_t)end) != 0 || fdatasync(s->fd) != 0) {
            return PC_EIO;
        }
        s->size = end;
    }
    return rc;
}

/* Segment ids present in the directory, sorted; orphan ack logs removed. */
static int list_segments(struct pqueue *pq, uint64_t **ids, size_t *n)
{
    DIR *d = opendir(pq->dir);
    struct dirent *de;
    uint64_t *v = NULL, *nv;
    size_t cnt = 0, cap = 0;
    uint64_t id;
    char ext[8];

    if (d == NULL) {
        return PC_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        if (sscanf(de->d_name, "seg-%16" SCNx64 ".%3s", &id, ext) != 2 ||
            strcmp(ext, "log") != 0) {
            continue;
        }
        if (cnt == cap) {
            cap = cap != 0 ? cap * 2 : 16;
            nv = realloc(v, cap * sizeof(*v));
            if (nv == NULL) {
                free(v);
                closedir(d);
                return PC_ENOMEM;
            }
            v = nv;
        }
        v[cnt++] = id;
    }
    closedir(d);
    if (cnt > 1) {
        qsort(v, cnt, sizeof(*v), cmp_u64);
    }
    *ids = v;
    *n = cnt;
    return PC_OK;
}

static void remove_orphan_acks(struct pqueue *pq)
{
    DIR *d = opendir(pq->dir);
    struct dirent *de;
    uint64_t id;
    char ext[8], path[4096];

    if (d == NULL) {
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (sscanf(de->d_name, "seg-%16" SCNx64 ".%3s", &id, ext) == 2 &&
            strcmp(ext, "ack") == 0) {
            seg_path(pq, id, "log", path, sizeof(path));
            if (access(path, F_OK) != 0) {
                seg_path(pq, id, "ack", path, sizeof(path));
                unlink(path);
            }
        }
    }
    closedir(d);
}

static int open_segment(struct pqueue *pq, uint64_t id, int is_last)
{
    struct pq_seg *s = seg_new_struct(id);
    char path[4096];
    int rc;

    if (s == NULL) {
        return PC_ENOMEM;
    }
    seg_path(pq, id, "log", path, sizeof(path));
    s->fd = open(path, O_RDWR | O_CLOEXEC);
    if (s->fd < 0) {
        free(s);
        return PC_EIO;
    }
    rc = scan_segment(pq, s, is_last);
    if (rc != PC_OK) {
        seg_close_fds(s);
        free(s);
        return rc;
    }
    seg_append(pq, s);
    pq->bytes += s->size;
    if (s->live == 0) {
        seg_delete(pq, s);
    } else if (is_last && s->size < pq->seg_size) {
        pq->tail_writable = 1;
    }
    return PC_OK;
}

static int load_dir(struct pqueue *pq)
{
    uint64_t *ids;
    size_t n, i;
    int rc = list_segments(pq, &ids, &n);

    if (rc != PC_OK) {
        return rc;
    }
    for (i = 0; rc == PC_OK && i < n; i++) {
        rc = open_segment(pq, ids[i], i + 1 == n);
        pq->next_id = ids[i] + 1;
    }
    free(ids);
    remove_orphan_acks(pq);
    return rc;
}

/* ---- open / close -------------------------------------------------------- */

static int mkdir_p(const char *dir)
{
    char tmp[4096];
    size_t i, n = strlen(dir);

    if (n == 0 || n >= sizeof(tmp)) {
        return PC_EINVAL;
    }
    memcpy(tmp, dir, n + 1);
    for (i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0700) != 0 && errno != EEXIST) {
                return PC_EIO;
            }
            tmp[i] = c;
        }
    }
    return PC_OK;
}

static void *flusher_main(void *arg);
static void *committer_main(void *arg);

static void apply_opts(struct pqueue *pq, const struct pqueue_opts *o)
{
    pq->max_size = o->max_size != 0 ? o->max_size : PQUEUE_MAX_SIZE_DEFAULT;
    pq->seg_size = o->segment_size != 0 ? o->segment_size
                                        : PQUEUE_SEGMENT_SIZE_DEFAULT;
    /* Space comes back a whole segment at a time: keep several segments
     * within max_size so a small queue can still make progress. */
    if (pq->seg_size > pq->max_size / 4) {
        pq->seg_size = pq->max_size / 4 > 4096 ? pq->max_size / 4 : 4096;
    }
    pq->max_records = o->max_records;
    pq->fsync = o->fsync;
    pq->fsync_interval_ms = o->fsync_interval_ms > 0 ? o->fsync_interval_ms
                                                     : 200;
    pq->level = o->compress_level != 0 ? o->compress_level : 1;
    pq->held_free = o->held_free;
    pq->held_max = o->held_free != NULL ? o->held_max : 0;
    /* Tests make the disk slow to see that answers wait for it. */
    if (getenv("PROFCOL_TEST_COMMIT_DELAY_MS") != NULL) {
        pq->commit_delay_ms = strtoll(getenv("PROFCOL_TEST_COMMIT_DELAY_MS"),
                                      NULL, 10);
    }
    snprintf(pq->log_id, sizeof(pq->log_id), "%s",
             o->log_id != NULL ? o->log_id : "pqueue");
}

static int lock_dir(struct pqueue *pq, struct errctx *e)
{
    char path[4096];

    snprintf(path, sizeof(path), "%s/LOCK", pq->dir);
    pq->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (pq->lock_fd < 0) {
        return err_set(e, PC_EIO, "persistent queue: %s: %s", path,
                       err_errno(errno));
    }
    if (flock(pq->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        return err_set(e, PC_EBUSY,
                       "persistent queue: %s is in use by another process",
                       pq->dir);
    }
    pq->dir_fd = open(pq->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    return PC_OK;
}

static void init_sync(struct pqueue *pq)
{
    pthread_condattr_t ca;

    pthread_mutex_init(&pq->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&pq->not_empty, &ca);
    pthread_cond_init(&pq->not_full, &ca);
    pthread_cond_init(&pq->flusher_cv, &ca);
    pthread_cond_init(&pq->durable_cv, &ca);
    pthread_condattr_destroy(&ca);
}

int pqueue_open(const struct pqueue_opts *o, struct pqueue **out,
                struct errctx *e)
{
    struct pqueue *pq;
    int rc;

    if (o->dir == NULL || o->dir[0] == '\0') {
        return err_set(e, PC_EINVAL, "persistent queue: no directory");
    }
    pq = calloc(1, sizeof(*pq));
    if (pq == NULL || (pq->dir = strdup(o->dir)) == NULL) {
        free(pq);
        return PC_ENOMEM;
    }
    pq->lock_fd = pq->dir_fd = -1;
    apply_opts(pq, o);
    init_sync(pq);
    rc = mkdir_p(pq->dir);
    if (rc != PC_OK) {
        err_set(e, rc, "persistent queue: cannot create %s: %s", pq->dir,
                err_errno(errno));
    } else {
        rc = lock_dir(pq, e);
    }
    if (rc == PC_OK) {
        rc = load_dir(pq);
        if (rc != PC_OK) {
            err_set(e, rc, "persistent queue: cannot read %s", pq->dir);
        }
    }
    if (rc == PC_OK && pq->fsync != PQUEUE_FSYNC_NEVER) {
        rc = pthread_create(&pq->flusher, NULL,
                            pq->fsync == PQUEUE_FSYNC_ALWAYS ? committer_main
                                                             : flusher_main,
                            pq) == 0
                 ? PC_OK
                 : PC_ENOMEM;
        pq->has_flusher = rc == PC_OK;
    }
    if (rc != PC_OK) {
        pqueue_close(pq);
        return rc;
    }
    if (pq->st.replayed != 0 || pq->st.torn != 0 || pq->st.corrupt != 0) {
        log_info(pq->log_id, "persistent queue opened",
                 "dir=\"%s\" replay=%" PRIu64 " torn=%" PRIu64
                 " corrupt=%" PRIu64,
                 pq->dir, pq->st.replayed, pq->st.torn, pq->st.corrupt);
    }
    *out = pq;
    return PC_OK;
}

/* fdatasync of everything written since the last sync (mutex held). */
static void flush_dirty(struct pqueue *pq)
{
    struct pq_seg *s;

    for (s = pq->segs; s != NULL; s = s->next) {
        if (s->dirty && s->fd >= 0) {
            fdatasync(s->fd);
            s->dirty = 0;
        }
        if (s->ack_dirty && s->ack_fd >= 0) {
            fdatasync(s->ack_fd);
            s->ack_dirty = 0;
        }
    }
}

/* PQUEUE_FSYNC_INTERVAL: bounds what a power cut can take to one interval. */
static void *flusher_main(void *arg)
{
    struct pqueue *pq = arg;
    struct timespec dl;

    pthread_mutex_lock(&pq->mu);
    while (!pq->closed) {
        dl = clock_mono_after(pq->fsync_interval_ms);
        pthread_cond_timedwait(&pq->flusher_cv, &pq->mu, &dl);
        flush_dirty(pq);
    }
    pthread_mutex_unlock(&pq->mu);
    return NULL;
}

/* ---- group commit (PQUEUE_FSYNC_ALWAYS) ----------------------------------- */

static void (*_Atomic sync_hook)(void *arg, uint32_t records);
static void *_Atomic sync_hook_arg;

void pqueue_set_sync_hook_for_test(void (*fn)(void *arg, uint32_t records),
                                   void *arg)
{
    atomic_store(&sync_hook_arg, arg);
    atomic_store(&sync_hook, fn);
}

/* Duplicates of the fds that need a sync (mutex held), so the sync can run
 * unlocked: a segment deleted meanwhile closes its own fd, not ours. A dup
 * that fails is synced here, under the lock. Returns the count; data fds
 * first (*ndata of them). */
static size_t collect_dirty(struct pqueue *pq, int *fds, size_t cap,
                            size_t *ndata)
{
    struct pq_seg *s;
    size_t n = 0;
    int pass;

    for (pass = 0; pass < 2; pass++) {
        for (s = pq->segs; s != NULL; s = s->next) {
            int *dirty = pass == 0 ? &s->dirty : &s->ack_dirty;
            int fd = pass == 0 ? s->fd : s->ack_fd;
            if (!*dirty || fd < 0) {
                continue;
            }
            *dirty = 0;
            if (n == cap || (fds[n] = dup(fd)) < 0) {
                fdatasync(fd);
                continue;
            }
            n++;
        }
        if (pass == 0) {
            *ndata = n;
        }
    }
    pq->acks_dirty = 0;
    return n;
}

/* Makes the waiters' records visible to consumers and finishes them (mutex
 * held). Returns the async ones, to be called back without the lock. */
static struct pq_waiter *finish_waiters(struct pqueue *pq, struct pq_waiter *w,
                                        int rc)
{
    struct pq_waiter *next, *async = NULL, **tail = &async;

    for (; w != NULL; w = next) {
        next = w->next;
        /* A ticket is completed exactly once. */
        PC_ASSERT(!w->finished);
        if (fifo_push_back(&pq->pending, &w->t) == PC_OK) {
            /* One consumer per record: a broadcast would wake them all
             * (10 by default) for a group of a few records. */
            pthread_cond_signal(&pq->not_empty);
        } else {
            held_drop(pq, &w->t);
            /* Durable but unseen until the next open: say so. */
            log_error(pq->log_id,
                      "persistent queue: out of memory, record "
                      "delivered after restart",
                      "segment=%016" PRIx64 " offset=%" PRIu64, w->t.seg,
                      w->t.off);
        }
        if (w->done == NULL) {
            w->rc = rc;
            w->finished = 1; /* w belongs to its put from here on */
        } else {
            w->rc = rc;
            w->next = NULL;
            *tail = w;
            tail = &w->next;
        }
    }
    pthread_cond_broadcast(&pq->durable_cv);
    return async;
}

/*
 * One group commit (mutex held on entry and return): takes every waiting
 * record, fdatasyncs the segments they are in (and dirty ack logs, which
 * need no ordering: a lost ack only causes a duplicate) without holding
 * the lock, so puts keep appending meanwhile, then completes the tickets.
 */
static void commit_once(struct pqueue *pq)
{
    struct pq_waiter *batch = pq->wait_head, *async, *w;
    int fds[64];
    size_t i, n, ndata = 0;
    uint32_t count = 0;
    int rc = PC_OK;
    void (*hook)(void *, uint32_t);

    pq->wait_head = pq->wait_tail = NULL;
    for (w = batch; w != NULL; w = w->next) {
        count++;
    }
    n = collect_dirty(pq, fds, sizeof(fds) / sizeof(fds[0]), &ndata);
    pthread_mutex_unlock(&pq->mu);
    if (pq->commit_delay_ms > 0 && count != 0) {
        usleep((useconds_t)(pq->commit_delay_ms * 1000));
    }
    for (i = 0; i < n; i++) {
        if (fdatasync(fds[i]) != 0 && i < ndata) {
            rc = PC_EIO;
        }
        close(fds[i]);
    }
    hook = atomic_load(&sync_hook);
    if (hook != NULL && count != 0) {
        hook(atomic_load(&sync_hook_arg), count);
    }
    if (rc != PC_OK) {
        log_error(pq->log_id, "persistent queue: fdatasync failed",
                  "records=%u error=\"%s\"", count, err_errno(errno));
    }
    pthread_mutex_lock(&pq->mu);
    if (count != 0) {
        pq->st.commits++;
        pq->st.committed += count;
    }
    async = finish_waiters(pq, batch, rc);
    pthread_mutex_unlock(&pq->mu);
    for (w = async; w != NULL; w = batch) {
        batch = w->next;
        w->done(w->arg, w->rc);
        free(w);
    }
    pthread_mutex_lock(&pq->mu);
}

/* PQUEUE_FSYNC_ALWAYS: commits as soon as records wait; dirty ack logs
 * alone are synced after an interval. Exits once closed and drained, so
 * every ticket is completed. */
static void *committer_main(void *arg)
{
    struct pqueue *pq = arg;
    struct timespec dl;
    int timed_out;

    pthread_mutex_lock(&pq->mu);
    for (;;) {
        timed_out = 0;
        while (!pq->closed && pq->wait_head == NULL && !timed_out) {
            if (pq->acks_dirty) {
                dl = clock_mono_after(pq->fsync_interval_ms);
                timed_out = pthread_cond_timedwait(&pq->flusher_cv, &pq->mu,
                                                   &dl) == ETIMEDOUT;
            } else {
                pthread_cond_wait(&pq->flusher_cv, &pq->mu);
            }
        }
        if (pq->wait_head == NULL && pq->closed) {
            break;
        }
        commit_once(pq);
    }
    pthread_mutex_unlock(&pq->mu);
    return NULL;
}

void pqueue_shutdown(struct pqueue *pq)
{
    pthread_mutex_lock(&pq->mu);
    pq->closed = 1;
    pthread_cond_broadcast(&pq->not_empty);
    pthread_cond_broadcast(&pq->not_full);
    pthread_cond_broadcast(&pq->flusher_cv);
    pthread_mutex_unlock(&pq->mu);
}

void pqueue_close(struct pqueue *pq)
{
    struct pq_seg *s, *next;

    if (pq == NULL) {
        return;
    }
    pqueue_shutdown(pq);
    if (pq->has_flusher) {
        pthread_join(pq->flusher, NULL);
        /* The committer exits only once every ticket is completed. */
        PC_ASSERT(pq->wait_head == NULL);
    }
    if (pq->fsync != PQUEUE_FSYNC_NEVER) {
        flush_dirty(pq);
    }
    while (pq->pending.len > 0) {
        struct pqueue_ticket t;

        fifo_pop(&pq->pending, &t);
        held_drop(pq, &t);
    }
    /* Taken tickets' copies belong to their consumers. */
    for (s = pq->segs; s != NULL; s = next) {
        next = s->next;
        seg_close_fds(s);
        free(s);
    }
    if (pq->dir_fd >= 0) {
        close(pq->dir_fd);
    }
    if (pq->lock_fd >= 0) {
        close(pq->lock_fd); /* releases the flock */
    }
    pthread_cond_destroy(&pq->not_empty);
    pthread_cond_destroy(&pq->not_full);
    pthread_cond_destroy(&pq->flusher_cv);
    pthread_cond_destroy(&pq->durable_cv);
    pthread_mutex_destroy(&pq->mu);
    free(pq->pending.v);
    free(pq->dir);
    free(pq);
}

/* ---- put ----------------------------------------------------------------- */

/* Header + payload (zstd, or stored) in one buffer, so the append is a
 * single pwrite. */
static int build_record(struct pqueue *pq, const uint8_t *data, size_t len,
                        int store, struct buf *rec)
{
    uint8_t *h;
    int rc;

    if (len > PQUEUE_MAX_RECORD) {
        return PC_ETOOBIG;
    }
    buf_init(rec, PQUEUE_MAX_RECORD + REC_HDR);
    rc = buf_reserve(rec, REC_HDR + (store ? len : len / 2 + 64));
    if (rc == PC_OK) {
        rec->len = REC_HDR;
        rc = store ? buf_append(rec, data, len)
                   : zstd_compress(data, len, rec, pq->level);
    }
    if (rc != PC_OK) {
        buf_free(rec);
        return rc;
    }
    h = rec->data;
    put32(h, store ? REC_MAGIC_STORED : REC_MAGIC);
    put32(h + 4, (uint32_t)(rec->len - REC_HDR));
    put32(h + 8, crc(h + REC_HDR, rec->len - REC_HDR));
    put32(h + 12, crc(h, 12));
    return PC_OK;
}

static int has_room(const struct pqueue *pq, size_t n)
{
    if (pq->max_records != 0 && pq->live >= pq->max_records) {
        return 0;
    }
    return pq->bytes + n <= pq->max_size;
}

/* Appends rec to the writer segment (mutex held). Under
 * PQUEUE_FSYNC_ALWAYS the record waits for the committer (w); otherwise
 * it is visible to consumers at once. */
static int append_record(struct pqueue *pq, const struct buf *rec,
                         struct pq_waiter *w, void *held, uint64_t cost)
{
    struct pq_seg *s;
    struct pqueue_ticket t;
    int rc;

    /* Appends happen only while open (put_record checked, mutex held). */
    PC_ASSERT(!pq->closed);
    memset(&t, 0, sizeof(t));
    if (!pq->tail_writable ||
        (pq->tail->size != 0 && pq->tail->size + rec->len > pq->seg_size)) {
        rc = seg_create(pq);
        if (rc != PC_OK) {
            return rc;
        }
    }
    s = pq->tail;
    PC_ASSERT(s != NULL && pq->tail_writable);
    rc = write_all(s->fd, rec->data, rec->len, s->size);
    t.seg = s->id;
    t.off = s->size;
    t.len = (uint32_t)(rec->len - REC_HDR);
    if (held != NULL && pq->held_bytes + cost <= pq->held_max) {
        t.held = held;
        t.held_cost = cost;
    }
    if (rc == PC_OK && w == NULL) {
        rc = fifo_push_back(&pq->pending, &t);
    }
    if (rc != PC_OK) {
        /* Never leave a half record for the next record to follow. */
        if (ftruncate(s->fd, (off_t)s->size) != 0) {
            pq->tail_writable = 0;
        }
        log_error(pq->log_id, "persistent queue: write failed", "error=\"%s\"",
                  err_errno(errno));
        return rc;
    }
    s->size += rec->len;
    pq->held_bytes += t.held_cost;
    s->dirty = pq->fsync != PQUEUE_FSYNC_NEVER;
    s->live++;
    pq->live++;
    pq->bytes += rec->len;
    if (w == NULL) {
        pthread_cond_signal(&pq->not_empty);
        return PC_OK;
    }
    w->t = t;
    w->next = NULL;
    if (pq->wait_tail != NULL) {
        pq->wait_tail->next = w;
    } else {
        pq->wait_head = w;
        /* The committer sleeps only when nothing waits: wake it. */
        pthread_cond_signal(&pq->flusher_cv);
    }
    pq->wait_tail = w;
    return PC_OK;
}

/* Compresses (unlocked), waits for room and appends; with w, the record
 * joins the next group commit. */
static int put_record(struct pqueue *pq, const uint8_t *data, size_t len,
                      int64_t wait_ms, struct pq_waiter *w, void *held,
                      uint64_t cost, int flags, int *kept)
{
    struct timespec dl = clock_mono_after(wait_ms);
    struct buf rec;
    int rc = build_record(pq, data, len, (flags & PQUEUE_PUT_STORE) != 0,
                          &rec);

    if (rc != PC_OK) {
        return rc;
    }
    if (rec.len > pq->max_size) {
        buf_free(&rec);
        return PC_ETOOBIG;
    }
    pthread_mutex_lock(&pq->mu);
    while (!pq->closed && !has_room(pq, rec.len)) {
        if (wait_on(pq, &pq->not_full, wait_ms, &dl)) {
            break;
        }
    }
    if (pq->closed) {
        rc = PC_ECLOSED;
    } else if (!has_room(pq, rec.len)) {
        rc = PC_EBUSY;
    } else {
        uint64_t before = pq->held_bytes;

        rc = append_record(pq, &rec, w, held, cost);
        *kept = rc == PC_OK && held != NULL && pq->held_bytes != before;
    }
    if (rc == PC_OK && w != NULL && w->done == NULL) {
        /* Synchronous put: wait for the commit covering it. */
        while (!w->finished) {
            pthread_cond_wait(&pq->durable_cv, &pq->mu);
        }
        rc = w->rc;
    }
    pthread_mutex_unlock(&pq->mu);
    buf_free(&rec);
    return rc;
}

int pqueue_put(struct pqueue *pq, const uint8_t *data, size_t len,
               int64_t wait_ms)
{
    int kept = 0;

    return pqueue_put_held(pq, data, len, wait_ms, NULL, NULL, NULL, 0, 0,
                           &kept);
}

int pqueue_put_async(struct pqueue *pq, const uint8_t *data, size_t len,
                     int64_t wait_ms, pqueue_durable_fn done, void *arg)
{
    int kept = 0;

    return pqueue_put_held(pq, data, len, wait_ms, done, arg, NULL, 0, 0,
                           &kept);
}

int pqueue_put_held(struct pqueue *pq, const uint8_t *data, size_t len,
                    int64_t wait_ms, pqueue_durable_fn done, void *arg,
                    void *held, uint64_t cost, int flags, int *kept)
{
    struct pq_waiter *w;
    int rc;

    *kept = 0;
    if (pq->fsync != PQUEUE_FSYNC_ALWAYS || done == NULL) {
        struct pq_waiter sw; /* a synchronous put waits for its commit */

        memset(&sw, 0, sizeof(sw));
        return put_record(pq, data, len, wait_ms,
                          pq->fsync == PQUEUE_FSYNC_ALWAYS ? &sw : NULL, held,
                          cost, flags, kept);
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        return PC_ENOMEM;
    }
    w->done = done;
    w->arg = arg;
    rc = put_record(pq, data, len, wait_ms, w, held, cost, flags, kept);
    if (rc != PC_OK) {
        free(w); /* never appended: the committer does not know it */
        return rc;
    }
    return PC_EINPROGRESS;
}

/* ---- get / ack ----------------------------------------------------------- */

/* Reads and checks one record's payload; PC_ECORRUPT when damaged. */
static int read_record(struct pqueue *pq, const struct pqueue_ticket *t,
                       uint8_t **out, size_t *outlen)
{
    struct pq_seg *s = seg_find(pq, t->seg);
    uint8_t hdr[REC_HDR];
    uint8_t *p;
    struct buf plain;
    int rc;

    if (s == NULL || t->len > PQUEUE_MAX_RECORD) {
        return PC_ECORRUPT;
    }
    p = malloc(t->len != 0 ? t->len : 1);
    if (p == NULL) {
        return PC_ENOMEM;
    }
    rc = read_all(s->fd, hdr, REC_HDR, t->off);
    if (rc == PC_OK) {
        rc = read_all(s->fd, p, t->len, t->off + REC_HDR);
    }
    if (rc == PC_OK &&
        (!is_rec_magic(get32(hdr)) || get32(hdr + 4) != t->len ||
         get32(hdr + 8) != crc(p, t->len))) {
        rc = PC_ECORRUPT;
    }
    if (rc == PC_OK && get32(hdr) == REC_MAGIC_STORED) {
        *out = p; /* stored as it is: the payload is the data */
        *outlen = t->len;
        return PC_OK;
    }
    buf_init(&plain, PQUEUE_MAX_RECORD);
    if (rc == PC_OK) {
        rc = zstd_decompress(p, t->len, &plain, PQUEUE_MAX_RECORD);
    }
    free(p);
    if (rc != PC_OK) {
        buf_free(&plain);
        return rc == PC_ENOMEM ? rc : PC_ECORRUPT;
    }
    *out = buf_take(&plain, outlen);
    return PC_OK;
}

static int ack_locked(struct pqueue *pq, const struct pqueue_ticket *t);

int pqueue_get(struct pqueue *pq, int64_t wait_ms, struct pqueue_ticket *t,
               uint8_t **data, size_t *len)
{
    struct timespec dl = clock_mono_after(wait_ms);
    int rc;

    pthread_mutex_lock(&pq->mu);
    for (;;) {
        while (!pq->closed && pq->pending.len == 0) {
            if (wait_on(pq, &pq->not_empty, wait_ms, &dl)) {
                break;
            }
        }
        if (pq->closed) {
            rc = PC_ECLOSED;
            break;
        }
        if (pq->pending.len == 0) {
            rc = PC_ETIMEDOUT;
            break;
        }
        /* Pending records are unacknowledged ones: a subset of live. */
        PC_ASSERT(pq->pending.len <= pq->live);
        fifo_pop(&pq->pending, t);
        if (t->held != NULL) {
            /* Still in memory: no need to read it back (the copy and its
             * cost go with the ticket until ack or release). */
            *data = NULL;
            *len = 0;
            rc = PC_OK;
            break;
        }
        rc = read_record(pq, t, data, len);
        if (rc != PC_ECORRUPT) {
            break;
        }
        /* Damaged since it was written: nothing to deliver, say so once. */
        pq->st.corrupt++;
        log_error(pq->log_id, "persistent queue: corrupt record dropped",
                  "segment=%016" PRIx64 " offset=%" PRIu64, t->seg, t->off);
        ack_locked(pq, t);
    }
    pthread_mutex_unlock(&pq->mu);
    return rc;
}

static int ack_write(struct pqueue *pq, struct pq_seg *s, uint64_t off)
{
    uint8_t ent[ACK_LEN];
    char path[4096];

    if (s->ack_fd < 0) {
        seg_path(pq, s->id, "ack", path, sizeof(path));
        s->ack_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                         0600);
        if (s->ack_fd < 0) {
            return PC_EIO;
        }
        sync_dir(pq);
    }
    put32(ent, ACK_MAGIC);
    put32(ent + 8, (uint32_t)off);
    put32(ent + 12, (uint32_t)(off >> 32));
    put32(ent + 4, crc(ent + 8, 8));
    if (write(s->ack_fd, ent, sizeof(ent)) != (ssize_t)sizeof(ent)) {
        return PC_EIO;
    }
    /* Synced by the committer or the flusher, never inline: an ack lost to
     * a power cut only means a duplicate, and a consumer must not wait for
     * the disk while holding the queue. */
    if (pq->fsync != PQUEUE_FSYNC_NEVER) {
        s->ack_dirty = 1;
        pq->acks_dirty = 1;
    }
    return PC_OK;
}

static int ack_locked(struct pqueue *pq, const struct pqueue_ticket *t)
{
    struct pq_seg *s = seg_find(pq, t->seg);
    int rc;

    if (s == NULL || s->live == 0) {
        return PC_ENOTFOUND;
    }
    /* A fully acknowledged segment is deleted without writing the ack:
     * its deletion is the acknowledgement. */
    if (s->live > 1 || (pq->tail == s && pq->tail_writable)) {
        rc = ack_write(pq, s, t->off);
        if (rc != PC_OK) {
            log_error(pq->log_id, "persistent queue: ack write failed",
                      "error=\"%s\"", err_errno(errno));
            return rc;
        }
    }
    PC_ASSERT(pq->live >= s->live);
    s->live--;
    pq->live--;
    pq->st.acked++;
    if (s->live == 0 && !(pq->tail == s && pq->tail_writable)) {
        seg_delete(pq, s);
    }
    pthread_cond_broadcast(&pq->not_full);
    return PC_OK;
}

int pqueue_ack(struct pqueue *pq, const struct pqueue_ticket *t)
{
    int rc;

    pthread_mutex_lock(&pq->mu);
    rc = ack_locked(pq, t);
    if (t->held != NULL) {
        /* The caller frees the copy: only its cost is given back here. */
        PC_ASSERT(pq->held_bytes >= t->held_cost);
        pq->held_bytes -= t->held_cost;
    }
    pthread_mutex_unlock(&pq->mu);
    return rc;
}

void pqueue_release(struct pqueue *pq, const struct pqueue_ticket *t)
{
    pthread_mutex_lock(&pq->mu);
    if (fifo_push_front(&pq->pending, t) == PC_OK) {
        pthread_cond_signal(&pq->not_empty);
    } else {
        struct pqueue_ticket lost = *t;

        held_drop(pq, &lost);
    }
    pthread_mutex_unlock(&pq->mu);
}

uint32_t pqueue_size(struct pqueue *pq)
{
    uint32_t n;

    pthread_mutex_lock(&pq->mu);
    n = pq->live;
    pthread_mutex_unlock(&pq->mu);
    return n;
}

void pqueue_get_stats(struct pqueue *pq, struct pqueue_stats *st)
{
    struct pq_seg *s;

    pthread_mutex_lock(&pq->mu);
    *st = pq->st;
    st->records = pq->live;
    st->pending = (uint32_t)pq->pending.len;
    st->bytes = pq->bytes;
    st->held_bytes = pq->held_bytes;
    st->segments = 0;
    for (s = pq->segs; s != NULL; s = s->next) {
        st->segments++;
    }
    pthread_mutex_unlock(&pq->mu);
}
