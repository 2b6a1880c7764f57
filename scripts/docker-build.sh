#!/usr/bin/env bash
# The build stage of docker/Dockerfile.
#
#   docker-build.sh [DEST]                 build got-router, then `stage build DEST`
#                                          (DEST defaults to /out)
#   docker-build.sh stage BUILD_DIR DEST   only put what the runtime stage takes under DEST:
#                                          the stripped binary, the healthcheck, examples/, the
#                                          default config. CI runs this on its own build
#                                          (ctest deploy.docker_build_stage).
#
# The build is CI's configuration (scripts/build.sh: RelWithDebInfo, the same -O2 and
# warnings) for the one target the image ships, without the tests (the build stage copies
# no tests/: CI runs them on the same sources) and without -g (the binary is stripped, and
# debug info does not change GCC's code: a third less compile time in the image's chroot).
# Then `scripts/docker-runtime.sh check` on the binary, so a new shared library fails here
# and not in the runtime stage.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=/usr/local

stage() {
  local build_dir=$1 dest=$2
  local binary=$build_dir/router/got-router
  [ -x "$binary" ] || { echo "docker-build: no binary at $binary" >&2; exit 1; }
  install -d -m 0755 "$dest$prefix/bin" "$dest$prefix/share/got-router" "$dest/etc/got-router"
  install -m 0755 "$binary" "$dest$prefix/bin/got-router"
  strip --strip-unneeded "$dest$prefix/bin/got-router"
  install -m 0755 docker/healthcheck.sh "$dest$prefix/bin/got-router-healthcheck"
  rm -rf "$dest$prefix/share/got-router/examples"
  cp -r examples "$dest$prefix/share/got-router/examples"
  chmod -R u=rwX,go=rX "$dest$prefix/share/got-router/examples"
  install -m 0644 examples/got-router.yaml "$dest/etc/got-router/got-router.yaml"
  echo "docker-build: staged $(du -sh "$dest" | cut -f1) under $dest"
}

if [ "${1:-}" = stage ]; then
  [ $# -eq 3 ] || { echo "usage: $0 stage BUILD_DIR DEST" >&2; exit 1; }
  stage "$2" "$3"
  exit 0
fi

dest=${1:-/out}
GOT_DEPS=--build GOT_BUILD_TARGET=got-router scripts/build.sh -DGOT_BUILD_TESTS=OFF \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -DNDEBUG"
scripts/docker-runtime.sh check build/router/got-router
stage build "$dest"
