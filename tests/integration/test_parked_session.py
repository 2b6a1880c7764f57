"""A GoT connection waiting for its request after the handshake (parked, no coroutine
while it waits), seen in the router's system calls (strace attached to the real binary):
the wait re-registers nothing with epoll when OpenSSL's read-ahead drained the socket
(one EPOLL_CTL_ADD for the client's socket in the whole connection, as nginx), and the
request that comes later is served; so is one sent right after the handshake, which may
reach the router with the client's Finished (then it is served without a wait at all)."""

import re
import time
import unittest

from harness import RouterTestCase, accepted_fd, read_until_close, strace_during, tls_connect


class ParkedSession(RouterTestCase):
    def exchange_traced(self, pause):
        """A GoT request `pause` seconds after the handshake; the reply and the router's
        accept4 and epoll_ctl calls."""
        def exchange():
            with tls_connect(self.port, "a.test") as sock:
                time.sleep(pause)  # parked meanwhile
                sock.sendall(b"parked\r\n")
                return read_until_close(sock)[0]

        return strace_during(self.router.proc.pid, "accept4,epoll_ctl", exchange,
                             self.dir / "strace.log")

    def test_parked_connection_waits_without_re_registration(self):
        self.start_standard()
        reply, calls = self.exchange_traced(0.3)
        self.assertIn(b"A selector=parked", reply)
        fd = accepted_fd(calls)
        self.assertEqual(len(re.findall(r"EPOLL_CTL_ADD, %s, " % fd, calls)), 1, calls)
        self.assertNotRegex(calls, r"EPOLL_CTL_MOD, %s, " % fd)

    def test_request_right_after_the_handshake_is_served(self):
        self.start_standard()
        reply, calls = self.exchange_traced(0)
        self.assertIn(b"A selector=parked", reply)
        self.assertNotRegex(calls, r"EPOLL_CTL_MOD, %s, " % accepted_fd(calls))


if __name__ == "__main__":
    unittest.main()
