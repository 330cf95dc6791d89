#!/usr/bin/env bash
# Runs every libFuzzer target in BUILD_DIR for SECONDS over its seed corpus
# (tests/fuzz/corpus/<target>/), in a scratch copy so the seeds stay as they are.
set -euo pipefail
build=${1:?build dir}
secs=${2:-20}
src=$(cd "$(dirname "$0")/.." && pwd)
status=0
for bin in "$build"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  if [ -d "$src/tests/fuzz/corpus/$name" ]; then
    cp -r "$src/tests/fuzz/corpus/$name/." "$work/"
  fi
  echo "fuzz: $name for ${secs}s"
  # Undefined behaviour aborts the target (-fno-sanitize-recover in the fuzz
  # build; only pointer-overflow reports and goes on, counted below).
  if ! ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=30 \
        -max_len=1048576 -print_final_stats=0 -artifact_prefix="$work.crash-" "$work" >"$work.log" 2>&1; then
    echo "fuzz: $name FAILED"; tail -50 "$work.log"; status=1
  fi
  n=$(grep -c 'runtime error: applying zero offset to null pointer' "$work.log" || true)
  [ "$n" -eq 0 ] || echo "fuzz: $name: $n zero offsets added to NULL (reported, not failed)"
  rm -rf "$work" "$work.log" "$work".crash-* # the log shows a failing input in Base64
done
exit $status
