"""Errors a client can meet: no route, backend down. Each gets one Gopher error item."""

import socket
import unittest

from harness import CONNECT_TIMEOUT, MARGIN, RouterTestCase, plain_request, wait_peer_close


class BackendDown(RouterTestCase):
    def setUp(self):
        super().setUp()
        dead = f"127.0.0.1:{self.refused_port()}"
        self.start_standard(
            legacy_backend=dead,
            extra_routes=[{"name": "down", "sni": ["down.test"], "backends": [dead]}],
        )

    def test_backend_down_plaintext(self):
        """Plaintext, backend refuses: exactly one `3...` error item, then close."""
        self.assert_error_item(plain_request(self.port, b"sel\r\n"))

    def test_backend_down_tls(self):
        """TLS (s_client, SNI down.test), backend refuses: exactly one `3...` error item."""
        result = self.s_client(b"sel\r\n", servername="down.test")
        self.assert_error_item(result.stdout)


class BackendConnectTimeout(RouterTestCase):
    def setUp(self):
        super().setUp()
        stuck = f"127.0.0.1:{self.blackhole_port()}"
        self.start_standard(
            legacy_backend=stuck,
            extra_routes=[{"name": "stuck", "sni": ["stuck.test"], "backends": [stuck]}],
        )

    def test_backend_connect_timeout_plaintext(self):
        """Backend connect hangs: after timeouts.connect, one `3...` error item, then close."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"sel\r\n")
            elapsed, reply = wait_peer_close(sock, CONNECT_TIMEOUT + MARGIN)
        self.assert_error_item(reply)
        self.assertGreaterEqual(elapsed, CONNECT_TIMEOUT - 0.5)

    def test_backend_connect_timeout_tls(self):
        """TLS (SNI stuck.test), backend connect hangs: one `3...` error item."""
        result = self.s_client(b"sel\r\n", servername="stuck.test")
        self.assert_error_item(result.stdout)


class NoRoute(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard(listener={"default_route": None})

    def test_no_route_plaintext(self):
        """Plaintext on a listener without default_route: one `3...` error item."""
        self.assert_error_item(plain_request(self.port, b"sel\r\n"))
        self.assertEqual(self.backends["L"].accepted(), 0)

    def test_no_route_unknown_sni(self):
        """TLS with an SNI no route claims, no default_route: one `3...` error item."""
        result = self.s_client(b"sel\r\n", servername="unknown.test")
        self.assert_error_item(result.stdout)
        self.assertEqual(sum(b.accepted() for b in self.backends.values()), 0)

    def test_known_sni_still_routed(self):
        """Without default_route, an SNI that a route claims still reaches it."""
        result = self.s_client(b"sel\r\n", servername="a.test")
        self.assertEqual(result.stdout, b"A selector=sel\r\n.\r\n", result.stderr.decode())


if __name__ == "__main__":
    unittest.main()
