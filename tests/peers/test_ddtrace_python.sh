#!/usr/bin/env bash
# profcol against the real Datadog Python profiler: PyPI ddtrace 4.16.0
# (libdatadog's exporter inside), with every dependency pinned by hash in
# tests/peers/ddtrace-python/requirements.txt, binary wheels only, in a
# Python 3.11 venv under the build tree (pip's cache kept). Loopback only;
# every wait bounded; ddtrace not installing is a failure, never a skip.
#
#   app.py (import ddtrace.auto; CPU work in web spans; profiler on, 2 s
#   upload interval, env peer-test, version 1.2.3)
#   -> POST /profiling/v1/input (libdatadog: one profile.pprof, zstd)
#   -> profcol datadog receiver -> tracelink -> pyroscope exporter -> sink
#                                            -> otlp exporter (gRPC) -> sink
#                                            -> datadog exporter -> intake double
#
# Checked: every upload accepted and exported; the Pyroscope series (one
# pprof with every sample type: named process_cpu) carry service_name, env
# and version; span ids (libdatadog writes them as int64 bit patterns) come
# out as span_id labels of 16 hex digits; the OTLP resource attributes.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
source "$PEERS/ddtrace_common.sh"
need_py grpc grpc_tools google.protobuf
DDV=4.16.0
SVC=py-peer

echo "== install"
DDPY=$(peer_venv ddtrace-python "$PEERS/ddtrace-python/requirements.txt") ||
  die "ddtrace $DDV did not install (tests/peers/ddtrace-python/requirements.txt)"
got=$("$DDPY" -c 'import importlib.metadata as m; print(m.version("ddtrace"))' 2>&1) || got="none: $got"
[ "$got" = "$DDV" ] && pass "venv with ddtrace $got ($("$DDPY" --version))" || die "the venv has ddtrace $got, want $DDV"

echo "== run"
fixtures --skip-node
dd_start_profcol
if DD_TRACE_AGENT_URL="http://127.0.0.1:$DD_PORT" DD_PROFILING_ENABLED=true DD_PROFILING_UPLOAD_INTERVAL=2 \
    DD_SERVICE=$SVC DD_ENV=peer-test DD_VERSION=1.2.3 \
    DD_INSTRUMENTATION_TELEMETRY_ENABLED=false DD_REMOTE_CONFIGURATION_ENABLED=false \
    timeout 120 "$DDPY" "$PEERS/ddtrace-python/app.py" 8 >"$WORK/app.log" 2>&1; then
  pass "ddtrace $DDV ran 8 s and exited: $(head -n 1 "$WORK/app.log")"
else
  tail -n 30 "$WORK/app.log"
  fail "the ddtrace app failed"
fi
if grep -Ei 'profil.*(error|fail)|upload.*(error|fail)' "$WORK/app.log" | head -n 5 | grep -c . >/dev/null; then
  grep -Ei 'profil.*(error|fail)|upload.*(error|fail)' "$WORK/app.log" | head -n 5
  fail "ddtrace logged failed profile uploads"
else
  pass "ddtrace logged no failed profile upload"
fi
dd_await_exported 3

echo "== what the Pyroscope sink got"
dd_check_pyroscope "$SVC" process_cpu
dd_check_spans process_cpu
types=$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$WORK/pyro/$(jq -r '._file' "$WORK/pyro.jsonl" | head -n 1)" | head -n 1)
grep -q 'cpu-time:nanoseconds' <<<"$types" && grep -q 'wall-time:nanoseconds' <<<"$types" &&
  pass "libdatadog's profile.pprof with every sample type: $types" || fail "sample types: $types"

echo "== what the OTLP sink got"
dd_check_otlp "$SVC"

echo "== what the Datadog intake double got (datadog exporter)"
dd_check_intake python "$SVC" profile.pprof profile.pprof

finish
