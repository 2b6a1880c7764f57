"""Processes: the router, the test backends and the fault relay, started and watched.

Each wraps a running process whose output lines a LineCollector keeps, and waits
(bounded) for the line that says it is ready. RouterTestCase.spawn starts them so that
teardown kills every one, also when the test fails.

The router binary is $GOT_ROUTER, else build/router/got-router under the repo.
"""

import array
import ctypes
import fcntl
import hashlib
import os
import socket
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path

from .config import CLIENT_TIMEOUT, MARGIN, REPO_ROOT, START_TIMEOUT, SUPPORT_DIR
from .probes import LISTENING, access_fields

# The test backends and the relay are also modules tests import (gopher_backend's
# expected bytes), from tests/support.
sys.path.insert(0, str(SUPPORT_DIR))

BACKEND_SCRIPT = SUPPORT_DIR / "gopher_backend.py"
RELAY_SCRIPT = SUPPORT_DIR / "fault_relay.py"
CLONE_NEWNET = 0x40000000


def unread_bytes(fd):
    """Bytes waiting in a pipe (FIONREAD); 0 once it is closed."""
    buf = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, buf)
    except OSError:
        return 0
    return buf[0]


def router_binary():
    return Path(os.environ.get("GOT_ROUTER") or REPO_ROOT / "build" / "router" / "got-router")


class LineCollector:
    """Reads a pipe on a thread and keeps its lines; waits for a pattern with a deadline."""

    def __init__(self, pipe):
        self.lines = []
        self._cond = threading.Condition()
        self._closed = False
        self._fd = pipe.fileno()
        self._thread = threading.Thread(target=self._run, args=(pipe,), daemon=True)
        self._thread.start()

    def _run(self, pipe):
        for raw in iter(pipe.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\r\n"))
                self._cond.notify_all()
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def snapshot(self):
        with self._cond:
            return list(self.lines)

    def settled(self, timeout=MARGIN):
        """The lines once the pipe holds no unread bytes. A test backend prints its line
        before it answers, so after the answer the line is at least in the pipe; under
        load the reading thread may not have taken it yet."""
        deadline = time.monotonic() + timeout
        while unread_bytes(self._fd) > 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        time.sleep(0.005)  # the reader's last read may be waiting for the GIL to append
        return self.snapshot()

    def wait_for(self, predicate, timeout, start=0):
        """The first line from index `start` on for which predicate(line) is truthy, or None."""
        index = self.wait_index(predicate, timeout, start)
        return None if index is None else self.lines[index]

    def wait_index(self, predicate, timeout, start=0):
        """Like wait_for, but returns the line's index."""
        deadline = time.monotonic() + timeout
        with self._cond:
            index = start
            while True:
                while index < len(self.lines):
                    if predicate(self.lines[index]):
                        return index
                    index += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._closed:
                    return None
                self._cond.wait(remaining)

    def wait_closed(self, timeout):
        self._thread.join(timeout)


class Backend:
    """A running gopher_backend.py."""

    def __init__(self, proc, name):
        self.proc = proc
        self.name = name
        self.out = LineCollector(proc.stdout)
        line = self.out.wait_for(lambda l: l.startswith("PORT "), START_TIMEOUT)
        if line is None:
            raise RuntimeError(f"backend {name} did not report its port")
        self.port = int(line.split()[1])
        self.address = f"127.0.0.1:{self.port}"

    def accepted(self):
        return sum(1 for l in self.out.settled() if l.startswith("ACCEPT "))

    def requests(self):
        return [l[len("REQUEST ") :] for l in self.out.settled() if l.startswith("REQUEST ")]


class Router:
    """A running got-router; its stderr is collected line by line."""

    def __init__(self, proc, listeners):
        self.proc = proc
        self.err = LineCollector(proc.stderr)
        self.out = LineCollector(proc.stdout)
        self.ports = self._wait_listening(listeners)
        self.port = self.ports[0]

    def _wait_listening(self, count):
        ports = []
        deadline = time.monotonic() + START_TIMEOUT
        start = 0
        while len(ports) < count:
            index = self.err.wait_index(
                LISTENING.search, max(0.0, deadline - time.monotonic()), start
            )
            if index is None:
                self.proc.kill()
                self.err.wait_closed(5)
                raise AssertionError(
                    "router did not report 'listening on 127.0.0.1:PORT'; stderr:\n"
                    + "\n".join(self.err.snapshot())
                )
            start = index + 1
            ports.append(int(LISTENING.search(self.err.lines[index]).group(1)))
        return ports

    def access_lines(self):
        return [f for f in (access_fields(l) for l in self.err.snapshot()) if f is not None]

    def wait_access(self, predicate, timeout=MARGIN + 2):
        """The fields of the first access-log line matching predicate(fields), or None."""
        line = self.err.wait_for(
            lambda l: (f := access_fields(l)) is not None and predicate(f), timeout
        )
        return access_fields(line) if line else None

    def stderr_text(self):
        return "\n".join(self.err.snapshot())


def stream_digest(proc, timeout, on_chunk=None):
    """Reads a process's stdout to EOF, hashing it; the process is killed after `timeout`.

    on_chunk(total_so_far) runs after every chunk. Returns (byte count, sha256 hex).
    """
    digest = hashlib.sha256()
    total = 0
    watchdog = threading.Timer(timeout, proc.kill)
    watchdog.start()
    try:
        while chunk := proc.stdout.read1(1 << 20):
            digest.update(chunk)
            total += len(chunk)
            if on_chunk:
                on_chunk(total)
    finally:
        watchdog.cancel()
    return total, digest.hexdigest()


# --------------------------------------------------------------------------
# Fault injection: the fault relay, a half-closing backend, network namespaces


class Relay:
    """A running fault_relay.py; its event lines are collected."""

    def __init__(self, proc):
        self.proc = proc
        self.out = LineCollector(proc.stdout)
        line = self.out.wait_for(lambda l: l.startswith("PORT "), START_TIMEOUT)
        if line is None:
            raise RuntimeError("fault relay did not report its port")
        self.port = int(line.split()[1])
        self.address = f"127.0.0.1:{self.port}"

    def wait_event(self, kind, timeout, side=None):
        """The fields of the first `kind` line (optionally for `side`), or None."""
        line = self.out.wait_for(
            lambda l: l.split()[0] == kind and (side is None or l.split()[2] == side), timeout)
        return line.split() if line else None


def start_relay(case, target, *options):
    """Starts tests/support/fault_relay.py in front of `target` (host:port) for a test case."""
    proc = case.spawn([sys.executable, str(RELAY_SCRIPT), "--target", target, *options],
                      stdout=subprocess.PIPE)
    return Relay(proc)


class HalfClosingBackend:
    """A backend that answers, shuts down its write side, and keeps reading until EOF.

    `events` records ("eof", seconds after its shutdown) once the router closes
    the backend connection (or ("reset", ...)).
    """

    def __init__(self, reply):
        self.reply = reply
        self.events = []
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(CLIENT_TIMEOUT)
            buf = b""
            while b"\n" not in buf:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                buf += chunk
            conn.sendall(self.reply)
            conn.shutdown(socket.SHUT_WR)
            shut = time.monotonic()
            try:
                while conn.recv(4096):
                    pass
                self.events.append(("eof", time.monotonic() - shut))
            except ConnectionResetError:
                self.events.append(("reset", time.monotonic() - shut))
            except socket.timeout:
                self.events.append(("timeout", time.monotonic() - shut))

    def close(self):
        self.server.close()


_libc = ctypes.CDLL(None, use_errno=True)


def enter_private_netns():
    """Moves this process into a new network namespace; returns a function that moves it back.

    Only the network namespace changes: processes started afterwards (and sockets
    made afterwards) live in the new namespace, whose only device is a down `lo`.
    """
    original = os.open("/proc/self/ns/net", os.O_RDONLY)
    if _libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        os.close(original)
        raise OSError(err, "unshare(CLONE_NEWNET): " + os.strerror(err))

    def restore():
        if _libc.setns(original, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, "setns back to the original network namespace: " + os.strerror(err))
        os.close(original)

    return restore


# --------------------------------------------------------------------------
# HAProxy (Debian's) in front of got-router


def tcp_listening(port):
    """True when something listens where 127.0.0.1:port reaches it: on 127.0.0.1 or
    0.0.0.0, or on :: (a dual-stack socket, Node's default). Read from /proc, no probe
    connection."""
    wanted = {
        "/proc/net/tcp": {f"0100007F:{port:04X}", f"00000000:{port:04X}"},
        "/proc/net/tcp6": {f"{'0' * 32}:{port:04X}"},
    }
    for table, addresses in wanted.items():
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if fields[1] in addresses and fields[3] == "0A":
                    return True
    return False


def start_haproxy(case, target_port, send_proxy, source="127.0.0.1"):
    """HAProxy (mode tcp) on a free port, forwarding to 127.0.0.1:target_port from
    `source` with `send_proxy` (send-proxy, send-proxy-v2); its port once it listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    cfg = case.write_file("haproxy.cfg", f"""\
global
    maxconn 64

defaults
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend fe
    bind 127.0.0.1:{port}
    default_backend be

backend be
    server got 127.0.0.1:{target_port} {send_proxy} source {source}
""")
    check = case.run_cmd(["haproxy", "-c", "-f", str(cfg)])
    case.assertEqual(check.returncode, 0, check.stdout.decode() + check.stderr.decode())
    log = case.dir / "haproxy.log"
    with open(log, "wb") as out:
        proc = case.spawn(["haproxy", "-db", "-f", str(cfg)], stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + START_TIMEOUT
    while not tcp_listening(port):
        if proc.poll() is not None:
            case.fail("haproxy exited: " + log.read_text())
        if time.monotonic() > deadline:
            case.fail(f"haproxy not listening on 127.0.0.1:{port}")
        time.sleep(0.05)
    return port
