#!/usr/bin/env bash
# bench_loop_stall.sh BUILD_DIR: how long the main event loop stalls while
# the HTTP receivers take large bodies.
#
# profcol runs with the `otlp` (HTTP) and `pyroscope` receivers and the
# `debug` exporter (verbosity basic). bench_loadgen (bench/bench_loadgen.c)
# floods one receiver with large bodies from CLIENTS keep-alive connections
# while its probe mode GETs /health on the admin server (served by the same
# main loop) every PROBE_MS and records how long each answer took. A loop
# that decodes bodies itself answers /health only between two decodes.
#
# Scenarios (PROBE_SECONDS each):
#   idle        no load: the probe's floor
#   otlp-http   POST /v1development/profiles, application/x-protobuf with
#               Content-Encoding: gzip: the 200k-sample profile as OTLP
#               (about 11.8 MB on the wire, 18 MB decompressed)
#   ingest      POST /ingest?format=pprof: the same profile as an
#               uncompressed pprof (about 15.5 MB)
# Prints one line per scenario: the probe's n, p50, p99 and max in ms, the
# flood's completed requests, and the load average when it ran.
#
# Environment:
#   BENCH_PROFCOL       the profcol binary to measure (BUILD_DIR/profcol)
#   BENCH_CLIENTS       flooding connections (3)
#   BENCH_PROBE_MS      probe interval (5)
#   BENCH_SECONDS       seconds per scenario (10)
#   BENCH_NO_BUILD=1    use the binaries already in BUILD_DIR
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
PROFCOL=${BENCH_PROFCOL:-$BUILD/profcol}
CLIENTS=${BENCH_CLIENTS:-3}
PROBE_MS=${BENCH_PROBE_MS:-5}
SECS=${BENCH_SECONDS:-10}
OUT=$BUILD/bench/loop_stall
IN=$BUILD/bench/inputs/large
mkdir -p "$OUT" "$IN"
log() { echo "bench_loop_stall: $*" >&2; }

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building profcol, bench_loadgen"
  cmake --build "$BUILD" --target profcol bench_loadgen -j2 \
    >"$OUT/build.log" 2>&1 || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
fi

if [ ! -s "$IN/large_200k.pb.gz" ]; then
  log "generating the 200k-sample profile (genedge -large)"
  SKIP_NODE=1 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
  "$BUILD/fixtures/bin/genedge" -out "$IN" -large >/dev/null
fi
[ -s "$IN/large_200k.pb" ] || gzip -dc "$IN/large_200k.pb.gz" >"$IN/large_200k.pb"
if [ ! -s "$IN/large_200k.otlp.pb.gz" ]; then
  "$BUILD/profcol" convert --to otlp "$IN/large_200k.pb.gz" "$IN/large_200k.otlp.pb"
  gzip -f "$IN/large_200k.otlp.pb"
fi

port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
OTLP_PORT=$(port); PYRO_PORT=$(port); HEALTH_PORT=$(port); METRICS_PORT=$(port)
cat >"$OUT/config.yaml" <<YAML
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:$OTLP_PORT"}
  pyroscope:
    endpoint: "127.0.0.1:$PYRO_PORT"
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    profiles: {receivers: [otlp, pyroscope], exporters: [debug]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
YAML

"$PROFCOL" --config "$OUT/config.yaml" >"$OUT/profcol.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  curl -sf -o /dev/null "http://127.0.0.1:$HEALTH_PORT/health" && break
  sleep 0.1
done

field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
ms() { awk -v us="$1" 'BEGIN {printf "%.1f", us / 1000}'; }

# scenario NAME [HOST:PORT PATH FILE [CONTENT_TYPE [CONTENT_ENCODING]]]
scenario() {
  local name=$1 flood_pid="" probe load
  shift
  if [ $# -gt 0 ]; then
    "$BUILD/bench_loadgen" http "$1" "$2" "$3" "$CLIENTS" "$((SECS + 1))" \
      "${@:4}" >"$OUT/flood_$name.txt" 2>&1 &
    flood_pid=$!
    sleep 1.5   # the flood is under way (and past its warm-up)
  fi
  probe=$("$BUILD/bench_loadgen" probe "127.0.0.1:$HEALTH_PORT" /health \
    "$PROBE_MS" "$SECS")
  load=$(cut -d' ' -f1-3 /proc/loadavg)
  local done_reqs="-"
  if [ -n "$flood_pid" ]; then
    wait "$flood_pid" || true
    done_reqs=$(field "$(cat "$OUT/flood_$name.txt")" ok)
    done_reqs="$done_reqs ok, $(field "$(cat "$OUT/flood_$name.txt")" refused) refused"
  fi
  printf '%-10s probe n=%-5s p50=%6s ms  p99=%7s ms  max=%7s ms  errors=%s  flood: %s  load: %s\n' \
    "$name" "$(field "$probe" n)" "$(ms "$(field "$probe" p50_us)")" \
    "$(ms "$(field "$probe" p99_us)")" "$(ms "$(field "$probe" max_us)")" \
    "$(field "$probe" errors)" "$done_reqs" "$load"
}

log "profcol: $PROFCOL ($CLIENTS clients, probe every $PROBE_MS ms, ${SECS}s each)"
scenario idle
scenario otlp-http "127.0.0.1:$OTLP_PORT" /v1development/profiles \
  "$IN/large_200k.otlp.pb.gz" application/x-protobuf gzip
# The /ingest flood sends the raw pprof (format=pprof: no sniffing).
scenario ingest "127.0.0.1:$PYRO_PORT" "/ingest?name=stall.cpu&format=pprof" \
  "$IN/large_200k.pb"
