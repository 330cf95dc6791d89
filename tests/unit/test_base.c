/* test_base.c: arena, bounded buffer, protobuf wire primitives, compression,
 * intern table, the model's construction helpers and its profile walker,
 * PC_ASSERT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/arena.h"
#include "core/assert.h"
#include "core/buf.h"
#include "codec/compress.h"
#include "core/intern.h"
#include "codec/pb.h"
#include "model/pdata_iter.h"
#include "model/profile.h"

static void test_arena_alignment_and_limit(void **state)
{
    struct arena a;
    void *p, *q;
    int i;

    (void)state;
    arena_init(&a, 64 * 1024);
    p = arena_alloc(&a, 3);
    q = arena_alloc(&a, 5);
    assert_non_null(p);
    assert_non_null(q);
    assert_int_equal((uintptr_t)p % 16, 0);
    assert_int_equal((uintptr_t)q % 16, 0);
    assert_ptr_not_equal(p, q);
    /* A request above the limit fails instead of allocating. */
    assert_null(arena_alloc(&a, 128 * 1024));
    for (i = 0; i < 100; i++) {
        if (arena_alloc(&a, 1024) == NULL) {
            break;
        }
    }
    assert_true(i < 100);
    assert_true(arena_bytes(&a) <= 64 * 1024);
    arena_free_all(&a);
    assert_int_equal(arena_bytes(&a), 0);
}

static int cleanup_calls;
static void count_cleanup(void *p)
{
    (void)p;
    cleanup_calls++;
}

static void test_arena_cleanup(void **state)
{
    struct arena a;

    (void)state;
    arena_init(&a, 0);
    cleanup_calls = 0;
    assert_int_equal(arena_on_free(&a, count_cleanup, NULL), PC_OK);
    assert_int_equal(arena_on_free(&a, count_cleanup, NULL), PC_OK);
    assert_non_null(arena_alloc(&a, 10 << 20)); /* big chunk of its own */
    arena_free_all(&a);
    assert_int_equal(cleanup_calls, 2);
}

static void test_buf_bound(void **state)
{
    struct buf b;

    (void)state;
    buf_init(&b, 10);
    assert_int_equal(buf_append(&b, "0123456789", 10), PC_OK);
    assert_int_equal(buf_putc(&b, 'x'), PC_ETOOBIG);
    assert_int_equal(b.len, 10);
    buf_reset(&b);
    assert_int_equal(buf_printf(&b, "%d-%s", 42, "ab"), PC_OK);
    assert_memory_equal(b.data, "42-ab", 5);
    buf_free(&b);
}

static void test_pb_varint_roundtrip(void **state)
{
    static const uint64_t vals[] = {0,         1,          127,
                                    128,       300,        16383,
                                    16384,     UINT32_MAX, (uint64_t)INT64_MAX,
                                    UINT64_MAX};
    struct buf b;
    const uint8_t *p, *end;
    uint64_t v;
    size_t i;

    (void)state;
    buf_init(&b, 0);
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        assert_int_equal(pb_put_varint(&b, vals[i]), PC_OK);
    }
    p = b.data;
    end = b.data + b.len;
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        assert_int_equal(pb_read_varint(&p, end, &v), PC_OK);
        assert_true(v == vals[i]);
    }
    assert_ptr_equal(p, end);
    /* A truncated varint is reported, not read past the end. */
    p = b.data + b.len - 1;
    end = p;
    assert_int_equal(pb_read_varint(&p, end, &v), PC_ETRUNC);
    buf_free(&b);
}

/* The branch-free encoder writes what the loop does, at every length's
 * edges; of its 4 stored bytes, those past the varint are not read. */
static void test_pb_varint28(void **state)
{
    static const uint32_t vals[] = {0,       1,        127,           128,
                                    16383,   16384,    2097151,       2097152,
                                    5000000, 1u << 27, (1u << 28) - 1};
    uint8_t a[10], b[10];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
        memset(a, 0xaa, sizeof(a));
        memset(b, 0x55, sizeof(b));
        n = pb_encode_varint(a, vals[i]);
        assert_int_equal(pb_encode_varint28(b, vals[i]), n);
        assert_memory_equal(a, b, n);
    }
}

static void test_pb_nested_length_patch(void **state)
{
    struct buf b;
    size_t mark = 0, i, n = 0;
    const uint8_t *p, *end, *body = NULL;
    uint32_t field;
    unsigned wire;

    (void)state;
    buf_init(&b, 0);
    /* A body longer than 127 bytes needs a 2-byte length: the body moves. */
    assert_int_equal(pb_msg_begin(&b, 7, &mark), PC_OK);
    for (i = 0; i < 100; i++) {
        assert_int_equal(pb_put_uint(&b, 1, 1000 + i), PC_OK);
    }
    assert_int_equal(pb_msg_end(&b, mark), PC_OK);
    p = b.data;
    end = b.data + b.len;
    assert_int_equal(pb_read_tag(&p, end, &field, &wire), PC_OK);
    assert_int_equal(field, 7);
    assert_int_equal(wire, PB_LEN);
    assert_int_equal(pb_read_len(&p, end, &body, &n), PC_OK);
    assert_ptr_equal(p, end);
    p = body;
    for (i = 0; i < 100; i++) {
        uint64_t v;
        assert_int_equal(pb_read_tag(&p, body + n, &field, &wire), PC_OK);
        assert_int_equal(pb_read_varint(&p, body + n, &v), PC_OK);
        assert_int_equal(v, 1000 + i);
    }
    buf_free(&b);
}

/* gz_compress(data, n) at level 1 (igzip) appended after a prefix: zlib
 * and libdeflate read back data, and the prefix is untouched. */
static void check_level1(const uint8_t *data, size_t n)
{
    struct buf gz, out;

    buf_init(&gz, 0);
    buf_init(&out, 0);
    assert_int_equal(buf_append(&gz, "pre", 3), PC_OK);
    assert_int_equal(gz_compress(data, n, &gz, 1), PC_OK);
    assert_memory_equal(gz.data, "pre", 3);
    assert_true(gz_is_gzip(gz.data + 3, gz.len - 3));
    assert_int_equal(gz_decompress(gz.data + 3, gz.len - 3, &out, 0), PC_OK);
    assert_int_equal(out.len, n);
    assert_true(n == 0 || memcmp(out.data, data, n) == 0);
    buf_reset(&out);
    assert_int_equal(gz_decompress_zlib(gz.data + 3, gz.len - 3, &out, 0),
                     PC_OK);
    assert_int_equal(out.len, n);
    buf_free(&gz);
    buf_free(&out);
}

/* Level 1 is ISA-L's igzip: compressible, incompressible (stored blocks,
 * more output than input) and empty inputs; a bounded output buffer that
 * is too small fails and keeps what it held. */
static void test_gzip_level1(void **state)
{
    enum { N = 300000 };
    uint8_t *text = malloc(N), *noise = malloc(N), mem[64];
    uint64_t x = 88172645463325252u;
    struct buf small;
    size_t i;

    (void)state;
    assert_non_null(text);
    assert_non_null(noise);
    for (i = 0; i < N; i++) {
        text[i] = (uint8_t)("profile "[i % 8] + (i / 4096) % 3);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        noise[i] = (uint8_t)x;
    }
    check_level1(text, N);
    check_level1(noise, N);
    check_level1(text, 0);
    buf_init_fixed(&small, mem, sizeof(mem));
    assert_int_equal(buf_append(&small, "ab", 2), PC_OK);
    assert_int_equal(gz_compress(noise, 1000, &small, 1), PC_ETOOBIG);
    assert_int_equal(small.len, 2);
    free(text);
    free(noise);
}

static void test_gzip_roundtrip_and_bomb(void **state)
{
    struct buf raw, gz, out;
    size_t i;

    (void)state;
    buf_init(&raw, 0);
    buf_init(&gz, 0);
    buf_init(&out, 0);
    for (i = 0; i < 100000; i++) {
        assert_int_equal(buf_putc(&raw, (uint8_t)(i % 7)), PC_OK);
    }
    assert_int_equal(gz_compress(raw.data, raw.len, &gz, 6), PC_OK);
    assert_true(gz_is_gzip(gz.data, gz.len));
    assert_int_equal(gz_decompress(gz.data, gz.len, &out, 0), PC_OK);
    assert_int_equal(out.len, raw.len);
    assert_memory_equal(out.data, raw.data, raw.len);
    /* Decompressed size cap: fails instead of growing. */
    buf_reset(&out);
    assert_int_equal(gz_decompress(gz.data, gz.len, &out, 1000), PC_ETOOBIG);
    /* zlib reads what libdeflate wrote, and the other way. */
    buf_reset(&out);
    assert_int_equal(gz_decompress_zlib(gz.data, gz.len, &out, 0), PC_OK);
    assert_int_equal(out.len, raw.len);
    buf_reset(&gz);
    buf_reset(&out);
    assert_int_equal(gz_compress_zlib(raw.data, raw.len, &gz, 6), PC_OK);
    assert_int_equal(gz_decompress(gz.data, gz.len, &out, 0), PC_OK);
    assert_memory_equal(out.data, raw.data, raw.len);
    /* Corrupt input is an error. */
    gz.data[gz.len / 2] ^= 0xff;
    buf_reset(&out);
    assert_true(gz_decompress(gz.data, gz.len, &out, 0) < 0);
    /* zstd both ways, with a cap. */
    buf_reset(&gz);
    buf_reset(&out);
    assert_int_equal(zstd_compress(raw.data, raw.len, &gz, 3), PC_OK);
    assert_true(zstd_is_zstd(gz.data, gz.len));
    assert_int_equal(zstd_decompress(gz.data, gz.len, &out, 0), PC_OK);
    assert_memory_equal(out.data, raw.data, raw.len);
    buf_reset(&out);
    assert_int_equal(zstd_decompress(gz.data, gz.len, &out, 500), PC_ETOOBIG);
    buf_free(&raw);
    buf_free(&gz);
    buf_free(&out);
}

static void test_intern_table(void **state)
{
    struct itab t;
    struct itab_probe pr;
    int32_t i, found;
    uint32_t vals[5000];

    (void)state;
    assert_int_equal(itab_init(&t, 4), PC_OK);
    for (i = 0; i < 5000; i++) {
        vals[i] = (uint32_t)i * 7919u;
        itab_probe_start(&t, vals[i] % 97, &pr); /* many collisions */
        while ((found = itab_probe_next(&t, &pr)) >= 0) {
            assert_true(vals[found] != vals[i]);
        }
        assert_int_equal(itab_insert(&t, &pr, i), PC_OK);
    }
    for (i = 0; i < 5000; i++) {
        itab_probe_start(&t, vals[i] % 97, &pr);
        while ((found = itab_probe_next(&t, &pr)) >= 0) {
            if (vals[found] == vals[i]) {
                break;
            }
        }
        assert_int_equal(found, i);
    }
    itab_free(&t);
}

static void test_pdata_tables(void **state)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp;
    int32_t locs[3] = {1, 2, 3};
    int32_t s;
    int i;

    (void)state;
    assert_non_null(pd);
    assert_int_equal(dict_init(pd), PC_OK);
    assert_int_equal(pd->dict.nstrings, 1);
    assert_int_equal(pd->dict.nstacks, 1);
    assert_int_equal(pd->dict.nlinks, 1);
    for (i = 0; i < 1000; i++) {
        s = dict_add_string(pd, "x", 1);
        assert_int_equal(s, i + 1);
    }
    assert_int_equal(dict_string(pd, "cpu", 3), 1001);
    assert_int_equal(dict_string(pd, "cpu", 3), 1001);
    assert_int_equal(dict_add_stack(pd, locs, 3), 1);
    assert_int_equal(pd->dict.stacks[1].locs[2], 3);
    rp = pdata_add_resource(pd);
    sp = pdata_add_scope(pd, rp);
    assert_non_null(pdata_add_profile(pd, sp));
    assert_non_null(pdata_add_profile(pd, sp));
    assert_int_equal(pdata_profile_count(pd), 2);
    pdata_free(pd);
}

/* Resources: 0 = {scope(2 profiles), empty scope, scope(1)}, 1 = no scope,
 * 2 = {empty scope}, 3 = {scope(1)}. The walker visits the four profiles in
 * order, with their resource and scope, skipping the empty ones. */
static void test_pdata_iter(void **state)
{
    struct pdata *pd = pdata_new(0);
    struct resource_profiles *rp;
    struct scope_profiles *sp[3];
    struct profile *want[4], *p;
    struct pdata_iter w;
    uint32_t np, n = 0, i;
    uint64_t ns;

    (void)state;
    /* Arrays move as they grow: build first, take pointers after. */
    for (i = 0; i < 4; i++) {
        assert_non_null(pdata_add_resource(pd));
    }
    for (i = 0; i < 3; i++) {
        assert_non_null(pdata_add_scope(pd, &pd->resources[0]));
    }
    assert_non_null(pdata_add_scope(pd, &pd->resources[2]));
    assert_non_null(pdata_add_scope(pd, &pd->resources[3]));
    rp = pd->resources;
    assert_non_null(pdata_add_profile(pd, &rp[0].scopes[0]));
    assert_non_null(pdata_add_profile(pd, &rp[0].scopes[0]));
    assert_non_null(pdata_add_profile(pd, &rp[0].scopes[2]));
    assert_non_null(pdata_add_profile(pd, &rp[3].scopes[0]));
    sp[0] = &rp[0].scopes[0];
    sp[1] = &rp[0].scopes[2];
    sp[2] = &rp[3].scopes[0];
    want[0] = &sp[0]->profiles[0];
    want[1] = &sp[0]->profiles[1];
    want[2] = &sp[1]->profiles[0];
    want[3] = &sp[2]->profiles[0];
    want[0]->nsamples = 5;
    want[2]->nsamples = 7;
    want[3]->nsamples = 11;

    pdata_iter_init(&w, pd, -1);
    while ((p = pdata_iter_next(&w)) != NULL) {
        assert_true(n < 4);
        assert_ptr_equal(p, want[n]);
        assert_ptr_equal(w.rp, n < 3 ? &rp[0] : &rp[3]);
        assert_ptr_equal(w.sp, n < 2 ? sp[0] : n < 3 ? sp[1] : sp[2]);
        n++;
    }
    assert_int_equal(n, 4);
    assert_null(pdata_iter_next(&w));
    /* One resource; one without profiles and one out of range walk
     * nothing. */
    pdata_iter_init(&w, pd, 3);
    assert_ptr_equal(pdata_iter_next(&w), want[3]);
    assert_null(pdata_iter_next(&w));
    pdata_iter_init(&w, pd, 1);
    assert_null(pdata_iter_next(&w));
    pdata_iter_init(&w, pd, 4);
    assert_null(pdata_iter_next(&w));
    pdata_count(pd, 0, &np, &ns);
    assert_int_equal(np, 3);
    assert_int_equal(ns, 12);
    pdata_count(pd, 9, &np, &ns);
    assert_int_equal(np, 0);
    assert_int_equal(ns, 0);
    assert_int_equal(pdata_profile_count(pd), 4);
    assert_int_equal(pdata_sample_count(pd), 23);
    pdata_free(pd);
}

PC_STATIC_ASSERT(sizeof(int32_t) == 4, "PC_STATIC_ASSERT at file scope");

/* Active builds: a false PC_ASSERT prints file:line and the expression and
 * aborts. Release builds: the condition is not evaluated. */
static void test_assert(void **state)
{
    int n = 0, fds[2], status;
    char out[256] = "";
    ssize_t got;
    pid_t pid;

    (void)state;
    PC_ASSERT(n == 0);
#if defined(PROFCOL_ASSERTS) && PROFCOL_ASSERTS
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        PC_ASSERT(n == 42);
        _exit(0);
    }
    close(fds[1]);
    got = read(fds[0], out, sizeof(out) - 1);
    close(fds[0]);
    assert_true(got > 0);
    out[got] = '\0';
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    assert_non_null(strstr(out, "test_base.c:"));
    assert_non_null(strstr(out, "assertion failed: n == 42"));
#else
    (void)fds;
    (void)status;
    (void)out;
    (void)got;
    (void)pid;
    PC_ASSERT(++n == 42);
    assert_int_equal(n, 0);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arena_alignment_and_limit),
        cmocka_unit_test(test_arena_cleanup),
        cmocka_unit_test(test_buf_bound),
        cmocka_unit_test(test_pb_varint_roundtrip),
        cmocka_unit_test(test_pb_varint28),
        cmocka_unit_test(test_pb_nested_length_patch),
        cmocka_unit_test(test_gzip_roundtrip_and_bomb),
        cmocka_unit_test(test_gzip_level1),
        cmocka_unit_test(test_intern_table),
        cmocka_unit_test(test_pdata_tables),
        cmocka_unit_test(test_pdata_iter),
        cmocka_unit_test(test_assert),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
