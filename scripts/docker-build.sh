#!/usr/bin/env bash
# The build stage of docker/Dockerfile.
#
#   docker-build.sh [DEST]                 the CI build and unit tests, then `stage build DEST`
#                                          (DEST defaults to /out)
#   docker-build.sh stage BUILD_DIR DEST   only put what the runtime stage takes under DEST:
#                                          the stripped binary, the healthcheck, examples/, the
#                                          default config. CI runs this on its own build
#                                          (ctest deploy.docker_build_stage).
#
# The build is exactly CI's: scripts/build.sh (which runs scripts/install-deps.sh) into
# build/, then the unit tests, then `scripts/docker-runtime.sh check` on the binary so a
# new shared library fails here and not in the runtime stage.
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
scripts/build.sh
ctest --test-dir build -L unit --output-on-failure -j"$(nproc)"
scripts/docker-runtime.sh check build/router/got-router
stage build "$dest"
