#!/usr/bin/env bash
# compare.sh: got-router, HAProxy and nginx (stream module) side by side on this
# machine, same certificate (RSA-2048), same backend (bench/backend.c), same load
# (got-bench). Each server runs alone, one worker / event loop, pinned to CPU 0;
# the load and the backend run on CPU 1. Servers take turns, several rounds in a
# rotating order; the table shows medians and the ratios got-router / peer.
#
# Figures: server CPU per new TLS connection, per resumed TLS connection, per
# plaintext connection (utime+stime from /proc/PID/stat around a got-bench run,
# divided by the requests); server CPU per GB of reply through TLS and through
# plaintext; server memory per idle TLS connection (VmRSS from /proc/PID/status
# before and while got-bench --hold keeps 4000 handshaken connections open);
# requests/s and p99 latency at 100 and 1000 concurrent connections; for
# got-router alone, the cost of `threads: 2` against `threads: 1` and whether
# 10,000 idle TLS connections can be held.
#
# Output: a Markdown table on stdout, and in bench/out/: results.md, results.csv,
# results.png (when gnuplot is there), raw.csv (every measurement) and logs.
#
# --instructions: instead of the above, each server under valgrind's callgrind,
# counting user-space instructions per connection (new TLS, resumed TLS, plaintext;
# counters zeroed before and dumped after each got-bench run of a fixed count) and per
# MiB of one 64 MiB TLS reply (its handshake taken out). On a
# shared, noisy machine this is the figure that does not move with the load; it
# leaves out the kernel's share (TCP, syscalls), which CPU time includes.
#
# --syscalls: instead of the above, each server's system calls per connection
# (strace -c on every process and thread of the server, attached only around a
# got-bench run of a fixed count, one connection at a time), in total and by call:
# the kernel-side counterpart of --instructions. Writes bench/out/syscalls.csv.
#
# usage: bench/compare.sh [--quick] [--rounds N] [--servers "got-router haproxy nginx"]
#                         [--build-dir DIR] [--out DIR] [--no-install] [--label TEXT]
#                         [--instructions [--requests N]] [--syscalls [--requests N]]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

quick=0
rounds=""
servers="got-router haproxy nginx"
build="$root/build-bench"
out="$here/out"
install=1
instructions=0
syscalls=0
cg_requests=200
cg_bulk_bytes=$((64 * 1024 * 1024)) # the --instructions TLS reply
label="" # describes the got-router build in the report (default: git describe)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case $1 in
    --quick) quick=1 ;;
    --rounds) rounds=$2; shift ;;
    --servers) servers=$2; shift ;;
    --build-dir) build=$2; shift ;;
    --out) out=$2; shift ;;
    --no-install) install=0 ;;
    --label) label=$2; shift ;;
    --instructions) instructions=1 ;;
    --syscalls) syscalls=1 ;;
    --requests) cg_requests=$2; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

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
started_at=$(date +%s)

log() { printf '[compare %4ss] %s\n' "$(($(date +%s) - started_at))" "$*" >&2; }
die() { echo "compare.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- processes
pids=()
autogroup_nice=""
cleanup() {
    local pid
    if [ -n "$autogroup_nice" ]; then
        echo "$autogroup_nice" >"/proc/$$/autogroup" 2>/dev/null || true
    fi
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    sleep 0.2
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

forget_pid() {
    local keep=() p
    for p in "${pids[@]}"; do
        [ "$p" = "$1" ] || keep+=("$p")
    done
    pids=("${keep[@]}")
}

# ---------------------------------------------------------------- setup
install_packages() {
    local want=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            want+=("$p")
    done
    [ ${#want[@]} -eq 0 ] && return 0
    [ "$install" = 1 ] || { log "missing packages (not installing): ${want[*]}"; return 1; }
    log "installing ${want[*]}"
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq >/dev/null &&
        $sudo apt-get install -y -qq --no-install-recommends "${want[@]}" >/dev/null
}

if [ -x "$root/scripts/install-deps.sh" ] && [ "$install" = 1 ]; then
    "$root/scripts/install-deps.sh"
fi
install_packages haproxy nginx libnginx-mod-stream openssl procps util-linux iproute2 ||
    die "cannot install HAProxy / nginx"
if [ "$instructions" = 1 ]; then
    install_packages valgrind || die "cannot install valgrind"
fi
if [ "$syscalls" = 1 ]; then
    install_packages strace || die "cannot install strace"
fi
have_gnuplot=1
install_packages gnuplot-nox || have_gnuplot=0
command -v gnuplot >/dev/null || have_gnuplot=0
# The Debian packages start their services where an init system runs: keep them
# from competing for the CPUs.
for svc in haproxy nginx; do
    if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
        log "stopping the $svc service for the benchmark"
        systemctl stop "$svc" || true
    fi
done
stream_module=$(ls /usr/lib/nginx/modules/ngx_stream_module.so 2>/dev/null) ||
    die "nginx stream module not found (package libnginx-mod-stream)"

log "building got-router, got-bench and the backend in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOT_BUILD_TESTS=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target got-router got-bench got-bench-backend >/dev/null
router_bin="$build/router/got-router"
bench_bin="$build/bench/got-bench"
backend_bin="$build/bench/backend"
header=$("$bench_bin" --csv-header)

mkdir -p "$out"
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
raw="$out/raw.csv"
echo "round,server,metric,value" >"$raw"

# Everything we start runs at nice -10 when we may: other work on the machine then
# takes less from the measured processes (all of them alike). With the kernel's
# autogroups, nice acts only within a session, so the session's group gets
# nice -10 too (restored on exit).
prio=()
if [ "$(id -u)" -eq 0 ]; then
    prio=(nice -n -10)
    if [ -w "/proc/$$/autogroup" ]; then
        saved=$(awk '{ print $3 }' "/proc/$$/autogroup")
        if echo -10 >"/proc/$$/autogroup" 2>/dev/null; then
            autogroup_nice=$saved
        fi
    fi
fi
if [ "$(nproc)" -ge 2 ]; then
    pin_server=("${prio[@]}" taskset -c 0)
    pin_load=("${prio[@]}" taskset -c 1)
else
    log "only one CPU: not pinning"
    pin_server=("${prio[@]}")
    pin_load=("${prio[@]}")
fi
clk_tck=$(getconf CLK_TCK)

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 365 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null
cat "$work/cert.pem" "$work/key.pem" >"$work/combined.pem"

"${pin_load[@]}" "$backend_bin" 0 >"$work/backend.port" 2>"$work/backend.log" &
pids+=($!)
for _ in $(seq 100); do
    backend_port=$(head -n 1 "$work/backend.port" 2>/dev/null || true)
    [ -n "$backend_port" ] && break
    sleep 0.05
done
[ -n "$backend_port" ] || die "backend did not start"

# ---------------------------------------------------------------- measuring
# Every process of a server: its main pid and its children (nginx's worker).
tree_pids() {
    echo "$1"
    pgrep -P "$1" || true
}

# utime + stime in clock ticks, over the process tree.
cpu_ticks() {
    local total=0 p t
    for p in $(tree_pids "$1"); do
        t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }') || t=0
        total=$((total + ${t:-0}))
    done
    echo "$total"
}

# VmRSS in KiB, over the process tree.
rss_kib() {
    local total=0 p r
    for p in $(tree_pids "$1"); do
        r=$(awk '/^VmRSS:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || r=0
        total=$((total + ${r:-0}))
    done
    echo "$total"
}

# A field of a got-bench CSV line, by name.
field() {
    awk -F, -v h="$header" -v name="$2" '
        BEGIN { n = split(h, a, ","); for (i = 1; i <= n; i++) if (a[i] == name) col = i }
        { print $col }' <<<"$1"
}

calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

round=0
record() { echo "$round,$1,$2,$3" >>"$raw"; }

tls_port="" plain_port="" spid=""
# free_port VAR: sets VAR to a port nobody uses (not in a subshell: it counts on).
next_port=$((20000 + RANDOM % 20000))
free_port() {
    while ss -Htan "( sport = :$next_port )" | grep -q .; do
        next_port=$((next_port + 1))
    done
    printf -v "$1" '%s' "$next_port"
    next_port=$((next_port + 1))
}

wait_listening() { # PID PORT
    local i
    for i in $(seq $((instructions ? 1200 : 200))); do
        kill -0 "$1" 2>/dev/null || return 1
        ss -Hltn "( sport = :$2 )" | grep -q . && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- the servers
# start_server NAME [THREADS [CPU-LIST]]: sets spid, tls_port, plain_port.
start_server() {
    local name=$1 threads=${2:-1} cpus=${3:-}
    local pin=("${pin_server[@]}")
    [ -n "$cpus" ] && pin=("${prio[@]}" taskset -c "$cpus")
    local dir="$work/$name"
    mkdir -p "$dir"
    free_port tls_port
    case $name in
    got-router)
        plain_port=$tls_port # one port for both, as deployed
        cat >"$dir/router.yaml" <<EOF
threads: $threads
listeners:
  - address: "127.0.0.1:$tls_port"
    default_route: r
certificates:
  - cert: $work/cert.pem
    key: $work/key.pem
routes:
  - name: r
    sni: [bench.test]
    backends: ["127.0.0.1:$backend_port"]
# handshake also bounds the wait for the request: long enough for the idle hold
timeouts: { handshake: 30s, connect: 5s, idle: 60s, shutdown_grace: 1s }
# every connection comes from 127.0.0.1: no per-address cap (the peers have none)
limits: { max_connections_per_ip: 0 }
logging: { access: $dir/access.log }
EOF
        : >"$dir/access.log"
        "${pin[@]}" "$router_bin" -c "$dir/router.yaml" 2>"$dir/server.log" &
        ;;
    haproxy)
        free_port plain_port
        cat >"$dir/haproxy.cfg" <<EOF
global
    nbthread 1
    maxconn 6000
    ssl-server-verify none
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend got_tls
    bind 127.0.0.1:$tls_port ssl crt $work/combined.pem alpn gopher backlog 4096
    default_backend gopher
frontend got_plain
    bind 127.0.0.1:$plain_port backlog 4096
    option splice-auto
    default_backend gopher
backend gopher
    option splice-auto
    server b1 127.0.0.1:$backend_port
EOF
        "${pin[@]}" haproxy -db -f "$dir/haproxy.cfg" >"$dir/server.log" 2>&1 &
        ;;
    nginx)
        free_port plain_port
        # Under callgrind the worker must be root too: callgrind_control cannot reach
        # a process of another user.
        local nginx_user=""
        [ "$instructions" = 1 ] && [ "$(id -u)" -eq 0 ] && nginx_user="user root;"
        cat >"$dir/nginx.conf" <<EOF
load_module $stream_module;
$nginx_user
worker_processes 1;
worker_rlimit_nofile 20000;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 16384; }
stream {
    proxy_timeout 60s;
    server {
        listen 127.0.0.1:$tls_port ssl backlog=4096;
        ssl_certificate $work/cert.pem;
        ssl_certificate_key $work/key.pem;
        # nginx 1.22's default is TLSv1 TLSv1.1 TLSv1.2 (1.3 joined the default in
        # 1.23.4): without this line it negotiates TLS 1.2 and resumes without (EC)DHE
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_alpn gopher;
        proxy_pass 127.0.0.1:$backend_port;
    }
    server {
        listen 127.0.0.1:$plain_port backlog=4096;
        proxy_pass 127.0.0.1:$backend_port;
    }
}
EOF
        "${pin[@]}" nginx -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/server.log" 2>&1 &
        ;;
    *) die "unknown server $name" ;;
    esac
    spid=$!
    pids+=("$spid")
    wait_listening "$spid" "$tls_port" && wait_listening "$spid" "$plain_port" || {
        tail -n 20 "$dir/server.log" "$dir/error.log" 2>/dev/null >&2 || true
        die "$name did not start"
    }
    if [ "$name" = nginx ]; then
        # The worker must exist before its CPU is read.
        for _ in $(seq 100); do
            pgrep -P "$spid" >/dev/null && break
            sleep 0.05
        done
    fi
}

stop_server() {
    local sig=TERM
    [ "$1" = got-router ] && sig=QUIT # stop now, no drain
    kill -"$sig" "$spid" 2>/dev/null || true
    for _ in $(seq 100); do
        kill -0 "$spid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    forget_pid "$spid"
}

tls_args=(--tls --sni bench.test --alpn gopher)

# bench_run LABEL SERVER PORT [got-bench args...]: runs got-bench on the load CPU,
# measures the server's CPU around it; sets line, cpu_s, ok.
bench_run() {
    local label=$1 server=$2 port=$3
    shift 3
    local c0 c1
    c0=$(cpu_ticks "$spid")
    line=$("${pin_load[@]}" "$bench_bin" --port "$port" --csv -q "$@" 2>"$work/bench.err") || true
    c1=$(cpu_ticks "$spid")
    [ -n "$line" ] || die "$server $label: got-bench printed nothing: $(tail -n 3 "$work/bench.err")"
    cpu_s=$(calc "($c1 - $c0) / $clk_tck")
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
        per[$t]=$(calc "$cpu_s * 1e6 / $ok")
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

# ---------------------------------------------------------------- instructions
# load_args LOAD: sets args and port for got-bench against the running server.
load_args() {
    case $1 in
    tls_new | tls_bulk) args=("${tls_args[@]}") port=$tls_port ;;
    tls_resumed) args=("${tls_args[@]}" --resume) port=$tls_port ;;
    plain_new) args=() port=$plain_port ;;
    esac
}

# callgrind_control on every process of the server: -z zeroes, -d dumps.
cg_control() { # FLAG
    local p
    for p in $(tree_pids "$spid"); do
        callgrind_control "$1" "$p" >/dev/null 2>&1 || true
    done
}

instructions_run() {
    local cg="$work/callgrind"
    local csv="$out/instructions.csv"
    echo "server,load,requests,instructions,per_connection" >"$csv"
    pin_server=("${prio[@]}" taskset -c 0 valgrind --tool=callgrind --trace-children=yes
        --callgrind-out-file="$cg/%p.out")
    local server load args
    for server in $servers; do
        rm -rf "$cg"
        mkdir -p "$cg"
        start_server "$server"
        log "$server under callgrind (pid $spid)"
        for load in tls_new tls_resumed plain_new tls_bulk; do
            local shape=(-c 5 -n "$cg_requests" --expect-bytes 100)
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
            log "  $server $load: $ok $([ "$load" = tls_bulk ] && echo MiB || echo connections)," \
                "$each instructions each"
        done
        stop_server "$server"
    done
    python3 - "$csv" "$servers" "$here" <<'PY'
import csv, sys
sys.path.insert(0, sys.argv[3])
from report import ratio_table
rows = list(csv.DictReader(open(sys.argv[1])))
servers = sys.argv[2].split()
names = {"tls_new": "new TLS connection", "tls_resumed": "resumed TLS connection",
         "plain_new": "plaintext connection", "tls_bulk": "MiB of TLS reply"}
table = [(name, {r["server"]: int(r["per_connection"]) for r in rows if r["load"] == load})
         for load, name in names.items()]
print(ratio_table("user-space instructions (thousands) per", servers, table,
                  lambda v: f"{v / 1000:,.0f}"))
PY
    log "done in $(($(date +%s) - started_at)) s; $csv"
}

# ---------------------------------------------------------------- syscalls
syscalls_run() {
    local csv="$out/syscalls.csv" trace="$work/strace"
    echo "server,load,requests,syscall,calls" >"$csv"
    local server load args port
    for server in $servers; do
        start_server "$server"
        for load in tls_new tls_resumed plain_new; do
            load_args "$load"
            "${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -n 20 --csv -q \
                >/dev/null 2>&1 || true # warm up: lazy initialisation, the first ticket
            local attach=() p t
            for p in $(tree_pids "$spid"); do
                for t in /proc/"$p"/task/*; do attach+=(-p "${t##*/}"); done
            done
            rm -f "$trace"
            strace -c -o "$trace" "${attach[@]}" 2>/dev/null &
            local st=$!
            sleep 1 # attached
            # One connection at a time, with --resume each is resumed but the first.
            line=$("${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -c 1 \
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
    python3 - "$csv" "$servers" "$here" <<'PY'
import csv, sys
sys.path.insert(0, sys.argv[3])
from report import ratio_table
rows = list(csv.DictReader(open(sys.argv[1])))
servers = sys.argv[2].split()
per = {}
for r in rows:
    per[(r["server"], r["load"], r["syscall"])] = int(r["calls"]) / int(r["requests"])
names = {"tls_new": "new TLS connection", "tls_resumed": "resumed TLS connection",
         "plain_new": "plaintext connection"}
table = [(name, {s: per[(s, load, "total")] for s in servers if (s, load, "total") in per})
         for load, name in names.items()]
print(ratio_table("system calls per", servers, table, lambda v: f"{v:.1f}"))
print()
calls = sorted({k[2] for k in per if k[1] == "tls_new" and k[2] != "total"},
               key=lambda c: -max(per.get((s, "tls_new", c), 0) for s in servers))
print("| new TLS connection, by call | " + " | ".join(servers) + " |")
print("|---" * (1 + len(servers)) + "|")
for c in calls:
    print(f"| `{c}` | " + " | ".join(f"{per[(s, 'tls_new', c)]:.2f}" if (s, "tls_new", c) in per else "—"
                                   for s in servers) + " |")
PY
    log "done in $(($(date +%s) - started_at)) s; $csv"
}

if [ "$instructions" = 1 ]; then
    instructions_run
    exit 0
fi
if [ "$syscalls" = 1 ]; then
    syscalls_run
    exit 0
fi

# ---------------------------------------------------------------- the run
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "backend on :$backend_port; $rounds round(s) of: $servers; load average $load_start"
read -r -a server_list <<<"$servers"
n=${#server_list[@]}
for ((round = 1; round <= rounds; round++)); do
    for ((i = 0; i < n; i++)); do
        run_server_round "${server_list[$(((i + round - 1) % n))]}"
    done
    case " $servers " in *" got-router "*) scaling_round ;; esac
done
round=0
if [ "$hold_big" -gt 0 ] && [[ " $servers " == *" got-router "* ]]; then
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
