#!/usr/bin/env bash
# test_limits_abuse.sh: hostile clients cannot stall profcol, balloon its
# memory or get a profile acknowledged that a backend would refuse.
#   (1) gRPC gzip bombs (1 GiB of zeros in a 1 MB call): RESOURCE_EXHAUSTED,
#       peak RSS stays far below the bomb, and a well-behaved gRPC client
#       sending meanwhile gets OK within its deadline every time.
#   (2) gRPC protocol: two messages in a unary call, a message flagged
#       compressed without grpc-encoding: INTERNAL; a plain call still OK.
#   (3) HTTP: Transfer-Encoding xchunked is 501, not an empty body.
#   (4) Slowloris (a header byte every 0.5 s) is cut at read_header_timeout,
#       idle connections at idle_timeout; both counted by reason.
#   (5) max_connections: at the cap the listener pauses (counted), /health
#       answers, and once the holders go a request succeeds.
#   (6) Descriptors: under `ulimit -n 256`, 400 connections do not make the
#       loop spin or flood the log; /health keeps answering; requests work
#       once the connections close.
#   (7) Invalid UTF-8 labels and strings are refused at the receiver with
#       400 naming the problem (the control, valid, is accepted).
#   (8) OTLP/JSON amplification: 16 MiB of JSON numbers (a tree ~20x the
#       text) is refused with 413 at 12x, peak RSS bounded, /health
#       answering meanwhile; 16 MiB of one long string (a tree ~1x) is 200.
#   (9) sending_queue.max_bytes: behind a backend that fails (retried), the
#       in-memory queue stops at its byte cap long before queue_size; the
#       client gets back-pressure (429/503), and once the backend is back
#       everything accepted is delivered.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd python3
CLIENT="$HERE/abuse_client.py"
METHOD=opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export

new_ports
GRPC_PORT=$(free_port)
HTTP_PORT=$(free_port)
PYRO_PORT=$(free_port)
cat >"$WORK/config.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$GRPC_PORT"}
      http:
        endpoint: "127.0.0.1:$HTTP_PORT"
        max_connections: 64
        read_header_timeout: 2s
        read_timeout: 5s
        idle_timeout: 3s
  pyroscope: {endpoint: "127.0.0.1:$PYRO_PORT"}
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    profiles: {receivers: [otlp, pyroscope], exporters: [debug]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
YAML
start_profcol abuse "$WORK/config.yaml"

grpc_call() { # FILE [curl args]: prints the grpc-status (or "none")
  local f=$1; shift
  curl -s --http2-prior-knowledge -o /dev/null -D - --max-time "${GRPC_MAX_TIME:-30}" \
    -H 'content-type: application/grpc' -H 'te: trailers' "$@" \
    --data-binary @"$f" "http://127.0.0.1:$GRPC_PORT/$METHOD" |
    awk 'tolower($1) == "grpc-status:" { s = $2 } END { print (s == "" ? "none" : s) }' | tr -d '\r'
}
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$PC_PID/status"; }

echo "== (1) gRPC gzip bombs"
python3 "$CLIENT" grpc-frames "$WORK/empty.bin" empty >/dev/null
python3 "$CLIENT" grpc-frames "$WORK/bomb.bin" bomb:1024 >"$WORK/bomb.size"
echo "bomb: $(cat "$WORK/bomb.size") bytes on the wire, 1 GiB inflated; RSS before: $(hwm_kb) kB"
: >"$WORK/good"
( end=$((SECONDS + 8))
  while [ $SECONDS -lt $end ]; do
    GRPC_MAX_TIME=5 grpc_call "$WORK/empty.bin" >>"$WORK/good"
    sleep 0.1
  done ) &
good=$!
bombs=()
for i in 1 2 3; do
  grpc_call "$WORK/bomb.bin" -H 'grpc-encoding: gzip' >"$WORK/bomb.$i" &
  bombs+=($!)
done
wait "$good" "${bombs[@]}" || true
codes=$(cat "$WORK"/bomb.[123] | tr '\n' ' ')
hwm=$(hwm_kb)
ngood=$(grep -c '^0$' "$WORK/good" || true)
nall=$(wc -l <"$WORK/good")
echo "bombs answered: $codes; peak RSS ${hwm} kB; well-behaved calls: $ngood OK of $nall"
[ "$codes" = "8 8 8 " ] && pass "(1) every bomb gets RESOURCE_EXHAUSTED" \
  || fail "(1) bombs answered: $codes"
# The cap is 16 MiB per call; three at once plus gRPC: far below 1 GiB.
[ "$hwm" -lt 250000 ] && pass "(1) peak RSS ${hwm} kB (< 250 MB; a bomb is 1 GiB)" \
  || fail "(1) peak RSS ${hwm} kB"
[ "$nall" -ge 3 ] && [ "$ngood" -eq "$nall" ] \
  && pass "(1) a concurrent client: $ngood of $nall calls OK within 5 s" \
  || fail "(1) concurrent client: $ngood of $nall OK"

echo "== (2) gRPC protocol"
python3 "$CLIENT" grpc-frames "$WORK/two.bin" two >/dev/null
python3 "$CLIENT" grpc-frames "$WORK/flagged.bin" flagged >/dev/null
r_two=$(grpc_call "$WORK/two.bin")
r_flag=$(grpc_call "$WORK/flagged.bin")
r_ok=$(grpc_call "$WORK/empty.bin")
[ "$r_two" = 13 ] && pass "(2) two messages in a unary call: INTERNAL" \
  || fail "(2) two messages: grpc-status $r_two"
[ "$r_flag" = 13 ] && pass "(2) flagged compressed without grpc-encoding: INTERNAL" \
  || fail "(2) flagged compressed: grpc-status $r_flag"
[ "$r_ok" = 0 ] && pass "(2) a plain call: OK" || fail "(2) plain call: $r_ok"

echo "== (3) unknown Transfer-Encoding"
r=$(printf 'POST /v1development/profiles HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' |
  timeout 10 python3 -c '
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(sys.stdin.buffer.read())
print(s.recv(4096).split(b"\r\n")[0].decode())' "$HTTP_PORT" || true)
[ "${r#HTTP/1.1 501}" != "$r" ] && pass "(3) xchunked: $r" || fail "(3) xchunked: '$r'"

echo "== (4) slowloris and idle connections"
read -r n_slow t_slow < <(python3 "$CLIENT" slowloris "$HTTP_PORT" 20 15)
read -r n_idle t_idle < <(python3 "$CLIENT" idle "$HTTP_PORT" 20 15)
echo "slowloris: $n_slow of 20 closed, slowest ${t_slow}s; idle: $n_idle of 20, slowest ${t_idle}s"
[ "$n_slow" -eq 20 ] && awk -v t="$t_slow" 'BEGIN { exit !(t >= 1.5 && t < 7) }' \
  && pass "(4) slowloris cut at read_header_timeout (2 s): slowest ${t_slow}s" \
  || fail "(4) slowloris: $n_slow closed, slowest ${t_slow}s"
[ "$n_idle" -eq 20 ] && awk -v t="$t_idle" 'BEGIN { exit !(t >= 2.5 && t < 8) }' \
  && pass "(4) idle connections closed at idle_timeout (3 s): slowest ${t_idle}s" \
  || fail "(4) idle: $n_idle closed, slowest ${t_idle}s"
c_hdr=$(metric_first profcol_receiver_connections_closed_total 'receiver="otlp"' 'listener="http"' 'reason="read_header_timeout"')
c_idle=$(metric_first profcol_receiver_connections_closed_total 'receiver="otlp"' 'listener="http"' 'reason="idle_timeout"')
[ "$c_hdr" -ge 20 ] && [ "$c_idle" -ge 20 ] \
  && pass "(4) counted: read_header_timeout $c_hdr, idle_timeout $c_idle" \
  || fail "(4) counted: read_header_timeout $c_hdr, idle_timeout $c_idle"

echo "== (5) max_connections"
python3 "$CLIENT" hold "$HTTP_PORT" 100 2.5 >"$WORK/held" &
holder=$!
sleep 1.5
open=$(metric_first profcol_receiver_open_connections 'receiver="otlp"' 'listener="http"')
paused=$(metric_first profcol_receiver_accept_paused_total 'receiver="otlp"' 'listener="http"' 'reason="max_connections"')
h=$(health_code)
wait "$holder"
[ "$open" -eq 64 ] && [ "$paused" -ge 1 ] \
  && pass "(5) 100 clients, 64 connections open, accepting paused ($paused)" \
  || fail "(5) open $open, paused $paused"
[ "$h" = 200 ] && pass "(5) /health answered at the cap" || fail "(5) /health: $h"
post_empty() { # PORT: OTLP/HTTP with an empty request
  curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/x-protobuf' \
    --data-binary '' "http://127.0.0.1:$1/v1development/profiles" || true
}
r=$(post_empty "$HTTP_PORT")
[ "$r" = 200 ] && pass "(5) after the holders left: 200" || fail "(5) after: $r"

echo "== (7) invalid UTF-8 is refused at the receiver"
body=$(curl -s -w ' %{http_code}' --max-time 10 --data-binary 'a;b 1' \
  "http://127.0.0.1:$PYRO_PORT/ingest?name=app%7Benv%3D%FF%FE%7D" || true)
[ "${body##* }" = 400 ] && [[ "$body" == *"not valid UTF-8"* ]] \
  && pass "(7) /ingest label env=%FF%FE: 400 ($body)" || fail "(7) /ingest: $body"
r=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --data-binary 'a;b 1' \
  "http://127.0.0.1:$PYRO_PORT/ingest?name=app%7Benv%3Dprod%7D" || true)
[ "$r" = 200 ] && pass "(7) control: env=prod: 200" || fail "(7) control: $r"
python3 "$CLIENT" push-proto "$WORK/push_bad.pb" fffe
python3 "$CLIENT" push-proto "$WORK/push_ok.pb" 70726f64
push() {
  curl -s -w ' %{http_code}' --max-time 10 -H 'Content-Type: application/proto' \
    --data-binary @"$1" "http://127.0.0.1:$PYRO_PORT/push.v1.PusherService/Push" || true
}
body=$(push "$WORK/push_bad.pb")
[ "${body##* }" = 400 ] && [[ "$body" == *"UTF-8"* ]] \
  && pass "(7) push label a=\\xff\\xfe: 400 ($body)" || fail "(7) push: $body"
body=$(push "$WORK/push_ok.pb")
[ "${body##* }" = 200 ] && pass "(7) control push: 200" || fail "(7) control push: $body"
python3 "$CLIENT" otlp-strings "$WORK/otlp_bad.pb" 6170708081
python3 "$CLIENT" otlp-strings "$WORK/otlp_ok.pb" 617070
otlp() {
  curl -s -w ' %{http_code}' --max-time 10 -H 'Content-Type: application/x-protobuf' \
    --data-binary @"$1" "http://127.0.0.1:$HTTP_PORT/v1development/profiles" | tr -d '\0' || true
}
body=$(otlp "$WORK/otlp_bad.pb")
[ "${body##* }" = 400 ] && [[ "$body" == *"UTF-8"* ]] \
  && pass "(7) OTLP string_table entry app\\x80\\x81: 400" || fail "(7) OTLP: $body"
body=$(otlp "$WORK/otlp_ok.pb")
[ "${body##* }" = 200 ] && pass "(7) control OTLP: 200" || fail "(7) control OTLP: $body"
echo "== (8) OTLP/JSON amplification"
python3 "$CLIENT" json "$WORK/numbers.json.gz" numbers 16 >/dev/null
python3 "$CLIENT" json "$WORK/string.json.gz" string 16 >/dev/null
post_json() { # FILE: prints "code seconds"
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 60 \
    -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
    --data-binary @"$1" "http://127.0.0.1:$HTTP_PORT/v1development/profiles" || true
}
base=$(awk '/^VmRSS/ { print $2 }' "/proc/$PC_PID/status")
post_json "$WORK/numbers.json.gz" >"$WORK/numbers.out" &
jp=$!
: >"$WORK/jhealth"
while kill -0 "$jp" 2>/dev/null; do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 \
    "http://127.0.0.1:$HEALTH_PORT/health" >>"$WORK/jhealth" || true
  sleep 0.05
done
wait "$jp" || true
read -r jc jt <"$WORK/numbers.out"
hwm=$(hwm_kb)
hmax=$(awk '{ if ($2 > m) m = $2 } END { printf "%.3f", m + 0 }' "$WORK/jhealth")
hbad=$(awk '$1 != 200' "$WORK/jhealth" | wc -l)
echo "numbers: $jc in ${jt}s; RSS before ${base} kB, peak ${hwm} kB; /health: $(wc -l <"$WORK/jhealth") probes, slowest ${hmax}s"
[ "$jc" = 413 ] && pass "(8) 16 MiB of JSON numbers: 413" || fail "(8) numbers: $jc"
# 12 x 16 MiB for the tree, headroom for the rest: before the cap the
# same body took about 22 x.
[ "$hwm" -lt 320000 ] && pass "(8) peak RSS ${hwm} kB (< 320 MB; without the cap ~380 MB)" \
  || fail "(8) peak RSS ${hwm} kB"
[ "$hbad" -eq 0 ] && awk -v h="$hmax" 'BEGIN { exit !(h < 1) }' \
  && pass "(8) /health kept answering (slowest ${hmax}s)" || fail "(8) /health: $hbad bad, slowest ${hmax}s"
read -r sc st < <(post_json "$WORK/string.json.gz")
[ "$sc" = 200 ] && pass "(8) 16 MiB of JSON in one string: 200" || fail "(8) string: $sc"
if stop abuse; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi

echo "== (6) descriptors run out (ulimit -n 256)"
new_ports
HTTP2_PORT=$(free_port)
cat >"$WORK/config2.yaml" <<YAML
receivers:
  otlp:
    protocols:
      http: {endpoint: "127.0.0.1:$HTTP2_PORT"}
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    profiles: {receivers: [otlp], exporters: [debug]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
YAML
start_profcol_nofile fds 256 "$WORK/config2.yaml"
cpu0=$(cpu_ticks "$PC_PID")
python3 "$CLIENT" hold "$HTTP2_PORT" 400 4 >"$WORK/held2" &
holder=$!
sleep 2
h=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "http://127.0.0.1:$HEALTH_PORT/health" || true)
paused=$(metric_first profcol_receiver_accept_paused_total 'receiver="otlp"' 'listener="http"' 'reason="fd_budget"')
wait "$holder"
cpu1=$(cpu_ticks "$PC_PID")
ticks=$((cpu1 - cpu0))
lines=$(wc -l <"$WORK/fds.log")
echo "held: $(cat "$WORK/held2"); /health: $h; CPU ticks over 4 s: $ticks; log lines: $lines"
[ "${h%% *}" = 200 ] && pass "(6) /health answered while descriptors ran short ($h)" \
  || fail "(6) /health: $h"
[ "$paused" -ge 1 ] && pass "(6) accepting paused at the descriptor budget (counted $paused)" \
  || fail "(6) fd_budget pauses: $paused"
[ "$ticks" -lt 200 ] && [ "$lines" -lt 100 ] \
  && pass "(6) no spinning: $ticks CPU ticks, $lines log lines" \
  || fail "(6) spinning: $ticks CPU ticks, $lines log lines"
sleep 1
r=$(post_empty "$HTTP2_PORT")
[ "$r" = 200 ] && pass "(6) once they closed, a request succeeds" || fail "(6) after: $r"
if stop fds; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi
echo "== (9) sending_queue.max_bytes"
new_ports
PYRO2_PORT=$(free_port)
OUT="$WORK/out"
mkdir -p "$OUT"
cat >"$WORK/config3.yaml" <<YAML
receivers:
  pyroscope: {endpoint: "127.0.0.1:$PYRO2_PORT"}
exporters:
  file:
    path: $OUT
    rotation: {max_files: 0, max_bytes: 0}
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s}
    sending_queue: {queue_size: 1000, num_consumers: 1, max_bytes: 4MiB}
service:
  pipelines:
    profiles: {receivers: [pyroscope], exporters: [file]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  shutdown_timeout: 5s
YAML
start_profcol qbytes "$WORK/config3.yaml"
rm -rf "$OUT"; touch "$OUT"   # the backend fails: batches stay queued
python3 -c 'print("\n".join("main;f%d;g%d 1" % (i, i) for i in range(300)))' >"$WORK/stacks.txt"
: >"$WORK/codes"
# Until the queue pushes back (3 answers), at most 400 requests: how many
# fit under the cap depends on how many bytes a batch takes in memory
# (about 35 KB each here), well under queue_size either way.
n=0
while [ "$n" -lt 400 ] && [ "$(grep -c -E '^(429|503)$' "$WORK/codes")" -lt 3 ]; do
  n=$((n + 1))
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 --data-binary @"$WORK/stacks.txt" \
    "http://127.0.0.1:$PYRO2_PORT/ingest?name=qb.cpu&format=folded&from=$((1700000000 + n))" >>"$WORK/codes" || true
done
ok=$(grep -c '^200$' "$WORK/codes" || true)
busy=$(grep -c -E '^(429|503)$' "$WORK/codes" || true)
qb=$(metric_first profcol_exporter_queue_bytes 'exporter="file"')
qn=$(metric_first profcol_exporter_queue_size 'exporter="file"')
echo "$n requests: $ok accepted, $busy back-pressure; queue: $qn batches, $qb bytes"
[ "$busy" -ge 1 ] && [ "$ok" -ge 1 ] && [ $((ok + busy)) -eq "$n" ] \
  && pass "(9) past max_bytes the client gets 429/503 ($busy of $n)" \
  || fail "(9) answers: $ok 200, $busy 429/503 of $n"
[ "$qn" -lt 1000 ] && [ "$qb" -le $((4 * 1048576)) ] \
  && pass "(9) queue held $qn batches in $qb bytes (cap 4 MiB; queue_size 1000)" \
  || fail "(9) queue $qn batches, $qb bytes"
rm -f "$OUT"; mkdir -p "$OUT"   # the backend is back
sent() { metric_first profcol_exporter_sent_profiles_total 'exporter="file"'; }
acc=$(metric_first profcol_receiver_accepted_profiles_total 'receiver="pyroscope"')
if wait_until 60 equals "$acc" sent; then
  pass "(9) every accepted profile delivered ($acc)"
else
  fail "(9) accepted $acc, sent $(sent)"
fi
if stop qbytes; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi
finish
