# ddtrace_common.sh: what the dd-trace peer tests (test_ddtrace_*.sh) share.
# Sourced after tests/integration/lib.sh, never run on its own.
#
#   dd_start_profcol       sinks (Pyroscope, OTLP gRPC, the Datadog intake
#                          double) and a profcol with a datadog receiver on
#                          $DD_PORT -> tracelink -> pyroscope + otlp +
#                          datadog exporters
#   dd_await_exported MIN  waits until MIN or more profiles were received and
#                          every one was exported three ways; stops profcol
#   dd_check_pyroscope SERVICE NAME...  the Pyroscope side: series named NAME
#                          each, every one with service_name, env, version
#   dd_check_spans NAME    pprofs of series NAME carry span_id labels of 16
#                          hex digits (the tracer's span ids)
#   dd_check_otlp SERVICE  the OTLP side: resource attributes
#   dd_check_intake FAMILY SERVICE SPAN_ATTACHMENT ATTACHMENT...  the
#                          datadog exporter's uploads met the intake
#                          contract, with the tracer's family and attachment
#                          names, service, env and version; SPAN_ATTACHMENT
#                          carries the span ids as Datadog writes them
#                          (`span id`, decimal)
# The tracer is started with env peer-test and version 1.2.3.

dd_start_profcol() {
  gen_pb
  gen_pyro_pb
  start_sink otlp_grpc otlp
  DD_OTLP=$SINK_PORT
  start_pyro_sink pyro
  DD_PYRO=$SINK_PORT
  mkdir -p "$WORK/intake"
  start_listener intake "$WORK/intake.port" "$PY" "$HERE/sinks/datadog_intake_sink.py" \
    "$WORK/pb" "$WORK/intake" "$WORK/intake.port" --api-key peer-key
  DD_INTAKE=$SINK_PORT
  DD_PORT=$(free_port)
  new_ports
  cat >"$WORK/profcol.yaml" <<EOF2
receivers:
  datadog: {endpoint: 127.0.0.1:$DD_PORT}
processors:
  tracelink: {}
exporters:
  pyroscope:
    endpoint: http://127.0.0.1:$DD_PYRO
  otlp:
    endpoint: 127.0.0.1:$DD_OTLP
    insecure: true
  datadog:
    endpoint: http://127.0.0.1:$DD_INTAKE/api/v2/profile
    api_key: peer-key
service:
  pipelines:
    profiles: {receivers: [datadog], processors: [tracelink], exporters: [pyroscope, otlp, datadog]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
    logs: {level: debug}
EOF2
  start_profcol profcol "$WORK/profcol.yaml"
}

dd_await_exported() {
  local min=$1 acc end sent_p sent_o sent_d refused
  acc=$(metric_sum profcol_receiver_accepted_profiles_total)
  end=$((SECONDS + 30))
  while [ $SECONDS -lt $end ] && [ "$(metric_sum profcol_exporter_sent_profiles_total)" -lt $((3 * acc)) ]; do
    sleep 0.2
  done
  sent_p=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="pyroscope"')
  sent_o=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="otlp"')
  sent_d=$(metric_sum profcol_exporter_sent_profiles_total 'exporter="datadog"')
  refused=$(metric_sum profcol_receiver_refused_profiles_total)
  [ "$acc" -ge "$min" ] && [ "$sent_p" = "$acc" ] && [ "$sent_o" = "$acc" ] && [ "$sent_d" = "$acc" ] &&
    pass "$acc profiles received, $sent_p exported to Pyroscope, $sent_o over OTLP, $sent_d to the Datadog intake double" ||
    fail "received $acc, exported $sent_p to Pyroscope, $sent_o over OTLP, $sent_d to Datadog (want $min or more, all of them)"
  [ "$refused" = 0 ] && pass "no attachment refused" ||
    { grep -i refused "$WORK/profcol.log" | tail -n 3; fail "$refused profiles refused"; }
  stop profcol >/dev/null || true
}

dd_check_pyroscope() {
  local svc=$1 name n bad
  shift
  "$PY" "$PEERS/pyroscope_check.py" pyro "$WORK/pyro" >"$WORK/pyro.jsonl"
  echo "$(wc -l <"$WORK/pyro.jsonl") series; names: $(jq -r '.__name__' "$WORK/pyro.jsonl" | sort | uniq -c | xargs)"
  for name in "$@"; do
    n=$(jq -c --arg n "$name" 'select(.__name__ == $n)' "$WORK/pyro.jsonl" | wc -l)
    [ "$n" -ge 1 ] && pass "Pyroscope: $n series named $name" || fail "Pyroscope: no series named $name"
  done
  bad=$(jq -c --arg s "$svc" 'select(.service_name != $s or .deployment_environment_name != "peer-test"
      or .service_version != "1.2.3")' "$WORK/pyro.jsonl" | head -n 2)
  [ -z "$bad" ] && [ -s "$WORK/pyro.jsonl" ] &&
    pass "Pyroscope: every series has service_name=$svc, deployment_environment_name=peer-test, service_version=1.2.3" ||
    fail "Pyroscope: series without service, env or version: $bad"
}

dd_check_spans() {
  local name=$1 f out vals n=0 bad=""
  for f in $(jq -r --arg n "$name" 'select(.__name__ == $n) | ._file' "$WORK/pyro.jsonl"); do
    out=$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$WORK/pyro/$f" span_id)
    vals=$(sed -n 2p <<<"$out")
    [ -n "$vals" ] || continue
    n=$((n + 1))
    bad+=$(tr ',' '\n' <<<"$vals" | grep -Ev '^[0-9a-f]{16}$' | head -n 1 || true)
  done
  [ "$n" -ge 1 ] && pass "Pyroscope: $n $name pprofs carry span_id labels (the tracer's span ids)" ||
    fail "Pyroscope: no $name pprof carries a span_id label"
  [ -z "$bad" ] && pass "every span_id is 16 lower-case hex digits" || fail "span_id values not 16 hex digits: $bad"
}

dd_check_otlp() {
  local svc=$1 bad
  [ "$(stat_of otlp invalid)" = 0 ] && [ "$(stat_of otlp accepted_requests)" -ge 1 ] &&
    pass "OTLP: $(stat_of otlp accepted_requests) requests, every one passed the sink's v1.11.0 checks" ||
    fail "OTLP sink: $(stat_of otlp accepted_requests) accepted, invalid: $(stat_of otlp errors)"
  "$PY" "$PEERS/pyroscope_check.py" otlp "$WORK/pb" "$WORK/otlp/r*.otlp" >"$WORK/otlp.jsonl"
  bad=$(jq -c --arg s "$svc" 'select(.resource["service.name"] != $s
      or .resource["deployment.environment.name"] != "peer-test" or .resource["service.version"] != "1.2.3"
      or (.resource["telemetry.sdk.language"] // "") == "")' "$WORK/otlp.jsonl" | head -n 2)
  [ -z "$bad" ] && [ -s "$WORK/otlp.jsonl" ] &&
    pass "OTLP: every profile has service.name=$svc, deployment.environment.name, service.version, telemetry.sdk.language" ||
    fail "OTLP: profiles without the service attributes: $bad"
}

dd_check_intake() {
  local fam=$1 svc=$2 spanatt=$3 names want bad g vals n=0 nbad=0
  shift 3
  [ "$(stat_of intake invalid)" = 0 ] && [ "$(stat_of intake accepted)" -ge 1 ] &&
    pass "Datadog intake double: $(stat_of intake accepted) uploads, every one met the intake contract" ||
    fail "Datadog intake double: accepted $(stat_of intake accepted), invalid $(stat_of intake invalid): $(stat_of intake errors)"
  names=$(cat "$WORK"/intake/*.event.json | jq -r '.attachments[]' | sort -u | xargs)
  want=$(printf '%s\n' "$@" | sort -u | xargs)
  [ "$names" = "$want" ] && pass "Datadog: attachments named as the tracer names them: $names" ||
    fail "Datadog: attachments '$names', want '$want'"
  bad=$(cat "$WORK"/intake/*.event.json | jq -c --arg f "$fam" --arg s "$svc" 'select(.family != $f or
    (.tags_profiler | split(",") | (index("service:" + $s) == null or index("env:peer-test") == null
     or index("version:1.2.3") == null)))' | head -n 2)
  [ -z "$bad" ] && pass "Datadog: family $fam; service, env and version in tags_profiler" ||
    fail "Datadog: uploads without the family or tags: $bad"
  for g in "$WORK"/intake/*."$spanatt"; do
    [ -e "$g" ] || continue
    vals=$("$PY" "$PEERS/pyroscope_check.py" pprof "$WORK/pb" "$g" "span id" | sed -n 2p)
    [ -n "$vals" ] || continue
    n=$((n + 1))
    nbad=$((nbad + $(tr ',' '\n' <<<"$vals" | grep -vc '^[0-9]\+$' || true)))
  done
  [ "$n" -ge 1 ] && [ "$nbad" = 0 ] && pass "Datadog: $n $spanatt attachments carry decimal \`span id\` labels, as the tracer wrote them" ||
    fail "Datadog: $n $spanatt attachments with \`span id\`, $nbad values not decimal"
}
