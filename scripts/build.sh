#!/usr/bin/env bash
# Configures and builds got-router into build/ (the same commands CI and the Docker
# build stage run). Extra arguments go to the CMake configure step. GOT_BUILD_TARGET
# builds one target only (the demo builds just the router). GOT_DEPS=--build installs only
# the build dependencies (the Docker image's build stage).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh ${GOT_DEPS:+"$GOT_DEPS"}
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
cmake --build build -j"$(nproc)" ${GOT_BUILD_TARGET:+--target "$GOT_BUILD_TARGET"}
