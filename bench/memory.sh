#!/usr/bin/env bash
# memory.sh: where the memory of an idle TLS connection to got-router goes. got-router
# runs under heaptrack while `got-bench --hold N` keeps N handshaken TLS 1.3
# connections open that have not sent their request (as compare.sh's idle figure); once
# they are all open, the router is killed and heaptrack's "leaked" allocations are what
# was alive at that moment. Two holds (--small and --large connections) and their
# difference divided by the difference of the counts give bytes per connection by owner
# (bench/heap_breakdown.py: OpenSSL's SSL object, cipher contexts, session and keys;
# the router's coroutine frames, tls_stream, ClientHello facts; Asio's pending
# operations and epoll state), free of startup and cache costs. Also VmRSS per
# connection of the same binary without heaptrack, held the same way.
# Same certificate, backend, pinning and config as compare.sh (bench/harness.sh,
# bench/templates/).
#
# Output: the Markdown table on stdout; the heaptrack files in bench/out/work/memory/.
#
# usage: bench/memory.sh [--small N] [--large N] [--build-dir DIR] [--out DIR]
#                        [--certificates rsa|ecdsa|dual] [--no-install] [--no-build]
#
# --no-build: use the binaries already in --build-dir.
set -euo pipefail

bench_name=memory
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"

small=1000
large=3000
# The request wait is bounded by timeouts.handshake: long enough for the slowest hold
# (10,000 handshakes under heaptrack take about a minute).
handshake=300s
while [ $# -gt 0 ]; do
    case $1 in
    --small) small=$2; consumed=2 ;;
    --large) large=$2; consumed=2 ;;
    *) common_option "$@" ;;
    esac
    shift "$consumed"
done
[ "$large" -gt "$small" ] || die "--large must be above --small"
servers=got-router

bench_packages=(heaptrack)
bench_setup

# hold_open COUNT: got-bench holds COUNT idle handshaken connections (after a warm-up);
# returns once they are open, with hold_pid set. The caller ends it.
hold_open() {
    "${pin_load[@]}" "$bench_bin" --port "$tls_port" "${tls_args[@]}" -c 10 -n 300 --csv -q \
        >/dev/null 2>&1 || true
    sleep 0.5
    "${pin_load[@]}" "$bench_bin" --port "$tls_port" "${tls_args[@]}" --hold "$1" -c 100 \
        -d 300 --csv -q >"$work/hold.csv" 2>"$work/hold.err" &
    hold_pid=$!
    pids+=("$hold_pid")
    for _ in $(seq 1200); do
        grep -q '^holding' "$work/hold.err" 2>/dev/null && break
        kill -0 "$hold_pid" 2>/dev/null || die "got-bench --hold $1 ended: $(cat "$work/hold.err")"
        sleep 0.1
    done
    grep -q '^holding' "$work/hold.err" || die "got-bench --hold $1 did not open its connections"
    sleep 2 # the last handshakes finish; every connection waits for its request
}

hold_close() {
    kill -TERM "$hold_pid" 2>/dev/null || true
    wait "$hold_pid" 2>/dev/null || true
    forget_pid "$hold_pid"
}

# heap_capture COUNT: got-router under heaptrack holding COUNT connections, killed while
# they are held; writes $dir/COUNT.stacks (bytes alive by stack).
heap_capture() {
    local count=$1 dir="$work/memory" router_pid
    mkdir -p "$dir"
    local saved=("${pin_server[@]}")
    pin_server=("${saved[@]}" heaptrack -o "$dir/$count")
    start_server got-router
    pin_server=("${saved[@]}")
    hold_open "$count"
    router_pid=$(pgrep -P "$spid" -x got-router) || die "no got-router under heaptrack"
    kill -KILL "$router_pid"
    wait "$spid" 2>/dev/null || true
    forget_pid "$spid"
    hold_close
    heaptrack_print -f "$dir/$count.zst" --flamegraph-cost-type leaked \
        -F "$dir/$count.stacks" >/dev/null 2>&1 || die "heaptrack_print failed on $dir/$count.zst"
    log "  heaptrack with $count held: $dir/$count.zst"
}

# rss_per_connection COUNT: sets rss, the VmRSS growth per held connection (KiB),
# without heaptrack.
rss_per_connection() {
    local count=$1 r0 r1
    start_server got-router
    "${pin_load[@]}" "$bench_bin" --port "$tls_port" "${tls_args[@]}" -c 10 -n 300 --csv -q \
        >/dev/null 2>&1 || true
    sleep 0.5
    r0=$(rss_kib "$spid")
    hold_open "$count"
    r1=$(rss_kib "$spid")
    hold_close
    stop_server got-router
    rss=$(calc "($r1 - $r0) / $count")
}

log "heaptrack: $small and $large idle TLS connections"
heap_capture "$small"
heap_capture "$large"
rss_per_connection "$large"
log "VmRSS per idle TLS connection ($large held, no heaptrack): $rss KiB"
echo "Heap alive per idle handshaken TLS 1.3 connection (heaptrack, $large held minus $small):"
echo
python3 "$here/heap_breakdown.py" "$work/memory/$small.stacks" "$small" \
    "$work/memory/$large.stacks" "$large"
echo
echo "VmRSS per idle TLS connection, $large held, without heaptrack: $rss KiB"
log "done in $(($(date +%s) - started_at)) s"
