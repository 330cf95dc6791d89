#!/usr/bin/env bash
# The pyroscope exporter against a sink speaking Pyroscope's push API and
# /ingest, built from proto/pyroscope:
#   - real Go/Node profiles dropped into a file receiver arrive byte-identical
#     (original bytes forwarded), pass `pprofcheck -valid` and equal the input
#   - labels are what a Pyroscope user queries: service_name, __name__,
#     external labels, sanitised names, __delta__, no internal labels
#   - OTLP input with resource attributes: labels from them, pprof equal
#   - faults: 503 for a while (delivered, retries counted), 429 +
#     Retry-After (honoured), 400 (dropped, server message logged, counted),
#     sink absent at start, sink slower than `timeout`
#   - api: ingest sends /ingest?name=service{labels} with the raw pprof
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fixtures
gen_pb          # OTLP modules for the checks below
gen_pyro_pb     # the sink's
PB="$WORK/pb"

# received OUT_DIR: number of profiles the sink stored
received() { ls "$1"/*.json 2>/dev/null | wc -l; }

wait_received() { wait_until "$3" at_least "$2" received "$1"; }  # OUT_DIR N SECONDS

# metric_sum: every series of a counter (one exporter here), summed.

write_config() { # FILE PORT API EXTRA_KEYS
  cat >"$1" <<EOF
receivers:
  file:
    include: $IN
    poll_interval: 100ms
exporters:
  pyroscope:
    endpoint: http://127.0.0.1:$2
    api: $3
    tenant_id: team-a
    headers: {X-Test: "yes"}
    external_labels: {cluster: test-1, k8s.namespace: prod}
    timeout: 2s
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 60s}
$4
service:
  pipelines:
    profiles: {receivers: [file], exporters: [pyroscope]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
    logs: {level: info}
EOF
}

IN="$WORK/in"
OUT="$WORK/out"
mkdir -p "$IN" "$OUT"
new_ports
start_pyro_sink out
write_config "$WORK/push.yaml" "$SINK_PORT" push ""
start_profcol push "$WORK/push.yaml"

echo "== real profiles forwarded"
INPUTS=(cpu heap allocs goroutine mutex block node_wall node_heap rich)
for n in "${INPUTS[@]}"; do cp "$PROF/$n.pb.gz" "$IN/"; done
if wait_received "$OUT" ${#INPUTS[@]} 20; then
  pass "${#INPUTS[@]} profiles arrived"
else
  fail "only $(received "$OUT") of ${#INPUTS[@]} profiles arrived"
fi

# For each input: the stored profile with identical bytes, its labels.
$PY - "$PROF" "$OUT" "${INPUTS[@]}" >"$WORK/match.txt" <<'EOF'
import json, os, sys
prof, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
stored = {}
for f in sorted(os.listdir(out)):
    if f.endswith(".pb.gz") or f.endswith(".pb"):
        stored.setdefault(open(os.path.join(out, f), "rb").read(), []).append(f)
for n in names:
    data = open(os.path.join(prof, n + ".pb.gz"), "rb").read()
    hits = stored.get(data, [])
    if not hits:
        print(n, "MISSING", 0, "{}")
        continue
    meta = json.load(open(os.path.join(out, hits[0].split(".")[0] + ".json")))
    print(n, os.path.join(out, hits[0]), len(hits), json.dumps(dict(meta["labels"]), sort_keys=True))
EOF
declare -A WANT_NAME=([cpu]=process_cpu [heap]=memory [allocs]=memory [goroutine]=goroutine
                      [mutex]=mutex [node_wall]=wall [node_heap]=memory)
while read -r n file count labels; do
  if [ "$file" = MISSING ]; then fail "$n: no byte-identical copy arrived"; continue; fi
  pass "$n: arrived byte-identical (copies: $count)"
  [ "$count" = 1 ] || fail "$n: $count copies, want 1 (duplicates)"
  if out=$("$CHECK" -valid "$file" 2>&1) && "$CHECK" "$PROF/$n.pb.gz" "$file" >/dev/null 2>&1; then
    pass "$n: pprofcheck -valid and equal to the input"
  else
    fail "$n: pprofcheck: $out"
  fi
  got_name=$($PY -c 'import json,sys; print(json.loads(sys.argv[1]).get("__name__"))' "$labels")
  if [ -n "${WANT_NAME[$n]:-}" ] && [ "$got_name" != "${WANT_NAME[$n]}" ]; then
    fail "$n: __name__=$got_name, want ${WANT_NAME[$n]}"
  fi
  if $PY - "$labels" <<'EOF'
import json, sys
l = json.loads(sys.argv[1])
assert l["service_name"] == "unknown_service", l
assert l["cluster"] == "test-1" and l["k8s_namespace"] == "prod", l
assert all(not k.startswith("__") or k in ("__name__", "__delta__") for k in l), l
EOF
  then pass "$n: labels $labels"; else fail "$n: labels $labels"; fi
done <"$WORK/match.txt"
if grep -q '"__delta__": "false"' <(grep '^cpu ' "$WORK/match.txt"); then
  pass "cpu (duration set) carries __delta__=false"
else
  fail "cpu lacks __delta__=false"
fi
if $PY - "$OUT/requests.jsonl" <<'EOF'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
ok = [r for r in reqs if r["status"] == 200]
assert ok, "no request"
for r in ok:
    assert r["content_type"] == "application/proto", r
    assert r["content_encoding"] == "gzip", r
    assert r["connect"] == "1", r
    assert r["tenant"] == "team-a", r
    assert r["x_test"] == "yes", r
print("%d requests, %d series" % (len(ok), sum(r.get("series", 0) for r in ok)))
EOF
then pass "push requests: Connect headers, gzip, tenant, custom header"; else fail "push request headers"; fi

echo "== OTLP input with resource attributes"
"$PROFCOL" convert --to otlp "$PROF/cpu.pb.gz" "$WORK/cpu.otlp"
$PY - "$PB" "$WORK/cpu.otlp" "$WORK/attrs.otlp" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
req = ps.ExportProfilesServiceRequest()
req.ParseFromString(open(sys.argv[2], "rb").read())
res = req.resource_profiles[0].resource
for k, v in (("service.name", "checkout"), ("k8s.pod.name", "pod-1"), ("__session_id__", "abc"),
             ("service_name", "shadow")):
    a = res.attributes.add(); a.key = k; a.value.string_value = v
open(sys.argv[3], "wb").write(req.SerializeToString())
EOF
before=$(received "$OUT")
cp "$WORK/attrs.otlp" "$IN/attrs.otlp.tmp" && mv "$IN/attrs.otlp.tmp" "$IN/attrs.otlp"
if wait_received "$OUT" $((before + 1)) 20; then
  f=$(ls "$OUT"/*.json | tail -1)
  labels=$($PY -c 'import json,sys; print(json.dumps(dict(json.load(open(sys.argv[1]))["labels"]), sort_keys=True))' "$f")
  if $PY -c 'import json,sys; l=json.loads(sys.argv[1]); assert l["service_name"]=="checkout" and l["k8s_pod_name"]=="pod-1" and "__session_id__" not in l and l["__name__"]=="process_cpu", l' "$labels"; then
    pass "OTLP resource attributes -> labels $labels"
  else
    fail "OTLP labels $labels"
  fi
  pf="${f%.json}.pb.gz"
  if "$CHECK" "$PROF/cpu.pb.gz" "$pf" >/dev/null 2>&1; then
    pass "pprof encoded from OTLP equals the original cpu profile"
  else
    fail "pprof from OTLP differs: $("$CHECK" "$PROF/cpu.pb.gz" "$pf" 2>&1 | head -3)"
  fi
else
  fail "OTLP item not delivered"
fi

echo "== 503 for a while, then recovery"
retries0=$(metric_sum profcol_exporter_retries_total)
http_control "$SINK_PORT" '{"status": 503, "count": 4}'
before=$(received "$OUT")
cp "$PROF/goroutine.pb.gz" "$IN/g503.pb.gz"
if wait_received "$OUT" $((before + 1)) 30; then
  r=$(( $(metric_sum profcol_exporter_retries_total) - retries0 ))
  if [ "$r" -ge 4 ]; then pass "delivered after 4 x 503, retries counted: $r"; else fail "retries counted $r, want >= 4"; fi
else
  fail "not delivered after 503s"
fi

echo "== 429 with Retry-After: 2"
http_control "$SINK_PORT" '{"status": 429, "count": 1, "retry_after": "2", "body": "{\"code\":\"resource_exhausted\",\"message\":\"push rate limit exceeded\"}"}'
before=$(received "$OUT")
cp "$PROF/mutex.pb.gz" "$IN/m429.pb.gz"
if wait_received "$OUT" $((before + 1)) 30; then
  gap=$($PY - "$OUT/requests.jsonl" <<'EOF'
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
i = max(k for k, r in enumerate(reqs) if r["status"] == 429)
print("%.2f" % (reqs[i + 1]["t"] - reqs[i]["t"]))
EOF
)
  if $PY -c "import sys; sys.exit(0 if 1.9 <= $gap <= 6 else 1)"; then
    pass "429 Retry-After honoured: next attempt after ${gap}s (backoff alone: 0.2s)"
  else
    fail "429: next attempt after ${gap}s, want ~2s"
  fi
else
  fail "not delivered after 429"
fi

echo "== 400 -> dropped, server message logged"
perm0=$(metric_sum profcol_exporter_dropped_profiles_total '{exporter="pyroscope",reason="permanent"}')
http_control "$SINK_PORT" '{"status": 400, "count": 1, "body": "{\"code\":\"invalid_argument\",\"message\":\"duplicate label name: service_name\"}"}'
before=$(received "$OUT")
cp "$PROF/allocs.pb.gz" "$IN/a400.pb.gz"
for _ in $(seq 50); do
  [ "$(metric_sum profcol_exporter_dropped_profiles_total '{exporter="pyroscope",reason="permanent"}')" -gt "$perm0" ] && break
  sleep 0.2
done
sleep 1
if [ "$(received "$OUT")" = "$before" ] &&
   [ "$(metric_sum profcol_exporter_dropped_profiles_total '{exporter="pyroscope",reason="permanent"}')" -gt "$perm0" ]; then
  pass "400: not retried, counted as dropped (permanent)"
else
  fail "400: received $(received "$OUT") (was $before), dropped counter $(metric_sum profcol_exporter_dropped_profiles_total '{exporter="pyroscope",reason="permanent"}')"
fi
if grep -q "duplicate label name: service_name" "$WORK/push.log"; then
  pass "400: the server's message is in the log"
else
  fail "400: server message not logged"; tail -5 "$WORK/push.log"
fi

echo "== sink slower than timeout"
http_control "$SINK_PORT" '{"delay": 3}'
before=$(received "$OUT")
cp "$PROF/heap.pb.gz" "$IN/slow.pb.gz"
sleep 2.5
http_control "$SINK_PORT" '{"delay": 0}'
if wait_received "$OUT" $((before + 1)) 30; then
  pass "slow sink: delivered after the timeout ($(received "$OUT") - $before copies; a copy whose response was lost may repeat)"
else
  fail "slow sink: not delivered"
fi

echo "== sink absent at start"
stop out || true
OLD_PORT=$SINK_PORT
before=$(received "$OUT")
cp "$PROF/cpu.pb.gz" "$IN/absent.pb.gz"
sleep 2
start_pyro_sink out "$OLD_PORT"
if wait_received "$OUT" $((before + 1)) 30; then
  pass "delivered once the sink came up"
else
  fail "not delivered after the sink came up"
  tail -5 "$WORK/push.log"; tail -3 "$OUT/requests.jsonl"
fi
stop push || true

echo "== api: ingest"
IN="$WORK/in2"; OUT2="$WORK/out2"; mkdir -p "$IN" "$OUT2"
stop out || true
start_pyro_sink out2
new_ports
write_config "$WORK/ingest.yaml" "$SINK_PORT" ingest ""
start_profcol ingest "$WORK/ingest.yaml"
cp "$PROF/cpu.pb.gz" "$PROF/heap.pb.gz" "$IN/"
if wait_received "$OUT2" 2 20; then
  if $PY - "$OUT2" "$PROF" <<'EOF'
import json, os, sys
out, prof = sys.argv[1], sys.argv[2]
inputs = {open(os.path.join(prof, n), "rb").read() for n in ("cpu.pb.gz", "heap.pb.gz")}
for f in sorted(os.listdir(out)):
    if not f.endswith(".json"):
        continue
    meta = json.load(open(os.path.join(out, f)))
    l = dict(meta["labels"])
    assert meta["api"] == "ingest" and meta["tenant"] == "team-a", meta
    assert l["service_name"] == "unknown_service" and l["cluster"] == "test-1", l
    assert l["k8s_namespace"] == "prod" and l["?format"] == "pprof", l
    assert "__name__" not in l and int(l["?from"]) > 0, l
    assert open(os.path.join(out, f[:-5] + ".pb.gz"), "rb").read() in inputs
EOF
  then pass "ingest: name=service{labels}, from/until, raw body byte-identical"; else fail "ingest request"; fi
else
  fail "ingest: $(received "$OUT2") of 2 arrived"
fi

finish
