/* hex.c: hexadecimal digits and percent-encoding (see hex.h). */
#include "core/hex.h"

#include "core/err.h"

static const char lower[] = "0123456789abcdef";
static const char upper[] = "0123456789ABCDEF";

void hex_encode(const uint8_t *p, size_t n, char *dst)
{
    size_t i;

    for (i = 0; i < n; i++) {
        dst[2 * i] = lower[p[i] >> 4];
        dst[2 * i + 1] = lower[p[i] & 15];
    }
}

int hex_append(struct buf *b, const uint8_t *p, size_t n)
{
    int rc;

    if (n > SIZE_MAX / 2) {
        return PC_ETOOBIG;
    }
    rc = buf_reserve(b, 2 * n);
    if (rc != PC_OK) {
        return rc;
    }
    hex_encode(p, n, (char *)b->data + b->len);
    b->len += 2 * n;
    return PC_OK;
}

int hex_decode(const char *s, size_t n, uint8_t *out)
{
    size_t i;

    if (n % 2 != 0) {
        return PC_ECORRUPT;
    }
    for (i = 0; i < n / 2; i++) {
        int hi = hex_val((unsigned char)s[2 * i]);
        int lo = hex_val((unsigned char)s[2 * i + 1]);

        if (hi < 0 || lo < 0) {
            return PC_ECORRUPT;
        }
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return PC_OK;
}

static int unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
           c == '~';
}

int pct_encode(struct buf *b, const char *s, size_t n)
{
    size_t i;
    int rc = PC_OK;

    for (i = 0; i < n && rc == PC_OK; i++) {
        unsigned char c = (unsigned char)s[i];

        if (unreserved(c)) {
            rc = buf_putc(b, c);
        } else {
            char esc[3] = {'%', upper[c >> 4], upper[c & 15]};
            rc = buf_append(b, esc, 3);
        }
    }
    return rc;
}
