#!/usr/bin/env bash
# check.sh BUILD_DIR: the codec's regression guard. Measures profcol's codec
# against the gzip floors on the bench inputs of bench/run.sh, in one run,
# and fails when a ratio is more than 20 % worse than the one the README
# states (the table between the "bench-check" markers of README.md).
# `make bench-check` runs it; it is not part of `make test`.
#
# Ratios, not times: an operation and its floor run interleaved in the same
# run, so the load of a shared machine mostly cancels out. Each operation
# runs in a process of its own (bench_codec), BENCH_CHECK_REPS times; the
# minimum of its medians is kept. The times are CPU times (bench_codec's
# cpu_ns): on a machine running other work, wall times move by 1.5x from
# one run to the next, CPU times far less. Peak RSS ratios do not depend on
# the load.
#
# Environment:
#   BENCH_CHECK_REPS   repetitions of each operation (default 5)
#   BENCH_CHECK_SLACK  allowed worsening, a fraction (default 0.20)
#   README             the README holding the expected ratios (default: the
#                      repository's README.md)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$SRC/build}
[ -d "$BUILD" ] || { echo "check.sh: no build directory $BUILD" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
REPS=${BENCH_CHECK_REPS:-5}
SLACK=${BENCH_CHECK_SLACK:-0.20}
README=${README:-$SRC/README.md}
OUT=$BUILD/bench
RESULTS=$OUT/check.txt
CPU=$OUT/inputs/cpu/cpu.pb.gz
LARGE=$OUT/inputs/large/large_200k.pb.gz

log() { echo "check.sh: $*" >&2; }

log "building bench_codec"
mkdir -p "$OUT"
if ! cmake --build "$BUILD" --target bench_codec -j2 >"$OUT/check-build.log" 2>&1
then
    tail -n 30 "$OUT/check-build.log" >&2
    exit 1
fi
if [ ! -s "$CPU" ] || [ ! -s "$LARGE" ]; then
    log "making the inputs (bench/run.sh, inputs only)"
    BENCH_INPUTS_ONLY=1 "$SRC/bench/run.sh" "$BUILD"
fi

# Operation and floor alternate within each repetition.
OPS="gunzip decode to_otlp regzip roundtrip"
: >"$RESULTS"
for rep in $(seq 1 "$REPS"); do
    log "repetition $rep of $REPS ($(cut -d' ' -f1-3 /proc/loadavg))"
    for input in cpu:"$CPU":31 large:"$LARGE":3; do
        IFS=: read -r label file iters <<<"$input"
        for op in $OPS; do
            line=$("$BUILD/bench_codec" "$op" "$file" "$iters")
            echo "input=$label rep=$rep $line" >>"$RESULTS"
        done
    done
done

/usr/bin/env python3 - "$RESULTS" "$README" "$SLACK" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import re
import sys

results, readme, slack, load = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]

best = {}   # (input, op) -> min cpu_ns over the repetitions
rss = {}    # (input, op) -> max maxrss_kib
raw = {}    # input -> uncompressed size
for line in open(results):
    kv = dict(f.split("=", 1) for f in line.split())
    key = (kv["input"], kv["op"])
    t = int(kv["cpu_ns"])
    best[key] = min(best.get(key, t), t)
    rss[key] = max(rss.get(key, 0), int(kv["maxrss_kib"]))
    raw[kv["input"]] = max(raw.get(kv["input"], 0), int(kv["raw_bytes"]))


def ratio(inp, what):
    """A ratio named "OP/FLOOR" (times) or "OP_rss/raw" (peak RSS)."""
    a, b = what.split("/")
    if b == "raw":
        return rss[(inp, a[:-len("_rss")])] * 1024.0 / raw[inp]
    return best[(inp, a)] / best[(inp, b)]


# Expected rows: | input | ratio | value× | ... between the markers.
text = open(readme).read()
m = re.search(r"<!-- bench-check begin -->(.*?)<!-- bench-check end -->",
              text, re.S)
if not m:
    sys.exit("check.sh: no bench-check table in " + readme)
rows = re.findall(r"^\|\s*(cpu|large)\s*\|\s*`([a-z_]+/[a-z_]+)`\s*\|"
                  r"\s*([0-9.]+)×", m.group(1), re.M)
if not rows:
    sys.exit("check.sh: the bench-check table of %s has no rows" % readme)
print("load average after the run: %s" % load)
print("| input | ratio | README | measured | limit | |")
print("|---|---|---:|---:|---:|---|")
bad = 0
for inp, what, want in rows:
    want = float(want)
    got = ratio(inp, what)
    limit = want * (1 + slack)
    ok = got <= limit
    bad += not ok
    print("| %s | %s | %.2f× | %.2f× | %.2f× | %s |"
          % (inp, what, want, got, limit, "ok" if ok else "WORSE"))
sys.exit(1 if bad else 0)
PY
