#!/usr/bin/env bash
# profcol against the real Datadog Node.js profiler: npm dd-trace 5.132.0
# (the newest line that runs on Node 20), pinned by
# tests/peers/ddtrace-node/package-lock.json and installed with `npm ci`
# into the build tree (npm's cache keeps a warm run quick). Loopback only;
# every wait bounded; dd-trace not installing is a failure, never a skip.
#
#   traced HTTP app (dd-trace/init, profiler on, 2 s upload period, env
#   peer-test, version 1.2.3) -> POST /profiling/v1/input -> profcol
#   datadog receiver -> tracelink -> pyroscope exporter -> Pyroscope sink
#                                 -> otlp exporter (gRPC)  -> OTLP sink
#                                 -> datadog exporter -> Datadog intake double
#
# Checked: every upload accepted (dd-trace logs no failed upload, profcol
# refuses nothing) and exported; on the Pyroscope side series named wall
# and memory with service_name, env and version; the wall pprofs carry the
# web spans' ids as span_id labels of 16 hex digits; on the OTLP side the
# semantic-convention resource attributes.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
source "$PEERS/ddtrace_common.sh"
need_py grpc grpc_tools google.protobuf
need_cmd node "the Node.js dd-trace peer"
need_cmd npm "the Node.js dd-trace peer"
DDV=5.132.0
SVC=node-peer

echo "== install"
APPDIR="$BUILD/peers/ddtrace-node"
mkdir -p "$APPDIR"
cp "$PEERS/ddtrace-node/package.json" "$PEERS/ddtrace-node/package-lock.json" "$PEERS/ddtrace-node/app.js" "$APPDIR/"
if ! cmp -s "$APPDIR/package-lock.json" "$APPDIR/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$APPDIR" && timeout 600 npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1) ||
    { cat "$WORK/npm.log"; die "npm ci dd-trace@$DDV (tests/peers/ddtrace-node)"; }
  cp "$APPDIR/package-lock.json" "$APPDIR/node_modules/.package-lock.json.installed"
fi
got=$(node -p 'require(process.argv[1] + "/node_modules/dd-trace/package.json").version' "$APPDIR")
[ "$got" = "$DDV" ] && pass "npm dd-trace $got installed (Node $(node --version))" || die "dd-trace $got installed, want $DDV"

echo "== run"
fixtures --skip-node
dd_start_profcol
if (cd "$APPDIR" && DD_TRACE_AGENT_URL="http://127.0.0.1:$DD_PORT" DD_PROFILING_ENABLED=true \
    DD_PROFILING_UPLOAD_PERIOD=2 DD_SERVICE=$SVC DD_ENV=peer-test DD_VERSION=1.2.3 \
    DD_INSTRUMENTATION_TELEMETRY_ENABLED=false DD_REMOTE_CONFIGURATION_ENABLED=false \
    DD_TRACE_DEBUG=true DD_TRACE_LOG_LEVEL=error \
    timeout 120 node -r dd-trace/init app.js 8) >"$WORK/app.log" 2>&1; then
  pass "dd-trace $DDV ran 8 s and exited: $(grep -m1 'app on' "$WORK/app.log")"
else
  tail -n 30 "$WORK/app.log"
  fail "the dd-trace app failed"
fi
if grep -Eqi 'profil.*(error|fail)|status code [45]|Error from the endpoint' "$WORK/app.log"; then
  grep -Ei 'profil.*(error|fail)|status code [45]|Error from the endpoint' "$WORK/app.log" | head -n 5
  fail "dd-trace logged failed profile uploads"
else
  pass "dd-trace logged no failed profile upload"
fi
dd_await_exported 6

echo "== what the Pyroscope sink got"
dd_check_pyroscope "$SVC" wall memory
dd_check_spans wall

echo "== what the OTLP sink got"
dd_check_otlp "$SVC"

echo "== what the Datadog intake double got (datadog exporter)"
dd_check_intake node "$SVC" wall.pprof wall.pprof space.pprof events.pprof

finish
