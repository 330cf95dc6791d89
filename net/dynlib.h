/*
 * dynlib.h: optional shared libraries, loaded when a component needs them.
 *
 * profcol does not link gRPC or libcurl: a sidecar that only reads files
 * would otherwise map (and touch) some 9 MiB of their code and dependency
 * trees at startup. grpc_api.h and curl_api.h load them through this file
 * the first time a component that uses them is created (and the
 * profilemetrics exporter its libsnappy, pm_snappy.c).
 */
#ifndef PROFCOL_DYNLIB_H
#define PROFCOL_DYNLIB_H

#include "core/err.h"

/*
 * Opens the library `soname` (dlopen RTLD_NOW | RTLD_LOCAL) once per
 * process; later calls return the same handle. On failure returns NULL and
 * sets e to "<what> library not available: <dlerror()>", which names the
 * library ("libgrpc.so.29: cannot open shared object file: ...").
 * Thread-safe. Libraries are never closed.
 */
void *dynlib_open(const char *soname, const char *what, struct errctx *e);

/* The address of `name` in handle, or NULL with e set to "<what> library
 * not available: <dlerror()>" (which names library and symbol). */
void *dynlib_sym(void *handle, const char *name, const char *what,
                 struct errctx *e);

#endif
