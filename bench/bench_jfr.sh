#!/usr/bin/env bash
# bench_jfr.sh BUILD_DIR: JFR -> pprof, profcol against the conversion
# Pyroscope runs on a format=jfr upload (Grafana's Go jfr-parser and its
# pprof package, pinned in bench/jfrref/go.mod), on the same recordings in
# the same run. Not part of `make test`. See bench/README.md.
#
#   (a) small: JfrWork recorded twice by JDK (as tests/integration/test_jfr.sh
#       does: the first recording rotates its chunk, the second adds the
#       TLAB events), the two files put back to back (several chunks)
#   (b) large: JfrWork recorded for BENCH_JFR_SECONDS with the TLAB events,
#       copies of it put back to back until the file is >= BENCH_JFR_MIN_MB
#
# Each conversion runs in its own process: `profcol convert --from jfr --to
# pprof IN OUT%d.pb.gz` against `jfrref convert IN OUT` (read, parse, build,
# marshal, gzip -6 each profile to a file). BENCH_JFR_RUNS runs of each,
# alternating the two so that load hits both alike, under /usr/bin/time for
# the peak RSS (median); then as many more, started from one Python process,
# for the wall time (spawn to wait4, median) and the CPU time (user + system,
# wait4's rusage in microseconds, median).
# Last, both outputs are summed per sample type (jfrref sum) and compared.
#
# Environment:
#   BENCH_JFR_RUNS      runs per conversion (default 7)
#   BENCH_JFR_SECONDS   length of the large recording (default 30)
#   BENCH_JFR_MIN_MB    size the large file is grown to (default 40)
#   BENCH_FRESH=1       record again even if the recordings are there
#   PROFCOL_GO          a go binary to use (default: see scripts/go.sh)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$SRC/build}
[ -d "$BUILD" ] || { echo "bench_jfr.sh: no build directory $BUILD" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench/jfr
RUNS=${BENCH_JFR_RUNS:-7}
SECONDS_LARGE=${BENCH_JFR_SECONDS:-30}
MIN_MB=${BENCH_JFR_MIN_MB:-40}
PROFCOL=$BUILD/profcol
JFRREF=$OUT/jfrref
mkdir -p "$OUT/in" "$OUT/tmp"

log() { echo "bench_jfr.sh: $*" >&2; }

for tool in java javac /usr/bin/time python3; do
    command -v "$tool" >/dev/null 2>&1 || { log "$tool not found"; exit 1; }
done

build_tools() {
    log "building profcol"
    if ! cmake --build "$BUILD" --target profcol -j2 >"$OUT/build.log" 2>&1; then
        tail -n 30 "$OUT/build.log" >&2
        exit 1
    fi
    log "building the Go reference (bench/jfrref, grafana/jfr-parser)"
    (cd "$SRC/bench/jfrref" && "$SRC/scripts/go.sh" build -o "$JFRREF" .)
}

record() { # record OUT.jfr SECONDS [EXTRA_SETTINGS]: one JfrWork recording
    local opt="filename=$1,settings=profile${3:+,$3}"
    timeout $(($2 + 120)) nice java "-XX:StartFlightRecording=$opt" \
        -cp "$OUT/classes" JfrWork "$2" >/dev/null 2>&1
}

TLAB="jdk.ObjectAllocationInNewTLAB#enabled=true,jdk.ObjectAllocationOutsideTLAB#enabled=true"

make_inputs() {
    SMALL=$OUT/in/small.jfr
    LARGE=$OUT/in/large.jfr
    [ "${BENCH_FRESH:-0}" = 1 ] && rm -f "$SMALL" "$LARGE" "$OUT/in/long.jfr"
    if [ ! -s "$SMALL" ] || [ ! -s "$LARGE" ]; then
        javac -d "$OUT/classes" "$SRC/tests/fixtures/java/JfrWork.java"
    fi
    if [ ! -s "$SMALL" ]; then
        log "recording JfrWork, 3 s + 2 s (small input)"
        record "$OUT/tmp/a.jfr" 3
        record "$OUT/tmp/b.jfr" 2 "$TLAB"
        cat "$OUT/tmp/a.jfr" "$OUT/tmp/b.jfr" >"$SMALL"
    fi
    if [ ! -s "$LARGE" ]; then
        if [ ! -s "$OUT/in/long.jfr" ]; then
            log "recording JfrWork, $SECONDS_LARGE s with TLAB events (large input)"
            record "$OUT/in/long.jfr" "$SECONDS_LARGE" "$TLAB"
        fi
        # A recording is chunks back to back, so copies of it are a valid
        # file; each copy's constants stay in its own chunks.
        : >"$LARGE"
        while [ "$(stat -c %s "$LARGE")" -lt $((MIN_MB << 20)) ]; do
            cat "$OUT/in/long.jfr" >>"$LARGE"
        done
    fi
}

chunks() { # FILE: the number of chunks (FLR\0 magic at chunk starts)
    python3 - "$1" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
off = n = 0
while off + 68 <= len(data) and data[off:off + 4] == b"FLR\0":
    n += 1
    off += struct.unpack(">q", data[off + 8:off + 16])[0]
print(n)
PY
}

# once IMPL FILE OUTPREFIX: one conversion in its own process; prints
# "us kib cpu": wall microseconds, then /usr/bin/time's peak RSS in KiB and
# user+system seconds (10 ms steps; Go's collector runs on the second core,
# profcol is one thread). /usr/bin/time rather than a Python wait4(): a
# child forked from Python counts Python's pages in its peak RSS.
once() {
    local t0 t1 rss user sys
    rm -f "$3"*.pb.gz
    t0=$(date +%s%N)
    if [ "$1" = profcol ]; then
        /usr/bin/time -f "%M %U %S" -o "$OUT/tmp/rss" "$PROFCOL" convert --from jfr --to pprof \
            "$2" "$3%d.pb.gz" >/dev/null 2>"$OUT/tmp/err" || { cat "$OUT/tmp/err" >&2; return 1; }
    else
        /usr/bin/time -f "%M %U %S" -o "$OUT/tmp/rss" "$JFRREF" convert "$2" "$3" \
            >/dev/null 2>"$OUT/tmp/err" || { cat "$OUT/tmp/err" >&2; return 1; }
    fi
    t1=$(date +%s%N)
    read -r rss user sys <<<"$(tail -n 1 "$OUT/tmp/rss")"
    echo "$(((t1 - t0) / 1000)) $rss $(python3 -c "print($user + $sys)")"
}

# bench_input LABEL FILE: RUNS alternating runs of each side, then the
# outputs of the last runs compared per sample type.
bench_input() {
    local i impl line
    log "measuring $1 ($(stat -c %s "$2") bytes, $(chunks "$2") chunks), $RUNS runs each"
    for i in $(seq "$RUNS"); do
        for impl in profcol go; do
            line=$(once "$impl" "$2" "$OUT/tmp/$1_${impl}_") ||
                { log "$impl failed on $1"; exit 1; }
            echo "$1 $impl $line" >>"$RESULTS"
        done
    done
    "$JFRREF" sum "$OUT/tmp/$1_profcol_"*.pb.gz >"$OUT/$1_profcol.sum"
    "$JFRREF" sum "$OUT/tmp/$1_go_"*.pb.gz >"$OUT/$1_go.sum"
}

# cpu_runs LABEL FILE: RUNS alternating runs of each side, started with
# posix_spawn from one Python process: the wall time from the spawn to
# wait4's return (nothing else: the RSS runs' interval also holds forking
# and starting `date` and /usr/bin/time, some ms on a loaded VM, which
# compresses the small file's ratio) and the CPU time (user + system, in
# microseconds: wait4's rusage of that one child; /usr/bin/time prints
# 10 ms steps, too coarse for the small file). Lines "LABEL IMPL CPU WALL".
cpu_runs() {
    python3 - "$1" "$2" "$RUNS" "$PROFCOL" "$JFRREF" "$OUT/tmp" <<'PY' >>"$CPU_RESULTS"
import glob, os, sys, time

label, path, runs, profcol, jfrref, tmp = sys.argv[1:]
argv = {
    "profcol": [profcol, "convert", "--from", "jfr", "--to", "pprof", path,
                os.path.join(tmp, "cpu_profcol_%d.pb.gz")],
    "go": [jfrref, "convert", path, os.path.join(tmp, "cpu_go_")],
}
null = os.open(os.devnull, os.O_WRONLY)
acts = [(os.POSIX_SPAWN_DUP2, null, 1), (os.POSIX_SPAWN_DUP2, null, 2)]
for _ in range(int(runs)):
    for impl in ("profcol", "go"):
        # As once() does: a file truncated and written again is flushed on
        # close by ext4 (auto_da_alloc), which the runs must not wait for.
        for old in glob.glob(os.path.join(tmp, "cpu_%s_*.pb.gz" % impl)):
            os.unlink(old)
        t0 = time.perf_counter_ns()
        pid = os.posix_spawn(argv[impl][0], argv[impl], os.environ,
                             file_actions=acts)
        _, status, ru = os.wait4(pid, 0)
        t1 = time.perf_counter_ns()
        if status != 0:
            sys.exit("%s failed on %s" % (impl, label))
        print(label, impl, round((ru.ru_utime + ru.ru_stime) * 1e6),
              (t1 - t0) // 1000)
PY
}

build_tools
make_inputs
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
RESULTS=$OUT/results.txt
: >"$RESULTS"
bench_input small "$SMALL"
bench_input large "$LARGE"
CPU_RESULTS=$OUT/cpu.txt
: >"$CPU_RESULTS"
log "time and CPU time, $RUNS runs each"
cpu_runs small "$SMALL"
cpu_runs large "$LARGE"
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
# What the process holds before reading anything: RSS / JFR is also given
# less this.
/usr/bin/time -f %M -o "$OUT/tmp/rss" "$PROFCOL" --version >/dev/null 2>&1
BASE_KIB=$(tail -n 1 "$OUT/tmp/rss")
log "raw results in $RESULTS"

python3 - "$OUT" "$RESULTS" "$CPU_RESULTS" "$SMALL" "$LARGE" "$(chunks "$SMALL")" "$(chunks "$LARGE")" \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(nproc) CPUs" \
    "$LOAD_BEFORE" "$LOAD_AFTER" "$BASE_KIB" <<'PY'
import os, statistics, sys

out, results, cpu_results, small, large, ch_small, ch_large, machine, load0, load1, base = sys.argv[1:]
runs = {}
for line in open(results):
    label, impl, us, kib, cpu = line.split()
    runs.setdefault((label, impl), []).append((int(us), int(kib), float(cpu)))
cpu_us, wall_us = {}, {}
for line in open(cpu_results):
    label, impl, us, wus = line.split()
    cpu_us.setdefault((label, impl), []).append(int(us))
    wall_us.setdefault((label, impl), []).append(int(wus))

def med(label, impl, i):
    return statistics.median(r[i] for r in runs[(label, impl)])

print("## JFR -> pprof: profcol vs Grafana jfr-parser (Pyroscope's conversion)\n")
print("%s; load average before %s, after %s; median of %d runs, each in its own process.\n"
      % (machine, load0, load1, len(runs[("small", "profcol")])))
print("| input | JFR size | profcol | Go jfr-parser + pprof + gzip | ratio (target >= 3x) "
      "| profcol peak RSS | Go peak RSS | profcol RSS / JFR (target <= 2x) |")
print("|---|---:|---:|---:|---|---:|---:|---|")
for label, path, ch in (("small", small, ch_small), ("large", large, ch_large)):
    size = os.path.getsize(path)
    pc = statistics.median(wall_us[(label, "profcol")]) / 1000
    go = statistics.median(wall_us[(label, "go")]) / 1000
    pr, gr = med(label, "profcol", 1) / 1024, med(label, "go", 1) / 1024
    ratio = go / pc
    rel = pr * 1048576 / size
    print("| %s (%d chunks) | %.1f MiB | %.1f ms | %.1f ms | %.2fx faster: %s | %.1f MiB | %.1f MiB "
          "(%.2fx) | %.2fx: %s |"
          % (label, int(ch), size / 1048576, pc, go, ratio, "met" if ratio >= 3 else "MISS",
             pr, gr, gr * 1048576 / size, rel, "met" if rel <= 2 else "MISS"))
    print("|  | single runs | %.1f-%.1f ms | %.1f-%.1f ms | | | | |"
          % (min(wall_us[(label, "profcol")]) / 1000, max(wall_us[(label, "profcol")]) / 1000,
             min(wall_us[(label, "go")]) / 1000, max(wall_us[(label, "go")]) / 1000))
    pu = statistics.median(cpu_us[(label, "profcol")]) / 1000
    gu = statistics.median(cpu_us[(label, "go")]) / 1000
    print("|  | CPU (user+sys, median) | %.1f ms | %.1f ms | %.2fx less CPU: %s | | | |"
          % (pu, gu, gu / pu, "met" if gu / pu >= 3 else "MISS"))
    print("|  | CPU single runs | %.1f-%.1f ms | %.1f-%.1f ms | | | | |"
          % (min(cpu_us[(label, "profcol")]) / 1000, max(cpu_us[(label, "profcol")]) / 1000,
             min(cpu_us[(label, "go")]) / 1000, max(cpu_us[(label, "go")]) / 1000))
    hp, hg = med(label, "profcol", 0) / 1000, med(label, "go", 0) / 1000
    print("|  | wall incl. starting date and /usr/bin/time (the RSS runs) | %.0f ms | %.0f ms "
          "| %.2fx | | | |" % (hp, hg, hg / hp))
print("\nprofcol's peak RSS less that of `profcol --version` (%.1f MiB): small %.2fx, large %.2fx "
      "the JFR size." % (int(base) / 1024,
                         *((med(l, "profcol", 1) - int(base)) * 1024 / os.path.getsize(f)
                           for l, f in (("small", small), ("large", large)))))

# Agreement: same sample types, and event counts (count types, and cpu and
# wall, P per event) within 1 %: docs/conversion.md section 8 lists why they
# differ at all (profcol also resolves stacks the JDK left in the previous
# chunk; Pyroscope keeps events whose stack has no frames). Byte and delay
# totals follow the counts, but one long park is a large share of a delay
# total, so they are printed, not judged.
COUNTED = ("/count", "cpu/nanoseconds", "wall/nanoseconds")
def load(p):
    lines = open(p).read().split("\n")
    n = int(lines[0].split()[1])
    return n, {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in lines[1:] if l}

print("\n### Do the outputs agree? (totals per sample type over all profiles written)\n")
bad = 0
for label in ("small", "large"):
    np_, p = load(os.path.join(out, label + "_profcol.sum"))
    ng, g = load(os.path.join(out, label + "_go.sum"))
    print("%s: profcol wrote %d profiles with %d sample types, Go %d profiles with %d sample types"
          % (label, np_, len(p), ng, len(g)))
    print("\n| sample type | profcol total | Go total | difference | profcol samples | Go samples |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in sorted(set(p) | set(g)):
        a, b = p.get(k, (0, 0)), g.get(k, (0, 0))
        diff = (a[0] - b[0]) / b[0] * 100 if b[0] else float("inf")
        print("| %s | %d | %d | %+.2f %% | %d | %d |" % (k, a[0], b[0], diff, a[1], b[1]))
        if k.endswith(COUNTED) and not abs(diff) <= 1:
            bad += 1
    print()
same = all(set(load(os.path.join(out, l + "_profcol.sum"))[1]) ==
           set(load(os.path.join(out, l + "_go.sum"))[1]) for l in ("small", "large"))
print("agreement: %s (same sample types; event counts within 1 %%, see docs/conversion.md "
      "section 8)" % ("OK" if bad == 0 and same else
                      "DIFFERS (%d count rows, sample types %s)" % (bad, "same" if same else "differ")))
PY
