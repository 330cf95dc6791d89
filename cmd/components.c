/*
 * components.c: `profcol components [--keys]`: every component type built
 * into this binary, and with --keys the configuration keys of each (type,
 * default, description), read from the same tables the loader uses, so the
 * listing cannot drift from what the loader accepts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd/cmd.h"
#include "config/cfg.h"
#include "component/component.h"

static int factory_cmp(const void *a, const void *b)
{
    const struct component_factory *x =
        *(const struct component_factory *const *)a;
    const struct component_factory *y =
        *(const struct component_factory *const *)b;

    if (x->kind != y->kind) {
        return x->kind < y->kind ? -1 : 1;
    }
    return strcmp(x->type, y->type);
}

static void print_enum_values(const struct cfg_entry *e)
{
    int i;

    printf(" [");
    for (i = 0; e->enum_values != NULL && e->enum_values[i] != NULL; i++) {
        printf("%s%s", i ? "|" : "", e->enum_values[i]);
    }
    printf("]");
}

static void print_keys(const struct cfg_entry *table, int indent)
{
    const struct cfg_entry *e;

    for (e = table; e != NULL && e->key != NULL; e++) {
        printf("%*s%s (%s", indent, "", e->key, cfg_type_name(e->type));
        if (e->type == CFG_ENUM) {
            print_enum_values(e);
        }
        if (e->required) {
            printf(", required");
        } else if (e->def != NULL) {
            printf(", default %s", e->def);
        }
        printf(")%s%s\n", e->doc ? ": " : "", e->doc ? e->doc : "");
        /* Indentation is bounded by the nesting of static tables. */
        if ((e->type == CFG_SECTION || e->type == CFG_SECTION_LIST) &&
            indent < 40) {
            print_keys(e->sub, indent + 2);
        }
    }
}

int cmd_components(int argc, char **argv)
{
    const struct component_factory *const *all;
    const struct component_factory **sorted;
    size_t n, i;
    int keys = 0, k;

    for (k = 1; k < argc; k++) {
        if (strcmp(argv[k], "--keys") == 0) {
            keys = 1;
        } else {
            fprintf(stderr, "usage: profcol components [--keys]\n");
            return 2;
        }
    }
    all = registry_all(&n);
    sorted = malloc((n ? n : 1) * sizeof(*sorted));
    if (sorted == NULL) {
        fprintf(stderr, "profcol components: out of memory\n");
        return 1;
    }
    memcpy(sorted, all, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), factory_cmp);
    printf("%-10s %-16s %-12s %s\n", "KIND", "TYPE", "STABILITY",
           "DESCRIPTION");
    for (i = 0; i < n; i++) {
        printf("%-10s %-16s %-12s %s\n", component_kind_name(sorted[i]->kind),
               sorted[i]->type,
               sorted[i]->stability ? sorted[i]->stability : "",
               sorted[i]->description ? sorted[i]->description : "");
        if (keys) {
            print_keys(sorted[i]->config, 4);
        }
    }
    free(sorted);
    return 0;
}
