#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, runs every test, then fails
# if any test was skipped or not run that tests/skip-allowlist.txt does not list
# (scripts/check-skips.sh on ctest's JUnit report, build/ctest-junit.xml).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
junit=$(pwd)/build/ctest-junit.xml
rm -f "$junit"
status=0
ctest --test-dir build --output-on-failure -j"$(nproc)" --output-junit "$junit" "$@" || status=$?
scripts/check-skips.sh "$junit" || status=1
exit $status
