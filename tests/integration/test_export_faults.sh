#!/usr/bin/env bash
# Exporter faults on the network side, with real Go profiles (file receiver)
# and sinks that break connections (tests/integration/sinks/reset_sink.py):
#   (1) connection reset mid-request: the sinks of a `pyroscope` (ingest)
#       and an `otlphttp` exporter RST the first requests after reading half
#       the body, then RST a few after reading the whole body (response
#       lost): everything is delivered, retries are counted, and the only
#       duplicates are bodies whose response was lost
#   (2) dead backends (one hangs, one refuses connections) never delay a
#       healthy exporter of the same pipeline
#   (3) kill -9 of profcol during a backend outage with a persistent
#       sending queue: restart, the backend comes back, nothing is lost.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

echo "== fixtures"
fixtures --skip-node
INPUTS="cpu heap allocs goroutine mutex block"
NIN=$(echo $INPUTS | wc -w)

# rsink NAME [ARGS...]: starts reset_sink.py; sets SINK_PORT.
rsink() {
  local name=$1
  shift
  start_listener "$name" "$WORK/$name.port" \
    "$PY" "$HERE/sinks/reset_sink.py" "$WORK/$name" "$WORK/$name.port" "$@"
}

# distinct NAME: distinct bodies the sink received.
distinct() {
  "$PY" -c 'import glob,sys; print(len({open(f,"rb").read() for f in glob.glob(sys.argv[1]+"/b*.bin")}))' "$WORK/$1"
}

# originals_in NAME: how many of the inputs arrived byte-identical.
originals_in() {
  "$PY" - "$WORK/$1" "$PROF" $INPUTS <<'EOF'
import glob, os, sys
got = {open(f, "rb").read() for f in glob.glob(sys.argv[1] + "/b*.bin")}
print(sum(open(os.path.join(sys.argv[2], n + ".pb.gz"), "rb").read() in got for n in sys.argv[3:]))
EOF
}

wait_distinct() { wait_until "$3" at_least "$2" distinct "$1"; }  # NAME N SECONDS

drop_all() { local n; for n in $INPUTS; do drop "$PROF/$n.pb.gz" "$n.pb.gz"; done; }

config() { # FILE EXPORTERS_YAML EXPORTER_LIST [RECEIVER_EXTRA]
  new_ports
  cat >"$1" <<EOF
receivers:
  file:
    include: $WORK/in
    poll_interval: 100ms
    delete_after_read: true
exporters:
$2
service:
  pipelines:
    profiles: {receivers: [file], exporters: [$3]}
  telemetry:
    metrics: {address: 127.0.0.1:$METRICS_PORT}
    health: {address: 127.0.0.1:$HEALTH_PORT}
EOF
}

RETRY="retry_on_failure: {initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0s}"

# ------------------------------------------------------------------------
echo "== (1) connection reset mid-request"
mkdir -p "$WORK/in"
rsink pyro --reset 4 --lost 2
P1=$SINK_PORT
rsink otlph --reset 3 --lost 1
P2=$SINK_PORT
config "$WORK/1.yaml" "  pyroscope:
    endpoint: http://127.0.0.1:$P1
    api: ingest
    timeout: 3s
    $RETRY
  otlphttp:
    endpoint: http://127.0.0.1:$P2
    timeout: 3s
    $RETRY" "pyroscope, otlphttp"
start_profcol profcol "$WORK/1.yaml"
drop_all
wait_distinct pyro "$NIN" 40 || true
wait_distinct otlph "$NIN" 20 || true
for s in pyro otlph; do
  d=$(distinct $s); del=$(stat_of $s delivered); lost=$(stat_of $s lost); rs=$(stat_of $s resets)
  [ "$d" = "$NIN" ] && pass "(1) $s: all $NIN batches delivered after $rs resets and $lost lost responses" ||
    fail "(1) $s: $d of $NIN distinct bodies delivered (resets $rs, lost $lost)"
  dup=$((del - d))
  [ "$dup" -le "$lost" ] && pass "(1) $s: $dup duplicate(s), at most the $lost lost responses" ||
    fail "(1) $s: $dup duplicates but only $lost responses lost"
done
[ "$(originals_in pyro)" = "$NIN" ] && pass "(1) pyroscope: the original pprof bytes arrived" ||
  fail "(1) pyroscope: only $(originals_in pyro) of $NIN originals arrived byte-identical"
for e in pyroscope otlphttp; do
  case $e in pyroscope) s=pyro ;; *) s=otlph ;; esac
  want=$(( $(stat_of $s resets) + $(stat_of $s lost) ))
  # metric_sum: counters summed over the matching series (one exporter's here).
  r=$(metric_sum profcol_exporter_retries_total "exporter=\"$e\"")
  [ "$r" -ge "$want" ] && pass "(1) $e: $r retries counted (faults: $want)" ||
    fail "(1) $e: $r retries counted, $want faults"
  sent=$(metric_sum profcol_exporter_sent_profiles_total "exporter=\"$e\"")
  [ "$sent" = "$NIN" ] && pass "(1) $e: sent_profiles=$sent" || fail "(1) $e: sent_profiles=$sent, want $NIN"
done
d=$(metric_sum profcol_exporter_dropped_profiles_total)
[ "$d" = 0 ] && pass "(1) nothing dropped" || fail "(1) $d profiles dropped"
stop profcol || true

# ------------------------------------------------------------------------
echo "== (2) dead backends never delay a healthy one"
rsink hang --hang
PH=$SINK_PORT
PDEAD=$(free_port)   # nothing listens there
rsink live
PL=$SINK_PORT
config "$WORK/2.yaml" "  pyroscope/hang:
    endpoint: http://127.0.0.1:$PH
    api: ingest
    timeout: 10s
    $RETRY
  pyroscope/refused:
    endpoint: http://127.0.0.1:$PDEAD
    api: ingest
    timeout: 10s
    $RETRY
  pyroscope/live:
    endpoint: http://127.0.0.1:$PL
    api: ingest
    timeout: 10s
    $RETRY" "pyroscope/hang, pyroscope/refused, pyroscope/live"
start_profcol profcol "$WORK/2.yaml"
t0=$SECONDS
drop_all
if wait_distinct live "$NIN" 8; then
  pass "(2) the healthy backend got all $NIN in $((SECONDS - t0)) s while the others hang / refuse"
else
  fail "(2) the healthy backend got $(distinct live) of $NIN in 8 s"
fi
[ "$(stat_of hang requests)" -ge 1 ] && pass "(2) the hanging backend was being called ($(stat_of hang requests) requests open)" ||
  fail "(2) the hanging backend got no request"
q=$(metric_sum profcol_exporter_queue_size 'exporter="pyroscope/refused"')
[ "$q" -ge 1 ] && pass "(2) the refused exporter keeps its $q batches queued" ||
  echo "note: pyroscope/refused queue size $q (batches may be in its workers' hands)"
stop profcol || true

# ------------------------------------------------------------------------
echo "== (3) kill -9 during a backend outage, persistent queue"
PB3=$(free_port)     # the backend is down: nothing listens yet
config "$WORK/3.yaml" "  pyroscope:
    endpoint: http://127.0.0.1:$PB3
    api: ingest
    timeout: 2s
    $RETRY
    sending_queue:
      storage:
        directory: $WORK/queue
        fsync: always" "pyroscope"
start_profcol profcol "$WORK/3.yaml"
drop_all
end=$((SECONDS + 20))
while [ $SECONDS -lt $end ] &&
      [ "$(metric_sum profcol_receiver_accepted_profiles_total)" -lt "$NIN" ]; do sleep 0.2; done
acc=$(metric_sum profcol_receiver_accepted_profiles_total)
[ "$acc" = "$NIN" ] && pass "(3) $NIN profiles accepted while the backend is down" ||
  fail "(3) accepted $acc of $NIN"
sleep 1   # a few failing attempts
kill9 profcol
left=$(ls "$WORK/in" | wc -l)
[ "$left" = 0 ] && pass "(3) the inputs were consumed (only the queue holds them now)" ||
  fail "(3) $left input files left"
start_profcol profcol "$WORK/3.yaml"
sleep 1              # the restarted profcol meets the outage too
rsink back --port "$PB3"
if wait_distinct back "$NIN" 40; then
  pass "(3) after kill -9 and restart, all $NIN delivered once the backend came back"
else
  fail "(3) $(distinct back) of $NIN delivered after the restart"
fi
[ "$(originals_in back)" = "$NIN" ] && pass "(3) byte-identical to the inputs" ||
  fail "(3) only $(originals_in back) of $NIN byte-identical"
dup=$(( $(stat_of back delivered) - $(distinct back) ))
echo "note: (3) duplicates at the backend: $dup (at-least-once: an attempt in flight at the kill may repeat)"
stop profcol || true

finish
