#!/usr/bin/env bash
# The `parca` exporter against a WriteRaw sink speaking Parca's real
# protocol (tests/integration/sinks/parca_sink.py: python3-grpcio, messages
# from proto/parca and proto/pprof). Parca itself cannot run here, so the
# sink validates the way Parca's WriteRaw ingest does and refuses what Parca
# would refuse. profcol reads real Go profiles (tests/fixtures/build.sh)
# with the `file` receiver.
#   (a) sink absent at start -> everything delivered once it is up
#   (b) every pprof that arrives passes `pprofcheck -valid` and equals its
#       input (`pprofcheck A B`), including one whose ids had to be renumbered
#   (c) labels are what Parca users query: __name__, service_name, external
#       labels; bearer token and headers arrive as gRPC metadata
#   (d) UNAVAILABLE for a while -> delivered after, retries counted
#   (e) a sink hanging past the timeout -> retried, delivered
#   (f) RESOURCE_EXHAUSTED with RetryInfo retried; without it dropped
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py grpc grpc_tools google.protobuf


echo "== fixtures"
fixtures
gen_pb
mkdir -p "$WORK/in"

PORT=$(free_port)
new_ports
cat > "$WORK/config.yaml" <<EOF
receivers:
  file:
    include: $WORK/in
    pattern: "*.pb.gz"
    poll_interval: 100ms
exporters:
  parca:
    endpoint: 127.0.0.1:$PORT
    insecure: true
    timeout: 1s
    bearer_token: s3cret
    headers:
      X-Scope-OrgID: team-a
    external_labels:
      cluster: test-1
      k8s.namespace: prod
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 1s
      max_elapsed_time: 120s
    sending_queue:
      num_consumers: 2
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
  pipelines:
    profiles:
      receivers: [file]
      exporters: [parca]
EOF
"$PROFCOL" validate --config "$WORK/config.yaml" >/dev/null
start_profcol profcol "$WORK/config.yaml"

echo "== (a) sink absent at start"
INPUTS="cpu heap allocs goroutine mutex block threadcreate unsorted_ids"
for f in $INPUTS; do drop "$PROF/$f.pb.gz" "$f.pb.gz"; done
sleep 2
start_sink parca parca "$PORT"
n=$(echo $INPUTS | wc -w)
if wait_stat parca series "$n" 60; then
  pass "(a) all $n profiles delivered after the sink came up"
else
  fail "(a) $(stat_of parca series) of $n series arrived"
fi
[ "$(stat_of parca invalid)" = 0 ] && pass "(a) the sink refused nothing" ||
  fail "(a) sink refused: $(stat_of parca errors)"

echo "== (b) every pprof valid and equal to its input"
for f in $INPUTS; do
  found=""
  for out in "$WORK"/parca/r*_s*.pb.gz; do
    if "$CHECK" "$PROF/$f.pb.gz" "$out" >/dev/null 2>&1; then found=$out; break; fi
  done
  if [ -z "$found" ]; then
    fail "(b) $f.pb.gz: no received profile equals it"
    continue
  fi
  if "$CHECK" -valid "$found" >/dev/null 2>&1; then
    pass "(b) $f.pb.gz arrived equal and valid ($(basename "$found"))"
  else
    fail "(b) $f.pb.gz arrived but pprofcheck -valid refuses it"
  fi
  cp "$found" "$WORK/got_$f.pb.gz"
  cp "${found%.pb.gz}.json" "$WORK/got_$f.json"
done

echo "== (c) labels and metadata"
label() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], "<none>"))' "$WORK/got_$1.json" "$2"; }
expect_label() { # PROFILE LABEL VALUE
  local got
  got=$(label "$1" "$2" 2>/dev/null || echo "<missing file>")
  [ "$got" = "$3" ] && pass "(c) $1: $2=$3" || fail "(c) $1: $2=$got, want $3"
}
expect_label cpu __name__ process_cpu
expect_label heap __name__ memory
expect_label allocs __name__ memory
expect_label goroutine __name__ goroutine
expect_label mutex __name__ mutex
expect_label cpu service_name unknown_service
expect_label cpu cluster test-1
expect_label cpu k8s_namespace prod
md=$("$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["metadata"]; print(m.get("authorization"), m.get("x-scope-orgid"))' "$WORK/parca/stats.json")
[ "$md" = "Bearer s3cret team-a" ] && pass "(c) metadata: $md" || fail "(c) metadata: $md"

echo "== (d) UNAVAILABLE for 3 s, then recovery"
outage_recovery "(d)" parca series parca "$PROF/cpu.pb.gz" "$PROF/heap.pb.gz"

echo "== (e) a sink hanging past the timeout"
base=$(stat_of parca series)
control parca '{"mode":"hang","hang_s":3}'
drop "$PROF/goroutine.pb.gz" e1.pb.gz
sleep 2.5
control parca '{"mode":"ok"}'
if wait_stat parca series $((base + 1)) 30; then
  pass "(e) delivered after the hang (timeout 1s, retried)"
else
  fail "(e) not delivered after the hang"
fi

echo "== (f) RESOURCE_EXHAUSTED"
base=$(stat_of parca series)
control parca '{"mode":"exhausted","retry_ms":700}'
drop "$PROF/mutex.pb.gz" f1.pb.gz
sleep 1.5
control parca '{"mode":"ok"}'
wait_stat parca series $((base + 1)) 30 &&
  pass "(f) with RetryInfo: retried and delivered" ||
  fail "(f) with RetryInfo: not delivered"
base=$(stat_of parca series)
d0=$(metric_sum profcol_exporter_dropped_profiles_total 'reason="permanent"')
control parca '{"mode":"exhausted_noretry"}'
drop "$PROF/block.pb.gz" f2.pb.gz
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ] && [ "$(metric_sum profcol_exporter_dropped_profiles_total 'reason="permanent"')" = "$d0" ]; do sleep 0.2; done
control parca '{"mode":"ok"}'
sleep 1
d1=$(metric_sum profcol_exporter_dropped_profiles_total 'reason="permanent"')
if [ "$d1" -gt "$d0" ] && [ "$(stat_of parca series)" = "$base" ]; then
  pass "(f) without RetryInfo: dropped as permanent ($d0 -> $d1)"
else
  fail "(f) without RetryInfo: dropped $d0 -> $d1, series $base -> $(stat_of parca series)"
fi
kill -0 "$PC_PID" && pass "profcol still running" || fail "profcol died"

finish
