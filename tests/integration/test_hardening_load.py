"""Hardening, resources: slow clients, connection caps, descriptor exhaustion, a slow
reader. Many sockets are driven by one selectors loop (SocketCrowd)."""

import multiprocessing
import socket
import sys
import time
import unittest

from harness import (MARGIN, ERROR_ITEM, HardeningTestCase, SocketCrowd, gopher_backend,
                     limit_hits, percentile, plain_request, proc_cpu_seconds, proc_fd_count,
                     proc_rss_kib, raw_client_hello, read_until_close, tls_connect, tls_records)
from ctest_manifest import ctest

EARLY = 0.5  # how much sooner than configured a deadline may fire (timer granularity)


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def tls_request(port, server_hostname, selector, timeout=10):
    with tls_connect(port, server_hostname, timeout=timeout) as sock:
        sock.sendall(f"{selector}\r\n".encode())
        return read_until_close(sock, timeout)[0]


def request_from(source, port, selector, timeout=10):
    """A plaintext request from a chosen loopback source address; returns the reply."""
    with socket.socket() as sock:
        sock.bind((source, 0))
        sock.settimeout(timeout)
        sock.connect(("127.0.0.1", port))
        sock.sendall(f"{selector}\r\n".encode())
        return read_until_close(sock, timeout)[0]


def assert_refused_now(test, port, source):
    """A new connection from `source` is closed at once, with no reply."""
    start = time.monotonic()
    try:
        got = request_from(source, port, "over-limit", timeout=MARGIN)
    except (ConnectionResetError, BrokenPipeError):
        got = b""  # reset while connecting or sending: refused at once, as intended
    test.assertEqual(got, b"", f"a connection from {source} over the limit was served")
    test.assertLess(time.monotonic() - start, MARGIN)


def assert_serves_soon(test, port, source, timeout=MARGIN + 4):
    """A request from `source` succeeds within `timeout` (the router may need a moment to see closes)."""
    deadline = time.monotonic() + timeout
    while True:
        got = b""
        try:
            got = request_from(source, port, "sel", timeout=5)
        except OSError:
            pass
        if got == reply("L", "sel"):
            return
        if time.monotonic() > deadline:
            test.fail(f"no successful request from {source} within {timeout}s (last {got!r})")
        time.sleep(0.2)


class Probe:
    """Sequential requests (a fresh connection each) in a child process, so the probe's
    latency is not inflated by this process's socket crowd holding the GIL."""

    def __init__(self, port, tls):
        self.port, self.tls = port, tls
        self.latencies, self.failures = [], []
        self._stop = multiprocessing.Event()
        self._results = multiprocessing.Queue()
        self._proc = None

    @staticmethod
    def _one(port, tls, latencies, failures):
        start = time.monotonic()
        try:
            if tls:
                got, want = tls_request(port, "a.test", "probe"), reply("A", "probe")
            else:
                got, want = plain_request(port, b"probe\r\n", 10), reply("L", "probe")
        except (OSError, TimeoutError) as err:
            failures.append(repr(err))
            return
        if got != want:
            failures.append(f"bad reply {got[:100]!r}")
            return
        latencies.append(time.monotonic() - start)

    @staticmethod
    def _run(port, tls, stop, results, seconds):
        latencies, failures = [], []
        end = time.monotonic() + seconds if seconds else None
        while not stop.is_set() and (end is None or time.monotonic() < end):
            Probe._one(port, tls, latencies, failures)
            time.sleep(0.005)
        results.put((latencies, failures))

    def start(self, seconds=None):
        ctx = multiprocessing.get_context("fork")
        self._proc = ctx.Process(target=Probe._run, daemon=True,
                                 args=(self.port, self.tls, self._stop, self._results, seconds))
        self._proc.start()

    def finish(self, timeout=30):
        """Stops the probe (if still running) and collects its latencies and failures."""
        self._stop.set()
        self.latencies, self.failures = self._results.get(timeout=timeout)
        self._proc.join(timeout)
        return self

    def measure(self, seconds):
        """Probes for `seconds` with nothing else going on (a baseline)."""
        self.start(seconds)
        self._proc.join(seconds + 30)
        return self.finish()


class SlowClients(HardeningTestCase):
    """300 drippers that never finish a selector or a ClientHello, and a probe client."""

    HANDSHAKE = 3.0
    COUNT = 300
    DRIP_EVERY = 2.0
    OPEN_PACE = 0.005  # 300 connections over about 1.5 s
    BASELINE = 4.0

    def setUp(self):
        super().setUp()
        # The idle timeout is long on purpose: the deadline under test is timeouts.handshake.
        self.start_router_with(self.standard_hardening_config(
            timeouts={"handshake": f"{self.HANDSHAKE:g}s", "idle": "20s"}))

    # The p99 check is a timing check on a shared 2-core machine: a burst of someone
    # else's work in the middle of the attack can push five of 500 probe requests over
    # budget, and the baselines on either side cannot see it. An attack that really
    # slows the probe (a blocked loop, a busy loop, work per drip) does so in every
    # round, so the attack runs again, up to ATTEMPTS rounds, before the p99 check fails.
    # Every other assertion holds in every round.
    ATTEMPTS = 2

    def run_attack(self, data, probe_tls):
        for attempt in range(1, self.ATTEMPTS + 1):
            members, verdict = self.attack_round(data, probe_tls)
            sys.stderr.write(f"\nround {attempt}: {verdict}\n")
            if verdict.startswith("ok"):
                return members
        self.fail(f"{verdict} (in each of {self.ATTEMPTS} rounds)")

    def attack_round(self, data, probe_tls):
        """One attack; asserts what must hold every time, and returns the members and
        the p99 verdict: "ok: ..." or why the probe's p99 was over budget."""
        before = Probe(self.port, probe_tls).measure(self.BASELINE)
        self.assertEqual(before.failures, [], "probe failed before the attack")
        self.assertGreater(len(before.latencies), 20)

        probe = Probe(self.port, probe_tls)
        with SocketCrowd() as crowd:
            probe.start()
            try:
                crowd.open(self.port, self.COUNT, pace=self.OPEN_PACE)
                until = time.monotonic() + self.HANDSHAKE + MARGIN + 2
                crowd.drip(data, self.DRIP_EVERY, until)
                crowd.poll(0.2)
            finally:
                probe.finish()
            still_open = crowd.open_members()
            members = list(crowd.members)
        # The machine is shared: a baseline on each side of the attack, so a change in
        # background load during the test does not read as the attack's doing.
        after = Probe(self.port, probe_tls).measure(self.BASELINE / 2)
        self.assertEqual(after.failures, [], "probe failed after the attack")

        closed_replies = sorted({m["data"][:60] for m in members if m["closed"] is not None})
        self.assertEqual(
            len(still_open), 0,
            f"{len(still_open)} of {self.COUNT} drippers still open "
            f"{self.HANDSHAKE + MARGIN:g}s+ after connecting (timeouts.handshake {self.HANDSHAKE:g}s); "
            f"bytes sent by one: {max((m['sent'] for m in still_open), default=0)}; "
            f"the closed ones got {closed_replies}")
        delays = sorted(m["closed"] - m["connected"] for m in members)
        self.assertGreaterEqual(delays[0], self.HANDSHAKE - EARLY, "a dripper was closed before its deadline")
        self.assertLessEqual(delays[-1], self.HANDSHAKE + MARGIN, "a dripper was closed late")

        self.assertEqual(probe.failures, [], "probe requests failed during the attack")
        self.assertGreater(len(probe.latencies), 20)
        before_p99 = percentile(before.latencies, 0.99)
        after_p99 = percentile(after.latencies, 0.99)
        base_p99 = max(before_p99, after_p99)
        attack_p99 = percentile(probe.latencies, 0.99)
        # 2x the baseline p99; at least 10 ms of slack for a noisy 2-core machine.
        allowed = max(2 * base_p99, base_p99 + 0.010)
        figures = (f"probe p99 {attack_p99 * 1000:.1f} ms under attack (allowed {allowed * 1000:.1f}), "
                   f"before {before_p99 * 1000:.1f} ms, after {after_p99 * 1000:.1f} ms "
                   f"({len(probe.latencies)} vs {len(before.latencies)} + {len(after.latencies)} requests)")
        return members, ("ok: " if attack_p99 <= allowed else "over budget: ") + figures

    @ctest(timeout=120, serial=True)
    def test_tls_drippers_cut_at_handshake_deadline(self):
        """300 clients dripping a ClientHello (1 byte / 2 s): all closed at timeouts.handshake; probe p99 < 2x."""
        members = self.run_attack(raw_client_hello("a.test"), probe_tls=True)
        for m in members:
            tls_records(m["data"])  # only TLS records (an alert at most), no junk
            self.assertNotIn(b"selector=", m["data"])
        # Only the probe's requests reached a backend.
        self.assertEqual({r for b in self.backends.values() for r in b.requests()}, {"'probe'"})

    @ctest(timeout=120, serial=True)
    def test_plaintext_drippers_cut_at_handshake_deadline(self):
        """300 clients dripping a selector without its line end (1 byte / 2 s): all closed at timeouts.handshake; probe p99 < 2x."""
        members = self.run_attack(b"slow/selector/that/never/ends/" * 4, probe_tls=False)
        for m in members:
            self.assertTrue(m["data"] == b"" or ERROR_ITEM.match(m["data"]), m["data"][:200])


class ConnectionCaps(HardeningTestCase):
    N = 50
    EXTRA = 100

    def setUp(self):
        super().setUp()
        # Long timeouts: the held connections stay until the test closes them.
        self.start_router_with(self.standard_hardening_config(
            timeouts={"handshake": "60s", "idle": "60s"},
            limits={"max_connections": self.N},
            admin={"address": "127.0.0.1:0"}))

    def assert_refused_now(self, source="127.0.0.1"):
        assert_refused_now(self, self.port, source)

    def assert_serves_soon(self, source="127.0.0.1"):
        assert_serves_soon(self, self.port, source)

    @ctest(timeout=90)
    def test_max_connections_refuses_extra_and_recovers(self):
        """max_connections N: of N+100 idle connections the extra 100 are closed at once; service resumes."""
        started = time.monotonic()
        with SocketCrowd() as crowd:
            crowd.open(self.port, self.N + self.EXTRA, pace=0.002)
            crowd.poll(3.0)
            held = crowd.open_members()
            refused = [m for m in crowd.members if m["closed"] is not None]
            self.assertEqual(len(held), self.N, f"{len(refused)} refused")
            self.assertEqual(len(refused), self.EXTRA)
            for m in refused:
                self.assertEqual(m["data"], b"")
            # At the limit: refused; the held connections are untouched.
            self.assert_refused_now()
            crowd.poll(0.5)
            self.assertEqual(len(crowd.open_members()), self.N, "held connections were closed")

            # A held connection still works: its request goes through.
            with crowd.detach(held[0]) as sock:
                sock.sendall(b"held\r\n")
                self.assertEqual(read_until_close(sock, 10)[0], reply("L", "held"))

            # Release a few more: new requests succeed.
            crowd.close(crowd.open_members()[:5])
            self.assert_serves_soon()
            self.assertEqual(tls_request(self.port, "a.test", "tls"), reply("A", "tls"))

        # Everything released: the full N fit again, and one more is refused.
        time.sleep(1.0)
        with SocketCrowd() as crowd:
            crowd.open(self.port, self.N, pace=0.002)
            crowd.poll(2.0)
            self.assertEqual(len(crowd.open_members()), self.N, "not all N slots came back")
            self.assert_refused_now()
        self.assert_serves_soon()

        hits = limit_hits(self.router, "max_connections")
        self.assertIsNotNone(hits, "no got_router_limit_hits_total{limit=\"max_connections\"} sample")
        self.assertGreaterEqual(hits, self.EXTRA + 2)
        warnings = [l for l in self.router.err.snapshot() if "max_connections" in l and "per_ip" not in l]
        elapsed = time.monotonic() - started
        self.assertGreater(len(warnings), 0, "limit hits were not logged")
        self.assertLessEqual(len(warnings), int(elapsed) + 2, "limit hits logged more than once a second")


class PerIpCaps(HardeningTestCase):
    PER_IP = 20

    def setUp(self):
        super().setUp()
        self.start_router_with(self.standard_hardening_config(
            timeouts={"handshake": "60s", "idle": "60s"},
            limits={"max_connections_per_ip": self.PER_IP},
            admin={"address": "127.0.0.1:0"}))

    @ctest(timeout=90)
    def test_max_connections_per_ip(self):
        """max_connections_per_ip: 127.0.0.1 is capped, 127.0.0.2 is served, and 127.0.0.1 recovers."""
        def refused_now(source):
            assert_refused_now(self, self.port, source)

        def serves_soon(source):
            assert_serves_soon(self, self.port, source)

        with SocketCrowd() as crowd:
            crowd.open(self.port, 2 * self.PER_IP, source="127.0.0.1", pace=0.002)
            crowd.poll(2.0)
            self.assertEqual(len(crowd.open_members()), self.PER_IP)
            refused_now("127.0.0.1")
            # Another address is not affected, up to its own cap.
            serves_soon("127.0.0.2")
            others = crowd.open(self.port, self.PER_IP, source="127.0.0.2", pace=0.002)
            crowd.poll(2.0)
            self.assertTrue(all(m["closed"] is None for m in others), "127.0.0.2 was capped by 127.0.0.1's count")
            refused_now("127.0.0.2")
            self.assertEqual(len(crowd.open_members()), 2 * self.PER_IP)
            # 127.0.0.1 lets go of its connections: served again.
            crowd.close([m for m in crowd.open_members() if m not in others])
            serves_soon("127.0.0.1")
        hits = limit_hits(self.router, "max_connections_per_ip")
        self.assertIsNotNone(hits)
        self.assertGreaterEqual(hits, self.PER_IP + 2)


class FdExhaustion(HardeningTestCase):
    NOFILE = 128
    ATTEMPTS = 300
    WINDOW = 3.0

    @ctest(timeout=90, serial=True)
    def test_no_busy_loop_at_fd_limit(self):
        """Under prlimit --nofile=128, 300 held connections: router CPU < 5% at the limit; then it serves again."""
        config = self.standard_hardening_config(timeouts={"handshake": "60s", "idle": "60s"})
        router = self.start_router_with(
            config, prefix=["prlimit", f"--nofile={self.NOFILE}:{self.NOFILE}", "--"])
        pid = router.proc.pid
        self.assertEqual(plain_request(self.port, b"warm\r\n", 10), reply("L", "warm"))
        with SocketCrowd() as crowd:
            crowd.open(self.port, self.ATTEMPTS, pace=0.001)
            # Wait until the router holds (nearly) all the descriptors it may have.
            reached = self.wait_until(lambda: proc_fd_count(pid) >= self.NOFILE - 2, 15)
            self.assertTrue(reached, f"router has {proc_fd_count(pid)} fds, expected ~{self.NOFILE}")
            emfile = self.router.err.wait_for(lambda l: "Too many open files" in l, 10)
            self.assertIsNotNone(emfile, "no accept failure logged at the descriptor limit")
            time.sleep(0.5)
            before = proc_cpu_seconds(pid)
            t0 = time.monotonic()
            crowd.poll(self.WINDOW)
            used = (proc_cpu_seconds(pid) - before) / (time.monotonic() - t0)
            sys.stderr.write(f"\nrouter CPU at the descriptor limit: {used:.1%} "
                             f"({proc_fd_count(pid)} fds)\n")
            self.assertLess(used, 0.05, f"router used {used:.1%} CPU while at the descriptor limit")
            self.assertGreaterEqual(proc_fd_count(pid), self.NOFILE - 8, "left the limit during the window")
        # All released: the queue drains and requests succeed again.
        deadline = time.monotonic() + 20
        got = b""
        while time.monotonic() < deadline:
            try:
                got = plain_request(self.port, b"after\r\n", 5)
            except OSError:
                got = b""
            if got == reply("L", "after"):
                break
            time.sleep(0.2)
        self.assertEqual(got, reply("L", "after"))
        self.assertEqual(tls_request(self.port, "a.test", "after"), reply("A", "after"))
        limit_line = [l for l in self.router.err.snapshot() if "open-file limit" in l]
        self.assertTrue(limit_line and str(self.NOFILE) in limit_line[0], limit_line)


class SlowReader(HardeningTestCase):
    SIZE = 100 * 1000 * 1000
    RATE = 100 * 1000  # bytes per second
    WINDOW = 8.0
    BUDGET_KIB = 2048

    def setUp(self):
        super().setUp()
        self.start_router_with(self.standard_hardening_config(timeouts={"idle": "30s"}))

    def read_slowly(self, sock, pid):
        """Reads at RATE for WINDOW seconds, sampling the router's RSS; returns (bytes, rss samples)."""
        sock.settimeout(10)
        got = bytearray()
        samples = []
        start = time.monotonic()
        step = 0.1
        while (elapsed := time.monotonic() - start) < self.WINDOW:
            want = int(self.RATE * (elapsed + step)) - len(got)
            while want > 0:
                chunk = sock.recv(min(want, 16384))
                if not chunk:
                    raise AssertionError(f"reply ended after {len(got)} bytes")
                got += chunk
                want -= len(chunk)
            samples.append(proc_rss_kib(pid))
            time.sleep(step)
        return bytes(got), samples

    def check(self, connect, warm):
        pid = self.router.proc.pid
        self.assertTrue(warm())  # allocate what a first transfer allocates
        rss0 = proc_rss_kib(pid)
        with connect() as sock:
            sock.sendall(f"size/{self.SIZE}\r\n".encode())
            got, samples = self.read_slowly(sock, pid)
        # It really was slow, and correct.
        self.assertLess(len(got), self.RATE * (self.WINDOW + 2))
        self.assertEqual(got, gopher_backend.expected_bytes(len(got)))
        growth = max(samples) - rss0
        sys.stderr.write(f"\nrouter RSS {rss0} KiB before, max {max(samples)} KiB during; "
                         f"{len(got)} bytes read\n")
        self.assertLess(growth, self.BUDGET_KIB,
                        f"router RSS grew {growth} KiB (from {rss0} KiB) during a slow read; "
                        f"samples {samples[::10]}")

    @ctest(timeout=90)
    def test_slow_reader_plaintext_rss_flat(self):
        """A 100 MB plaintext reply read at 100 KB/s: the router's RSS grows < 2 MiB (backpressure)."""
        self.check(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=10),
                   lambda: len(plain_request(self.port, b"size/2000000\r\n")) == 2000000)

    @ctest(timeout=90)
    def test_slow_reader_tls_rss_flat(self):
        """A 100 MB TLS reply read at 100 KB/s: the router's RSS grows < 2 MiB (backpressure)."""
        def warm():
            with tls_connect(self.port, "a.test") as sock:
                sock.sendall(b"size/2000000\r\n")
                return len(read_until_close(sock)[0]) == 2000000
        self.check(lambda: tls_connect(self.port, "a.test"), warm)


if __name__ == "__main__":
    unittest.main()
