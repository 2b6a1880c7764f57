# shellcheck shell=bash
# shellcheck disable=SC2034  # sets variables for the script that sources it
# Sourced by compare.sh, instructions.sh and syscalls.sh: what the three measurements of
# got-router against HAProxy and nginx share. Options, the setup (packages, the build,
# a certificate, the backend, CPU pinning), the servers (configs from templates.sh,
# started one at a time) and the readers of /proc and got-bench's CSV.
#
# The sourcing script sets `bench_name` (for messages) and may set `listen_steps` (how
# many 50 ms waits a server gets to listen) before sourcing, then parses its options
# with common_option, then calls bench_setup.

: "${bench_name:=bench}"
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=bench/templates.sh
. "$here/templates.sh"

servers="got-router haproxy nginx"
handshake=30s # got-router's timeouts.handshake, which bounds the idle hold too
build="$root/build-bench"
out="$here/out"
install=1
no_build=0
dry_run=0
bench_packages=() # what the mode needs besides the servers (valgrind, strace)
: "${listen_steps:=200}"
started_at=$(date +%s)

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
log() { printf '[%s %4ss] %s\n' "$bench_name" "$(($(date +%s) - started_at))" "$*" >&2; }
die() { echo "$bench_name.sh: $*" >&2; exit 1; }

# common_option ARG [VALUE]: an option every mode takes; sets `consumed` to the number of
# arguments it took. Dies on an unknown option.
common_option() {
    consumed=1
    case $1 in
    --servers) servers=$2; consumed=2 ;;
    --build-dir) build=$2; consumed=2 ;;
    --out) out=$2; consumed=2 ;;
    --no-install) install=0 ;;
    --no-build) no_build=1 ;;
    --dry-run) dry_run=1 ;;
    --certificates)
        case $2 in
        rsa | ecdsa | dual) cert_kind=$2; consumed=2 ;;
        *) die "--certificates: rsa, ecdsa or dual, not '$2'" ;;
        esac ;;
    -h | --help) usage; exit 0 ;;
    *) echo "$bench_name.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
}

# ---------------------------------------------------------------- processes
pids=()
autogroup_nice=""
# shellcheck disable=SC2317  # called by the EXIT trap
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

# bench_setup: HAProxy, nginx and the packages in bench_packages; the build (unless
# --no-build: the binaries already in --build-dir); the work directory, CPU pinning, the
# certificate and the backend. Sets router_bin, bench_bin, backend_bin, header, work,
# stream_module, prio, pin_server, pin_load, clk_tck, backend_port.
bench_setup() {
    if [ -x "$root/scripts/install-deps.sh" ] && [ "$install" = 1 ]; then
        "$root/scripts/install-deps.sh"
    fi
    install_packages haproxy nginx libnginx-mod-stream openssl procps util-linux iproute2 ||
        die "cannot install HAProxy / nginx"
    local p
    for p in "${bench_packages[@]}"; do
        install_packages "$p" || die "cannot install $p"
    done
    # The Debian packages start their services where an init system runs: keep them
    # from competing for the CPUs.
    local svc
    for svc in haproxy nginx; do
        if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
            log "stopping the $svc service for the benchmark"
            systemctl stop "$svc" || true
        fi
    done
    stream_module=$(ls /usr/lib/nginx/modules/ngx_stream_module.so 2>/dev/null) ||
        die "nginx stream module not found (package libnginx-mod-stream)"

    if [ "$no_build" = 1 ]; then
        log "using the binaries in $build"
    else
        log "building got-router, got-bench and the backend in $build"
        cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DGOT_BUILD_TESTS=OFF >/dev/null
        cmake --build "$build" -j"$(nproc)" --target got-router got-bench got-bench-backend >/dev/null
    fi
    router_bin="$build/router/got-router"
    bench_bin="$build/bench/got-bench"
    backend_bin="$build/bench/backend"
    for p in "$router_bin" "$bench_bin" "$backend_bin"; do
        [ -x "$p" ] || die "missing $p"
    done
    header=$("$bench_bin" --csv-header)

    mkdir -p "$out"
    work="$out/work"
    rm -rf "$work"
    mkdir -p "$work"

    # Everything we start runs at nice -10 when we may: other work on the machine then
    # takes less from the measured processes (all of them alike). With the kernel's
    # autogroups, nice acts only within a session, so the session's group gets
    # nice -10 too (restored on exit).
    prio=()
    if [ "$(id -u)" -eq 0 ]; then
        prio=(nice -n -10)
        if [ -w "/proc/$$/autogroup" ]; then
            local saved
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
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$work/ec-key.pem" -out "$work/ec-cert.pem" -days 365 -subj /CN=bench.test \
        -addext subjectAltName=DNS:bench.test 2>/dev/null
    cat "$work/ec-cert.pem" "$work/ec-key.pem" >"$work/ec-combined.pem"

    "${pin_load[@]}" "$backend_bin" 0 >"$work/backend.port" 2>"$work/backend.log" &
    pids+=($!)
    backend_port=""
    for _ in $(seq 100); do
        backend_port=$(head -n 1 "$work/backend.port" 2>/dev/null || true)
        [ -n "$backend_port" ] && break
        sleep 0.05
    done
    [ -n "$backend_port" ] || die "backend did not start"
}

# ---------------------------------------------------------------- measuring
# Every process of a server: its main pid and its children (nginx's worker).
tree_pids() {
    echo "$1"
    pgrep -P "$1" || true
}

# utime and stime in clock ticks ("USER SYSTEM"), over the process tree (all threads).
cpu_ticks_split() {
    local user=0 system=0 p fields
    for p in $(tree_pids "$1"); do
        fields=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12, $13 }') || continue
        [ -n "$fields" ] || continue
        user=$((user + ${fields% *})) system=$((system + ${fields#* }))
    done
    echo "$user $system"
}

# CPU time in nanoseconds, over the process tree (every thread): the scheduler's own
# count (/proc/PID/task/TID/schedstat, first field; with this kernel's paravirtual steal
# accounting, without the time the host took the CPU away). utime and stime are sampled
# at the tick (4 ms at HZ=250) and reported in 10 ms units: ±8% on 150 ticks, too coarse
# for a plaintext connection's 80 µs over a few thousand connections.
cpu_ns() {
    local p
    for p in $(tree_pids "$1"); do
        cat /proc/"$p"/task/*/schedstat 2>/dev/null || true
    done | awk '{ t += $1 } END { printf "%.0f\n", t }'
}

# --by-call: the server's CPU by system call. by_call_start FILE samples the server's
# CPU (perf's cpu-clock at by_call_hz, kernel and user call chains) until by_call_stop;
# by_call_rows FILE PID CONNECTIONS prints "call,us_per_conn" lines for the process tree
# of PID (bench/by_call.py). Needs perf (package linux-perf) and pinning (two CPUs).
# Sampling costs the sampled server a few percent, every server alike.
by_call_hz=4000
by_call_pid=""
by_call_start() {
    [ "${#pin_server[@]}" -gt "${#prio[@]}" ] || die "--by-call needs two CPUs (the server's is sampled)"
    perf record -q -e cpu-clock -F "$by_call_hz" -C 0 -g -o "$1" >/dev/null 2>"$1.err" &
    by_call_pid=$!
    pids+=("$by_call_pid")
    sleep 0.5 # recording
}
by_call_stop() {
    kill -INT "$by_call_pid" 2>/dev/null || true
    wait "$by_call_pid" 2>/dev/null || true
    forget_pid "$by_call_pid"
}
by_call_rows() {
    local tree
    tree=$(tree_pids "$2" | paste -sd,)
    perf script -i "$1" -F pid,ip,sym 2>/dev/null |
        python3 "$here/by_call.py" --pids "$tree" --hz "$by_call_hz" --connections "$3"
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
    for _ in $(seq "$listen_steps"); do
        kill -0 "$1" 2>/dev/null || return 1
        ss -Hltn "( sport = :$2 )" | grep -q . && return 0
        sleep 0.05
    done
    return 1
}

# ---------------------------------------------------------------- the servers
# start_server NAME [THREADS [CPU-LIST [VARIANT]]]: sets spid, tls_port, plain_port. The
# config comes from bench/templates/ (templates.sh); nginx_user is a line for nginx.conf.
# VARIANT passthrough: the server passes TLS through to the origin (start_origin first)
# and has no plaintext port (plain_port = tls_port).
nginx_user=""
# The certificates every server is configured with: rsa (RSA-2048, the default), ecdsa
# (P-256) or dual (both, for the same name: each client gets what its signature
# algorithms prefer). Sets the config lines for each server's template. The scripts'
# --certificates KIND; compare.sh's certificates figures set it per run.
cert_kind=rsa
certificate_lines() {
    local kinds
    case $cert_kind in
    rsa) kinds="rsa" ;;
    ecdsa) kinds="ec" ;;
    dual) kinds="ec rsa" ;;
    *) die "unknown certificate kind $cert_kind" ;;
    esac
    got_certs="" haproxy_crt="" nginx_certs=""
    local k prefix
    for k in $kinds; do
        prefix=""
        [ "$k" = ec ] && prefix=ec-
        got_certs+="  - { cert: $work/${prefix}cert.pem, key: $work/${prefix}key.pem }"$'\n'
        haproxy_crt+="crt $work/${prefix}combined.pem "
        nginx_certs+="        ssl_certificate $work/${prefix}cert.pem;"$'\n'
        nginx_certs+="        ssl_certificate_key $work/${prefix}key.pem;"$'\n'
    done
    got_certs=${got_certs%$'\n'} haproxy_crt=${haproxy_crt% } nginx_certs=${nginx_certs%$'\n'}
}

start_server() {
    local name=$1 threads=${2:-1} cpus=${3:-} variant=${4:-}
    local pin=("${pin_server[@]}")
    [ -n "$cpus" ] && pin=("${prio[@]}" taskset -c "$cpus")
    local dir="$work/$name" suffix=""
    mkdir -p "$dir"
    certificate_lines
    free_port tls_port
    plain_port=$tls_port
    if [ "$variant" = passthrough ]; then
        [ -n "${origin_port:-}" ] || die "start_server $name passthrough: no origin (start_origin)"
        suffix=-passthrough
    fi
    case $name in
    got-router)
        render_config "got-router$suffix" "$dir/router.yaml" THREADS="$threads" \
            LISTEN="127.0.0.1:$tls_port" CERTIFICATES="$got_certs" \
            BACKEND_PORT="$backend_port" ORIGIN_PORT="${origin_port:-}" HANDSHAKE="$handshake" \
            ACCESS_LOG=off # the peers log nothing per connection either
        "${pin[@]}" "$router_bin" -c "$dir/router.yaml" 2>"$dir/server.log" &
        ;;
    haproxy)
        [ -n "$suffix" ] || free_port plain_port
        render_config "haproxy$suffix" "$dir/haproxy.cfg" TLS_PORT="$tls_port" \
            PLAIN_PORT="$plain_port" CRT="$haproxy_crt" \
            BACKEND_PORT="$backend_port" ORIGIN_PORT="${origin_port:-}"
        "${pin[@]}" haproxy -db -f "$dir/haproxy.cfg" >"$dir/server.log" 2>&1 &
        ;;
    nginx)
        [ -n "$suffix" ] || free_port plain_port
        render_config "nginx$suffix" "$dir/nginx.conf" STREAM_MODULE="$stream_module" \
            NGINX_USER="$nginx_user" DIR="$dir" TLS_PORT="$tls_port" PLAIN_PORT="$plain_port" \
            SSL_CERTIFICATES="$nginx_certs" BACKEND_PORT="$backend_port" \
            ORIGIN_PORT="${origin_port:-}"
        "${pin[@]}" nginx -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/server.log" 2>&1 &
        ;;
    *) die "unknown server $name" ;;
    esac
    spid=$!
    pids+=("$spid")
    if ! { wait_listening "$spid" "$tls_port" && wait_listening "$spid" "$plain_port"; }; then
        tail -n 20 "$dir/server.log" "$dir/error.log" 2>/dev/null >&2 || true
        die "$name did not start"
    fi
    if [ "$name" = nginx ]; then
        # The worker must exist before its CPU is read.
        for _ in $(seq 100); do
            pgrep -P "$spid" >/dev/null && break
            sleep 0.05
        done
    fi
}

# start_origin: the TLS origin the passthrough runs reach (HAProxy terminating TLS in
# front of the backend, on the load CPU, not measured); sets origin_port.
origin_port=""
start_origin() {
    free_port origin_port
    mkdir -p "$work/origin"
    render_config origin "$work/origin/haproxy.cfg" ORIGIN_PORT="$origin_port" \
        COMBINED_PEM="$work/combined.pem" BACKEND_PORT="$backend_port"
    "${pin_load[@]}" haproxy -db -f "$work/origin/haproxy.cfg" >"$work/origin/server.log" 2>&1 &
    pids+=($!)
    wait_listening $! "$origin_port" || die "the TLS origin did not start: $(tail -n 5 "$work/origin/server.log")"
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

# --dry-run: each server started from its config as the mode starts it (pinning, callgrind)
# and stopped once it listens; no load, no figures.
dry_run_servers() {
    local server
    for server in $servers; do
        start_server "$server"
        log "$server listens (pid $spid, tls :$tls_port, plain :$plain_port); config in $work/$server"
        stop_server "$server"
    done
    log "dry run done in $(($(date +%s) - started_at)) s"
}

tls_args=(--tls --sni bench.test --alpn gopher)

# load_args LOAD: sets args and port for got-bench against the running server.
load_args() {
    case $1 in
    tls_new | tls_bulk | pt_new) args=("${tls_args[@]}") port=$tls_port ;;
    tls_resumed) args=("${tls_args[@]}" --resume) port=$tls_port ;;
    plain_new) args=() port=$plain_port ;;
    esac
}
