/*
 * grpc_api.c: loads libgrpc and libgpr at run time (grpc_api.h).
 *
 * PROFCOL_GRPC_SONAME and PROFCOL_GPR_SONAME are the sonames of the gRPC
 * libraries found at configure time (CMakeLists.txt), e.g. "libgrpc.so.29".
 */
#define PROFCOL_GRPC_API_IMPL /* the struct members, not the redirects */
#include "net/grpc_api.h"

#include <pthread.h>
#include <stdio.h>

#include "net/dynlib.h"

#ifndef PROFCOL_GRPC_SONAME
#error "PROFCOL_GRPC_SONAME is set by CMakeLists.txt"
#endif
#ifndef PROFCOL_GPR_SONAME
#error "PROFCOL_GPR_SONAME is set by CMakeLists.txt"
#endif

#define WHAT "gRPC"

struct grpc_api grpc_api;

static pthread_once_t grpc_api_once = PTHREAD_ONCE_INIT;
static int grpc_api_rc;
static struct errctx grpc_api_err;

/* Resolves one symbol into its member; stops at the first failure. */
#define GRPC_API_RESOLVE(lib, name)                                           \
    if (rc == PC_OK) {                                                        \
        void *p_ = dynlib_sym(lib, #name, WHAT, &grpc_api_err);               \
        if (p_ == NULL) {                                                     \
            rc = PC_EUNSUPPORTED;                                             \
        } else {                                                              \
            /* POSIX guarantees object and function pointers convert. */      \
            grpc_api.name = (__typeof__(grpc_api.name))p_;                    \
        }                                                                     \
    }
#define GRPC_API_FROM_GRPC(name) GRPC_API_RESOLVE(grpc, name)
#define GRPC_API_FROM_GPR(name) GRPC_API_RESOLVE(gpr, name)

static void grpc_api_init(void)
{
    void *grpc, *gpr = NULL;
    int rc = PC_OK;

    grpc = dynlib_open(PROFCOL_GRPC_SONAME, WHAT, &grpc_api_err);
    if (grpc != NULL) {
        gpr = dynlib_open(PROFCOL_GPR_SONAME, WHAT, &grpc_api_err);
    }
    if (gpr == NULL) {
        grpc_api_rc = PC_EUNSUPPORTED;
        return;
    }
    PROFCOL_GRPC_FUNCS(GRPC_API_FROM_GRPC)
    PROFCOL_GPR_FUNCS(GRPC_API_FROM_GPR)
    grpc_api_rc = rc;
}

int grpc_api_load(struct errctx *e)
{
    pthread_once(&grpc_api_once, grpc_api_init);
    if (grpc_api_rc != PC_OK) {
        return err_set(e, grpc_api_rc, "%s", grpc_api_err.msg);
    }
    return PC_OK;
}
