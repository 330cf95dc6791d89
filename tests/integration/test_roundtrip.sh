#!/usr/bin/env bash
# Round trip of real and hand-built profiles through `profcol convert`,
# judged by google/pprof (pprofcheck) and by an independent OTLP checker:
#   (a) pprof -> OTLP -> pprof equals the input      (pprofcheck)
#   (b) pprof -> pprof equals the input              (pprofcheck)
#   (c) the OTLP keeps the v1.11.0 rules and the input's data (otlp_check.py)
#   (d) `profcol inspect` prints the sample count
#   (e) the checkers fail on different inputs
#   (f) bad input is refused with a one-line error, never a crash
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py google.protobuf grpc_tools
# Runs profcol with a time bound; a hang is a failure like any other.
pc() { timeout 120 "$PROFCOL" "$@"; }

echo "== fixtures"
fixtures
gen_pb
PB="$WORK/pb"

echo "== (e) the checkers can fail"
if out=$("$CHECK" -selftest "$PROF/rich.pb.gz"); then
  pass "pprofcheck self-test: every mutation of rich.pb.gz detected"
else
  echo "$out"
  fail "pprofcheck self-test"
fi
set +e
out=$("$CHECK" "$PROF/rich.pb.gz" "$PROF/rich_altered.pb.gz")
rc=$?
set -e
if [ $rc -eq 1 ]; then
  pass "pprofcheck rich vs rich_altered -> exit 1 (${out%%$'\n'*})"
else
  fail "pprofcheck rich vs rich_altered -> exit $rc, want 1"
fi
if out=$("$PY" "$HERE/otlp_check.py" "$PB" --selftest); then
  pass "otlp_check self-test: every broken request rejected"
else
  echo "$out"
  fail "otlp_check self-test"
fi

# Without the npm registry the Node.js profiles cannot be made: that fails
# the test loudly (PROFCOL_ALLOW_NO_NPM=1 turns it into a warning), while
# every other check still runs.
if [ -f "$PROF/node.skipped" ]; then
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  echo "!!! Node.js profiles SKIPPED: $(cat "$PROF/node.skipped")"
  echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
  if [ "${PROFCOL_ALLOW_NO_NPM:-0}" = 1 ]; then
    echo "WARN: node profiles skipped (PROFCOL_ALLOW_NO_NPM=1)"
  else
    fail "node profiles: npm registry unreachable"
  fi
fi

echo "== round trips"
profiles=()
for f in "$PROF"/*.pb.gz "$PROF"/*.pb; do
  [ -e "$f" ] && profiles+=("$f")
done
want_n=17
[ -f "$PROF/node.skipped" ] && want_n=15
[ ${#profiles[@]} -ge $want_n ] || fail "only ${#profiles[@]} profiles generated, want $want_n"

for P in "${profiles[@]}"; do
  name="$(basename "$P")"
  X="$WORK/$name.otlp"
  Y="$WORK/$name.back.pb.gz"
  Z="$WORK/$name.pprof.pb.gz"

  # (a) pprof -> OTLP -> pprof
  if pc convert --to otlp "$P" "$X" && pc convert --to pprof "$X" "$Y"; then
    if out=$("$CHECK" "$P" "$Y" 2>&1); then
      pass "$name: pprof -> otlp -> pprof equal"
    else
      fail "$name: pprof -> otlp -> pprof: $out"
    fi
  else
    fail "$name: convert pprof -> otlp -> pprof exited non-zero"
  fi

  # (b) pprof -> pprof
  if pc convert --to pprof "$P" "$Z"; then
    if out=$("$CHECK" "$P" "$Z" 2>&1); then
      pass "$name: pprof -> pprof equal"
    else
      fail "$name: pprof -> pprof: $out"
    fi
  else
    fail "$name: convert pprof -> pprof exited non-zero"
  fi

  # (c) the OTLP, read by another implementation
  if [ -s "$X" ]; then
    if out=$("$PY" "$HERE/otlp_check.py" "$PB" "$X" --pprof "$P" 2>&1); then
      pass "$name: ${out#otlp_check: }"
    else
      fail "$name: otlp_check: $out"
    fi
  else
    fail "$name: no OTLP output to check"
  fi

  # (d) inspect prints the sample count google/pprof sees
  want=$("$CHECK" -valid "$P" | sed -n 's/^valid: \([0-9]*\) samples.*/\1/p')
  if out=$(pc inspect "$P" 2>&1); then
    if grep -Eqi "samples?[^0-9]*\b$want\b" <<<"$out"; then
      pass "$name: inspect reports $want samples"
    else
      fail "$name: inspect output lacks the sample count $want"
    fi
  else
    fail "$name: inspect exited non-zero"
  fi
done

echo "== doc_url and Line.column (google/pprof reads both)"
DC="$WORK/doc_column"
"$FIX/bin/genedge" -doc-column -out "$DC" >/dev/null
P="$DC/rich_doc_column.pb.gz"
if out=$("$CHECK" -selftest "$P" 2>&1) && grep -q "doc url .*detected" <<<"$out" &&
   grep -q "line column .*detected" <<<"$out"; then
  pass "pprofcheck detects a changed doc_url and Line.column"
else
  fail "pprofcheck self-test on rich_doc_column.pb.gz: $(tail -n 1 <<<"$out")"
fi
if pc convert --to otlp "$P" "$WORK/dc.otlp" && pc convert --to pprof "$WORK/dc.otlp" "$WORK/dc.back.pb.gz" &&
   out=$("$CHECK" "$P" "$WORK/dc.back.pb.gz" 2>&1); then
  pass "rich_doc_column.pb.gz: pprof -> otlp -> pprof keeps doc_url and every Line.column"
else
  fail "rich_doc_column.pb.gz: pprof -> otlp -> pprof: ${out:-convert failed}"
fi
if pc convert --to pprof "$P" "$WORK/dc.pprof.pb.gz" && out=$("$CHECK" "$P" "$WORK/dc.pprof.pb.gz" 2>&1); then
  pass "rich_doc_column.pb.gz: pprof -> pprof keeps doc_url and every Line.column"
else
  fail "rich_doc_column.pb.gz: pprof -> pprof: ${out:-convert failed}"
fi

echo "== stdin/stdout"
P="$PROF/rich.pb.gz"
if pc convert --to otlp - - <"$P" >"$WORK/stdio.otlp" && pc convert --to otlp "$P" "$WORK/file.otlp" \
  && cmp -s "$WORK/stdio.otlp" "$WORK/file.otlp"; then
  pass "convert - - gives the same OTLP as convert FILE FILE"
else
  fail "convert via stdin/stdout differs from files or failed"
fi
if pc convert --to pprof - - <"$WORK/file.otlp" >"$WORK/stdio.pb.gz" && out=$("$CHECK" "$P" "$WORK/stdio.pb.gz" 2>&1); then
  pass "OTLP on stdin -> pprof on stdout equal"
else
  fail "OTLP on stdin -> pprof on stdout: ${out:-convert failed}"
fi

echo "== (f) bad input"
B="$WORK/bad"
mkdir -p "$B"
: >"$B/empty"
head -c 300 "$PROF/cpu.pb.gz" >"$B/truncated.gz"
head -c 500 "$PROF/rich.pb" >"$B/truncated.pb"
"$PY" -c 'import random, sys; random.seed(7); sys.stdout.buffer.write(bytes(random.randrange(256) for _ in range(4096)))' >"$B/random"
printf 'this is not a profile\nsecond line\n' >"$B/text.txt"
printf 'this is not a profile either\n' | gzip -c >"$B/text.gz"
for bad in "$B"/*; do
  bname="$(basename "$bad")"
  for mode in "inspect" "convert --to otlp" "convert --to pprof"; do
    set +e
    # shellcheck disable=SC2086
    timeout 60 "$PROFCOL" $mode "$bad" $( [ "$mode" = inspect ] || echo "$WORK/bad.out" ) \
      >"$WORK/bad.stdout" 2>"$WORK/bad.stderr"
    rc=$?
    set -e
    nlines=$(wc -l <"$WORK/bad.stderr")
    if [ $rc -eq 0 ]; then
      fail "$mode $bname: exit 0 on bad input"
    elif [ $rc -ge 124 ]; then
      fail "$mode $bname: exit $rc (crash or timeout)"
    elif [ ! -s "$WORK/bad.stderr" ] || [ "$nlines" -gt 1 ]; then
      fail "$mode $bname: want a one-line error on stderr, got $nlines line(s)"
    else
      pass "$mode $bname: exit $rc: $(cat "$WORK/bad.stderr")"
    fi
  done
done

echo "== (g) a file that shrinks while convert reads it (mapped: SIGBUS)"
# A 60 MB request (one real profile's request, repeated: valid protobuf),
# truncated as soon as convert has it mapped.
pc convert --to otlp "$PROF/cpu.pb.gz" "$WORK/one.otlp"
"$PY" -c 'import sys; d = open(sys.argv[1], "rb").read()
open(sys.argv[2], "wb").write(d * max(1, 60000000 // len(d)))' "$WORK/one.otlp" "$WORK/big.otlp"
mapped() { grep -c "shrink.otlp" "/proc/$1/maps" >/dev/null; }
verdict=""
for try in 1 2 3; do
  cp "$WORK/big.otlp" "$WORK/shrink.otlp"
  # At the lowest priority, watched without sleeping: the file shrinks
  # within a millisecond or so of being mapped.
  # (nice execs profcol: LAST_PID is profcol's own pid, whose maps are
  # read; start_proc's cleanup kills it if it were left running.)
  rm -f "$WORK/shrink.log"
  start_proc shrink nice -n 19 "$PROFCOL" convert --to otlp "$WORK/shrink.otlp" "$WORK/shrink.out"
  pid=$LAST_PID
  for _ in $(seq 20000); do mapped "$pid" 2>/dev/null && break; done
  truncate -s 4096 "$WORK/shrink.otlp"
  rc=0
  wait "$pid" || rc=$?
  if [ "$rc" = 1 ] && grep -c "shrank while it was being read" "$WORK/shrink.log" >/dev/null; then
    verdict="pass:exit 1: $(cat "$WORK/shrink.log")"
    break
  elif [ "$rc" -gt 1 ]; then
    verdict="fail:exit $rc (a signal or a timeout): $(cat "$WORK/shrink.log")"
    break
  fi
  verdict="fail:convert was done before the file shrank ($try tries)"
done
[ "${verdict%%:*}" = pass ] && pass "(g) ${verdict#*:}" || fail "(g) ${verdict#*:}"

finish
