#!/usr/bin/env bash
# test_engine_group_commit.sh: with a persistent queue under the default
# `fsync: always`, a receiver answers only once the batch is durable, and
# concurrent requests share fdatasyncs (group commit).
#   (1) The file exporter's output path is a regular file, so nothing is
#       delivered: every acknowledged profile can only be on disk. K /ingest
#       and K OTLP/HTTP requests, 8 at a time; kill -9 right after the last
#       answer; fix the path; restart: every acknowledged profile is
#       delivered (at least once, duplicates bounded by none in flight).
#   (2) Every request of (1) was answered 200 (nothing refused), and the
#       restart found at least as many records on disk as acknowledgements.
#   (3) A slow disk (PROFCOL_TEST_COMMIT_DELAY_MS holds each group commit
#       before its fdatasync): a lone request is answered only after the
#       commit (its latency >= the delay), for HTTP and OTLP/HTTP alike;
#       16 concurrent requests share commits (they all finish in far less
#       than 16 delays).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fixtures

OUT="$WORK/out"; Q="$WORK/queue"; REQ="$WORK/req"
mkdir -p "$Q" "$REQ"
K=24
new_ports
PYRO_PORT=$(free_port)
OTLP_PORT=$(free_port)
GRPC_PORT=$(free_port)
cat >"$WORK/config.yaml" <<YAML
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PYRO_PORT
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:$OTLP_PORT"}
      grpc: {endpoint: "127.0.0.1:$GRPC_PORT"}
exporters:
  file:
    path: $OUT
    rotation: {max_files: 0, max_bytes: 0}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 300ms
      max_elapsed_time: 0s
    sending_queue:
      num_consumers: 2
      storage:
        directory: $Q
service:
  pipelines:
    profiles: {receivers: [pyroscope, otlp], exporters: [file]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
    logs: {level: info}
  shutdown_timeout: 5s
YAML

qsize() { metric_first profcol_exporter_queue_size 'exporter="file"'; }

# An OTLP request body: the Go CPU profile converted by profcol itself.
"$PROFCOL" convert --to otlp "$PROF/cpu.pb.gz" "$WORK/cpu.otlp"

# One request; prints its HTTP status into $REQ/<i>.
send() { # i
  local i=$1 code
  if [ $((i % 2)) -eq 0 ]; then
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
      --data-binary @"$PROF/cpu.pb.gz" \
      "http://127.0.0.1:$PYRO_PORT/ingest?name=gc-$i&format=pprof" || true)
  else
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 \
      -H 'Content-Type: application/x-protobuf' --data-binary @"$WORK/cpu.otlp" \
      "http://127.0.0.1:$OTLP_PORT/v1development/profiles" || true)
  fi
  echo "$code" >"$REQ/$i"
}
export -f send
export PROF WORK REQ PYRO_PORT OTLP_PORT

echo "== (1) acknowledged requests survive kill -9 right after the answers"
start_profcol g1 "$WORK/config.yaml"
rm -rf "$OUT"; touch "$OUT"          # writes fail: nothing leaves the queue
seq 1 $((2 * K)) | xargs -P 8 -I{} bash -c 'send {}'
kill9 g1
acked=$(cat "$REQ"/* | grep -c '^200$' || true)
others=$(cat "$REQ"/* | grep -vc '^200$' || true)
[ "$acked" -eq $((2 * K)) ] && pass "(2) all $acked requests acknowledged (200)" \
  || fail "(2) $acked of $((2 * K)) acknowledged, $others other answers"
rm -f "$OUT"; mkdir -p "$OUT"
start_profcol g2 "$WORK/config.yaml"
replayed=$(grep -o 'replay=[0-9]*' "$WORK/g2.log" | head -1 | cut -d= -f2)
[ "${replayed:-0}" -ge "$acked" ] \
  && pass "(1) the restart found $replayed records on disk for $acked acknowledgements" \
  || fail "(1) only ${replayed:-0} records on disk for $acked acknowledgements"
if wait_until 60 equals 0 qsize && wait_until 10 at_least "$acked" nfiles "$OUT"; then
  pass "(1) every acknowledged profile delivered after kill -9 ($(nfiles "$OUT") files)"
else
  fail "(1) after restart: queue=$(qsize) out=$(nfiles "$OUT"), want 0 / $acked"
fi
[ "$(nfiles "$OUT")" -eq "$acked" ] && pass "(1) no duplicates (nothing was in flight)" \
  || fail "(1) $(nfiles "$OUT") files for $acked acknowledged profiles"
stop g2 || fail "exit code $? after SIGTERM"

echo "== (3) a slow disk: answers wait for the commit, concurrent ones share it"
DELAY_MS=500
rm -rf "$Q" "$OUT"; mkdir -p "$Q" "$OUT"
PROFCOL_TEST_COMMIT_DELAY_MS=$DELAY_MS start_profcol g3 "$WORK/config.yaml"
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 20 \
  --data-binary @"$PROF/cpu.pb.gz" \
  "http://127.0.0.1:$PYRO_PORT/ingest?name=slow&format=pprof" || true)
awk -v t="$t" -v d=$DELAY_MS 'BEGIN {split(t, a, " "); exit !(a[1] == 200 && a[2] * 1000 >= d)}' \
  && pass "(3) /ingest answered after the commit: $t s (delay ${DELAY_MS} ms)" \
  || fail "(3) /ingest answered before the commit: $t s (delay ${DELAY_MS} ms)"
t=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 20 \
  -H 'Content-Type: application/x-protobuf' --data-binary @"$WORK/cpu.otlp" \
  "http://127.0.0.1:$OTLP_PORT/v1development/profiles" || true)
awk -v t="$t" -v d=$DELAY_MS 'BEGIN {split(t, a, " "); exit !(a[1] == 200 && a[2] * 1000 >= d)}' \
  && pass "(3) OTLP/HTTP answered after the commit: $t s" \
  || fail "(3) OTLP/HTTP answered before the commit: $t s"
if [ -x "$BUILD/bench_loadgen" ]; then
  # gRPC: 4 calls in flight for 2 s; their median latency covers a commit.
  line=$("$BUILD/bench_loadgen" grpc "127.0.0.1:$GRPC_PORT" \
    /opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export \
    "$WORK/cpu.otlp" 4 2 || true)
  p50=$(echo "$line" | tr ' ' '\n' | awk -F= '$1 == "p50_us" {print $2}')
  okg=$(echo "$line" | tr ' ' '\n' | awk -F= '$1 == "ok" {print $2}')
  [ "${okg:-0}" -gt 0 ] && [ "${p50%.*}" -ge $((DELAY_MS * 1000)) ] \
    && pass "(3) OTLP/gRPC answered after the commit: p50 ${p50} us over $okg calls" \
    || fail "(3) OTLP/gRPC: $line"
else
  echo "SKIP: (3) gRPC ($BUILD/bench_loadgen not built)"
fi
rm -f "$REQ"/*
start=$(date +%s%N)
seq 1 16 | xargs -P 16 -I{} bash -c 'send {}'
ms=$(( ($(date +%s%N) - start) / 1000000 ))
ok=$(cat "$REQ"/* | grep -c '^200$' || true)
[ "$ok" -eq 16 ] && [ "$ms" -ge "$DELAY_MS" ] && [ "$ms" -lt $((6 * DELAY_MS)) ] \
  && pass "(3) 16 concurrent requests acknowledged in $ms ms: commits shared (one commit each would take $((16 * DELAY_MS)) ms)" \
  || fail "(3) 16 concurrent requests: $ok acknowledged in $ms ms (delay $DELAY_MS ms each commit); answers: $(cat "$REQ"/* | sort | uniq -c | tr -s ' \n' ' ')"
stop g3 || fail "(3) exit code $? after SIGTERM"
finish
