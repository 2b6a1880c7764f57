"""The accept loop asks the listener how many connections are queued (getsockopt
TCP_INFO) instead of finding the end with an accept4 that fails: Linux allocates a
socket, a file and an inode for every accept4 and frees them when the queue is empty.
Seen in the router's system calls (strace attached to the real binary): every accept4
returns a connection, and every connection is served, whether they come in a burst
(queued while the router is busy) or one after another (each waking the listener)."""

import re
import socket
import threading
import time
import unittest

from harness import CLIENT_TIMEOUT, RouterTestCase, plain_request, strace_during


class AcceptQueue(RouterTestCase):
    def traced(self, exchange):
        return strace_during(self.router.proc.pid, "accept4,getsockopt", exchange,
                             self.dir / "strace.log")

    def assert_accepts_without_failure(self, calls, connections):
        # (two loops' calls at once are logged as "accept4(... <unfinished ...>" and
        # "<... accept4 resumed>... = N")
        accepts = re.findall(r"^\d+\s+(?:accept4\(|<\.\.\. accept4 resumed>).*$", calls, re.M)
        self.assertEqual(len([a for a in accepts if re.search(r"\) = \d+$", a)]), connections,
                         calls)
        self.assertEqual([a for a in accepts if "EAGAIN" in a], [], calls)
        self.assertRegex(calls, r"getsockopt\(\d+, SOL_TCP, TCP_INFO, ")

    def test_a_burst_is_taken_by_the_queue_length(self):
        self.start_standard()
        count = 24

        def burst():
            socks = [socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT)
                     for _ in range(count)]  # all queued before the router takes them
            try:
                for i, sock in enumerate(socks):
                    sock.sendall(b"burst-%d\r\n" % i)
                replies = []
                for sock in socks:
                    data = b""
                    while chunk := sock.recv(65536):
                        data += chunk
                    replies.append(data)
                return replies
            finally:
                for sock in socks:
                    sock.close()

        replies, calls = self.traced(burst)
        for i, reply in enumerate(replies):
            self.assertIn(b"L selector=burst-%d\r\n" % i, reply)
        self.assert_accepts_without_failure(calls, count)

    def test_connections_one_after_another_are_each_served(self):
        # Each arrives while the loop may be between the question and its wait: an edge
        # lost there would leave a connection unanswered until the client's timeout.
        self.start_standard()
        count = 30
        replies = [None] * count

        def one(i):
            replies[i] = plain_request(self.port, b"paced-%d\r\n" % i)

        def paced():
            threads = []
            for i in range(count):
                t = threading.Thread(target=one, args=(i,))
                t.start()
                threads.append(t)
                time.sleep(0.01)
            for t in threads:
                t.join(CLIENT_TIMEOUT + 1)

        started = time.monotonic()
        _, calls = self.traced(paced)
        self.assertLess(time.monotonic() - started, CLIENT_TIMEOUT)
        for i, reply in enumerate(replies):
            self.assertIn(b"L selector=paced-%d\r\n" % i, reply or b"")
        self.assert_accepts_without_failure(calls, count)


if __name__ == "__main__":
    unittest.main()
