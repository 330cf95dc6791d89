#!/usr/bin/env bash
# bench_persist.sh: end to end, how many ~85 KiB profiles per second profcol
# takes over HTTP (Pyroscope /ingest) when every one must be on disk before
# it is acknowledged: a persistent sending queue with the default
# `fsync: always` on the build directory's disk, group commit sharing each
# fdatasync among the requests in flight. The exporter writes to tmpfs so
# the queue's disk is what is measured.
#
#   bench/bench_persist.sh [BUILD_DIR] [PROFILE]
#   env: BENCH_SECONDS (5), BENCH_CONNS ("1 4 8 16"), BENCH_FSYNC (always;
#        "memory": the in-memory queue, no storage, the path to compare with)
#
# Prints one line per connection count: bench_loadgen's numbers (ok/s is
# acknowledged profiles per second), profcol's CPU and the group commits.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
PROFILE=${2:-}
SECS=${BENCH_SECONDS:-5}
CONNS_LIST=${BENCH_CONNS:-"1 4 8 16"}
FSYNC=${BENCH_FSYNC:-always}
WORK=$(mktemp -d "$BUILD/bench-persist.XXXXXX")
SINK=$(mktemp -d /dev/shm/profcol-persist.XXXXXX)
PC=""
cleanup() {
  [ -n "$PC" ] && kill "$PC" 2>/dev/null && wait "$PC" 2>/dev/null
  rm -rf "$WORK" "$SINK"
}
trap cleanup EXIT

if [ -z "$PROFILE" ]; then
  # A synthetic pprof of ~85 KiB gzip'd (what a busy service's 10 s CPU
  # profile weighs): random function names, random stacks.
  PROFILE=$WORK/p85.pb.gz
  python3 - "$PROFILE" <<'PY'
import gzip, random, sys
random.seed(7)
def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        if n: out.append(b | 0x80)
        else: out.append(b); return bytes(out)
def field(num, wt, payload):
    key = varint((num << 3) | wt)
    return key + (varint(payload) if wt == 0 else varint(len(payload)) + payload)
def packed(vals): return b''.join(varint(v) for v in vals)
nfunc, nsamp = 1200, 2000
strings = ["", "samples", "count", "cpu", "nanoseconds"]
p = bytearray()
p += field(1, 2, field(1, 0, 1) + field(2, 0, 2))
p += field(1, 2, field(1, 0, 3) + field(2, 0, 4))
for s in range(nsamp):
    locs = [random.randint(1, nfunc) for _ in range(random.randint(3, 20))]
    p += field(2, 2, field(1, 2, packed(locs)) + field(2, 2, packed([1, random.randint(1, 10**7)])))
for i in range(1, nfunc + 1):
    p += field(4, 2, field(1, 0, i) + field(4, 2, field(1, 0, i) + field(2, 0, random.randint(1, 5000))))
for i in range(1, nfunc + 1):
    strings.append("github.com/acme/svc/pkg%d.(*T%x).Method%x" % (i % 97, random.getrandbits(48), random.getrandbits(32)))
    p += field(5, 2, field(1, 0, i) + field(2, 0, len(strings) - 1))
for s in strings:
    p += field(6, 2, s.encode())
p += field(9, 0, 1700000000 * 10**9) + field(10, 0, 10**10)
p += field(11, 2, field(1, 0, 3) + field(2, 0, 4)) + field(12, 0, 10**7)
open(sys.argv[1], "wb").write(gzip.compress(bytes(p), 6))
PY
fi

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
metric() { # NAME: sum of its series
  curl -s "http://127.0.0.1:$MPORT/metrics" | grep "^$1" | awk '{s += $NF} END {printf "%d\n", s}'
}

run_one() { # CONNS
  MPORT=$(free_port); PPORT=$(free_port)
  rm -rf "$WORK/queue" "$SINK/out"
  local storage="
      storage:
        directory: $WORK/queue
        max_size: 8GiB
        fsync: $FSYNC"
  [ "$FSYNC" = memory ] && storage=""
  cat >"$WORK/profcol.yaml" <<YAML
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PPORT
exporters:
  file:
    path: $SINK/out
    rotation: {max_files: 20, max_bytes: 64MiB}
    sending_queue:
      queue_size: 100000$storage
service:
  pipelines:
    profiles: {receivers: [pyroscope], exporters: [file]}
  telemetry:
    metrics: {address: 127.0.0.1:$MPORT}
    health: {address: 127.0.0.1:$(free_port)}
    logs: {level: warn}
YAML
  "$BUILD/profcol" --config "$WORK/profcol.yaml" 2>"$WORK/profcol.log" &
  PC=$!
  for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$MPORT/metrics" >/dev/null 2>&1 && break
    sleep 0.1
  done
  local c0 c1 t0 t1 line
  c0=$(awk '{print $14 + $15}' "/proc/$PC/stat"); t0=$(date +%s.%N)
  [ -n "${BENCH_PERF:-}" ] && { perf record -g -p "$PC" -o "$BENCH_PERF" -- sleep "$SECS" >/dev/null 2>&1 & }
  line=$("$BUILD/bench_loadgen" http "127.0.0.1:$PPORT" \
    "/ingest?name=bench.cpu%7Benv%3Dbench%7D&format=pprof&from=1700000000&until=1700000010" \
    "$PROFILE" "$1" "$SECS")
  c1=$(awk '{print $14 + $15}' "/proc/$PC/stat"); t1=$(date +%s.%N)
  kill "$PC"; wait "$PC" 2>/dev/null || true; PC=""
  echo "fsync=$FSYNC conns=$1 bytes=$(stat -c %s "$PROFILE") $line profcol_cpu_pct=$(awk \
    -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" -v x="$t0" -v y="$t1" \
    'BEGIN {printf "%.1f", 100 * (b - a) / t / (y - x)}')"
}

for c in $CONNS_LIST; do
  run_one "$c"
done
