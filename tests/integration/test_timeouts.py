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

    def outcome_of(self, sock_name):
        client = f"{sock_name[0]}:{sock_name[1]}"
        fields = self.router.wait_access(lambda f: f.get("client") == client)
        self.assertIsNotNone(fields, f"no access line for {client}:\n" + self.router.stderr_text())
        return fields.get("outcome")

    def test_silent_client_logged_as_handshake_timeout(self):
        """A plaintext client that sends nothing is logged outcome=handshake_timeout."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            name = sock.getsockname()
            self.assert_closed_after(sock, HANDSHAKE_TIMEOUT)
        self.assertEqual(self.outcome_of(name), "handshake_timeout")

    def test_tls_client_silent_after_handshake_logged_as_handshake_timeout(self):
        """A TLS client that finishes its handshake and sends no request is closed after
        timeouts.handshake (counted from accept) and logged outcome=handshake_timeout,
        not client_reset."""
        with tls_connect(self.port, "a.test") as sock:
            name = sock.getsockname()
            self.assert_closed_after(sock, HANDSHAKE_TIMEOUT)
        self.assertEqual(self.outcome_of(name), "handshake_timeout")

    def test_partial_client_hello_handshake_timeout(self):
        """A TLS client that stalls after 20 bytes of ClientHello is closed after the handshake timeout."""
        hello = client_hello()
        self.assertGreater(len(hello), 20)
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(hello[:20])
            self.assert_closed_after(sock, HANDSHAKE_TIMEOUT)

    def test_dripped_plaintext_selector_cut_at_handshake_deadline(self):
        """A plaintext selector dripped a byte every 0.3 s, never ending its line: the
        handshake deadline covers the whole request line, not only the first byte, so
        the client is cut at timeouts.handshake (idle never fires: bytes keep coming)
        and no backend is connected."""
        import threading
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            name = sock.getsockname()
            stop = threading.Event()

            def drip():
                for byte in b"a-selector-that-takes-too-long/" * 4:
                    if stop.wait(0.3):
                        return
                    try:
                        sock.send(bytes([byte]))
                    except OSError:
                        return

            dripper = threading.Thread(target=drip, daemon=True)
            dripper.start()
            try:
                self.assert_closed_after(sock, HANDSHAKE_TIMEOUT)
            finally:
                stop.set()
                dripper.join(5)
        self.assertEqual(self.outcome_of(name), "handshake_timeout")
        self.assertEqual(self.backends["L"].accepted(), 0)

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


class HalfClosed(RouterTestCase):
    HALF_CLOSED = 1.0
    IDLE = 8.0

    def setUp(self):
        super().setUp()
        # Long handshake and connect budgets too: no earlier deadline wakes the timer
        # by chance.
        self.start_standard(timeouts={"idle": f"{self.IDLE:g}s", "handshake": "6s",
                                      "connect": "5s",
                                      "half_closed": f"{self.HALF_CLOSED:g}s"})

    def test_half_closed_limit_applies_at_once(self):
        """Once the client has finished sending, timeouts.half_closed bounds the wait for
        a silent backend: the connection closes after about 1 s, not when the timer wakes
        for a deadline armed before the half-close (the 6 s handshake budget, where the
        old watchdog first looked again)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
            sock.sendall(b"hang\r\n")
            sock.shutdown(socket.SHUT_WR)
            elapsed, data = wait_peer_close(sock, self.IDLE + MARGIN)
        self.assertEqual(data, b"")
        self.assertGreaterEqual(elapsed, self.HALF_CLOSED - EARLY)
        self.assertLess(elapsed, self.IDLE / 2, "a deadline armed before the half-close applied")
        self.assertEqual(self.backends["L"].requests(), ["'hang'"])


if __name__ == "__main__":
    unittest.main()
