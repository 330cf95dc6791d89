/* err.c: error-code texts and the per-call error message. */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pc_strerror(int code)
{
    switch (code) {
    case PC_OK:
        return "ok";
#define PC_ERR_CASE(name, c, text)                                            \
    case PC_##name:                                                           \
        return text;
        PC_ERR_MAP(PC_ERR_CASE)
#undef PC_ERR_CASE
    }
    return "unknown error";
}

const char *err_errno(int errnum)
{
    static _Thread_local char buf[128];

    /* The GNU strerror_r (_GNU_SOURCE): returns the text, which is either
     * a static string or written into buf. */
    return strerror_r(errnum, buf, sizeof(buf));
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
