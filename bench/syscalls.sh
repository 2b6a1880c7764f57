#!/usr/bin/env bash
# syscalls.sh: system calls per connection of got-router, HAProxy and nginx (stream
# module): strace -c on every process and thread of the server, attached only around a
# got-bench run of a fixed count, one connection at a time (or --concurrency N); in total and by call, for
# new TLS, resumed TLS and plaintext connections, and new TLS connections through TLS
# passthrough. The kernel-side counterpart of instructions.sh. Same certificate, backend, pinning and configs as compare.sh
# (bench/harness.sh, bench/templates/).
#
# Output: Markdown tables on stdout (report.py --syscalls), bench/out/syscalls.csv.
#
# usage: bench/syscalls.sh [--requests N] [--concurrency N] [--loads "tls_new ..."]
#                          [--servers "got-router haproxy nginx"]
#                          [--certificates rsa|ecdsa|dual]
#                          [--build-dir DIR] [--out DIR] [--no-install] [--no-build]
#                          [--dry-run]
#        (also: bench/compare.sh --syscalls ...)
#
# --no-build: use the binaries already in --build-dir. --dry-run: set up, then start and
# stop each server (no load, no report).
set -euo pipefail

bench_name=syscalls
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"

cg_requests=200
concurrency=1
loads="tls_new tls_resumed plain_new pt_new"
while [ $# -gt 0 ]; do
    case $1 in
    --requests) cg_requests=$2; consumed=2 ;;
    --concurrency) concurrency=$2; consumed=2 ;; # connections at a time (default 1)
    --loads) loads=$2; consumed=2 ;;
    *) common_option "$@" ;;
    esac
    shift "$consumed"
done

bench_packages=(strace)
bench_setup
if [ "$dry_run" = 1 ]; then
    dry_run_servers
    exit 0
fi

syscalls_run() {
    local csv="$out/syscalls.csv" trace="$work/strace"
    echo "server,load,requests,syscall,calls" >"$csv"
    local server load args port
    start_origin # for pt_new
    for server in $servers; do
        local running=""
        for load in $loads; do
            case $load in
            pt_new) [ -z "$running" ] || stop_server "$server"; start_server "$server" 1 "" passthrough
                running=passthrough ;;
            *) [ "$running" = terminated ] || { [ -z "$running" ] || stop_server "$server"; start_server "$server"; }
                running=terminated ;;
            esac
            load_args "$load"
            # Warm up: lazy initialisation, the first ticket, and the heap grown to what
            # $concurrency connections in flight hold (else its mprotect/brk are counted).
            "${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -c "$concurrency" \
                -n $((concurrency * 10 > 20 ? concurrency * 10 : 20)) --csv -q \
                >/dev/null 2>&1 || true
            local attach=() p t
            for p in $(tree_pids "$spid"); do
                for t in /proc/"$p"/task/*; do attach+=(-p "${t##*/}"); done
            done
            rm -f "$trace"
            strace -c -o "$trace" "${attach[@]}" 2>/dev/null &
            local st=$!
            sleep 1 # attached
            # One connection at a time by default; with --resume each is resumed but the first.
            line=$("${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -c "$concurrency" \
                -n "$cg_requests" --expect-bytes 100 --csv -q 2>"$work/bench.err") || true
            sleep 0.5 # the last close
            kill -INT "$st" 2>/dev/null || true
            wait "$st" 2>/dev/null || true
            ok=$(field "$line" requests_ok)
            [ "${ok:-0}" -gt 0 ] || die "$server $load: no request succeeded: $line"
            [ -s "$trace" ] || die "$server $load: strace wrote nothing"
            # strace -c: % time, seconds, usecs/call, calls, [errors], syscall.
            awk -v s="$server" -v l="$load" -v n="$ok" \
                '$1 ~ /^[0-9.]+$/ && $4 ~ /^[0-9]+$/ { print s "," l "," n "," $NF "," $4 }' \
                "$trace" >>"$csv"
            log "  $server $load: $ok connections," \
                "$(awk -F, -v s="$server" -v l="$load" '$1 == s && $2 == l && $4 == "total" { printf "%.1f", $5 / $3 }' "$csv")" \
                "system calls each"
        done
        stop_server "$server"
    done
    python3 "$here/report.py" --syscalls "$csv" --servers "$servers"
    log "done in $(($(date +%s) - started_at)) s; $csv"
}

syscalls_run
