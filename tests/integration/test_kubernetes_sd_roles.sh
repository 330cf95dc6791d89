#!/usr/bin/env bash
# kubernetes_sd_configs: the roles other than pod's plain form, and the
# ways of reaching the API server, against the API server double (a real
# API server cannot run on these machines; k8s_double.sh serves
# real-shaped answers over HTTPS with a test CA). Objects point at real Go
# /debug/pprof targets on 127.0.0.2 (pod web-1, behind service web) and
# 127.0.0.3 (node node-a, as its kubelet port).
#   pod            in-cluster, namespaces.names [shop], attach_metadata.node
#   service        kubeconfig_file (CA inline as certificate-authority-data,
#                  token)
#   node           api_server + bearer_token_file + tls_config.ca_file and
#                  server_name (the certificate does not name localhost)
#   endpoints      in-cluster: pod web-1's labels through the targetRef
#   endpointslice  in-cluster: the service through kubernetes.io/service-name
#   alloy-goroutine  Grafana Alloy's profiles.grafana.com/goroutine.*
#                  annotations; namespaces.own_namespace (the service
#                  account's namespace file says shop)
# Each job relabels its meta labels into plain labels; the scraped profiles
# must carry them, and the API requests must be the role's.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/k8s_double.sh"

echo "== fixtures and targets"
fixtures --skip-node
build_gotarget
start_listener a "$WORK/a.addr" "$GOTARGET" -addr 127.0.0.2:0 -port-file "$WORK/a.addr"
APORT=${SINK_PORT##*:}
start_listener d "$WORK/d.addr" "$GOTARGET" -addr 127.0.0.3:0 -port-file "$WORK/d.addr"
DPORT=${SINK_PORT##*:}

"$PY" - "$WORK/objects.json" "$APORT" "$DPORT" <<'PY'
import json, sys
out, ap, dp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pod = {"metadata": {"name": "web-1", "namespace": "shop", "uid": "u1", "labels": {"app": "web"},
                    "annotations": {"profiles.grafana.com/goroutine.scrape": "true",
                                    "profiles.grafana.com/goroutine.port": str(ap)}},
       "spec": {"nodeName": "node-a", "containers": [{"name": "web", "image": "w",
                "ports": [{"name": "pprof", "containerPort": ap, "protocol": "TCP"}]}]},
       "status": {"phase": "Running", "podIP": "127.0.0.2"}}
other = {"metadata": {"name": "elsewhere", "namespace": "other"},
         "spec": {"containers": [{"name": "x", "ports": [{"containerPort": ap}]}]},
         "status": {"phase": "Running", "podIP": "127.0.0.9"}}
svc = {"metadata": {"name": "web", "namespace": "shop", "labels": {"tier": "front"}},
       "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.10",
                "ports": [{"name": "pprof", "port": ap, "protocol": "TCP"}]}}
node = {"metadata": {"name": "node-a", "labels": {"topology.kubernetes.io/zone": "z1"}},
        "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.3"}],
                   "daemonEndpoints": {"kubeletEndpoint": {"Port": dp}}}}
ep = {"metadata": {"name": "web", "namespace": "shop"},
      "subsets": [{"addresses": [{"ip": "127.0.0.2", "nodeName": "node-a",
                                  "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"}}],
                   "ports": [{"name": "pprof", "port": ap, "protocol": "TCP"}]}]}
sl = {"metadata": {"name": "web-abc", "namespace": "shop", "labels": {"kubernetes.io/service-name": "web"}},
      "addressType": "IPv4",
      "endpoints": [{"addresses": ["127.0.0.2"], "conditions": {"ready": True},
                     "targetRef": {"kind": "Pod", "name": "web-1", "namespace": "shop"}}],
      "ports": [{"name": "pprof", "port": ap, "protocol": "TCP"}]}
json.dump({"pods": [pod, other], "services": [svc], "nodes": [node], "endpoints": [ep],
           "endpointslices": [sl]}, open(out, "w"))
PY
k8s_double "$WORK/objects.json"
new_ports

# A kubeconfig with the CA inline and a token; a token file for api_server.
CA64=$(base64 -w0 "$SA/ca.crt")
cat >"$WORK/kubeconfig" <<EOF
apiVersion: v1
kind: Config
current-context: test
clusters:
  - name: double
    cluster:
      server: https://127.0.0.1:$API
      certificate-authority-data: $CA64
contexts:
  - name: test
    context: {cluster: double, user: profcol}
users:
  - name: profcol
    user:
      token: token-one
EOF
printf 'token-one\n' >"$WORK/token"

job() { # NAME SD_CONFIG_YAML RELABEL_YAML
  cat <<EOF
      - job_name: $1
        scrape_interval: 2s
        profiling_config:
          process_cpu: {enabled: false}
          memory: {enabled: false}
          mutex: {enabled: false}
          block: {enabled: false}
        kubernetes_sd_configs:
$2
        relabel_configs:
$3
EOF
}
mkdir -p "$WORK/json"
{
  echo "receivers:"
  echo "  scrape:"
  echo "    scrape_configs:"
  job pods "          - role: pod
            namespaces: {names: [shop]}
            attach_metadata: {node: true}" \
"          - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
          - {source_labels: [__meta_kubernetes_node_label_topology_kubernetes_io_zone], target_label: zone}
          - {source_labels: [__meta_kubernetes_pod_container_port_name], target_label: port_name}"
  job services "          - role: service
            kubeconfig_file: $WORK/kubeconfig" \
"          - {source_labels: [__meta_kubernetes_service_name], target_label: svc}
          - {source_labels: [__meta_kubernetes_service_label_tier], target_label: tier}
          - {source_labels: [__meta_kubernetes_service_port_number], regex: '(.+)', replacement: '127.0.0.2:\$1', target_label: __address__}"
  job nodes "          - role: node
            api_server: https://localhost:$API
            bearer_token_file: $WORK/token
            tls_config: {ca_file: $SA/ca.crt, server_name: kubernetes.default.svc}" \
"          - {source_labels: [__meta_kubernetes_node_name], target_label: node}
          - {source_labels: [__meta_kubernetes_node_address_InternalIP], target_label: internal_ip}"
  job endpoints "          - role: endpoints" \
"          - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
          - {source_labels: [__meta_kubernetes_endpoint_ready], target_label: ready}
          - {source_labels: [__meta_kubernetes_service_label_tier], target_label: tier}"
  job slices "          - role: endpointslice" \
"          - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
          - {source_labels: [__meta_kubernetes_service_name], target_label: svc}
          - {source_labels: [__meta_kubernetes_endpointslice_endpoint_conditions_ready], target_label: ready}"
  # Grafana Alloy's annotations, the rules of docs/configuration.md for
  # one profile type (goroutine), and the pod's container port rewritten to
  # the annotated one.
  job alloy-goroutine "          - role: pod
            namespaces: {own_namespace: true}" \
"          - {source_labels: [__meta_kubernetes_pod_phase], regex: Pending|Succeeded|Failed|Completed, action: drop}
          - {source_labels: [__meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_scrape], regex: 'true', action: keep}
          - {source_labels: [__meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_port_name], regex: '', action: keep}
          - {source_labels: [__meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_scheme], regex: '(https?)', target_label: __scheme__}
          - {source_labels: [__meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_path], regex: '(.+)', target_label: __profile_path__}
          - {source_labels: [__address__, __meta_kubernetes_pod_annotation_profiles_grafana_com_goroutine_port], regex: '(.+?)(?::\\d+)?;(\\d+)', replacement: '\$1:\$2', target_label: __address__}
          - {action: labelmap, regex: __meta_kubernetes_pod_label_(.+)}
          - {source_labels: [__meta_kubernetes_namespace], target_label: namespace}
          - {source_labels: [__meta_kubernetes_pod_name], target_label: pod}
          - {source_labels: [__meta_kubernetes_pod_container_name], target_label: container}"
  cat <<EOF
exporters:
  file/json:
    path: $WORK/json
    format: json
    rotation: {max_files: 100000}
service:
  pipelines:
    profiles:
      receivers: [scrape]
      exporters: [file/json]
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
EOF
} >"$WORK/config.yaml"

echo "== profcol"
timeout 60 "$PROFCOL" validate --config "$WORK/config.yaml"
start_profcol profcol "$WORK/config.yaml"
loops() { metric_sum profcol_scrape_targets; }
# one goroutine loop per job
if wait_until 20 equals 6 loops; then pass "6 jobs, one target each"; else fail "loops: $(loops)"; fi
sleep 5
stop profcol || fail "profcol exited with $?"

apilog >"$WORK/apilog.json"
if "$PY" - "$WORK" <<'PYEOF'
import glob, json, os, sys
work = sys.argv[1]
ok = True
def check(cond, msg):
    global ok
    print(("PASS: " if cond else "FAIL: ") + msg)
    ok = ok and cond
items = [json.loads(l)["attributes"] for f in sorted(glob.glob(os.path.join(work, "json", "*.jsonl"))) for l in open(f)]
def job(name):
    got = [a for a in items if a.get("job") == name]
    return got[0] if got else {}
def has(name, want):
    a = job(name)
    bad = {k: a.get(k) for k, v in want.items() if a.get(k) != v}
    check(a and not bad, "%s: %s%s" % (name, want, (" got %r" % bad) if bad else ""))
has("pods", {"pod": "web-1", "zone": "z1", "port_name": "pprof"})
check(job("pods").get("instance", "").startswith("127.0.0.2:"), "pods: at the pod IP and container port")
has("services", {"svc": "web", "tier": "front"})
has("nodes", {"node": "node-a", "internal_ip": "127.0.0.3"})
has("endpoints", {"pod": "web-1", "ready": "true", "tier": "front"})
has("slices", {"pod": "web-1", "svc": "web", "ready": "true"})
has("alloy-goroutine", {"namespace": "shop", "pod": "web-1", "container": "web", "app": "web",
                        "__name__": "goroutine"})
check(not [a for a in items if a.get("job") == "pods" and a.get("pod") == "elsewhere"],
      "pods: namespace other not watched")
log = json.load(open(os.path.join(work, "apilog.json")))
paths = {e["path"] for e in log if e["status"] == 200}
for p in ["/api/v1/namespaces/shop/pods", "/api/v1/nodes", "/api/v1/services", "/api/v1/endpoints",
          "/apis/discovery.k8s.io/v1/endpointslices", "/api/v1/pods"]:
    check(p in paths, "requested %s" % p)
sys.exit(0 if ok else 1)
PYEOF
then pass "roles"; else fail "roles"; fi
finish
