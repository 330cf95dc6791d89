/*
 * mempolicy.h: how the daemon's allocator hands memory back.
 *
 * glibc's defaults suit a short program, not a relay that holds little but
 * passes a lot through many threads:
 *   - every thread that allocates may get an arena of its own (up to 8 per
 *     core); the pages a burst touched in one stay resident, and the ten
 *     exporter consumers, the gRPC threads and the main loop each leave
 *     theirs behind;
 *   - the mmap threshold grows to the largest block freed (up to 32 MiB),
 *     so after one 18 MB request every later request buffer of that size is
 *     carved from an arena, whose memory is seldom returned.
 * mempolicy_apply() caps the arenas at MEMPOLICY_ARENAS and fixes the mmap
 * threshold it is given (the daemon: MEMPOLICY_MMAP_THRESHOLD; blocks above it are mapped on
 * their own and unmapped as they are freed), with the trim threshold at
 * twice that, glibc's own ratio. An operator's own settings win: with
 * MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or a
 * glibc.malloc tunable in GLIBC_TUNABLES in the environment nothing is
 * changed. Without glibc it does nothing. Measured in bench/README.md
 * ("Side by side with the Collector").
 */
#ifndef PROFCOL_MEMPOLICY_H
#define PROFCOL_MEMPOLICY_H

#define MEMPOLICY_ARENAS 2
#define MEMPOLICY_MMAP_THRESHOLD (256 * 1024)

/* Call once, first thing, before any thread starts, with the mmap
 * threshold in bytes: MEMPOLICY_MMAP_THRESHOLD for the daemon, less for a
 * one-shot conversion whose footprint is its peak (cmd/convert.c). Returns
 * 1 when the policy was applied, 0 when left to the environment or
 * unsupported. */
int mempolicy_apply(int mmap_threshold);

#endif
