#!/usr/bin/env bash
# bench_receive.sh BUILD_DIR: receiving throughput of profcol at saturation.
#
# profcol runs with the `pyroscope` and `otlp` receivers and the `file`
# exporter writing OTLP (into a tmpfs under BUILD_DIR when it can mount one,
# else /dev/shm), and bench_loadgen (bench/bench_loadgen.c) posts the same
# real Go CPU profile as fast as profcol answers:
#   - pyroscope: POST /ingest?name=...&format=pprof, CONNS keep-alive
#     HTTP/1.1 connections;
#   - otlp-grpc: ProfilesService/Export, INFLIGHT unary calls in flight;
#   - otlp-http: POST /v1development/profiles (application/x-protobuf).
# The same run measures `bench_codec to_otlp` (pprof decode + OTLP encode)
# on the same profile: the receive path (HTTP, decode, hand-off, OTLP
# encode, file write) should reach at least half of it.
# See bench/README.md, section "Receivers".
#
# Environment:
#   BENCH_SECONDS   measured seconds per run (10; plus a 1 s warm-up)
#   BENCH_REPEAT    runs per scenario, the median is reported (3)
#   BENCH_CONNS     HTTP connections (8)
#   BENCH_INFLIGHT  gRPC calls in flight (16)
#   BENCH_NO_BUILD=1  use the binaries already in BUILD_DIR
#   BENCH_PROFILE   the pprof to send (default: the codec bench's 10 s Go
#                   CPU profile, BUILD_DIR/bench/inputs/cpu/cpu.pb.gz)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
SECS=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNS:-8}
INFLIGHT=${BENCH_INFLIGHT:-16}
OUT=$BUILD/bench/receive
mkdir -p "$OUT"
log() { echo "bench_receive: $*" >&2; }

PIDS=()
MOUNTED=""
SHMDIR=""
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null || true
  [ -n "$SHMDIR" ] && rm -rf "$SHMDIR" || true
}
trap cleanup EXIT

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building profcol, bench_codec, bench_loadgen"
  cmake --build "$BUILD" --target profcol bench_codec bench_loadgen -j2 \
    >"$OUT/build.log" 2>&1 || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
fi

PROFILE=${BENCH_PROFILE:-$BUILD/bench/inputs/cpu/cpu.pb.gz}
if [ ! -s "$PROFILE" ]; then
  log "making the input profile (goprof -cpu-seconds 10)"
  SKIP_NODE=1 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
  mkdir -p "$(dirname "$PROFILE")"
  "$BUILD/fixtures/bin/goprof" -out "$(dirname "$PROFILE")" -cpu-seconds 10 >/dev/null
fi
OTLP_REQ=$OUT/cpu.otlp.pb
"$BUILD/profcol" convert --to otlp "$PROFILE" "$OTLP_REQ"

# The exporter writes into memory so the disk does not set the pace.
SINKDIR=$OUT/tmpfs
mkdir -p "$SINKDIR"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=512m tmpfs "$SINKDIR" 2>/dev/null; then
  MOUNTED=$SINKDIR
elif [ -d /dev/shm ]; then
  SINKDIR=$(mktemp -d /dev/shm/profcol-bench.XXXXXX)
  SHMDIR=$SINKDIR
fi

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

cpu_ticks() { # PID: utime+stime in clock ticks
  awk '{print $14 + $15}' "/proc/$1/stat"
}

metric() { # NAME: sum of the series of NAME
  curl -s "http://127.0.0.1:$MPORT/metrics" | grep "^$1" | awk '{s += $NF} END {printf "%d\n", s}'
}

start_profcol() {
  MPORT=$(free_port); PPORT=$(free_port); GPORT=$(free_port); HPORT=$(free_port)
  rm -rf "${SINKDIR:?}"/out
  cat >"$OUT/profcol.yaml" <<EOF
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PPORT
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$GPORT}
      http: {endpoint: 127.0.0.1:$HPORT}
exporters:
  file:
    path: $SINKDIR/out
    format: otlp
    rotation: {max_files: 200, max_bytes: 256MiB}
service:
  pipelines:
    profiles: {receivers: [pyroscope, otlp], exporters: [file]}
  telemetry:
    metrics: {address: 127.0.0.1:$MPORT}
    health: {address: 127.0.0.1:$(free_port)}
    logs: {level: warn}
EOF
  "$BUILD/profcol" --config "$OUT/profcol.yaml" 2>"$OUT/profcol.log" &
  PC=$!
  PIDS+=("$PC")
  local i
  for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$OUT/profcol.log" >&2
  exit 1
}

stop_profcol() {
  kill "$PC" 2>/dev/null || true
  wait "$PC" 2>/dev/null || true
}

TICK=$(getconf CLK_TCK)
RESULTS=$OUT/results.txt
: >"$RESULTS"

# run_one SCENARIO: one profcol, one generator run; appends a result line.
run_one() {
  local line c0 c1 acc0 acc1 sent1 t0 t1
  start_profcol
  acc0=$(metric profcol_receiver_accepted_profiles_total)
  c0=$(cpu_ticks "$PC"); t0=$(date +%s.%N)
  case $1 in
    pyroscope)
      line=$("$BUILD/bench_loadgen" http "127.0.0.1:$PPORT" \
        "/ingest?name=bench.cpu%7Benv%3Dbench%7D&format=pprof&from=1700000000&until=1700000010&spyName=gospy&sampleRate=100" \
        "$PROFILE" "$CONNS" "$SECS") ;;
    otlp-grpc)
      line=$("$BUILD/bench_loadgen" grpc "127.0.0.1:$GPORT" \
        /opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export \
        "$OTLP_REQ" "$INFLIGHT" "$SECS") ;;
    otlp-http)
      line=$("$BUILD/bench_loadgen" http "127.0.0.1:$HPORT" /v1development/profiles \
        "$OTLP_REQ" "$CONNS" "$SECS" application/x-protobuf) ;;
  esac
  c1=$(cpu_ticks "$PC"); t1=$(date +%s.%N)
  acc1=$(metric profcol_receiver_accepted_profiles_total)
  sleep 1   # let the exporter drain what it queued
  sent1=$(metric profcol_exporter_sent_profiles_total)
  stop_profcol
  local cpu
  cpu=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" -v x="$t0" -v y="$t1" \
        'BEGIN {printf "%.1f", 100 * (b - a) / t / (y - x)}')
  echo "scenario=$1 $line profcol_cpu_pct=$cpu accepted=$((acc1 - acc0)) sent=$sent1" >>"$RESULTS"
  log "$1: $line profcol_cpu_pct=$cpu"
}

codec_ref() { # appends one to_otlp measurement
  echo "scenario=codec $("$BUILD/bench_codec" to_otlp "$PROFILE" 301)" >>"$RESULTS"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "input $(wc -c <"$PROFILE") bytes, OTLP request $(wc -c <"$OTLP_REQ") bytes; load $LOAD_BEFORE"
for r in $(seq "$REPEAT"); do
  codec_ref
  for s in pyroscope otlp-grpc otlp-http; do
    run_one "$s"
  done
done
codec_ref
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "raw results in $RESULTS"

/usr/bin/python3 - "$RESULTS" "$(nproc)" "$LOAD_BEFORE" "$LOAD_AFTER" "$CONNS" "$INFLIGHT" <<'PY'
import statistics, sys
path, ncpu, lb, la, conns, inflight = sys.argv[1:]
rows = [dict(f.split("=", 1) for f in l.split()) for l in open(path)]
codec = [int(r["median_ns"]) for r in rows if r["scenario"] == "codec" and "median_ns" in r]
ref = 1e9 / statistics.median(codec)
print("Machine: %s CPUs, load average %s before, %s after." % (ncpu, lb, la))
print("Codec reference (same run): bench_codec to_otlp %.0f profiles/s "
      "(median of %d measurements, %s).\n"
      % (ref, len(codec), ", ".join("%.0f" % (1e9 / c) for c in codec)))
print("| receiver | client | profiles/s | MB/s (request bodies) | p50 ms | p99 ms "
      "| refused / errors | profcol CPU % | generator CPU % | vs to_otlp | per profcol core vs to_otlp | target |")
print("|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---|")
CLIENT = {"pyroscope": "HTTP /ingest, %s conns" % conns,
          "otlp-grpc": "gRPC Export, %s in flight" % inflight,
          "otlp-http": "HTTP protobuf, %s conns" % conns}
for s in ("pyroscope", "otlp-grpc", "otlp-http"):
    runs = sorted((r for r in rows if r["scenario"] == s), key=lambda r: float(r["ok_per_s"]))
    if not runs:
        continue
    m = runs[len(runs) // 2]
    rate = float(m["ok_per_s"])
    x = rate / ref
    # to_otlp runs on one core; profcol spreads over several threads.
    per_core = x / max(float(m["profcol_cpu_pct"]) / 100, 1e-9)
    print("| %s | %s | %.0f (runs: %s) | %.1f | %.2f | %.2f | %s / %s | %s | %s | %.0f%% | %.0f%% | >= 50%%: %s |"
          % (s, CLIENT[s], rate, ", ".join("%.0f" % float(r["ok_per_s"]) for r in runs),
             float(m["mb_per_s"]), int(m["p50_us"]) / 1e3, int(m["p99_us"]) / 1e3,
             m["refused"], m["errors"], m["profcol_cpu_pct"], m["gen_cpu_pct"],
             100 * x, 100 * per_core, "PASS" if x >= 0.5 else "MISS"))
PY
