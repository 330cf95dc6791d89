/*
 * pyro_folded.c: Pyroscope's text formats and profile-type rules.
 *
 * Folded ("groups") and lines bodies become a real profile: one function
 * and one location per distinct frame name, one sample per distinct stack
 * (identical stacks are summed, as Pyroscope's tree does), time = `from`.
 * Frame and stack identity go through intern.h so a large body costs one
 * hash lookup per frame, not a scan.
 *
 * The same file holds the pprof side of Pyroscope's naming: the
 * sample_type_config renames and the metric name (`__name__`) it derives
 * from the sample types, with its default mapping when no config is sent.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <xxhash.h>

#include "core/intern.h"
#include "model/pdata_iter.h"
#include "receivers/pyroscope/pyro.h"

#define FOLDED_LINE_MAX 65536

static const struct {
    const char *suffix;
    struct pyro_ptype t;
} ptypes[] = {
    {"cpu", {"process_cpu", "samples", "count", 1}},
    {"itimer", {"process_cpu", "samples", "count", 1}},
    {"wall", {"wall", "samples", "count", 1}},
    {"inuse_objects", {"memory", "inuse_objects", "count", 0}},
    {"alloc_objects", {"memory", "alloc_objects", "count", 0}},
    {"inuse_space", {"memory", "inuse_space", "bytes", 0}},
    {"alloc_space", {"memory", "alloc_space", "bytes", 0}},
    {"goroutines", {"goroutine", "goroutine", "count", 0}},
    {"mutex_count", {"mutex", "contentions", "count", 0}},
    {"mutex_duration", {"mutex", "delay", "nanoseconds", 0}},
    {"block_count", {"block", "contentions", "count", 0}},
    {"block_duration", {"block", "delay", "nanoseconds", 0}},
    {"lock_count", {"block", "contentions", "count", 0}},
    {"lock_duration", {"block", "delay", "nanoseconds", 0}},
    {"alloc_in_new_tlab_objects",
     {"memory", "alloc_in_new_tlab_objects", "count", 0}},
    {"alloc_in_new_tlab_bytes",
     {"memory", "alloc_in_new_tlab_bytes", "bytes", 0}},
    {"alloc_outside_tlab_objects",
     {"memory", "alloc_outside_tlab_objects", "count", 0}},
    {"alloc_outside_tlab_bytes",
     {"memory", "alloc_outside_tlab_bytes", "bytes", 0}},
    {"live", {"memory", "live", "count", 0}},
    {"exceptions", {"exceptions", "exceptions", "count", 0}},
    {"seconds", {"wall", "wall", "seconds", 0}},
    {"milliseconds", {"wall", "wall", "milliseconds", 0}},
    {"microseconds", {"wall", "wall", "microseconds", 0}},
    {"nanoseconds", {"wall", "wall", "nanoseconds", 0}},
    {"bytes", {"memory", "samples", "bytes", 0}},
};

int pyro_profile_type(const char *suffix, size_t len, struct pyro_ptype *out)
{
    size_t i;

    for (i = 0; i < sizeof(ptypes) / sizeof(ptypes[0]); i++) {
        if (strlen(ptypes[i].suffix) == len &&
            memcmp(ptypes[i].suffix, suffix, len) == 0) {
            *out = ptypes[i].t;
            return PC_OK;
        }
    }
    return PC_ENOTFOUND;
}

/* ---- folded / lines --------------------------------------------------- */

struct folded {
    struct pdata *pd;
    struct itab frames; /* frame name -> location (== function) */
    struct itab stacks; /* stack -> slot in vals */
    int32_t *stack_of;  /* per slot: dict stack index */
    int64_t *vals;      /* per slot: summed value */
    uint32_t nslots, cap;
    int32_t *locs; /* scratch: one line's locations */
    uint32_t nlocs, caplocs;
};

static int32_t frame_loc(struct folded *f, const char *s, size_t n)
{
    uint64_t h = XXH3_64bits(s, n);
    struct itab_probe pr;
    struct function fn = {0};
    struct location loc = {0};
    int32_t i;

    itab_probe_start(&f->frames, h, &pr);
    while ((i = itab_probe_next(&f->frames, &pr)) >= 0) {
        struct pstr name = dict_str(&f->pd->dict,
                                    f->pd->dict.functions[i].name);
        if (name.len == n && memcmp(name.ptr, s, n) == 0) {
            return i;
        }
    }
    fn.name = dict_add_string_copy(f->pd, s, n);
    if (fn.name < 0) {
        return fn.name;
    }
    loc.nlines = 1;
    loc.lines = arena_calloc(&f->pd->arena, 1, sizeof(*loc.lines));
    if (loc.lines == NULL) {
        return PC_ENOMEM;
    }
    /* Functions and locations are added in step: index k of one is
     * index k of the other. */
    loc.lines[0].function = dict_add_function(f->pd, &fn);
    if (loc.lines[0].function < 0) {
        return loc.lines[0].function;
    }
    i = dict_add_location(f->pd, &loc);
    if (i < 0 || itab_insert(&f->frames, &pr, i) != 0) {
        return i < 0 ? i : PC_ENOMEM;
    }
    return i;
}

static int push_loc(struct folded *f, int32_t loc)
{
    if (f->nlocs == f->caplocs) {
        uint32_t ncap = f->caplocs ? f->caplocs * 2 : 64;
        int32_t *n = realloc(f->locs, ncap * sizeof(*n));
        if (n == NULL) {
            return PC_ENOMEM;
        }
        f->locs = n;
        f->caplocs = ncap;
    }
    f->locs[f->nlocs++] = loc;
    return PC_OK;
}

static int add_value(struct folded *f, int64_t v)
{
    uint64_t h = XXH3_64bits(f->locs, f->nlocs * sizeof(int32_t));
    struct itab_probe pr;
    int32_t i, st;

    itab_probe_start(&f->stacks, h, &pr);
    while ((i = itab_probe_next(&f->stacks, &pr)) >= 0) {
        const struct stack *s = &f->pd->dict.stacks[f->stack_of[i]];
        if (s->n == f->nlocs &&
            memcmp(s->locs, f->locs, f->nlocs * sizeof(int32_t)) == 0) {
            f->vals[i] += v;
            return PC_OK;
        }
    }
    if (f->nslots == f->cap) {
        uint32_t ncap = f->cap ? f->cap * 2 : 256;
        int32_t *so = realloc(f->stack_of, ncap * sizeof(*so));
        int64_t *vs;
        if (so == NULL) {
            return PC_ENOMEM;
        }
        f->stack_of = so;
        vs = realloc(f->vals, ncap * sizeof(*vs));
        if (vs == NULL) {
            return PC_ENOMEM;
        }
        f->vals = vs;
        f->cap = ncap;
    }
    st = dict_add_stack(f->pd, f->locs, f->nlocs);
    if (st < 0) {
        return st;
    }
    f->stack_of[f->nslots] = st;
    f->vals[f->nslots] = v;
    if (itab_insert(&f->stacks, &pr, (int32_t)f->nslots) != 0) {
        return PC_ENOMEM;
    }
    f->nslots++;
    return PC_OK;
}

/* Go's strconv.Atoi on a count: optional sign, digits, int64 range. */
static int parse_count(const char *s, size_t n, int64_t *v)
{
    size_t i = 0;
    int neg = 0;
    int64_t x = 0;

    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) {
        return -1;
    }
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || __builtin_mul_overflow(x, 10, &x) ||
            __builtin_add_overflow(x, s[i] - '0', &x)) {
            return -1;
        }
    }
    *v = neg ? -x : x;
    return 0;
}

/* One stack "a;b;c": locations leaf first (the text is root first). */
static int stack_locs(struct folded *f, const char *s, size_t n)
{
    size_t end = n;

    f->nlocs = 0;
    while (1) {
        size_t start = end;
        int32_t loc;
        int rc;
        while (start > 0 && s[start - 1] != ';') {
            start--;
        }
        loc = frame_loc(f, s + start, end - start);
        if (loc < 0) {
            return loc;
        }
        rc = push_loc(f, loc);
        if (rc != PC_OK) {
            return rc;
        }
        if (start == 0) {
            return PC_OK;
        }
        end = start - 1;
    }
}

static int one_line(struct folded *f, const char *s, size_t n,
                    enum pyro_text_format fmt, int64_t mul, struct errctx *e)
{
    int64_t v = 1;
    size_t stack_len = n;
    int rc;

    if (n > 0 && s[n - 1] == '\r') {
        n--;
        stack_len = n;
    }
    if (fmt == PYRO_TEXT_FOLDED) {
        const char *sp = n > 0 ? memrchr(s, ' ', n) : NULL;
        if (sp == NULL) {
            return PC_OK; /* no count: skipped, as Pyroscope does */
        }
        stack_len = (size_t)(sp - s);
        if (parse_count(sp + 1, n - stack_len - 1, &v) != 0) {
            return err_set(e, PC_ECORRUPT, "folded: bad sample count \"%.*s\"",
                           (int)((n - stack_len - 1) > 40
                                     ? 40
                                     : (n - stack_len - 1)),
                           sp + 1);
        }
    } else if (n == 0) {
        return PC_OK;
    }
    if (__builtin_mul_overflow(v, mul, &v)) {
        return err_set(e, PC_ECORRUPT, "folded: sample count overflows");
    }
    rc = stack_locs(f, s, stack_len);
    return rc == PC_OK ? add_value(f, v) : rc;
}

static int finish(struct folded *f, const struct pyro_ptype *pt,
                  int64_t sample_rate, int64_t time_ns)
{
    struct pdata *pd = f->pd;
    struct resource_profiles *rp = pdata_add_resource(pd);
    struct scope_profiles *sp = rp != NULL ? pdata_add_scope(pd, rp) : NULL;
    struct profile *p = sp != NULL ? pdata_add_profile(pd, sp) : NULL;
    const char *type = pt->type, *unit = pt->unit;
    uint32_t i;

    if (p == NULL) {
        return PC_ENOMEM;
    }
    if (pt->scalable && sample_rate > 0) {
        type = strcmp(pt->metric, "wall") == 0 ? "wall" : "cpu";
        unit = "nanoseconds";
        p->period = 1000000000LL / sample_rate;
    } else {
        p->period = 1;
    }
    p->nsample_types = 1;
    p->sample_types = arena_calloc(&pd->arena, 1, sizeof(*p->sample_types));
    p->samples = arena_calloc(&pd->arena, f->nslots ? f->nslots : 1,
                              sizeof(*p->samples));
    if (p->sample_types == NULL || p->samples == NULL) {
        return PC_ENOMEM;
    }
    p->sample_types[0].type = dict_string(pd, type, strlen(type));
    p->sample_types[0].unit = dict_string(pd, unit, strlen(unit));
    p->period_type = p->sample_types[0];
    p->time_nanos = time_ns;
    for (i = 0; i < f->nslots; i++) {
        struct sample *s = &p->samples[i];
        s->stack = f->stack_of[i];
        s->nvalues = 1;
        s->values = arena_memdup(&pd->arena, &f->vals[i], sizeof(int64_t));
        if (s->values == NULL) {
            return PC_ENOMEM;
        }
    }
    p->nsamples = f->nslots;
    return p->sample_types[0].type > 0 && p->sample_types[0].unit > 0
               ? PC_OK
               : PC_ENOMEM;
}

static void folded_free(struct folded *f)
{
    itab_free(&f->frames);
    itab_free(&f->stacks);
    free(f->stack_of);
    free(f->vals);
    free(f->locs);
}

int pyro_folded_parse(const uint8_t *body, size_t len,
                      enum pyro_text_format fmt, const struct pyro_ptype *pt,
                      int64_t sample_rate, int64_t time_ns, size_t arena_limit,
                      struct pdata **out, struct errctx *e)
{
    struct folded f;
    const char *s = (const char *)body, *end = s + len;
    int64_t mul = 1;
    int rc = PC_OK;

    *out = NULL;
    memset(&f, 0, sizeof(f));
    if (pt->scalable && sample_rate > 0) {
        mul = 1000000000LL / sample_rate;
    }
    f.pd = pdata_new(arena_limit);
    if (f.pd == NULL || dict_init(f.pd) != PC_OK ||
        itab_init(&f.frames, 1024) != 0 || itab_init(&f.stacks, 1024) != 0) {
        rc = err_set(e, PC_ENOMEM, "out of memory");
    }
    while (rc == PC_OK && s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        size_t n = nl != NULL ? (size_t)(nl - s) : (size_t)(end - s);
        /* Go's bufio.Scanner stops at a token over 64 KiB and the
         * Pyroscope loop does not report it: the rest is ignored. */
        if (n > FOLDED_LINE_MAX) {
            break;
        }
        rc = one_line(&f, s, n, fmt, mul, e);
        s += n + (nl != NULL ? 1 : 0);
    }
    if (rc == PC_ENOMEM || rc == PC_ETOOBIG) {
        err_set(e, rc, "folded: profile exceeds the memory limit");
    }
    if (rc == PC_OK && f.nslots > 0) {
        rc = finish(&f, pt, sample_rate, time_ns);
        if (rc != PC_OK) {
            err_set(e, rc, "folded: out of memory");
        }
    }
    if (rc == PC_OK && f.nslots > 0) {
        *out = f.pd;
        f.pd = NULL;
    }
    pdata_free(f.pd);
    folded_free(&f);
    return rc;
}

/* ---- sample_type_config and metric names ------------------------------ */

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    n = n < cap ? n : cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

int pyro_stc_parse(const uint8_t *json, size_t len, struct pyro_stc *out,
                   uint32_t max, uint32_t *n, struct errctx *e)
{
    json_error_t je;
    json_t *root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES,
                              &je);
    const char *key;
    json_t *v;

    *n = 0;
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return err_set(e, PC_ECORRUPT, "sample_type_config: %s",
                       root == NULL ? je.text : "not a JSON object");
    }
    json_object_foreach(root, key, v)
    {
        json_t *dn = json_object_get(v, "display-name");
        json_t *un = json_object_get(v, "units");
        if (!json_is_object(v)) {
            continue;
        }
        if (*n == max) {
            break;
        }
        memset(&out[*n], 0, sizeof(out[*n]));
        copy_str(out[*n].sample_type, sizeof(out[*n].sample_type), key);
        if (json_is_string(dn)) {
            copy_str(out[*n].display_name, sizeof(out[*n].display_name),
                     json_string_value(dn));
        }
        if (json_is_string(un)) {
            copy_str(out[*n].units, sizeof(out[*n].units),
                     json_string_value(un));
        }
        (*n)++;
    }
    json_decref(root);
    return PC_OK;
}

static const struct pyro_stc *stc_find(const struct pyro_stc *c, uint32_t n,
                                       struct pstr type)
{
    uint32_t i;

    for (i = 0; i < n; i++) {
        if (pstr_eq(type, c[i].sample_type)) {
            return &c[i];
        }
    }
    return NULL;
}

/* Renames the sample types of one profile; 1 changed, 0 not, or
 * PC_ENOMEM. */
static int stc_apply_profile(struct pdata *pd, struct profile *pr,
                             const struct pyro_stc *c, uint32_t n)
{
    uint32_t t;
    int changed = 0;

    for (t = 0; t < pr->nsample_types; t++) {
        struct value_type *vt = &pr->sample_types[t];
        const struct pyro_stc *x = stc_find(c, n,
                                            dict_str(&pd->dict, vt->type));
        if (x == NULL) {
            continue;
        }
        /* New strings, not rewritten ones: the old string may be used
         * elsewhere (a label, a function). */
        if (x->display_name[0] != '\0') {
            vt->type = dict_string(pd, x->display_name,
                                   strlen(x->display_name));
            changed = 1;
        }
        if (x->units[0] != '\0') {
            vt->unit = dict_string(pd, x->units, strlen(x->units));
            changed = 1;
        }
        if (vt->type < 0 || vt->unit < 0) {
            return PC_ENOMEM;
        }
    }
    return changed;
}

int pyro_stc_apply(struct pdata *pd, const struct pyro_stc *c, uint32_t n)
{
    struct pdata_iter w;
    struct profile *pr;
    int changed = 0;

    pdata_iter_init(&w, pd, -1);
    while ((pr = pdata_iter_next(&w)) != NULL) {
        int rc = stc_apply_profile(pd, pr, c, n);
        if (rc < 0) {
            return rc;
        }
        changed |= rc;
    }
    return changed;
}

/* Pyroscope's default mapping, used for naming when no config is sent. */
static const char *default_display(struct pstr t)
{
    if (pstr_eq(t, "samples")) {
        return "cpu";
    }
    if (pstr_eq(t, "goroutine")) {
        return "goroutines";
    }
    if (pstr_eq(t, "contentions")) {
        return "mutex_count";
    }
    if (pstr_eq(t, "delay")) {
        return "mutex_duration";
    }
    return NULL;
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* A sample type's name as Pyroscope names it for the metric. */
static void display_of(const struct dict *d, const struct value_type *vt,
                       const struct pyro_stc *c, uint32_t n, int have_config,
                       char *out, size_t outlen)
{
    struct pstr t = dict_str(d, vt->type);
    const struct pyro_stc *x = have_config ? stc_find(c, n, t) : NULL;
    const char *dn = have_config ? (x != NULL && x->display_name[0] != '\0'
                                        ? x->display_name
                                        : NULL)
                                 : default_display(t);
    size_t len;

    if (dn != NULL) {
        copy_str(out, outlen, dn);
        return;
    }
    len = t.len < outlen ? t.len : outlen - 1;
    memcpy(out, t.ptr, len);
    out[len] = '\0';
}

/* "wall" if a type is wall; else process_cpu if one contains "cpu"; then
 * memory/mutex/block/goroutines by name; else the last type. Checked on
 * the types as they are in the profile (config already applied). */
void pyro_metric_name(const struct pdata *pd, const struct pyro_stc *c,
                      uint32_t n, int have_config, char *out, size_t outlen)
{
    const struct profile *p = NULL;
    char st[128];
    uint32_t i;

    copy_str(out, outlen, "unknown");
    if (pd->nresources > 0 && pd->resources[0].nscopes > 0 &&
        pd->resources[0].scopes[0].nprofiles > 0) {
        p = &pd->resources[0].scopes[0].profiles[0];
    }
    if (p == NULL || p->nsample_types == 0) {
        return;
    }
    for (i = 0; i < p->nsample_types; i++) {
        if (pstr_eq(dict_str(&pd->dict, p->sample_types[i].type), "wall")) {
            copy_str(out, outlen, "wall");
            return;
        }
    }
    for (i = 0; i < p->nsample_types; i++) {
        struct pstr t = dict_str(&pd->dict, p->sample_types[i].type);
        if (t.len >= 3 && memmem(t.ptr, t.len, "cpu", 3) != NULL) {
            copy_str(out, outlen, "process_cpu");
            return;
        }
    }
    for (i = 0; i < p->nsample_types; i++) {
        display_of(&pd->dict, &p->sample_types[i], c, n, have_config, st,
                   sizeof(st));
        if (has_prefix(st, "alloc_") || has_prefix(st, "inuse_") ||
            strcmp(st, "space") == 0 || strcmp(st, "objects") == 0) {
            copy_str(out, outlen, "memory");
            return;
        }
        if (has_prefix(st, "mutex_")) {
            copy_str(out, outlen, "mutex");
            return;
        }
        if (has_prefix(st, "block_")) {
            copy_str(out, outlen, "block");
            return;
        }
        if (strcmp(st, "goroutines") == 0) {
            copy_str(out, outlen, "goroutines");
            return;
        }
    }
    copy_str(out, outlen, st);
}
