"""Graceful shutdown: SIGTERM stops accepting, lets transfers finish, exits 0."""

import signal
import socket
import subprocess
import time
import unittest

from harness import MARGIN, RouterTestCase, gopher_backend, stream_digest, tls_connect
from ctest_manifest import ctest

SIZE = 300_000_000
SIGNAL_AFTER = 8 << 20
TRANSFER_TIMEOUT = 120


class Shutdown(RouterTestCase):
    def assert_refused_soon(self, timeout=MARGIN):
        """New connections are refused within `timeout` (the listener is closed)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            except (ConnectionRefusedError, ConnectionResetError):
                # Reset: the SYN landed in a listen queue just as it closed.
                return
            if time.monotonic() > deadline:
                self.fail("router still accepts connections after SIGTERM")
            time.sleep(0.1)

    def assert_exits_zero(self, timeout):
        try:
            code = self.router.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.fail(f"router still running {timeout}s after the signal")
        self.assertEqual(code, 0, self.router.stderr_text())

    @ctest(timeout=180, serial=True)
    def test_sigterm_drains_transfer(self):
        """SIGTERM mid-transfer: new connections refused, the 300 MB reply completes, exit 0."""
        self.start_standard(timeouts={"idle": "60s", "shutdown_grace": "60s"})
        curl = self.spawn(
            ["curl", "-sSk", "--max-time", str(TRANSFER_TIMEOUT), f"gophers://a.test:70/9size/{SIZE}",
             "--connect-to", f"a.test:70:127.0.0.1:{self.port}"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        signalled = []

        def signal_once(total):
            # Runs while the transfer is paused (we are not reading curl's output).
            if not signalled and total >= SIGNAL_AFTER:
                signalled.append(total)
                self.router.proc.send_signal(signal.SIGTERM)
                self.assert_refused_soon()
                self.assertIsNone(self.router.proc.poll(), "router exited with a transfer open")

        count, digest = stream_digest(curl, TRANSFER_TIMEOUT + 10, signal_once)
        self.assertTrue(signalled, "transfer ended before the signal was sent")
        self.assertEqual(curl.wait(timeout=10), 0, curl.stderr.read().decode())
        self.assertEqual(count, SIZE)
        self.assertEqual(digest, gopher_backend.expected_sha256(SIZE))
        self.assert_exits_zero(MARGIN + 5)

    def test_sigterm_idle_router_exits_zero(self):
        """SIGTERM with no connection open: the router exits 0 promptly."""
        self.start_standard()
        self.router.proc.send_signal(signal.SIGTERM)
        self.assert_exits_zero(MARGIN + 5)

    def test_sigint_idle_router_exits_zero(self):
        """SIGINT with no connection open: the router exits 0 promptly."""
        self.start_standard()
        self.router.proc.send_signal(signal.SIGINT)
        self.assert_exits_zero(MARGIN + 5)

    def test_shutdown_grace_bounds_drain(self):
        """A connection that never finishes is cut when shutdown_grace ends; exit 0."""
        self.start_standard(timeouts={"idle": "60s", "shutdown_grace": "2s"})
        with tls_connect(self.port, "a.test") as sock:
            sock.sendall(b"hang\r\n")
            self.assertIsNotNone(
                self.backends["A"].out.wait_for(lambda l: l == "REQUEST 'hang'", MARGIN),
                "backend never saw the request",
            )
            self.router.proc.send_signal(signal.SIGTERM)
            self.assert_exits_zero(2 + MARGIN + 5)

    def test_shutdown_grace_cuts_plaintext_splice(self):
        """A plaintext connection in its splice, cut when shutdown_grace ends: exit 0, and
        the session (its coroutine, sockets, context), held by the splice's callbacks and
        not by a pending operation, is freed with its event loop (under ASan the leak
        check of this process fails the test otherwise)."""
        self.start_standard(timeouts={"idle": "60s", "shutdown_grace": "2s"})
        with socket.create_connection(("127.0.0.1", self.port), timeout=MARGIN) as sock:
            sock.sendall(b"hang\r\n")
            self.assertIsNotNone(
                self.backends["L"].out.wait_for(lambda l: l == "REQUEST 'hang'", MARGIN),
                "backend never saw the request",
            )
            self.router.proc.send_signal(signal.SIGTERM)
            self.assert_exits_zero(2 + MARGIN + 5)
            self.assertEqual(sock.recv(100), b"", "the cut connection was not closed")


if __name__ == "__main__":
    unittest.main()
