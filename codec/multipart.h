/*
 * multipart.h: multipart/form-data bodies, parsed as Go's mime/multipart
 * parses them (the Pyroscope server and the Datadog Agent are Go). Parts
 * are views into the body; nothing is copied or allocated.
 */
#ifndef PROFCOL_MULTIPART_H
#define PROFCOL_MULTIPART_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define MPART_MAX 64

/* mpart_parse flags: also the named parts without a filename (form fields). */
#define MPART_FIELDS 1

struct mpart {
    char name[128]; /* form field name */
    char filename[256];
    char content_type[128];
    const uint8_t *data; /* points into the body */
    size_t len;
};

/* The boundary parameter of a multipart/form-data Content-Type into out;
 * PC_EINVAL when the type is not multipart or has no usable boundary. */
int mpart_boundary(const char *content_type, char *out, size_t outlen);

/*
 * The file parts (a filename= present and non-empty; with MPART_FIELDS
 * every named part) of body, in order, as Go's multipart.Reader sees them.
 * CRLF or bare LF line ends. PC_ECORRUPT (message in e) on a body that does
 * not parse, PC_ETOOBIG past max parts; on an error, parts[0, *nparts) are
 * the whole parts read before it.
 */
int mpart_parse(const uint8_t *body, size_t len, const char *boundary,
                int flags, struct mpart *parts, uint32_t max, uint32_t *nparts,
                struct errctx *e);

/* The first part named name, or NULL. */
const struct mpart *mpart_get(const struct mpart *parts, uint32_t n,
                              const char *name);

#endif
