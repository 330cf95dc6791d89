/* base64.c: RFC 4648 base64 (see base64.h). */
#include "core/base64.h"

#include "core/err.h"

static const char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

int base64_encode(struct buf *b, const uint8_t *p, size_t n)
{
    size_t i;
    uint8_t *d;
    int rc;

    if (n / 3 >= SIZE_MAX / 4 - 1) {
        return PC_ETOOBIG;
    }
    rc = buf_reserve(b, (n + 2) / 3 * 4);
    if (rc != PC_OK) {
        return rc;
    }
    d = b->data + b->len;
    for (i = 0; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];

        *d++ = (uint8_t)alphabet[v >> 18];
        *d++ = (uint8_t)alphabet[v >> 12 & 63];
        *d++ = (uint8_t)alphabet[v >> 6 & 63];
        *d++ = (uint8_t)alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)p[i] << 16 |
                     (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);

        *d++ = (uint8_t)alphabet[v >> 18];
        *d++ = (uint8_t)alphabet[v >> 12 & 63];
        *d++ = i + 1 < n ? (uint8_t)alphabet[v >> 6 & 63] : '=';
        *d++ = '=';
    }
    b->len = (size_t)(d - b->data);
    return PC_OK;
}

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '+' || c == '-') {
        return 62;
    }
    if (c == '/' || c == '_') {
        return 63;
    }
    return -1;
}

int base64_decode(const char *s, size_t n, uint8_t *out, size_t *outlen)
{
    uint32_t acc = 0;
    size_t i, o = 0;
    int bits = 0;

    while (n > 0 && s[n - 1] == '=') {
        n--;
    }
    if (n % 4 == 1) {
        return PC_ECORRUPT;
    }
    for (i = 0; i < n; i++) {
        int v = b64_val((unsigned char)s[i]);

        if (v < 0) {
            return PC_ECORRUPT;
        }
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    *outlen = o;
    return PC_OK;
}
