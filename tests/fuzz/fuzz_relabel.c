/*
 * fuzz_relabel.c: arbitrary relabel rules applied to arbitrary labels.
 * The input is a YAML document (`rules: [...]`, decoded through the scrape
 * receiver's relabel table), a NUL byte, then one `name=value` label per
 * line. Compiling any regex, expanding any template and applying any rule
 * chain must never crash, leak, read out of bounds or run away (PCRE2 match
 * limits), and the result must stay within the label-set bounds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "config/ynode.h"
#include "receivers/scrape/relabel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz_rules {
    struct cfg_list rules;
};

/* clang-format off */
static const struct cfg_entry fz_table[] = {
    {.key = "rules", .type = CFG_SECTION_LIST, .sub = relabel_cfg_table,
     .sub_size = sizeof(struct relabel_cfg),
     .offset = offsetof(struct fz_rules, rules)},
    {.key = NULL},
};
/* clang-format on */

/* One label per line, "name=value"; lines without '=' are skipped. */
static void fz_labels(const char *p, size_t n, struct labelset *ls)
{
    while (n > 0) {
        const char *nl = memchr(p, '\n', n);
        size_t len = nl != NULL ? (size_t)(nl - p) : n;
        const char *eq = memchr(p, '=', len);
        if (eq != NULL && eq > p) {
            char name[128];
            size_t nlen = (size_t)(eq - p);
            if (nlen < sizeof(name)) {
                memcpy(name, p, nlen);
                name[nlen] = '\0';
                labels_set_n(ls, name, eq + 1, len - nlen - 1);
            }
        }
        p += len;
        n -= len;
        if (n > 0) {
            p++;
            n--;
        }
    }
}

static void fz_apply(const struct fz_rules *r, const char *lp, size_t ln)
{
    struct relabel_rules rules;
    struct errctx e = {{0}};
    struct labelset ls;
    uint32_t i;

    if (relabel_compile(r->rules.items, r->rules.n, &rules, &e) != PC_OK) {
        return;
    }
    labels_init(&ls);
    fz_labels(lp, ln, &ls);
    relabel_apply(&rules, &ls);
    if (ls.n > LABELS_MAX) {
        abort();
    }
    for (i = 0; i < ls.n; i++) {
        if (strlen(ls.v[i].value) > LABEL_VALUE_MAX) {
            abort();
        }
    }
    labels_free(&ls);
    relabel_free(&rules);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t ylen = nul != NULL ? (size_t)(nul - data) : size;
    struct ydoc doc;
    struct cfg_diag d;
    struct fz_rules r;
    char err[256];

    if (ydoc_load_mem("fuzz", (const char *)data, ylen, &doc, err,
                      sizeof(err)) == PC_OK) {
        memset(&d, 0, sizeof(d));
        memset(&r, 0, sizeof(r));
        if (cfg_decode(fz_table, doc.root, &r, &d) == PC_OK) {
            fz_apply(&r, nul != NULL ? (const char *)nul + 1 : "",
                     nul != NULL ? size - ylen - 1 : 0);
        }
        cfg_release(fz_table, &r);
        cfg_diag_free(&d);
    }
    ydoc_free(&doc);
    relabel_hashmod((const char *)data, size, 1 + (size % 97));
    return 0;
}
