"""ClientHellos of any shape on a terminated route: small and large (a long ALPN list
makes 2.5 KB and 15 KB, as post-quantum key shares do), sent whole, in 1-byte and in
100-byte TCP segments with pauses, and re-framed into one, two or three TLS records
(RFC 8446 section 5.1 lets a handshake message span records)."""

import unittest

from harness import BioTlsClient, RouterTestCase


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def padded_alpn(total):
    """`gopher` and enough 250-byte protocol names for an ALPN list of about `total` bytes."""
    names = ["gopher"]
    while sum(len(n) + 1 for n in names) < total:
        names.append(f"x-pad-{len(names):03d}-".ljust(250, "p"))
    return names


SIZES = {"small": ["gopher"], "2.5KB": padded_alpn(2500), "15KB": padded_alpn(15000)}
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


if __name__ == "__main__":
    unittest.main()
