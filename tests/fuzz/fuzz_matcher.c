/*
 * fuzz_matcher.c: arbitrary bytes as a label selector. Parsing must refuse
 * or accept without crashing or leaking; an accepted selector is matched
 * against a fixed attribute set (string, int, dotted and empty values) and
 * the glob helper is run with the same bytes as pattern.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "component/matcher.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct keyvalue kv[3];
    struct matcher_set *m = NULL;
    struct errctx e;
    char *pat;

    memset(kv, 0, sizeof(kv));
    kv[0].key = (struct pstr){"service.name", 12};
    kv[0].value.type = AV_STRING;
    kv[0].value.u.s = (struct pstr){"api", 3};
    kv[1].key = (struct pstr){"n", 1};
    kv[1].value.type = AV_INT;
    kv[1].value.u.i = -7;
    kv[2].key = (struct pstr){"empty", 5};
    kv[2].value.type = AV_STRING;
    kv[2].value.u.s = (struct pstr){"", 0};
    if (matcher_parse((const char *)data, size, &m, &e) == PC_OK) {
        (void)matcher_match(m, kv, 3);
        (void)matcher_count(m);
        matcher_free(m);
    }
    pat = malloc(size + 1);
    if (pat != NULL) {
        memcpy(pat, data, size);
        pat[size] = '\0';
        (void)matcher_glob(pat, kv[0].value.u.s);
        free(pat);
    }
    return 0;
}
