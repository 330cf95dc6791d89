#!/usr/bin/env bash
# The `loadbalancing` exporter in front of several real profcol gateways
# (each: otlp receiver on its own loopback address, same port -> file
# exporter, JSON lines). A front profcol reads OTLP request files (several
# series per file, so one batch spans several gateways) with the file
# receiver and routes each series by service.name.
#   (a) resolver.static: every profile arrives exactly once, at the gateway
#       that owns its service (the owner computed by an independent
#       implementation of the ring: lb_check.py)
#   (b) one gateway down: its parts are retried until it is back, the parts
#       the others took are not sent again (still exactly once), outcomes
#       are counted per backend
#   (c) resolver.dns against a real DNS server (dnsmasq on a loopback port,
#       --addn-hosts file changed during the run + SIGHUP): the front follows
#       2 -> 4 -> 3 gateways and routes every phase by the ring of its set
#   (d) bad configurations are refused by `profcol validate` with a message
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_py grpc_tools google.protobuf
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
[ -x "$DNSMASQ" ] || die "dnsmasq not found (Debian dnsmasq-base)"
LB_CHECK="$HERE/lb_check.py"

gen_pb
mkdir -p "$WORK/in"
"$PROFCOL" convert --to otlp "$SRC/tests/fuzz/corpus/fuzz_pprof/cpu_dense.pb.gz" \
  "$WORK/template.pb"
PORT=$(free_port)
NSERV=24

# ---- gateways: 127.0.0.N:PORT ---------------------------------------------
start_gateway() { # N
  local n=$1
  mkdir -p "$WORK/gw$n"
  cat > "$WORK/gw$n.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.$n:$PORT
exporters:
  file:
    path: $WORK/gw$n/out
    format: json
service:
  telemetry:
    metrics: {address: 127.0.0.1:$(free_port)}
    health: {address: 127.0.0.1:$(free_port)}
  pipelines:
    profiles:
      receivers: [otlp]
      exporters: [file]
YAML
  start_proc "gw$n" "$PROFCOL" --config "$WORK/gw$n.yaml"
  await "gw$n" 10 port_open "127.0.0.$n" "$PORT"
}

stop_gateway() { stop "gw$1" || true; }

GWARGS=()
for n in 2 3 4 5; do GWARGS+=("127.0.0.$n:$PORT=$WORK/gw$n"); done

# ---- the front --------------------------------------------------------------
new_ports
front_config() { # FILE RESOLVER-YAML
  cat > "$1" <<YAML
receivers:
  file:
    include: $WORK/in
    pattern: "*.pb"
    poll_interval: 100ms
    delete_after_read: true
exporters:
  loadbalancing:
    routing_key: service
    protocol:
      otlp:
        insecure: true
        timeout: 2s
    resolver:
$2
    retry_on_failure:
      initial_interval: 200ms
      max_interval: 500ms
      max_elapsed_time: 120s
    sending_queue:
      num_consumers: 4
service:
  telemetry:
    logs: {level: info}
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
  pipelines:
    profiles:
      receivers: [file]
      exporters: [loadbalancing]
YAML
}

start_front() { # CONFIG: a new log each time (wait_members reads its last line)
  : >"$WORK/front.log"
  start_profcol front "$1"
}

stop_front() { stop front || true; }

# ---- phases: which seqs were sent with which member set ---------------------
echo "[]" > "$WORK/phases.json"
NEXT=0
send_phase() { # NAME COUNT MEMBER...
  local name=$1 count=$2
  shift 2
  "$PY" - "$WORK/phases.json" "$name" "$NEXT" "$count" "$NSERV" "$@" <<'PYEOF'
import json, sys
p = sys.argv[1]
ph = json.load(open(p))
ph.append({"name": sys.argv[2], "first": int(sys.argv[3]),
           "count": int(sys.argv[4]), "nservices": int(sys.argv[5]),
           "members": sys.argv[6:]})
json.dump(ph, open(p, "w"))
PYEOF
  "$PY" "$LB_CHECK" gen "$WORK/pb" "$WORK/template.pb" "$WORK/in" "$NEXT" "$count" 6 "$NSERV"
  NEXT=$((NEXT + count))
}

# wait_delivered SECONDS: until every phase checks out (or time is up).
wait_delivered() {
  local end=$((SECONDS + $1))
  while [ $SECONDS -lt $end ]; do
    "$PY" "$LB_CHECK" check "$WORK/phases.json" "${GWARGS[@]}" > "$WORK/check.out" 2>&1 &&
      return 0
    sleep 0.3
  done
  return 1
}

report_check() { # LABEL
  if wait_delivered "${2:-30}"; then
    pass "$1: $(tail -1 "$WORK/check.out")"
  else
    fail "$1"; cat "$WORK/check.out"; tail -20 "$WORK/front.log"
  fi
}

wait_members() { # EXPECTED-MEMBERS-STRING SECONDS
  local end=$((SECONDS + $2))
  while [ $SECONDS -lt $end ]; do
    # logfmt quotes the value only when it needs quotes
    grep -F "backends changed" "$WORK/front.log" | tail -1 |
      grep -qE "members=\"?${1//./\\.}\"?( |\$)" && return 0
    sleep 0.1
  done
  return 1
}

G2=127.0.0.2:$PORT G3=127.0.0.3:$PORT G4=127.0.0.4:$PORT G5=127.0.0.5:$PORT

echo "== (a) resolver.static over 3 gateways"
start_gateway 2; start_gateway 3; start_gateway 4
front_config "$WORK/front-static.yaml" "      static:
        hostnames: [$G2, $G3, $G4]"
start_front "$WORK/front-static.yaml"
send_phase static 120 "$G2" "$G3" "$G4"
report_check "static: exactly once, each at its service's owner"
# metric_sum: the series whose whole label set is given (one each).
v=$(metric_sum profcol_loadbalancer_num_backends '{exporter="loadbalancing"}')
[ "$v" = 3 ] && pass "num_backends = 3" || fail "num_backends = $v"

echo "== (b) one gateway down, then back"
stop_gateway 3
send_phase static-gw3-down 120 "$G2" "$G3" "$G4"
sleep 2
v=$(metric_sum profcol_loadbalancer_backend_outcome_total "{exporter=\"loadbalancing\",backend=\"$G3\",success=\"false\"")
[ "${v%.*}" -ge 1 ] && pass "failures toward the stopped gateway counted ($v)" ||
  fail "no failure counted for $G3 ($v)"
start_gateway 3
report_check "gateway down and back: nothing lost, nothing sent twice" 60
pass "backend outcomes: $(scrape | grep -c '^profcol_loadbalancer_backend_outcome_total') series"
stop_front

echo "== (c) resolver.dns with dnsmasq"
DNSPORT=$(free_port)
printf '127.0.0.2 gw.profcol.test\n127.0.0.3 gw.profcol.test\n' > "$WORK/hosts"
start_proc dns "$DNSMASQ" -k --conf-file=/dev/null --port="$DNSPORT" --listen-address=127.0.0.1 \
  --bind-interfaces --no-resolv --no-hosts --addn-hosts="$WORK/hosts" \
  --local-ttl=0 --user="$(id -un)" --pid-file="$WORK/dnsmasq.pid" \
  --log-facility="$WORK/dnsmasq.log"
DNS_PID=$LAST_PID
front_config "$WORK/front-dns.yaml" "      dns:
        hostname: gw.profcol.test
        port: $PORT
        interval: 300ms
        timeout: 1s
        server: 127.0.0.1:$DNSPORT"
"$PROFCOL" validate --config "$WORK/front-dns.yaml" > "$WORK/validate.out" 2>&1 ||
  { cat "$WORK/validate.out"; fail "dns config does not validate"; }
start_front "$WORK/front-dns.yaml"
if wait_members "$G2,$G3" 10; then pass "dns: 2 gateways resolved"; else
  fail "dns: first resolution"; tail -5 "$WORK/front.log"; fi
send_phase dns-2 120 "$G2" "$G3"
report_check "dns, 2 gateways"

start_gateway 5
printf '127.0.0.2 gw.profcol.test\n127.0.0.3 gw.profcol.test\n127.0.0.4 gw.profcol.test\n127.0.0.5 gw.profcol.test\n' \
  > "$WORK/hosts"
kill -HUP "$DNS_PID"
if wait_members "$G2,$G3,$G4,$G5" 10; then pass "dns: grew to 4 gateways"; else
  fail "dns: growth not seen"; tail -5 "$WORK/front.log"; fi
send_phase dns-4 120 "$G2" "$G3" "$G4" "$G5"
report_check "dns, 4 gateways"

printf '127.0.0.3 gw.profcol.test\n127.0.0.4 gw.profcol.test\n127.0.0.5 gw.profcol.test\n' > "$WORK/hosts"
kill -HUP "$DNS_PID"
if wait_members "$G3,$G4,$G5" 10; then pass "dns: shrank to 3 gateways"; else
  fail "dns: shrink not seen"; tail -5 "$WORK/front.log"; fi
send_phase dns-3 120 "$G3" "$G4" "$G5"
report_check "dns, 3 gateways (127.0.0.2 removed)"
# Moving only what had to: services whose owner changed between the
# 4-member and 3-member sets are exactly those 127.0.0.2 owned.
moved=$("$PY" - "$LB_CHECK" "$NSERV" "$G2" "$G3" "$G4" "$G5" <<'PYEOF'
import importlib.util, sys
spec = importlib.util.spec_from_file_location("lb", sys.argv[1])
lb = importlib.util.module_from_spec(spec); spec.loader.exec_module(lb)
n = int(sys.argv[2]); g = sys.argv[3:]
a, b = lb.Ring(g), lb.Ring(g[1:])
bad = [s for s in range(n) if a.owner("svc-%d" % s) != b.owner("svc-%d" % s)
       and a.owner("svc-%d" % s) != g[0]]
moved = sum(a.owner("svc-%d" % s) != b.owner("svc-%d" % s) for s in range(n))
print("%d %d" % (moved, len(bad)))
PYEOF
)
[ "${moved#* }" = 0 ] && pass "removal moved only the removed gateway's services (${moved% *} of $NSERV)" ||
  fail "removal moved other services: $moved"
v=$(metric_sum profcol_loadbalancer_num_resolutions_total '{exporter="loadbalancing",success="true"}')
[ "${v%.*}" -ge 3 ] && pass "resolutions counted ($v)" || fail "resolutions = $v"
v=$(metric_sum profcol_loadbalancer_num_backends '{exporter="loadbalancing"}')
[ "$v" = 3 ] && pass "num_backends = 3" || fail "num_backends = $v"

# The DNS server going away keeps the last known set.
stop dns || true
send_phase dns-down 60 "$G3" "$G4" "$G5"
report_check "DNS server gone: the known gateways keep receiving"
grep -q "DNS resolution failed, keeping the known backends" "$WORK/front.log" &&
  pass "DNS failure logged" || fail "DNS failure not logged"
stop_front

echo "== (d) validation"
bad_config() { # LABEL EXPECTED-SUBSTRING RESOLVER-AND-PROTOCOL-YAML
  cat > "$WORK/bad.yaml" <<YAML
receivers:
  file: {include: $WORK/in}
exporters:
  loadbalancing:
$3
service:
  pipelines:
    profiles: {receivers: [file], exporters: [loadbalancing]}
YAML
  if "$PROFCOL" validate --config "$WORK/bad.yaml" > "$WORK/bad.out" 2>&1; then
    fail "$1: accepted"
  elif grep -qF "$2" "$WORK/bad.out"; then
    pass "$1: $(grep -F "$2" "$WORK/bad.out" | head -1)"
  else
    fail "$1: message"; cat "$WORK/bad.out"
  fi
}
bad_config "endpoint set" "protocol.otlp.endpoint must not be set" \
"    protocol: {otlp: {endpoint: x:4317}}
    resolver: {static: {hostnames: [a:4317]}}"
bad_config "two resolvers" "set exactly one of" \
"    resolver: {static: {hostnames: [a:4317]}, dns: {hostname: gw}}"
bad_config "no resolver" "resolver" "    routing_key: service"
bad_config "bad dns server" "expected IPv4:port" \
"    resolver: {dns: {hostname: gw, server: localhost}}"
bad_config "bad routing key" "routing_key" \
"    routing_key: traceID
    resolver: {static: {hostnames: [a:4317]}}"

finish
