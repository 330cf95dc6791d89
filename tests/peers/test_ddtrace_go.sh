#!/usr/bin/env bash
# profcol against the real Datadog Go profiler: github.com/DataDog/dd-trace-go/v2
# v2.12.0 (profiler and tracer), pinned in tests/peers/ddtrace-go/ (go.mod,
# go.sum; built with scripts/go.sh, Go's module and build caches kept).
# Loopback only; every wait bounded; the program not building is a failure,
# never a skip.
#
#   Go program (tracer on, profiler: CPU, heap, block, mutex, goroutines,
#   2 s period, zstd attachments as dd-trace-go sends by default)
#   -> POST /profiling/v1/input -> profcol datadog receiver -> tracelink
#     -> pyroscope exporter -> Pyroscope sink
#     -> otlp exporter (gRPC) -> OTLP sink
#     -> datadog exporter -> Datadog intake double (the real intake cannot
#        be reached: tests/integration/sinks/datadog_intake_sink.py checks
#        the documented contract)
#
# Checked: every upload accepted and exported; the Pyroscope series are named
# process_cpu, memory, mutex, block and goroutine, with service_name, env and
# version; CPU pprofs carry the spans' ids as span_id labels of 16 hex
# digits; on the OTLP side the semantic-convention resource attributes.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
source "$PEERS/ddtrace_common.sh"
need_py grpc grpc_tools google.protobuf
MOD=github.com/DataDog/dd-trace-go/v2
MODV=v2.12.0
SVC=go-peer

echo "== build"
fixtures --skip-node
mkdir -p "$BUILD/peers/ddtrace-go"
PEER="$BUILD/peers/ddtrace-go/ddtrace-go-peer"
echo "building a program with $MOD $MODV (Go module and build caches kept)"
(cd "$PEERS/ddtrace-go" && timeout 1200 nice "$SRC/scripts/go.sh" build -o "$PEER.tmp" .) ||
  die "the program using $MOD $MODV did not build (tests/peers/ddtrace-go)"
mv "$PEER.tmp" "$PEER"
deps=$("$SRC/scripts/go.sh" version -m "$PEER" 2>/dev/null | awk '$1 == "dep" {print $2, $3}')
grep -qx "$MOD $MODV" <<<"$deps" && pass "the program links $MOD $MODV" ||
  die "the program does not link $MOD $MODV"

echo "== run"
dd_start_profcol
if DD_INSTRUMENTATION_TELEMETRY_ENABLED=false DD_REMOTE_CONFIGURATION_ENABLED=false \
    timeout 120 "$PEER" "127.0.0.1:$DD_PORT" "$SVC" 9 >"$WORK/app.log" 2>&1; then
  pass "$MOD $MODV ran 9 s and stopped ($(grep -o "Datadog Tracer v[0-9.]*" "$WORK/app.log" | head -n 1))"
else
  tail -n 30 "$WORK/app.log"
  fail "the dd-trace-go program failed"
fi
if grep -Ei 'profil.*(fail|error)' "$WORK/app.log" | grep -v 'telemetry' | head -n 5 | grep -c . >/dev/null; then
  grep -Ei 'profil.*(fail|error)' "$WORK/app.log" | head -n 5
  fail "dd-trace-go logged failed profile uploads"
else
  pass "dd-trace-go logged no failed profile upload"
fi
dd_await_exported 10

echo "== what the Pyroscope sink got"
dd_check_pyroscope "$SVC" process_cpu memory mutex block goroutine
dd_check_spans process_cpu

echo "== what the OTLP sink got"
dd_check_otlp "$SVC"

echo "== what the Datadog intake double got (datadog exporter)"
dd_check_intake go "$SVC" cpu.pprof cpu.pprof delta-heap.pprof delta-mutex.pprof delta-block.pprof goroutines.pprof

finish
