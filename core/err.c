/* err.c: error-code texts and the per-call error message. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>

const char *pc_strerror(int code)
{
    switch (code) {
    case PC_OK:
        return "ok";
#define PC_ERR_CASE(name, c, text) \
    case PC_##name:                \
        return text;
        PC_ERR_MAP(PC_ERR_CASE)
#undef PC_ERR_CASE
    }
    return "unknown error";
}

int err_set(struct errctx *e, int code, const char *fmt, ...)
{
    va_list ap;

    if (e == NULL) {
        return code;
    }
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    return code;
}

const char *err_msg(const struct errctx *e, int code)
{
    if (e != NULL && e->msg[0] != '\0') {
        return e->msg;
    }
    return pc_strerror(code);
}
