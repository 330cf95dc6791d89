#!/usr/bin/env bash
# Installs every Debian package profcol's build and tests need.
# Idempotent and non-interactive: does nothing when all are present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libgrpc-dev libyaml-dev libevent-dev libcurl4-openssl-dev libssl-dev
  zlib1g-dev libdeflate-dev libisal-dev libzstd-dev liblz4-dev libsnappy-dev
  libpcre2-dev libxxhash-dev
  uthash-dev libjansson-dev
  libcmocka-dev clang libclang-rt-14-dev clang-format
  python3 python3-grpcio python3-protobuf python3-grpc-tools
  prometheus dnsmasq-base curl ca-certificates openssl
  python3-yaml systemd
  chromium fonts-dejavu-core
  jq zstd lz4 openjdk-17-jdk-headless
)
# chromium: the browser tests (tests/browser: Playwright drives Debian's
# /usr/bin/chromium; no browser is downloaded).

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -c 'install ok installed' >/dev/null; then
    missing+=("$p")
  fi
done
# Node.js runs the real Pyroscope/Datadog SDKs in the tests; any recent
# node will do, Debian's if none is installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

# Go builds the test programs and the Collector peer (modules pinned by
# go.sum, fetched through the Go module proxy). scripts/go.sh wants Go >=
# 1.26 (/usr/local/go or PATH), or a Go >= 1.21 that then runs go1.26 as a
# module. Debian 12's golang-go is 1.19, too old: when no usable Go is
# present, take the newest golang-1.2x-go of bookworm-backports.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
need_go=0
if ! "$HERE/go.sh" --find >/dev/null 2>&1; then
  need_go=1
fi

if [ ${#missing[@]} -eq 0 ] && [ $need_go -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ $need_go -eq 1 ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.list
  if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d/; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" | $SUDO tee "$list" >/dev/null
  fi
  $SUDO apt-get update -qq
  pkg=$(apt-cache search --names-only '^golang-1\.[0-9]+-go$' | awk '{print $1}' |
        sort -t. -k2 -n | tail -n 1)
  if [ -z "$pkg" ]; then
    echo "install-deps: no Go package found; install Go >= 1.26 in /usr/local/go" >&2
    exit 1
  fi
  echo "install-deps: installing $pkg (bookworm-backports)"
  $SUDO apt-get install -y -qq --no-install-recommends -t bookworm-backports "$pkg" ||
    $SUDO apt-get install -y -qq --no-install-recommends "$pkg"
  "$HERE/go.sh" --find >/dev/null || exit 1
fi
