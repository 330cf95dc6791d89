#!/usr/bin/env bash
# JFR recordings made here by the JDK, read by profcol and judged against the
# JDK's own reading of them (`jfr summary`, `jfr print --json`):
#   (a) the recordings: a small Java program with CPU work, allocations, a
#       contended monitor and parked threads, recorded twice (the first
#       recording rotates its chunk, the second adds the TLAB events), the
#       two files put back to back: one file of three chunks or more
#   (b) `profcol inspect` counts the same events per type as `jfr summary`
#   (c) `profcol convert --to pprof`: google/pprof reads every profile, and
#       per kind the event count, the value sum and the top leaf frame equal
#       those of `jfr print --json` (jfr_check.py), but for the samples
#       profcol reports dropped (a stack in no pool of their chunk)
#   (d) `profcol convert --to otlp` keeps the OTLP rules (otlp_check.py)
#   (e) broken files are refused with a one-line error, never a crash
#   (f) the pyroscope receiver takes `format=jfr`: a raw body, and a multipart
#       body with gzipped `jfr` and `labels` parts, give one item per kind
#       the recording has
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd java "the JDK records the JFR files"
need_cmd javac "the JDK compiles the recorded program"
need_cmd jfr "the JDK's jfr tool is the reference reader"
need_py grpc_tools google.protobuf
pc() { timeout 120 "$PROFCOL" "$@"; }

echo "== fixtures"
fixtures --skip-node
gen_pb
PB="$WORK/pb"

echo "== (a) recordings"
javac -d "$WORK/classes" "$SRC/tests/fixtures/java/JfrWork.java"
timeout 120 nice java \
  "-XX:StartFlightRecording=filename=$WORK/a.jfr,settings=profile" \
  -cp "$WORK/classes" JfrWork 3 >/dev/null 2>&1
timeout 120 nice java \
  "-XX:StartFlightRecording=filename=$WORK/b.jfr,settings=profile,jdk.ObjectAllocationInNewTLAB#enabled=true,jdk.ObjectAllocationOutsideTLAB#enabled=true" \
  -cp "$WORK/classes" JfrWork 2 >/dev/null 2>&1
cat "$WORK/a.jfr" "$WORK/b.jfr" >"$WORK/ab.jfr"
chunks=$(jfr summary "$WORK/ab.jfr" | awk '/Chunks:/ {print $2}')
if [ "${chunks:-0}" -ge 3 ]; then
  pass "recording: $(stat -c %s "$WORK/ab.jfr") bytes, $chunks chunks"
else
  fail "recording: want 3 chunks or more, got ${chunks:-none}"
fi

echo "== (b) events per type"
# Per recording: `jfr summary` keys its counts by type id, and ids of two
# recordings put back to back collide.
want_counts() { # FILE
  jfr summary "$1" |
    awk '$1 ~ /^jdk\./ {n[$1] += $2} END {for (t in n) if (n[t] > 0) print t, n[t]}' |
    sed -e 's/^jdk.CheckPoint /(checkpoint) /' -e 's/^jdk.Metadata /(metadata) /' | sort
}
got_counts() { # FILE
  pc inspect "$1" |
    awk '/^  / && NF == 2 && ($1 ~ /^\(/ || $1 ~ /^[a-z]+\.[A-Za-z0-9.$]+$/) {print $1, $2}' |
    sort
}
for f in a b; do
  want_counts "$WORK/$f.jfr" >"$WORK/want_$f.txt"
  got_counts "$WORK/$f.jfr" >"$WORK/got_$f.txt"
  if diff "$WORK/want_$f.txt" "$WORK/got_$f.txt" >"$WORK/diff.txt"; then
    pass "inspect $f.jfr: $(wc -l <"$WORK/got_$f.txt") event types, counts equal to jfr summary"
  else
    head -20 "$WORK/diff.txt"
    fail "inspect $f.jfr: event counts differ from jfr summary"
  fi
done
cat "$WORK/got_a.txt" "$WORK/got_b.txt" |
  awk '{n[$1] += $2} END {for (t in n) print t, n[t]}' | sort >"$WORK/want_ab.txt"
got_counts "$WORK/ab.jfr" >"$WORK/got_ab.txt"
if diff -q "$WORK/want_ab.txt" "$WORK/got_ab.txt" >/dev/null; then
  pass "inspect ab.jfr: counts are the sums of both recordings'"
else
  fail "inspect ab.jfr: counts are not the sums of both recordings'"
fi
pc inspect "$WORK/ab.jfr" >"$WORK/inspect.txt"
if grep -q '^file: .*(jfr, ' "$WORK/inspect.txt" && grep -q '^__name__: process_cpu' "$WORK/inspect.txt"; then
  pass "inspect: sniffed as jfr, process_cpu profile listed"
else
  fail "inspect: format or profile names missing"
fi

echo "== (c) pprof"
start=$(date +%s%N)
pc convert --to pprof "$WORK/ab.jfr" "$WORK/out%d.pb.gz"
end=$(date +%s%N)
echo "convert: $(( (end - start) / 1000000 )) ms for $(stat -c %s "$WORK/ab.jfr") bytes"
n=0
for f in "$WORK"/out*.pb.gz; do
  if out=$("$CHECK" -valid "$f" 2>&1); then
    pass "pprofcheck $(basename "$f"): $out"
  else
    fail "pprofcheck $(basename "$f"): $out"
  fi
  n=$((n + 1))
done
[ $n -ge 4 ] && pass "$n pprof profiles" || fail "want 4 pprof profiles or more, got $n"
# The samples profcol dropped for a stack in no pool of their chunk (the
# JDK's reader may find them in an earlier chunk: jfr_check.py).
dropped=$(pc inspect "$WORK/ab.jfr" | sed -n 's/.* \([0-9]*\) samples with unknown stacks dropped$/\1/p')
[ -n "$dropped" ] || die "profcol inspect did not say how many samples it dropped"
echo "samples with unknown stacks dropped by profcol: $dropped"
if "$PY" "$HERE/jfr_check.py" "$PB" "$WORK/out" "$dropped" "$WORK/a.jfr" "$WORK/b.jfr" >"$WORK/check.txt"; then
  pass "jfr_check: $(grep -c '^PASS' "$WORK/check.txt") checks against jfr print --json"
else
  grep -v '^PASS' "$WORK/check.txt"
  fail "jfr_check"
fi

echo "== (d) OTLP"
if pc convert --from jfr --to otlp "$WORK/ab.jfr" "$WORK/ab.otlp" &&
   out=$("$PY" "$HERE/otlp_check.py" "$PB" "$WORK/ab.otlp"); then
  pass "otlp_check: $out"
else
  fail "otlp: ${out:-convert failed}"
fi

echo "== (e) broken files"
size=$(stat -c %s "$WORK/a.jfr")
head -c $((size / 2)) "$WORK/a.jfr" >"$WORK/bad_truncated.jfr"
{ printf 'FLR\0\0\x09\0\x01'; tail -c +9 "$WORK/a.jfr"; } >"$WORK/bad_major.jfr"
head -c 40 "$WORK/a.jfr" >"$WORK/bad_header.jfr"
for bad in "$WORK"/bad_*.jfr; do
  set +e
  pc convert --from jfr --to pprof "$bad" "$WORK/bad.pb.gz" 2>"$WORK/bad.stderr"
  rc=$?
  set -e
  nlines=$(wc -l <"$WORK/bad.stderr")
  if [ $rc -eq 0 ]; then
    fail "$(basename "$bad"): exit 0"
  elif [ $rc -ge 124 ]; then
    fail "$(basename "$bad"): exit $rc (crash or timeout)"
  elif ! grep -q 'jfr: chunk' "$WORK/bad.stderr" || [ "$nlines" -ne 1 ]; then
    fail "$(basename "$bad"): want one 'jfr: chunk' line, got: $(cat "$WORK/bad.stderr")"
  else
    pass "$(basename "$bad"): $(cat "$WORK/bad.stderr")"
  fi
done

echo "== (f) pyroscope receiver, format=jfr"
new_ports
PORT=$(free_port)
mkdir -p "$WORK/json"
cat >"$WORK/cfg.yaml" <<EOF
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PORT
    max_request_body_size: 8MiB
exporters:
  file/json:
    path: $WORK/json
    format: json
service:
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [file/json]
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
EOF
start_profcol jfr "$WORK/cfg.yaml"
url="http://127.0.0.1:$PORT/ingest?spyName=javaspy&sampleRate=100&format=jfr&from=1700000000&until=1700000010"
code=$(curl -s -o "$WORK/resp" -w '%{http_code}' --data-binary @"$WORK/a.jfr" \
       "$url&name=rawapp.cpu%7Benv%3Dtest%7D" || true)
[ "$code" = "200" ] && pass "raw JFR body -> 200" || fail "raw JFR body: $code $(cat "$WORK/resp")"
gzip -1 -c "$WORK/b.jfr" >"$WORK/b.jfr.gz"
printf '' | gzip -c >"$WORK/labels.gz"
code=$(curl -s -o "$WORK/resp" -w '%{http_code}' -F "jfr=@$WORK/b.jfr.gz;filename=jfr" \
       -F "labels=@$WORK/labels.gz;filename=labels" "$url&name=partapp" || true)
[ "$code" = "200" ] && pass "multipart jfr + labels (gzip) -> 200" || fail "multipart JFR: $code $(cat "$WORK/resp")"
# The file exporter writes a moment after the answers: check until the
# items are there (a fixed wait failed on a loaded machine).
# The kinds each recording has: a short one on a fast machine may have no
# monitor wait over the profile settings' threshold, and then no mutex
# profile (the JDK's reading says which).
kinds_of() {
  local k=process_cpu,memory,block
  jfr print --events jdk.JavaMonitorEnter "$1" | grep -q 'stackTrace = \[' && k=$k,mutex
  echo "$k"
}
RAW_KINDS=$(kinds_of "$WORK/a.jfr")
PART_KINDS=$(kinds_of "$WORK/b.jfr")
echo "kinds: rawapp $RAW_KINDS, partapp $PART_KINDS"
verify_items() {
  "$PY" "$HERE/pyroscope_check.py" verify "$WORK/json" \
    "service=rawapp:labels=env=test;pyroscope_spy=javaspy;__delta__=false:names=$RAW_KINDS" \
    "service=partapp:labels=pyroscope_spy=javaspy:names=$PART_KINDS" \
    >"$WORK/verify.out" 2>&1 || { sleep 0.4; return 1; }
}
if wait_until 30 verify_items; then
  pass "receiver items: $(tr '\n' ' ' <"$WORK/verify.out")"
else
  cat "$WORK/verify.out"
  fail "receiver items"
fi
kill -0 "$PC_PID" || fail "profcol died"

finish
