#!/usr/bin/env bash
# The `otlp` receiver against real clients:
#   gRPC: python grpcio (stubs generated from proto/otlp at test time) sends
#         real profiles converted with `profcol convert --to otlp`: plain,
#         gzip, tenant metadata, TLS with a throwaway CA + bearer token, mTLS
#         (a client without a certificate is refused), garbage
#         (INVALID_ARGUMENT with the decoder's message), too large
#         (RESOURCE_EXHAUSTED), unknown method (UNIMPLEMENTED), partial
#         success, back-pressure (UNAVAILABLE).
#   HTTP: curl posts protobuf, JSON (protobuf's own JSON encoder, ids as hex;
#         and snake_case names), gzip, zstd, HTTPS + token; wrong content type
#         (415), garbage (400 with a message in the request's content type),
#         too large (413), partial success, back-pressure (503 + Retry-After).
# Every accepted request must come out of a `file` exporter (format otlp)
# with the same data (per series/stack/labels sums, decoded by python
# protobuf), and the process must stay up after every bad input.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# Debian's python3-grpcio / -grpc-tools / -protobuf.
need_py grpc grpc_tools google.protobuf

echo "== fixtures"
fixtures --skip-node
gen_pb
STUBS="$WORK/pb"
CLIENT() { timeout 60 "$PY" "$HERE/otlp_receiver_client.py" "$STUBS" "$@"; }

echo "== requests: real profiles converted to OTLP"
REQS=()
for name in cpu heap goroutine mutex rich cpu_spans; do
  timeout 60 "$PROFCOL" convert --to otlp "$PROF/$name.pb.gz" "$WORK/$name.otlp"
  REQS+=("$WORK/$name.otlp")
done
CLIENT to-json "$WORK/cpu.otlp" "$WORK/cpu.json"
CLIENT to-json "$WORK/heap.otlp" "$WORK/heap_snake.json" --snake
# Converted pprof has no links (span ids stay labels): add some.
NLINKED=$(CLIENT links "$WORK/cpu_spans.otlp" "$WORK/linked.otlp")
CLIENT to-json "$WORK/linked.otlp" "$WORK/linked.json"
grep -q '"traceId": "0102030405060708090a0b0c0d0e0f10"' "$WORK/linked.json" ||
  fail "linked.json has no hex traceId"
PARTIAL_N=$(CLIENT partial "$WORK/goroutine.otlp" "$WORK/partial.otlp")
CLIENT big "$WORK/cpu.otlp" "$WORK/big.otlp" 1500000
head -c 200000 /dev/urandom > "$WORK/random.bin"
printf 'this is not a protobuf' > "$WORK/garbage.bin"

echo "== certificates (throwaway CA)"
CERTS="$WORK/certs"
mkdir -p "$CERTS"
(
  cd "$CERTS"
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=profcol test CA" \
    -keyout ca.key -out ca.crt >/dev/null 2>&1
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout server.key -out server.csr >/dev/null 2>&1
  openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 2 -extfile san.ext -out server.crt >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -subj "/CN=client" \
    -keyout client.key -out client.crt.csr >/dev/null 2>&1
  openssl x509 -req -in client.crt.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
    -days 2 -out client.crt >/dev/null 2>&1
)

echo "== start profcol"
for port in G1 H1 G2 H2 G3 G4 H4 G5 H5 DEAD; do
  printf -v "$port" %s "$(free_port)"
done
new_ports
HAVE_OTLP_EXPORTER=0
if "$PROFCOL" components | grep -c '^exporter *otlp ' >/dev/null; then
  HAVE_OTLP_EXPORTER=1
fi
BUSY_RX=""
BUSY_PIPE=""
if [ $HAVE_OTLP_EXPORTER = 1 ]; then
  # A backend that is down and a queue of one: the third request finds the
  # queue full, which is the receiver's back-pressure signal.
  BUSY_RX="
  otlp/busy:
    protocols:
      grpc: {endpoint: 127.0.0.1:$G5}
      http: {endpoint: 127.0.0.1:$H5}"
  BUSY_PIPE="
    profiles/busy:
      receivers: [otlp/busy]
      exporters: [otlp/dead]"
  BUSY_EXP="
  otlp/dead:
    endpoint: 127.0.0.1:$DEAD
    insecure: true
    retry_on_failure: {initial_interval: 30s}
    sending_queue: {queue_size: 1, num_consumers: 1}"
else
  BUSY_EXP=""
fi
cat > "$WORK/config.yaml" <<EOF
receivers:
  otlp:
    protocols:
      grpc: {endpoint: 127.0.0.1:$G1}
      http: {endpoint: 127.0.0.1:$H1}
  otlp/tls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$G2
        bearer_token: s3cret
        tls: {cert_file: $CERTS/server.crt, key_file: $CERTS/server.key}
      http:
        endpoint: 127.0.0.1:$H2
        bearer_token: s3cret
        tls: {cert_file: $CERTS/server.crt, key_file: $CERTS/server.key}
  otlp/mtls:
    protocols:
      grpc:
        endpoint: 127.0.0.1:$G3
        tls:
          cert_file: $CERTS/server.crt
          key_file: $CERTS/server.key
          client_ca_file: $CERTS/ca.crt
  otlp/small:
    protocols:
      grpc: {endpoint: 127.0.0.1:$G4, max_recv_msg_size_mib: 1}
      http: {endpoint: 127.0.0.1:$H4, max_request_body_size: 64KiB}$BUSY_RX
exporters:
  file:
    path: $WORK/out
    format: otlp
  file/json:
    path: $WORK/outjson
    format: json$BUSY_EXP
service:
  pipelines:
    profiles:
      receivers: [otlp, otlp/tls, otlp/mtls, otlp/small]
      exporters: [file, file/json]$BUSY_PIPE
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
    logs: {level: info}
  shutdown_timeout: 5s
EOF
"$PROFCOL" validate --config "$WORK/config.yaml"
start_profcol profcol "$WORK/config.yaml"

alive() { # after a bad input
  if kill -0 "$PC_PID" 2>/dev/null; then
    pass "still running after $*"
  else
    fail "profcol died after $*"
    cat "$WORK/profcol.log"
    exit 1
  fi
}

SENT=()
grpc_case() { # label, expect-accepted(yes|no), client args...
  local label=$1 keep=$2 out
  shift 2
  if out=$(CLIENT grpc "$@" 2>&1); then
    pass "grpc $label: $out"
    if [ "$keep" != no ]; then SENT+=("$keep"); fi
  else
    fail "grpc $label: $out"
  fi
}

echo "== gRPC"
for r in "${REQS[@]}"; do
  grpc_case "plain $(basename "$r")" "$r" "127.0.0.1:$G1" "$r"
done
grpc_case "gzip" "$WORK/heap.otlp" "127.0.0.1:$G1" "$WORK/heap.otlp" --gzip
grpc_case "tenant metadata" "$WORK/mutex.otlp" "127.0.0.1:$G1" "$WORK/mutex.otlp" --tenant acme
grpc_case "garbage -> INVALID_ARGUMENT" no "127.0.0.1:$G1" "$WORK/garbage.bin" \
  --expect INVALID_ARGUMENT --message "otlp: "
alive "gRPC garbage"
grpc_case "random bytes -> INVALID_ARGUMENT" no "127.0.0.1:$G1" "$WORK/random.bin" \
  --expect INVALID_ARGUMENT
alive "gRPC random bytes"
if out=$(CLIENT unknown-method "127.0.0.1:$G1" 2>&1); then
  pass "grpc unknown method: $out"
else
  fail "grpc unknown method: $out"
fi
grpc_case "partial success ($PARTIAL_N rejected)" "$WORK/goroutine.otlp" "127.0.0.1:$G1" \
  "$WORK/partial.otlp" --rejected "$PARTIAL_N"
grpc_case "TLS + token" "$WORK/cpu.otlp" "127.0.0.1:$G2" "$WORK/cpu.otlp" \
  --ca "$CERTS/ca.crt" --token s3cret --gzip
grpc_case "TLS without token -> UNAUTHENTICATED" no "127.0.0.1:$G2" "$WORK/cpu.otlp" \
  --ca "$CERTS/ca.crt" --expect UNAUTHENTICATED
grpc_case "TLS wrong token -> UNAUTHENTICATED" no "127.0.0.1:$G2" "$WORK/cpu.otlp" \
  --ca "$CERTS/ca.crt" --token wrong --expect UNAUTHENTICATED
grpc_case "plaintext to TLS port -> UNAVAILABLE" no "127.0.0.1:$G2" "$WORK/cpu.otlp" \
  --token s3cret --expect UNAVAILABLE
alive "gRPC auth failures"
grpc_case "mTLS with client certificate" "$WORK/rich.otlp" "127.0.0.1:$G3" "$WORK/rich.otlp" \
  --ca "$CERTS/ca.crt" --cert "$CERTS/client.crt" --key "$CERTS/client.key"
grpc_case "mTLS without client certificate -> refused" no "127.0.0.1:$G3" "$WORK/rich.otlp" \
  --ca "$CERTS/ca.crt" --expect UNAVAILABLE
alive "mTLS refusal"
grpc_case "1.5MB > max_recv_msg_size_mib 1 -> RESOURCE_EXHAUSTED" no "127.0.0.1:$G4" \
  "$WORK/big.otlp" --expect RESOURCE_EXHAUSTED
grpc_case "small receiver, normal request" "$WORK/cpu.otlp" "127.0.0.1:$G4" "$WORK/cpu.otlp"
alive "oversized gRPC message"

echo "== HTTP"
URL1="http://127.0.0.1:$H1/v1development/profiles"
http_case() { # label, expect-status, keep(file|no), curl args...
  local label=$1 want=$2 keep=$3 code
  shift 3
  code=$(curl -s -o "$WORK/resp.body" -D "$WORK/resp.head" -w '%{http_code}' \
    --max-time 30 "$@" || true)
  if [ "$code" = "$want" ]; then
    pass "http $label -> $code $(head -c 160 "$WORK/resp.body" | tr -c '[:print:]' '.')"
    if [ "$keep" != no ]; then SENT+=("$keep"); fi
    return 0
  fi
  fail "http $label -> $code, want $want: $(head -c 300 "$WORK/resp.body")"
  return 1
}
ctype() { grep -i '^content-type:' "$WORK/resp.head" | tr -d '\r' | sed 's/^[^:]*: *//'; }

if http_case "protobuf" 200 "$WORK/heap.otlp" -X POST -H 'Content-Type: application/x-protobuf' \
     --data-binary @"$WORK/heap.otlp" "$URL1"; then
  [ "$(ctype)" = "application/x-protobuf" ] && CLIENT response "$WORK/resp.body" proto >/dev/null &&
    pass "protobuf response is an ExportProfilesServiceResponse" ||
    fail "protobuf response content type '$(ctype)'"
fi
if http_case "JSON (hex ids)" 200 "$WORK/cpu.otlp" -X POST -H 'Content-Type: application/json' \
     --data-binary @"$WORK/cpu.json" "$URL1"; then
  [ "$(ctype)" = "application/json" ] && [ "$(cat "$WORK/resp.body")" = "{}" ] &&
    pass "JSON response is {}" || fail "JSON response: '$(ctype)' $(cat "$WORK/resp.body")"
fi
http_case "JSON with $NLINKED linked samples (hex trace/span ids)" 200 "$WORK/linked.otlp" -X POST \
  -H 'Content-Type: application/json; charset=utf-8' --data-binary @"$WORK/linked.json" "$URL1" || true
http_case "JSON snake_case, base64 ids" 200 "$WORK/heap.otlp" -X POST -H 'Content-Type: application/json' \
  --data-binary @"$WORK/heap_snake.json" "$URL1" || true
gzip -c "$WORK/goroutine.otlp" > "$WORK/goroutine.otlp.gz"
http_case "gzip" 200 "$WORK/goroutine.otlp" -X POST -H 'Content-Type: application/x-protobuf' \
  -H 'Content-Encoding: gzip' --data-binary @"$WORK/goroutine.otlp.gz" "$URL1" || true
zstd -q -c "$WORK/mutex.otlp" > "$WORK/mutex.otlp.zst"
http_case "zstd" 200 "$WORK/mutex.otlp" -X POST -H 'Content-Type: application/x-protobuf' \
  -H 'Content-Encoding: zstd' -H 'X-Scope-OrgID: acme-http' \
  --data-binary @"$WORK/mutex.otlp.zst" "$URL1" || true
http_case "wrong content type" 415 no -X POST -H 'Content-Type: text/plain' \
  --data-binary @"$WORK/cpu.otlp" "$URL1" || true
alive "HTTP 415"
if http_case "garbage protobuf" 400 no -X POST -H 'Content-Type: application/x-protobuf' \
     --data-binary @"$WORK/garbage.bin" "$URL1"; then
  if [ "$(ctype)" = "application/x-protobuf" ] && grep -q "otlp: " "$WORK/resp.body"; then
    pass "400 body is a protobuf Status with the decoder's message"
  else
    fail "400 body: '$(ctype)' $(head -c 200 "$WORK/resp.body")"
  fi
fi
if http_case "garbage JSON" 400 no -X POST -H 'Content-Type: application/json' \
     --data-binary '{"resourceProfiles":[{"scopeProfiles":{}}]}' "$URL1"; then
  if grep -q '"code":3' "$WORK/resp.body" && grep -q 'scopeProfiles: expected an array' "$WORK/resp.body"; then
    pass "400 JSON Status names the field"
  else
    fail "400 JSON body: $(cat "$WORK/resp.body")"
  fi
fi
alive "HTTP garbage"
http_case "too large (64KiB cap)" 413 no -X POST -H 'Content-Type: application/x-protobuf' \
  --data-binary @"$WORK/random.bin" "http://127.0.0.1:$H4/v1development/profiles" || true
alive "HTTP 413"
if http_case "partial success (JSON)" 200 "$WORK/goroutine.otlp" -X POST \
     -H 'Content-Type: application/x-protobuf' --data-binary @"$WORK/partial.otlp" "$URL1"; then
  CLIENT response "$WORK/resp.body" proto --rejected "$PARTIAL_N" >/dev/null &&
    pass "HTTP partial_success rejected_profiles=$PARTIAL_N" || fail "HTTP partial response"
fi
CLIENT to-json "$WORK/partial.otlp" "$WORK/partial.json"
if http_case "partial success as JSON" 200 "$WORK/goroutine.otlp" -X POST \
     -H 'Content-Type: application/json' --data-binary @"$WORK/partial.json" "$URL1"; then
  if out=$(CLIENT response "$WORK/resp.body" json --rejected "$PARTIAL_N"); then
    pass "JSON partialSuccess: $out"
  else
    fail "JSON partialSuccess: $out"
  fi
fi
http_case "HTTPS + token" 200 "$WORK/rich.otlp" -X POST --cacert "$CERTS/ca.crt" \
  -H 'Authorization: Bearer s3cret' -H 'Content-Type: application/x-protobuf' \
  --data-binary @"$WORK/rich.otlp" "https://localhost:$H2/v1development/profiles" || true
http_case "HTTPS without token" 401 no -X POST --cacert "$CERTS/ca.crt" \
  -H 'Content-Type: application/x-protobuf' \
  --data-binary @"$WORK/rich.otlp" "https://localhost:$H2/v1development/profiles" || true
alive "HTTP 401"

if [ $HAVE_OTLP_EXPORTER = 1 ]; then
  echo "== back-pressure"
  got=""
  for _ in 1 2 3 4 5; do
    if out=$(CLIENT grpc "127.0.0.1:$G5" "$WORK/cpu.otlp" --expect UNAVAILABLE 2>&1); then
      got="$out"
      break
    fi
  done
  [ -n "$got" ] && pass "grpc full queue -> $got" || fail "grpc never saw UNAVAILABLE"
  http_case "full queue" 503 no -X POST -H 'Content-Type: application/x-protobuf' \
    --data-binary @"$WORK/cpu.otlp" "http://127.0.0.1:$H5/v1development/profiles" &&
    { grep -qi '^retry-after: *[0-9]' "$WORK/resp.head" && pass "503 carries Retry-After" ||
      fail "503 without Retry-After"; }
  alive "back-pressure"
else
  echo "!!! back-pressure cases skipped: no otlp exporter in this build"
fi

echo "== self-metrics"
metrics=$(scrape)
if echo "$metrics" | grep -E 'receiver="otlp"' | grep -c refused >/dev/null; then
  pass "refused input is counted in /metrics"
else
  fail "no refused counter for receiver otlp"
fi

echo "== exported data equals accepted data"
rc=0
stop profcol || rc=$?
if [ $rc -eq 0 ]; then
  pass "clean shutdown (exit 0)"
else
  fail "profcol exited with $rc on SIGTERM"
  tail -20 "$WORK/profcol.log"
fi
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK/profcol.log"; then
  fail "sanitizer report in the log"
  grep -E -A12 'AddressSanitizer|LeakSanitizer|runtime error:' "$WORK/profcol.log" | head -60
fi
if out=$(CLIENT compare --sent "${SENT[@]}" --got "$WORK/out"); then
  pass "file exporter: $out"
else
  fail "file exporter: $out"
fi
# The comparison can fail: one request more than was accepted is noticed.
if CLIENT compare --sent "${SENT[@]}" "$WORK/heap.otlp" --got "$WORK/out" >/dev/null; then
  fail "compare did not notice a missing request"
else
  pass "compare notices a request that was not exported"
fi
if grep -q '"tenant":"acme"' "$WORK"/outjson/*.jsonl && grep -q '"tenant":"acme-http"' "$WORK"/outjson/*.jsonl; then
  pass "tenant from x-scope-orgid (gRPC metadata and HTTP header) reaches the exporter"
else
  fail "tenant not found in the JSON-lines export"
fi
if grep -q '"test.rejected"' "$WORK"/outjson/*.jsonl; then
  fail "a rejected resource was exported"
else
  pass "rejected resources are not exported"
fi
if grep -qiE 'level=error' "$WORK/profcol.log"; then
  grep -iE 'level=error' "$WORK/profcol.log" | head -5
fi

finish
