#!/usr/bin/env bash
# test_metrics_promtool.sh: the self-metrics exposition passes promtool's
# parser and linter. The unit test binary test_metrics renders a registry
# shaped like a running profcol's (labelled counters and gauges, computed
# gauges, escaped label values, process and build metrics) into a file when
# PROFCOL_METRICS_DUMP is set; promtool then checks that file.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

bin="$BUILD/test_metrics"
[[ -x "$bin" ]] || die "$bin not built"
need_cmd promtool "Debian package: prometheus"

out="$WORK/metrics.txt"
PROFCOL_METRICS_DUMP="$out" "$bin"

# An empty file would pass promtool: make sure the families are there.
for family in profcol_process_cpu_seconds_total profcol_process_memory_rss_bytes \
              profcol_process_uptime_seconds profcol_build_info \
              profcol_receiver_accepted_profiles_total profcol_exporter_queue_size; do
    if ! grep -q "^# TYPE $family " "$out"; then
        cat "$out"
        die "family $family missing from the exposition"
    fi
done

# promtool exits non-zero on parse errors and on lint problems; it also
# prints lint problems, so any output at all is a failure too.
if ! report=$(promtool check metrics < "$out" 2>&1) || [[ -n "$report" ]]; then
    echo "$report"
    cat "$out"
    fail "promtool check metrics (above)"
else
    pass "promtool accepts $(grep -c '^# TYPE' "$out") families"
fi
finish
