#!/usr/bin/env bash
# Every configuration key of every component is documented in
# docs/configuration.md (the components' own key tables are the source).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if "$PY" "$HERE/docs_keys.py" "$PROFCOL" "$SRC/docs/configuration.md"; then
  pass "every component key is documented in docs/configuration.md"
else
  fail "undocumented configuration keys (above)"
fi
finish
