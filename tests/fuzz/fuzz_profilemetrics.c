/*
 * fuzz_profilemetrics.c: profilemetrics rules evaluated on whatever the
 * pprof decoder accepts (indices, labels and values as hostile as it lets
 * through): a total, a function regex and a sample-label group, then the
 * exposition. Nothing may crash; the exposition must end with a newline
 * when it is not empty.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/pprof.h"
#include "exporters/profilemetrics/pm_rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pm_rules *rules(void)
{
    static char *g1[] = {"service_name", "span_name"};
    static char *g2[] = {"__name__"};
    static struct pm_rule_cfg c[3] = {
        {"cpu_total", "", "cpu", "", {g1, 2}},
        {"fn_total", "{__name__=~\".+\"}", "samples", "^main\\.|a+b", {g2, 1}},
        {"any_total", "", "", "", {NULL, 0}},
    };
    static struct pm_rules *r;
    struct errctx e = {{0}};

    if (r == NULL && pm_rules_new(c, 3, 64, &r, &e) != PC_OK) {
        abort();
    }
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct errctx e = {{0}};
    struct batch *b = batch_new("fuzz");
    struct item *it = batch_add_item(b);
    struct buf out;

    it->format = PAYLOAD_PPROF;
    it->raw = blob_new(data, size);
    it->nprofiles = 1;
    item_set_attr_str(b, it, "service.name", "s", 1);
    (void)pm_rules_eval_item(rules(), b, it, &e);
    buf_init(&out, 64u << 20);
    if (pm_store_render(pm_rules_store(rules()), &out) != PC_OK ||
        (out.len > 0 && out.data[out.len - 1] != '\n')) {
        abort();
    }
    buf_free(&out);
    batch_unref(b);
    return 0;
}
