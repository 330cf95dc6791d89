/*
 * matcher.h: label selectors in the PromQL / FlameQL syntax, matched against
 * an item's series attributes.
 *
 *   {service_name="api", env!="dev", region=~"eu-.*", pod!~"canary-.*"}
 *
 * Regexes are PCRE2, anchored at both ends (as in Prometheus). A selector
 * name matches an attribute whose key is equal to it or whose
 * backend-valid spelling (series_label_name: `service.name` ->
 * `service_name`) is equal to it, so both spellings work. An absent
 * attribute has the value "" (Prometheus semantics: `env!="dev"` matches
 * an item without `env`). Values are compared as text (series_value_text).
 * All matchers of a selector must match. The braces are optional; an empty
 * selector matches everything.
 *
 * A parsed selector is immutable and may be shared by threads.
 */
#ifndef PROFCOL_MATCHER_H
#define PROFCOL_MATCHER_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "model/profile.h"

/* Longest selector text accepted, and most matchers in one selector. */
#define MATCHER_MAX_TEXT 4096
#define MATCHER_MAX_TERMS 64

struct matcher_set;

/* Parses text; on error e names the offending position. */
int matcher_parse(const char *text, size_t len, struct matcher_set **out,
                  struct errctx *e);
void matcher_free(struct matcher_set *m);

/* Non-zero when every matcher of m matches attrs. */
int matcher_match(const struct matcher_set *m, const struct keyvalue *attrs,
                  uint32_t nattrs);

/* Number of matchers in m. */
uint32_t matcher_count(const struct matcher_set *m);

/* Shell-glob match of a NUL-terminated pattern against a string view
 * (`*`, `?`, `[...]`); exact when the pattern has none of them. */
int matcher_glob(const char *pattern, struct pstr s);

#endif
