#!/usr/bin/env bash
# Builds the libFuzzer targets into build-fuzz/, replays every seed corpus, then fuzzes each
# target for SECONDS (default 60) with bounded memory. One summary line per target; exits
# non-zero on any crash, leak, timeout or out-of-memory. New corpus entries and crash
# inputs go to a temporary directory (printed when something failed), never into the repo.
#
#   scripts/fuzz.sh [SECONDS]
#   FUZZ_TARGETS="fuzz_sni fuzz_proxy_protocol" scripts/fuzz.sh 30   # a subset
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "usage: $0 [seconds]" >&2; exit 2; }

scripts/install-deps.sh
# libFuzzer: clang and the compiler-rt runtimes (the same check install-deps.sh makes).
missing=()
for p in clang libclang-rt-14-dev; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "fuzz: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DGOT_FUZZ=ON -DGOT_BUILD_TESTS=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_targets

read -r -a targets <<<"${FUZZ_TARGETS:-fuzz_classifier fuzz_client_hello fuzz_client_hello_ext fuzz_config_loader fuzz_goh_url fuzz_gopher_menu fuzz_proxy_protocol fuzz_rate fuzz_sni}"
work="$(mktemp -d "${TMPDIR:-/tmp}/got-fuzz.XXXXXX")"
# quarantine_size_mb=64: ASan's default quarantine (256 MiB of freed memory held back)
# counted against -rss_limit_mb; with 16 KiB inputs fuzz_client_hello peaked at 478-518
# MiB on it in 30-46 s (an out-of-memory report with no input behind it), 200 MiB with 64.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:quarantine_size_mb=64:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:${UBSAN_OPTIONS:-}"

# The longest input worth trying: past each parser's own limits, not much further.
max_len() {
  case "$1" in
    fuzz_config_loader) echo 65536 ;;  # the loader refuses over 1 MiB; 64 KiB is plenty
    fuzz_proxy_protocol) echo 4200 ;;  # just over max_proxy_header_size (4096)
    fuzz_classifier) echo 2048 ;;
    fuzz_gopher_menu) echo 16384 ;;  # menus of a few hundred lines; the cap is tested in unit tests
    fuzz_client_hello) echo 16600 ;;  # just over the 16 KiB + 5 ClientHello cap
    fuzz_client_hello_ext) echo 4200 ;;  # extension bodies: long ALPN lists and names
    fuzz_goh_url) echo 8300 ;;  # the 8 KiB header limit and a 4096-byte selector
    *) echo 600 ;;                     # server names: 253 bytes, twice, and change
  esac
}

failed=0
for t in "${targets[@]}"; do
  bin="build-fuzz/tests/fuzz/$t"
  # The passthrough scan reads what the classifier reads first: it takes the classifier's
  # ClientHellos (curl's, OpenSSL's, split, re-framed, truncated) besides its own.
  seeds=("tests/fuzz/corpus/$t")
  if [ "$t" = fuzz_client_hello ]; then seeds+=(tests/fuzz/corpus/fuzz_classifier); fi
  mkdir -p "$work/$t/corpus" "$work/$t/crashes"
  common=(-rss_limit_mb=512 -malloc_limit_mb=512 -timeout=10 -max_len="$(max_len "$t")"
          -artifact_prefix="$work/$t/crashes/")

  # Replay: each seed once, as CI does on every run.
  mapfile -t seed_files < <(find "${seeds[@]}" -type f)
  nseeds=${#seed_files[@]}
  if ! timeout -k 10 300 "$bin" "${common[@]}" "${seed_files[@]}" >"$work/$t/replay.log" 2>&1; then
    echo "$t: FAILED replaying $nseeds seeds (log: $work/$t/replay.log)"
    tail -n 30 "$work/$t/replay.log" >&2
    failed=1
    continue
  fi

  # Fuzz: new inputs go to the scratch corpus (first directory), the seeds are read only.
  # The outer timeout is a backstop: libFuzzer's own out-of-memory report can take minutes.
  start=$(date +%s)
  rc=0
  timeout -k 10 $((seconds + 300)) "$bin" "${common[@]}" -max_total_time="$seconds" \
    -print_final_stats=1 "$work/$t/corpus" "${seeds[@]}" >"$work/$t/fuzz.log" 2>&1 || rc=$?
  case "$rc" in
    0) verdict="ok" ;;
    124|137) verdict="HUNG (killed after $((seconds + 300))s)"; failed=1 ;;
    *) verdict="CRASH"; failed=1 ;;
  esac
  elapsed=$(( $(date +%s) - start ))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/$t/fuzz.log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$work/$t/fuzz.log" | tail -n 1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$work/$t/fuzz.log" | tail -n 1 || true)
  new=$(find "$work/$t/corpus" -type f | wc -l)
  line="$t: $verdict, $nseeds seeds replayed, ${runs:-?} runs in ${elapsed}s, peak RSS ${rss:-?} MB, ${cov:-no coverage line}, $new new inputs"
  echo "$line"
  if [ "$verdict" != ok ]; then
    echo "  log: $work/$t/fuzz.log; crash inputs: $(find "$work/$t/crashes" -type f | tr '\n' ' ')" >&2
    grep -E 'ERROR:|invariant failed|SUMMARY:' "$work/$t/fuzz.log" | head -n 5 >&2 || true
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; inputs and logs kept in $work" >&2
  exit 1
fi
rm -rf "$work"
