"""Probes: what tests read back from a running router and the machine.

The access log and the router's startup lines, the admin endpoint and its Prometheus
text, /proc figures of a process (CPU, RSS, descriptors, TCP states), and bounded
waits. Nothing here starts a process that outlives the call.
"""

import http.client
import os
import re
import subprocess
import time
import urllib.request
from pathlib import Path

from .config import CLIENT_TIMEOUT, START_TIMEOUT

ERROR_ITEM = re.compile(rb"\A3([^\t\r\n]+)\t\terror\.host\t1\r\n\.\r\n\Z")
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
ACCESS = re.compile(r"^\S+ access (.*)$")
ADMIN_ENDPOINT = re.compile(r"admin endpoint on http://127\.0\.0\.1:(\d+)")
_METRIC_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$")
_METRIC_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


def access_fields(line):
    """The key=value fields of an access-log line, as a dict."""
    match = ACCESS.match(line)
    return dict(re.findall(r"(\w+)=(\S*)", match.group(1))) if match else None


def wait_until(predicate, timeout, interval=0.1):
    """Polls predicate() until truthy or `timeout`; returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


# --------------------------------------------------------------------------
# The admin endpoint: /metrics in Prometheus text, /health, /ready, /config


def admin_port(router, timeout=START_TIMEOUT):
    """The admin endpoint's port, from the router's `admin endpoint on http://...` line."""
    line = router.err.wait_for(ADMIN_ENDPOINT.search, timeout)
    if line is None:
        raise AssertionError("no 'admin endpoint on http://127.0.0.1:PORT' line; stderr:\n"
                             + router.stderr_text())
    return int(ADMIN_ENDPOINT.search(line).group(1))


def http_request(port, path, method="GET", body=None, timeout=CLIENT_TIMEOUT, host="127.0.0.1"):
    """One HTTP/1.1 request to host:port; returns (status, headers lower-cased, body)."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body=body)
        resp = conn.getresponse()
        headers = {k.lower(): v for k, v in resp.getheaders()}
        return resp.status, headers, resp.read()
    finally:
        conn.close()


def _unescape_label(value):
    return re.sub(r"\\(.)", lambda m: "\n" if m.group(1) == "n" else m.group(1), value)


def parse_metrics(text):
    """Samples of Prometheus text format 0.0.4 as {(name, frozenset(labels.items())): float}.

    A small reader for assertions; promtool is the real parser. Raises ValueError
    on a line it cannot read.
    """
    samples = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        match = _METRIC_SAMPLE.match(line)
        if not match:
            raise ValueError(f"metrics line {number} unreadable: {line!r}")
        name, labels_text, value = match.groups()
        labels = {}
        if labels_text:
            pos = 0
            while pos < len(labels_text):
                label = _METRIC_LABEL.match(labels_text, pos)
                if not label:
                    raise ValueError(f"metrics line {number}: bad labels {labels_text!r}")
                labels[label.group(1)] = _unescape_label(label.group(2))
                pos = label.end()
        samples[(name, frozenset(labels.items()))] = float(value)
    return samples


def metric_value(samples, name, **labels):
    """The value of the sample `name{labels}` (labels exactly), or None."""
    return samples.get((name, frozenset(labels.items())))


def fetch_admin(router, path="/metrics", timeout=10):
    """GET path from the router's admin endpoint (its port from the startup log)."""
    port = admin_port(router)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return resp.read().decode()


def limit_hits(router, limit):
    """got_router_limit_hits_total{limit="..."} from /metrics (None when absent)."""
    pattern = re.compile(r'^got_router_limit_hits_total\{limit="' + re.escape(limit) + r'"\}\s+(\S+)$', re.M)
    match = pattern.search(fetch_admin(router))
    return None if match is None else float(match.group(1))


# --------------------------------------------------------------------------
# /proc and ss: a process's CPU, memory, descriptors and sockets


def proc_cpu_seconds(pid):
    """utime + stime of a process, in seconds (from /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_kib(pid):
    """VmRSS of a process in KiB (from /proc/PID/status)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


PIPES_KEPT_PER_LOOP = 32  # router/zero_copy.cpp: empty pipes kept for the next connection


def _fd_targets(pid):
    targets = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            targets.append(os.readlink(f"/proc/{pid}/fd/{fd}"))
        except OSError:
            pass  # closed meanwhile
    return targets


def proc_fd_count(pid, pipes=True):
    """How many descriptors a process has open. pipes=False leaves pipes out, for leak
    checks: the router keeps up to PIPES_KEPT_PER_LOOP empty pipe pairs per event loop
    for splice(2), a bounded number (see proc_pipe_count)."""
    return sum(1 for t in _fd_targets(pid) if pipes or not t.startswith("pipe:"))


def proc_pipe_count(pid):
    """How many pipe descriptors a process has open (two per pipe)."""
    return sum(1 for t in _fd_targets(pid) if t.startswith("pipe:"))


def process_tcp_states(pid):
    """{state: count} of the TCP sockets process `pid` holds (from `ss -tanp`)."""
    out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, timeout=10).stdout
    states = {}
    for line in out.splitlines()[1:]:
        if f"pid={pid}," in line:
            state = line.split()[0]
            states[state] = states.get(state, 0) + 1
    return states


def percentile(samples, fraction):
    """The nearest-rank percentile (fraction 0.99 = p99) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def threads_traced(pid):
    """Whether every thread of `pid` has a tracer attached."""
    tasks = list(Path(f"/proc/{pid}/task").iterdir())
    for task in tasks:
        status = (task / "status").read_text()
        if re.search(r"^TracerPid:\s+0$", status, re.M):
            return False
    return bool(tasks)


def merge_resumed(calls):
    """strace -f output with each call on one line: a call another thread's output cut
    ("name(args <unfinished ...>" ... "<... name resumed>rest") is joined back in place
    of its "resumed" line. Lines stay "TID call"."""
    out, pending = [], {}
    for line in calls.splitlines():
        m = re.match(r"^(\d+)\s+(.*)$", line)
        if not m:
            continue
        tid, text = m.groups()
        if text.endswith("<unfinished ...>"):
            pending[tid] = text[:-len("<unfinished ...>")].rstrip() + " "
            continue
        resumed = re.match(r"<\.\.\. \w+ resumed>\s?(.*)$", text)
        if resumed and tid in pending:
            text = pending.pop(tid) + resumed.group(1)
        out.append(f"{tid} {text}")
    return "\n".join(out)


def accepted_fd(calls):
    """The descriptor of the first connection accept4 returned in strace output `calls`."""
    m = re.search(r"accept4\(\d+, .*\) = (\d+)$", merge_resumed(calls), re.M)
    if not m:
        raise AssertionError(f"no accepted connection in:\n{calls}")
    return m.group(1)


def strace_during(pid, calls, exchange, log):
    """Runs `exchange()` with strace attached to every thread of `pid`, tracing `calls`
    (strace's trace= list) into the file `log`; returns exchange's result and the calls
    seen. The tracer is stopped on every path."""
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-e", f"trace={calls}", "-o", str(log),
                               "-p", str(pid)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not threads_traced(pid):
            if time.monotonic() > deadline:
                raise AssertionError("strace did not attach")
            time.sleep(0.02)
        result = exchange()
        time.sleep(0.2)  # the process's last calls reach the log
    finally:
        tracer.terminate()
        tracer.wait(10)
    return result, Path(log).read_text()
