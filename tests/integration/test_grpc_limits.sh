#!/usr/bin/env bash
# test_grpc_limits.sh: the OTLP gRPC listener's connection limits (without
# tls profcol accepts the connections and hands them to gRPC).
#   (0) The server's channel args reach the connections profcol hands to
#       gRPC: max_concurrent_streams is in its SETTINGS; an Export is OK.
#   (a) max_connections 50: of 200 idle connections 150 are closed at once
#       (counted), 50 stay; a gRPC client is refused while they do, and a
#       client waiting for ready gets its Export answered within its
#       deadline once read_header_timeout (3 s) has cut them; the open
#       gauge goes back to 0.
#   (a2) Connections that sent the preface and then nothing are closed by
#       gRPC at idle_timeout (4 s); a client's channel closed after its
#       calls is let go of too: the gauge is 0 again, new ones are served.
#   (b) The HTTP/2 preface sent a byte every 0.5 s is cut at
#       read_header_timeout (counted); bytes that are not a preface are
#       closed at once (by gRPC, which has the socket from the accept on).
#   (c) Descriptors: under `ulimit -n 256`, 400 connections do not make
#       profcol spin or flood its log, /health keeps answering, peak RSS
#       stays bounded, and once the clients left an Export is OK.
#   (d) With tls (gRPC's own listener): read_header_timeout bounds the TLS
#       handshake (gRPC's handshake timeout); an Export over TLS is OK.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py grpc
CLIENT="$HERE/grpc_conn_client.py"
client() { "$PY" "$CLIENT" "$@"; }
gm() { # NAME [MATCH...]: the gRPC listener's series of the otlp receiver
  metric_first "$1" 'receiver="otlp"' 'listener="grpc"' "${@:2}"
}
open_conns() { gm profcol_receiver_open_connections; }
hwm_kb() { awk '/^VmHWM/ { print $2 }' "/proc/$PC_PID/status"; }
between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x >= lo && x < hi) }'; }
hex() { "$PY" -c 'import sys; print(sys.argv[1].encode().hex())' "$1"; }

new_ports
GRPC_PORT=$(free_port)
cat >"$WORK/config.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "127.0.0.1:$GRPC_PORT"
        max_connections: 50
        read_header_timeout: 3s
        idle_timeout: 4s
        max_concurrent_streams: 7
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    profiles: {receivers: [otlp], exporters: [debug]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
YAML
start_profcol limits "$WORK/config.yaml"

echo "== (0) channel args on connections handed to gRPC"
s=$(client settings "$GRPC_PORT")
[[ " $s " == *" 3:7 "* ]] && pass "(0) SETTINGS_MAX_CONCURRENT_STREAMS 7 ($s)" \
  || fail "(0) server SETTINGS: $s"
read -r code t < <(client export "$GRPC_PORT" 5)
[ "$code" = OK ] && pass "(0) Export: OK" || fail "(0) Export: $code"

echo "== (a) max_connections 50, 200 idle connections"
refused_n() { gm profcol_receiver_connections_closed_total 'reason="max_connections"'; }
client hold "$GRPC_PORT" 200 8 >"$WORK/held" &
holder=$!
# The idle ones are cut 3 s after they came: look before.
wait_until 2 equals 150 refused_n || true
open=$(open_conns)
refused=$(refused_n)
read -r code1 t1 < <(client export "$GRPC_PORT" 5)
read -r code2 t2 < <(client export "$GRPC_PORT" 15 wait)
wait "$holder"
read -r n fast later slowest <"$WORK/held"
hwm=$(hwm_kb)
echo "open $open, refused $refused; held: $n connected, $fast closed at once, $later later (slowest ${slowest}s)"
echo "client at the cap: $code1 in ${t1}s; waiting for ready: $code2 in ${t2}s; peak RSS $hwm kB"
[ "$open" -eq 50 ] && [ "$refused" -eq 150 ] \
  && pass "(a) 50 connections kept, 150 refused and counted" \
  || fail "(a) open $open, refused (counted) $refused"
[ "$n" -eq 200 ] && [ "$fast" -eq 150 ] && [ "$later" -eq 50 ] \
  && pass "(a) the client saw 150 closed at once, 50 later" \
  || fail "(a) client: $n connected, $fast at once, $later later"
between "$slowest" 2.5 6 && pass "(a) the 50 idle ones cut at read_header_timeout (slowest ${slowest}s)" \
  || fail "(a) idle ones closed at ${slowest}s"
[ "$code1" = UNAVAILABLE ] && between "$t1" 0 3 \
  && pass "(a) a client beyond the cap is refused at once ($code1 in ${t1}s)" \
  || fail "(a) beyond the cap: $code1 in ${t1}s"
[ "$code2" = OK ] && pass "(a) served once the slots came back ($code2 in ${t2}s, deadline 15 s)" \
  || fail "(a) waiting client: $code2 in ${t2}s"
[ "$hwm" -lt 100000 ] && pass "(a) peak RSS ${hwm} kB (< 100 MB)" || fail "(a) peak RSS ${hwm} kB"
wait_until 5 equals 0 open_conns && pass "(a) open connections back to 0" \
  || fail "(a) open connections: $(open_conns)"

echo "== (a2) idle HTTP/2 connections, channels closed by their clients"
read -r n fast later slowest < <(client hold "$GRPC_PORT" 30 8 preface)
echo "30 with preface: $n connected, $fast closed at once, $later later (slowest ${slowest}s)"
[ "$n" -eq 30 ] && [ "$later" -eq 30 ] && between "$slowest" 3.5 7.5 \
  && pass "(a2) gRPC closed them at idle_timeout 4 s (slowest ${slowest}s)" \
  || fail "(a2) $n connected, $later closed, slowest ${slowest}s"
wait_until 5 equals 0 open_conns && pass "(a2) let go of when gRPC closed them: 0 open" \
  || fail "(a2) open after gRPC closed them: $(open_conns)"
ok=$(client exports "$GRPC_PORT" 20)
[ "$ok" -eq 20 ] && pass "(a2) 20 Exports on one channel: OK" || fail "(a2) $ok of 20 OK"
wait_until 5 equals 0 open_conns && pass "(a2) the client closed its channel: 0 open" \
  || fail "(a2) open after the client closed: $(open_conns)"
pids=()
for i in 1 2 3; do
  client exports "$GRPC_PORT" 5 >"$WORK/par.$i" &
  pids+=($!)
done
wait "${pids[@]}"
ok=$(cat "$WORK"/par.[123] | awk '{ s += $1 } END { print s }')
[ "$ok" -eq 15 ] && wait_until 5 equals 0 open_conns \
  && pass "(a2) three channels at once: 15 OK, 0 open after" \
  || fail "(a2) three channels: $ok OK, $(open_conns) open"

echo "== (b) slow and bogus prefaces"
hdr0=$(gm profcol_receiver_connections_closed_total 'reason="read_header_timeout"')
read -r n_slow t_slow < <(client slow "$GRPC_PORT" 10 10 "$(hex 'PRI * HTTP/2.0')0d0a0d0a534d0d0a0d0a")
read -r n_bad t_bad < <(client slow "$GRPC_PORT" 10 5 "$(hex 'GET / HTTP/1.1')0d0a")
hdr1=$(gm profcol_receiver_connections_closed_total 'reason="read_header_timeout"')
echo "slow preface: $n_slow of 10 closed, slowest ${t_slow}s; bogus: $n_bad of 10, slowest ${t_bad}s; counted $((hdr1 - hdr0))"
[ "$n_slow" -eq 10 ] && between "$t_slow" 2.5 5.5 \
  && pass "(b) a preface a byte every 0.5 s is cut at read_header_timeout (slowest ${t_slow}s)" \
  || fail "(b) slow preface: $n_slow closed, slowest ${t_slow}s"
[ $((hdr1 - hdr0)) -eq 10 ] && pass "(b) counted as read_header_timeout (10)" \
  || fail "(b) counted $((hdr1 - hdr0))"
[ "$n_bad" -eq 10 ] && between "$t_bad" 0 1.5 \
  && pass "(b) bytes that are no HTTP/2 preface: closed at once (slowest ${t_bad}s)" \
  || fail "(b) bogus: $n_bad closed, slowest ${t_bad}s"
read -r code t < <(client export "$GRPC_PORT" 5)
[ "$code" = OK ] && pass "(b) then an Export: OK" || fail "(b) Export: $code"
if stop limits; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi

echo "== (c) descriptors run out (ulimit -n 256)"
new_ports
GRPC2_PORT=$(free_port)
cat >"$WORK/config2.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "127.0.0.1:$GRPC2_PORT"}
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
lines0=$(wc -l <"$WORK/fds.log")
client hold "$GRPC2_PORT" 400 5 >"$WORK/held2" &
holder=$!
sleep 2
h=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "http://127.0.0.1:$HEALTH_PORT/health" || true)
open=$(open_conns)
paused=$(gm profcol_receiver_accept_paused_total 'reason="fd_budget"')
wait "$holder"
cpu1=$(cpu_ticks "$PC_PID")
ticks=$((cpu1 - cpu0))
lines=$(($(wc -l <"$WORK/fds.log") - lines0))
hwm=$(hwm_kb)
echo "held: $(cat "$WORK/held2"); open $open; /health: $h; CPU ticks over 5 s: $ticks; log lines: $lines; peak RSS $hwm kB"
[ "${h%% *}" = 200 ] && pass "(c) /health answered while descriptors ran short ($h)" \
  || fail "(c) /health: $h"
# 256 descriptors, 1/8 (at least 64) kept back: 192, two per connection.
[ "$open" -le 96 ] && [ "$paused" -ge 1 ] \
  && pass "(c) $open connections open, accepting paused at the descriptor budget ($paused)" \
  || fail "(c) open $open, fd_budget pauses $paused"
[ "$ticks" -lt 100 ] && [ "$lines" -lt 20 ] \
  && pass "(c) no spinning: $ticks CPU ticks in 5 s, $lines log lines" \
  || fail "(c) spinning: $ticks CPU ticks, $lines log lines"
[ "$hwm" -lt 100000 ] && pass "(c) peak RSS ${hwm} kB (< 100 MB)" || fail "(c) peak RSS ${hwm} kB"
read -r code t < <(client export "$GRPC2_PORT" 10)
[ "$code" = OK ] && pass "(c) once they closed, an Export is OK (${t}s)" || fail "(c) after: $code"
wait_until 5 equals 0 open_conns && pass "(c) open connections back to 0" \
  || fail "(c) open: $(open_conns)"
if stop fds; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi

echo "== (d) tls: gRPC's listener, the handshake under read_header_timeout"
need_cmd openssl
(cd "$WORK" && openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=localhost" \
  -addext "subjectAltName=DNS:localhost" -keyout tls.key -out tls.crt 2>/dev/null)
new_ports
GRPC3_PORT=$(free_port)
cat >"$WORK/config3.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: "127.0.0.1:$GRPC3_PORT"
        read_header_timeout: 2s
        tls: {cert_file: $WORK/tls.crt, key_file: $WORK/tls.key}
exporters:
  debug: {verbosity: basic}
service:
  pipelines:
    profiles: {receivers: [otlp], exporters: [debug]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
YAML
start_profcol tls "$WORK/config3.yaml"
read -r n fast later slowest < <(client hold "$GRPC3_PORT" 10 6)
echo "10 idle TLS connections: $n connected, $later closed later (slowest ${slowest}s)"
[ "$n" -eq 10 ] && [ "$later" -eq 10 ] && between "$slowest" 1.5 5 \
  && pass "(d) a TLS connection that never handshakes is cut at read_header_timeout (slowest ${slowest}s)" \
  || fail "(d) $n connected, $later closed, slowest ${slowest}s"
read -r code t < <(client export "$GRPC3_PORT" 10 "$WORK/tls.crt")
[ "$code" = OK ] && pass "(d) Export over TLS: OK" || fail "(d) Export over TLS: $code"
if stop tls; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi
finish
