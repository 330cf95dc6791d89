/*
 * test_core.c: the small primitives of core/: hex digits and
 * percent-encoding, base64, JSON string escaping (escapes, UTF-8
 * repair, the cut at a buffer's bound), the clock reads and a buffer over
 * fixed memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core/base64.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hex.h"
#include "core/jsonesc.h"
#include "core/utf8.h"

/* b's bytes as a NUL-terminated string (owned by b). */
static const char *text(struct buf *b)
{
    assert_int_equal(buf_putc(b, 0), PC_OK);
    b->len--;
    return (const char *)b->data;
}

/* ---- hex ---------------------------------------------------------------- */

static void test_hex_val(void **state)
{
    const char *digits = "0123456789abcdefABCDEF";
    int c;

    (void)state;
    for (c = 0; c < 256; c++) {
        const char *p = c != 0 ? strchr(digits, c) : NULL;
        int want = p == NULL           ? -1
                   : (p - digits) < 16 ? (int)(p - digits)
                                       : (int)(p - digits) - 6;
        assert_int_equal(hex_val(c), want);
    }
}

static void test_hex_encode_decode(void **state)
{
    static const uint8_t id[] = {0x00, 0x01, 0x7f, 0x80,
                                 0xab, 0xcd, 0xef, 0xff};
    char dst[2 * sizeof(id) + 1];
    uint8_t back[sizeof(id)];
    struct buf b;

    (void)state;
    memset(dst, 'x', sizeof(dst));
    hex_encode(id, sizeof(id), dst);
    /* Exactly 2n lowercase digits, no NUL written. */
    assert_memory_equal(dst, "00017f80abcdefff", 16);
    assert_int_equal(dst[16], 'x');

    buf_init(&b, 0);
    assert_int_equal(buf_putc(&b, '"'), PC_OK);
    assert_int_equal(hex_append(&b, id, sizeof(id)), PC_OK);
    assert_int_equal(hex_append(&b, id, 0), PC_OK);
    assert_string_equal(text(&b), "\"00017f80abcdefff");
    buf_free(&b);

    assert_int_equal(hex_decode("00017F80ABcdefFF", 16, back), PC_OK);
    assert_memory_equal(back, id, sizeof(id));
    assert_int_equal(hex_decode("", 0, back), PC_OK);
    assert_int_equal(hex_decode("abc", 3, back), PC_ECORRUPT);
    assert_int_equal(hex_decode("0g", 2, back), PC_ECORRUPT);
    assert_int_equal(hex_decode("g0", 2, back), PC_ECORRUPT);
    assert_int_equal(hex_decode(" 1", 2, back), PC_ECORRUPT);

    /* The buffer's bound holds. */
    buf_init(&b, 3);
    assert_int_equal(hex_append(&b, id, 2), PC_ETOOBIG);
    assert_int_equal(b.len, 0);
    buf_free(&b);
}

static void test_pct_encode(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    assert_int_equal(pct_encode(&b, "aZ09-._~", 8), PC_OK);
    assert_int_equal(pct_encode(&b, " /?&=+%\xc3\xa9\x00!", 11), PC_OK);
    assert_string_equal(text(&b), "aZ09-._~%20%2F%3F%26%3D%2B%25%C3%A9%00%21");
    buf_free(&b);
}

/* ---- base64 ------------------------------------------------------------- */

static void test_base64_encode(void **state)
{
    /* RFC 4648 section 10. */
    static const char *const vec[][2] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    static const uint8_t high[] = {0xfb, 0xff, 0xbf};
    struct buf b;
    size_t i;

    (void)state;
    buf_init(&b, 0);
    for (i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
        buf_reset(&b);
        assert_int_equal(base64_encode(&b, (const uint8_t *)vec[i][0],
                                       strlen(vec[i][0])),
                         PC_OK);
        assert_string_equal(text(&b), vec[i][1]);
    }
    /* The standard alphabet's last two characters. */
    buf_reset(&b);
    assert_int_equal(base64_encode(&b, high, sizeof(high)), PC_OK);
    assert_string_equal(text(&b), "+/+/");
    buf_free(&b);
}

static void test_base64_decode(void **state)
{
    uint8_t out[BASE64_DECODED_MAX(16)];
    size_t n = 99;

    (void)state;
    assert_int_equal(base64_decode("aGVsbG8=", 8, out, &n), PC_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    /* Padding is optional. */
    assert_int_equal(base64_decode("aGVsbG8", 7, out, &n), PC_OK);
    assert_int_equal(n, 5);
    assert_memory_equal(out, "hello", 5);
    assert_int_equal(base64_decode("", 0, out, &n), PC_OK);
    assert_int_equal(n, 0);
    /* Both alphabets, even mixed. */
    assert_int_equal(base64_decode("-_8", 3, out, &n), PC_OK);
    assert_int_equal(n, 2);
    assert_int_equal(out[0], 0xfb);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(base64_decode("+/+_-/", 6, out, &n), PC_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "\xfb\xff\xbf\xfb", 4);
    /* Not base64: a foreign character, '=' inside, an impossible length. */
    assert_int_equal(base64_decode("a*b=", 4, out, &n), PC_ECORRUPT);
    assert_int_equal(base64_decode("ab=c", 4, out, &n), PC_ECORRUPT);
    assert_int_equal(base64_decode("abcde", 5, out, &n), PC_ECORRUPT);
    assert_int_equal(base64_decode("Zg = ", 5, out, &n), PC_ECORRUPT);
}

static void test_base64_roundtrip(void **state)
{
    uint8_t in[256], out[BASE64_DECODED_MAX(344)];
    struct buf b;
    size_t len, n;

    (void)state;
    for (len = 0; len < sizeof(in); len++) {
        in[len] = (uint8_t)(len * 37 + 11);
    }
    buf_init(&b, 0);
    for (len = 0; len <= sizeof(in); len++) {
        buf_reset(&b);
        assert_int_equal(base64_encode(&b, in, len), PC_OK);
        assert_int_equal(b.len, (len + 2) / 3 * 4);
        assert_true(BASE64_DECODED_MAX(b.len) <= sizeof(out));
        assert_int_equal(base64_decode((const char *)b.data, b.len, out, &n),
                         PC_OK);
        assert_int_equal(n, len);
        assert_memory_equal(out, in, len);
    }
    buf_free(&b);
}

/* ---- JSON string escaping ----------------------------------------------- */

static const char *esc(struct buf *b, const char *s, size_t n)
{
    buf_reset(b);
    assert_int_equal(jsonesc_quoted(b, s, n), PC_OK);
    return text(b);
}

static void test_jsonesc_escapes(void **state)
{
    struct buf b;
    char ctl[32], want[256];
    size_t wn = 0;
    int c;

    (void)state;
    buf_init(&b, 0);
    assert_string_equal(esc(&b, "", 0), "\"\"");
    assert_string_equal(esc(&b, "plain text", 10), "\"plain text\"");
    assert_string_equal(esc(&b, "a\"b\\c/d", 7), "\"a\\\"b\\\\c/d\"");
    assert_string_equal(esc(&b, "\b\f\n\r\t", 5), "\"\\b\\f\\n\\r\\t\"");
    /* Every other control character as \u00xx (lowercase); DEL stays. */
    want[0] = '\0';
    for (c = 0; c < 32; c++) {
        const char *s = c == '\b'   ? "\\b"
                        : c == '\f' ? "\\f"
                        : c == '\n' ? "\\n"
                        : c == '\r' ? "\\r"
                        : c == '\t' ? "\\t"
                                    : NULL;
        char u[8];

        ctl[c] = (char)c;
        if (s == NULL) {
            snprintf(u, sizeof(u), "\\u%04x", c);
            s = u;
        }
        wn += (size_t)snprintf(want + wn, sizeof(want) - wn, "%s", s);
    }
    buf_reset(&b);
    assert_int_equal(jsonesc_append(&b, ctl, 32), PC_OK);
    assert_string_equal(text(&b), want);
    assert_string_equal(esc(&b, "\x1b[0m\x7f", 5), "\"\\u001b[0m\x7f\"");
    buf_free(&b);
}

static void test_utf8_check(void **state)
{
    (void)state;
    assert_int_equal(utf8_check("", 0), 0);
    assert_int_equal(utf8_check("plain", 5), 5);
    assert_int_equal(utf8_check("caf\xc3\xa9", 5), 5);
    assert_int_equal(utf8_check("\xf0\x9f\x94\xa5!", 5), 5);
    assert_int_equal(utf8_check("ab\xff\xfe", 4), 2);
    /* Overlong "/", a surrogate, past U+10FFFF, a cut sequence. */
    assert_int_equal(utf8_check("x\xc0\xaf", 3), 1);
    assert_int_equal(utf8_check("\xed\xa0\x80", 3), 0);
    assert_int_equal(utf8_check("\xf4\x90\x80\x80", 4), 0);
    assert_int_equal(utf8_check("ok\xe2\x82", 4), 2);
}

static void test_jsonesc_utf8(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 0);
    /* Valid UTF-8 is copied: 2, 3 and 4 bytes, the extremes included. */
    assert_string_equal(esc(&b, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9),
                        "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"");
    assert_string_equal(esc(&b, "\xc2\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf", 9),
                        "\"\xc2\x80\xef\xbf\xbf\xf4\x8f\xbf\xbf\"");
    /* Each byte that does not start a valid sequence becomes U+FFFD:
     * a stray continuation byte, an overlong form, a surrogate, a code
     * point past U+10FFFF, bytes that never start one, a cut sequence. */
    assert_string_equal(esc(&b, "a\x80z", 3), "\"a\xef\xbf\xbdz\"");
    assert_string_equal(esc(&b, "\xc0\xaf", 2),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(esc(&b, "\xed\xa0\x80", 3),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(esc(&b, "\xf4\x90\x80\x80", 4),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
                        "\xef\xbf\xbd\"");
    assert_string_equal(esc(&b, "\xff\xfe", 2),
                        "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    assert_string_equal(esc(&b, "ok\xe2\x82", 4),
                        "\"ok\xef\xbf\xbd\xef\xbf\xbd\"");
    /* An embedded NUL is a control character, not the end. */
    assert_string_equal(esc(&b, "a\0b", 3), "\"a\\u0000b\"");
    buf_free(&b);
}

static void test_jsonesc_bounded(void **state)
{
    static const char s[] = "ab\xe2\x82\xac\"c"; /* a b EURO " c */
    /* What fits under each bound: whole characters and escapes only. */
    static const char *const fits[] = {
        "",
        "a",
        "ab",
        "ab",
        "ab",
        "ab\xe2\x82\xac",
        "ab\xe2\x82\xac",
        "ab\xe2\x82\xac\\\"",
        "ab\xe2\x82\xac\\\"c",
    };
    struct buf b;
    size_t max;

    (void)state;
    for (max = 1; max < sizeof(fits) / sizeof(fits[0]); max++) {
        int rc;

        buf_init(&b, max);
        rc = jsonesc_append(&b, s, sizeof(s) - 1);
        assert_int_equal(rc, max == 8 ? PC_OK : PC_ETOOBIG);
        assert_int_equal(b.len, strlen(fits[max]));
        assert_memory_equal(b.data != NULL ? (const char *)b.data : "",
                            fits[max], b.len);
        buf_free(&b);
    }
    /* Quoted: the closing quote needs room too. */
    buf_init(&b, 4);
    assert_int_equal(jsonesc_quoted(&b, "abc", 3), PC_ETOOBIG);
    assert_int_equal(b.len, 4);
    assert_memory_equal(b.data, "\"abc", 4);
    buf_free(&b);
}

static void test_buf_fixed(void **state)
{
    char mem[8];
    struct buf b;

    (void)state;
    memset(mem, '.', sizeof(mem));
    buf_init_fixed(&b, mem, 6);
    assert_int_equal(buf_append(&b, "abcd", 4), PC_OK);
    assert_int_equal(buf_append(&b, "efg", 3), PC_ETOOBIG);
    assert_int_equal(jsonesc_append(&b, "\"x", 2), PC_ETOOBIG);
    assert_int_equal(b.len, 6);
    assert_memory_equal(mem, "abcd\\\"..", 8);
    assert_ptr_equal(b.data, mem);
}

/* ---- clock -------------------------------------------------------------- */

static void test_clock(void **state)
{
    struct timespec ts, dl;
    int64_t m0, m1, ms, r;

    (void)state;
    m0 = clock_mono_ns();
    ms = clock_mono_ms();
    m1 = clock_mono_ns();
    assert_true(m1 >= m0);
    assert_true(ms >= m0 / 1000000 && ms <= m1 / 1000000);

    clock_gettime(CLOCK_REALTIME, &ts);
    r = clock_real_ns();
    /* Since the epoch: after 2020, and the same second as the system's. */
    assert_true(r > (int64_t)1577836800 * 1000000000);
    assert_true(r / 1000000000 - ts.tv_sec <= 1);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    dl = clock_mono_after(1500);
    assert_true(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000L);
    assert_true((int64_t)(dl.tv_sec - ts.tv_sec) * 1000000000 +
                    (dl.tv_nsec - ts.tv_nsec) >=
                (int64_t)1500000000);
    /* A negative wait is no wait, never a malformed timespec. */
    dl = clock_mono_after(-5);
    assert_true(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000L);
    assert_true(dl.tv_sec >= ts.tv_sec);

    clock_gettime(CLOCK_REALTIME, &ts);
    dl = clock_real_after(999);
    assert_true(dl.tv_nsec >= 0 && dl.tv_nsec < 1000000000L);
    assert_true((int64_t)(dl.tv_sec - ts.tv_sec) * 1000000000 +
                    (dl.tv_nsec - ts.tv_nsec) >=
                (int64_t)999000000);
    assert_true(dl.tv_sec - ts.tv_sec <= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_val),
        cmocka_unit_test(test_hex_encode_decode),
        cmocka_unit_test(test_pct_encode),
        cmocka_unit_test(test_base64_encode),
        cmocka_unit_test(test_base64_decode),
        cmocka_unit_test(test_base64_roundtrip),
        cmocka_unit_test(test_jsonesc_escapes),
        cmocka_unit_test(test_jsonesc_utf8),
        cmocka_unit_test(test_jsonesc_bounded),
        cmocka_unit_test(test_buf_fixed),
        cmocka_unit_test(test_clock),
        cmocka_unit_test(test_utf8_check),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
