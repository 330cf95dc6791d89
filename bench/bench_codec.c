/*
 * bench_codec.c: times one codec operation of profcol on one input file.
 *
 *   bench_codec OP FILE ITERS
 *
 * FILE is a pprof (gzip or plain). The file is read once; only the operation
 * is timed (CLOCK_MONOTONIC), ITERS times, everything it allocated freed
 * between iterations, and the median is printed as one line of key=value
 * pairs that bench/run.sh collects:
 *
 *   op=OP impl=profcol iters=N median_ns=T cpu_ns=C in_bytes=B
 *   raw_bytes=U out_bytes=O maxrss_kib=R base_kib=S
 *
 * cpu_ns is the median CPU time of one run (CLOCK_PROCESS_CPUTIME_ID: user
 * and system, page faults included), which a loaded machine disturbs less
 * than the wall time: bench/check.sh compares those.
 * in_bytes is the file's size, raw_bytes its uncompressed size, out_bytes
 * the size of what the operation produced, maxrss_kib the process's peak RSS
 * (getrusage) after the runs and base_kib the peak before the first run.
 *
 * Each operation runs in its own process so that maxrss_kib is the peak of
 * that operation alone. Work that only prepares an operation (measuring the
 * uncompressed size, producing OTLP bytes for otlp_to_pprof) is done in a
 * forked child, so its memory never shows in the parent's peak.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/buf.h"
#include "codec/compress.h"
#include "core/err.h"
#include "codec/otlp.h"
#include "codec/pprof.h"
#include "model/profile.h"
#include "model/pdata_iter.h"

/* Go's gzip.DefaultCompression is level 6; the floors and re-encodes use the
 * same level so that the comparison is like for like. */
#define GZ_LEVEL 6

struct input {
    uint8_t *file; /* the pprof as read from disk */
    size_t file_len;
    uint64_t raw_len; /* its uncompressed size */
    uint8_t *otlp;    /* OTLP request made from it (otlp_to_pprof only) */
    size_t otlp_len;
};

/* One run of an operation: returns a PC_* code and the output size. */
typedef int (*op_fn)(const struct input *in, size_t *out_len,
                     struct errctx *e);

struct op {
    const char *name;
    op_fn run;
    int needs_otlp;
    const char *what;
};

static const struct decode_limits limits = {0};

/* ---- operations -------------------------------------------------------- */

static int op_decode(const struct input *in, size_t *out_len, struct errctx *e)
{
    struct pdata *pd = NULL;
    int rc = pprof_decode(in->file, in->file_len, &limits, &pd, e);

    *out_len = 0;
    pdata_free(pd);
    return rc;
}

static int op_to_otlp(const struct input *in, size_t *out_len,
                      struct errctx *e)
{
    struct pdata *pd = NULL;
    struct buf out;
    int rc;

    buf_init(&out, BUF_MAX_DEFAULT);
    rc = pprof_decode(in->file, in->file_len, &limits, &pd, e);
    if (rc == PC_OK) {
        const struct pdata *list[1] = {pd};
        rc = otlp_encode(list, 1, &out, e);
    }
    *out_len = out.len;
    buf_free(&out);
    pdata_free(pd);
    return rc;
}

/* Encodes every model profile of pd as a gzip pprof; sums the sizes. A pprof
 * decodes to exactly one profile, so this is one encode in practice. */
static int encode_all_gz(const struct pdata *pd, size_t *out_len,
                         struct errctx *e)
{
    struct buf out;
    struct pdata_iter w;
    const struct profile *p;
    int rc = PC_OK;

    buf_init(&out, BUF_MAX_DEFAULT);
    *out_len = 0;
    pdata_iter_init(&w, pd, -1);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        buf_reset(&out);
        rc = pprof_encode_gz(pd, p, GZ_LEVEL, &out, e);
        *out_len += out.len;
    }
    buf_free(&out);
    return rc;
}

static int op_otlp_to_pprof(const struct input *in, size_t *out_len,
                            struct errctx *e)
{
    struct pdata *pd = NULL;
    int rc = otlp_decode(in->otlp, in->otlp_len, &limits, &pd, e);

    *out_len = 0;
    if (rc == PC_OK) {
        rc = encode_all_gz(pd, out_len, e);
    }
    pdata_free(pd);
    return rc;
}

static int op_roundtrip(const struct input *in, size_t *out_len,
                        struct errctx *e)
{
    struct pdata *pd = NULL;
    int rc = pprof_decode(in->file, in->file_len, &limits, &pd, e);

    *out_len = 0;
    if (rc == PC_OK) {
        rc = encode_all_gz(pd, out_len, e);
    }
    pdata_free(pd);
    return rc;
}

/* The floors: what any implementation pays to read and write gzip. */
static int gunzip_with(const struct input *in, size_t *out_len, int zlib)
{
    struct buf raw;
    int rc;

    buf_init(&raw, BUF_MAX_DEFAULT);
    rc = zlib ? gz_decompress_zlib(in->file, in->file_len, &raw, 0)
              : gz_decompress(in->file, in->file_len, &raw, 0);
    *out_len = raw.len;
    buf_free(&raw);
    return rc;
}

static int regzip_with(const struct input *in, size_t *out_len, int zlib)
{
    struct buf raw, gz;
    int rc;

    buf_init(&raw, BUF_MAX_DEFAULT);
    buf_init(&gz, BUF_MAX_DEFAULT);
    rc = zlib ? gz_decompress_zlib(in->file, in->file_len, &raw, 0)
              : gz_decompress(in->file, in->file_len, &raw, 0);
    if (rc == PC_OK) {
        rc = zlib ? gz_compress_zlib(raw.data, raw.len, &gz, GZ_LEVEL)
                  : gz_compress(raw.data, raw.len, &gz, GZ_LEVEL);
    }
    *out_len = gz.len;
    buf_free(&gz);
    buf_free(&raw);
    return rc;
}

static int op_gunzip(const struct input *in, size_t *out_len, struct errctx *e)
{
    return gunzip_with(in, out_len, 0);
}

static int op_gunzip_zlib(const struct input *in, size_t *out_len,
                          struct errctx *e)
{
    return gunzip_with(in, out_len, 1);
}

static int op_regzip(const struct input *in, size_t *out_len, struct errctx *e)
{
    return regzip_with(in, out_len, 0);
}

static int op_regzip_zlib(const struct input *in, size_t *out_len,
                          struct errctx *e)
{
    return regzip_with(in, out_len, 1);
}

static const struct op ops[] = {
    {"decode", op_decode, 0, "pprof_decode (gunzip included)"},
    {"to_otlp", op_to_otlp, 0, "pprof_decode + otlp_encode"},
    {"otlp_to_pprof", op_otlp_to_pprof, 1,
     "otlp_decode + pprof_encode_gz (OTLP made from FILE beforehand)"},
    {"roundtrip", op_roundtrip, 0, "pprof_decode + pprof_encode_gz"},
    {"gunzip", op_gunzip, 0, "libdeflate gunzip"},
    {"gunzip_zlib", op_gunzip_zlib, 0, "zlib gunzip"},
    {"regzip", op_regzip, 0, "libdeflate gunzip + gzip"},
    {"regzip_zlib", op_regzip_zlib, 0, "zlib gunzip + gzip"},
};

/* ---- setup ------------------------------------------------------------- */

static int read_file(const char *path, uint8_t **data, size_t *len)
{
    FILE *f = fopen(path, "rb");
    long size;
    uint8_t *p;

    if (f == NULL) {
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 ||
        fseek(f, 0, SEEK_SET) != 0) {
        fclose(f);
        return -1;
    }
    p = malloc(size > 0 ? (size_t)size : 1);
    if (p == NULL || fread(p, 1, (size_t)size, f) != (size_t)size) {
        free(p);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data = p;
    *len = (size_t)size;
    return 0;
}

/* Writes all of p to fd; the pipe may take it in pieces. */
static int write_all(int fd, const void *p, size_t n)
{
    const uint8_t *c = p;

    while (n > 0) {
        ssize_t w = write(fd, c, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        c += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *p, size_t n)
{
    uint8_t *c = p;

    while (n > 0) {
        ssize_t r = read(fd, c, n);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            return -1;
        }
        c += r;
        n -= (size_t)r;
    }
    return 0;
}

/* Child side of prepare(): sends raw size, OTLP size, OTLP bytes. */
static int prepare_child(const struct input *in, int want_otlp, int fd)
{
    struct errctx e = {{0}};
    struct buf raw, otlp;
    struct pdata *pd = NULL;
    uint64_t hdr[2];
    int rc;

    buf_init(&raw, BUF_MAX_DEFAULT);
    buf_init(&otlp, BUF_MAX_DEFAULT);
    if (gz_is_gzip(in->file, in->file_len)) {
        rc = gz_decompress(in->file, in->file_len, &raw, 0);
        hdr[0] = raw.len;
    } else {
        rc = PC_OK;
        hdr[0] = in->file_len;
    }
    if (rc == PC_OK && want_otlp) {
        rc = pprof_decode(in->file, in->file_len, &limits, &pd, &e);
        if (rc == PC_OK) {
            const struct pdata *list[1] = {pd};
            rc = otlp_encode(list, 1, &otlp, &e);
        }
    }
    if (rc != PC_OK) {
        fprintf(stderr, "bench_codec: prepare: %s\n", err_msg(&e, rc));
        return 1;
    }
    hdr[1] = otlp.len;
    if (write_all(fd, hdr, sizeof(hdr)) != 0 ||
        write_all(fd, otlp.data, otlp.len) != 0) {
        return 1;
    }
    return 0;
}

/* Measures the input and, if asked, makes its OTLP bytes in a child process
 * so that none of that memory counts in this process's peak RSS. */
static int prepare(struct input *in, int want_otlp)
{
    uint64_t hdr[2];
    int fds[2], status, ok;
    pid_t pid;

    if (pipe(fds) != 0) {
        return -1;
    }
    pid = fork();
    if (pid < 0) {
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        _exit(prepare_child(in, want_otlp, fds[1]));
    }
    close(fds[1]);
    ok = read_all(fds[0], hdr, sizeof(hdr)) == 0;
    if (ok) {
        in->raw_len = hdr[0];
        in->otlp_len = (size_t)hdr[1];
        in->otlp = malloc(in->otlp_len > 0 ? in->otlp_len : 1);
        ok = in->otlp != NULL && read_all(fds[0], in->otlp, in->otlp_len) == 0;
    }
    close(fds[0]);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        ok = 0;
    }
    return ok ? 0 : -1;
}

/* ---- timing ------------------------------------------------------------ */

static uint64_t clock_ns(clockid_t clk)
{
    struct timespec ts;

    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static long maxrss_kib(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss; /* KiB on Linux */
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

/* The median damps the one-off costs (first page faults, cold caches) that
 * a long-running daemon pays once, not per profile. */
static uint64_t median(uint64_t *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_u64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static const struct op *find_op(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        if (strcmp(ops[i].name, name) == 0) {
            return &ops[i];
        }
    }
    return NULL;
}

static void usage(void)
{
    size_t i;

    fprintf(stderr, "usage: bench_codec OP FILE ITERS\nOP is one of:\n");
    for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        fprintf(stderr, "  %-14s %s\n", ops[i].name, ops[i].what);
    }
}

static int run(const struct op *op, struct input *in, int iters)
{
    struct errctx e = {{0}};
    uint64_t *ns = calloc((size_t)iters * 2, sizeof(*ns));
    uint64_t *cpu = ns + iters;
    size_t out_len = 0;
    long base;
    int i, rc;

    if (ns == NULL) {
        return 1;
    }
    base = maxrss_kib();
    for (i = 0; i < iters; i++) {
        uint64_t t0 = clock_ns(CLOCK_MONOTONIC);
        uint64_t c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
        rc = op->run(in, &out_len, &e);
        cpu[i] = clock_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
        ns[i] = clock_ns(CLOCK_MONOTONIC) - t0;
        if (rc != PC_OK) {
            fprintf(stderr, "bench_codec: %s: %s\n", op->name,
                    err_msg(&e, rc));
            free(ns);
            return 1;
        }
    }
    printf("op=%s impl=profcol iters=%d median_ns=%llu cpu_ns=%llu "
           "in_bytes=%zu raw_bytes=%llu out_bytes=%zu maxrss_kib=%ld "
           "base_kib=%ld\n",
           op->name, iters, (unsigned long long)median(ns, iters),
           (unsigned long long)median(cpu, iters), in->file_len,
           (unsigned long long)in->raw_len, out_len, maxrss_kib(), base);
    free(ns);
    return 0;
}

int main(int argc, char **argv)
{
    struct input in = {0};
    const struct op *op;
    int iters, rc;

    if (argc != 4 || (op = find_op(argv[1])) == NULL ||
        (iters = (int)strtol(argv[3], NULL, 10)) < 1) {
        usage();
        return 2;
    }
    if (read_file(argv[2], &in.file, &in.file_len) != 0) {
        fprintf(stderr, "bench_codec: cannot read %s: %s\n", argv[2],
                err_errno(errno));
        return 1;
    }
    if (prepare(&in, op->needs_otlp) != 0) {
        fprintf(stderr, "bench_codec: cannot prepare %s\n", argv[2]);
        free(in.file);
        return 1;
    }
    rc = run(op, &in, iters);
    free(in.otlp);
    free(in.file);
    return rc;
}
