"""Operations: reload under load, certificate renewal, drain, admin endpoint, metrics, logs, privileges.

The router runs with `admin: {address: 127.0.0.1:0}`; tests read the admin port
from its log line. Configs are rewritten atomically (write a temporary file,
rename it over the config), which is what the inotify watcher sees in practice.
"""

import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import unittest
from pathlib import Path

from harness import (
    CLIENT_TIMEOUT,
    MARGIN,
    START_TIMEOUT,
    Router,
    RouterTestCase,
    admin_port,
    client_context,
    gopher_backend,
    http_request,
    metric_value,
    parse_metrics,
    plain_request,
    read_until_close,
    tls_connect,
    to_yaml,
)
from ctest_manifest import ctest

RELOADED = re.compile(r"config reloaded \(")
RELOAD_FAILED = re.compile(r"reload failed: .*still running the previous config")
REOPENED = re.compile(r"access logs reopened")
# Long enough to wait out the 300 ms debounce and a reload on a noisy machine.
RELOAD_TIMEOUT = 15.0


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


class OperationsCase(RouterTestCase):
    """The standard topology plus the admin endpoint; helpers for configs, logs and metrics."""

    def start_ops(self, timeouts=None, logging=None, extra_routes=(), top=None, listener=None):
        self.certs = {
            "a": self.make_cert("a", ["a.test"], "got-test-a"),
            "wild": self.make_cert("wild", ["*.wild.test"], "got-test-wild"),
            "default": self.make_cert("default", ["default.test"], "got-test-default"),
        }
        self.backends = {name: self.start_backend(name) for name in ("A", "W", "L")}
        self.config = self.standard_config(listener, None, timeouts, logging, None, extra_routes)
        self.config["admin"] = {"address": "127.0.0.1:0"}
        self.config.update(top or {})
        self.config_path = self.write_file("router.yaml", to_yaml(self.config))
        self.router = self.start_router(self.config_path)
        self.port = self.router.port
        self.admin = admin_port(self.router)
        self.wait_ready()
        return self.router

    def wait_ready(self, timeout=START_TIMEOUT):
        """Waits for /readyz 200: the file watches are in place only from then on.

        (`listening on` and the admin line are logged before the inotify watches
        are added; a config written in between would not be seen.)
        """
        deadline = time.monotonic() + timeout
        while self.get("/readyz")[0] != 200:
            if time.monotonic() > deadline:
                self.fail(f"/readyz not 200 within {timeout}s")
            time.sleep(0.05)

    # -- config and logs

    def write_config(self, config, extra_text=""):
        """Replaces the config file atomically (temporary file, then rename)."""
        tmp = self.dir / ".router.yaml.tmp"
        tmp.write_text(to_yaml(config) + extra_text)
        os.replace(tmp, self.config_path)

    def log_count(self, pattern):
        return sum(1 for line in self.router.err.snapshot() if pattern.search(line))

    def wait_log(self, pattern, start, timeout=RELOAD_TIMEOUT, what=None):
        """Index of the first stderr line from `start` on matching `pattern`; fails after timeout."""
        index = self.router.err.wait_index(pattern.search, timeout, start)
        if index is None:
            self.fail(f"no log line matching {what or pattern.pattern!r} within {timeout}s")
        return index

    def log_end(self):
        return len(self.router.err.snapshot())

    # -- admin

    def get(self, path, method="GET", body=None):
        return http_request(self.admin, path, method, body)

    def metrics(self):
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200, body)
        return body.decode(), parse_metrics(body.decode())

    def wait_metrics(self, predicate, timeout=MARGIN + 4):
        """Polls /metrics until predicate(samples) holds; returns the last samples."""
        deadline = time.monotonic() + timeout
        while True:
            _, samples = self.metrics()
            if predicate(samples) or time.monotonic() > deadline:
                return samples
            time.sleep(0.1)

    # -- clients

    def tls_get(self, sni, selector, ctx=None, timeout=10.0):
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        try:
            sock = (ctx or client_context()).wrap_socket(raw, server_hostname=sni)
        except BaseException:
            raw.close()
            raise
        with sock:
            sock.sendall(selector.encode() + b"\r\n")
            return read_until_close(sock, timeout)[0]

    def plain_get(self, selector, timeout=10.0):
        return plain_request(self.port, selector.encode() + b"\r\n", timeout)

    def serial_of_pem(self, path):
        result = self.run_cmd(["openssl", "x509", "-in", str(path), "-noout", "-serial"])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return result.stdout.decode().strip()

    def served_serial(self, sni):
        der = self.served_cert_der(sni)
        result = self.run_cmd(["openssl", "x509", "-inform", "DER", "-noout", "-serial"], input=der)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return result.stdout.decode().strip()

    def not_after(self, path):
        result = self.run_cmd(["openssl", "x509", "-in", str(path), "-noout", "-enddate"])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return ssl.cert_time_to_seconds(result.stdout.decode().strip().split("=", 1)[1])

    def assert_exits(self, timeout, code=0):
        try:
            rc = self.router.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"router still running {timeout}s after the signal")
        if code is not None:
            self.assertEqual(rc, code, self.router.stderr_text())
        return rc

    def assert_refused_soon(self, port, timeout=MARGIN):
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            except (ConnectionRefusedError, ConnectionResetError):
                return
            if time.monotonic() > deadline:
                self.fail(f"127.0.0.1:{port} still accepts connections")
            time.sleep(0.1)


class Reload(OperationsCase):
    STEPS = 20
    STEP_SECONDS = 0.5

    def routed_config(self, backend):
        """The running config with routes a and legacy (plain and TLS) both on `backend`."""
        config = json.loads(json.dumps(self.config))
        address = self.backends[backend].address
        for route in config["routes"]:
            if route["name"] in ("a", "legacy"):
                route["backends"] = [address]
        return config

    @ctest(timeout=180)
    def test_reload_under_load(self):
        """20 rewrites (valid/invalid) under a plain+TLS request loop: no failure, routes follow valid configs only."""
        self.start_ops()
        self.backends["B"] = self.start_backend("B")
        self.write_config(self.routed_config("A"))
        self.wait_log(RELOADED, 0, what="config reloaded")
        ok_reloads, failed_reloads = 1, 0

        records = []  # (t_start, t_end, transport, backend name or None, error text or None)
        stop = threading.Event()
        ctx = client_context()

        def load():
            n = 0
            while not stop.is_set():
                n += 1
                transport = "tls" if n % 2 else "plain"
                selector = f"load{n}"
                t0 = time.monotonic()
                try:
                    if transport == "tls":
                        data = self.tls_get("a.test", selector, ctx)
                    else:
                        data = self.plain_get(selector)
                    name = next((b for b in ("A", "B") if data == reply(b, selector)), None)
                    err = None if name else f"unexpected reply {data[:120]!r}"
                except Exception as exc:  # noqa: BLE001  (every failure counts)
                    name, err = None, f"{type(exc).__name__}: {exc}"
                records.append((t0, time.monotonic(), transport, name, err))

        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        self.addCleanup(loader.join, 30)
        self.addCleanup(stop.set)

        current = "A"
        windows = [(0.0, None, "A")]  # (from, until, backend): requests inside must reach it
        problems = []
        t_begin = time.monotonic()
        try:
            for step in range(self.STEPS):
                step_start = time.monotonic()
                target = "B" if current == "A" else "A"
                valid = step % 2 == 0
                mark = self.log_end()
                if valid:
                    windows[-1] = (windows[-1][0], time.monotonic(), current)
                    self.write_config(self.routed_config(target))
                    self.wait_log(RELOADED, mark, what=f"config reloaded (step {step})")
                    landed = time.monotonic()
                    ok_reloads += 1
                    current = target
                    windows.append((landed, None, current))
                    # Poll until both transports reach the new backend (bounded).
                    for transport in ("plain", "tls"):
                        deadline = time.monotonic() + MARGIN
                        while True:
                            sel = f"check{step}{transport}"
                            got = self.plain_get(sel) if transport == "plain" else self.tls_get("a.test", sel)
                            if got == reply(current, sel):
                                break
                            if time.monotonic() > deadline:
                                self.fail(f"step {step}: {transport} still gets {got!r}, expected backend {current}")
                            time.sleep(0.05)
                else:
                    # Would switch to `target`, but carries an unknown key: must be refused.
                    self.write_config(self.routed_config(target), "bogus_key: 1\n")
                    index = self.wait_log(RELOAD_FAILED, mark, what=f"reload failed (step {step})")
                    failed_reloads += 1
                    problem_logged = self.router.err.wait_index(
                        lambda l: "bogus_key" in l, MARGIN, mark
                    )
                    if problem_logged is None:
                        problems.append(f"step {step}: the failure log does not name bogus_key: "
                                        f"{self.router.err.lines[index]!r}")
                    for sel in (f"inv{step}p", f"inv{step}t"):
                        got = self.plain_get(sel) if sel.endswith("p") else self.tls_get("a.test", sel)
                        self.assertEqual(got, reply(current, sel),
                                         f"step {step}: invalid config changed the route")
                samples = self.wait_metrics(
                    lambda s: metric_value(s, "got_router_config_reloads_total", outcome="failed") == failed_reloads
                    and metric_value(s, "got_router_config_reloads_total", outcome="ok") == ok_reloads
                )
                self.assertEqual(
                    (metric_value(samples, "got_router_config_reloads_total", outcome="ok"),
                     metric_value(samples, "got_router_config_reloads_total", outcome="failed")),
                    (ok_reloads, failed_reloads), f"step {step}: reload counters")
                time.sleep(max(0.0, self.STEP_SECONDS - (time.monotonic() - step_start)))
        finally:
            stop.set()
            loader.join(30)
        elapsed = time.monotonic() - t_begin

        failures = [r for r in records if r[4]]
        self.assertEqual(failures[:5], [], f"{len(failures)} of {len(records)} requests failed")
        # Requests that started after a valid config landed and ended before the next
        # was written reach that config's backend: routes change exactly when configs land.
        misrouted = []
        for t0, t1, transport, name, _ in records:
            for start_t, until, backend in windows:
                if t0 >= start_t and (until is None or t1 <= until) and name != backend:
                    misrouted.append((round(t0 - t_begin, 3), transport, name, backend))
        self.assertEqual(misrouted[:5], [], f"{len(misrouted)} requests reached the wrong backend")
        by_transport = {t: sum(1 for r in records if r[2] == t) for t in ("plain", "tls")}
        self.assertGreater(min(by_transport.values()), 20, f"too little load: {by_transport}")
        self.assertEqual(problems, [])
        sys.stderr.write(f"\n  reload under load: {len(records)} requests {by_transport} in {elapsed:.1f}s, "
                         f"{ok_reloads} ok and {failed_reloads} failed reloads\n")

    def test_sighup_reloads(self):
        """SIGHUP reloads the config: the log says why and reloads_total{ok} counts it."""
        self.start_ops()
        self.backends["B"] = self.start_backend("B")
        mark = self.log_end()
        self.write_config(self.routed_config("B"))
        mark = self.wait_log(RELOADED, mark) + 1
        self.assertEqual(self.plain_get("hup"), reply("B", "hup"))
        self.router.proc.send_signal(signal.SIGHUP)
        index = self.wait_log(RELOADED, mark)
        self.assertIn("SIGHUP", self.router.err.lines[index])
        samples = self.wait_metrics(
            lambda s: metric_value(s, "got_router_config_reloads_total", outcome="ok") == 2)
        self.assertEqual(metric_value(samples, "got_router_config_reloads_total", outcome="ok"), 2)
        self.assertEqual(self.tls_get("a.test", "hup2"), reply("B", "hup2"))

    def test_reload_adds_and_removes_listener(self):
        """A listener added by reload opens and serves; removed, it is closed; the first keeps serving."""
        self.start_ops()
        extra_port = self.dead_port()
        config = json.loads(json.dumps(self.config))
        config["listeners"].append({"address": f"127.0.0.1:{extra_port}", "plaintext": True,
                                    "tls": True, "default_route": "legacy"})
        mark = self.log_end()
        self.write_config(config)
        self.wait_log(RELOADED, mark)
        self.assertEqual(plain_request(extra_port, b"new\r\n"), reply("L", "new"))
        self.assertEqual(self.plain_get("old"), reply("L", "old"))

        mark = self.log_end()
        self.write_config(self.config)
        self.wait_log(RELOADED, mark)
        self.assert_refused_soon(extra_port)
        self.assertEqual(self.plain_get("old2"), reply("L", "old2"))
        self.assertEqual(self.tls_get("a.test", "old3"), reply("A", "old3"))


class TicketKeysReload(OperationsCase):
    """Session-ticket keys change only when a reload goes live."""

    def s_client(self, selector, sess_in=None, sess_out=None):
        """One TLS 1.3 request with openssl s_client; `New` or `Reused`, and the output."""
        args = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-servername",
                "a.test", "-alpn", "gopher", "-ign_eof", "-tls1_3"]
        if sess_in:
            args += ["-sess_in", str(sess_in)]
        if sess_out:
            args += ["-sess_out", str(sess_out)]
        out = self.run_cmd(args, input=f"{selector}\r\n".encode()).stdout.decode(errors="replace")
        match = re.search(r"^(New|Reused), TLSv1\.3", out, re.M)
        self.assertIn(reply("A", selector).decode(), out)
        return (match.group(1) if match else None), out

    def test_failed_reload_keeps_ticket_keys(self):
        """A reload that fails on a listener bind after its ticket-key file was read changes
        nothing: tickets sealed with the old file's key still resume (the reload's new keys
        would not open them)."""
        keys_a = self.dir / "a.keys"
        keys_a.write_bytes(os.urandom(80))
        keys_b = self.dir / "b.keys"
        keys_b.write_bytes(os.urandom(80))
        self.start_ops(top={"tls": {"alpn": ["gopher"], "ticket_keys": str(keys_a)}})
        sess = self.dir / "a.sess"
        self.assertEqual(self.s_client("first", sess_out=sess)[0], "New")
        verdict, out = self.s_client("control", sess_in=sess)
        self.assertEqual(verdict, "Reused", "the control did not resume:\n" + out)

        with socket.socket() as busy:
            busy.bind(("127.0.0.1", 0))
            busy.listen()
            config = json.loads(json.dumps(self.config))
            config["tls"]["ticket_keys"] = str(keys_b)
            config["listeners"].append({"address": f"127.0.0.1:{busy.getsockname()[1]}",
                                        "plaintext": True, "tls": True, "default_route": "legacy"})
            mark = self.log_end()
            self.write_config(config)
            self.wait_log(RELOAD_FAILED, mark)
        verdict, out = self.s_client("after", sess_in=sess)
        self.assertEqual(verdict, "Reused", "a failed reload changed the ticket keys:\n" + out)


class CertificateRenewal(OperationsCase):
    SIZE = 32 << 20

    @ctest(timeout=120)
    def test_certificate_renewal(self):
        """New cert+key renamed over the old: new handshakes get the new serial; an open transfer completes."""
        self.start_ops(timeouts={"idle": "60s"})
        old_serial = self.serial_of_pem(self.certs["a"].cert)
        self.assertEqual(self.served_serial("a.test"), old_serial)

        sock = tls_connect(self.port, "a.test")
        self.addCleanup(sock.close)
        sock.sendall(f"size/{self.SIZE}\r\n".encode())
        digest = hashlib.sha256()
        total = 0
        while total < (1 << 20):
            chunk = sock.recv(65536)
            self.assertTrue(chunk, "transfer ended early")
            digest.update(chunk)
            total += len(chunk)

        # certbot: the new files are written beside the old ones, then renamed over them.
        renewed = self.make_cert("a-renewed", ["a.test"], "got-test-a-renewed")
        new_serial = self.serial_of_pem(renewed.cert)
        self.assertNotEqual(new_serial, old_serial)
        failed_before = self.log_count(RELOAD_FAILED)
        mark = self.log_end()
        os.replace(renewed.key, self.certs["a"].key)
        os.replace(renewed.cert, self.certs["a"].cert)
        self.wait_log(RELOADED, mark, what="config reloaded after the certificate renewal")

        deadline = time.monotonic() + MARGIN
        while (served := self.served_serial("a.test")) != new_serial and time.monotonic() < deadline:
            time.sleep(0.1)
        self.assertEqual(served, new_serial, "new handshakes do not get the renewed certificate")
        self.assertEqual(self.tls_get("a.test", "after"), reply("A", "after"))
        self.assertEqual(self.log_count(RELOAD_FAILED), failed_before, self.router.stderr_text())
        _, samples = self.metrics()
        self.assertEqual(
            metric_value(samples, "got_router_certificate_expiry_seconds", certificate=self.certs["a"].cert),
            self.not_after(self.certs["a"].cert))

        # The connection opened before the renewal reads on to the end, slowly.
        sock.settimeout(CLIENT_TIMEOUT)
        deadline = time.monotonic() + 90
        while True:
            self.assertLess(time.monotonic(), deadline, f"transfer stuck at {total} bytes")
            try:
                chunk = sock.recv(65536)
            except ssl.SSLEOFError:
                break
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
            if total < (4 << 20):
                time.sleep(0.005)
        self.assertEqual(total, self.SIZE)
        self.assertEqual(digest.hexdigest(), gopher_backend.expected_sha256(self.SIZE))


class Drain(OperationsCase):
    SIZE = 32 << 20

    def open_transfer(self, transport):
        if transport == "tls":
            sock = tls_connect(self.port, "a.test")
        else:
            sock = socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT)
        self.addCleanup(sock.close)
        sock.sendall(f"size/{self.SIZE}\r\n".encode())
        digest = hashlib.sha256()
        total = 0
        while total < (1 << 20):
            chunk = sock.recv(65536)
            self.assertTrue(chunk, f"{transport} transfer ended early")
            digest.update(chunk)
            total += len(chunk)
        return [sock, digest, total]

    def finish_transfer(self, transfer, timeout=90):
        sock, digest, total = transfer
        sock.settimeout(CLIENT_TIMEOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(1 << 20)
            except ssl.SSLEOFError:
                break
            if not chunk:
                break
            digest.update(chunk)
            total += len(chunk)
        sock.close()  # the router half-closed; the drain waits for our side too
        return total, digest.hexdigest()

    @ctest(timeout=120)
    def test_sigterm_drains_transfers(self):
        """SIGTERM with a plain and a TLS transfer open: refused new connections, /readyz 503, both complete, exit 0."""
        grace = 30
        self.start_ops(timeouts={"idle": "60s", "shutdown_grace": f"{grace}s"})
        status, _, _ = self.get("/readyz")
        self.assertEqual(status, 200)
        transfers = {t: self.open_transfer(t) for t in ("plain", "tls")}

        signalled = time.monotonic()
        self.router.proc.send_signal(signal.SIGTERM)
        self.assert_refused_soon(self.port)
        status, _, body = self.get("/readyz")
        self.assertEqual(status, 503, f"/readyz while draining: {status} {body!r}")
        self.assertIsNone(self.router.proc.poll(), "router exited with transfers open")

        for transport, transfer in transfers.items():
            total, digest = self.finish_transfer(transfer)
            self.assertEqual(total, self.SIZE, f"{transport} transfer cut")
            self.assertEqual(digest, gopher_backend.expected_sha256(self.SIZE), transport)
        self.assert_exits(max(1.0, grace - (time.monotonic() - signalled)))

    def test_sigquit_exits_promptly(self):
        """SIGQUIT with a connection open and a 30 s grace: the router exits at once."""
        self.start_ops(timeouts={"idle": "60s", "shutdown_grace": "30s"})
        sock = tls_connect(self.port, "a.test")
        self.addCleanup(sock.close)
        sock.sendall(b"hang\r\n")
        self.assertIsNotNone(
            self.backends["A"].out.wait_for(lambda l: l == "REQUEST 'hang'", MARGIN + 4),
            "backend never saw the request")
        self.router.proc.send_signal(signal.SIGQUIT)
        rc = self.assert_exits(MARGIN, code=None)
        self.assertGreaterEqual(rc, 0, f"router died of signal {-rc}:\n{self.router.stderr_text()}")


class Metrics(OperationsCase):
    PLAIN, TLS_A, TLS_DEAD, SIZE = 3, 4, 2, 1000

    def send_traffic(self):
        self.dead = f"127.0.0.1:{self.refused_port()}"
        self.start_ops(extra_routes=[{"name": "dead", "sni": ["dead.test"], "backends": [self.dead]}])
        for i in range(self.PLAIN):
            self.assertEqual(self.plain_get(f"p{i}"), reply("L", f"p{i}"))
        for _ in range(self.TLS_A):
            self.assertEqual(self.tls_get("a.test", f"size/{self.SIZE}"), gopher_backend.expected_bytes(self.SIZE))
        for _ in range(self.TLS_DEAD):
            self.assert_error_item(self.tls_get("dead.test", "x"))
        total = self.PLAIN + self.TLS_A + self.TLS_DEAD
        return self.wait_metrics(
            lambda s: metric_value(s, "got_router_connections_active") == 0
            and sum(v for (n, _), v in s.items() if n == "got_router_connections_closed_total") >= total)

    @ctest(timeout=90)
    def test_promtool_check_metrics(self):
        """/metrics after traffic passes `promtool check metrics` (lint warnings printed, not fatal)."""
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool not installed (Debian package `prometheus`; scripts/install-deps.sh)")
        self.send_traffic()
        status, headers, body = self.get("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
                        headers.get("content-type"))
        result = self.run_cmd([promtool, "check", "metrics"], input=body)
        output = (result.stdout + result.stderr).decode().strip()
        # promtool: 0 clean, 3 lint problems only, 1 parse error.
        self.assertIn(result.returncode, (0, 3), f"promtool check metrics failed:\n{output}")
        if output:
            sys.stderr.write("\n  promtool lint warnings:\n    " + output.replace("\n", "\n    ") + "\n")

    @ctest(timeout=90)
    def test_counters_match_traffic(self):
        """Counters equal the traffic sent: requests by route, accepts by transport, bytes, handshakes, connect errors."""
        samples = self.send_traffic()
        listener = f"127.0.0.1:{self.port}"
        tls = self.TLS_A + self.TLS_DEAD
        line_a = len(f"size/{self.SIZE}\r\n")
        expected = {
            ("got_router_requests_total", (("route", "a"),)): self.TLS_A,
            ("got_router_requests_total", (("route", "legacy"),)): self.PLAIN,
            ("got_router_requests_total", (("route", "dead"),)): self.TLS_DEAD,
            ("got_router_requests_total", (("route", "wild"),)): 0,
            ("got_router_connections_accepted_total", (("listener", listener), ("transport", "plain"))): self.PLAIN,
            ("got_router_connections_accepted_total", (("listener", listener), ("transport", "tls"))): tls,
            ("got_router_sent_bytes_total", (("route", "a"),)): self.TLS_A * self.SIZE,
            ("got_router_received_bytes_total", (("route", "a"),)): self.TLS_A * line_a,
            ("got_router_sent_bytes_total", (("route", "legacy"),)):
                sum(len(reply("L", f"p{i}")) for i in range(self.PLAIN)),
            ("got_router_tls_handshakes_total", (("outcome", "ok"),)): tls,
            ("got_router_tls_versions_total", (("version", "TLSv1.3"),)): tls,
            ("got_router_tls_alpn_total", (("protocol", "gopher"),)): tls,
            ("got_router_backend_connect_errors_total", (("route", "dead"), ("backend", self.dead))): self.TLS_DEAD,
            ("got_router_backend_connect_errors_total", (("route", "a"), ("backend", self.backends["A"].address))): 0,
            ("got_router_backend_connect_duration_seconds_count", (("route", "a"),)): self.TLS_A,
            ("got_router_backend_connect_duration_seconds_bucket", (("route", "a"), ("le", "+Inf"))): self.TLS_A,
            ("got_router_connections_closed_total", (("outcome", "backend_unavailable"),)): self.TLS_DEAD,
            ("got_router_connections_active", ()): 0,
            ("got_router_config_reloads_total", (("outcome", "ok"),)): 0,
            ("got_router_config_reloads_total", (("outcome", "failed"),)): 0,
            ("got_router_build_info", None): 1,
        }
        actual = {}
        for (name, labels) in expected:
            if labels is None:  # any label values: the single sample of that name
                values = [v for (n, _), v in samples.items() if n == name]
                actual[(name, labels)] = values[0] if len(values) == 1 else values
            else:
                actual[(name, labels)] = metric_value(samples, name, **dict(labels))
        self.assertEqual(actual, {k: float(v) for k, v in expected.items()})
        closed = sum(v for (n, _), v in samples.items() if n == "got_router_connections_closed_total")
        self.assertEqual(closed, self.PLAIN + tls)
        up_routes = {dict(l).get("route") for (n, l) in samples if n == "got_router_backend_up"}
        self.assertEqual(up_routes, {"a", "legacy", "wild", "dead"})
        self.assertEqual(
            metric_value(samples, "got_router_certificate_expiry_seconds", certificate=self.certs["a"].cert),
            self.not_after(self.certs["a"].cert))
        start = metric_value(samples, "got_router_process_start_time_seconds")
        self.assertIsNotNone(start)
        self.assertLess(abs(time.time() - start), 120, "process_start_time_seconds is not now-ish")

    def test_config_load_time_set_at_startup(self):
        """Before any reload, config_last_load_timestamp_seconds tells when the startup config was loaded."""
        before = time.time()
        self.start_ops()
        _, samples = self.metrics()
        loaded = metric_value(samples, "got_router_config_last_load_timestamp_seconds")
        self.assertIsNotNone(loaded)
        self.assertGreaterEqual(loaded, before - 1, "last load timestamp is not the startup load")
        self.assertLessEqual(loaded, time.time() + 1)
        self.assertGreater(metric_value(samples, "got_router_config_load_duration_seconds"), 0)


class Admin(OperationsCase):
    def test_health_ready_config(self):
        """/healthz 200, /readyz 200, /config valid JSON with route names and cert paths, no key material."""
        self.start_ops()
        status, _, body = self.get("/healthz")
        self.assertEqual((status, body.strip()), (200, b"ok"))
        status, _, body = self.get("/readyz")
        self.assertEqual(status, 200, body)
        status, headers, body = self.get("/config")
        self.assertEqual(status, 200, body)
        self.assertIn("application/json", headers.get("content-type", ""))
        doc = json.loads(body)

        def strings(value):
            if isinstance(value, dict):
                for k, v in value.items():
                    yield k
                    yield from strings(v)
            elif isinstance(value, list):
                for v in value:
                    yield from strings(v)
            elif isinstance(value, str):
                yield value

        found = set(strings(doc))
        for name in ("a", "wild", "legacy"):
            self.assertIn(name, found, f"route {name} missing from /config")
        self.assertIn(self.certs["a"].cert, found, "certificate path missing from /config")
        self.assertNotIn(b"PRIVATE KEY", body)
        key_body = "".join(l for l in Path(self.certs["a"].key).read_text().splitlines() if "-----" not in l)
        self.assertNotIn(key_body[:40].encode(), body)

    def test_http_errors(self):
        """Unknown path 404, POST 405 with Allow, a malformed request 400; HEAD answers without a body."""
        self.start_ops()
        self.assertEqual(self.get("/nope")[0], 404)
        status, headers, _ = self.get("/metrics", method="POST", body=b"x")
        self.assertEqual(status, 405)
        self.assertIn("GET", headers.get("allow", ""))
        status, _, body = self.get("/healthz", method="HEAD")
        self.assertEqual((status, body), (200, b""))
        with socket.create_connection(("127.0.0.1", self.admin), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"THIS IS NOT HTTP\x00\r\n\r\n")
            data, _ = read_until_close(sock)
        self.assertRegex(data, rb"^HTTP/1\.[01] 400 ", data[:200])
        # Still serving after all that, and the data path too.
        self.assertEqual(self.get("/healthz")[0], 200)
        self.assertEqual(self.plain_get("still"), reply("L", "still"))

    def test_reload_moves_admin_endpoint(self):
        """admin.address changed by a reload: the new address answers, the old one is
        closed, and a keep-alive connection open on the old one during the move is served."""
        self.start_ops()
        old_port = self.admin
        kept = socket.create_connection(("127.0.0.1", old_port), timeout=CLIENT_TIMEOUT)
        self.addCleanup(kept.close)
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertRegex(kept.recv(4096), rb"^HTTP/1\.1 200 ")

        mark = self.log_end()
        config = dict(self.config, admin={"address": "127.0.0.2:0"})
        self.write_config(config)
        self.router.proc.send_signal(signal.SIGHUP)
        self.wait_log(RELOADED, mark)
        moved = re.compile(r"admin endpoint on http://127\.0\.0\.2:(\d+)")
        line = self.router.err.snapshot()[self.wait_log(moved, mark)]
        new_port = int(moved.search(line).group(1))

        status, _, body = http_request(new_port, "/healthz", host="127.0.0.2")
        self.assertEqual(status, 200, body)
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", old_port), timeout=CLIENT_TIMEOUT).close()
        # The session that outlived its admin_server still answers, then closes cleanly.
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data, _ = read_until_close(kept)
        self.assertRegex(data, rb"^HTTP/1\.1 200 ")
        self.assertIsNone(self.router.proc.poll(), "the router exited")


class AccessLogOps(OperationsCase):
    FIELDS = {"time", "client", "listener", "transport", "tls_version", "sni", "alpn",
              "client_subject", "client_verify", "route",
              "prefix", "backend", "bytes_in", "bytes_out", "duration_ms", "outcome"}

    def wait_lines(self, path, count, timeout=MARGIN + 2):
        deadline = time.monotonic() + timeout
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            if len(lines) >= count or time.monotonic() > deadline:
                return lines
            time.sleep(0.05)

    def test_json_access_log(self):
        """logging.format json: each access line is a JSON object with the documented fields and values."""
        path = self.dir / "access.log"
        self.start_ops(logging={"format": "json", "access": str(path)})
        self.assertEqual(self.tls_get("a.test", "j1"), reply("A", "j1"))
        self.assertEqual(self.plain_get("j2"), reply("L", "j2"))
        lines = self.wait_lines(path, 2)
        self.assertEqual(len(lines), 2, lines)
        records = [json.loads(line) for line in lines]
        for record in records:
            self.assertEqual(set(record), self.FIELDS, record)
            for key in ("bytes_in", "bytes_out", "duration_ms"):
                self.assertIsInstance(record[key], int, key)
            self.assertRegex(record["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d")
            self.assertRegex(record["client"], r"^127\.0\.0\.1:\d+$")
        by_transport = {r["transport"]: r for r in records}
        tls, plain = by_transport["tls"], by_transport["plain"]
        self.assertEqual(
            {k: tls[k] for k in ("listener", "tls_version", "sni", "alpn", "route", "backend",
                                 "bytes_in", "bytes_out", "outcome")},
            {"listener": f"127.0.0.1:{self.port}", "tls_version": "TLSv1.3", "sni": "a.test",
             "alpn": "gopher", "route": "a", "backend": self.backends["A"].address,
             "bytes_in": len(b"j1\r\n"), "bytes_out": len(reply("A", "j1")), "outcome": "ok"})
        self.assertEqual(
            {k: plain[k] for k in ("route", "backend", "bytes_out", "outcome")},
            {"route": "legacy", "backend": self.backends["L"].address,
             "bytes_out": len(reply("L", "j2")), "outcome": "ok"})

    def test_sigusr1_reopens_access_log(self):
        """After the access log is moved away, SIGUSR1 makes new lines go to a fresh file at the original path."""
        path = self.dir / "access.log"
        rotated = self.dir / "access.log.1"
        self.start_ops(logging={"format": "json", "access": str(path)})
        self.assertEqual(self.plain_get("before"), reply("L", "before"))
        self.assertEqual(len(self.wait_lines(path, 1)), 1)
        os.rename(path, rotated)
        mark = self.log_end()
        self.router.proc.send_signal(signal.SIGUSR1)
        self.wait_log(REOPENED, mark, MARGIN + 2)
        self.assertEqual(self.tls_get("a.test", "after"), reply("A", "after"))
        lines = self.wait_lines(path, 1)
        self.assertEqual(len(lines), 1, f"no line in the fresh {path}")
        self.assertEqual(json.loads(lines[0])["route"], "a")
        old = rotated.read_text().splitlines()
        self.assertEqual(len(old), 1, old)
        self.assertEqual(json.loads(old[0])["route"], "legacy")


class Privileges(OperationsCase):
    def test_drops_to_nobody(self):
        """Started as root with `user: nobody`: /proc shows uid/gid nobody, and it serves plain and TLS."""
        if os.geteuid() != 0:
            self.skipTest("needs root")
        nobody = pwd.getpwnam("nobody")
        self.start_ops(top={"user": "nobody"})
        self.assertIsNotNone(self.router.err.wait_for(lambda l: "running as user nobody" in l, MARGIN),
                             "no 'running as user nobody' line")
        status = Path(f"/proc/{self.router.proc.pid}/status").read_text()
        uids = re.search(r"^Uid:[ \t]*(.*)$", status, re.M).group(1).split()
        gids = re.search(r"^Gid:[ \t]*(.*)$", status, re.M).group(1).split()
        groups = re.search(r"^Groups:[ \t]*(.*)$", status, re.M).group(1).split()
        self.assertEqual(uids, [str(nobody.pw_uid)] * 4)
        self.assertEqual(gids, [str(nobody.pw_gid)] * 4)
        self.assertEqual(groups, [], "supplementary groups kept")
        self.assertEqual(self.plain_get("drop"), reply("L", "drop"))
        self.assertEqual(self.tls_get("a.test", "drop2"), reply("A", "drop2"))
        self.assertEqual(self.get("/healthz")[0], 200)

    def test_unknown_user_exits_1(self):
        """`user:` naming a user that does not exist: exit 1 with a message naming it."""
        cert = self.make_cert("a", ["a.test"], "got-test-a")
        config = {
            "user": "got-no-such-user",
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True, "default_route": "r"}],
            "certificates": [{"cert": cert.cert, "key": cert.key, "default": True}],
            "routes": [{"name": "r", "backends": [f"127.0.0.1:{self.refused_port()}"]}],
        }
        path = self.write_file("router.yaml", to_yaml(config))
        result = self.run_cmd([self.binary, "-c", str(path)])
        err = result.stderr.decode()
        self.assertEqual(result.returncode, 1, err)
        self.assertIn("got-no-such-user", err)
        self.assertRegex(err, r"does not exist|unknown user|no such user")


class SocketActivation(OperationsCase):
    def test_listen_fds(self):
        """LISTEN_FDS/LISTEN_PID: the router serves on the inherited socket and says so."""
        listener = socket.socket()
        self.addCleanup(listener.close)
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        port = listener.getsockname()[1]
        cert = self.make_cert("a", ["a.test"], "got-test-a")
        backend = self.start_backend("L")
        config = {
            "listeners": [{"address": f"127.0.0.1:{port}", "plaintext": True, "tls": True,
                           "default_route": "legacy"}],
            "certificates": [{"cert": cert.cert, "key": cert.key, "default": True}],
            "routes": [{"name": "legacy", "backends": [backend.address]}],
        }
        path = self.write_file("router.yaml", to_yaml(config))
        fd = listener.fileno()
        # The shell moves the socket to fd 3 and sets LISTEN_PID to its own pid, which exec keeps.
        move = "" if fd == 3 else f"exec 3<&{fd} {fd}<&-; "
        script = move + 'export LISTEN_FDS=1 LISTEN_PID=$$; exec "$0" -c "$1"'
        proc = self.spawn(["bash", "-c", script, self.binary, str(path)], pass_fds=(fd,),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        router = Router(proc, 1)
        self._routers.append(router)
        self.assertEqual(router.port, port)
        self.assertIsNotNone(router.err.wait_for(lambda l: l.endswith("[socket from systemd]"), MARGIN),
                             "no '[socket from systemd]' listening line")
        listener.close()  # only the router's copy is left
        self.assertEqual(plain_request(port, b"sa\r\n"), reply("L", "sa"))


if __name__ == "__main__":
    unittest.main()
