/*
 * arena.h: bump allocator. Everything one batch owns comes from one arena and
 * is released at once by arena_free_all(). Nothing allocated from an arena is
 * freed on its own.
 *
 * An arena has a byte limit (0 = none): an allocation that would pass it
 * fails like an out-of-memory, so a hostile input cannot make a decoder take
 * more than its budget.
 */
#ifndef PROFCOL_ARENA_H
#define PROFCOL_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct arena_chunk;
struct arena_cleanup;

struct arena {
    struct arena_chunk *head; /* current chunk, newest first */
    struct arena_cleanup *cleanups;
    size_t allocated;  /* bytes obtained from malloc */
    size_t limit;      /* 0 = unlimited */
    size_t next_chunk; /* size of the next chunk to take */
    int freeing;       /* in arena_free_all: no allocation */
};

void arena_init(struct arena *a, size_t limit);

/* 16-byte aligned, uninitialized memory; NULL when out of memory or limit. */
void *arena_alloc(struct arena *a, size_t n);

/* Zeroed array of n elements of size sz; NULL on overflow/OOM/limit. */
void *arena_calloc(struct arena *a, size_t n, size_t sz);

/* NUL-terminated copy of n bytes of s. */
char *arena_strndup(struct arena *a, const char *s, size_t n);

/* Copy of n bytes of p. */
void *arena_memdup(struct arena *a, const void *p, size_t n);

/* Calls fn(ptr) when the arena is freed (for non-arena resources). */
int arena_on_free(struct arena *a, void (*fn)(void *), void *ptr);

/* Releases every chunk and runs the cleanups, newest first. Reusable after. */
void arena_free_all(struct arena *a);

/* Bytes currently obtained from the system. */
size_t arena_bytes(const struct arena *a);

#endif
