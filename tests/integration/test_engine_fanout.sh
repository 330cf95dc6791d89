#!/usr/bin/env bash
# The pipeline graph: one receiver feeding two pipelines, an exporter shared
# by both. Checks that
#  - a shared receiver and a shared exporter are one instance each (one set
#    of series in /metrics, the shared exporter gets both pipelines' data);
#  - fan-out isolates pipelines: what one pipeline's processors change
#    (series attributes, and a payload changed by tracelink) is not seen by
#    the other, whose items still carry the original bytes untouched.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

fixtures
IN="$WORK/in"
mkdir -p "$IN" "$WORK/a" "$WORK/b" "$WORK/shared"
INPUTS=(cpu_spans.pb.gz cpu.pb.gz heap.pb.gz)
new_ports
cat >"$WORK/fanout.yaml" <<YAML
receivers:
  file: {include: $IN, poll_interval: 100ms}
processors:
  attributes/a:
    actions: [{key: team, action: insert, value: a}]
  attributes/b:
    actions: [{key: team, action: insert, value: b}]
  tracelink: {}
exporters:
  file/a: {path: $WORK/a, format: json}
  file/b: {path: $WORK/b, format: json}
  file/shared: {path: $WORK/shared, format: json}
service:
  pipelines:
    profiles/a:
      receivers: [file]
      processors: [attributes/a, tracelink]
      exporters: [file/a, file/shared]
    profiles/b:
      receivers: [file]
      processors: [attributes/b]
      exporters: [file/b, file/shared]
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
YAML
"$PROFCOL" validate --config "$WORK/fanout.yaml" >/dev/null &&
  pass "config with a shared receiver and a shared exporter validates" ||
  fail "config does not validate"
start_profcol fanout "$WORK/fanout.yaml"
for f in "${INPUTS[@]}"; do cp "$PROF/$f" "$IN/$f"; done
n=${#INPUTS[@]}
shared_done() { [ "$(metric_first profcol_exporter_sent_profiles_total 'exporter="file/shared"')" -ge $((2 * n)) ]; }
wait_until 30 shared_done || true

acc=$(metric_first profcol_receiver_accepted_profiles_total 'receiver="file"')
[ "$acc" = "$n" ] && pass "the shared receiver is one instance: $acc accepted for $n files" ||
  fail "receiver accepted $acc, expected $n"
series=$(scrape | grep -c '^profcol_exporter_sent_profiles_total{exporter="file/shared"' || true)
sent=$(metric_first profcol_exporter_sent_profiles_total 'exporter="file/shared"')
[ "$series" = 1 ] && [ "$sent" = $((2 * n)) ] &&
  pass "the shared exporter is one instance and got both pipelines' data ($sent)" ||
  fail "shared exporter: $series series, $sent sent (expected 1 and $((2 * n)))"

if /usr/bin/python3 - "$WORK" "$PROF" "${INPUTS[@]}" <<'PY'
import base64, glob, hashlib, json, sys
work, prof, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
orig = {hashlib.sha256(open(f"{prof}/{f}", "rb").read()).hexdigest() for f in inputs}

def items(d):
    out = []
    for path in sorted(glob.glob(f"{work}/{d}/profile-*")):
        for line in open(path, encoding="utf-8"):
            out.append(json.loads(line))
    return out

def digest(it):
    return hashlib.sha256(base64.b64decode(it["payload_base64"])).hexdigest()

a, b, shared = items("a"), items("b"), items("shared")
n = len(inputs)
assert len(a) == n and len(b) == n, (len(a), len(b))
assert all(it["attributes"].get("team") == "a" for it in a), "pipeline a saw another team"
assert all(it["attributes"].get("team") == "b" for it in b), "pipeline b saw another team"
# Pipeline b changed no payload: every item is the original pprof, byte for byte.
assert all(it["format"] == "pprof" for it in b)
assert {digest(it) for it in b} == orig, "pipeline b's payloads are not the inputs"
# Pipeline a's tracelink changed the span profile's payload (re-encoded
# model), and left the profiles without span ids as their original bytes.
changed = [it for it in a if it["format"] == "otlp"]
assert len(changed) == 1, [it["format"] for it in a]
assert {digest(it) for it in a if it["format"] == "pprof"} < orig
teams = sorted(it["attributes"].get("team") for it in shared)
assert teams == ["a"] * n + ["b"] * n, teams
print("isolation ok")
PY
then pass "pipelines are isolated: attributes and payload changes stay in their pipeline"
else fail "pipeline isolation"; fi

finish
