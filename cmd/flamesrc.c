/* flamesrc.c: a profile file into a flame tree (flamegraph, diff). */
#include "cmd/flamesrc.h"

#include <stdio.h>
#include <string.h>

#include "cmd/load.h"
#include "core/err.h"
#include "model/pdata_iter.h"

#define FLAMESRC_MAX_INPUT ((size_t)1 << 30)
/* Most attributes a selector is matched against (resource + labels). */
#define FLAMESRC_MAX_ATTRS 256

struct flamesrc_keep {
    const struct matcher_set *sel;
    const struct resource_profiles *rp;
};

/* The sample's labels next to its resource's attributes, as one list. */
static int flamesrc_keep_sample(void *ctx, const struct dict *d,
                                const struct sample *s)
{
    const struct flamesrc_keep *k = ctx;
    struct keyvalue kv[FLAMESRC_MAX_ATTRS];
    uint32_t n = 0, i;

    for (i = 0; i < k->rp->resource.nattrs && n < FLAMESRC_MAX_ATTRS; i++) {
        kv[n++] = k->rp->resource.attrs[i];
    }
    for (i = 0; i < s->nattrs && n < FLAMESRC_MAX_ATTRS; i++) {
        int32_t a = s->attrs[i];
        if (a <= 0 || (uint32_t)a >= d->nattrs) {
            continue;
        }
        kv[n].key = dict_str(d, d->attrs[a].key);
        kv[n++].value = d->attrs[a].value;
    }
    return matcher_match(k->sel, kv, n);
}

static void flamesrc_name_type(const struct dict *d, const struct profile *p,
                               uint32_t vi, struct flamesrc *src)
{
    struct pstr ty = dict_str(d, p->sample_types[vi].type);
    struct pstr un = dict_str(d, p->sample_types[vi].unit);

    snprintf(src->chosen, sizeof(src->chosen), "%.*s:%.*s", (int)ty.len,
             ty.ptr, (int)un.len, un.ptr);
    snprintf(src->unit, sizeof(src->unit), "%.*s", (int)un.len, un.ptr);
}

static int flamesrc_add(const struct pdata *pd, struct flamesrc *src,
                        struct flame_tree *t, int side)
{
    struct pdata_iter w;
    struct profile *p;
    int rc = PC_OK;

    pdata_iter_init(&w, pd, -1);
    while (rc == PC_OK && (p = pdata_iter_next(&w)) != NULL) {
        struct flamesrc_keep k = {src->sel, w.rp};
        const char *want = src->type;
        uint32_t vi;
        if (want == NULL && src->chosen[0] != '\0') {
            want = src->chosen;
        }
        if (flame_type_index(&pd->dict, p, want, &vi) != PC_OK) {
            continue;
        }
        if (src->chosen[0] == '\0') {
            flamesrc_name_type(&pd->dict, p, vi, src);
        }
        rc = flame_add_profile(t, &pd->dict, p, vi, side,
                               src->sel != NULL ? flamesrc_keep_sample : NULL,
                               &k);
        src->profiles++;
    }
    return rc;
}

int flamesrc_load(const char *path, struct flamesrc *src, struct flame_tree *t,
                  int side, const char *cmd)
{
    struct loaded ld;
    int rc;

    rc = load_profile_file(path, "auto", FLAMESRC_MAX_INPUT, &ld, cmd);
    if (rc != PC_OK) {
        return rc;
    }
    rc = flamesrc_add(ld.pd, src, t, side);
    loaded_free(&ld);
    if (rc != PC_OK) {
        fprintf(stderr, "profcol %s: %s: %s\n", cmd, path, pc_strerror(rc));
        return rc;
    }
    if (src->profiles == 0) {
        fprintf(stderr, "profcol %s: %s: no profile with sample type %s\n",
                cmd, path,
                src->type != NULL ? src->type
                : src->chosen[0]  ? src->chosen
                                  : "(any)");
        return PC_ENOTFOUND;
    }
    return PC_OK;
}

int flamesrc_selector(const char *text, struct matcher_set **out,
                      const char *cmd)
{
    struct errctx e = {{0}};
    int rc = matcher_parse(text, strlen(text), out, &e);

    if (rc != PC_OK) {
        fprintf(stderr, "profcol %s: --select: %s\n", cmd, err_msg(&e, rc));
    }
    return rc;
}
