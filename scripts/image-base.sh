#!/usr/bin/env bash
# The Debian base images docker/*Dockerfile start FROM, made locally for a machine that
# reaches no image registry (scripts/image-check.sh calls this):
#   docker.io/library/debian:bookworm        debootstrap --variant=minbase bookworm
#   docker.io/library/debian:bookworm-slim   the same, without docs, man pages and locales
#                                            (what the official -slim image leaves out)
# Both have the official images' apt sources (bookworm, -updates, -security on the mirror
# this machine's apt uses) and no package lists.
#
#   image-base.sh            import both into buildah's storage unless they are there
#   image-base.sh --rebuild  debootstrap again, even with a cached rootfs
#
# The debootstrapped rootfs is cached as a tarball in $GOT_IMAGE_CACHE (default
# /var/cache/got-router-ci), outside any clone, and made again only when absent: a warm
# cache makes the images in seconds. Only Debian packages are downloaded. Needs root.
set -euo pipefail

cache=${GOT_IMAGE_CACHE:-/var/cache/got-router-ci}
tarball=$cache/debian-bookworm-minbase.tar
bookworm=docker.io/library/debian:bookworm
slim=docker.io/library/debian:bookworm-slim

die() { echo "image-base: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, buildah)"
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh installs it)"
done

# The Debian mirror this machine's apt uses: the first URI serving suite bookworm, from
# deb822 .sources files or one-line sources.list entries.
mirror() {
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk -v RS= '/(^|\n)Suites:[^\n]*(^|[ \t])bookworm([ \t]|\n|$)/ {
             if (match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/)) {
               s = substr($0, RSTART, RLENGTH); sub(/^\n?URIs:[ \t]*/, "", s); print s; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                             if ($(i + 1) == "bookworm") { print $i; exit } }' "$f")
    [ -n "$uri" ] && { echo "$uri"; return; }
  done
  die "no apt source for bookworm in /etc/apt/sources.list{,.d}: cannot tell the Debian mirror"
}

make_rootfs() {
  local url root
  url=$(mirror)
  rm -rf "$cache"/rootfs.* "$tarball.tmp" # left by an interrupted run (we hold the lock)
  root=$(mktemp -d "$cache/rootfs.XXXXXX")
  echo "image-base: debootstrap --variant=minbase bookworm from $url (once per machine)"
  debootstrap --variant=minbase bookworm "$root" "$url" >"$root.log" 2>&1 ||
    { tail -20 "$root.log" >&2; rm -rf "$root" "$root.log"; die "debootstrap failed"; }
  rm -f "$root.log"
  # Apt sources as in the official image (deb822, with the security suite on the mirror's
  # host when it is deb.debian.org-style /debian, else the standard security host).
  local security=${url%/debian}/debian-security
  [ "$security" = "$url/debian-security" ] && security=http://deb.debian.org/debian-security
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $url
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb "$root"/var/log/* "$root"/tmp/*
  : >"$root/etc/hostname"
  tar --numeric-owner --xattrs -C "$root" -cf "$tarball.tmp" .
  rm -rf "$root"
  mv "$tarball.tmp" "$tarball"
  echo "image-base: cached $tarball ($(du -h "$tarball" | cut -f1))"
}

rootfs_id() { stat -c '%s-%Y' "$tarball"; }

# buildah commit of the cached rootfs under NAME; slim=1 applies the -slim trimming.
import_image() {
  local name=$1 trim=$2 ctr mnt
  ctr=$(buildah from scratch)
  mnt=$(buildah mount "$ctr")
  tar --numeric-owner --xattrs -C "$mnt" -xf "$tarball"
  if [ "$trim" = 1 ]; then
    # As the official slim image: dpkg keeps these out of every later install too.
    cat >"$mnt/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    find "$mnt/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete
    find "$mnt/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$mnt"/usr/share/{man,groff,info,lintian,linda}/*
    find "$mnt/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  fi
  buildah umount "$ctr" >/dev/null
  buildah config --cmd bash --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --label "got-router-ci.rootfs=$(rootfs_id)" "$ctr"
  buildah commit --quiet --rm "$ctr" "$name" >/dev/null
  echo "image-base: $name"
}

mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9
if [ "${1:-}" = --rebuild ] || [ ! -s "$tarball" ]; then
  make_rootfs
  buildah rmi "$bookworm" "$slim" >/dev/null 2>&1 || true
fi
# An image made from another rootfs (a remade cache) is imported again.
for pair in "$bookworm 0" "$slim 1"; do
  read -r name trim <<<"$pair"
  if buildah inspect --type image "$name" >/dev/null 2>&1; then
    made_from=$(buildah inspect --type image --format '{{index .Docker.Config.Labels "got-router-ci.rootfs"}}' "$name" 2>/dev/null || true)
    if [ "$made_from" = "$(rootfs_id)" ]; then
      echo "image-base: $name (from the cached rootfs)"
      continue
    fi
    buildah rmi "$name" >/dev/null 2>&1 || true
  fi
  import_image "$name" "$trim"
done
