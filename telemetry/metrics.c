/*
 * metrics.c: the self-telemetry registry (see metrics.h).
 *
 * Families are a list sorted by name, each holding a list of series sorted
 * by label text, so rendering is a plain walk. Registration, scopes and
 * rendering take the registry mutex; updates on the hot path touch only
 * the series' atomic value. A gauge keeps the bits of a double in an
 * atomic uint64, since C11 has no portable atomic double arithmetic. The
 * lists are walked linearly: series are created once per component, not
 * per request.
 *
 * A scope keeps the list of the series it registered (each once); a
 * series counts the scopes holding it and goes when the last lets go.
 */
#include "telemetry/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/err.h"

#ifndef PROFCOL_VERSION
#define PROFCOL_VERSION "unknown"
#endif
#ifndef PROFCOL_OTLP_VERSION
#define PROFCOL_OTLP_VERSION "unknown"
#endif

#define METRIC_NAME_MAX 200
#define METRIC_FN_MAX 4
#define METRIC_LABELS_MAX 65536

enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
};

struct mcounter {
    _Atomic uint64_t v;
};

struct mgauge {
    _Atomic uint64_t bits;
};

/* A render-time function and the scope that registered it. */
struct mfn {
    double (*fn)(void *arg);
    void *arg;
    const struct mscope *owner;
};

struct mseries {
    char *labels;
    struct mcounter c;
    struct mgauge g;
    /* Computed when rendered by the newest registration (top of the
     * stack) when nfn > 0. A stack, because a component replaced on
     * reload registers the same series before the old one goes, and a
     * failed reload discards the newer registration again. */
    struct mfn fn[METRIC_FN_MAX];
    int nfn;
    int refs; /* scopes holding it; removed at zero */
    struct mseries *next;
};

struct mfamily {
    char *name;
    char *help;
    enum metric_type type;
    struct mseries *series;
    struct mfamily *next;
};

/* One series a scope holds. */
struct mhold {
    struct mfamily *f;
    struct mseries *s;
};

struct mscope {
    struct metrics *m;
    char *labels; /* identity: k="v",k2="v2" or "" */
    struct mhold *held;
    size_t nheld, capheld;
    struct mscope *parent;
    struct mscope *children; /* sub-scopes still alive */
    struct mscope *next_sibling;
};

struct metrics {
    pthread_mutex_t mu;
    struct mfamily *families;
    struct mscope *process; /* the process metrics' scope */
    int64_t created_ns;     /* uptime fallback without /proc */
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

/* [a-zA-Z_][a-zA-Z0-9_]*: a label name. */
static int valid_label_name(const char *s)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        char c = s[i];
        int alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    c == '_';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9')) {
            return 0;
        }
    }
    return i > 0 && i <= METRIC_NAME_MAX;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);

    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* ---- label text ---- */

int metrics_label_value(struct buf *b, const char *v, size_t len)
{
    int rc = PC_OK;
    size_t i;

    for (i = 0; i < len && rc == PC_OK; i++) {
        if (v[i] == '\\') {
            rc = buf_append(b, "\\\\", 2);
        } else if (v[i] == '"') {
            rc = buf_append(b, "\\\"", 2);
        } else if (v[i] == '\n') {
            rc = buf_append(b, "\\n", 2);
        } else {
            rc = buf_putc(b, (uint8_t)v[i]);
        }
    }
    return rc;
}

/* base followed by the key/value pairs of ap, as one NUL-terminated
 * string; NULL on OOM or an invalid key. */
static char *labels_text(const char *base, va_list ap)
{
    struct buf b;
    const char *k, *v;
    size_t len;
    int rc;

    buf_init(&b, METRIC_LABELS_MAX);
    rc = buf_append_str(&b, base);
    while (rc == PC_OK && (k = va_arg(ap, const char *)) != NULL) {
        v = va_arg(ap, const char *);
        if (!valid_label_name(k)) {
            rc = PC_EINVAL;
            break;
        }
        if (b.len > 0) {
            rc = buf_putc(&b, ',');
        }
        if (rc == PC_OK) {
            rc = buf_append_str(&b, k);
        }
        if (rc == PC_OK) {
            rc = buf_append(&b, "=\"", 2);
        }
        if (rc == PC_OK) {
            rc = metrics_label_value(&b, v != NULL ? v : "",
                                     v != NULL ? strlen(v) : 0);
        }
        if (rc == PC_OK) {
            rc = buf_putc(&b, '"');
        }
    }
    if (rc == PC_OK) {
        rc = buf_putc(&b, '\0');
    }
    if (rc != PC_OK) {
        buf_free(&b);
        return NULL;
    }
    return (char *)buf_take(&b, &len);
}

/* ---- families and series (the caller holds the lock) ---- */

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

/* Finds or creates the family; NULL on OOM or a type clash. */
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

/* Finds or creates the series in f (a new one has no holder yet); NULL on
 * OOM. Takes labels over. */
static struct mseries *series_get(struct mfamily *f, char *labels)
{
    struct mseries **pp = &f->series, *s;
    int cmp = 1;

    while (*pp != NULL && (cmp = strcmp((*pp)->labels, labels)) < 0) {
        pp = &(*pp)->next;
    }
    if (*pp != NULL && cmp == 0) {
        free(labels);
        return *pp;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        free(labels);
        return NULL;
    }
    s->labels = labels;
    atomic_init(&s->c.v, 0);
    atomic_init(&s->g.bits, dbl_bits(0.0));
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

/* Removes s from f when no scope holds it, and f when left empty. */
static void series_drop_if_unheld(struct metrics *m, struct mfamily *f,
                                  struct mseries *s)
{
    struct mseries **pp;

    if (s->refs > 0) {
        return;
    }
    for (pp = &f->series; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            series_free(s);
            break;
        }
    }
    family_drop_if_empty(m, f);
}

/* Removes owner's entry from the series' function stack. */
static void fn_drop(struct mseries *s, const struct mscope *owner)
{
    int i, k = 0;

    for (i = 0; i < s->nfn; i++) {
        if (s->fn[i].owner != owner) {
            s->fn[k++] = s->fn[i];
        }
    }
    s->nfn = k;
}

/* Puts owner's function on top of the stack (replacing its earlier one);
 * a full stack forgets its oldest entry. */
static void fn_push(struct mseries *s, const struct mscope *owner,
                    double (*fn)(void *), void *arg)
{
    fn_drop(s, owner);
    if (s->nfn == METRIC_FN_MAX) {
        memmove(&s->fn[0], &s->fn[1], (METRIC_FN_MAX - 1) * sizeof(s->fn[0]));
        s->nfn--;
    }
    s->fn[s->nfn].fn = fn;
    s->fn[s->nfn].arg = arg;
    s->fn[s->nfn].owner = owner;
    s->nfn++;
}

/* ---- registration through a scope ---- */

/* The series name{scope labels, ap's labels} held by sc; NULL on OOM, an
 * invalid name or key, or a type clash. name is final (suffix added). */
static struct mseries *scope_register(struct mscope *sc, const char *name,
                                      const char *help, enum metric_type type,
                                      double (*fn)(void *), void *arg,
                                      va_list ap)
{
    struct metrics *m = sc->m;
    struct mfamily *f;
    struct mseries *s = NULL;
    char *labels;
    size_t i;

    if (!valid_name(name) || (labels = labels_text(sc->labels, ap)) == NULL) {
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    f = family_get(m, name, help, type);
    if (f != NULL) {
        s = series_get(f, labels);
        labels = NULL;
    }
    for (i = 0; s != NULL && i < sc->nheld && sc->held[i].s != s; i++) {
    }
    if (s != NULL && i == sc->nheld) {
        /* New to this scope: hold it. */
        if (sc->nheld == sc->capheld) {
            size_t ncap = sc->capheld != 0 ? sc->capheld * 2 : 8;
            struct mhold *nh = realloc(sc->held, ncap * sizeof(*nh));
            if (nh == NULL) {
                series_drop_if_unheld(m, f, s);
                s = NULL;
                f = NULL;
            } else {
                sc->held = nh;
                sc->capheld = ncap;
            }
        }
        if (s != NULL) {
            sc->held[sc->nheld].f = f;
            sc->held[sc->nheld].s = s;
            sc->nheld++;
            s->refs++;
        }
    }
    if (s != NULL && fn != NULL) {
        fn_push(s, sc, fn, arg);
    }
    if (f != NULL) {
        family_drop_if_empty(m, f);
    }
    pthread_mutex_unlock(&m->mu);
    free(labels);
    return s;
}

struct mcounter *mscope_counter(struct mscope *s, const char *name,
                                const char *help, ...)
{
    char full[METRIC_NAME_MAX + 8];
    struct mseries *r;
    va_list ap;

    if (s == NULL || name == NULL || strlen(name) > METRIC_NAME_MAX) {
        return NULL;
    }
    snprintf(full, sizeof(full), "%s%s", name,
             ends_with(name, "_total") ? "" : "_total");
    va_start(ap, help);
    r = scope_register(s, full, help, METRIC_COUNTER, NULL, NULL, ap);
    va_end(ap);
    return r != NULL ? &r->c : NULL;
}

struct mgauge *mscope_gauge(struct mscope *s, const char *name,
                            const char *help, ...)
{
    struct mseries *r;
    va_list ap;

    if (s == NULL || name == NULL) {
        return NULL;
    }
    va_start(ap, help);
    r = scope_register(s, name, help, METRIC_GAUGE, NULL, NULL, ap);
    va_end(ap);
    return r != NULL ? &r->g : NULL;
}

int mscope_gauge_fn(struct mscope *s, const char *name, const char *help,
                    double (*fn)(void *arg), void *arg, ...)
{
    struct mseries *r;
    va_list ap;

    if (s == NULL) {
        return PC_OK;
    }
    if (name == NULL || fn == NULL || !valid_name(name)) {
        return PC_EINVAL;
    }
    va_start(ap, arg);
    r = scope_register(s, name, help, METRIC_GAUGE, fn, arg, ap);
    va_end(ap);
    return r != NULL ? PC_OK : PC_ENOMEM;
}

/* ---- scopes ---- */

static struct mscope *scope_new(struct metrics *m, struct mscope *parent,
                                const char *base, va_list ap)
{
    struct mscope *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        return NULL;
    }
    s->m = m;
    s->labels = labels_text(base, ap);
    if (s->labels == NULL) {
        free(s);
        return NULL;
    }
    if (parent != NULL) {
        pthread_mutex_lock(&m->mu);
        s->parent = parent;
        s->next_sibling = parent->children;
        parent->children = s;
        pthread_mutex_unlock(&m->mu);
    }
    return s;
}

struct mscope *mscope_new(struct metrics *m, ...)
{
    struct mscope *s;
    va_list ap;

    if (m == NULL) {
        return NULL;
    }
    va_start(ap, m);
    s = scope_new(m, NULL, "", ap);
    va_end(ap);
    return s;
}

struct mscope *mscope_sub(struct mscope *parent, ...)
{
    struct mscope *s;
    va_list ap;

    if (parent == NULL) {
        return NULL;
    }
    va_start(ap, parent);
    s = scope_new(parent->m, parent, parent->labels, ap);
    va_end(ap);
    return s;
}

/* Lets go of everything s holds, its sub-scopes first, and frees it. The
 * caller holds the lock. */
static void scope_release(struct mscope *s)
{
    struct metrics *m = s->m;
    struct mscope **pp;
    size_t i;

    while (s->children != NULL) {
        scope_release(s->children);
    }
    if (s->parent != NULL) {
        for (pp = &s->parent->children; *pp != s; pp = &(*pp)->next_sibling) {
        }
        *pp = s->next_sibling;
    }
    for (i = 0; i < s->nheld; i++) {
        struct mseries *r = s->held[i].s;

        fn_drop(r, s);
        r->refs--;
        series_drop_if_unheld(m, s->held[i].f, r);
    }
    free(s->held);
    free(s->labels);
    free(s);
}

void mscope_free(struct mscope *s)
{
    struct metrics *m;

    if (s == NULL) {
        return;
    }
    m = s->m;
    pthread_mutex_lock(&m->mu);
    scope_release(s);
    pthread_mutex_unlock(&m->mu);
}

/* ---- updates ---- */

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
    } while (!atomic_compare_exchange_weak_explicit(&g->bits, &old, want,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
}

double mgauge_get(const struct mgauge *g)
{
    return g != NULL
               ? bits_dbl(atomic_load_explicit(&g->bits, memory_order_relaxed))
               : 0.0;
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
    return (double)(clock_mono_ns() - m->created_ns) / 1e9;
}

static double one(void *arg)
{
    (void)arg;
    return 1.0;
}

/* A process metric: computed by fn(m) when rendered, through the
 * registry's own scope; the variadic arguments are its labels. */
static int process_metric(struct metrics *m, const char *name,
                          const char *help, enum metric_type type,
                          double (*fn)(void *), ...)
{
    struct mseries *s;
    va_list ap;

    va_start(ap, fn);
    s = scope_register(m->process, name, help, type, fn, m, ap);
    va_end(ap);
    return s != NULL ? PC_OK : PC_ENOMEM;
}

static int add_process_metrics(struct metrics *m)
{
    int rc = 0;

    rc |= process_metric(m, "profcol_process_cpu_seconds_total",
                         "Total user and system CPU time spent in seconds.",
                         METRIC_COUNTER, process_cpu_seconds, NULL);
    rc |= process_metric(m, "profcol_process_memory_rss_bytes",
                         "Resident set size in bytes.", METRIC_GAUGE,
                         process_rss_bytes, NULL);
    rc |= process_metric(m, "profcol_process_uptime_seconds",
                         "Seconds since the process started.", METRIC_GAUGE,
                         process_uptime_seconds, NULL);
    rc |= process_metric(m, "profcol_build_info",
                         "Build information; the value is always 1.",
                         METRIC_GAUGE, one, "otlp_version",
                         PROFCOL_OTLP_VERSION, "version", PROFCOL_VERSION,
                         NULL);
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
    m->created_ns = clock_mono_ns();
    m->process = mscope_new(m, NULL);
    if (m->process == NULL || add_process_metrics(m) != PC_OK) {
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
    mscope_free(m->process);
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
        const struct mfn *top = &s->fn[s->nfn - 1];

        rc = render_double(out, top->fn(top->arg));
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
