#!/usr/bin/env bash
# Installs the Debian 12 packages that building, testing, CI and the demo need, so that a
# bare debian:bookworm with a fresh clone runs every test (none skipped for a missing tool).
# Idempotent and quiet when everything is already there; every other script calls it.
#
#   install-deps.sh           everything: build, tests, CI's checks, the image check
#   install-deps.sh --build   only what compiling needs (compiler, CMake, the libraries,
#                             GoogleTest): the Docker image's build stage
set -euo pipefail

build_packages=(cmake g++ make libboost1.81-dev libssl-dev libyaml-cpp-dev libgtest-dev)
packages=(
  # build
  "${build_packages[@]}"
  # tests and demo: real clients, real legacy gopherds, helpers
  openssl curl python3 python3-yaml socat gophernicus pygopherd procps iproute2 ca-certificates
  # the backend-connect tests read the router's system calls
  strace
  # bench.by_call: by_call.py on a real perf recording
  linux-perf
  # fault-injection tests: random packet drop (iptables -m statistic) inside unshare -n
  iptables
  # hardening tests: TLS scanner
  testssl.sh
  # operations tests: promtool checks /metrics
  prometheus
  # PROXY protocol tests: HAProxy in front of got-router
  haproxy
  # certificates by tls-alpn-01 through a passthrough route: the ACME test CA and a client
  pebble lego
  # deploy tests: systemd-analyze verify and systemd-socket-activate on the example units,
  # shellcheck on the deployment scripts
  systemd shellcheck
  # the image check (scripts/image-check.sh): base images from debootstrap, the Dockerfiles
  # built and run with buildah (no Docker engine); binutils for readelf and strip
  buildah debootstrap binutils
  # CI: the format check lists the files to check with git ls-files
  git
  # format check
  clang-format
  # lint (scripts/lint.sh; shellcheck is above)
  pyflakes3
  # GoH tests: the browse page in a real browser (headless)
  chromium
)

case ${1:-} in
  --build) packages=("${build_packages[@]}") ;;
  "") ;;
  *) echo "usage: $0 [--build]" >&2; exit 2 ;;
esac

# GoH tests: the reference GoH proxy, npm goh, runs on Node.js. A machine whose Node comes
# from elsewhere (NodeSource's nodejs bundles npm) keeps it.
if [ "${1:-}" != "--build" ] && ! command -v npm >/dev/null; then
  packages+=(nodejs npm)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  if [ -n "$sudo" ]; then
    command -v sudo >/dev/null || { echo "install-deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm modules the tests run, pinned, in a cache directory (tests/integration finds them at
# $GOT_NPM_DIR, default below): goh, the reference GoH proxy the GoH tests compare with;
# goth, a reference GoT server (the backend of the backends-over-TLS tests).
if [ "${1:-}" != "--build" ]; then
  npm_dir=${GOT_NPM_DIR:-/var/cache/got-router/npm}
  npm_modules=(goh@4.3.0 goth@1.2.4)
  for m in "${npm_modules[@]}"; do
    name=${m%@*} version=${m##*@}
    manifest=$npm_dir/node_modules/$name/package.json
    if [ ! -f "$manifest" ] || ! grep -q "\"version\": \"$version\"" "$manifest"; then
      echo "install-deps: npm install $m into $npm_dir" >&2
      $sudo mkdir -p "$npm_dir"
      $sudo npm install --prefix "$npm_dir" --no-audit --no-fund --silent "$m" >/dev/null
    fi
  done
fi
