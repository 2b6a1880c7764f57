#!/usr/bin/env bash
# The demo: builds got-router, makes self-signed certificates for gopher.test and
# *.demo.test, starts two real legacy gopherds (gophernicus serving
# examples/gopherroot, pygopherd serving examples/demo-root) and runs got-router on
# 127.0.0.1:7070 in the foreground, with GoH on (it prints the browse page's URL).
# Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
port=${GOT_DEMO_PORT:-7070}

GOT_BUILD_TARGET=got-router scripts/build.sh

state=$(mktemp -d /tmp/got-demo.XXXXXX)
chmod 755 "$state"
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Certificates: 90 days, RSA-2048, names in the SAN.
make_cert() { # name file-stem
  openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj "/CN=$1" \
    -addext "subjectAltName=DNS:$1" -keyout "$state/$2.key" -out "$state/$2.pem" 2>/dev/null
}
make_cert gopher.test gopher
make_cert '*.demo.test' demo

# Content readable by the unprivileged users the gopherds run as.
cp -r examples/gopherroot examples/demo-root "$state/"
chmod -R a+rX "$state/gopherroot" "$state/demo-root"

# gophernicus is inetd-style and refuses to run as root: socat forks it per
# connection, as an unprivileged user when we are root.
gophernicus_port=$(free_port)
su_opt=""
[ "$(id -u)" -eq 0 ] && su_opt=",su=nobody"
socat "TCP-LISTEN:$gophernicus_port,bind=127.0.0.1,reuseaddr,fork" \
  "EXEC:/usr/sbin/gophernicus -h gopher.test -p $port -r $state/gopherroot -nf -nv -ns$su_opt" &
pids+=($!)

# pygopherd runs standalone from its own copy of the Debian config.
pygopherd_port=$(free_port)
sed -e "s/^port = 70/port = $pygopherd_port/" -e "s|^root = /var/gopher|root = $state/demo-root|" \
  -e 's/^usechroot = yes/usechroot = no/' -e "s|^pidfile = .*|pidfile = $state/pygopherd.pid|" \
  -e 's/^logmethod = syslog/logmethod = none/' -e 's/^# servername = .*/servername = www.demo.test/' \
  -e 's/^# interface = .*/interface = 127.0.0.1/' /etc/pygopherd/pygopherd.conf >"$state/pygopherd.conf"
pygopherd "$state/pygopherd.conf" >"$state/pygopherd.log" 2>&1 &
pids+=($!)

cat >"$state/got-router.yaml" <<YAML
listeners:
  - address: "127.0.0.1:$port"
    plaintext: true
    tls: true
    default_route: gopher
    goh: true
certificates:
  - cert: gopher.pem
    key: gopher.key
    default: true
  - cert: demo.pem
    key: demo.key
routes:
  - name: gopher
    sni: [gopher.test]
    backends: ["127.0.0.1:$gophernicus_port"]
  - name: demo
    sni: ["*.demo.test"]
    backends: ["127.0.0.1:$pygopherd_port"]
timeouts: { handshake: 10s, connect: 2s, idle: 60s, shutdown_grace: 5s }
YAML

cat <<TRY

got-router demo: 127.0.0.1:$port, plaintext Gopher, Gopher over TLS and Gopher over HTTP on one port
  gopher.test   -> gophernicus (127.0.0.1:$gophernicus_port), also the plaintext default
  *.demo.test   -> pygopherd   (127.0.0.1:$pygopherd_port)
Config: $state/got-router.yaml

Try, in another terminal:
  curl -k --connect-to gopher.test:70:127.0.0.1:$port gophers://gopher.test/0/about.txt
  curl -k --connect-to www.demo.test:70:127.0.0.1:$port gophers://www.demo.test/0/hello.txt
  echo / | openssl s_client -quiet -connect 127.0.0.1:$port -servername gopher.test -alpn gopher
  curl gopher://127.0.0.1:$port/
  curl -H 'Accept: application/gopher' 'http://127.0.0.1:$port/?url=gopher://gopher.test/0/about.txt'
Browse it (GoH page): http://127.0.0.1:$port/#gopher://gopher.test:$port/1
Ctrl-C stops the router and both gopherds.

TRY

build/router/got-router -c "$state/got-router.yaml" &
pids+=($!)
wait "${pids[-1]}"
