"""Harness for got-router's integration tests: the real binary, real clients.

Each test gets a temporary directory, certificates made with `openssl` at test
time, test backends (tests/support/gopher_backend.py) and a router started on
port 0 from a YAML config. Every process a test starts is killed on teardown,
also when the test fails, and every wait is bounded in time.

The router binary is $GOT_ROUTER, else build/router/got-router under the repo.
"""

import hashlib
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "tests" / "support"))

import gopher_backend  # noqa: E402  (path set just above)

BACKEND_SCRIPT = REPO_ROOT / "tests" / "support" / "gopher_backend.py"

# The timeouts of the standard config, and the slack a noisy 2-core machine needs.
HANDSHAKE_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
IDLE_TIMEOUT = 3.0
MARGIN = 4.0
START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 20.0

ERROR_ITEM = re.compile(rb"\A3([^\t\r\n]+)\t\terror\.host\t1\r\n\.\r\n\Z")
LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+)")
ACCESS = re.compile(r"^\S+ access (.*)$")


def router_binary():
    return Path(os.environ.get("GOT_ROUTER") or REPO_ROOT / "build" / "router" / "got-router")


# --------------------------------------------------------------------------
# YAML: a small block-style emitter; scalars are JSON-quoted (valid YAML).


def _scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def _yaml_lines(value, indent):
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) or (isinstance(item, list) and item and isinstance(item[0], dict)):
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    else:
        for item in value:
            sub = _yaml_lines(item, indent + 1)
            sub[0] = pad + "- " + sub[0].lstrip()
            lines.extend(sub)
    return lines


def to_yaml(config):
    """Renders nested dicts and lists as block-style YAML; None values are dropped."""
    return "\n".join(_yaml_lines(_drop_none(config), 0)) + "\n"


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def access_fields(line):
    """The key=value fields of an access-log line, as a dict."""
    match = ACCESS.match(line)
    return dict(re.findall(r"(\w+)=(\S*)", match.group(1))) if match else None


# --------------------------------------------------------------------------
# Processes


class LineCollector:
    """Reads a pipe on a thread and keeps its lines; waits for a pattern with a deadline."""

    def __init__(self, pipe):
        self.lines = []
        self._cond = threading.Condition()
        self._closed = False
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
        return sum(1 for l in self.out.snapshot() if l.startswith("ACCEPT "))

    def requests(self):
        return [l[len("REQUEST ") :] for l in self.out.snapshot() if l.startswith("REQUEST ")]


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


class Certificate:
    def __init__(self, cert, key, subject_cn):
        self.cert = cert
        self.key = key
        self.subject_cn = subject_cn

    def der(self):
        return ssl.PEM_cert_to_DER_cert(Path(self.cert).read_text())


# --------------------------------------------------------------------------
# Clients


def client_context(alpn=("gopher",), min_version=None):
    """A TLS client context that does not verify: tests check certificates by hand."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    if min_version:
        ctx.minimum_version = min_version
    return ctx


def tls_connect(port, server_hostname, alpn=("gopher",), timeout=CLIENT_TIMEOUT):
    """A handshaken ssl socket to 127.0.0.1:port (no SNI when server_hostname is None)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        return client_context(alpn).wrap_socket(raw, server_hostname=server_hostname)
    except BaseException:
        raw.close()
        raise


def read_until_close(sock, timeout=CLIENT_TIMEOUT):
    """Reads until the peer closes; returns (data, how) with how in eof/reset/tls_eof.

    Raises TimeoutError when the peer keeps the connection open past `timeout`.
    """
    deadline = time.monotonic() + timeout
    chunks = []
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"connection still open after {timeout}s; got {b''.join(chunks)[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except ssl.SSLEOFError:
            return b"".join(chunks), "tls_eof"
        except ssl.SSLError as err:
            return b"".join(chunks), f"tls_error:{err.reason}"
        except ConnectionResetError:
            return b"".join(chunks), "reset"
        except socket.timeout:
            continue
        if not chunk:
            return b"".join(chunks), "eof"
        chunks.append(chunk)


def plain_request(port, request, timeout=CLIENT_TIMEOUT):
    """Sends `request` in one write over plaintext TCP; returns the whole reply."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        return read_until_close(sock, timeout)[0]


def wait_peer_close(sock, timeout):
    """Seconds until the peer closes (EOF, reset or TLS error), and the bytes it sent.

    Raises TimeoutError when it stays open longer than `timeout`.
    """
    start = time.monotonic()
    data, _ = read_until_close(sock, timeout)
    return time.monotonic() - start, data


class BioTlsClient:
    """A TLS client over ssl.MemoryBIO: the test decides how the TLS bytes hit the wire.

    It can dribble the handshake in small pieces, send close_notify while still
    reading (a TLS half-close), and tells whether the server ended with close_notify.
    """

    def __init__(self, port, server_hostname, alpn=("gopher",), timeout=CLIENT_TIMEOUT):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.incoming = ssl.MemoryBIO()
        self.outgoing = ssl.MemoryBIO()
        self.tls = client_context(alpn).wrap_bio(
            self.incoming, self.outgoing, server_side=False, server_hostname=server_hostname
        )
        self.ending = None

    def close(self):
        self.sock.close()

    def _flush(self, piece=None, pause=0.0):
        data = self.outgoing.read()
        if not piece:
            self.sock.sendall(data)
            return
        for offset in range(0, len(data), piece):
            self.sock.sendall(data[offset : offset + piece])
            time.sleep(pause)

    def _fill(self):
        data = self.sock.recv(65536)
        if data:
            self.incoming.write(data)
        else:
            self.incoming.write_eof()
        return bool(data)

    def handshake(self, piece=None, pause=0.0):
        """Runs the handshake, sending our TLS bytes `piece` bytes at a time."""
        while True:
            try:
                self.tls.do_handshake()
                self._flush(piece, pause)
                return
            except ssl.SSLWantReadError:
                self._flush(piece, pause)
                self._fill()

    def send(self, data):
        self.tls.write(data)
        self._flush()

    def send_close_notify(self):
        """Sends close_notify (our write side is done) and keeps the read side open."""
        try:
            self.tls.unwrap()
        except ssl.SSLWantReadError:
            pass
        self._flush()

    def read_until_end(self, timeout=CLIENT_TIMEOUT):
        """Reads the reply; sets self.ending to close_notify, tls_eof or reset."""
        deadline = time.monotonic() + timeout
        chunks = []
        while True:
            try:
                chunk = self.tls.read(65536)
                if not chunk:
                    self.ending = "close_notify"
                    return b"".join(chunks)
                chunks.append(chunk)
                continue
            except ssl.SSLWantReadError:
                pass
            except ssl.SSLZeroReturnError:
                self.ending = "close_notify"
                return b"".join(chunks)
            except ssl.SSLEOFError:
                self.ending = "tls_eof"
                return b"".join(chunks)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"TLS reply still open after {timeout}s")
            self.sock.settimeout(remaining)
            try:
                self._fill()
            except ConnectionResetError:
                self.ending = "reset"
                return b"".join(chunks)

    def tcp_eof_follows(self, timeout=MARGIN):
        """True when the server's TCP FIN follows (nothing but EOF left to read)."""
        self.sock.settimeout(timeout)
        try:
            return self.sock.recv(1) == b""
        except ConnectionResetError:
            return False


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
# The test case base


class RouterTestCase(unittest.TestCase):
    """Base class: temp dir, certificates, backends, a router; all torn down after."""

    maxDiff = None
    router_env = None  # extra environment for the router (and `got-router -t`) processes

    def setUp(self):
        binary = router_binary()
        if not binary.exists():
            self.fail(f"router binary not found: {binary} (set GOT_ROUTER)")
        self.binary = str(binary)
        self.dir = Path(tempfile.mkdtemp(prefix="got-it-"))
        self.addCleanup(shutil.rmtree, self.dir, ignore_errors=True)
        self._procs = []
        self._routers = []
        self.addCleanup(self._stop_everything)

    # -- teardown

    def _failed(self):
        """True once this test has failed or errored (checked during cleanup)."""
        result = getattr(getattr(self, "_outcome", None), "result", None)
        if result is None:
            return True
        return any(test is self for test, _ in result.failures + result.errors)

    def _stop_everything(self):
        if self._failed() or os.environ.get("GOT_TEST_VERBOSE"):
            for router in self._routers:
                sys.stderr.write("\n--- router stderr ---\n" + router.stderr_text() + "\n")
        for proc in reversed(self._procs):
            if proc.poll() is None:
                proc.kill()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
            for pipe in (proc.stdin, proc.stdout, proc.stderr):
                if pipe:
                    pipe.close()

    # -- processes

    def spawn(self, args, **kwargs):
        """Popen that is always killed on teardown."""
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(args, start_new_session=True, **kwargs)
        self._procs.append(proc)
        return proc

    def run_cmd(self, args, input=None, timeout=CLIENT_TIMEOUT, env=None):
        """Runs a client to completion (killed after `timeout`); returns CompletedProcess."""
        return subprocess.run(
            args, input=input, capture_output=True, timeout=timeout, start_new_session=True,
            env=env,
        )

    def router_environment(self):
        """The environment router processes run with: ours plus `router_env`, if any."""
        if not self.router_env:
            return None
        env = dict(os.environ, **self.router_env)
        if "LD_PRELOAD" in self.router_env:
            # A preloaded library comes before ASan's runtime in an ASan build: fine here.
            options = [env.get("ASAN_OPTIONS", ""), "verify_asan_link_order=0"]
            env["ASAN_OPTIONS"] = ":".join(o for o in options if o)
        return env

    def start_backend(self, name):
        proc = self.spawn(
            [sys.executable, str(BACKEND_SCRIPT), "--host", "127.0.0.1", "--port", "0", "--name", name],
            stdout=subprocess.PIPE,
        )
        return Backend(proc, name)

    def start_router(self, config_path, listeners=1):
        proc = self.spawn(
            [self.binary, "-c", str(config_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.router_environment(),
        )
        router = Router(proc, listeners)
        self._routers.append(router)
        return router

    def dead_port(self):
        """A loopback port with nothing listening on it."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def blackhole_port(self):
        """A loopback port whose accept queue is full: connects to it hang (SYNs dropped).

        listen(0) queues one connection; we fill it and never accept, so the
        kernel drops further SYNs and a connect there can only time out.
        """
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        address = listener.getsockname()
        for _ in range(8):
            filler = socket.socket()
            self.addCleanup(filler.close)
            filler.settimeout(0.5)
            try:
                filler.connect(address)
            except (socket.timeout, OSError):
                return address[1]
        raise RuntimeError("could not fill the accept queue")

    # -- files

    def make_cert(self, label, dns_names, subject_cn):
        """A self-signed P-256 certificate (90 days) with SAN DNS names and its own CN."""
        cert = self.dir / f"{label}.pem"
        key = self.dir / f"{label}.key"
        san = ",".join(f"DNS:{n}" for n in dns_names)
        result = self.run_cmd(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "90", "-keyout", str(key), "-out", str(cert),
             "-subj", f"/O=got-router tests/CN={subject_cn}", "-addext", f"subjectAltName={san}"],
        )
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return Certificate(str(cert), str(key), subject_cn)

    def write_file(self, name, text):
        path = self.dir / name
        path.write_text(text)
        return path

    # -- the standard topology

    def start_standard(self, listener=None, tls=None, timeouts=None, logging=None,
                       legacy_backend=None, extra_routes=()):
        """Certificates a, wild and default; backends A, W, L; a router in front.

        Routes: `a` (sni a.test -> A), `wild` (sni *.wild.test -> W), `legacy`
        (the listener's default route -> L, or `legacy_backend` when given).
        The keyword dicts override single keys of the standard config.
        """
        self.certs = {
            "a": self.make_cert("a", ["a.test"], "got-test-a"),
            "wild": self.make_cert("wild", ["*.wild.test"], "got-test-wild"),
            "default": self.make_cert("default", ["default.test"], "got-test-default"),
        }
        self.backends = {name: self.start_backend(name) for name in ("A", "W", "L")}
        config = self.standard_config(listener, tls, timeouts, logging, legacy_backend, extra_routes)
        self.config_path = self.write_file("router.yaml", to_yaml(config))
        self.router = self.start_router(self.config_path)
        self.port = self.router.port
        return self.router

    def standard_config(self, listener, tls, timeouts, logging, legacy_backend, extra_routes):
        certs = self.certs
        return {
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                           "default_route": "legacy", **(listener or {})}],
            "certificates": [
                {"cert": certs["a"].cert, "key": certs["a"].key},
                {"cert": certs["wild"].cert, "key": certs["wild"].key},
                {"cert": certs["default"].cert, "key": certs["default"].key, "default": True},
            ],
            "routes": [
                {"name": "a", "sni": ["a.test"], "backends": [self.backends["A"].address]},
                {"name": "wild", "sni": ["*.wild.test"], "backends": [self.backends["W"].address]},
                {"name": "legacy", "backends": [legacy_backend or self.backends["L"].address]},
                *extra_routes,
            ],
            "tls": {"alpn": ["gopher"], "require_alpn": False, "min_version": "1.2", **(tls or {})},
            "timeouts": {"handshake": "2s", "connect": "1s", "idle": "3s", "shutdown_grace": "30s",
                         **(timeouts or {})},
            "logging": {"level": "info", **(logging or {})},
        }

    # -- clients

    def s_client(self, request, servername=None, alpn="gopher", quiet=True, extra=(), timeout=CLIENT_TIMEOUT):
        """`openssl s_client` to the router; request on stdin, kept reading after stdin EOF."""
        args = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-ign_eof"]
        args += ["-quiet"] if quiet else []
        args += ["-servername", servername] if servername else ["-noservername"]
        args += ["-alpn", alpn] if alpn else []
        return self.run_cmd(args + list(extra), input=request, timeout=timeout)

    def served_cert_der(self, server_hostname, alpn=("gopher",)):
        """The DER certificate the router presents for this SNI (None: no SNI)."""
        with tls_connect(self.port, server_hostname, alpn) as sock:
            return sock.getpeercert(binary_form=True)

    def assert_cert(self, der, expected):
        """Asserts the served certificate is `expected` (names the subjects when not)."""
        if der != expected.der():
            subject = self.run_cmd(["openssl", "x509", "-inform", "DER", "-noout", "-subject"], input=der)
            self.fail(f"served {subject.stdout.decode().strip()}, expected CN={expected.subject_cn}")

    def assert_error_item(self, reply):
        """Asserts the reply is exactly one Gopher error item and the terminator."""
        self.assertRegex(reply, ERROR_ITEM, "expected exactly one `3...` error item")


# --------------------------------------------------------------------------
# Operations helpers (test_operations): the admin endpoint and Prometheus text.
# Added as a separate section; nothing above depends on it.

import http.client  # noqa: E402

ADMIN_ENDPOINT = re.compile(r"admin endpoint on http://127\.0\.0\.1:(\d+)")
_METRIC_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?[ \t]+(\S+)(?:[ \t]+-?\d+)?$")
_METRIC_LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')


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


# --------------------------------------------------------------------------
# Hardening helpers (test_hardening_*): /proc readers, a test CA, raw TLS bytes,
# many-socket clients. Added as a separate section; nothing above depends on it.

import selectors  # noqa: E402
import struct  # noqa: E402
import urllib.request  # noqa: E402

_HARDENING_ADMIN = re.compile(r"admin endpoint on http://127\.0\.0\.1:(\d+)")


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


def percentile(samples, fraction):
    """The nearest-rank percentile (fraction 0.99 = p99) of a non-empty list."""
    ordered = sorted(samples)
    rank = max(1, -(-int(fraction * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def tls_records(data):
    """Splits TLS bytes into (content_type, body) records; raises ValueError on junk."""
    records = []
    offset = 0
    while offset < len(data):
        if len(data) - offset < 5:
            raise ValueError(f"truncated record header at {offset}: {data[offset:]!r}")
        ctype, _version, length = struct.unpack("!BHH", data[offset : offset + 5])
        if ctype not in (20, 21, 22, 23):
            raise ValueError(f"not a TLS record at {offset}: {data[offset:offset + 16]!r}")
        body = data[offset + 5 : offset + 5 + length]
        if len(body) < length:
            raise ValueError(f"truncated record body at {offset}")
        records.append((ctype, body))
        offset += 5 + length
    return records


def raw_client_hello(server_hostname="a.test", alpn=("gopher",)):
    """The bytes of a real ClientHello (TLS 1.2 and 1.3 offered) from Python's ssl."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context(alpn).wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def client_hello_with_extension(hello, ext_type, ext_data):
    """A ClientHello record with extension `ext_type` replaced (or added) by `ext_data`.

    Every length is recomputed, so the result parses; the record stays one record
    even past 16 KiB (for oversize tests).
    """
    ctype, version, _ = struct.unpack("!BHH", hello[:5])
    handshake = hello[5:]
    assert ctype == 22 and handshake[0] == 1, "not a ClientHello record"
    body = handshake[4 : 4 + int.from_bytes(handshake[1:4], "big")]
    pos = 2 + 32
    pos += 1 + body[pos]  # session id
    pos += 2 + int.from_bytes(body[pos : pos + 2], "big")  # cipher suites
    pos += 1 + body[pos]  # compression methods
    head, ext_block = body[:pos], body[pos + 2 :]
    extensions = []
    offset = 0
    while offset < len(ext_block):
        etype, elen = struct.unpack("!HH", ext_block[offset : offset + 4])
        extensions.append((etype, ext_block[offset + 4 : offset + 4 + elen]))
        offset += 4 + elen
    replaced = [(t, d) for t, d in extensions if t != ext_type]
    replaced.insert(0, (ext_type, ext_data))
    ext_bytes = b"".join(struct.pack("!HH", t, len(d)) + d for t, d in replaced)
    new_body = head + struct.pack("!H", len(ext_bytes)) + ext_bytes
    new_handshake = b"\x01" + len(new_body).to_bytes(3, "big") + new_body
    return struct.pack("!BHH", 22, version, len(new_handshake)) + new_handshake


def sni_extension(name_bytes):
    """server_name extension data with one host_name entry (any length, even 0)."""
    entry = b"\x00" + struct.pack("!H", len(name_bytes)) + name_bytes
    return struct.pack("!H", len(entry)) + entry


def fetch_admin(router, path="/metrics", timeout=10):
    """GET path from the router's admin endpoint (its port from the startup log)."""
    line = router.err.wait_for(_HARDENING_ADMIN.search, START_TIMEOUT)
    if line is None:
        raise AssertionError("no 'admin endpoint on http://127.0.0.1:PORT' line")
    port = int(_HARDENING_ADMIN.search(line).group(1))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as resp:
        return resp.read().decode()


def limit_hits(router, limit):
    """got_router_limit_hits_total{limit="..."} from /metrics (None when absent)."""
    pattern = re.compile(r'^got_router_limit_hits_total\{limit="' + re.escape(limit) + r'"\}\s+(\S+)$', re.M)
    match = pattern.search(fetch_admin(router))
    return None if match is None else float(match.group(1))


class SocketCrowd:
    """Many plain TCP connections driven by one selectors loop (no thread per socket).

    Each member records when it connected, what it received and when the peer
    closed it (EOF or reset). `drip(data, interval)` sends one byte of `data` per
    member every `interval` seconds until each is closed or the data runs out.
    """

    def __init__(self):
        self.selector = selectors.DefaultSelector()
        self.members = []

    def open(self, port, count, source=None, pace=0.0):
        """Opens `count` connections (from `source` address when given); returns them."""
        opened = []
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if source:
                sock.bind((source, 0))
            sock.settimeout(CLIENT_TIMEOUT)
            try:
                sock.connect(("127.0.0.1", port))
            except ConnectionResetError:
                # Accepted and reset before connect() returned: refused at once.
                member = {"sock": sock, "connected": time.monotonic(),
                          "closed": time.monotonic(), "how": "reset", "data": b"", "sent": 0}
                sock.close()
                self.members.append(member)
                opened.append(member)
                continue
            sock.setblocking(False)
            member = {"sock": sock, "connected": time.monotonic(), "closed": None,
                      "how": None, "data": b"", "sent": 0}
            self.selector.register(sock, selectors.EVENT_READ, member)
            self.members.append(member)
            opened.append(member)
            if pace:
                time.sleep(pace)
        return opened

    def _read(self, member):
        try:
            chunk = member["sock"].recv(65536)
        except BlockingIOError:
            return
        except (ConnectionResetError, ConnectionAbortedError):
            chunk, member["how"] = b"", "reset"
        if chunk:
            member["data"] += chunk
            return
        member["how"] = member["how"] or "eof"
        member["closed"] = time.monotonic()
        self.selector.unregister(member["sock"])

    def poll(self, timeout):
        """Handles reads (and closes) for up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            if not self.selector.get_map():
                time.sleep(remaining)
                return
            for key, _ in self.selector.select(remaining):
                self._read(key.data)

    def open_members(self):
        return [m for m in self.members if m["closed"] is None]

    def drip(self, data, interval, until):
        """One byte of `data` per open member every `interval` s, until all close or `until`."""
        next_send = time.monotonic()
        while self.open_members() and time.monotonic() < until:
            now = time.monotonic()
            if now >= next_send:
                for member in self.open_members():
                    if member["sent"] < len(data):
                        try:
                            member["sock"].send(data[member["sent"] : member["sent"] + 1])
                            member["sent"] += 1
                        except (BlockingIOError, OSError):
                            pass
                next_send = now + interval
            self.poll(min(max(0.0, next_send - time.monotonic()), until - time.monotonic(), 0.2))

    def detach(self, member):
        """Takes one open member out of the crowd; returns its socket, blocking again."""
        self.selector.unregister(member["sock"])
        self.members.remove(member)
        member["sock"].setblocking(True)
        member["sock"].settimeout(CLIENT_TIMEOUT)
        return member["sock"]

    def close(self, members=None):
        """Closes the given members (default: all) from our side."""
        for member in list(members if members is not None else self.members):
            if member["closed"] is None:
                self.selector.unregister(member["sock"])
                member["closed"] = time.monotonic()
                member["how"] = "ours"
            member["sock"].close()
            if member in self.members:
                self.members.remove(member)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        self.selector.close()


class HardeningTestCase(RouterTestCase):
    """RouterTestCase plus a test CA, a router under a command prefix, /proc probes."""

    def make_ca(self, label="ca"):
        """A test CA (P-256, 90 days); returns (cert path, key path)."""
        cert, key = self.dir / f"{label}.pem", self.dir / f"{label}.key"
        result = self.run_cmd(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-days", "90", "-keyout", str(key), "-out", str(cert),
             "-subj", f"/O=got-router tests/CN=got-router test CA {label}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return str(cert), str(key)

    def make_ca_cert(self, ca, label, dns_names, subject_cn):
        """A leaf (P-256, 90 days, serverAuth, SAN dns_names) signed by `ca`."""
        ca_cert, ca_key = ca
        cert, key, csr = self.dir / f"{label}.pem", self.dir / f"{label}.key", self.dir / f"{label}.csr"
        ext = self.write_file(
            f"{label}.ext",
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            f"subjectAltName={','.join('DNS:' + n for n in dns_names)}\n")
        steps = [
            ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(key), "-out", str(csr),
             "-subj", f"/O=got-router tests/CN={subject_cn}"],
            ["openssl", "x509", "-req", "-in", str(csr), "-CA", ca_cert, "-CAkey", ca_key,
             "-CAcreateserial", "-days", "90", "-sha256", "-extfile", str(ext), "-out", str(cert)],
        ]
        for args in steps:
            result = self.run_cmd(args)
            self.assertEqual(result.returncode, 0, result.stderr.decode())
        # The chain file the router serves: leaf, then the CA.
        chain = self.dir / f"{label}-chain.pem"
        chain.write_text(Path(cert).read_text() + Path(ca_cert).read_text())
        return Certificate(str(chain), str(key), subject_cn)

    def start_router_with(self, config, prefix=()):
        """Writes `config` and starts the router under `prefix` (e.g. prlimit ...)."""
        path = self.write_file("router.yaml", to_yaml(config))
        proc = self.spawn([*prefix, self.binary, "-c", str(path)],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=self.router_environment())
        router = Router(proc, 1)
        self._routers.append(router)
        self.router, self.port, self.config_path = router, router.port, path
        return router

    def standard_hardening_config(self, **overrides):
        """The standard certificates and backends (A, W, L) as a config dict (not started).

        overrides: listener/tls/timeouts/logging dicts as for start_standard, plus
        `limits` and `admin` dicts and `extra_routes`/`extra_certs` lists.
        """
        self.certs = {
            "a": self.make_cert("a", ["a.test"], "got-test-a"),
            "wild": self.make_cert("wild", ["*.wild.test"], "got-test-wild"),
            "default": self.make_cert("default", ["default.test"], "got-test-default"),
        }
        self.backends = {name: self.start_backend(name) for name in ("A", "W", "L")}
        config = self.standard_config(overrides.get("listener"), overrides.get("tls"),
                                      overrides.get("timeouts"), overrides.get("logging"), None,
                                      overrides.get("extra_routes", ()))
        config["certificates"] += [{"cert": c.cert, "key": c.key} for c in overrides.get("extra_certs", ())]
        for key in ("limits", "admin"):
            if overrides.get(key):
                config[key] = overrides[key]
        return config

    def wait_until(self, predicate, timeout, interval=0.1):
        """Polls predicate() until truthy or `timeout`; returns its last value."""
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value or time.monotonic() >= deadline:
                return value
            time.sleep(interval)


# --------------------------------------------------------------------------
# Fault-injection helpers (test_faults): the fault relay, a half-closing backend,
# socket states of a process, private network namespaces. Added as a separate
# section; nothing above depends on it.

import ctypes  # noqa: E402

RELAY_SCRIPT = REPO_ROOT / "tests" / "support" / "fault_relay.py"
CLONE_NEWNET = 0x40000000


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


def process_tcp_states(pid):
    """{state: count} of the TCP sockets process `pid` holds (from `ss -tanp`)."""
    out = subprocess.run(["ss", "-tanp"], capture_output=True, text=True, timeout=10).stdout
    states = {}
    for line in out.splitlines()[1:]:
        if f"pid={pid}," in line:
            state = line.split()[0]
            states[state] = states.get(state, 0) + 1
    return states


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
