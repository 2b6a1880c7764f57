"""The test-case base classes: a temporary directory, certificates, backends and a
router per test, all torn down after it, also when it fails.

RouterTestCase runs the standard topology (start_standard) or any config; HardeningTestCase
adds a test CA, a router under a command prefix (prlimit, taskset) and bounded polling.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

from .clients import tls_connect
from .config import (CLIENT_TIMEOUT, make_ca, make_ca_signed, make_self_signed,
                     standard_certificates, standard_config, to_yaml)
from .probes import ERROR_ITEM, wait_until
from .processes import BACKEND_SCRIPT, Backend, Router, router_binary


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
        """A loopback port with nothing listening on it, free for the test to bind (a
        server it starts). For a backend that must stay down, refused_port()."""
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]

    def refused_port(self):
        """A loopback port that refuses connections for the whole test: bound and never
        listening, held until cleanup, so that no other test running beside this one can
        be handed it for a server of its own (a released port can be, and a "dead"
        backend then answered for another test's)."""
        sock = socket.socket()
        self.addCleanup(sock.close)
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]

    def write_config_and_reload(self, config):
        """Replaces the router's config file with `config` (atomically), sends SIGHUP and
        waits for the router to say it reloaded."""
        mark = len(self.router.err.snapshot())
        tmp = self.dir / ".router.yaml.tmp"
        tmp.write_text(to_yaml(config))
        os.replace(tmp, self.config_path)
        self.router.proc.send_signal(signal.SIGHUP)
        index = self.router.err.wait_index(re.compile(r"config reloaded \(").search, 10, mark)
        self.assertIsNotNone(index, self.router.stderr_text())

    def dead_ports(self, count):
        """`count` different loopback ports with nothing listening (all bound at once while
        picking, so the kernel cannot hand the same one out twice)."""
        socks = [socket.socket() for _ in range(count)]
        try:
            for sock in socks:
                sock.bind(("127.0.0.1", 0))
            return [sock.getsockname()[1] for sock in socks]
        finally:
            for sock in socks:
                sock.close()

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
        return make_self_signed(self.dir, label, dns_names, subject_cn)

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
        self.certs = standard_certificates(self.dir)
        self.backends = {name: self.start_backend(name) for name in ("A", "W", "L")}
        config = self.standard_config(listener, tls, timeouts, logging, legacy_backend, extra_routes)
        self.config_path = self.write_file("router.yaml", to_yaml(config))
        self.router = self.start_router(self.config_path)
        self.port = self.router.port
        return self.router

    def standard_config(self, listener, tls, timeouts, logging, legacy_backend, extra_routes):
        return standard_config(self.certs, self.backends, listener, tls, timeouts, logging,
                               legacy_backend, extra_routes)

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


class HardeningTestCase(RouterTestCase):
    """RouterTestCase plus a test CA, a router under a command prefix, /proc probes."""

    def make_ca(self, label="ca"):
        """A test CA (P-256, 90 days); returns (cert path, key path)."""
        return make_ca(self.dir, label)

    def make_ca_cert(self, ca, label, dns_names, subject_cn):
        """A leaf (P-256, 90 days, serverAuth, SAN dns_names) signed by `ca`."""
        return make_ca_signed(self.dir, ca, label, dns_names, subject_cn)

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
        self.certs = standard_certificates(self.dir)
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
        return wait_until(predicate, timeout, interval)
