"""A client's socket is registered with epoll as nginx registers one it accepts: for
readable and peer-close events (EPOLLRDHUP) but not for writable ones until something
waits for room. Every ACK of bytes the router sent raises a writable edge; registered
from the start, each would be a report, and a wake-up of the loop, with nothing to do.
Seen in the router's system calls (strace attached to the real binary): a small reply
brings no writable report for the client, and a large reply to a client that reads
late adds EPOLLOUT once (Asio's epoll_ctl(MOD) on the first wait for room) and arrives
whole."""

import hashlib
import re
import socket
import time
import unittest

from harness import (CLIENT_TIMEOUT, RouterTestCase, accepted_fd, gopher_backend, merge_resumed,
                     plain_request, strace_during)


class ClientRegistration(RouterTestCase):
    def traced(self, exchange):
        result, calls = strace_during(self.router.proc.pid, "accept4,epoll_ctl,epoll_wait",
                                      exchange, self.dir / "strace.log")
        return result, merge_resumed(calls)

    @staticmethod
    def client_registration(calls):
        """The accepted descriptor's EPOLL_CTL_ADD: (events, the u64 epoll reports it by)."""
        fd = accepted_fd(calls)
        add = re.search(r"epoll_ctl\(\d+, EPOLL_CTL_ADD, %s, \{events=([A-Z|]+), "
                        r"data=\{u32=\d+, u64=(\d+)\}" % fd, calls)
        if not add:
            raise AssertionError(f"no EPOLL_CTL_ADD for fd {fd} in:\n{calls}")
        return fd, add.group(1).split("|"), add.group(2)

    def test_a_small_reply_raises_no_writable_report(self):
        self.start_standard()
        reply, calls = self.traced(lambda: plain_request(self.port, b"small\r\n"))
        self.assertIn(b"L selector=small\r\n", reply)
        fd, events, key = self.client_registration(calls)
        self.assertIn("EPOLLRDHUP", events)
        self.assertIn("EPOLLET", events)
        self.assertNotIn("EPOLLOUT", events)
        reports = re.findall(r"\{events=([A-Z|]+), data=\{u32=\d+, u64=%s\}\}" % key, calls)
        self.assertTrue(reports, calls)  # its request, its FIN
        self.assertEqual([r for r in reports if "EPOLLOUT" in r], [], calls)
        self.assertNotRegex(calls, r"EPOLL_CTL_MOD, %s," % fd)

    def test_a_large_reply_to_a_late_reader_adds_writable_once(self):
        self.start_standard()
        size = 8 << 20  # far more than the socket buffers hold

        def late_reader():
            with socket.create_connection(("127.0.0.1", self.port),
                                          timeout=CLIENT_TIMEOUT) as sock:
                sock.sendall(b"size/%d\r\n" % size)
                time.sleep(0.5)  # the router fills the socket and waits for room
                digest, n = hashlib.sha256(), 0
                while chunk := sock.recv(1 << 16):
                    digest.update(chunk)
                    n += len(chunk)
                return n, digest.hexdigest()

        (n, digest), calls = self.traced(late_reader)
        self.assertEqual(n, size)
        self.assertEqual(digest, gopher_backend.expected_sha256(size))
        fd, events, key = self.client_registration(calls)
        self.assertNotIn("EPOLLOUT", events)
        mods = re.findall(r"epoll_ctl\(\d+, EPOLL_CTL_MOD, %s, \{events=([A-Z|]+)," % fd, calls)
        self.assertEqual(len(mods), 1, calls)
        self.assertIn("EPOLLOUT", mods[0].split("|"))
        self.assertIn("EPOLLRDHUP", mods[0].split("|"))  # the peer-close watch is kept


if __name__ == "__main__":
    unittest.main()
