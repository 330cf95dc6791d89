#!/usr/bin/env bash
# profcol against the real Pyroscope Go SDK: github.com/grafana/pyroscope-go
# v1.5.0 (with godeltaprof v0.1.12), pinned in tests/peers/pyroscope-go/
# (go.mod, go.sum; built with scripts/go.sh). Loopback only; every wait
# bounded; the SDK not building is a failure, never a skip.
#
#   pyroscope-go program (every profile type the SDK offers but
#   goroutine_leak, static tags, pyroscope.TagWrapper labels, upload every
#   1 s) -> POST /ingest -> profcol pyroscope receiver
#     -> pyroscope exporter (push API) -> Pyroscope sink
#     -> otlp exporter (gRPC)          -> OTLP sink
#
# Checked: every upload accepted and exported; on the Pyroscope side the
# series carry service_name, the static tags and the `__name__` Pyroscope
# gives each profile type (process_cpu, memory, goroutine, mutex, block);
# on the OTLP side service.name and the tags are resource attributes, every
# sample type arrives, and the samples of the TagWrapper work carry its
# label (profcol convert --to pprof, then pprofcheck -labels).
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
source "$PEERS/pyroscope_pipeline.sh"
need_py grpc grpc_tools google.protobuf
SDK=github.com/grafana/pyroscope-go
SDKV=v1.5.0
APP=go-peer

echo "== builds"
fixtures --skip-node
gen_pb
gen_pyro_pb
mkdir -p "$BUILD/peers/pyroscope-go"
PEER="$BUILD/peers/pyroscope-go/pyroscope-go-peer"
echo "building a program with $SDK $SDKV (Go module and build caches kept)"
(cd "$PEERS/pyroscope-go" && timeout 900 nice "$SRC/scripts/go.sh" build -o "$PEER.tmp" .) ||
  die "the program using $SDK $SDKV did not build (tests/peers/pyroscope-go)"
mv "$PEER.tmp" "$PEER"
deps=$("$SRC/scripts/go.sh" version -m "$PEER" 2>/dev/null | awk '$1 == "dep" {print $2, $3}')
grep -qx "$SDK $SDKV" <<<"$deps" && grep -qx "$SDK/godeltaprof v0.1.12" <<<"$deps" &&
  pass "the program links $SDK $SDKV and godeltaprof v0.1.12" || die "the program does not link $SDK $SDKV: $deps"

echo "== run"
start_pyroscope_pipeline
if timeout 120 "$PEER" "http://127.0.0.1:$PPORT" "$APP" 6 >"$WORK/sdk.log" 2>&1; then
  pass "$SDK $SDKV ran 6 s and stopped (final upload flushed): $(head -n 1 "$WORK/sdk.log")"
else
  tail -n 30 "$WORK/sdk.log"
  fail "the $SDK program failed"
fi
if grep -Eqi 'upload.*(fail|error)|status code [45]' "$WORK/sdk.log"; then
  grep -Ei 'upload.*(fail|error)|status code [45]' "$WORK/sdk.log" | head -n 5
  fail "the SDK logged failed uploads"
else
  pass "the SDK logged no failed upload"
fi
acc=$(metric_sum profcol_receiver_accepted_profiles_total)
end=$((SECONDS + 30))
while [ $SECONDS -lt $end ] && [ "$(metric_sum profcol_exporter_sent_profiles_total)" -lt $((2 * acc)) ]; do
  sleep 0.2
done
sent_p=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="pyroscope"')
sent_o=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="otlp"')
[ "$acc" -ge 20 ] && [ "$sent_p" = "$acc" ] && [ "$sent_o" = "$acc" ] &&
  pass "$acc profiles received, $sent_p exported to Pyroscope, $sent_o over OTLP" ||
  fail "received $acc, exported $sent_p to Pyroscope and $sent_o over OTLP (want 20 or more, all of them)"
stop profcol >/dev/null || true

echo "== what the Pyroscope sink got"
"$PY" "$PEERS/pyroscope_check.py" pyro "$WORK/pyro" >"$WORK/pyro.jsonl"
echo "$(wc -l <"$WORK/pyro.jsonl") series; names: $(jq -r '.__name__' "$WORK/pyro.jsonl" | sort | uniq -c | xargs)"
# goroutine, not goroutines: Pyroscope names a pprof `goroutines` when its
# sample type is displayed as `goroutines` (the default mapping of
# `goroutine`, used when no sample_type_config is sent); pyroscope-go sends
# one displaying it as `goroutine`, so the name is that last type's.
for name in process_cpu memory goroutine mutex block; do
  n=$(jq -c --arg n "$name" 'select(.__name__ == $n)' "$WORK/pyro.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "Pyroscope: $n series named $name" || fail "Pyroscope: no series named $name"
done
bad=$(jq -c --arg app "$APP" --arg v "$SDKV" \
  'select(.service_name != $app or .peer != "pyroscope-go" or .sdk_version != $v or .pyroscope_spy != "gospy")' \
  "$WORK/pyro.jsonl" | head -n 3)
[ -z "$bad" ] && [ -s "$WORK/pyro.jsonl" ] &&
  pass "Pyroscope: every series has service_name=$APP, peer=pyroscope-go, sdk_version=$SDKV, pyroscope_spy=gospy" ||
  fail "Pyroscope: series without the service or tags: $bad"
# The pprofs sent on: the CPU ones hold the TagWrapper label.
n=0
for f in $(jq -r 'select(.__name__ == "process_cpu") | ._file' "$WORK/pyro.jsonl"); do
  [ "$("$CHECK" -labels handler "$WORK/pyro/$f")" = 1 ] && n=$((n + 1))
done
[ "$n" -ge 1 ] && pass "Pyroscope: $n process_cpu pprofs carry the TagWrapper label handler (pprofcheck -labels)" ||
  fail "Pyroscope: no process_cpu pprof carries the label handler"

echo "== what the OTLP sink got"
[ "$(stat_of otlp invalid)" = 0 ] && [ "$(stat_of otlp accepted_requests)" -ge 1 ] &&
  pass "OTLP: $(stat_of otlp accepted_requests) requests, every one passed the sink's v1.11.0 checks" ||
  fail "OTLP sink: $(stat_of otlp accepted_requests) accepted, invalid: $(stat_of otlp errors)"
"$PY" "$PEERS/pyroscope_check.py" otlp "$WORK/pb" "$WORK/otlp/r*.otlp" >"$WORK/otlp.jsonl"
echo "$(wc -l <"$WORK/otlp.jsonl") profiles; sample types: $(jq -r '.sample_types[]' "$WORK/otlp.jsonl" | sort | uniq -c | xargs)"
# One OTLP profile per sample type, named and united as the SDK's
# sample_type_config says (as Pyroscope shows them).
for st in samples:count cpu:nanoseconds alloc_objects:objects alloc_space:bytes inuse_objects:objects \
          inuse_space:bytes goroutine:goroutines mutex_count:lock_samples mutex_duration:lock_nanoseconds \
          block_count:lock_samples block_duration:lock_nanoseconds; do
  n=$(jq -c --arg s "$st" 'select(.sample_types | index($s))' "$WORK/otlp.jsonl" | wc -l)
  [ "$n" -ge 1 ] && pass "OTLP: $n profiles of sample type $st" || fail "OTLP: no profile of sample type $st"
done
bad=$(jq -c --arg app "$APP" --arg v "$SDKV" \
  'select(.resource["service.name"] != $app or .resource.peer != "pyroscope-go" or .resource.sdk_version != $v)' \
  "$WORK/otlp.jsonl" | head -n 3)
[ -z "$bad" ] && [ -s "$WORK/otlp.jsonl" ] &&
  pass "OTLP: every profile has service.name=$APP, peer=pyroscope-go, sdk_version=$SDKV as resource attributes" ||
  fail "OTLP: profiles without the service or tags: $bad"

echo "== TagWrapper labels, back as pprof"
mkdir -p "$WORK/back"
for req in "$WORK"/otlp/r*.otlp; do
  [ -e "$req" ] || continue
  "$PROFCOL" convert --to pprof "$req" "$WORK/back/$(basename "$req" .otlp)_%d.pb.gz" 2>>"$WORK/convert.log" ||
    fail "profcol convert refused $req: $(tail -n 1 "$WORK/convert.log")"
done
# pprof labels are in the CPU and goroutine profiles (heap, mutex and block
# profiles have none); at least one CPU profile must hold samples of the
# TagWrapper work with exactly one value of handler, and none may hold
# another label value (the program sets only handler=tagged).
ncpu=0 ncpu_l=0 ngor_l=0 nback=0 values=""
for f in "$WORK"/back/*.pb.gz; do
  [ -e "$f" ] || continue
  nback=$((nback + 1))
  "$CHECK" -valid "$f" >/dev/null 2>&1 || fail "pprofcheck -valid $(basename "$f")"
  out=$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$f" handler)
  st=$(sed -n 1p <<<"$out")
  v=$(sed -n 2p <<<"$out")
  [ -n "$v" ] && values=$(printf '%s\n' $values ${v//,/ } | sort -u | xargs)
  n=$("$CHECK" -labels handler "$f")
  [ "$n" -le 1 ] || fail "$(basename "$f") ($st): $n values of handler, want at most 1"
  case "$st" in
    *cpu:nanoseconds*)
      ncpu=$((ncpu + 1))
      [ "$n" = 1 ] && ncpu_l=$((ncpu_l + 1)) ;;
    goroutine:*) [ "$n" = 1 ] && ngor_l=$((ngor_l + 1)) ;;
  esac
done
echo "$nback pprofs back from OTLP; CPU: $ncpu, $ncpu_l of them with handler; goroutine ones with handler: $ngor_l"
[ "$ncpu_l" -ge 1 ] &&
  pass "TagWrapper: $ncpu_l of $ncpu CPU profiles carry the sample label handler (one value) after pyroscope -> OTLP -> pprof" ||
  fail "TagWrapper: no CPU profile carries the label handler ($ncpu CPU profiles)"
[ "$values" = tagged ] && pass "TagWrapper: the only value of handler is tagged" ||
  fail "TagWrapper: values of handler: '$values', want tagged"

finish
