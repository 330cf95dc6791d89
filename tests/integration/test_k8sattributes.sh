#!/usr/bin/env bash
# The k8sattributes processor against the API server double (a real API
# server cannot run on these machines; k8s_double.sh serves real-shaped
# answers over HTTPS with a test CA). profcol runs as a node agent
# (filter.node_from_env_var) with in-cluster configuration; profiles are
# pushed to its Pyroscope /ingest by curl bound to the pods' addresses
# (127.0.0.x on loopback):
#   (a) by the connection's peer address: a push from 127.0.0.5 gets pod
#       web-7d9c-abcde's k8s.pod.name, k8s.pod.uid, k8s.namespace.name,
#       k8s.node.name, k8s.deployment.name (from the ReplicaSet and
#       pod-template-hash), k8s.container.name, a chosen label and a chosen
#       annotation;
#   (b) by a series attribute (pod_association on `pod_ip`);
#   (c) a pod on another node is not watched: its push stays as it was;
#   (d) a pod added while profcol runs is matched within seconds;
#   (e) the watch asked the API server only for this node's pods;
#   (f) the scrape receiver's discovery of the same pods (same connection,
#       same selector) shares that watch: the API server sees one list;
#   (g) a Datadog profiler's upload from 127.0.0.5 (the datadog receiver,
#       curl multipart as dd-trace sends it) is enriched the same way.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/k8s_double.sh"

echo "== fixtures"
fixtures --skip-node
CPU="$PROF/cpu.pb.gz"

"$PY" - "$WORK/objects.json" <<'PY'
import json, sys
def pod(name, ip, node, labels, ann=None, owner=None, containers=("app",)):
    md = {"name": name, "namespace": "shop", "uid": "uid-" + name, "labels": labels,
          "annotations": ann or {}}
    if owner:
        md["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                  "uid": "rs", "controller": True}]
    return {"metadata": md, "spec": {"nodeName": node, "containers": [
                {"name": c, "image": "i"} for c in containers]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}
pods = [
    pod("web-7d9c-abcde", "127.0.0.5", "node-a", {"app": "web", "team": "blue", "pod-template-hash": "7d9c"},
        {"owner": "alice", "kubectl.kubernetes.io/last-applied-configuration": "x" * 50000},
        owner="web-7d9c", containers=("web",)),
    pod("batch-1", "10.1.2.3", "node-a", {"app": "batch"}, containers=("main", "sidecar")),
    pod("other-1", "127.0.0.7", "node-b", {"app": "other"}),
]
json.dump({"pods": pods}, open(sys.argv[1], "w"))
PY
k8s_double "$WORK/objects.json"
new_ports
PYRO=$(free_port)
DD=$(free_port)
mkdir -p "$WORK/json"
cat >"$WORK/config.yaml" <<EOF
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PYRO
  datadog:
    endpoint: 127.0.0.1:$DD
  # The same pods of the same node: one watch serves both.
  scrape:
    scrape_configs:
      - job_name: node-pods
        kubernetes_sd_configs:
          - role: pod
            selectors:
              - role: pod
                field: spec.nodeName=\${env:KUBE_NODE_NAME}
        relabel_configs:
          - {source_labels: [__meta_kubernetes_pod_annotation_scrape_me], regex: "yes", action: keep}
processors:
  k8sattributes:
    filter:
      node_from_env_var: KUBE_NODE_NAME
    extract:
      labels:
        - key: team
      annotations:
        - key: owner
          tag_name: owner
    pod_association:
      - sources:
          - from: resource_attribute
            name: pod_ip
      - sources:
          - from: connection
exporters:
  file/json:
    path: $WORK/json
    format: json
    rotation: {max_files: 100000}
service:
  pipelines:
    profiles:
      receivers: [pyroscope, scrape, datadog]
      processors: [k8sattributes]
      exporters: [file/json]
  telemetry:
    logs: {level: debug} # a refused upload is logged at debug
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
EOF
# The receiver listens on 127.0.0.1; clients bound to other loopback
# addresses (the pods' IPs) reach it with those as their source.

echo "== profcol (node agent for node-a)"
export KUBE_NODE_NAME=node-a
timeout 60 "$PROFCOL" validate --config "$WORK/config.yaml"
start_profcol profcol "$WORK/config.yaml"

push() { # FROM_ADDR NAME
  curl -sf --interface "$1" -X POST --data-binary "@$CPU" \
    "http://127.0.0.1:$PYRO/ingest?name=$2&format=pprof" >/dev/null
}
enriched() { # SERVICE POD: a stored item of SERVICE carries k8s.pod.name POD
  cat "$WORK"/json/*.jsonl 2>/dev/null | "$PY" -c '
import json, sys
svc, pod = sys.argv[1], sys.argv[2]
for line in sys.stdin:
    a = json.loads(line)["attributes"]
    if a.get("service.name") == svc and a.get("k8s.pod.name") == pod:
        sys.exit(0)
sys.exit(1)' "$1" "$2"
}
try_push() { push "$@" && enriched "$2" "$3"; }
dd_upload() { # FROM_ADDR SERVICE; why a try failed goes to $WORK/dd.why
  local code
  printf '{"attachments":["cpu.pprof"],"start":"2026-12-06T01:00:00Z","end":"2026-12-06T01:01:00Z","family":"go","version":"4","tags_profiler":"runtime:go,service:%s"}' \
    "$2" >"$WORK/event.json"
  # curl -F reads ',' and ';' in a file name as its own syntax: the files
  # it sends are in $WORK under plain names.
  code=$(curl -s --max-time 10 --interface "$1" -o "$WORK/dd.resp" -w '%{http_code}' \
    -F "event=@$WORK/event.json;type=application/json" \
    -F "cpu.pprof=@$WORK/dd_cpu.pb.gz;filename=cpu.pprof" "http://127.0.0.1:$DD/profiling/v1/input") ||
    { echo "curl failed ($?)" >"$WORK/dd.why"; return 1; }
  [ "$code" = 200 ] || { echo "HTTP $code: $(head -c 300 "$WORK/dd.resp")" >"$WORK/dd.why"; return 1; }
  echo "answered 200, no stored item of the service carries the pod" >"$WORK/dd.why"
}
try_dd() { dd_upload "$@" && enriched "$2" "$3"; }
dd_failed() { # what the last try saw, what was stored, what profcol said
  echo "  last try: $(cat "$WORK/dd.why" 2>/dev/null)"
  cat "$WORK"/json/*.jsonl 2>/dev/null | "$PY" -c '
import json, sys
for line in sys.stdin:
    a = json.loads(line)["attributes"]
    if a.get("service.name") == "ddsvc":
        print("  stored:", {k: v for k, v in a.items() if k.startswith(("k8s.", "service"))})' | tail -n 3
  tail -n 15 "$WORK/profcol.log" | sed 's/^/  | /'
}
cp "$CPU" "$WORK/dd_cpu.pb.gz"
if wait_until 15 try_push 127.0.0.5 websvc web-7d9c-abcde; then pass "(a) pushed by pod IP 127.0.0.5: enriched"; else fail "(a) not enriched"; fi
if wait_until 15 try_dd 127.0.0.5 ddsvc web-7d9c-abcde; then pass "(g) Datadog upload from 127.0.0.5: enriched"; else fail "(g) Datadog upload not enriched"; dd_failed; fi
push 127.0.0.1 'batchsvc%7Bpod_ip%3D10.1.2.3%7D'
push 127.0.0.7 othersvc
ctl '{"op":"put","resource":"pods","object":{"metadata":{"name":"late-1","namespace":"shop","uid":"uid-late"},"spec":{"nodeName":"node-a","containers":[{"name":"late"}]},"status":{"phase":"Running","podIP":"127.0.0.8"}}}'
ADDED=$SECONDS
if wait_until 10 try_push 127.0.0.8 latesvc late-1; then pass "(d) added pod matched after $((SECONDS - ADDED)) s"; else fail "(d) added pod not matched"; fi
sleep 1
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
items = [json.loads(l) for f in sorted(glob.glob(os.path.join(work, "json", "*.jsonl"))) for l in open(f)]
def first(svc):
    got = [o["attributes"] for o in items if o["attributes"].get("service.name") == svc]
    return got[-1] if got else {}
a = first("websvc")
want = {"k8s.pod.name": "web-7d9c-abcde", "k8s.pod.uid": "uid-web-7d9c-abcde", "k8s.namespace.name": "shop",
        "k8s.node.name": "node-a", "k8s.deployment.name": "web", "k8s.container.name": "web",
        "k8s.pod.labels.team": "blue", "owner": "alice"}
for k, v in want.items():
    check(a.get(k) == v, "(a) %s=%r (want %r)" % (k, a.get(k), v))
check("k8s.pod.labels.app" not in a, "(a) only the chosen label")
b = first("batchsvc")
check(b.get("k8s.pod.name") == "batch-1" and "k8s.container.name" not in b and "k8s.deployment.name" not in b,
      "(b) by attribute pod_ip: batch-1, no container (two) and no deployment: %r" % {k: v for k, v in b.items() if k.startswith("k8s.")})
o = first("othersvc")
check(o and not [k for k in o if k.startswith("k8s.")], "(c) pod on node-b not enriched: %r" % o)
log = json.load(open(os.path.join(work, "apilog.json")))
pods = [e for e in log if e["path"] == "/api/v1/pods"]
check(pods and all("fieldSelector=spec.nodeName%3Dnode-a" in e["query"] for e in pods),
      "(e) every pods request selects spec.nodeName=node-a")
first = [e for e in pods if e.get("kind") == "list" and "resourceVersion=0" in e["query"]]
check(len(first) == 1, "(f) k8sattributes and the scrape receiver's discovery share one pods watch: %d initial lists" % len(first))
sys.exit(0 if ok else 1)
PYEOF
then pass "attributes"; else fail "attributes"; fi
finish
