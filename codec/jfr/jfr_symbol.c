/*
 * jfr_symbol.c: generated class names made stable, as Pyroscope does before
 * it names frames, so that a lambda or a reflection accessor gives the same
 * function from one JVM run to the next:
 *   Foo$$Lambda$14/0x0000000800c03000  -> Foo$$Lambda_
 *   Foo$$Lambda$88+0x00007f9fe0007a08/1790421142 (JDK 17) -> Foo$$Lambda_
 *   Foo$$Lambda/0x0000000800c03000, Foo$$Lambda.0x...  -> Foo$$Lambda_
 *   GeneratedMethodAccessor42          -> GeneratedMethodAccessor_
 *   Foo$$EnhancerBySpringCGLIB$$1a2b3c -> Foo$$EnhancerBySpringCGLIB$$_
 */
#include <string.h>

#include "codec/jfr/jfr_conv.h"

static int is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
           (ch >= 'A' && ch <= 'F');
}

static size_t span(const char *s, size_t i, size_t len, int hex)
{
    while (i < len && (hex ? is_hex(s[i]) : (s[i] >= '0' && s[i] <= '9'))) {
        i++;
    }
    return i;
}

/* Length of the generated tail after "$$Lambda" at s[i..]; 0 if none. */
static size_t lambda_tail(const char *s, size_t i, size_t len)
{
    size_t j = i;

    if (j < len && s[j] == '$') {
        j = span(s, j + 1, len, 0);
        if (j == i + 1) {
            return 0;
        }
    }
    if (j + 2 < len && (s[j] == '/' || s[j] == '.' || s[j] == '+') &&
        s[j + 1] == '0' && s[j + 2] == 'x') {
        j = span(s, j + 3, len, 1);
    }
    /* JDK 17 hidden classes end "+0x<address>/<hash>" */
    if (j + 1 < len && s[j] == '/' && s[j + 1] >= '0' && s[j + 1] <= '9') {
        j = span(s, j + 1, len, 0);
    }
    return j - i;
}

size_t jfr_normalize_symbol(char *s, size_t len)
{
#define RULE(mark, hex)                                                       \
    {                                                                         \
        mark, sizeof(mark) - 1, hex                                           \
    }
    static const struct {
        const char *mark;
        size_t ml;
        int hex; /* tail: 1 hex digits, 0 decimal, -1 lambda */
    } rules[] = {
        RULE("$$Lambda", -1),
        RULE("GeneratedMethodAccessor", 0),
        RULE("$$EnhancerBySpringCGLIB$$", 1),
    };
#undef RULE
    size_t i = 0, o = 0, r;

    while (i < len) {
        /* Every mark starts with '$' or 'G': other bytes are copied
         * without trying the rules (this runs once per method name). */
        if (s[i] != '$' && s[i] != 'G') {
            s[o++] = s[i++];
            continue;
        }
        for (r = 0; r < sizeof(rules) / sizeof(rules[0]); r++) {
            size_t ml = rules[r].ml, t;
            if (len - i < ml || memcmp(s + i, rules[r].mark, ml) != 0) {
                continue;
            }
            t = rules[r].hex < 0 ? lambda_tail(s, i + ml, len)
                                 : span(s, i + ml, len, rules[r].hex) - i - ml;
            if (t == 0) {
                continue;
            }
            memmove(s + o, s + i, ml);
            o += ml;
            s[o++] = '_';
            i += ml + t;
            break;
        }
        if (r == sizeof(rules) / sizeof(rules[0])) {
            s[o++] = s[i++];
        }
    }
    return o;
}
