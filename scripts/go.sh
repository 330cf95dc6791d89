#!/usr/bin/env bash
# Runs a checked Go for the Go programs the tests and benchmarks build:
#   scripts/go.sh build -o OUT .     any go command, in module mode
#   scripts/go.sh --find             print the path of the go it would run
#
# Picks /usr/local/go/bin/go if present, else the first go on PATH, and
# fails with a clear message unless it is at least PROFCOL_GO_MIN (default
# 1.26: the go line of google/pprof's go.mod at the pinned version, and of
# the Collector peer's). Debian 12's golang-go is 1.19: far too old.
#
# Environment it sets for the go command:
#   GOFLAGS=-mod=readonly -buildvcs=false (plus any GOFLAGS given): go.mod
#     and go.sum are committed and never rewritten by a build
#   GOTOOLCHAIN=local: a go line never triggers a toolchain download; but
#     when only a Go 1.21..MIN is found (bookworm-backports has 1.23), it
#     runs go$PROFCOL_GO_TOOLCHAIN (default 1.26.8) fetched as a module
#   GOMODCACHE/GOCACHE: Go's usual per-user places, kept between runs;
#     under ${TMPDIR:-/tmp}/profcol-go when there is no HOME
#   PROFCOL_GO: a go binary to use instead of the search
set -euo pipefail

MIN=${PROFCOL_GO_MIN:-1.26}

go_ok() { # GO: prints its version and succeeds if it is >= MIN
  local v
  v=$("$1" version 2>/dev/null | awk '{print $3}') || return 1
  v=${v#go}
  [ -n "$v" ] || return 1
  printf '%s\n' "$v" >&2
  local a b c d
  IFS=. read -r a b _ <<<"$v"
  IFS=. read -r c d _ <<<"$MIN"
  b=${b%%[!0-9]*}
  [ "${a:-0}" -gt "$c" ] || { [ "${a:-0}" -eq "$c" ] && [ "${b:-0}" -ge "$d" ]; }
}

find_go() {
  local cands=() g seen=""
  [ -n "${PROFCOL_GO:-}" ] && cands+=("$PROFCOL_GO")
  cands+=(/usr/local/go/bin/go)
  g=$(command -v go 2>/dev/null || true)
  [ -n "$g" ] && cands+=("$g")
  # Debian's versioned packages (golang-1.2x-go from bookworm-backports).
  for g in $(ls -d /usr/lib/go-1.*/bin/go 2>/dev/null | sort -t. -k2 -n -r); do
    cands+=("$g")
  done
  for g in "${cands[@]}"; do
    [ -x "$g" ] || continue
    case " $seen " in *" $g "*) continue ;; esac
    local v
    if v=$(go_ok "$g" 2>&1); then
      printf '%s local\n' "$g"
      return 0
    fi
    seen="$seen $g (go$v) "
  done
  # A Go >= 1.21 can run a newer release fetched as a module through the
  # Go module proxy (once; it stays in the module cache).
  for g in "${cands[@]}"; do
    [ -x "$g" ] || continue
    if MIN=1.21 go_ok "$g" 2>/dev/null; then
      local tc="go${PROFCOL_GO_TOOLCHAIN:-1.26.8}"
      echo "go.sh: no Go >= $MIN; running $tc through $g (GOTOOLCHAIN)" >&2
      printf '%s %s\n' "$g" "$tc"
      return 0
    fi
  done
  echo "go.sh: need Go >= $MIN; found:${seen:- no go at all}." >&2
  echo "go.sh: install a newer Go (scripts/install-deps.sh installs one when it can), or set PROFCOL_GO" >&2
  return 1
}

found=$(find_go)
read -r GO TOOLCHAIN <<<"$found"
if [ "${1:-}" = "--find" ]; then
  printf '%s\n' "$GO"
  exit 0
fi

export GOFLAGS="-mod=readonly -buildvcs=false${GOFLAGS:+ $GOFLAGS}"
export GOTOOLCHAIN=$TOOLCHAIN
if [ -z "${HOME:-}" ] && [ -z "${GOMODCACHE:-}" ]; then
  base="${TMPDIR:-/tmp}/profcol-go"
  export GOPATH="${GOPATH:-$base/path}" GOCACHE="${GOCACHE:-$base/cache}"
fi
exec "$GO" "$@"
