"""Who may connect: `allow:` / `deny:` on listeners and routes, and
`limits.new_connections_per_ip` (a token bucket per client address).

Clients are told apart by source address: loopback has all of 127/8, so a socket bound
to 127.0.0.2 is "another client" than one bound to 127.0.0.1, and `::1` is the IPv6 one.
Behind PROXY protocol the address judged is the header's source, never the peer's (the
peer, 127.0.0.1, is in no allow list in those tests). A listener refusal closes with no
byte sent; a route refusal answers a Gopher error item (plaintext, terminated TLS) or
closes (passthrough). Every refusal shows in got_router_limit_hits_total{limit}.
"""

import os
import random
import re
import socket
import ssl
import struct
import sys
import time

from ctest_manifest import ctest
from harness import (CLIENT_TIMEOUT, MARGIN, START_TIMEOUT, RouterTestCase, admin_port,
                     client_context, http_request, metric_value, parse_metrics,
                     proc_rss_kib, read_until_close, standard_certificates, standard_config,
                     start_haproxy, to_yaml)

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def connect_from(source, host, port, timeout=CLIENT_TIMEOUT):
    """A TCP socket from `source`:ephemeral to host:port (IPv6 when host has a colon)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect((host, port))
    except BaseException:
        sock.close()
        raise
    return sock


def plain_from(source, host, port, selector, header=b""):
    """A plaintext request from `source`; returns (reply bytes, how it ended)."""
    with connect_from(source, host, port) as sock:
        try:
            sock.sendall(header + selector.encode() + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return b"", "reset"
        return read_until_close(sock)


def tls_from(source, host, port, sni, selector="sel"):
    """A GoT request with SNI `sni`; returns the reply, b"" when the connection was closed
    before or during the handshake."""
    raw = connect_from(source, host, port)
    try:
        tls = client_context().wrap_socket(raw, server_hostname=sni)
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError, OSError):
        raw.close()
        return b""
    with tls:
        tls.sendall(selector.encode() + b"\r\n")
        return read_until_close(tls)[0]


def v2_header(src, dst, sport, dport):
    """A PROXY v2 PROXY-command header for TCP over IPv4 or IPv6."""
    if ":" in src:
        family = 0x21
        addresses = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    else:
        family = 0x11
        addresses = socket.inet_aton(src) + socket.inet_aton(dst)
    body = addresses + struct.pack("!HH", sport, dport)
    return V2_SIGNATURE + struct.pack("!BBH", 0x21, family, len(body)) + body


class PolicyTestCase(RouterTestCase):
    """The standard topology with the keyword dicts merged in, an admin endpoint, and
    optionally a second listener on [::] (dual-stack: IPv4 clients there are v4-mapped)."""

    def start_policy(self, listener=None, routes=None, limits=None, v6_listener=None,
                     extra_routes=(), threads=None, logging=None):
        self.certs = standard_certificates(self.dir)
        self.backends = {name: self.start_backend(name) for name in ("A", "W", "L")}
        config = standard_config(self.certs, self.backends, listener, None, None, logging, None,
                                 extra_routes)
        for route in config["routes"]:
            route.update((routes or {}).get(route["name"], {}))
        if v6_listener is not None:
            config["listeners"].append({"address": "[::]:0", "plaintext": True, "tls": True,
                                        "default_route": "legacy", **v6_listener})
        if limits:
            config["limits"] = limits
        if threads:
            config["threads"] = threads
        config["admin"] = {"address": "127.0.0.1:0"}
        self.config = config
        self.config_path = self.write_file("router.yaml", to_yaml(config))
        self.router = self.start_router(self.config_path)
        self.port = self.router.port
        self.admin = admin_port(self.router)
        if v6_listener is not None:
            line = self.router.err.wait_for(lambda l: "listening on [::]:" in l, START_TIMEOUT)
            self.assertIsNotNone(line, self.router.stderr_text())
            self.v6_port = int(line.split("listening on [::]:")[1].split()[0])
        return self.router

    def metrics(self):
        status, _, body = http_request(self.admin, "/metrics")
        self.assertEqual(status, 200)
        return parse_metrics(body.decode())

    def hits(self, limit):
        value = metric_value(self.metrics(), "got_router_limit_hits_total", limit=limit)
        self.assertIsNotNone(value, f"no got_router_limit_hits_total{{limit={limit}}}")
        return value

    def wait_hits(self, limit, expected, timeout=MARGIN):
        """Waits until the counter reaches `expected` (a refusal is counted as the router
        closes, which the client may see first), then checks it did not pass it."""
        deadline = time.monotonic() + timeout
        while self.hits(limit) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.hits(limit), expected, limit)

    def access_for(self, client_ip, timeout=MARGIN + 2):
        fields = self.router.wait_access(
            lambda f: f.get("client", "").rsplit(":", 1)[0].strip("[]") == client_ip, timeout)
        self.assertIsNotNone(fields, f"no access line for {client_ip}:\n" + self.router.stderr_text())
        return fields

    def assert_no_access_line(self, client_ip):
        time.sleep(0.3)
        lines = [f for f in self.router.access_lines()
                 if f.get("client", "").rsplit(":", 1)[0].strip("[]") == client_ip]
        self.assertEqual(lines, [], "a listener refusal was access-logged")


# --------------------------------------------------------------------------
# Listener lists: closed before any byte is read past the PROXY header


class ListenerLists(PolicyTestCase):
    def test_allow_list_is_default_deny(self):
        """allow: [127.0.0.1]: that client is served; 127.0.0.2 is closed with no byte, plaintext or TLS."""
        self.start_policy(listener={"allow": ["127.0.0.1"]})
        self.assertEqual(plain_from("127.0.0.1", "127.0.0.1", self.port, "ok")[0], reply("L", "ok"))
        self.assertEqual(plain_from("127.0.0.2", "127.0.0.1", self.port, "no")[0], b"")
        self.assertEqual(tls_from("127.0.0.2", "127.0.0.1", self.port, "a.test"), b"")
        self.wait_hits("listener_deny", 2)
        self.assertNotIn("'no'", self.backends["L"].requests())
        self.assertEqual(self.backends["A"].accepted(), 0)
        self.assert_no_access_line("127.0.0.2")
        line = self.router.err.wait_for(lambda l: "allow/deny lists refused 127.0.0.2" in l, MARGIN)
        self.assertIsNotNone(line, self.router.stderr_text())

    def test_deny_ipv6_and_v4_mapped(self):
        """deny: [::1, 127.0.0.2] on a dual-stack [::] listener: ::1 and the v4-mapped 127.0.0.2 are closed; 127.0.0.1 served."""
        deny = {"deny": ["::1", "127.0.0.2"]}
        self.start_policy(listener=deny, v6_listener=deny)
        self.assertEqual(plain_from("::1", "::1", self.v6_port, "v6")[0], b"")
        # On [::], an IPv4 client is ::ffff:127.0.0.2: it must match the IPv4 block.
        self.assertEqual(plain_from("127.0.0.2", "127.0.0.1", self.v6_port, "mapped")[0], b"")
        self.assertEqual(plain_from("127.0.0.2", "127.0.0.1", self.port, "v4")[0], b"")
        self.assertEqual(plain_from("127.0.0.1", "127.0.0.1", self.v6_port, "ok")[0],
                         reply("L", "ok"))
        self.wait_hits("listener_deny", 3)
        self.assertEqual(self.backends["L"].requests(), ["'ok'"])

    def test_allow_ipv6(self):
        """allow: [::1/128] on [::]: ::1 is served, an IPv4 client (v4-mapped) is not."""
        self.start_policy(v6_listener={"allow": ["::1/128"]})
        self.assertEqual(plain_from("::1", "::1", self.v6_port, "v6")[0], reply("L", "v6"))
        self.assertEqual(plain_from("127.0.0.1", "127.0.0.1", self.v6_port, "v4")[0], b"")
        self.wait_hits("listener_deny", 1)


class ListenerListsBehindProxy(PolicyTestCase):
    PROXY = {"proxy_protocol": {"accept": ["v1", "v2"], "from": ["127.0.0.1/32"]}}

    def test_v2_header_source_is_judged(self):
        """PROXY v2 from a trusted peer that no list names: the header's IPv4/IPv6 source is allowed or denied."""
        self.start_policy(listener={**self.PROXY,
                                    "allow": ["198.51.100.0/24", "2001:db8:1::/48"],
                                    "deny": ["198.51.100.66"]})
        cases = [("198.51.100.1", reply("L", "s0")), ("198.51.100.66", b""),
                 ("192.0.2.9", b""), ("2001:db8:1::5", reply("L", "s3")), ("2001:db8:2::5", b"")]
        for n, (source, expected) in enumerate(cases):
            dst = "2001:db8::1" if ":" in source else "192.0.2.1"
            header = v2_header(source, dst, 40000 + n, 70)
            got = plain_from("127.0.0.1", "127.0.0.1", self.port, f"s{n}", header)[0]
            self.assertEqual(got, expected, source)
        self.wait_hits("listener_deny", 3)
        self.assertEqual(sorted(self.backends["L"].requests()), ["'s0'", "'s3'"])
        self.assertEqual(self.access_for("198.51.100.1")["outcome"], "ok")

    def test_haproxy_send_proxy_v2(self):
        """HAProxy send-proxy-v2 in front: curl from a denied address gets nothing, others are served, a route refusal is an error item."""
        self.start_policy(listener={**self.PROXY, "deny": ["127.0.0.2"]},
                          routes={"legacy": {"deny": ["127.0.0.4"]}})
        port = start_haproxy(self, self.port, "send-proxy-v2")
        # Gopher has no status: curl sees an empty reply (HAProxy closes when we do).
        denied = self.curl_from("127.0.0.2", port)
        self.assertEqual(denied.stdout, b"")
        served = self.curl_from("127.0.0.3", port)
        self.assertEqual(served.returncode, 0, served.stderr.decode())
        self.assertEqual(served.stdout, reply("L", "sel"))
        refused = self.curl_from("127.0.0.4", port)
        self.assertRegex(refused.stdout, rb"\A3Access denied[^\t]*\t\terror\.host\t1\r\n")
        self.wait_hits("listener_deny", 1)
        self.wait_hits("route_deny", 1)
        fields = self.access_for("127.0.0.4")
        self.assertEqual((fields["route"], fields["outcome"]), ("legacy", "denied"))

    def curl_from(self, source, port):
        return self.run_cmd(["curl", "-sS", "--max-time", "15", "--interface", source,
                             f"gopher://127.0.0.1:{port}/0sel"])


# --------------------------------------------------------------------------
# Route lists: an error item (plaintext, terminated TLS) or a close (passthrough)


class RouteLists(PolicyTestCase):
    def test_route_allow_plaintext_error_item(self):
        """The default route allows only 127.0.0.1: 127.0.0.2 gets an error item and an access line; other routes are not affected."""
        self.start_policy(routes={"legacy": {"allow": ["127.0.0.1/32"]}})
        self.assertEqual(plain_from("127.0.0.1", "127.0.0.1", self.port, "ok")[0], reply("L", "ok"))
        got, _ = plain_from("127.0.0.2", "127.0.0.1", self.port, "no")
        self.assert_error_item(got)
        self.assertIn(b"Access denied", got)
        fields = self.access_for("127.0.0.2")
        self.assertEqual((fields["route"], fields["outcome"]), ("legacy", "denied"))
        self.assertEqual(tls_from("127.0.0.2", "127.0.0.1", self.port, "a.test"), reply("A", "sel"))
        self.wait_hits("route_deny", 1)
        self.assertEqual(self.backends["L"].requests(), ["'ok'"])

    def test_route_deny_terminated_tls_ipv4_and_ipv6(self):
        """Route a denies 127.0.0.2 and ::1: over terminated TLS they get an error item; 127.0.0.1 is served."""
        self.start_policy(routes={"a": {"deny": ["127.0.0.2", "::1"]}}, v6_listener={})
        self.assertEqual(tls_from("127.0.0.1", "127.0.0.1", self.port, "a.test"), reply("A", "sel"))
        for source, host, port in (("127.0.0.2", "127.0.0.1", self.port),
                                   ("::1", "::1", self.v6_port)):
            got = tls_from(source, host, port, "a.test")
            self.assert_error_item(got)
            self.assertEqual(self.access_for(source)["outcome"], "denied")
        self.wait_hits("route_deny", 2)
        self.assertEqual(self.backends["A"].requests(), ["'sel'"])

    def test_route_deny_passthrough_closes(self):
        """A passthrough route that denies 127.0.0.2 closes its connection; the backend is never reached."""
        passthrough = self.start_backend("P")
        self.start_policy(extra_routes=[{"name": "pt", "sni": ["pt.test"], "tls": "passthrough",
                                         "backends": [passthrough.address],
                                         "deny": ["127.0.0.0/30"]}])
        self.assertEqual(tls_from("127.0.0.2", "127.0.0.1", self.port, "pt.test"), b"")
        fields = self.access_for("127.0.0.2")
        self.assertEqual((fields["route"], fields["outcome"]), ("pt", "denied"))
        self.wait_hits("route_deny", 1)
        # An allowed client reaches the backend (which does not speak TLS: it fails there).
        tls_from("127.0.0.5", "127.0.0.1", self.port, "pt.test")
        self.assertIsNotNone(passthrough.out.wait_for(lambda l: l.startswith("ACCEPT "), MARGIN))
        self.assertEqual(passthrough.accepted(), 1)


class Reload(PolicyTestCase):
    def write_config(self):
        tmp = self.dir / ".router.yaml.tmp"
        tmp.write_text(to_yaml(self.config))
        os.replace(tmp, self.config_path)

    def test_reload_applies_lists_and_keeps_old_on_a_bad_block(self):
        """A reload that adds lists applies them to new connections; a bad block is refused with file, line and key, and the running lists stay."""
        self.start_policy()
        self.assertEqual(plain_from("127.0.0.2", "127.0.0.1", self.port, "before")[0],
                         reply("L", "before"))
        mark = len(self.router.err.snapshot())
        self.config["listeners"][0]["deny"] = ["127.0.0.2"]
        self.config["routes"][0]["allow"] = ["127.0.0.1"]  # route a
        self.write_config()
        self.assertIsNotNone(self.router.err.wait_index(re.compile(r"config reloaded \(").search,
                                                        10, mark), self.router.stderr_text())
        self.assertEqual(plain_from("127.0.0.2", "127.0.0.1", self.port, "after")[0], b"")
        self.assertEqual(tls_from("127.0.0.1", "127.0.0.1", self.port, "a.test"), reply("A", "sel"))
        self.assert_error_item(tls_from("127.0.0.3", "127.0.0.1", self.port, "a.test"))

        mark = len(self.router.err.snapshot())
        self.config["listeners"][0]["deny"] = ["127.0.0.2/8"]
        self.write_config()
        index = self.router.err.wait_index(lambda l: "listeners[0].deny[0]" in l, 10, mark)
        self.assertIsNotNone(index, self.router.stderr_text())
        line = self.router.err.snapshot()[index]
        self.assertIn("router.yaml:", line)
        self.assertIn('host bits set in "127.0.0.2/8"', line)
        # The old lists keep working.
        self.assertEqual(plain_from("127.0.0.2", "127.0.0.1", self.port, "still")[0], b"")
        self.assertEqual(plain_from("127.0.0.4", "127.0.0.1", self.port, "ok")[0], reply("L", "ok"))


# --------------------------------------------------------------------------
# limits.new_connections_per_ip


class NewConnectionRate(PolicyTestCase):
    def burst(self, source, count):
        """`count` plaintext connections from `source`, opened back to back, each sending a
        request at once; returns (served, refused, seconds from first connect to last end)."""
        start = time.monotonic()
        socks = []
        for n in range(count):
            sock = connect_from(source, "127.0.0.1", self.port)
            socks.append(sock)
            try:
                sock.sendall(f"r{n}\r\n".encode())
            except (BrokenPipeError, ConnectionResetError):
                pass
        served = refused = 0
        for n, sock in enumerate(socks):
            with sock:
                data, _ = read_until_close(sock)
            if data == reply("L", f"r{n}"):
                served += 1
            else:
                self.assertEqual(data, b"", "a refused connection got bytes")
                refused += 1
        return served, refused, time.monotonic() - start

    def test_burst_then_refused_other_address_unaffected(self):
        """20/s, burst 20, two event loops: 25 connections at once from 127.0.0.1 -> 20 served, 5 refused and counted; 127.0.0.2 has its own bucket."""
        self.start_policy(limits={"new_connections_per_ip": "20/s", "new_connections_burst": 20},
                          threads=2)
        served, refused, seconds = self.burst("127.0.0.1", 25)
        sys.stderr.write(f"\n25 connections: {served} served, {refused} refused in {seconds:.3f}s\n")
        # Tokens come back at 20/s: over `seconds`, at most 20 * seconds more than the burst.
        allowed_extra = int(20 * seconds)
        self.assertGreaterEqual(served, 20)
        self.assertLessEqual(served, 20 + allowed_extra, f"{served} served in {seconds:.3f}s")
        if seconds < 0.05:
            self.assertEqual((served, refused), (20, 5))
        self.wait_hits("new_connections_per_ip", refused)
        other_served, other_refused, _ = self.burst("127.0.0.2", 20)
        self.assertEqual((other_served, other_refused), (20, 0))
        samples = self.metrics()
        self.assertEqual(metric_value(samples, "got_router_new_connection_table_entries"), 2)
        line = self.router.err.wait_for(
            lambda l: "limits.new_connections_per_ip (20/s, burst 20) reached for 127.0.0.1" in l,
            MARGIN)
        self.assertIsNotNone(line, self.router.stderr_text())

    def test_refills_after_a_second(self):
        """Burst 2 at 2/s: two served, the third refused; after a second two more are served."""
        self.start_policy(limits={"new_connections_per_ip": "2/s"})
        self.assertEqual(self.burst("127.0.0.1", 3)[:2], (2, 1))
        time.sleep(1.1)
        self.assertEqual(self.burst("127.0.0.1", 2)[:2], (2, 0))
        self.wait_hits("new_connections_per_ip", 1)

    @ctest(timeout=300, serial=True, cost=50)
    def test_100k_sources_keep_memory_bounded(self):
        """100,000 distinct PROXY v2 sources (IPv4 and IPv6): the table stays at its capacity, evicts, and RSS stays bounded."""
        self.start_policy(listener={"proxy_protocol": {"accept": ["v2"], "from": ["127.0.0.0/8"]}},
                          limits={"new_connections_per_ip": "1/h", "new_connections_burst": 2},
                          threads=2, logging={"access": str(self.dir / "access.log")})
        pid = self.router.proc.pid
        rng = random.Random(20)
        sources = distinct_sources(rng, 105_000)
        # Warm up: the table is made (a fixed block) and the allocator settles.
        self.flood(sources[:5_000])
        rss_before = proc_rss_kib(pid)
        started = time.monotonic()
        self.flood(sources[5_000:])
        elapsed = time.monotonic() - started
        samples = self.wait_drained()
        rss_after = proc_rss_kib(pid)
        capacity = metric_value(samples, "got_router_new_connection_table_capacity")
        entries = metric_value(samples, "got_router_new_connection_table_entries")
        evictions = metric_value(samples, "got_router_new_connection_table_evictions_total")
        sys.stderr.write(f"\n100k sources: {elapsed:.1f}s, RSS {rss_before} -> {rss_after} KiB, "
                         f"entries {entries}/{capacity}, evictions {evictions}\n")
        self.assertEqual(capacity, 65536)
        self.assertLessEqual(entries, capacity)
        self.assertGreater(entries, 60_000)  # well spread over the sets
        # Every address took a token it has not got back (1/h), so each one past the
        # capacity evicted another.
        self.assertGreaterEqual(evictions, 105_000 - capacity)
        # Bounded: a table that kept every address would grow by megabytes here.
        self.assertLess(rss_after - rss_before, 4 * 1024,
                        f"RSS grew from {rss_before} to {rss_after} KiB")
        # Still serving, and still limiting a source it has seen recently.
        header = v2_header(sources[-1], "192.0.2.1", 1, 70) if ":" not in sources[-1] else \
            v2_header(sources[-1], "2001:db8::1", 1, 70)
        self.assertEqual(plain_from("127.0.0.1", "127.0.0.1", self.port, "x", header)[0], reply("L", "x"))
        self.assertEqual(plain_from("127.0.0.1", "127.0.0.1", self.port, "y", header)[0], b"")

    def flood(self, sources):
        """One connection per source: a PROXY v2 header then a close, from 16 loopback
        addresses in turn (so TIME_WAIT never runs out of ports)."""
        for n, source in enumerate(sources):
            dst = "2001:db8::1" if ":" in source else "192.0.2.1"
            header = v2_header(source, dst, 1024 + n % 60000, 70)
            local = f"127.0.1.{1 + n % 16}"
            for attempt in range(3):
                try:
                    with connect_from(local, "127.0.0.1", self.port) as sock:
                        sock.sendall(header)
                    break
                except OSError:
                    if attempt == 2:
                        raise
                    time.sleep(0.05)

    def wait_drained(self, timeout=60):
        """/metrics once the flood's sessions have all ended."""
        deadline = time.monotonic() + timeout
        while True:
            samples = self.metrics()
            active = metric_value(samples, "got_router_connections_active")
            if active is not None and active == 0 or time.monotonic() > deadline:
                return samples
            time.sleep(0.1)


def distinct_sources(rng, count):
    """`count` distinct random public-looking addresses, every fourth one IPv6."""
    seen = set()
    out = []
    while len(out) < count:
        if len(out) % 4 == 3:
            text = socket.inet_ntop(socket.AF_INET6,
                                    b"\x20\x01\x0d\xb8" + rng.getrandbits(96).to_bytes(12, "big"))
        else:
            text = socket.inet_ntoa(rng.getrandbits(32).to_bytes(4, "big"))
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out
