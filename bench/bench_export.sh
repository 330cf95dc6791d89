#!/usr/bin/env bash
# bench_export.sh BUILD_DIR: sustained export rate of each exporter.
#
# For each of `pyroscope` (push API), `parca` (WriteRaw), `otlp` (gRPC) and
# `otlphttp`, profcol runs with the `pyroscope` receiver and that exporter
# alone, bench_loadgen posts the real Go CPU profile to /ingest as fast as
# profcol takes it (back-pressure answers 429 and the generator waits), and
# the exporter sends to a loopback sink that only reads and acknowledges
# (`bench_loadgen http-sink` / `grpc-sink`, C: the Python test sinks would
# be the bottleneck). The rate is profcol_exporter_sent_profiles_total over
# the measured window. It is compared with the codec benchmark's rate for
# the conversion the exporter needs, measured in the same run:
# pprof -> pprof (`bench_codec roundtrip`) for Pyroscope and Parca, pprof ->
# OTLP (`bench_codec to_otlp`) for OTLP; target >= 70%, also with both
# cores kept busy by other work (BENCH_BUSY).
#
# Then it checks, with the Python Pyroscope sink of the integration tests,
# that pprofs are forwarded as their original bytes (byte-identical at the
# sink): pprof -> Pyroscope, pprof -> Pyroscope while the same batch is also
# converted for an OTLP exporter, and pprof -> OTLP -> profcol -> Pyroscope
# (two hops through OTLP).
# See bench/README.md, section "Exporters".
#
# Environment: BENCH_SECONDS (10), BENCH_REPEAT (3), BENCH_CONNS (8),
# BENCH_BUSY (0: that many busy loops run beside everything, the codec
# references included, for the whole run: sustained load on the cores),
# BENCH_NO_BUILD=1 (use the binaries already in BUILD_DIR),
# BENCH_PROFILE (default BUILD_DIR/bench/inputs/cpu/cpu.pb.gz).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
SECS=${BENCH_SECONDS:-10}
REPEAT=${BENCH_REPEAT:-3}
CONNS=${BENCH_CONNS:-8}
OUT=$BUILD/bench/export
mkdir -p "$OUT"
log() { echo "bench_export: $*" >&2; }
export PYTHONDONTWRITEBYTECODE=1

PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
  log "building profcol, bench_codec, bench_loadgen, fixtures"
  cmake --build "$BUILD" --target profcol bench_codec bench_loadgen -j2 \
    >"$OUT/build.log" 2>&1 || { tail -n 30 "$OUT/build.log" >&2; exit 1; }
fi
SKIP_NODE=1 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
PROFILE=${BENCH_PROFILE:-$BUILD/bench/inputs/cpu/cpu.pb.gz}
BUSY=${BENCH_BUSY:-0}
for _ in $(seq "$BUSY"); do
  sh -c 'while :; do :; done' &
  PIDS+=("$!")
done
if [ ! -s "$PROFILE" ]; then
  mkdir -p "$(dirname "$PROFILE")"
  "$BUILD/fixtures/bin/goprof" -out "$(dirname "$PROFILE")" -cpu-seconds 10 >/dev/null
fi

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
metric() { # NAME [PORT]: sum of the series of NAME
  curl -s "http://127.0.0.1:${2:-$MPORT}/metrics" | grep "^$1" | awk '{s += $NF} END {printf "%d\n", s}'
}
wait_metrics() { # PORT LOG
  local i
  for i in $(seq 100); do
    curl -sf "http://127.0.0.1:$1/metrics" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$2" >&2
  exit 1
}

HSINK=$(free_port); GSINK=$(free_port)
"$BUILD/bench_loadgen" http-sink "$HSINK" >"$OUT/http-sink.out" &
HSINK_PID=$!; PIDS+=("$HSINK_PID")
"$BUILD/bench_loadgen" grpc-sink "$GSINK" >"$OUT/grpc-sink.out" 2>&1 &
GSINK_PID=$!; PIDS+=("$GSINK_PID")
sleep 0.5

exporter_yaml() { # NAME
  local common="timeout: 5s
    retry_on_failure: {initial_interval: 100ms, max_interval: 1s}"
  case $1 in
    pyroscope) printf '  pyroscope:\n    endpoint: http://127.0.0.1:%s\n    %s\n' "$HSINK" "$common" ;;
    otlphttp)  printf '  otlphttp:\n    endpoint: http://127.0.0.1:%s\n    %s\n' "$HSINK" "$common" ;;
    parca)     printf '  parca:\n    endpoint: 127.0.0.1:%s\n    insecure: true\n    %s\n' "$GSINK" "$common" ;;
    otlp)      printf '  otlp:\n    endpoint: 127.0.0.1:%s\n    insecure: true\n    %s\n' "$GSINK" "$common" ;;
    # The same without request compression: what the conversion costs
    # apart from gzip (libdeflate at compression_params.level, default 1).
    otlp-none) printf '  otlp:\n    endpoint: 127.0.0.1:%s\n    insecure: true\n    compression: none\n    %s\n' "$GSINK" "$common" ;;
    otlphttp-none) printf '  otlphttp:\n    endpoint: http://127.0.0.1:%s\n    compression: none\n    %s\n' "$HSINK" "$common" ;;
  esac
}

TICK=$(getconf CLK_TCK)
RESULTS=$OUT/results.txt
: >"$RESULTS"

run_one() { # SCENARIO: an exporter type, maybe with a -none suffix
  local e=${1%-none} gen s0 s1 c0 c1 t0 t1 sk0 sk1 sink_pid line
  MPORT=$(free_port); PPORT=$(free_port)
  { cat <<EOF
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PPORT
exporters:
EOF
    exporter_yaml "$1"
    cat <<EOF
service:
  pipelines:
    profiles: {receivers: [pyroscope], exporters: [$e]}
  telemetry:
    metrics: {address: 127.0.0.1:$MPORT}
    health: {address: 127.0.0.1:$(free_port)}
    logs: {level: warn}
EOF
  } >"$OUT/$1.yaml"
  "$BUILD/profcol" --config "$OUT/$1.yaml" 2>"$OUT/$1.log" &
  PC=$!; PIDS+=("$PC")
  wait_metrics "$MPORT" "$OUT/$1.log"
  sink_pid=$HSINK_PID
  case $e in parca|otlp) sink_pid=$GSINK_PID ;; esac
  "$BUILD/bench_loadgen" http "127.0.0.1:$PPORT" \
    "/ingest?name=bench.cpu%7Benv%3Dbench%7D&format=pprof&from=1700000000&until=1700000010&spyName=gospy&sampleRate=100" \
    "$PROFILE" "$CONNS" "$SECS" >"$OUT/gen.out" &
  gen=$!
  sleep 1   # the generator's warm-up
  s0=$(metric profcol_exporter_sent_profiles_total); c0=$(cpu_ticks "$PC")
  sk0=$(cpu_ticks "$sink_pid"); t0=$(date +%s.%N)
  sleep "$SECS"
  s1=$(metric profcol_exporter_sent_profiles_total); c1=$(cpu_ticks "$PC")
  sk1=$(cpu_ticks "$sink_pid"); t1=$(date +%s.%N)
  wait "$gen"
  line=$(cat "$OUT/gen.out")
  local failed dropped
  failed=$(metric profcol_exporter_send_failed_profiles_total)
  dropped=$(metric profcol_exporter_dropped_profiles_total)
  kill "$PC"; wait "$PC" 2>/dev/null || true
  awk -v e="$1" -v s0="$s0" -v s1="$s1" -v c0="$c0" -v c1="$c1" -v k0="$sk0" \
      -v k1="$sk1" -v t0="$t0" -v t1="$t1" -v tk="$TICK" -v f="$failed" \
      -v d="$dropped" -v l="$line" 'BEGIN {
        w = t1 - t0
        printf "scenario=%s sent_per_s=%.1f profcol_cpu_pct=%.1f sink_cpu_pct=%.1f failed=%d dropped=%d %s\n",
               e, (s1 - s0) / w, 100 * (c1 - c0) / tk / w, 100 * (k1 - k0) / tk / w, f, d, l
      }' >>"$RESULTS"
  log "$(tail -n 1 "$RESULTS")"
}

# One codec operation's median time, and its throughput over the whole
# process's wall time (start-up and the input's load included, a few
# percent): under load the median hardly moves (a 0.5 ms operation is
# rarely preempted), the throughput shows the share of the CPU it got.
codec_one() { # OP ITERATIONS
  local t0 t1 line
  t0=$(date +%s%N)
  line=$("$BUILD/bench_codec" "$1" "$PROFILE" "$2")
  t1=$(date +%s%N)
  echo "scenario=codec $line tput_per_s=$(awk -v n="$2" -v a="$t0" -v b="$t1" \
    'BEGIN {printf "%.1f", n / ((b - a) / 1e9)}')" >>"$RESULTS"
}

codec_ref() {
  codec_one to_otlp 301
  codec_one roundtrip 101
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for r in $(seq "$REPEAT"); do
  codec_ref
  for e in pyroscope parca otlp otlphttp otlp-none otlphttp-none; do run_one "$e"; done
done
codec_ref
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

# ---- original bytes forwarded --------------------------------------------
log "checking that original pprof bytes are forwarded"
PB=$OUT/pb
rm -rf "$PB" "$OUT/fwd"; mkdir -p "$PB" "$OUT/fwd/in" "$OUT/fwd/sink"
(cd "$SRC/proto/pyroscope" && protoc -I . --python_out="$PB" types/v1/types.proto push/v1/push.proto)
PF=$OUT/fwd/sink.port; rm -f "$PF"
/usr/bin/python3 "$SRC/tests/integration/sinks/pyroscope_sink.py" "$PB" "$OUT/fwd/sink" "$PF" &
PIDS+=("$!")
for _ in $(seq 100); do [ -s "$PF" ] && break; sleep 0.1; done
PYSINK=$(cat "$PF")
MPORT=$(free_port); OTLP_PORT=$(free_port)
# Three pipelines, one process: file/direct -> pyroscope/direct;
# file/fanout -> pyroscope/fanout + otlp (to the grpc sink, so the batch is
# converted); file/hop -> otlp/hop -> otlp receiver -> pyroscope/hop.
for d in direct fanout hop; do mkdir -p "$OUT/fwd/in/$d"; done
cat >"$OUT/fwd.yaml" <<EOF
receivers:
  file/direct: {include: $OUT/fwd/in/direct, poll_interval: 100ms}
  file/fanout: {include: $OUT/fwd/in/fanout, poll_interval: 100ms}
  file/hop: {include: $OUT/fwd/in/hop, poll_interval: 100ms}
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:$OTLP_PORT}}}
exporters:
  pyroscope/direct: {endpoint: http://127.0.0.1:$PYSINK, external_labels: {route: direct}}
  pyroscope/fanout: {endpoint: http://127.0.0.1:$PYSINK, external_labels: {route: fanout}}
  pyroscope/hop: {endpoint: http://127.0.0.1:$PYSINK, external_labels: {route: hop}}
  otlp: {endpoint: 127.0.0.1:$GSINK, insecure: true}
  otlp/hop: {endpoint: 127.0.0.1:$OTLP_PORT, insecure: true}
service:
  pipelines:
    profiles/direct: {receivers: [file/direct], exporters: [pyroscope/direct]}
    profiles/fanout: {receivers: [file/fanout], exporters: [pyroscope/fanout, otlp]}
    profiles/hop: {receivers: [file/hop], exporters: [otlp/hop]}
    profiles/hop2: {receivers: [otlp], exporters: [pyroscope/hop]}
  telemetry:
    metrics: {address: 127.0.0.1:$MPORT}
    health: {address: 127.0.0.1:$(free_port)}
    logs: {level: warn}
EOF
"$BUILD/profcol" --config "$OUT/fwd.yaml" 2>"$OUT/fwd.log" &
PC=$!; PIDS+=("$PC")
wait_metrics "$MPORT" "$OUT/fwd.log"
FWD_INPUTS=(cpu heap allocs goroutine mutex block)
for d in direct fanout hop; do
  for n in "${FWD_INPUTS[@]}"; do
    cp "$BUILD/fixtures/profiles/$n.pb.gz" "$OUT/fwd/in/$d/.$n.pb.gz"
    mv "$OUT/fwd/in/$d/.$n.pb.gz" "$OUT/fwd/in/$d/$n.pb.gz"
  done
done
want=$(( 3 * ${#FWD_INPUTS[@]} ))
for _ in $(seq 150); do
  [ "$(ls "$OUT/fwd/sink"/*.json 2>/dev/null | wc -l)" -ge "$want" ] && break
  sleep 0.2
done
FWD=$(/usr/bin/python3 - "$BUILD/fixtures/profiles" "$OUT/fwd/sink" "$BUILD/fixtures/bin/pprofcheck" "${FWD_INPUTS[@]}" <<'PY'
import json, os, subprocess, sys
prof, out, check, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
got = {}
for f in sorted(os.listdir(out)):
    if f.endswith(".json"):
        meta = json.load(open(os.path.join(out, f)))
        route = dict(meta["labels"]).get("route")
        stem = f[:-5]
        data = [x for x in os.listdir(out) if x.startswith(stem + ".pb")]
        if data:
            got.setdefault(route, []).append(os.path.join(out, data[0]))
for route in ("direct", "fanout", "hop"):
    files = got.get(route, [])
    blobs = {open(p, "rb").read(): p for p in files}
    same = equal = 0
    for n in names:
        orig = open(os.path.join(prof, n + ".pb.gz"), "rb").read()
        if orig in blobs:
            same += 1
            equal += 1
            continue
        # Not the same bytes: is some delivered profile at least equal?
        for p in files:
            if subprocess.run([check, os.path.join(prof, n + ".pb.gz"), p],
                              capture_output=True).returncode == 0:
                equal += 1
                break
    print("%s: %d delivered, %d/%d byte-identical, %d/%d equal (pprofcheck)"
          % (route, len(files), same, len(names), equal, len(names)))
PY
)
kill "$PC"; wait "$PC" 2>/dev/null || true
log "raw results in $RESULTS"

/usr/bin/python3 - "$RESULTS" "$(nproc)" "$LOAD_BEFORE" "$LOAD_AFTER" "$CONNS" "$FWD" "$BUSY" <<'PY'
import statistics, sys
path, ncpu, lb, la, conns, fwd, busy = sys.argv[1:]
rows = [dict(f.split("=", 1) for f in l.split() if "=" in f) for l in open(path)]
def ref(op):
    v = [int(r["median_ns"]) for r in rows if r["scenario"] == "codec" and r.get("op") == op and "median_ns" in r]
    return 1e9 / statistics.median(v), v
def tput(op):
    v = [float(r["tput_per_s"]) for r in rows if r["scenario"] == "codec" and r.get("op") == op and "tput_per_s" in r]
    return statistics.median(v) if v else float("nan")
rt, rtv = ref("roundtrip")
to, tov = ref("to_otlp")
rt_t, to_t = tput("roundtrip"), tput("to_otlp")
print("Machine: %s CPUs, load average %s before, %s after; %s busy loops "
      "beside the benchmark." % (ncpu, lb, la, busy))
print("Codec references (same run, medians): pprof -> pprof (roundtrip) %.0f profiles/s "
      "(%s); pprof -> OTLP (to_otlp) %.0f profiles/s (%s).\n"
      % (rt, ", ".join("%.0f" % (1e9 / x) for x in rtv), to, ", ".join("%.0f" % (1e9 / x) for x in tov)))
print("Codec throughput over each process's wall time (same run, medians): "
      "roundtrip %.0f, to_otlp %.0f profiles/s.\n" % (rt_t, to_t))
print("| exporter | sink | conversion | sent profiles/s | profcol CPU % | sink CPU % "
      "| generator CPU % | refused at receiver / failed sends | vs codec | vs codec throughput | target (vs codec) |")
print("|---|---|---|---:|---:|---:|---:|---|---:|---:|---|")
META = {"pyroscope": ("C HTTP sink (push API)", "pprof -> pprof", rt, rt_t),
        "parca": ("C gRPC sink (WriteRaw)", "pprof -> pprof", rt, rt_t),
        "otlp": ("C gRPC sink (Export)", "pprof -> OTLP, gzip", to, to_t),
        "otlphttp": ("C HTTP sink", "pprof -> OTLP, gzip", to, to_t),
        "otlp-none": ("C gRPC sink (Export)", "pprof -> OTLP, `compression: none`", to, to_t),
        "otlphttp-none": ("C HTTP sink", "pprof -> OTLP, `compression: none`", to, to_t)}
for e in ("pyroscope", "parca", "otlp", "otlphttp", "otlp-none", "otlphttp-none"):
    runs = sorted((r for r in rows if r["scenario"] == e), key=lambda r: float(r["sent_per_s"]))
    if not runs:
        continue
    m = runs[len(runs) // 2]
    sink, conv, r, rtp = META[e]
    rate = float(m["sent_per_s"])
    print("| %s | %s | %s | %.0f (runs: %s) | %s | %s | %s | %s / %s | %.0f%% | %.0f%% | >= 70%%: %s |"
          % (e, sink, conv, rate, ", ".join("%.0f" % float(x["sent_per_s"]) for x in runs),
             m["profcol_cpu_pct"], m["sink_cpu_pct"], m["gen_cpu_pct"], m.get("refused", "?"),
             m["failed"], 100 * rate / r, 100 * rate / rtp, "PASS" if rate >= 0.7 * r else "MISS"))
print("\nOriginal bytes at the Pyroscope sink (Python sink, real Go profiles):\n")
for line in fwd.splitlines():
    print("- " + line)
PY
