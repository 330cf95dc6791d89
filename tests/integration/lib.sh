# lib.sh: what the integration tests share. Sourced by every test_*.sh (with
# `set -euo pipefail` already on), never run on its own.
#
# Paths      HERE (this directory), SRC, BUILD, PROFCOL, PY (python3 with the
#            Debian modules); WORK, a scratch directory removed at exit.
# Inputs     fixtures [--skip-node]   tests/fixtures/build.sh; sets FIX PROF CHECK
#            build_pproftop           google/pprof's answers; sets PPROFTOP
#            build_gotarget           the scrape target (built by fixtures); sets GOTARGET
#            gen_pb                   OTLP, Parca, pprof Python modules in $WORK/pb
#            gen_pyro_pb              Pyroscope Python modules in $WORK/pbpy
#            sdk_install VERSION [PKG...]  @pyroscope/nodejs; sets SDK_DIR
#            peer_venv NAME REQUIREMENTS  Python 3.11 venv for a peer; prints python
#            need_py MODULE...  need_cmd CMD [WHY]
# Checks     pass MSG, fail MSG; die MSG (fail and stop now); finish (last
#            command: prints "N passed, N failed", non-zero when a check
#            failed or none ran). Counted in a file, so a check made in a
#            subshell counts too.
# Ports      free_port (never the same one twice in a run); new_ports sets
#            METRICS_PORT and HEALTH_PORT
# Processes  start_proc NAME CMD...   background, output appended to
#                                     $WORK/NAME.log; sets LAST_PID
#            await NAME SECONDS CHECK...  until CHECK succeeds; if NAME dies or
#                                     time runs out: FAIL with its log tail, exit
#            start_profcol NAME CONFIG [HEALTH_PORT]  and await /health 200;
#                                     sets PC_PID
#            start_listener NAME PORT_FILE CMD...  a server that writes its
#                                     port into PORT_FILE; sets SINK_PORT
#            stop NAME [SECONDS]      SIGTERM, bounded wait (30 s), SIGKILL;
#                                     returns its exit status (124: killed)
#            reap NAME [SECONDS]      the same without the SIGTERM
#            kill9 NAME               SIGKILL and reap
#            Every process started here is stopped at exit.
# Waiting    wait_until SECONDS CMD...  poll every 0.1 s
#            port_open HOST PORT, file_ready FILE, healthy [PORT],
#            equals N CMD..., at_least N CMD... (CMD prints a number)
# Metrics    scrape [PORT]; metric_first / metric_sum / metric_has NAME
#            [MATCH...] read $METRICS_FILE when set, else profcol's /metrics on
#            METRICS_PORT; health_code [PORT]
# Sinks      start_sink KIND NAME [PORT] (gRPC sinks, file control), control,
#            stat_of, wait_stat; start_pyro_sink NAME [PORT]; http_control
#            PORT JSON (HTTP sinks); drop FILE NAME [DIR]
# Files      nfiles DIR, hashes DIR
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${PROFCOL_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}"
BUILD="${PROFCOL_BUILD_DIR:-$SRC/build}"
PROFCOL="$(realpath "${PROFCOL_BIN:-$BUILD/profcol}" 2>/dev/null || echo "${PROFCOL_BIN:-$BUILD/profcol}")"
# Debian's python3: the one with python3-protobuf, -grpcio, -yaml.
PY=/usr/bin/python3
export PYTHONDONTWRITEBYTECODE=1  # keep the source tree clean

# ---- checks -----------------------------------------------------------------

pass() { echo "PASS: $*"; echo P >>"$LIB_CHECKS"; }
fail() { echo "FAIL: $*"; echo F >>"$LIB_CHECKS"; }
die() { fail "$@"; exit 1; }

nfailed() { grep -c '^F' "$LIB_CHECKS" || true; }

finish() {
  local p f
  p=$(grep -c '^P' "$LIB_CHECKS" || true)
  f=$(nfailed)
  echo "== $p passed, $f failed"
  if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
    echo "FAIL: no check ran"
    return 1
  fi
  [ "$f" -eq 0 ]
}

need_cmd() { # CMD [WHY]
  command -v "$1" >/dev/null 2>&1 || die "$1 not found${2:+ ($2)}"
}

need_py() { # MODULE...
  local IFS=,
  "$PY" -c "import $*" 2>/dev/null || die "$PY lacks one of: $*"
}

# ---- scratch directory and cleanup ------------------------------------------

WORK="$(mktemp -d "${TMPDIR:-/tmp}/profcol-$(basename "$0" .sh).XXXXXX")"
LIB_CHECKS="$WORK/.checks"
LIB_PORTS="$WORK/.ports"
: >"$LIB_CHECKS"
: >"$LIB_PORTS"
LIB_PIDS=()
declare -A LIB_PID=()

# True while PID runs (a zombie, exited but not yet reaped, does not).
lib_alive() {
  local s
  kill -0 "$1" 2>/dev/null || return 1
  s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  s=${s##*) }
  [ "${s%% *}" != Z ]
}

lib_cleanup() {
  local p end=$((SECONDS + 3))
  for p in "${LIB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${LIB_PIDS[@]}"; do
    while lib_alive "$p" && [ $SECONDS -lt $end ]; do sleep 0.1; done
    # Only what is still there: bash complains of waiting twice for a pid.
    if kill -0 "$p" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true
      wait "$p" 2>/dev/null || true
    fi
  done
  chmod -R u+w "$WORK" 2>/dev/null || true
  rm -rf "$WORK"
}
trap lib_cleanup EXIT
# A signal ends the script through exit, so the EXIT trap still cleans up.
trap 'exit 143' TERM
trap 'exit 130' INT

[ -x "$PROFCOL" ] || die "profcol binary not found at $PROFCOL"
need_cmd curl

# ---- inputs -------------------------------------------------------------------

fixtures() { # [--skip-node]
  local skip=${SKIP_NODE:-0}
  [ "${1:-}" = --skip-node ] && skip=1
  if ! SKIP_NODE=$skip timeout 600 bash "$SRC/tests/fixtures/build.sh" "$BUILD" \
       >"$WORK/fixtures.log" 2>&1; then
    tail -n 20 "$WORK/fixtures.log"
    die "tests/fixtures/build.sh failed"
  fi
  FIX="$BUILD/fixtures"
  PROF="$FIX/profiles"
  CHECK="$FIX/bin/pprofcheck"
}

# google/pprof's answers about a pprof (tests/fixtures/pproftop: top
# function, a function's flat share, a regression injected); sets PPROFTOP.
# Call after fixtures.
build_pproftop() {
  PPROFTOP="$FIX/bin/pproftop"
  (cd "$SRC/tests/fixtures" && timeout 600 "$SRC/scripts/go.sh" build -o "$PPROFTOP" ./pproftop) \
    >"$WORK/pproftop.log" 2>&1 || { cat "$WORK/pproftop.log"; die "building pproftop"; }
}

# The scrape target (net/http/pprof with known work); rebuilt when stale.
# tests/fixtures/build.sh (run by `fixtures`) builds the scrape target too.
build_gotarget() {
  GOTARGET="$FIX/bin/gotarget"
  [ -x "$GOTARGET" ] || die "fixtures did not build $GOTARGET"
}

# Python modules for proto/otlp (messages and gRPC stubs), Parca's
# profilestore and pprof's profile.proto, in $WORK/pb.
gen_pb() {
  local pb="$WORK/pb"
  [ -d "$pb" ] && return 0
  mkdir -p "$pb"
  (cd "$SRC/proto/otlp" && "$PY" -m grpc_tools.protoc -I . --python_out="$pb" \
     --grpc_python_out="$pb" $(find . -name '*.proto' | sed 's|^\./||'))
  (cd "$SRC/proto" && "$PY" -m grpc_tools.protoc -I . --python_out="$pb" \
     parca/profilestore/v1alpha1/profilestore.proto)
  "$PY" -m grpc_tools.protoc -I "$SRC/proto/pprof" --python_out="$pb" \
     "$SRC/proto/pprof/profile.proto"
  # Packages for the generated modules (older protoc emits none).
  find "$pb" -type d -exec touch {}/__init__.py \;
}

# Pyroscope's modules apart from the others: their `types` package would
# shadow the standard library's for anything else on the path.
gen_pyro_pb() {
  PBPY="$WORK/pbpy"
  [ -d "$PBPY" ] && return 0
  mkdir -p "$PBPY"
  (cd "$SRC/proto/pyroscope" && protoc -I . --python_out="$PBPY" \
     types/v1/types.proto push/v1/push.proto)
}

# sdk_install VERSION [PACKAGE...]: @pyroscope/nodejs@VERSION (and extra
# packages) in $BUILD/pyroscope-sdk/VERSION, once; locked, as two tests may
# want the same version at the same time.
sdk_install() {
  local v=$1 fd
  shift
  SDK_DIR="$BUILD/pyroscope-sdk/$v"
  mkdir -p "$SDK_DIR"
  exec {fd}>"$SDK_DIR.lock"
  flock "$fd"
  if [ ! -f "$SDK_DIR/.installed" ]; then
    echo '{"name":"profcol-sdk-test","version":"1.0.0","private":true}' >"$SDK_DIR/package.json"
    if ! (cd "$SDK_DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
            "@pyroscope/nodejs@$v" "$@" >"$SDK_DIR/npm.log" 2>&1); then
      cat "$SDK_DIR/npm.log"
      die "npm install @pyroscope/nodejs@$v"
    fi
    touch "$SDK_DIR/.installed"
  fi
  exec {fd}>&-
}

# peer_venv NAME REQUIREMENTS: a venv of Python 3.11 (PROFCOL_PYTHON311,
# default python3.11) in $BUILD/peers/NAME with exactly those wheels
# (binary only, hashes required; pip's cache kept), made again when the
# requirements file changes; prints its python.
peer_venv() {
  local dir="$BUILD/peers/$1" req=$2 py key fd
  py=${PROFCOL_PYTHON311:-python3.11}
  command -v "$py" >/dev/null || { echo "no $py" >&2; return 1; }
  "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    { echo "$py is not Python 3.11" >&2; return 1; }
  key=$(sha256sum "$req" | cut -c1-16)
  mkdir -p "$BUILD/peers"
  exec {fd}>"$dir.lock"
  flock "$fd"
  if [ "$(cat "$dir/.installed" 2>/dev/null)" != "$key" ]; then
    rm -rf "$dir"
    "$py" -m venv "$dir" >&2 || return 1
    timeout 600 "$dir/bin/pip" install --disable-pip-version-check --only-binary=:all: \
      --require-hashes -r "$req" >&2 || return 1
    echo "$key" >"$dir/.installed"
  fi
  exec {fd}>&-
  echo "$dir/bin/python"
}

# ---- ports --------------------------------------------------------------------

# A free loopback TCP port, chosen by the kernel (bind to port 0). The kernel
# may offer a port again once its probe socket is closed, before the process
# it was meant for binds it: every port handed out in this run is kept in a
# file (a file, as callers run this in a subshell) and never handed out twice.
free_port() {
  local p i
  for i in $(seq 50); do
    p=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    if ! grep -qx "$p" "$LIB_PORTS"; then
      echo "$p" >>"$LIB_PORTS"
      echo "$p"
      return 0
    fi
  done
  die "no free port after 50 tries"
}

METRICS_PORT=""
HEALTH_PORT=""
new_ports() {
  METRICS_PORT=$(free_port)
  HEALTH_PORT=$(free_port)
}

# ---- waiting --------------------------------------------------------------------

wait_until() { # SECONDS CMD...
  local end=$((SECONDS + $1))
  shift
  until "$@" 2>/dev/null; do
    [ $SECONDS -ge $end ] && return 1
    sleep 0.1
  done
}

equals() { [ "$("${@:2}")" -eq "$1" ]; }
at_least() { [ "$("${@:2}")" -ge "$1" ]; }

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
file_ready() { [ -s "$1" ]; }
health_code() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    "http://127.0.0.1:${1:-$HEALTH_PORT}/health" || true
}
healthy() { [ "$(health_code "${1:-}")" = 200 ]; }

# ---- processes ------------------------------------------------------------------

start_proc() { # NAME CMD...
  local name=$1
  shift
  mkdir -p "$(dirname "$WORK/$name.log")"
  "$@" >>"$WORK/$name.log" 2>&1 &
  LAST_PID=$!
  LIB_PID[$name]=$LAST_PID
  LIB_PIDS+=("$LAST_PID")
}

lib_not_ready() { # NAME WHY
  echo "FAIL: $1 $2; last lines of its log ($WORK/$1.log):"
  tail -n 20 "$WORK/$1.log" 2>/dev/null | sed 's/^/  | /'
  echo F >>"$LIB_CHECKS"
  exit 1
}

await() { # NAME SECONDS CHECK...
  local name=$1 end=$((SECONDS + $2)) pid=${LIB_PID[$1]}
  shift 2
  until "$@" 2>/dev/null; do
    lib_alive "$pid" || lib_not_ready "$name" "exited before it was ready ($*)"
    [ $SECONDS -lt $end ] || lib_not_ready "$name" "not ready within the time allowed ($*)"
    sleep 0.1
  done
}

start_profcol() { # NAME CONFIG [HEALTH_PORT]
  start_proc "$1" "$PROFCOL" --config "$2"
  PC_PID=$LAST_PID
  await "$1" 30 healthy "${3:-$HEALTH_PORT}"
}

# start_profcol_nofile NAME LIMIT CONFIG: profcol under `ulimit -n LIMIT`
# (descriptor exhaustion tests); sets PC_PID, waits until it is healthy.
start_profcol_nofile() {
  start_proc "$1" bash -c "ulimit -n $2 && exec \"\$0\" --config \"\$1\"" "$PROFCOL" "$3"
  PC_PID=$LAST_PID
  await "$1" 30 healthy "$HEALTH_PORT"
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # PID: user+system

start_listener() { # NAME PORT_FILE CMD...
  local name=$1 pf=$2
  shift 2
  rm -f "$pf"
  start_proc "$name" "$@"
  await "$name" 30 file_ready "$pf"
  SINK_PORT=$(cat "$pf")
}

stop() { # NAME [SECONDS]
  kill -TERM "${LIB_PID[$1]}" 2>/dev/null || true
  reap "$@"
}

# reap NAME [SECONDS]: waits (bounded) for NAME, already signalled, to exit.
reap() {
  local name=$1 pid=${LIB_PID[$1]} end=$((SECONDS + ${2:-30})) rc=0
  while lib_alive "$pid"; do
    if [ $SECONDS -ge $end ]; then
      echo "$name did not stop within ${2:-30} s of SIGTERM: killed"
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      return 124
    fi
    sleep 0.1
  done
  wait "$pid" 2>/dev/null || rc=$?
  return $rc
}

kill9() { # NAME
  kill -KILL "${LIB_PID[$1]}" 2>/dev/null || true
  wait "${LIB_PID[$1]}" 2>/dev/null || true
}

# ---- metrics --------------------------------------------------------------------

scrape() { curl -s --max-time 5 "http://127.0.0.1:${1:-$METRICS_PORT}/metrics" || true; }

# lib_metric MODE NAME MATCH...: the series named NAME (exactly) whose label
# set contains every MATCH (a substring such as 'exporter="file"');
# MODE first: the first one's value; sum: the sum of all; both as integers
# (truncated), 0 when there is none. MODE has: exit status only.
lib_metric() {
  local mode=$1 name=$2
  shift 2
  local IFS=$'\037'
  { if [ -n "${METRICS_FILE:-}" ]; then cat "$METRICS_FILE"; else scrape; fi; } |
    LIB_MODE=$mode LIB_NAME=$name LIB_MATCH="$*" awk '
    BEGIN { n = split(ENVIRON["LIB_MATCH"], m, "\037"); name = ENVIRON["LIB_NAME"] }
    /^#/ || !match($0, /^[a-zA-Z_:][a-zA-Z0-9_:]*/) { next }
    {
      if (substr($0, 1, RLENGTH) != name) next
      rest = substr($0, RLENGTH + 1)
      labels = ""
      if (substr(rest, 1, 1) == "{") {
        # label values may hold spaces and braces: the set ends at the last }
        for (e = length(rest); e > 0 && substr(rest, e, 1) != "}"; e--) {}
        labels = substr(rest, 1, e)
        rest = substr(rest, e + 1)
      }
      for (i = 1; i <= n; i++) if (index(labels, m[i]) == 0) next
      split(rest, f, " ")
      found++
      sum += f[1]
      if (found == 1) first = f[1]
    }
    END {
      mode = ENVIRON["LIB_MODE"]
      if (mode == "has") exit !found
      printf "%.0f\n", int(mode == "first" ? first + 0 : sum)
    }'
}
metric_first() { lib_metric first "$@"; }
metric_sum() { lib_metric sum "$@"; }
metric_has() { lib_metric has "$@"; }

# ---- sinks ----------------------------------------------------------------------

# start_sink KIND NAME [PORT]: sinks/KIND_sink.py, a gRPC sink (otlp_grpc,
# parca) recording into $WORK/NAME and steered by $WORK/NAME.ctl; sets
# SINK_PORT. Needs gen_pb.
start_sink() {
  local kind=$1 name=$2 port=${3:-0}
  mkdir -p "$WORK/$name"
  [ -f "$WORK/$name.ctl" ] || echo '{"mode":"ok"}' >"$WORK/$name.ctl"
  start_listener "$name" "$WORK/$name.port" "$PY" "$HERE/sinks/${kind}_sink.py" \
    "$WORK/pb" "$WORK/$name" "$WORK/$name.port" "$WORK/$name.ctl" "$port"
}

control() { # NAME JSON: the gRPC sink's next answers
  echo "$2" >"$WORK/$1.ctl.tmp" && mv "$WORK/$1.ctl.tmp" "$WORK/$1.ctl"
}

stat_of() { # NAME KEY: from the sink's stats.json
  "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' \
    "$WORK/$1/stats.json" "$2" 2>/dev/null || echo 0
}

wait_stat() { # NAME KEY MIN SECONDS: until stats KEY >= MIN
  wait_until "$4" at_least "$3" stat_of "$1" "$2"
}

# outage_recovery CASE SINK KEY EXPORTER FILE1 FILE2: the gRPC sink NAME
# answers UNAVAILABLE for 3 s while FILE1 and FILE2 are dropped; once it
# answers again both arrive (its stats KEY grows by 2) and EXPORTER's
# retries were counted. CASE prefixes the messages ("(d)").
outage_recovery() {
  local c=$1 sink=$2 key=$3 ex=$4 tag=${1//[^a-z0-9]/} base r0 r1
  base=$(stat_of "$sink" "$key")
  r0=$(metric_sum profcol_exporter_retries_total "exporter=\"$ex\"")
  control "$sink" '{"mode":"unavailable"}'
  drop "$5" "${tag}1.pb.gz"
  drop "$6" "${tag}2.pb.gz"
  sleep 3
  control "$sink" '{"mode":"ok"}'
  if wait_stat "$sink" "$key" $((base + 2)) 30; then
    r1=$(metric_sum profcol_exporter_retries_total "exporter=\"$ex\"")
    [ "$r1" -gt "$r0" ] && pass "$c delivered after the outage, retries $r0 -> $r1" ||
      fail "$c delivered, but retries not counted ($r0 -> $r1)"
  else
    fail "$c not delivered after the outage"
  fi
}

# start_pyro_sink NAME [PORT]: the Pyroscope push/ingest sink recording into
# $WORK/NAME; sets SINK_PORT. Needs gen_pyro_pb.
start_pyro_sink() {
  local name=$1
  mkdir -p "$WORK/$name"
  start_listener "$name" "$WORK/$name.port" "$PY" "$HERE/sinks/pyroscope_sink.py" \
    "$PBPY" "$WORK/$name" "$WORK/$name.port" ${2:+--port "$2"}
}

http_control() { # PORT JSON: the HTTP sink's next answers
  curl -s -o /dev/null -X POST --data "$2" "http://127.0.0.1:$1/control"
}

# drop FILE NAME [DIR]: puts a profile into a watched directory (default
# $WORK/in) at once: written under a hidden name, then renamed.
drop() {
  local dir=${3:-$WORK/in}
  cp "$1" "$dir/.tmp.$2" && mv "$dir/.tmp.$2" "$dir/$2"
}

# ---- files --------------------------------------------------------------------

# Count of regular, non-hidden files in a directory.
nfiles() { find "$1" -maxdepth 1 -type f ! -name '.*' 2>/dev/null | wc -l; }

# Sorted sha256 list of the files of a directory.
hashes() { find "$1" -maxdepth 1 -type f ! -name '.*' -exec sha256sum {} + 2>/dev/null | awk '{print $1}' | sort; }
