#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing and the demo need.
# Idempotent and quiet when everything is already there; every other script calls it.
set -euo pipefail

packages=(
  # build
  cmake g++ make libboost1.81-dev libssl-dev libyaml-cpp-dev libgtest-dev
  # tests and demo: real clients, real legacy gopherds, helpers
  openssl curl python3 python3-yaml socat gophernicus pygopherd procps iproute2 ca-certificates
  # fault-injection tests: random packet drop (iptables -m statistic) inside unshare -n
  iptables
  # hardening tests: TLS scanner
  testssl.sh
  # operations tests: promtool checks /metrics
  prometheus
  # PROXY protocol tests: HAProxy in front of got-router
  haproxy
  # format check
  clang-format
  shellcheck pyflakes3 # lint (scripts/lint.sh)
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
