#!/usr/bin/env bash
# Smoke test of the Docker path: builds the images, brings docker-compose.yml up with
# fresh self-signed certificates, fetches through got-router with curl gophers:// for both
# names and curl gopher:// for plaintext, and tears everything down again.
# Where no Docker engine answers (`docker info` fails) it prints
# "skipped: no Docker engine" and exits 0.
#   GOT_SMOKE_PORT  host port to publish got-router on (default 17070)
set -euo pipefail
cd "$(dirname "$0")"
repo=$(cd .. && pwd)

if ! command -v docker >/dev/null 2>&1 || ! timeout 30 docker info >/dev/null 2>&1; then
  echo "skipped: no Docker engine"
  exit 0
fi
docker compose version >/dev/null 2>&1 || { echo "smoke: docker compose (v2) is needed" >&2; exit 1; }

port=${GOT_SMOKE_PORT:-17070}
project=got-router-smoke-$$
certs=$(mktemp -d /tmp/got-smoke-certs.XXXXXX)
compose=(docker compose -p "$project" -f docker-compose.yml)
export GOT_ROUTER_PORT=$port GOT_ROUTER_CERTS=$certs

cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "smoke: FAILED; the stack's logs:" >&2
    "${compose[@]}" logs --no-color >&2 || true
  fi
  "${compose[@]}" down --volumes --remove-orphans >/dev/null 2>&1 || true
  rm -rf "$certs"
  exit $rc
}
trap cleanup EXIT

./make-certs.sh "$certs"
"${compose[@]}" build
"${compose[@]}" up -d --wait --wait-timeout 120

fetch() { # curl arguments...
  curl -sS --max-time 10 "$@"
}
expect() { # description expected-file actual
  if [ "$3" = "$(cat "$2")" ]; then
    echo "ok    $1"
  else
    echo "FAIL  $1: got:" >&2
    printf '%s\n' "$3" >&2
    return 1
  fi
}
contains() { # description needle haystack
  if grep -qF -- "$2" <<<"$3"; then echo "ok    $1"; else echo "FAIL  $1: no '$2' in: $3" >&2; return 1; fi
}

# TLS with SNI gopher.test -> gophernicus; SNI www.demo.test -> pygopherd; plaintext ->
# gophernicus. Text files come back as they are on disk.
tls_gopher=$(fetch -k --connect-to "gopher.test:70:127.0.0.1:$port" gophers://gopher.test/0/about.txt)
expect "gophers://gopher.test/0/about.txt (gophernicus)" "$repo/examples/gopherroot/about.txt" "$tls_gopher"
tls_demo=$(fetch -k --connect-to "www.demo.test:70:127.0.0.1:$port" gophers://www.demo.test/0/hello.txt)
expect "gophers://www.demo.test/0/hello.txt (pygopherd)" "$repo/examples/demo-root/hello.txt" "$tls_demo"
menu_demo=$(fetch -k --connect-to "www.demo.test:70:127.0.0.1:$port" gophers://www.demo.test/)
contains "gophers://www.demo.test/ menu (pygopherd)" $'/hello.txt\twww.demo.test\t70' "$menu_demo"
plain=$(fetch "gopher://127.0.0.1:$port/")
contains "gopher://127.0.0.1/ menu (gophernicus)" $'/about.txt\tgopher.test\t70' "$plain"
# The image's own HEALTHCHECK, run in the container.
health=$("${compose[@]}" exec -T got-router /usr/local/bin/got-router-healthcheck)
contains "got-router-healthcheck in the container" "200" "$health"
echo "smoke: ok"
