"""Errors a client can meet: no route, backend down. Each gets one Gopher error item."""

import unittest

from harness import RouterTestCase, plain_request


class BackendDown(RouterTestCase):
    def setUp(self):
        super().setUp()
        dead = f"127.0.0.1:{self.dead_port()}"
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
