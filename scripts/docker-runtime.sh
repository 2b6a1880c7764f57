#!/usr/bin/env bash
# The runtime stage of docker/Dockerfile, and its dry run for CI.
#
#   docker-runtime.sh packages            print the Debian runtime packages the image installs
#   docker-runtime.sh check BINARY [PKG…] CI dry mode: every library `ldd BINARY` lists must
#                                         belong (dpkg -S) to one of the runtime packages (or
#                                         to the PKG… given instead); changes nothing
#   docker-runtime.sh size BINARY         estimate what the runtime stage adds to
#                                         debian:bookworm-slim, from Installed-Size
#   docker-runtime.sh install STAGE       the image build (GOT_IMAGE_BUILD=1 only): install the
#                                         runtime packages, the files staged by
#                                         scripts/docker-build.sh under STAGE, setcap
#                                         cap_net_bind_service on the binary, the got-router user
#
# The package list is the one place that says what the image needs at run time; the
# deploy.runtime_packages_cover_ldd test runs `check` on the binary CI builds.
set -euo pipefail

# One package per library the binary links (see `ldd build/router/got-router`):
#   libssl.so.3 libcrypto.so.3 -> libssl3       libyaml-cpp.so.0.7 -> libyaml-cpp0.7
#   libstdc++.so.6 -> libstdc++6                libgcc_s.so.1 -> libgcc-s1
#   libc.so.6 libm.so.6 ld-linux -> libc6
runtime_packages=(libc6 libgcc-s1 libstdc++6 libssl3 libyaml-cpp0.7)
# Already in debian:bookworm-slim (apt depends on them): installing them is a no-op.
base_packages=(libc6 libgcc-s1 libstdc++6)
# Needed only while building the image (setcap), purged at the end of `install`.
build_only_packages=(libcap2-bin)

uid=10070 # the got-router user and group; numeric so Kubernetes runAsNonRoot can check it
prefix=/usr/local

die() { echo "docker-runtime: $*" >&2; exit 1; }

# The libraries a binary loads, one absolute path a line (the vDSO has none).
libraries_of() {
  local out
  out=$(ldd "$1") || die "ldd $1 failed"
  if grep -q 'not found' <<<"$out"; then
    die "ldd $1: missing libraries: $(grep 'not found' <<<"$out" | awk '{print $1}' | xargs)"
  fi
  awk '$2 == "=>" && $3 ~ /^\// {print $3; next} $1 ~ /^\// {print $1}' <<<"$out"
}

# The spellings of a library's path dpkg may know it by: with merged /usr a library is
# found under /lib or /usr/lib while dpkg lists it under the other, so both spellings of
# the path and of its target.
candidates_of() {
  local c
  for c in "$1" "$(readlink -f "$1")"; do
    echo "$c"
    case $c in
      /usr/*) echo "${c#/usr}" ;;
      *) echo "/usr$c" ;;
    esac
  done
}

check() {
  local binary=$1; shift
  local packages=("${runtime_packages[@]}")
  [ $# -gt 0 ] && packages=("$@")
  [ -x "$binary" ] || die "no executable at $binary"
  local libs lib pkg path bad=0 covered c
  mapfile -t libs < <(libraries_of "$binary")
  [ ${#libs[@]} -gt 0 ] || die "ldd lists no libraries for $binary"
  # One dpkg -S for every spelling of every library ("libssl3:amd64: /usr/lib/..."; the
  # spellings dpkg does not know only make it complain on stderr).
  declare -A owner=()
  while IFS= read -r line; do
    case $line in diversion*) continue ;; esac
    pkg=${line%%:*}
    path=${line#*: }
    owner[$path]=$pkg
  done < <(for lib in "${libs[@]}"; do candidates_of "$lib"; done | sort -u | xargs dpkg -S 2>/dev/null || true)
  for lib in "${libs[@]}"; do
    pkg=""
    while read -r c; do
      [ -n "${owner[$c]:-}" ] && { pkg=${owner[$c]}; break; }
    done < <(candidates_of "$lib")
    if [ -z "$pkg" ]; then
      echo "docker-runtime: $lib belongs to no Debian package" >&2
      bad=1
      continue
    fi
    covered=no
    for p in "${packages[@]}"; do [ "$p" = "$pkg" ] && covered=yes; done
    if [ $covered = yes ]; then
      echo "ok      $lib ($pkg)"
    else
      echo "MISSING $lib ($pkg is not a runtime package)" >&2
      bad=1
    fi
  done
  [ $bad -eq 0 ] || die "runtime packages (${packages[*]}) do not cover $binary"
  echo "docker-runtime: runtime packages (${packages[*]}) cover every library of $binary"
}

installed_size_kib() { # package -> Installed-Size in KiB (installed or candidate)
  dpkg-query -W -f='${Installed-Size}' "$1" 2>/dev/null ||
    apt-cache show "$1" 2>/dev/null | awk '/^Installed-Size:/ {print $2; exit}'
}

size() {
  local binary=$1 total=0 kib p in_base stripped
  for p in "${runtime_packages[@]}"; do
    in_base=no
    for b in "${base_packages[@]}"; do [ "$b" = "$p" ] && in_base=yes; done
    kib=$(installed_size_kib "$p")
    [ -n "$kib" ] || die "no Installed-Size for $p"
    if [ $in_base = yes ]; then
      printf '%-16s %6s KiB (already in debian:bookworm-slim)\n' "$p" "$kib"
    else
      printf '%-16s %6s KiB\n' "$p" "$kib"
      total=$((total + kib))
    fi
  done
  stripped=$(mktemp)
  cp "$binary" "$stripped"
  strip --strip-unneeded "$stripped"
  kib=$((($(stat -c %s "$stripped") + 1023) / 1024))
  rm -f "$stripped"
  printf '%-16s %6s KiB (stripped)\n' got-router "$kib"
  total=$((total + kib))
  echo "added to debian:bookworm-slim: about $(((total + 512) / 1024)) MiB"
}

install_image() {
  local stage=$1
  [ "${GOT_IMAGE_BUILD:-}" = 1 ] || die "install changes the system; it runs only in the image build (GOT_IMAGE_BUILD=1)"
  [ -x "$stage$prefix/bin/got-router" ] || die "nothing staged under $stage (run scripts/docker-build.sh)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${runtime_packages[@]}" "${build_only_packages[@]}" >/dev/null

  # The staged tree: binary, healthcheck, examples, default config.
  cp -a "$stage/." /
  setcap cap_net_bind_service=+ep "$prefix/bin/got-router"
  getcap "$prefix/bin/got-router" | grep -q cap_net_bind_service || die "setcap did not stick"

  groupadd --system --gid "$uid" got-router
  useradd --system --uid "$uid" --gid "$uid" --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin got-router
  # Config and certificates are root's and readable by the group: the router reads them
  # (and re-reads them on reload) but cannot change them.
  install -d -m 0755 /etc/got-router
  install -d -m 0750 -g got-router /etc/got-router/certs
  chgrp got-router /etc/got-router/got-router.yaml
  chmod 0640 /etc/got-router/got-router.yaml

  apt-get purge -y -qq --auto-remove "${build_only_packages[@]}" >/dev/null
  apt-get clean
  rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log /var/cache/debconf/*-old

  # The image checks itself: every library resolves, to a runtime package.
  check "$prefix/bin/got-router" >/dev/null
  "$prefix/bin/got-router" --version
}

case ${1:-} in
  packages) printf '%s\n' "${runtime_packages[@]}" ;;
  check) [ $# -ge 2 ] || die "usage: $0 check BINARY [PACKAGE...]"; shift; check "$@" ;;
  size) [ $# -eq 2 ] || die "usage: $0 size BINARY"; size "$2" ;;
  install) [ $# -eq 2 ] || die "usage: $0 install STAGE"; install_image "$2" ;;
  *) die "usage: $0 packages | check BINARY [PACKAGE...] | size BINARY | install STAGE" ;;
esac
