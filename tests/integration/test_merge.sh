#!/usr/bin/env bash
# test_merge.sh: `profcol merge` on real profiles, judged by google/pprof
# (pprofcheck -totals, -labels, -valid):
#  - three Go CPU pprofs -> one pprof whose sums are 3x the input's;
#  - pprof + OTLP (converted) of Go CPU and Node wall -> one OTLP request
#    with one profile per type, each 2x;
#  - a JFR recording twice -> OTLP, 2x the recording's own conversion;
#  - --drop-label span_id: no span_id left, sums unchanged, fewer samples;
#  - bad input: exit 1 with a message, no output; several types into one
#    pprof without %d: refused.
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
JFR="$SRC/tests/fuzz/corpus/fuzz_jfr/jdk17_cpu.jfr"

# times N FILE OUT: FILE's totals (google/pprof) with every sum times N.
times() { "$CHECK" -totals "$2" | awk -v n="$1" '{printf "%s %.0f\n", $1, $2 * n}' >"$3"; }
same() { diff -u "$1" "$2" && pass "$3" || fail "$3"; }

echo "== pprof x3"
"$PROFCOL" merge "$PROF/cpu.pb.gz" "$PROF/cpu.pb.gz" "$PROF/cpu.pb.gz" "$WORK/m3.pb.gz" \
  || die "merge of three pprofs"
times 3 "$PROF/cpu.pb.gz" "$WORK/want3"
"$CHECK" -totals "$WORK/m3.pb.gz" >"$WORK/got3"
same "$WORK/want3" "$WORK/got3" "three Go CPU pprofs: sums x3"

echo "== pprof and OTLP, two types"
"$PROFCOL" convert --to otlp "$PROF/cpu.pb.gz" "$WORK/cpu.otlp"
"$PROFCOL" convert --to otlp "$WALL" "$WORK/wall.otlp"
"$PROFCOL" merge "$PROF/cpu.pb.gz" "$WORK/wall.otlp" "$WALL" \
  "$WORK/cpu.otlp" "$WORK/mixed.otlp" || die "merge of pprof and OTLP"
"$PROFCOL" convert --to pprof "$WORK/mixed.otlp" "$WORK/mixed%d.pb.gz"
[ -f "$WORK/mixed0.pb.gz" ] && [ -f "$WORK/mixed1.pb.gz" ] && [ ! -f "$WORK/mixed2.pb.gz" ] \
  && pass "OTLP output: two profiles (one per type)" || fail "OTLP output: not two profiles"
times 2 "$PROF/cpu.pb.gz" "$WORK/wantc"
times 2 "$WALL" "$WORK/wantw"
"$CHECK" -totals "$WORK/mixed0.pb.gz" >"$WORK/got0"
"$CHECK" -totals "$WORK/mixed1.pb.gz" >"$WORK/got1"
cat "$WORK/wantc" "$WORK/wantw" | sort >"$WORK/wantcw"
cat "$WORK/got0" "$WORK/got1" | sort >"$WORK/gotcw"
same "$WORK/wantcw" "$WORK/gotcw" "pprof + OTLP inputs: CPU and wall sums x2"

echo "== JFR"
"$PROFCOL" merge --to otlp "$JFR" "$JFR" "$WORK/jfr.otlp" || die "merge of JFR"
"$PROFCOL" convert --to pprof "$JFR" "$WORK/jone%d.pb.gz"
"$PROFCOL" convert --to pprof "$WORK/jfr.otlp" "$WORK/jtwo%d.pb.gz"
ok=1
for f in "$WORK"/jone*.pb.gz; do
  times 2 "$f" "$WORK/wantj"
  "$CHECK" -totals "${f/jone/jtwo}" >"$WORK/gotj" || ok=0
  diff -u "$WORK/wantj" "$WORK/gotj" || ok=0
done
[ $ok -eq 1 ] && pass "JFR twice: every kind's sums x2" || fail "JFR sums"

echo "== --drop-label"
"$PROFCOL" merge --drop-label span_id "$PROF/cpu_spans.pb.gz" "$PROF/cpu_spans.pb.gz" "$WORK/nospan.pb.gz" \
  || die "merge --drop-label"
times 2 "$PROF/cpu_spans.pb.gz" "$WORK/wants"
"$CHECK" -totals "$WORK/nospan.pb.gz" >"$WORK/gots"
same "$WORK/wants" "$WORK/gots" "--drop-label: sums x2"
n=$("$CHECK" -labels span_id "$WORK/nospan.pb.gz")
t=$("$CHECK" -labels trace_id "$WORK/nospan.pb.gz")
[ "$n" = 0 ] && [ "$t" -gt 0 ] && pass "--drop-label span_id: none left, trace_id kept ($t)" \
  || fail "--drop-label: span_id values $n, trace_id values $t"

echo "== bad input"
head -c 300 /dev/urandom >"$WORK/garbage"
if "$PROFCOL" merge "$PROF/cpu.pb.gz" "$WORK/garbage" "$WORK/bad.pb.gz" 2>"$WORK/err"; then
  fail "merge with garbage succeeded"
elif [ -s "$WORK/err" ] && [ ! -e "$WORK/bad.pb.gz" ]; then
  pass "garbage input: exit 1, $(head -c 120 "$WORK/err")"
else
  fail "garbage input: no message or output written"
fi
if "$PROFCOL" merge "$PROF/cpu.pb.gz" "$WALL" "$WORK/two.pb.gz" 2>"$WORK/err2"; then
  fail "two types into one pprof accepted"
else
  pass "two types into one pprof refused: $(head -c 100 "$WORK/err2")"
fi
finish
