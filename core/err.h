/*
 * err.h: the one error-code space of profcol.
 *
 * Every function that can fail returns int: 0 (PC_OK) or a negative PC_E*
 * code. Results come back through out-parameters. Where the caller needs to
 * tell a user *what* was wrong (a byte offset, a field name), the function
 * also takes a struct errctx and writes one line into it.
 */
#ifndef PROFCOL_ERR_H
#define PROFCOL_ERR_H

#include <stddef.h>

#define PC_ERR_MAP(X)                                                         \
    X(ENOMEM, -1, "out of memory")                                            \
    X(EINVAL, -2, "invalid argument")                                         \
    X(ETRUNC, -3, "truncated input")                                          \
    X(ECORRUPT, -4, "corrupt input")                                          \
    X(ETOOBIG, -5, "size limit exceeded")                                     \
    X(EIO, -6, "I/O error")                                                   \
    X(ENOTFOUND, -7, "not found")                                             \
    X(EUNSUPPORTED, -8, "unsupported")                                        \
    X(EFORMAT, -9, "unrecognized format")                                     \
    X(EEMPTY, -10, "empty input")                                             \
    X(EAGAIN, -11, "try again")                                               \
    X(EBUSY, -12, "busy: refused by back-pressure")                           \
    X(ERETRY, -13, "retryable failure")                                       \
    X(EPERMANENT, -14, "permanent failure")                                   \
    X(ECONFIG, -15, "invalid configuration")                                  \
    X(ETIMEDOUT, -16, "timed out")                                            \
    X(ECLOSED, -17, "closed")                                                 \
    X(EINPROGRESS, -18, "in progress: the answer comes later")

enum pc_err {
    PC_OK = 0,
#define PC_ERR_ENUM(name, code, text) PC_##name = (code),
    PC_ERR_MAP(PC_ERR_ENUM)
#undef PC_ERR_ENUM
};

/* Static text for a code; never NULL. */
const char *pc_strerror(int code);

/*
 * Text of a system errno value; never NULL. Use it instead of strerror(),
 * which may share one buffer between threads. The text stays valid in the
 * calling thread until its next err_errno().
 */
const char *err_errno(int errnum);

/* One line describing what went wrong, for the user. */
struct errctx {
    char msg[256];
};

/*
 * Formats msg into e (when e is not NULL) and returns code, so that a
 * failure site reads: return err_set(e, PC_ECORRUPT, "pprof: ...", ...);
 */
int err_set(struct errctx *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The message in e, or pc_strerror(code) when e holds none. */
const char *err_msg(const struct errctx *e, int code);

#endif
