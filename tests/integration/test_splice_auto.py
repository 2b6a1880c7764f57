"""Plaintext forwarding, HAProxy's splice-auto rule: small transfers are copied through
one buffer, a transfer that fills it moves to splice(2) through a pipe."""

import socket
import subprocess
import time
import unittest

from harness import RouterTestCase, gopher_backend, plain_request, proc_pipe_count, read_until_close
from ctest_manifest import ctest

BULK = 4 * 1024 * 1024
DRIP = 51_200
TRICKLE = 6 * 1024 * 1024


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

    def test_dripped_reply_is_copied_not_spliced(self):
        """A reply that arrives in small pieces (512 bytes every 10 ms) stays in the copy
        phase: each read is short, so no pipe is made. (It would take some 400 ms of the
        router not reading for 20 KiB to pile up and fill a read; that would be bulk.)"""
        baseline = proc_pipe_count(self.pid)
        reply = plain_request(self.port, f"slow/{DRIP}\r\n".encode())
        self.assertEqual(reply, gopher_backend.expected_bytes(DRIP))
        self.assertEqual(proc_pipe_count(self.pid), baseline, "the dripped reply was spliced")

    @ctest(timeout=60)
    def test_trickled_reply_to_a_stalled_client(self):
        """A reply trickled in 4000-byte pieces to a client that reads nothing for 3 s:
        the router's socket to the client fills (its send queue is seen holding what the
        client cannot take), the copy phase keeps the unsent rest while it waits, and
        everything arrives whole and in order once the client reads. Whether the backlog
        then moves to splice is the splice-auto rule's business, not asserted here."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(30)
        sock.connect(("127.0.0.1", self.port))
        sock.sendall(f"trickle/{TRICKLE}\r\n".encode())
        time.sleep(3)  # the backend trickles up to ~4 MB/s; the client takes nothing
        held = router_send_queue(self.port, sock.getsockname()[1])
        self.assertGreaterEqual(held, 256 * 1024, "the client's stall never reached the router")
        data, how = read_until_close(sock, timeout=30)
        self.assertEqual(how, "eof")
        self.assertEqual(len(data), TRICKLE)
        self.assertEqual(data, gopher_backend.expected_bytes(TRICKLE))


def router_send_queue(router_port, client_port):
    """Send-Q of the router's socket from `router_port` to `client_port` (ss -tn)."""
    out = subprocess.run(
        ["ss", "-tnH", "state", "established", f"( sport = :{router_port} and dport = :{client_port} )"],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    ).stdout.split()
    return int(out[1]) if len(out) >= 2 else 0

if __name__ == "__main__":
    unittest.main()
