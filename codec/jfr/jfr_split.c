/*
 * jfr_split.c: a JFR conversion's profiles as resources of their own, for
 * receivers that make one item (one series, one `__name__`) per profile
 * kind while every item shares the one dictionary.
 */
#include "codec/jfr/jfr.h"
#include "core/assert.h"

int jfr_split_kinds(struct jfr_result *res)
{
    struct pdata *pd = res->pd;
    struct resource_profiles *src, *rs;
    struct scope_profiles *ss;
    uint32_t i, n = res->nprofiles;

    if (n == 0) {
        return PC_OK;
    }
    src = &pd->resources[0];
    PC_ASSERT(pd->nresources == 1 && src->nscopes == 1 &&
              src->scopes[0].nprofiles == n && n <= JFR_NKINDS);
    /* Only the resource and scope records are new (from pd's arena): the
     * tables and samples are not copied. */
    rs = arena_calloc(&pd->arena, n, sizeof(*rs));
    ss = arena_calloc(&pd->arena, n, sizeof(*ss));
    if (rs == NULL || ss == NULL) {
        return PC_ENOMEM;
    }
    for (i = 0; i < n; i++) {
        ss[i] = src->scopes[0];
        ss[i].profiles = &src->scopes[0].profiles[i];
        ss[i].nprofiles = 1;
        rs[i] = *src;
        rs[i].scopes = &ss[i];
        rs[i].nscopes = 1;
    }
    pd->resources = rs;
    pd->nresources = n;
    return PC_OK;
}
