#!/usr/bin/env bash
# profile.sh: where got-router's CPU goes on new TLS connections.
#
# Starts the bench backend and got-router (threads: 1, pinned to CPU 0), loads it
# with full TLS handshakes from got-bench (CPU 1), records it with `perf record -g`
# and prints the top self-cost functions and the split by library. Without a
# working perf, falls back to `valgrind --tool=callgrind` under a light load.
#
# usage: bench/profile.sh [--build-dir DIR] [--out DIR] [--seconds N] [--resume]
#                         [--plain] [--callgrind] [--dwarf] [--no-build]
#
# --dwarf records DWARF call graphs (999 Hz): Debian's OpenSSL has no frame pointers,
# so with the default `-g` every caller inside libssl/libcrypto is lost. --no-build uses
# the binaries already in --build-dir. got-router's config comes from bench/templates/.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/templates.sh
. "$here/templates.sh"
build="$root/build-bench"
out="$here/out/profile"
seconds=10
mode=tls
tool=perf
callgraph=(-F 1999 -g)
no_build=0

while [ $# -gt 0 ]; do
    case $1 in
    --build-dir) build=$2; shift ;;
    --out) out=$2; shift ;;
    --seconds) seconds=$2; shift ;;
    --resume) mode=resumed ;;
    --plain) mode=plain ;;
    --callgrind) tool=callgrind ;;
    --dwarf) callgraph=(-F 999 --call-graph "dwarf,16384") ;;
    --no-build) no_build=1 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done

pids=()
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$no_build" = 0 ]; then
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOT_BUILD_TESTS=OFF >/dev/null
    cmake --build "$build" -j"$(nproc)" --target got-router got-bench got-bench-backend >/dev/null
fi
mkdir -p "$out"
rm -f "$out"/callgrind.out.* "$out/perf.data"

if [ "$tool" = perf ] && ! perf record -o /dev/null -- true >/dev/null 2>&1; then
    echo "profile.sh: perf does not work here; using callgrind" >&2
    tool=callgrind
fi
if [ "$tool" = callgrind ] && ! command -v valgrind >/dev/null; then
    echo "profile.sh: neither perf nor valgrind is available (apt-get install linux-perf valgrind)" >&2
    exit 1
fi

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$out/key.pem" -out "$out/cert.pem" \
    -days 365 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null

taskset -c 1 "$build/bench/backend" 0 >"$out/backend.port" &
pids+=($!)
sleep 0.3
backend_port=$(head -n 1 "$out/backend.port")

render_config got-router "$out/router.yaml" THREADS=1 LISTEN=127.0.0.1:0 \
    CERTIFICATES="  - { cert: $out/cert.pem, key: $out/key.pem }" BACKEND_PORT="$backend_port" HANDSHAKE=30s ACCESS_LOG="$out/access.log"

runner=(taskset -c 0)
if [ "$tool" = callgrind ]; then
    runner+=(valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p")
fi
"${runner[@]}" "$build/router/got-router" -c "$out/router.yaml" 2>"$out/router.log" &
router_pid=$!
pids+=("$router_pid")
port=""
for _ in $(seq 600); do
    port=$(grep -Eo 'listening on 127\.0\.0\.1:[0-9]+' "$out/router.log" | head -n 1 |
        sed 's/.*://') || true
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { echo "profile.sh: got-router did not start" >&2; exit 1; }

load=("$build/bench/got-bench" --port "$port" --expect-bytes 100)
case $mode in
tls) load+=(--tls --sni bench.test --alpn gopher) ;;
resumed) load+=(--tls --sni bench.test --alpn gopher --resume) ;;
plain) ;;
esac

if [ "$tool" = perf ]; then
    taskset -c 1 "${load[@]}" -c 50 -d $((seconds + 2)) -q >"$out/bench.txt" &
    bench_pid=$!
    pids+=("$bench_pid")
    sleep 1
    perf record "${callgraph[@]}" -p "$router_pid" -o "$out/perf.data" -- sleep "$seconds" \
        2>"$out/perf-record.log"
    wait "$bench_pid" || true
    cat "$out/bench.txt"
    echo
    echo "## top 10 functions by self cost (perf, $mode new connections)"
    echo "## (code that a library does not export, e.g. OpenSSL's bignum assembly, is summed per library)"
    perf report -i "$out/perf.data" --no-children --sort dso,sym --stdio -F overhead,dso,sym \
        2>/dev/null | grep -E '^ +[0-9.]+%' |
        awk '{
            pct = $1; sub("%", "", pct); dso = $2
            $1 = ""; $2 = ""; $3 = ""; sym = $0; gsub(/^ +| +$/, "", sym)
            if (sym ~ /^0x/) sym = "(code not exported by " dso ")"
            total[dso "\t" sym] += pct
        }
        END { for (k in total) { split(k, f, "\t"); printf "%6.2f%%  %-22s %s\n", total[k], f[1], f[2] } }' |
        sort -rn | head -n 10 | cut -c1-160
    echo
    echo "## by library"
    perf report -i "$out/perf.data" --no-children --sort dso --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -n 10
else
    taskset -c 1 "${load[@]}" -c 4 -n 300 --timeout 60 -q | tee "$out/bench.txt"
    kill -TERM "$router_pid"
    wait "$router_pid" || true
    echo
    echo "## top 10 functions by self cost (callgrind, instructions, $mode new connections)"
    callgrind_annotate "$out"/callgrind.out.* 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -n 12
fi
