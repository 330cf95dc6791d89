#!/usr/bin/env bash
# run.sh BUILD_DIR: measures profcol's codec against Go's google/pprof and
# against the gzip floor, and prints one Markdown table per input.
# See bench/README.md for what is measured and what each column means.
#
# Environment:
#   BENCH_ITERS_CPU    iterations per operation on the 10 s CPU profile (101)
#   BENCH_ITERS_LARGE  iterations per operation on the 200k profile (7)
#   BENCH_FRESH=1      regenerate the input profiles even if present
#   BENCH_INPUTS_ONLY=1  make the inputs and stop (bench/check.sh uses it)
#   PROFCOL_GO         a go binary to use (default: see scripts/go.sh)
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${1:-$SRC/build}
[ -d "$BUILD" ] || { echo "run.sh: no build directory $BUILD" >&2; exit 2; }
BUILD=$(cd "$BUILD" && pwd)
OUT=$BUILD/bench
ITERS_CPU=${BENCH_ITERS_CPU:-101}
ITERS_LARGE=${BENCH_ITERS_LARGE:-7}
mkdir -p "$OUT/inputs/cpu" "$OUT/inputs/large"

log() { echo "run.sh: $*" >&2; }

gobuild() {  # gobuild OUTPUT PACKAGE_DIR: module mode, pinned google/pprof
    (cd "$2" && "$SRC/scripts/go.sh" build -o "$1" .)
}

build_tools() {
    log "building bench_codec"
    if ! cmake --build "$BUILD" --target bench_codec -j2 >"$OUT/build.log" 2>&1
    then
        tail -n 30 "$OUT/build.log" >&2
        exit 1
    fi
    BIN=$BUILD/fixtures/bin
    if [ -f "$SRC/tests/fixtures/build.sh" ]; then
        log "building fixtures (tests/fixtures/build.sh)"
        # The Node.js profiles are not bench inputs: skip npm.
        SKIP_NODE=1 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >&2
    fi
    # Without the fixtures script, build the two generators directly.
    for tool in goprof genedge; do
        if [ ! -x "$BIN/$tool" ]; then
            mkdir -p "$BIN"
            gobuild "$BIN/$tool" "$SRC/tests/fixtures/$tool"
        fi
    done
    [ "${BENCH_INPUTS_ONLY:-0}" = 1 ] && return
    log "building the Go reference (bench/goref)"
    gobuild "$OUT/goref" "$SRC/bench/goref"
}

make_inputs() {
    CPU=$OUT/inputs/cpu/cpu.pb.gz
    LARGE=$OUT/inputs/large/large_200k.pb.gz
    if [ "${BENCH_FRESH:-0}" = 1 ] || [ ! -s "$CPU" ]; then
        log "profiling a Go program for 10 s (goprof)"
        "$BIN/goprof" -out "$OUT/inputs/cpu" -cpu-seconds 10 >/dev/null
    fi
    if [ "${BENCH_FRESH:-0}" = 1 ] || [ ! -s "$LARGE" ]; then
        log "generating the 200k-sample profile (genedge -large)"
        "$BIN/genedge" -out "$OUT/inputs/large" -large >/dev/null
    fi
}

# measure INPUT_LABEL BINARY OP FILE ITERS: one operation, one process.
measure() {
    local line impl=profcol
    [ "$(basename "$2")" = goref ] && impl=go
    if line=$("$2" "$3" "$4" "$5" 2>"$OUT/last_error"); then
        echo "input=$1 $line" >>"$RESULTS"
    else
        log "$3 on $1 failed: $(tail -n 1 "$OUT/last_error")"
        echo "input=$1 op=$3 impl=$impl failed=1" >>"$RESULTS"
    fi
}

# Each profcol operation is followed by the Go one it is compared with, so
# that a change in the machine's load hits both sides alike.
RUNS="c:decode go:parse c:to_otlp go:parse_write c:otlp_to_pprof
c:roundtrip c:regzip c:regzip_zlib go:regzip c:gunzip c:gunzip_zlib go:gunzip"

bench_input() {  # bench_input LABEL FILE ITERS
    local run bin
    log "measuring $1 ($(wc -c <"$2") bytes), $3 iterations per operation"
    for run in $RUNS; do
        bin=$BUILD/bench_codec
        [ "${run%%:*}" = go ] && bin=$OUT/goref
        measure "$1" "$bin" "${run#*:}" "$2" "$3"
    done
}

build_tools
make_inputs
[ "${BENCH_INPUTS_ONLY:-0}" = 1 ] && exit 0
# Other load skews the medians: record it next to the tables.
MACHINE="$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), \
$(nproc) CPUs, load average before the run $(cut -d' ' -f1-3 /proc/loadavg)"
RESULTS=$OUT/results.txt
: >"$RESULTS"
bench_input cpu "$CPU" "$ITERS_CPU"
bench_input large "$LARGE" "$ITERS_LARGE"
log "raw results in $RESULTS"

/usr/bin/env python3 - "$RESULTS" "$MACHINE" <<'PY'
import sys

TITLES = {
    "cpu": "Real Go CPU profile (runtime/pprof, 10 s)",
    "large": "Large profile (200k samples, 50k locations)",
}
# Table rows: (group, label, impl, op, comparisons). A comparison is
# (kind, ref impl, ref op, ref name, target): kind "faster" prints ref/this
# time (a speedup, target is a minimum), "time" prints this/ref time (target
# is a maximum).
GO_PARSE = ("go", "parse", "Go Parse")
GO_PW = ("go", "parse_write", "Go Parse+Write")
FLOOR = ("profcol", "regzip", "the libdeflate floor")
ROWS = [
    ("1. pprof decode", "Go profile.Parse", "go", "parse", []),
    ("1. pprof decode", "profcol pprof_decode", "profcol", "decode",
     [("faster",) + GO_PARSE + (5,)]),
    ("2. pprof -> OTLP", "Go Parse+Write (Go pprof has no OTLP)", "go",
     "parse_write", []),
    ("2. pprof -> OTLP", "profcol pprof_decode+otlp_encode", "profcol",
     "to_otlp", [("faster",) + GO_PW + (4,)]),
    ("3. OTLP -> pprof.gz", "profcol otlp_decode+pprof_encode_gz", "profcol",
     "otlp_to_pprof", [("faster",) + GO_PW + ("reported",)]),
    ("4. pprof -> pprof.gz", "floor: libdeflate gunzip+gzip -6", "profcol",
     "regzip", []),
    ("4. pprof -> pprof.gz", "floor: zlib gunzip+gzip -6", "profcol",
     "regzip_zlib", [("time",) + FLOOR + (None,)]),
    ("4. pprof -> pprof.gz", "Go Parse+Write", "go", "parse_write",
     [("time",) + FLOOR + (None,)]),
    ("4. pprof -> pprof.gz", "profcol pprof_decode+pprof_encode_gz",
     "profcol", "roundtrip",
     [("time",) + FLOOR + (1.5,), ("faster",) + GO_PW + (None,)]),
    ("5. floors", "libdeflate gunzip", "profcol", "gunzip", []),
    ("5. floors", "zlib gunzip", "profcol", "gunzip_zlib",
     [("time", "profcol", "gunzip", "libdeflate gunzip", None)]),
    ("5. floors", "Go compress/gzip gunzip", "go", "gunzip",
     [("time", "profcol", "gunzip", "libdeflate gunzip", None)]),
    ("5. floors", "Go compress/gzip gunzip+gzip", "go", "regzip",
     [("time",) + FLOOR + (None,)]),
]


def load(path):
    res = {}
    for line in open(path):
        kv = dict(f.split("=", 1) for f in line.split())
        res[(kv["input"], kv["impl"], kv["op"])] = kv
    return res


def ns(r):
    return int(r["median_ns"]) if r and "median_ns" in r else None


def verdict(value, ok):
    return "n/a" if value is None else ("PASS" if ok(value) else "MISS")


def compare(get, me, cmp):
    """Text of the 'vs reference' and 'target' cells for one comparison."""
    kind, impl, op, name, target = cmp
    ref = ns(get(impl, op))
    if kind == "faster":
        x = ref / ns(me) if ref else None
        vs = fmt_x(x, "faster than " + name)
        if target is None or isinstance(target, str):
            return vs, target or ""
        return vs, ">= %gx %s: %s" % (target, name,
                                      verdict(x, lambda v: v >= target))
    x = ns(me) / ref if ref else None
    vs = fmt_x(x, "the time of " + name)
    if target is None:
        return vs, ""
    return vs, "<= %gx %s: %s" % (target, name,
                                  verdict(x, lambda v: v <= target))


def cells(get, me, cmps):
    if not cmps:
        return "reference", ""
    pairs = [compare(get, me, c) for c in cmps]
    return ("; ".join(p[0] for p in pairs),
            "; ".join(p[1] for p in pairs if p[1]))


def fmt_x(x, what):
    return "n/a" if x is None else "%.2fx %s" % (x, what)


def mib(kib):
    return int(kib) / 1024.0


def table(res, label):
    get = lambda impl, op: res.get((label, impl, op))
    any_row = next((r for (i, _, _), r in res.items()
                    if i == label and "in_bytes" in r), None)
    if any_row is None:
        print("\n### %s: no results\n" % TITLES.get(label, label))
        return
    inb = int(any_row["in_bytes"])
    raw = max(int(r.get("raw_bytes", 0)) for (i, _, _), r in res.items()
              if i == label and "raw_bytes" in r)
    print("\n### %s\n" % TITLES.get(label, label))
    print("Input: %.1f KiB gzip pprof, %.1f KiB uncompressed.\n"
          % (inb / 1024.0, raw / 1024.0))
    print("| operation | implementation | MB/s (gzip input) | ms/profile "
          "| vs reference | peak RSS MiB | target |")
    print("|---|---|---:|---:|---|---:|---|")
    for group, name, impl, op, cmps in ROWS:
        r = get(impl, op)
        if r is None or "median_ns" not in r:
            print("| %s | %s | failed | | | | |" % (group, name))
            continue
        t = ns(r) / 1e9
        vs, target = cells(get, r, cmps)
        print("| %s | %s | %.1f | %.2f | %s | %.1f | %s |"
              % (group, name, inb / t / 1e6, t * 1e3, vs,
                 mib(r["maxrss_kib"]), target))
    footer(get, raw, label)


def footer(get, raw, label):
    print()
    dec, parse = get("profcol", "decode"), get("go", "parse")
    if dec and "maxrss_kib" in dec and raw:
        x = int(dec["maxrss_kib"]) * 1024.0 / raw
        check = ""
        if label == "large":
            check = " (target <= 4x: %s)" % verdict(x, lambda v: v <= 4)
        own = (int(dec["maxrss_kib"]) - int(dec["base_kib"])) * 1024.0
        print("- Peak RSS of profcol decode: %.1f MiB = %.2fx the "
              "uncompressed size%s. Less the %.1f MiB held before decoding "
              "(process and input file): %.1f MiB = %.2fx."
              % (mib(dec["maxrss_kib"]), x, check, mib(dec["base_kib"]),
                 own / 1048576.0, own / raw))
    if parse and "maxrss_kib" in parse and raw:
        print("- Peak RSS of Go Parse: %.1f MiB = %.2fx the uncompressed "
              "size." % (mib(parse["maxrss_kib"]),
                         int(parse["maxrss_kib"]) * 1024.0 / raw))
    sizes = [("OTLP request", get("profcol", "to_otlp")),
             ("profcol pprof.gz", get("profcol", "roundtrip")),
             ("Go pprof.gz", get("go", "parse_write")),
             ("libdeflate -6", get("profcol", "regzip")),
             ("zlib -6", get("profcol", "regzip_zlib"))]
    parts = ["%s %.1f KiB" % (n, int(r["out_bytes"]) / 1024.0)
             for n, r in sizes if r and "out_bytes" in r]
    if parts:
        print("- Output sizes: " + ", ".join(parts) + ".")


res = load(sys.argv[1])
print("Machine: %s." % sys.argv[2])
for label in ("cpu", "large"):
    table(res, label)
PY

# ---- engine: hand-off cost per batch vs decode, persistent queue rate ----
# (bench/README.md, section "Engine"). Inputs from tests/fixtures/build.sh.
log "building bench_engine, bench_pqueue"
if cmake --build "$BUILD" --target bench_engine bench_pqueue -j2 >>"$OUT/build.log" 2>&1; then
    echo
    echo "### Engine hand-off (1 pipeline, no processors, 3 exporters, in-memory queues)"
    for p in cpu.pb.gz large_200k.pb.gz; do
        f=$BUILD/fixtures/profiles/$p
        [ -f "$f" ] || continue
        iters=2000; [ "$p" = large_200k.pb.gz ] && iters=30
        "$BUILD/bench_engine" "$f" "$iters" || true
    done
    echo
    echo "### Persistent queue (87 KiB records, 3 s per policy)"
    qdir=$(mktemp -d "${TMPDIR:-/tmp}/profcol-pq.XXXXXX")
    "$BUILD/bench_pqueue" "$qdir" || true
    rm -rf "$qdir"
else
    tail -n 30 "$OUT/build.log" >&2
fi
