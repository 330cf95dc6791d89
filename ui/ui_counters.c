/*
 * ui_counters.c: a component's counters for the status page, read from the
 * metrics registry's own rendering (the one source of the numbers /metrics
 * shows), so the page and /metrics never disagree.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "telemetry/metrics.h"
#include "ui/ui_int.h"

int ui_metrics_text(struct ui *u, struct buf *text)
{
    return metrics_render(u->metrics, text);
}

/* Where in c the series called name counts, or NULL. */
static double *ui_field(struct ui_counts *c, const char *name, size_t len)
{
    static const struct {
        const char *name;
        size_t off;
    } map[] = {
        {"profcol_receiver_accepted_profiles_total",
         offsetof(struct ui_counts, accepted)},
        {"profcol_receiver_refused_profiles_total",
         offsetof(struct ui_counts, refused)},
        {"profcol_processor_dropped_profiles_total",
         offsetof(struct ui_counts, dropped)},
        {"profcol_exporter_sent_profiles_total",
         offsetof(struct ui_counts, sent)},
        {"profcol_exporter_send_failed_profiles_total",
         offsetof(struct ui_counts, failed)},
        {"profcol_exporter_queue_size", offsetof(struct ui_counts, queue)},
        {"profcol_exporter_retries_total",
         offsetof(struct ui_counts, retries)},
    };
    size_t i;

    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (strlen(map[i].name) == len &&
            memcmp(map[i].name, name, len) == 0) {
            return (double *)((char *)c + map[i].off);
        }
    }
    return NULL;
}

/* Non-zero when the label set [l, end) holds kind="id". */
static int ui_has_label(const char *l, const char *end, const char *want)
{
    size_t n = strlen(want);
    const char *p = l;

    while (p + n <= end) {
        const char *hit = memmem(p, (size_t)(end - p), want, n);
        if (hit == NULL) {
            return 0;
        }
        if (hit == l || hit[-1] == ',' || hit[-1] == '{') {
            return 1;
        }
        p = hit + 1;
    }
    return 0;
}

void ui_counts_of(const struct buf *text, const char *kind, const char *id,
                  struct ui_counts *c)
{
    const char *p = (const char *)text->data;
    const char *end = p + text->len;
    char want[UI_ERR_ID + 32];

    memset(c, 0, sizeof(*c));
    snprintf(want, sizeof(want), "%s=\"%s\"", kind, id);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *eol = nl != NULL ? nl : end;
        const char *brace = memchr(p, '{', (size_t)(eol - p));
        const char *close = brace != NULL
                                ? memchr(brace, '}', (size_t)(eol - brace))
                                : NULL;
        if (*p != '#' && close != NULL && close + 1 < eol) {
            double *f = ui_field(c, p, (size_t)(brace - p));
            if (f != NULL && ui_has_label(brace + 1, close, want)) {
                *f += strtod(close + 1, NULL);
            }
        }
        p = eol + 1;
    }
}
