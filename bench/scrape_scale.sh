#!/usr/bin/env bash
# scrape_scale.sh: can one profcol scrape 1,000 targets at 15 s intervals
# on well under one core? Opt-in (not part of ctest):
#
#   bench/scrape_scale.sh BUILD_DIR [TARGETS] [SECONDS]
#
# A small Go server listens on TARGETS loopback ports and answers every
# /debug/pprof endpoint with a real Go profile (the fixtures of
# tests/fixtures/build.sh: allocs, cpu, goroutine, mutex, block), at once,
# ignoring ?seconds. profcol discovers the targets through a file_sd JSON
# file and scrapes the five default profiles of each every 15 s
# (TARGETS x 5 / 15 scrapes per second; memory, mutex and block go through
# the collector-side delta) into a debug exporter. After a warm-up of one
# interval, profcol's CPU time and RSS are measured over SECONDS.
set -euo pipefail

BUILD="$(cd "${1:?usage: $0 BUILD_DIR [TARGETS] [SECONDS]}" && pwd)"
N="${2:-1000}"
DUR="${3:-60}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROFCOL="$BUILD/profcol"
[ -x "$PROFCOL" ] || { echo "no profcol in $BUILD" >&2; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/profcol-scrape-scale.XXXXXX")"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

# Every target keeps a connection: make room for them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

SKIP_NODE=1 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
PROF="$BUILD/fixtures/profiles"

mkdir -p "$WORK/canned"
cat >"$WORK/canned/main.go" <<'EOF'
// canned: serves fixed pprof files on many loopback ports.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
)

func main() {
	n, _ := strconv.Atoi(os.Args[1])
	dir := os.Args[2]
	files := map[string]string{
		"/debug/pprof/profile": "cpu.pb.gz", "/debug/pprof/allocs": "allocs.pb.gz",
		"/debug/pprof/goroutine": "goroutine.pb.gz", "/debug/pprof/mutex": "mutex.pb.gz",
		"/debug/pprof/block": "block.pb.gz",
	}
	mux := http.NewServeMux()
	for path, f := range files {
		data, err := os.ReadFile(dir + "/" + f)
		if err != nil {
			panic(err)
		}
		body := data
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(body)
		})
	}
	out, _ := os.Create(os.Args[3])
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			panic(err)
		}
		fmt.Fprintln(out, ln.Addr().String())
		go http.Serve(ln, mux)
	}
	out.Close()
	os.Rename(os.Args[3], os.Args[3]+".done")
	select {}
}
EOF
printf 'module canned\n\ngo 1.26.0\n' >"$WORK/canned/go.mod"
(cd "$WORK/canned" && "$SRC/scripts/go.sh" build -o canned .)
"$WORK/canned/canned" "$N" "$PROF" "$WORK/addrs" &
PIDS+=($!)
for _ in $(seq 100); do [ -f "$WORK/addrs.done" ] && break; sleep 0.1; done
[ -f "$WORK/addrs.done" ] || { echo "canned server did not start" >&2; exit 1; }

/usr/bin/python3 - "$WORK/addrs.done" "$WORK/targets.json" <<'EOF'
import json, sys
addrs = [l.strip() for l in open(sys.argv[1]) if l.strip()]
json.dump([{"targets": addrs, "labels": {"service_name": "canned"}}], open(sys.argv[2], "w"))
EOF
MPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
HPORT=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/config.yaml" <<EOF
receivers:
  scrape:
    scrape_configs:
      - job_name: canned
        scrape_interval: 15s
        file_sd_configs:
          - files: ["$WORK/targets.json"]
exporters:
  debug:
    verbosity: basic
service:
  pipelines:
    profiles:
      receivers: [scrape]
      exporters: [debug]
  telemetry:
    metrics: {address: "127.0.0.1:$MPORT"}
    health: {address: "127.0.0.1:$HPORT"}
    logs: {level: warn}
EOF
"$PROFCOL" --config "$WORK/config.yaml" 2>"$WORK/profcol.log" &
PC=$!
PIDS+=($PC)

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$PC/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$PC/status"; }
accepted() {
  curl -sf "http://127.0.0.1:$MPORT/metrics" |
    awk '/^profcol_receiver_accepted_profiles_total\{.*receiver="scrape"/ {s += $NF} END {print s + 0}'
}
echo "targets=$N interval=15s profiles=5 (warm-up 16s, then ${DUR}s measured)"
sleep 16
c0=$(cpu); a0=$(accepted); t0=$(date +%s.%N)
maxrss=0
for _ in $(seq "$DUR"); do
  sleep 1
  r=$(rss)
  [ "$r" -gt "$maxrss" ] && maxrss=$r
done
c1=$(cpu); a1=$(accepted); t1=$(date +%s.%N)
loops=$(curl -sf "http://127.0.0.1:$MPORT/metrics" | awk '/^profcol_scrape_targets\{/ {print $NF}')
errors=$(curl -sf "http://127.0.0.1:$MPORT/metrics" |
  awk '/^profcol_scrape_target_errors_total/ {s += $NF} END {print s + 0}')
dstate=$(curl -sf "http://127.0.0.1:$MPORT/metrics" |
  awk '/^profcol_scrape_delta_state_bytes/ {print $NF}')
echo "delta baselines: $(( ${dstate%%.*} / 1048576 )) MiB"
/usr/bin/python3 - "$c0" "$c1" "$t0" "$t1" "$ticks" "$a0" "$a1" "$maxrss" "$loops" "$errors" <<'EOF'
import sys
c0, c1, t0, t1, hz, a0, a1, rss, loops, errors = sys.argv[1:]
wall = float(t1) - float(t0)
cpu = (float(c1) - float(c0)) / float(hz)
print("loops=%s scrape_errors=%s" % (loops, errors))
print("profiles accepted: %d in %.1fs (%.1f/s)" % (int(float(a1) - float(a0)), wall, (float(a1) - float(a0)) / wall))
print("profcol CPU: %.1f%% of one core" % (100 * cpu / wall))
print("profcol max RSS: %.1f MiB" % (int(rss) / 1024))
EOF
