#!/usr/bin/env bash
# test_engine_metrics.sh: a running profcol with config.example.yaml (on
# free ports, temporary directories): /metrics passes `promtool check
# metrics`, /health is 200, the receiver and exporter counters move as
# real profiles flow, and the idle RSS stays under 18 MiB (its OTLP
# receiver loads gRPC); without the OTLP receiver, under 10 MiB.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fixtures
need_cmd promtool "Debian package: prometheus"

new_ports
mkdir -p "$WORK/in" "$WORK/out"
# The example config as shipped, with its addresses and directories moved:
# metrics and health to the ports lib.sh chose, every other listener
# (4317, 4318, 4040, the status page, any added later) to a free port.
sed -e "s|127.0.0.1:8888|127.0.0.1:$METRICS_PORT|; s|127.0.0.1:13133|127.0.0.1:$HEALTH_PORT|" \
    -e "s|directory: ./data/queue|directory: $WORK/queue|" \
    "$SRC/config.example.yaml" >"$WORK/config.yaml"
for port in $(grep -v '^ *#' "$WORK/config.yaml" | grep -oE '127\.0\.0\.1:[0-9]+' | cut -d: -f2 | sort -u); do
  case "$port" in "$METRICS_PORT" | "$HEALTH_PORT") continue ;; esac
  sed -i "s|127\.0\.0\.1:$port\b|127.0.0.1:$(free_port)|" "$WORK/config.yaml"
done
export PROFCOL_INCOMING="$WORK/in" PROFCOL_OUT="$WORK/out"

# The footprint without gRPC: the example without its OTLP receiver.
"$PY" - "$WORK/config.yaml" "$WORK/nogrpc.yaml" <<'PYCFG'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
del c["receivers"]["otlp"]
c["service"]["pipelines"]["profiles"]["receivers"].remove("otlp")
yaml.safe_dump(c, open(sys.argv[2], "w"))
PYCFG
start_profcol small "$WORK/nogrpc.yaml"
sleep 3
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$PC_PID/status")
[ "$rss_kb" -lt 10240 ] && pass "idle RSS without gRPC ${rss_kb} KiB < 10 MiB" \
  || fail "idle RSS without gRPC ${rss_kb} KiB >= 10 MiB"
stop small || fail "the small configuration exited non-zero"

start_profcol metrics "$WORK/config.yaml"

[ "$(health_code)" = 200 ] && pass "/health 200 while running" || fail "/health $(health_code)"

sleep 3
rss_kb=$(awk '/^VmRSS:/ {print $2}' "/proc/$PC_PID/status")
echo "idle RSS: ${rss_kb} KiB"
[ "$rss_kb" -lt 18432 ] && pass "idle RSS ${rss_kb} KiB < 18 MiB (gRPC loaded)" \
  || fail "idle RSS ${rss_kb} KiB >= 18 MiB"

acc0=$(metric_first profcol_receiver_accepted_profiles_total 'receiver="file"')
sent0=$(metric_first profcol_exporter_sent_profiles_total 'exporter="file"')
for p in cpu heap goroutine; do drop "$PROF/$p.pb.gz" "$p.pb.gz"; done
moved() {
  [ "$(metric_first profcol_receiver_accepted_profiles_total 'receiver="file"')" -ge $((acc0 + 3)) ] &&
  [ "$(metric_first profcol_exporter_sent_profiles_total 'exporter="file"')" -ge $((sent0 + 3)) ] &&
  [ "$(metric_first profcol_exporter_sent_profiles_total 'exporter="debug"')" -ge 3 ]
}
wait_until 30 moved && pass "receiver accepted and exporters sent 3 profiles" \
  || { fail "counters did not move"; scrape | grep -E 'accepted_profiles|sent_profiles'; }
[ "$(nfiles "$WORK/out")" -eq 3 ] && pass "3 files written" || fail "$(nfiles "$WORK/out") files written"

scrape >"$WORK/metrics.txt"
for family in profcol_receiver_accepted_profiles_total profcol_exporter_queue_size \
              profcol_engine_reloads_total profcol_process_memory_rss_bytes; do
  grep -q "^# TYPE $family " "$WORK/metrics.txt" || fail "family $family missing"
done
if report=$(promtool check metrics <"$WORK/metrics.txt" 2>&1) && [ -z "$report" ]; then
  pass "promtool accepts the live exposition ($(grep -c '^# TYPE' "$WORK/metrics.txt") families)"
else
  fail "promtool: $report"
fi
if stop metrics; then pass "exit 0 on SIGTERM"; else fail "exit code $?"; fi
finish
