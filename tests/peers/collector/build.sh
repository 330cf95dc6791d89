#!/usr/bin/env bash
# Builds the OpenTelemetry Collector peer with the OpenTelemetry Collector
# Builder (OCB) and prints the binary's path:
#   tests/peers/collector/build.sh BUILD_DIR
#
# Everything is pinned in this folder:
#   manifest.yaml        OCB manifest: core v0.161.0, stable v1.67.0, contrib
#                        v0.161.0 (otlp receiver; otlp_grpc, otlp_http,
#                        debug and contrib file exporters; memory_limiter)
#   builder/go.mod, .sum the builder, go.opentelemetry.io/collector/cmd/builder
#                        v0.161.0, as a Go tool of its own module
#   dist/go.mod, .sum    the distribution's module, as OCB's `go mod tidy`
#                        left it: OCB generates the sources only
#                        (--skip-get-modules --skip-compilation) and the
#                        build uses these files with -mod=readonly
#   pdatacheck/          the test's checker on the same release's pdata
# The binary is cached in BUILD_DIR/peers/collector/ under a hash of
# manifest.yaml, this script and the go.mod/go.sum files: a warm run is a
# hash and a stat. Go's module and build caches (scripts/go.sh) make a
# rebuild after a change cheap too. Cold (empty caches) it downloads about
# 0.5 GB of modules and compiles for several minutes: README.md, Testing.
#
# Environment: PROFCOL_PEER_GOFLAGS (default -p=2) for the compile,
# PROFCOL_GO (see scripts/go.sh).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 BUILD_DIR" >&2
  exit 2
fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
GO="$HERE/../../../scripts/go.sh"
mkdir -p "$1/peers/collector"
OUT="$(cd "$1/peers/collector" && pwd)"

key=$(cat "$HERE/manifest.yaml" "$HERE/build.sh" "$HERE/builder/go.mod" "$HERE/builder/go.sum" \
          "$HERE/dist/go.mod" "$HERE/dist/go.sum" | sha256sum | cut -c1-16)
BIN="$OUT/otelcol-peer-$key"
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

exec 9>"$OUT/.lock"
flock 9
if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi

GOBIN_PATH=$("$GO" --find)
SRCDIR="$OUT/src"
rm -rf "$SRCDIR"
mkdir -p "$SRCDIR"
# The manifest with the output path and the go binary of this machine.
sed -e "s#^\(  output_path:\).*#\1 $SRCDIR#" "$HERE/manifest.yaml" >"$OUT/manifest.yaml"
awk -v go="$GOBIN_PATH" '{print} /^dist:/{print "  go: " go}' "$OUT/manifest.yaml" >"$OUT/manifest.yaml.tmp"
mv "$OUT/manifest.yaml.tmp" "$OUT/manifest.yaml"

echo "collector: generating sources with OCB (builder v0.161.0)" >&2
(cd "$HERE/builder" &&
 "$GO" tool builder --config "$OUT/manifest.yaml" --skip-get-modules --skip-compilation) \
  >"$OUT/ocb.log" 2>&1 || { cat "$OUT/ocb.log" >&2; echo "collector: OCB failed" >&2; exit 1; }
cp "$HERE/dist/go.mod" "$HERE/dist/go.sum" "$SRCDIR/"

echo "collector: compiling otelcol-peer (cold: several minutes)" >&2
start=$(date +%s)
(cd "$SRCDIR" &&
 GOFLAGS="${PROFCOL_PEER_GOFLAGS:--p=2}" nice -n 10 "$GO" build -trimpath -ldflags="-s -w" \
   -o "$BIN.tmp" .) >"$OUT/build.log" 2>&1 ||
  { tail -n 40 "$OUT/build.log" >&2; echo "collector: go build failed" >&2; exit 1; }
mv "$BIN.tmp" "$BIN"
echo "collector: built in $(( $(date +%s) - start )) s" >&2
# Older builds (other keys) are dropped.
for f in "$OUT"/otelcol-peer-*; do
  [ "$f" = "$BIN" ] || rm -f "$f"
done
echo "$BIN"
