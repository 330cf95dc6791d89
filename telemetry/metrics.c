/*
 * metrics.c: the self-telemetry registry (see metrics.h).
 *
 * Families are a list sorted by name, each holding a list of series sorted
 * by label text, so rendering is a plain walk. Registration and rendering
 * take the registry mutex; updates on the hot path touch only the series'
 * atomic value. A gauge keeps the bits of a double in an atomic uint64,
 * since C11 has no portable atomic double arithmetic. The lists are walked
 * linearly: series are created once per component, not per request.
 */
#include "telemetry/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"

#ifndef PROFCOL_VERSION
#define PROFCOL_VERSION "unknown"
#endif
#ifndef PROFCOL_OTLP_VERSION
#define PROFCOL_OTLP_VERSION "unknown"
#endif

#define METRIC_NAME_MAX 200
#define METRIC_FN_MAX 4

struct mcounter {
    _Atomic uint64_t v;
};

struct mgauge {
    _Atomic uint64_t bits;
};

struct mseries {
    char *labels;
    struct mcounter c;
    struct mgauge g;
    /* Computed when rendered by the newest registration (top of the
     * stack) when nfn > 0. A stack, because a component replaced on
     * reload registers the same series before the old one goes, and a
     * failed reload discards the newer registration again. */
    double (*fn[METRIC_FN_MAX])(void *arg);
    void *arg[METRIC_FN_MAX];
    int nfn;
    int refs;                     /* registrations; removed at zero */
    int permanent;                /* process metrics: never removed */
    struct mseries *next;
};

struct mfamily {
    char *name;
    char *help;
    enum metric_type type;
    struct mseries *series;
    struct mfamily *next;
};

struct metrics {
    pthread_mutex_t mu;
    struct mfamily *families;
    struct timespec created;      /* uptime fallback without /proc */
};

static uint64_t dbl_bits(double d)
{
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    return u;
}

static double bits_dbl(uint64_t u)
{
    double d;

    memcpy(&d, &u, sizeof(d));
    return d;
}

/* [a-zA-Z_:][a-zA-Z0-9_:]* as the exposition format requires. */
static int valid_name(const char *s)
{
    size_t i, n = strlen(s);

    if (n == 0 || n > METRIC_NAME_MAX) {
        return 0;
    }
    for (i = 0; i < n; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
            return 0;
        }
    }
    return 1;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

static void series_free(struct mseries *s)
{
    free(s->labels);
    free(s);
}

static void family_free(struct mfamily *f)
{
    struct mseries *s, *next;

    for (s = f->series; s != NULL; s = next) {
        next = s->next;
        series_free(s);
    }
    free(f->name);
    free(f->help);
    free(f);
}

/* Finds or creates the family; NULL on OOM or a type clash. The caller
 * holds the lock. */
static struct mfamily *family_get(struct metrics *m, const char *name,
                                  const char *help, enum metric_type type)
{
    struct mfamily **pp = &m->families, *f;
    int cmp = 1;

    while (*pp != NULL && (cmp = strcmp((*pp)->name, name)) < 0) {
        pp = &(*pp)->next;
    }
    if (*pp != NULL && cmp == 0) {
        return (*pp)->type == type ? *pp : NULL;
    }
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        return NULL;
    }
    f->name = strdup(name);
    f->help = strdup(help != NULL ? help : "");
    if (f->name == NULL || f->help == NULL) {
        family_free(f);
        return NULL;
    }
    f->type = type;
    f->next = *pp;
    *pp = f;
    return f;
}

/* Finds or creates the series in f; NULL on OOM. The caller holds the
 * lock. */
static struct mseries *series_get(struct mfamily *f, const char *labels)
{
    struct mseries **pp = &f->series, *s;
    int cmp = 1;

    while (*pp != NULL && (cmp = strcmp((*pp)->labels, labels)) < 0) {
        pp = &(*pp)->next;
    }
    if (*pp != NULL && cmp == 0) {
        (*pp)->refs++;
        return *pp;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->labels = strdup(labels);
    if (s->labels == NULL) {
        free(s);
        return NULL;
    }
    atomic_init(&s->c.v, 0);
    atomic_init(&s->g.bits, dbl_bits(0.0));
    s->refs = 1;
    s->next = *pp;
    *pp = s;
    return s;
}

/* Removes f from the family list when it has no series left. */
static void family_drop_if_empty(struct metrics *m, struct mfamily *f)
{
    struct mfamily **pp;

    if (f->series != NULL) {
        return;
    }
    for (pp = &m->families; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            family_free(f);
            return;
        }
    }
}

/* Registration common to all kinds; the name is final (suffix added). */
static struct mseries *register_series(struct metrics *m, const char *name,
                                       const char *help, const char *labels,
                                       enum metric_type type)
{
    struct mfamily *f;
    struct mseries *s = NULL;

    if (m == NULL || name == NULL || !valid_name(name)) {
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    f = family_get(m, name, help, type);
    if (f != NULL) {
        s = series_get(f, labels != NULL ? labels : "");
        family_drop_if_empty(m, f);
    }
    pthread_mutex_unlock(&m->mu);
    return s;
}

struct mcounter *metrics_counter(struct metrics *m, const char *name,
                                 const char *help, const char *labels)
{
    char full[METRIC_NAME_MAX + 8];
    struct mseries *s;

    if (name == NULL || strlen(name) > METRIC_NAME_MAX) {
        return NULL;
    }
    snprintf(full, sizeof(full), "%s%s", name,
             ends_with(name, "_total") ? "" : "_total");
    s = register_series(m, full, help, labels, METRIC_COUNTER);
    return s != NULL ? &s->c : NULL;
}

struct mgauge *metrics_gauge(struct metrics *m, const char *name,
                             const char *help, const char *labels)
{
    struct mseries *s = register_series(m, name, help, labels, METRIC_GAUGE);

    return s != NULL ? &s->g : NULL;
}

/* Sets the render-time function under the lock, so a concurrent render
 * never sees fn and arg from different registrations. */
static int set_fn(struct metrics *m, struct mseries *s, double (*fn)(void *),
                  void *arg)
{
    pthread_mutex_lock(&m->mu);
    if (s->nfn > 0 && s->arg[s->nfn - 1] == arg) {
        s->nfn--;                 /* same owner again: replace */
    } else if (s->nfn == METRIC_FN_MAX) {
        memmove(&s->fn[0], &s->fn[1], (METRIC_FN_MAX - 1) * sizeof(s->fn[0]));
        memmove(&s->arg[0], &s->arg[1],
                (METRIC_FN_MAX - 1) * sizeof(s->arg[0]));
        s->nfn--;
    }
    s->fn[s->nfn] = fn;
    s->arg[s->nfn] = arg;
    s->nfn++;
    pthread_mutex_unlock(&m->mu);
    return PC_OK;
}

int metrics_gauge_fn(struct metrics *m, const char *name, const char *help,
                     const char *labels, double (*fn)(void *arg), void *arg)
{
    struct mseries *s;

    if (fn == NULL) {
        return PC_EINVAL;
    }
    s = register_series(m, name, help, labels, METRIC_GAUGE);
    if (s == NULL) {
        return m != NULL && name != NULL && valid_name(name) ? PC_ENOMEM
                                                             : PC_EINVAL;
    }
    return set_fn(m, s, fn, arg);
}

void metrics_remove_matching(struct metrics *m, const char *labels_substr)
{
    struct mfamily *f, *fnext;
    struct mseries **pp, *s;

    if (m == NULL || labels_substr == NULL || labels_substr[0] == '\0') {
        return;
    }
    pthread_mutex_lock(&m->mu);
    for (f = m->families; f != NULL; f = fnext) {
        fnext = f->next;
        pp = &f->series;
        while ((s = *pp) != NULL) {
            if (!s->permanent && strstr(s->labels, labels_substr) != NULL &&
                --s->refs <= 0) {
                *pp = s->next;
                series_free(s);
            } else {
                pp = &s->next;
            }
        }
        family_drop_if_empty(m, f);
    }
    pthread_mutex_unlock(&m->mu);
}

/* Removes arg's entries from the series' function stack. */
static void fn_drop(struct mseries *s, const void *arg)
{
    int i, k = 0;

    for (i = 0; i < s->nfn; i++) {
        if (s->arg[i] != arg) {
            s->fn[k] = s->fn[i];
            s->arg[k] = s->arg[i];
            k++;
        }
    }
    s->nfn = k;
}

void metrics_gauge_fn_drop(struct metrics *m, const void *arg)
{
    struct mfamily *f;
    struct mseries *s;

    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    for (f = m->families; f != NULL; f = f->next) {
        for (s = f->series; s != NULL; s = s->next) {
            fn_drop(s, arg);
        }
    }
    pthread_mutex_unlock(&m->mu);
}

void mcounter_add(struct mcounter *c, uint64_t v)
{
    if (c != NULL) {
        atomic_fetch_add_explicit(&c->v, v, memory_order_relaxed);
    }
}

uint64_t mcounter_get(const struct mcounter *c)
{
    return c != NULL ? atomic_load_explicit(&c->v, memory_order_relaxed) : 0;
}

void mgauge_set(struct mgauge *g, double v)
{
    if (g != NULL) {
        atomic_store_explicit(&g->bits, dbl_bits(v), memory_order_relaxed);
    }
}

void mgauge_add(struct mgauge *g, double v)
{
    uint64_t old, want;

    if (g == NULL) {
        return;
    }
    old = atomic_load_explicit(&g->bits, memory_order_relaxed);
    do {
        want = dbl_bits(bits_dbl(old) + v);
    } while (!atomic_compare_exchange_weak_explicit(
        &g->bits, &old, want, memory_order_relaxed, memory_order_relaxed));
}

double mgauge_get(const struct mgauge *g)
{
    return g != NULL
               ? bits_dbl(atomic_load_explicit(&g->bits, memory_order_relaxed))
               : 0.0;
}

void metrics_escape(const char *src, char *dst, size_t dstlen)
{
    size_t n = 0;
    char c;

    if (dst == NULL || dstlen == 0) {
        return;
    }
    for (; src != NULL && (c = *src) != '\0'; src++) {
        const char *rep = c == '\\' ? "\\\\" : c == '"' ? "\\\"" :
                          c == '\n' ? "\\n" : NULL;
        size_t k = rep != NULL ? 2 : 1;

        /* Never split an escape sequence when out of room. */
        if (n + k >= dstlen) {
            break;
        }
        if (rep != NULL) {
            dst[n++] = rep[0];
            dst[n++] = rep[1];
        } else {
            dst[n++] = c;
        }
    }
    dst[n] = '\0';
}

/* ---- process metrics ---- */

static double process_cpu_seconds(void *arg)
{
    struct rusage ru;

    (void)arg;
    if (getrusage(RUSAGE_SELF, &ru) != 0) {
        return 0.0;
    }
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static double process_rss_bytes(void *arg)
{
    unsigned long size = 0, resident = 0;
    FILE *fp = fopen("/proc/self/statm", "r");
    long page = sysconf(_SC_PAGESIZE);

    (void)arg;
    if (fp == NULL) {
        return 0.0;
    }
    if (fscanf(fp, "%lu %lu", &size, &resident) != 2) {
        resident = 0;
    }
    fclose(fp);
    return (double)resident * (double)(page > 0 ? page : 4096);
}

/* Seconds since boot at which this process started: field 22 of
 * /proc/self/stat, read after the last ')' because the command name may
 * hold spaces and parentheses. Negative when unavailable. */
static double process_start_since_boot(void)
{
    char text[1024], *p;
    unsigned long long start;
    long tck = sysconf(_SC_CLK_TCK);
    size_t n;
    int field;
    FILE *fp = fopen("/proc/self/stat", "r");

    if (fp == NULL) {
        return -1.0;
    }
    n = fread(text, 1, sizeof(text) - 1, fp);
    fclose(fp);
    text[n] = '\0';
    p = strrchr(text, ')');
    if (p == NULL || tck <= 0) {
        return -1.0;
    }
    /* p is at ')', the end of field 2; each space found starts the next
     * field (3: state, ...). Stop at the one that starts field 22. */
    for (field = 2; field < 22 && p != NULL; field++) {
        p = strchr(p + 1, ' ');
    }
    if (p == NULL || sscanf(p, " %llu", &start) != 1) {
        return -1.0;
    }
    return (double)start / (double)tck;
}

static double process_uptime_seconds(void *arg)
{
    const struct metrics *m = arg;
    double boot_up = -1.0, start = process_start_since_boot();
    struct timespec now;
    FILE *fp = fopen("/proc/uptime", "r");

    if (fp != NULL) {
        if (fscanf(fp, "%lf", &boot_up) != 1) {
            boot_up = -1.0;
        }
        fclose(fp);
    }
    if (boot_up >= 0.0 && start >= 0.0 && boot_up >= start) {
        /* Both are in 10 ms steps; round away the float noise. */
        return round((boot_up - start) * 1000.0) / 1000.0;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - m->created.tv_sec) +
           (double)(now.tv_nsec - m->created.tv_nsec) / 1e9;
}

static double one(void *arg)
{
    (void)arg;
    return 1.0;
}

static int add_process_metric(struct metrics *m, const char *name,
                              const char *help, enum metric_type type,
                              const char *labels, double (*fn)(void *))
{
    struct mseries *s = register_series(m, name, help, labels, type);

    if (s == NULL) {
        return PC_ENOMEM;
    }
    s->permanent = 1;
    return set_fn(m, s, fn, m);
}

static int add_process_metrics(struct metrics *m)
{
    char labels[256], v[64], ov[64];
    int rc = 0;

    metrics_escape(PROFCOL_VERSION, v, sizeof(v));
    metrics_escape(PROFCOL_OTLP_VERSION, ov, sizeof(ov));
    snprintf(labels, sizeof(labels), "otlp_version=\"%s\",version=\"%s\"", ov,
             v);
    rc |= add_process_metric(m, "profcol_process_cpu_seconds_total",
                             "Total user and system CPU time spent in "
                             "seconds.",
                             METRIC_COUNTER, NULL, process_cpu_seconds);
    rc |= add_process_metric(m, "profcol_process_memory_rss_bytes",
                             "Resident set size in bytes.", METRIC_GAUGE,
                             NULL, process_rss_bytes);
    rc |= add_process_metric(m, "profcol_process_uptime_seconds",
                             "Seconds since the process started.",
                             METRIC_GAUGE, NULL, process_uptime_seconds);
    rc |= add_process_metric(m, "profcol_build_info",
                             "Build information; the value is always 1.",
                             METRIC_GAUGE, labels, one);
    return rc != 0 ? PC_ENOMEM : PC_OK;
}

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof(*m));

    if (m == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&m->mu, NULL) != 0) {
        free(m);
        return NULL;
    }
    clock_gettime(CLOCK_MONOTONIC, &m->created);
    if (add_process_metrics(m) != PC_OK) {
        metrics_free(m);
        return NULL;
    }
    return m;
}

void metrics_free(struct metrics *m)
{
    struct mfamily *f, *next;

    if (m == NULL) {
        return;
    }
    for (f = m->families; f != NULL; f = next) {
        next = f->next;
        family_free(f);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ---- rendering ---- */

/* Shortest text that reads back as the same double, in the spelling the
 * exposition format uses for the special values. */
static int render_double(struct buf *out, double d)
{
    char tmp[40];

    if (isnan(d)) {
        return buf_append_str(out, "NaN");
    }
    if (isinf(d)) {
        return buf_append_str(out, d > 0 ? "+Inf" : "-Inf");
    }
    snprintf(tmp, sizeof(tmp), "%.15g", d);
    if (strtod(tmp, NULL) != d) {
        snprintf(tmp, sizeof(tmp), "%.17g", d);
    }
    return buf_append_str(out, tmp);
}

/* HELP text escapes only backslash and newline. */
static int render_help(struct buf *out, const char *help)
{
    int rc = PC_OK;

    for (; *help != '\0' && rc == PC_OK; help++) {
        if (*help == '\\') {
            rc = buf_append_str(out, "\\\\");
        } else if (*help == '\n') {
            rc = buf_append_str(out, "\\n");
        } else {
            rc = buf_putc(out, (uint8_t)*help);
        }
    }
    return rc;
}

static int render_series(struct buf *out, const struct mfamily *f,
                         const struct mseries *s)
{
    int rc = buf_append_str(out, f->name);

    if (rc == PC_OK && s->labels[0] != '\0') {
        rc = buf_printf(out, "{%s}", s->labels);
    }
    if (rc == PC_OK) {
        rc = buf_putc(out, ' ');
    }
    if (rc != PC_OK) {
        return rc;
    }
    if (s->nfn > 0) {
        rc = render_double(out, s->fn[s->nfn - 1](s->arg[s->nfn - 1]));
    } else if (f->type == METRIC_COUNTER) {
        rc = buf_printf(out, "%llu", (unsigned long long)mcounter_get(&s->c));
    } else {
        rc = render_double(out, mgauge_get(&s->g));
    }
    return rc == PC_OK ? buf_putc(out, '\n') : rc;
}

static int render_family(struct buf *out, const struct mfamily *f)
{
    const struct mseries *s;
    int rc = buf_printf(out, "# HELP %s ", f->name);

    if (rc == PC_OK) {
        rc = render_help(out, f->help);
    }
    if (rc == PC_OK) {
        rc = buf_printf(out, "\n# TYPE %s %s\n", f->name,
                        f->type == METRIC_COUNTER ? "counter" : "gauge");
    }
    for (s = f->series; s != NULL && rc == PC_OK; s = s->next) {
        rc = render_series(out, f, s);
    }
    return rc;
}

int metrics_render(struct metrics *m, struct buf *out)
{
    const struct mfamily *f;
    int rc = PC_OK;

    if (m == NULL || out == NULL) {
        return PC_EINVAL;
    }
    pthread_mutex_lock(&m->mu);
    for (f = m->families; f != NULL && rc == PC_OK; f = f->next) {
        rc = render_family(out, f);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}
