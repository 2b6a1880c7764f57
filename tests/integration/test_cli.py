"""The command line: config check (-t), --version, --help, bad flags, a busy port."""

import re
import socket
import unittest

from harness import CLIENT_TIMEOUT, RouterTestCase, to_yaml


class Cli(RouterTestCase):
    def setUp(self):
        super().setUp()
        self.cert = self.make_cert("default", ["default.test"], "got-test-default")

    def good_config(self, address="127.0.0.1:0"):
        return {
            "listeners": [{"address": address, "plaintext": True, "tls": True, "default_route": "legacy"}],
            "certificates": [{"cert": self.cert.cert, "key": self.cert.key, "default": True}],
            "routes": [{"name": "legacy", "backends": ["127.0.0.1:7071"]}],
            "timeouts": {"handshake": "2s", "connect": "1s", "idle": "3s"},
            "logging": {"level": "info"},
        }

    def check(self, config):
        """Writes the config, runs `got-router -t -c FILE`; returns (path, text, result)."""
        text = to_yaml(config)
        path = self.write_file("check.yaml", text)
        result = self.run_cmd([self.binary, "-t", "-c", str(path)])
        return path, text, result

    def line_of(self, text, needle):
        """1-based number of the first config line containing needle."""
        for number, line in enumerate(text.splitlines(), start=1):
            if needle in line:
                return number
        self.fail(f"{needle!r} not in config")

    def assert_problem(self, path, result, line, key):
        """Exit 1 and a `FILE:LINE:COL: KEY: message` line naming this line and key."""
        stderr = result.stderr.decode()
        self.assertEqual(result.returncode, 1, stderr)
        pattern = re.compile(rf"^{re.escape(str(path))}:(\d+):(\d+): (\S+): \S.*$", re.M)
        problems = [(int(m.group(1)), m.group(3)) for m in pattern.finditer(stderr)]
        self.assertTrue(
            any(l == line and key in k for l, k in problems),
            f"no `{path}:{line}:COL: ...{key}...: message` line in stderr:\n{stderr}",
        )
        return problems

    def test_check_good_config(self):
        """-t on a valid config prints `configuration OK` on stdout and exits 0."""
        _, _, result = self.check(self.good_config())
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertIn("configuration OK", result.stdout.decode())

    def test_check_unknown_key(self):
        """An unknown key is an error naming the file, its line and the key."""
        config = self.good_config()
        config["timeouts"]["idel"] = "3s"
        path, text, result = self.check(config)
        self.assert_problem(path, result, self.line_of(text, "idel:"), "idel")

    def test_check_bad_duration(self):
        """A duration that does not parse is an error naming its line and key."""
        config = self.good_config()
        config["timeouts"]["idle"] = "3 parsecs"
        path, text, result = self.check(config)
        self.assert_problem(path, result, self.line_of(text, "idle:"), "idle")

    def test_check_missing_cert_file(self):
        """A certificate file that does not exist is an error at its `cert:` line."""
        config = self.good_config()
        missing = str(self.dir / "missing.pem")
        config["certificates"][0]["cert"] = missing
        path, text, result = self.check(config)
        self.assert_problem(path, result, self.line_of(text, "missing.pem"), "cert")

    def test_check_default_route_unknown(self):
        """A listener's default_route that names no route is an error at that line."""
        config = self.good_config()
        config["listeners"][0]["default_route"] = "nowhere"
        path, text, result = self.check(config)
        self.assert_problem(path, result, self.line_of(text, "default_route:"), "default_route")

    def test_check_reports_every_problem(self):
        """-t reports all problems of a config, not only the first."""
        config = self.good_config()
        config["timeouts"]["idel"] = "3s"
        config["listeners"][0]["default_route"] = "nowhere"
        path, text, result = self.check(config)
        self.assert_problem(path, result, self.line_of(text, "idel:"), "idel")
        self.assert_problem(path, result, self.line_of(text, "default_route:"), "default_route")

    def test_version(self):
        """--version prints `got-router <version>` and exits 0."""
        result = self.run_cmd([self.binary, "--version"])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        self.assertRegex(result.stdout.decode(), r"^got-router \d+\.\d+\.\d+\S*\s*$")

    def test_help(self):
        """--help prints the usage (naming -c/--config) on stdout and exits 0."""
        result = self.run_cmd([self.binary, "--help"])
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        out = result.stdout.decode()
        self.assertRegex(out.lower(), r"usage")
        self.assertIn("--config", out)

    def test_unknown_flag(self):
        """An unknown flag prints the usage on stderr and exits 2."""
        result = self.run_cmd([self.binary, "--no-such-flag"])
        self.assertEqual(result.returncode, 2, result.stderr.decode())
        self.assertRegex(result.stderr.decode().lower(), r"usage")

    def test_port_in_use(self):
        """A listener address whose port another socket holds: exit 1, message names it."""
        with socket.socket() as holder:
            holder.bind(("127.0.0.1", 0))
            holder.listen()
            address = f"127.0.0.1:{holder.getsockname()[1]}"
            path = self.write_file("busy.yaml", to_yaml(self.good_config(address)))
            result = self.run_cmd([self.binary, "-c", str(path)], timeout=CLIENT_TIMEOUT)
        stderr = result.stderr.decode()
        self.assertEqual(result.returncode, 1, stderr)
        self.assertIn(address, stderr)


if __name__ == "__main__":
    unittest.main()
