#!/usr/bin/env bash
# instructions.sh: user-space instructions per connection of got-router, HAProxy and
# nginx (stream module), each under valgrind's callgrind: new TLS, resumed TLS and
# plaintext connections, and new TLS connections through TLS passthrough (counters
# zeroed before and dumped after each got-bench run of a fixed count), and per MiB of one 64 MiB TLS reply (its handshake taken out). On a
# shared, noisy machine this is the figure that does not move with the load; it leaves
# out the kernel's share (TCP, syscalls), which CPU time includes. Same certificate,
# backend, pinning and configs as compare.sh (bench/harness.sh, bench/templates/).
#
# Output: a Markdown table on stdout (report.py --instructions), bench/out/instructions.csv.
#
# usage: bench/instructions.sh [--requests N] [--servers "got-router haproxy nginx"]
#                              [--loads "tls_new tls_resumed plain_new tls_bulk pt_new"]
#                              [--keep-dumps] [--certificates rsa|ecdsa|dual]
#                              [--build-dir DIR] [--out DIR] [--no-install]
#                              [--no-build] [--dry-run]
#        (also: bench/compare.sh --instructions ...)
#
# --no-build: use the binaries already in --build-dir. --dry-run: set up, then start and
# stop each server under callgrind (no load, no report). --loads: only these (tls_resumed
# and tls_bulk need tls_new before them). --keep-dumps: each load's callgrind dumps, self-
# contained, in OUT/dumps/SERVER-LOAD/, and the functions by instructions per connection
# in OUT/dumps/SERVER-LOAD.txt (callgrind_annotate): compare two builds' files to see what
# a change took off.
set -euo pipefail

bench_name=instructions
listen_steps=1200 # servers start slowly under callgrind
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"

cg_requests=200
cg_bulk_bytes=$((64 * 1024 * 1024)) # the TLS reply
cg_loads="tls_new tls_resumed plain_new tls_bulk pt_new"
keep_dumps=0
while [ $# -gt 0 ]; do
    case $1 in
    --requests) cg_requests=$2; consumed=2 ;;
    --loads) cg_loads=$2; consumed=2 ;;
    --keep-dumps) keep_dumps=1; consumed=1 ;;
    *) common_option "$@" ;;
    esac
    shift "$consumed"
done

bench_packages=(valgrind)
bench_setup
# Under callgrind the worker must be root too: callgrind_control cannot reach a process
# of another user.
[ "$(id -u)" -eq 0 ] && nginx_user="user root;"
cg="$work/callgrind"
pin_server=("${prio[@]}" taskset -c 0 valgrind --tool=callgrind --trace-children=yes
    --callgrind-out-file="$cg/%p.out")
# Kept dumps must each name their functions (callgrind compresses names across dumps).
[ "$keep_dumps" = 1 ] && pin_server+=(--compress-strings=no --compress-pos=no)
mkdir -p "$cg"
if [ "$dry_run" = 1 ]; then
    dry_run_servers
    exit 0
fi

# callgrind_control on every process of the server: -z zeroes, -d dumps.
cg_control() { # FLAG
    local p
    for p in $(tree_pids "$spid"); do
        callgrind_control "$1" "$p" >/dev/null 2>&1 || true
    done
}

# Counts one load against the running server; appends to $csv. Loads: tls_new, tls_resumed,
# plain_new, tls_bulk, and pt_new (a new TLS connection through a passthrough server).
count_load() { # SERVER LOAD
    local server=$1 load=$2 shape=(-c 5 -n "$cg_requests" --expect-bytes 100)
    load_args "$load"
    if [ "$load" = tls_bulk ]; then
        shape=(-c 1 -n 1 --selector "size/$cg_bulk_bytes" --expect-bytes "$cg_bulk_bytes")
    fi
    # Warm up (lazy initialisation, the first session ticket), then count.
    "${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -c 5 -n 20 --timeout 60 \
        --csv -q >/dev/null 2>&1 || true
    cg_control -z
    rm -f "$cg"/*.out.*
    line=$("${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" "${shape[@]}" \
        --timeout 120 --csv -q 2>"$work/bench.err") || true
    cg_control -d
    ok=$(field "$line" requests_ok)
    [ "${ok:-0}" -gt 0 ] || die "$server $load: no request succeeded: $line"
    local total
    # One dump per process; its `summary:` line is the instructions it ran.
    total=$(cat "$cg"/*.out.* 2>/dev/null | awk '/^summary:/ { s += $2 } END { printf "%.0f", s }')
    [ "${total:-0}" -gt 0 ] || die "$server $load: callgrind dumped nothing"
    local each=$((total / ok))
    if [ "$load" = tls_bulk ]; then
        # Per MiB of reply, the connection's own handshake taken out.
        local full_each
        full_each=$(awk -F, -v s="$server" '$1 == s && $2 == "tls_new" { print $5 }' "$csv")
        each=$(((total - full_each) / (cg_bulk_bytes / 1048576)))
        ok=$((cg_bulk_bytes / 1048576))
    elif [ "$load" = tls_resumed ]; then
        # Each got-bench worker's first connection is a full handshake: take
        # those out at the full price measured just before.
        local resumed full_each
        resumed=$(field "$line" resumed)
        full_each=$(awk -F, -v s="$server" '$1 == s && $2 == "tls_new" { print $5 }' "$csv")
        [ "${resumed:-0}" -gt 0 ] || die "$server: no connection resumed: $line"
        each=$(((total - (ok - resumed) * full_each) / resumed))
        ok=$resumed
    fi
    echo "$server,$load,$ok,$total,$each" >>"$csv"
    if [ "$keep_dumps" = 1 ]; then
        local kept="$out/dumps/$server-$load"
        rm -rf "$kept"
        mkdir -p "$kept"
        cp "$cg"/*.out.* "$kept"/
        # Self cost by function, per connection (or per MiB), largest first.
        callgrind_annotate --auto=no --threshold=100 "$kept"/*.out.* 2>/dev/null |
            awk -v per="$ok" '/file:function/ { on = 1; next }
                on && /^ *[0-9,]+ +\(/ { n = $1; gsub(",", "", n); f = $0
                    # (the roots of the threads, which callgrind reports as holding it all)
                    if (f ~ /clone\.S|start_thread|_State_impl|\?\?\?:0x[0-9a-f]+ \[.*libstdc/) next
                    sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", f)
                    printf "%d\t%s\n", n / per, f }' | sort -rn >"$kept.txt"
        log "  kept $kept/ and $kept.txt"
    fi
    log "  $server $load: $ok $([ "$load" = tls_bulk ] && echo MiB || echo connections)," \
        "$each instructions each"
}

instructions_run() {
    csv="$out/instructions.csv"
    echo "server,load,requests,instructions,per_connection" >"$csv"
    local server load
    start_origin # for pt_new; on the load CPU, not under callgrind
    for server in $servers; do
        rm -rf "$cg"
        mkdir -p "$cg"
        start_server "$server"
        log "$server under callgrind (pid $spid)"
        for load in tls_new tls_resumed plain_new tls_bulk; do
            case " $cg_loads " in *" $load "*) count_load "$server" "$load" ;; esac
        done
        stop_server "$server"
        case " $cg_loads " in *" pt_new "*) ;; *) continue ;; esac
        start_server "$server" 1 "" passthrough
        log "$server passing TLS through, under callgrind (pid $spid)"
        count_load "$server" pt_new
        stop_server "$server"
    done
    python3 "$here/report.py" --instructions "$csv" --servers "$servers"
    log "done in $(($(date +%s) - started_at)) s; $csv"
}

instructions_run
