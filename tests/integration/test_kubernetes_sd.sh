#!/usr/bin/env bash
# kubernetes_sd_configs (role pod) end to end. A real API server cannot run
# on these machines, so a double (k8s_apiserver.py) serves real-shaped API
# answers over HTTPS with a test CA made here by openssl; profcol runs with
# in-cluster configuration (KUBERNETES_SERVICE_HOST/PORT and a service
# account directory holding token, ca.crt and namespace). The pods' IPs
# point at real Go /debug/pprof targets on 127.0.0.2 and 127.0.0.3.
#   (a) the seed's Pyroscope configuration, verbatim: pyroscope.io/scrape,
#       application-name (in __name__, mapped by service_name_label),
#       scheme, the port rewrite of __address__, labelmap of pod labels,
#       namespace and pod name, the phase drop, and the per-pod
#       __profile_<name>_enabled switches; one target although the pod
#       declares two ports (deduplicated); a pod with 300 labels and a
#       100 KiB annotation is scraped with its labels mapped;
#   (b) the initial list is paged (limit=500 and continue: 1200 pods), then
#       watched from its resourceVersion with bookmarks;
#   (c) a pod added (Pending, then Running) while profcol runs is scraped
#       within seconds; a deleted pod stops being scraped;
#   (d) malformed JSON, an unknown kind, an unknown event type and a 9 MiB
#       object are logged and counted, and the targets stay;
#   (f) the token rotates: the old one is refused with 401 and the new one
#       is read from the file and used;
#   (e) ERROR 410 re-lists, and a 410 on the continue token of that re-list
#       starts the list again without a resourceVersion; HTTP 410 on a watch
#       re-lists; 403 and 429 are retried.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/k8s_double.sh"

echo "== fixtures"
fixtures --skip-node
build_gotarget

echo "== targets (pods' IPs are loopback addresses)"
start_listener a "$WORK/a.addr" "$GOTARGET" -addr 127.0.0.2:0 -port-file "$WORK/a.addr"
A=$SINK_PORT
start_listener d "$WORK/d.addr" "$GOTARGET" -addr 127.0.0.3:0 -port-file "$WORK/d.addr"
D=$SINK_PORT
APORT=${A##*:}
DPORT=${D##*:}
echo "A=$A D=$D"

echo "== pods, and the API server double"
"$PY" - "$WORK/objects.json" "$APORT" "$DPORT" <<'PY'
import json, sys
out, aport, dport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def pod(name, ip, phase, ann, labels, ports, node="node-a", ns="shop"):
    return {"metadata": {"name": name, "namespace": ns, "uid": "uid-" + name,
                         "labels": labels, "annotations": ann,
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                              "name": name + "-rs", "uid": "rs", "controller": True}]},
            "spec": {"nodeName": node, "containers": [
                {"name": "app", "image": "reg.example/app:1", "ports": ports}]},
            "status": {"phase": phase, "podIP": ip, "hostIP": "192.168.10.11",
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "containerStatuses": [{"name": "app", "containerID": "containerd://" + name}]}}

seed = {"pyroscope.io/scrape": "true", "pyroscope.io/application-name": "checkout",
        "pyroscope.io/port": str(aport), "pyroscope.io/scheme": "http",
        "pyroscope.io/profile-mutex-enabled": "false"}
ports = [{"name": "http", "containerPort": 8080, "protocol": "TCP"},
         {"name": "pprof", "containerPort": aport, "protocol": "TCP"}]
pods = [pod("checkout-1", "127.0.0.2", "Running", seed,
            {"app.kubernetes.io/name": "checkout", "pod-template-hash": "7d9c"}, ports)]
# Annotated but Pending and Failed: dropped by the phase rule.
pods.append(pod("pending-1", "127.0.0.9", "Pending", seed, {"app": "p"}, ports))
pods.append(pod("failed-1", "127.0.0.9", "Failed", seed, {"app": "f"}, ports))
# A big pod: 300 labels, a 100 KiB annotation, also scraped (same target A,
# other pod name: a distinct target).
big_labels = {"team.example.com/l%03d" % i: "v%d" % i for i in range(300)}
big_ann = dict(seed)
big_ann["pyroscope.io/application-name"] = "bigapp"
# one CPU profile at a time per Go process: big-1 shares checkout-1's target
big_ann["pyroscope.io/profile-cpu-enabled"] = "false"
big_ann["kubectl.kubernetes.io/last-applied-configuration"] = "x" * (100 << 10)
pods.append(pod("big-1", "127.0.0.2", "Running", big_ann, big_labels, ports))
# 1200 pods not annotated: the list needs three pages.
for i in range(1200):
    pods.append(pod("filler-%04d" % i, "10.0.%d.%d" % (i // 250, i % 250), "Running",
                    {}, {"app": "filler"}, [{"containerPort": 80}]))
json.dump({"pods": pods}, open(out, "w"))
PY

k8s_double "$WORK/objects.json"
new_ports

# The seed's configuration, verbatim (its relabel rules; profcol's job keys
# around them). service_name_label maps its __name__ to service.name.
mkdir -p "$WORK/json"
cat >"$WORK/config.yaml" <<EOF
receivers:
  scrape:
    scrape_configs:
      - job_name: 'kubernetes-pods'
        scrape_interval: 2s
        service_name_label: __name__
        profiling_config:
          process_cpu: {seconds: 1}
          goroutine: {enabled: false}
          block: {enabled: false}
        kubernetes_sd_configs:
          - role: pod
        relabel_configs:
          - source_labels: [__meta_kubernetes_pod_annotation_pyroscope_io_scrape]
            action: keep
            regex: true
          - source_labels: [__meta_kubernetes_pod_annotation_pyroscope_io_application_name]
            action: replace
            target_label: __name__
          - source_labels: [__meta_kubernetes_pod_annotation_pyroscope_io_scheme]
            action: replace
            regex: (https?)
            target_label: __scheme__
          - source_labels: [__address__, __meta_kubernetes_pod_annotation_pyroscope_io_port]
            action: replace
            regex: ([^:]+)(?::\d+)?;(\d+)
            replacement: \$1:\$2
            target_label: __address__
          - action: labelmap
            regex: __meta_kubernetes_pod_label_(.+)
          - source_labels: [__meta_kubernetes_namespace]
            action: replace
            target_label: kubernetes_namespace
          - source_labels: [__meta_kubernetes_pod_name]
            action: replace
            target_label: kubernetes_pod_name
          - source_labels: [__meta_kubernetes_pod_phase]
            regex: Pending|Succeeded|Failed|Completed
            action: drop
          - action: labelmap
            regex: __meta_kubernetes_pod_annotation_pyroscope_io_profile_(.+)
            replacement: __profile_\$1
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
    logs:
      level: info
EOF

echo "== profcol (in-cluster configuration)"
timeout 60 "$PROFCOL" validate --config "$WORK/config.yaml"
T0=$(date +%s%N)
start_profcol profcol "$WORK/config.yaml"
targets() { metric_first profcol_scrape_targets 'job="kubernetes-pods"'; }
# checkout-1: process_cpu and memory; big-1: memory (mutex is off for both
# and cpu for big-1 by annotation; goroutine and block are off in the job).
if wait_until 20 equals 3 targets; then pass "3 loops from the listed pods"; else fail "loops: $(targets)"; fi
sleep 5

echo "== (c) a pod added while running, then deleted"
pod_d() { # PHASE IP
  cat <<EOF
{"op":"put","resource":"pods","object":{"metadata":{"name":"late-1","namespace":"shop","uid":"uid-late",
 "labels":{"app":"late"},"annotations":{"pyroscope.io/scrape":"true","pyroscope.io/application-name":"late",
 "pyroscope.io/port":"$DPORT","pyroscope.io/profile-cpu-enabled":"false","pyroscope.io/profile-goroutines-enabled":"true"}},
 "spec":{"nodeName":"node-b","containers":[{"name":"app","image":"i","ports":[{"containerPort":$DPORT}]}]},
 "status":{"phase":"$1","podIP":"$2"}}}
EOF
}
ctl "$(pod_d Pending "")"
ctl '{"op":"bookmark","resource":"pods"}'
sleep 2
ADDED_NS=$(date +%s%N)
ctl "$(pod_d Running 127.0.0.3)"
# late-1: memory, mutex and goroutine (cpu off, goroutine on by annotation)
if wait_until 10 equals 6 targets; then pass "added pod scraped within seconds"; else fail "loops after add: $(targets)"; fi
sleep 5
ctl '{"op":"delete","resource":"pods","key":"shop/big-1"}'
DELETED_NS=$(date +%s%N)
if wait_until 10 equals 5 targets; then pass "deleted pod's loops stopped"; else fail "loops after delete: $(targets)"; fi

echo "== (d) bad input keeps the last good state"
ctl '{"op":"raw","resource":"pods","line":"{\"type\":\"ADDED\",\"object\":{\"metadata\":"}'
ctl '{"op":"raw","resource":"pods","line":"{\"type\":\"ADDED\",\"object\":{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"namespace\":\"shop\"}}}"}'
ctl '{"op":"raw","resource":"pods","line":"{\"type\":\"EXPLODED\",\"object\":{}}"}'
"$PY" -c '
import json, sys
big = {"kind": "Pod", "metadata": {"name": "huge", "namespace": "shop", "annotations": {"a": "y" * (9 << 20)}}}
print(json.dumps({"op": "raw", "resource": "pods", "line": json.dumps({"type": "ADDED", "object": big})}))' >"$WORK/huge.json"
curl -sf --cacert "$SA/ca.crt" -X POST --data-binary "@$WORK/huge.json" "https://127.0.0.1:$API/_control" >/dev/null
bad() { metric_first profcol_scrape_kubernetes_bad_events_total 'job="kubernetes-pods"'; }
if wait_until 10 at_least 4 bad; then pass "4 bad events counted"; else fail "bad events: $(bad)"; fi
grep -q 'kubernetes watch event too large' "$WORK/profcol.log" && pass "huge object logged" || fail "huge object not logged"
grep -q 'unexpected kind' "$WORK/profcol.log" && pass "unknown kind logged" || fail "unknown kind not logged"
grep -q 'malformed JSON' "$WORK/profcol.log" && pass "malformed JSON logged" || fail "malformed JSON not logged"
[ "$(targets)" = 5 ] && pass "targets kept after bad input" || fail "targets after bad input: $(targets)"

echo "== (f) token rotation"
printf 'token-two' >"$SA/token.tmp" && mv "$SA/token.tmp" "$SA/token"
ctl '{"op":"tokens","valid":["token-two"]}'
ctl '{"op":"close_watches"}'
ROT_T=$(date +%s)
used_two() { apilog | "$PY" -c 'import json,sys; sys.exit(0 if any(e["token"]=="token-two" and e["status"]==200 for e in json.load(sys.stdin)) else 1)'; }
if wait_until 20 used_two; then pass "new token used after a 401"; else fail "new token not used"; fi
[ "$(targets)" = 5 ] && pass "targets kept through rotation" || fail "targets after rotation: $(targets)"

echo "== (e) 410s, 403, 429"
nlists() { apilog | "$PY" -c 'import json,sys; print(sum(1 for e in json.load(sys.stdin) if e.get("kind")=="list" and e["status"]==200))'; }
L0=$(nlists)
ctl '{"op":"fail","match":"continue","status":410,"count":1}'
ctl '{"op":"fail","match":"list","status":403,"count":1}'
ctl '{"op":"expire"}'
if wait_until 30 at_least $((L0 + 2)) nlists; then pass "ERROR 410 re-listed"; else fail "lists: $L0 -> $(nlists)"; fi
[ "$(targets)" = 5 ] && pass "targets unchanged by the re-list" || fail "targets after re-list: $(targets)"
L1=$(nlists)
ctl '{"op":"fail","match":"watch","status":429,"count":1}'
ctl '{"op":"fail","match":"watch","status":410,"count":1}'
ctl '{"op":"close_watches"}'
# the backoff has grown with the failures above (0.8 s doubling, jitter,
# at most 30 s): 429, then 410, each after its backoff
if wait_until 90 at_least $((L1 + 1)) nlists; then pass "HTTP 410 on a watch re-listed"; else fail "lists: $L1 -> $(nlists)"; fi

stop profcol || fail "profcol exited with $?"

echo "== checks of the API requests and the scraped profiles"
apilog >"$WORK/apilog.json"
if "$PY" - "$WORK" "$A" "$D" "$ADDED_NS" "$DELETED_NS" <<'PYEOF'
import glob, json, os, sys
work, A, D, added_ns, deleted_ns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
ok = True
def check(cond, msg):
    global ok
    print(("PASS: " if cond else "FAIL: ") + msg)
    ok = ok and cond

log = json.load(open(os.path.join(work, "apilog.json")))
api = [e for e in log if e["path"].startswith("/api")]
first = api[0]
check(first["path"] == "/api/v1/pods" and "limit=500" in first["query"] and "resourceVersion=0" in first["query"],
      "first request lists all pods, limit=500, resourceVersion=0: %s?%s" % (first["path"], first["query"]))
check(sum(1 for e in api[:4] if e.get("kind") == "continue") == 2, "the first list took 3 pages (continue)")
watches = [e for e in api if e.get("kind") == "watch" and e["status"] == 200]
check(watches and "allowWatchBookmarks=true" in watches[0]["query"] and watches[0]["rv"] > 0,
      "watched from the list's resourceVersion with bookmarks")
check(all(e["accept"] == "application/json" for e in api), "asks for JSON")
cont410 = [i for i, e in enumerate(api) if e.get("kind") == "continue" and e["status"] == 410]
check(len(cont410) == 1, "an expired continue token was answered 410")
if cont410:
    nxt = [e for e in api[cont410[0] + 1:] if e.get("kind") == "list"]
    check(nxt and "resourceVersion" not in nxt[0]["query"] and "continue" not in nxt[0]["query"],
          "after the 410 the list starts again without resourceVersion")
check(any(e["status"] == 403 for e in api), "a 403 was answered")
check(any(e["status"] == 429 for e in api), "a 429 was answered")
u401 = [e for e in api if e["status"] == 401]
check(u401 and all(e["token"] == "token-one" for e in u401), "old token refused with 401")

items = []
for f in sorted(glob.glob(os.path.join(work, "json", "*.jsonl"))):
    for line in open(f):
        items.append(json.loads(line))
def by(pod, name=None):
    return [o for o in items if o["attributes"].get("kubernetes_pod_name") == pod
            and (name is None or o["attributes"].get("__name__") == name)]
ck = by("checkout-1")
check(by("checkout-1", "process_cpu") and by("checkout-1", "memory"), "checkout-1: process_cpu and memory")
check(not by("checkout-1", "mutex"), "checkout-1: mutex off by annotation")
if ck:
    a = ck[0]["attributes"]
    want = {"service.name": "checkout", "kubernetes_namespace": "shop", "app_kubernetes_io_name": "checkout",
            "pod_template_hash": "7d9c", "instance": A, "job": "kubernetes-pods"}
    for k, v in want.items():
        check(a.get(k) == v, "checkout-1: %s=%r (want %r)" % (k, a.get(k), v))
    leaked = [k for k in a if k.startswith("__") and k not in ("__name__", "__delta__")]
    check(not leaked, "no __ labels leak: %r" % leaked)
# the two declared ports rewrite to one address: one loop per profile
cpu_times = sorted(o["received_unix_nano"] for o in by("checkout-1", "process_cpu"))
gaps = [b - a for a, b in zip(cpu_times, cpu_times[1:])]
check(gaps and min(gaps) > 1.0e9, "checkout-1 scraped once per interval (targets deduplicated)")
check(not by("pending-1") and not by("failed-1"), "Pending and Failed pods dropped")
big = by("big-1")
check(big and big[0]["attributes"].get("team_example_com_l299") == "v299" and
      not by("big-1", "process_cpu") and
      big[0]["attributes"].get("service.name") == "bigapp", "big-1 (300 labels, 100 KiB annotation) scraped, labels mapped")
check(not [o for o in big if o["received_unix_nano"] > deleted_ns + 4e9], "big-1 not scraped after deletion")
late = by("late-1")
check(late and min(o["received_unix_nano"] for o in late) < added_ns + 6e9, "late-1 scraped within 6 s of becoming Running")
check(by("late-1", "goroutine") and not by("late-1", "process_cpu"),
      "late-1: goroutine on and process_cpu off by annotation")
check(late and late[0]["attributes"].get("instance") == D, "late-1 at its pod IP and annotated port")
sys.exit(0 if ok else 1)
PYEOF
then pass "requests and profiles"; else fail "requests and profiles"; fi

if grep -q 'level=error' "$WORK/profcol.log"; then
  fail "profcol logged errors"; grep 'level=error' "$WORK/profcol.log" | head
fi
finish
