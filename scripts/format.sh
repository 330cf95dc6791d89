#!/usr/bin/env bash
# format.sh: formats C sources with clang-format and the project's
# .clang-format.
#   scripts/format.sh [FILE...]           format FILEs (default: every C file) in place
#   scripts/format.sh --check [FILE...]   change nothing; print file:line: reason
#                                         for each file that is not formatted, exit 1
#   scripts/format.sh --list              the C files the style applies to
#   scripts/format.sh --stat              how many files and lines formatting would change
# Generated code (protobuf-c output, in the build tree) is never formatted.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Folders that hold profcol's own C code.
FORMAT_DIRS=(core model codec config telemetry component exporterhelper net
             pipeline receivers processors exporters cmd tests bench)
CLANG_FORMAT=${CLANG_FORMAT:-clang-format}

list_files()
{
    cd "$root"
    if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
        git ls-files -- "${FORMAT_DIRS[@]/%//*.c}" "${FORMAT_DIRS[@]/%//*.h}"
    else
        find "${FORMAT_DIRS[@]}" -name '*.[ch]' -type f 2>/dev/null
    fi | grep -v '\.pb-c\.[ch]$' | LC_ALL=C sort
}

need_clang_format()
{
    local v

    if ! command -v "$CLANG_FORMAT" >/dev/null 2>&1; then
        echo "format.sh: $CLANG_FORMAT not found (scripts/install-deps.sh installs it)" >&2
        exit 2
    fi
    # Each clang-format release formats a little differently; the tree is
    # kept in the form Debian 12's clang-format 14 gives.
    v=$("$CLANG_FORMAT" --version | sed -n -E 's/.*version ([0-9]+).*/\1/p')
    if [ "$v" != 14 ]; then
        echo "format.sh: warning: $CLANG_FORMAT is version ${v:-unknown}, the style is set for 14" >&2
    fi
}

mode=format
case "${1:-}" in
--check | --list | --stat)
    mode=${1#--}
    shift
    ;;
esac

if [ "$mode" = list ]; then
    list_files
    exit 0
fi
need_clang_format
cd "$root"
if [ $# -gt 0 ]; then
    files=("$@")
else
    mapfile -t files < <(list_files)
fi

case "$mode" in
format)
    "$CLANG_FORMAT" -i --style=file "${files[@]}"
    ;;
check)
    # clang-format reports "file:line:col: error: code should be
    # clang-formatted"; keep file:line and say what to run.
    out=$("$CLANG_FORMAT" --dry-run -Werror --style=file "${files[@]}" 2>&1) && exit 0
    printf '%s\n' "$out" | sed -n -E \
        's|^(\./)?([^:]+):([0-9]+):[0-9]+: error: code should be clang-formatted.*|\2:\3: not clang-formatted (scripts/format.sh \2)|p' |
        sort -u -t: -k1,1 -k2,2n
    exit 1
    ;;
stat)
    nf=0 removed=0 added=0
    for f in "${files[@]}"; do
        d=$("$CLANG_FORMAT" --style=file "$f" | diff "$f" - || true)
        r=$(grep -c '^<' <<<"$d" || true)
        a=$(grep -c '^>' <<<"$d" || true)
        if [ "$r" -gt 0 ] || [ "$a" -gt 0 ]; then
            nf=$((nf + 1)) removed=$((removed + r)) added=$((added + a))
            echo "$f: $r lines would change"
        fi
    done
    echo "format: $nf of ${#files[@]} files would change: $removed lines replaced by $added"
    ;;
esac
