#!/usr/bin/env bash
# profcol as a relay between real peers, end to end:
#   (a) the real @pyroscope/nodejs SDK -> pyroscope receiver -> otlp
#       exporter -> OTLP gRPC sink: profiles arrive, pass the v1.11.0
#       checks, convert back to pprofs pprofcheck accepts, and carry
#       service.name and the SDK's tags as resource attributes
#   (b) OTLP (python grpcio client sending real converted Go profiles with
#       resource attributes) -> otlp receiver -> pyroscope and parca
#       exporters at once: labels as each backend's users query them, pprofs
#       equal to the originals
#   (c) scrape (real Go target) -> pyroscope, parca and otlp at once: every
#       sink gets every profile type, valid, with the job's labels.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${PROFCOL_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}"
BUILD="${PROFCOL_BUILD_DIR:-$SRC/build}"
PROFCOL="${PROFCOL_BIN:-$BUILD/profcol}"
[ -x "$PROFCOL" ] || { echo "FAIL: profcol binary not found at $PROFCOL"; exit 1; }
PY=/usr/bin/python3
"$PY" -c 'import grpc, grpc_tools, google.protobuf' ||
  { echo "FAIL: $PY lacks grpcio / grpc_tools / protobuf"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/profcol-relay.XXXXXX")"
PIDS=""
source "$HERE/sinks/grpc_sink_lib.sh"
trap cleanup EXIT

echo "== fixtures"
timeout 600 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
PROF="$BUILD/fixtures/profiles"
FIX="$BUILD/fixtures"
CHECK="$FIX/bin/pprofcheck"
GOTARGET="$FIX/bin/gotarget"
gen_pb
PBPY="$WORK/pbpy"   # Pyroscope stubs apart: their `types` package is special
mkdir -p "$PBPY"
(cd "$SRC/proto/pyroscope" && protoc -I . --python_out="$PBPY" types/v1/types.proto push/v1/push.proto)

# start_pyro_sink NAME: the Pyroscope push/ingest sink; sets SINK_PORT.
start_pyro_sink() {
  local pf="$WORK/$1.port"
  mkdir -p "$WORK/$1"
  "$PY" "$HERE/sinks/pyroscope_sink.py" "$PBPY" "$WORK/$1" "$pf" >"$WORK/$1.log" 2>&1 &
  PIDS="$PIDS $!"
  for _ in $(seq 100); do [ -s "$pf" ] && break; sleep 0.1; done
  SINK_PORT=$(cat "$pf" 2>/dev/null || true)
  [ -n "$SINK_PORT" ] || { cat "$WORK/$1.log"; echo "FAIL: sink $1 did not start"; exit 1; }
}

count() { ls "$@" 2>/dev/null | wc -l; }

wait_count() { # GLOB N SECONDS
  local end=$((SECONDS + $3))
  while [ $SECONDS -lt $end ]; do
    [ "$(count $1)" -ge "$2" ] && return 0
    sleep 0.2
  done
  return 1
}

stop_profcol() {
  kill "$PROFCOL_PID" 2>/dev/null || true
  wait "$PROFCOL_PID" 2>/dev/null || true
}

telemetry() { # uses MPORT, set by the caller (this runs in a subshell)
  cat <<EOF
  telemetry:
    metrics: {address: 127.0.0.1:$MPORT}
    health: {address: 127.0.0.1:$(free_port)}
EOF
}

# otlp_back DIR OUTDIR: every recorded OTLP request converted back to
# pprofs (one per profile) with `profcol convert`.
otlp_back() {
  local req b
  mkdir -p "$2"
  for req in "$1"/r*.otlp; do
    [ -e "$req" ] || continue
    b=$(basename "$req" .otlp)
    "$PROFCOL" convert --to pprof "$req" "$2/${b}_%d.pb.gz" 2>>"$WORK/convert.log" ||
      fail "profcol convert refused $req"
  done
}

# ------------------------------------------------------------------------
echo "== (a) @pyroscope/nodejs -> pyroscope receiver -> otlp exporter"
SDKV=0.6.4
SDK_DIR="$BUILD/pyroscope-sdk/$SDKV"
if [ ! -f "$SDK_DIR/.installed" ]; then
  mkdir -p "$SDK_DIR"
  echo '{"name":"profcol-sdk-test","version":"1.0.0","private":true}' > "$SDK_DIR/package.json"
  (cd "$SDK_DIR" && timeout 300 npm install --no-audit --no-fund --loglevel=error \
      "@pyroscope/nodejs@$SDKV" >"$SDK_DIR/npm.log" 2>&1) \
    || { cat "$SDK_DIR/npm.log"; echo "FAIL: npm install @pyroscope/nodejs@$SDKV"; exit 1; }
  touch "$SDK_DIR/.installed"
fi
start_sink otlp_grpc otlpa
OTLPA=$SINK_PORT
PPORT=$(free_port)
MPORT=$(free_port)
cat >"$WORK/a.yaml" <<EOF
receivers:
  pyroscope: {endpoint: 127.0.0.1:$PPORT}
exporters:
  otlp:
    endpoint: 127.0.0.1:$OTLPA
    insecure: true
    retry_on_failure: {initial_interval: 100ms}
service:
  pipelines:
    profiles: {receivers: [pyroscope], exporters: [otlp]}
$(telemetry)
EOF
start_profcol "$WORK/a.yaml"
if SDK_DIR="$SDK_DIR" SERVER="http://127.0.0.1:$PPORT" APP_NAME="node-relay" \
   TENANT="team-r" SDK_VERSION="$SDKV" RUN_MS=3000 \
   timeout 120 node "$HERE/pyroscope_sdk_app.js" >"$WORK/node.log" 2>&1; then
  pass "(a) the SDK pushed its profiles to profcol"
else
  cat "$WORK/node.log"; fail "(a) the SDK program failed"
fi
acc=$(metric profcol_receiver_accepted_profiles_total)
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ] && [ "$(metric profcol_exporter_sent_profiles_total)" -lt "$acc" ]; do
  sleep 0.2
done
sent=$(metric profcol_exporter_sent_profiles_total)
[ "$acc" -ge 2 ] && [ "$sent" = "$acc" ] &&
  pass "(a) $acc profiles received, $sent exported over OTLP" ||
  fail "(a) received $acc, exported $sent"
[ "$(stat_of otlpa invalid)" = 0 ] && [ "$(stat_of otlpa accepted_requests)" -ge 1 ] &&
  pass "(a) every request passed the sink's v1.11.0 checks" ||
  fail "(a) sink: $(stat_of otlpa accepted_requests) accepted, invalid: $(stat_of otlpa errors)"
otlp_back "$WORK/otlpa" "$WORK/aback"
n=0
for f in "$WORK"/aback/*.pb.gz; do
  [ -e "$f" ] || continue
  n=$((n + 1))
  "$CHECK" -valid "$f" >/dev/null 2>&1 || fail "(a) pprofcheck -valid $(basename "$f")"
done
[ "$n" -ge 2 ] && pass "(a) $n profiles converted back to valid pprofs" ||
  fail "(a) only $n profiles converted back"
if "$PY" - "$WORK/pb" "$WORK/otlpa" <<'EOF'
import glob, sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
kinds = set()
for path in sorted(glob.glob(sys.argv[2] + "/r*.otlp")):
    req = ps.ExportProfilesServiceRequest()
    req.ParseFromString(open(path, "rb").read())
    strings = req.dictionary.string_table
    for rp in req.resource_profiles:
        a = {x.key: x.value.string_value for x in rp.resource.attributes}
        assert a.get("service.name") == "node-relay", a
        assert a.get("sdk_version") == "0.6.4", a
        assert a.get("pyroscope_spy") == "nodespy", a
        assert not any(k.startswith("__") for k in a), a
        for sp in rp.scope_profiles:
            for p in sp.profiles:
                kinds.add(strings[p.sample_type.type_strindex])
assert "inuse_space" in kinds and ("wall" in kinds or "samples" in kinds), kinds
print("resource attributes ok; sample types:", sorted(kinds))
EOF
then pass "(a) service.name=node-relay and the SDK's tags are resource attributes"
else fail "(a) resource attributes"; fi
stop_profcol

# ------------------------------------------------------------------------
echo "== (b) OTLP client -> otlp receiver -> pyroscope + parca"
start_pyro_sink pyrob
PYROB=$SINK_PORT
start_sink parca parcab
PARCAB=$SINK_PORT
GPORT=$(free_port)
MPORT=$(free_port)
cat >"$WORK/b.yaml" <<EOF
receivers:
  otlp: {protocols: {grpc: {endpoint: 127.0.0.1:$GPORT}}}
exporters:
  pyroscope:
    endpoint: http://127.0.0.1:$PYROB
    retry_on_failure: {initial_interval: 100ms}
  parca:
    endpoint: 127.0.0.1:$PARCAB
    insecure: true
    retry_on_failure: {initial_interval: 100ms}
service:
  pipelines:
    profiles: {receivers: [otlp], exporters: [pyroscope, parca]}
$(telemetry)
EOF
start_profcol "$WORK/b.yaml"
BIN_INPUTS="cpu heap mutex goroutine"
declare -A WANT_NAME=([cpu]=process_cpu [heap]=memory [mutex]=mutex [goroutine]=goroutine)
for n in $BIN_INPUTS; do
  "$PROFCOL" convert --to otlp "$PROF/$n.pb.gz" "$WORK/$n.plain.otlp"
  "$PY" - "$WORK/pb" "$WORK/$n.plain.otlp" "$WORK/$n.otlp" "$n" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
req = ps.ExportProfilesServiceRequest()
req.ParseFromString(open(sys.argv[2], "rb").read())
res = req.resource_profiles[0].resource
for k, v in (("service.name", "checkout"), ("k8s.pod.name", "checkout-7d9f"),
             ("deployment.environment.name", "prod"), ("relay.input", sys.argv[4])):
    a = res.attributes.add(); a.key = k; a.value.string_value = v
open(sys.argv[3], "wb").write(req.SerializeToString())
EOF
  "$PY" "$HERE/otlp_receiver_client.py" "$WORK/pb" grpc "127.0.0.1:$GPORT" "$WORK/$n.otlp" \
    >>"$WORK/client.log" 2>&1 || fail "(b) the OTLP client failed for $n: $(tail -1 "$WORK/client.log")"
done
nb=$(echo $BIN_INPUTS | wc -w)
wait_count "$WORK/pyrob/*.json" "$nb" 20 &&
  pass "(b) pyroscope sink got $nb profiles" || fail "(b) pyroscope sink got $(count "$WORK"/pyrob/*.json)"
wait_stat parcab series "$nb" 20 &&
  pass "(b) parca sink got $nb series" || fail "(b) parca sink got $(stat_of parcab series) series"
[ "$(stat_of parcab invalid)" = 0 ] || fail "(b) parca sink refused: $(stat_of parcab errors)"
# labels and payloads, per input, at both sinks
"$PY" - "$WORK" "$PROF" "$CHECK" $BIN_INPUTS >"$WORK/b.txt" <<'EOF' || true
import glob, json, os, subprocess, sys
work, prof, check, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
def pyro():
    for j in glob.glob(work + "/pyrob/*.json"):
        meta = json.load(open(j))
        stem = j[:-5]
        data = glob.glob(stem + ".pb*")
        yield dict(meta["labels"]), data[0] if data else None
def parca():
    for j in glob.glob(work + "/parcab/r*_s*.json"):
        yield json.load(open(j)), j[:-5] + ".pb.gz"
for sink, items in (("pyroscope", list(pyro())), ("parca", list(parca()))):
    for n in names:
        hit = [(l, f) for l, f in items if l.get("relay_input") == n]
        if not hit:
            print(sink, n, "MISSING", "{}")
            continue
        l, f = hit[0]
        eq = subprocess.run([check, os.path.join(prof, n + ".pb.gz"), f],
                            capture_output=True).returncode == 0
        print(sink, n, "EQUAL" if eq else "DIFFERENT", json.dumps(l, sort_keys=True))
EOF
while read -r sink n verdict labels; do
  if [ "$verdict" = MISSING ]; then fail "(b) $sink: no profile for $n"; continue; fi
  [ "$verdict" = EQUAL ] && pass "(b) $sink: $n equal to the original (pprofcheck)" ||
    fail "(b) $sink: $n differs from the original"
  if "$PY" - "$labels" "${WANT_NAME[$n]}" <<'EOF'
import json, sys
l, want = json.loads(sys.argv[1]), sys.argv[2]
assert l["service_name"] == "checkout", l
assert l["k8s_pod_name"] == "checkout-7d9f", l
assert l["deployment_environment_name"] == "prod", l
assert l["__name__"] == want, (l, want)
assert not any(k.startswith("__") and k not in ("__name__", "__delta__") for k in l), l
assert not any("." in k for k in l), l
EOF
  then pass "(b) $sink: $n labels $labels"; else fail "(b) $sink: $n labels $labels"; fi
done <"$WORK/b.txt"
stop_profcol

# ------------------------------------------------------------------------
echo "== (c) scrape (real Go target) -> pyroscope + parca + otlp"
"$GOTARGET" -addr 127.0.0.1:0 -port-file "$WORK/target.addr" >"$WORK/target.log" 2>&1 &
PIDS="$PIDS $!"
for _ in $(seq 100); do [ -s "$WORK/target.addr" ] && break; sleep 0.1; done
TARGET=$(cat "$WORK/target.addr")
start_pyro_sink pyroc
PYROC=$SINK_PORT
start_sink parca parcac
PARCAC=$SINK_PORT
start_sink otlp_grpc otlpc
OTLPC=$SINK_PORT
MPORT=$(free_port)
cat >"$WORK/c.yaml" <<EOF
receivers:
  scrape:
    scrape_configs:
      - job_name: relay-target
        scrape_interval: 2s
        static_configs:
          - targets: ["$TARGET"]
            labels: {service_name: gotarget, env: relay}
        profiling_config:
          process_cpu: {seconds: 1}
exporters:
  pyroscope: {endpoint: "http://127.0.0.1:$PYROC", retry_on_failure: {initial_interval: 100ms}}
  parca: {endpoint: "127.0.0.1:$PARCAC", insecure: true, retry_on_failure: {initial_interval: 100ms}}
  otlp: {endpoint: "127.0.0.1:$OTLPC", insecure: true, retry_on_failure: {initial_interval: 100ms}}
service:
  pipelines:
    profiles: {receivers: [scrape], exporters: [pyroscope, parca, otlp]}
$(telemetry)
EOF
start_profcol "$WORK/c.yaml"
sleep 9   # four scrapes: the cumulative profiles need one for the baseline
stop_profcol   # drains the queues
"$PY" - "$WORK" >"$WORK/c.txt" <<'EOF' || true
import glob, json, sys
sys.path.insert(0, sys.argv[1] + "/pb")
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
work = sys.argv[1]
want = {"process_cpu", "memory", "goroutine", "mutex", "block"}
def names(items):
    return {l.get("__name__") for l in items}
pyro = [dict(json.load(open(j))["labels"]) for j in glob.glob(work + "/pyroc/*.json")]
parca = [json.load(open(j)) for j in glob.glob(work + "/parcac/r*_s*.json")]
for sink, items in (("pyroscope", pyro), ("parca", parca)):
    ok = all(l.get("service_name") == "gotarget" and l.get("env") == "relay" and
             l.get("job") == "relay-target" for l in items)
    print(sink, len(items), ",".join(sorted(names(items) & want)),
          ",".join(sorted(want - names(items))) or "-", "LABELS_OK" if ok else "LABELS_BAD")
n, svc = 0, set()
for path in glob.glob(work + "/otlpc/r*.otlp"):
    req = ps.ExportProfilesServiceRequest()
    req.ParseFromString(open(path, "rb").read())
    for rp in req.resource_profiles:
        a = {x.key: x.value.string_value for x in rp.resource.attributes}
        svc.add((a.get("service.name"), a.get("job"), a.get("env")))
        n += sum(len(sp.profiles) for sp in rp.scope_profiles)
print("otlp", n, "-", "-", "LABELS_OK" if svc == {("gotarget", "relay-target", "relay")} else "LABELS_BAD:%s" % svc)
EOF
cat "$WORK/c.txt"
while read -r sink n got missing labels; do
  [ "$n" -ge 5 ] && pass "(c) $sink got $n profiles" || fail "(c) $sink got $n profiles"
  if [ "$sink" != otlp ]; then
    [ "$missing" = - ] && pass "(c) $sink: every profile type ($got)" ||
      fail "(c) $sink: missing $missing (got $got)"
  fi
  [ "$labels" = LABELS_OK ] && pass "(c) $sink: service_name, job and target labels" ||
    fail "(c) $sink: $labels"
done <"$WORK/c.txt"
[ "$(wc -l <"$WORK/c.txt")" = 3 ] || fail "(c) checker output incomplete"
for f in "$WORK"/pyroc/*.pb* "$WORK"/parcac/*.pb.gz; do
  [ -e "$f" ] || continue
  "$CHECK" -valid "$f" >/dev/null 2>&1 || fail "(c) pprofcheck -valid $f"
done
otlp_back "$WORK/otlpc" "$WORK/cback"
nv=0
for f in "$WORK"/cback/*.pb.gz; do
  [ -e "$f" ] || continue
  "$CHECK" -valid "$f" >/dev/null 2>&1 && nv=$((nv + 1)) || fail "(c) pprofcheck -valid $(basename "$f") (from OTLP)"
done
[ "$nv" -ge 5 ] && pass "(c) $nv OTLP profiles convert back to valid pprofs" || fail "(c) $nv valid from OTLP"
[ "$(stat_of parcac invalid)" = 0 ] && [ "$(stat_of otlpc invalid)" = 0 ] &&
  pass "(c) no request refused by the parca and OTLP sinks' checks" ||
  fail "(c) refused: parca $(stat_of parcac errors) otlp $(stat_of otlpc errors)"

echo "passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
