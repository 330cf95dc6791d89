#!/usr/bin/env bash
# profcol against the real Pyroscope Python SDK (PyPI pyroscope-io), both
# wire generations, each in a venv of Python 3.11 under the build tree
# installed from binary wheels pinned by hash:
#   1.4.0  (tests/peers/pyroscope-python/requirements.txt): the push API,
#          POST /push.v1.PusherService/Push; CPU and memory profiles; its
#          wheel is for CPython 3.11 (manylinux2014 x86_64)
#   0.8.16 (requirements-0.8.txt): POST /ingest?name=APP&format=pprof,
#          CPU only, every 10 s; a py2.py3 wheel that installs on 3.11;
#          its tags travel as pprof sample labels, not in `name`
# Loopback only; every wait bounded; an SDK that does not install is a
# failure, never a skip. pip keeps its usual per-user cache.
#
#   app.py (pyroscope-io 1.4.0) -> pyroscope/push receiver
#     -> pyroscope exporter -> Pyroscope sink; otlp exporter -> OTLP sink A
#   app.py (pyroscope-io 0.8.16) -> pyroscope/ingest receiver
#     -> pyroscope exporter -> Pyroscope sink; otlp exporter -> OTLP sink B
#
# Checked: every upload accepted and exported; Pyroscope side: service_name,
# `__name__` (process_cpu, memory), the static tags (1.4.0: series labels;
# 0.8.16: sample labels of the pprof sent on); OTLP side: service.name and
# the 1.4.0 tags as resource attributes, the sample types, and the samples
# of the tag_wrapper work carrying handler=tagged (profcol convert --to
# pprof, then pprofcheck -labels).
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest);
# PROFCOL_PYTHON311 (default python3.11) makes the venvs.
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
need_py grpc grpc_tools google.protobuf
REQ="$PEERS/pyroscope-python"
APP1=py-peer
APP08=py08-peer

echo "== builds"
fixtures --skip-node
gen_pb
gen_pyro_pb

PY1=$(peer_venv pyvenv "$REQ/requirements.txt") ||
  die "pyroscope-io 1.4.0 did not install (tests/peers/pyroscope-python/requirements.txt)"
PY08=$(peer_venv pyvenv-0.8 "$REQ/requirements-0.8.txt") ||
  die "pyroscope-io 0.8.16 did not install (tests/peers/pyroscope-python/requirements-0.8.txt)"
for v in "$PY1 1.4.0" "$PY08 0.8.16"; do
  set -- $v
  got=$("$1" -c 'import importlib.metadata as m; print(m.version("pyroscope-io"))' 2>&1) || got="none: $got"
  [ "$got" = "$2" ] && pass "venv with pyroscope-io $got ($("$1" --version))" ||
    die "the venv has pyroscope-io $got, want $2"
done

echo "== run"
start_sink otlp_grpc otlpa
OTLPA=$SINK_PORT
start_sink otlp_grpc otlpb
OTLPB=$SINK_PORT
start_pyro_sink pyro
PYRO=$SINK_PORT
PA=$(free_port)
PB=$(free_port)
new_ports
cat >"$WORK/profcol.yaml" <<EOF2
receivers:
  pyroscope/push: {endpoint: 127.0.0.1:$PA}
  pyroscope/ingest: {endpoint: 127.0.0.1:$PB}
exporters:
  pyroscope:
    endpoint: http://127.0.0.1:$PYRO
  otlp/a:
    endpoint: 127.0.0.1:$OTLPA
    insecure: true
  otlp/b:
    endpoint: 127.0.0.1:$OTLPB
    insecure: true
service:
  pipelines:
    profiles/push: {receivers: [pyroscope/push], exporters: [pyroscope, otlp/a]}
    profiles/ingest: {receivers: [pyroscope/ingest], exporters: [pyroscope, otlp/b]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF2
start_profcol profcol "$WORK/profcol.yaml"
# Both at once: 1.4.0 uploads every second, 0.8.16 every 10 s (so it runs
# 12 s: one upload on the period, the last one at shutdown).
start_proc sdk1 timeout 120 "$PY1" "$REQ/app.py" "http://127.0.0.1:$PA" "$APP1" 5
start_proc sdk08 timeout 120 "$PY08" "$REQ/app.py" "http://127.0.0.1:$PB" "$APP08" 12
for v in "- sdk1 1.4.0" "- sdk08 0.8.16"; do
  set -- $v
  if reap "$2" 130; then
    pass "pyroscope-io $3 ran and shut down: $(head -n 1 "$WORK/$2.log")"
  else
    tail -n 30 "$WORK/$2.log"
    fail "the pyroscope-io $3 program failed"
  fi
  if grep -Eqi 'error|fail' "$WORK/$2.log"; then
    grep -Ei 'error|fail' "$WORK/$2.log" | head -n 5
    fail "pyroscope-io $3 logged errors"
  fi
done
acc=$(metric_sum profcol_receiver_accepted_profiles_total)
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ] && [ "$(metric_sum profcol_exporter_sent_profiles_total)" -lt $((2 * acc)) ]; do
  sleep 0.2
done
acc1=$(metric_sum profcol_receiver_accepted_profiles_total 'receiver="pyroscope/push"')
acc08=$(metric_sum profcol_receiver_accepted_profiles_total 'receiver="pyroscope/ingest"')
sent_p=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="pyroscope"')
sent_a=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="otlp/a"')
sent_b=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="otlp/b"')
[ "$acc1" -ge 4 ] && [ "$acc08" -ge 2 ] && [ "$sent_p" = "$acc" ] && [ "$sent_a" = "$acc1" ] && [ "$sent_b" = "$acc08" ] &&
  pass "received $acc1 (push, 1.4.0) and $acc08 (/ingest, 0.8.16) profiles; exported $sent_p to Pyroscope, $sent_a + $sent_b over OTLP" ||
  fail "received $acc1 (push) + $acc08 (/ingest); exported $sent_p to Pyroscope, $sent_a + $sent_b over OTLP"
stop profcol >/dev/null || true
api=$(jq -r '.path' "$WORK/pyro/requests.jsonl" 2>/dev/null | sort -u | xargs)
echo "the Pyroscope sink was called on: $api"

# labels_ok JSONL JQ_FILTER: no line fails the filter, and there is a line
labels_ok() { [ -s "$1" ] && [ -z "$(jq -c "select(($2) | not)" "$1" | head -n 1)" ]; }
# back REQUEST_DIR OUT_DIR: the OTLP requests back as pprofs
back() {
  mkdir -p "$2"
  local req
  for req in "$1"/r*.otlp; do
    [ -e "$req" ] || continue
    "$PROFCOL" convert --to pprof "$req" "$2/$(basename "$req" .otlp)_%d.pb.gz" 2>>"$WORK/convert.log" ||
      fail "profcol convert refused $req: $(tail -n 1 "$WORK/convert.log")"
  done
}
# cpu_label DIR KEY VALUE: how many CPU pprofs in DIR have exactly one value
# of sample label KEY (pprofcheck -labels), that value being VALUE
cpu_label() {
  local f out n=0
  for f in "$1"/*.pb.gz "$1"/*.pb; do
    [ -e "$f" ] || continue
    out=$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$f" "$2")
    case "$(sed -n 1p <<<"$out")" in *cpu:nanoseconds*) ;; *) continue ;; esac
    [ "$("$CHECK" -labels "$2" "$f")" = 1 ] && [ "$(sed -n 2p <<<"$out")" = "$3" ] && n=$((n + 1))
  done
  echo "$n"
}

echo "== pyroscope-io 1.4.0 (push API)"
"$PY" "$PEERS/pyroscope_check.py" pyro "$WORK/pyro" >"$WORK/pyro.jsonl"
jq -c --arg a "$APP1" 'select(.service_name == $a)' "$WORK/pyro.jsonl" >"$WORK/pyro1.jsonl"
jq -c --arg a "$APP08" 'select(.service_name == $a)' "$WORK/pyro.jsonl" >"$WORK/pyro08.jsonl"
echo "Pyroscope: $(wc -l <"$WORK/pyro1.jsonl") series; names: $(jq -r '.__name__' "$WORK/pyro1.jsonl" | sort | uniq -c | xargs)"
for name in process_cpu memory; do
  n=$(jq -c --arg n "$name" 'select(.__name__ == $n)' "$WORK/pyro1.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "1.4.0 Pyroscope: $n series named $name" || fail "1.4.0 Pyroscope: no series named $name"
done
# The push API's labels as sent (dots become underscores on the way out);
# no pyroscope_spy, which only /ingest adds: these came by push.
labels_ok "$WORK/pyro1.jsonl" '.peer == "pyroscope-python" and .sdk_version == "1.4.0" and (.__name__ == "process_cpu" or .__name__ == "memory") and .process_runtime_name == "cpython" and .otel_scope_name == "com.grafana.pyroscope/python" and (has("pyroscope_spy") | not)' &&
  pass "1.4.0 Pyroscope: every series has service_name=$APP1, peer, sdk_version=1.4.0, process_runtime_name=cpython, otel_scope_name, no pyroscope_spy (push)" ||
  fail "1.4.0 Pyroscope: series without the tags: $(head -n 2 "$WORK/pyro1.jsonl")"
mkdir -p "$WORK/pyro1"
for f in $(jq -r 'select(.__name__ == "process_cpu") | ._file' "$WORK/pyro1.jsonl"); do cp "$WORK/pyro/$f" "$WORK/pyro1/"; done
n=$(cpu_label "$WORK/pyro1" handler tagged)
[ "$n" -ge 1 ] && pass "1.4.0 Pyroscope: $n CPU pprofs carry handler=tagged from tag_wrapper" ||
  fail "1.4.0 Pyroscope: no CPU pprof carries handler=tagged"
[ "$(stat_of otlpa invalid)" = 0 ] && [ "$(stat_of otlpa accepted_requests)" -ge 1 ] &&
  pass "1.4.0 OTLP: $(stat_of otlpa accepted_requests) requests, every one passed the sink's v1.11.0 checks" ||
  fail "1.4.0 OTLP sink: $(stat_of otlpa accepted_requests) accepted, invalid: $(stat_of otlpa errors)"
"$PY" "$PEERS/pyroscope_check.py" otlp "$WORK/pb" "$WORK/otlpa/r*.otlp" >"$WORK/otlpa.jsonl"
echo "OTLP: $(wc -l <"$WORK/otlpa.jsonl") profiles; sample types: $(jq -r '.sample_types[]' "$WORK/otlpa.jsonl" | sort | uniq -c | xargs)"
for st in cpu:nanoseconds alloc_objects:count alloc_space:bytes inuse_objects:count inuse_space:bytes; do
  n=$(jq -c --arg s "$st" 'select(.sample_types | index($s))' "$WORK/otlpa.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "1.4.0 OTLP: $n profiles of sample type $st" || fail "1.4.0 OTLP: no profile of sample type $st"
done
labels_ok "$WORK/otlpa.jsonl" ".resource[\"service.name\"] == \"$APP1\" and .resource.peer == \"pyroscope-python\" and .resource.sdk_version == \"1.4.0\"" &&
  pass "1.4.0 OTLP: every profile has service.name=$APP1, peer, sdk_version=1.4.0 as resource attributes" ||
  fail "1.4.0 OTLP: profiles without the service or tags: $(head -n 1 "$WORK/otlpa.jsonl")"
back "$WORK/otlpa" "$WORK/backa"
n=$(cpu_label "$WORK/backa" handler tagged)
[ "$n" -ge 1 ] && pass "1.4.0 OTLP: $n CPU profiles back as pprof carry handler=tagged (pprofcheck -labels: one value)" ||
  fail "1.4.0 OTLP: no CPU profile carries handler=tagged"

echo "== pyroscope-io 0.8.16 (/ingest)"
echo "Pyroscope: $(wc -l <"$WORK/pyro08.jsonl") series; names: $(jq -r '.__name__' "$WORK/pyro08.jsonl" | sort | uniq -c | xargs)"
labels_ok "$WORK/pyro08.jsonl" '.__name__ == "process_cpu" and .pyroscope_spy == "pyspy"' &&
  pass "0.8.16 Pyroscope: $(wc -l <"$WORK/pyro08.jsonl") series, each service_name=$APP08, __name__=process_cpu, pyroscope_spy=pyspy" ||
  fail "0.8.16 Pyroscope: series: $(head -n 2 "$WORK/pyro08.jsonl")"
mkdir -p "$WORK/pyro08"
for f in $(jq -r '._file' "$WORK/pyro08.jsonl"); do cp "$WORK/pyro/$f" "$WORK/pyro08/"; done
for kv in peer=pyroscope-python sdk_version=0.8.16 handler=tagged; do
  n=$(cpu_label "$WORK/pyro08" "${kv%%=*}" "${kv#*=}")
  [ "$n" -ge 1 ] && pass "0.8.16 Pyroscope: $n CPU pprofs carry the sample label $kv" ||
    fail "0.8.16 Pyroscope: no CPU pprof carries the sample label $kv"
done
[ "$(stat_of otlpb invalid)" = 0 ] && [ "$(stat_of otlpb accepted_requests)" -ge 1 ] &&
  pass "0.8.16 OTLP: $(stat_of otlpb accepted_requests) requests, every one passed the sink's v1.11.0 checks" ||
  fail "0.8.16 OTLP sink: $(stat_of otlpb accepted_requests) accepted, invalid: $(stat_of otlpb errors)"
"$PY" "$PEERS/pyroscope_check.py" otlp "$WORK/pb" "$WORK/otlpb/r*.otlp" >"$WORK/otlpb.jsonl"
labels_ok "$WORK/otlpb.jsonl" ".resource[\"service.name\"] == \"$APP08\" and .resource.pyroscope_spy == \"pyspy\" and .sample_types == [\"cpu:nanoseconds\"]" &&
  pass "0.8.16 OTLP: $(wc -l <"$WORK/otlpb.jsonl") CPU profiles, service.name=$APP08, pyroscope_spy=pyspy" ||
  fail "0.8.16 OTLP: profiles: $(head -n 2 "$WORK/otlpb.jsonl")"
back "$WORK/otlpb" "$WORK/backb"
for kv in peer=pyroscope-python sdk_version=0.8.16 handler=tagged; do
  n=$(cpu_label "$WORK/backb" "${kv%%=*}" "${kv#*=}")
  [ "$n" -ge 1 ] && pass "0.8.16 OTLP: $n CPU profiles back as pprof carry the sample label $kv" ||
    fail "0.8.16 OTLP: no CPU profile back as pprof carries the sample label $kv"
done

finish
