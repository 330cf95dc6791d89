/*
 * test_k8s_targets.c: Kubernetes discovery without a network: the labels
 * of each role built from real-shaped API objects (the pod list of the
 * Kubernetes API documentation's shape, a service, a node, endpoints and an
 * endpointslice backed by a pod), label-name sanitizing, IPv6 brackets,
 * watch-event and list-page parsing, line splitting of streams cut
 * anywhere, and relabeling (the Pyroscope pull-mode rules, with an
 * unquoted `regex: true`) of a pod carrying 600 labels and a 200 KiB
 * annotation.
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
#include "discovery/k8s_client.h"
#include "discovery/k8s_event.h"
#include "discovery/k8s_targets.h"
#include "net/peer.h"
#include "receivers/scrape/relabel.h"

/* ---- an emitter collecting label sets ------------------------------------ */

struct got {
    struct labelset t[64];
    char source[64][128];
    int n;
    struct labelset cur;
};

static int got_label(void *ctx, const char *name, const char *value)
{
    struct got *g = ctx;

    return labels_set(&g->cur, name, value);
}

static int got_target(void *ctx, const char *source)
{
    struct got *g = ctx;

    assert_true(g->n < 64);
    g->t[g->n] = g->cur;
    snprintf(g->source[g->n], sizeof(g->source[0]), "%s", source);
    g->n++;
    labels_init(&g->cur);
    return 0;
}

static void got_free(struct got *g)
{
    int i;

    for (i = 0; i < g->n; i++) {
        labels_free(&g->t[i]);
    }
    labels_free(&g->cur);
    g->n = 0;
}

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);

    if (j == NULL) {
        fail_msg("bad test JSON at %d: %s", je.position, je.text);
    }
    return j;
}

/* Targets of role from key -> object maps given as JSON texts. */
static void build(int role, const char *pods, const char *extra, struct got *g)
{
    struct k8s_snap s;
    struct k8s_emit em = {g, got_label, got_target};

    memset(&s, 0, sizeof(s));
    memset(g, 0, sizeof(*g));
    labels_init(&g->cur);
    s.pods = pods != NULL ? load(pods) : NULL;
    if (extra != NULL) {
        json_t *x = load(extra);
        s.services = json_incref(json_object_get(x, "services"));
        s.nodes = json_incref(json_object_get(x, "nodes"));
        s.endpoints = json_incref(json_object_get(x, "endpoints"));
        s.slices = json_incref(json_object_get(x, "slices"));
        json_decref(x);
    }
    assert_int_equal(k8s_targets_build(role, &s, &em), 0);
    json_decref(s.pods);
    json_decref(s.services);
    json_decref(s.nodes);
    json_decref(s.endpoints);
    json_decref(s.slices);
}

static const char *L(const struct labelset *ls, const char *suffix)
{
    char name[256];

    snprintf(name, sizeof(name), "__meta_kubernetes_%s", suffix);
    return labels_get(ls, name);
}

#define CHECKOUT_POD                                                          \
    "{\"metadata\":{\"name\":\"checkout-7d9c6b5f8-xk2lp\",\"namespace\":"     \
    "\"shop\",\"uid\":\"5b0c5f4e\",\"resourceVersion\":\"48190\","            \
    "\"labels\":{\"app.kubernetes.io/name\":\"checkout\","                    \
    "\"pod-template-hash\":\"7d9c6b5f8\"},\"annotations\":{"                  \
    "\"pyroscope.io/scrape\":\"true\",\"pyroscope.io/port\":\"6060\","        \
    "\"profiles.grafana.com/cpu.scrape\":\"true\","                           \
    "\"profiles.grafana.com/cpu.port_name\":\"pprof\"},"                      \
    "\"ownerReferences\":[{\"apiVersion\":\"apps/v1\",\"kind\":"              \
    "\"ReplicaSet\",\"name\":\"checkout-7d9c6b5f8\",\"uid\":\"0e3d\","        \
    "\"controller\":true}]},\"spec\":{\"nodeName\":\"node-a\","               \
    "\"containers\":[{\"name\":\"app\",\"image\":\"reg.example/"              \
    "checkout:1.4\",\"ports\":[{\"name\":\"http\",\"containerPort\":8080,"    \
    "\"protocol\":\"TCP\"},{\"name\":\"pprof\",\"containerPort\":6060,"       \
    "\"protocol\":\"TCP\"}]}]},\"status\":{\"phase\":\"Running\","            \
    "\"hostIP\":\"192.168.10.11\",\"podIP\":\"10.244.1.7\",\"conditions\":"   \
    "[{\"type\":\"Ready\",\"status\":\"True\"}],\"containerStatuses\":[{"     \
    "\"name\":\"app\",\"ready\":true,\"containerID\":"                        \
    "\"containerd://9f1c\"}]}}"

#define WORKER_POD                                                            \
    "{\"metadata\":{\"name\":\"worker-0\",\"namespace\":\"shop\",\"uid\":"    \
    "\"a1b2c3d4\",\"labels\":{\"app\":\"worker\"},\"ownerReferences\":[{"     \
    "\"kind\":\"StatefulSet\",\"name\":\"worker\",\"controller\":true}]},"    \
    "\"spec\":{\"nodeName\":\"node-b\",\"initContainers\":[{\"name\":"        \
    "\"migrate\",\"image\":\"reg.example/migrate:2\"}],\"containers\":[{"     \
    "\"name\":\"worker\",\"image\":\"reg.example/worker:3\"}]},\"status\":{"  \
    "\"phase\":\"Running\",\"podIP\":\"10.244.2.9\",\"conditions\":[{"        \
    "\"type\":\"Ready\",\"status\":\"False\"}],\"containerStatuses\":[{"      \
    "\"name\":\"worker\",\"ready\":false,\"containerID\":"                    \
    "\"containerd://c3d4\"}]}}"

static const struct labelset *by_addr(const struct got *g, const char *addr,
                                      const char *container)
{
    int i;

    for (i = 0; i < g->n; i++) {
        const char *a = labels_get(&g->t[i], "__address__");
        const char *c = L(&g->t[i], "pod_container_name");
        if (a != NULL && strcmp(a, addr) == 0 &&
            (container == NULL || (c != NULL && strcmp(c, container) == 0))) {
            return &g->t[i];
        }
    }
    fail_msg("no target %s %s", addr, container ? container : "");
    return NULL;
}

static void test_pod_role(void **state)
{
    struct got g;
    const struct labelset *t;

    (void)state;
    build(K8S_ROLE_POD,
          "{\"shop/checkout\":" CHECKOUT_POD ",\"shop/worker-0\":" WORKER_POD
          ",\"shop/pending\":{\"metadata\":{\"name\":\"pending\"},\"spec\":{"
          "\"containers\":[{\"name\":\"a\"}]},\"status\":{}}}",
          NULL, &g);
    assert_int_equal(g.n, 4);
    t = by_addr(&g, "10.244.1.7:8080", NULL);
    assert_string_equal(L(t, "namespace"), "shop");
    assert_string_equal(L(t, "pod_name"), "checkout-7d9c6b5f8-xk2lp");
    assert_string_equal(L(t, "pod_ip"), "10.244.1.7");
    assert_string_equal(L(t, "pod_ready"), "true");
    assert_string_equal(L(t, "pod_phase"), "Running");
    assert_string_equal(L(t, "pod_node_name"), "node-a");
    assert_string_equal(L(t, "pod_host_ip"), "192.168.10.11");
    assert_string_equal(L(t, "pod_uid"), "5b0c5f4e");
    assert_string_equal(L(t, "pod_controller_kind"), "ReplicaSet");
    assert_string_equal(L(t, "pod_controller_name"), "checkout-7d9c6b5f8");
    assert_string_equal(L(t, "pod_label_app_kubernetes_io_name"), "checkout");
    assert_string_equal(L(t, "pod_labelpresent_app_kubernetes_io_name"),
                        "true");
    assert_string_equal(L(t, "pod_label_pod_template_hash"), "7d9c6b5f8");
    assert_string_equal(L(t, "pod_annotation_pyroscope_io_scrape"), "true");
    assert_string_equal(L(t,
                          "pod_annotation_profiles_grafana_com_cpu_port_name"),
                        "pprof");
    assert_string_equal(
        L(t, "pod_annotationpresent_profiles_grafana_com_cpu_scrape"), "true");
    assert_string_equal(L(t, "pod_container_name"), "app");
    assert_string_equal(L(t, "pod_container_id"), "containerd://9f1c");
    assert_string_equal(L(t, "pod_container_image"),
                        "reg.example/checkout:1.4");
    assert_string_equal(L(t, "pod_container_port_name"), "http");
    assert_string_equal(L(t, "pod_container_port_number"), "8080");
    assert_string_equal(L(t, "pod_container_port_protocol"), "TCP");
    assert_string_equal(L(t, "pod_container_init"), "false");
    t = by_addr(&g, "10.244.1.7:6060", NULL);
    assert_string_equal(L(t, "pod_container_port_name"), "pprof");
    /* containers without ports: one target at the bare IP each */
    t = by_addr(&g, "10.244.2.9", "worker");
    assert_string_equal(L(t, "pod_container_init"), "false");
    assert_string_equal(L(t, "pod_ready"), "false");
    assert_string_equal(L(t, "pod_container_id"), "containerd://c3d4");
    assert_string_equal(L(t, "pod_controller_kind"), "StatefulSet");
    assert_null(L(t, "pod_container_port_number"));
    assert_null(L(t, "pod_host_ip"));
    t = by_addr(&g, "10.244.2.9", "migrate");
    assert_string_equal(L(t, "pod_container_init"), "true");
    assert_string_equal(L(t, "pod_container_id"), "");
    assert_string_equal(g.source[0], "pod/shop/checkout-7d9c6b5f8-xk2lp");
    got_free(&g);
}

static void test_pod_ipv6_and_node(void **state)
{
    struct got g;
    const struct labelset *t;

    (void)state;
    /* attach_metadata.node through the snapshot's nodes */
    {
        struct k8s_snap s;
        struct k8s_emit em = {&g, got_label, got_target};
        memset(&s, 0, sizeof(s));
        memset(&g, 0, sizeof(g));
        labels_init(&g.cur);
        s.pods = load("{\"x/p\":{\"metadata\":{\"name\":\"p\",\"namespace\":"
                      "\"x\"},\"spec\":{\"nodeName\":\"n1\",\"containers\":"
                      "[{\"name\":\"c\",\"ports\":[{\"containerPort\":7}]}]},"
                      "\"status\":{\"podIP\":\"fd00::7\"}}}");
        s.nodes = load("{\"n1\":{\"metadata\":{\"name\":\"n1\",\"labels\":{"
                       "\"topology.kubernetes.io/zone\":\"z1\"}}}}");
        s.attach_node = 1;
        assert_int_equal(k8s_targets_build(K8S_ROLE_POD, &s, &em), 0);
        assert_int_equal(g.n, 1);
        t = &g.t[0];
        assert_string_equal(labels_get(t, "__address__"), "[fd00::7]:7");
        assert_string_equal(L(t, "node_name"), "n1");
        assert_string_equal(L(t, "node_label_topology_kubernetes_io_zone"),
                            "z1");
        assert_string_equal(L(t, "pod_container_port_protocol"), "TCP");
        got_free(&g);
        /* with a node selector, pods on unknown nodes get no targets */
        s.node_filtered = 1;
        json_object_clear(s.nodes);
        assert_int_equal(k8s_targets_build(K8S_ROLE_POD, &s, &em), 0);
        assert_int_equal(g.n, 0);
        json_decref(s.pods);
        json_decref(s.nodes);
    }
}

static void test_service_node(void **state)
{
    struct got g;
    const struct labelset *t;

    (void)state;
    build(K8S_ROLE_SERVICE, NULL,
          "{\"services\":{\"shop/api\":{\"metadata\":{\"name\":\"api\","
          "\"namespace\":\"shop\",\"labels\":{\"app\":\"api\"}},\"spec\":{"
          "\"type\":\"LoadBalancer\",\"clusterIP\":\"10.96.0.10\","
          "\"loadBalancerIP\":\"1.2.3.4\",\"ports\":[{\"name\":\"web\","
          "\"port\":80,\"protocol\":\"TCP\"}]}}}}",
          &g);
    assert_int_equal(g.n, 1);
    t = &g.t[0];
    assert_string_equal(labels_get(t, "__address__"), "api.shop.svc:80");
    assert_string_equal(L(t, "service_name"), "api");
    assert_string_equal(L(t, "service_label_app"), "api");
    assert_string_equal(L(t, "service_port_name"), "web");
    assert_string_equal(L(t, "service_port_number"), "80");
    assert_string_equal(L(t, "service_type"), "LoadBalancer");
    assert_string_equal(L(t, "service_cluster_ip"), "10.96.0.10");
    assert_string_equal(L(t, "service_loadbalancer_ip"), "1.2.3.4");
    assert_string_equal(g.source[0], "svc/shop/api");
    got_free(&g);

    build(K8S_ROLE_NODE, NULL,
          "{\"nodes\":{\"n1\":{\"metadata\":{\"name\":\"n1\",\"labels\":{"
          "\"kubernetes.io/os\":\"linux\"}},\"spec\":{\"providerID\":"
          "\"aws:///i-1\"},\"status\":{\"addresses\":[{\"type\":\"Hostname\","
          "\"address\":\"n1\"},{\"type\":\"InternalIP\",\"address\":"
          "\"10.0.0.5\"}],\"conditions\":[{\"type\":\"Ready\",\"status\":"
          "\"True\"}],\"daemonEndpoints\":{\"kubeletEndpoint\":{\"Port\":"
          "10250}}}},\"n2\":{\"metadata\":{\"name\":\"n2\"},\"status\":{}}}}",
          &g);
    assert_int_equal(g.n, 1); /* n2 has no address */
    t = &g.t[0];
    assert_string_equal(labels_get(t, "__address__"), "10.0.0.5:10250");
    assert_string_equal(labels_get(t, "instance"), "n1");
    assert_string_equal(L(t, "node_name"), "n1");
    assert_string_equal(L(t, "node_label_kubernetes_io_os"), "linux");
    assert_string_equal(L(t, "node_provider_id"), "aws:///i-1");
    assert_string_equal(L(t, "node_address_InternalIP"), "10.0.0.5");
    assert_string_equal(L(t, "node_address_Hostname"), "n1");
    assert_string_equal(L(t, "node_condition_ready"), "true");
    got_free(&g);
}

#define BACKEND_POD                                                           \
    "{\"shop/web-1\":{\"metadata\":{\"name\":\"web-1\",\"namespace\":"        \
    "\"shop\"},\"spec\":{\"nodeName\":\"n1\",\"containers\":[{\"name\":"      \
    "\"web\",\"image\":\"w\",\"ports\":[{\"name\":\"http\",\"containerPort\"" \
    ":8080,\"protocol\":\"TCP\"},{\"name\":\"pprof\",\"containerPort\":6060," \
    "\"protocol\":\"TCP\"}]}]},\"status\":{\"phase\":\"Running\",\"podIP\":"  \
    "\"10.1.0.4\"}}}"

static void test_endpoints(void **state)
{
    struct got g;
    const struct labelset *t;

    (void)state;
    build(
        K8S_ROLE_ENDPOINTS, BACKEND_POD,
        "{\"services\":{\"shop/web\":{\"metadata\":{\"name\":\"web\","
        "\"namespace\":\"shop\",\"labels\":{\"tier\":\"front\"}}}},"
        "\"endpoints\":{\"shop/web\":{\"metadata\":{\"name\":\"web\","
        "\"namespace\":\"shop\"},\"subsets\":[{\"addresses\":[{\"ip\":"
        "\"10.1.0.4\",\"nodeName\":\"n1\",\"targetRef\":{\"kind\":\"Pod\","
        "\"name\":\"web-1\",\"namespace\":\"shop\"}}],\"notReadyAddresses\":"
        "[{\"ip\":\"10.1.0.9\"}],\"ports\":[{\"name\":\"http\",\"port\":8080,"
        "\"protocol\":\"TCP\"}]}]}}}",
        &g);
    assert_int_equal(g.n, 3);
    t = by_addr(&g, "10.1.0.4:8080", NULL);
    assert_string_equal(L(t, "endpoints_name"), "web");
    assert_string_equal(L(t, "service_name"), "web");
    assert_string_equal(L(t, "service_label_tier"), "front");
    assert_string_equal(L(t, "endpoint_ready"), "true");
    assert_string_equal(L(t, "endpoint_port_name"), "http");
    assert_string_equal(L(t, "endpoint_address_target_kind"), "Pod");
    assert_string_equal(L(t, "endpoint_node_name"), "n1");
    assert_string_equal(L(t, "pod_name"), "web-1");
    assert_string_equal(L(t, "pod_container_port_name"), "http");
    assert_null(L(t, "pod_container_id"));
    t = by_addr(&g, "10.1.0.9:8080", NULL);
    assert_string_equal(L(t, "endpoint_ready"), "false");
    assert_null(L(t, "pod_name"));
    /* the pod's port no endpoint covers is a target of its own */
    t = by_addr(&g, "10.1.0.4:6060", NULL);
    assert_string_equal(L(t, "pod_container_port_name"), "pprof");
    assert_null(L(t, "endpoint_port_name"));
    got_free(&g);
}

static void test_endpointslice(void **state)
{
    struct got g;
    const struct labelset *t;

    (void)state;
    build(K8S_ROLE_ENDPOINTSLICE, BACKEND_POD,
          "{\"services\":{\"shop/web\":{\"metadata\":{\"name\":\"web\","
          "\"namespace\":\"shop\"}}},\"slices\":{\"shop/web-abc\":{"
          "\"metadata\":{\"name\":\"web-abc\",\"namespace\":\"shop\","
          "\"labels\":{\"kubernetes.io/service-name\":\"web\"}},"
          "\"addressType\":\"IPv4\",\"endpoints\":[{\"addresses\":["
          "\"10.1.0.4\"],\"conditions\":{\"ready\":true,\"serving\":true,"
          "\"terminating\":false},\"nodeName\":\"n1\",\"zone\":\"z1\","
          "\"targetRef\":{\"kind\":\"Pod\",\"name\":\"web-1\",\"namespace\":"
          "\"shop\"}}],\"ports\":[{\"name\":\"http\",\"port\":8080,"
          "\"protocol\":\"TCP\",\"appProtocol\":\"http\"}]}}}",
          &g);
    assert_int_equal(g.n, 2);
    t = by_addr(&g, "10.1.0.4:8080", NULL);
    assert_string_equal(L(t, "endpointslice_name"), "web-abc");
    assert_string_equal(L(t, "endpointslice_address_type"), "IPv4");
    assert_string_equal(L(t, "endpointslice_label_kubernetes_io_service_name"),
                        "web");
    assert_string_equal(L(t, "service_name"), "web");
    assert_string_equal(L(t, "endpointslice_port"), "8080");
    assert_string_equal(L(t, "endpointslice_port_app_protocol"), "http");
    assert_string_equal(L(t, "endpointslice_endpoint_conditions_ready"),
                        "true");
    assert_string_equal(L(t, "endpointslice_endpoint_conditions_terminating"),
                        "false");
    assert_string_equal(L(t, "endpointslice_endpoint_zone"), "z1");
    assert_string_equal(L(t, "endpointslice_address_target_name"), "web-1");
    assert_string_equal(L(t, "pod_container_name"), "web");
    by_addr(&g, "10.1.0.4:6060", NULL);
    got_free(&g);
}

static void test_label_name(void **state)
{
    char out[64];

    (void)state;
    k8s_label_name(out, sizeof(out), "p_", "app.kubernetes.io/name");
    assert_string_equal(out, "p_app_kubernetes_io_name");
    k8s_label_name(out, sizeof(out), "", "a-b:c\xc3\xa9_9");
    assert_string_equal(out, "a_b_c___9");
    k8s_label_name(out, 8, "pre_", "abcdefgh");
    assert_string_equal(out, "pre_abc");
}

/* ---- events, pages, lines ----------------------------------------------------- */

static void test_events(void **state)
{
    struct k8s_event ev;
    struct errctx e = {{0}};
    const char *added = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\","
                        "\"metadata\":{\"name\":\"a\",\"namespace\":\"n\","
                        "\"resourceVersion\":\"48250\"}}}";
    const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Pod\","
                     "\"metadata\":{\"resourceVersion\":\"48300\","
                     "\"creationTimestamp\":null},\"spec\":{\"containers\":"
                     "null},\"status\":{}}}";
    const char *err = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\","
                      "\"apiVersion\":\"v1\",\"metadata\":{},\"status\":"
                      "\"Failure\",\"message\":\"too old resource version: "
                      "48213 (48900)\",\"reason\":\"Expired\",\"code\":410}}";
    const char *bad[] = {
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":",
        "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"metadata\":{"
        "\"name\":\"s\"}}}",
        "{\"type\":\"EXPLODED\",\"object\":{}}",
        "{\"type\":\"ADDED\",\"object\":{\"metadata\":{}}}",
        "{\"type\":\"BOOKMARK\",\"object\":{\"metadata\":{}}}",
        "[1,2]",
        "{\"type\":\"ADDED\",\"object\":[]}",
    };
    size_t i;

    (void)state;
    assert_int_equal(k8s_event_parse(added, strlen(added), "Pod", &ev, &e),
                     PC_OK);
    assert_int_equal(ev.type, K8S_EV_ADDED);
    assert_string_equal(ev.key, "n/a");
    assert_string_equal(ev.rv, "48250");
    k8s_event_release(&ev);
    assert_int_equal(k8s_event_parse(bm, strlen(bm), "Pod", &ev, &e), PC_OK);
    assert_int_equal(ev.type, K8S_EV_BOOKMARK);
    assert_string_equal(ev.rv, "48300");
    k8s_event_release(&ev);
    assert_int_equal(k8s_event_parse(err, strlen(err), "Pod", &ev, &e), PC_OK);
    assert_int_equal(ev.type, K8S_EV_ERROR);
    assert_int_equal(ev.code, 410);
    assert_string_equal(ev.reason, "Expired");
    k8s_event_release(&ev);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(k8s_event_parse(bad[i], strlen(bad[i]), "Pod", &ev,
                                         &e),
                         PC_ECORRUPT);
        assert_null(ev.obj);
    }
}

static void test_page(void **state)
{
    struct k8s_page p;
    struct errctx e = {{0}};
    const char *page =
        "{\"kind\":\"PodList\",\"metadata\":{\"resourceVersion\""
        ":\"48213\",\"continue\":\"eyJ2Ijoi\"},\"items\":[{"
        "\"metadata\":{\"name\":\"a\"}}]}";
    const char *last = "{\"metadata\":{\"resourceVersion\":\"7\"},"
                       "\"items\":null}";

    (void)state;
    assert_int_equal(k8s_page_parse(page, strlen(page), &p, &e), PC_OK);
    assert_string_equal(p.rv, "48213");
    assert_string_equal(p.cont, "eyJ2Ijoi");
    assert_int_equal(json_array_size(p.items), 1);
    k8s_page_release(&p);
    assert_int_equal(k8s_page_parse(last, strlen(last), &p, &e), PC_OK);
    assert_string_equal(p.cont, "");
    assert_null(p.items);
    k8s_page_release(&p);
    assert_int_equal(k8s_page_parse("{\"items\":3}", 11, &p, &e), PC_ECORRUPT);
}

struct lines_got {
    char text[4096];
    int n, dropped;
};

static int on_line(void *priv, const char *line, size_t len)
{
    struct lines_got *g = priv;
    size_t used = strlen(g->text);

    if (line == NULL) {
        g->dropped++;
        return PC_OK;
    }
    snprintf(g->text + used, sizeof(g->text) - used, "%.*s|", (int)len, line);
    g->n++;
    return PC_OK;
}

/* The same stream cut at every pair of positions gives the same lines. */
static void test_lines(void **state)
{
    const char *s = "{\"a\":1}\n\n{\"b\":2}\nxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                    "xxxxxxxxxxxxxxxxxx\n{\"c\":3}";
    size_t n = strlen(s), i, j;

    (void)state;
    for (i = 0; i <= n; i++) {
        for (j = i; j <= n; j++) {
            struct k8s_lines l;
            struct lines_got g;
            memset(&g, 0, sizeof(g));
            k8s_lines_init(&l, 32);
            assert_int_equal(k8s_lines_feed(&l, s, i, on_line, &g), PC_OK);
            assert_int_equal(k8s_lines_feed(&l, s + i, j - i, on_line, &g),
                             PC_OK);
            assert_int_equal(k8s_lines_feed(&l, s + j, n - j, on_line, &g),
                             PC_OK);
            assert_int_equal(k8s_lines_end(&l, on_line, &g), PC_OK);
            assert_string_equal(g.text, "{\"a\":1}|{\"b\":2}|{\"c\":3}|");
            assert_int_equal(g.dropped, 1);
            k8s_lines_free(&l);
        }
    }
}

/* The connection's address as gRPC names it: what k8sattributes matches. */
static void test_grpc_peer(void **state)
{
    char out[64];

    (void)state;
    net_peer_from_grpc("ipv4:10.244.1.7:51234", out, sizeof(out));
    assert_string_equal(out, "10.244.1.7");
    net_peer_from_grpc("ipv6:[fd00::7]:443", out, sizeof(out));
    assert_string_equal(out, "fd00::7");
    net_peer_from_grpc("ipv6:%5Bfd00::8%5D:443", out, sizeof(out));
    assert_string_equal(out, "fd00::8");
    net_peer_from_grpc("unix:/tmp/s", out, sizeof(out));
    assert_string_equal(out, "");
    net_peer_from_grpc("ipv6:[fd00::9", out, sizeof(out));
    assert_string_equal(out, "");
    net_peer_from_grpc(NULL, out, sizeof(out));
    assert_string_equal(out, "");
}

/* ---- relabeling real pods ------------------------------------------------------- */

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

/* Pyroscope's pull-mode rules, as its documentation has them (regex: true
 * unquoted, $1:$2 unescaped). */
static const char *seed_rules =
    "rules:\n"
    "  - source_labels: [__meta_kubernetes_pod_annotation_pyroscope_io_scrape]\n"
    "    action: keep\n"
    "    regex: true\n"
    "  - source_labels: "
    "[__meta_kubernetes_pod_annotation_pyroscope_io_application_name]\n"
    "    action: replace\n"
    "    target_label: __name__\n"
    "  - source_labels: [__address__, "
    "__meta_kubernetes_pod_annotation_pyroscope_io_port]\n"
    "    action: replace\n"
    "    regex: ([^:]+)(?::\\d+)?;(\\d+)\n"
    "    replacement: $1:$2\n"
    "    target_label: __address__\n"
    "  - action: labelmap\n"
    "    regex: __meta_kubernetes_pod_label_(.+)\n"
    "  - source_labels: [__meta_kubernetes_pod_phase]\n"
    "    regex: Pending|Succeeded|Failed|Completed\n"
    "    action: drop\n"
    "  - action: labelmap\n"
    "    regex: __meta_kubernetes_pod_annotation_pyroscope_io_profile_(.+)\n"
    "    replacement: __profile_$1\n";

static void test_relabel_big_pod(void **state)
{
    struct ydoc doc;
    struct rules_doc rd;
    struct cfg_diag d;
    struct relabel_rules rules;
    struct errctx e = {{0}};
    char err[256], key[64], val[16];
    json_t *pod, *labels, *ann;
    struct got g;
    struct k8s_snap s;
    struct k8s_emit em = {&g, got_label, got_target};
    char *big = malloc(200 << 10);
    int i;

    (void)state;
    memset(&d, 0, sizeof(d));
    memset(&rd, 0, sizeof(rd));
    assert_int_equal(ydoc_load_string("t", seed_rules, &doc, err, sizeof(err)),
                     PC_OK);
    assert_int_equal(cfg_decode(doc_table, doc.root, &rd, &d), PC_OK);
    assert_string_equal(((struct relabel_cfg *)rd.rules.items)[0].regex,
                        "true");
    assert_int_equal(relabel_compile(rd.rules.items, rd.rules.n, &rules, &e),
                     PC_OK);

    pod = load(CHECKOUT_POD);
    labels = json_object_get(json_object_get(pod, "metadata"), "labels");
    ann = json_object_get(json_object_get(pod, "metadata"), "annotations");
    for (i = 0; i < 600; i++) {
        snprintf(key, sizeof(key), "team.example.com/label-%03d", i);
        snprintf(val, sizeof(val), "v%d", i);
        json_object_set_new(labels, key, json_string(val));
    }
    memset(big, 'x', (200 << 10) - 1);
    big[(200 << 10) - 1] = '\0';
    json_object_set_new(ann,
                        "kubectl.kubernetes.io/last-applied-configuration",
                        json_string(big));
    json_object_set_new(ann, "pyroscope.io/application-name",
                        json_string("checkout"));
    json_object_set_new(ann, "pyroscope.io/profile-cpu-enabled",
                        json_string("false"));
    memset(&s, 0, sizeof(s));
    memset(&g, 0, sizeof(g));
    labels_init(&g.cur);
    s.pods = json_object();
    json_object_set_new(s.pods, "shop/checkout", pod);
    assert_int_equal(k8s_targets_build(K8S_ROLE_POD, &s, &em), 0);
    assert_int_equal(g.n, 2);
    /* 1204 pod labels (+ present twins) and the big annotation fit */
    assert_true(g.t[0].n > 1200);
    for (i = 0; i < g.n; i++) {
        assert_int_equal(relabel_apply(&rules, &g.t[i]), 1);
        assert_string_equal(labels_get(&g.t[i], "__address__"),
                            "10.244.1.7:6060");
        assert_string_equal(labels_get(&g.t[i], "__name__"), "checkout");
        assert_string_equal(labels_get(&g.t[i], "team_example_com_label_599"),
                            "v599");
        assert_string_equal(labels_get(&g.t[i], "app_kubernetes_io_name"),
                            "checkout");
        assert_string_equal(labels_get(&g.t[i], "__profile_cpu_enabled"),
                            "false");
    }
    got_free(&g);
    json_decref(s.pods);
    free(big);
    relabel_free(&rules);
    cfg_release(doc_table, &rd);
    ydoc_free(&doc);
    cfg_diag_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pod_role),
        cmocka_unit_test(test_pod_ipv6_and_node),
        cmocka_unit_test(test_service_node),
        cmocka_unit_test(test_endpoints),
        cmocka_unit_test(test_endpointslice),
        cmocka_unit_test(test_label_name),
        cmocka_unit_test(test_events),
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_relabel_big_pod),
        cmocka_unit_test(test_grpc_peer),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
