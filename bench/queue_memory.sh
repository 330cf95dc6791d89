#!/usr/bin/env bash
# queue_memory.sh PROFCOL PPROF_GZ [N]: what a request costs while it waits
# in the in-memory sending queue behind a backend that never answers.
#
# profcol gets a pyroscope receiver and an otlp receiver (HTTP), each in its
# own pipeline to an otlphttp exporter whose backend accepts connections and
# never answers (timeout 10 min, one consumer: every later request queues).
# N requests of each kind are sent: the pprof through Pyroscope /ingest, the
# OTLP/HTTP request the otlphttp exporter makes of it (captured first from a
# sink that answers), and a 7 KB folded request through /ingest. Printed per
# kind: the wire size, profcol_exporter_queue_bytes per queued request (the
# one being sent is not queued), and
# the RSS growth per queued request.
set -euo pipefail
PROFCOL=$1 PPROF=$2 N=${3:-100}
PY=${PYTHON:-python3}
WORK=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"' EXIT
port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A backend: "hang" accepts and never answers; "keep" answers 200 and keeps
# the last body in $WORK/body.
"$PY" - "$WORK" >"$WORK/sinks" <<'PYEOF' &
import socket, sys, threading, http.server
work = sys.argv[1]
hang = socket.socket(); hang.bind(("127.0.0.1", 0)); hang.listen(1024)
held = []
def accept():
    while True:
        c, _ = hang.accept(); held.append(c)
threading.Thread(target=accept, daemon=True).start()
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open(work + "/body", "wb").write(body)
        self.send_response(200); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *a): pass
keep = http.server.HTTPServer(("127.0.0.1", 0), H)
print(hang.getsockname()[1], keep.server_address[1], flush=True)
keep.serve_forever()
PYEOF
PIDS+=($!)
for _ in $(seq 50); do [ -s "$WORK/sinks" ] && break; sleep 0.1; done
read -r HANG KEEP <"$WORK/sinks"

run() { # NAME BACKEND_PORT: starts profcol; sets PYRO OTLP MET PC
  PYRO=$(port) OTLP=$(port) MET=$(port) HEALTH=$(port)
  cat >"$WORK/$1.yaml" <<YAML
receivers:
  pyroscope: {endpoint: "127.0.0.1:$PYRO"}
  otlp: {protocols: {http: {endpoint: "127.0.0.1:$OTLP"}}}
exporters:
  otlphttp/a:
    endpoint: http://127.0.0.1:$2
    compression: none
    timeout: 600s
    sending_queue: {queue_size: 100000, num_consumers: 1, max_bytes: 0}
  otlphttp/b:
    endpoint: http://127.0.0.1:$2
    compression: none
    timeout: 600s
    sending_queue: {queue_size: 100000, num_consumers: 1, max_bytes: 0}
service:
  pipelines:
    profiles/a: {receivers: [pyroscope], exporters: [otlphttp/a]}
    profiles/b: {receivers: [otlp], exporters: [otlphttp/b]}
  telemetry:
    metrics: {address: "127.0.0.1:$MET"}
    health: {address: "127.0.0.1:$HEALTH"}
YAML
  "$PROFCOL" --config "$WORK/$1.yaml" >"$WORK/$1.log" 2>&1 &
  PC=$!
  PIDS+=($PC)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$MET/metrics" >/dev/null && return 0; sleep 0.1; done
  echo "profcol did not start"; cat "$WORK/$1.log"; exit 1
}
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$PC/status"; }
metric() { # EXPORTER NAME: profcol_exporter_NAME of the exporter
  curl -s "http://127.0.0.1:$MET/metrics" |
    awk -v e="exporter=\"$1\"" -v m="profcol_exporter_$2" '$1 ~ "^" m "[{ ]" || index($0, m "{") == 1 {
      if (index($0, e) && !done) {print $2; done = 1}}'
}
qbytes() { metric "$1" queue_bytes; }
stop() { kill -KILL "$PC"; wait "$PC" 2>/dev/null || true; }

# The OTLP/HTTP request made of the pprof.
run capture "$KEEP"
curl -sf -o /dev/null --data-binary @"$PPROF" "http://127.0.0.1:$PYRO/ingest?name=q.cpu&format=pprof"
for _ in $(seq 100); do [ -s "$WORK/body" ] && break; sleep 0.1; done
cp "$WORK/body" "$WORK/otlp.bin"
stop
"$PY" -c 'print("\n".join("main;work;f%d;g%d 1" % (i, i) for i in range(400)))' >"$WORK/folded.txt"

measure() { # KIND EXPORTER FILE PATH CONTENT_TYPE (PATH: pyro:... or otlp:...)
  local before after q n i url
  run "measure" "$HANG"
  case $4 in
    pyro:*) url="http://127.0.0.1:$PYRO${4#pyro:}" ;;
    *) url="http://127.0.0.1:$OTLP${4#otlp:}" ;;
  esac
  # One request first: lazily set-up state (threads, pools) is not counted.
  curl -s -o /dev/null -H "Content-Type: $5" --max-time 30 --data-binary @"$3" "$url&warm=1" || true
  sleep 1
  before=$(rss_kb)
  for i in $(seq "$N"); do
    curl -s -o /dev/null -H "Content-Type: $5" --max-time 30 --data-binary @"$3" "$url&from=$((1700000000 + i))" || true
  done
  sleep 1
  after=$(rss_kb)
  q=$(qbytes "$2")
  n=$(metric "$2" queue_size)
  printf '%-22s wire %7d B  queue_bytes/request %9.0f B (%.1fx)  RSS/request %9.0f B (%.1fx)\n' \
    "$1" "$(stat -c %s "$3")" "$(echo "$q / $n" | bc -l)" "$(echo "$q / $n / $(stat -c %s "$3")" | bc -l)" \
    "$(echo "($after - $before) * 1024 / $N" | bc -l)" "$(echo "($after - $before) * 1024 / $N / $(stat -c %s "$3")" | bc -l)"
  stop
}
measure "pyroscope /ingest pprof" otlphttp/a "$PPROF" "pyro:/ingest?name=q.cpu&format=pprof" application/octet-stream
measure "OTLP/HTTP" otlphttp/b "$WORK/otlp.bin" "otlp:/v1development/profiles?x=1" application/x-protobuf
measure "pyroscope /ingest folded" otlphttp/a "$WORK/folded.txt" "pyro:/ingest?name=q.cpu&format=folded" text/plain
