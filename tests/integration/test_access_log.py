"""The access log: one line per connection, with the fields operators grep for."""

import socket
import time
import unittest

from harness import RouterTestCase, access_fields, read_until_close, tls_connect

REPLY = b"A selector=logged\r\n.\r\n"


class AccessLog(RouterTestCase):
    def tls_request(self):
        """One TLS request to route a; returns the client's local address."""
        with tls_connect(self.port, "a.test") as sock:
            client = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"logged\r\n")
            self.assertEqual(read_until_close(sock)[0], REPLY)
        return client

    def assert_ok_line(self, fields, client):
        expected = {
            "client": client,
            "listener": f"127.0.0.1:{self.port}",
            "transport": "tls",
            "tls_version": "TLSv1.3",
            "sni": "a.test",
            "alpn": "gopher",
            "route": "a",
            "backend": self.backends["A"].address,
            "bytes_in": str(len(b"logged\r\n")),
            "bytes_out": str(len(REPLY)),
            "outcome": "ok",
        }
        self.assertEqual({k: fields.get(k) for k in expected}, expected)
        self.assertRegex(fields.get("duration_ms", ""), r"^\d+$")

    def test_tls_request_logged(self):
        """One TLS request to route a logs one access line with its route, SNI and outcome=ok."""
        self.start_standard()
        client = self.tls_request()
        fields = self.router.wait_access(lambda f: f.get("client") == client)
        self.assertIsNotNone(fields, "no access line for the client:\n" + self.router.stderr_text())
        self.assert_ok_line(fields, client)

    def test_access_log_file(self):
        """With logging.access set, the access line goes to that file."""
        path = self.dir / "access.log"
        self.start_standard(logging={"access": str(path)})
        client = self.tls_request()
        # The line is written when the connection ends; poll the file briefly.
        fields = None
        for _ in range(50):
            lines = path.read_text().splitlines() if path.exists() else []
            found = [f for f in map(access_fields, lines) if f and f.get("client") == client]
            if found:
                fields = found[0]
                break
            time.sleep(0.1)
        self.assertIsNotNone(fields, f"no access line in {path}")
        self.assert_ok_line(fields, client)

    def test_access_log_off(self):
        """With logging.access: off, served connections write no access line, neither to
        stderr (the default, see test_tls_request_logged) nor to a file named "off"."""
        self.start_standard(logging={"access": "off"})
        client = self.tls_request()
        self.tls_request()
        time.sleep(0.5)  # lines are written when a connection ends
        self.assertNotIn(" access ", self.router.stderr_text())
        self.assertNotIn(f"client={client}", self.router.stderr_text())
        self.assertFalse((self.dir / "off").exists())

    def test_plaintext_backend_down_logged(self):
        """A plaintext request whose backend refuses logs outcome=backend_unavailable."""
        dead = f"127.0.0.1:{self.refused_port()}"
        self.start_standard(legacy_backend=dead)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            client = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"sel\r\n")
            read_until_close(sock)
        fields = self.router.wait_access(lambda f: f.get("client") == client)
        self.assertIsNotNone(fields, "no access line:\n" + self.router.stderr_text())
        self.assertEqual(
            {k: fields.get(k) for k in ("transport", "sni", "route", "outcome")},
            {"transport": "plain", "sni": "-", "route": "legacy", "outcome": "backend_unavailable"},
        )


    def test_bad_request_logged(self):
        """A plaintext request line with a NUL byte gets an error item and is logged outcome=bad_request."""
        self.start_standard()
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            client = "127.0.0.1:%d" % sock.getsockname()[1]
            sock.sendall(b"foo\x00bar\r\n")
            reply = read_until_close(sock)[0]
        self.assert_error_item(reply)
        fields = self.router.wait_access(lambda f: f.get("client") == client)
        self.assertIsNotNone(fields, "no access line for the client:\n" + self.router.stderr_text())
        self.assertEqual(fields.get("outcome"), "bad_request")
        self.assertEqual(self.backends["L"].accepted(), 0)

if __name__ == "__main__":
    unittest.main()
