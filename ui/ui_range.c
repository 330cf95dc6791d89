/* ui_range.c: time ranges of the status page's queries (ui_store.h). */
#include "ui/ui_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Longest value looked at: anything longer is an error. */
#define UI_RANGE_TEXT_MAX 32
/* Unix seconds accepted: 2000-01-01 to 2100-01-01. */
#define UI_RANGE_MIN_S 946684800LL
#define UI_RANGE_MAX_S 4102444800LL
/* Longest relative duration: 10 years. */
#define UI_RANGE_MAX_AGO_MS (10LL * 366 * 24 * 3600 * 1000)

/* "DUR": digits and a unit (ms, s, m, h). */
static int ui_duration(const char *v, int64_t *ms)
{
    static const struct {
        const char *unit;
        int64_t ms;
    } units[] = {{"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    char *end;
    long long n;
    size_t i;

    if (*v < '0' || *v > '9') {
        return -1;
    }
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || n < 0) {
        return -1;
    }
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(end, units[i].unit) == 0) {
            if (n > UI_RANGE_MAX_AGO_MS / units[i].ms) {
                return -1;
            }
            *ms = (int64_t)n * units[i].ms;
            return 0;
        }
    }
    return -1;
}

static int ui_instant(const char *v, int64_t now_ms, int64_t *out)
{
    int64_t ago;
    char *end;
    long long n;

    if (strlen(v) > UI_RANGE_TEXT_MAX) {
        return -1;
    }
    if (strcmp(v, "now") == 0) {
        *out = now_ms;
        return 0;
    }
    if (strncmp(v, "now-", 4) == 0 || v[0] == '-') {
        if (ui_duration(v + (v[0] == '-' ? 1 : 4), &ago) != 0) {
            return -1;
        }
        *out = now_ms - ago;
        return 0;
    }
    if (*v < '0' || *v > '9') {
        return -1;
    }
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < UI_RANGE_MIN_S ||
        n > UI_RANGE_MAX_S) {
        return -1;
    }
    *out = (int64_t)n * 1000;
    return 0;
}

int ui_range_parse(const char *from, const char *to, int64_t now_ms,
                   int64_t retention_ms, int64_t *from_ms, int64_t *to_ms,
                   struct errctx *e)
{
    *from_ms = now_ms - retention_ms;
    *to_ms = now_ms;
    if (from != NULL && from[0] != '\0' &&
        ui_instant(from, now_ms, from_ms) != 0) {
        return err_set(e, PC_EINVAL,
                       "from: want now, now-DURATION, -DURATION (ms, s, m, "
                       "h) or unix seconds");
    }
    if (to != NULL && to[0] != '\0' && ui_instant(to, now_ms, to_ms) != 0) {
        return err_set(e, PC_EINVAL,
                       "to: want now, now-DURATION, -DURATION (ms, s, m, "
                       "h) or unix seconds");
    }
    if (*from_ms >= *to_ms) {
        return err_set(e, PC_EINVAL, "from must be before to");
    }
    return PC_OK;
}
