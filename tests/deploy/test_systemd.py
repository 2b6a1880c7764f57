"""examples/systemd: the unit files say what a hardened, socket-activated service needs, pass
`systemd-analyze verify` (on a copy whose ExecStart= is the built binary, since
/usr/local/bin/got-router need not exist here) and an offline `systemd-analyze security`
review; and socket activation really hands got-router its listener."""

import os
import re
import unittest

import yaml

from deploylib import (EXAMPLE_CONFIG, SYSTEMD, Processes, TempDir, curl, free_port, make_cert,
                       parse_duration_s, require_tool, router_binary, run, wait_listening)

INSTALLED_BINARY = "/usr/local/bin/got-router"
# `systemd-analyze security` exposure, 0.0 (locked down) to 10.0; "OK" is below 2.0.
MAX_EXPOSURE = 2.0


def read_unit(path):
    """A unit file as {section: {key: [values]}} (keys may repeat)."""
    units = {}
    section = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = units.setdefault(m[1], {})
            continue
        key, _, value = line.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return units


class Units(unittest.TestCase):
    def test_units(self):
        service = read_unit(SYSTEMD / "got-router.service")
        socket_unit = read_unit(SYSTEMD / "got-router.socket")
        s = service["Service"]
        self.assertEqual(s["DynamicUser"], ["yes"])
        self.assertEqual(s["ProtectSystem"], ["strict"])
        self.assertEqual(s["NoNewPrivileges"], ["yes"])
        caps = " ".join(s["CapabilityBoundingSet"]).split()
        self.assertLessEqual(set(caps), {"CAP_NET_BIND_SERVICE"}, "CapabilityBoundingSet as narrow as it can be")
        self.assertRegex(s["ExecReload"][0], r"kill -(HUP|s HUP) \$MAINPID")
        self.assertTrue(s["ExecStart"][0].startswith(INSTALLED_BINARY + " "))
        config_path = re.search(r"-c (\S+)", s["ExecStart"][0])[1]
        self.assertEqual(config_path, "/etc/got-router/got-router.yaml")
        self.assertIn("got-router.socket", " ".join(service["Unit"].get("Requires", []) + service["Unit"].get("Wants", [])))

        # Port 70 from the socket, at the address the example config listens on.
        listen = socket_unit["Socket"]["ListenStream"]
        self.assertEqual(len(listen), 1)
        config = yaml.safe_load(EXAMPLE_CONFIG.read_text())
        self.assertEqual([l["address"] for l in config["listeners"]], listen,
                         "examples/got-router.yaml's listener is the socket's address")
        self.assertTrue(listen[0].endswith(":70"))
        self.assertEqual(socket_unit["Socket"].get("Accept", ["no"]), ["no"])

        # Stop waits longer than the drain.
        grace = parse_duration_s(config["timeouts"]["shutdown_grace"])
        self.assertGreater(parse_duration_s(s["TimeoutStopSec"][0]), grace)

    def test_systemd_analyze(self):
        require_tool("systemd-analyze")
        binary = router_binary()
        with TempDir() as tmp:
            for name in ("got-router.service", "got-router.socket"):
                text = (SYSTEMD / name).read_text().replace(INSTALLED_BINARY, str(binary))
                (tmp / name).write_text(text)
            units = [tmp / "got-router.socket", tmp / "got-router.service"]
            verify = run(["systemd-analyze", "verify", "--man=no", *units], cwd=tmp)
            output = (verify.stdout + verify.stderr).strip()
            # verify exits 0 on warnings such as an unknown key: any output is a failure.
            self.assertEqual(verify.returncode, 0, output)
            self.assertEqual(output, "", "systemd-analyze verify complained")

            security = run(["systemd-analyze", "security", "--offline=true", "--no-pager",
                            f"--threshold={int(MAX_EXPOSURE * 10)}", tmp / "got-router.service"], cwd=tmp)
            m = re.search(r"Overall exposure level for got-router\.service: (\d+\.\d+)", security.stdout)
            self.assertIsNotNone(m, security.stdout + security.stderr)
            print(f"systemd-analyze security: exposure {m[1]}")
            self.assertLessEqual(float(m[1]), MAX_EXPOSURE, security.stdout)
            self.assertEqual(security.returncode, 0, security.stdout + security.stderr)

    def test_socket_activation(self):
        """got-router under systemd-socket-activate (what got-router.socket does): the
        listener comes from LISTEN_FDS and answers; got-router binds nothing itself."""
        require_tool("systemd-socket-activate")
        binary = router_binary()
        with TempDir() as tmp, Processes(tmp) as procs:
            make_cert(tmp, "a", ["a.test"])
            (tmp / "root").mkdir(mode=0o755)
            (tmp / "root" / "hello.txt").write_text("hello through a socket-activated got-router\n")
            os.chmod(tmp / "root" / "hello.txt", 0o644)
            backend = free_port()
            env = {"GOPHERD_PORT": str(backend), "GOPHERD_BIND": "127.0.0.1", "GOPHERD_ROOT": str(tmp / "root"),
                   "GOPHERD_HOST": "a.test"}
            from deploylib import SCRIPTS
            gopherd = procs.start("gophernicus", [SCRIPTS / "docker-gopherd.sh", "gophernicus"], env=env)
            wait_listening(backend, gopherd)
            port = free_port()
            (tmp / "c.yaml").write_text(f"""
listeners: [{{address: "127.0.0.1:{port}", default_route: r}}]
certificates: [{{cert: a.pem, key: a.key}}]
routes: [{{name: r, backends: ["127.0.0.1:{backend}"]}}]
""")
            activate = procs.start("socket-activate", ["systemd-socket-activate", "-l", f"127.0.0.1:{port}",
                                                       binary, "-c", tmp / "c.yaml"])
            wait_listening(port, activate)
            direct = curl([f"gopher://127.0.0.1:{backend}/0/hello.txt"])
            self.assertIn(b"hello through a socket-activated got-router", direct)
            body = curl([f"gopher://127.0.0.1:{port}/0/hello.txt"])
            self.assertEqual(body, direct, procs.logs())
            body = curl(["-k", "--connect-to", f"a.test:70:127.0.0.1:{port}", "gophers://a.test/0/hello.txt"])
            self.assertEqual(body, direct, procs.logs())
            self.assertIn("socket from systemd", procs.log("socket-activate"), "the listener came from LISTEN_FDS")
            self.assertNotIn("in use", procs.log("socket-activate"))


if __name__ == "__main__":
    unittest.main()
