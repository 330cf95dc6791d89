/* file_rotate.c: count/byte-bounded output directory (see file_rotate.h). */
#include "exporters/file/file_rotate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/err.h"

void file_rotor_init(struct file_rotor *r, const char *dir, uint32_t max_files,
                     uint64_t max_bytes)
{
    memset(r, 0, sizeof(*r));
    r->dir = strdup(dir);
    r->max_files = max_files;
    r->max_bytes = max_bytes;
}

void file_rotor_free(struct file_rotor *r)
{
    uint32_t i;

    for (i = 0; i < r->n; i++) {
        free(r->v[(r->head + i) % r->cap].name);
    }
    free(r->v);
    free(r->dir);
    memset(r, 0, sizeof(*r));
}

static uint64_t file_size(const struct file_rotor *r, const char *name)
{
    char path[4096];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", r->dir, name);
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int rotor_push(struct file_rotor *r, const char *name, uint64_t bytes)
{
    if (r->n == r->cap) {
        uint32_t ncap = r->cap ? r->cap * 2 : 64, i;
        struct file_rotor_entry *nv = malloc(ncap * sizeof(*nv));
        if (nv == NULL) {
            return PC_ENOMEM;
        }
        for (i = 0; i < r->n; i++) {
            nv[i] = r->v[(r->head + i) % r->cap];
        }
        free(r->v);
        r->v = nv;
        r->cap = ncap;
        r->head = 0;
    }
    r->v[(r->head + r->n) % r->cap].name = strdup(name);
    r->v[(r->head + r->n) % r->cap].bytes = bytes;
    r->n++;
    r->total_bytes += bytes;
    return PC_OK;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int file_rotor_scan(struct file_rotor *r)
{
    DIR *d = opendir(r->dir);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = PC_OK;

    if (d == NULL) {
        return PC_EIO;
    }
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "profile-", 8) != 0) {
            continue;
        }
        if (n == cap) {
            char **nn;
            cap = cap ? cap * 2 : 64;
            nn = realloc(names, cap * sizeof(*nn));
            if (nn == NULL) {
                rc = PC_ENOMEM;
                break;
            }
            names = nn;
        }
        names[n++] = strdup(de->d_name);
    }
    closedir(d);
    if (n > 1) {
        qsort(names, n, sizeof(*names), by_name);
    }
    for (i = 0; i < n; i++) {
        if (rc == PC_OK) {
            rc = rotor_push(r, names[i], file_size(r, names[i]));
        }
        free(names[i]);
    }
    free(names);
    if (rc == PC_OK) {
        file_rotor_enforce(r);
    }
    return rc;
}

int file_rotor_added(struct file_rotor *r, const char *name)
{
    return rotor_push(r, name, file_size(r, name));
}

void file_rotor_enforce(struct file_rotor *r)
{
    char path[4096];

    while (r->n > 0 && ((r->max_files != 0 && r->n > r->max_files) ||
                        (r->max_bytes != 0 && r->total_bytes > r->max_bytes &&
                         r->n > 1))) {
        struct file_rotor_entry *e = &r->v[r->head];
        snprintf(path, sizeof(path), "%s/%s", r->dir, e->name);
        unlink(path);
        r->total_bytes -= e->bytes;
        free(e->name);
        r->head = (r->head + 1) % r->cap;
        r->n--;
    }
}
