#!/usr/bin/env bash
# test_aggregate.sh: the aggregate processor on real Go and Node profiles.
# file receiver -> aggregate (window 4s) -> file exporters (pprof, OTLP).
# Window 1: three copies each of a Go CPU pprof, a Node wall pprof and a Go
# heap profile as OTLP (profcol convert); window 2: two copies of each, plus
# one Go goroutine pprof alone; window 3: one Go CPU pprof alone. Window 1
# is emitted by the timer, window 2 by a reload (SIGHUP), window 3 by the
# shutdown (SIGTERM). Checks: output count = series x windows (3 x 2 + 2);
# google/pprof reads every output; every sample type's sum of each merged
# output is exactly 3x (window 1) or 2x (window 2) the input's, as
# google/pprof sums them; the lone profile leaves byte for byte as it came;
# the processor's counters.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "== fixtures"
fixtures
WALL="$PROF/node_wall.pb.gz"
if [ ! -f "$WALL" ]; then
  # No npm registry: a Go mutex profile stands in for the Node one.
  echo "!!! Node.js profiles SKIPPED: $(cat "$PROF/node.skipped" 2>/dev/null)"
  WALL="$PROF/mutex.pb.gz"
fi

new_ports
mkdir -p "$WORK/in" "$WORK/out" "$WORK/otlp" "$WORK/stage"
"$PROFCOL" convert --to otlp "$PROF/heap.pb.gz" "$WORK/stage/heap.otlp" \
  || die "profcol convert heap to OTLP"
cat > "$WORK/config.yaml" <<YAML
receivers:
  file:
    include: $WORK/in
    poll_interval: 100ms
processors:
  aggregate:
    window: 4s
exporters:
  file:
    path: $WORK/out
    format: pprof
  file/otlp:
    path: $WORK/otlp
    format: otlp
service:
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  pipelines:
    profiles:
      receivers: [file]
      processors: [aggregate]
      exporters: [file, file/otlp]
YAML
start_profcol profcol "$WORK/config.yaml"

# drop_window N: N copies of each input, named apart.
drop_window() {
  local i
  for i in $(seq 1 "$1"); do
    cp "$PROF/cpu.pb.gz" "$WORK/in/w$2-cpu$i.pb.gz"
    cp "$WALL" "$WORK/in/w$2-wall$i.pb.gz"
    cp "$WORK/stage/heap.otlp" "$WORK/in/w$2-heap$i.otlp"
  done
}
# Waits until 0.3 s into the next 4 s window of the wall clock.
next_window() {
  sleep "$("$PY" -c 'import time; print(4 - time.time() % 4 + 0.3)')"
}

echo "== window 1 (3 of each), window 2 (2 of each and one goroutine)"
next_window
drop_window 3 1
next_window
drop_window 2 2
cp "$PROF/goroutine.pb.gz" "$WORK/in/w2-lone.pb.gz"
wait_until 3 equals 16 metric_sum profcol_processor_aggregate_profiles_in_total \
  || fail "16 profiles taken: $(metric_sum profcol_processor_aggregate_profiles_in_total)"
[ "$(nfiles "$WORK/out")" -eq 3 ] || fail "window 2 emitted before its end: $(nfiles "$WORK/out") outputs"
echo "== reload (SIGHUP) inside window 2: it is emitted at once"
kill -HUP "$PC_PID"
wait_until 2 equals 7 nfiles "$WORK/out" && pass "reload emitted window 2 (7 outputs)" \
  || fail "after the reload: $(nfiles "$WORK/out") outputs, want 7"
echo "== window 3: one CPU profile alone, emitted by the shutdown"
cp "$PROF/cpu.pb.gz" "$WORK/in/w3-cpu.pb.gz"
wait_until 5 equals 17 metric_sum profcol_processor_aggregate_profiles_in_total \
  || fail "window 3 profile not taken"
stop profcol || fail "profcol exit status"

n=$(nfiles "$WORK/out")
[ "$n" -eq 8 ] && pass "8 outputs (3 series x 2 windows + 2 lone)" \
  || { ls -l "$WORK/out"; fail "expected 8 outputs, got $n"; }
bad=0
for f in "$WORK"/otlp/*; do "$PROFCOL" inspect "$f" >>"$WORK/inspect" 2>&1 || bad=$((bad + 1)); done
# One OTLP request per batch: the profiles in them, as profcol reads them.
np=$(sed -n 's/^file: .* \([0-9]*\) profiles\{0,1\})$/\1/p' "$WORK/inspect" | awk '{n += $1} END {print n + 0}')
[ "$np" -eq 8 ] && [ $bad -eq 0 ] && pass "OTLP outputs: 8 profiles, every request decodes" \
  || { cat "$WORK/inspect" | grep '^file:'; fail "OTLP outputs: $np profiles, $bad undecodable requests"; }
lone=0
for f in "$WORK"/out/*; do
  cmp -s "$f" "$PROF/goroutine.pb.gz" && lone=$((lone + 1))
  cmp -s "$f" "$PROF/cpu.pb.gz" && lone=$((lone + 1))
done
[ "$lone" -eq 2 ] && pass "the lone profiles left as they came" || fail "lone profiles: $lone byte-identical outputs, want 2"

"$PY" - "$CHECK" "$PROF/cpu.pb.gz" "$WALL" "$PROF/heap.pb.gz" \
  "$PROF/goroutine.pb.gz" -- "$WORK"/out/* <<'PY' && pass "google/pprof reads every output; sums are 3x and 2x the inputs'" || fail "totals (above)"
import subprocess, sys
check = sys.argv[1]
sep = sys.argv.index("--")
def totals(path):
    out = subprocess.run([check, "-totals", path], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit("%s: %s%s" % (path, out.stdout, out.stderr))
    return [(l.split()[0], int(l.split()[1])) for l in out.stdout.splitlines()]
inputs = {}
for p in sys.argv[2:sep]:
    t = totals(p)
    inputs[tuple(k for k, _ in t)] = [v for _, v in t]
seen = []
for p in sys.argv[sep + 1:]:
    t = totals(p)
    sig = tuple(k for k, _ in t)
    base = inputs.get(sig)
    if base is None:
        sys.exit("%s: unexpected sample types %s" % (p, sig))
    k = t[0][1] // base[0] if base[0] else 0
    if [v for _, v in t] != [k * b for b in base]:
        sys.exit("%s: sums %s are not a multiple of %s" % (p, t, base))
    seen.append((sig[-1], k))
want = sorted([(s[-1], k) for s in inputs if "goroutine" not in s[-1] for k in (2, 3)]
              + [("goroutine/count", 1), ("cpu/nanoseconds", 1)])
if sorted(seen) != want:
    sys.exit("outputs %s, want %s" % (sorted(seen), want))
print("outputs:", sorted(seen))
PY
finish
