#!/usr/bin/env bash
# test_profilemetrics.sh: the profilemetrics exporter with a real Prometheus
# (Debian's `prometheus`, on loopback, temporary storage) that scrapes its
# /metrics every second and receives its remote writes.
#
# A synthetic run (profilemetrics_drive.py): svcA and svcB upload 1 s of CPU
# every second through the Pyroscope receiver for PHASE seconds, then svcA
# 1.2 s for PHASE more. The alert expression of the Pyroscope docs,
#   rate(pyroscope_profiles_cpu_total{env="production"}[1h])
#     / rate(pyroscope_profiles_cpu_total{env="production"}[1h] offset 1d)
# cannot wait a day: it is asked unchanged but for the range ([20s]) and the
# offset (30s, one phase), at the end of the run, through the HTTP API. It
# must give 1.2 for svcA and 1.0 for svcB, within the jitter of one-second
# scrapes over 20 s windows (+-0.1), for both the scraped and the
# remote-written series.
# Exact checks: the counters (66 s for svcA, 60 s for svcB) on /metrics and
# in Prometheus from both paths; the function rule (0.6 of the CPU is under
# main.handle); the per-sample-label rule (span_name); profiles_total; a
# promtool lint of the exposition. Then a reload that changes the rules:
# the new instance takes the endpoint over and serves its new rule.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_cmd prometheus "Debian package: prometheus"
need_cmd promtool "Debian package: prometheus"
gen_pb

PHASE=${PROFILEMETRICS_PHASE:-30}
new_ports
RX_PORT=$(free_port)
PM_PORT=$(free_port)
PROM_PORT=$(free_port)
PROM="http://127.0.0.1:$PROM_PORT"

cat > "$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: profilemetrics
    static_configs:
      - targets: ["127.0.0.1:$PM_PORT"]
YAML
cat > "$WORK/config.yaml" <<YAML
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$RX_PORT
exporters:
  profilemetrics:
    endpoint: 127.0.0.1:$PM_PORT
    rules:
      - name: pyroscope_profiles_cpu_total
        selector: '{__name__="process_cpu"}'
        sample_type: cpu
        group_by: [service_name, env]
      - name: profiles_handle_cpu_seconds_total
        selector: '{__name__="process_cpu"}'
        sample_type: cpu
        function: '^main\.(handle|serve)'
        group_by: [service_name]
      - name: profiles_span_cpu_seconds_total
        sample_type: cpu
        group_by: [service_name, span_name]
    remote_write:
      endpoint: $PROM/api/v1/write
      interval: 1s
service:
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  pipelines:
    profiles:
      receivers: [pyroscope]
      exporters: [profilemetrics]
YAML

echo "== start prometheus and profcol"
start_proc prometheus prometheus --config.file="$WORK/prometheus.yml" \
  --storage.tsdb.path="$WORK/prom" --web.listen-address="127.0.0.1:$PROM_PORT" \
  --web.enable-remote-write-receiver --log.level=warn
await prometheus 60 curl -sf "$PROM/-/ready" -o /dev/null
start_profcol profcol "$WORK/config.yaml"

echo "== synthetic run: 2 x $PHASE s"
start_proc drive "$PY" "$HERE/profilemetrics_drive.py" "$WORK/pb" \
  "http://127.0.0.1:$RX_PORT/ingest" "$PHASE" "$WORK/t0"
reap drive $((2 * PHASE + 60)) ||
  die "driver failed: $(tail -n 5 "$WORK/drive.log"); profcol's log: $(tail -n 30 "$WORK/profcol.log")"
T0=$(cat "$WORK/t0")
# Two more scrapes and pushes after the last upload.
sleep 3

# query EXPR [TIME]: instant query; prints "labels value" lines, sorted.
query() {
  local args=(--data-urlencode "query=$1")
  [ -n "${2:-}" ] && args+=(--data-urlencode "time=$2")
  curl -sf --max-time 10 "$PROM/api/v1/query" "${args[@]}" | "$PY" -c '
import json, sys
r = json.load(sys.stdin)
assert r["status"] == "success", r
for s in sorted(r["data"]["result"], key=lambda s: sorted(s["metric"].items())):
    m = s["metric"]
    print("%s/%s %s" % (m.get("service_name", "-"), m.get("job", "remote_write"), s["value"][1]))
'
}
# near A B TOL: |A - B| <= TOL
near() { "$PY" -c "import sys; sys.exit(abs($1 - $2) > $3)"; }

echo "== the alert expression (range 20s, offset one phase)"
EXPR='rate(pyroscope_profiles_cpu_total{env="production"}[20s]) / rate(pyroscope_profiles_cpu_total{env="production"}[20s] offset '"$PHASE"'s)'
AT=$("$PY" -c "print($T0 + 2 * $PHASE - 1.5)")
query "$EXPR" "$AT" | tee "$WORK/ratio"
for src in profilemetrics remote_write; do
  a=$(awk -v k="svcA/$src" '$1 == k {print $2}' "$WORK/ratio")
  b=$(awk -v k="svcB/$src" '$1 == k {print $2}' "$WORK/ratio")
  if [ -n "$a" ] && [ -n "$b" ] && near "$a" 1.2 0.1 && near "$b" 1.0 0.1; then
    pass "$src: Prometheus computes svcA $a (want 1.2), svcB $b (want 1.0)"
  else
    fail "$src: ratios svcA='$a' svcB='$b', want 1.2 and 1.0 +-0.1"
  fi
done

echo "== the counters, exactly"
WANT_A=$("$PY" -c "print($PHASE * 1.0 + $PHASE * 1.2)")
WANT_B=$((2 * PHASE))
curl -sf "http://127.0.0.1:$PM_PORT/metrics" >"$WORK/pm.txt" || die "GET /metrics"
got=$(awk '/^pyroscope_profiles_cpu_total\{service_name="svcA",env="production"\}/ {print $NF}' "$WORK/pm.txt")
near "${got:-0}" "$WANT_A" 1e-6 && pass "/metrics: svcA $got s" || { cat "$WORK/pm.txt"; fail "/metrics svcA '$got', want $WANT_A"; }
query 'pyroscope_profiles_cpu_total' | tee "$WORK/totals"
for s in svcA svcB; do
  want=$WANT_A; [ $s = svcB ] && want=$WANT_B
  for src in profilemetrics remote_write; do
    v=$(awk -v k="$s/$src" '$1 == k {print $2}' "$WORK/totals")
    near "${v:-0}" "$want" 1e-6 && pass "Prometheus $s via $src: $v" \
      || fail "Prometheus $s via $src: '$v', want $want"
  done
done
h=$(awk '/^profiles_handle_cpu_seconds_total\{service_name="svcB"\}/ {print $NF}' "$WORK/pm.txt")
near "${h:-0}" "$("$PY" -c "print(0.6 * $WANT_B)")" 1e-6 && pass "function rule: svcB $h s under main.handle" \
  || fail "function rule: svcB '$h', want 0.6 x $WANT_B"
sp=$(awk '/^profiles_span_cpu_seconds_total\{service_name="svcB",span_name="GET \/api"\}/ {print $NF}' "$WORK/pm.txt")
sn=$(awk '/^profiles_span_cpu_seconds_total\{service_name="svcB",span_name=""\}/ {print $NF}' "$WORK/pm.txt")
near "${sp:-0}" "$("$PY" -c "print(0.6 * $WANT_B)")" 1e-6 && near "${sn:-0}" "$("$PY" -c "print(0.4 * $WANT_B)")" 1e-6 \
  && pass "sample-label rule: span_name GET /api $sp, none $sn" || fail "sample-label rule: '$sp' '$sn'"
n=$(awk '/^profilemetrics_profiles_total\{service_name="svcA",profile_type="process_cpu"\}/ {print $NF}' "$WORK/pm.txt")
[ "${n:-0}" = "$((2 * PHASE))" ] && pass "profiles_total svcA $n" || fail "profiles_total svcA '$n', want $((2 * PHASE))"
if report=$(promtool check metrics <"$WORK/pm.txt" 2>&1) && [ -z "$report" ]; then
  pass "promtool accepts the exposition"
else
  echo "$report"; fail "promtool check metrics"
fi

echo "== reload with a changed rule set: the endpoint is taken over"
fixtures --skip-node
sed -i 's/^    rules:$/    rules:\n      - {name: reload_probe_total, sample_type: cpu, group_by: [service_name]}/' "$WORK/config.yaml"
grep -q reload_probe_total "$WORK/config.yaml" || die "config not changed"
kill -HUP "$PC_PID"
wait_until 20 equals 1 metric_first profcol_engine_reloads_total 'result="ok"' \
  || fail "reload not ok: $(grep -c 'reload failed' "$WORK/profcol.log") failures logged"
curl -sf --data-binary @"$PROF/cpu.pb.gz" \
  "http://127.0.0.1:$RX_PORT/ingest?name=svcC&format=pprof" >/dev/null || fail "upload after reload"
want=$("$CHECK" -totals "$PROF/cpu.pb.gz" | awk '$1 == "cpu/nanoseconds" {print $2 / 1e9}')
probe() { curl -sf "http://127.0.0.1:$PM_PORT/metrics" | awk '/^reload_probe_total\{service_name="svcC"\}/ {print $NF}'; }
probed() { [ -n "$(probe)" ]; }
wait_until 10 probed || true
got=$(probe)
near "${got:-0}" "${want:-1}" 1e-6 && pass "after reload: the new rule counts on the same endpoint ($got s)" \
  || fail "after reload: reload_probe_total '$got', want $want"
stop profcol || fail "profcol exit status"
stop prometheus || true
finish
