#!/usr/bin/env bash
# OTLP in, OTLP out: a request nothing changed goes on as the bytes it came
# in as; anything changed is encoded again. profcol: otlp receiver (gRPC)
# in two pipelines, one without processors (otlp/same), one with an
# attributes processor that inserts a resource attribute (otlp/changed).
# The request sent is a real Go profile converted to OTLP with one extra,
# unknown field: valid protobuf that profcol's decoder skips, so an encoding
# of the decoded request can never reproduce those bytes.
#   (a) otlp/same gets the sent bytes unchanged
#   (b) otlp/changed gets an encoding: the unknown field gone, the inserted
#       attribute and the sent ones on the resource, the profile equal to the
#       input (converted back, pprofcheck)
#   (c) a request of two resources (two items) is encoded, both resources
#       in the one request otlp/same gets
#   (d) a request that came gzip-compressed goes on as the client's gzip
#       bytes (no compression of profcol's own), flagged compressed; one
#       that came plain goes as profcol's gzip of the sent bytes. The sender
#       and the sink are bench_loadgen's gRPC generator and sink (gRPC C
#       core): the sink saves each message as it came over the wire, which
#       a Python gRPC server cannot (it inflates before the handler).
#   (e) the otlphttp exporter of the same profcol does the same: the
#       client's gzip bytes as the body, and a plain request's exact bytes
#       (the unknown field kept) gzipped by profcol.
#   (f) an OTLP/HTTP request with Content-Encoding: gzip goes on as the
#       client's gzip bytes too, through both exporters.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py grpc grpc_tools google.protobuf

echo "== fixtures"
fixtures
gen_pb

# make_req IN OUT NRES: IN's one resource with service.name set, NRES times
# (each with its own relay.copy), and the unknown field 1000 appended.
make_req() {
  "$PY" - "$WORK/pb" "$1" "$2" "$3" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
req = ps.ExportProfilesServiceRequest()
req.ParseFromString(open(sys.argv[2], "rb").read())
rp = req.resource_profiles[0]
a = rp.resource.attributes.add(); a.key = "service.name"; a.value.string_value = "checkout"
for i in range(1, int(sys.argv[4])):
    c = req.resource_profiles.add(); c.CopyFrom(rp)
for i, r in enumerate(req.resource_profiles):
    a = r.resource.attributes.add(); a.key = "relay.copy"; a.value.int_value = i
marker = b"unknown to profcol"
# field 1000, wire type 2: tag varint 8002 = 0xc2 0x3e
data = req.SerializeToString() + b"\xc2\x3e" + bytes([len(marker)]) + marker
open(sys.argv[3], "wb").write(data)
EOF
}
"$PROFCOL" convert --to otlp "$PROF/cpu.pb.gz" "$WORK/cpu.plain.otlp"
make_req "$WORK/cpu.plain.otlp" "$WORK/one.otlp" 1
make_req "$WORK/cpu.plain.otlp" "$WORK/two.otlp" 2

start_sink otlp_grpc same
SAME=$SINK_PORT
start_sink otlp_grpc changed
CHANGED=$SINK_PORT
GPORT=$(free_port)
new_ports
cat >"$WORK/config.yaml" <<EOF
receivers:
  otlp:
    protocols: {grpc: {endpoint: 127.0.0.1:$GPORT}}
processors:
  attributes:
    actions:
      - {key: deployment.environment.name, action: insert, value: test}
exporters:
  otlp/same: {endpoint: 127.0.0.1:$SAME, insecure: true}
  otlp/changed: {endpoint: 127.0.0.1:$CHANGED, insecure: true}
service:
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
  pipelines:
    profiles/same: {receivers: [otlp], exporters: [otlp/same]}
    profiles/changed:
      receivers: [otlp]
      processors: [attributes]
      exporters: [otlp/changed]
EOF
start_profcol profcol "$WORK/config.yaml"

send() { # FILE
  "$PY" "$HERE/otlp_receiver_client.py" "$WORK/pb" grpc "127.0.0.1:$GPORT" "$1" \
    >>"$WORK/client.log" 2>&1 || die "the OTLP client failed: $(tail -1 "$WORK/client.log")"
}

# show REQ: "resources=N marker=0|1 attrs=k=v,..;k=v,.." of a recorded request
show() {
  "$PY" - "$WORK/pb" "$1" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
from opentelemetry.proto.collector.profiles.v1development import profiles_service_pb2 as ps
data = open(sys.argv[2], "rb").read()
req = ps.ExportProfilesServiceRequest()
req.ParseFromString(data)
def val(v):
    return v.string_value if v.HasField("string_value") else str(v.int_value)
attrs = ";".join(",".join("%s=%s" % (a.key, val(a.value))
                          for a in sorted(r.resource.attributes, key=lambda a: a.key))
                 for r in req.resource_profiles)
print("resources=%d marker=%d attrs=%s" % (len(req.resource_profiles),
      int(b"unknown to profcol" in data), attrs))
EOF
}

echo "== (a) nothing changed: the bytes as sent"
send "$WORK/one.otlp"
wait_stat same accepted_requests 1 20 || die "otlp/same got no request"
wait_stat changed accepted_requests 1 20 || die "otlp/changed got no request"
if cmp -s "$WORK/one.otlp" "$WORK/same/r0001.otlp"; then
  pass "(a) otlp/same got the $(stat -c %s "$WORK/one.otlp") bytes sent, unchanged"
else
  fail "(a) otlp/same got other bytes: $(show "$WORK/same/r0001.otlp")"
fi

echo "== (b) an attribute inserted: encoded again"
got=$(show "$WORK/changed/r0001.otlp")
want="resources=1 marker=0 attrs=deployment.environment.name=test,relay.copy=0,service.name=checkout"
[ "$got" = "$want" ] && pass "(b) otlp/changed got an encoding: $got" ||
  fail "(b) otlp/changed: $got, want $want"
"$PROFCOL" convert --to pprof "$WORK/changed/r0001.otlp" "$WORK/back_%d.pb.gz" 2>/dev/null ||
  fail "(b) profcol convert refused what otlp/changed got"
"$CHECK" "$PROF/cpu.pb.gz" "$WORK/back_0.pb.gz" >/dev/null 2>&1 &&
  pass "(b) the profile otlp/changed got equals the input" ||
  fail "(b) the profile otlp/changed got differs from the input"

echo "== (c) two resources: encoded again, both in one request"
send "$WORK/two.otlp"
wait_stat same accepted_requests 2 20 || die "otlp/same got no second request"
got=$(show "$WORK/same/r0002.otlp")
want="resources=2 marker=0 attrs=relay.copy=0,service.name=checkout;relay.copy=1,service.name=checkout"
[ "$got" = "$want" ] && pass "(c) otlp/same got an encoding: $got" || fail "(c) otlp/same: $got, want $want"
[ "$(stat_of same invalid)" = 0 ] && [ "$(stat_of changed invalid)" = 0 ] &&
  pass "every request passed the v1.11.0 checks" || fail "a sink refused a request"

echo "== (d) gzip in, the same gzip out"
LOADGEN=$BUILD/bench_loadgen
[ -x "$LOADGEN" ] || die "$LOADGEN is not built (make builds it)"
METHOD=/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export
gzip -6 -c "$WORK/one.otlp" >"$WORK/one.otlp.gz"
mkdir -p "$WORK/wire"
WPORT=$(free_port)
start_proc wiresink "$LOADGEN" grpc-sink "$WPORT" save "$WORK/wire"
await wiresink 30 port_open 127.0.0.1 "$WPORT"
G2=$(free_port)
H2=$(free_port)
start_listener httpsink "$WORK/httpsink.port" "$PY" "$HERE/sinks/otlp_sink.py" "$WORK/pb" \
  "$WORK/http" "$WORK/httpsink.port"
HPORT=$SINK_PORT
new_ports
cat >"$WORK/gz.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$G2}
      http: {endpoint: 127.0.0.1:$H2}
exporters:
  otlp: {endpoint: 127.0.0.1:$WPORT, insecure: true}
  otlphttp: {endpoint: "http://127.0.0.1:$HPORT"}
service:
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
  pipelines:
    profiles: {receivers: [otlp], exporters: [otlp, otlphttp]}
EOF
start_profcol gz "$WORK/gz.yaml"
# One call a second for 1 s after the generator's 1 s warm-up: 1 to 3 calls.
"$LOADGEN" grpc "127.0.0.1:$G2" "$METHOD" "$WORK/one.otlp.gz" 1 1 1 1 >"$WORK/gen_gz.out" ||
  die "the gzip sender failed: $(cat "$WORK/gen_gz.out")"
wait_until 20 file_ready "$WORK/wire/m0001.gz" || die "the sink got no gzip message"
n=$(nfiles "$WORK/wire")
if cmp -s "$WORK/one.otlp.gz" "$WORK/wire/m0001.gz"; then
  pass "(d) the sink got the client's $(stat -c %s "$WORK/one.otlp.gz") gzip bytes as sent ($n calls)"
else
  fail "(d) the sink got other gzip bytes ($(stat -c %s "$WORK/wire/m0001.gz"), sent $(stat -c %s "$WORK/one.otlp.gz"))"
fi
"$LOADGEN" grpc "127.0.0.1:$G2" "$METHOD" "$WORK/one.otlp" 1 1 1 1 >"$WORK/gen_plain.out" ||
  die "the plain sender failed: $(cat "$WORK/gen_plain.out")"
# has_own DIR: a file in DIR is profcol's own gzip of the sent bytes (not
# the client's gzip: the generators' calls may still be arriving, in any
# order, so the files are searched, not counted).
has_own() {
  local f
  for f in "$1"/*; do
    if ! cmp -s "$WORK/one.otlp.gz" "$f" && gzip -dc "$f" 2>/dev/null | cmp -s - "$WORK/one.otlp"; then
      return 0
    fi
  done
  return 1
}
wait_until 20 has_own "$WORK/wire" &&
  pass "(d) a plain request went as profcol's own gzip of the sent bytes" ||
  fail "(d) a plain request: no message is profcol's gzip of the sent bytes ($(ls "$WORK/wire" | tr '\n' ' '))"

echo "== (e) the same through the otlphttp exporter"
wait_until 20 file_ready "$WORK/http/000001.body" || die "the HTTP sink got no body"
if cmp -s "$WORK/one.otlp.gz" "$WORK/http/000001.body"; then
  pass "(e) otlphttp sent the client's gzip bytes as the body"
else
  fail "(e) otlphttp sent another body ($(stat -c %s "$WORK/http/000001.body") bytes)"
fi
wait_until 20 has_own "$WORK/http" &&
  pass "(e) a plain request went as its exact bytes, gzipped" ||
  fail "(e) a plain request: no body inflates to the sent bytes"

echo "== (f) OTLP/HTTP gzip in, the same gzip out"
# gzip -1: bytes no earlier request had, found among whatever the sinks
# got (the generators' calls of (d) may still be arriving).
gzip -1 -c "$WORK/one.otlp" >"$WORK/one.otlp.gz1"
code=$(curl -s -o "$WORK/f.out" -w '%{http_code}' --max-time 20 \
  -H 'Content-Type: application/x-protobuf' -H 'Content-Encoding: gzip' \
  --data-binary @"$WORK/one.otlp.gz1" "http://127.0.0.1:$H2/v1development/profiles" || true)
[ "$code" = 200 ] || fail "(f) OTLP/HTTP answered $code: $(head -c 300 "$WORK/f.out")"
has_gz1() { # DIR: a file in DIR holds the bytes of one.otlp.gz1
  local f
  for f in "$1"/*; do cmp -s "$WORK/one.otlp.gz1" "$f" && return 0; done
  return 1
}
wait_until 20 has_gz1 "$WORK/wire" &&
  pass "(f) otlp sent the OTLP/HTTP client's gzip bytes" ||
  fail "(f) otlp did not send the OTLP/HTTP client's $(stat -c %s "$WORK/one.otlp.gz1") gzip bytes ($(ls "$WORK/wire" | tr '\n' ' '))"
wait_until 20 has_gz1 "$WORK/http" &&
  pass "(f) otlphttp sent the OTLP/HTTP client's gzip bytes" ||
  fail "(f) otlphttp did not send the OTLP/HTTP client's gzip bytes"

finish
