#!/usr/bin/env bash
# `profcol flamegraph` and `profcol diff` on real Go CPU profiles, judged by
# google/pprof (tests/fixtures/pproftop) and Python's XML parser:
#   (a) flamegraph: a well-formed SVG whose top function's self share is the
#       flat share google/pprof computes; .html gives a page with the SVG,
#       the script and a search box; - writes to stdout; OTLP input (made
#       by convert) draws the same; --type picks a sample type; --select
#       keeps the samples of one label value; bad input fails with one line
#   (b) diff: a regression injected by google/pprof into one function (its
#       samples' values times 4) is reported first, with the flat share
#       change google/pprof computes; exit 1 over the threshold, 0 under it
#       and for a profile against itself; --json parses; --svg draws that
#       function red, and one whose share fell blue
#   (c) a JFR recording made here by the JDK: the flame graph of each kind
#       (cpu by default, --type alloc_sample_bytes) holds the top function
#       google/pprof finds in `profcol convert --to pprof` of that kind
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd java "the JDK records the JFR file drawn"
need_cmd javac "the JDK compiles the recorded program"
pc() { timeout 120 "$PROFCOL" "$@"; }
fc() { "$PY" "$HERE/flame_check.py" "$@"; }
# |A - B| <= TOL
close() { "$PY" -c "import sys; sys.exit(abs($1 - $2) > $3)"; }
# A function's self share summed over its N frames of an SVG, each printed
# rounded to 0.01 %, against google/pprof's: within N half-hundredths (and
# 0.02 for the frames too narrow to draw).
close_self() { close "$1" "$3" "$(awk -v n="$2" 'BEGIN { print 0.005 * n + 0.02 }')"; }

echo "== fixtures"
fixtures --skip-node
build_pproftop
TOP="$PPROFTOP"
CPU="$PROF/cpu.pb.gz"

echo "== (a) flamegraph"
read -r top top_share < <("$TOP" -top "$CPU")
echo "google/pprof: top function $top, flat $top_share%"
pc flamegraph "$CPU" "$WORK/cpu.svg" || die "flamegraph exited $?"
n=$(fc frames "$WORK/cpu.svg") || die "the SVG is not well-formed XML"
[ "$n" -gt 10 ] && pass "SVG with $n frames" || fail "SVG with $n frames"
read -r got nfr < <(fc self "$WORK/cpu.svg" "$top")
close_self "$got" "$nfr" "$top_share" && pass "top function $top: self $got% = google/pprof's $top_share%" \
  || fail "top function $top: self $got%, google/pprof says $top_share%"
grep -q '<script><!\[CDATA\[' "$WORK/cpu.svg" && pass "the SVG carries its script" \
  || fail "no script in the SVG"
if grep -Eq 'https?://[^"]*\.(js|css)|<script[^>]* src=' "$WORK/cpu.svg"; then
  fail "the SVG loads something from the network"
else
  pass "nothing loaded from the network"
fi

pc flamegraph "$CPU" "$WORK/cpu.html" || die "flamegraph .html exited $?"
grep -q '^<!DOCTYPE html>' "$WORK/cpu.html" && grep -q 'class="flame-search"' "$WORK/cpu.html" &&
  grep -q '<svg xmlns' "$WORK/cpu.html" && grep -q 'profcolFlame' "$WORK/cpu.html" &&
  pass ".html: a page with the SVG, a search box and the script" || fail ".html page incomplete"

pc flamegraph "$CPU" - >"$WORK/stdout.svg" || die "flamegraph to stdout exited $?"
cmp -s "$WORK/stdout.svg" "$WORK/cpu.svg" && pass "- writes the same SVG to stdout" \
  || fail "stdout SVG differs"

pc convert --to otlp "$CPU" "$WORK/cpu.otlp" || die "convert"
pc flamegraph "$WORK/cpu.otlp" "$WORK/otlp.svg" || die "flamegraph of OTLP exited $?"
read -r got nfr < <(fc self "$WORK/otlp.svg" "$top")
close_self "$got" "$nfr" "$top_share" && pass "OTLP input: $top self $got%" \
  || fail "OTLP input: $top self $got%, want $top_share%"

pc flamegraph "$CPU" "$WORK/samples.svg" --type samples:count || die "--type exited $?"
grep -q 'samples:count' "$WORK/samples.svg" && pass "--type samples:count drawn" \
  || fail "--type not in the title"
cpu_root=$(fc root "$WORK/cpu.svg")
cnt_root=$(fc root "$WORK/samples.svg")
[ "$cnt_root" -lt "$cpu_root" ] && [ "$cnt_root" -gt 0 ] && pass "--type: $cnt_root samples vs $cpu_root ns" \
  || fail "--type: roots $cnt_root and $cpu_root"
if pc flamegraph "$CPU" "$WORK/x.svg" --type nosuch 2>"$WORK/err"; then
  fail "--type nosuch succeeded"
else
  grep -q 'no profile with sample type nosuch' "$WORK/err" && pass "--type nosuch: $(cat "$WORK/err")" \
    || fail "--type nosuch: $(cat "$WORK/err")"
fi

pc flamegraph "$CPU" "$WORK/sel.svg" --select '{shard="3"}' || die "--select exited $?"
sel_root=$(fc root "$WORK/sel.svg")
[ "$sel_root" -gt 0 ] && [ "$sel_root" -lt "$cpu_root" ] && pass "--select shard=3: $sel_root of $cpu_root" \
  || fail "--select shard=3: $sel_root of $cpu_root"
if pc flamegraph "$CPU" "$WORK/x.svg" --select '{shard=' 2>"$WORK/err"; then
  fail "a broken selector was taken"
else
  pass "broken selector: $(head -1 "$WORK/err")"
fi
head -c 100 /dev/urandom >"$WORK/junk"
if pc flamegraph "$WORK/junk" "$WORK/x.svg" 2>"$WORK/err"; then
  fail "junk input drew a flame graph"
else
  [ "$(wc -l <"$WORK/err")" -eq 1 ] && pass "junk input: $(cat "$WORK/err")" || fail "junk input: $(cat "$WORK/err")"
fi

echo "== (b) diff"
"$TOP" -scale "$top" 4 "$CPU" "$WORK/new.pb.gz" || die "pproftop -scale"
base_flat=$(("$TOP" -flat "$top" "$CPU") )
new_flat=$("$TOP" -flat "$top" "$WORK/new.pb.gz")
want=$("$PY" -c "print('%.4f' % ($new_flat - $base_flat))")
echo "google/pprof: $top flat $base_flat% -> $new_flat% ($want points)"

rc=0
pc diff "$CPU" "$WORK/new.pb.gz" --json --threshold 5 >"$WORK/diff.json" || rc=$?
[ "$rc" -eq 1 ] && pass "regression over 5%: exit 1" || fail "regression over 5%: exit $rc"
read -r first first_chg regression < <("$PY" -c "
import json, sys
d = json.load(open(sys.argv[1]))
f = d['functions'][0]
print(f['function'], f['flat_change_pct'], d['regression'])" "$WORK/diff.json")
[ "$first" = "$top" ] && pass "diff reports $top first" || fail "diff reports $first first, not $top"
close "$first_chg" "$want" 0.01 && pass "flat change $first_chg points = google/pprof's $want" \
  || fail "flat change $first_chg points, google/pprof says $want"
[ "$regression" = True ] && pass "JSON says regression" || fail "JSON regression=$regression"

rc=0
pc diff "$CPU" "$WORK/new.pb.gz" --threshold 1000 >"$WORK/diff.txt" || rc=$?
[ "$rc" -eq 0 ] && pass "under a 1000% threshold: exit 0" || fail "under a 1000% threshold: exit $rc"
grep -q "^ok: threshold" "$WORK/diff.txt" && sed -n 4p "$WORK/diff.txt" | awk -v t="$top" '$NF == t {ok = 1} END {exit !ok}' &&
  pass "text report: $top on the first row" || { cat "$WORK/diff.txt"; fail "text report"; }

rc=0
pc diff "$CPU" "$CPU" --threshold 0 >"$WORK/same.txt" || rc=$?
[ "$rc" -eq 0 ] && grep -q 'change +0.00%' "$WORK/same.txt" && pass "a profile against itself: no change, exit 0" \
  || fail "a profile against itself: exit $rc"

rc=0
pc diff "$CPU" "$WORK/new.pb.gz" --svg "$WORK/diff.svg" >/dev/null || rc=$?
[ "$rc" -eq 1 ] || fail "diff --svg exit $rc"
red=$(fc reddest "$WORK/diff.svg")
[ "$red" = "$top" ] && pass "diff SVG: the fully red frames are $top's" || fail "diff SVG: fully red: $red"
blue=$(fc blue "$WORK/diff.svg")
if [ -n "$blue" ] && ! grep -qwF -- "$top" <<<"$blue"; then
  pass "diff SVG: the other leaf functions, whose shares fell, are blue"
else
  fail "diff SVG: blue frames: $blue"
fi

rc=0
pc diff "$CPU" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] && pass "usage error: exit 2" || fail "usage error: exit $rc"
rc=0
pc diff "$CPU" "$WORK/junk" 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] && pass "junk NEW: exit 2" || fail "junk NEW: exit $rc"

echo "== (c) JFR"
javac -d "$WORK/classes" "$SRC/tests/fixtures/java/JfrWork.java"
timeout 120 nice java "-XX:StartFlightRecording=filename=$WORK/rec.jfr,settings=profile" \
  -cp "$WORK/classes" JfrWork 2 >/dev/null 2>&1 || die "recording JfrWork"
pc convert --to pprof "$WORK/rec.jfr" "$WORK/kind%d.pb.gz" || die "convert JFR"
for k in "0 cpu" "1 alloc_sample_bytes"; do
  read -r idx ty <<<"$k"
  read -r jtop jshare < <("$TOP" -top "$WORK/kind$idx.pb.gz")
  args=()
  [ "$idx" = 0 ] || args=(--type "$ty")
  pc flamegraph "$WORK/rec.jfr" "$WORK/jfr$idx.svg" "${args[@]}" || die "flamegraph of JFR ($ty)"
  read -r got nfr < <(fc self "$WORK/jfr$idx.svg" "$jtop")
  close_self "$got" "$nfr" "$jshare" && pass "JFR $ty: $jtop self $got% = google/pprof's $jshare%" \
    || fail "JFR $ty: $jtop self $got%, google/pprof says $jshare%"
done

finish
