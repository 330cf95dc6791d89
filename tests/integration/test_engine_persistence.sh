#!/usr/bin/env bash
# test_engine_persistence.sh: nothing accepted is lost across kill -9 with a
# persistent sending queue.
#   (1) the file exporter's output path is replaced by a regular file, so
#       every write fails (ENOTDIR, retryable): N real Go profiles pile up in
#       the persistent queue (/metrics queue size reaches N); kill -9; the
#       path is fixed; a new profcol delivers all N, byte for byte.
#   (2) kill -9 while profiles stream in and are being written; restart;
#       every input arrives; duplicates are counted and bounded by what was
#       in flight (consumers + the file being handed over).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fixtures

IN="$WORK/in"; OUT="$WORK/out"; Q="$WORK/queue"; SRCP="$WORK/src"
mkdir -p "$IN" "$OUT" "$Q" "$SRCP"
CONSUMERS=2

# Real Go profiles, several copies under distinct names.
n=0
for round in 1 2 3; do
  for p in cpu heap allocs block mutex goroutine threadcreate; do
    n=$((n + 1))
    cp "$PROF/$p.pb.gz" "$SRCP/$(printf '%03d' $n)-$p.pb.gz"
  done
done
N=$n

new_ports
cat >"$WORK/config.yaml" <<YAML
receivers:
  file:
    include: $IN
    poll_interval: 100ms
    delete_after_read: true
exporters:
  file:
    path: $OUT
    rotation: {max_files: 0, max_bytes: 0}
    retry_on_failure:
      initial_interval: 100ms
      max_interval: 300ms
      max_elapsed_time: 0s
    sending_queue:
      num_consumers: $CONSUMERS
      storage:
        directory: $Q
service:
  pipelines:
    profiles: {receivers: [file], exporters: [file]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
    logs: {level: info}
  shutdown_timeout: 5s
YAML

feed() { # files...: written hidden, then renamed, as a careful writer does
  local f
  for f in "$@"; do drop "$f" "$(basename "$f")" "$IN"; done
}

accepted() { metric_first profcol_receiver_accepted_profiles_total 'receiver="file"'; }
qsize() { metric_first profcol_exporter_queue_size 'exporter="file"'; }

# Every input hash appears in the output at least as often; prints the
# number of extra (duplicate) files.
check_delivery() { # what expected-count
  local miss extra
  miss=$(comm -23 <(hashes "$SRCP" | head -n "$2") <(hashes "$OUT") | wc -l)
  extra=$(( $(nfiles "$OUT") - $2 ))
  if [ "$miss" -ne 0 ]; then
    # stderr: the caller captures stdout
    fail "$1: $miss of $2 accepted profiles missing from the output" >&2
    return 1
  fi
  echo "$extra"
}

echo "== (1) exporter failing: profiles pile up in the persistent queue"
start_profcol p1 "$WORK/config.yaml"
rm -rf "$OUT"; touch "$OUT"        # writes now fail with ENOTDIR
feed "$SRCP"/*
if wait_until 60 equals "$N" accepted && wait_until 30 equals "$N" qsize; then
  pass "(1) receiver accepted $N, queue size $N while the output path is broken"
else
  fail "(1) accepted=$(accepted) queue=$(qsize), want $N"
fi
# The queue's gauges: its records on disk, its in-memory copies.
disk=$(metric_first profcol_exporter_queue_disk_bytes 'exporter="file"')
mem=$(metric_first profcol_exporter_queue_bytes 'exporter="file"')
qin=$(du -sb "$Q" | cut -f1)
[ "$disk" -gt 0 ] && [ "$disk" -le "$qin" ] && [ "$mem" -gt 0 ] &&
  pass "(1) queue_disk_bytes $disk (the directory holds $qin), queue_bytes $mem in memory" ||
  fail "(1) queue_disk_bytes $disk (directory $qin), queue_bytes $mem"
failed_sends=$(metric_first profcol_exporter_retries_total 'exporter="file"')
[ "$failed_sends" -gt 0 ] && pass "(1) exports are retried ($failed_sends retries)" \
  || fail "(1) no retries counted"
acc1=$(accepted)
kill9 p1
rm -f "$OUT"; mkdir -p "$OUT"
start_profcol p2 "$WORK/config.yaml"
if wait_until 60 equals 0 qsize && wait_until 10 at_least "$acc1" nfiles "$OUT"; then
  pass "(1) restarted profcol drained the persistent queue"
else
  fail "(1) after restart: queue=$(qsize) out=$(nfiles "$OUT"), want 0 / $acc1"
fi
if extra=$(check_delivery "(1)" "$acc1"); then
  if [ "$extra" -eq 0 ]; then
    pass "(1) all $acc1 accepted profiles delivered byte for byte, no duplicates"
  else
    fail "(1) $extra duplicates although nothing was being sent at the kill"
  fi
fi
stop p2 || fail "(1) exit code $? after SIGTERM"

echo "== (2) kill -9 while profiles stream in and are written"
rm -rf "$OUT"; mkdir -p "$OUT"
M=$N
feed_slowly() { local f; for f in "$SRCP"/*; do feed "$f"; sleep 0.05; done; }
start_proc feeder feed_slowly
start_profcol p3 "$WORK/config.yaml"
wait_until 60 at_least $((M / 2)) accepted || true
acc2=$(accepted)
kill9 p3
reap feeder 60 || true
echo "killed after $acc2 accepted, $(nfiles "$OUT") written"
start_profcol p4 "$WORK/config.yaml"
if wait_until 60 equals 0 nfiles "$IN" && wait_until 60 equals 0 qsize &&
   wait_until 10 at_least "$M" nfiles "$OUT"; then
  pass "(2) the restarted profcol took the rest and drained the queue"
else
  fail "(2) in=$(nfiles "$IN") queue=$(qsize) out=$(nfiles "$OUT")"
fi
if extra=$(check_delivery "(2)" "$M"); then
  bound=$((CONSUMERS + 1))
  if [ "$extra" -le "$bound" ]; then
    pass "(2) all $M profiles delivered ($acc2 accepted before the kill); $extra duplicates (bound $bound)"
  else
    fail "(2) $extra duplicates, more than the $bound in flight"
  fi
fi
stop p4 || fail "(2) exit code $? after SIGTERM"
finish
