#!/usr/bin/env bash
# The status page (service.telemetry.ui) with real Go CPU profiles, in
# Debian's chromium driven by Playwright (tests/browser/status_page.js), and
# its JSON API read by Python:
#   (a) the page loads; its graph shows the configured components; counters
#       move after a profile is sent (without a reload); an exporter that
#       cannot reach its backend shows its failures and last error; the flame graph
#       holds google/pprof's top function with its flat share, and fills in
#       without a reload as more are sent; a click zooms;
#       search highlights; readable with JavaScript off; a diff of two time
#       ranges draws the regressed function reddest; nothing is loaded from
#       elsewhere; screenshots are kept in $BUILD/screenshots
#   (b) the SVG files of `profcol flamegraph` and `profcol diff --svg` open
#       in the browser and zoom by themselves
#   (c) /api/pipelines, /api/series, /api/store, /api/flamegraph (JSON and
#       SVG), /api/diff; a bad time range is a 400, an unknown path a 404, a
#       POST a 405
#   (d) a reload (SIGHUP) redraws the pipelines
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
need_cmd node "Playwright drives the browser from Node.js"
need_cmd npm "installs playwright-core (tests/browser/package-lock.json)"
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing: scripts/install-deps.sh installs Debian's chromium"
pc() { timeout 120 "$PROFCOL" "$@"; }

echo "== fixtures"
fixtures --skip-node
build_pproftop
TOP="$PPROFTOP"
CPU="$PROF/cpu.pb.gz"
read -r top top_share < <("$TOP" -top "$CPU")
echo "google/pprof: top function $top, flat $top_share%"
"$TOP" -scale "$top" 4 "$CPU" "$WORK/new.pb.gz" || die "pproftop -scale"
pc flamegraph "$CPU" "$WORK/cpu.svg" || die "flamegraph"
rc=0
pc diff "$CPU" "$WORK/new.pb.gz" --svg "$WORK/diff.svg" >/dev/null || rc=$?
[ "$rc" -eq 1 ] || die "diff --svg exited $rc"

echo "== playwright-core (locked)"
BROWSER_DIR="$BUILD/browser-tests"
mkdir -p "$BROWSER_DIR"
exec {lockfd}>"$BROWSER_DIR.lock"
flock "$lockfd"
for f in package.json package-lock.json status_page.js; do
  cp "$SRC/tests/browser/$f" "$BROWSER_DIR/$f"
done
if ! cmp -s "$SRC/tests/browser/package-lock.json" "$BROWSER_DIR/.installed" 2>/dev/null; then
  (cd "$BROWSER_DIR" && timeout 300 npm ci --no-audit --no-fund --loglevel=error) \
    >"$WORK/npm.log" 2>&1 || { cat "$WORK/npm.log"; die "npm ci playwright-core"; }
  cp "$SRC/tests/browser/package-lock.json" "$BROWSER_DIR/.installed"
fi
exec {lockfd}>&-

echo "== profcol"
new_ports
UI_PORT=$(free_port)
PYRO_PORT=$(free_port)
DOWN_PORT=$(free_port) # nothing listens: otlphttp/down fails and logs it
cat >"$WORK/profcol.yaml" <<YAML
receivers:
  pyroscope:
    endpoint: 127.0.0.1:$PYRO_PORT
processors:
  filter:
    services: ["*"]
exporters:
  debug:
    verbosity: basic
  otlphttp/down:
    endpoint: http://127.0.0.1:$DOWN_PORT
    timeout: 2s
    retry_on_failure:
      enabled: false
service:
  pipelines:
    profiles:
      receivers: [pyroscope]
      processors: [filter]
      exporters: [debug, otlphttp/down]
  telemetry:
    metrics:
      address: 127.0.0.1:$METRICS_PORT
    health:
      address: 127.0.0.1:$HEALTH_PORT
    ui:
      address: 127.0.0.1:$UI_PORT
      retention: 30s
      max_bytes: 8MiB
YAML
start_profcol profcol "$WORK/profcol.yaml"
UI="http://127.0.0.1:$UI_PORT"

echo "== (a)(b) the browser"
SHOTS="$BUILD/screenshots"
rm -f "$SHOTS"/status-page.png "$SHOTS"/status-page-diff.png "$SHOTS"/diff-flamegraph.png
rc=0
UI_URL="$UI" INGEST_URL="http://127.0.0.1:$PYRO_PORT/ingest?name=checkout.cpu%7Bservice_name%3Dcheckout%7D&format=pprof" \
  BASE_PROF="$CPU" NEW_PROF="$WORK/new.pb.gz" TOP_FN="$top" TOP_SHARE="$top_share" \
  CPU_SVG="$WORK/cpu.svg" DIFF_SVG="$WORK/diff.svg" SHOTS="$SHOTS" \
  timeout 240 node "$BROWSER_DIR/status_page.js" >"$WORK/browser.out" 2>&1 || rc=$?
while IFS= read -r line; do
  case "$line" in
    PASS:*) pass "${line#PASS: }" ;;
    FAIL:*) fail "${line#FAIL: }" ;;
    *) echo "$line" ;;
  esac
done <"$WORK/browser.out"
[ "$rc" -eq 0 ] || fail "the browser checks exited $rc"
for f in status-page.png status-page-diff.png diff-flamegraph.png; do
  "$PY" -c "import sys; d=open(sys.argv[1],'rb').read(24); sys.exit(d[:8]!=b'\x89PNG\r\n\x1a\n' or int.from_bytes(d[16:20],'big')<600)" \
    "$SHOTS/$f" && pass "screenshot $f kept" || fail "screenshot $f missing or not a PNG"
done

echo "== (c) the API"
curl -fsS "$UI/api/pipelines" >"$WORK/pipelines.json" || fail "/api/pipelines"
"$PY" - "$WORK/pipelines.json" <<'PYCHK' && pass "/api/pipelines: components and counters" || fail "/api/pipelines"
import json, sys
d = json.load(open(sys.argv[1]))
p = d["pipelines"][0]
assert p["id"] == "profiles", p
assert [c["id"] for c in p["receivers"]] == ["pyroscope"]
assert [c["id"] for c in p["processors"]] == ["filter"]
assert [c["id"] for c in p["exporters"]] == ["debug", "otlphttp/down"]
assert p["receivers"][0]["accepted_profiles"] >= 4, p
assert p["exporters"][0]["sent_profiles"] >= 4, p
assert p["exporters"][0]["failed_profiles"] == 0
down = p["exporters"][1]
assert down["failed_profiles"] >= 1 and down["sent_profiles"] == 0, down
assert down["errors"] and down["errors"][0]["level"] == "error", down
assert "dropped" in down["errors"][0]["text"], down
PYCHK
curl -fsS "$UI/api/series" | "$PY" -c '
import json, sys
s = json.load(sys.stdin)["series"]
assert len(s) == 1 and s[0]["service"] == "checkout" and s[0]["type"] == "cpu:nanoseconds", s
assert s[0]["profiles"] >= 3' && pass "/api/series: checkout cpu:nanoseconds" || fail "/api/series"
curl -fsS "$UI/api/store" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
assert 0 < d["bytes"] <= d["max_bytes"] == 8 << 20, d
assert d["retention_ms"] == 30000 and d["dropped_batches_queue_full"] == 0, d' \
  && pass "/api/store: within max_bytes" || fail "/api/store"
curl -fsS "$UI/api/flamegraph?service=checkout&from=-30s" | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
names, nodes = d["names"], d["nodes"]
total = nodes[0][2]
top = sum(n[3] for n in nodes if names[n[0]] == sys.argv[1])
assert total > 0 and top > 0
# the base and the regressed profile (top times 4) were sent: share of both
print("%.4f" % (100.0 * top / total))' "$top" >"$WORK/share" && pass "/api/flamegraph JSON: $top $(cat "$WORK/share")%" \
  || fail "/api/flamegraph JSON"
code=$(curl -s -o "$WORK/svg" -w '%{http_code} %{content_type}' "$UI/api/flamegraph?format=svg")
[ "$code" = "200 image/svg+xml" ] && "$PY" -c 'import sys, xml.etree.ElementTree as ET; ET.parse(sys.argv[1])' "$WORK/svg" \
  && pass "/api/flamegraph?format=svg: well-formed SVG" || fail "/api/flamegraph?format=svg: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$UI/api/diff?base_from=-30s&base_to=-1s&format=svg")
[ "$code" = 200 ] && pass "/api/diff: 200" || fail "/api/diff: $code"
code=$(curl -s -o "$WORK/err" -w '%{http_code}' "$UI/api/flamegraph?from=yesterday")
[ "$code" = 400 ] && grep -q '^from:' "$WORK/err" && pass "a bad range: 400 $(head -1 "$WORK/err")" || fail "a bad range: $code"
code=$(curl -s -o "$WORK/err" -w '%{http_code}' "$UI/api/diff?format=functions&threshold=lots")
[ "$code" = 400 ] && grep -q '^threshold:' "$WORK/err" && pass "a bad threshold: 400 $(head -1 "$WORK/err")" \
  || fail "a bad threshold: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$UI/api/nosuch")
[ "$code" = 404 ] && pass "unknown path: 404" || fail "unknown path: $code"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$UI/")
[ "$code" = 405 ] && pass "POST: 405" || fail "POST: $code"

echo "== (d) a reload redraws the pipelines"
sed -i 's/exporters: \[debug, otlphttp\/down\]/exporters: [debug]/' "$WORK/profcol.yaml"
kill -HUP "$PC_PID"
exps() { curl -fsS "$UI/api/pipelines" | "$PY" -c '
import json, sys
print(",".join(c["id"] for c in json.load(sys.stdin)["pipelines"][0]["exporters"]))'; }
only_debug() { [ "$(exps)" = debug ]; }
if wait_until 15 only_debug; then
  pass "after SIGHUP the page draws the new pipeline (exporters: $(exps))"
else
  fail "after SIGHUP: exporters $(exps)"
fi

stop profcol || fail "profcol exited non-zero"
finish
