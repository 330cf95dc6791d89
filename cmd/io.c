/* io.c: whole-file reads and writes for the subcommands ("-" = stdio). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "core/buf.h"
#include "core/err.h"

int cmd_read_file(const char *path, size_t max, unsigned char **data,
                  size_t *len, char *err, size_t errlen)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    struct buf b;
    int rc = PC_OK;

    if (f == NULL) {
        snprintf(err, errlen, "cannot open %s: %s", path, err_errno(errno));
        return PC_EIO;
    }
    buf_init(&b, max);
    for (;;) {
        size_t n;
        rc = buf_reserve(&b, 65536);
        if (rc != PC_OK) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
            break;
        }
        n = fread(b.data + b.len, 1, b.cap - b.len, f);
        b.len += n;
        if (n == 0) {
            if (ferror(f)) {
                snprintf(err, errlen, "cannot read %s: %s", path,
                         err_errno(errno));
                rc = PC_EIO;
            }
            break;
        }
    }
    if (f != stdin) {
        fclose(f);
    }
    if (rc != PC_OK) {
        buf_free(&b);
        return rc;
    }
    *data = buf_take(&b, len);
    return PC_OK;
}

/* The last file mapped, for the SIGBUS message (set before the handler). */
static char sigbus_path[512];
static size_t sigbus_len;

/* A mapped file that shrinks while it is read (truncated, rewritten in
 * place) makes the next touch of a page past its new end raise SIGBUS:
 * say so and exit like any other error instead of dying of the signal.
 * Only async-signal-safe calls. */
static void on_sigbus(int sig)
{
    static const char pre[] = "profcol: ",
                      post[] = ": the file shrank while it was being read\n";

    (void)sig;
    (void)!write(STDERR_FILENO, pre, sizeof(pre) - 1);
    (void)!write(STDERR_FILENO, sigbus_path, sigbus_len);
    (void)!write(STDERR_FILENO, post, sizeof(post) - 1);
    _exit(1);
}

static void sigbus_catch(const char *path)
{
    struct sigaction sa;

    snprintf(sigbus_path, sizeof(sigbus_path), "%s", path);
    sigbus_len = strlen(sigbus_path);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigbus;
    sigemptyset(&sa.sa_mask);
    (void)sigaction(SIGBUS, &sa, NULL);
}

/* A regular file of 1 to max bytes mapped read-only: no copy into the
 * heap and no zeroed page per 4 KiB, a tenth of a conversion's time for a
 * large JFR file. 1: mapped; 0: not a regular file (or empty), read it
 * instead; -1: an error, in err. */
static int map_regular(const char *path, size_t max, struct cmd_file *f,
                       char *err, size_t errlen)
{
    struct stat st;
    void *p;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, err_errno(errno));
        return -1;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0) {
        close(fd);
        return 0;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
        return -1;
    }
    sigbus_catch(path);
    p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        return 0; /* some file systems cannot map: read instead */
    }
    /* Read ahead into the page cache, not into this process: a fault then
     * maps 16 cached pages at once, and pages the reader is done with can
     * be dropped (cmd_drop_file) before the rest are touched. Advice only:
     * its failure changes nothing. */
    (void)madvise(p, (size_t)st.st_size, MADV_WILLNEED);
    f->data = p;
    f->len = (size_t)st.st_size;
    f->mapped = 1;
    return 1;
}

int cmd_open_file(const char *path, size_t max, struct cmd_file *f, char *err,
                  size_t errlen)
{
    unsigned char *data = NULL;
    int rc;

    memset(f, 0, sizeof(*f));
    if (strcmp(path, "-") != 0) {
        rc = map_regular(path, max, f, err, errlen);
        if (rc != 0) {
            return rc > 0 ? PC_OK : PC_EIO;
        }
    }
    rc = cmd_read_file(path, max, &data, &f->len, err, errlen);
    f->data = data;
    return rc;
}

void cmd_drop_file(struct cmd_file *f, size_t upto)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), end;

    if (!f->mapped || upto > f->len) {
        return;
    }
    end = upto / page * page; /* the page holding upto is still read */
    if (end > f->dropped) {
        /* A private read-only file mapping: the pages go, and would read
         * the file again if touched; the mapping stays valid. */
        madvise((void *)(f->data + f->dropped), end - f->dropped,
                MADV_DONTNEED);
        f->dropped = end;
    }
}

void cmd_close_file(struct cmd_file *f)
{
    if (f->mapped) {
        munmap((void *)f->data, f->len);
    } else {
        free((void *)f->data);
    }
    memset(f, 0, sizeof(*f));
}

int cmd_out_open(struct cmd_out *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    o->path = path;
    o->f = strcmp(path, "-") == 0 ? stdout : fopen(path, "wb");
    if (o->f == NULL) {
        snprintf(o->err, sizeof(o->err), "cannot create %s: %s", path,
                 err_errno(errno));
        o->rc = PC_EIO;
    }
    return o->rc;
}

int cmd_out_write(struct cmd_out *o, const void *data, size_t len)
{
    if (o->rc == PC_OK && len != 0 && fwrite(data, 1, len, o->f) != len) {
        snprintf(o->err, sizeof(o->err), "cannot write %s: %s", o->path,
                 err_errno(errno));
        o->rc = PC_EIO;
    }
    return o->rc;
}

int cmd_out_close(struct cmd_out *o)
{
    if (o->f == stdout) {
        if (fflush(o->f) != 0 && o->rc == PC_OK) {
            snprintf(o->err, sizeof(o->err), "cannot write to stdout: %s",
                     err_errno(errno));
            o->rc = PC_EIO;
        }
    } else if (o->f != NULL && fclose(o->f) != 0 && o->rc == PC_OK) {
        snprintf(o->err, sizeof(o->err), "cannot write %s: %s", o->path,
                 err_errno(errno));
        o->rc = PC_EIO;
    }
    o->f = NULL;
    return o->rc;
}

int cmd_write_file(const char *path, const unsigned char *data, size_t len,
                   char *err, size_t errlen)
{
    struct cmd_out o;

    if (cmd_out_open(&o, path) == PC_OK) {
        (void)cmd_out_write(&o, data, len);
    }
    if (cmd_out_close(&o) != PC_OK) {
        snprintf(err, errlen, "%s", o.err);
    }
    return o.rc;
}
