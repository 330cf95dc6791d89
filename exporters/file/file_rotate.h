/*
 * file_rotate.h: keeps a directory of output files within a count and a byte
 * budget, deleting the oldest first. File names sort by creation time (the
 * exporter names them so), so "oldest" is "smallest name".
 */
#ifndef PROFCOL_FILE_ROTATE_H
#define PROFCOL_FILE_ROTATE_H

#include <stdint.h>

#include "core/buf.h"
#include "component/batch.h"

struct file_rotor_entry {
    char *name;
    uint64_t bytes;
};

struct file_rotor {
    char *dir;
    uint32_t max_files; /* 0 = no limit */
    uint64_t max_bytes; /* 0 = no limit */
    struct file_rotor_entry *v;
    uint32_t head, n, cap; /* FIFO ring of files, oldest at head */
    uint64_t total_bytes;
};

void file_rotor_init(struct file_rotor *r, const char *dir, uint32_t max_files,
                     uint64_t max_bytes);
void file_rotor_free(struct file_rotor *r);
/* Learns the profile-* files already in the directory. */
int file_rotor_scan(struct file_rotor *r);
/* Records a file just written. */
int file_rotor_added(struct file_rotor *r, const char *name);
/* Deletes the oldest files until both limits hold. */
void file_rotor_enforce(struct file_rotor *r);

/* Appends one JSON line describing item it (attributes, counts, payload). */
int file_json_item(struct batch *b, struct item *it, struct buf *out);

#endif
