/*
 * sniff.h: tells a pprof from an OTLP profiles request (or a JFR file) by
 * looking at the bytes (for `profcol convert --from auto`, the file receiver, ...).
 */
#ifndef PROFCOL_SNIFF_H
#define PROFCOL_SNIFF_H

#include <stddef.h>
#include <stdint.h>

enum sniff_format {
    SNIFF_UNKNOWN = 0,
    SNIFF_PPROF,     /* pprof, gzip or plain */
    SNIFF_OTLP,      /* ExportProfilesServiceRequest / ProfilesData */
    SNIFF_OTLP_GZIP, /* the same, gzip-compressed */
    SNIFF_OTLP_JSON, /* OTLP JSON encoding */
    SNIFF_JFR,       /* Java Flight Recorder ("FLR\0") */
};

/* Best guess for data; SNIFF_UNKNOWN when it is neither (or empty). */
enum sniff_format sniff_format(const uint8_t *data, size_t len);

#endif
