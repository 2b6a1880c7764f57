"""The compose stack without Docker: got-router in front of real legacy gopherds.

What docker/docker-compose.yml runs, run here on free ports: the same routing table
(docker/got-router.yaml, addresses and paths rewritten), certificates from the same
docker/make-certs.sh, the gopherds started by the same scripts/docker-gopherd.sh with the
environment the compose file gives them. gophernicus runs inetd-style under socat as an
unprivileged user (socat's su= when the test runs as root); pygopherd standalone, dropping
to nobody when started as root.

curl gophers:// (SNI, no ALPN), openssl s_client (SNI + ALPN gopher) and curl gopher://
fetch a menu and a text file through got-router; each answer must be byte-identical to
the same request made to the gopherd directly.
"""

import os
import shutil
import unittest

import yaml

from deploylib import (DOCKER, REPO, SCRIPTS, Processes, TempDir, curl, free_port, make_cert, router_binary, run,
                       s_client, wait_listening)

COMPOSE = DOCKER / "docker-compose.yml"


def compose_environment(service):
    with open(COMPOSE) as f:
        env = yaml.safe_load(f)["services"][service].get("environment", {})
    return {k: str(v) for k, v in env.items()}


def backend_service(address):
    return address.rsplit(":", 1)[0]


class Stack:
    """gophernicus, pygopherd and got-router, as the compose stack has them."""

    def __init__(self, tmp, procs, services):
        self.tmp, self.procs = tmp, procs
        self.router_port = free_port()
        self.ports = {}
        certs = tmp / "certs"
        run([DOCKER / "make-certs.sh", certs], check=True)
        for service in services:
            self.start_gopherd(service)
        self.start_router(certs)

    def start_gopherd(self, service):
        run([SCRIPTS / "docker-gopherd.sh", "install", service], check=True)
        source = {"gophernicus": "gopherroot", "pygopherd": "demo-root"}[service]
        root = self.tmp / f"{service}-root"
        shutil.copytree(REPO / "examples" / source, root)
        for dirpath, dirnames, filenames in os.walk(root):
            os.chmod(dirpath, 0o755)
            for name in filenames:
                os.chmod(os.path.join(dirpath, name), 0o644)
        state = self.tmp / f"{service}-state"
        state.mkdir(mode=0o755)
        port = free_port()
        env = compose_environment(service)
        # Same script, same variables as the container; local ports, paths, and the
        # router's port in the menus' links.
        env.update(GOPHERD_PORT=str(port), GOPHERD_BIND="127.0.0.1", GOPHERD_ROOT=str(root),
                   GOPHERD_STATE=str(state), GOPHERD_PUBLIC_PORT=str(self.router_port))
        proc = self.procs.start(service, [SCRIPTS / "docker-gopherd.sh", service], env=env)
        wait_listening(port, proc)
        self.ports[service] = port

    def start_router(self, certs):
        text = (DOCKER / "got-router.yaml").read_text()
        config = yaml.safe_load(text)
        text = text.replace("/etc/got-router/certs/", f"{certs}/")
        text = text.replace('"0.0.0.0:70"', f'"127.0.0.1:{self.router_port}"')
        self.admin_port = free_port()
        text = text.replace('"127.0.0.1:9070"', f'"127.0.0.1:{self.admin_port}"')
        for route in config["routes"]:
            for backend in route["backends"]:
                service = backend_service(backend)
                # A gopherd this test did not start: an address where nothing listens.
                port = self.ports.get(service, free_port())
                text = text.replace(f'"{backend}"', f'"127.0.0.1:{port}"')
        path = self.tmp / "got-router.yaml"
        path.write_text(text)
        self.config = yaml.safe_load(text)
        self.router = self.procs.start("got-router", [router_binary(), "-c", path])
        wait_listening(self.router_port, self.router)


class Interop(unittest.TestCase):
    def assertSame(self, through_router, direct, what):
        self.assertTrue(direct, f"{what}: the gopherd sent nothing")
        self.assertEqual(through_router, direct, f"{what}: got-router changed the bytes")

    def fetch_both(self, stack, service, name, url_path, tls=True):
        port = stack.router_port
        direct = curl([f"gopher://127.0.0.1:{stack.ports[service]}{url_path}"])
        if tls:
            via = curl(["-k", "--connect-to", f"{name}:70:127.0.0.1:{port}", f"gophers://{name}{url_path}"])
        else:
            via = curl([f"gopher://127.0.0.1:{port}{url_path}"])
        return via, direct

    def test_gophernicus(self):
        with TempDir() as tmp, Processes(tmp) as procs:
            stack = Stack(tmp, procs, ["gophernicus"])
            try:
                for path, what in (("/", "menu"), ("/0/about.txt", "text file")):
                    via, direct = self.fetch_both(stack, "gophernicus", "gopher.test", path)
                    self.assertSame(via, direct, f"gophers://gopher.test{path}")
                    via, direct = self.fetch_both(stack, "gophernicus", "gopher.test", path, tls=False)
                    self.assertSame(via, direct, f"gopher://127.0.0.1{path} (plaintext default route)")
                # The menu is gophernicus's, linking to the public name and got-router's port.
                menu, _ = self.fetch_both(stack, "gophernicus", "gopher.test", "/")
                self.assertIn(f"/about.txt\tgopher.test\t{stack.router_port}".encode(), menu)
                # The file as on disk (gophernicus sends text with CRLF line ends).
                text = (REPO / "examples/gopherroot/about.txt").read_bytes()
                _, direct_text = self.fetch_both(stack, "gophernicus", "gopher.test", "/0/about.txt")
                self.assertEqual(direct_text.replace(b"\r\n", b"\n"), text)
                # A GoT client (SNI + ALPN gopher) gets the same bytes.
                got = s_client(stack.router_port, "gopher.test", "/about.txt")
                self.assertSame(got, direct_text, "s_client -alpn gopher /about.txt")
                # gophernicus really ran as an unprivileged user.
                if os.geteuid() == 0:
                    self.assertNotIn("Cowardly", procs.log("gophernicus"))
            except AssertionError as e:
                raise AssertionError(f"{e}\n{procs.logs()}") from None

    def test_pygopherd(self):
        with TempDir() as tmp, Processes(tmp) as procs:
            stack = Stack(tmp, procs, ["pygopherd"])
            try:
                for name in ("www.demo.test", "demo.test"):
                    for path in ("/", "/0/hello.txt"):
                        via, direct = self.fetch_both(stack, "pygopherd", name, path)
                        self.assertSame(via, direct, f"gophers://{name}{path}")
                menu = curl([f"gopher://127.0.0.1:{stack.ports['pygopherd']}/"])
                self.assertRegex(menu, rb"/hello\.txt\twww\.demo\.test\t%d" % stack.router_port)
                self.assertEqual(curl([f"gopher://127.0.0.1:{stack.ports['pygopherd']}/0/hello.txt"]),
                                 (REPO / "examples/demo-root/hello.txt").read_bytes())
                got = s_client(stack.router_port, "www.demo.test", "/hello.txt")
                self.assertEqual(got, (REPO / "examples/demo-root/hello.txt").read_bytes())
                if os.geteuid() == 0:
                    users = run(["ps", "-o", "user=", "--pid", str(stack.procs.procs[0].pid)]).stdout.split()
                    self.assertEqual(users, ["nobody"], "pygopherd dropped to nobody")
            except AssertionError as e:
                raise AssertionError(f"{e}\n{procs.logs()}") from None


class GophernicusProxy(unittest.TestCase):
    """`send_proxy` towards a real gophernicus started without `-np` (PROXY protocol on).

    gophernicus reads a PROXY v1 line and takes its destination port as the port in its
    menus' links; a v2 header it does not know, and reads it as part of the selector.
    Started with `-p` set to a port nobody uses (the port it would put in its links
    without a header), so a menu that carries the router's listener port proves the v1
    header was read.
    """

    BOGUS_PUBLIC_PORT = 7

    def start(self, tmp, procs, send_proxy):
        root = tmp / "gopherroot"
        if not root.exists():
            shutil.copytree(REPO / "examples" / "gopherroot", root)
            for dirpath, dirnames, filenames in os.walk(root):
                os.chmod(dirpath, 0o755)
                for name in filenames:
                    os.chmod(os.path.join(dirpath, name), 0o644)
        run([SCRIPTS / "docker-gopherd.sh", "install", "gophernicus"], check=True)
        port = free_port()
        su = ",su=nobody" if os.geteuid() == 0 else ""
        gopherd = procs.start(f"gophernicus-{send_proxy}", [
            "socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
            f"EXEC:/usr/sbin/gophernicus -h gopher.test -p {self.BOGUS_PUBLIC_PORT} -r {root} -nf -nv{su}"])
        wait_listening(port, gopherd)
        cert, key = make_cert(tmp, f"gopher-{send_proxy}", ["gopher.test"])
        router_port = free_port()
        config = tmp / f"got-router-{send_proxy}.yaml"
        config.write_text(f"""listeners:
  - address: "127.0.0.1:{router_port}"
    default_route: gopher
certificates:
  - cert: {cert}
    key: {key}
routes:
  - name: gopher
    sni: [gopher.test]
    backends:
      - address: "127.0.0.1:{port}"
        send_proxy: {send_proxy}
""")
        router = procs.start(f"got-router-{send_proxy}", [router_binary(), "-c", config])
        wait_listening(router_port, router)
        return port, router_port

    def test_send_proxy_v1_menu_carries_router_port(self):
        with TempDir() as tmp, Processes(tmp) as procs:
            try:
                port, router_port = self.start(tmp, procs, "v1")
                link = b"/about.txt\tgopher.test\t"
                # Control: without a header, the links carry the -p port.
                direct = curl([f"gopher://127.0.0.1:{port}/"])
                self.assertIn(link + str(self.BOGUS_PUBLIC_PORT).encode() + b"\r\n", direct)
                # Through got-router with send_proxy: v1: the router's listener port,
                # over plaintext and over TLS (SNI gopher.test).
                plain = curl([f"gopher://127.0.0.1:{router_port}/"])
                self.assertIn(link + str(router_port).encode() + b"\r\n", plain)
                tls = curl(["-k", "--connect-to", f"gopher.test:70:127.0.0.1:{router_port}",
                            "gophers://gopher.test/"])
                self.assertIn(link + str(router_port).encode() + b"\r\n", tls)
                self.assertEqual(tls, plain)
                # The header is not part of the selector: a file comes back as on disk.
                text = curl([f"gopher://127.0.0.1:{router_port}/0/about.txt"])
                self.assertEqual(text.replace(b"\r\n", b"\n"),
                                 (REPO / "examples/gopherroot/about.txt").read_bytes())
            except AssertionError as e:
                raise AssertionError(f"{e}\n{procs.logs()}") from None

    def test_send_proxy_v2_is_not_understood(self):
        """Why the README advises v1 for gophernicus: a v2 header is read as part of the
        selector, so the client gets the wrong answer (the root menu for a file) and the
        links carry gophernicus's own -p port, not the router's."""
        with TempDir() as tmp, Processes(tmp) as procs:
            try:
                port, router_port = self.start(tmp, procs, "v2")
                about = (REPO / "examples/gopherroot/about.txt").read_bytes()
                self.assertEqual(curl([f"gopher://127.0.0.1:{port}/0/about.txt"]).replace(b"\r\n", b"\n"),
                                 about, "directly, without a header, the file is served")
                reply = curl([f"gopher://127.0.0.1:{router_port}/0/about.txt"])
                self.assertNotEqual(reply.replace(b"\r\n", b"\n"), about)
                menu = curl([f"gopher://127.0.0.1:{router_port}/"])
                self.assertNotIn(b"\tgopher.test\t" + str(router_port).encode(), menu)
            except AssertionError as e:
                raise AssertionError(f"{e}\n{procs.logs()}") from None

if __name__ == "__main__":
    unittest.main()
