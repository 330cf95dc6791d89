/* test_lb_ring.c: the consistent-hash ring of the loadbalancing exporter:
 * balance, minimal movement on membership changes, determinism. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "exporters/loadbalancing/lb_dns.h"
#include "exporters/loadbalancing/lb_ring.h"
#include "core/err.h"

#define NKEYS 1000

static const char *const five[] = {
    "127.0.0.2:4317", "127.0.0.3:4317", "127.0.0.4:4317",
    "127.0.0.5:4317", "127.0.0.6:4317",
};

/* The owner's name of key i ("service-i"). */
static const char *owner_of(const struct lb_ring *r, int i)
{
    char key[32];
    int n = snprintf(key, sizeof(key), "service-%d", i);
    int m = lb_ring_lookup(r, lb_ring_hash(key, (size_t)n));

    assert_true(m >= 0);
    return r->members[m];
}

static struct lb_ring *build(const char *const *m, uint32_t n)
{
    struct lb_ring *r = NULL;

    assert_int_equal(lb_ring_build(m, n, &r), PC_OK);
    assert_non_null(r);
    return r;
}

/* 1000 keys over 5 backends: each gets 20% +- 5 points (binomial noise
 * alone is +-1.3 points at one sigma), and the arcs of the circle each
 * member owns are within 20% +- 3 points (that is the ring's part). */
static void test_distribution(void **state)
{
    struct lb_ring *r = build(five, 5);
    int count[5] = {0}, i, j;
    double arc[5] = {0};
    uint32_t p;

    (void)state;
    assert_int_equal(r->nmembers, 5);
    assert_int_equal(r->npoints, 5 * LB_RING_VNODES);
    for (i = 0; i < NKEYS; i++) {
        const char *o = owner_of(r, i);
        for (j = 0; j < 5; j++) {
            count[j] += strcmp(o, r->members[j]) == 0;
        }
    }
    /* The arc ending at point p belongs to p's member. */
    for (p = 0; p < r->npoints; p++) {
        uint64_t prev = p == 0 ? r->points[r->npoints - 1].hash
                               : r->points[p - 1].hash;
        arc[r->points[p].member] += (double)(uint64_t)(r->points[p].hash -
                                                       prev) /
                                    18446744073709551616.0;
    }
    for (j = 0; j < 5; j++) {
        print_message("member %s: %d keys, arc %.3f\n", r->members[j],
                      count[j], arc[j]);
        assert_in_range(count[j], 150, 250);
        assert_true(arc[j] > 0.17 && arc[j] < 0.23);
    }
    lb_ring_free(r);
}

/* Adding a sixth member moves about 1/6 of the keys, all to it. */
static void test_add_member(void **state)
{
    const char *six[6];
    struct lb_ring *a = build(five, 5), *b;
    int i, moved = 0;

    (void)state;
    memcpy(six, five, sizeof(five));
    six[5] = "127.0.0.7:4317";
    b = build(six, 6);
    for (i = 0; i < NKEYS; i++) {
        const char *oa = owner_of(a, i), *ob = owner_of(b, i);
        if (strcmp(oa, ob) != 0) {
            moved++;
            assert_string_equal(ob, "127.0.0.7:4317");
        }
    }
    print_message("add: %d of %d keys moved\n", moved, NKEYS);
    assert_in_range(moved, NKEYS / 6 - 60, NKEYS / 6 + 60);
    lb_ring_free(a);
    lb_ring_free(b);
}

/* Removing a member moves exactly its keys, spread over the others. */
static void test_remove_member(void **state)
{
    struct lb_ring *a = build(five, 5), *b = build(five, 4);
    int i, moved = 0, owned = 0;

    (void)state;
    for (i = 0; i < NKEYS; i++) {
        const char *oa = owner_of(a, i), *ob = owner_of(b, i);
        int was_removed = strcmp(oa, five[4]) == 0;
        owned += was_removed;
        if (strcmp(oa, ob) != 0) {
            moved++;
            assert_true(was_removed);
        } else {
            assert_false(was_removed);
        }
    }
    print_message("remove: %d of %d keys moved\n", moved, NKEYS);
    assert_int_equal(moved, owned);
    assert_in_range(moved, NKEYS / 5 - 60, NKEYS / 5 + 60);
    lb_ring_free(a);
    lb_ring_free(b);
}

/* The ring depends on the set only: order and duplicates do not matter. */
static void test_deterministic(void **state)
{
    const char *shuffled[] = {
        "127.0.0.6:4317", "127.0.0.3:4317", "127.0.0.2:4317",
        "127.0.0.6:4317", "127.0.0.5:4317", "127.0.0.4:4317",
    };
    struct lb_ring *a = build(five, 5), *b = build(shuffled, 6);
    int i;

    (void)state;
    assert_int_equal(b->nmembers, 5);
    for (i = 0; i < NKEYS; i++) {
        assert_string_equal(owner_of(a, i), owner_of(b, i));
    }
    assert_int_equal(lb_ring_find(a, "127.0.0.4:4317"), 2);
    assert_int_equal(lb_ring_find(a, "127.0.0.9:4317"), -1);
    lb_ring_free(a);
    lb_ring_free(b);
}

static void test_empty_and_limits(void **state)
{
    struct lb_ring *r = build(NULL, 0);

    (void)state;
    assert_int_equal(lb_ring_lookup(r, 42), -1);
    assert_int_equal(lb_ring_lookup(NULL, 42), -1);
    lb_ring_free(r);
    assert_int_equal(lb_ring_build(five, LB_RING_MAX_MEMBERS + 1, &r),
                     PC_EINVAL);
    /* A single member owns everything, including keys past the last point. */
    r = build(five, 1);
    assert_int_equal(lb_ring_lookup(r, UINT64_MAX), 0);
    assert_int_equal(lb_ring_lookup(r, 0), 0);
    lb_ring_free(r);
}

static void test_dns_server_parse(void **state)
{
    struct sockaddr_in sin;
    char **eps = NULL, err[128];
    uint32_t n = 0;

    (void)state;
    assert_int_equal(lb_dns_parse_server("127.0.0.1:5353", &sin), PC_OK);
    assert_int_equal(ntohs(sin.sin_port), 5353);
    assert_int_equal(lb_dns_parse_server("127.0.0.1", &sin), PC_EINVAL);
    assert_int_equal(lb_dns_parse_server("127.0.0.1:0", &sin), PC_EINVAL);
    assert_int_equal(lb_dns_parse_server("name:53", &sin), PC_EINVAL);
    /* IP literals need no server. */
    assert_int_equal(lb_dns_resolve("::1", 4317, NULL, 1000, &eps, &n, err,
                                    sizeof(err)),
                     PC_OK);
    assert_int_equal(n, 1);
    assert_string_equal(eps[0], "[::1]:4317");
    lb_dns_free(eps, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distribution),
        cmocka_unit_test(test_add_member),
        cmocka_unit_test(test_remove_member),
        cmocka_unit_test(test_deterministic),
        cmocka_unit_test(test_empty_and_limits),
        cmocka_unit_test(test_dns_server_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
