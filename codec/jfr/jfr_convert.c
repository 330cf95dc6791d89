/*
 * jfr_convert.c: JFR events into one profile per kind, the way Pyroscope
 * converts an upload (docs/conversion.md, "JFR"): execution samples give
 * cpu (or wall) time, allocation events objects and bytes, monitor enters
 * and parks contentions and delay, async-profiler's own events wall time,
 * live objects and malloc, and the Datadog Java profiler's (ddprof engine)
 * datadog.* events cpu, wall, allocations and live heap, with their span
 * ids. Samples with equal stacks and labels merge.
 */
#include <stdlib.h>
#include <string.h>

#include "codec/jfr/jfr_conv.h"
#include "core/assert.h"

enum jfr_ev {
    EV_NONE = 0,
    EV_EXEC,
    EV_WALLCLOCK,
    EV_TLAB,
    EV_OUTSIDE,
    EV_ASAMPLE,
    EV_MONITOR,
    EV_PARK,
    EV_LIVE,
    EV_MALLOC,
    EV_SETTING,
    EV_DD_EXEC,
    EV_DD_METHOD,
    EV_DD_OBJECT,
    EV_DD_LIVE,
    EV_DD_CONFIG,
};

static const struct {
    const char *name;
    uint8_t ev;
} ev_names[] = {
    {"jdk.ExecutionSample", EV_EXEC},
    {"profiler.WallClockSample", EV_WALLCLOCK},
    {"jdk.ObjectAllocationInNewTLAB", EV_TLAB},
    {"jdk.ObjectAllocationOutsideTLAB", EV_OUTSIDE},
    {"jdk.ObjectAllocationSample", EV_ASAMPLE},
    {"jdk.JavaMonitorEnter", EV_MONITOR},
    {"jdk.ThreadPark", EV_PARK},
    {"profiler.LiveObject", EV_LIVE},
    {"profiler.Malloc", EV_MALLOC},
    {"jdk.ActiveSetting", EV_SETTING},
    {"datadog.ExecutionSample", EV_DD_EXEC},
    {"datadog.MethodSample", EV_DD_METHOD},
    {"datadog.ObjectSample", EV_DD_OBJECT},
    {"datadog.HeapLiveObject", EV_DD_LIVE},
    {"datadog.DatadogProfilerConfig", EV_DD_CONFIG},
};

struct kind_def {
    const char *metric;
    uint32_t ntypes;
    const char *types[2][2];
    const char *period[2];
};

static const struct kind_def kinds[JFR_NKINDS] = {
    [JFR_CPU] = {"process_cpu",
                 1,
                 {{"cpu", "nanoseconds"}},
                 {"cpu", "nanoseconds"}},
    [JFR_WALL] = {"wall",
                  1,
                  {{"wall", "nanoseconds"}},
                  {"wall", "nanoseconds"}},
    [JFR_ALLOC_TLAB] = {"memory",
                        2,
                        {{"alloc_in_new_tlab_objects", "count"},
                         {"alloc_in_new_tlab_bytes", "bytes"}},
                        {"space", "bytes"}},
    [JFR_ALLOC_OUTSIDE] = {"memory",
                           2,
                           {{"alloc_outside_tlab_objects", "count"},
                            {"alloc_outside_tlab_bytes", "bytes"}},
                           {"space", "bytes"}},
    [JFR_ALLOC_SAMPLE] = {"memory",
                          2,
                          {{"alloc_sample_objects", "count"},
                           {"alloc_sample_bytes", "bytes"}},
                          {"space", "bytes"}},
    [JFR_LOCK] = {"mutex",
                  2,
                  {{"contentions", "count"}, {"delay", "nanoseconds"}},
                  {"mutex", "count"}},
    [JFR_PARK] = {"block",
                  2,
                  {{"contentions", "count"}, {"delay", "nanoseconds"}},
                  {"block", "count"}},
    [JFR_LIVE] = {"memory", 1, {{"live", "count"}}, {"objects", "count"}},
    [JFR_MALLOC] = {"memory",
                    2,
                    {{"malloc_objects", "count"}, {"malloc_bytes", "bytes"}},
                    {NULL, NULL}},
};

const char *jfr_kind_metric(enum jfr_kind k)
{
    return (unsigned)k < JFR_NKINDS ? kinds[k].metric : "";
}

/* Merged samples of one kind, keyed by (stack, label set). */
struct ksample {
    int32_t stack;
    uint32_t nattrs;
    int32_t *attrs; /* interned: equal sets share the pointer */
    int64_t v[2];
};

struct kacc {
    struct ksample *s;
    uint32_t n, cap;
    struct itab idx;
};

struct conv_state {
    struct jfr_conv cv;
    struct kacc acc[JFR_NKINDS];
    struct jfr_map states; /* ThreadState key -> enum thread_state */
    uint8_t *evk;          /* per class of the chunk: enum jfr_ev */
    int evk_ok;            /* evk is of the class tree the last chunk had */
    int64_t period_ns;
    /* The ddprof engine's sampling intervals in nanoseconds (from
     * datadog.DatadogProfilerConfig), per chunk; period_ns until given. */
    int64_t dd_cpu_ns, dd_wall_ns;
    int wall_mode; /* the recording's `event` setting is wall */
    struct jfr_result *res;
    uint64_t t_start, t_end;
    /* Where the sample events of the chunk start, in order: read after
     * its settings (chunk_samples), without framing every event twice. */
    struct jfr_event *later;
    size_t nlater, cap_later;
    void (*consumed)(void *arg, size_t upto); /* jfr_options */
    void *consumed_arg;
};

enum thread_state { TS_UNKNOWN = 0, TS_SLEEPING, TS_RUNNABLE, TS_OTHER };

static int add_sample(struct conv_state *st, enum jfr_kind k, int32_t stack,
                      int32_t *attrs, uint32_t nattrs, int64_t v0, int64_t v1)
{
    struct kacc *a = &st->acc[k];
    struct itab_probe pr;
    struct ksample *s;
    int32_t j;

    if (a->idx.slots == NULL && itab_init(&a->idx, 256) != PC_OK) {
        return PC_ENOMEM;
    }
    itab_probe_start(&a->idx,
                     jfr_mix64((uint64_t)stack ^ jfr_mix64((uintptr_t)attrs)),
                     &pr);
    while ((j = itab_probe_next(&a->idx, &pr)) >= 0) {
        if (a->s[j].stack == stack && a->s[j].attrs == attrs) {
            a->s[j].v[0] += v0;
            a->s[j].v[1] += v1;
            return PC_OK;
        }
    }
    if (a->n == a->cap) {
        uint32_t nc = a->cap ? a->cap * 2 : 256;
        struct ksample *ns = realloc(a->s, nc * sizeof(*ns));
        if (ns == NULL) {
            return PC_ENOMEM;
        }
        a->s = ns;
        a->cap = nc;
    }
    if (itab_insert(&a->idx, &pr, (int32_t)a->n) != PC_OK) {
        return PC_ENOMEM;
    }
    s = &a->s[a->n++];
    s->stack = stack;
    s->attrs = attrs;
    s->nattrs = nattrs;
    s->v[0] = v0;
    s->v[1] = v1;
    return PC_OK;
}

static int field(const struct jfr_class *cls, const struct jfr_val *v,
                 enum jfr_fname name, uint64_t *out)
{
    int i = jfr_field_index(cls, name);

    if (i < 0 || (v[i].kind != JV_NUM && v[i].kind != JV_REF)) {
        return 0;
    }
    *out = v[i].u;
    return 1;
}

static uint64_t field_or(const struct jfr_class *cls, const struct jfr_val *v,
                         enum jfr_fname name, uint64_t dflt)
{
    uint64_t x;

    return field(cls, v, name, &x) ? x : dflt;
}

/* The weight field of a datadog.* sample, a float (a long is read too);
 * dflt when absent, negative, NaN or out of range. */
static double weight_of(const struct jfr_class *cls, const struct jfr_val *v,
                        double dflt)
{
    int i = jfr_field_index(cls, JF_WEIGHT);

    if (i >= 0 && v[i].kind == JV_NUM) {
        return (double)v[i].u;
    }
    if (i >= 0 && v[i].kind == JV_DBL && v[i].d >= 0 && v[i].d < 9e18) {
        return v[i].d;
    }
    return dflt;
}

/* One datadog.* value's cap, 2^40 (18 minutes in ns, 1 TiB): far above a
 * real sample's, low enough that merging 2^23 capped samples into one
 * cannot overflow an int64 (a float weight is the writer's word). */
#define DD_VALUE_MAX 1099511627776.0

/* x rounded to an int64 in [0, DD_VALUE_MAX]; 0 for NaN. */
static int64_t round_clamp(double x)
{
    if (!(x > 0)) {
        return 0;
    }
    return x >= DD_VALUE_MAX ? (int64_t)DD_VALUE_MAX : (int64_t)(x + 0.5);
}

/* The ddprof engine's intervals: its config event precedes the samples.
 * The metadata declares them @Timespan(MILLISECONDS). */
static void on_dd_config(struct conv_state *st, const struct jfr_class *cls,
                         const struct jfr_val *v)
{
    uint64_t x;

    if (field(cls, v, JF_CPU_INTERVAL, &x) && x > 0 && x < (1ULL << 30)) {
        st->dd_cpu_ns = (int64_t)x * 1000000;
    }
    if (field(cls, v, JF_WALL_INTERVAL, &x) && x > 0 && x < (1ULL << 30)) {
        st->dd_wall_ns = (int64_t)x * 1000000;
    }
}

/* Values of a datadog.* sample: the engine writes a weight, how many
 * samples (cpu, wall) or objects (allocation, live heap) the one event
 * stands for; size is one object's size. */
static void dd_values(struct conv_state *st, int ev,
                      const struct jfr_class *cls, const struct jfr_val *v,
                      enum jfr_kind *k, int64_t val[2])
{
    double w = weight_of(cls, v, 1);
    double size = (double)field_or(cls, v, JF_SIZE, 0);

    switch (ev) {
    case EV_DD_EXEC:
        *k = JFR_CPU;
        val[0] = round_clamp(w * (double)st->dd_cpu_ns);
        return;
    case EV_DD_METHOD:
        *k = JFR_WALL;
        val[0] = round_clamp(w * (double)st->dd_wall_ns);
        return;
    case EV_DD_OBJECT:
        *k = JFR_ALLOC_SAMPLE;
        val[0] = round_clamp(w);
        val[1] = round_clamp(w * size);
        return;
    case EV_DD_LIVE:
        *k = JFR_LIVE;
        val[0] = round_clamp(w);
        return;
    default:
        return;
    }
}

/* The thread state a sample's `state` field refers to. */
static int thread_state(struct conv_state *st, struct jfr_chunk *c,
                        const struct jfr_class *cls, const struct jfr_val *v,
                        int *out)
{
    const struct jfr_class *sc;
    struct jfr_val sv[JFR_MAXV];
    struct buf *b = &st->cv.tmp;
    struct jfr_chunk *sch = c;
    int i = jfr_field_index(cls, JF_STATE), ni, rc;
    int64_t cached;

    *out = TS_UNKNOWN;
    /* Key 0 is an entry too: async-profiler's STATE_DEFAULT. */
    if (i < 0 || v[i].kind != JV_REF) {
        return PC_OK;
    }
    if (jfr_map_get(&st->states, v[i].u, &cached)) {
        *out = (int)cached;
        return PC_OK;
    }
    rc = jfr_pool_read(&sch, cls->fields[i].cls_id, v[i].u, &sc, sv, 1);
    if (rc == PC_OK && (ni = jfr_field_index(sc, JF_NAME)) >= 0 &&
        sv[ni].kind == JV_STR) {
        buf_reset(b);
        if ((rc = jfr_str_utf8(sch, &sv[ni].s, 0, b)) != PC_OK) {
            return rc;
        }
        *out = TS_OTHER;
        if (b->len == 14 && memcmp(b->data, "STATE_SLEEPING", 14) == 0) {
            *out = TS_SLEEPING;
        } else if (b->len == 14 &&
                   memcmp(b->data, "STATE_RUNNABLE", 14) == 0) {
            *out = TS_RUNNABLE;
        }
    } else if (rc != PC_OK && rc != PC_ENOTFOUND) {
        return rc;
    }
    return jfr_map_put(&st->states, v[i].u, *out);
}

static int64_t ticks_to_ns(const struct jfr_chunk *c, uint64_t t)
{
    if (c->ticks_per_sec == 1000000000ULL) {
        return (int64_t)t;
    }
    return (int64_t)((double)t * 1e9 / (double)c->ticks_per_sec + 0.5);
}

static int on_setting(struct conv_state *st, struct jfr_chunk *c,
                      const struct jfr_class *cls, const struct jfr_val *v)
{
    struct buf *b = &st->cv.tmp;
    int ni = jfr_field_index(cls, JF_NAME),
        vi = jfr_field_index(cls, JF_VALUE);
    size_t n;
    int rc;

    if (ni < 0 || vi < 0 || v[ni].kind != JV_STR || v[vi].kind != JV_STR) {
        return PC_OK;
    }
    buf_reset(b);
    if ((rc = jfr_str_utf8(c, &v[ni].s, 0, b)) != PC_OK) {
        return rc;
    }
    if (b->len != 5 || memcmp(b->data, "event", 5) != 0) {
        return PC_OK;
    }
    buf_reset(b);
    if ((rc = jfr_str_utf8(c, &v[vi].s, 0, b)) != PC_OK) {
        return rc;
    }
    n = b->len < sizeof(st->res->jfr_event) - 1
            ? b->len
            : sizeof(st->res->jfr_event) - 1;
    memcpy(st->res->jfr_event, b->data, n);
    st->res->jfr_event[n] = '\0';
    st->wall_mode = strcmp(st->res->jfr_event, "wall") == 0;
    return PC_OK;
}

/* Values of one sample event; *k = JFR_NKINDS to drop it. */
static int event_values(struct conv_state *st, struct jfr_chunk *c, int ev,
                        const struct jfr_class *cls, const struct jfr_val *v,
                        enum jfr_kind *k, int64_t val[2], int *also_cpu)
{
    int state = TS_UNKNOWN, rc;
    uint64_t n;

    *k = JFR_NKINDS;
    *also_cpu = 0;
    val[0] = 1;
    val[1] = 0;
    switch (ev) {
    case EV_EXEC:
        if ((rc = thread_state(st, c, cls, v, &state)) != PC_OK) {
            return rc;
        }
        if (state != TS_UNKNOWN && state != TS_SLEEPING) {
            *k = st->wall_mode ? JFR_WALL : JFR_CPU;
            val[0] = st->period_ns;
        }
        return PC_OK;
    case EV_WALLCLOCK:
        if ((rc = thread_state(st, c, cls, v, &state)) != PC_OK) {
            return rc;
        }
        n = field_or(cls, v, JF_SAMPLES, 1);
        *k = JFR_WALL;
        val[0] = (int64_t)n * st->period_ns;
        *also_cpu = state == TS_RUNNABLE && st->wall_mode;
        return PC_OK;
    case EV_TLAB:
        *k = JFR_ALLOC_TLAB;
        val[1] = (int64_t)field_or(cls, v, JF_TLAB_SIZE, 0);
        return PC_OK;
    case EV_OUTSIDE:
        *k = JFR_ALLOC_OUTSIDE;
        val[1] = (int64_t)field_or(cls, v, JF_ALLOCATION_SIZE, 0);
        return PC_OK;
    case EV_ASAMPLE:
        *k = JFR_ALLOC_SAMPLE;
        val[1] = (int64_t)field_or(cls, v, JF_WEIGHT, 0);
        return PC_OK;
    case EV_MONITOR:
    case EV_PARK:
        *k = ev == EV_MONITOR ? JFR_LOCK : JFR_PARK;
        val[1] = ticks_to_ns(c, field_or(cls, v, JF_DURATION, 0));
        return PC_OK;
    case EV_LIVE:
        *k = JFR_LIVE;
        return PC_OK;
    case EV_MALLOC:
        *k = JFR_MALLOC;
        val[1] = (int64_t)field_or(cls, v, JF_SIZE, 0);
        return PC_OK;
    case EV_DD_EXEC:
    case EV_DD_METHOD:
    case EV_DD_OBJECT:
    case EV_DD_LIVE:
        dd_values(st, ev, cls, v, k, val);
        return PC_OK;
    default:
        return PC_OK;
    }
}

static int on_sample(struct conv_state *st, struct jfr_chunk *c, int ev,
                     const struct jfr_class *cls, const struct jfr_val *v)
{
    struct jfr_ctx_key ck;
    enum jfr_kind k;
    int64_t val[2];
    int32_t stack, *attrs;
    uint32_t nattrs;
    uint64_t skey;
    int si = jfr_field_index(cls, JF_STACK_TRACE), also_cpu, rc;

    if (si < 0 || !field(cls, v, JF_STACK_TRACE, &skey) || skey == 0) {
        return PC_OK; /* no stack: Pyroscope drops it too */
    }
    if ((rc = event_values(st, c, ev, cls, v, &k, val, &also_cpu)) != PC_OK ||
        k == JFR_NKINDS) {
        return rc;
    }
    rc = jfr_conv_stack(&st->cv, c, cls->fields[si].cls_id, skey, &stack);
    if (rc != PC_OK || stack == 0) {
        return rc;
    }
    memset(&ck, 0, sizeof(ck));
    ck.context = field_or(cls, v, JF_CONTEXT_ID, 0);
    if (ev >= EV_DD_EXEC && ev <= EV_DD_LIVE) {
        /* Datadog's spanId is the tracer's span, named as in its pprofs. */
        ck.dd_span = field_or(cls, v, JF_SPAN_ID, 0);
        ck.dd_root = field_or(cls, v, JF_LOCAL_ROOT_SPAN_ID, 0);
    } else {
        ck.span = field_or(cls, v, JF_SPAN_ID, 0);
    }
    ck.span_name = field_or(cls, v, JF_SPAN_NAME, 0);
    ck.trace_hi = field_or(cls, v, JF_TRACE_ID_HI, 0);
    ck.trace_lo = field_or(cls, v, JF_TRACE_ID_LO, 0);
    if ((rc = jfr_labels_attrs(&st->cv, &ck, &attrs, &nattrs)) != PC_OK ||
        (rc = add_sample(st, k, stack, attrs, nattrs, val[0], val[1])) !=
            PC_OK) {
        return rc;
    }
    return also_cpu ? add_sample(st, JFR_CPU, stack, attrs, nattrs, val[0], 0)
                    : PC_OK;
}

/* Which classes of this chunk are events the conversion reads. A chunk
 * that shares the previous chunk's class tree shares its answer too (told
 * by the parse, not by comparing addresses: a tree let go of may leave its
 * address to the next one). */
static int classify(struct conv_state *st, struct jfr_chunk *c)
{
    uint32_t i;
    size_t j;
    uint8_t *evk;

    if (c->meta_shared && st->evk_ok) {
        return PC_OK;
    }
    st->evk_ok = 0;
    evk = realloc(st->evk, (size_t)c->nclasses + 1);
    if (evk == NULL) {
        return jfr_fail(c, 0, PC_ENOMEM, "out of memory");
    }
    st->evk = evk;
    memset(evk, EV_NONE, (size_t)c->nclasses + 1);
    for (i = 0; i < c->nclasses; i++) {
        for (j = 0; j < sizeof(ev_names) / sizeof(ev_names[0]); j++) {
            if (jfr_streq(c->classes[i].name, ev_names[j].name)) {
                evk[i] = ev_names[j].ev;
            }
        }
    }
    st->evk_ok = 1;
    return PC_OK;
}

/* Remembers a sample event (framed: its class and bounds) for
 * chunk_samples. */
static int defer_sample(struct conv_state *st, struct jfr_chunk *c,
                        const struct jfr_event *ev)
{
    if (st->nlater == st->cap_later) {
        size_t nc = st->cap_later ? st->cap_later * 2 : 1024;
        struct jfr_event *nl;
        /* Bounded as a chunk's tables are: a file of tiny events must not
         * make the list larger than the limit. */
        if (nc * sizeof(*nl) > c->lim->max_alloc) {
            return jfr_fail(c, ev->start, PC_ETOOBIG,
                            "more sample events than "
                            "%zu bytes hold",
                            c->lim->max_alloc);
        }
        nl = realloc(st->later, nc * sizeof(*nl));
        if (nl == NULL) {
            return jfr_fail(c, ev->start, PC_ENOMEM, "out of memory");
        }
        st->later = nl;
        st->cap_later = nc;
    }
    st->later[st->nlater++] = *ev;
    return PC_OK;
}

/* Every event of the chunk once: settings are read as they come, samples
 * remembered; a sample's values depend on the chunk's settings (the
 * recording's `event` mode, the ddprof intervals), wherever they are. */
static int chunk_settings(struct conv_state *st, struct jfr_chunk *c)
{
    struct jfr_val v[JFR_MAXV];
    struct jfr_event ev;
    size_t pos = JFR_HEADER_LEN;
    int rc, k;

    st->nlater = 0;
    while ((rc = jfr_next_event(c, &pos, &ev)) == 1) {
        struct jfr_cur r = {c, ev.body, ev.end};
        st->res->nevents++;
        if (ev.cls == NULL) {
            continue;
        }
        k = st->evk[ev.cls - c->classes];
        if (k == EV_NONE) {
            continue;
        }
        if (k != EV_SETTING && k != EV_DD_CONFIG) {
            if ((rc = defer_sample(st, c, &ev)) != PC_OK) {
                return rc;
            }
            continue;
        }
        if ((rc = jfr_read_fields(&r, ev.cls, v, 0)) != PC_OK) {
            return rc;
        }
        if (k == EV_DD_CONFIG) {
            on_dd_config(st, ev.cls, v);
        } else if ((rc = on_setting(st, c, ev.cls, v)) != PC_OK) {
            return rc;
        }
    }
    return rc;
}

/* The samples chunk_settings found, in order. */
static int chunk_samples(struct conv_state *st, struct jfr_chunk *c)
{
    struct jfr_val v[JFR_MAXV];
    size_t i;
    int rc;

    for (i = 0; i < st->nlater; i++) {
        const struct jfr_event *ev = &st->later[i];
        struct jfr_cur r = {c, ev->body, ev->end};
        PC_ASSERT(ev->cls != NULL && ev->end <= c->len);
        if ((rc = jfr_read_fields(&r, ev->cls, v, 0)) != PC_OK ||
            (rc = on_sample(st, c, st->evk[ev->cls - c->classes], ev->cls,
                            v)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static int convert_chunk(struct conv_state *st, struct jfr_chunk *c)
{
    int rc;

    jfr_map_clear(&st->cv.stack_cache);
    jfr_map_clear(&st->cv.method_cache);
    jfr_map_clear(&st->states);
    st->dd_cpu_ns = st->dd_wall_ns = st->period_ns;
    if ((rc = jfr_chunk_load(c)) != PC_OK || (rc = classify(st, c)) != PC_OK ||
        (rc = chunk_settings(st, c)) != PC_OK ||
        (rc = chunk_samples(st, c)) != PC_OK) {
        return rc;
    }
    if (st->t_start == 0 || c->start_nanos < st->t_start) {
        st->t_start = c->start_nanos;
    }
    if (c->start_nanos + c->duration_nanos > st->t_end) {
        st->t_end = c->start_nanos + c->duration_nanos;
    }
    return PC_OK;
}

/* Chunks in order, one loaded at a time: constant pools belong to their
 * chunk. Only the class tree of the chunk before is kept, for the next
 * chunk to share when its metadata bytes are the same (jfr_meta_parse lets
 * go of it once compared). */
static int each_chunk(struct conv_state *st, const uint8_t *data, size_t len)
{
    const struct jfr_limits *lim = st->cv.lim;
    struct jfr_meta *last = NULL;
    struct jfr_chunk c;
    size_t off = 0;
    uint32_t i;
    int rc = PC_OK;

    for (i = 0; off < len && rc == PC_OK; i++) {
        if (i >= lim->max_chunks) {
            rc = err_set(st->cv.e, PC_ETOOBIG, "jfr: more than %u chunks",
                         lim->max_chunks);
            break;
        }
        rc = jfr_chunk_open(&c, data, len, off, i, lim, st->cv.e);
        c.prev_meta = last; /* the chunk's now: compared, then let go of */
        if (rc == PC_OK) {
            rc = convert_chunk(st, &c);
        }
        last = c.meta;
        jfr_meta_retain(last);
        off += c.len;
        jfr_chunk_close(&c);
        if (rc == PC_OK && st->consumed != NULL) {
            st->consumed(st->consumed_arg, off);
        }
    }
    jfr_meta_release(last);
    st->res->nchunks = i;
    st->res->unresolved = st->cv.unresolved;
    return rc;
}

/* ---- output ----------------------------------------------------------- */

static int set_vt(struct jfr_conv *cv, const char *t, const char *u,
                  struct value_type *vt)
{
    int rc = PC_OK;

    vt->type = vt->unit = 0;
    if (t != NULL) {
        rc = jfr_conv_string(cv, t, strlen(t), &vt->type);
    }
    if (rc == PC_OK && u != NULL) {
        rc = jfr_conv_string(cv, u, strlen(u), &vt->unit);
    }
    return rc;
}

static int emit_kind(struct conv_state *st, struct scope_profiles *sp,
                     enum jfr_kind k)
{
    const struct kind_def *d = &kinds[k];
    struct pdata *pd = st->cv.pd;
    struct kacc *a = &st->acc[k];
    struct profile *p = pdata_add_profile(pd, sp);
    uint32_t i, t;
    int rc;

    if (p == NULL ||
        (p->sample_types = arena_calloc(&pd->arena, d->ntypes,
                                        sizeof(*p->sample_types))) == NULL ||
        (p->samples = arena_calloc(&pd->arena, a->n, sizeof(*p->samples))) ==
            NULL) {
        return PC_ENOMEM;
    }
    p->nsample_types = d->ntypes;
    for (t = 0; t < d->ntypes; t++) {
        if ((rc = set_vt(&st->cv, d->types[t][0], d->types[t][1],
                         &p->sample_types[t])) != PC_OK) {
            return rc;
        }
    }
    if ((rc = set_vt(&st->cv, d->period[0], d->period[1], &p->period_type)) !=
        PC_OK) {
        return rc;
    }
    p->period = k == JFR_CPU || k == JFR_WALL ? st->period_ns : 0;
    p->time_nanos = (int64_t)st->t_start;
    p->duration_nanos = (int64_t)(st->t_end - st->t_start);
    for (i = 0; i < a->n; i++) {
        struct sample *s = &p->samples[i];
        s->stack = a->s[i].stack;
        s->attrs = a->s[i].attrs;
        s->nattrs = a->s[i].nattrs;
        s->nvalues = d->ntypes;
        s->values = arena_memdup(&pd->arena, a->s[i].v,
                                 d->ntypes * sizeof(int64_t));
        if (s->values == NULL) {
            return PC_ENOMEM;
        }
    }
    p->nsamples = a->n;
    st->res->kind[st->res->nprofiles++] = k;
    return PC_OK;
}

static int emit(struct conv_state *st)
{
    struct resource_profiles *rp = pdata_add_resource(st->cv.pd);
    struct scope_profiles *sp = rp ? pdata_add_scope(st->cv.pd, rp) : NULL;
    int k, rc;

    if (sp == NULL) {
        return PC_ENOMEM;
    }
    for (k = 0; k < JFR_NKINDS; k++) {
        if (st->acc[k].n > 0 && (rc = emit_kind(st, sp, k)) != PC_OK) {
            return rc;
        }
    }
    return PC_OK;
}

static void state_free(struct conv_state *st)
{
    int k;

    for (k = 0; k < JFR_NKINDS; k++) {
        free(st->acc[k].s);
        itab_free(&st->acc[k].idx);
    }
    jfr_map_free(&st->states);
    free(st->later);
    free(st->evk);
    jfr_conv_free_tables(&st->cv);
    jfr_labels_free(st->cv.snap);
    buf_free(&st->cv.tmp);
}

static int state_init(struct conv_state *st, const struct jfr_options *o,
                      const struct jfr_limits *lim, struct jfr_result *res,
                      struct errctx *e)
{
    static const uint8_t none[1];
    int rc;

    memset(st, 0, sizeof(*st));
    st->res = res;
    if (o != NULL) {
        st->consumed = o->consumed;
        st->consumed_arg = o->consumed_arg;
    }
    st->cv.lim = lim;
    st->cv.e = e;
    buf_init(&st->cv.tmp, (size_t)lim->max_string_len * 8 + 64);
    st->period_ns = 1000000000LL /
                    (o != NULL && o->sample_rate > 0 ? o->sample_rate : 100);
    rc = o != NULL && o->labels != NULL && o->labels_len > 0
             ? jfr_labels_parse(o->labels, o->labels_len, &st->cv.snap, e)
             : jfr_labels_parse(none, 0, &st->cv.snap, e);
    if (rc != PC_OK) {
        return rc;
    }
    st->cv.pd = pdata_new(lim->max_alloc);
    if (st->cv.pd == NULL || dict_init(st->cv.pd) != PC_OK ||
        jfr_map_init(&st->states) != PC_OK ||
        jfr_conv_init_tables(&st->cv) != PC_OK) {
        return err_set(e, PC_ENOMEM, "jfr: out of memory");
    }
    return PC_OK;
}

int jfr_convert(const uint8_t *data, size_t len, const struct jfr_options *o,
                struct jfr_result *res, struct errctx *e)
{
    struct jfr_limits dl;
    const struct jfr_limits *lim = o != NULL ? o->limits : NULL;
    struct conv_state st;
    int rc;

    memset(res, 0, sizeof(*res));
    if (lim == NULL) {
        jfr_limits_default(&dl);
        lim = &dl;
    }
    if (len == 0) {
        return err_set(e, PC_EEMPTY, "jfr: empty input");
    }
    rc = state_init(&st, o, lim, res, e);
    if (rc == PC_OK) {
        rc = each_chunk(&st, data, len);
    }
    if (rc == PC_OK && (rc = emit(&st)) != PC_OK) {
        rc = err_set(e, rc, "jfr: building profiles: %s", pc_strerror(rc));
    }
    if (rc == PC_OK) {
        res->pd = st.cv.pd;
        st.cv.pd = NULL;
    } else if (rc == PC_ENOMEM && e != NULL && e->msg[0] == '\0') {
        err_set(e, rc, "jfr: out of memory (limit %zu bytes)", lim->max_alloc);
    }
    pdata_free(st.cv.pd);
    state_free(&st);
    return rc;
}
