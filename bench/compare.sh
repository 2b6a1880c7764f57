#!/usr/bin/env bash
# compare.sh: got-router, HAProxy and nginx (stream module) side by side on this
# machine, same certificates (RSA-2048; ECDSA P-256 and the dual pair for new TLS
# connections), same backend (bench/backend.c), same load
# (got-bench). Each server runs alone, one worker / event loop, pinned to CPU 0;
# the load and the backend run on CPU 1. Servers take turns, several rounds in a
# rotating order; the table shows medians and the ratios got-router / peer.
#
# Figures: server CPU per new TLS connection, per resumed TLS connection, per
# plaintext connection (utime+stime from /proc/PID/stat around a got-bench run,
# divided by the requests); server CPU per GB of reply through TLS and through
# plaintext; server memory per idle TLS connection (VmRSS from /proc/PID/status
# before and while got-bench --hold keeps 4000 handshaken connections open);
# requests/s and p99 latency at 100 and 1000 concurrent connections; server CPU per
# new connection and per GB through TLS passthrough (to one TLS origin, HAProxy on the
# load CPU: got-router `tls: passthrough`, HAProxy `req.ssl_sni`, nginx `ssl_preread`); for
# got-router alone, the cost of `threads: 2` against `threads: 1` and whether
# 10,000 idle TLS connections can be held.
#
# Output: a Markdown table on stdout, and in bench/out/: results.md, results.csv,
# results.png (when gnuplot is there), raw.csv (every measurement) and logs.
#
# The other two measurements have their own scripts (compare.sh --instructions and
# --syscalls run them, with the other arguments): instructions.sh counts user-space
# instructions per connection under callgrind, syscalls.sh system calls per connection.
# The servers' configs come from bench/templates/.
#
# usage: bench/compare.sh [--quick] [--rounds N] [--servers "got-router haproxy nginx"]
#                         [--build-dir DIR] [--out DIR] [--no-install] [--label TEXT]
#                         [--no-build] [--dry-run]
#                         [--only "terminated certificates passthrough scaling"]
#        bench/compare.sh --instructions ... | --syscalls ...   (see those scripts)
#
# --only: the groups of figures to measure (default all four; the 10,000-connection hold
# comes with terminated). --no-build: use the binaries already in --build-dir. --dry-run: set up, then start and
# stop each server from its config (no load, no report).
set -euo pipefail

# The modes that moved to their own scripts, as they were called.
for arg in "$@"; do
    case $arg in
    --instructions | --syscalls)
        mode=${arg#--}
        rest=()
        for a in "$@"; do [ "$a" = "$arg" ] || rest+=("$a"); done
        exec "$(dirname "$0")/$mode.sh" "${rest[@]}"
        ;;
    esac
done

bench_name=compare
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"

quick=0
rounds=""
label="" # describes the got-router build in the report (default: git describe)
only="terminated certificates passthrough scaling"

while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1; consumed=1 ;;
    --rounds) rounds=$2; consumed=2 ;;
    --label) label=$2; consumed=2 ;;
    --only) only=$2; consumed=2 ;;
    *) common_option "$@" ;;
    esac
    shift "$consumed"
done
# Its terminated figures are RSA's; the certificates group measures ECDSA and dual.
[ "$cert_kind" = rsa ] || die "--certificates: compare.sh measures each kind itself (--only certificates)"

if [ "$quick" = 1 ]; then
    : "${rounds:=1}"
    d_new=3 d_resumed=2 d_plain=2 d_c1000=3 d_scale=3
    bulk_requests=4 # of 256 MiB: 1 GiB
    hold_count=4000 hold_big=0
else
    : "${rounds:=3}"
    d_new=6 d_resumed=4 d_plain=4 d_c1000=6 d_scale=5
    bulk_requests=8 # of 256 MiB: 2 GiB
    hold_count=4000 hold_big=10000
fi
bulk_size=$((256 * 1024 * 1024))

selected() { [[ " $only " == *" $1 "* ]]; }
for group in $only; do
    case $group in terminated | certificates | passthrough | scaling) ;; *) die "--only: unknown group $group" ;; esac
done

bench_setup
have_gnuplot=1
install_packages gnuplot-nox || have_gnuplot=0
command -v gnuplot >/dev/null || have_gnuplot=0
raw="$out/raw.csv"
echo "round,server,metric,value" >"$raw"

start_origin
round=0
record() { echo "$round,$1,$2,$3" >>"$raw"; }

if [ "$dry_run" = 1 ]; then
    dry_run_servers
    for server in $servers; do
        start_server "$server" 1 "" passthrough
        log "$server passthrough listens (pid $spid, :$tls_port -> origin :$origin_port)"
        stop_server "$server"
    done
    start_server got-router 2 0-1 # the scaling round's config
    log "got-router (threads: 2) listens (pid $spid)"
    stop_server got-router
    exit 0
fi

# bench_run LABEL SERVER PORT [got-bench args...]: runs got-bench on the load CPU,
# measures the server's CPU around it; sets line, cpu_s, ok.
bench_run() {
    local label=$1 server=$2 port=$3
    shift 3
    local c0 c1
    c0=$(cpu_ns "$spid")
    line=$("${pin_load[@]}" "$bench_bin" --port "$port" --csv -q "$@" 2>"$work/bench.err") || true
    c1=$(cpu_ns "$spid")
    [ -n "$line" ] || die "$server $label: got-bench printed nothing: $(tail -n 3 "$work/bench.err")"
    cpu_s=$(calc "($c1 - $c0) / 1e9")
    ok=$(field "$line" requests_ok)
    local failed
    failed=$(field "$line" requests_failed)
    record "$server" "errors" "$failed"
    record "$server" "bench_cpu_percent" "$(field "$line" cpu_percent)"
    [ "$failed" = 0 ] || log "  $server $label: $failed failed requests: $line"
    [ "$ok" -gt 0 ] || die "$server $label: no request succeeded: $line"
    # Same protocol for everyone, or the comparison is void.
    local version
    version=$(field "$line" tls_version)
    case " $* " in
    *" --tls "*) [ "$version" = TLSv1.3 ] ||
        die "$server $label: negotiated $version, not TLSv1.3: fix its configuration" ;;
    esac
}

# Server CPU per connection for a load; records it and the rate and latency.
measure_connections() { # SERVER METRIC-PREFIX PORT ARGS...
    local server=$1 prefix=$2 port=$3
    shift 3
    bench_run "$prefix" "$server" "$port" "$@"
    local us
    us=$(calc "$cpu_s * 1e6 / $ok")
    record "$server" "${prefix}_cpu_us" "$us"
    record "$server" "${prefix}_rps" "$(field "$line" requests_per_s)"
    record "$server" "${prefix}_p99_ms" "$(field "$line" p99_ms)"
    log "  $server $prefix: $(field "$line" requests_per_s) req/s, p99 $(field "$line" p99_ms) ms," \
        "$us µs CPU/conn, resumed $(field "$line" resumed), failed $(field "$line" requests_failed)," \
        "got-bench CPU $(field "$line" cpu_percent)%"
}

measure_bulk() { # SERVER METRIC PORT ARGS...
    local server=$1 metric=$2 port=$3
    shift 3
    bench_run "$metric" "$server" "$port" -c 2 -n "$bulk_requests" --selector "size/$bulk_size" \
        --expect-bytes "$bulk_size" "$@"
    local bytes s_per_gb
    bytes=$(field "$line" bytes)
    s_per_gb=$(calc "$cpu_s / ($bytes / 1e9)")
    record "$server" "$metric" "$s_per_gb"
    log "  $server $metric: $s_per_gb s CPU/GB ($(field "$line" mb_per_s) MB/s)"
}

# Memory per idle TLS connection: RSS before, and while N connections are held.
measure_idle() { # SERVER PORT COUNT METRIC
    local server=$1 port=$2 count=$3 metric=$4
    # Warm up first (lazy initialisation is not per-connection memory).
    "${pin_load[@]}" "$bench_bin" --port "$port" "${tls_args[@]}" -c 10 -n 300 --csv -q \
        >/dev/null 2>&1 || true
    sleep 0.5
    local r0 r1 hp held
    r0=$(rss_kib "$spid")
    "${pin_load[@]}" "$bench_bin" --port "$port" "${tls_args[@]}" --hold "$count" -c 100 -d 120 \
        --csv -q >"$work/hold.csv" 2>"$work/hold.err" &
    hp=$!
    pids+=("$hp")
    for _ in $(seq 1200); do
        grep -q '^holding' "$work/hold.err" 2>/dev/null && break
        kill -0 "$hp" 2>/dev/null || break
        sleep 0.1
    done
    sleep 1
    r1=$(rss_kib "$spid")
    kill -TERM "$hp" 2>/dev/null || true
    wait "$hp" 2>/dev/null || true
    forget_pid "$hp"
    held=$(field "$(cat "$work/hold.csv")" held)
    [ -n "$held" ] || held=0
    record "$server" "${metric}_held" "$held"
    if [ "$held" -gt 0 ]; then
        record "$server" "$metric" "$(calc "($r1 - $r0) / $held")"
    fi
    log "  $server idle: $held of $count held, RSS $r0 -> $r1 KiB," \
        "$(calc "($r1 - $r0) / ($held > 0 ? $held : 1)") KiB/conn"
}

run_server_round() {
    local server=$1
    start_server "$server"
    log "round $round: $server (pid $spid, tls :$tls_port, plain :$plain_port)"
    measure_idle "$server" "$tls_port" "$hold_count" idle_kib
    measure_connections "$server" tls_new "$tls_port" "${tls_args[@]}" -c 100 -d "$d_new" \
        --expect-bytes 100
    measure_connections "$server" tls_resumed "$tls_port" "${tls_args[@]}" --resume -c 100 \
        -d "$d_resumed" --expect-bytes 100
    record "$server" resumed_fraction "$(calc "$(field "$line" resumed) / $ok")"
    measure_connections "$server" plain_new "$plain_port" -c 100 -d "$d_plain" --expect-bytes 100
    measure_bulk "$server" tls_s_per_gb "$tls_port" "${tls_args[@]}"
    measure_bulk "$server" plain_s_per_gb "$plain_port"
    measure_connections "$server" c1000 "$tls_port" "${tls_args[@]}" -c 1000 -d "$d_c1000" \
        --timeout 30 --expect-bytes 100
    stop_server "$server"
}

# New TLS connections with the other certificates: ECDSA P-256 alone, and the dual pair
# (ECDSA and RSA for the same name; got-bench's OpenSSL client prefers ECDSA).
run_certificate_round() {
    local server=$1 kind
    for kind in ecdsa dual; do
        cert_kind=$kind start_server "$server"
        log "round $round: $server with $kind certificates (pid $spid)"
        measure_connections "$server" "tls_new_$kind" "$tls_port" "${tls_args[@]}" -c 100 \
            -d "$d_new" --expect-bytes 100
        stop_server "$server"
    done
}

# TLS passthrough (got-router `tls: passthrough`, HAProxy `mode tcp` with req.ssl_sni,
# nginx ssl_preread), each to the same TLS origin: CPU per new connection and per GB.
run_passthrough_round() {
    local server=$1
    start_server "$server" 1 "" passthrough
    log "round $round: $server passthrough (pid $spid, :$tls_port -> origin :$origin_port)"
    measure_connections "$server" pt_new "$tls_port" "${tls_args[@]}" -c 100 -d "$d_new" \
        --expect-bytes 100
    measure_bulk "$server" pt_s_per_gb "$tls_port" "${tls_args[@]}"
    stop_server "$server"
}

# got-router alone: CPU per connection with threads: 2 against threads: 1, both
# unpinned (load and server share the two cores), and each loop's share of CPU.
scaling_round() {
    local per=() t
    for t in 1 2; do
        start_server got-router "$t" 0-1
        declare -A before=()
        local task
        for task in /proc/"$spid"/task/*; do
            before[${task##*/}]=$(sed 's/^.*) //' "$task/stat" | awk '{ print $12 + $13 }')
        done
        local saved=("${pin_load[@]}")
        pin_load=("${prio[@]}")
        bench_run "threads$t" got-router "$tls_port" "${tls_args[@]}" -c 100 -d "$d_scale" \
            --expect-bytes 100
        pin_load=("${saved[@]}")
        per[t]=$(calc "$cpu_s * 1e6 / $ok")
        if [ "$t" = 2 ]; then
            local total=0 busiest=0 d
            for task in /proc/"$spid"/task/*; do
                d=$(($(sed 's/^.*) //' "$task/stat" | awk '{ print $12 + $13 }') - ${before[${task##*/}]:-0}))
                total=$((total + d))
                [ "$d" -gt "$busiest" ] && busiest=$d
            done
            record got-router threads2_busiest_share "$(calc "100 * $busiest / ($total > 0 ? $total : 1)")"
        fi
        stop_server got-router
        unset before
    done
    record got-router threads2_vs_1 "$(calc "${per[2]} / ${per[1]}")"
    log "  got-router threads: 1 ${per[1]} µs/conn, threads: 2 ${per[2]} µs/conn (unpinned)"
}

# ---------------------------------------------------------------- the run
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "backend on :$backend_port; $rounds round(s) of: $servers; load average $load_start"
read -r -a server_list <<<"$servers"
n=${#server_list[@]}
for ((round = 1; round <= rounds; round++)); do
    for ((i = 0; i < n; i++)); do
        selected terminated && run_server_round "${server_list[$(((i + round - 1) % n))]}"
        selected certificates && run_certificate_round "${server_list[$(((i + round - 1) % n))]}"
        selected passthrough && run_passthrough_round "${server_list[$(((i + round - 1) % n))]}"
    done
    case " $servers " in *" got-router "*) selected scaling && scaling_round ;; esac
done
round=0
if [ "$hold_big" -gt 0 ] && [[ " $servers " == *" got-router "* ]] && selected terminated; then
    start_server got-router
    log "got-router: holding $hold_big idle TLS connections"
    measure_idle got-router "$tls_port" "$hold_big" idle_kib_10k
    grep -m1 -i 'open-file limit' "$work/got-router/server.log" >&2 || true
    stop_server got-router
fi
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------- the report
{
    echo "date=$(date -u +%Y-%m-%dT%H:%MZ)"
    echo "machine=$(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r)"
    [ -n "$label" ] || label=$(git -C "$root" describe --always --dirty 2>/dev/null || echo '?')
    echo "versions=got-router $label, $(haproxy -v | head -n 1 | awk '{ print "HAProxy " $3 }'), $(nginx -v 2>&1 | sed 's|nginx version: nginx/|nginx |'), $(openssl version | awk '{ print "OpenSSL " $2 }')"
    echo "mode=$([ "$quick" = 1 ] && echo quick || echo full), $rounds round(s), medians"
    echo "load=load average $load_start at start, $load_end at end"
    echo "duration=$(($(date +%s) - started_at)) s"
} >"$out/meta.txt"

chart_arg=()
[ "$have_gnuplot" = 1 ] && chart_arg=(--chart)
python3 "$here/report.py" --raw "$raw" --meta "$out/meta.txt" --out "$out" \
    "${chart_arg[@]}" --servers "$servers"
log "done in $(($(date +%s) - started_at)) s; results in $out"
