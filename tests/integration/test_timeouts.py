"""Timeouts: a silent or stalled client, a backend that never answers."""

import socket
import ssl
import unittest

from harness import (HANDSHAKE_TIMEOUT, IDLE_TIMEOUT, MARGIN, RouterTestCase, client_context,
                     tls_connect, wait_peer_close)

EARLY = 0.5  # how much sooner than configured a close may come (timer granularity)


def client_hello(server_hostname="a.test"):
    """The bytes of a real ClientHello (from Python's ssl over a memory BIO)."""
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = client_context().wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


class Timeouts(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard()  # handshake 2s, idle 3s

    def assert_closed_after(self, sock, configured):
        """The router closes sock no sooner than about `configured`, within a margin."""
        elapsed, data = wait_peer_close(sock, configured + MARGIN)
        self.assertGreaterEqual(elapsed, configured - EARLY, f"closed early; got {data!r}")
        return data

    def test_silent_client_handshake_timeout(self):
        """A client that connects and sends nothing is closed after timeouts.handshake."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            self.assertEqual(self.assert_closed_after(sock, HANDSHAKE_TIMEOUT), b"")

    def test_partial_client_hello_handshake_timeout(self):
        """A TLS client that stalls after 20 bytes of ClientHello is closed after the handshake timeout."""
        hello = client_hello()
        self.assertGreater(len(hello), 20)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(hello[:20])
            self.assert_closed_after(sock, HANDSHAKE_TIMEOUT)

    def test_backend_hang_idle_timeout_plaintext(self):
        """Plaintext, backend accepts but never answers: idle timeout closes the client."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"hang\r\n")
            self.assertEqual(self.assert_closed_after(sock, IDLE_TIMEOUT), b"")
        self.assertEqual(self.backends["L"].requests(), ["'hang'"])

    def test_backend_hang_idle_timeout_tls(self):
        """TLS, backend accepts but never answers: idle timeout closes the client."""
        with tls_connect(self.port, "a.test") as sock:
            sock.sendall(b"hang\r\n")
            self.assertEqual(self.assert_closed_after(sock, IDLE_TIMEOUT), b"")
        self.assertEqual(self.backends["A"].requests(), ["'hang'"])


if __name__ == "__main__":
    unittest.main()
