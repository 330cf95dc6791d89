#!/usr/bin/env bash
# profcol against the real OpenTelemetry Collector (core v0.161.0, contrib
# v0.161.0 file exporter), built with OCB by tests/peers/collector/build.sh
# and run with --feature-gates=+service.profilesSupport. Real profiles from
# tests/fixtures/build.sh; loopback only; every wait bounded.
#
#   profcol A  file receiver: the fixture pprofs, and four of them as OTLP
#              written by pdata with typed resource attributes, a scope,
#              schema urls and sample links (pdatacheck -decorate) ->
#              otlp (gRPC, gzip)                 -> Collector otlp/g
#              otlphttp (protobuf, gzip)          -> Collector otlp/h
#              otlphttp (JSON, no compression)    -> Collector otlp/hj
#              file (OTLP): what A sent
#   Collector  otlp/g -> file (proto), file (JSON), and to profcol B:
#                 otlp_grpc gzip, otlp_grpc none,
#                 otlp_http protobuf gzip, protobuf none, JSON
#              otlp/h -> file; otlp/hj -> file; otlp/back -> file
#   profcol B  one otlp receiver per Collector exporter, each -> file (OTLP);
#              the gRPC gzip one also -> file (pprof) and -> otlp -> otlp/back
#
# Judged by pdatacheck (the Collector's own pdata, same release): every
# resource and scope attribute, profile, sample, value, timestamp, link and
# dictionary entry that A sent arrives, value sums equal:
#   (a) profcol otlp / otlphttp (proto, JSON) -> Collector -> file exporter
#   (b) Collector otlp_grpc (gzip, none), otlp_http (gzip, none, JSON) -> profcol
#   (c) relay Collector -> profcol -> Collector
#   (d) relay pprof -> profcol -> Collector -> profcol -> pprof equals the
#       input for google/pprof (pprofcheck)
# The Collector not building is a failure, never a skip.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
[ -x "$PROFCOL" ] || die "profcol binary not found at $PROFCOL"
COLLECTOR_VERSION=0.161.0

echo "== builds"
fixtures
echo "building the OpenTelemetry Collector $COLLECTOR_VERSION (OCB; cached after the first build)"
if ! COL=$(timeout 2400 bash "$PEERS/collector/build.sh" "$BUILD"); then
  die "the OpenTelemetry Collector $COLLECTOR_VERSION did not build (tests/peers/collector/build.sh)"
fi
PDATACHECK="$BUILD/peers/collector/pdatacheck"
(cd "$PEERS/collector/pdatacheck" && timeout 900 "$SRC/scripts/go.sh" build -o "$PDATACHECK.tmp" .) ||
  die "pdatacheck did not build"
mv "$PDATACHECK.tmp" "$PDATACHECK"
ver=$("$COL" --version 2>&1 || true)
echo "collector: $ver"
case "$ver" in
  *"$COLLECTOR_VERSION"*) pass "running the OpenTelemetry Collector $COLLECTOR_VERSION ($ver)" ;;
  *) fail "the Collector reports '$ver', want $COLLECTOR_VERSION" ;;
esac

# The inputs: every fixture pprof but the 10 MB one (larger than a gRPC
# message may be by default).
mkdir -p "$WORK/inputs"
n_in=0
for f in "$PROF"/*.pb.gz; do
  case "$(basename "$f")" in large_*) continue ;; esac
  cp "$f" "$WORK/inputs/"
  n_in=$((n_in + 1))
done
[ "$n_in" -ge 12 ] || die "only $n_in fixture profiles"
# What the inputs are as OTLP (profcol convert), to know when A is done.
mkdir -p "$WORK/expect"
for f in "$WORK/inputs"/*.pb.gz; do
  timeout 60 "$PROFCOL" convert --to otlp "$f" "$WORK/expect/$(basename "$f").pb" || die "profcol convert $f failed"
done
# OTLP inputs written by the Collector's pdata: typed resource attributes
# (string, int, double, bool, bytes, list, map), scope name, version and
# attributes, schema urls, and links from cpu_spans' trace and span ids.
n_otlp=0
for n in cpu_spans rich heap goroutine; do
  timeout 60 "$PROFCOL" convert --to otlp "$PROF/$n.pb.gz" "$WORK/$n.otlp" ||
    die "profcol convert $n.pb.gz failed"
  "$PDATACHECK" -decorate "peer-$n" "$WORK/$n.otlp" "$WORK/inputs/otlp_$n.pb" || die "pdatacheck -decorate $n failed"
  cp "$WORK/inputs/otlp_$n.pb" "$WORK/expect/"
  n_otlp=$((n_otlp + 1))
done

echo "== pdatacheck can fail"
mkdir -p "$WORK/neg/a" "$WORK/neg/b" "$WORK/neg/c"
cp "$WORK/inputs/otlp_rich.pb" "$WORK/neg/a/"
timeout 60 "$PROFCOL" convert --to otlp "$PROF/rich_altered.pb.gz" "$WORK/neg/altered.otlp"
"$PDATACHECK" -decorate peer-rich "$WORK/neg/altered.otlp" "$WORK/neg/b/x.pb" >/dev/null
"$PDATACHECK" -decorate peer-other "$WORK/rich.otlp" "$WORK/neg/c/x.pb" >/dev/null
for n in b c; do
  set +e
  out=$("$PDATACHECK" "$WORK/neg/a" "$WORK/neg/$n" 2>&1)
  rc=$?
  set -e
  what="one label value"
  [ $n = c ] && what="service.name"
  if [ $rc -eq 1 ]; then
    pass "pdatacheck tells apart two requests differing in $what"
  else
    fail "pdatacheck on requests differing in $what: exit $rc, want 1"
  fi
done

# Ports.
C_G=$(free_port); C_H=$(free_port); C_HJ=$(free_port); C_BACK=$(free_port)
B_GGZ=$(free_port); B_GNONE=$(free_port); B_HGZ=$(free_port); B_HNONE=$(free_port); B_HJSON=$(free_port)
A_M=$(free_port); A_H=$(free_port); B_M=$(free_port); B_H=$(free_port)

mkdir -p "$WORK/col" "$WORK/a" "$WORK/b"
cat >"$WORK/collector.yaml" <<EOF
receivers:
  otlp/g:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$C_G
  otlp/h:
    protocols:
      http:
        endpoint: 127.0.0.1:$C_H
  otlp/hj:
    protocols:
      http:
        endpoint: 127.0.0.1:$C_HJ
  otlp/back:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$C_BACK
exporters:
  debug:
    verbosity: basic
  file/g:
    path: $WORK/col/g.binpb
    format: proto
    flush_interval: 100ms
  file/gjson:
    path: $WORK/col/g.jsonl
    format: json
    flush_interval: 100ms
  file/h:
    path: $WORK/col/h.binpb
    format: proto
    flush_interval: 100ms
  file/hj:
    path: $WORK/col/hj.binpb
    format: proto
    flush_interval: 100ms
  file/back:
    path: $WORK/col/back.binpb
    format: proto
    flush_interval: 100ms
  otlp_grpc/gzip:
    endpoint: 127.0.0.1:$B_GGZ
    tls: {insecure: true}
    retry_on_failure: {enabled: false}
  otlp_grpc/none:
    endpoint: 127.0.0.1:$B_GNONE
    tls: {insecure: true}
    compression: none
    retry_on_failure: {enabled: false}
  otlp_http/gzip:
    endpoint: http://127.0.0.1:$B_HGZ
    retry_on_failure: {enabled: false}
  otlp_http/none:
    endpoint: http://127.0.0.1:$B_HNONE
    compression: none
    retry_on_failure: {enabled: false}
  otlp_http/json:
    endpoint: http://127.0.0.1:$B_HJSON
    encoding: json
    retry_on_failure: {enabled: false}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    profiles/g:
      receivers: [otlp/g]
      exporters: [debug, file/g, file/gjson, otlp_grpc/gzip, otlp_grpc/none, otlp_http/gzip, otlp_http/none, otlp_http/json]
    profiles/h:
      receivers: [otlp/h]
      exporters: [file/h]
    profiles/hj:
      receivers: [otlp/hj]
      exporters: [file/hj]
    profiles/back:
      receivers: [otlp/back]
      exporters: [file/back]
EOF

cat >"$WORK/b.yaml" <<EOF
receivers:
  otlp/ggzip:
    protocols: {grpc: {endpoint: 127.0.0.1:$B_GGZ}}
  otlp/gnone:
    protocols: {grpc: {endpoint: 127.0.0.1:$B_GNONE}}
  otlp/hgzip:
    protocols: {http: {endpoint: 127.0.0.1:$B_HGZ}}
  otlp/hnone:
    protocols: {http: {endpoint: 127.0.0.1:$B_HNONE}}
  otlp/hjson:
    protocols: {http: {endpoint: 127.0.0.1:$B_HJSON}}
exporters:
  file/ggzip: {path: $WORK/b/ggzip, format: otlp}
  file/gnone: {path: $WORK/b/gnone, format: otlp}
  file/hgzip: {path: $WORK/b/hgzip, format: otlp}
  file/hnone: {path: $WORK/b/hnone, format: otlp}
  file/hjson: {path: $WORK/b/hjson, format: otlp}
  file/pprof: {path: $WORK/b/pprof, format: pprof}
  otlp/back:
    endpoint: 127.0.0.1:$C_BACK
    insecure: true
service:
  telemetry:
    metrics: {address: 127.0.0.1:$B_M}
    health: {address: 127.0.0.1:$B_H}
  pipelines:
    profiles/ggzip: {receivers: [otlp/ggzip], exporters: [file/ggzip, file/pprof, otlp/back]}
    profiles/gnone: {receivers: [otlp/gnone], exporters: [file/gnone]}
    profiles/hgzip: {receivers: [otlp/hgzip], exporters: [file/hgzip]}
    profiles/hnone: {receivers: [otlp/hnone], exporters: [file/hnone]}
    profiles/hjson: {receivers: [otlp/hjson], exporters: [file/hjson]}
EOF

mkdir -p "$WORK/in"
cat >"$WORK/a.yaml" <<EOF
receivers:
  file:
    include: $WORK/in
    pattern: "*.pb*"
    poll_interval: 100ms
exporters:
  file/sent: {path: $WORK/a/sent, format: otlp}
  otlp:
    endpoint: 127.0.0.1:$C_G
    insecure: true
  otlphttp:
    endpoint: http://127.0.0.1:$C_H
  otlphttp/json:
    endpoint: http://127.0.0.1:$C_HJ
    encoding: json
    compression: none
service:
  telemetry:
    metrics: {address: 127.0.0.1:$A_M}
    health: {address: 127.0.0.1:$A_H}
  pipelines:
    profiles:
      receivers: [file]
      exporters: [file/sent, otlp, otlphttp, otlphttp/json]
EOF

echo "== start"
# profcol B first: the Collector's gRPC exporters would otherwise meet a
# refused connection and, without retries, drop what comes first.
start_profcol b "$WORK/b.yaml" "$B_H"
start_proc collector "$COL" --config "$WORK/collector.yaml" --feature-gates=+service.profilesSupport
await collector 60 grep -q "Everything is ready" "$WORK/collector.log"
pass "Collector started with --feature-gates=+service.profilesSupport (4 profiles pipelines)"
start_profcol a "$WORK/a.yaml" "$A_H"

# Hand the inputs over atomically (the file receiver skips dot files).
for f in "$WORK/inputs"/*; do
  cp "$f" "$WORK/in/.$(basename "$f")"
  mv "$WORK/in/.$(basename "$f")" "$WORK/in/$(basename "$f")"
done

echo "== waiting for every path (at most 120 s)"
SENT="$WORK/a/sent"
# A's file exporter may write in several batches: wait until it holds
# every profile of the inputs.
want=$("$PDATACHECK" -count "$WORK/expect" | awk '{print $1}')
n=0
for _ in $(seq 300); do
  n=$("$PDATACHECK" -count "$SENT" 2>/dev/null | awk '{print $1}') || n=0
  [ "${n:-0}" -ge "$want" ] && break
  sleep 0.2
done
echo "sent by profcol A: $("$PDATACHECK" -count "$SENT" 2>&1) (from $n_in pprofs and $n_otlp OTLP files: $want profiles)"
[ "${n:-0}" -eq "$want" ] || die "profcol A's file exporter holds $n profiles, want $want"

# Each target is done once pdatacheck finds it equal; the Collector's file
# exporter flushes every 100 ms. The Collector's otlp receiver acknowledges
# a request without any sample and drops it (empty.pb.gz): pdatacheck
# -ignore-empty leaves such requests out.
targets=(b/ggzip b/gnone b/hgzip b/hnone b/hjson col/g.binpb col/g.jsonl col/h.binpb col/hj.binpb col/back.binpb)
deadline=$(($(date +%s) + 120))
for t in "${targets[@]}"; do
  while [ "$(date +%s)" -lt "$deadline" ]; do
    [ -e "$WORK/$t" ] && "$PDATACHECK" -ignore-empty "$SENT" "$WORK/$t" >/dev/null 2>&1 && break
    sleep 0.5
  done
done
# Stop the Collector (SIGTERM flushes its file exporters), then judge.
stop collector || true

judge() { # label target
  local out
  local a=$SENT b=$WORK/$2
  [ "$2" = expect_vs_sent ] && a=$WORK/expect b=$SENT
  if out=$("$PDATACHECK" -ignore-empty "$a" "$b" 2>&1); then
    grep '^note:' <<<"$out" || true
    pass "$1: $(sed -n 's/^equal: //p' <<<"$out")"
  else
    fail "$1"
    echo "$out" | head -n 20
  fi
}
echo "== the reference: what profcol A sent"
judge "profcol A's file exporter holds the inputs (pprofs converted; OTLP files as written by pdata)" expect_vs_sent
echo "== (a) profcol -> Collector -> file exporter"
judge "(a) profcol otlp (gRPC, gzip) -> Collector -> file (proto)" col/g.binpb
judge "(a) profcol otlp (gRPC, gzip) -> Collector -> file (JSON)" col/g.jsonl
judge "(a) profcol otlphttp (protobuf, gzip) -> Collector -> file" col/h.binpb
judge "(a) profcol otlphttp (JSON, no compression) -> Collector -> file" col/hj.binpb
echo "== (b) Collector -> profcol"
judge "(b) Collector otlp_grpc (gzip) -> profcol otlp receiver" b/ggzip
judge "(b) Collector otlp_grpc (compression none) -> profcol" b/gnone
judge "(b) Collector otlp_http (protobuf, gzip) -> profcol" b/hgzip
judge "(b) Collector otlp_http (protobuf, compression none) -> profcol" b/hnone
judge "(b) Collector otlp_http (encoding json, gzip) -> profcol" b/hjson
echo "== (c) relay Collector -> profcol -> Collector"
judge "(c) profcol -> Collector -> profcol -> Collector -> file" col/back.binpb

echo "== (d) relay pprof -> profcol -> Collector -> profcol -> pprof"
shopt -s nullglob
outs=("$WORK/b/pprof"/*.pb.gz)
shopt -u nullglob
echo "profcol B wrote ${#outs[@]} pprof files"
declare -A used=()
n_empty=0
for f in "$WORK/inputs"/*.pb.gz; do
  n=$(basename "$f")
  match=""
  for o in "${outs[@]}"; do
    [ -n "${used[$o]:-}" ] && continue
    if "$CHECK" "$f" "$o" >/dev/null 2>&1; then
      match=$o
      break
    fi
  done
  if [ -n "$match" ]; then
    used[$match]=1
    pass "(d) $n: back as pprof after two profcol and one Collector hop, equal (pprofcheck)"
  elif [ "$("$CHECK" -valid "$f" | sed -n 's/^valid: \([0-9]*\) samples.*/\1/p')" = 0 ]; then
    n_empty=$((n_empty + 1))
    pass "(d) $n: no samples, so the Collector's otlp receiver dropped it (as it does every request without samples)"
  else
    fail "(d) $n: no pprof from profcol B equals it"
  fi
done
[ "${#outs[@]}" -eq $((n_in - n_empty + n_otlp)) ] ||
  fail "(d) profcol B wrote ${#outs[@]} pprofs for $((n_in - n_empty)) pprof inputs with samples and $n_otlp OTLP inputs"

if grep -Eq 'level=(error|ERROR)|"level":"error"' "$WORK/collector.log"; then
  echo "Collector errors:"
  grep -E 'error' "$WORK/collector.log" | head -n 10
  fail "the Collector logged errors"
else
  pass "the Collector logged no error"
fi

finish
