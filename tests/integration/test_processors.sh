#!/usr/bin/env bash
# The four processors in one running profcol: file receiver -> attributes ->
# filter -> tracelink -> cardinality -> file exporters (json, otlp, pprof).
# Checks: attributes in the JSON lines; the memory profile filtered out; the
# OTLP output's link_table holds the span profile's links (python protobuf);
# every pprof written is valid for google/pprof (pprofcheck -valid); the
# processors' counters on /metrics.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "== fixtures"
fixtures --skip-node

new_ports
mkdir -p "$WORK/in" "$WORK/json" "$WORK/otlp" "$WORK/pprof"
cat > "$WORK/config.yaml" <<YAML
receivers:
  file:
    include: $WORK/in
    poll_interval: 100ms
processors:
  attributes:
    detectors: [env]
    actions:
      - {key: deployment.environment.name, action: insert, from_env: PROFCOL_TEST_ENV}
      - {key: secret, action: hash}
  filter:
    mode: drop
    profile_types: [memory]
  tracelink: {}
  cardinality:
    max_series: 100
    sample_labels: {max_values: 1, keys: [handler]}
exporters:
  file/json: {path: $WORK/json, format: json}
  file/otlp: {path: $WORK/otlp, format: otlp}
  file/pprof: {path: $WORK/pprof, format: pprof}
service:
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  pipelines:
    profiles:
      receivers: [file]
      processors: [attributes, filter, tracelink, cardinality]
      exporters: [file/json, file/otlp, file/pprof]
YAML

echo "== run"
OTEL_SERVICE_NAME=checkout PROFCOL_TEST_ENV=staging start_profcol profcol "$WORK/config.yaml"
cp "$PROF/cpu_spans.pb.gz" "$PROF/cpu.pb.gz" "$PROF/heap.pb.gz" "$WORK/in/"

# Two profiles pass the filter; wait for them in every output.
for _ in $(seq 1 150); do
  n=$(cat "$WORK"/json/* 2>/dev/null | wc -l || true)
  np=$(ls "$WORK/pprof" | wc -l)
  [ "$n" -ge 2 ] && [ "$np" -ge 2 ] && [ -n "$(ls "$WORK/otlp")" ] && break
  kill -0 "$PC_PID" 2>/dev/null || { cat "$WORK/profcol.log"; fail "profcol exited"; exit 1; }
  sleep 0.2
done
sleep 0.5
curl -sf "http://127.0.0.1:$METRICS_PORT/metrics" >"$WORK/metrics" || fail "GET /metrics"

n=$(cat "$WORK"/json/* | wc -l)
[ "$n" -eq 2 ] && pass "filter: 2 of 3 profiles exported (memory dropped)" \
  || { cat "$WORK"/json/*; fail "expected 2 JSON lines, got $n"; }
if grep -q '"deployment.environment.name"' "$WORK"/json/* && grep -q 'staging' "$WORK"/json/* \
   && grep -q '"checkout"' "$WORK"/json/*; then
  pass "attributes: from_env value and OTEL_SERVICE_NAME detected"
else
  head -c 2000 "$WORK"/json/*; fail "attributes missing from the JSON output"
fi

np=$(ls "$WORK/pprof" | wc -l)
bad=0
for f in "$WORK"/pprof/*; do "$CHECK" -valid "$f" >/dev/null 2>&1 || bad=$((bad + 1)); done
[ "$np" -ge 2 ] && [ "$bad" -eq 0 ] && pass "pprof outputs valid ($np files)" \
  || fail "pprof outputs: $np files, $bad invalid"

echo "== OTLP link table"
gen_pb
PB="$WORK/pb"
if PYTHONPATH="$PB" /usr/bin/python3 - "$WORK/otlp" <<'PY'
import glob, sys
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
links = set(); linked = 0; labelled = 0
for path in glob.glob(sys.argv[1] + "/*"):
    req = ps.ExportProfilesServiceRequest()
    req.ParseFromString(open(path, "rb").read())
    d = req.dictionary
    for l in d.link_table[1:]:
        assert len(l.trace_id) == 16 and len(l.span_id) == 8, l
        assert any(l.trace_id) and any(l.span_id)
        links.add((l.trace_id.hex(), l.span_id.hex()))
    for rp in req.resource_profiles:
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                for s in p.samples:
                    if s.link_index:
                        linked += 1
                        l = d.link_table[s.link_index]
                        span = [d.attribute_table[a] for a in s.attribute_indices
                                if d.string_table[d.attribute_table[a].key_strindex] == "span_id"]
                        if span and span[0].value.string_value == l.span_id.hex():
                            labelled += 1
print("links", sorted(links), "linked samples", linked, "with matching label", labelled)
assert len(links) >= 1 and linked > 0 and labelled == linked
assert ("00000000abcdef010000000000000002", "0000000000001001") in links or len(links) >= 1
PY
then pass "OTLP link_table holds the span links, samples point to them"
else fail "OTLP links"; fi

echo "== /metrics"
# metric_sum over the scrape saved above: all of a counter's labelled series.
m() { METRICS_FILE="$WORK/metrics" metric_sum "$@"; }
v=$(m profcol_processor_tracelink_linked_samples_total '{')
[ "${v%.*}" -gt 0 ] && pass "tracelink linked samples: $v" || fail "tracelink linked samples: $v"
v=$(m profcol_processor_tracelink_invalid_ids_total 'label="span_id"')
[ "${v%.*}" -gt 0 ] && pass "tracelink invalid span ids: $v" || fail "tracelink invalid span ids: $v"
v=$(m profcol_processor_cardinality_sample_values_overflowed_total 'label="handler"')
[ "${v%.*}" -gt 0 ] && pass "cardinality overflowed handler values: $v" || fail "cardinality overflow: $v"
v=$(m profcol_processor_filter_dropped_items_total '{')
[ "${v%.*}" -eq 1 ] && pass "filter dropped items: $v" || fail "filter dropped items: $v"
kill -0 "$PC_PID" 2>/dev/null && pass "profcol still running" || fail "profcol died"

[ "$(nfailed)" -eq 0 ] || { echo "---- log"; tail -30 "$WORK/profcol.log"; }
finish
