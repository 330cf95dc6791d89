#!/usr/bin/env bash
# The `pyroscope` receiver against real clients:
#   (a) the real @pyroscope/nodejs SDK, versions 0.3.x (chunked multipart
#       with a text/json part), 0.4.x (multipart) and 0.6.x (raw gzipped
#       pprof), each profiling a small Node program and pushing to profcol;
#       every wall/CPU and heap profile must arrive with the right
#       service.name, tags, tenant and __name__, and be valid for google/pprof
#   (b) /ingest good and bad requests (bad name, garbage, gzip bomb, not-JFR jfr,
#       oversized body, ...) with the status and message Pyroscope gives
#   (c) the Connect push API in proto (plain and gzip) and JSON, partial
#       failures and bad bodies
#   (d) profcol keeps running throughout and stops cleanly.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "== fixtures"
fixtures

# SDK versions: the newest of each line that works with node 20. 0.3.x
# predates its p-limit dependency declaration and breaks with @datadog/pprof
# newer than its time (undefined wall context), so those two are pinned.
SDKS="0.3.11 0.4.13 0.6.4"
sdk_extra() {
  case "$1" in
    0.3.*) echo "@datadog/pprof@5.3.0 p-limit@3" ;;
    *) echo "" ;;
  esac
}
echo "== npm install @pyroscope/nodejs ($SDKS)"
for v in $SDKS; do
  # shellcheck disable=SC2046
  sdk_install "$v" $(sdk_extra "$v")
done

PORT=$(free_port)
new_ports
mkdir -p "$WORK/out" "$WORK/json"
cat > "$WORK/cfg.yaml" <<EOF
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PORT
    max_request_body_size: 1MiB
    max_decompressed_size: 16MiB
exporters:
  file:
    path: $WORK/out
    format: pprof
  file/json:
    path: $WORK/json
    format: json
service:
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [file, file/json]
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
EOF
start_profcol profcol "$WORK/cfg.yaml"

echo "== (a) Node SDKs"
for v in $SDKS; do
  tag=$(echo "$v" | cut -d. -f1-2 | tr -d .)
  # 0.6 refuses '{' in appName; older ones pass it through as labels.
  case "$v" in
    0.6.*) app="node-$tag" ;;
    *) app="node-$tag{team=core,line=v$tag}" ;;
  esac
  if ! SDK_DIR="$BUILD/pyroscope-sdk/$v" SERVER="http://127.0.0.1:$PORT" \
       APP_NAME="$app" TENANT="team-$tag" SDK_VERSION="$v" RUN_MS=3000 \
       timeout 120 node "$HERE/pyroscope_sdk_app.js" >"$WORK/node-$tag.log" 2>&1; then
    cat "$WORK/node-$tag.log"
    fail "SDK $v program failed"
  fi
  grep -qi "error\|rejected" "$WORK/node-$tag.log" && { cat "$WORK/node-$tag.log"; fail "SDK $v reported an error"; }
done

echo "== (b, c) /ingest and Push requests"
if "$PY" "$HERE/pyroscope_check.py" requests "$PORT" "$PROF" "$SRC/proto" "$WORK"; then
  pass "request checks"
else
  fail "request checks"
fi

echo "== oversized body"
head -c $((2 << 20)) /dev/urandom > "$WORK/big"
code=$(curl -s -o /dev/null -w '%{http_code}' --data-binary @"$WORK/big" \
       "http://127.0.0.1:$PORT/ingest?name=big&format=pprof" || true)
[ "$code" = "413" ] && pass "oversized body -> 413" || fail "oversized body: got $code, want 413"
code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' \
       --data-binary @"$WORK/big" "http://127.0.0.1:$PORT/ingest?name=big&format=pprof" || true)
case "$code" in 413|000) pass "oversized chunked body -> $code" ;;
  *) fail "oversized chunked body: got $code, want 413" ;; esac

kill -0 "$PC_PID" || fail "profcol died"
sleep 2

echo "== items and payloads"
if "$PY" "$HERE/pyroscope_check.py" verify "$WORK/json" \
  "service=node-03:labels=team=core;line=v03;pyroscope_spy=nodespy:names=wall,memory:tenant=team-03" \
  "service=node-04:labels=team=core;line=v04;pyroscope_spy=nodespy:names=wall,memory:tenant=team-04" \
  "service=node-06:labels=pyroscope_spy=nodespy;__delta__=false:names=wall,memory:tenant=team-06" \
  "service=pyapp:labels=env=test;pyroscope_spy=gospy:names=process_cpu" \
  "service=foldapp:labels=region=eu:names=process_cpu" \
  "service=linesapp:names=memory" \
  "service=blockapp:labels=__session_id__=0123456789abcdef:names=block" \
  "service=pushsvc:labels=env=proto;__delta__=false:names=memory:tenant=tenant-p" \
  "service=pushsvc2:names=mutex:tenant=tenant-p" \
  "service=pushjson:names=memory" \
  "service=pushpartial:names=memory"; then
  pass "items"
else
  fail "items"
fi

n=0
for f in "$WORK"/out/*; do
  n=$((n + 1))
  "$CHECK" -valid "$f" >/dev/null || fail "pprofcheck -valid $(basename "$f")"
done
[ "$n" -ge 16 ] && pass "$n pprof files valid" || fail "only $n pprof files written"

echo "== shutdown"
rc=0
stop profcol 20 || rc=$?   # its exit code is not judged here, only that it stops
[ "$rc" -ne 124 ] && pass "profcol stopped" || fail "profcol did not stop"
grep -q "level=error" "$WORK/profcol.log" && { grep "level=error" "$WORK/profcol.log"; fail "errors in the log"; }

if [ "$(nfailed)" -ne 0 ]; then
  echo "== profcol log"; tail -n 30 "$WORK/profcol.log"
fi
finish
