"""Clients that dribble: a selector one byte at a time, a ClientHello in tiny pieces."""

import socket
import time
import unittest

from harness import BioTlsClient, RouterTestCase, read_until_close, tls_connect

PAUSE = 0.05
SELECTOR = "dribbled/selector"


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


def send_bytewise(sock, data, pause=PAUSE):
    for i in range(len(data)):
        sock.sendall(data[i : i + 1])
        time.sleep(pause)


class SlowClients(RouterTestCase):
    def setUp(self):
        super().setUp()
        # A generous handshake timeout: these tests prove reassembly, not timeouts.
        self.start_standard(timeouts={"handshake": "15s", "idle": "10s"})

    def test_plaintext_selector_byte_by_byte(self):
        """A plaintext selector sent one byte per segment is classified and forwarded whole."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=20) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            send_bytewise(sock, f"{SELECTOR}\r\n".encode())
            self.assertEqual(read_until_close(sock)[0], reply("L", SELECTOR))

    def test_tls_selector_byte_by_byte(self):
        """After the handshake, a selector sent one byte per TLS record is forwarded whole."""
        with tls_connect(self.port, "a.test") as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            send_bytewise(sock, f"{SELECTOR}\r\n".encode())
            self.assertEqual(read_until_close(sock)[0], reply("A", SELECTOR))

    def test_client_hello_dribbled(self):
        """A handshake sent one byte per segment still gets SNI routing and ALPN gopher."""
        client = BioTlsClient(self.port, "x.wild.test")
        self.addCleanup(client.close)
        client.handshake(piece=1, pause=0.002)
        self.assertEqual(client.tls.selected_alpn_protocol(), "gopher")
        client.send(f"{SELECTOR}\r\n".encode())
        self.assertEqual(client.read_until_end(), reply("W", SELECTOR))


if __name__ == "__main__":
    unittest.main()
