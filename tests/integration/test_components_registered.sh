#!/usr/bin/env bash
# Every component folder is a registered component and nothing else is:
# the folders under receivers/, processors/ and exporters/ (those holding C
# sources) must be exactly the (kind, type) pairs `profcol components`
# lists. scripts/check-style.sh (registry) checks the same from the
# sources; this checks the binary that was built.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${PROFCOL_SOURCE_DIR:-$(cd "$HERE/../.." && pwd)}"
BUILD="${PROFCOL_BUILD_DIR:-$SRC/build}"
PROFCOL="${PROFCOL_BIN:-$BUILD/profcol}"
[ -x "$PROFCOL" ] || { echo "FAIL: profcol binary not found at $PROFCOL"; exit 1; }

folders=$(
    for kind in receiver processor exporter; do
        for d in "$SRC/${kind}s"/*/; do
            if compgen -G "$d*.c" >/dev/null; then
                echo "$kind $(basename "$d")"
            fi
        done
    done | LC_ALL=C sort
)
# `profcol components`: a header line, then KIND TYPE STABILITY DESCRIPTION.
registered=$("$PROFCOL" components | awk 'NR > 1 { print $1, $2 }' | LC_ALL=C sort)

if [ -z "$registered" ]; then
    echo "FAIL: profcol components listed nothing"
    exit 1
fi
if [ "$folders" != "$registered" ]; then
    echo "FAIL: component folders and registered components differ"
    echo "(< folder without a registered component, > component without a folder)"
    diff <(echo "$folders") <(echo "$registered") | grep '^[<>]' || true
    exit 1
fi
echo "PASS: $(echo "$folders" | wc -l) component folders, each registered once"
