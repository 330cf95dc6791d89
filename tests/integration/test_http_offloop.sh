#!/usr/bin/env bash
# test_http_offloop.sh: the HTTP receivers decode on worker threads, not on
# the main loop.
#   (1) While large bodies (the 200k-sample profile: OTLP/HTTP gzip, 18 MB
#       decompressed, and a 15.5 MB /ingest pprof) are being decoded, /health
#       (the admin server, on the same main loop) keeps answering: its
#       slowest answer takes less than half of what one large request takes.
#   (2) Clients that hang up before their large request is answered (during
#       the upload or the decode): profcol stays up, stays healthy, and the
#       next small requests of both receivers are accepted.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fixtures

LARGE="$WORK/large"
mkdir -p "$LARGE"
"$FIX/bin/genedge" -out "$LARGE" -large >/dev/null
gzip -dc "$LARGE/large_200k.pb.gz" >"$LARGE/large.pprof"
"$PROFCOL" convert --to otlp "$LARGE/large_200k.pb.gz" "$LARGE/large.otlp"
gzip -f "$LARGE/large.otlp"
"$PROFCOL" convert --to otlp "$PROF/cpu.pb.gz" "$WORK/cpu.otlp"

new_ports
OTLP_PORT=$(free_port)
PYRO_PORT=$(free_port)
cat >"$WORK/config.yaml" <<YAML
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:$OTLP_PORT"}
  pyroscope:
    endpoint: "127.0.0.1:$PYRO_PORT"
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    profiles: {receivers: [otlp, pyroscope], exporters: [debug]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
YAML
start_profcol offloop "$WORK/config.yaml"

post_otlp() { # FILE MAX_TIME [curl args]: prints "code seconds"
  local f=$1 t=$2; shift 2
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time "$t" \
    -H 'Content-Type: application/x-protobuf' "$@" --data-binary @"$f" \
    "http://127.0.0.1:$OTLP_PORT/v1development/profiles" || true
}
post_ingest() { # FILE MAX_TIME
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time "$2" \
    --data-binary @"$1" \
    "http://127.0.0.1:$PYRO_PORT/ingest?name=offloop.cpu&format=pprof" || true
}

echo "== (1) /health answers while large bodies are decoded"
post_otlp "$LARGE/large.otlp.gz" 120 -H 'Content-Encoding: gzip' >"$WORK/big1" &
b1=$!
post_ingest "$LARGE/large.pprof" 120 >"$WORK/big2" &
b2=$!
: >"$WORK/health"
while kill -0 "$b1" 2>/dev/null || kill -0 "$b2" 2>/dev/null; do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 30 \
    "http://127.0.0.1:$HEALTH_PORT/health" >>"$WORK/health" || true
  sleep 0.02
done
wait "$b1" "$b2" || true
read -r c1 t1 <"$WORK/big1"
read -r c2 t2 <"$WORK/big2"
n=$(wc -l <"$WORK/health")
hmax=$(awk '{ if ($2 > m) m = $2 } END { printf "%.3f", m }' "$WORK/health")
bad=$(awk '$1 != 200' "$WORK/health" | wc -l)
echo "large OTLP: $c1 in ${t1}s; large /ingest: $c2 in ${t2}s; /health: $n probes, max ${hmax}s"
[ "$c1" = 200 ] && [ "$c2" = 200 ] && pass "(1) both large requests accepted" \
  || fail "(1) large requests answered $c1 / $c2"
[ "$n" -ge 3 ] && [ "$bad" -eq 0 ] && \
  awk -v h="$hmax" -v a="$t1" -v b="$t2" 'BEGIN { m = a < b ? a : b; exit !(h < m / 2) }' \
  && pass "(1) /health kept answering: slowest ${hmax}s over $n probes (large requests ${t1}s, ${t2}s)" \
  || fail "(1) /health: $n probes, $bad not 200, slowest ${hmax}s (large requests ${t1}s, ${t2}s)"

echo "== (2) clients that hang up before their answer"
for t in 0.05 0.3 0.8; do
  post_otlp "$LARGE/large.otlp.gz" "$t" -H 'Content-Encoding: gzip' >/dev/null
  post_ingest "$LARGE/large.pprof" "$t" >/dev/null
done
sleep 2   # the abandoned requests' decodes finish and their answers drop
kill -0 "$PC_PID" 2>/dev/null && healthy && pass "(2) profcol up and healthy" \
  || fail "(2) profcol died or is unhealthy"
# One series per receiver id: first match.
before=$(metric_first profcol_receiver_accepted_profiles_total 'receiver="otlp"')
r=$(post_otlp "$WORK/cpu.otlp" 30)
r2=$(post_ingest "$PROF/cpu.pb.gz" 30)
after=$(metric_first profcol_receiver_accepted_profiles_total 'receiver="otlp"')
[ "${r%% *}" = 200 ] && [ "${r2%% *}" = 200 ] && [ "$after" -gt "$before" ] \
  && pass "(2) the next requests are accepted (OTLP $r, /ingest $r2)" \
  || fail "(2) next requests: OTLP $r, /ingest $r2, accepted $before -> $after"
if stop offloop; then pass "(2) clean exit after SIGTERM"; else fail "exit code $? after SIGTERM"; fi
finish
