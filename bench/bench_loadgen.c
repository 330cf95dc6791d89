/*
 * bench_loadgen: load generator and minimal sinks for the receiver and
 * exporter benchmarks (bench/bench_receive.sh, bench/bench_export.sh).
 *
 *   bench_loadgen http HOST:PORT PATH FILE CONNS SECONDS [CONTENT_TYPE
 *                 [CONTENT_ENCODING]]
 *       POSTs FILE to PATH over CONNS keep-alive HTTP/1.1 connections (one
 *       thread each, blocking sockets: a loopback round trip needs no event
 *       loop) for SECONDS.
 *   bench_loadgen probe HOST:PORT PATH INTERVAL_MS SECONDS
 *       GETs PATH over one keep-alive connection every INTERVAL_MS (at
 *       once when the previous answer came late) for SECONDS and prints
 *       the latency distribution (n, p50, p99, max, errors): how long a
 *       cheap request waits for the server's event loop.
 *   bench_loadgen grpc HOST:PORT METHOD FILE INFLIGHT SECONDS [CHANNELS
 *                 [RATE]]
 *       unary calls of METHOD with FILE as the message, INFLIGHT calls kept
 *       in flight over CHANNELS connections, one completion-queue thread.
 *       With RATE > 0, calls start at RATE per second instead (at most
 *       INFLIGHT at once): a load below saturation.
 *   bench_loadgen otlp-count FILE     the number of OTLP profiles in an
 *       ExportProfilesServiceRequest file, as the gRPC sink counts them
 *   bench_loadgen http-sink PORT      answers every request 200, empty body
 *   bench_loadgen grpc-sink PORT [count] [save DIR]  answers every call
 *       OK, empty message, without inflating it; with `count` also counts
 *       the OTLP profiles in each (a relay's delivered rate: what a daemon
 *       acknowledged may still sit in its queue; off by default, it
 *       inflates and copies every message once); with `save DIR` (not
 *       with `count`) writes every message as it came over the wire,
 *       DIR/m<N>.gz when flagged gzip-compressed, else DIR/m<N>.pb (the
 *       tests see what a relay compressed, and how)
 *
 * The generators print one line of key=value pairs: requests completed in
 * the measured window (after a 1 s warm-up), ok / refused (429, 503,
 * UNAVAILABLE, RESOURCE_EXHAUSTED: back-pressure) / error counts, rate,
 * MB/s of request bodies accepted, p50/p99 latency of accepted requests and
 * the generator's own CPU use (user+sys over wall, 100 = one core), so a
 * run can show the generator was not the bottleneck. The sinks print
 * `requests=N bytes=N` (the gRPC sink also `profiles=N`, 0 without
 * `count`) on SIGTERM/SIGINT.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "codec/pb.h"
#include "core/err.h"

#define WARMUP_NS 1000000000LL
#define MAX_LAT 2000000 /* latency samples kept per thread */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *p;

    if (f == NULL || fstat(fileno(f), &st) != 0) {
        perror(path);
        exit(2);
    }
    p = malloc((size_t)st.st_size + 1);
    if (p == NULL ||
        fread(p, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
        perror(path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)st.st_size;
    return p;
}

/* ---- results shared by both generators ---------------------------------- */

struct stats {
    uint64_t ok, refused, errors;
    uint32_t *lat_us; /* accepted requests only */
    size_t nlat;
};

static void stats_add(struct stats *s, int outcome, int64_t t0, int64_t t1,
                      int64_t measure_from)
{
    if (t1 < measure_from) {
        return; /* warm-up */
    }
    if (outcome == 0) {
        s->ok++;
        if (s->nlat < MAX_LAT) {
            s->lat_us[s->nlat++] = (uint32_t)((t1 - t0) / 1000);
        }
    } else if (outcome == 1) {
        s->refused++;
    } else {
        s->errors++;
    }
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Merges per-thread stats and prints the result line. */
static void report(const char *mode, struct stats *st, int n, double secs,
                   size_t body, double cpu)
{
    struct stats all = {0};
    size_t i, k = 0;
    uint32_t p50 = 0, p99 = 0;

    for (i = 0; i < (size_t)n; i++) {
        all.ok += st[i].ok;
        all.refused += st[i].refused;
        all.errors += st[i].errors;
        all.nlat += st[i].nlat;
    }
    all.lat_us = malloc((all.nlat + 1) * sizeof(uint32_t));
    for (i = 0; i < (size_t)n; i++) {
        memcpy(all.lat_us + k, st[i].lat_us, st[i].nlat * sizeof(uint32_t));
        k += st[i].nlat;
    }
    if (all.nlat > 0) {
        qsort(all.lat_us, all.nlat, sizeof(uint32_t), cmp_u32);
        p50 = all.lat_us[all.nlat / 2];
        p99 = all.lat_us[(all.nlat * 99) / 100];
    }
    printf("mode=%s seconds=%.2f ok=%llu refused=%llu errors=%llu "
           "ok_per_s=%.1f mb_per_s=%.2f p50_us=%u p99_us=%u body_bytes=%zu "
           "gen_cpu_pct=%.1f\n",
           mode, secs, (unsigned long long)all.ok,
           (unsigned long long)all.refused, (unsigned long long)all.errors,
           all.ok / secs, all.ok * (double)body / secs / 1e6, p50, p99, body,
           100.0 * cpu / secs);
    free(all.lat_us);
}

/* ---- HTTP generator -------------------------------------------------------- */

struct http_gen {
    struct sockaddr_in addr;
    char *head; /* request line and headers */
    size_t head_len;
    const uint8_t *body;
    size_t body_len;
    int64_t measure_from, stop_at;
};

struct http_worker {
    const struct http_gen *g;
    struct stats st;
    pthread_t tid;
};

static int http_connect(const struct sockaddr_in *a)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    if (fd < 0) {
        return -1;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, (const struct sockaddr *)a, sizeof(*a)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int send_all(int fd, const char *head, size_t hl, const uint8_t *body,
                    size_t bl)
{
    struct iovec iov[2] = {{(void *)head, hl}, {(void *)body, bl}};
    int i = 0;

    while (i < 2) {
        ssize_t w = writev(fd, iov + i, 2 - i);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        while (i < 2 && (size_t)w >= iov[i].iov_len) {
            w -= (ssize_t)iov[i].iov_len;
            i++;
        }
        if (i < 2) {
            iov[i].iov_base = (char *)iov[i].iov_base + w;
            iov[i].iov_len -= (size_t)w;
        }
    }
    return 0;
}

/* Value of header `name` in the header block h (NUL-terminated), or NULL. */
static const char *header_value(const char *h, const char *name)
{
    size_t nl = strlen(name);
    const char *p = strstr(h, "\r\n");

    while (p != NULL && p[2] != '\r') {
        p += 2;
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            p += nl + 1;
            while (*p == ' ') {
                p++;
            }
            return p;
        }
        p = strstr(p, "\r\n");
    }
    return NULL;
}

/*
 * Reads one response: the status code, or -1 on a connection error. The
 * body is read and discarded (Content-Length, or chunked up to the last
 * chunk). *close_after is set when the server said Connection: close.
 */
static int http_read_response(int fd, char *buf, size_t cap, int *close_after)
{
    size_t have = 0, need;
    char *end = NULL;
    const char *v;
    int code;

    while (end == NULL) {
        ssize_t r = read(fd, buf + have, cap - 1 - have);
        if (r <= 0) {
            return -1;
        }
        have += (size_t)r;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (end == NULL && have >= cap - 1) {
            return -1;
        }
    }
    end[2] = '\0'; /* header block ends with its last CRLF */
    code = (int)strtol(buf + 9, NULL, 10);
    v = header_value(buf, "Connection");
    *close_after = v != NULL && strncasecmp(v, "close", 5) == 0;
    v = header_value(buf, "Content-Length");
    need = v != NULL ? (size_t)strtoull(v, NULL, 10) : 0;
    have -= (size_t)(end + 4 - buf);
    if (v == NULL && header_value(buf, "Transfer-Encoding") != NULL) {
        /* Chunked: our servers' replies are tiny; read to the last chunk. */
        memmove(buf, end + 4, have);
        buf[have] = '\0';
        while (strstr(buf, "0\r\n\r\n") == NULL) {
            ssize_t r = read(fd, buf + have, cap - 1 - have);
            if (r <= 0 || have + (size_t)r >= cap - 1) {
                return -1;
            }
            have += (size_t)r;
            buf[have] = '\0';
        }
        return code;
    }
    while (have < need) {
        ssize_t r = read(fd, buf, need - have < cap ? need - have : cap);
        if (r <= 0) {
            return -1;
        }
        have += (size_t)r;
    }
    return code;
}

static void *http_worker_run(void *arg)
{
    struct http_worker *w = arg;
    const struct http_gen *g = w->g;
    char buf[16384];
    int fd = -1, close_after = 0;

    while (now_ns() < g->stop_at) {
        int64_t t0 = now_ns();
        int code = -1;

        if (fd < 0) {
            fd = http_connect(&g->addr);
        }
        if (fd >= 0 &&
            send_all(fd, g->head, g->head_len, g->body, g->body_len) == 0) {
            code = http_read_response(fd, buf, sizeof(buf), &close_after);
        }
        stats_add(&w->st,
                  code >= 200 && code < 300      ? 0
                  : (code == 429 || code == 503) ? 1
                                                 : 2,
                  t0, now_ns(), g->measure_from);
        if (code < 0 || close_after) {
            if (fd >= 0) {
                close(fd);
            }
            fd = -1;
            if (code < 0) {
                usleep(10000); /* no busy loop while the peer is away */
            }
        } else if (code == 429 || code == 503) {
            usleep(1000); /* back-pressure: a client would wait */
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return NULL;
}

static int parse_hostport(const char *hp, struct sockaddr_in *a)
{
    char host[256];
    const char *colon = strrchr(hp, ':');
    struct addrinfo hints = {0}, *res;

    if (colon == NULL || (size_t)(colon - hp) >= sizeof(host)) {
        return -1;
    }
    memcpy(host, hp, (size_t)(colon - hp));
    host[colon - hp] = '\0';
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, colon + 1, &hints, &res) != 0) {
        return -1;
    }
    memcpy(a, res->ai_addr, sizeof(*a));
    freeaddrinfo(res);
    return 0;
}

static int cmd_http(int argc, char **argv)
{
    struct http_gen g;
    struct http_worker *w;
    int conns, i;
    double secs, cpu0;
    int64_t t_start;
    size_t head_cap;
    const char *ctype = argc > 7 ? argv[7] : "application/octet-stream";
    const char *cenc = argc > 8 ? argv[8] : NULL;

    if (argc < 7 || parse_hostport(argv[2], &g.addr) != 0) {
        fprintf(stderr, "usage: bench_loadgen http HOST:PORT PATH FILE "
                        "CONNS SECONDS [CONTENT_TYPE [CONTENT_ENCODING]]\n");
        return 2;
    }
    g.body = read_file(argv[4], &g.body_len);
    conns = (int)strtol(argv[5], NULL, 10);
    secs = strtod(argv[6], NULL);
    head_cap = strlen(argv[3]) + strlen(argv[2]) + strlen(ctype) +
               (cenc != NULL ? strlen(cenc) : 0) + 256;
    g.head = malloc(head_cap);
    g.head_len = (size_t)snprintf(
        g.head, head_cap,
        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
        "%s%s%sContent-Length: %zu\r\n\r\n",
        argv[3], argv[2], ctype, cenc != NULL ? "Content-Encoding: " : "",
        cenc != NULL ? cenc : "", cenc != NULL ? "\r\n" : "", g.body_len);
    w = calloc((size_t)conns, sizeof(*w));
    cpu0 = cpu_seconds();
    t_start = now_ns();
    g.measure_from = t_start + WARMUP_NS;
    g.stop_at = g.measure_from + (int64_t)(secs * 1e9);
    for (i = 0; i < conns; i++) {
        w[i].g = &g;
        w[i].st.lat_us = malloc(MAX_LAT * sizeof(uint32_t));
        pthread_create(&w[i].tid, NULL, http_worker_run, &w[i]);
    }
    for (i = 0; i < conns; i++) {
        pthread_join(w[i].tid, NULL);
    }
    {
        struct stats *st = calloc((size_t)conns, sizeof(*st));
        double wall = (now_ns() - t_start) / 1e9;
        for (i = 0; i < conns; i++) {
            st[i] = w[i].st;
        }
        /* CPU over the whole run (warm-up included) / its wall time. */
        report("http", st, conns, secs, g.body_len,
               (cpu_seconds() - cpu0) * secs / wall);
    }
    return 0;
}

/* ---- loop-latency probe ------------------------------------------------- */

static int cmd_probe(int argc, char **argv)
{
    struct sockaddr_in addr;
    char head[512], buf[16384];
    uint32_t *lat;
    size_t n = 0, errors = 0, cap;
    int64_t next, stop_at, interval_ns;
    int fd = -1, close_after = 0, hl;

    if (argc < 6 || parse_hostport(argv[2], &addr) != 0) {
        fprintf(stderr, "usage: bench_loadgen probe HOST:PORT PATH "
                        "INTERVAL_MS SECONDS\n");
        return 2;
    }
    interval_ns = (int64_t)(strtod(argv[4], NULL) * 1e6);
    stop_at = now_ns() + (int64_t)(strtod(argv[5], NULL) * 1e9);
    cap = (size_t)(strtod(argv[5], NULL) * 1e9 /
                   (double)(interval_ns > 0 ? interval_ns : 1)) +
          16;
    lat = malloc(cap * sizeof(*lat));
    hl = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n",
                  argv[3], argv[2]);
    for (next = now_ns(); next < stop_at && n < cap; next += interval_ns) {
        int64_t t0 = now_ns(), t1;
        int code = -1;

        if (t0 < next) {
            usleep((useconds_t)((next - t0) / 1000));
            t0 = now_ns();
        }
        if (fd < 0) {
            fd = http_connect(&addr);
        }
        if (fd >= 0 && send_all(fd, head, (size_t)hl, NULL, 0) == 0) {
            code = http_read_response(fd, buf, sizeof(buf), &close_after);
        }
        t1 = now_ns();
        if (code < 200 || code >= 300) {
            errors++;
        } else {
            lat[n++] = (uint32_t)((t1 - t0) / 1000);
        }
        if ((code < 0 || close_after) && fd >= 0) {
            close(fd);
            fd = -1;
        }
        if (t1 > next + interval_ns) {
            next = t1 - interval_ns; /* late: the next one goes now */
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    qsort(lat, n, sizeof(*lat), cmp_u32);
    printf("mode=probe n=%zu errors=%zu p50_us=%u p99_us=%u max_us=%u\n", n,
           errors, n ? lat[n / 2] : 0, n ? lat[(n * 99) / 100] : 0,
           n ? lat[n - 1] : 0);
    free(lat);
    return 0;
}

/* ---- gRPC generator --------------------------------------------------------- */

struct gcall {
    grpc_call *call;
    grpc_byte_buffer *send, *recv;
    grpc_metadata_array initial, trailing;
    grpc_status_code status;
    grpc_slice details;
    int64_t t0;
};

struct grpc_gen {
    grpc_channel **ch;
    int nch, next_ch;
    grpc_completion_queue *cq;
    grpc_slice method, body;
    size_t body_len;
    int gzip; /* body is gzip: sent as a compressed message */
    struct stats st;
};

static void gcall_start(struct grpc_gen *g, struct gcall *c)
{
    grpc_op ops[6];
    grpc_channel *ch = g->ch[g->next_ch++ % g->nch];

    memset(c, 0, sizeof(*c));
    memset(ops, 0, sizeof(ops));
    c->t0 = now_ns();
    c->call = grpc_channel_create_call(
        ch, NULL, GRPC_PROPAGATE_DEFAULTS, g->cq, g->method, NULL,
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_seconds(30, GPR_TIMESPAN)),
        NULL);
    c->send = g->gzip
                  ? grpc_raw_compressed_byte_buffer_create(&g->body, 1,
                                                           GRPC_COMPRESS_GZIP)
                  : grpc_raw_byte_buffer_create(&g->body, 1);
    grpc_metadata_array_init(&c->initial);
    grpc_metadata_array_init(&c->trailing);
    c->details = grpc_empty_slice();
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = c->send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &c->recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.trailing_metadata = &c->trailing;
    ops[5].data.recv_status_on_client.status = &c->status;
    ops[5].data.recv_status_on_client.status_details = &c->details;
    if (grpc_call_start_batch(c->call, ops, 6, c, NULL) != GRPC_CALL_OK) {
        fprintf(stderr, "bench_loadgen: grpc_call_start_batch failed\n");
        exit(1);
    }
}

static void gcall_finish(struct gcall *c)
{
    grpc_byte_buffer_destroy(c->send);
    if (c->recv != NULL) {
        grpc_byte_buffer_destroy(c->recv);
    }
    grpc_metadata_array_destroy(&c->initial);
    grpc_metadata_array_destroy(&c->trailing);
    grpc_slice_unref(c->details);
    grpc_call_unref(c->call);
}

static grpc_channel *grpc_channel_for(const char *target, int gzip)
{
    /* A local subchannel pool gives each channel its own connection. */
    grpc_arg args[3];
    grpc_channel_args ca = {gzip ? 3 : 2, args};
    grpc_channel_credentials *cr = grpc_insecure_credentials_create();
    grpc_channel *ch;

    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL;
    args[0].value.integer = 1;
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_MAX_SEND_MESSAGE_LENGTH;
    args[1].value.integer = 64 << 20;
    /* Puts `grpc-encoding: gzip` on the calls of a gzip body. */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = (char *)GRPC_COMPRESSION_CHANNEL_DEFAULT_ALGORITHM;
    args[2].value.integer = GRPC_COMPRESS_GZIP;
    ch = grpc_channel_create(target, cr, &ca);
    grpc_channel_credentials_release(cr);
    return ch;
}

/* Classifies a finished call: 0 ok, 1 back-pressure, 2 error. */
static int gcall_outcome(const grpc_event *ev, const struct gcall *c)
{
    if (!ev->success) {
        return 2;
    }
    if (c->status == GRPC_STATUS_OK) {
        return 0;
    }
    return c->status == GRPC_STATUS_UNAVAILABLE ||
                   c->status == GRPC_STATUS_RESOURCE_EXHAUSTED
               ? 1
               : 2;
}

/* Paced calls (RATE > 0): a call starts every 1/RATE s on a free slot;
 * without a free slot the start waits (the server is saturated). */
struct pace {
    double rate;
    int64_t t_start, started;
    struct gcall **idle;
    int nidle;
};

static int64_t pace_next(const struct pace *p)
{
    return p->t_start + (int64_t)((double)p->started * 1e9 / p->rate);
}

static gpr_timespec pace_deadline(const struct pace *p)
{
    int64_t wait;

    if (p->rate <= 0 || p->nidle == 0) {
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    }
    wait = pace_next(p) - now_ns();
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_nanos(wait > 0 ? wait : 0,
                                            GPR_TIMESPAN));
}

/* Starts the paced calls that are due; returns how many. */
static int pace_start_due(struct grpc_gen *g, struct pace *p, int64_t stop_at)
{
    int n = 0;
    int64_t t = now_ns();

    while (p->rate > 0 && p->nidle > 0 && t >= pace_next(p) && t < stop_at) {
        gcall_start(g, p->idle[--p->nidle]);
        p->started++;
        n++;
    }
    return n;
}

static int cmd_grpc(int argc, char **argv)
{
    struct grpc_gen g = {0};
    struct pace pc = {0};
    struct gcall *calls;
    int inflight, i;
    double secs, cpu0, wall;
    int64_t t_start, measure_from, stop_at;
    uint8_t *body;
    int live;

    if (argc < 7) {
        fprintf(stderr, "usage: bench_loadgen grpc HOST:PORT METHOD FILE "
                        "INFLIGHT SECONDS [CHANNELS [RATE]]\n"
                        "  (a gzip FILE goes as a gzip-compressed "
                        "message)\n");
        return 2;
    }
    grpc_init();
    body = read_file(argv[4], &g.body_len);
    g.gzip = g.body_len >= 2 && body[0] == 0x1f && body[1] == 0x8b;
    g.body = grpc_slice_from_copied_buffer((const char *)body, g.body_len);
    g.method = grpc_slice_from_copied_string(argv[3]);
    inflight = (int)strtol(argv[5], NULL, 10);
    secs = strtod(argv[6], NULL);
    g.nch = argc > 7 ? (int)strtol(argv[7], NULL, 10) : 1;
    pc.rate = argc > 8 ? strtod(argv[8], NULL) : 0;
    g.ch = calloc((size_t)g.nch, sizeof(*g.ch));
    for (i = 0; i < g.nch; i++) {
        g.ch[i] = grpc_channel_for(argv[2], g.gzip);
    }
    g.cq = grpc_completion_queue_create_for_next(NULL);
    g.st.lat_us = malloc(MAX_LAT * sizeof(uint32_t));
    calls = calloc((size_t)inflight, sizeof(*calls));
    pc.idle = calloc((size_t)inflight, sizeof(*pc.idle));
    cpu0 = cpu_seconds();
    t_start = now_ns();
    pc.t_start = t_start;
    measure_from = t_start + WARMUP_NS;
    stop_at = measure_from + (int64_t)(secs * 1e9);
    for (i = 0; i < inflight; i++) {
        if (pc.rate > 0) {
            pc.idle[pc.nidle++] = &calls[i];
        } else {
            gcall_start(&g, &calls[i]);
        }
    }
    live = pc.rate > 0 ? 0 : inflight;
    live += pace_start_due(&g, &pc, stop_at);
    while (live > 0 || (pc.rate > 0 && now_ns() < stop_at)) {
        grpc_event ev = grpc_completion_queue_next(g.cq, pace_deadline(&pc),
                                                   NULL);
        struct gcall *c = ev.tag;
        int64_t t1 = now_ns();
        int outcome;

        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            live += pace_start_due(&g, &pc, stop_at);
            continue;
        }
        if (ev.type != GRPC_OP_COMPLETE) {
            break;
        }
        outcome = gcall_outcome(&ev, c);
        if (outcome == 2 && g.st.errors == 0 && t1 >= measure_from) {
            char *d = grpc_slice_to_c_string(c->details);
            fprintf(stderr, "bench_loadgen: call failed: status %d %s\n",
                    (int)c->status, d);
            gpr_free(d);
        }
        stats_add(&g.st, outcome, c->t0, t1, measure_from);
        gcall_finish(c);
        if (pc.rate > 0) {
            pc.idle[pc.nidle++] = c;
            live--;
            live += pace_start_due(&g, &pc, stop_at);
        } else if (t1 < stop_at) {
            if (outcome != 0) {
                usleep(1000); /* back-pressure or failure: a client waits */
            }
            gcall_start(&g, c);
        } else {
            live--;
        }
    }
    wall = (now_ns() - t_start) / 1e9;
    report("grpc", &g.st, 1, secs, g.body_len,
           (cpu_seconds() - cpu0) * secs / wall);
    return 0;
}

/* ---- sinks ------------------------------------------------------------------ */

static atomic_ullong sink_requests, sink_bytes, sink_profiles;
static volatile sig_atomic_t sink_stop;
static int sink_count;            /* grpc-sink count: count OTLP profiles */
static const char *sink_save_dir; /* grpc-sink save DIR, or NULL */

static void on_signal(int sig)
{
    (void)sig;
    sink_stop = 1;
}

static void print_sink_stats(void)
{
    printf("requests=%llu bytes=%llu profiles=%llu\n",
           (unsigned long long)atomic_load(&sink_requests),
           (unsigned long long)atomic_load(&sink_bytes),
           (unsigned long long)atomic_load(&sink_profiles));
    fflush(stdout);
}

/* Reads requests off one connection and answers each 200, empty body. */
static void *http_sink_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
    char *buf = malloc(1 << 20);
    size_t have = 0, cap = 1 << 20;

    for (;;) {
        char *end, hdr[256];
        const char *v, *ctype;
        size_t hlen, need;
        int n;

        while ((end = memmem(buf, have, "\r\n\r\n", 4)) == NULL) {
            ssize_t r = read(fd, buf + have, cap - have - 1);
            if (r <= 0 || have + (size_t)r >= cap - 1) {
                goto out;
            }
            have += (size_t)r;
        }
        hlen = (size_t)(end + 4 - buf);
        end[2] = '\0';
        v = header_value(buf, "Content-Length");
        need = v != NULL ? (size_t)strtoull(v, NULL, 10) : 0;
        v = header_value(buf, "Expect");
        if (v != NULL && strncasecmp(v, "100-continue", 12) == 0 &&
            write(fd, cont, sizeof(cont) - 1) < 0) {
            goto out;
        }
        ctype = strncmp(buf, "POST /v1", 8) == 0 ? "application/x-protobuf"
                                                 : "application/proto";
        /* Body: whatever came with the headers, then the rest. */
        if (have - hlen >= need) {
            memmove(buf, buf + hlen + need, have - hlen - need);
            have -= hlen + need;
        } else {
            size_t got = have - hlen;
            while (got < need) {
                ssize_t r = read(fd, buf, need - got < cap ? need - got : cap);
                if (r <= 0) {
                    goto out;
                }
                got += (size_t)r;
            }
            have = 0;
        }
        atomic_fetch_add(&sink_requests, 1);
        atomic_fetch_add(&sink_bytes, need);
        n = snprintf(hdr, sizeof(hdr),
                     "HTTP/1.1 200 OK\r\nContent-Type: %s\r\n"
                     "Content-Length: 0\r\n\r\n",
                     ctype);
        if (write(fd, hdr, (size_t)n) != n) {
            goto out;
        }
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static int listen_on(int port)
{
    struct sockaddr_in a = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 128)) {
        perror("bench_loadgen: bind");
        exit(1);
    }
    return fd;
}

static void install_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal; /* no SA_RESTART: accept() returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int cmd_http_sink(int argc, char **argv)
{
    int lfd;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_loadgen http-sink PORT\n");
        return 2;
    }
    install_signals();
    lfd = listen_on((int)strtol(argv[2], NULL, 10));
    while (!sink_stop) {
        int fd = accept(lfd, NULL, NULL), one = 1;
        pthread_t t;
        if (fd < 0) {
            continue;
        }
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        pthread_create(&t, NULL, http_sink_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
    print_sink_stats();
    return 0;
}

enum { SC_NEW, SC_RECEIVED, SC_DONE };

/* Occurrences of LEN field f in [p, end), each counted as 1 or, with
 * inner, as what inner counts in its body. A malformed tail ends the walk
 * (the sink only acknowledges; the count is a benchmark's). */
static uint64_t
pb_count_field(const uint8_t *p, const uint8_t *end, uint32_t f,
               uint64_t (*inner)(const uint8_t *, const uint8_t *))
{
    const uint8_t *s;
    uint64_t n = 0;
    size_t len;
    uint32_t got;
    unsigned w;

    while (p < end) {
        if (pb_read_tag(&p, end, &got, &w) != PC_OK) {
            return n;
        }
        if (got == f && w == PB_LEN) {
            if (pb_read_len(&p, end, &s, &len) != PC_OK) {
                return n;
            }
            n += inner != NULL ? inner(s, s + len) : 1;
        } else if (pb_skip(&p, end, w) != PC_OK) {
            return n;
        }
    }
    return n;
}

/* ScopeProfiles.profiles (2). */
static uint64_t count_scope(const uint8_t *p, const uint8_t *end)
{
    return pb_count_field(p, end, 2, NULL);
}

/* ResourceProfiles.scope_profiles (2). */
static uint64_t count_resource(const uint8_t *p, const uint8_t *end)
{
    return pb_count_field(p, end, 2, count_scope);
}

/* Profiles in an ExportProfilesServiceRequest (resource_profiles, 1):
 * the top levels only, the dictionary and the profiles are skipped. */
static uint64_t sink_count_profiles(grpc_byte_buffer *bb)
{
    grpc_byte_buffer_reader r;
    grpc_slice all;
    uint64_t n = 0;

    if (!grpc_byte_buffer_reader_init(&r, bb)) {
        return 0;
    }
    all = grpc_byte_buffer_reader_readall(&r);
    n = pb_count_field(GRPC_SLICE_START_PTR(all), GRPC_SLICE_END_PTR(all), 1,
                       count_resource);
    grpc_slice_unref(all);
    grpc_byte_buffer_reader_destroy(&r);
    return n;
}

/* The message's bytes as they came over the wire (slices of a raw byte
 * buffer: gRPC did not decompress it, see cmd_grpc_sink) into the save
 * directory. */
static void sink_save(grpc_byte_buffer *bb)
{
    static atomic_int n;
    const grpc_slice_buffer *sb = &bb->data.raw.slice_buffer;
    char path[4096];
    FILE *f;
    size_t i;

    snprintf(path, sizeof(path), "%s/m%04d.%s", sink_save_dir,
             atomic_fetch_add(&n, 1) + 1,
             bb->data.raw.compression == GRPC_COMPRESS_GZIP ? "gz" : "pb");
    f = fopen(path, "wb");
    if (f == NULL) {
        fprintf(stderr, "bench_loadgen: cannot write %s\n", path);
        return;
    }
    for (i = 0; i < sb->count; i++) {
        fwrite(GRPC_SLICE_START_PTR(sb->slices[i]), 1,
               GRPC_SLICE_LENGTH(sb->slices[i]), f);
    }
    fclose(f);
}

struct scall {
    grpc_call *call;
    grpc_call_details details;
    grpc_metadata_array md;
    grpc_byte_buffer *recv, *resp;
    int stage, cancelled;
};

static void scall_request(grpc_server *srv, grpc_completion_queue *cq)
{
    struct scall *c = calloc(1, sizeof(*c));

    grpc_call_details_init(&c->details);
    grpc_metadata_array_init(&c->md);
    if (grpc_server_request_call(srv, &c->call, &c->details, &c->md, cq, cq,
                                 c) != GRPC_CALL_OK) {
        free(c);
    }
}

static void scall_free(struct scall *c)
{
    if (c->recv != NULL) {
        grpc_byte_buffer_destroy(c->recv);
    }
    if (c->resp != NULL) {
        grpc_byte_buffer_destroy(c->resp);
    }
    grpc_call_details_destroy(&c->details);
    grpc_metadata_array_destroy(&c->md);
    if (c->call != NULL) {
        grpc_call_unref(c->call);
    }
    free(c);
}

/* Next step of a call: receive its message, then answer OK + empty. */
static void scall_step(grpc_server *srv, grpc_completion_queue *cq,
                       struct scall *c, int success)
{
    grpc_op ops[4];
    grpc_slice empty = grpc_empty_slice();

    memset(ops, 0, sizeof(ops));
    if (c->stage == SC_NEW) {
        scall_request(srv, cq); /* keep one call requested */
        if (!success) {
            scall_free(c);
            return;
        }
        c->stage = SC_RECEIVED;
        ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[1].op = GRPC_OP_RECV_MESSAGE;
        ops[1].data.recv_message.recv_message = &c->recv;
        if (grpc_call_start_batch(c->call, ops, 2, c, NULL) != GRPC_CALL_OK) {
            scall_free(c);
        }
        return;
    }
    if (c->stage == SC_RECEIVED && success && c->recv != NULL) {
        atomic_fetch_add(&sink_requests, 1);
        atomic_fetch_add(&sink_bytes, grpc_byte_buffer_length(c->recv));
        if (sink_count) {
            atomic_fetch_add(&sink_profiles, sink_count_profiles(c->recv));
        }
        if (sink_save_dir != NULL) {
            sink_save(c->recv);
        }
        c->stage = SC_DONE;
        c->resp = grpc_raw_byte_buffer_create(&empty, 1);
        ops[0].op = GRPC_OP_SEND_MESSAGE;
        ops[0].data.send_message.send_message = c->resp;
        ops[1].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
        ops[1].data.send_status_from_server.status = GRPC_STATUS_OK;
        ops[2].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[2].data.recv_close_on_server.cancelled = &c->cancelled;
        if (grpc_call_start_batch(c->call, ops, 3, c, NULL) == GRPC_CALL_OK) {
            return;
        }
    }
    scall_free(c);
}

static int cmd_grpc_sink(int argc, char **argv)
{
    grpc_server *srv;
    grpc_completion_queue *cq;
    grpc_server_credentials *cr;
    grpc_arg args[2];
    grpc_channel_args ca = {1, args};
    char addr[64];
    int i;

    if (argc < 3) {
        fprintf(stderr,
                "usage: bench_loadgen grpc-sink PORT [count] [save DIR]\n");
        return 2;
    }
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "count") == 0) {
            sink_count = 1;
        } else if (strcmp(argv[i], "save") == 0 && i + 1 < argc) {
            sink_save_dir = argv[++i];
        }
    }
    install_signals();
    grpc_init();
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = (char *)GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = 64 << 20;
    /* Messages are not inflated unless counted: saved as they came, and
     * no CPU taken from the daemon under test for work a backend does on
     * its own machine (the HTTP sink does not inflate either). */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = (char *)GRPC_ARG_ENABLE_PER_MESSAGE_DECOMPRESSION;
    args[1].value.integer = 0;
    ca.num_args = sink_count ? 1 : 2;
    srv = grpc_server_create(&ca, NULL);
    cq = grpc_completion_queue_create_for_next(NULL);
    grpc_server_register_completion_queue(srv, cq, NULL);
    snprintf(addr, sizeof(addr), "127.0.0.1:%s", argv[2]);
    cr = grpc_insecure_server_credentials_create();
    if (grpc_server_add_http2_port(srv, addr, cr) == 0) {
        fprintf(stderr, "bench_loadgen: cannot listen on %s\n", addr);
        return 1;
    }
    grpc_server_credentials_release(cr);
    grpc_server_start(srv);
    for (i = 0; i < 64; i++) {
        scall_request(srv, cq);
    }
    while (!sink_stop) {
        grpc_event ev = grpc_completion_queue_next(
            cq,
            gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                         gpr_time_from_millis(200, GPR_TIMESPAN)),
            NULL);
        if (ev.type == GRPC_OP_COMPLETE) {
            scall_step(srv, cq, ev.tag, ev.success);
        }
    }
    print_sink_stats();
    _exit(0); /* no orderly gRPC shutdown needed */
}

static int cmd_otlp_count(int argc, char **argv)
{
    size_t len;
    uint8_t *p;

    if (argc < 3) {
        fprintf(stderr, "usage: bench_loadgen otlp-count FILE\n");
        return 2;
    }
    p = read_file(argv[2], &len);
    printf("%llu\n",
           (unsigned long long)pb_count_field(p, p + len, 1, count_resource));
    free(p);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "http") == 0) {
        return cmd_http(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "grpc") == 0) {
        return cmd_grpc(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "probe") == 0) {
        return cmd_probe(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "http-sink") == 0) {
        return cmd_http_sink(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "grpc-sink") == 0) {
        return cmd_grpc_sink(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "otlp-count") == 0) {
        return cmd_otlp_count(argc, argv);
    }
    fprintf(stderr, "usage: bench_loadgen http|grpc|probe|http-sink|grpc-sink|"
                    "otlp-count "
                    "...\n"
                    "(see the comment at the top of bench/bench_loadgen.c)\n");
    return 2;
}
