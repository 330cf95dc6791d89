/*
 * test_relabel.c: Prometheus relabeling of the scrape receiver, table
 * driven: every action, anchoring, replacement expansion ($1, ${1}, $name,
 * $$, malformed references), hashmod values (md5, last 8 bytes big-endian,
 * computed independently with Python's hashlib), rule checks, and the
 * label-set helpers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "config/ynode.h"
#include "receivers/scrape/relabel.h"

struct rules_doc {
    struct cfg_list rules;
};

/* clang-format off */
static const struct cfg_entry doc_table[] = {
    {.key = "rules", .type = CFG_SECTION_LIST, .sub = relabel_cfg_table,
     .sub_size = sizeof(struct relabel_cfg),
     .offset = offsetof(struct rules_doc, rules)},
    {.key = NULL},
};
/* clang-format on */

/* "a=1,b=2" -> label set ('|' separates instead when a value has ','). */
static void parse_labels(const char *spec, struct labelset *ls)
{
    char *copy = strdup(spec), *save = NULL, *tok;
    const char *sep = strchr(spec, '|') != NULL ? "|" : ",";

    labels_init(ls);
    for (tok = strtok_r(copy, sep, &save); tok != NULL;
         tok = strtok_r(NULL, sep, &save)) {
        char *eq = strchr(tok, '=');
        assert_non_null(eq);
        *eq = '\0';
        assert_int_equal(labels_set(ls, tok, eq + 1), PC_OK);
    }
    free(copy);
}

static void format_labels(const struct labelset *ls, char *out, size_t len)
{
    size_t off = 0;
    uint32_t i;

    out[0] = '\0';
    for (i = 0; i < ls->n; i++) {
        off += (size_t)snprintf(out + off, len - off, "%s%s=%s", i ? "," : "",
                                ls->v[i].name, ls->v[i].value);
    }
}

struct rcase {
    const char *name;
    const char *yaml; /* "rules:\n  - ..." */
    const char *in;
    const char *want; /* NULL = dropped */
};

/* Runs one case; returns relabel_apply's result. */
static int run_case(const struct rcase *c, char *got, size_t gotlen)
{
    struct ydoc doc;
    struct cfg_diag d = {0};
    struct rules_doc rd;
    struct relabel_rules rules;
    struct errctx e = {{0}};
    struct labelset ls;
    char err[256];
    int rc;

    memset(&rd, 0, sizeof(rd));
    assert_int_equal(ydoc_load_string("case", c->yaml, &doc, err, sizeof(err)),
                     PC_OK);
    if (cfg_decode(doc_table, doc.root, &rd, &d) != PC_OK) {
        fail_msg("%s: config: %s", c->name, d.nerrors ? d.errors[0] : "?");
    }
    if (relabel_compile(rd.rules.items, rd.rules.n, &rules, &e) != PC_OK) {
        fail_msg("%s: compile: %s", c->name, e.msg);
    }
    parse_labels(c->in, &ls);
    rc = relabel_apply(&rules, &ls);
    format_labels(&ls, got, gotlen);
    labels_free(&ls);
    relabel_free(&rules);
    cfg_release(doc_table, &rd);
    cfg_diag_free(&d);
    ydoc_free(&doc);
    return rc;
}

static const struct rcase cases[] = {
    {"replace default regex and replacement",
     "rules:\n  - source_labels: [a]\n    target_label: b\n", "a=x",
     "a=x,b=x"},
    {"replace joins sources with separator",
     "rules:\n  - source_labels: [a, c]\n    separator: '/'\n"
     "    target_label: b\n",
     "a=x,c=y", "a=x,b=x/y,c=y"},
    {"replace default separator ';' and a missing source",
     "rules:\n  - source_labels: [a, missing, c]\n    target_label: b\n",
     "a=x,c=y", "a=x,b=x;;y,c=y"},
    {"replace is anchored: no partial match",
     "rules:\n  - source_labels: [a]\n    regex: 'oo'\n    target_label: b\n"
     "    replacement: hit\n",
     "a=foo", "a=foo"},
    {"replace anchored: the whole value matches",
     "rules:\n  - source_labels: [a]\n    regex: 'f(o+)'\n"
     "    target_label: b\n    replacement: 'got-$1'\n",
     "a=foo", "a=foo,b=got-oo"},
    {"anchoring is not fooled by a trailing newline",
     "rules:\n  - source_labels: [a]\n    regex: 'foo'\n    action: drop\n",
     "a=foo\n", "a=foo\n"},
    {"dot matches newline (?s)",
     "rules:\n  - source_labels: [a]\n    regex: 'x.y'\n    action: keep\n",
     "a=x\ny", "a=x\ny"},
    {"alternation is wrapped in one group",
     "rules:\n  - source_labels: [a]\n    regex: 'b|foo'\n    action: keep\n",
     "a=foo", "a=foo"},
    {"no match: nothing changes",
     "rules:\n  - source_labels: [a]\n    regex: 'bar'\n    target_label: b\n",
     "a=foo,b=old", "a=foo,b=old"},
    {"empty replacement deletes the target",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    replacement: ''\n",
     "a=foo,b=old", "a=foo"},
    {"${1} and $name expansion, $$ literal",
     "rules:\n  - source_labels: [a]\n    regex: '(?P<host>[^:]+):(\\d+)'\n"
     "    target_label: b\n    replacement: '$host-$${2}-$$$$'\n",
     "a=web:8080", "a=web:8080,b=web-8080-$"},
    {"$1x is the group named 1x (absent): empty",
     "rules:\n  - source_labels: [a]\n    regex: '(.*)'\n    target_label: b\n"
     "    replacement: '$1x-z'\n",
     "a=foo", "a=foo,b=-z"},
    {"malformed reference keeps the $",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    replacement: 'cost $ 5'\n",
     "a=foo", "a=foo,b=cost $ 5"},
    {"target_label expands groups",
     "rules:\n  - source_labels: [a]\n    regex: '(\\w+)=(\\w+)'\n"
     "    target_label: 'tag_$1'\n    replacement: '$2'\n",
     "a=env=prod", "a=env=prod,tag_env=prod"},
    {"invalid expanded target_label: no change",
     "rules:\n  - source_labels: [a]\n    regex: '(.*)'\n"
     "    target_label: '$1'\n",
     "a=9bad", "a=9bad"},
    {"keep keeps on match",
     "rules:\n  - source_labels: [a]\n    regex: 'fo+'\n    action: keep\n",
     "a=foo", "a=foo"},
    {"keep drops on no match",
     "rules:\n  - source_labels: [a]\n    regex: 'bar'\n    action: keep\n",
     "a=foo", NULL},
    {"drop drops on match",
     "rules:\n  - source_labels: [a]\n    regex: 'foo'\n    action: drop\n",
     "a=foo", NULL},
    {"drop keeps on no match",
     "rules:\n  - source_labels: [a]\n    regex: 'bar'\n    action: drop\n",
     "a=foo", "a=foo"},
    {"keep with an absent source matches the empty string",
     "rules:\n  - source_labels: [nope]\n    regex: ''\n    action: keep\n",
     "a=foo", "a=foo"},
    {"hashmod 127.0.0.1:9090 % 10 = 8",
     "rules:\n  - source_labels: [__address__]\n    modulus: 10\n"
     "    target_label: shard\n    action: hashmod\n",
     "__address__=127.0.0.1:9090", "__address__=127.0.0.1:9090,shard=8"},
    {"hashmod foo % 1000 = 696",
     "rules:\n  - source_labels: [a]\n    modulus: 1000\n"
     "    target_label: h\n    action: hashmod\n",
     "a=foo", "a=foo,h=696"},
    {"hashmod of joined a;b % 7 = 2",
     "rules:\n  - source_labels: [a, b]\n    modulus: 7\n"
     "    target_label: h\n    action: hashmod\n",
     "a=a,b=b", "a=a,b=b,h=2"},
    {"hashmod with a huge modulus uses all 64 bits",
     "rules:\n  - source_labels: [a]\n    modulus: 4611686018427387904\n"
     "    target_label: h\n    action: hashmod\n",
     "a=node-17.example.com:8080",
     "a=node-17.example.com:8080,h=4456695013899644729"},
    {"hashmod then keep one shard",
     "rules:\n  - source_labels: [a]\n    modulus: 1000\n"
     "    target_label: __tmp\n    action: hashmod\n"
     "  - source_labels: [__tmp]\n    regex: '695'\n    action: keep\n",
     "a=foo", NULL},
    {"labelmap copies matching labels under new names",
     "rules:\n  - regex: '__meta_k8s_label_(.+)'\n    action: labelmap\n",
     "__meta_k8s_label_app=web,__meta_k8s_label_tier=fe,x=1",
     "__meta_k8s_label_app=web,__meta_k8s_label_tier=fe,app=web,tier=fe,x=1"},
    {"labelmap with a replacement template",
     "rules:\n  - regex: 'm_(.+)'\n    replacement: 'k_$1'\n"
     "    action: labelmap\n",
     "m_a=1,z=2", "k_a=1,m_a=1,z=2"},
    {"labeldrop removes matching names (anchored)",
     "rules:\n  - regex: 'tmp_.*'\n    action: labeldrop\n",
     "tmp_a=1,tmp_b=2,atmp_c=3,keep=4", "atmp_c=3,keep=4"},
    {"labelkeep keeps only matching names",
     "rules:\n  - regex: '__address__|job'\n    action: labelkeep\n",
     "__address__=h:1,job=j,other=o", "__address__=h:1,job=j"},
    {"lowercase",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    action: lowercase\n",
     "a=MiXeD", "a=MiXeD,b=mixed"},
    {"uppercase",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    action: uppercase\n",
     "a=MiXeD", "a=MiXeD,b=MIXED"},
    {"keepequal keeps when equal",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    action: keepequal\n",
     "a=1,b=1", "a=1,b=1"},
    {"keepequal drops when different",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    action: keepequal\n",
     "a=1,b=2", NULL},
    {"dropequal drops when equal",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "    action: dropequal\n",
     "a=1,b=1", NULL},
    {"rules apply in order",
     "rules:\n  - source_labels: [a]\n    target_label: b\n"
     "  - source_labels: [b]\n    regex: '(.)(.)'\n    target_label: c\n"
     "    replacement: '$2$1'\n",
     "a=xy", "a=xy,b=xy,c=yx"},
    {"Prometheus address rewrite with a port",
     "rules:\n  - source_labels: [__address__, __meta_port]\n"
     "    regex: '([^:]+)(?::\\d+)?;(\\d+)'\n    target_label: __address__\n"
     "    replacement: '$1:$2'\n",
     "__address__=10.0.0.1:80,__meta_port=6060",
     "__address__=10.0.0.1:6060,__meta_port=6060"},
};

static void test_cases(void **state)
{
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char got[1024];
        int rc = run_case(&cases[i], got, sizeof(got));
        if (cases[i].want == NULL) {
            if (rc != 0) {
                fail_msg("%s: want dropped, got rc=%d labels=%s",
                         cases[i].name, rc, got);
            }
        } else if (rc != 1 || strcmp(got, cases[i].want) != 0) {
            fail_msg("%s:\n  want %s\n  got  %s (rc=%d)", cases[i].name,
                     cases[i].want, got, rc);
        }
    }
}

/* Configurations Prometheus refuses are refused with a message. */
static void test_bad_rules(void **state)
{
    static const struct {
        struct relabel_cfg cfg;
        const char *msg;
    } bad[] = {
        {{.regex = "(.*)",
          .separator = ";",
          .replacement = "$1",
          .action = RELABEL_REPLACE},
         "requires 'target_label'"},
        {{.regex = "(.*)",
          .separator = ";",
          .replacement = "$1",
          .target_label = "h",
          .action = RELABEL_HASHMOD},
         "modulus"},
        {{.regex = "(",
          .separator = ";",
          .replacement = "$1",
          .target_label = "t",
          .action = RELABEL_REPLACE},
         "invalid regex"},
        {{.regex = "(.*)",
          .separator = ";",
          .replacement = "$1",
          .target_label = "t",
          .action = RELABEL_LABELDROP},
         "only 'regex'"},
        {{.regex = "(.*)",
          .separator = ";",
          .replacement = "$1",
          .target_label = "bad-name",
          .action = RELABEL_LOWERCASE},
         "not a valid label name"},
        {{.regex = "x",
          .separator = ";",
          .replacement = "$1",
          .target_label = "t",
          .action = RELABEL_KEEPEQUAL},
         "only 'source_labels'"},
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct relabel_rules r;
        struct errctx e = {{0}};
        assert_int_equal(relabel_compile(&bad[i].cfg, 1, &r, &e), PC_ECONFIG);
        if (strstr(e.msg, bad[i].msg) == NULL ||
            strstr(e.msg, "relabel_configs[0]") == NULL) {
            fail_msg("case %zu: message '%s' lacks '%s'", i, e.msg,
                     bad[i].msg);
        }
    }
}

/* ${1} written directly (no YAML, whose ${...} is an env reference). */
static void test_braced_group(void **state)
{
    struct relabel_cfg c = {.regex = "(a)(b)",
                            .separator = ";",
                            .replacement = "${2}${1}${01}$0",
                            .target_label = "t",
                            .action = RELABEL_REPLACE};
    const char *src[] = {"s"};
    struct relabel_rules r;
    struct errctx e = {{0}};
    struct labelset ls;

    (void)state;
    c.source_labels.items = (char **)src;
    c.source_labels.n = 1;
    assert_int_equal(relabel_compile(&c, 1, &r, &e), PC_OK);
    labels_init(&ls);
    assert_int_equal(labels_set(&ls, "s", "ab"), PC_OK);
    assert_int_equal(relabel_apply(&r, &ls), 1);
    /* ${01} has a leading zero: a name, absent; $0 is the whole match. */
    assert_string_equal(labels_get(&ls, "t"), "baab");
    labels_free(&ls);
    relabel_free(&r);
}

static void test_labelset(void **state)
{
    struct labelset a, b;
    char big[LABEL_VALUE_MAX + 2];
    int i;

    (void)state;
    labels_init(&a);
    assert_int_equal(labels_set(&a, "z", "1"), PC_OK);
    assert_int_equal(labels_set(&a, "a", "2"), PC_OK);
    assert_int_equal(labels_set(&a, "m", "3"), PC_OK);
    assert_string_equal(a.v[0].name, "a");
    assert_string_equal(a.v[2].name, "z");
    assert_int_equal(labels_copy(&b, &a), PC_OK);
    assert_true(labels_equal(&a, &b));
    assert_int_equal(labels_hash(&a), labels_hash(&b));
    labels_del(&b, "m");
    assert_false(labels_equal(&a, &b));
    assert_null(labels_get(&b, "m"));
    /* {ab="c"} and {a="bc"} must not hash alike. */
    labels_free(&b);
    labels_init(&b);
    labels_set(&b, "ab", "c");
    labels_free(&a);
    labels_init(&a);
    labels_set(&a, "a", "bc");
    assert_int_not_equal(labels_hash(&a), labels_hash(&b));
    /* Bounds. */
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(labels_set(&a, "big", big), PC_ETOOBIG);
    for (i = 0; i < LABELS_MAX + 5; i++) {
        char n[16];
        snprintf(n, sizeof(n), "l%d", i);
        if (labels_set(&a, n, "v") != PC_OK) {
            break;
        }
    }
    assert_int_equal(a.n, LABELS_MAX);
    labels_free(&a);
    labels_free(&b);
    assert_true(label_name_valid("_a1"));
    assert_false(label_name_valid("1a"));
    assert_false(label_name_valid("a-b"));
    assert_false(label_name_valid(""));
}

/* A catastrophic pattern stops at the match limit instead of hanging. */
static void test_match_limit(void **state)
{
    struct relabel_cfg c = {.regex = "(a+)+b",
                            .separator = ";",
                            .replacement = "$1",
                            .action = RELABEL_KEEP};
    const char *src[] = {"s"};
    char val[64];
    struct relabel_rules r;
    struct errctx e = {{0}};
    struct labelset ls;

    (void)state;
    c.source_labels.items = (char **)src;
    c.source_labels.n = 1;
    assert_int_equal(relabel_compile(&c, 1, &r, &e), PC_OK);
    memset(val, 'a', sizeof(val) - 1);
    val[sizeof(val) - 1] = '\0';
    labels_init(&ls);
    labels_set(&ls, "s", val);
    assert_int_equal(relabel_apply(&r, &ls), 0); /* no match: dropped */
    labels_free(&ls);
    relabel_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),        cmocka_unit_test(test_bad_rules),
        cmocka_unit_test(test_braced_group), cmocka_unit_test(test_labelset),
        cmocka_unit_test(test_match_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
