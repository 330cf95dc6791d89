/* arena.c: chunked bump allocator (see arena.h). */
#include "core/arena.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/assert.h"
#include "core/err.h"

#define ARENA_ALIGN 16
#define ARENA_MIN_CHUNK (16 * 1024)
#define ARENA_MAX_CHUNK (4 * 1024 * 1024)
/* Chunks at least this big are mappings of their own (see arena_map). */
#define ARENA_MAP_MIN ((size_t)1 << 20)

struct arena_chunk {
    struct arena_chunk *next;
    size_t size; /* bytes of data[] */
    size_t used;
    size_t mapped; /* length of the mapping, 0 = malloc'd */
    /* Keeps data[] 16-byte aligned. */
    _Alignas(ARENA_ALIGN) unsigned char data[];
};

static void chunk_release(struct arena_chunk *c)
{
    if (c->mapped != 0) {
        munmap(c, c->mapped);
    } else {
        free(c);
    }
}

/*
 * Big chunks are anonymous mappings rather than malloc'd: their memory goes
 * back to the system exactly when released, and never fragments the heap
 * that the small allocations of the process live in.
 */
static struct arena_chunk *chunk_new(size_t size)
{
    struct arena_chunk *c;
    size_t total = sizeof(*c) + size, page;
    void *m;

    if (total < ARENA_MAP_MIN) {
        c = malloc(total);
        if (c != NULL) {
            c->mapped = 0;
        }
        return c;
    }
    page = (size_t)sysconf(_SC_PAGESIZE);
    if (total > SIZE_MAX - page) {
        return NULL;
    }
    total = (total + page - 1) & ~(page - 1);
    m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
             -1, 0);
    if (m == MAP_FAILED) {
        return NULL;
    }
    c = m;
    c->mapped = total;
    c->size = total - sizeof(*c);
    return c;
}

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
    c = chunk_new(size);
    if (c == NULL) {
        return NULL;
    }
    if (c->mapped == 0) {
        c->size = size;
    }
    c->used = 0;
    /* The limit counts what was asked for; page rounding and a cached
     * chunk's slack are not the input's doing. */
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

    /* A cleanup running in arena_free_all allocates from chunks about to
     * go away. */
    PC_ASSERT(!a->freeing);
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
    PC_ASSERT(c->used <= c->size);
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
    a->freeing = 1;
    while (cl != NULL) {
        cl->fn(cl->ptr);
        cl = cl->next;
    }
    while (c != NULL) {
        struct arena_chunk *next = c->next;
        chunk_release(c);
        c = next;
    }
    arena_init(a, limit);
}

size_t arena_bytes(const struct arena *a)
{
    return a->allocated;
}
