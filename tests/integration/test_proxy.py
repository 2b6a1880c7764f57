"""PROXY protocol: in (HAProxy and raw clients in front) and out (send_proxy).

Client identity is made distinguishable by source address: clients connect from
127.0.0.2 while the trusted sender (HAProxy, or a raw test client playing one)
connects from 127.0.0.1, and the listener trusts only `127.0.0.1/32`. So an
access line with `client=127.0.0.2:PORT` can only come from a PROXY header.

The `send_proxy` tests put tests/support/proxy_backend.py behind the router: it
parses the header it receives and answers with the fields it saw.
"""

import shutil
import socket
import ssl
import struct
import subprocess
import sys
import time
import unittest

from harness import (CLIENT_TIMEOUT, HANDSHAKE_TIMEOUT, MARGIN, Backend, RouterTestCase,
                     admin_port, client_context, http_request, metric_value, parse_metrics,
                     read_until_close, start_haproxy, to_yaml, wait_peer_close)
from harness import REPO_ROOT

PROXY_BACKEND_SCRIPT = REPO_ROOT / "tests" / "support" / "proxy_backend.py"
TRUSTED = "127.0.0.1"
CLIENT = "127.0.0.2"
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def connect_from(source, port, timeout=CLIENT_TIMEOUT):
    """A TCP socket from `source`:ephemeral to 127.0.0.1:port."""
    sock = socket.socket()
    try:
        sock.settimeout(timeout)
        sock.bind((source, 0))
        sock.connect(("127.0.0.1", port))
    except BaseException:
        sock.close()
        raise
    return sock


def local_endpoint(sock):
    host, port = sock.getsockname()[:2]
    return f"{host}:{port}"


def v2_header(command, family=0x00, addresses=b"", tlvs=b""):
    body = addresses + tlvs
    return V2_SIGNATURE + struct.pack("!BBH", 0x20 | command, family, len(body)) + body


def v2_tcp4(src, dst, sport, dport, tlvs=b""):
    addresses = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return v2_header(0x1, 0x11, addresses, tlvs)


def parse_fields(line):
    return dict(part.split("=", 1) for part in line.split() if "=" in part)


class ProxyTestCase(RouterTestCase):
    """The standard topology with `proxy_protocol` on the listener, and helpers."""

    def start_proxied(self, accept=("v1", "v2"), trusted=(TRUSTED + "/32",), admin=False,
                      legacy_backend=None, extra_routes=()):
        listener = {"proxy_protocol": {"accept": list(accept), "from": list(trusted)}}
        self.certs = {
            "a": self.make_cert("a", ["a.test"], "got-test-a"),
            "wild": self.make_cert("wild", ["*.wild.test"], "got-test-wild"),
            "default": self.make_cert("default", ["default.test"], "got-test-default"),
        }
        self.backends = {name: self.start_backend(name) for name in ("A", "W", "L")}
        config = self.standard_config(listener, None, None, None, legacy_backend, extra_routes)
        if admin:
            config["admin"] = {"address": "127.0.0.1:0"}
        self.config_path = self.write_file("router.yaml", to_yaml(config))
        self.router = self.start_router(self.config_path)
        self.port = self.router.port
        if admin:
            self.admin = admin_port(self.router)
        return self.router

    def start_proxy_backend(self, name="P"):
        proc = self.spawn([sys.executable, str(PROXY_BACKEND_SCRIPT), "--host", "127.0.0.1",
                           "--port", "0", "--name", name], stdout=subprocess.PIPE)
        return Backend(proc, name)

    def access_for(self, client, timeout=MARGIN + 2):
        fields = self.router.wait_access(lambda f: f.get("client") == client, timeout)
        self.assertIsNotNone(fields, f"no access line with client={client}:\n" + self.router.stderr_text())
        return fields

    def header_errors(self):
        status, _, body = http_request(self.admin, "/metrics")
        self.assertEqual(status, 200)
        value = metric_value(parse_metrics(body.decode()), "got_router_proxy_header_errors_total")
        self.assertIsNotNone(value, "no got_router_proxy_header_errors_total in /metrics")
        return value

    def assert_refused(self, sock, data_after=b""):
        """The router closes `sock` without a reply, within the handshake timeout and margin."""
        _, data = wait_peer_close(sock, HANDSHAKE_TIMEOUT + MARGIN)
        self.assertEqual(data, data_after, "a refused connection got bytes back")

    def assert_no_backend_reached(self):
        time.sleep(0.3)  # an accept in flight at a backend would show by now
        for backend in self.backends.values():
            self.assertEqual(backend.accepted(), 0, f"backend {backend.name} was reached")


# --------------------------------------------------------------------------
# HAProxy (Debian's) in front of got-router


@unittest.skipUnless(shutil.which("haproxy"), "haproxy not installed (scripts/install-deps.sh)")
class HaproxyInFront(ProxyTestCase):
    """client (127.0.0.2) -> HAProxy (mode tcp, source 127.0.0.1, send-proxy[-v2]) -> got-router."""

    def start_haproxy(self, send_proxy):
        self.haproxy_port = start_haproxy(self, self.port, send_proxy, source=TRUSTED)
        return self.haproxy_port

    def curl(self, url, *extra):
        """curl from 127.0.0.2; returns (stdout, 'local_ip:local_port' curl used)."""
        result = self.run_cmd(["curl", "-sS", "--max-time", "15", "--interface", CLIENT,
                               "-w", "\n%{local_ip}:%{local_port}", *extra, url])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        body, _, local = result.stdout.rpartition(b"\n")
        return body, local.decode()

    def check_plaintext(self, send_proxy):
        self.start_proxied()
        port = self.start_haproxy(send_proxy)
        body, local = self.curl(f"gopher://127.0.0.1:{port}/0sel")
        self.assertTrue(local.startswith(CLIENT + ":"), local)
        self.assertEqual(body, reply("L", "sel"))
        fields = self.access_for(local)
        self.assertEqual({k: fields.get(k) for k in ("transport", "route", "outcome")},
                         {"transport": "plain", "route": "legacy", "outcome": "ok"})

    def check_tls(self, send_proxy):
        self.start_proxied()
        port = self.start_haproxy(send_proxy)
        body, local = self.curl("gophers://a.test:70/0sel", "-k",
                                "--connect-to", f"a.test:70:127.0.0.1:{port}")
        self.assertTrue(local.startswith(CLIENT + ":"), local)
        self.assertEqual(body, reply("A", "sel"))
        fields = self.access_for(local)
        self.assertEqual({k: fields.get(k) for k in ("transport", "sni", "route", "outcome")},
                         {"transport": "tls", "sni": "a.test", "route": "a", "outcome": "ok"})

    def test_v2_plaintext(self):
        """HAProxy send-proxy-v2: a plaintext curl is served; the access log shows curl's 127.0.0.2 address."""
        self.check_plaintext("send-proxy-v2")

    def test_v2_tls_passthrough(self):
        """HAProxy send-proxy-v2, TLS passed through untouched: served by SNI; the log shows curl's address."""
        self.check_tls("send-proxy-v2")

    def test_v1_plaintext(self):
        """HAProxy send-proxy (v1): a plaintext curl is served; the access log shows curl's address."""
        self.check_plaintext("send-proxy")

    def test_v1_tls_passthrough(self):
        """HAProxy send-proxy (v1), TLS passed through: served by SNI; the log shows curl's address."""
        self.check_tls("send-proxy")

    def test_v2_through_to_send_proxy_backend(self):
        """HAProxy v2 -> got-router -> send_proxy v2 backend: the backend sees curl's address, not HAProxy's."""
        backend = self.start_proxy_backend()
        route = {"name": "pp", "sni": ["pp.test"],
                 "backends": [{"address": backend.address, "send_proxy": "v2"}]}
        self.start_proxied(extra_routes=[route])
        # pp.test needs a certificate; the default one serves (curl -k).
        port = self.start_haproxy("send-proxy-v2")
        body, local = self.curl("gophers://pp.test:70/0sel", "-k",
                                "--connect-to", f"pp.test:70:127.0.0.1:{port}")
        self.assertTrue(body.startswith(b"P ") and body.endswith(b"\r\n.\r\n"), body)
        seen = parse_fields(body[:-5].decode())
        self.assertEqual({k: seen.get(k) for k in ("version", "command", "src", "authority", "selector")},
                         {"version": "2", "command": "PROXY", "src": local,
                          "authority": "pp.test", "selector": "sel"})


# --------------------------------------------------------------------------
# send_proxy: got-router writes a PROXY header to the backend


class SendProxy(ProxyTestCase):
    """got-router -> proxy_backend.py with `send_proxy: v1 | v2`; a proxy_protocol
    listener only where a test asks for one (`proxy_in`)."""

    def start_sending(self, version, proxy_in=False):
        self.pbackend = self.start_proxy_backend()
        backend_map = {"address": self.pbackend.address, "send_proxy": version}
        self.certs = {"a": self.make_cert("a", ["a.test"], "got-test-a")}
        listener = {"address": "127.0.0.1:0", "plaintext": True, "tls": True, "default_route": "pp"}
        if proxy_in:
            listener["proxy_protocol"] = {"accept": ["v1", "v2"], "from": [TRUSTED + "/32"]}
        config = {
            "listeners": [listener],
            "certificates": [{"cert": self.certs["a"].cert, "key": self.certs["a"].key,
                              "default": True}],
            "routes": [{"name": "pp", "backends": [backend_map]}],
            "tls": {"alpn": ["gopher"], "require_alpn": False, "min_version": "1.2"},
            "timeouts": {"handshake": "2s", "connect": "1s", "idle": "3s", "shutdown_grace": "30s"},
            "logging": {"level": "info"},
        }
        self.config_path = self.write_file("router.yaml", to_yaml(config))
        self.router = self.start_router(self.config_path)
        self.port = self.router.port

    def seen(self, data):
        self.assertTrue(data.startswith(b"P ") and data.endswith(b"\r\n.\r\n"),
                        f"backend reply: {data!r}")
        self.assertNotIn(b" BAD ", data)
        return parse_fields(data[:-5].decode())

    def plain(self, selector=b"sel"):
        with connect_from(CLIENT, self.port) as sock:
            client = local_endpoint(sock)
            sock.sendall(selector + b"\r\n")
            data, _ = read_until_close(sock)
        return client, self.seen(data)

    def tls(self, sni="a.test"):
        raw = connect_from(CLIENT, self.port)
        client = local_endpoint(raw)
        with client_context().wrap_socket(raw, server_hostname=sni) as sock:
            self.assertEqual(sock.version(), "TLSv1.3")
            sock.sendall(b"sel\r\n")
            data, _ = read_until_close(sock)
        return client, self.seen(data)

    def expect(self, seen, **expected):
        self.assertEqual({k: seen.get(k) for k in expected}, expected, f"backend saw {seen}")

    def test_v1_passes_on_header_addresses(self):
        """PROXY in from a trusted peer, send_proxy v1 out: the backend gets the header's source and destination."""
        self.start_sending("v1", proxy_in=True)
        with connect_from(TRUSTED, self.port) as sock:
            sock.sendall(b"PROXY TCP4 192.0.2.7 198.51.100.9 5555 7070\r\nsel\r\n")
            data, _ = read_until_close(sock)
        self.expect(self.seen(data), version="1", family="TCP4", src="192.0.2.7:5555",
                    dst="198.51.100.9:7070", selector="sel")

    def test_v1_plaintext(self):
        """send_proxy v1: the backend gets `PROXY TCP4 client router-address` before the selector."""
        self.start_sending("v1")
        client, seen = self.plain()
        self.expect(seen, version="1", family="TCP4", src=client, dst=f"127.0.0.1:{self.port}",
                    selector="sel")

    def test_v1_tls(self):
        """send_proxy v1 for a TLS client: the client's address and port, then the decrypted selector."""
        self.start_sending("v1")
        client, seen = self.tls()
        self.expect(seen, version="1", family="TCP4", src=client, dst=f"127.0.0.1:{self.port}",
                    selector="sel")

    def test_v2_plaintext(self):
        """send_proxy v2, plaintext client: PROXY TCP4 with the client's address, no SNI or SSL TLV."""
        self.start_sending("v2")
        client, seen = self.plain()
        self.expect(seen, version="2", command="PROXY", family="TCP4", src=client,
                    dst=f"127.0.0.1:{self.port}", selector="sel")
        self.assertNotIn("authority", seen)
        self.assertNotIn("ssl_client", seen)

    def test_v2_tls_authority_and_version(self):
        """send_proxy v2, TLS client: the client's address, SNI as authority TLV, SSL TLV with TLSv1.3."""
        self.start_sending("v2")
        client, seen = self.tls("a.test")
        self.expect(seen, version="2", command="PROXY", family="TCP4", src=client,
                    dst=f"127.0.0.1:{self.port}", authority="a.test", tls_version="TLSv1.3",
                    selector="sel")
        self.assertTrue(int(seen.get("ssl_client", "0")) & 0x01, f"PP2_CLIENT_SSL not set: {seen}")

    def test_v2_tls_no_sni(self):
        """send_proxy v2, TLS client without SNI: no authority TLV, still the SSL TLV."""
        self.start_sending("v2")
        client, seen = self.tls(None)
        self.expect(seen, version="2", src=client, tls_version="TLSv1.3", selector="sel")
        self.assertNotIn("authority", seen)


# --------------------------------------------------------------------------
# Trust: spoofing, missing and malformed headers, LOCAL / UNKNOWN


class Trust(ProxyTestCase):
    def test_spoofed_header_from_untrusted_refused(self):
        """A peer outside `from` that sends `PROXY TCP4 1.2.3.4 ...` is closed, no backend reached."""
        self.start_proxied()
        with connect_from(CLIENT, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\nsel\r\n")
            self.assert_refused(sock)
        fields = self.access_for(peer)
        self.assertEqual(fields.get("outcome"), "bad_proxy_header", fields)
        self.assertIsNone(self.router.wait_access(lambda f: f.get("client") == "1.2.3.4:1", 0.2))
        self.assert_no_backend_reached()

    def test_spoofed_v2_header_from_untrusted_refused(self):
        """A peer outside `from` that sends a v2 PROXY header is closed, no backend reached."""
        self.start_proxied()
        with connect_from(CLIENT, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(v2_tcp4("1.2.3.4", "5.6.7.8", 1, 2) + b"sel\r\n")
            self.assert_refused(sock)
        self.assertEqual(self.access_for(peer).get("outcome"), "bad_proxy_header")
        self.assert_no_backend_reached()

    def test_untrusted_without_header_served(self):
        """A peer outside `from` without a header is an ordinary client (plaintext and TLS)."""
        self.start_proxied()
        with connect_from(CLIENT, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(b"sel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("L", "sel"))
        self.assertEqual(self.access_for(peer).get("outcome"), "ok")
        raw = connect_from(CLIENT, self.port)
        with client_context().wrap_socket(raw, server_hostname="a.test") as sock:
            sock.sendall(b"sel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("A", "sel"))

    def test_trusted_without_header_refused(self):
        """A peer inside `from` that sends a selector without a header is closed, no backend reached."""
        self.start_proxied()
        with connect_from(TRUSTED, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(b"sel\r\n")
            self.assert_refused(sock)
        self.assertEqual(self.access_for(peer).get("outcome"), "bad_proxy_header")
        self.assert_no_backend_reached()

    def test_trusted_tls_without_header_refused(self):
        """A peer inside `from` that starts a TLS handshake without a header is closed."""
        self.start_proxied()
        with connect_from(TRUSTED, self.port) as sock:
            peer = local_endpoint(sock)
            with self.assertRaises((ssl.SSLError, OSError)):
                client_context().wrap_socket(sock, server_hostname="a.test", do_handshake_on_connect=True)
        self.assertEqual(self.access_for(peer).get("outcome"), "bad_proxy_header")
        self.assert_no_backend_reached()

    def test_trusted_silent_closed_after_handshake_timeout(self):
        """A trusted peer that sends nothing is closed at the handshake timeout (2 s), not before."""
        self.start_proxied()
        with connect_from(TRUSTED, self.port) as sock:
            waited, data = wait_peer_close(sock, HANDSHAKE_TIMEOUT + MARGIN)
        self.assertEqual(data, b"")
        self.assertGreaterEqual(waited, HANDSHAKE_TIMEOUT - 0.3)

    def test_malformed_headers_closed_and_counted(self):
        """Malformed headers from a trusted peer are closed and counted in got_router_proxy_header_errors_total."""
        self.start_proxied(admin=True)
        before = self.header_errors()
        malformed = [
            b"PROXY TCP4 1.2.3.4 5.6.7.8 99999 2\r\n",           # port out of range
            b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",              # leading zero
            b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",               # family/address mismatch
            b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",              # double space
            b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 " + b"x" * 120,     # no CRLF within 107 bytes
            b"PROXY FOO 1.2.3.4 5.6.7.8 1 2\r\n",                # unknown protocol
            V2_SIGNATURE + b"\x30\x11\x00\x0c" + b"\x00" * 12,   # version 3
            V2_SIGNATURE + b"\x2f\x11\x00\x0c" + b"\x00" * 12,   # command 15
            V2_SIGNATURE + b"\x21\x11\x00\x04" + b"\x00" * 4,    # TCP4 with a 4-byte block
            V2_SIGNATURE + b"\x21\x91\x00\x0c" + b"\x00" * 12,   # family 9
            v2_tcp4("1.2.3.4", "5.6.7.8", 1, 2, tlvs=b"\x02\x00\x10ab"),  # TLV past the end
        ]
        peers = []
        for header in malformed:
            with connect_from(TRUSTED, self.port) as sock:
                peers.append((local_endpoint(sock), header))
                sock.sendall(header + b"sel\r\n")
                try:
                    self.assert_refused(sock)
                except AssertionError as err:
                    self.fail(f"header {header!r}: {err}")
        for peer, header in peers:
            fields = self.access_for(peer)
            self.assertEqual(fields.get("outcome"), "bad_proxy_header", f"header {header!r}: {fields}")
        self.assertEqual(self.header_errors() - before, len(malformed))
        self.assert_no_backend_reached()

    def test_v1_header_sets_client(self):
        """A trusted v1 header's source address becomes the client in the access log."""
        self.start_proxied()
        with connect_from(TRUSTED, self.port) as sock:
            sock.sendall(f"PROXY TCP4 192.0.2.7 127.0.0.1 5555 {self.port}\r\nsel\r\n".encode())
            self.assertEqual(read_until_close(sock)[0], reply("L", "sel"))
        self.assertEqual(self.access_for("192.0.2.7:5555").get("outcome"), "ok")

    def test_v2_tcp6_header_sets_client(self):
        """A trusted v2 TCP6 header's source address becomes the client in the access log."""
        self.start_proxied()
        addresses = (socket.inet_pton(socket.AF_INET6, "2001:db8::7")
                     + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + struct.pack("!HH", 5555, 70))
        with connect_from(TRUSTED, self.port) as sock:
            sock.sendall(v2_header(0x1, 0x21, addresses) + b"sel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("L", "sel"))
        self.assertEqual(self.access_for("[2001:db8::7]:5555").get("outcome"), "ok")

    def test_header_then_tls_classified_after(self):
        """A trusted v2 header followed by a TLS handshake: classified as TLS, routed by SNI."""
        self.start_proxied()
        raw = connect_from(TRUSTED, self.port)
        raw.sendall(v2_tcp4("192.0.2.9", "127.0.0.1", 6666, self.port))
        with client_context().wrap_socket(raw, server_hostname="a.test") as sock:
            sock.sendall(b"sel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("A", "sel"))
        fields = self.access_for("192.0.2.9:6666")
        self.assertEqual({k: fields.get(k) for k in ("transport", "sni", "route", "outcome")},
                         {"transport": "tls", "sni": "a.test", "route": "a", "outcome": "ok"})

    def test_v2_local_keeps_peer_address(self):
        """A v2 LOCAL header (health check) is accepted and the peer address stays the client."""
        self.start_proxied()
        with connect_from(TRUSTED, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(v2_header(0x0) + b"sel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("L", "sel"))
        self.assertEqual(self.access_for(peer).get("outcome"), "ok")

    def test_v2_local_with_addresses_keeps_peer_address(self):
        """A v2 LOCAL header that carries addresses still keeps the peer address (the spec: ignore them)."""
        self.start_proxied()
        local = v2_tcp4("192.0.2.7", "127.0.0.1", 5555, self.port)
        local = local[:12] + b"\x20" + local[13:]  # command LOCAL
        with connect_from(TRUSTED, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(local + b"sel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("L", "sel"))
        self.assertEqual(self.access_for(peer).get("outcome"), "ok")

    def test_v1_unknown_keeps_peer_address(self):
        """`PROXY UNKNOWN` (v1) is accepted and the peer address stays the client."""
        self.start_proxied()
        with connect_from(TRUSTED, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(b"PROXY UNKNOWN\r\nsel\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("L", "sel"))
        self.assertEqual(self.access_for(peer).get("outcome"), "ok")

    def test_accept_v2_only_refuses_v1(self):
        """With accept: [v2], a well-formed v1 header from a trusted peer is refused."""
        self.start_proxied(accept=("v2",))
        with connect_from(TRUSTED, self.port) as sock:
            peer = local_endpoint(sock)
            sock.sendall(f"PROXY TCP4 192.0.2.7 127.0.0.1 5555 {self.port}\r\nsel\r\n".encode())
            self.assert_refused(sock)
        self.assertEqual(self.access_for(peer).get("outcome"), "bad_proxy_header")
        self.assert_no_backend_reached()


# --------------------------------------------------------------------------
# The header's address is the client everywhere: per-IP limits, source_hash


class Identity(ProxyTestCase):
    def proxied_plain(self, source, sport, selector):
        """A trusted connection announcing `source:sport`; returns the open socket."""
        sock = connect_from(TRUSTED, self.port)
        sock.sendall(f"PROXY TCP4 {source} 127.0.0.1 {sport} {self.port}\r\n{selector}\r\n".encode())
        return sock

    def test_per_ip_limit_counts_header_address(self):
        """max_connections_per_ip: 1 counts the header's address, not HAProxy's one peer address."""
        self.certs = {"a": self.make_cert("a", ["a.test"], "got-test-a")}
        self.backends = {"L": self.start_backend("L")}
        config = {
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                           "default_route": "legacy",
                           "proxy_protocol": {"accept": ["v1", "v2"], "from": [TRUSTED + "/32"]}}],
            "certificates": [{"cert": self.certs["a"].cert, "key": self.certs["a"].key, "default": True}],
            "routes": [{"name": "legacy", "backends": [self.backends["L"].address]}],
            "timeouts": {"handshake": "2s", "connect": "1s", "idle": "10s", "shutdown_grace": "30s"},
            "limits": {"max_connections_per_ip": 1},
            "logging": {"level": "info"},
        }
        self.router = self.start_router(self.write_file("router.yaml", to_yaml(config)))
        self.port = self.router.port
        held = self.proxied_plain("192.0.2.1", 1001, "hang")
        self.addCleanup(held.close)
        line = self.backends["L"].out.wait_for(lambda l: l == "REQUEST 'hang'", MARGIN)
        self.assertIsNotNone(line, "the first connection did not reach the backend")
        # Another client address behind the same peer is served.
        with self.proxied_plain("192.0.2.2", 1002, "other") as sock:
            self.assertEqual(read_until_close(sock)[0], reply("L", "other"))
        # The same client address again is over its limit.
        with self.proxied_plain("192.0.2.1", 1003, "again") as sock:
            data, _ = read_until_close(sock)
        self.assertEqual(data, b"", "over-limit connection got a reply")
        # Limit refusals are not access-logged (floods stay cheap); the limit log line names the address.
        hit = self.router.err.wait_for(lambda l: "max_connections_per_ip (1) reached for 192.0.2.1" in l, MARGIN)
        self.assertIsNotNone(hit, "no limit line for 192.0.2.1:\n" + self.router.stderr_text())
        self.assertNotIn("'again'", self.backends["L"].requests())

    def test_source_hash_uses_header_address(self):
        """source_hash balances on the header's address: one address sticks, many addresses spread."""
        self.certs = {"a": self.make_cert("a", ["a.test"], "got-test-a")}
        self.backends = {name: self.start_backend(name) for name in ("H1", "H2")}
        config = {
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                           "default_route": "pool",
                           "proxy_protocol": {"accept": ["v1", "v2"], "from": [TRUSTED + "/32"]}}],
            "certificates": [{"cert": self.certs["a"].cert, "key": self.certs["a"].key, "default": True}],
            "routes": [{"name": "pool", "balance": "source_hash",
                        "backends": [b.address for b in self.backends.values()]}],
            "timeouts": {"handshake": "2s", "connect": "1s", "idle": "3s", "shutdown_grace": "30s"},
            "logging": {"level": "info"},
        }
        self.router = self.start_router(self.write_file("router.yaml", to_yaml(config)))
        self.port = self.router.port

        def served_by(source, sport):
            with self.proxied_plain(source, sport, "who") as sock:
                data, _ = read_until_close(sock)
            return data.split(b" ", 1)[0].decode()

        # All connections come from 127.0.0.1: only the header's address can spread them.
        by_address = {f"198.51.100.{i}": served_by(f"198.51.100.{i}", 2000 + i) for i in range(1, 25)}
        self.assertEqual(set(by_address.values()), {"H1", "H2"}, by_address)
        for address, backend in list(by_address.items())[:6]:
            for sport in (3001, 3002):
                self.assertEqual(served_by(address, sport), backend, f"{address} moved")


if __name__ == "__main__":
    unittest.main()
