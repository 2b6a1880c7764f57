#!/bin/bash
# HEALTHCHECK of the got-router image (installed as /usr/local/bin/got-router-healthcheck):
# GET /healthz from the admin endpoint with bash's /dev/tcp, so the image needs no curl.
# Exit 0 when the answer is HTTP 200, 1 otherwise.
#
#   got-router-healthcheck [HOST:PORT [PATH]]
#   defaults: $GOT_ROUTER_ADMIN or 127.0.0.1:9070 (admin.address), /healthz
set -u
address=${1:-${GOT_ROUTER_ADMIN:-127.0.0.1:9070}}
path=${2:-/healthz}
host=${address%:*}
port=${address##*:}
host=${host#[}
host=${host%]}

if ! exec 3<>"/dev/tcp/$host/$port"; then
  echo "healthcheck: cannot connect to $address" >&2
  exit 1
fi
printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$address" >&3
if ! IFS= read -r -t 3 status <&3; then
  echo "healthcheck: no answer from $address$path" >&2
  exit 1
fi
# Read the rest (the server closes: Connection: close), so closing sends no reset.
while IFS= read -r -t 2 _ <&3; do :; done
exec 3<&-
status=${status%$'\r'}
case $status in
  "HTTP/1."[01]" 200"*)
    echo "$status"
    exit 0
    ;;
esac
echo "healthcheck: $address$path answered: $status" >&2
exit 1
