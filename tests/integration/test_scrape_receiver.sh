#!/usr/bin/env bash
# The scrape receiver against real Go targets (tests/fixtures/gotarget:
# net/http/pprof with known CPU, allocation, mutex, block and goroutine
# work), judged by google/pprof (pprofcheck) and by a protobuf decoder:
#   (a) target A (static_configs) and target B (file_sd JSON) deliver
#       process_cpu, memory, goroutine, mutex and block profiles with the
#       right __name__, job, instance, relabeled and group labels,
#       service.name and __delta__;
#   (b) every payload is a valid pprof (pprofcheck -valid);
#   (c) CPU profiles cover `seconds` (1 s); memory profiles are window
#       deltas: duration ~ the 2 s interval, main.steadyAlloc's alloc_objects
#       match its known rate (110/s), main.retainForever keeps its exact
#       inuse_space (16 MiB) with alloc 0; goroutine counts are exact;
#   (d) a target that is down shows up 0 and connection_refused errors; a
#       target answering HTML shows invalid_response; neither disturbs the
#       others; a relabel `drop` rule removes a target group;
#   (e) removing B from the file_sd file stops its scrapes and removes its
#       metrics.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${PROFCOL_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}"
BUILD="${PROFCOL_BUILD_DIR:-$SRC/build}"
PROFCOL="${PROFCOL_BIN:-$BUILD/profcol}"
[ -x "$PROFCOL" ] || { echo "FAIL: profcol binary not found at $PROFCOL"; exit 1; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/profcol-scrape.XXXXXX")"
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do
    kill "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

passed=0
failed=0
pass() { echo "PASS: $*"; passed=$((passed + 1)); }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

echo "== fixtures"
SKIP_NODE=1 timeout 600 bash "$SRC/tests/fixtures/build.sh" "$BUILD" >/dev/null
FIX="$BUILD/fixtures"
CHECK="$FIX/bin/pprofcheck"
GOTARGET="$FIX/bin/gotarget"

PY=/usr/bin/python3
PB="$WORK/pb"
mkdir -p "$PB"
protoc -I "$SRC/proto/pprof" --python_out="$PB" "$SRC/proto/pprof/profile.proto"

free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_file() { # file, seconds
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ -s "$1" ] && return 0
    sleep 0.1
  done
  return 1
}

echo "== targets"
"$GOTARGET" -addr 127.0.0.1:0 -port-file "$WORK/a.addr" 2>"$WORK/a.log" &
PIDS+=($!)
"$GOTARGET" -addr 127.0.0.1:0 -port-file "$WORK/b.addr" 2>"$WORK/b.log" &
PIDS+=($!)
wait_file "$WORK/a.addr" 30 || { echo "FAIL: target A did not start"; exit 1; }
wait_file "$WORK/b.addr" 30 || { echo "FAIL: target B did not start"; exit 1; }
A="$(cat "$WORK/a.addr")"
B="$(cat "$WORK/b.addr")"
DOWN="127.0.0.1:$(free_port)"
# A plain HTTP server answering HTML where a profile should be.
mkdir -p "$WORK/html/debug/pprof"
echo '<html><body>login required</body></html>' >"$WORK/html/debug/pprof/allocs"
HPORT="$(free_port)"
(cd "$WORK/html" && exec "$PY" -m http.server --bind 127.0.0.1 "$HPORT") \
  >"$WORK/html.log" 2>&1 &
PIDS+=($!)
HTML="127.0.0.1:$HPORT"
MPORT="$(free_port)"
HEALTH="$(free_port)"
echo "A=$A B=$B DOWN=$DOWN HTML=$HTML metrics=$MPORT"

cat >"$WORK/sd.json" <<EOF
[{"targets": ["$B"], "labels": {"service_name": "fromfile", "team": "b"}}]
EOF
mkdir -p "$WORK/json" "$WORK/pprof"
cat >"$WORK/config.yaml" <<EOF
receivers:
  scrape:
    scrape_configs:
      - job_name: gojob
        scrape_interval: 2s
        static_configs:
          - targets: ["$A", "$DOWN"]
            labels: {env: test}
          - targets: ["$A"]
            labels: {skip: "yes"}
        file_sd_configs:
          - files: ["$WORK/*.json"]
            refresh_interval: 1s
        relabel_configs:
          - source_labels: [skip]
            regex: "yes"
            action: drop
          - source_labels: [__address__]
            regex: '127\.0\.0\.1:(\d+)'
            target_label: port
            replacement: 'p\$1'
          - source_labels: [__address__]
            modulus: 4
            target_label: shard
            action: hashmod
        profiling_config:
          process_cpu:
            seconds: 1
      - job_name: htmljob
        scrape_interval: 2s
        static_configs:
          - targets: ["$HTML"]
        profiling_config:
          process_cpu: {enabled: false}
          mutex: {enabled: false}
          block: {enabled: false}
exporters:
  file/json:
    path: $WORK/json
    format: json
    rotation: {max_files: 100000}
  file/pprof:
    path: $WORK/pprof
    format: pprof
    rotation: {max_files: 100000}
service:
  pipelines:
    profiles:
      receivers: [scrape]
      exporters: [file/json, file/pprof]
  telemetry:
    metrics:
      address: 127.0.0.1:$MPORT
    health:
      address: 127.0.0.1:$HEALTH
    logs:
      level: info
EOF

echo "== profcol"
timeout 60 "$PROFCOL" validate --config "$WORK/config.yaml"
"$PROFCOL" --config "$WORK/config.yaml" >"$WORK/profcol.log" 2>&1 &
PC_PID=$!
PIDS+=($PC_PID)
sleep 13
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics1.txt" || fail "metrics endpoint"

# Remove B from discovery; scrapes already running may still finish.
echo '[]' >"$WORK/sd.json.tmp"
mv "$WORK/sd.json.tmp" "$WORK/sd.json"
REMOVED_NS=$(date +%s%N)
sleep 9
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$WORK/metrics2.txt" || fail "metrics endpoint"
kill "$PC_PID"
wait "$PC_PID" || fail "profcol exited with $?"

if grep -qE 'level=(error)' "$WORK/profcol.log"; then
  fail "profcol logged errors"; grep 'level=error' "$WORK/profcol.log" | head
fi

echo "== (b) every payload is a valid pprof"
n=0
bad=0
for f in "$WORK"/pprof/*; do
  n=$((n + 1))
  if ! out=$("$CHECK" -valid "$f" 2>&1); then
    bad=$((bad + 1))
    echo "  invalid: $f: $out"
  fi
done
if [ "$n" -ge 30 ] && [ "$bad" -eq 0 ]; then
  pass "$n pprof files valid"
else
  fail "$n pprof files, $bad invalid"
fi

echo "== (a) (c) (d) (e) checks"
if PYTHONPATH="$PB" "$PY" - "$WORK" "$A" "$B" "$DOWN" "$HTML" "$REMOVED_NS" <<'PYEOF'
import base64, glob, gzip, json, os, re, sys
import profile_pb2

work, A, B, DOWN, HTML, removed_ns = sys.argv[1:7]
removed_ns = int(removed_ns)
ok = True

def check(cond, msg):
    global ok
    print(("PASS: " if cond else "FAIL: ") + msg)
    ok = ok and cond

items = []
for f in sorted(glob.glob(os.path.join(work, "json", "*.jsonl"))):
    for line in open(f):
        items.append(json.loads(line))
check(len(items) >= 30, "%d items received" % len(items))

names = ["process_cpu", "memory", "goroutine", "mutex", "block"]
def of(inst, name):
    return [o for o in items if o["attributes"].get("instance") == inst
            and o["attributes"].get("__name__") == name]

for inst, extra, svc in ((A, {"env": "test"}, "gojob"),
                         (B, {"team": "b"}, "fromfile")):
    port = inst.rsplit(":", 1)[1]
    for name in names:
        got = of(inst, name)
        if not got:
            check(False, "%s %s: no profile" % (inst, name))
            continue
        a = got[0]["attributes"]
        want = {"__name__": name, "job": "gojob", "instance": inst,
                "port": "p" + port, "service.name": svc}
        want.update(extra)
        for k, v in want.items():
            if a.get(k) != v:
                check(False, "%s %s: %s=%r, want %r" % (inst, name, k, a.get(k), v))
        cumulative = name in ("memory", "mutex", "block")
        if (a.get("__delta__") == "false") != cumulative:
            check(False, "%s %s: __delta__=%r" % (inst, name, a.get("__delta__")))
        if "shard" not in a or not a["shard"].isdigit() or int(a["shard"]) >= 4:
            check(False, "%s %s: shard=%r" % (inst, name, a.get("shard")))
        bad = [k for k in a if k.startswith("__") and k not in ("__name__", "__delta__")]
        if bad or "service_name" in a or "skip" in a:
            check(False, "%s %s: leaked labels %r" % (inst, name, a))
    check(all(of(inst, n) for n in names),
          "%s: all five profiles arrive with job, instance, labels" % inst)

check(not [o for o in items if o["attributes"].get("skip")],
      "relabel drop rule removed the skip=yes group")
check(not [o for o in items if o["attributes"].get("instance") in (DOWN, HTML)],
      "down and HTML targets delivered nothing")

late = [o for o in items if o["attributes"].get("instance") == B
        and o["received_unix_nano"] > removed_ns + 4 * 10**9]
check(not late, "B not scraped after removal from file_sd (%d late)" % len(late))
check(any(o["received_unix_nano"] > removed_ns + 4 * 10**9 for o in items
          if o["attributes"].get("instance") == A),
      "A still scraped after B was removed")

# pprof payloads (pprof exporter output)
def load(path):
    data = open(path, "rb").read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    p = profile_pb2.Profile()
    p.ParseFromString(data)
    return p

def funcs(p):
    fn = {f.id: p.string_table[f.name] for f in p.function}
    loc = {l.id: [fn[ln.function_id] for ln in l.line] for l in p.location}
    return loc

def types(p):
    return [p.string_table[t.type] for t in p.sample_type]

mem, cpu, gor, lock = [], [], [], []
for f in glob.glob(os.path.join(work, "pprof", "*")):
    p = load(f)
    t = types(p)
    if "alloc_objects" in t:
        mem.append(p)
    elif t == ["samples", "cpu"]:
        cpu.append(p)
    elif t == ["goroutine"]:
        gor.append(p)
    elif t == ["contentions", "delay"]:
        lock.append(p)

check(len(cpu) >= 4, "%d CPU profiles" % len(cpu))
durs = [p.duration_nanos / 1e9 for p in cpu]
check(cpu and all(0.9 <= d <= 1.6 for d in durs),
      "CPU profiles cover seconds=1: %s" % ["%.2f" % d for d in durs[:6]])
check(any(sum(s.value[1] for s in p.sample) > 0 for p in cpu), "CPU time recorded")

check(len(mem) >= 6, "%d memory profiles (first scrape of each target is the baseline)" % len(mem))
rate_ok = inuse_ok = True
total_objs = total_secs = 0.0
for p in mem:
    loc = funcs(p)
    t = types(p)
    ia, isp = t.index("alloc_objects"), t.index("inuse_space")
    d = p.duration_nanos / 1e9
    steady = sum(s.value[ia] for s in p.sample if loc[s.location_id[0]][0] == "main.steadyAlloc")
    retain = [s for s in p.sample if loc[s.location_id[0]][0] == "main.retainForever"]
    big = [s for s in retain if s.value[isp] == 16 << 20]
    total_objs += steady
    total_secs += d
    # Go publishes alloc counts at GC boundaries (a GC every 250ms in the
    # target), so one window is exact only to a GC or two.
    if not (1.5 <= d <= 2.6) or not (0.6 * 110 * d <= steady <= 1.4 * 110 * d):
        rate_ok = False
        print("  memory window %.3fs: steadyAlloc alloc_objects %d, want ~%d" % (d, steady, 110 * d))
    if len(big) != 1 or any(s.value[ia] != 0 for s in retain):
        inuse_ok = False
        print("  retainForever samples: %r" % [list(s.value) for s in retain])
    if any(v < 0 for s in p.sample for v in s.value):
        rate_ok = False
        print("  negative value in a delta profile")
check(mem and rate_ok, "memory alloc_* are window deltas (steadyAlloc ~110 objects/s, duration ~2s)")
check(total_secs > 0 and 0.85 <= total_objs / (110 * total_secs) <= 1.15,
      "memory deltas add up: %d objects in %.1fs of windows (110/s expected)" % (total_objs, total_secs))
check(mem and inuse_ok, "memory inuse_* untouched (retainForever 16 MiB in use, alloc delta 0)")

def with_func(p, name):
    loc = funcs(p)
    return sum(s.value[0] for s in p.sample
               if any(name in loc[l] for l in s.location_id))
gcount = [with_func(p, "main.parked") for p in gor]
check(gor and all(c == 25 for c in gcount), "goroutine profiles count 25 parked goroutines: %s" % gcount[:4])
check(any(with_func(p, "main.contendMutex") > 0 for p in lock), "mutex contention delta recorded")
check(any(with_func(p, "main.blockOnChan") > 0 for p in lock), "block delta recorded")
sys.exit(0 if ok else 1)
PYEOF
then pass "payload and attribute checks"; else fail "payload and attribute checks"; fi

echo "== metrics"
metric() { # file, regex -> value of the first matching line
  grep -E "$2" "$1" | head -1 | awk '{print $NF}'
}
v=$(metric "$WORK/metrics1.txt" "^profcol_scrape_target_up\\{.*instance=\"$DOWN\".*profile=\"memory\"")
[ "$v" = "0" ] && pass "down target: up 0" || fail "down target up=$v"
v=$(metric "$WORK/metrics1.txt" "^profcol_scrape_target_errors_total\\{.*instance=\"$DOWN\".*reason=\"connection_refused\"")
[ -n "$v" ] && [ "$v" -ge 1 ] && pass "down target: $v connection_refused errors" || fail "down target errors=$v"
v=$(metric "$WORK/metrics1.txt" "^profcol_scrape_target_up\\{.*instance=\"$A\".*profile=\"memory\"")
[ "$v" = "1" ] && pass "target A: up 1" || fail "target A up=$v"
v=$(metric "$WORK/metrics1.txt" "^profcol_scrape_target_errors_total\\{.*instance=\"$HTML\".*reason=\"invalid_response\"")
[ -n "$v" ] && [ "$v" -ge 1 ] && pass "HTML target: invalid_response counted ($v)" || fail "HTML target invalid_response=$v"
v=$(metric "$WORK/metrics1.txt" "^profcol_scrape_target_errors_total\\{.*instance=\"$HTML\".*reason=\"http_status\"")
[ -n "$v" ] && [ "$v" -ge 1 ] && pass "HTML target: 404 counted as http_status ($v)" || fail "HTML target http_status=$v"
v=$(metric "$WORK/metrics1.txt" '^profcol_scrape_targets\{receiver="scrape",job="gojob"\}')
[ "$v" = "15" ] && pass "15 loops (3 targets x 5 profiles) before removal" || fail "targets before=$v"
v=$(metric "$WORK/metrics2.txt" '^profcol_scrape_targets\{receiver="scrape",job="gojob"\}')
[ "$v" = "10" ] && pass "10 loops after removal" || fail "targets after=$v"
if grep -q "instance=\"$B\"" "$WORK/metrics1.txt" && ! grep -q "instance=\"$B\"" "$WORK/metrics2.txt"; then
  pass "B's metrics removed with it"
else
  fail "B's metrics not removed"
fi
v=$(metric "$WORK/metrics2.txt" '^profcol_scrape_delta_state_bytes\{receiver="scrape"\}')
[ -n "$v" ] && [ "${v%%.*}" -gt 0 ] && pass "delta state reported ($v bytes)" || fail "delta state bytes=$v"

echo "passed=$passed failed=$failed"
if [ "$failed" -ne 0 ]; then
  echo "--- profcol log (tail)"
  tail -30 "$WORK/profcol.log"
  exit 1
fi
