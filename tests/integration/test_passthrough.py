"""TLS passthrough (`tls: passthrough` on a route): the router reads the whole ClientHello
and scans it itself (no SSL object), or leaves one its scan does not take to OpenSSL's
parser (its ClientHello callback stops the handshake); either way it picks the route
from the SNI and offered ALPN, replays the bytes to the backend and splices raw TLS. The
backend is a real `openssl s_server`: the client sees its certificate, and a large file
arrives byte-identical; a PROXY v2 header to the backend carries the SNI."""

import hashlib
import os
import socket
import ssl
import subprocess
import sys
import threading
import unittest

from ctest_manifest import ctest
from harness import (MARGIN, REPO_ROOT, START_TIMEOUT, Backend, BioTlsClient, RouterTestCase,
                     client_context, client_hello_with_extension, make_self_signed,
                     proc_pipe_count, raw_client_hello, tcp_listening, tls_connect, wait_until)

PROXY_BACKEND_SCRIPT = REPO_ROOT / "tests" / "support" / "proxy_backend.py"


class Passthrough(RouterTestCase):
    def start_s_server(self, www_dir):
        """`openssl s_server -WWW` on a free port with the backend's own certificate."""
        self.backend_cert = make_self_signed(self.dir, "backend", ["pt.test"], "got-test-backend")
        port = self.dead_port()
        proc = self.spawn(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                           str(self.backend_cert.cert), "-key", str(self.backend_cert.key),
                           "-WWW", "-quiet"], cwd=str(www_dir), stdout=subprocess.DEVNULL)
        ok = wait_until(lambda: proc.poll() is None and tcp_listening(port), START_TIMEOUT)
        self.assertTrue(ok, "s_server did not start")
        return f"127.0.0.1:{port}"

    def start_with(self, backend, send_proxy=None, timeouts=None):
        entry = {"address": backend, **({"send_proxy": send_proxy} if send_proxy else {})}
        self.start_standard(timeouts=timeouts, extra_routes=[
            {"name": "pt", "sni": ["pt.test"], "tls": "passthrough", "backends": [entry]}])

    def https_get(self, path, server_hostname="pt.test", records=1):
        """GET over TLS through the router; (the reply's body, the peer's certificate)."""
        client = BioTlsClient(self.port, server_hostname, alpn=("http/1.1",), timeout=60)
        try:
            client.handshake(records=records)
            der = client.tls.getpeercert(binary_form=True)
            client.send(f"GET /{path} HTTP/1.0\r\n\r\n".encode())
            reply = client.read_until_end(timeout=120)
        finally:
            client.close()
        head, _, body = reply.partition(b"\r\n\r\n")
        self.assertIn(b" 200 ", head.split(b"\r\n")[0], head)
        return body, der

    def test_client_sees_the_backends_certificate(self):
        """Through a passthrough route the client completes TLS with s_server (its
        certificate); a.test on the same port is still terminated by the router."""
        www = self.dir / "www"
        www.mkdir()
        (www / "hello.txt").write_bytes(b"hello through\n")
        self.start_with(self.start_s_server(www))
        body, der = self.https_get("hello.txt")
        self.assertEqual(body, b"hello through\n")
        self.assertEqual(der, ssl.PEM_cert_to_DER_cert(open(self.backend_cert.cert).read()))
        with tls_connect(self.port, "a.test") as sock:
            self.assertNotEqual(sock.getpeercert(binary_form=True), der)
        fields = self.router.wait_access(lambda f: f.get("route") == "pt")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual(fields["transport"], "tls_passthrough")
        self.assertEqual(fields["sni"], "pt.test")
        self.assertEqual(fields["alpn"], "http/1.1")
        self.assertEqual(fields["tls_version"], "-")
        self.assertEqual(fields["outcome"], "ok")

    def test_client_hellos_of_any_shape_pass_through(self):
        """Small and 15 KB ClientHellos, whole, in 1-byte and in 100-byte segments, in one
        to three records, are replayed as they came and complete with s_server."""
        www = self.dir / "www"
        www.mkdir()
        (www / "a.txt").write_bytes(b"any shape\n")
        # 15,000 one-byte segments take longer than the standard 2 s handshake deadline.
        self.start_with(self.start_s_server(www), timeouts={"handshake": "10s"})
        long_alpn = ["http/1.1"] + [f"x-pad-{i:03d}-".ljust(250, "p") for i in range(60)]
        for size, alpn in (("small", ("http/1.1",)), ("15KB", long_alpn)):
            for piece, pause in ((None, 0.0), (1, 0.0), (100, 0.002)):
                for records in (1, 2, 3):
                    with self.subTest(size=size, piece=piece, records=records):
                        client = BioTlsClient(self.port, "pt.test", alpn=alpn, timeout=60)
                        try:
                            client.handshake(piece=piece, pause=pause, records=records)
                            client.send(b"GET /a.txt HTTP/1.0\r\n\r\n")
                            reply = client.read_until_end(timeout=30)
                        finally:
                            client.close()
                        self.assertTrue(reply.endswith(b"\r\n\r\nany shape\n"), reply[:200])

    def test_terminated_beside_passthrough_takes_large_uploads(self):
        """With a passthrough route in the config every TLS handshake is recorded in case
        it must be replayed; a terminated connection stops recording at the end of its
        handshake, so 200 KB from the client reach the backend."""
        www = self.dir / "www"
        www.mkdir()
        self.start_with(self.start_s_server(www))
        client = BioTlsClient(self.port, "a.test")
        try:
            client.handshake()
            client.send(b"until-eof\r\n" + b"u" * 200_000)
            client.send_close_notify()
            reply = client.read_until_end()
        finally:
            client.close()
        self.assertEqual(reply, b"A eof-after=200000\r\n")

    @ctest(timeout=300, serial=True)
    def test_1gib_byte_identical(self):
        """1 GiB from s_server through the raw splice arrives byte-identical, copied
        (raw TLS comes in records of at most 16 KiB: no pipe is made for it)."""
        www = self.dir / "www"
        www.mkdir()
        digest = hashlib.sha256()
        with open(www / "big.bin", "wb") as f:
            block = os.urandom(1 << 20)
            for i in range(1024):
                chunk = i.to_bytes(4, "big") + block[4:]
                f.write(chunk)
                digest.update(chunk)
        self.start_with(self.start_s_server(www))
        pipes = proc_pipe_count(self.router.proc.pid)
        ctx = client_context(("http/1.1",))
        got = hashlib.sha256()
        size = 0
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as raw:
            with ctx.wrap_socket(raw, server_hostname="pt.test") as sock:
                sock.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
                head = b""
                while b"\r\n\r\n" not in head:
                    head += sock.recv(4096)
                head, _, rest = head.partition(b"\r\n\r\n")
                got.update(rest)
                size += len(rest)
                while True:
                    try:
                        data = sock.recv(1 << 20)
                    except (ssl.SSLEOFError, ConnectionResetError):
                        break
                    if not data:
                        break
                    got.update(data)
                    size += len(data)
        self.assertEqual(size, 1 << 30)
        self.assertEqual(got.hexdigest(), digest.hexdigest())
        self.assertEqual(proc_pipe_count(self.router.proc.pid), pipes, "raw TLS was spliced")

    def test_proxy_v2_carries_the_sni(self):
        """With send_proxy: v2 the backend's PROXY header has the SNI as its authority
        TLV and no SSL TLV (the router terminated nothing)."""
        proc = self.spawn([sys.executable, str(PROXY_BACKEND_SCRIPT), "--host", "127.0.0.1",
                           "--port", "0", "--name", "P"], stdout=subprocess.PIPE)
        backend = Backend(proc, "P")
        self.start_with(backend.address, send_proxy="v2")
        client = BioTlsClient(self.port, "pt.test", alpn=("http/1.1",))
        try:
            try:
                client.handshake()
            except (ssl.SSLError, OSError):
                pass  # the backend speaks no TLS: only its header matters here
        finally:
            client.close()
        line = backend.out.wait_for(lambda l: l.startswith("HEADER "), MARGIN + 2)
        self.assertIsNotNone(line, "\n".join(backend.out.snapshot()))
        self.assertIn("version=2", line)
        self.assertIn("authority=pt.test", line)
        self.assertNotIn("ssl_client", line)
        self.assertIn("tlvs=2", line)

    def capture_backend(self, counts):
        """A TCP listener that keeps, of its n-th connection, the first `counts[n]` bytes
        and then closes it; (its address, a function returning the n-th bytes once in)."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        listener.settimeout(MARGIN + 5)
        got = [bytearray() for _ in counts]
        done = [threading.Event() for _ in counts]

        def serve():
            for n, count in enumerate(counts):
                try:
                    conn, _ = listener.accept()
                    with conn:
                        conn.settimeout(MARGIN + 5)
                        while len(got[n]) < count:
                            data = conn.recv(65536)
                            if not data:
                                break
                            got[n].extend(data)
                except OSError:
                    pass
                done[n].set()

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        self.addCleanup(thread.join, 2 * (MARGIN + 6))

        def result(n):
            done[n].wait(MARGIN + 6)
            return bytes(got[n])

        return f"127.0.0.1:{listener.getsockname()[1]}", result

    def test_hellos_the_scan_leaves_to_openssl_pass_through_alike(self):
        """The router's scan takes a ClientHello of up to 64 extensions; one with 80
        (OpenSSL takes it) goes the OpenSSL way, stopped in its ClientHello callback. Both
        reach the backend byte for byte, with the same access line."""
        plain = raw_client_hello("pt.test", alpn=("http/1.1", "gopher"))
        padded = plain
        for i in range(80):
            padded = client_hello_with_extension(padded, 0xFA00 + i, b"")
        backend, received = self.capture_backend([len(plain), len(padded)])
        self.start_with(backend)
        for n, (name, hello) in enumerate((("scanned", plain), ("left to OpenSSL", padded))):
            with self.subTest(name):
                with socket.create_connection(("127.0.0.1", self.port), timeout=MARGIN) as c:
                    c.sendall(hello)
                    self.assertEqual(received(n), hello)
                fields = self.router.wait_access(
                    lambda f: f.get("route") == "pt" and f.get("bytes_in") == str(len(hello)))
                self.assertIsNotNone(fields, self.router.stderr_text())
                self.assertEqual(fields["transport"], "tls_passthrough")
                self.assertEqual(fields["sni"], "pt.test")
                self.assertEqual(fields["alpn"], "http/1.1,gopher")

if __name__ == "__main__":
    unittest.main()
