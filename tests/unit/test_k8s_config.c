/*
 * test_k8s_config.c: kubernetes_sd_configs keys and Prometheus's checks
 * across them (roles, selectors per role, own_namespace, HTTP keys only
 * with api_server, one auth kind), and kubeconfig files (current context,
 * inline CA, tokens, exec plugins refused).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config/cfg.h"
#include "config/ynode.h"
#include "discovery/k8s_cfg.h"
#include "discovery/k8s_kubeconfig.h"

/* Decodes one entry and runs the checks; returns the errors' text. */
static int check(const char *yaml, char *msgs, size_t len)
{
    struct ydoc doc;
    struct k8s_sd_cfg c;
    struct cfg_diag d;
    char err[256];
    size_t used = 0;
    uint32_t i;
    int failed;

    memset(&c, 0, sizeof(c));
    memset(&d, 0, sizeof(d));
    msgs[0] = '\0';
    assert_int_equal(ydoc_load_string("t", yaml, &doc, err, sizeof(err)),
                     PC_OK);
    if (cfg_decode(k8s_sd_cfg_table, doc.root, &c, &d) == PC_OK) {
        k8s_sd_cfg_check(&c, doc.root, &d);
    }
    for (i = 0; i < d.nerrors && used < len; i++) {
        used += (size_t)snprintf(msgs + used, len - used, "%s\n", d.errors[i]);
    }
    failed = cfg_diag_failed(&d);
    cfg_release(k8s_sd_cfg_table, &c);
    cfg_diag_free(&d);
    ydoc_free(&doc);
    return failed;
}

static void test_checks(void **state)
{
    char m[2048];

    (void)state;
    assert_false(check("role: pod\n", m, sizeof(m)));
    assert_false(check("role: endpointslice\n"
                       "api_server: https://10.0.0.1:6443\n"
                       "bearer_token_file: /t\n"
                       "tls_config: {ca_file: /ca}\n"
                       "namespaces: {names: [a, b]}\n"
                       "selectors:\n"
                       "  - {role: pod, field: spec.nodeName=n}\n"
                       "  - {role: service, label: app=x}\n"
                       "attach_metadata: {node: true}\n",
                       m, sizeof(m)));
    assert_true(check("role: ingress\n", m, sizeof(m)));
    assert_true(check("role: pod\nselectors:\n  - {role: service}\n", m,
                      sizeof(m)));
    assert_non_null(strstr(m, "pod role supports only"));
    assert_true(check("role: pod\nselectors:\n  - {role: pod}\n"
                      "  - {role: pod}\n",
                      m, sizeof(m)));
    assert_non_null(strstr(m, "duplicated selector role: pod"));
    assert_true(check("role: pod\napi_server: https://a\n"
                      "namespaces: {own_namespace: true}\n",
                      m, sizeof(m)));
    assert_non_null(strstr(m, "in-cluster only"));
    assert_true(check("role: node\nbearer_token: x\n", m, sizeof(m)));
    assert_non_null(strstr(m, "api_server must be set"));
    assert_true(check("role: node\napi_server: https://a\n"
                      "kubeconfig_file: /k\n",
                      m, sizeof(m)));
    assert_true(check("role: node\napi_server: https://a\nbearer_token: x\n"
                      "bearer_token_file: /t\n",
                      m, sizeof(m)));
    assert_true(check("role: node\napi_server: ftp://a\n", m, sizeof(m)));
    assert_true(check("role: node\napi_server: https://a\n"
                      "tls_config: {cert_file: /c}\n",
                      m, sizeof(m)));
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/test_k8s_kubeconfig.XXXXXX");
    int fd = mkstemp(path);
    FILE *f;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Loads text as a kubeconfig file in /tmp (removed again) into k. */
static int load_text(const char *text, struct k8s_conn *k, struct errctx *e)
{
    char *p = write_tmp(text);
    int rc;

    memset(k, 0, sizeof(*k));
    rc = k8s_kubeconfig_load(p, k, e);
    unlink(p);
    free(p);
    return rc;
}

static void test_kubeconfig(void **state)
{
    struct k8s_conn k;
    struct errctx e = {{0}};

    (void)state;
    /* "-----BEGIN" in base64 is LS0tLS1CRUdJTg== */
    assert_int_equal(
        load_text("apiVersion: v1\nkind: Config\ncurrent-context: b\n"
                  "clusters:\n"
                  "  - {name: one, cluster: {server: 'https://one:6443'}}\n"
                  "  - name: two\n"
                  "    cluster:\n"
                  "      server: https://two:6443\n"
                  "      certificate-authority-data: LS0tLS1CRUdJTg==\n"
                  "      insecure-skip-tls-verify: true\n"
                  "contexts:\n"
                  "  - {name: a, context: {cluster: one, user: u1}}\n"
                  "  - {name: b, context: {cluster: two, user: u2}}\n"
                  "users:\n"
                  "  - {name: u1, user: {token: one}}\n"
                  "  - {name: u2, user: {tokenFile: /var/run/t}}\n",
                  &k, &e),
        PC_OK);
    assert_string_equal(k.server, "https://two:6443");
    assert_string_equal(k.token_file, "/var/run/t");
    assert_null(k.token);
    assert_int_equal(k.insecure, 1);
    assert_int_equal(k.ca_data.len, 10);
    assert_memory_equal(k.ca_data.data, "-----BEGIN", 10);
    k8s_conn_release(&k);

    assert_int_equal(
        load_text("current-context: a\n"
                  "clusters: [{name: c, cluster: {server: 'https://c'}}]\n"
                  "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
                  "users: [{name: u, user: {exec: {command: aws}}}]\n",
                  &k, &e),
        PC_EUNSUPPORTED);
    assert_non_null(strstr(e.msg, "exec"));
    k8s_conn_release(&k);

    /* Relative files are relative to the kubeconfig's folder (kubectl's
     * rule; kind and minikube write them so); absolute ones stay. */
    assert_int_equal(
        load_text("current-context: a\n"
                  "clusters: [{name: c, cluster: {server: 'https://c', "
                  "certificate-authority: ca.crt}}]\n"
                  "contexts: [{name: a, context: {cluster: c, user: u}}]\n"
                  "users: [{name: u, user: {client-certificate: "
                  "certs/me.crt, client-key: /etc/me.key, "
                  "tokenFile: ../t}}]\n",
                  &k, &e),
        PC_OK);
    assert_string_equal(k.ca_file, "/tmp/ca.crt");
    assert_string_equal(k.cert_file, "/tmp/certs/me.crt");
    assert_string_equal(k.key_file, "/etc/me.key");
    assert_string_equal(k.token_file, "/tmp/../t");
    k8s_conn_release(&k);

    assert_int_equal(load_text("current-context: missing\nclusters: []\n", &k,
                               &e),
                     PC_ECONFIG);
    assert_non_null(strstr(e.msg, "missing"));
    k8s_conn_release(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_kubeconfig),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
