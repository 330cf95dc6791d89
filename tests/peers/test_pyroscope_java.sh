#!/usr/bin/env bash
# profcol against the real Pyroscope Java agent: Maven io.pyroscope:agent
# 2.9.2 (tests/peers/pyroscope-java/pom.xml, fetched by mvn into the local
# Maven repository, SHA-256 checked), which profiles with the async-profiler
# it bundles (libasyncProfiler-linux-x64.so; default event itimer, which
# needs no perf events). Its uploads are async-profiler JFR recordings.
# Loopback only; every wait bounded; the agent not fetching or not running
# is a failure, never a skip.
#
#   (a) PeerWork.java under the agent, format jfr (the default): CPU,
#       allocations (alloc=256k) and monitor contention (lock=1ms), static
#       labels (PYROSCOPE_LABELS), LabelsWrapper and ScopedContext labels
#       -> POST /ingest?format=jfr, parts `jfr` and `labels`
#       -> profcol pyroscope receiver
#         -> pyroscope exporter (push API) -> Pyroscope sink
#         -> otlp exporter (gRPC)          -> OTLP sink
#   (b) the same program, format otlp (the agent's other format; one event
#       at a time: itimer, then alloc) -> POST /v1development/profiles
#       -> profcol otlp receiver (HTTP) -> the same two exporters
#
# Checked: every upload accepted and exported; Pyroscope side: service_name,
# `__name__` per profile kind (process_cpu, memory, mutex), the static
# labels; the CPU pprofs carry handler=wrapped and the mutex pprofs
# handler=scoped (the `labels` part); OTLP side: service.name and the static
# labels as resource attributes, the sample types of each kind.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
source "$PEERS/pyroscope_pipeline.sh"
need_py grpc grpc_tools google.protobuf
need_cmd java
need_cmd javac
need_cmd mvn
AGENTV=2.9.2
AGENT_SHA256=ad738199a90734f7b8392bae1ab892027d411acb953ef1f00cd6e8e7c669ff8f
APP=java-peer
LABELS="peer=pyroscope-java,agent_version=$AGENTV"

echo "== builds"
fixtures --skip-node
gen_pb
gen_pyro_pb
DIR="$BUILD/peers/pyroscope-java"
mkdir -p "$DIR"
JAR="$DIR/agent-$AGENTV.jar"
if [ "$(sha256sum "$JAR" 2>/dev/null | cut -d' ' -f1)" != "$AGENT_SHA256" ]; then
  rm -f "$JAR"
  timeout 600 mvn -B -q -f "$PEERS/pyroscope-java/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$DIR" >"$WORK/mvn.log" 2>&1 ||
    { tail -n 20 "$WORK/mvn.log"; die "mvn did not fetch io.pyroscope:agent:$AGENTV"; }
fi
got=$(sha256sum <"$JAR" | cut -d' ' -f1)
[ "$got" = "$AGENT_SHA256" ] && pass "io.pyroscope:agent:$AGENTV fetched, SHA-256 $got" ||
  die "io.pyroscope:agent:$AGENTV has SHA-256 $got, want $AGENT_SHA256"
ver=$(unzip -p "$JAR" META-INF/MANIFEST.MF | tr -d '\r' | sed -n 's/^Implementation-Version: //p')
unzip -l "$JAR" | grep -c ' libasyncProfiler-linux-x64.so$' >/dev/null && [ "$ver" = "$AGENTV" ] &&
  pass "the agent jar is version $ver and bundles libasyncProfiler-linux-x64.so" ||
  die "the agent jar is version '$ver' or lacks libasyncProfiler-linux-x64.so"
mkdir -p "$WORK/classes"
javac -d "$WORK/classes" -cp "$JAR" "$PEERS/pyroscope-java/PeerWork.java" \
  "$SRC/tests/fixtures/java/JfrWork.java" ||
  die "PeerWork.java did not compile against the agent's API"

# run NAME PORT SECONDS ENV...: PeerWork under the agent; its log in
# $WORK/NAME.log.
run() {
  local name=$1 port=$2 secs=$3
  shift 3
  if env PYROSCOPE_APPLICATION_NAME=$APP PYROSCOPE_SERVER_ADDRESS="http://127.0.0.1:$port" \
       PYROSCOPE_UPLOAD_INTERVAL=2s PYROSCOPE_LOG_LEVEL=debug PYROSCOPE_LABELS="$LABELS" \
       PYROSCOPE_INGEST_MAX_TRIES=1 "$@" \
       timeout 120 java -javaagent:"$JAR" -cp "$JAR:$WORK/classes" PeerWork "$secs" 3 \
       >"$WORK/$name.log" 2>&1; then
    pass "($name) PeerWork ran $secs s under the agent: $(grep -m1 -o 'Profiling started' "$WORK/$name.log" || echo 'no "Profiling started" line')"
  else
    tail -n 30 "$WORK/$name.log"
    die "($name) PeerWork under the agent failed"
  fi
  grep -q 'Profiling started' "$WORK/$name.log" ||
    { tail -n 30 "$WORK/$name.log"; die "($name) async-profiler did not start in the agent"; }
  if grep -Eqi 'upload.*(fail|error)|error.*upload|exception' "$WORK/$name.log"; then
    grep -Ei 'upload.*(fail|error)|error.*upload|exception' "$WORK/$name.log" | head -n 5
    fail "($name) the agent logged failed uploads"
  else
    pass "($name) the agent logged no failed upload ($(grep -c 'Upload attempt' "$WORK/$name.log" || true) uploads)"
  fi
}

# wait_exported: until both exporters sent what the receivers accepted.
wait_exported() {
  local end=$((SECONDS + 30)) acc
  acc=$(metric_sum profcol_receiver_accepted_profiles_total)
  while [ $SECONDS -lt $end ] && [ "$(metric_sum profcol_exporter_sent_profiles_total)" -lt $((2 * acc)) ]; do
    sleep 0.2
  done
  echo "$acc"
}

start_pyroscope_pipeline

echo "== (a) format jfr"
run jfr "$PPORT" 8 PYROSCOPE_PROFILER_ALLOC=256k PYROSCOPE_PROFILER_LOCK=1ms
acc=$(wait_exported)
sent_p=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="pyroscope"')
sent_o=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="otlp"')
[ "$acc" -ge 6 ] && [ "$sent_p" = "$acc" ] && [ "$sent_o" = "$acc" ] &&
  pass "(a) $acc profiles received, $sent_p exported to Pyroscope, $sent_o over OTLP" ||
  fail "(a) received $acc, exported $sent_p to Pyroscope and $sent_o over OTLP (want 6 or more, all of them)"

echo "== (a) what the Pyroscope sink got"
"$PY" "$PEERS/pyroscope_check.py" pyro "$WORK/pyro" >"$WORK/pyro.jsonl"
echo "$(wc -l <"$WORK/pyro.jsonl") series; names: $(jq -r '.__name__' "$WORK/pyro.jsonl" | sort | uniq -c | xargs)"
for name in process_cpu memory mutex; do
  n=$(jq -c --arg n "$name" 'select(.__name__ == $n)' "$WORK/pyro.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "(a) Pyroscope: $n series named $name" || fail "(a) Pyroscope: no series named $name"
done
bad=$(jq -c --arg app "$APP" --arg v "$AGENTV" 'select(.service_name != $app or .peer != "pyroscope-java"
  or .agent_version != $v or .pyroscope_spy != "javaspy" or .jfr_event != "itimer")' "$WORK/pyro.jsonl" | head -n 3)
[ -z "$bad" ] && [ -s "$WORK/pyro.jsonl" ] &&
  pass "(a) Pyroscope: every series has service_name=$APP, peer=pyroscope-java, agent_version=$AGENTV, pyroscope_spy=javaspy, jfr_event=itimer" ||
  fail "(a) Pyroscope: series without the service or labels: $bad"
# The context labels (the upload's `labels` part) as pprof sample labels:
# the CPU work runs in LabelsWrapper (wrapped) and ScopedContext (scoped);
# only the ScopedContext threads contend for the monitor (holdLock).
# labels_of NAME FUNCTION: over the pprofs of that __name__, the values of
# handler (all of them, sorted, comma-separated), then how many of the
# pprofs hold FUNCTION (profcol inspect's top table).
labels_of() {
  local f vals="" has=0
  for f in $(jq -r --arg n "$1" 'select(.__name__ == $n) | ._file' "$WORK/pyro.jsonl"); do
    vals="$vals,$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$WORK/pyro/$f" handler | sed -n 2p)"
    if "$PROFCOL" inspect "$WORK/pyro/$f" 2>&1 | grep -c "JfrWork\.$2" >/dev/null; then has=$((has + 1)); fi
  done
  echo "$(tr , '\n' <<<"$vals" | sed '/^$/d' | sort -u | paste -sd, -) $has"
}
read -r cpu ncpu <<<"$(labels_of process_cpu burnCpu)"
read -r mutex nmutex <<<"$(labels_of mutex holdLock)"
[ "$cpu" = scoped,wrapped ] && [ "$ncpu" -ge 1 ] &&
  pass "(a) Pyroscope: $ncpu CPU pprofs hold JfrWork.burnCpu; the values of handler are wrapped and scoped" ||
  fail "(a) Pyroscope: CPU pprofs: handler values '$cpu' (want scoped,wrapped), $ncpu with JfrWork.burnCpu"
[ "$mutex" = scoped ] && [ "$nmutex" -ge 1 ] &&
  pass "(a) Pyroscope: $nmutex mutex pprofs hold JfrWork.holdLock; the only value of handler is scoped" ||
  fail "(a) Pyroscope: mutex pprofs: handler values '$mutex' (want scoped), $nmutex with JfrWork.holdLock"

echo "== (a) what the OTLP sink got"
[ "$(stat_of otlp invalid)" = 0 ] && [ "$(stat_of otlp accepted_requests)" -ge 1 ] &&
  pass "(a) OTLP: $(stat_of otlp accepted_requests) requests, every one passed the sink's v1.11.0 checks" ||
  fail "(a) OTLP sink: $(stat_of otlp accepted_requests) accepted, invalid: $(stat_of otlp errors)"
"$PY" "$PEERS/pyroscope_check.py" otlp "$WORK/pb" "$WORK/otlp/r*.otlp" >"$WORK/otlp.jsonl"
for st in cpu:nanoseconds alloc_in_new_tlab_objects:count alloc_in_new_tlab_bytes:bytes contentions:count \
          delay:nanoseconds; do
  n=$(jq -c --arg s "$st" 'select(.sample_types | index($s)) | select(.samples > 0)' "$WORK/otlp.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "(a) OTLP: $n profiles of sample type $st" || fail "(a) OTLP: no profile of sample type $st"
done
bad=$(jq -c --arg app "$APP" --arg v "$AGENTV" 'select(.resource["service.name"] != $app
  or .resource.peer != "pyroscope-java" or .resource.agent_version != $v)' "$WORK/otlp.jsonl" | head -n 3)
[ -z "$bad" ] && [ -s "$WORK/otlp.jsonl" ] &&
  pass "(a) OTLP: every profile has service.name=$APP, peer=pyroscope-java, agent_version=$AGENTV as resource attributes" ||
  fail "(a) OTLP: profiles without the service or labels: $bad"

echo "== (b) format otlp"
# profcol relays the agent's OTLP requests as it received them (nothing in
# this pipeline changes them), and the agent's dictionaries repeat entries,
# which v1.11.0 allows: the sink checks them for validity here, not for the
# repeat-free form profcol's own encoder writes (checked in (a)).
control otlp '{"mode":"ok","canonical":false}'
for d in pyro otlp; do mv "$WORK/$d" "$WORK/$d.a" && mkdir "$WORK/$d"; done
acc0=$(metric_sum profcol_receiver_accepted_profiles_total)
for ev in itimer alloc lock; do
  run "otlp-$ev" "$HPORT" 7 PYROSCOPE_FORMAT=otlp PYROSCOPE_PROFILER_EVENT=$ev
done
# The agent says so itself: its OTLP export carries neither the application
# name nor the labels (no resource, no sample labels from the context).
grep -h 'OTLP export does not include' "$WORK"/otlp-*.log | head -n 1 | cut -c 1-160
acc=$(wait_exported)
acc=$((acc - acc0))
sent_p=$(($(metric_sum profcol_exporter_sent_profiles_total 'exporter="pyroscope"') - acc0))
sent_o=$(($(metric_sum profcol_exporter_sent_profiles_total 'exporter="otlp"') - acc0))
[ "$acc" -ge 6 ] && [ "$sent_p" = "$acc" ] && [ "$sent_o" = "$acc" ] &&
  pass "(b) $acc profiles received over OTLP/HTTP, $sent_p exported to Pyroscope, $sent_o over OTLP" ||
  fail "(b) received $acc, exported $sent_p to Pyroscope and $sent_o over OTLP (want 6 or more, all of them)"
[ "$(stat_of otlp invalid)" = 0 ] &&
  pass "(b) OTLP: every request passed the sink's v1.11.0 checks" ||
  fail "(b) OTLP sink: invalid: $(stat_of otlp errors)"
"$PY" "$PEERS/pyroscope_check.py" otlp "$WORK/pb" "$WORK/otlp/r*.otlp" >"$WORK/otlp.jsonl"
"$PY" "$PEERS/pyroscope_check.py" pyro "$WORK/pyro" >"$WORK/pyro.jsonl"
echo "OTLP sample types: $(jq -r '.sample_types[]' "$WORK/otlp.jsonl" | sort | uniq -c | xargs)"
echo "Pyroscope names: $(jq -r '.__name__' "$WORK/pyro.jsonl" | sort | uniq -c | xargs)"
# async-profiler's OTLP sample type, the `__name__` profcol derives from it,
# and a function of JfrWork's that work of that kind must show.
for t in "itimer:ns process_cpu burnCpu" "object_sampler:bytes memory allocate" "lock_tracer:ns mutex holdLock"; do
  set -- $t
  n=$(jq -c --arg s "$1" 'select(.sample_types | index($s)) | select(.samples > 0)' "$WORK/otlp.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "(b) OTLP: $n profiles of sample type $1" || fail "(b) OTLP: no profile of sample type $1"
  files=$(jq -r --arg n "$2" 'select(.__name__ == $n and .service_name == "unknown_service") | ._file' "$WORK/pyro.jsonl")
  [ -n "$files" ] && pass "(b) Pyroscope: $(wc -w <<<"$files") series named $2, service_name=unknown_service" ||
    fail "(b) Pyroscope: no series named $2 with service_name=unknown_service"
  has=0
  for f in $files; do
    "$PROFCOL" inspect "$WORK/pyro/$f" 2>&1 | grep -c "JfrWork\.$3" >/dev/null && has=$((has + 1))
  done
  [ "$has" -ge 1 ] && pass "(b) Pyroscope: $has $2 pprofs hold JfrWork.$3" ||
    fail "(b) Pyroscope: no $2 pprof holds JfrWork.$3"
done
bad=$(jq -c 'select(.resource != {})' "$WORK/otlp.jsonl" | head -n 3)
[ -z "$bad" ] && pass "(b) OTLP: no resource attributes, as the agent sent none" ||
  fail "(b) OTLP: resource attributes the agent did not send: $bad"
stop profcol >/dev/null || true

finish
