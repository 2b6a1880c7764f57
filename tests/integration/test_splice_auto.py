"""Plaintext forwarding, HAProxy's splice-auto rule: small transfers are copied through
one buffer, a transfer that fills it moves to splice(2) through a pipe."""

import socket
import time
import unittest

from harness import RouterTestCase, gopher_backend, plain_request, proc_pipe_count, read_until_close
from ctest_manifest import ctest

BULK = 4 * 1024 * 1024
TRICKLE = 600_000


class SpliceAuto(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard()
        self.pid = self.router.proc.pid

    def test_small_replies_take_no_pipe_a_bulk_one_does(self):
        """Small plaintext replies leave the router's pipe count alone; a 4 MiB reply is
        spliced (a pipe pair appears and is kept) and arrives identical."""
        baseline = proc_pipe_count(self.pid)
        for i in range(20):
            reply = plain_request(self.port, f"size/{100 + i}\r\n".encode())
            self.assertEqual(reply, gopher_backend.expected_bytes(100 + i))
        self.assertEqual(proc_pipe_count(self.pid), baseline, "a small reply went through a pipe")
        reply = plain_request(self.port, f"size/{BULK}\r\n".encode())
        self.assertEqual(len(reply), BULK)
        self.assertEqual(reply, gopher_backend.expected_bytes(BULK))
        self.assertGreater(proc_pipe_count(self.pid), baseline, "the bulk reply was not spliced")

    @ctest(timeout=60)
    def test_trickled_reply_to_a_stalled_client(self):
        """A reply that arrives in small pieces (copied, never spliced) to a client that
        reads nothing for a while: the router holds what the client cannot take, stops
        reading the backend, and everything arrives in order once the client reads."""
        baseline = proc_pipe_count(self.pid)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(f"trickle/{TRICKLE}\r\n".encode())
        time.sleep(2)  # the backend trickles ~0.6 MB/s; the client's window is tiny
        data, how = read_until_close(sock, timeout=30)
        self.assertEqual(how, "eof")
        self.assertEqual(len(data), TRICKLE)
        self.assertEqual(data, gopher_backend.expected_bytes(TRICKLE))
        self.assertEqual(proc_pipe_count(self.pid), baseline, "the trickled reply was spliced")


if __name__ == "__main__":
    unittest.main()
