# lib_engine.sh: helpers shared by the engine's integration tests (sourced,
# not a test itself). Sets SRC BUILD PROFCOL WORK FIX PROF; every profcol
# started with pc_start is killed at exit and WORK is removed.
#   pc_start NAME CONFIG      start profcol in the background (log: $WORK/NAME.log),
#                             wait for /health 200; sets PC_PID
#   metric NAME [LABELS]      value of a series on /metrics (0 when absent)
#   wait_until SECONDS CMD..  poll CMD every 0.1 s until it succeeds
#   free_port                 a free loopback TCP port
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${PROFCOL_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}"
BUILD="${PROFCOL_BUILD_DIR:-$SRC/build}"
PROFCOL="${PROFCOL_BIN:-$BUILD/profcol}"
[ -x "$PROFCOL" ] || { echo "FAIL: profcol binary not found at $PROFCOL"; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl not found"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/profcol-engine.XXXXXX")"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill -9 "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }
finish() {
  echo "== $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

fixtures() {
  timeout 600 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
  FIX="$BUILD/fixtures"
  PROF="$FIX/profiles"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

METRICS_PORT=""
HEALTH_PORT=""
new_ports() {
  METRICS_PORT=$(free_port)
  HEALTH_PORT=$(free_port)
  while [ "$HEALTH_PORT" = "$METRICS_PORT" ]; do HEALTH_PORT=$(free_port); done
}

wait_until() {
  local secs=$1; shift
  local end=$((SECONDS + secs))
  while ! "$@" 2>/dev/null; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

health_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$HEALTH_PORT/health" || true
}
healthy() { [ "$(health_code)" = 200 ]; }

pc_start() { # NAME CONFIG
  "$PROFCOL" --config "$2" >>"$WORK/$1.log" 2>&1 &
  PC_PID=$!
  PIDS+=("$PC_PID")
  if ! wait_until 30 healthy; then
    echo "profcol did not become healthy; log:"; tail -20 "$WORK/$1.log"
    return 1
  fi
}

scrape() { curl -s --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics"; }

metric() { # NAME [LABEL-SUBSTRING]
  local v
  v=$(scrape | awk -v n="$1" -v l="${2:-}" '
      $1 == n || index($1, n "{") == 1 { if (l == "" || index($1, l) > 0) { print $2; exit } }')
  echo "${v:-0}" | awk '{ printf "%d\n", $1 }'
}

# Count of regular, non-hidden files in a directory.
nfiles() { find "$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l; }

# Sorted sha256 list of the files of a directory.
hashes() { find "$1" -maxdepth 1 -type f ! -name '.*' -exec sha256sum {} + 2>/dev/null | awk '{print $1}' | sort; }
