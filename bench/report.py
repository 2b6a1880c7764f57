#!/usr/bin/env python3
"""Turns compare.sh's raw measurements into the comparison table.

Reads raw.csv (round,server,metric,value), takes the median of each figure over
the rounds, and writes results.md (Markdown table with the ratios got-router /
peer and the performance targets), results.csv (the same figures) and, with --chart,
results.png through gnuplot. Prints the Markdown to stdout.

--instructions CSV and --syscalls CSV print the tables of instructions.sh and
syscalls.sh instead.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys

PEERS = ("haproxy", "nginx")
NAMES = {"got-router": "got-router", "haproxy": "HAProxy", "nginx": "nginx"}
# Rows that are counts or checks, where a ratio would mean nothing.
NO_RATIO = ("held (of", "resumed in the", "failed requests", "got-bench CPU")


def load(path):
    data = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            try:
                value = float(row["value"])
            except ValueError:
                continue
            data.setdefault((row["server"], row["metric"]), []).append(value)
    return data


class Figures:
    def __init__(self, data):
        self.data = data

    def median(self, server, metric):
        values = self.data.get((server, metric))
        return statistics.median(values) if values else None

    def total(self, server, metric):
        values = self.data.get((server, metric))
        return sum(values) if values else None

    def maximum(self, server, metric):
        values = self.data.get((server, metric))
        return max(values) if values else None

    def resumed_ratio(self, server):
        full = self.median(server, "tls_new_cpu_us")
        resumed = self.median(server, "tls_resumed_cpu_us")
        return resumed / full if full and resumed is not None else None


# (label, unit, how to get a server's value, lower is better, target text,
#  check(value_of) -> True/False/None, chart label or None)
def rows(fig):
    med = fig.median

    def vs(peer, metric, factor):
        def check(v):
            ours, theirs = v("got-router"), v(peer)
            if ours is None or theirs is None:
                return None
            return ours <= factor * theirs
        return check

    def vs_both(metric, factor):
        def check(v):
            ours, theirs = v("got-router"), [v(p) for p in PEERS]
            if ours is None or None in theirs:
                return None
            return ours <= factor * min(theirs)
        return check

    def at_most(limit):
        def check(v):
            ours = v("got-router")
            return None if ours is None else ours <= limit
        return check

    def at_least(limit):
        def check(v):
            ours = v("got-router")
            return None if ours is None else ours >= limit
        return check

    def m(metric):
        return lambda s: med(s, metric)

    return [
        ("server CPU per new TLS connection, RSA-2048", "µs", m("tls_new_cpu_us"), True,
         "≤ 0.9 × the better peer", vs_both("tls_new_cpu_us", 0.9), "CPU/new TLS conn"),
        ("server CPU per new TLS connection, ECDSA P-256", "µs", m("tls_new_ecdsa_cpu_us"),
         True, "≤ 0.9 × the better peer", vs_both("tls_new_ecdsa_cpu_us", 0.9),
         "CPU/new TLS conn ECDSA"),
        ("server CPU per new TLS connection, dual pair (ECDSA chosen)", "µs",
         m("tls_new_dual_cpu_us"), True, "≤ 0.9 × the better peer",
         vs_both("tls_new_dual_cpu_us", 0.9), None),
        ("server CPU per resumed TLS connection", "µs", m("tls_resumed_cpu_us"), True,
         "", None, "CPU/resumed TLS conn"),
        ("resumed ÷ full handshake CPU", "×", fig.resumed_ratio, True, "", None, None),
        ("connections resumed in the --resume run", "%",
         lambda s: None if med(s, "resumed_fraction") is None
         else 100 * med(s, "resumed_fraction"), False, "", None, None),
        ("server CPU per plaintext connection", "µs", m("plain_new_cpu_us"), True,
         "≤ nginx", vs("nginx", "plain_new_cpu_us", 1.0), "CPU/plain conn"),
        ("server CPU per GB of TLS reply", "s", m("tls_s_per_gb"), True,
         "≤ 1.0 × HAProxy", vs("haproxy", "tls_s_per_gb", 1.0), "CPU/GB TLS"),
        ("server CPU per GB of plaintext reply", "s", m("plain_s_per_gb"), True,
         "≤ 0.5 × HAProxy", vs("haproxy", "plain_s_per_gb", 0.5), "CPU/GB plain"),
        ("passthrough: server CPU per new TLS connection", "µs", m("pt_new_cpu_us"), True,
         "≤ HAProxy and nginx", vs_both("pt_new_cpu_us", 1.0), "CPU/passthrough conn"),
        ("passthrough: server CPU per GB of TLS reply", "s", m("pt_s_per_gb"), True,
         "≤ HAProxy and nginx", vs_both("pt_s_per_gb", 1.0), "CPU/GB passthrough"),
        ("server memory per idle TLS connection (4000 held)", "KiB", m("idle_kib"), True,
         "", None, "memory/idle conn"),
        ("idle TLS connections held (of 4000)", "", m("idle_kib_held"), False,
         "", None, None),
        ("requests/s, TLS, 100 concurrent", "/s", m("tls_new_rps"), False, "", None, None),
        ("p99 latency, TLS, 100 concurrent", "ms", m("tls_new_p99_ms"), True,
         "", None, "p99 @100"),
        ("requests/s, TLS, 1000 concurrent", "/s", m("c1000_rps"), False, "", None, None),
        ("p99 latency, TLS, 1000 concurrent", "ms", m("c1000_p99_ms"), True,
         "≤ the better peer", vs_both("c1000_p99_ms", 1.0), "p99 @1000"),
        ("requests/s, plaintext, 100 concurrent", "/s", m("plain_new_rps"), False,
         "", None, None),
        ("p99 latency, plaintext, 100 concurrent", "ms", m("plain_new_p99_ms"), True,
         "", None, None),
        ("CPU per connection, threads: 2 ÷ threads: 1", "×", m("threads2_vs_1"), True,
         "≤ 1.1", at_most(1.1), None),
        ("busiest event loop's share of CPU, threads: 2", "%", m("threads2_busiest_share"), True,
         "≤ 60 (fair: 50)", at_most(60), None),
        ("idle TLS connections held (of 10,000)", "", m("idle_kib_10k_held"), False,
         "10000", at_least(10000), None),
        ("server memory per idle TLS connection (10,000 held)", "KiB", m("idle_kib_10k"), True,
         "≤ 15 KiB", at_most(15), None),
        ("failed requests, all runs", "", lambda s: fig.total(s, "errors"), True, "0",
         at_most(0), None),
        ("got-bench CPU in its busiest run", "% of a core",
         lambda s: fig.maximum(s, "bench_cpu_percent"), True, "", None, None),
    ]


def fmt(v):
    if v is None:
        return "—"
    if v == int(v) and abs(v) < 1e6:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def ratio(ours, theirs):
    if ours is None or theirs is None or theirs == 0:
        return None
    return ours / theirs


def ratio_table(title, servers, rows, cell):
    """A Markdown table for instructions.sh and syscalls.sh: one row per
    (name, {server: value}), a column per server (`cell` formats a value), then the
    ratios got-router / peer."""
    peers = [s for s in servers if s != "got-router"]
    lines = [f"| {title} | " + " | ".join(servers + [f"got-router / {p}" for p in peers]) + " |",
             "|---" * (1 + len(servers) + len(peers)) + "|"]
    for name, values in rows:
        cells = [cell(values[s]) if s in values else "—" for s in servers]
        for p in peers:
            r = ratio(values.get("got-router"), values.get(p))
            cells.append(f"{r:.2f}×" if r else "—")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# Per-connection loads of instructions.sh and syscalls.sh, in table order.
LOAD_NAMES = {"tls_new": "new TLS connection", "tls_resumed": "resumed TLS connection",
              "plain_new": "plaintext connection", "tls_bulk": "MiB of TLS reply",
              "pt_new": "TLS connection passed through"}


def instructions_report(path, servers):
    """instructions.sh's table from its instructions.csv
    (server,load,requests,instructions,per_connection)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    table = [(name, {r["server"]: int(r["per_connection"]) for r in rows if r["load"] == load})
             for load, name in LOAD_NAMES.items()]
    return ratio_table("user-space instructions (thousands) per", servers, table,
                       lambda v: f"{v / 1000:,.0f}")


def syscalls_report(path, servers):
    """syscalls.sh's tables from its syscalls.csv (server,load,requests,syscall,calls):
    calls per connection in total, then for a new TLS connection by call."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    per = {}
    for r in rows:
        per[(r["server"], r["load"], r["syscall"])] = int(r["calls"]) / int(r["requests"])
    table = [(name, {s: per[(s, load, "total")] for s in servers if (s, load, "total") in per})
             for load, name in LOAD_NAMES.items() if load != "tls_bulk"]
    lines = [ratio_table("system calls per", servers, table, lambda v: f"{v:.1f}"), ""]
    calls = sorted({k[2] for k in per if k[1] == "tls_new" and k[2] != "total"},
                   key=lambda c: -max(per.get((s, "tls_new", c), 0) for s in servers))
    lines.append("| new TLS connection, by call | " + " | ".join(servers) + " |")
    lines.append("|---" * (1 + len(servers)) + "|")
    for c in calls:
        lines.append(f"| `{c}` | " + " | ".join(
            f"{per[(s, 'tls_new', c)]:.2f}" if (s, "tls_new", c) in per else "—"
            for s in servers) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", help="compare.sh's raw.csv: the comparison table")
    ap.add_argument("--meta")
    ap.add_argument("--out")
    ap.add_argument("--chart", action="store_true")
    ap.add_argument("--servers", default="got-router haproxy nginx")
    ap.add_argument("--instructions", metavar="CSV", help="instructions.sh's table, to stdout")
    ap.add_argument("--syscalls", metavar="CSV", help="syscalls.sh's tables, to stdout")
    args = ap.parse_args()

    servers = args.servers.split()
    if args.instructions:
        print(instructions_report(args.instructions, servers))
        return
    if args.syscalls:
        print(syscalls_report(args.syscalls, servers))
        return
    if not args.raw or not args.out:
        ap.error("--raw and --out are required (or --instructions / --syscalls)")
    peers = [p for p in PEERS if p in servers]
    fig = Figures(load(args.raw))

    meta = []
    if args.meta and os.path.exists(args.meta):
        with open(args.meta) as f:
            meta = [line.rstrip("\n").split("=", 1) for line in f if "=" in line]

    head = ["figure"] + [NAMES[s] for s in servers]
    head += [f"got-router / {NAMES[p]}" for p in peers] + ["target", "met"]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    csv_rows = [["figure", "unit"] + servers + [f"got-router/{p}" for p in peers]
                + ["target", "met"]]
    chart = []
    for label, unit, get, _lower, target, check, chart_label in rows(fig):
        values = {s: get(s) for s in servers}
        if all(v is None for v in values.values()):
            continue
        compare = not any(word in label for word in NO_RATIO)
        ratios = {p: ratio(values.get("got-router"), values[p]) if compare else None
                  for p in peers}
        met = check(lambda s: values.get(s)) if check else None
        met_text = "" if check is None else ("—" if met is None else ("yes" if met else "**no**"))
        name = f"{label} ({unit})" if unit else label
        md.append("| " + " | ".join(
            [name] + [fmt(values[s]) for s in servers]
            + [fmt(ratios[p]) + ("×" if ratios[p] is not None else "") for p in peers]
            + [target, met_text]) + " |")
        csv_rows.append([label, unit] + ["" if values[s] is None else f"{values[s]:.6g}"
                                         for s in servers]
                        + ["" if ratios[p] is None else f"{ratios[p]:.4g}" for p in peers]
                        + [target, "" if met is None else ("yes" if met else "no")])
        if chart_label and any(ratios[p] is not None for p in peers):
            chart.append((chart_label, [ratios[p] for p in peers]))

    lines = []
    for key, value in meta:
        lines.append(f"- {key}: {value}")
    text = "\n".join(lines + [""] + md) + "\n"
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(args.out, "results.csv"), "w", newline="") as f:
        csv.writer(f).writerows(csv_rows)
    sys.stdout.write(text)

    if args.chart and chart and peers:
        write_chart(args.out, chart, peers)


def write_chart(out, chart, peers):
    data = os.path.join(out, "chart.dat")
    with open(data, "w") as f:
        for label, values in chart:
            f.write(f'"{label}" ' + " ".join("NaN" if v is None else f"{v:.4f}"
                                            for v in values) + "\n")
    png = os.path.join(out, "results.png")
    columns = ", ".join(
        f"'{data}' using {i + 2}:xtic(1) title 'got-router / {NAMES[p]}'"
        for i, p in enumerate(peers))
    script = f"""
set terminal pngcairo size 1100,520 font ',10' noenhanced
set output '{png}'
set title 'got-router cost relative to each peer (1 = same; below 1: got-router uses less)'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set key top left
set grid ytics
set yrange [0:*]
set xtics rotate by -20
set xrange [-0.6:{len(chart) - 0.4}]
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 dt 2 lc rgb 'black'
plot {columns}
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"report.py: no chart: {e}", file=sys.stderr)


if __name__ == "__main__":
    main()
