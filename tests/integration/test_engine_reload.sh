#!/usr/bin/env bash
# test_engine_reload.sh: SIGHUP reload and SIGTERM drain of a real profcol.
#   (1) valid new file (second exporter added, debug verbosity changed):
#       reload ok; the unchanged exporter keeps its queue (profiles queued
#       before the reload are delivered after it); the new exporter gets
#       new profiles
#   (2) invalid file: old graph keeps running and delivering, the error
#       names file:line:col, reloads_total{result="failed"} counts it
#   (3) a file that validates but cannot be built (an exporter whose
#       output directory cannot be created): all-or-nothing, the old graph
#       (including the exporters the new one would have kept) runs on
#   (4) /health stays 200 through reloads
#   (5) SIGTERM drains queued profiles within shutdown_timeout, exit 0
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
fixtures

IN="$WORK/in"; OA="$WORK/outa"; OB="$WORK/outb"
mkdir -p "$IN" "$OA" "$OB"
CFG="$WORK/config.yaml"
new_ports

# write_config EXTRA_EXPORTER_YAML EXPORTER_LIST VERBOSITY
write_config() {
  cat >"$CFG" <<YAML
receivers:
  file:
    include: $IN
    poll_interval: 100ms
    delete_after_read: true
exporters:
  debug:
    verbosity: $3
  file/a:
    path: $OA
    rotation: {max_files: 0, max_bytes: 0}
    retry_on_failure: {initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 0s}
    sending_queue: {num_consumers: 1}
$1
service:
  pipelines:
    profiles: {receivers: [file], exporters: [$2]}
  telemetry:
    metrics: {address: "127.0.0.1:$METRICS_PORT"}
    health: {address: "127.0.0.1:$HEALTH_PORT"}
  shutdown_timeout: 10s
YAML
}
FILE_B="  file/b:
    path: $OB
    rotation: {max_files: 0, max_bytes: 0}"

k=0
feed() { # count
  local i
  for i in $(seq "$1"); do
    k=$((k + 1))
    drop "$PROF/cpu.pb.gz" "p$k.pb.gz" "$IN"
  done
}
qa() { metric_first profcol_exporter_queue_size 'exporter="file/a"'; }
reloads() { metric_first profcol_engine_reloads_total "result=\"$1\""; }
health_seen=()
hup() { # sends SIGHUP, samples /health while the reload runs
  kill -HUP "$PC_PID"
  health_seen+=("$(health_code)")
}

write_config "" "debug, file/a" normal
start_profcol reload "$CFG"

echo "== (1) valid reload keeps the unchanged exporter's queue"
rm -rf "$OA"; touch "$OA"          # file/a cannot write: its queue holds
feed 3
wait_until 30 equals 2 qa || fail "(1) file/a queue=$(qa), want 2 before the reload (3 fed, 1 with the consumer)"
write_config "$FILE_B" "debug, file/a, file/b" detailed
hup
if wait_until 20 equals 1 reloads ok; then
  pass "(1) reload ok counted"
else
  fail "(1) reloads ok=$(reloads ok)"; tail -5 "$WORK/reload.log"
fi
[ "$(qa)" -eq 2 ] && pass "(1) file/a kept its queued profiles across the reload" \
  || fail "(1) file/a queue=$(qa) after reload, want 2"
rm -f "$OA"; mkdir -p "$OA"
wait_until 20 equals 3 nfiles "$OA" && pass "(1) queued profiles delivered after the reload" \
  || fail "(1) outa has $(nfiles "$OA") files, want 3"
feed 2
if wait_until 20 equals 2 nfiles "$OB" && wait_until 20 equals 5 nfiles "$OA"; then
  pass "(1) the new exporter file/b receives new profiles"
else
  fail "(1) outa=$(nfiles "$OA") (want 5) outb=$(nfiles "$OB") (want 2)"
fi
grep -q 'samples' "$WORK/reload.log" && pass "(1) debug exporter logs after reload" \
  || fail "(1) no debug output"

echo "== (2) invalid file: nothing changes"
cp "$CFG" "$WORK/good.yaml"
sed 's/^    verbosity: detailed/    verbosity: detailed\n    no_such_key: 1/' "$WORK/good.yaml" >"$CFG"
hup
if wait_until 20 equals 1 reloads failed; then
  pass "(2) reload failed counted"
else
  fail "(2) reloads failed=$(reloads failed)"
fi
if grep -Eq "config.yaml:[0-9]+:[0-9]+: .*no_such_key" "$WORK/reload.log"; then
  pass "(2) error names file:line:col: $(grep -Eo 'config.yaml:[0-9]+:[0-9]+: [^"]*' "$WORK/reload.log" | head -1)"
else
  fail "(2) no file:line:col error"; tail -5 "$WORK/reload.log"
fi
feed 1
if wait_until 20 equals 6 nfiles "$OA" && wait_until 20 equals 3 nfiles "$OB"; then
  pass "(2) the running graph still accepts and delivers"
else
  fail "(2) outa=$(nfiles "$OA") outb=$(nfiles "$OB") after a failed reload"
fi

echo "== (3) a config that cannot be built: all or nothing"
touch "$WORK/plainfile"
cat "$WORK/good.yaml" | sed "s|^service:|  file/bad:\n    path: $WORK/plainfile/out\nservice:|; s|exporters: \[debug, file/a, file/b\]|exporters: [debug, file/a, file/b, file/bad]|" >"$CFG"
"$PROFCOL" validate --config "$CFG" >/dev/null 2>&1 || echo "note: validate refuses the file already"
hup
if wait_until 20 equals 2 reloads failed; then
  pass "(3) reload failed counted ($(grep -o 'reload failed[^$]*' "$WORK/reload.log" | tail -1 | cut -c1-160))"
else
  fail "(3) reloads failed=$(reloads failed)"
fi
feed 1
if wait_until 20 equals 7 nfiles "$OA" && wait_until 20 equals 4 nfiles "$OB"; then
  pass "(3) old graph intact: file/a and file/b (kept by the failed build) still deliver"
else
  fail "(3) outa=$(nfiles "$OA") outb=$(nfiles "$OB") after the failed build"
fi
kill -0 "$PC_PID" && pass "(3) still running" || fail "(3) profcol died"

echo "== (4) health during reloads"
bad=0
for c in "${health_seen[@]}"; do [ "$c" = 200 ] || bad=1; done
[ $bad -eq 0 ] && [ "$(health_code)" = 200 ] && pass "(4) /health 200 during and after reloads (${health_seen[*]})" \
  || fail "(4) /health codes: ${health_seen[*]} now $(health_code)"

echo "== (5) SIGTERM drains within shutdown_timeout"
cp "$WORK/good.yaml" "$CFG"
rm -rf "$OA"; touch "$OA"
feed 2
wait_until 20 equals 0 nfiles "$IN" && wait_until 20 equals 1 qa || fail "(5) file/a queue=$(qa), want 1 (2 fed, 1 with the consumer)"
kill -TERM "$PC_PID"
sleep 0.3
rm -f "$OA"; mkdir -p "$OA"          # the backend recovers during the drain
start=$SECONDS
if reap reload; then rc=0; else rc=$?; fi
took=$((SECONDS - start))
[ $rc -eq 0 ] && pass "(5) exit code 0 after ${took}s" || fail "(5) exit code $rc"
[ "$(nfiles "$OA")" -eq 2 ] && pass "(5) both queued profiles delivered during the drain" \
  || fail "(5) outa has $(nfiles "$OA") files, want 2"
finish
