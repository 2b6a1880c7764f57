#!/usr/bin/env bash
# The legacy gopherds of the compose stack (docker/gophernicus.Dockerfile,
# docker/pygopherd.Dockerfile), and of the deploy.interop_* tests, which start them with
# this same script on this machine.
#
#   docker-gopherd.sh install gophernicus|pygopherd   image build: the Debian packages (no-op
#                                                     when installed), then clean apt's caches
#   docker-gopherd.sh gophernicus                     run gophernicus, inetd-style, under socat
#   docker-gopherd.sh pygopherd                       run pygopherd standalone
#
# Both run in the foreground (exec, so signals reach the daemon) and read:
#   GOPHERD_PORT         port to listen on (default 7070)
#   GOPHERD_BIND         address to listen on (default 0.0.0.0)
#   GOPHERD_ROOT         directory to serve (default /srv/gopher); readable by the daemon's user
#   GOPHERD_HOST         host name the menus link to: the public name behind got-router
#   GOPHERD_PUBLIC_PORT  port the menus link to: got-router's port (default 70)
#   GOPHERD_STATE        writable directory for pygopherd's config and pid file (default /tmp)
#   GOPHERD_USER         user the daemon runs as when started as root (default nobody);
#                        started as another user it stays that user
set -euo pipefail

port=${GOPHERD_PORT:-7070}
bind=${GOPHERD_BIND:-0.0.0.0}
root=${GOPHERD_ROOT:-/srv/gopher}
host=${GOPHERD_HOST:-localhost}
public_port=${GOPHERD_PUBLIC_PORT:-70}
state=${GOPHERD_STATE:-/tmp}
user=${GOPHERD_USER:-nobody}

die() { echo "docker-gopherd: $*" >&2; exit 1; }

install_packages() {
  local packages missing=() p
  case $1 in
    gophernicus) packages=(gophernicus socat) ;;
    pygopherd) packages=(pygopherd) ;;
    *) die "unknown gopherd $1" ;;
  esac
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "docker-gopherd: ${packages[*]} installed"
    return 0
  fi
  [ "$(id -u)" -eq 0 ] || die "need root to install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log
}

run_gophernicus() {
  [ -d "$root" ] || die "no directory $root"
  # gophernicus serves one connection on stdin/stdout and refuses to run as root: socat
  # forks one per connection, switching to an unprivileged user when we are root.
  local su_opt=""
  [ "$(id -u)" -eq 0 ] && su_opt=",su=$user"
  exec socat "TCP-LISTEN:$port,bind=$bind,reuseaddr,fork" \
    "EXEC:/usr/sbin/gophernicus -h $host -p $public_port -r $root -nf -nv -ns$su_opt"
}

run_pygopherd() {
  [ -d "$root" ] || die "no directory $root"
  local conf=$state/pygopherd.conf
  # Debian's config with our port, root and names; no chroot, no syslog, in the foreground.
  sed -e "s/^port = 70\$/port = $port/" \
    -e "s|^# advertisedport = 70\$|advertisedport = $public_port|" \
    -e "s|^root = /var/gopher\$|root = $root|" \
    -e 's/^usechroot = yes$/usechroot = no/' \
    -e 's/^detach = yes$/detach = no/' \
    -e "s|^pidfile = .*|pidfile = $state/pygopherd.pid|" \
    -e 's/^logmethod = syslog$/logmethod = none/' \
    -e "s/^# servername = .*/servername = $host/" \
    -e "s/^# interface = .*/interface = $bind/" \
    /etc/pygopherd/pygopherd.conf >"$conf"
  if [ "$(id -u)" -eq 0 ]; then
    # pygopherd binds, then drops to this user and group itself.
    local group
    group=$(id -gn "$user")
    sed -i -e "s/^#setuid = .*/setuid = $user/" -e "s/^#setgid = .*/setgid = $group/" "$conf"
  fi
  for key in "port = $port" "advertisedport = $public_port" "root = $root" "usechroot = no" \
    "servername = $host" "interface = $bind"; do
    grep -qxF "$key" "$conf" || die "could not set '$key' in $conf (has /etc/pygopherd/pygopherd.conf changed?)"
  done
  exec pygopherd "$conf"
}

case ${1:-} in
  install) [ $# -eq 2 ] || die "usage: $0 install gophernicus|pygopherd"; install_packages "$2" ;;
  gophernicus) run_gophernicus ;;
  pygopherd) run_pygopherd ;;
  *) die "usage: $0 install gophernicus|pygopherd | gophernicus | pygopherd" ;;
esac
