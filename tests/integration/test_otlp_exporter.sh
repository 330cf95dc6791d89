#!/usr/bin/env bash
# The `otlp` exporter against OTLP ProfilesService/Export sinks speaking the
# real protocol (tests/integration/sinks/otlp_grpc_sink.py: python3-grpcio,
# messages from proto/otlp, opentelemetry-proto v1.11.0). No OTLP profiles
# backend can run here, so the sink checks every request with the
# independent v1.11.0 checker (otlp_check.py) and refuses broken ones.
# profcol reads real Go profiles (tests/fixtures/build.sh) with the `file`
# receiver and has two otlp exporters in one pipeline.
#   (a) one slow sink (hanging) never delays the other: the fast one gets
#       everything promptly
#   (b) every request passes the v1.11.0 checks; converted back with
#       `profcol convert`, the profiles equal the inputs (pprofcheck)
#   (c) headers arrive as gRPC metadata
#   (d) partial_success is counted (profcol_exporter_rejected_profiles_total)
#   (e) UNAVAILABLE for a while -> delivered after, retries counted
#   (f) the slow sink, once answering, receives everything too
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py grpc grpc_tools google.protobuf


echo "== fixtures"
fixtures
gen_pb
mkdir -p "$WORK/in"

control slow '{"mode":"hang","hang_s":30}'
start_sink otlp_grpc fast
FAST=$SINK_PORT
start_sink otlp_grpc slow
SLOW=$SINK_PORT
new_ports
cat > "$WORK/config.yaml" <<EOF
receivers:
  file:
    include: $WORK/in
    pattern: "*.pb.gz"
    poll_interval: 100ms
exporters:
  otlp/fast:
    endpoint: 127.0.0.1:$FAST
    insecure: true
    timeout: 2s
    headers:
      X-Scope-OrgID: team-b
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 1s
  otlp/slow:
    endpoint: 127.0.0.1:$SLOW
    insecure: true
    timeout: 2s
    compression: none
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 1s
      max_elapsed_time: 300s
service:
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
  pipelines:
    profiles:
      receivers: [file]
      exporters: [otlp/slow, otlp/fast]
EOF
"$PROFCOL" validate --config "$WORK/config.yaml" >/dev/null
start_profcol profcol "$WORK/config.yaml"

echo "== (a) a hanging sink does not delay the other"
INPUTS="cpu heap allocs goroutine mutex block threadcreate unsorted_ids rich"
n=$(echo $INPUTS | wc -w)
t0=$SECONDS
for f in $INPUTS; do drop "$PROF/$f.pb.gz" "$f.pb.gz"; done
# One file = one batch = one Export request.
if wait_stat fast accepted_requests "$n" 15; then
  pass "(a) fast sink got all $n requests in $((SECONDS - t0)) s while the other hangs"
else
  fail "(a) fast sink got $(stat_of fast accepted_requests) of $n requests"
fi
[ "$(stat_of fast invalid)" = 0 ] && pass "(a) no request failed the v1.11.0 checks" ||
  fail "(a) sink refused: $(stat_of fast errors)"

echo "== (b) converted back, the profiles equal the inputs"
mkdir -p "$WORK/back"
for req in "$WORK"/fast/r*.otlp; do
  b=$(basename "$req" .otlp)
  "$PROFCOL" convert --to pprof "$req" "$WORK/back/${b}_%d.pb.gz" 2>/dev/null ||
    fail "(b) profcol convert refused $b"
done
for f in $INPUTS; do
  found=""
  for out in "$WORK"/back/*.pb.gz; do
    if "$CHECK" "$PROF/$f.pb.gz" "$out" >/dev/null 2>&1; then found=$out; break; fi
  done
  [ -n "$found" ] && pass "(b) $f.pb.gz came back equal" ||
    fail "(b) $f.pb.gz: nothing received equals it"
done

echo "== (c) metadata"
md=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"].get("x-scope-orgid"))' "$WORK/fast/stats.json")
[ "$md" = "team-b" ] && pass "(c) header arrived: x-scope-orgid=$md" || fail "(c) x-scope-orgid=$md"

echo "== (d) partial success counted"
# metric_sum: a counter's series for one exporter, summed (there is one).
r0=$(metric_sum profcol_exporter_rejected_profiles_total 'exporter="otlp/fast"')
control fast '{"mode":"ok","partial":2}'
base=$(stat_of fast accepted_requests)
drop "$PROF/cpu.pb.gz" d1.pb.gz
wait_stat fast accepted_requests $((base + 1)) 15 || true
end=$((SECONDS + 10))
while [ $SECONDS -lt $end ] &&
      [ "$(metric_sum profcol_exporter_rejected_profiles_total 'exporter="otlp/fast"')" = "$r0" ]; do
  sleep 0.2
done
r1=$(metric_sum profcol_exporter_rejected_profiles_total 'exporter="otlp/fast"')
[ "$r1" -ge $((r0 + 2)) ] && pass "(d) rejected_profiles_total $r0 -> $r1" ||
  fail "(d) rejected_profiles_total $r0 -> $r1"
control fast '{"mode":"ok"}'

echo "== (e) UNAVAILABLE for 3 s, then recovery"
outage_recovery "(e)" fast profiles otlp/fast "$PROF/heap.pb.gz" "$PROF/goroutine.pb.gz"

echo "== (f) the slow sink, once answering, gets everything"
control slow '{"mode":"ok"}'
want=$(stat_of fast profiles)
if wait_stat slow profiles "$want" 60; then
  pass "(f) slow sink caught up: $(stat_of slow profiles) profiles"
else
  fail "(f) slow sink has $(stat_of slow profiles) of $want profiles"
fi
kill -0 "$PC_PID" && pass "profcol still running" || fail "profcol died"

finish
