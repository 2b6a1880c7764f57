#!/usr/bin/env bash
# Builds got-router and its tests under a sanitizer and runs them; fails on any
# sanitizer report, including ones from router processes the integration tests start
# (reports go to files, collected after the run).
#   scripts/sanitize.sh address,undefined [ctest args...]   (default: ASan+UBSan, all tests)
#   scripts/sanitize.sh thread -R 'integration\.(operations|pools)'
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-address,undefined}
shift || true
scripts/install-deps.sh
dir="build-san-${kind//,/-}"
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOT_SANITIZE="$kind" >/dev/null
# The router, the unit tests, the DNS shim and the load tools the soak and the bench smoke
# test drive the router with. GOT_SANITIZE_TARGETS: fewer targets for a run that selects
# fewer tests (the TSan stage: no unit tests, no soak).
read -r -a targets <<<"${GOT_SANITIZE_TARGETS:-got-router got_unit_tests got_router_unit_tests got_fake_dns got_key_update_client got-bench got-bench-backend}"
cmake --build "$dir" -j"$(nproc)" --target "${targets[@]}"

reports=$(mktemp -d /tmp/got-sanitizer.XXXXXX)
# Writable by everyone: a router that drops privileges (user:) must still be able to
# write its report, or the report is lost.
chmod 1777 "$reports"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=0:log_path=$reports/asan"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$reports/tsan"
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
status=0
ctest --test-dir "$dir" --output-on-failure -j"$(nproc)" "$@" || status=$?
if compgen -G "$reports/*" >/dev/null; then
  echo "sanitizer ($kind) reports:" >&2
  cat "$reports"/* >&2
  status=1
else
  echo "sanitizer ($kind): no reports"
fi
rm -rf "$reports"
exit $status
