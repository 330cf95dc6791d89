/* arena.c: chunked bump allocator (see arena.h). */
#include "model/arena.h"

#include <stdlib.h>
#include <string.h>

#include "model/err.h"

#define ARENA_ALIGN 16
#define ARENA_MIN_CHUNK (16 * 1024)
#define ARENA_MAX_CHUNK (4 * 1024 * 1024)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size;
    size_t used;
    /* Keeps data[] 16-byte aligned. */
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *ptr;
};

void arena_init(struct arena *a, size_t limit)
{
    memset(a, 0, sizeof(*a));
    a->limit = limit;
    a->next_chunk = ARENA_MIN_CHUNK;
}

static struct arena_chunk *arena_grow(struct arena *a, size_t need)
{
    size_t size = a->next_chunk;
    struct arena_chunk *c;

    /* Large requests get a chunk of their own, sized exactly. */
    if (need > size) {
        size = need;
    }
    if (a->limit != 0 && (size > a->limit || a->allocated > a->limit - size)) {
        return NULL;
    }
    c = malloc(sizeof(*c) + size);
    if (c == NULL) {
        return NULL;
    }
    c->size = size;
    c->used = 0;
    a->allocated += sizeof(*c) + size;
    if (need <= a->next_chunk) {
        /* Doubling keeps the chunk count logarithmic in the batch size. */
        if (a->next_chunk < ARENA_MAX_CHUNK) {
            a->next_chunk *= 2;
        }
        c->next = a->head;
        a->head = c;
    } else if (a->head != NULL) {
        /* Keep the partly used current chunk in front for small requests. */
        c->next = a->head->next;
        a->head->next = c;
    } else {
        c->next = NULL;
        a->head = c;
    }
    return c;
}

void *arena_alloc(struct arena *a, size_t n)
{
    struct arena_chunk *c = a->head;
    size_t need;
    void *p;

    if (n == 0) {
        n = 1;
    }
    if (n > SIZE_MAX - ARENA_ALIGN) {
        return NULL;
    }
    need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (c == NULL || c->size - c->used < need) {
        c = arena_grow(a, need);
        if (c == NULL) {
            return NULL;
        }
    }
    p = c->data + c->used;
    c->used += need;
    return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t sz)
{
    void *p;

    if (sz != 0 && n > SIZE_MAX / sz) {
        return NULL;
    }
    p = arena_alloc(a, n * sz);
    if (p != NULL) {
        memset(p, 0, n * sz);
    }
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void *arena_memdup(struct arena *a, const void *p, size_t n)
{
    void *q = arena_alloc(a, n);

    if (q != NULL && n != 0) {
        memcpy(q, p, n);
    }
    return q;
}

int arena_on_free(struct arena *a, void (*fn)(void *), void *ptr)
{
    struct arena_cleanup *c = arena_alloc(a, sizeof(*c));

    if (c == NULL) {
        return PC_ENOMEM;
    }
    c->fn = fn;
    c->ptr = ptr;
    c->next = a->cleanups;
    a->cleanups = c;
    return PC_OK;
}

void arena_free_all(struct arena *a)
{
    struct arena_cleanup *cl = a->cleanups;
    struct arena_chunk *c = a->head;
    size_t limit = a->limit;

    /* Cleanups live inside the chunks: run them all before freeing any. */
    while (cl != NULL) {
        cl->fn(cl->ptr);
        cl = cl->next;
    }
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    arena_init(a, limit);
}

size_t arena_bytes(const struct arena *a)
{
    return a->allocated;
}
