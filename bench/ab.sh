#!/usr/bin/env bash
# ab.sh: two got-router builds on the same load, alternating, several rounds: server CPU
# per connection (the scheduler's count, harness.sh's cpu_ns, around a got-bench run of a
# fixed count, divided by the connections that succeeded), as compare.sh measures it, and
# its user-space part (utime from /proc/PID/stat: sampled at the tick, so only a large
# change to user-space work shows there). Issue #21's rule: a change that claims a gain
# shows it against its baseline in one run.
# Same pinning, certificate, backend, origin and config templates as compare.sh.
#
# Output: one line per measurement, then the medians and B / A per load, on stdout.
#
# usage: bench/ab.sh --a BINARY --b BINARY [--rounds N] [--requests N]
#                    [--loads "tls_new tls_resumed plain_new pt_new"]
#                    [--concurrency N] [--by-call] [--build-dir DIR] [--out DIR]
#                    [--certificates rsa|ecdsa|dual] [--no-install]
#
# --by-call also samples the router's CPU with perf (harness.sh's by_call_start) and
# prints, per load, the medians by system call for A and B and their difference: where a
# change's gain or loss sits, kernel work included. The samples cost both builds alike.
#
# The builds are not made here: build each (for example a git worktree of the baseline
# with -DGOT_BUILD_TESTS=OFF) and pass the two got-router binaries. --build-dir gives
# got-bench and the backend (default build-bench; built there if missing).
set -euo pipefail

bench_name=ab
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"

ab_a="" ab_b="" ab_rounds=3 ab_requests=4000 ab_concurrency=100
ab_loads="tls_new plain_new pt_new"
ab_by_call=0
no_build=1
while [ $# -gt 0 ]; do
    case $1 in
    --a) ab_a=$2; consumed=2 ;;
    --b) ab_b=$2; consumed=2 ;;
    --rounds) ab_rounds=$2; consumed=2 ;;
    --requests) ab_requests=$2; consumed=2 ;;
    --concurrency) ab_concurrency=$2; consumed=2 ;;
    --loads) ab_loads=$2; consumed=2 ;;
    --by-call) ab_by_call=1; consumed=1 ;;
    *) common_option "$@" ;;
    esac
    shift "$consumed"
done
if [ ! -x "$ab_a" ] || [ ! -x "$ab_b" ]; then
    die "--a and --b must name two got-router binaries"
fi
if [ ! -x "$build/bench/got-bench" ] || [ ! -x "$build/bench/backend" ]; then
    no_build=0
fi

[ "$ab_by_call" = 1 ] && bench_packages=(linux-perf)
bench_setup
start_origin
results="$out/ab.csv"
echo "round,build,load,cpu_us_per_conn,user_us_per_conn,ok,failed" >"$results"
calls="$out/ab_calls.csv"
echo "round,build,load,call,us_per_conn" >"$calls"

for round in $(seq "$ab_rounds"); do
    order="a b"
    [ $((round % 2)) = 0 ] && order="b a"
    for which in $order; do
        router_bin=$ab_a
        [ "$which" = b ] && router_bin=$ab_b
        for load in $ab_loads; do
            if [ "$load" = pt_new ]; then
                start_server got-router 1 "" passthrough
            else
                start_server got-router
            fi
            load_args "$load"
            "${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -n 200 -c 20 --csv -q \
                >/dev/null 2>&1 || true # warm up
            [ "$ab_by_call" = 1 ] && by_call_start "$work/perf.data"
            read -r u0 _ < <(cpu_ticks_split "$spid")
            ns0=$(cpu_ns "$spid")
            line=$("${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" --csv -q \
                -n "$ab_requests" -c "$ab_concurrency" 2>"$work/bench.err") || true
            ns1=$(cpu_ns "$spid")
            read -r u1 _ < <(cpu_ticks_split "$spid")
            if [ "$ab_by_call" = 1 ]; then
                by_call_stop
                [ -n "$line" ] && by_call_rows "$work/perf.data" "$spid" "$(field "$line" requests_ok)" |
                    sed "s/^/$round,$which,$load,/" >>"$calls"
            fi
            stop_server got-router
            [ -n "$line" ] || die "$which $load: got-bench printed nothing: $(tail -n 3 "$work/bench.err")"
            ok=$(field "$line" requests_ok)
            failed=$(field "$line" requests_failed)
            [ "$ok" -gt 0 ] || die "$which $load: no request succeeded: $line"
            us=$(calc "($ns1 - $ns0) / 1e3 / $ok")
            user_us=$(calc "($u1 - $u0) / $clk_tck * 1e6 / $ok")
            echo "$round,$which,$load,$us,$user_us,$ok,$failed" >>"$results"
            log "round $round $which $load: $us µs CPU/conn, $user_us of it user (ok $ok, failed $failed)"
        done
    done
done

python3 - "$results" "$ab_a" "$ab_b" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"A = {sys.argv[2]}\nB = {sys.argv[3]}\n")
print("| load | CPU | A µs/conn (median) | B µs/conn (median) | B / A | rounds A | rounds B | failed |")
print("|---|---|---|---|---|---|---|---|")
for load in dict.fromkeys(r["load"] for r in rows):
    failed = sum(int(r["failed"]) for r in rows if r["load"] == load)
    for column, what in (("cpu_us_per_conn", "all"), ("user_us_per_conn", "user")):
        v = {w: [float(r[column]) for r in rows if r["load"] == load and r["build"] == w]
             for w in "ab"}
        a, b = statistics.median(v["a"]), statistics.median(v["b"])
        fmt = lambda xs: ", ".join(f"{x:.0f}" for x in xs)
        ratio = f"{b / a:.3f}×" if a else "—"
        print(f"| {load} | {what} | {a:.1f} | {b:.1f} | {ratio} | {fmt(v['a'])} | {fmt(v['b'])} | {failed} |")
EOF
[ "$ab_by_call" = 1 ] && python3 "$here/by_call.py" --report "$calls" --group build
log "done in $(($(date +%s) - started_at)) s; $results"
