/*
 * ui_errors.c: each component's last warnings and errors, for the status
 * page. Fed by the logger's tap (telemetry/log.h) from any thread. The
 * table is static, so a line logged while the page shuts down never
 * touches freed memory; it is bounded (UI_ERR_COMPONENTS components,
 * UI_ERR_KEEP lines each, UI_ERR_TEXT bytes a line).
 */
#include "ui/ui.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"

struct ui_err_comp {
    char id[UI_ERR_ID];
    struct ui_err_line lines[UI_ERR_KEEP]; /* a ring, next at `next` */
    uint32_t next, count;
};

static pthread_mutex_t ui_err_mu = PTHREAD_MUTEX_INITIALIZER;
static struct ui_err_comp ui_err_table[UI_ERR_COMPONENTS];
static uint32_t ui_err_n;

static struct ui_err_comp *ui_err_slot(const char *id)
{
    uint32_t i;

    for (i = 0; i < ui_err_n; i++) {
        if (strcmp(ui_err_table[i].id, id) == 0) {
            return &ui_err_table[i];
        }
    }
    if (ui_err_n == UI_ERR_COMPONENTS) {
        return NULL;
    }
    snprintf(ui_err_table[ui_err_n].id, UI_ERR_ID, "%s", id);
    return &ui_err_table[ui_err_n++];
}

void ui_errors_tap(enum log_level level, const char *component,
                   const char *msg, const char *fields)
{
    struct ui_err_comp *c;
    struct ui_err_line *l;

    if (component == NULL) {
        return;
    }
    pthread_mutex_lock(&ui_err_mu);
    c = ui_err_slot(component);
    if (c != NULL) {
        l = &c->lines[c->next];
        l->ms = clock_real_ns() / 1000000;
        l->error = level >= LOG_ERROR;
        snprintf(l->text, sizeof(l->text), "%s%s%s", msg != NULL ? msg : "",
                 fields[0] != '\0' ? ": " : "", fields);
        c->next = (c->next + 1) % UI_ERR_KEEP;
        if (c->count < UI_ERR_KEEP) {
            c->count++;
        }
    }
    pthread_mutex_unlock(&ui_err_mu);
}

uint32_t ui_errors_get(const char *id, struct ui_err_line *out)
{
    uint32_t i, n = 0;

    pthread_mutex_lock(&ui_err_mu);
    for (i = 0; i < ui_err_n; i++) {
        struct ui_err_comp *c = &ui_err_table[i];
        uint32_t k;
        if (strcmp(c->id, id) != 0) {
            continue;
        }
        /* Newest first. */
        for (k = 0; k < c->count; k++) {
            out[n++] = c->lines[(c->next + UI_ERR_KEEP - 1 - k) % UI_ERR_KEEP];
        }
        break;
    }
    pthread_mutex_unlock(&ui_err_mu);
    return n;
}
