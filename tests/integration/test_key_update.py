"""TLS 1.3 KeyUpdate from a slow client while the router's write to it is stalled.

tests/support/key_update_client.cpp (`got_key_update_client`, built by CMake) requests
a large reply over TLS 1.3 with a small receive buffer, stops reading so the router's
write stalls part way through a record, sends two KeyUpdates back to back (with and
without update_requested, in every order), and reads on. The reply must arrive whole
and byte-identical, the connection must end cleanly, and every update_requested must be
answered with the router's own KeyUpdate.
"""

import os
import re
import unittest
from pathlib import Path

from ctest_manifest import ctest
from harness import REPO_ROOT, RouterTestCase, gopher_backend

SIZE = 4 << 20
ROUNDS = 8
RESULT = re.compile(r"^bytes=(\d+) sha256=([0-9a-f]{64}) sent=(\d+) requested=(\d+) received=(\d+)$")


def client_binary():
    default = REPO_ROOT / "build" / "tests" / "integration" / "got_key_update_client"
    return Path(os.environ.get("GOT_KEY_UPDATE_CLIENT") or default)


class KeyUpdate(RouterTestCase):
    @ctest(timeout=120)
    def test_key_updates_during_stalled_reply(self):
        """KeyUpdates (requested and not) sent while the reply is stalled mid-record: the reply arrives byte-identical, each request is answered."""
        client = client_binary()
        if not client.exists():
            self.fail(f"key update client not found: {client} (set GOT_KEY_UPDATE_CLIENT)")
        # A long idle timeout: the client's pauses must not look like a stuck connection.
        self.start_standard(timeouts={"idle": "30s"})
        result = self.run_cmd(
            [str(client), "--port", str(self.port), "--servername", "a.test",
             "--selector", f"size/{SIZE}", "--rounds", str(ROUNDS), "--pause-ms", "300",
             "--rcvbuf", "4096"],
            timeout=110,  # the client gives up after 90 s; ctest allows 120
        )
        out, err = result.stdout.decode(), result.stderr.decode()
        self.assertEqual(result.returncode, 0, f"client failed:\n{err}\nrouter:\n{self.router.stderr_text()}")
        match = RESULT.match(out.strip())
        self.assertIsNotNone(match, out)
        count, digest, sent, requested, received = match.groups()
        self.assertEqual(int(count), SIZE)
        self.assertEqual(digest, gopher_backend.expected_sha256(SIZE))
        self.assertEqual(int(sent), 2 * ROUNDS)
        # Every update_requested gets its own answer: none is lost behind a stalled record.
        self.assertEqual(int(received), int(requested))
        fields = self.router.wait_access(lambda f: f.get("route") == "a")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual(fields.get("outcome"), "ok")
        self.assertEqual(fields.get("tls_version"), "TLSv1.3")


if __name__ == "__main__":
    unittest.main()
