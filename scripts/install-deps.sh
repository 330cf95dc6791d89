#!/usr/bin/env bash
# Installs every Debian package profcol's build and tests need.
# Idempotent and non-interactive: does nothing when all are present.
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config git
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
  libgrpc-dev libyaml-dev libevent-dev libcurl4-openssl-dev libssl-dev
  zlib1g-dev libdeflate-dev libzstd-dev libpcre2-dev libxxhash-dev
  uthash-dev libjansson-dev
  libcmocka-dev clang libclang-rt-14-dev clang-format
  golang-go golang-github-google-pprof-dev
  python3 python3-grpcio python3-protobuf python3-grpc-tools
  prometheus dnsmasq-base curl ca-certificates
  python3-yaml systemd
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
# Node.js runs the real Pyroscope/Datadog SDKs in the tests; any recent
# node will do, Debian's if none is installed.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  missing+=(nodejs npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
