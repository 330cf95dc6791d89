#!/usr/bin/env bash
# test_queue_memory.sh: a request waiting in the in-memory sending queue
# costs about its wire size, not its decoded model.
#   Behind a backend that accepts connections and never answers (one
#   consumer: every later request queues), 40 requests of each kind wait:
#   (1) a folded request through Pyroscope /ingest (a model without
#       original bytes: kept as its OTLP encoding), and
#   (2) the OTLP/HTTP request the otlphttp exporter makes of it, through the
#       otlp receiver (original bytes: the decoded model is dropped).
#   profcol_exporter_queue_bytes per queued request must stay within
#   5 x the wire size + 24 KiB (a batch's fixed part: its arena's first
#   chunk and items). Decoded and kept, (1) costs about 60 x its wire size.
#   (3) Then the backend comes back and every accepted profile is delivered.
#   (4) Fan-out: beside the stalled exporter, a file exporter decodes the
#       same (compacted) batches and writes every accepted profile.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd python3
N=40

# A backend on a port written to $1: "hang" accepts and never answers,
# "keep" answers 200 and writes each body to $3 (on port $4 when given).
cat >"$WORK/sink.py" <<'PY'
import http.server, socket, sys, threading, time
mode, port_file = sys.argv[1], sys.argv[2]
if mode == "hang":
    s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1024)
    open(port_file, "w").write(str(s.getsockname()[1]))
    held = []
    while True:
        c, _ = s.accept(); held.append(c)
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open(sys.argv[3], "wb").write(body)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
srv = http.server.HTTPServer(("127.0.0.1", int(sys.argv[4]) if len(sys.argv) > 4 else 0), H)
open(port_file, "w").write(str(srv.server_address[1]))
srv.serve_forever()
PY

config() { # FILE BACKEND_PORT
  cat >"$1" <<YAML
receivers:
  pyroscope: {endpoint: "127.0.0.1:$PYRO_PORT"}
  otlp: {protocols: {http: {endpoint: "127.0.0.1:$OTLP_PORT"}}}
exporters:
  otlphttp:
    endpoint: http://127.0.0.1:$2
    compression: none
    timeout: 5s
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s}
    sending_queue: {queue_size: 1000, num_consumers: 1, max_bytes: 0}
service:
  pipelines:
    profiles: {receivers: [pyroscope, otlp], exporters: [otlphttp]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  shutdown_timeout: 2s
YAML
}

python3 -c 'print("\n".join("main;work;f%d;g%d 1" % (i, i) for i in range(400)))' >"$WORK/folded.txt"
ingest() { curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 --data-binary @"$WORK/folded.txt" \
  "http://127.0.0.1:$PYRO_PORT/ingest?name=qm.cpu&format=folded&from=$1"; }
otlp() { curl -s -o /dev/null -w '%{http_code}\n' --max-time 30 -H 'Content-Type: application/x-protobuf' \
  --data-binary @"$WORK/otlp.bin" "http://127.0.0.1:$OTLP_PORT/v1development/profiles"; }

echo "== the OTLP/HTTP request made of the folded one"
new_ports; PYRO_PORT=$(free_port); OTLP_PORT=$(free_port)
start_listener keep "$WORK/keep.port" python3 "$WORK/sink.py" keep "$WORK/keep.port" "$WORK/otlp.bin"
config "$WORK/capture.yaml" "$SINK_PORT"
start_profcol capture "$WORK/capture.yaml"
[ "$(ingest 1700000000)" = 200 ] || die "folded request refused"
await capture 30 file_ready "$WORK/otlp.bin"
stop capture || true
sleep 0.5

queued() { metric_first profcol_exporter_queue_size 'exporter="otlphttp"'; }
check() { # WHAT FILE SENDER
  local wire bytes per bound i codes
  new_ports; PYRO_PORT=$(free_port); OTLP_PORT=$(free_port)
  config "$WORK/$1.yaml" "$HANG_PORT"
  start_profcol "$1" "$WORK/$1.yaml"
  "$3" 1700000000 >/dev/null   # taken by the consumer, which hangs
  codes=""
  for i in $(seq "$N"); do codes+=$("$3" $((1700000000 + i))); done
  [ "$codes" = "$(printf '200%.0s' $(seq "$N"))" ] && pass "($1) $N requests accepted" \
    || fail "($1) answers: $codes"
  wait_until 10 equals "$N" queued || true
  bytes=$(metric_first profcol_exporter_queue_bytes 'exporter="otlphttp"')
  wire=$(stat -c %s "$2")
  per=$((bytes / $(queued)))
  bound=$((5 * wire + 24 * 1024))
  [ "$(queued)" = "$N" ] && [ "$per" -le "$bound" ] \
    && pass "($1) $per bytes queued per request of $wire on the wire (bound $bound)" \
    || fail "($1) $(queued) queued, $per bytes per request of $wire on the wire (bound $bound)"
  stop "$1" 10 || true
}
start_listener hang "$WORK/hang.port" python3 "$WORK/sink.py" hang "$WORK/hang.port"
HANG_PORT=$SINK_PORT
echo "== (1) folded"
check folded "$WORK/folded.txt" ingest
echo "== (2) OTLP/HTTP"
check otlp "$WORK/otlp.bin" otlp

echo "== (3) the backend comes back: every accepted profile is delivered"
new_ports; PYRO_PORT=$(free_port); OTLP_PORT=$(free_port)
config "$WORK/deliver.yaml" "$HANG_PORT"
start_profcol deliver "$WORK/deliver.yaml"
ingest 1700000000 >/dev/null
for i in $(seq 10); do ingest $((1700000000 + i)) >/dev/null; otlp >/dev/null; done
wait_until 10 equals 20 queued || true
[ "$(queued)" = 20 ] && pass "(3) 20 requests queued" || fail "(3) $(queued) queued"
stop hang || true
start_listener back "$WORK/back.port" python3 "$WORK/sink.py" keep "$WORK/back.port" "$WORK/last.bin" "$HANG_PORT"
sent() { metric_first profcol_exporter_sent_profiles_total 'exporter="otlphttp"'; }
acc=$(metric_sum profcol_receiver_accepted_profiles_total)
if wait_until 60 equals "$acc" sent; then
  pass "(3) every accepted profile delivered ($acc)"
else
  fail "(3) accepted $acc, sent $(sent)"
fi
if stop deliver; then pass "clean exit"; else fail "exit status $? after SIGTERM"; fi

echo "== (4) fan-out: a fast exporter beside a stalled one"
start_listener hang2 "$WORK/hang2.port" python3 "$WORK/sink.py" hang "$WORK/hang2.port"
new_ports; PYRO_PORT=$(free_port); OTLP_PORT=$(free_port)
config "$WORK/fan.yaml" "$SINK_PORT"
mkdir -p "$WORK/out"
python3 - "$WORK/fan.yaml" "$WORK/out" <<'PY'
import sys
p, out = sys.argv[1], sys.argv[2]
s = open(p).read()
s = s.replace("exporters:\n", "exporters:\n  file: {path: %s, format: pprof}\n" % out, 1)
s = s.replace("exporters: [otlphttp]", "exporters: [otlphttp, file]")
open(p, "w").write(s)
PY
start_profcol fan "$WORK/fan.yaml"
for i in $(seq 20); do ingest $((1700000000 + i)) >/dev/null; otlp >/dev/null; done
fsent() { metric_first profcol_exporter_sent_profiles_total 'exporter="file"'; }
acc=$(metric_sum profcol_receiver_accepted_profiles_total)
if wait_until 30 equals "$acc" fsent; then
  pass "(4) the fast exporter sent every accepted profile ($acc) while $(queued) wait for the stalled one"
else
  fail "(4) accepted $acc, file exporter sent $(fsent)"
fi
[ "$(find "$WORK/out" -type f | wc -l)" -ge 1 ] && pass "(4) files written" || fail "(4) no file written"
stop fan 10 || true
finish
