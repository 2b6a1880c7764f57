"""A backend's FIN that epoll reports together with the last bytes of its reply is passed
on to the client at once: the read that finds it is made by the pump itself, not
through an Asio operation whose completion would be posted to a later turn of the loop
(an epoll_wait in between, most often finding nothing). Seen in the router's system
calls (strace attached to the real binary), over plaintext requests to a backend that
sends its reply and closes. For a GoT client, the FIN that came with the reply's last
bytes is seen before they are sent on: the last record and close_notify leave in one
send."""

import re
import unittest

from harness import (RouterTestCase, merge_resumed, plain_request, read_until_close, strace_during,
                     tls_connect)

REQUESTS = 20


class BackendFin(RouterTestCase):
    def test_a_fin_reported_with_the_reply_is_passed_on_in_the_same_turn(self):
        self.start_standard()
        backend_port = self.backends["L"].port

        def requests():
            return [plain_request(self.port, b"fin-%d\r\n" % i) for i in range(REQUESTS)]

        replies, calls = strace_during(
            self.router.proc.pid, "connect,recvfrom,shutdown,epoll_ctl,epoll_wait", requests,
            self.dir / "strace.log")
        for i, reply in enumerate(replies):
            self.assertIn(b"L selector=fin-%d\r\n" % i, reply)

        # (tid, call): a connection's calls are all made by the loop that accepted it
        traced = [tuple(line.split(" ", 1)) for line in merge_resumed(calls).splitlines()]
        together = 0
        for i, (tid, line) in enumerate(traced):
            m = re.match(r"connect\((\d+), \{sa_family=AF_INET, sin_port=htons\(%d\)"
                         % backend_port, line)
            if not m:
                continue
            fd = m.group(1)
            lines = [x for t, x in traced[:i] if t == tid]
            add = next((x for x in lines[::-1]
                        if x.startswith("epoll_ctl(") and f"EPOLL_CTL_ADD, {fd}," in x), None)
            self.assertIsNotNone(add, calls)
            key = re.search(r"u64=(\d+)", add).group(1)
            rest = [x for t, x in traced[i + 1:] if t == tid]
            eof = next((j for j, x in enumerate(rest)
                        if x.startswith(f"recvfrom({fd}, \"\"") and x.endswith("= 0")), None)
            self.assertIsNotNone(eof, "no EOF read from the backend:\n" + calls)
            # The last report for the backend before its EOF read: with the FIN in it?
            report = next((x for x in rest[:eof][::-1]
                           if x.startswith("epoll_wait(") and f"u64={key}}}" in x), None)
            if report is None or not re.search(
                    r"\{events=[A-Z|]*EPOLLRDHUP[A-Z|]*, data=\{u32=\d+, u64=%s\}" % key,
                    report):
                continue  # the FIN came on its own edge: a wait was due
            together += 1
            after = rest[eof + 1:]
            shutdown = next((j for j, x in enumerate(after) if x.startswith("shutdown(")),
                            None)
            self.assertIsNotNone(shutdown, calls)
            self.assertEqual([x for x in after[:shutdown] if x.startswith("epoll_wait(")], [],
                             "a turn of the loop between the backend's EOF and the "
                             "client's FIN:\n" + "\n".join(rest[:eof + 1 + shutdown + 1]))
        self.assertGreater(together, 0, "no backend FIN came with its reply in %d requests:\n%s"
                           % (REQUESTS, calls))

    def test_tls_reply_and_close_notify_leave_together(self):
        self.start_standard()
        backend_port = self.backends["A"].port

        def requests():
            replies = []
            for i in range(REQUESTS):
                with tls_connect(self.port, "a.test") as sock:
                    sock.sendall(b"fin-%d\r\n" % i)
                    replies.append(read_until_close(sock))
            return replies

        replies, calls = strace_during(self.router.proc.pid,
                                       "accept4,connect,recvfrom,sendto,shutdown", requests,
                                       self.dir / "strace.log")
        for i, (reply, how) in enumerate(replies):
            self.assertEqual(reply, b"A selector=fin-%d\r\n.\r\n" % i)
            self.assertEqual(how, "eof", "the reply must end with close_notify")  # not tls_eof

        traced = [tuple(line.split(" ", 1)) for line in merge_resumed(calls).splitlines()]
        client = {}  # tid -> the client socket its loop accepted last
        sends_per_reply = []
        for i, (tid, line) in enumerate(traced):
            if m := re.match(r"accept4\(\d+, .*\) = (\d+)$", line):
                client[tid] = m.group(1)
                continue
            m = re.match(r"connect\((\d+), \{sa_family=AF_INET, sin_port=htons\(%d\)"
                         % backend_port, line)
            if not m or tid not in client:
                continue
            fd, cfd = m.group(1), client[tid]
            rest = [x for t, x in traced[i + 1:] if t == tid]
            end = next(j for j, x in enumerate(rest) if x.startswith(f"shutdown({cfd}, "))
            data = [j for j, x in enumerate(rest[:end])
                    if x.startswith(f"recvfrom({fd}, ") and re.search(r"= [1-9]\d*$", x)]
            self.assertTrue(data, "no reply read from the backend:\n" + "\n".join(rest))
            sends = [x for x in rest[data[-1]:end] if x.startswith(f"sendto({cfd}, ")]
            sends_per_reply.append(len(sends))
            # The FIN read right after the reply's bytes: both records in one send.
            if rest[data[-1] + 1].startswith(f"recvfrom({fd}, \"\"") and \
                    rest[data[-1] + 1].endswith("= 0"):
                self.assertEqual(len(sends), 1, "\n".join(rest[:end + 1]))
        self.assertEqual(len(sends_per_reply), REQUESTS, calls)
        self.assertIn(1, sends_per_reply, "the reply's last record and close_notify never "
                      "left together in %d requests:\n%s" % (REQUESTS, calls))


if __name__ == "__main__":
    unittest.main()
