#!/usr/bin/env bash
# Lossless relays through OTLP: real Go pprofs -> profcol A (file receiver,
# `otlp` exporters) -> profcol B (`otlp` receivers) -> `pyroscope` and
# `parca` exporters -> the Python Pyroscope and Parca sinks.
#   (a) A's otlp/with has include_original_payload: true; B forwards the
#       original bytes: what the Pyroscope sink stores is byte-identical to
#       each input pprof, and so is what the Parca sink stores
#   (b) B also runs the same OTLP input through `tracelink`, which changes
#       the payload of the profile with span labels (cpu_spans: it drops
#       malformed ids): that one is re-encoded, not the original bytes, and
#       equal (pprofcheck) to what tracelink makes of the original pprof
#       read from a file in B (no OTLP hop); the profiles tracelink leaves
#       alone still arrive as the original bytes
#   (c) A's otlp/without (default: no original payload) -> re-encoded,
#       equal by pprofcheck
#   (d) A's default gzip (level 1, handed to gRPC as an already
#       compressed message) is decoded by B's gRPC C core server, and the
#       bytes on the wire (a counting TCP relay between A and B) are well
#       under the uncompressed requests' size
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py grpc grpc_tools google.protobuf

echo "== fixtures"
fixtures
INPUTS="cpu heap goroutine mutex cpu_spans"
gen_pb
gen_pyro_pb
mkdir -p "$WORK/in" "$WORK/ref"
start_pyro_sink pyro
PYRO=$SINK_PORT
start_sink parca parca
PARCA=$SINK_PORT

# A counting TCP relay: client -> server bytes go to $WORK/relay.bytes.
RELAY_PORT=$(free_port)
WITHOUT_PORT=$(free_port)
cat >"$WORK/relay.py" <<'EOF'
import socket, sys, threading
lport, dport, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
total = [0]
lock = threading.Lock()
def pipe(src, dst, count):
    try:
        while True:
            d = src.recv(65536)
            if not d:
                break
            if count:
                with lock:
                    total[0] += len(d)
                    open(out, "w").write(str(total[0]))
            dst.sendall(d)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(16)
open(sys.argv[4], "w").write(str(lport))  # listening: the test may go on
while True:
    c, _ = ls.accept()
    try:
        s = socket.create_connection(("127.0.0.1", dport))
    except OSError:
        c.close()
        continue
    threading.Thread(target=pipe, args=(c, s, True), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c, False), daemon=True).start()
EOF
start_listener relay "$WORK/relay.port" "$PY" "$WORK/relay.py" "$RELAY_PORT" "$WITHOUT_PORT" \
  "$WORK/relay.bytes" "$WORK/relay.port"

echo "== profcol B: otlp receivers -> pyroscope, parca"
WITH_PORT=$(free_port)
new_ports
cat >"$WORK/b.yaml" <<EOF
receivers:
  otlp/with: {protocols: {grpc: {endpoint: 127.0.0.1:$WITH_PORT}}}
  otlp/without: {protocols: {grpc: {endpoint: 127.0.0.1:$WITHOUT_PORT}}}
  file/ref: {include: $WORK/ref, pattern: "*.pb.gz", poll_interval: 100ms}
processors:
  tracelink: {}
exporters:
  pyroscope/with: {endpoint: "http://127.0.0.1:$PYRO", external_labels: {route: with}}
  pyroscope/changed: {endpoint: "http://127.0.0.1:$PYRO", external_labels: {route: changed}}
  pyroscope/without: {endpoint: "http://127.0.0.1:$PYRO", external_labels: {route: without}}
  pyroscope/ref: {endpoint: "http://127.0.0.1:$PYRO", external_labels: {route: ref}}
  parca: {endpoint: "127.0.0.1:$PARCA", insecure: true}
service:
  pipelines:
    profiles/with: {receivers: [otlp/with], exporters: [pyroscope/with, parca]}
    profiles/changed: {receivers: [otlp/with], processors: [tracelink], exporters: [pyroscope/changed]}
    profiles/without: {receivers: [otlp/without], exporters: [pyroscope/without]}
    profiles/ref: {receivers: [file/ref], processors: [tracelink], exporters: [pyroscope/ref]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF
start_profcol b "$WORK/b.yaml"

echo "== profcol A: file receiver -> otlp exporters"
new_ports
cat >"$WORK/a.yaml" <<EOF
receivers:
  file: {include: $WORK/in, pattern: "*.pb.gz", poll_interval: 100ms}
exporters:
  otlp/with:
    endpoint: 127.0.0.1:$WITH_PORT
    insecure: true
    include_original_payload: true
    retry_on_failure: {initial_interval: 100ms}
  otlp/without:
    endpoint: 127.0.0.1:$RELAY_PORT
    insecure: true
    retry_on_failure: {initial_interval: 100ms}
service:
  pipelines:
    profiles: {receivers: [file], exporters: [otlp/with, otlp/without]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF
"$PROFCOL" validate --config "$WORK/a.yaml" >/dev/null
start_profcol a "$WORK/a.yaml"
for n in $INPUTS; do drop "$PROF/$n.pb.gz" "$n.pb.gz"; done
cp "$PROF/cpu_spans.pb.gz" "$WORK/ref/.cpu_spans.pb.gz"
mv "$WORK/ref/.cpu_spans.pb.gz" "$WORK/ref/cpu_spans.pb.gz"

n=$(echo $INPUTS | wc -w)
want=$((3 * n + 1))
for _ in $(seq 150); do
  [ "$(ls "$WORK"/pyro/*.json 2>/dev/null | wc -l)" -ge "$want" ] &&
    [ "$(stat_of parca series)" -ge "$n" ] && break
  sleep 0.2
done

# One line per (sink/route, input): IDENTICAL, EQUAL (pprofcheck only),
# DIFFERENT or MISSING.
"$PY" - "$WORK" "$PROF" "$CHECK" $INPUTS >"$WORK/verdicts.txt" <<'EOF'
import glob, json, os, subprocess, sys
work, prof, check, names = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
routes = {}
for j in glob.glob(work + "/pyro/*.json"):
    meta = json.load(open(j))
    data = glob.glob(j[:-5] + ".pb*")
    if data:
        routes.setdefault("pyroscope/" + dict(meta["labels"]).get("route", "?"), []).append(data[0])
routes["parca"] = [j[:-5] + ".pb.gz" for j in glob.glob(work + "/parca/r*_s*.json")]
# cpu_spans through tracelink: compared with tracelink's output without
# the OTLP hop (route ref) rather than with the input it changed.
ref = routes.get("pyroscope/ref", [])
spans = open(os.path.join(prof, "cpu_spans.pb.gz"), "rb").read()
got = "MISSING"
for f in routes.get("pyroscope/changed", []):
    if open(f, "rb").read() == spans:
        got = "IDENTICAL_TO_INPUT"
        break
    if any(subprocess.run([check, r, f], capture_output=True).returncode == 0 for r in ref):
        got = "EQUAL_TO_REF"
print("tracelinked", "cpu_spans", got, len(ref))
for route in ("pyroscope/with", "pyroscope/changed", "pyroscope/without", "parca"):
    files = routes.get(route, [])
    for n in names:
        orig_path = os.path.join(prof, n + ".pb.gz")
        orig = open(orig_path, "rb").read()
        verdict = "MISSING"
        for f in files:
            if open(f, "rb").read() == orig:
                verdict = "IDENTICAL"
                break
        if verdict == "MISSING":
            for f in files:
                if subprocess.run([check, orig_path, f], capture_output=True).returncode == 0:
                    verdict = "EQUAL"
                    break
        print(route, n, verdict, len(files))
EOF
cat "$WORK/verdicts.txt"
verdict() { awk -v r="$1" -v n="$2" '$1 == r && $2 == n {print $3}' "$WORK/verdicts.txt"; }

echo "== (a) include_original_payload: original bytes at Pyroscope and Parca"
for n in $INPUTS; do
  [ "$n" = cpu_spans ] && continue
  v=$(verdict pyroscope/with "$n")
  [ "$v" = IDENTICAL ] && pass "(a) pyroscope: $n byte-identical" || fail "(a) pyroscope: $n $v"
  v=$(verdict parca "$n")
  [ "$v" = IDENTICAL ] && pass "(a) parca: $n byte-identical" || fail "(a) parca: $n $v"
done
v=$(verdict pyroscope/with cpu_spans)
[ "$v" = IDENTICAL ] && pass "(a) pyroscope: cpu_spans byte-identical (no processor)" ||
  fail "(a) pyroscope: cpu_spans $v"

echo "== (b) a processor that changes the payload invalidates it"
v=$(verdict tracelinked cpu_spans)
[ "$v" = EQUAL_TO_REF ] &&
  pass "(b) cpu_spans through tracelink: re-encoded, equal (pprofcheck) to tracelink without the hop" ||
  fail "(b) cpu_spans through tracelink: $v (want EQUAL_TO_REF)"
v=$(verdict pyroscope/changed cpu_spans)
[ "$v" != IDENTICAL ] && pass "(b) cpu_spans through tracelink: not the original bytes ($v)" ||
  fail "(b) cpu_spans through tracelink: the original bytes, though tracelink changed it"
for n in cpu heap; do
  v=$(verdict pyroscope/changed "$n")
  [ "$v" = IDENTICAL ] && pass "(b) $n untouched by tracelink: byte-identical" ||
    fail "(b) $n untouched by tracelink: $v"
done

echo "== (c) without include_original_payload: re-encoded"
for n in $INPUTS; do
  v=$(verdict pyroscope/without "$n")
  [ "$v" = EQUAL ] && pass "(c) $n re-encoded, equal (pprofcheck)" || fail "(c) $n $v (want EQUAL)"
done

echo "== (d) gzip by profcol, decoded by gRPC C core; bytes on the wire"
plain=0
for n in $INPUTS; do
  "$PROFCOL" convert --to otlp "$PROF/$n.pb.gz" "$WORK/$n.otlp"
  plain=$((plain + $(stat -c %s "$WORK/$n.otlp")))
done
wire=$(cat "$WORK/relay.bytes" 2>/dev/null || echo 0)
echo "uncompressed OTLP requests: $plain bytes; on the wire (with HTTP/2 framing): $wire bytes"
[ "$wire" -gt 0 ] && [ $((wire * 2)) -lt "$plain" ] &&
  pass "(d) wire bytes $wire < half of $plain: the messages went compressed" ||
  fail "(d) wire bytes $wire vs uncompressed $plain"
errs=$(cat "$WORK/a.log" "$WORK/b.log" | { grep -ci "decompress\|compress.*fail\|INTERNAL" || true; })
[ "$errs" = 0 ] && pass "(d) no compression errors logged" || fail "(d) $errs compression errors logged"
[ "$(stat_of parca invalid)" = 0 ] && pass "(a) parca sink refused nothing" ||
  fail "(a) parca sink refused: $(stat_of parca errors)"

finish
