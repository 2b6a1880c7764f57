"""ClientHellos of any shape on a terminated route: small and large (a long ALPN list
makes 2.5 KB and 15 KB, as post-quantum key shares do), sent whole, in 1-byte and in
100-byte TCP segments with pauses, and re-framed into one, two or three TLS records
(RFC 8446 section 5.1 lets a handshake message span records). Past 16 KiB + 5 bytes a
ClientHello is refused on both kinds of route, and counted."""

import ssl
import unittest

from harness import (MARGIN, BioTlsClient, RouterTestCase, fetch_admin, metric_value,
                     parse_metrics, wait_until)


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def padded_alpn(total):
    """`gopher` and enough 250-byte protocol names for an ALPN list of about `total` bytes."""
    names = ["gopher"]
    while sum(len(n) + 1 for n in names) < total:
        names.append(f"x-pad-{len(names):03d}-".ljust(250, "p"))
    return names


SIZES = {"small": ["gopher"], "2.5KB": padded_alpn(2500), "15KB": padded_alpn(15000)}
# Just under the cap (16 KiB + 5 in all) even in three records, and just over it.
AT_CAP = padded_alpn(16000)
OVER_CAP = padded_alpn(16500)
SPLITS = {"whole": (None, 0.0), "1-byte": (1, 0.0), "100-byte": (100, 0.002)}


class ClientHelloShapes(RouterTestCase):
    def test_terminated_route_takes_every_shape(self):
        """Every (size, TCP split, record count) completes the handshake with ALPN gopher
        and gets route a's reply."""
        self.start_standard(timeouts={"handshake": "10s"})
        for size, alpn in SIZES.items():
            for split, (piece, pause) in SPLITS.items():
                for records in (1, 2, 3):
                    with self.subTest(size=size, split=split, records=records):
                        client = BioTlsClient(self.port, "a.test", alpn=alpn)
                        try:
                            client.handshake(piece=piece, pause=pause, records=records)
                            self.assertEqual(client.tls.selected_alpn_protocol(), "gopher")
                            selector = f"{size}-{split}-{records}"
                            client.send(f"{selector}\r\n".encode())
                            self.assertEqual(client.read_until_end(), reply("A", selector))
                        finally:
                            client.close()


class ClientHelloCap(RouterTestCase):
    def standard_config(self, *args):
        config = super().standard_config(*args)
        config["admin"] = {"address": "127.0.0.1:0"}
        return config

    def too_large_count(self):
        samples = parse_metrics(fetch_admin(self.router))
        return metric_value(samples, "got_router_tls_handshakes_total",
                            outcome="client_hello_too_large")

    def test_over_the_cap_is_refused_and_counted(self):
        """A ClientHello of 16,000 bytes in three records completes, on a terminated and
        on a passthrough route; one of 16,500 is closed before any reply, counted as
        client_hello_too_large, and reaches no backend."""
        dead = f"127.0.0.1:{self.refused_port()}"
        self.start_standard(timeouts={"handshake": "10s"}, extra_routes=[
            {"name": "pt", "sni": ["pt.test"], "tls": "passthrough", "backends": [dead]}])
        client = BioTlsClient(self.port, "a.test", alpn=AT_CAP)
        try:
            client.handshake(records=3)
            client.send(b"at-cap\r\n")
            self.assertEqual(client.read_until_end(), reply("A", "at-cap"))
        finally:
            client.close()
        for count, name in enumerate(("a.test", "pt.test"), 1):
            with self.subTest(name=name):
                client = BioTlsClient(self.port, name, alpn=OVER_CAP)
                try:
                    with self.assertRaises((ssl.SSLError, OSError)):
                        client.handshake(piece=1000, pause=0.001)
                finally:
                    client.close()
                failed = lambda: [f for f in self.router.access_lines()
                                  if f.get("outcome") != "ok"]
                self.assertTrue(wait_until(lambda: len(failed()) == count, MARGIN),
                                self.router.stderr_text())
                self.assertEqual(failed()[-1]["outcome"], "handshake_failed")
                self.assertEqual(failed()[-1]["backend"], "-")
                self.assertEqual(self.too_large_count(), count)
        self.assertEqual(self.backends["A"].requests(), [repr("at-cap")])


if __name__ == "__main__":
    unittest.main()
