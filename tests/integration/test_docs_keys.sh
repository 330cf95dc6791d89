#!/usr/bin/env bash
# Every configuration key of every component is documented in
# docs/configuration.md (the components' own key tables are the source).
set -euo pipefail
: "${PROFCOL_BIN:?}" "${PROFCOL_SOURCE_DIR:?}"
py=/usr/bin/python3
command -v "$py" >/dev/null || py=python3
"$py" "$PROFCOL_SOURCE_DIR/tests/integration/docs_keys.py" "$PROFCOL_BIN" \
      "$PROFCOL_SOURCE_DIR/docs/configuration.md"
