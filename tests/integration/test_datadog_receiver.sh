#!/usr/bin/env bash
# The datadog receiver on hand-made uploads (tests/integration/
# datadog_upload.py): the forms the Agent forwards (v4 with gzip, zstd, LZ4
# and plain attachments in any order, v3, v1/v2), and bad input: each refusal is
# 400 naming what is wrong, and the whole attachments of the same upload are
# still delivered. Also: the api_key check (403), other Agent paths (404),
# and that what arrives has the Datadog tags as series attributes and the
# span ids as hex labels (file exporter, profcol convert, pprofcheck).
# Loopback only, bounded waits.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_cmd zstd "zstd attachments"
need_cmd lz4 "LZ4 attachments"
need_cmd java "the JDK records main.jfr"
need_cmd javac "the JDK records main.jfr"
fixtures --skip-node
gen_pb

# A stand-in Datadog Agent for forward_to: records what it gets, answers
# like the Agent (/info JSON, traces {"rate_by_service":...}).
cat >"$WORK/agent.py" <<'PYEOF'
import json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
out, port_file = sys.argv[1], sys.argv[2]
class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def handle_any(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        rec = {"method": self.command, "path": self.path, "body": body.hex(),
               "headers": {k.lower(): v for k, v in self.headers.items()}}
        with open(out, "a") as f:
            f.write(json.dumps(rec) + "\n")
        if self.path.split("?")[0] == "/info":
            data, ct = b'{"version":"7.99.0","endpoints":["/v0.4/traces"]}', "application/json"
        else:
            data, ct = b'{"rate_by_service":{"service:,env:":1}}', "application/json"
        self.send_response(202 if self.path == "/v0.6/stats" else 200)
        self.send_header("Content-Type", ct)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_PUT = do_POST = handle_any
s = ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(port_file + ".tmp", "w") as f: f.write(str(s.server_address[1]))
os.replace(port_file + ".tmp", port_file)
s.serve_forever()
PYEOF
start_listener agent "$WORK/agent.port" "$PY" "$WORK/agent.py" "$WORK/agent.jsonl" "$WORK/agent.port"
AGENT=$SINK_PORT
P=$(free_port)
K=$(free_port)
F=$(free_port)
DOWN=$(free_port)
BUSY=$(free_port)
new_ports
mkdir -p "$WORK/out"
cat >"$WORK/profcol.yaml" <<EOF2
receivers:
  datadog: {endpoint: 127.0.0.1:$P}
  datadog/keyed: {endpoint: 127.0.0.1:$K, api_key: s3cret}
  datadog/fwd: {endpoint: 127.0.0.1:$F, forward_to: "http://127.0.0.1:$AGENT/"}
  datadog/down: {endpoint: 127.0.0.1:$DOWN, forward_to: "http://127.0.0.1:$(free_port)"}
  datadog/busy: {endpoint: 127.0.0.1:$BUSY}
processors:
  memory_limiter: {check_interval: 100ms, limit_mib: 1}
exporters:
  file: {path: $WORK/out, format: json}
service:
  pipelines:
    profiles: {receivers: [datadog, datadog/keyed, datadog/fwd, datadog/down], exporters: [file]}
    profiles/busy: {receivers: [datadog/busy], processors: [memory_limiter], exporters: [file]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF2
start_profcol profcol "$WORK/profcol.yaml"
URL="http://127.0.0.1:$P/profiling/v1/input"
UP=("$PY" "$HERE/datadog_upload.py")
ev() { # ATTACHMENTS-JSON-LIST
  printf '{"attachments":[%s],"start":"2026-12-06T01:00:00.5Z","end":"2026-12-06T01:01:00.5Z","family":"go","version":"4","tags_profiler":"runtime:go,service:dd-svc,env:staging,version:9.9,host:h1,runtime-id:abc,team:core,url:http://x:1/y"}' "$1"
}
accepted() { metric_sum profcol_receiver_accepted_profiles_total; }
refused() { metric_sum profcol_receiver_refused_profiles_total; }
expect() { # NAME STATUS PATTERN DELTA_ACCEPTED DELTA_REFUSED -- CMD...
  local name=$1 st=$2 pat=$3 da=$4 dr=$5 a0 r0 out
  shift 6
  a0=$(accepted) r0=$(refused)
  out=$("$@")
  if [ "${out%% *}" = "$st" ] && grep -Eq -- "$pat" <<<"$out" &&
     wait_until 5 equals $((a0 + da)) accepted && [ "$(refused)" = $((r0 + dr)) ]; then
    pass "$name: $st, +$da delivered, +$dr refused${pat:+ ($(grep -Eo -- "$pat" <<<"$out" | head -n 1))}"
  else
    fail "$name: got '$out', accepted +$(($(accepted) - a0)), refused +$(($(refused) - r0)); want $st /$pat/ +$da +$dr"
  fi
}

echo "== good uploads"
expect "v4, Go (zstd, gzip, plain; event last is fine too)" 200 "" 3 0 -- "${UP[@]}" "$URL" \
  --event "$(ev '"cpu.pprof","delta-heap.pprof","goroutines.pprof","metrics.json"')" \
  --part cpu.pprof="$PROF/cpu_spans.pb.gz:zstd" --part delta-heap.pprof="$PROF/heap.pb.gz:gzip" \
  --part goroutines.pprof="$PROF/goroutine.pb.gz" --part metrics.json="$PROF/rich.pb"
expect "v4 on the intake route /api/v2/profile, LZ4 frame" 200 "" 1 0 -- "${UP[@]}" "http://127.0.0.1:$P/api/v2/profile" \
  --event "$(ev '"delta-mutex.pprof"')" --part delta-mutex.pprof="$PROF/mutex.pb.gz:lz4"
expect "v3 (form fields, data[cpu.pprof])" 200 "" 1 0 -- "${UP[@]}" "$URL" --no-event \
  --field version=3 --field family=go --field start=2026-12-06T01:00:00Z --field end=2026-12-06T01:01:00Z \
  --field 'tags[]=service:old-go' --field 'tags[]=env:prod' --part "data[cpu.pprof]=$PROF/cpu.pb.gz:gzip"
expect "v1/v2 (recording-start, data[0])" 200 "" 1 0 -- "${UP[@]}" "$URL" --no-event \
  --field recording-start=2026-12-06T01:00:00Z --field recording-end=2026-12-06T01:01:00Z \
  --field format=pprof --field runtime=nodejs --field 'tags[]=service:old-node' --part "data[0]@wall.pb.gz=$PROF/cpu.pb.gz:gzip"

# Java: main.jfr (a recording of the JDK's own profile settings), gzip.
javac -d "$WORK/classes" "$SRC/tests/fixtures/java/JfrWork.java"
timeout 120 nice java "-XX:StartFlightRecording=filename=$WORK/main.jfr,settings=profile" \
  -cp "$WORK/classes" JfrWork 2 >/dev/null 2>&1 || die "java did not record $WORK/main.jfr"
a0=$(accepted)
b0=$(metric_sum profcol_receiver_accepted_bytes_total 'receiver="datadog"')
out=$("${UP[@]}" "$URL" --event "$(ev '"main.jfr"' | sed 's/"family":"go"/"family":"java"/; s/runtime:go,service:dd-svc/runtime:jvm,service:java-svc/')" \
  --part main.jfr="$WORK/main.jfr:gzip")
njfr=$(($(accepted) - a0))
[ "${out%% *}" = 200 ] && [ "$njfr" -ge 2 ] && pass "v4, Java main.jfr (gzip): 200, $njfr profile kinds" ||
  fail "Java main.jfr: '$out', $njfr profiles"
# A JFR keeps no original bytes: the upload's body counts.
nb=$(($(metric_sum profcol_receiver_accepted_bytes_total 'receiver="datadog"') - b0))
[ "$nb" -gt 1000 ] && pass "accepted bytes counted for the JFR upload: +$nb" ||
  fail "accepted bytes for the JFR upload: +$nb"
# A quiet window: a recording of CPU load events only, none a profile. The
# intake takes it; so does profcol, with nothing to forward (dd-java-agent
# logs a failed upload for any other answer).
cat >"$WORK/cpuload.jfc" <<'JFC'
<?xml version="1.0" encoding="UTF-8"?>
<configuration version="2.0">
  <event name="jdk.CPULoad">
    <setting name="enabled">true</setting>
    <setting name="period">100 ms</setting>
  </event>
</configuration>
JFC
timeout 120 nice java "-XX:StartFlightRecording=filename=$WORK/quiet.jfr,settings=$WORK/cpuload.jfc" \
  -cp "$WORK/classes" JfrWork 1 >/dev/null 2>&1 || die "java did not record $WORK/quiet.jfr"
a0=$(accepted)
out=$("${UP[@]}" "$URL" --event "$(ev '"main.jfr"' | sed 's/"family":"go"/"family":"java"/')" \
  --part main.jfr="$WORK/quiet.jfr:gzip")
[ "${out%% *}" = 200 ] && [ "$(accepted)" = "$a0" ] &&
  pass "a main.jfr of CPU load events only: 200, no profile" ||
  fail "a main.jfr of CPU load events only: '$out', $(($(accepted) - a0)) profiles"

echo "== bad uploads"
expect "bad event JSON" 400 "event: bad JSON" 0 0 -- "${UP[@]}" "$URL" \
  --event '{"attachments":["cpu.pprof"' --part cpu.pprof="$PROF/cpu.pb.gz:gzip"
expect "event without start" 400 'start.*required' 0 0 -- "${UP[@]}" "$URL" \
  --event '{"attachments":["cpu.pprof"],"end":"2026-12-06T01:01:00Z","family":"go","version":"4"}' \
  --part cpu.pprof="$PROF/cpu.pb.gz:gzip"
expect "missing attachment (the other one kept)" 400 "wall.pprof: listed in the event, missing" 1 1 -- \
  "${UP[@]}" "$URL" --event "$(ev '"cpu.pprof","wall.pprof"')" --part cpu.pprof="$PROF/cpu.pb.gz:zstd"
expect "truncated LZ4 frame (the other one kept)" 400 "delta-heap.pprof: lz4: corrupt or truncated" 1 1 -- \
  "${UP[@]}" "$URL" --event "$(ev '"cpu.pprof","delta-heap.pprof"')" \
  --part cpu.pprof="$PROF/cpu.pb.gz:gzip" --part delta-heap.pprof="$PROF/heap.pb.gz:badlz4"
expect "corrupt zstd (the other one kept)" 400 "delta-heap.pprof: zstd" 1 1 -- \
  "${UP[@]}" "$URL" --event "$(ev '"cpu.pprof","delta-heap.pprof"')" \
  --part cpu.pprof="$PROF/cpu.pb.gz:gzip" --part delta-heap.pprof="$PROF/heap.pb.gz:badzstd"
# Cut inside the last attachment: the whole parts before it are kept.
expect "truncated part (the whole one kept)" 400 "multipart: unexpected end" 1 1 -- \
  "${UP[@]}" "$URL" --event "$(ev '"cpu.pprof","delta-heap.pprof"')" \
  --part cpu.pprof="$PROF/cpu.pb.gz:gzip" --part delta-heap.pprof="$PROF/heap.pb.gz:gzip" --truncate 200
expect "not a pprof" 400 "goroutines.pprof: not a pprof" 0 1 -- "${UP[@]}" "$URL" \
  --event "$(ev '"goroutines.pprof"')" --part goroutines.pprof="$HERE/datadog_upload.py"
# Compressed by nothing profcol knows: read as plain bytes, which are no
# pprof, so the reason names the attachment.
printf '\x5d\x00\x00\x80\x00\xff\xff\xff' >"$WORK/unknown.bin"
expect "unknown compression (the other one kept)" 400 "delta-heap.pprof: " 1 1 -- \
  "${UP[@]}" "$URL" --event "$(ev '"cpu.pprof","delta-heap.pprof"')" \
  --part cpu.pprof="$PROF/cpu.pb.gz:zstd" --part delta-heap.pprof="$WORK/unknown.bin"
expect "not multipart" 400 "not multipart/form-data" 0 0 -- "${UP[@]}" "$URL" --content-type application/json
expect "no event, no old fields" 400 "no \\\\\"event\\\\\" part" 0 0 -- "${UP[@]}" "$URL" --no-event \
  --part cpu.pprof="$PROF/cpu.pb.gz:gzip"

echo "== back-pressure"
# memory_limiter below profcol's RSS refuses every batch: the tracer is told
# 503 (it retries), and nothing is delivered.
a0=$(accepted)
out=$("${UP[@]}" "http://127.0.0.1:$BUSY/profiling/v1/input" --event "$(ev '"cpu.pprof"')" \
  --part cpu.pprof="$PROF/cpu.pb.gz:gzip")
[ "${out%% *}" = 503 ] && grep -q "over its limits" <<<"$out" && [ "$(accepted)" = "$a0" ] &&
  pass "back-pressure: 503 ($(jq -r .message <<<"${out#* }" | head -c 90))" || fail "back-pressure: '$out'"

echo "== api_key, other Agent paths"
KURL="http://127.0.0.1:$K/profiling/v1/input"
expect "api_key set, no DD-API-KEY" 403 "no DD-API-KEY" 0 0 -- "${UP[@]}" "$KURL" \
  --event "$(ev '"cpu.pprof"')" --part cpu.pprof="$PROF/cpu.pb.gz:gzip"
expect "api_key set, wrong DD-API-KEY" 403 "bad DD-API-KEY" 0 0 -- "${UP[@]}" "$KURL" \
  --event "$(ev '"cpu.pprof"')" --part cpu.pprof="$PROF/cpu.pb.gz:gzip" --header 'DD-API-KEY: nope'
expect "api_key set, right DD-API-KEY" 200 "" 1 0 -- "${UP[@]}" "$KURL" \
  --event "$(ev '"cpu.pprof"')" --part cpu.pprof="$PROF/cpu.pb.gz:gzip" --header 'DD-API-KEY: s3cret'
for path in /v0.4/traces /v0.6/stats /telemetry/proxy/api/v2/apmtelemetry /no/such/path; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT --data x "http://127.0.0.1:$P$path")
  [ "$code" = 404 ] && pass "PUT $path: 404 (no forward_to)" || fail "PUT $path: $code, want 404"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$P/info")
[ "$code" = 404 ] && pass "GET /info: 404" || fail "GET /info: $code, want 404"

echo "== forward_to: the other Agent routes relayed"
out=$(curl -s --max-time 20 -X PUT -H 'Content-Type: application/msgpack' -H 'X-Datadog-Trace-Count: 1' \
  -H 'Datadog-Meta-Lang: go' --data-binary $'\x91\x90' -w ' %{http_code}' "http://127.0.0.1:$F/v0.4/traces")
[ "$out" = '{"rate_by_service":{"service:,env:":1}} 200' ] && pass "PUT /v0.4/traces: the Agent's answer relayed" ||
  fail "PUT /v0.4/traces: '$out'"
got=$(jq -c 'select(.path == "/v0.4/traces") | [.method, .body, .headers["content-type"], .headers["x-datadog-trace-count"], .headers["datadog-meta-lang"]]' "$WORK/agent.jsonl")
[ "$got" = '["PUT","9190","application/msgpack","1","go"]' ] &&
  pass "the Agent got the PUT with its body and headers" || fail "the Agent got: $got"
out=$(curl -s --max-time 20 -w ' %{http_code}' "http://127.0.0.1:$F/info?x=1")
[ "$out" = '{"version":"7.99.0","endpoints":["/v0.4/traces"]} 200' ] && pass "GET /info: relayed" || fail "GET /info: '$out'"
jq -e 'select(.path == "/info?x=1" and .method == "GET")' "$WORK/agent.jsonl" >/dev/null &&
  pass "the Agent got GET /info with its query" || fail "the Agent did not get GET /info?x=1"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 20 -X POST --data x "http://127.0.0.1:$F/v0.6/stats")
[ "$code" = 202 ] && pass "POST /v0.6/stats: the Agent's 202 relayed" || fail "POST /v0.6/stats: $code"
out=$(curl -s --max-time 30 -X PUT --data x -w ' %{http_code}' "http://127.0.0.1:$DOWN/v0.4/traces")
[ "${out##* }" = 502 ] && pass "forward_to down: 502 ($(jq -r .message <<<"${out% *}" | head -c 80))" ||
  fail "forward_to down: '$out'"
expect "profiles still taken where forward_to is set" 200 "" 1 0 -- "${UP[@]}" "http://127.0.0.1:$F/profiling/v1/input" \
  --event "$(ev '"cpu.pprof"')" --part cpu.pprof="$PROF/cpu.pb.gz:gzip"

echo "== what was delivered"
stop profcol >/dev/null || true
"$PY" - "$WORK/out" >"$WORK/items.jsonl" <<'PYEOF'
import glob, json, os, sys
for f in sorted(glob.glob(os.path.join(sys.argv[1], "**", "*.jsonl"), recursive=True)):
    for line in open(f):
        d = json.loads(line)
        print(json.dumps(d["attributes"], sort_keys=True))
PYEOF
n=$(wc -l <"$WORK/items.jsonl")
[ "$n" = $((13 + njfr)) ] && pass "$n items written (6 good uploads, $njfr JFR kinds, 5 whole attachments of bad ones, 1 keyed, 1 forwarding)" ||
  fail "$n items written, want $((13 + njfr))"
bad=$(jq -c 'select(.["service.name"] == "dd-svc") | select(.["deployment.environment.name"] != "staging"
  or .["service.version"] != "9.9" or .["host.name"] != "h1" or .["service.instance.id"] != "abc"
  or .["process.runtime.name"] != "go" or .["telemetry.sdk.language"] != "go" or .team != "core"
  or .url != "http://x:1/y" or has("env") or has("service"))' "$WORK/items.jsonl" | head -n 2)
m=$(jq -c 'select(.["service.name"] == "dd-svc")' "$WORK/items.jsonl" | wc -l)
[ -z "$bad" ] && [ "$m" -ge 8 ] &&
  pass "tags -> attributes: service.name, deployment.environment.name, service.version, host.name, service.instance.id, process.runtime.name, telemetry.sdk.language; others kept ($m items)" ||
  fail "tag mapping: $bad ($m items)"
names=$(jq -r 'select(.["service.name"] == "dd-svc" and .["telemetry.sdk.language"] == "go") | .__name__' "$WORK/items.jsonl" | sort -u | xargs)
[ "$names" = "goroutine memory mutex process_cpu" ] && pass "__name__ per attachment: $names" ||
  fail "__name__: '$names', want 'goroutine memory mutex process_cpu'"
names=$(jq -r 'select(.["telemetry.sdk.language"] == "java") | .__name__' "$WORK/items.jsonl" | sort -u | xargs)
grep -qw process_cpu <<<"$names" && grep -qw memory <<<"$names" && pass "main.jfr kinds: $names" ||
  fail "main.jfr kinds: '$names', want process_cpu and memory among them"
jq -c 'select(.["service.name"] == "old-go" and .["deployment.environment.name"] == "prod" and .["telemetry.sdk.language"] == "go")' \
  "$WORK/items.jsonl" | grep -c . >/dev/null && pass "v3: tags[] and family" || fail "v3 attributes"
jq -c 'select(.["service.name"] == "old-node" and .["telemetry.sdk.language"] == "nodejs")' \
  "$WORK/items.jsonl" | grep -c . >/dev/null && pass "v1/v2: tags[] and runtime nodejs" || fail "v1/v2 attributes"

finish
