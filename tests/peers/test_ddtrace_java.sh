#!/usr/bin/env bash
# profcol against the real Datadog Java tracer and profiler: Maven
# com.datadoghq:dd-java-agent 1.45.2 (tests/peers/ddtrace-java/pom.xml,
# fetched by mvn into the local Maven repository, SHA-256 checked), on
# tests/peers/ddtrace-java/DdWork.java (Java 17: CPU work and allocations in
# a traced method behind a JDK HttpServer, a contended monitor). Loopback
# only; every wait bounded; the agent not fetching or not running is a
# failure, never a skip.
#
#   DdWork under -javaagent:dd-java-agent.jar, 2 s upload period, service,
#   env and version set, DdWork.traced traced (dd.trace.methods), run twice:
#   (a) ddprof engine (dd.profiling.ddprof.enabled=true, the agent's native
#       profiler): main.jfr holds a JDK chunk (jdk.JavaMonitorEnter) and a
#       chunk of datadog.* events (ExecutionSample, MethodSample,
#       ObjectSample, and HeapLiveObject with dd.profiling.ddprof.liveheap)
#       with span ids
#   (b) JFR engine (dd.profiling.ddprof.enabled=false): jdk.* events only
#   -> POST /profiling/v1/input (main.jfr, lz4) -> profcol datadog receiver
#     -> tracelink -> pyroscope exporter -> Pyroscope sink
#                  -> otlp exporter (gRPC) -> OTLP sink
#                  -> datadog exporter -> Datadog intake double
#
# Checked per engine: every upload accepted and exported three ways; the
# Pyroscope series named process_cpu, memory and mutex (and wall with
# ddprof), each with service_name, env and version, holding JfrWork.burnCpu,
# JfrWork.allocate and JfrWork.holdLock; OTLP resource attributes and the
# sample types of each kind. With ddprof: the live heap's sample type; CPU
# pprofs carry span_id and local_root_span_id labels of 16 hex digits, and
# the intake double gets the span ids back as decimal `span id` labels,
# with language:jvm as the agent tags its uploads.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
source "$PEERS/ddtrace_common.sh"
need_py grpc grpc_tools google.protobuf
need_cmd java
need_cmd javac
need_cmd mvn
AGENTV=1.45.2
AGENT_SHA256=1ca9fd662973d5738d4bbd3248423ffb0b693d26580750be2e2f64953ef3da5d
SVC=java-peer

echo "== builds"
fixtures --skip-node
DIR="$BUILD/peers/ddtrace-java"
mkdir -p "$DIR"
JAR="$DIR/dd-java-agent-$AGENTV.jar"
if [ "$(sha256sum "$JAR" 2>/dev/null | cut -d' ' -f1)" != "$AGENT_SHA256" ]; then
  rm -f "$JAR"
  timeout 600 mvn -B -q -f "$PEERS/ddtrace-java/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$DIR" >"$WORK/mvn.log" 2>&1 ||
    { tail -n 20 "$WORK/mvn.log"; die "mvn did not fetch com.datadoghq:dd-java-agent:$AGENTV"; }
fi
got=$(sha256sum <"$JAR" | cut -d' ' -f1)
[ "$got" = "$AGENT_SHA256" ] && pass "com.datadoghq:dd-java-agent:$AGENTV fetched, SHA-256 $got" ||
  die "com.datadoghq:dd-java-agent:$AGENTV has SHA-256 $got, want $AGENT_SHA256"
ver=$(unzip -p "$JAR" META-INF/MANIFEST.MF | tr -d '\r' | sed -n 's/^Implementation-Version: //p')
[ "$ver" = "$AGENTV" ] && pass "the agent jar is dd-java-agent version $ver" ||
  die "the agent jar is version '$ver', want $AGENTV"
jv=$(java -version 2>&1 | head -n 1)
[[ "$jv" =~ \"17\. ]] && pass "Java: $jv" || die "DdWork needs Java 17, java is: $jv"
mkdir -p "$WORK/classes"
javac -d "$WORK/classes" "$PEERS/ddtrace-java/DdWork.java" "$SRC/tests/fixtures/java/JfrWork.java" ||
  die "DdWork.java did not compile"

# run NAME DDPROF [-Dk=v...]: DdWork 8 s (and 4 s idle, for the last
# upload) under the agent with the ddprof engine on or off; its log in
# $WORK/NAME.log.
run() {
  local name=$1 ddprof=$2
  shift 2
  if timeout 120 java "$@" -javaagent:"$JAR" -Ddd.trace.agent.url="http://127.0.0.1:$DD_PORT" \
       -Ddd.service=$SVC -Ddd.env=peer-test -Ddd.version=1.2.3 -Ddd.profiling.enabled=true \
       -Ddd.profiling.ddprof.enabled="$ddprof" -Ddd.profiling.upload.period=2 \
       -Ddd.profiling.start-delay=0 -Ddd.profiling.start-force-first=true \
       -Ddd.trace.methods='DdWork[traced]' -Ddd.instrumentation.telemetry.enabled=false \
       -Ddd.remote_configuration.enabled=false -cp "$WORK/classes" DdWork 8 4 \
       >"$WORK/$name.log" 2>&1; then
    pass "($name) DdWork ran under dd-java-agent $AGENTV: $(grep -m1 -o 'DdWork done after [0-9]* s' "$WORK/$name.log")"
  else
    tail -n 30 "$WORK/$name.log"
    fail "($name) DdWork under the agent failed"
  fi
  grep -q "\"datadog_profiler_enabled\":$ddprof" "$WORK/$name.log" &&
    pass "($name) the agent reports datadog_profiler_enabled=$ddprof" ||
    fail "($name) the agent does not report datadog_profiler_enabled=$ddprof"
  # The uploader logs a failure as a WARN of its own class.
  if grep -Eqi 'ProfileUploader.*(fail|error)|failed to upload' "$WORK/$name.log"; then
    grep -Ei 'ProfileUploader.*(fail|error)|failed to upload' "$WORK/$name.log" | head -n 5 | cut -c 1-240
    fail "($name) the agent logged failed profile uploads"
    grep -F 'upload refused' "$WORK/profcol.log" | head -n 5 | cut -c 1-400 || true
  else
    pass "($name) the agent logged no failed profile upload"
  fi
}

# holds NAME FUNCTION: how many pprofs of series NAME hold FUNCTION.
holds() {
  local f n=0
  for f in $(jq -r --arg n "$1" 'select(.__name__ == $n) | ._file' "$WORK/pyro.jsonl"); do
    if "$PROFCOL" inspect "$WORK/pyro/$f" 2>&1 | grep -c "$2" >/dev/null; then n=$((n + 1)); fi
  done
  echo "$n"
}

check_functions() {
  local t n
  for t in "process_cpu JfrWork.burnCpu" "memory JfrWork.allocate" "mutex JfrWork.holdLock"; do
    set -- $t
    n=$(holds "$1" "$2")
    [ "$n" -ge 1 ] && pass "Pyroscope: $n $1 pprofs hold $2" || fail "Pyroscope: no $1 pprof holds $2"
  done
}

# otlp_types TYPE...: OTLP profiles with samples of each sample type.
otlp_types() {
  local st n
  for st in "$@"; do
    n=$(jq -c --arg s "$st" 'select(.sample_types | index($s)) | select(.samples > 0)' "$WORK/otlp.jsonl" | wc -l)
    [ "$n" -ge 1 ] && pass "OTLP: $n profiles of sample type $st" || fail "OTLP: no profile of sample type $st"
  done
}

# fresh_sinks: the sinks' directories emptied for the next run.
fresh_sinks() {
  local d
  for d in pyro otlp intake; do mv "$WORK/$d" "$WORK/$d.$1" && mkdir "$WORK/$d"; done
}

echo "== (a) ddprof engine"
dd_start_profcol
run ddprof true -Ddd.profiling.ddprof.liveheap.enabled=true
dd_await_exported 6
dd_check_pyroscope "$SVC" process_cpu wall memory mutex
check_functions
dd_check_spans process_cpu
# The local root span (the traced method's own span: it has no parent).
n=0
for f in $(jq -r 'select(.__name__ == "process_cpu") | ._file' "$WORK/pyro.jsonl"); do
  vals=$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$WORK/pyro/$f" local_root_span_id | sed -n 2p)
  [ -n "$vals" ] && ! tr ',' '\n' <<<"$vals" | grep -Evq '^[0-9a-f]{16}$' && n=$((n + 1))
done
[ "$n" -ge 1 ] && pass "Pyroscope: $n process_cpu pprofs carry local_root_span_id labels of 16 hex digits" ||
  fail "Pyroscope: no process_cpu pprof carries local_root_span_id labels of 16 hex digits only"
dd_check_otlp "$SVC"
otlp_types cpu:nanoseconds wall:nanoseconds alloc_sample_objects:count alloc_sample_bytes:bytes \
  live:count contentions:count delay:nanoseconds
atts=$(jq -r '.__name__ + ".pprof"' "$WORK/pyro.jsonl" | sort -u | xargs)
# shellcheck disable=SC2086 # one argument per attachment name
dd_check_intake java "$SVC" process_cpu.pprof $atts
bad=$(cat "$WORK"/intake/*.event.json | jq -r '.tags_profiler' | grep -v '\(^\|,\)language:jvm\(,\|$\)' | head -n 1 || true)
[ -z "$bad" ] && pass "Datadog: language:jvm in every upload's tags, as dd-java-agent tags them" ||
  fail "Datadog: an upload without language:jvm: $bad"

echo "== (b) JFR engine"
fresh_sinks a
start_profcol profcol "$WORK/profcol.yaml"
run jfr false
dd_await_exported 6
dd_check_pyroscope "$SVC" process_cpu memory mutex
check_functions
dd_check_otlp "$SVC"
otlp_types cpu:nanoseconds alloc_sample_objects:count alloc_sample_bytes:bytes contentions:count \
  delay:nanoseconds

finish
