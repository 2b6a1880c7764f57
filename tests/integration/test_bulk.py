"""1 GiB replies through the router, over TLS and plaintext, byte-identical."""

import subprocess
import unittest

from harness import RouterTestCase, gopher_backend, stream_digest
from ctest_manifest import ctest

SIZE = 1 << 30
TRANSFER_TIMEOUT = 240


class Bulk(RouterTestCase):
    def setUp(self):
        super().setUp()
        # A long idle timeout: a scheduling hiccup on a busy machine must not end the transfer.
        self.start_standard(timeouts={"idle": "60s"})

    def curl(self, args):
        """Runs curl with stdout hashed as it streams; returns (count, sha256, result code, stderr)."""
        proc = self.spawn(
            ["curl", "-sS", "--max-time", str(TRANSFER_TIMEOUT), *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        count, digest = stream_digest(proc, TRANSFER_TIMEOUT + 10)
        code = proc.wait(timeout=10)
        return count, digest, code, proc.stderr.read().decode()

    def assert_whole(self, count, digest, code, stderr):
        self.assertEqual(code, 0, stderr)
        self.assertEqual(count, SIZE)
        self.assertEqual(digest, gopher_backend.expected_sha256(SIZE))

    @ctest(timeout=300, serial=True)
    def test_1gib_tls(self):
        """1 GiB through TLS (curl gophers://, SNI a.test) arrives complete and identical."""
        self.assert_whole(*self.curl(
            ["-k", f"gophers://a.test:70/9size/{SIZE}", "--connect-to", f"a.test:70:127.0.0.1:{self.port}"]
        ))

    @ctest(timeout=300, serial=True)
    def test_1gib_plaintext(self):
        """1 GiB through plaintext (curl gopher://) arrives complete and identical."""
        self.assert_whole(*self.curl([f"gopher://127.0.0.1:{self.port}/9size/{SIZE}"]))


if __name__ == "__main__":
    unittest.main()
