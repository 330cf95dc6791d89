#!/usr/bin/env bash
# The OpenTelemetry eBPF profiler (go.opentelemetry.io/ebpf-profiler,
# v0.0.202636, the version the Collector's ebpf-profiler distribution
# 0.162.0 pins) as a peer: it profiles the whole machine and sends OTLP
# profiles. This script checks, in order, what running it needs, and exits
# 77 (ctest: SKIPPED) naming the first check that does not hold:
#   1. Linux 5.10 or newer
#   2. root, or CAP_BPF + CAP_PERFMON + CAP_SYS_ADMIN in the effective set
#   3. the kernel's BTF (/sys/kernel/btf/vmlinux) and a bpf filesystem
#   4. the Go module proxy serving the profiler's module at that version
#      (it can then be built as its own Go module under tests/peers)
# When every check holds the script fails: the peer is within reach and
# its test is still to be written.
# Env: PROFCOL_BIN, PROFCOL_SOURCE_DIR, PROFCOL_BUILD_DIR (set by ctest).
set -euo pipefail

PEERS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$PEERS/../integration/lib.sh"
MOD=go.opentelemetry.io/ebpf-profiler
VER=v0.0.202636

skip() {
  echo "SKIP: the eBPF profiler ($MOD $VER) cannot run here: $*"
  exit 77
}

IFS=. read -r major minor _ <<<"$(uname -r)"
if [ "$major" -lt 5 ] || { [ "$major" -eq 5 ] && [ "${minor%%[!0-9]*}" -lt 10 ]; }; then
  skip "kernel $(uname -r) is older than 5.10"
fi
pass "kernel $(uname -r) (5.10 or newer)"

caps=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
need=$(( (1 << 21) | (1 << 38) | (1 << 39) )) # CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF
if [ "$(id -u)" != 0 ] && [ $(( 0x$caps & need )) -ne $need ]; then
  skip "not root and the effective capabilities ($caps) lack CAP_BPF, CAP_PERFMON or CAP_SYS_ADMIN"
fi
pass "privileges: uid $(id -u), effective capabilities $caps"

[ -r /sys/kernel/btf/vmlinux ] || skip "no kernel BTF (/sys/kernel/btf/vmlinux)"
grep -qw bpf /proc/filesystems || skip "the kernel has no bpf filesystem"
pass "kernel BTF and a bpf filesystem"

mkdir -p "$WORK/mod"
if ! (cd "$WORK/mod" && GOFLAGS= timeout 120 "$SRC/scripts/go.sh" mod download -json "$MOD@$VER") \
     >"$WORK/download.json" 2>&1; then
  reason=$(jq -r '.Error // empty' "$WORK/download.json" 2>/dev/null | head -n 1)
  skip "the Go module proxy does not serve $MOD@$VER: ${reason:-$(tail -n 1 "$WORK/download.json")}"
fi
die "every precondition holds and $MOD@$VER is served: the peer test is still to be written"
