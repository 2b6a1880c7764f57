"""Hardening, hostile input: truncated and malformed TLS, SSLv2 hellos, oversize records,
bad SNI, NUL bytes and 64 KiB lines in plaintext.

Each case must end with a clean close or an answer of the router's own (TLS alert
records, or one Gopher error item) within its deadline; afterwards a normal request
succeeds and the router's descriptor count is back at its baseline (no leak). The idle
timeout is long on purpose: input that never becomes a valid request is bounded by
timeouts.handshake, not by the idle timeout.
"""

import random
import socket
import struct
import time
import unittest

from harness import (MARGIN, ERROR_ITEM, HardeningTestCase, client_hello_with_extension,
                     plain_request, proc_fd_count, raw_client_hello, read_until_close, sni_extension,
                     tls_connect, tls_records)

HANDSHAKE = 2.0
EARLY = 0.5
DEADLINE = HANDSHAKE + MARGIN
ALERT = 21


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def sslv2_client_hello():
    """An SSLv2-format CLIENT-HELLO (version 2, SSLv2 cipher specs), as old scanners send."""
    ciphers = bytes.fromhex("0700c0" "050080" "030080" "010080" "060040" "040080" "020080")
    challenge = bytes(range(0x20, 0x30))  # fixed, and free of line ends
    body = b"\x01" + struct.pack("!HHHH", 0x0002, len(ciphers), 0, len(challenge)) + ciphers + challenge
    return struct.pack("!H", 0x8000 | len(body)) + body


class MalformedInput(HardeningTestCase):
    def setUp(self):
        super().setUp()
        self.start_router_with(self.standard_hardening_config(
            timeouts={"handshake": f"{HANDSHAKE:g}s", "idle": "20s"}))
        self.pid = self.router.proc.pid
        self.assert_service()  # warm both paths before the baseline
        time.sleep(0.3)
        self.fd_baseline = proc_fd_count(self.pid, pipes=False)

    # -- checks

    def assert_service(self):
        """Other clients are unaffected: a plaintext and a TLS request succeed."""
        self.assertEqual(plain_request(self.port, b"normal\r\n", 10), reply("L", "normal"))
        with tls_connect(self.port, "a.test", timeout=10) as sock:
            sock.sendall(b"normal\r\n")
            self.assertEqual(read_until_close(sock, 10)[0], reply("A", "normal"))

    def assert_backends_saw_only_normal_requests(self):
        seen = {r for b in self.backends.values() for r in b.requests()}
        self.assertEqual(seen, {"'normal'"}, "hostile bytes reached a backend")
        accepted = sum(b.accepted() for b in self.backends.values())
        self.assertEqual(accepted, len([r for b in self.backends.values() for r in b.requests()]),
                         "a backend connection without a request line")

    def assert_no_leak(self):
        back = self.wait_until(lambda: proc_fd_count(self.pid, pipes=False) <= self.fd_baseline, MARGIN + 4)
        self.assertTrue(back, f"router fds {proc_fd_count(self.pid, pipes=False)} > baseline {self.fd_baseline}")

    def send_bad(self, data, half_close=False, pause_after=None):
        """Sends `data`, optionally FIN; returns (seconds until the router closed, reply bytes)."""
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        self.addCleanup(sock.close)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = time.monotonic()
        try:
            sock.sendall(data)
            if half_close:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the router may close before reading it all: a clean refusal
        try:
            got, _ = read_until_close(sock, DEADLINE)
        except TimeoutError as err:
            self.fail(f"router kept the connection open past {DEADLINE}s: {err}")
        return time.monotonic() - start, got

    def assert_tls_answer(self, got, alert_expected=False):
        """The reply is nothing, or TLS records (a server flight, an alert), never Gopher bytes.

        Record types 20 and 23 are allowed: a TLS 1.3 server flight is a dummy
        ChangeCipherSpec and encrypted records.
        """
        try:
            records = tls_records(got)
        except ValueError as err:
            self.fail(f"reply is not TLS records: {err}; {got[:80]!r}")
        if alert_expected and records:
            self.assertEqual(records[-1][0], ALERT, "the router's last record is not an alert")
        return records

    def assert_tls_case(self, data, half_close=False, alert_expected=False):
        elapsed, got = self.send_bad(data, half_close)
        self.assertLessEqual(elapsed, DEADLINE)
        self.assert_tls_answer(got, alert_expected)
        self.assert_backends_saw_only_normal_requests()
        self.assert_service()
        self.assert_no_leak()
        return elapsed, got

    def assert_plain_case(self, data):
        elapsed, got = self.send_bad(data)
        self.assertLessEqual(elapsed, DEADLINE)
        self.assertTrue(got == b"" or ERROR_ITEM.match(got),
                        f"expected a clean close or one error item, got {got[:120]!r}")
        self.assert_service()
        self.assert_no_leak()
        return got

    # -- TLS

    def test_truncated_record_then_fin(self):
        """20 bytes of a ClientHello record, then FIN: closed at once, no backend."""
        elapsed, _ = self.assert_tls_case(raw_client_hello()[:20], half_close=True)
        self.assertLess(elapsed, MARGIN, "an ended, truncated ClientHello waited for a deadline")

    def test_truncated_record_header_then_fin(self):
        """3 bytes of a record header, then FIN: closed at once, no backend."""
        elapsed, _ = self.assert_tls_case(b"\x16\x03\x01", half_close=True)
        self.assertLess(elapsed, MARGIN)

    def test_truncated_record_stalled(self):
        """Half a ClientHello and silence: closed at timeouts.handshake, no backend."""
        hello = raw_client_hello()
        elapsed, _ = self.assert_tls_case(hello[: len(hello) // 2])
        self.assertGreaterEqual(elapsed, HANDSHAKE - EARLY)

    def test_sslv2_client_hello(self):
        """An SSLv2-format CLIENT-HELLO (0x80 ...): refused within timeouts.handshake, no backend."""
        self.assert_tls_case(sslv2_client_hello())

    def test_client_hello_record_over_16k(self):
        """A ClientHello record of 16640 bytes (> 2^14): an alert and a close, no backend."""
        # Python's hello may carry a padding extension (21) already: size it from scratch.
        base = client_hello_with_extension(raw_client_hello(), 21, b"")
        padding = 16640 - (len(base) - 5)
        big = client_hello_with_extension(base, 21, b"\x00" * padding)
        self.assertEqual(struct.unpack("!H", big[3:5])[0], 16640)
        self.assert_tls_case(big, alert_expected=True)

    def test_empty_sni_host_name(self):
        """A server_name extension with an empty host name: alert or handshake, closed by the deadline."""
        self.assert_tls_case(client_hello_with_extension(raw_client_hello(), 0, sni_extension(b"")))

    def test_empty_sni_list(self):
        """A server_name extension with an empty name list: an alert and a close, no backend."""
        self.assert_tls_case(client_hello_with_extension(raw_client_hello(), 0, b"\x00\x00"),
                             alert_expected=True)

    def test_overlong_sni(self):
        """A 300-byte SNI host name (over the 255 limit): an alert and a close, no backend."""
        name = (b"x" * 59 + b".") * 4 + b"y" * 55 + b".test"
        self.assertEqual(len(name), 300)
        self.assert_tls_case(client_hello_with_extension(raw_client_hello(), 0, sni_extension(name)),
                             alert_expected=True)

    def test_garbage_after_record_header(self):
        """A valid handshake record header followed by 256 random bytes: an alert or a close, no backend."""
        garbage = random.Random(7).randbytes(256)
        self.assertNotEqual(garbage[0], 1)  # not even a ClientHello type byte
        self.assert_tls_case(b"\x16\x03\x01\x01\x00" + garbage)

    def test_garbage_client_hello_body(self):
        """A record header, the ClientHello type byte, then random bytes: an alert and a close."""
        garbage = random.Random(7).randbytes(255)
        self.assert_tls_case(b"\x16\x03\x01\x01\x00\x01" + garbage, alert_expected=True)

    # -- plaintext

    def test_nul_bytes_in_selector(self):
        """A plaintext selector with NUL bytes: one error item or a clean close, not a backend reply."""
        self.assert_plain_case(b"foo\x00bar\x00\r\n")

    def test_64k_line(self):
        """A 64 KiB plaintext line: one error item or a clean close within the deadline."""
        self.assert_plain_case(b"a" * 65536 + b"\r\n")


if __name__ == "__main__":
    unittest.main()
