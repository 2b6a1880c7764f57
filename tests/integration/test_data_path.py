"""The data path with real clients: SNI routing, certificates, ALPN, curl, listener modes."""

import socket
import ssl
import time
import unittest

from harness import MARGIN, RouterTestCase, plain_request, read_until_close, tls_connect, wait_until


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


class DataPath(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard()

    def assert_s_client_reaches(self, servername, backend, selector="sel"):
        result = self.s_client(f"{selector}\r\n".encode(), servername=servername)
        self.assertEqual(result.stdout, reply(backend, selector), result.stderr.decode())
        self.assertEqual(result.returncode, 0, result.stderr.decode())

    def test_sni_exact(self):
        """s_client with SNI a.test and ALPN gopher reaches route a, with a.test's cert."""
        self.assert_s_client_reaches("a.test", "A")
        self.assert_cert(self.served_cert_der("a.test"), self.certs["a"])

    def test_alpn_gopher_selected(self):
        """A client offering ALPN gopher gets gopher selected and a working request."""
        with tls_connect(self.port, "a.test", alpn=("gopher",)) as sock:
            self.assertEqual(sock.selected_alpn_protocol(), "gopher")
            sock.sendall(b"alpn\r\n")
            self.assertEqual(read_until_close(sock)[0], reply("A", "alpn"))

    def test_sni_wildcard(self):
        """SNI x.wild.test matches `*.wild.test`: route wild, the wildcard cert."""
        self.assert_s_client_reaches("x.wild.test", "W")
        self.assert_cert(self.served_cert_der("x.wild.test"), self.certs["wild"])

    def test_wildcard_matches_one_label_only(self):
        """`*.wild.test` does not match a.b.wild.test nor wild.test: default route."""
        self.assert_s_client_reaches("a.b.wild.test", "L")
        self.assert_s_client_reaches("wild.test", "L")

    def test_sni_mixed_case(self):
        """SNI is case-insensitive: A.TEST reaches route a with a.test's cert."""
        self.assert_s_client_reaches("A.TEST", "A")
        self.assert_cert(self.served_cert_der("A.TEST"), self.certs["a"])

    def test_no_sni_default_route_and_cert(self):
        """No SNI: the listener's default route and the default certificate."""
        self.assert_s_client_reaches(None, "L")
        self.assert_cert(self.served_cert_der(None), self.certs["default"])

    def test_unknown_sni_default_route_and_cert(self):
        """An unknown SNI: the listener's default route and the default certificate."""
        self.assert_s_client_reaches("unknown.test", "L")
        self.assert_cert(self.served_cert_der("unknown.test"), self.certs["default"])

    def test_curl_gophers_no_alpn(self):
        """curl gophers:// (TLS, SNI from the URL, no ALPN) reaches route a."""
        result = self.run_cmd(
            ["curl", "-sSk", "--max-time", "15", "gophers://a.test:70/0sel",
             "--connect-to", f"a.test:70:127.0.0.1:{self.port}"]
        )
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertEqual(result.stdout, reply("A", "sel"))

    def test_curl_plaintext(self):
        """curl gopher:// (plaintext) on the same port reaches the default route."""
        result = self.run_cmd(["curl", "-sS", "--max-time", "15", f"gopher://127.0.0.1:{self.port}/0sel"])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertEqual(result.stdout, reply("L", "sel"))

    def test_plaintext_query(self):
        """A plaintext `selector TAB query` request reaches the backend whole."""
        self.assertEqual(plain_request(self.port, b"search\tgopher\r\n"), reply("L", "search\tgopher"))

    def test_alpn_http11_refused(self):
        """ALPN offered without gopher: no_application_protocol alert, backend untouched."""
        result = self.s_client(b"sel\r\n", servername="a.test", alpn="http/1.1")
        output = (result.stdout + result.stderr).decode().lower()
        self.assertNotEqual(result.returncode, 0, output)
        self.assertIn("no application protocol", output)
        self.assertNotIn(b"selector=", result.stdout)
        self.assertEqual(self.backends["A"].accepted(), 0)


    def test_backend_connected_after_request_line(self):
        """The backend is connected once the request line has arrived, not at its first bytes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"lazy")
            time.sleep(0.5)
            self.assertEqual(self.backends["L"].accepted(), 0, "connected before the line ended")
            sock.sendall(b"\r\n")
            self.assertEqual(read_until_close(sock)[0], b"L selector=lazy\r\n.\r\n")
        # The backend's ACCEPT line reaches us through its stdout reader: wait for it.
        self.assertTrue(wait_until(lambda: self.backends["L"].accepted() == 1, MARGIN),
                        f"{self.backends['L'].accepted()} connections to the backend")

class RequireAlpn(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard(tls={"require_alpn": True})

    def test_require_alpn_refuses_no_alpn(self):
        """require_alpn: a client offering no ALPN never reaches a backend."""
        got = b""
        try:
            with tls_connect(self.port, "a.test", alpn=None) as sock:
                sock.sendall(b"sel\r\n")
                got = read_until_close(sock)[0]
        except (ssl.SSLError, ConnectionError):
            pass
        self.assertNotIn(b"selector=", got)
        self.assertTrue(got == b"" or got.startswith(b"3"), got)
        self.assertEqual(self.backends["A"].accepted(), 0)

    def test_require_alpn_accepts_gopher(self):
        """require_alpn: s_client with -alpn gopher still reaches route a."""
        result = self.s_client(b"sel\r\n", servername="a.test", alpn="gopher")
        self.assertEqual(result.stdout, reply("A", "sel"), result.stderr.decode())


class PlaintextOff(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard(listener={"plaintext": False})

    def test_plaintext_client_gets_error_item(self):
        """A listener with plaintext: false answers a plaintext client with a `3` item."""
        got = plain_request(self.port, b"sel\r\n")
        self.assertTrue(got.startswith(b"3"), got)
        self.assertEqual(self.backends["L"].accepted(), 0)

    def test_tls_still_works(self):
        """A listener with plaintext: false still serves TLS."""
        result = self.s_client(b"sel\r\n", servername="a.test")
        self.assertEqual(result.stdout, reply("A", "sel"), result.stderr.decode())


class TlsOff(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard(listener={"tls": False})

    def test_tls_client_closed(self):
        """A listener with tls: false closes a TLS client without a handshake."""
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            with tls_connect(self.port, "a.test") as sock:
                sock.sendall(b"sel\r\n")
                read_until_close(sock)
        self.assertEqual(self.backends["A"].accepted() + self.backends["L"].accepted(), 0)

    def test_plaintext_still_works(self):
        """A listener with tls: false still serves plaintext Gopher."""
        self.assertEqual(plain_request(self.port, b"sel\r\n"), reply("L", "sel"))


if __name__ == "__main__":
    unittest.main()
