"""The README's first command: scripts/demo.sh builds, starts two real gopherds behind
got-router on one port and prints what to try. Every line it prints to try is run here
(curl gophers:// to both gopherds, openssl s_client, curl gopher://, GoH with curl), the
browse page's URL serves the page, and Ctrl-C stops everything it started."""

import os
import re
import signal
import socket
import subprocess
import unittest

from ctest_manifest import ctest
from harness import REPO_ROOT, RouterTestCase, wait_until
from harnesslib.processes import LineCollector


class Demo(RouterTestCase):
    @staticmethod
    def listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    @ctest(timeout=300, serial=True)
    def test_demo_serves_what_it_prints(self):
        port = self.dead_port()
        env = dict(os.environ, GOT_DEMO_PORT=str(port))
        proc = self.spawn([str(REPO_ROOT / "scripts" / "demo.sh")], env=env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = LineCollector(proc.stdout)
        line = out.wait_for(lambda l: l.startswith("Browse it"), 240)
        self.assertIsNotNone(line, "\n".join(out.snapshot()))
        printed = out.snapshot()
        # The router starts after the lines are printed: wait until it listens.
        self.assertTrue(wait_until(lambda: self.listening(port), 60), "\n".join(out.snapshot()))
        tries = [l.strip() for l in printed if l.strip().startswith(("curl ", "echo / |"))]
        self.assertEqual(len(tries), 5, printed)
        for command in tries:
            with self.subTest(command=command):
                r = subprocess.run(["bash", "-c", command], capture_output=True, timeout=20,
                                   start_new_session=True)
                self.assertEqual(r.returncode, 0, r.stderr.decode(errors="replace"))
                self.assertGreater(len(r.stdout), 20, r.stdout)
                self.assertFalse(r.stdout.startswith(b"3"), r.stdout[:200])  # no error item
        url = re.search(r"http://\S+", line).group(0)
        page = subprocess.run(["curl", "-sS", "-H", "Accept: text/html", url.split("#")[0]],
                              capture_output=True, timeout=20)
        self.assertIn(b"<html", page.stdout.lower(), page.stdout[:300])
        # Ctrl-C (SIGINT to the demo's process group, as a terminal sends it): all gone.
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
        self.assertEqual(proc.returncode, 0)
        self.assertTrue(wait_until(lambda: subprocess.run(
            ["pgrep", "-s", str(proc.pid)], capture_output=True).returncode != 0, 10),
            "processes of the demo's session still run")


if __name__ == "__main__":
    unittest.main()
