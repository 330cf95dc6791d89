/* utf8.c: UTF-8 validity (utf8.h). */
#include "core/utf8.h"

/* Length of the valid UTF-8 sequence at s (at most n bytes) that starts
 * with a byte >= 0x80; 0 if invalid. */
size_t utf8_seq_len(const uint8_t *s, size_t n)
{
    size_t want, i;
    uint32_t cp;

    if ((s[0] & 0xe0) == 0xc0) {
        want = 2;
        cp = s[0] & 0x1f;
    } else if ((s[0] & 0xf0) == 0xe0) {
        want = 3;
        cp = s[0] & 0x0f;
    } else if ((s[0] & 0xf8) == 0xf0) {
        want = 4;
        cp = s[0] & 0x07;
    } else {
        return 0;
    }
    if (want > n) {
        return 0;
    }
    for (i = 1; i < want; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            return 0;
        }
        cp = cp << 6 | (s[i] & 0x3f);
    }
    /* Overlong forms, surrogates and values past U+10FFFF are invalid. */
    if ((want == 2 && cp < 0x80) || (want == 3 && cp < 0x800) ||
        (want == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
        return 0;
    }
    return want;
}

size_t utf8_check(const void *s, size_t n)
{
    const uint8_t *p = s;
    size_t i = 0, k;

    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        k = utf8_seq_len(p + i, n - i);
        if (k == 0) {
            return i;
        }
        i += k;
    }
    return n;
}
