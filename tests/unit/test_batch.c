/* test_batch.c: when an item's received OTLP bytes may go on as they are
 * (item_note_raw_attrs, item_otlp_as_received). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/otlp.h"
#include "component/batch.h"

static struct keyvalue kv_str(const char *k, const char *v)
{
    struct keyvalue kv;

    memset(&kv, 0, sizeof(kv));
    kv.key.ptr = k;
    kv.key.len = (uint32_t)strlen(k);
    kv.value.type = AV_STRING;
    kv.value.u.s.ptr = v;
    kv.value.u.s.len = (uint32_t)strlen(v);
    return kv;
}

/* An item as the otlp receiver makes it from a one-resource request whose
 * resource has res's n attributes. */
static struct item *received(struct batch *b, const struct keyvalue *kvs,
                             uint32_t n)
{
    static const uint8_t wire[] = {0x0a, 0x00};
    struct resource res;
    struct item *it = batch_add_item(b);

    memset(&res, 0, sizeof(res));
    res.attrs = (struct keyvalue *)kvs;
    res.nattrs = n;
    assert_non_null(it);
    it->format = PAYLOAD_OTLP;
    it->raw = blob_new(wire, sizeof(wire));
    assert_int_equal(item_set_resource_attrs(b, it, &res), PC_OK);
    assert_int_equal(item_note_raw_attrs(b, it, &res), PC_OK);
    return it;
}

static void test_unchanged_goes_as_received(void **state)
{
    struct keyvalue kvs[2] = {kv_str("service.name", "checkout"),
                              kv_str("host.name", "h1")};
    struct batch *b = batch_new("otlp");
    struct item *it = received(b, kvs, 2);
    struct batch *c;

    (void)state;
    assert_true(item_otlp_as_received(it));
    /* An internal attribute is not sent: the bytes still say the same. */
    assert_int_equal(item_set_attr_str(b, it, "__tenant", "t", 1), PC_OK);
    assert_true(item_otlp_as_received(it));
    /* The same value set again changes nothing. */
    assert_int_equal(item_set_attr_str(b, it, "host.name", "h1", 2), PC_OK);
    assert_true(item_otlp_as_received(it));

    /* A clone keeps the note; changing the clone leaves the original. */
    c = batch_clone(b);
    assert_non_null(c);
    assert_true(item_otlp_as_received(&c->items[0]));
    assert_int_equal(item_set_attr_str(c, &c->items[0], "host.name", "h2", 2),
                     PC_OK);
    assert_false(item_otlp_as_received(&c->items[0]));
    assert_true(item_otlp_as_received(it));
    batch_unref(c);
    batch_unref(b);
}

static void test_changes_need_an_encoding(void **state)
{
    struct keyvalue kvs[2] = {kv_str("service.name", "checkout"),
                              kv_str("host.name", "h1")};
    struct batch *b = batch_new("otlp");
    struct item *it;

    (void)state;
    it = received(b, kvs, 2);
    assert_int_equal(item_set_attr_str(b, it, "env", "prod", 4), PC_OK);
    assert_false(item_otlp_as_received(it)); /* added */

    it = received(b, kvs, 2);
    assert_int_equal(item_del_attr(it, "host.name"), PC_OK);
    assert_false(item_otlp_as_received(it)); /* removed */

    it = received(b, kvs, 2);
    {
        struct keyvalue t = it->attrs[0];
        it->attrs[0] = it->attrs[1];
        it->attrs[1] = t;
    }
    assert_false(item_otlp_as_received(it)); /* reordered in place */

    it = received(b, kvs, 2);
    it->resource = 0;
    assert_false(item_otlp_as_received(it)); /* a part of its request */

    it = received(b, kvs, 2);
    it->format = PAYLOAD_PPROF;
    assert_false(item_otlp_as_received(it));
    batch_unref(b);
}

static void test_not_noted(void **state)
{
    struct keyvalue dup[2] = {kv_str("a", "1"), kv_str("a", "2")};
    struct keyvalue internal[1] = {kv_str("__name__", "cpu")};
    struct batch *b = batch_new("otlp");
    struct item *it;

    (void)state;
    /* The item keeps one of two equal keys: it no longer says what the
     * bytes say. */
    it = received(b, dup, 2);
    assert_int_equal(it->nattrs, 1);
    assert_false(item_otlp_as_received(it));
    /* An encoder leaves `__*` attributes out; the bytes would carry it. */
    it = received(b, internal, 1);
    assert_false(item_otlp_as_received(it));
    /* Not noted at all (another receiver, a batch read back from disk). */
    it = batch_add_item(b);
    it->format = PAYLOAD_OTLP;
    it->raw = blob_new("x", 1);
    assert_false(item_otlp_as_received(it));
    batch_unref(b);
}

static void test_payload_change_drops_it(void **state)
{
    struct keyvalue kvs[1] = {kv_str("service.name", "checkout")};
    struct batch *b = batch_new("otlp");
    struct item *it = received(b, kvs, 1);
    struct pdata *pd = NULL, *mut = NULL;
    struct errctx e = {{0}};

    (void)state;
    assert_int_equal(otlp_decode(NULL, 0, NULL, &pd, &e), PC_OK);
    it->pd = shared_pdata_new(pd);
    assert_non_null(it->pd);
    assert_true(item_otlp_as_received(it));
    assert_int_equal(batch_item_payload_mut(b, it, &mut, &e), PC_OK);
    assert_null(it->raw);
    assert_false(item_otlp_as_received(it));
    batch_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unchanged_goes_as_received),
        cmocka_unit_test(test_changes_need_an_encoding),
        cmocka_unit_test(test_not_noted),
        cmocka_unit_test(test_payload_change_drops_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
