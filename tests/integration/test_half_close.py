"""Half-close: the client's end of writing reaches the backend, the reply still flows back."""

import socket
import time
import unittest

from harness import BioTlsClient, RouterTestCase, read_until_close

EXTRA = b"after-the-line"


class HalfClose(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.start_standard()

    def test_plaintext_half_close(self):
        """Plaintext shutdown(SHUT_WR) reaches the backend as EOF; the whole reply comes back."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.sendall(b"until-eof\r\n")
            time.sleep(0.2)
            sock.sendall(EXTRA)
            time.sleep(0.2)
            sock.shutdown(socket.SHUT_WR)
            data, how = read_until_close(sock)
        self.assertEqual(data, f"L eof-after={len(EXTRA)}\r\n".encode())
        self.assertEqual(how, "eof")

    def test_tls_half_close(self):
        """TLS close_notify + FIN reaches the backend as EOF; the reply ends with close_notify."""
        client = BioTlsClient(self.port, "a.test")
        self.addCleanup(client.close)
        client.handshake()
        client.send(b"until-eof\r\n")
        time.sleep(0.2)
        client.send(EXTRA)
        time.sleep(0.2)
        client.send_close_notify()
        client.sock.shutdown(socket.SHUT_WR)
        self.assertEqual(client.read_until_end(), f"A eof-after={len(EXTRA)}\r\n".encode())
        self.assertEqual(client.ending, "close_notify")
        self.assertTrue(client.tcp_eof_follows(), "no FIN after close_notify")


if __name__ == "__main__":
    unittest.main()
