"""A backend's FIN that epoll reports together with the last bytes of its reply is passed
on to the client at once: the read that finds it is made by the pump itself, not
through an Asio operation whose completion would be posted to a later turn of the loop
(an epoll_wait in between, most often finding nothing). Seen in the router's system
calls (strace attached to the real binary), over plaintext requests to a backend that
sends its reply and closes."""

import re
import unittest

from harness import RouterTestCase, merge_resumed, plain_request, strace_during

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


if __name__ == "__main__":
    unittest.main()
