#!/usr/bin/env bash
# test_engine_backpressure.sh: back-pressure instead of loss.
#   (1) a tiny in-memory sending queue (queue_size 1, num_consumers 1) in
#       front of a file exporter whose output path is broken (retries):
#       further input is refused (receiver refused / exporter
#       enqueue_failed counters move), the file receiver keeps the files
#       and retries them; once the path is fixed every profile arrives
#       exactly once.
#   (2) memory_limiter with a limit below profcol's RSS refuses every batch
#       (counted, logged once), and nothing is written.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fixtures

IN="$WORK/in"; OUT="$WORK/out"; SRCP="$WORK/src"
mkdir -p "$IN" "$OUT" "$SRCP"
i=0
for p in cpu heap allocs block mutex goroutine; do
  i=$((i + 1)); cp "$PROF/$p.pb.gz" "$SRCP/$i-$p.pb.gz"
done
N=$i
new_ports
write_config() { # PROCESSORS_SECTION PIPELINE_PROCESSORS
  cat >"$WORK/config.yaml" <<YAML
receivers:
  file:
    include: $IN
    poll_interval: 100ms
    delete_after_read: true
processors:
$1
exporters:
  file:
    path: $OUT
    rotation: {max_files: 0, max_bytes: 0}
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s}
    sending_queue: {queue_size: 1, num_consumers: 1}
service:
  pipelines:
    profiles: {receivers: [file], processors: [$2], exporters: [file]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  shutdown_timeout: 5s
YAML
}
feed() { local f; for f in "$@"; do drop "$f" "$(basename "$f")" "$IN"; done; }
refused() { metric_first profcol_receiver_refused_profiles_total 'receiver="file"'; }
enq_failed() { metric_first profcol_exporter_enqueue_failed_profiles_total 'exporter="file"'; }

echo "== (1) full queue: refused, retried by the receiver, nothing lost"
write_config "  {}" ""
sed -i 's/processors: \[\], //' "$WORK/config.yaml"
start_profcol bp "$WORK/config.yaml"
rm -rf "$OUT"; touch "$OUT"
feed "$SRCP"/*
if wait_until 30 at_least 1 refused && wait_until 10 at_least 1 enq_failed; then
  pass "(1) input refused: receiver refused=$(refused), exporter enqueue_failed=$(enq_failed)"
else
  fail "(1) refused=$(refused) enqueue_failed=$(enq_failed)"
fi
left=$(nfiles "$IN")
[ "$left" -ge $((N - 2)) ] && pass "(1) $left refused files wait in the input directory" \
  || fail "(1) only $left files left in the input; the queue holds at most 2"
rm -f "$OUT"; mkdir -p "$OUT"
if wait_until 60 equals 0 nfiles "$IN" && wait_until 30 equals "$N" nfiles "$OUT"; then
  pass "(1) after recovery all $N profiles delivered"
else
  fail "(1) in=$(nfiles "$IN") out=$(nfiles "$OUT"), want 0 / $N"
fi
if diff <(hashes "$SRCP") <(hashes "$OUT") >/dev/null; then
  pass "(1) delivered byte for byte, exactly once"
else
  fail "(1) output differs from input"
fi
stop bp || fail "(1) exit code $?"

echo "== (2) memory_limiter below the RSS refuses"
rm -rf "$OUT"; mkdir -p "$OUT"
write_config "  memory_limiter:
    check_interval: 100ms
    limit_mib: 1" "memory_limiter"
start_profcol ml "$WORK/config.yaml"
feed "$SRCP/1-cpu.pb.gz"
mlref() { metric_first profcol_processor_memory_limiter_refused_profiles_total 'processor="memory_limiter"'; }
if wait_until 20 at_least 1 mlref && wait_until 10 at_least 1 refused; then
  pass "(2) memory_limiter refused $(mlref) profiles (receiver refused=$(refused))"
else
  fail "(2) memory_limiter refused=$(mlref) receiver refused=$(refused)"
fi
[ "$(metric_first profcol_processor_memory_limiter_rss_bytes)" -gt 1000000 ] && pass "(2) RSS gauge set" \
  || fail "(2) RSS gauge $(metric_first profcol_processor_memory_limiter_rss_bytes)"
n=$(grep -c 'refusing data' "$WORK/ml.log" || true)
[ "$n" -eq 1 ] && pass "(2) logged once when refusing began" || fail "(2) 'refusing data' logged $n times"
[ "$(nfiles "$OUT")" -eq 0 ] && [ "$(nfiles "$IN")" -eq 1 ] && pass "(2) nothing accepted, the file waits" \
  || fail "(2) out=$(nfiles "$OUT") in=$(nfiles "$IN")"
stop ml || fail "(2) exit code $?"
finish
