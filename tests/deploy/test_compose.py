"""docker/docker-compose.yml and the configs that ship: they agree with each other and
with the images, and every got-router YAML passes `got-router -t`. The stack itself is
built and run by scripts/image-check.sh (CI's image stage, buildah, no Docker engine) and
by docker/smoke.sh where a Docker engine answers."""

import re
import shutil
import unittest
from pathlib import Path

import yaml

from deploylib import DOCKER, EXAMPLE_CONFIG, REPO, TempDir, check_config, make_cert, parse_duration_s, run

COMPOSE = DOCKER / "docker-compose.yml"


def compose():
    with open(COMPOSE) as f:
        return yaml.safe_load(f)


def interpolate(value):
    """Compose's ${VAR:-default} with the default."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def san_names(pem):
    text = run(["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", pem], check=True).stdout
    return set(re.findall(r"DNS:([^,\s]+)", text))


class Compose(unittest.TestCase):
    def test_compose_file(self):
        c = compose()
        services = c["services"]
        self.assertLessEqual({"got-router", "gophernicus", "pygopherd"}, set(services))
        for name, service in services.items():
            build = service["build"]
            context = (DOCKER / build["context"]).resolve()
            self.assertEqual(context, REPO, f"{name}: builds from the repository root")
            self.assertTrue((context / build["dockerfile"]).is_file(), f"{name}: no {build['dockerfile']}")

        router = services["got-router"]
        self.assertIn("70", [interpolate(p).split(":")[-1] for p in router["ports"]])
        mounts = {v["target"]: v for v in router["volumes"]}
        config_mount = mounts["/etc/got-router/got-router.yaml"]
        self.assertTrue((DOCKER / config_mount["source"]).is_file())
        self.assertTrue(config_mount.get("read_only"))
        self.assertIn("/etc/got-router/certs", mounts, "certificates are mounted")
        self.assertEqual(interpolate(mounts["/etc/got-router/certs"]["source"]), "./certs",
                         "docker/make-certs.sh writes docker/certs by default")
        self.assertIn("NET_BIND_SERVICE", router.get("cap_add", []),
                      "the binary's file capability must stay in the bounding set")

        config = yaml.safe_load((DOCKER / config_mount["source"]).read_text())
        self.assertEqual(config["listeners"][0]["address"].rsplit(":", 1)[1], "70")
        grace = parse_duration_s(config["timeouts"]["shutdown_grace"])
        self.assertGreater(parse_duration_s(router["stop_grace_period"]), grace)
        admin = config["admin"]["address"]
        self.assertEqual(admin, "127.0.0.1:9070", "the image's HEALTHCHECK default")

        # Each backend is a compose service, on the port its gopherd listens on, serving the
        # name got-router routes to it; depends_on makes it resolvable when got-router starts.
        for route in config["routes"]:
            for backend in route["backends"]:
                host, port = backend.rsplit(":", 1)
                self.assertIn(host, services, f"backend {backend} is no compose service")
                env = services[host]["environment"]
                self.assertEqual(str(env["GOPHERD_PORT"]), port)
                self.assertIn(port, [str(p) for p in services[host]["expose"]])
                self.assertIn(host, router["depends_on"])
                public = env["GOPHERD_HOST"]
                self.assertTrue(any(public == n or (n.startswith("*.") and public.endswith(n[1:]))
                                    for n in route.get("sni", [public])),
                                f"{host} links to {public}, which its route does not serve")
                self.assertEqual(str(env["GOPHERD_PUBLIC_PORT"]), "70")

        if shutil.which("docker") and run(["docker", "compose", "version"]).returncode == 0:
            result = run(["docker", "compose", "-f", COMPOSE, "config", "--quiet"], cwd=DOCKER)
            self.assertEqual(result.returncode, 0, result.stderr)

    def test_compose_config_passes_check(self):
        """docker/got-router.yaml with make-certs.sh's certificates (SANs covering every
        route's names) and the compose service names pointed at loopback."""
        with TempDir() as tmp:
            certs = tmp / "certs"
            run([DOCKER / "make-certs.sh", certs], check=True)
            # Existing certificates are kept: a second run changes nothing.
            before = {p.name: p.read_bytes() for p in certs.iterdir()}
            run([DOCKER / "make-certs.sh", certs], check=True)
            self.assertEqual(before, {p.name: p.read_bytes() for p in certs.iterdir()})
            text = (DOCKER / "got-router.yaml").read_text().replace("/etc/got-router/certs/", f"{certs}/")
            config = yaml.safe_load(text)
            names = set()
            for cert in config["certificates"]:
                self.assertTrue(Path(cert["cert"]).is_file(), f"make-certs.sh makes no {cert['cert']}")
                names |= san_names(cert["cert"])
            for route in config["routes"]:
                for sni in route.get("sni", []):
                    self.assertIn(sni, names, f"no certificate for {sni}")
                for backend in route["backends"]:
                    text = text.replace(f'"{backend}"', f'"127.0.0.1:{backend.rsplit(":", 1)[1]}"')
            path = tmp / "got-router.yaml"
            path.write_text(text)
            result = check_config(path)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)

    def test_example_config_passes_check(self):
        """examples/got-router.yaml (the image's default config) with its certificate paths
        pointed at certificates made now."""
        text = EXAMPLE_CONFIG.read_text()
        config = yaml.safe_load(text)
        with TempDir() as tmp:
            for cert in config["certificates"]:
                stem = Path(cert["cert"]).stem
                names = [stem.replace("wild.", "*.", 1)] if stem.startswith("wild.") else [stem]
                pem, key = make_cert(tmp, stem, names)
                text = text.replace(cert["cert"], str(pem)).replace(cert["key"], str(key))
            path = tmp / "got-router.yaml"
            path.write_text(text)
            result = check_config(path)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
            # The privilege-drop and shared ticket-key settings are there, as comments.
            for key in ("user:", "group:", "ticket_keys:"):
                self.assertRegex(EXAMPLE_CONFIG.read_text(), rf"(?m)^\s*# {key}")


if __name__ == "__main__":
    unittest.main()
