#!/usr/bin/env bash
# The otlphttp exporter against an OTLP/HTTP sink built from proto/otlp:
#   - real profiles arrive as valid ExportProfilesServiceRequests that
#     convert back (`profcol convert`) to pprofs equal to the input
#   - resource attributes = the item's attributes minus `__` ones
#   - gzip and json encodings parse
#   - 503 then recovery (retried), 400 (dropped, google.rpc.Status message
#     logged), partial_success (logged, counted)
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fixtures
gen_pb
PB="$WORK/pb"

received() { ls "$1"/*.otlp 2>/dev/null | wc -l; }
wait_received() { wait_until "$3" at_least "$2" received "$1"; }  # OUT_DIR N SECONDS

run_case() { # NAME ENCODING COMPRESSION
  local name=$1 out="$WORK/$1/out" in="$WORK/$1/in" pf="$WORK/$1/port"
  mkdir -p "$out" "$in"
  start_listener "$name/sink" "$pf" "$PY" "$HERE/sinks/otlp_sink.py" "$PB" "$out" "$pf"
  SPORT=$SINK_PORT
  new_ports
  cat >"$WORK/$name/c.yaml" <<EOF
receivers:
  file: {include: $in, poll_interval: 100ms}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$SPORT
    encoding: $2
    compression: $3
    headers: {X-Test: "yes"}
    timeout: 5s
    retry_on_failure: {initial_interval: 200ms, max_interval: 1s, max_elapsed_time: 60s}
service:
  pipelines:
    profiles: {receivers: [file], exporters: [otlphttp]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF
  start_profcol "$name/profcol" "$WORK/$name/c.yaml"
  IN=$in OUT=$out
}

check_equal() { # OTLP_FILE ORIGINAL LABEL
  if "$PROFCOL" convert --to pprof "$1" "$1.pb.gz" 2>/dev/null &&
     "$CHECK" "$2" "$1.pb.gz" >/dev/null 2>&1; then
    pass "$3: request converts back to a pprof equal to the input"
  else
    fail "$3: $("$CHECK" "$2" "$1.pb.gz" 2>&1 | head -2)"
  fi
}

echo "== proto + gzip"
run_case proto proto gzip
n=0
for p in cpu heap goroutine node_wall rich; do
  cp "$PROF/$p.pb.gz" "$IN/"
  n=$((n + 1))
  if wait_received "$OUT" $n 20; then
    check_equal "$(ls "$OUT"/*.otlp | tail -1)" "$PROF/$p.pb.gz" "$p"
  else
    fail "$p: not delivered"
  fi
done
if $PY - "$OUT/requests.jsonl" <<'EOF'
import json, sys
for l in open(sys.argv[1]):
    r = json.loads(l)
    assert r["path"] == "/v1development/profiles" and r["content_type"] == "application/x-protobuf", r
    assert r["content_encoding"] == "gzip" and r["x_test"] == "yes", r
EOF
then pass "POST /v1development/profiles, x-protobuf, gzip, custom header"; else fail "request headers"; fi
if "$PROFCOL" inspect "$(ls "$OUT"/*.otlp | head -1)" >/dev/null 2>&1; then
  pass "inspect accepts the request (v1.11.0 rules)"
else
  fail "inspect rejects the request"
fi

echo "== resource attributes"
"$PROFCOL" convert --to otlp "$PROF/cpu.pb.gz" "$WORK/cpu.otlp"
$PY - "$PB" "$WORK/cpu.otlp" "$WORK/attrs.otlp" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
req = ps.ExportProfilesServiceRequest()
req.ParseFromString(open(sys.argv[2], "rb").read())
res = req.resource_profiles[0].resource
for k, v in (("service.name", "checkout"), ("__session_id__", "abc")):
    a = res.attributes.add(); a.key = k; a.value.string_value = v
a = res.attributes.add(); a.key = "process.pid"; a.value.int_value = 42
open(sys.argv[3], "wb").write(req.SerializeToString())
EOF
cp "$WORK/attrs.otlp" "$IN/attrs.tmp" && mv "$IN/attrs.tmp" "$IN/attrs.otlp"
n=$((n + 1))
if wait_received "$OUT" $n 20; then
  last=$(ls "$OUT"/*.otlp | tail -1)
  if $PY - "$PB" "$last" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
req = ps.ExportProfilesServiceRequest()
req.ParseFromString(open(sys.argv[2], "rb").read())
attrs = {a.key: a.value for a in req.resource_profiles[0].resource.attributes}
assert attrs["service.name"].string_value == "checkout", attrs
assert attrs["process.pid"].int_value == 42, attrs
assert "__session_id__" not in attrs, attrs
EOF
  then pass "resource attributes typed, __ attributes left out"; else fail "resource attributes"; fi
  check_equal "$last" "$PROF/cpu.pb.gz" "attrs"
else
  fail "attrs: not delivered"
fi

echo "== 503 then recovery"
http_control "$SPORT" '{"status": 503, "count": 3}'
cp "$PROF/mutex.pb.gz" "$IN/"
n=$((n + 1))
if wait_received "$OUT" $n 30; then
  # metric_sum: every series of the counter (one exporter here).
  r=$(metric_sum profcol_exporter_retries_total)
  [ "$r" -ge 3 ] && pass "delivered after 3 x 503 (retries=$r)" || fail "retries=$r, want >= 3"
else
  fail "503: not delivered"
fi

echo "== 400 -> dropped with the server's message"
http_control "$SPORT" '{"status": 400, "count": 1, "message": "profile has no sample type"}'
cp "$PROF/block.pb.gz" "$IN/"
for _ in $(seq 50); do grep -q "profile has no sample type" "$WORK/proto/profcol.log" && break; sleep 0.2; done
sleep 0.5
if grep -q "profile has no sample type" "$WORK/proto/profcol.log" && [ "$(received "$OUT")" = "$n" ] &&
   [ "$(metric_sum profcol_exporter_dropped_profiles_total '{exporter="otlphttp",reason="permanent"}')" -ge 1 ]; then
  pass "400: dropped, counted, google.rpc.Status message logged"
else
  fail "400 handling"; tail -3 "$WORK/proto/profcol.log"
fi

echo "== partial success"
http_control "$SPORT" '{"rejected": 1, "message": "too old"}'
cp "$PROF/allocs.pb.gz" "$IN/"
n=$((n + 1))
wait_received "$OUT" $n 20 || true
sleep 0.5
if [ "$(metric_sum profcol_exporter_rejected_profiles_total)" = 1 ] && grep -q "too old" "$WORK/proto/profcol.log"; then
  pass "partial_success: rejected_profiles counted, message logged"
else
  fail "partial success: counter $(metric_sum profcol_exporter_rejected_profiles_total)"
fi

echo "== json + none"
run_case json json none
cp "$PROF/cpu.pb.gz" "$IN/"
if wait_received "$OUT" 1 20; then
  check_equal "$(ls "$OUT"/*.otlp | tail -1)" "$PROF/cpu.pb.gz" "json"
  grep -q '"content_type": "application/json"' "$OUT/requests.jsonl" && pass "json content type" || fail "json content type"
else
  fail "json: not delivered"; tail -3 "$WORK/json/profcol.log"
fi

finish
