"""How the router connects a backend, seen in its system calls (strace attached to the
real binary): a connect that has completed by the time connect(2) returns is told by a
send that carries the first bytes (the request line), with no wait for writable, no
getsockopt(SO_ERROR) and no write of its own; one still under way waits as before; a
refused one is told by the same send and answered at once; a backend that must get a
PROXY header first is asked with a send of no bytes."""

import re
import socket
import time
import unittest

from harness import (CONNECT_TIMEOUT, MARGIN, RouterTestCase, plain_request, strace_during,
                     wait_peer_close)


class BackendConnect(RouterTestCase):
    def trace(self, exchange):
        """Runs `exchange()` with strace attached to the router; returns its result and the
        system calls seen (connect, sendto, getsockopt, epoll_ctl)."""
        return strace_during(self.router.proc.pid, "connect,sendto,getsockopt,epoll_ctl",
                             exchange, self.dir / "strace.log")

    @staticmethod
    def backend_fd(calls, port):
        """The descriptor the router connected to `port`, and the connect's result."""
        m = re.search(r"connect\((\d+), \{sa_family=AF_INET, sin_port=htons\(%d\).*\) = (.*)$"
                      % port, calls, re.M)
        if not m:
            raise AssertionError(f"no connect to port {port} in:\n{calls}")
        return m.group(1), m.group(2)

    def test_backend_on_this_host_is_connected_without_a_wait(self):
        """A loopback backend: connect(2) says EINPROGRESS, the send of the request line
        right after it sends it whole; no getsockopt(SO_ERROR) is made, the request is sent
        once, and the reply is whole. The backend socket is registered with EPOLLOUT and
        EPOLLRDHUP in its EPOLL_CTL_ADD (the client's with EPOLLRDHUP alone,
        test_client_registration), and nothing is re-registered (no EPOLL_CTL_MOD for
        the backend, the client or the listener's next wait)."""
        self.start_standard()
        backend_port = self.backends["L"].port
        reply, calls = self.trace(lambda: plain_request(self.port, b"hello\r\n"))
        self.assertIn(b"hello", reply)
        fd, result = self.backend_fd(calls, backend_port)
        self.assertIn("EINPROGRESS", result)
        self.assertRegex(
            calls, r"sendto\(%s, \"hello\\r\\n\", 7, MSG_DONTWAIT\|MSG_NOSIGNAL, NULL, 0\) = 7" % fd)
        self.assertEqual(len(re.findall(r"sendto\(%s, \"hello" % fd, calls)), 1, calls)
        self.assertNotRegex(calls, r"getsockopt\(%s, SOL_SOCKET, SO_ERROR" % fd)
        self.assertRegex(
            calls, r"epoll_ctl\(\d+, EPOLL_CTL_ADD, %s, \{events=[^}]*EPOLLOUT[^}]*EPOLLRDHUP" % fd)
        self.assertNotIn("EPOLL_CTL_MOD", calls)

    def test_backend_that_takes_a_proxy_header_is_asked_with_no_bytes(self):
        """send_proxy: v1: the header must come first, so the connect is told by a send of
        no bytes, and the header, then the request, follow."""
        self.start_standard()
        backend = self.backends["L"]
        self.write_config_and_reload({**self.standard_config(
            None, None, None, None, {"address": backend.address, "send_proxy": "v1"}, ())})
        _, calls = self.trace(lambda: plain_request(self.port, b"hello\r\n"))
        fd, result = self.backend_fd(calls, backend.port)
        self.assertIn("EINPROGRESS", result)
        self.assertRegex(calls, r"sendto\(%s, \"\", 0, MSG_DONTWAIT\|MSG_NOSIGNAL, NULL, 0\) = 0" % fd)
        self.assertRegex(calls, r"sendto\(%s, \"PROXY TCP4 " % fd)
        self.assertNotRegex(calls, r"getsockopt\(%s, SOL_SOCKET, SO_ERROR" % fd)

    def test_connect_under_way_waits_then_times_out(self):
        """A backend whose SYNs are dropped: the send of the request says EAGAIN, the router
        waits (EPOLLOUT and EPOLLRDHUP in one MOD) and answers with the error item after
        timeouts.connect."""
        stuck = self.blackhole_port()
        self.start_standard(legacy_backend=f"127.0.0.1:{stuck}")

        def exchange():
            with socket.create_connection(("127.0.0.1", self.port), timeout=10) as sock:
                sock.sendall(b"sel\r\n")
                return wait_peer_close(sock, CONNECT_TIMEOUT + MARGIN)

        (elapsed, reply), calls = self.trace(exchange)
        self.assert_error_item(reply)
        self.assertGreaterEqual(elapsed, CONNECT_TIMEOUT - 0.5)
        fd, result = self.backend_fd(calls, stuck)
        self.assertIn("EINPROGRESS", result)
        self.assertRegex(
            calls, r"sendto\(%s, \"sel\\r\\n\", 5, MSG_DONTWAIT\|MSG_NOSIGNAL, NULL, 0\) = -1 EAGAIN" % fd)
        self.assertRegex(
            calls, r"epoll_ctl\(\d+, EPOLL_CTL_MOD, %s, \{events=[^}]*EPOLLOUT[^}]*EPOLLRDHUP" % fd)

    def test_refused_connect_is_told_by_the_send(self):
        """Nothing listens on the backend's port: the send of the request reports
        ECONNREFUSED and the client gets the error item, with no wait."""
        dead = self.refused_port()
        self.start_standard(legacy_backend=f"127.0.0.1:{dead}")
        started = time.monotonic()
        reply, calls = self.trace(lambda: plain_request(self.port, b"sel\r\n"))
        self.assert_error_item(reply)
        self.assertLess(time.monotonic() - started, CONNECT_TIMEOUT)
        fd, _ = self.backend_fd(calls, dead)
        self.assertRegex(
            calls, r"sendto\(%s, \"sel\\r\\n\", 5, MSG_DONTWAIT\|MSG_NOSIGNAL, NULL, 0\) = -1 ECONNREFUSED" % fd)


if __name__ == "__main__":
    unittest.main()
