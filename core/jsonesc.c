/*
 * jsonesc.c: JSON string escaping (see jsonesc.h).
 *
 * Runs of bytes that need nothing (printable ASCII and valid UTF-8) are
 * copied with one append each; only the bytes that need an escape are
 * handled one by one.
 */
#include "core/jsonesc.h"

#include <stdint.h>

#include "core/err.h"
#include "core/utf8.h"

/* Appends a run of characters that need no escape. When it does not fit
 * whole, the part that fits goes in, cut before a UTF-8 continuation
 * byte. */
static int put_run(struct buf *b, const uint8_t *p, size_t n)
{
    size_t cut;
    int rc = buf_append(b, p, n);

    if (rc != PC_ETOOBIG) {
        return rc;
    }
    cut = b->max > b->len ? b->max - b->len : 0;
    if (cut >= n) {
        return rc;
    }
    while (cut > 0 && (p[cut] & 0xc0) == 0x80) {
        cut--;
    }
    if (cut > 0 && buf_append(b, p, cut) == PC_ENOMEM) {
        return PC_ENOMEM;
    }
    return rc;
}

static int put_escape(struct buf *b, uint8_t c)
{
    static const char hex[] = "0123456789abcdef";
    char esc[6] = {'\\', (char)c, 0, 0, 0, 0};

    switch (c) {
    case '"':
    case '\\':
        return buf_append(b, esc, 2);
    case '\b':
        esc[1] = 'b';
        return buf_append(b, esc, 2);
    case '\f':
        esc[1] = 'f';
        return buf_append(b, esc, 2);
    case '\n':
        esc[1] = 'n';
        return buf_append(b, esc, 2);
    case '\r':
        esc[1] = 'r';
        return buf_append(b, esc, 2);
    case '\t':
        esc[1] = 't';
        return buf_append(b, esc, 2);
    default:
        esc[1] = 'u';
        esc[2] = '0';
        esc[3] = '0';
        esc[4] = hex[c >> 4];
        esc[5] = hex[c & 15];
        return buf_append(b, esc, 6);
    }
}

int jsonesc_append(struct buf *b, const char *sp, size_t n)
{
    const uint8_t *s = (const uint8_t *)sp;
    size_t i = 0, j, k;
    int rc;

    /* The usual case is that nothing needs an escape: one reservation. */
    rc = buf_reserve(b, n);
    if (rc == PC_ENOMEM) {
        return rc;
    }
    rc = PC_OK;
    while (i < n && rc == PC_OK) {
        for (j = i; j < n; j++) {
            uint8_t c = s[j];
            if (c >= 0x80) {
                if ((k = utf8_seq_len(s + j, n - j)) == 0) {
                    break;
                }
                j += k - 1;
            } else if (c < 0x20 || c == '"' || c == '\\') {
                break;
            }
        }
        if (j > i) {
            rc = put_run(b, s + i, j - i);
            i = j;
        }
        if (rc != PC_OK || i == n) {
            break;
        }
        rc = s[i] >= 0x80 ? buf_append(b, "\xef\xbf\xbd", 3)
                          : put_escape(b, s[i]);
        i++;
    }
    return rc;
}

int jsonesc_quoted(struct buf *b, const char *s, size_t n)
{
    int rc = buf_reserve(b, n + 2);

    if (rc == PC_ENOMEM) {
        return rc;
    }
    rc = buf_putc(b, '"');
    if (rc == PC_OK) {
        rc = jsonesc_append(b, s, n);
    }
    return rc == PC_OK ? buf_putc(b, '"') : rc;
}
