/*
 * json_budget.h: jansson's parser under a memory budget. A JSON document
 * as a jansson tree takes 10 to 25 times its text (a number in an array:
 * 2 bytes of text, about 40 of tree), so a body within every size cap can
 * still take gigabytes; the parse instead fails once the tree holds
 * JSON_BUDGET_FACTOR times the text (plus JSON_BUDGET_SLACK).
 *
 * jansson's allocation functions are the process's (set once, before
 * main, so every tree is allocated and freed by the same pair); the budget
 * is per thread and applies only inside jsonbudget_loadb.
 */
#ifndef PROFCOL_JSON_BUDGET_H
#define PROFCOL_JSON_BUDGET_H

#include <stddef.h>

#include <jansson.h>

#define JSON_BUDGET_FACTOR 12
#define JSON_BUDGET_SLACK ((size_t)1 << 20)

/* json_loadb(s, n, flags, err), failing when the tree would exceed the
 * budget for n bytes of text; *over is then 1 (err says out of memory). */
json_t *jsonbudget_loadb(const char *s, size_t n, size_t flags,
                         json_error_t *err, int *over);

#endif
