#!/usr/bin/env bash
# cpu_split.sh: where a server's CPU per connection goes, user space or the kernel, for
# got-router, HAProxy and nginx on the same load, rounds rotating the servers: utime and
# stime from /proc/PID/stat (summed over the process tree, all threads) around a got-bench
# run of a fixed count, divided by the connections that succeeded, and the context
# switches per connection (voluntary: the server slept in epoll_wait; summed over every
# thread). compare.sh reports the sum; this splits it, so a gap against a peer can be
# put on user-space work (instructions.sh counts it) or on the kernel (syscalls.sh).
# The split is the tick's sample (utime, stime); the total beside it is the scheduler's
# exact count (harness.sh's cpu_ns), the figure to compare.
# Same pinning, certificate, backend, origin and config templates as compare.sh.
#
# Output: one line per measurement and the medians per server and load, as a Markdown
# table on stdout; OUT/cpu_split.csv.
#
# usage: bench/cpu_split.sh [--rounds N] [--requests N] [--concurrency N]
#                           [--loads "pt_new plain_new tls_new"]
#                           [--servers "got-router haproxy nginx"] [--by-call]
#                           [--certificates rsa|ecdsa|dual]
#                           [--build-dir DIR] [--out DIR] [--no-install] [--no-build]
#
# --by-call also samples the server's CPU with perf (harness.sh's by_call_start) and
# prints, per load, each server's median CPU per connection by system call (the kernel's
# work, softirq included, on the call that caused it): OUT/cpu_split_calls.csv.
set -euo pipefail

bench_name=cpu_split
# shellcheck source=bench/harness.sh
. "$(dirname "$0")/harness.sh"

split_rounds=3 split_requests=8000 split_concurrency=100 split_loads="pt_new plain_new"
split_by_call=0
while [ $# -gt 0 ]; do
    case $1 in
    --rounds) split_rounds=$2; consumed=2 ;;
    --requests) split_requests=$2; consumed=2 ;;
    --concurrency) split_concurrency=$2; consumed=2 ;;
    --loads) split_loads=$2; consumed=2 ;;
    --by-call) split_by_call=1; consumed=1 ;;
    *) common_option "$@" ;;
    esac
    shift "$consumed"
done

[ "$split_by_call" = 1 ] && bench_packages=(linux-perf)
bench_setup
case " $split_loads " in *" pt_new "*) start_origin ;; esac

# utime stime voluntary nonvoluntary, over every thread of every process of the tree.
usage_of() {
    local u=0 s=0 v=0 n=0 p t fields
    for p in $(tree_pids "$1"); do
        fields=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12, $13 }') || continue
        u=$((u + ${fields% *})) s=$((s + ${fields#* }))
        for t in /proc/"$p"/task/*; do
            fields=$(awk '/^voluntary_ctxt_switches/ { v = $2 } /^nonvoluntary_ctxt_switches/ { n = $2 }
                          END { print v + 0, n + 0 }' "$t/status" 2>/dev/null) || continue
            v=$((v + ${fields% *})) n=$((n + ${fields#* }))
        done
    done
    echo "$u $s $v $n"
}

results="$out/cpu_split.csv"
echo "round,server,load,user_us_per_conn,system_us_per_conn,cpu_us_per_conn,voluntary_switches_per_conn,involuntary_switches_per_conn,ok,failed" >"$results"
calls="$out/cpu_split_calls.csv"
echo "round,server,load,call,us_per_conn" >"$calls"
read -r -a server_list <<<"$servers"
for round in $(seq "$split_rounds"); do
    # rotate the order each round
    shift_by=$(((round - 1) % ${#server_list[@]}))
    order=("${server_list[@]:shift_by}" "${server_list[@]:0:shift_by}")
    for server in "${order[@]}"; do
        for load in $split_loads; do
            if [ "$load" = pt_new ]; then
                start_server "$server" 1 "" passthrough
            else
                start_server "$server"
            fi
            load_args "$load"
            "${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" -n 200 -c 20 --csv -q \
                >/dev/null 2>&1 || true # warm up
            [ "$split_by_call" = 1 ] && by_call_start "$work/perf.data"
            read -r u0 s0 v0 n0 < <(usage_of "$spid")
            ns0=$(cpu_ns "$spid")
            line=$("${pin_load[@]}" "$bench_bin" --port "$port" "${args[@]}" --csv -q \
                -n "$split_requests" -c "$split_concurrency" 2>"$work/bench.err") || true
            ns1=$(cpu_ns "$spid")
            read -r u1 s1 v1 n1 < <(usage_of "$spid")
            if [ "$split_by_call" = 1 ]; then
                by_call_stop
                [ -n "$line" ] && by_call_rows "$work/perf.data" "$spid" "$(field "$line" requests_ok)" |
                    sed "s/^/$round,$server,$load,/" >>"$calls"
            fi
            stop_server "$server"
            [ -n "$line" ] || die "$server $load: got-bench printed nothing: $(tail -n 3 "$work/bench.err")"
            ok=$(field "$line" requests_ok)
            failed=$(field "$line" requests_failed)
            [ "$ok" -gt 0 ] || die "$server $load: no request succeeded: $line"
            user=$(calc "($u1 - $u0) / $clk_tck * 1e6 / $ok")
            system=$(calc "($s1 - $s0) / $clk_tck * 1e6 / $ok")
            cpu=$(calc "($ns1 - $ns0) / 1e3 / $ok")
            vol=$(calc "($v1 - $v0) / $ok")
            invol=$(calc "($n1 - $n0) / $ok")
            echo "$round,$server,$load,$user,$system,$cpu,$vol,$invol,$ok,$failed" >>"$results"
            log "round $round $server $load: $cpu µs (user $user, system $system by the tick), switches $vol + $invol per connection (ok $ok, failed $failed)"
        done
    done
done

python3 - "$results" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print("| load | server | CPU µs/conn (scheduler) | user µs/conn (tick) | system µs/conn (tick) | voluntary switches/conn | failed |")
print("|---|---|---|---|---|---|---|")
for load in dict.fromkeys(r["load"] for r in rows):
    for server in dict.fromkeys(r["server"] for r in rows):
        mine = [r for r in rows if r["load"] == load and r["server"] == server]
        if not mine:
            continue
        med = lambda k: statistics.median(float(r[k]) for r in mine)
        u, s = med("user_us_per_conn"), med("system_us_per_conn")
        failed = sum(int(r["failed"]) for r in mine)
        print(f"| {load} | {server} | {med('cpu_us_per_conn'):.1f} | {u:.1f} | {s:.1f} | "
              f"{med('voluntary_switches_per_conn'):.2f} | {failed} |")
PY
[ "$split_by_call" = 1 ] && python3 "$here/by_call.py" --report "$calls" --group server
log "done in $(($(date +%s) - started_at)) s; $results"
