#!/usr/bin/env bash
# bench_aggregate.sh BUILD_DIR: the aggregate processor and profilemetrics
# rules (bench_aggregate.c; see bench/README.md).
#
# Inputs: UPLOADS real Go CPU profiles of SECONDS each (tests/fixtures'
# goprof, one process per upload: consecutive uploads of one program, as a
# Pyroscope SDK sends them), kept in BUILD_DIR/bench/agg between runs
# (BENCH_FRESH=1 makes new ones). Then:
#   bench_aggregate agg ITERS   the uploads merged into one window
#   bench_aggregate rules ITERS 10 rules on the first upload
# Environment: BENCH_UPLOADS (6), BENCH_SECONDS (10), BENCH_ITERS (21).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$SRC/build}" && pwd)
N=${BENCH_UPLOADS:-6}
SECS=${BENCH_SECONDS:-10}
ITERS=${BENCH_ITERS:-21}
OUT=$BUILD/bench/agg

cmake --build "$BUILD" --target bench_aggregate -j2 >/dev/null
SKIP_NODE=1 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
[ "${BENCH_FRESH:-0}" = 1 ] && rm -rf "$OUT"
files=()
for i in $(seq 1 "$N"); do
  d=$OUT/u$i
  if [ ! -s "$d/cpu.pb.gz" ]; then
    mkdir -p "$d"
    echo "bench_aggregate.sh: upload $i: goprof -cpu-seconds $SECS" >&2
    "$BUILD/fixtures/bin/goprof" -out "$d" -cpu-seconds "$SECS" >/dev/null
  fi
  files+=("$d/cpu.pb.gz")
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
"$BUILD/bench_aggregate" agg "$ITERS" "${files[@]}"
"$BUILD/bench_aggregate" rules "$ITERS" "${files[0]}"
