#!/usr/bin/env bash
# Smoke test of the benchmark tools (ctest bench.got_bench_smoke): starts the
# bench backend and got-router on port 0, runs got-bench for about 2 s plaintext
# and 2 s TLS (plus a short resumed run and a short hold), and checks that each
# reports requests and no errors. Not a performance test: no figure is judged.
#
# usage: smoke.sh GOT_ROUTER GOT_BENCH BACKEND   ($GOT_ROUTER overrides the first)
set -euo pipefail

router=${GOT_ROUTER:-${1:?usage: smoke.sh GOT_ROUTER GOT_BENCH BACKEND}}
bench=${2:?usage: smoke.sh GOT_ROUTER GOT_BENCH BACKEND}
backend=${3:?usage: smoke.sh GOT_ROUTER GOT_BENCH BACKEND}
# shellcheck source=bench/templates.sh
. "$(dirname "$0")/templates.sh"

work=$(mktemp -d "${TMPDIR:-/tmp}/got-bench-smoke.XXXXXX")
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "smoke: FAIL: $*" >&2
    for f in "$work"/*.log; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -n 20 "$f" >&2; }
    done
    exit 1
}

# Waits up to 5 s for a regular expression in a file; prints the first match.
wait_for() {
    local file=$1 pattern=$2
    for _ in $(seq 1 100); do
        if grep -Eo "$pattern" "$file" 2>/dev/null | head -n 1 | grep .; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/key.pem" -out "$work/cert.pem" \
    -days 365 -subj /CN=bench.test -addext subjectAltName=DNS:bench.test 2>/dev/null ||
    fail "cannot make a certificate"

"$backend" 0 >"$work/backend.port" 2>"$work/backend.log" &
pids+=($!)
backend_port=$(wait_for "$work/backend.port" '^[0-9]+$') || fail "backend did not start"

render_config got-router "$work/router.yaml" THREADS=1 LISTEN=127.0.0.1:0 \
    CERTIFICATES="  - { cert: $work/cert.pem, key: $work/key.pem }" \
    BACKEND_PORT="$backend_port" HANDSHAKE=10s \
    ACCESS_LOG="$work/access.log" || fail "cannot render the router config"

"$router" -c "$work/router.yaml" 2>"$work/router.log" &
pids+=($!)
router_port=$(wait_for "$work/router.log" 'listening on 127\.0\.0\.1:[0-9]+' | sed 's/.*://') ||
    fail "router did not start"

header=$("$bench" --csv-header)

# Runs got-bench with --csv; checks requests > 0 and every error count is 0.
# Extra checks: NAME=MIN pairs (the field must be at least MIN).
check_run() {
    local label=$1
    shift
    local line
    line=$("$bench" --port "$router_port" --csv -q "$@" 2>"$work/bench-$label.log") ||
        fail "$label: got-bench exited with $?: $line"
    echo "smoke: $label: $line"
    awk -F, -v header="$header" -v checks="${CHECKS[*]}" '
        BEGIN { n = split(header, names, ",") }
        {
            for (i = 1; i <= n; i++) f[names[i]] = $i
            split("requests_failed err_connect err_handshake err_write err_read err_short_reply",
                  zero, " ")
            for (k in zero) if (f[zero[k]] + 0 != 0) bad = bad " " zero[k]
            if (f["requests_ok"] + 0 <= 0) bad = bad " requests_ok"
            m = split(checks, c, " ")
            for (i = 1; i <= m; i++) {
                split(c[i], kv, "=")
                if (f[kv[1]] + 0 < kv[2] + 0) bad = bad " " kv[1] "<" kv[2]
            }
        }
        END {
            if (bad != "") { print "smoke: wrong fields:" bad > "/dev/stderr"; exit 1 }
        }' <<<"$line" || fail "$label: $line"
}

CHECKS=()
check_run plain -c 4 -d 2 --expect-bytes 100
CHECKS=(handshakes=1)
check_run tls -c 4 -d 2 --tls --sni bench.test --alpn gopher --expect-bytes 100
CHECKS=(resumed=1)
check_run resumed -c 2 -n 20 --tls --sni bench.test --alpn gopher --resume --expect-bytes 100
CHECKS=()
check_run bulk -c 2 -n 4 --tls --sni bench.test --selector size/1048576 --expect-bytes 1048576
CHECKS=(held=20)
check_run hold -c 10 --hold 20 -d 1 --tls --sni bench.test

echo "smoke: got-bench OK against $router"
