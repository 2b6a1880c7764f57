#!/usr/bin/env python3
"""by_call.py: a server's CPU per connection by system call, from a perf recording.

Reads `perf script -F pid,ip,sym` output of a `perf record -e cpu-clock -g` (harness.sh's
by_call_start) on stdin, keeps the samples of the given process ids, and puts each on
the system call it was taken in: the kernel frame called by do_syscall_64, named as the
call (`__x64_sys_connect` and `__do_sys_brk` as connect and brk; writev's frame is
do_writev); a sample in a call's entry or return path (task_work such as a deferred
close, rseq) goes to the call its libc wrapper makes. A sample outside any
call is `(user)` when taken in user space, `(kernel outside calls)` otherwise (interrupts,
page faults). Samples whose call chain perf could not read are counted where their first
frame is.

In this VM the sampling timer's interrupt can come a little late, after the call it
fell in has returned: `(user)` then holds some of the kernel's time (the libc wrappers
and the code right after a call show it), so compare the totals and the larger calls.

Prints CSV lines "call,us_per_conn" (and "(all),..."), microseconds of CPU per connection:
samples * 1e6 / hz / connections.

usage: perf script -i FILE -F pid,ip,sym | by_call.py --pids P[,P...] --hz HZ --connections N
       by_call.py --report CSV --group COLUMN
The second form prints, per load, a Markdown table of the medians over rounds of a CSV
with the columns round, COLUMN (the server or the build), load, call, us_per_conn: one
column per COLUMN value, a call missing in a round counting as 0 there.
"""

import argparse
import collections
import csv
import re
import statistics
import sys

FRAME = re.compile(r"^\s*([0-9a-f]+)\s+(\S+)")
# Kernel frames that name the call they serve (writev's is do_writev, brk's __do_sys_brk).
CALL_PREFIXES = ("__x64_sys_", "__do_sys_", "__se_sys_", "do_", "ksys_")
# libc's wrappers, for a sample in the call's entry or return path (no call frame).
# Stripped until none is left: __GI___libc_write is write.
WRAPPER_PREFIXES = ("__GI_", "__libc_", "__vdso_", "__")
WRAPPER_SUFFIXES = ("_nocancel_adjusted", "_nocancel", "64")
WRAPPER_CALLS = {"recv": "recvfrom", "send": "sendto"}
# Kernel frames whose name is not the call's.
CALL_ALIASES = {"mmap_pgoff": "mmap"}


def call_name(frame):
    for prefix in CALL_PREFIXES:
        if frame.startswith(prefix):
            name = frame[len(prefix):]
            return CALL_ALIASES.get(name, name)
    return None


def wrapper_name(frame):
    frame = frame.split("@")[0]
    stripped = None
    while stripped != frame:
        stripped = frame
        for prefix in WRAPPER_PREFIXES:
            frame = frame.removeprefix(prefix)
    for suffix in WRAPPER_SUFFIXES:
        frame = frame.removesuffix(suffix)
    return WRAPPER_CALLS.get(frame, frame)


def classify(frames):
    """frames: [(address, symbol)], innermost first."""
    for i, (_, sym) in enumerate(frames):
        if sym != "do_syscall_64":
            continue
        below = [f[1] for f in frames[:i]]
        if below and below[-1] == "x64_sys_call":
            below.pop()  # the call table's switch, when not inlined
        if below and (name := call_name(below[-1])):
            return name
        # In the entry or the return path (task_work such as a deferred close, rseq): the
        # call is libc's wrapper, the first user-space frame outside the kernel's entry.
        for _, outer in frames[i + 1:]:
            if outer.startswith("entry_SYSCALL"):
                continue
            return wrapper_name(outer) if outer != "[unknown]" else "(call entry)"
        return "(call entry)"
    if frames and frames[0][0].startswith("ffffffff"):
        return "(kernel outside calls)"
    return "(user)"


def samples(lines, pids):
    """Yields the frames of each sample of a process in `pids`."""
    keep = False
    frames = []
    for line in lines:
        line = line.rstrip("\n")
        if not line.strip():
            if keep and frames:
                yield frames
            keep, frames = False, []
            continue
        m = FRAME.match(line)
        if m and line[:1] in " \t":
            if keep:
                frames.append((m.group(1), m.group(2)))
            continue
        # the sample's header: its pid
        head = line.split()
        keep = bool(head) and head[0].isdigit() and int(head[0]) in pids
        frames = []
    if keep and frames:
        yield frames


def report(path, group):
    rows = list(csv.DictReader(open(path)))
    for load in dict.fromkeys(r["load"] for r in rows):
        mine = [r for r in rows if r["load"] == load]
        groups = list(dict.fromkeys(r[group] for r in mine))
        rounds = {g: sorted({r["round"] for r in mine if r[group] == g}) for g in groups}
        value = collections.defaultdict(float)
        for r in mine:
            value[(r[group], r["round"], r["call"])] += float(r["us_per_conn"])
        calls = list(dict.fromkeys(r["call"] for r in mine))
        med = {(g, c): statistics.median(value[(g, n, c)] for n in rounds[g])
               for g in groups for c in calls}
        calls.sort(key=lambda c: (c == "(all)", -max(med[(g, c)] for g in groups)))
        print(f"\n{load}: CPU per connection by system call (µs, median of "
              f"{min(len(v) for v in rounds.values())}+ rounds)\n")
        extra = " | last − first" if len(groups) == 2 else ""
        print(f"| call | {' | '.join(groups)}{extra} |")
        print("|---" * (len(groups) + 1 + bool(extra)) + "|")
        for c in calls:
            if max(med[(g, c)] for g in groups) < 0.1:
                continue
            cells = " | ".join(f"{med[(g, c)]:.1f}" for g in groups)
            diff = f" | {med[(groups[1], c)] - med[(groups[0], c)]:+.1f}" if extra else ""
            print(f"| {c} | {cells}{diff} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report")
    ap.add_argument("--group")
    ap.add_argument("--pids")
    ap.add_argument("--hz", type=float)
    ap.add_argument("--connections", type=int)
    args = ap.parse_args()
    if args.report:
        report(args.report, args.group or "server")
        return
    if not (args.pids and args.hz and args.connections is not None):
        ap.error("--pids, --hz and --connections (or --report)")
    pids = {int(p) for p in args.pids.split(",") if p}
    counts = collections.Counter(classify(f) for f in samples(sys.stdin, pids))
    scale = 1e6 / args.hz / max(args.connections, 1)
    for call, n in sorted(counts.items()):
        print(f"{call},{n * scale:.3f}")
    print(f"(all),{sum(counts.values()) * scale:.3f}")


if __name__ == "__main__":
    main()
