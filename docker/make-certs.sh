#!/usr/bin/env bash
# Self-signed certificates for trying the compose stack out:
#   docker/make-certs.sh [DIR]      (DIR defaults to docker/certs)
# writes gopher.test.pem/.key (SAN gopher.test) and demo.test.pem/.key (SAN demo.test,
# *.demo.test), RSA-2048, valid 365 days; existing files are kept.
# The keys are made world-readable so the container's got-router user (uid 10070) can read
# them through the bind mount: fine for throwaway test keys, never for real ones (for those:
# owner root, group 10070, mode 0640).
set -euo pipefail
dir=${1:-$(dirname "$0")/certs}
mkdir -p "$dir"

make_cert() { # file-stem common-name SAN-list
  [ -s "$dir/$1.pem" ] && [ -s "$dir/$1.key" ] && return 0
  openssl req -x509 -newkey rsa:2048 -nodes -days 365 -subj "/CN=$2" \
    -addext "subjectAltName=$3" -keyout "$dir/$1.key" -out "$dir/$1.pem" 2>/dev/null
  chmod 0644 "$dir/$1.pem" "$dir/$1.key"
  echo "make-certs: $dir/$1.pem ($3)"
}
make_cert gopher.test gopher.test "DNS:gopher.test"
make_cert demo.test demo.test "DNS:demo.test,DNS:*.demo.test"
