"""A GoT connection waiting for its request after the handshake (parked, no coroutine
while it waits), seen in the router's system calls (strace attached to the real binary):
the wait re-registers nothing with epoll when OpenSSL's read-ahead drained the socket
(one EPOLL_CTL_ADD for the client's socket in the whole connection, as nginx), and the
request that comes later is served; so is one sent right after the handshake, which may
reach the router with the client's Finished (then it is served without a wait at all).
And the handshake, having sent its flight, waits for the client's answer without first
trying a read that cannot find it (the client has a certificate to check and keys to
derive): no recvfrom on the client's socket says EAGAIN between the server's flight and
the client's Finished."""

import re
import time
import unittest

from harness import (RouterTestCase, accepted_fd, merge_resumed, read_until_close, strace_during,
                     tls_connect)


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

    def test_handshake_waits_for_the_finished_without_a_read(self):
        self.start_standard()

        def exchanges():
            replies = []
            for i in range(10):
                with tls_connect(self.port, "a.test") as sock:
                    sock.sendall(b"flight%d\r\n" % i)
                    replies.append(read_until_close(sock)[0])
            return replies

        replies, calls = strace_during(self.router.proc.pid, "accept4,recvfrom,sendto",
                                       exchanges, self.dir / "strace.log")
        for i, reply in enumerate(replies):
            self.assertIn(b"A selector=flight%d" % i, reply)
        # Per accepted socket, in the order the calls were made: its first sendto is the
        # server's flight; the recvfrom after it must be the one that gets the Finished.
        state, flights, answered = {}, 0, 0
        for line in merge_resumed(calls).splitlines():
            if m := re.search(r"accept4\(\d+, .*\) = (\d+)$", line):
                state[m.group(1)] = "accepted"
            elif (m := re.search(r"sendto\((\d+), ", line)) and state.get(m.group(1)) == "accepted":
                state[m.group(1)] = "flight sent"
                flights += 1
            elif (m := re.search(r"recvfrom\((\d+), .*\) = (-?\d+)", line)) and \
                    state.get(m.group(1)) == "flight sent":
                self.assertNotEqual(m.group(2), "-1", "a read that found nothing after the "
                                    "flight:\n" + calls)
                state[m.group(1)] = "answered"
                answered += 1
        self.assertEqual((flights, answered), (10, 10), calls)


if __name__ == "__main__":
    unittest.main()
