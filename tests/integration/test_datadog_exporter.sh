#!/usr/bin/env bash
# The datadog exporter. Datadog's intake cannot be reached from the tests,
# so it is played by sinks/datadog_intake_sink.py, a double that checks
# every upload against the documented intake contract (multipart v4, event
# fields, attachment names, compression, DD-API-KEY) and refuses what breaks
# it. Also a round trip: datadog exporter -> a second profcol's datadog
# receiver (Agent route) -> file exporter, pprof equal to the input by
# google/pprof (pprofcheck). Then retries (503 retried without resending
# what was accepted) and permanent refusals (403, 413: dropped, counted by
# status). Loopback only, bounded waits.
#
#   pprof files -> profcol A: file receiver -> attributes (service, env,
#   version, language go) -> datadog/intake (api_key, tags) -> intake double
#                          -> datadog/agent -> profcol B: datadog receiver
#                                                  -> file exporter (pprof)
#   a 3-attachment Go upload -> profcol B: datadog/relay receiver
#                            -> datadog/relay exporter -> intake double
#                               (one upload out, tags as they came in)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
need_cmd zstd "the intake double reads zstd attachments"
fixtures --skip-node
gen_pb

mkdir -p "$WORK/in" "$WORK/back" "$WORK/intake"
start_listener intake "$WORK/intake.port" "$PY" "$HERE/sinks/datadog_intake_sink.py" \
  "$WORK/pb" "$WORK/intake" "$WORK/intake.port" --api-key k-123
INTAKE=$SINK_PORT
BPORT=$(free_port)
RPORT=$(free_port)
new_ports
B_METRICS=$METRICS_PORT
cat >"$WORK/b.yaml" <<EOF2
receivers:
  datadog: {endpoint: 127.0.0.1:$BPORT}
  datadog/relay: {endpoint: 127.0.0.1:$RPORT}
exporters:
  file: {path: $WORK/back, format: pprof}
  datadog/relay:
    endpoint: http://127.0.0.1:$INTAKE/profiling/v1/input
    api_key: k-123
service:
  pipelines:
    profiles: {receivers: [datadog], exporters: [file]}
    profiles/relay: {receivers: [datadog/relay], exporters: [datadog/relay]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF2
start_profcol b "$WORK/b.yaml"
new_ports
cat >"$WORK/a.yaml" <<EOF2
receivers:
  file: {include: $WORK/in, poll_interval: 100ms}
processors:
  attributes:
    actions:
      - {key: service.name, action: upsert, value: rt-svc}
      - {key: deployment.environment.name, action: upsert, value: staging}
      - {key: service.version, action: upsert, value: 4.5.6}
      - {key: telemetry.sdk.language, action: upsert, value: go}
exporters:
  datadog/intake:
    endpoint: http://127.0.0.1:$INTAKE/api/v2/profile
    api_key: k-123
    tags: {team: core, env: override}
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms}
  datadog/agent:
    endpoint: http://127.0.0.1:$BPORT/profiling/v1/input
    compression: gzip
service:
  pipelines:
    profiles: {receivers: [file], processors: [attributes], exporters: [datadog/intake, datadog/agent]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF2
start_profcol a "$WORK/a.yaml"
sent() { metric_sum profcol_exporter_sent_profiles_total "exporter=\"$1\""; }

echo "== uploads to the intake double and round trip"
INPUTS="cpu heap mutex goroutine cpu_spans"
for f in $INPUTS; do drop "$PROF/$f.pb.gz" "$f.pb.gz"; done
wait_until 30 equals 5 sent datadog/intake || fail "datadog/intake sent $(sent datadog/intake) of 5"
wait_until 30 equals 5 sent datadog/agent || fail "datadog/agent sent $(sent datadog/agent) of 5"
[ "$(stat_of intake invalid)" = 0 ] && [ "$(stat_of intake accepted)" = 5 ] &&
  pass "intake double: 5 uploads, every one met the contract" ||
  fail "intake double: accepted $(stat_of intake accepted), invalid $(stat_of intake invalid): $(stat_of intake errors)"
names=$(cat "$WORK"/intake/*.event.json | jq -r '.attachments[]' | sort | xargs)
[ "$names" = "cpu.pprof cpu.pprof delta-heap.pprof delta-mutex.pprof goroutines.pprof" ] &&
  pass "attachments named as dd-trace-go names them: $names" || fail "attachment names: $names"
bad=$(cat "$WORK"/intake/*.event.json | jq -c 'select(.family != "go" or (.tags_profiler | split(",") |
  (index("service:rt-svc") == null or index("env:override") == null or index("team:core") == null
   or index("version:4.5.6") == null or index("language:go") == null or index("env:staging") != null)))' | head -n 2)
[ -z "$bad" ] && pass "family go; tags_profiler has service, version, language, the configured tags (env replaced)" ||
  fail "event: $bad"
for f in cpu heap mutex goroutine; do
  ok=""
  for g in "$WORK"/intake/*.pprof; do
    "$CHECK" "$PROF/$f.pb.gz" "$g" >/dev/null 2>&1 && ok=$g && break
  done
  [ -n "$ok" ] && pass "intake double got $f equal to the input (pprofcheck): $(basename "$ok")" ||
    fail "no attachment at the intake double equals $f"
done
# Span ids go to Datadog as Datadog names them: `span id`, decimal (the
# one that is no hex id keeps its name and value).
dec="" hex=""
for g in "$WORK"/intake/*.pprof; do
  dec+=$("$PY" "$HERE/../peers/pyroscope_check.py" pprof "$WORK/pb" "$g" "span id" | sed -n 2p)
  hex+=$("$PY" "$HERE/../peers/pyroscope_check.py" pprof "$WORK/pb" "$g" span_id | sed -n 2p)
done
ndec=$(tr ',' '\n' <<<"$dec" | grep -c '^[0-9]\+$' || true)
[ "$ndec" -ge 4 ] && [ "$(tr ',' '\n' <<<"$dec" | grep -vc '^[0-9]\+$' || true)" = 0 ] && [ "$hex" = "not-a-span-id!!!" ] &&
  pass "cpu_spans at the intake double: $ndec hex span_id values became decimal \`span id\` labels (4096 = 1000 hex: $(tr ',' ' ' <<<"$dec"))" ||
  fail "span labels at the intake double: \`span id\` '$dec', span_id '$hex'"
wait_until 15 equals 5 nfiles "$WORK/back" || true
for f in $INPUTS; do
  ok=""
  for g in "$WORK"/back/*; do
    "$CHECK" "$PROF/$f.pb.gz" "$g" >/dev/null 2>&1 && ok=$g && break
  done
  [ -n "$ok" ] && pass "round trip: $f through datadog exporter -> datadog receiver equal to the input (pprofcheck)" ||
    fail "round trip: nothing in $WORK/back equals $f ($(nfiles "$WORK/back") files)"
done

echo "== a dd-trace-shaped upload relayed: one upload in, one upload out"
acc0=$(stat_of intake accepted)
out=$("$PY" "$HERE/datadog_upload.py" "http://127.0.0.1:$RPORT/profiling/v1/input" \
  --event '{"attachments":["cpu.pprof","delta-heap.pprof","goroutines.pprof"],"start":"2026-12-06T01:00:00Z","end":"2026-12-06T01:01:00Z","family":"go","version":"4","tags_profiler":"runtime:go,service:relay-svc,env:prod,version:7,runtime-id:r1,profiler_version:v2.12.0"}' \
  --part cpu.pprof="$PROF/cpu.pb.gz:zstd" --part delta-heap.pprof="$PROF/heap.pb.gz:zstd" \
  --part goroutines.pprof="$PROF/goroutine.pb.gz:gzip")
[ "${out%% *}" = 200 ] || fail "relay receiver answered $out"
wait_until 30 equals $((acc0 + 1)) stat_of intake accepted &&
  pass "three attachments of one series went out as one upload" ||
  fail "intake double: accepted $(($(stat_of intake accepted) - acc0)) uploads for the relayed one, want 1"
last=$(ls "$WORK"/intake/*.event.json | sort | tail -n 1)
jq -c . "$last"
[ "$(jq -r '.attachments | sort | join(" ")' "$last")" = "cpu.pprof delta-heap.pprof goroutines.pprof" ] &&
  [ "$(jq -r .family "$last")" = go ] && [ "$(jq -r .start "$last")" != null ] &&
  pass "relayed upload: family go, attachments cpu.pprof delta-heap.pprof goroutines.pprof" ||
  fail "relayed upload: $(cat "$last")"
tags=$(jq -r .tags_profiler "$last" | tr ',' '\n' | sort | xargs)
[ "$tags" = "env:prod language:go profiler_version:v2.12.0 runtime-id:r1 runtime:go service:relay-svc version:7" ] &&
  pass "relayed tags as sent: $tags" || fail "relayed tags: $tags"

echo "== 503 is retried, without resending"
http_control "$INTAKE" '{"status": 503, "count": 2}'
drop "$PROF/block.pb.gz" block.pb.gz
wait_until 30 equals 6 sent datadog/intake || fail "datadog/intake sent $(sent datadog/intake) of 6 after 503s"
[ "$(stat_of intake faulted)" = 2 ] && [ "$(stat_of intake accepted)" = 7 ] &&
  pass "two 503s, then accepted once (7 uploads in all with the relayed one, none twice)" ||
  fail "faulted $(stat_of intake faulted), accepted $(stat_of intake accepted)"

echo "== 403 and 413 are permanent, counted by status"
refused() { metric_sum profcol_exporter_refused_uploads_total "exporter=\"datadog/intake\"" "status=\"$1\""; }
http_control "$INTAKE" '{"status": 403, "count": 1}'
drop "$PROF/allocs.pb.gz" allocs.pb.gz
wait_until 30 equals 1 refused 403 && pass "403: dropped, counted (status=\"403\")" || fail "403 not counted: $(refused 403)"
http_control "$INTAKE" '{"status": 413, "count": 1}'
drop "$PROF/threadcreate.pb.gz" threadcreate.pb.gz
wait_until 30 equals 1 refused 413 && pass "413: dropped, counted (status=\"413\")" || fail "413 not counted: $(refused 413)"
sleep 1
[ "$(stat_of intake faulted)" = 4 ] && [ "$(stat_of intake accepted)" = 7 ] &&
  pass "permanent refusals were not retried (4 faulted in all, 7 accepted)" ||
  fail "faulted $(stat_of intake faulted), accepted $(stat_of intake accepted)"
grep -q 'intake refused an upload' "$WORK/a.log" && pass "the refusal is logged with its status" ||
  fail "no log line for the refused upload"

echo "== configuration checks"
cat >"$WORK/c.yaml" <<EOF2
receivers:
  file: {include: $WORK/in2, poll_interval: 100ms}
exporters:
  datadog: {endpoint: http://127.0.0.1:$INTAKE/api/v2/profile, retry_on_failure: {enabled: false}}
service:
  pipelines:
    profiles: {receivers: [file], exporters: [datadog]}
  telemetry:
    metrics: {address: 127.0.0.1:$(free_port)}
    health: {address: 127.0.0.1:$(free_port)}
EOF2
mkdir -p "$WORK/in2"
stop a >/dev/null || true
"$PROFCOL" validate --config "$WORK/c.yaml" >/dev/null 2>&1 && pass "endpoint without api_key is valid (an Agent takes no key)" ||
  fail "profcol validate refused an endpoint without api_key"
bad_site=$(sed 's|endpoint: http://127.0.0.1:[0-9]*/api/v2/profile|site: datadoghq.example|' "$WORK/c.yaml")
echo "$bad_site" >"$WORK/d.yaml"
if "$PROFCOL" validate --config "$WORK/d.yaml" >"$WORK/v.log" 2>&1; then
  fail "an unknown site was accepted"
else
  grep -q "not a Datadog site" "$WORK/v.log" && pass "an unknown site is refused by validate" ||
    fail "validate: $(head -c 200 "$WORK/v.log")"
fi
sed -i 's|site: datadoghq.example|site: datadoghq.eu|' "$WORK/d.yaml"
if "$PROFCOL" validate --config "$WORK/d.yaml" >"$WORK/v.log" 2>&1; then
  fail "a site without api_key was accepted"
else
  grep -q "api_key is required" "$WORK/v.log" && pass "a site without api_key is refused by validate" ||
    fail "validate: $(head -c 200 "$WORK/v.log")"
fi

stop b >/dev/null || true
finish
