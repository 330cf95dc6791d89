#!/usr/bin/env bash
# bench_collector.sh BUILD_DIR: profcol and the OpenTelemetry Collector side
# by side on the same OTLP relay work, in the same run: OTLP gRPC in, OTLP
# gRPC out (gzip, each daemon's default) to a sink that only acknowledges.
# Not part of `make test`. See bench/README.md, "Side by side with the
# Collector".
#
# The Collector is the pinned OCB build of tests/peers/collector (v0.161.0,
# --feature-gates=+service.profilesSupport). Inputs: the bench inputs of
# bench/run.sh (a real Go CPU profile and the 200k-sample profile), each
# made an ExportProfilesServiceRequest by `profcol convert --to otlp`.
#
# CPU pinning: the daemon under test runs alone on CPU 0 (taskset), the load
# generator and the sink share CPU 1, so throughput per core is the
# daemon's rate on one core. Per input and daemon, BENCH_REPEAT rounds
# alternating profcol and Collector. A round starts a fresh daemon, reads
# its idle RSS (and the file-backed part of it) after BENCH_IDLE seconds,
# keeps BENCH_INFLIGHT calls in flight for BENCH_SECONDS (bench_loadgen
# grpc): accepted calls per second (saturation), the daemon's CPU seconds
# per profile, p99 latency, and the calls it delivered: every round has a
# fresh sink, stopped as the generator ends, that counts the OTLP profiles
# it got (a daemon that acknowledges into a queue it cannot drain accepts
# more than it relays; delivered calls = sink profiles / profiles per
# input call). Then a fresh daemon again gets calls paced at 70 % of that
# saturation rate for BENCH_SECONDS: its p99 latency and peak RSS (VmHWM) there. (At
# saturation the peak RSS mostly measures how much a daemon lets queue up.)
#
# Environment: BENCH_SECONDS (10), BENCH_REPEAT (3), BENCH_INFLIGHT (16;
# BENCH_INFLIGHT_LARGE, 4, for the 200k profile), BENCH_IDLE (2),
# BENCH_INPUTS ("cpu large cpu-gz large-gz": a subset while iterating),
# BENCH_NO_BUILD=1.
#
# Inputs: `cpu` and `large` are sent uncompressed; `cpu-gz` and `large-gz`
# are the same requests sent as gzip-compressed gRPC messages (gzip's
# default level 6, as grpc-go and the Collector's exporters send them).
# Both daemons inflate them; profcol forwards the received gzip bytes of
# an unchanged request (no compression of its own), the Collector decodes,
# encodes and compresses again.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
SECS=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
INFLIGHT=${BENCH_INFLIGHT:-16}
# 18 MB calls: a few in flight saturate a core (more only wait in queues).
INFLIGHT_LARGE=${BENCH_INFLIGHT_LARGE:-4}
IDLE=${BENCH_IDLE:-2}
INPUTS=${BENCH_INPUTS:-cpu large cpu-gz large-gz}
OUT=$BUILD/bench/collector
METHOD=/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export
mkdir -p "$OUT"
log() { echo "bench_collector: $*" >&2; }

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building profcol and bench_loadgen"
  cmake --build "$BUILD" --target profcol bench_loadgen -j2 \
    >"$OUT/build.log" 2>&1 || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
fi
log "building the Collector (tests/peers/collector/build.sh)"
COL=$("$SRC/tests/peers/collector/build.sh" "$BUILD")
CPU_IN=$BUILD/bench/inputs/cpu/cpu.pb.gz
LARGE_IN=$BUILD/bench/inputs/large/large_200k.pb.gz
if [ ! -s "$CPU_IN" ] || [ ! -s "$LARGE_IN" ]; then
  BENCH_INPUTS_ONLY=1 "$SRC/bench/run.sh" "$BUILD"
fi
"$BUILD/profcol" convert --to otlp "$CPU_IN" "$OUT/cpu.otlp"
"$BUILD/profcol" convert --to otlp "$LARGE_IN" "$OUT/large.otlp"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
wait_port() { # PORT PID LOG
  local i
  for i in $(seq 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" \
      2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.1
  done
  tail -n 20 "$3" >&2
  exit 1
}

# OTLP profiles per input call, as the sink counts them.
declare -A PER_CALL
for input in cpu large; do
  PER_CALL[$input]=$("$BUILD/bench_loadgen" otlp-count "$OUT/$input.otlp")
  PER_CALL[$input-gz]=${PER_CALL[$input]}
  # bench_loadgen sends a gzip file as a gzip-compressed message.
  gzip -6 -c "$OUT/$input.otlp" >"$OUT/$input-gz.otlp"
done

config() { # DAEMON PORT: writes its configuration, prints the path
  local f=$OUT/$1.yaml
  if [ "$1" = profcol ]; then
    cat >"$f" <<EOF
receivers:
  otlp:
    protocols: {grpc: {endpoint: 127.0.0.1:$2, max_recv_msg_size_mib: 64}}
exporters:
  otlp:
    endpoint: 127.0.0.1:$SINK
    insecure: true
service:
  pipelines:
    profiles: {receivers: [otlp], exporters: [otlp]}
  telemetry:
    logs: {level: warn}
    metrics: {address: 127.0.0.1:$(free_port)}
    health: {address: 127.0.0.1:$(free_port)}
EOF
  else
    cat >"$f" <<EOF
receivers:
  otlp:
    protocols: {grpc: {endpoint: 127.0.0.1:$2, max_recv_msg_size_mib: 64}}
exporters:
  otlp_grpc:
    endpoint: 127.0.0.1:$SINK
    tls: {insecure: true}
service:
  telemetry:
    metrics: {level: none}
    logs: {level: warn}
  pipelines:
    profiles: {receivers: [otlp], exporters: [otlp_grpc]}
EOF
  fi
  echo "$f"
}

RESULTS=$OUT/results.txt
: >"$RESULTS"
TICK=$(getconf CLK_TCK)

run_one() { # DAEMON INPUT RATE (0: saturation)
  local port cfg pid idle idlefile c0 c1 t0 t1 line hwm sinkpid got
  local n=$INFLIGHT
  [ "${2%-gz}" = large ] && n=$INFLIGHT_LARGE
  SINK=$(free_port)
  taskset -c 1 "$BUILD/bench_loadgen" grpc-sink "$SINK" count >"$OUT/sink.out" 2>&1 &
  sinkpid=$!
  PIDS+=("$sinkpid")
  wait_port "$SINK" "$sinkpid" "$OUT/sink.out"
  port=$(free_port)
  cfg=$(config "$1" "$port")
  if [ "$1" = profcol ]; then
    taskset -c 0 "$BUILD/profcol" --config "$cfg" 2>"$OUT/$1.log" &
  else
    taskset -c 0 "$COL" --config "$cfg" \
      --feature-gates=+service.profilesSupport >"$OUT/$1.log" 2>&1 &
  fi
  pid=$!
  PIDS+=("$pid")
  wait_port "$port" "$pid" "$OUT/$1.log"
  sleep "$IDLE"
  idle=$(rss_kib "$pid" VmRSS)
  idlefile=$(rss_kib "$pid" RssFile)
  c0=$(cpu_ticks "$pid"); t0=$(date +%s.%N)
  line=$(taskset -c 1 "$BUILD/bench_loadgen" grpc "127.0.0.1:$port" "$METHOD" \
    "$OUT/$2.otlp" "$n" "$SECS" 1 "$3")
  c1=$(cpu_ticks "$pid"); t1=$(date +%s.%N)
  kill "$sinkpid"; wait "$sinkpid" 2>/dev/null || true
  got=$(sed -n 's/.*profiles=\([0-9]*\).*/\1/p' "$OUT/sink.out")
  hwm=$(rss_kib "$pid" VmHWM)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "daemon=$1 input=$2 rate=$3 $line idle_rss_kib=$idle" \
    "idle_file_rss_kib=$idlefile peak_rss_kib=$hwm" \
    "delivered=$(awk -v g="${got:-0}" -v k="${PER_CALL[$2]}" 'BEGIN {printf "%.1f", g / k}')" \
    "cpu_s=$(awk -v a="$c0" -v b="$c1" -v t="$TICK" 'BEGIN {printf "%.2f", (b - a) / t}')" \
    "wall_s=$(awk -v x="$t0" -v y="$t1" 'BEGIN {printf "%.2f", y - x}')" >>"$RESULTS"
  log "$1 $2 rate $3: $line idle_rss_kib=$idle peak_rss_kib=$hwm"
  RATE=$(echo "$line" | tr ' ' '\n' | sed -n 's/^ok_per_s=//p')
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for input in $INPUTS; do
  for r in $(seq "$REPEAT"); do
    for d in profcol collector; do
      run_one "$d" "$input" 0
      run_one "$d" "$input" "$(awk -v r="$RATE" 'BEGIN {printf "%.2f", 0.7 * r}')"
    done
  done
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$RESULTS" "$LOAD_BEFORE" "$LOAD_AFTER" "$SECS" "$INFLIGHT" \
  "$INFLIGHT_LARGE" <<'PY'
import statistics as st
import sys

path, before, after, secs, inflight, inflight_large = sys.argv[1:7]
rows, paced = {}, {}
for line in open(path):
    kv = dict(f.split("=", 1) for f in line.split())
    into = rows if float(kv["rate"]) == 0 else paced
    into.setdefault((kv["input"], kv["daemon"]), []).append(kv)


def med(rs, key, f=float):
    return st.median(f(r[key]) for r in rs)


print("Load average before %s, after %s; %s s per run, %s calls in flight "
      "(cpu), %s (large); daemon on CPU 0, load generator and sink on CPU 1; "
      "median of %d runs."
      % (before, after, secs, inflight, inflight_large,
         len(next(iter(rows.values())))))
print()
print("| input | daemon | saturation: accepted profiles/s (one core) | "
      "delivered profiles/s | CPU ms per accepted profile | p99 ms at "
      "saturation | idle RSS MiB | at 70 %: delivered/s | at 70 %: p99 ms | "
      "at 70 %: peak RSS MiB |")
print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
summary = []
for inp in ("cpu", "large", "cpu-gz", "large-gz"):
    got = {}
    for d in ("profcol", "collector"):
        rs = rows.get((inp, d), [])
        if not rs:
            continue
        # The generator counts after its 1 s warm-up; the CPU time spans
        # the whole run: profiles over the run = rate x wall time.
        done = sum(float(r["ok_per_s"]) * float(r["wall_s"]) for r in rs)
        rate = med(rs, "ok_per_s")
        # Delivered over the generator's whole run (warm-up included): the
        # sink stops when the generator does.
        dlv = med(rs, "delivered") / med(rs, "wall_s")
        cpu_ms = 1000 * sum(float(r["cpu_s"]) for r in rs) / max(done, 1)
        ps = paced.get((inp, d), rs)
        got[d] = (rate, med(ps, "peak_rss_kib") / 1024, cpu_ms, dlv,
                  med(rs, "idle_rss_kib") / 1024,
                  med(rs, "idle_file_rss_kib") / 1024)
        print("| %s | %s | %.1f | %.1f | %.2f | %.1f | %.1f | %.1f | %.1f | %.1f |"
              % (inp, d, rate, dlv, cpu_ms, med(rs, "p99_us") / 1000,
                 med(rs, "idle_rss_kib") / 1024,
                 med(ps, "delivered") / med(ps, "wall_s"),
                 med(ps, "p99_us") / 1000, got[d][1]))
    if len(got) == 2:
        dl = ("%.2fx" % (got["profcol"][3] / got["collector"][3])
              if got["collector"][3] > 0 else "the Collector delivered none")
        summary.append("%s: accepted %.2fx the Collector's, delivered %s "
                       "(CPU per accepted profile %.2fx less), peak RSS at "
                       "70 %% %.2fx of it (target >= 3x at <= 0.2x)"
                       % (inp, got["profcol"][0] / got["collector"][0], dl,
                          got["collector"][2] / got["profcol"][2],
                          got["profcol"][1] / got["collector"][1]))
        summary.append("%s: idle RSS profcol %.1f MiB (%.1f file-backed: "
                       "library and program text), Collector %.1f MiB "
                       "(%.1f file-backed); 1/5 of the Collector's peak at "
                       "70 %% is %.1f MiB"
                       % (inp, got["profcol"][4], got["profcol"][5],
                          got["collector"][4], got["collector"][5],
                          got["collector"][1] / 5))
print()
for s in summary:
    print("- " + s)
PY
