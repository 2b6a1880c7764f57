#!/usr/bin/env bash
# Soak: got-router under mixed plaintext and TLS traffic at about half of its measured
# capacity, with a config reload every 10 s; samples RSS (VmRSS) and open descriptors
# every 5 s. Fails when, after a 30 s warm-up, either drifts by more than 5% (mean of
# the first third of the samples vs the last third; RSS also needs to grow by more than
# 512 KiB), when any request fails, or when a reload fails.
#
#   tests/soak.sh [seconds]     (default 180, as CI runs it; by hand: 3600)
#
# Needs build/router/got-router and build/bench/{got-bench,backend} (GOT_ROUTER,
# GOT_BENCH, GOT_BENCH_BACKEND override). Writes soak.csv (and soak.png with gnuplot)
# to $SOAK_OUT (default: a temp dir, printed at the end).
set -euo pipefail

duration=${1:-180}
warmup=30
sample_every=5
reload_every=10
repo=$(cd "$(dirname "$0")/.." && pwd)
router_bin=${GOT_ROUTER:-$repo/build/router/got-router}
bench=${GOT_BENCH:-$repo/build/bench/got-bench}
backend_bin=${GOT_BENCH_BACKEND:-$repo/build/bench/backend}
for f in "$router_bin" "$bench" "$backend_bin"; do
  [ -x "$f" ] || { echo "soak: missing $f (build got-router, got-bench and got-bench-backend)" >&2; exit 1; }
done
((duration > warmup + 6 * sample_every)) || { echo "soak: need more than $((warmup + 6 * sample_every)) s" >&2; exit 2; }

work=$(mktemp -d /tmp/got-soak.XXXXXX)
out=${SOAK_OUT:-$work}
mkdir -p "$out"
pids=()
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

wait_line() { # file pattern seconds -> the first matching line
  local deadline=$((SECONDS + $3))
  while ((SECONDS < deadline)); do
    if grep -m1 -E "$2" "$1" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "soak: timed out waiting for /$2/ in $1" >&2
  cat "$1" >&2
  return 1
}

# Certificate and two backends.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
  -keyout "$work/soak.key" -out "$work/soak.pem" -subj "/CN=soak.test" \
  -addext "subjectAltName=DNS:soak.test" 2>/dev/null
backend_ports=()
for i in 1 2; do
  "$backend_bin" 0 >"$work/backend$i.out" 2>&1 &
  pids+=($!)
  backend_ports+=("$(wait_line "$work/backend$i.out" '^[0-9]+$' 10)")
done

config=$work/router.yaml
write_config() { # $1: generation (changes the idle timeout so every reload is a real change)
  cat >"$config.tmp" <<EOF
# generation $1
threads: 2
listeners:
  - address: "127.0.0.1:0"
    plaintext: true
    tls: true
    default_route: soak
certificates:
  - cert: "$work/soak.pem"
    key: "$work/soak.key"
routes:
  - name: soak
    sni: [soak.test]
    backends: ["127.0.0.1:${backend_ports[0]}", "127.0.0.1:${backend_ports[1]}"]
tls:
  alpn: [gopher]
timeouts:
  handshake: 5s
  connect: 2s
  idle: $((30 + $1 % 2))s
admin:
  address: "127.0.0.1:0"
logging:
  level: info
  access: "$work/access.log"
EOF
  cat "$config.tmp" >"$config" # in place: the router watches the file
  rm -f "$config.tmp"
}
write_config 0
"$router_bin" -c "$config" 2>"$work/router.err" &
router=$!
pids+=("$router")
port=$(wait_line "$work/router.err" 'listening on 127\.0\.0\.1:[0-9]+' 15 | sed -E 's/.*127\.0\.0\.1:([0-9]+).*/\1/')
wait_line "$work/router.err" 'admin endpoint on http' 15 >/dev/null

# got-bench: one CSV line; fields 5 and 6 are requests_ok and requests_failed.
run_bench() { # label args...
  local label=$1
  shift
  "$bench" --port "$port" --csv -q --timeout 10 "$@" >"$work/bench-$label.csv" 2>>"$work/bench.err"
}
plain_args=(--selector size/2048 --expect-bytes 2048)
tls_args=(--tls --sni soak.test --alpn gopher --selector size/2048 --expect-bytes 2048)

# Capacity: 5 s of both kinds at once, 4 connections each.
run_bench cap-plain -c 4 -d 5 "${plain_args[@]}" &
b1=$!
run_bench cap-tls -c 4 -d 5 "${tls_args[@]}" &
b2=$!
wait "$b1" "$b2"
cap_plain=$(cut -d, -f8 "$work/bench-cap-plain.csv" | cut -d. -f1)
cap_tls=$(cut -d, -f8 "$work/bench-cap-tls.csv" | cut -d. -f1)
# Half of capacity, issued as one burst per second (each kind 4 connections at a time).
per_s_plain=$((cap_plain / 2 > 1 ? cap_plain / 2 : 1))
per_s_tls=$((cap_tls / 2 > 1 ? cap_tls / 2 : 1))
echo "soak: ${duration}s; capacity plaintext ${cap_plain}/s, TLS ${cap_tls}/s; running at ${per_s_plain}/s + ${per_s_tls}/s"

csv=$out/soak.csv
echo "t_s,rss_kib,fds,requests_ok,requests_failed,reloads" >"$csv"
ok=0 failed=0 generation=0
start=$SECONDS next_sample=$((start + sample_every)) next_reload=$((start + reload_every))
while ((SECONDS - start < duration)); do
  tick=$(date +%s.%N)
  run_bench plain -c 4 -d 0.9 -n "$per_s_plain" "${plain_args[@]}" &
  b1=$!
  run_bench tls -c 4 -d 0.9 -n "$per_s_tls" "${tls_args[@]}" &
  b2=$!
  wait "$b1" "$b2" || { echo "soak: got-bench failed: $(cat "$work/bench.err")" >&2; exit 1; }
  for kind in plain tls; do
    IFS=, read -r _ _ _ _ k_ok k_failed _ <"$work/bench-$kind.csv"
    ok=$((ok + k_ok)) failed=$((failed + k_failed))
  done
  kill -0 "$router" 2>/dev/null || { echo "soak: router died" >&2; cat "$work/router.err" >&2; exit 1; }
  if ((SECONDS >= next_reload)); then
    generation=$((generation + 1))
    write_config "$generation"
    next_reload=$((next_reload + reload_every))
  fi
  if ((SECONDS >= next_sample)); then
    # Sampled between bursts: no request in flight, so the descriptor count is exact.
    sleep 0.2
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$router/status")
    # Pipes aside: the router keeps a bounded cache of empty pipes for splice(2).
    fds=$(find "/proc/$router/fd" -mindepth 1 ! -lname 'pipe:*' | wc -l)
    reloads=$(grep -c 'config reloaded (' "$work/router.err" || true)
    echo "$((SECONDS - start)),$rss,$fds,$ok,$failed,$reloads" >>"$csv"
    next_sample=$((next_sample + sample_every))
  fi
  rest=$(awk -v t="$tick" -v n="$(date +%s.%N)" 'BEGIN { r = 1 - (n - t); if (r < 0) r = 0; printf "%.3f", r }')
  sleep "$rest"
done
sleep 1 # let the last reload land
reloads_ok=$(grep -c 'config reloaded (' "$work/router.err" || true)
reloads_failed=$(grep -c 'reload failed' "$work/router.err" || true)

# Table and verdict.
verdict=$(python3 - "$csv" "$warmup" <<'EOF'
import csv, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]))]
warm = [r for r in rows if int(r["t_s"]) > int(sys.argv[2])]
print(f"{'t_s':>6} {'rss_kib':>9} {'fds':>5} {'ok':>9} {'failed':>7} {'reloads':>8}")
for r in rows:
    print(f"{r['t_s']:>6} {r['rss_kib']:>9} {r['fds']:>5} {r['requests_ok']:>9} {r['requests_failed']:>7} {r['reloads']:>8}")
third = len(warm) // 3
if third < 1:
    print("VERDICT too few samples after warm-up"); sys.exit()
problems = []
for key, slack in (("rss_kib", 512), ("fds", 0)):
    first = sum(float(r[key]) for r in warm[:third]) / third
    last = sum(float(r[key]) for r in warm[-third:]) / third
    drift = (last - first) / first * 100
    print(f"{key}: first third {first:.0f}, last third {last:.0f}, drift {drift:+.2f}%")
    if drift > 5 and last - first > slack:
        problems.append(f"{key} drift {drift:+.2f}%")
print("VERDICT " + ("; ".join(problems) if problems else "ok"))
EOF
)
echo "$verdict" | grep -v '^VERDICT'
if command -v gnuplot >/dev/null; then
  gnuplot <<EOF 2>/dev/null || true
set terminal png size 800,480
set output "$out/soak.png"
set datafile separator ","
set key autotitle columnhead
set xlabel "seconds"
set ylabel "VmRSS KiB"
set y2label "open fds"
set y2tics
plot "$csv" using 1:2 with linespoints axes x1y1, "" using 1:3 with linespoints axes x1y2
EOF
fi
echo "soak: $ok requests ok, $failed failed; $reloads_ok reloads ok, $reloads_failed failed; CSV $csv"
[ -f "$out/soak.png" ] && echo "soak: plot $out/soak.png"
status=0
result=${verdict##*VERDICT }
[ "$result" = ok ] || { echo "soak: FAIL: $result" >&2; status=1; }
((failed == 0)) || { echo "soak: FAIL: $failed requests failed" >&2; status=1; }
((ok > 0)) || { echo "soak: FAIL: no request succeeded" >&2; status=1; }
((reloads_failed == 0)) || { echo "soak: FAIL: $reloads_failed reloads failed" >&2; status=1; }
expected_reloads=$((duration / reload_every - 1))
((reloads_ok >= expected_reloads)) || { echo "soak: FAIL: only $reloads_ok reloads (expected >= $expected_reloads)" >&2; status=1; }
exit $status
