"""Backend pools: balancing, active and passive health checks, failover,
backups, max_connections. Real backends that the tests start, kill and freeze.

Every route here is `pool` on a plaintext+TLS listener whose default route it is;
requests are mostly plaintext (cheap), and who answered is read from the reply
(`NAME selector=...`), which the test backend writes with its --name. Exact splits
use `threads: 1` and sequential clients.
"""

import collections
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

from harness import (BACKEND_SCRIPT, CLIENT_TIMEOUT, ERROR_ITEM, MARGIN, Backend,
                     RouterTestCase, read_until_close, tls_connect, to_yaml)
from ctest_manifest import ctest

ROUTE = "pool"
REPLY = re.compile(rb"\A(\w+) selector=([^\r\n]*)\r\n\.\r\n\Z")
ADMIN = re.compile(r"admin endpoint on http://127\.0\.0\.1:(\d+)")

# Health checks fast enough for tests. The timeout must be shorter than the interval.
TCP_HEALTH = {"interval": "200ms", "timeout": "150ms", "fall": 3, "rise": 2}
SELECTOR_HEALTH = {"interval": "400ms", "timeout": "300ms", "fall": 2, "rise": 2,
                   "selector": "probe", "expect": "selector=probe"}


def seconds(text):
    """'200ms' -> 0.2, '2s' -> 2.0 (the two forms used here)."""
    return int(text[:-2]) / 1000 if text.endswith("ms") else float(text[:-1])


class PoolTestCase(RouterTestCase):
    """A router with one route `pool` over backends the test controls."""

    # -- backends

    def start_backend_at(self, name, port=0, host="127.0.0.1"):
        """A gopher_backend.py on host:port (0: any); port reuse works (SO_REUSEADDR)."""
        proc = self.spawn(
            [sys.executable, str(BACKEND_SCRIPT), "--host", host, "--port", str(port),
             "--name", name],
            stdout=subprocess.PIPE,
        )
        return Backend(proc, name)

    def start_backends(self, *names):
        return {name: self.start_backend_at(name) for name in names}

    def kill_backend(self, backend):
        backend.proc.kill()
        backend.proc.wait(timeout=10)

    def restart_backend(self, backend):
        """A new process with the same name on the same port."""
        return self.start_backend_at(backend.name, backend.port)

    def freeze(self, backend):
        """SIGSTOP: the kernel still completes connects (listen backlog), nobody answers."""
        os.kill(backend.proc.pid, signal.SIGSTOP)

    def thaw(self, backend):
        os.kill(backend.proc.pid, signal.SIGCONT)

    # -- the router

    def start_pool(self, backends, balance=None, health=None, retries=None, timeouts=None):
        """Starts the router; `backends` are host:port strings or backend maps."""
        cert = self.make_cert("pool", ["pool.test"], "got-test-pool")
        config = {
            "threads": 1,
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                           "default_route": ROUTE}],
            "certificates": [{"cert": cert.cert, "key": cert.key, "default": True}],
            "routes": [{"name": ROUTE, "sni": ["pool.test"], "backends": backends,
                        "balance": balance, "health": health, "retries": retries}],
            "tls": {"alpn": ["gopher"], "require_alpn": False, "min_version": "1.2"},
            "timeouts": {"handshake": "2s", "connect": "1s", "idle": "30s",
                         "shutdown_grace": "1s", **(timeouts or {})},
            "admin": {"address": "127.0.0.1:0"},
            "logging": {"level": "info"},
        }
        path = self.write_file("router.yaml", to_yaml(config))
        check = self.run_cmd([self.binary, "-t", "-c", str(path)], env=self.router_environment())
        self.assertEqual(check.returncode, 0,
                         "config refused:\n" + check.stderr.decode() + check.stdout.decode()
                         + "\n" + path.read_text())
        self.router = self.start_router(path)
        self.port = self.router.port
        line = self.router.err.wait_for(ADMIN.search, MARGIN)
        self.assertIsNotNone(line, "no admin endpoint line:\n" + self.router.stderr_text())
        self.admin_port = int(ADMIN.search(line).group(1))
        return self.router

    # -- clients

    def connect(self, source=None, timeout=CLIENT_TIMEOUT):
        return socket.create_connection(("127.0.0.1", self.port), timeout=timeout,
                                        source_address=(source, 0) if source else None)

    def ask(self, selector="who", source=None, timeout=CLIENT_TIMEOUT, settle=False):
        """One plaintext request; returns the reply. settle: also wait for its access line,
        so the router has ended the connection (and counted it closed) before we go on."""
        with self.connect(source, timeout) as sock:
            client = "%s:%d" % sock.getsockname()
            sock.sendall(selector.encode() + b"\r\n")
            reply = read_until_close(sock, timeout)[0]
        if settle:
            fields = self.router.wait_access(lambda f: f.get("client") == client)
            self.assertIsNotNone(fields, f"no access line for {client}:\n"
                                 + self.router.stderr_text())
        return reply

    def who(self, reply, selector="who"):
        """The name of the backend that wrote `reply` (fails on anything else)."""
        match = REPLY.match(reply)
        self.assertIsNotNone(match, f"expected a backend's reply, got {reply!r}")
        self.assertEqual(match.group(2), selector.encode())
        return match.group(1).decode()

    def picks(self, count, **kwargs):
        """Names of the backends answering `count` sequential requests, in order."""
        return [self.who(self.ask(**kwargs)) for _ in range(count)]

    def hold_hang(self, backends, source=None):
        """Opens a connection whose backend never answers (`hang`); returns (socket, name)
        once a backend has the request."""
        before = {n: b.requests().count("'hang'") for n, b in backends.items()}
        sock = self.connect(source)
        self.addCleanup(sock.close)
        sock.sendall(b"hang\r\n")
        deadline = time.monotonic() + MARGIN
        while time.monotonic() < deadline:
            got = [n for n, b in backends.items() if b.requests().count("'hang'") > before[n]]
            if got:
                self.assertEqual(len(got), 1)
                return sock, got[0]
            time.sleep(0.01)
        self.fail("the hang request reached no backend:\n" + self.router.stderr_text())

    # -- what the router says

    def transition_re(self, backend, state):
        return re.compile(rf"backend {re.escape(backend.address)} of route {ROUTE} is {state} \(")

    def wait_transition(self, backend, state, timeout, start=0):
        """Index of the first `is down`/`is up` line for backend from line `start`."""
        pattern = self.transition_re(backend, state)
        index = self.router.err.wait_index(pattern.search, timeout, start)
        self.assertIsNotNone(index, f"{backend.name} ({backend.address}) not {state} within "
                             f"{timeout:.1f}s:\n" + self.router.stderr_text())
        return index

    def transitions(self, backend, state):
        pattern = self.transition_re(backend, state)
        return [l for l in self.router.err.snapshot() if pattern.search(l)]

    def admin_get(self, path):
        """(status, body) of a GET on the admin endpoint."""
        url = f"http://127.0.0.1:{self.admin_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def admin_metric(self, name, labels):
        """One sample from /metrics; labels: the text between the braces."""
        status, text = self.admin_get("/metrics")
        self.assertEqual(status, 200, text)
        prefix = f"{name}{{{labels}}} "
        for line in text.splitlines():
            if line.startswith(prefix):
                return float(line.split()[-1])
        self.fail(f"no {prefix.strip()} in /metrics:\n{text}")

    def metric(self, name, backend):
        """A per-backend sample from /metrics; backend: a Backend or its host:port."""
        address = backend if isinstance(backend, str) else backend.address
        return self.admin_metric(name, f'route="{ROUTE}",backend="{address}"')

    def assert_error_fast(self, limit, source=None):
        """A plaintext request gets the `3...` error item within `limit` seconds of sending it."""
        with self.connect(source) as sock:
            start = time.monotonic()
            sock.sendall(b"who\r\n")
            reply, _ = read_until_close(sock, CLIENT_TIMEOUT)
            elapsed = time.monotonic() - start
        self.assertRegex(reply, ERROR_ITEM)
        self.assertLess(elapsed, limit, f"error item after {elapsed * 1000:.0f} ms")
        return elapsed


class Balance(PoolTestCase):
    def test_round_robin_even_split(self):
        """round_robin over three backends: 300 sequential requests split exactly 100/100/100."""
        b = self.start_backends("A", "B", "C")
        self.start_pool([x.address for x in b.values()], balance="round_robin")
        order = self.picks(300)
        self.assertEqual(collections.Counter(order), {"A": 100, "B": 100, "C": 100})
        repeats = [i for i in range(1, len(order)) if order[i] == order[i - 1]]
        self.assertEqual(repeats, [], "a backend was picked twice in a row")

    def test_default_balance_is_round_robin(self):
        """Without `balance:`, two backends alternate: 50/50 over 100 requests."""
        b = self.start_backends("A", "B")
        self.start_pool([x.address for x in b.values()])
        self.assertEqual(collections.Counter(self.picks(100)), {"A": 50, "B": 50})

    def test_weighted_round_robin_smooth(self):
        """Weights 1:3 over 400 requests: 1:3 within 2% of the total, no run of more than 3 heavy picks."""
        b = self.start_backends("L", "H")
        self.start_pool([{"address": b["L"].address},  # weight defaults to 1
                         {"address": b["H"].address, "weight": 3}], balance="round_robin")
        order = self.picks(400)
        counts = collections.Counter(order)
        self.assertLessEqual(abs(counts["L"] - 100), 8, counts)
        self.assertEqual(counts["L"] + counts["H"], 400)
        runs = [len(m.group(0)) for m in re.finditer("H+", "".join(order))]
        self.assertLessEqual(max(runs), 3, "".join(order))

    def test_least_connections_prefers_fewer_open(self):
        """least_connections: with long connections held open, new work goes to the backend with fewer."""
        b = self.start_backends("A", "B")
        self.start_pool([x.address for x in b.values()], balance="least_connections")
        open_on = collections.Counter()
        _, first = self.hold_hang(b)
        open_on[first] += 1
        other = "B" if first == "A" else "A"
        # One connection open on `first`, none on `other`: every new request goes to `other`.
        self.assertEqual(set(self.picks(20, settle=True)), {other})
        # Two more long connections: least_connections keeps the open counts within one.
        for _ in range(2):
            _, name = self.hold_hang(b)
            open_on[name] += 1
            self.assertLessEqual(abs(open_on["A"] - open_on["B"]), 1, open_on)
        fewer = min(("A", "B"), key=lambda n: open_on[n])
        self.assertEqual(sorted(open_on.values()), [1, 2])
        self.assertEqual(set(self.picks(20, settle=True)), {fewer}, open_on)

    def test_random_uses_both(self):
        """random (two choices): over 100 requests both backends get at least 15."""
        b = self.start_backends("A", "B")
        self.start_pool([x.address for x in b.values()], balance="random")
        counts = collections.Counter(self.picks(100))
        self.assertEqual(sum(counts.values()), 100)
        self.assertGreaterEqual(min(counts["A"], counts["B"]), 15, counts)

    def test_source_hash_sticky_per_address(self):
        """source_hash: one client address always hits one backend; other addresses spread out."""
        b = self.start_backends("A", "B", "C")
        self.start_pool([x.address for x in b.values()], balance="source_hash")
        home = set(self.picks(30, source="127.0.0.1"))
        self.assertEqual(len(home), 1, home)
        seen = {}
        for n in range(2, 22):
            source = f"127.0.0.{n}"
            names = set(self.picks(3, source=source))
            self.assertEqual(len(names), 1, f"{source} moved between {names}")
            seen[source] = names.pop()
        # 20 addresses on 3 backends all on one: about 1 in 10^9 for a fair hash.
        self.assertGreaterEqual(len(set(seen.values())), 2, seen)
        # Stable while the set is: the same answers after all that traffic.
        self.assertEqual(set(self.picks(10, source="127.0.0.1")), home)
        for source in ("127.0.0.2", "127.0.0.9", "127.0.0.21"):
            self.assertEqual(set(self.picks(2, source=source)), {seen[source]}, source)


class Health(PoolTestCase):
    @ctest(timeout=90)
    def test_killed_backend_retried_then_skipped_then_back(self):
        """Kill one of two: no request fails, after `fall` probes no more connects to it; restarted, it gets traffic after `rise`; one down and one up line."""
        b = self.start_backends("A", "B")
        self.start_pool([x.address for x in b.values()], health=TCP_HEALTH)
        interval = seconds(TCP_HEALTH["interval"])
        self.assertEqual(collections.Counter(self.picks(20)), {"A": 10, "B": 10})

        mark = len(self.router.err.snapshot())
        self.kill_backend(b["B"])
        killed_at = time.monotonic()
        # Keep asking until the router has marked B down: every request is answered (by A).
        answers = []
        pattern = self.transition_re(b["B"], "down")
        deadline = killed_at + TCP_HEALTH["fall"] * interval + MARGIN
        while not any(pattern.search(l) for l in self.router.err.snapshot()[mark:]):
            self.assertLess(time.monotonic(), deadline,
                            "B not marked down:\n" + self.router.stderr_text())
            answers.append(self.who(self.ask()))
            time.sleep(0.02)
        self.assertEqual(set(answers) - {"A"}, set(), answers)
        # At least the first request after the kill was sent to B and retried on A.
        self.assertGreaterEqual(self.metric("got_router_backend_connect_errors_total", b["B"]), 1)

        # Down: no more connect attempts to B from traffic.
        errors = self.metric("got_router_backend_connect_errors_total", b["B"])
        self.assertEqual(self.metric("got_router_backend_up", b["B"]), 0)
        self.assertEqual(set(self.picks(40, settle=True)), {"A"})
        time.sleep(3 * interval)  # a few more probes fail meanwhile: still no traffic
        self.assertEqual(set(self.picks(10, settle=True)), {"A"})
        self.assertEqual(self.metric("got_router_backend_connect_errors_total", b["B"]), errors)
        recent = self.router.access_lines()[-50:]
        self.assertEqual({f.get("backend") for f in recent}, {b["A"].address})

        # Back on the same port: up after `rise` probes, then its share again.
        mark = len(self.router.err.snapshot())
        b["B"] = self.restart_backend(b["B"])
        self.wait_transition(b["B"], "up", TCP_HEALTH["rise"] * interval + MARGIN, mark)
        self.assertEqual(collections.Counter(self.picks(20)), {"A": 10, "B": 10})

        self.assertEqual(len(self.transitions(b["B"], "down")), 1, self.router.stderr_text())
        self.assertEqual(len(self.transitions(b["B"], "up")), 1, self.router.stderr_text())
        self.assertEqual(self.transitions(b["A"], "down") + self.transitions(b["A"], "up"), [])

    @ctest(timeout=90)
    def test_frozen_backend_fails_selector_check(self):
        """A backend that accepts but never answers (SIGSTOP) fails its health.selector check and is taken out; thawed, it is back."""
        b = self.start_backends("A", "B")
        self.start_pool([x.address for x in b.values()], health=SELECTOR_HEALTH)
        self.assertEqual(collections.Counter(self.picks(20)), {"A": 10, "B": 10})
        # The checks are real Gopher requests for the selector.
        self.assertIn("'probe'", b["A"].requests())
        self.assertIn("'probe'", b["B"].requests())

        mark = len(self.router.err.snapshot())
        self.freeze(b["B"])
        period = seconds(SELECTOR_HEALTH["interval"]) + seconds(SELECTOR_HEALTH["timeout"])
        index = self.wait_transition(b["B"], "down", SELECTOR_HEALTH["fall"] * period + MARGIN, mark)
        self.assertIn("health check", self.router.err.lines[index])
        # Every request is answered, by A, without waiting on the frozen one.
        for _ in range(30):
            start = time.monotonic()
            self.assertEqual(self.who(self.ask(timeout=5)), "A")
            self.assertLess(time.monotonic() - start, 2.0)

        mark = len(self.router.err.snapshot())
        self.thaw(b["B"])
        self.wait_transition(b["B"], "up", SELECTOR_HEALTH["rise"] * period + MARGIN, mark)
        self.assertEqual(collections.Counter(self.picks(20)), {"A": 10, "B": 10})
        self.assertEqual(len(self.transitions(b["B"], "down")), 1, self.router.stderr_text())
        self.assertEqual(len(self.transitions(b["B"], "up")), 1, self.router.stderr_text())
        self.assertEqual(self.transitions(b["A"], "down"), [])

    @ctest(timeout=90)
    def test_frozen_backend_taken_out_under_traffic(self):
        """A frozen backend is taken out by its selector check while clients keep coming (their connects to it succeed)."""
        b = self.start_backends("A", "B")
        self.start_pool([x.address for x in b.values()], health=SELECTOR_HEALTH)
        self.assertEqual(collections.Counter(self.picks(10)), {"A": 5, "B": 5})

        stop = threading.Event()
        started = []

        def client():
            try:
                self.ask(timeout=1.0)
            except (TimeoutError, OSError):
                pass  # the ones sent to the frozen backend give up

        def traffic():
            while not stop.is_set():  # about 20 clients a second, each bounded to 1 s
                threading.Thread(target=client, daemon=True).start()
                started.append(time.monotonic())
                stop.wait(0.05)

        mark = len(self.router.err.snapshot())
        self.freeze(b["B"])
        driver = threading.Thread(target=traffic, daemon=True)
        driver.start()
        try:
            period = seconds(SELECTOR_HEALTH["interval"]) + seconds(SELECTOR_HEALTH["timeout"])
            self.wait_transition(b["B"], "down", SELECTOR_HEALTH["fall"] * period + MARGIN, mark)
        finally:
            stop.set()
            driver.join(5)
        self.assertGreaterEqual(len(started), 5, "too little traffic to mean anything")
        self.assertEqual(set(self.picks(20, timeout=5)), {"A"})

    def test_selector_expect_mismatch_takes_backend_out(self):
        """health.expect: a backend whose check reply lacks the text is down; the other takes all traffic."""
        b = self.start_backends("A", "B")
        health = dict(SELECTOR_HEALTH, expect="A selector=probe")
        self.start_pool([x.address for x in b.values()], health=health)
        period = seconds(health["interval"]) + seconds(health["timeout"])
        index = self.wait_transition(b["B"], "down", health["fall"] * period + MARGIN)
        self.assertIn("A selector=probe", self.router.err.lines[index])
        self.assertEqual(set(self.picks(20)), {"A"})
        time.sleep(2 * period)
        self.assertEqual(self.transitions(b["A"], "down"), [])
        self.assertEqual(len(self.transitions(b["B"], "down")), 1)

    @ctest(timeout=90)
    def test_backup_only_when_all_primaries_down(self):
        """A backup gets no traffic while a primary is up, all of it when every primary is down, none once one is back."""
        b = self.start_backends("A", "B", "C")
        self.start_pool([{"address": b["A"].address}, {"address": b["B"].address},
                         {"address": b["C"].address, "backup": True}], health=TCP_HEALTH)
        interval = seconds(TCP_HEALTH["interval"])
        wait_down = TCP_HEALTH["fall"] * interval + MARGIN
        self.assertEqual(collections.Counter(self.picks(30)), {"A": 15, "B": 15})

        self.kill_backend(b["A"])
        self.wait_transition(b["A"], "down", wait_down)
        self.assertEqual(set(self.picks(20)), {"B"})

        # The last primary dies: requests retry on the backup, none fails.
        mark = len(self.router.err.snapshot())
        self.kill_backend(b["B"])
        self.assertEqual(set(self.picks(5)), {"C"})
        self.wait_transition(b["B"], "down", wait_down, mark)
        self.assertEqual(set(self.picks(20)), {"C"})

        mark = len(self.router.err.snapshot())
        b["A"] = self.restart_backend(b["A"])
        self.wait_transition(b["A"], "up", TCP_HEALTH["rise"] * interval + MARGIN, mark)
        self.assertEqual(set(self.picks(20)), {"A"})
        self.assertEqual(self.transitions(b["C"], "down"), [])

    # Asserts a 100 ms bound: run alone so a saturated machine does not decide it.
    @ctest(serial=True)
    def test_all_down_error_item_fast(self):
        """Every backend down (connects would hang): the error item arrives under 100 ms after the request."""
        stuck = [f"127.0.0.1:{self.blackhole_port()}" for _ in range(2)]
        self.start_pool(stuck, health=TCP_HEALTH, timeouts={"connect": "3s"})
        wait_down = TCP_HEALTH["fall"] * seconds(TCP_HEALTH["interval"]) + MARGIN
        for address in stuck:
            pattern = re.compile(rf"backend {re.escape(address)} of route {ROUTE} is down \(")
            self.assertIsNotNone(self.router.err.wait_for(pattern.search, wait_down),
                                 f"{address} not down:\n" + self.router.stderr_text())
        for _ in range(5):
            self.assert_error_fast(0.100)
        for _ in range(3):
            with tls_connect(self.port, "pool.test") as sock:
                start = time.monotonic()
                sock.sendall(b"who\r\n")
                reply, _ = read_until_close(sock)
                elapsed = time.monotonic() - start
            self.assertRegex(reply, ERROR_ITEM)
            self.assertLess(elapsed, 0.100, f"TLS: error item after {elapsed * 1000:.0f} ms")
        outcomes = {f.get("outcome") for f in self.router.access_lines()}
        self.assertEqual(outcomes, {"backend_unavailable"})


class SourceHashFailover(PoolTestCase):
    def test_source_hash_only_departed_backend_clients_move(self):
        """source_hash: when a backend goes down only its clients move; the others keep theirs."""
        b = self.start_backends("A", "B", "C")
        self.start_pool([x.address for x in b.values()], balance="source_hash", health=TCP_HEALTH)
        sources = [f"127.0.0.{n}" for n in range(1, 31)]
        before = {src: self.who(self.ask(source=src)) for src in sources}
        counts = collections.Counter(before.values())
        gone = counts.most_common(1)[0][0]  # the backend with the most clients leaves
        self.kill_backend(b[gone])
        self.wait_transition(b[gone], "down",
                             TCP_HEALTH["fall"] * seconds(TCP_HEALTH["interval"]) + MARGIN)
        after = {src: set(self.picks(3, source=src)) for src in sources}
        for src in sources:
            self.assertEqual(len(after[src]), 1, f"{src} not stable: {after[src]}")
            if before[src] == gone:
                self.assertNotEqual(after[src], {gone}, src)
            else:
                self.assertEqual(after[src], {before[src]}, f"{src} moved, its backend stayed")


class Reload(PoolTestCase):
    def test_down_state_survives_reload(self):
        """A backend marked down stays down across a config reload that keeps it: no traffic tries it."""
        b = self.start_backends("A", "B")
        health = {"interval": "60s", "timeout": "1s", "fall": 1, "rise": 1}
        self.start_pool([x.address for x in b.values()], health=health)
        self.kill_backend(b["B"])
        self.assertEqual(self.picks(4), ["A"] * 4)
        self.wait_transition(b["B"], "down", MARGIN)
        errors = self.metric("got_router_backend_connect_errors_total", b["B"])
        mark = len(self.router.err.snapshot())
        self.router.proc.send_signal(signal.SIGHUP)
        reloaded = self.router.err.wait_for(lambda l: "config reloaded" in l, MARGIN, mark)
        self.assertIsNotNone(reloaded, "no reload:\n" + self.router.stderr_text())
        self.assertEqual(self.metric("got_router_backend_up", b["B"]), 0)
        self.assertEqual(set(self.picks(20)), {"A"})
        self.assertEqual(self.metric("got_router_backend_connect_errors_total", b["B"]), errors)
        self.assertEqual(len(self.transitions(b["B"], "down")), 1, self.router.stderr_text())
        self.assertEqual(self.transitions(b["B"], "up"), [])


class Retries(PoolTestCase):
    def test_retry_without_health(self):
        """No health checks: a request whose backend refuses is retried on the next (retries default 2); none fails."""
        live = self.start_backend_at("A")
        dead = f"127.0.0.1:{self.refused_port()}"
        self.start_pool([dead, live.address])
        self.assertEqual(self.picks(20), ["A"] * 20)
        self.assertGreaterEqual(self.metric("got_router_backend_connect_errors_total", dead), 1)
        self.assertEqual([l for l in self.router.err.snapshot() if " is down (" in l], [])

    def test_retries_do_not_skew_round_robin(self):
        """Round robin over a refusing and a live backend (no health): the refusing one is the first pick of every other request, not of all (a retry must not eat the next request's turn)."""
        live = self.start_backend_at("A")
        dead = f"127.0.0.1:{self.refused_port()}"
        self.start_pool([dead, live.address], balance="round_robin")
        self.assertEqual(self.picks(20), ["A"] * 20)
        self.assertEqual(self.metric("got_router_backend_connect_errors_total", dead), 10)

    def test_retries_zero_no_retry(self):
        """retries: 0: a refused connect is not retried; the client gets the error item."""
        live = self.start_backend_at("A")
        dead = f"127.0.0.1:{self.refused_port()}"
        self.start_pool([dead, live.address], retries=0)
        replies = [self.ask() for _ in range(20)]
        errors = [r for r in replies if ERROR_ITEM.match(r)]
        answers = [self.who(r) for r in replies if not ERROR_ITEM.match(r)]
        self.assertEqual((len(errors), answers), (10, ["A"] * 10))

    def test_passive_failures_take_backend_out(self):
        """Failed connects from real traffic count as health failures at once: down after `fall` of them, long before the next probe."""
        b = self.start_backends("A", "B")
        health = {"interval": "60s", "timeout": "1s", "fall": 2, "rise": 1}
        self.start_pool([x.address for x in b.values()], health=health)
        self.assertEqual(collections.Counter(self.picks(10)), {"A": 5, "B": 5})
        self.kill_backend(b["B"])
        # Round robin sends every other request to B: two refused connects, retried on A.
        self.assertEqual(self.picks(4), ["A"] * 4)
        index = self.wait_transition(b["B"], "down", MARGIN)
        self.assertIn("connect failed", self.router.err.lines[index])
        errors = self.metric("got_router_backend_connect_errors_total", b["B"])
        self.assertEqual(errors, health["fall"])
        self.assertEqual(set(self.picks(20)), {"A"})
        self.assertEqual(self.metric("got_router_backend_connect_errors_total", b["B"]), errors)


class MaxConnections(PoolTestCase):
    def setUp(self):
        super().setUp()
        self.b = self.start_backends("A", "B")
        self.start_pool([{"address": x.address, "max_connections": 1} for x in self.b.values()])

    def test_saturated_backend_skipped(self):
        """max_connections 1: while one backend holds a connection, every new one goes to the other."""
        _, busy = self.hold_hang(self.b)
        free = "B" if busy == "A" else "A"
        self.assertEqual(set(self.picks(20, settle=True)), {free})
        self.assertEqual(self.b[busy].accepted(), 1)

    def test_all_saturated_error_item(self):
        """Every backend at max_connections: the error item at once, no backend contacted; capacity returns when one closes."""
        first, name1 = self.hold_hang(self.b)
        _, name2 = self.hold_hang(self.b)
        self.assertEqual({name1, name2}, {"A", "B"})
        accepted = {n: x.accepted() for n, x in self.b.items()}
        for _ in range(5):
            self.assert_error_fast(0.5)
        self.assertEqual({n: x.accepted() for n, x in self.b.items()}, accepted)
        # The client of the first long connection goes away (RST): its slot frees up.
        first.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        first.close()
        deadline = time.monotonic() + MARGIN
        while True:
            reply = self.ask()
            if REPLY.match(reply):
                break
            self.assertLess(time.monotonic(), deadline, "no slot freed after the client left")
            time.sleep(0.05)
        self.assertEqual(self.who(reply), name1)


if __name__ == "__main__":
    unittest.main()


class HostNames(PoolTestCase):
    """Backends written as host names: every address is a candidate, names are looked up
    again on reload, and a slow lookup blocks no event loop. Names come from a getaddrinfo
    shim preloaded into the router (tests/support/fake_dns.cpp), not from a DNS server."""

    NAME = "pool.fake.test"

    def setUp(self):
        super().setUp()
        lib = os.environ.get("GOT_FAKE_DNS_LIB", "")
        self.assertTrue(os.path.exists(lib), f"GOT_FAKE_DNS_LIB={lib!r}: run through ctest")
        self.dns = self.dir / "fake-dns"
        self.set_dns({})
        self.router_env = {"LD_PRELOAD": lib, "GOT_FAKE_DNS": str(self.dns)}

    def set_dns(self, entries):
        """entries: {name: (delay in seconds, [address, ...])}; replaced atomically."""
        text = "".join(f"{name} {int(delay * 1000)} {' '.join(addresses)}\n"
                       for name, (delay, addresses) in entries.items())
        tmp = self.dir / "fake-dns.tmp"
        tmp.write_text(text)
        os.replace(tmp, self.dns)

    def two_addresses(self):
        """Backend A on 127.0.0.1:P and B on 127.0.0.2:P (one port: one host:port name)."""
        a = self.start_backend_at("A")
        b = self.start_backend_at("B", a.port, host="127.0.0.2")
        return a, b

    def start_named_pool(self, port, **kwargs):
        return self.start_pool([f"{self.NAME}:{port}"], **kwargs)

    def sighup(self):
        """Sends SIGHUP; returns the stderr line index to wait for its outcome from."""
        mark = len(self.router.err.snapshot())
        self.router.proc.send_signal(signal.SIGHUP)
        return mark

    def wait_line(self, text, timeout, start):
        line = self.router.err.wait_for(lambda l: text in l, timeout, start)
        self.assertIsNotNone(line, f"no {text!r} line:\n" + self.router.stderr_text())
        return line

    def test_every_address_is_a_candidate(self):
        """A name with two addresses gives two backends, balanced like any two."""
        a, b = self.two_addresses()
        self.set_dns({self.NAME: (0, ["127.0.0.1", "127.0.0.2"])})
        self.start_named_pool(a.port)
        self.assertEqual(collections.Counter(self.picks(10)), {"A": 5, "B": 5})
        for address in ("127.0.0.1", "127.0.0.2"):
            self.assertEqual(self.metric("got_router_backend_up", f"{self.NAME}:{a.port}/{address}"), 1)

    def test_reload_looks_names_up_again(self):
        """The name moves from A's address to B's; after SIGHUP new connections go to B."""
        a, b = self.two_addresses()
        self.set_dns({self.NAME: (0, ["127.0.0.1"])})
        self.start_named_pool(a.port)
        self.assertEqual(self.picks(4), ["A"] * 4)
        self.set_dns({self.NAME: (0, ["127.0.0.2"])})
        self.wait_line("config reloaded (SIGHUP)", MARGIN, self.sighup())
        self.assertEqual(self.picks(4), ["B"] * 4)

    def test_slow_lookup_blocks_nothing(self):
        """A 3 s lookup during a reload: the admin endpoint and the data path answer at
        once meanwhile, on the old config; the new one applies when the answer comes."""
        a, b = self.two_addresses()
        self.set_dns({self.NAME: (0, ["127.0.0.1"])})
        self.start_named_pool(a.port)
        self.assertEqual(self.picks(2), ["A"] * 2)

        delay = 3.0
        self.set_dns({self.NAME: (delay, ["127.0.0.2"])})
        sent = time.monotonic()
        mark = self.sighup()
        slowest = {"admin": 0.0, "request": 0.0}
        while time.monotonic() - sent < delay - 0.5:
            start = time.monotonic()
            status, body = self.admin_get("/healthz")
            slowest["admin"] = max(slowest["admin"], time.monotonic() - start)
            self.assertEqual(status, 200, body)
            start = time.monotonic()
            self.assertEqual(self.who(self.ask()), "A", "the new config applied before its lookup ended")
            slowest["request"] = max(slowest["request"], time.monotonic() - start)
            time.sleep(0.05)
        self.assertLess(slowest["admin"], 0.5, f"/healthz took {slowest['admin']:.2f} s during the lookup")
        self.assertLess(slowest["request"], 0.5, f"a request took {slowest['request']:.2f} s during the lookup")

        self.wait_line("config reloaded (SIGHUP)", delay + MARGIN, mark)
        self.assertGreaterEqual(time.monotonic() - sent, delay - 0.1)
        self.assertEqual(self.picks(4), ["B"] * 4)

    def test_unresolvable_name_on_reload_keeps_config(self):
        """The name stops resolving: the reload fails, naming the backend; A keeps serving."""
        a, _ = self.two_addresses()
        self.set_dns({self.NAME: (0, ["127.0.0.1"])})
        self.start_named_pool(a.port)
        failed_before = self.admin_metric("got_router_config_reloads_total", 'outcome="failed"')
        self.set_dns({})
        line = self.wait_line("reload failed", MARGIN, self.sighup())
        self.assertIn(f"routes[0].backends[0]: cannot resolve {self.NAME}:{a.port}", line)
        self.assertEqual(self.admin_metric("got_router_config_reloads_total", 'outcome="failed"'),
                         failed_before + 1)
        self.assertEqual(self.picks(4), ["A"] * 4)

    def test_overlapping_reloads_newest_wins(self):
        """A second SIGHUP during a slow lookup: the first reload is dropped, the second applies."""
        a, b = self.two_addresses()
        self.set_dns({self.NAME: (0, ["127.0.0.1"])})
        self.start_named_pool(a.port)
        self.set_dns({self.NAME: (2.0, ["127.0.0.2"])})
        mark = self.sighup()
        time.sleep(0.5)  # the first lookup has read the file and is sleeping
        self.set_dns({self.NAME: (0, ["127.0.0.1"])})
        self.router.proc.send_signal(signal.SIGHUP)
        self.wait_line("reload (SIGHUP) superseded", 2.0 + MARGIN, mark)
        self.wait_line("config reloaded (SIGHUP)", MARGIN, mark)
        time.sleep(0.3)
        reloaded = [l for l in self.router.err.snapshot()[mark:] if "config reloaded" in l]
        self.assertEqual(len(reloaded), 1, self.router.stderr_text())
        self.assertEqual(self.picks(4), ["A"] * 4)

    def test_unresolvable_name_at_start(self):
        """got-router -t and a start with a name that does not resolve: exit 1, naming it."""
        path = self.write_file("bad.yaml", to_yaml({
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": False,
                           "default_route": ROUTE}],
            "routes": [{"name": ROUTE, "backends": ["nowhere.fake.test:70"]}],
        }))
        for args in (["-t", "-c", str(path)], ["-c", str(path)]):
            result = self.run_cmd([self.binary, *args], env=self.router_environment())
            self.assertEqual(result.returncode, 1, result.stderr.decode())
            self.assertIn("routes[0].backends[0]: cannot resolve nowhere.fake.test:70",
                          result.stderr.decode())
