"""Fault injection: backend resets, blackholes and half-closes, client resets, a lossy link.

A fault relay (tests/support/fault_relay.py) sits between got-router and a test
backend and breaks the connection on cue; its event lines say when the router
closed its side. The lossy-link test runs everything in a private network
namespace with `tc tbf` and `iptables -m statistic` random drop.
"""

import concurrent.futures
import hashlib
import os
import shutil
import socket
import struct
import sys
import time
import unittest

from harness import (CONNECT_TIMEOUT, ERROR_ITEM, IDLE_TIMEOUT, MARGIN, PIPES_KEPT_PER_LOOP,
                     BioTlsClient, HalfClosingBackend, RouterTestCase, enter_private_netns,
                     plain_request, proc_fd_count, proc_pipe_count, process_tcp_states,
                     read_until_close, start_relay, tls_connect)
from ctest_manifest import ctest
from gopher_backend import expected_bytes, expected_sha256

FAULTY = "faulty.test"
# The router must close the backend side well before any timeout would (idle is 3 s).
PROMPT = 1.0


def rst_close(sock):
    """Closes a socket abortively (RST)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class FaultCase(RouterTestCase):
    """The standard topology plus route `faulty` (SNI faulty.test, and the plaintext
    default route) whose backends are `faulty_backends`."""

    def start_faulty(self, faulty_backends, retries=None, timeouts=None):
        route = {"name": "faulty", "sni": [FAULTY], "backends": faulty_backends}
        if retries is not None:
            route["retries"] = retries
        self.start_standard(timeouts=timeouts, extra_routes=[route],
                            listener={"default_route": "faulty"})

    def relayed_backend(self, *options):
        """A test backend behind a fault relay; returns (backend, relay)."""
        backend = self.start_backend("F")
        return backend, start_relay(self, backend.address, *options)

    def tls_fetch(self, selector, timeout=20):
        client = BioTlsClient(self.port, FAULTY, timeout=timeout)
        self.addCleanup(client.close)
        client.handshake()
        client.send(selector + b"\r\n")
        return client, client.read_until_end(timeout)


class BackendFaults(FaultCase):
    def test_backend_eof_close_notify_then_fin(self):
        """Backend closes (FIN) mid-stream: the client gets those bytes, close_notify, then FIN."""
        _, relay = self.relayed_backend("--close-after", "30000")
        self.start_faulty([relay.address])
        client, data = self.tls_fetch(b"size/100000")
        self.assertEqual(len(data), 30000)
        self.assertEqual(data, expected_bytes(30000))
        self.assertEqual(client.ending, "close_notify")
        self.assertTrue(client.tcp_eof_follows(), "no FIN after close_notify")

    def test_backend_reset_mid_reply_tls(self):
        """Backend RST mid-reply: TLS client gets a truncated prefix and an abortive close, no close_notify."""
        _, relay = self.relayed_backend("--reset-after", "100000", "--reset-side", "down")
        self.start_faulty([relay.address])
        client, data = self.tls_fetch(b"size/1000000")
        self.assertIsNotNone(relay.wait_event("FAULT", MARGIN), "relay never reset")
        self.assertLess(len(data), 1000000)
        self.assertEqual(data, expected_bytes(len(data)), "truncated reply is not a prefix")
        self.assertNotEqual(client.ending, "close_notify",
                            "backend reset ended the TLS stream with close_notify: a partial reply looks complete")
        self.assertEqual(client.ending, "reset", "expected an abortive close (RST)")

    def test_backend_reset_mid_reply_plaintext_and_curl(self):
        """Backend RST mid-reply: plaintext client sees RST; curl gophers:// reports a failed transfer."""
        _, relay = self.relayed_backend("--reset-after", "100000", "--reset-side", "down")
        self.start_faulty([relay.address])
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(b"size/1000000\r\n")
            data, how = read_until_close(sock)
        self.assertLess(len(data), 1000000)
        self.assertEqual(data, expected_bytes(len(data)))
        self.assertEqual(how, "reset", "plaintext client should see an abortive close")
        out = self.dir / "curl.out"
        result = self.run_cmd(["curl", "-sSk", "--max-time", "15", "--connect-to",
                               f"{FAULTY}:70:127.0.0.1:{self.port}",
                               f"gophers://{FAULTY}/0size/1000000", "-o", str(out)])
        self.assertNotEqual(result.returncode, 0,
                            f"curl reported success on a reset reply ({out.stat().st_size} bytes)")

    def test_client_reset_mid_reply_closes_backend(self):
        """Client RST mid-reply: the router closes its backend socket at once, no descriptor leak."""
        _, relay = self.relayed_backend()
        self.start_faulty([relay.address])
        pid = self.router.proc.pid
        client, _ = self.tls_fetch(b"warm")  # the first connection opens whatever the router keeps
        client.close()
        time.sleep(0.5)
        baseline = proc_fd_count(pid, pipes=False)
        for transport in ("tls", "plain"):
            with self.subTest(transport=transport):
                mark = len(relay.out.snapshot())
                if transport == "tls":
                    sock = tls_connect(self.port, FAULTY)
                else:
                    sock = socket.create_connection(("127.0.0.1", self.port), timeout=20)
                sock.sendall(b"size/500000000\r\n")
                got = 0
                while got < 200000:
                    got += len(sock.recv(65536))
                reset_at = time.monotonic()
                rst_close(socket.socket(fileno=sock.detach()))  # the TCP socket under TLS too
                # The router's side of the relay is "down".
                line = relay.out.wait_for(lambda l: l.startswith("CLOSED ") and l.split()[2] == "down",
                                          IDLE_TIMEOUT + MARGIN, mark)
                elapsed = time.monotonic() - reset_at
                self.assertIsNotNone(line, "router never closed the backend connection")
                self.assertLess(elapsed, PROMPT, f"backend closed {elapsed:.2f}s after the client reset: {line}")
                fields = self.router.wait_access(lambda f: f.get("outcome") == "client_reset"
                                                 and f.get("transport") == transport, timeout=MARGIN)
                self.assertIsNotNone(fields, "no access line with outcome=client_reset")
        self.assertTrue(self.wait_fds(pid, baseline), f"fds {proc_fd_count(pid, pipes=False)} != baseline {baseline}")

    def wait_fds(self, pid, baseline, timeout=5):
        deadline = time.monotonic() + timeout
        while proc_fd_count(pid, pipes=False) != baseline and time.monotonic() < deadline:
            time.sleep(0.1)
        return proc_fd_count(pid, pipes=False) == baseline


class Blackhole(FaultCase):
    def test_blackholed_backends_error_item(self):
        """Every backend blackholed: connect timeouts, retries, then the `3...` error item."""
        holes = [f"127.0.0.1:{self.blackhole_port()}" for _ in range(2)]
        self.start_faulty(holes, retries=1)
        start = time.monotonic()
        client, data = self.tls_fetch(b"anything", timeout=CONNECT_TIMEOUT * 2 + MARGIN + 5)
        elapsed = time.monotonic() - start
        self.assertRegex(data, ERROR_ITEM)
        self.assertEqual(client.ending, "close_notify")
        # Two attempts (retries: 1), each bounded by timeouts.connect.
        self.assertGreaterEqual(elapsed, 2 * CONNECT_TIMEOUT - 0.3, "error item before two connect timeouts")
        self.assertLess(elapsed, 2 * CONNECT_TIMEOUT + MARGIN)
        fields = self.router.wait_access(lambda f: f.get("sni") == FAULTY)
        self.assertEqual(fields.get("outcome"), "backend_timeout", fields)
        self.assertEqual(plain_request(self.port, b"x\r\n", timeout=CONNECT_TIMEOUT * 2 + MARGIN + 5)[:1], b"3")

    def test_blackholed_backend_retried_on_next(self):
        """One backend blackholed, one live: every request succeeds, one after a connect timeout."""
        hole = f"127.0.0.1:{self.blackhole_port()}"
        live = self.start_backend("F")
        self.start_faulty([hole, live.address], retries=1)
        durations = []
        for _ in range(4):
            start = time.monotonic()
            client, data = self.tls_fetch(b"who", timeout=CONNECT_TIMEOUT + MARGIN + 5)
            durations.append(time.monotonic() - start)
            self.assertEqual(data, b"F selector=who\r\n.\r\n")
            self.assertEqual(client.ending, "close_notify")
        self.assertGreaterEqual(max(durations), CONNECT_TIMEOUT - 0.3,
                                f"no request waited for the blackholed backend: {durations}")
        self.assertLess(max(durations), CONNECT_TIMEOUT + MARGIN, durations)


class BackendHalfClose(FaultCase):
    REPLY = expected_bytes(200000)

    def setUp(self):
        super().setUp()
        self.backend = HalfClosingBackend(self.REPLY)
        self.addCleanup(self.backend.close)
        self.start_faulty([self.backend.address])

    def test_backend_half_close_tls(self):
        """Backend shuts down its write side first: whole reply, close_notify, FIN; then the backend sees EOF."""
        client, data = self.tls_fetch(b"x")
        self.assertEqual(len(data), len(self.REPLY))
        self.assertEqual(data, self.REPLY)
        self.assertEqual(client.ending, "close_notify")
        self.assertTrue(client.tcp_eof_follows(), "no FIN after close_notify")
        client.close()
        self.assertTrue(self.wait_backend_event(), "backend connection never closed by the router")
        self.assertIn(self.backend.events[0][0], ("eof", "reset"))

    def test_backend_half_close_plaintext(self):
        """Plaintext: the whole reply, then a clean FIN."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(b"x\r\n")
            data, how = read_until_close(sock)
        self.assertEqual(data, self.REPLY)
        self.assertEqual(how, "eof")
        self.assertTrue(self.wait_backend_event(), "backend connection never closed by the router")

    def wait_backend_event(self, timeout=IDLE_TIMEOUT + MARGIN):
        deadline = time.monotonic() + timeout
        while not self.backend.events and time.monotonic() < deadline:
            time.sleep(0.05)
        return bool(self.backend.events)


class HalfCloseLoop(FaultCase):
    ITERATIONS = 1000

    # Counts CLOSE-WAIT sockets and descriptors of the router: alone, so nothing else skews them.
    @ctest(timeout=120, serial=True)
    def test_half_close_1000_no_close_wait(self):
        """1,000 client half-closes (plaintext and TLS): full replies, then no CLOSE-WAIT and no fd growth."""
        backend = self.start_backend("F")
        self.start_faulty([backend.address])
        pid = self.router.proc.pid
        self.one_plain(0)
        self.one_tls(0)
        time.sleep(0.5)
        baseline = proc_fd_count(pid, pipes=False)
        start = time.monotonic()
        for i in range(self.ITERATIONS):
            (self.one_plain if i % 2 == 0 else self.one_tls)(i)
        elapsed = time.monotonic() - start
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            states = process_tcp_states(pid)
            if not states.get("CLOSE-WAIT") and proc_fd_count(pid, pipes=False) == baseline:
                break
            time.sleep(0.2)
        states = process_tcp_states(pid)
        self.assertEqual(states.get("CLOSE-WAIT", 0), 0, f"router sockets in CLOSE-WAIT: {states}")
        self.assertEqual(proc_fd_count(pid, pipes=False), baseline, f"fds not back to baseline; sockets: {states}")
        # Pipes for splice(2) are kept for reuse, a bounded number per event loop.
        loops = os.cpu_count()
        self.assertLessEqual(proc_pipe_count(pid), 2 * PIPES_KEPT_PER_LOOP * loops)
        sys.stderr.write(f"\n  {self.ITERATIONS} half-closes in {elapsed:.1f}s; router sockets after: {states}\n")

    def one_plain(self, i):
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(f"hc{i}\r\n".encode())
            sock.shutdown(socket.SHUT_WR)
            data, how = read_until_close(sock)
        self.assertEqual((data, how), (f"F selector=hc{i}\r\n.\r\n".encode(), "eof"), f"iteration {i}")

    def one_tls(self, i):
        client = BioTlsClient(self.port, FAULTY)
        try:
            client.handshake()
            client.send(f"hc{i}\r\n".encode())
            client.send_close_notify()
            client.sock.shutdown(socket.SHUT_WR)
            data = client.read_until_end()
            self.assertEqual((data, client.ending), (f"F selector=hc{i}\r\n.\r\n".encode(), "close_notify"),
                             f"iteration {i}")
        finally:
            client.close()


class LossyLink(FaultCase):
    FETCHES = int(os.environ.get("GOT_LOSSY_FETCHES", "200"))
    SIZE = 1 << 20
    CONCURRENCY = 8

    def setUp(self):
        for tool in ("ip", "tc", "iptables"):
            if not shutil.which(tool):
                self.skipTest(f"{tool} not installed (scripts/install-deps.sh installs iproute2 and iptables)")
        try:
            restore = enter_private_netns()
        except OSError as err:
            self.skipTest(f"no private network namespace: {err}")
        self.addCleanup(restore)
        super().setUp()

    def sh(self, *args):
        result = self.run_cmd(list(args))
        if result.returncode != 0:
            self.skipTest(f"kernel refused `{' '.join(args)}`: {result.stderr.decode().strip()}")

    # 200 MB through an 8 Mbit (1 MB/s) bucket with 2% drop: about 4 minutes, needs root (unshare -n).
    # Not serial: the link, not the CPU, bounds it (a few % of one core), and it lives in its
    # own network namespace (its own lo, tc qdiscs and iptables rules), so it runs beside the
    # other tests instead of holding the whole machine for 4 minutes.
    # Started first (ctest starts the highest COST first; after a run, CTestCostData.txt has
    # its real time, still the longest): without the cost, it would only start once the other
    # tests are nearly done, and run alone after all.
    @ctest(timeout=600, cost=1000)
    def test_lossy_throttled_link_1mb_fetches_intact(self):
        """8 Mbit tbf on the client<->router hop, 2% random drop on every packet: 200 TLS 1 MB fetches arrive intact."""
        self.sh("ip", "link", "set", "lo", "up")
        self.sh("ip", "link", "set", "lo", "mtu", "1500")
        backend = self.start_backend("F")
        # Long timeouts: this test is about integrity under loss, not about timers.
        self.start_faulty([backend.address],
                          timeouts={"handshake": "60s", "connect": "30s", "idle": "60s"})
        port = str(self.port)
        # tbf throttles the client<->router hop (8 Mbit = 1 MB/s: 200 MB need >= 200 s);
        # the router<->backend hop stays on an unthrottled band, else every byte would cross
        # the 8 Mbit bucket twice. Random drop applies to every packet on lo.
        # htb only classifies (both classes far faster than the link); the tbf leaf is the link.
        self.sh("tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "20",
                "r2q", "100000")
        for classid in ("1:10", "1:20"):
            self.sh("tc", "class", "add", "dev", "lo", "parent", "1:", "classid", classid,
                    "htb", "rate", "10gbit")
        self.sh("tc", "qdisc", "add", "dev", "lo", "parent", "1:10", "handle", "10:", "tbf",
                "rate", "8mbit", "burst", "32kbit", "latency", "400ms")
        for match in ("sport", "dport"):
            self.sh("tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1",
                    "u32", "match", "ip", match, port, "0xffff", "flowid", "1:10")
        self.sh("iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random",
                "--probability", "0.02", "-j", "DROP")
        expected = expected_sha256(self.SIZE)
        selector = f"size/{self.SIZE}\r\n".encode()

        def fetch(i):
            client = BioTlsClient(self.port, FAULTY, timeout=120)
            try:
                client.handshake()
                client.send(selector)
                data = client.read_until_end(240)
                return i, len(data), hashlib.sha256(data).hexdigest(), client.ending
            finally:
                client.close()

        start = time.monotonic()
        bad = []
        with concurrent.futures.ThreadPoolExecutor(self.CONCURRENCY) as pool:
            for i, size, digest, ending in pool.map(fetch, range(self.FETCHES)):
                if size != self.SIZE or digest != expected or ending != "close_notify":
                    bad.append((i, size, ending))
        elapsed = time.monotonic() - start
        drops = self.run_cmd(["iptables", "-L", "INPUT", "-v", "-n", "-x"]).stdout.decode()
        stats = self.run_cmd(["tc", "-s", "qdisc", "show", "dev", "lo"]).stdout.decode()
        sys.stderr.write(f"\n  {self.FETCHES} x 1 MB over 8 Mbit + 2% drop in {elapsed:.0f}s\n{drops}\n")
        self.assertEqual(bad, [], f"fetches not intact (index, bytes, ending); tc:\n{stats}")


if __name__ == "__main__":
    unittest.main()
