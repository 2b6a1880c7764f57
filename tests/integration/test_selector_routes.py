"""Plaintext virtual hosting by selector prefix (issue 18).

One plaintext port carries two real legacy gopherds behind two prefixes: gophernicus
under `/phorum` and pygopherd under `/~alice`, both with `strip_prefix` and
`rewrite_menus`, so each gets the selector without the prefix and its menus come back
pointing at the router with the prefix. curl fetches the prefixed menus and follows every
link through the router. A stripped prefix without `rewrite_menus` (`/raw`) passes bytes
untouched (a 10 MB binary, a file that is a perfect menu); the test backend (`/echo`,
`/café`, the default route) shows exactly which selector a backend got: split first
lines, a search TAB, a selector that is exactly a prefix, unicode and percent bytes, a
`;vhost` suffix. A 300 KB line without CRLF gets an error item and reaches no backend.
"""

import hashlib
import os
import re
import socket
import subprocess
import time
import urllib.parse

from ctest_manifest import ctest
from harness import (CLIENT_TIMEOUT, REPO_ROOT, RouterTestCase, plain_request, read_until_close,
                     tls_connect, to_yaml, wait_until)
from harnesslib.probes import fetch_admin, metric_value, parse_metrics

GOPHERD_SCRIPT = REPO_ROOT / "scripts" / "docker-gopherd.sh"
BIG_SIZE = 10 * 1024 * 1024
ERROR_ITEM_LINE = re.compile(rb"^3[^\t\r\n]*\t[^\t\r\n]*\t[^\t\r\n]*\t\d+\r\n\.\r\n$")

# A file whose content is a whole, valid Gopher menu pointing at gophernicus itself.
MENU_LOOKING = ("1Looks like a menu\t/sub\t127.0.0.1\t{port}\r\n"
                "0A file\t/hello.txt\t127.0.0.1\t{port}\r\n.\r\n")


def tree_readable(root):
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(os.path.join(dirpath, name), 0o644)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def menu_items(menu):
    """(type, display, selector, host, port) of each item line of a menu."""
    items = []
    for line in menu.split(b"\r\n"):
        if line in (b".", b""):
            continue
        fields = line[1:].split(b"\t")
        if len(fields) < 4:
            raise AssertionError(f"not a menu line: {line!r}")
        items.append((line[:1].decode(), fields[0], fields[1], fields[2].decode(), int(fields[3])))
    return items


class GopherdCase(RouterTestCase):
    """A router test that runs real gopherds (scripts/docker-gopherd.sh)."""

    def setUp(self):
        super().setUp()
        os.chmod(self.dir, 0o755)  # the gopherds run as nobody when we are root

    def start_gopherd(self, service, root, port=None):
        """gophernicus or pygopherd on a free port, menus pointing at its own address."""
        tree_readable(root)
        port = port or free_port()
        state = self.dir / f"{service}-{port}-state"
        state.mkdir(mode=0o755)
        env = dict(os.environ, GOPHERD_PORT=str(port), GOPHERD_BIND="127.0.0.1",
                   GOPHERD_ROOT=str(root), GOPHERD_STATE=str(state), GOPHERD_HOST="127.0.0.1",
                   GOPHERD_PUBLIC_PORT=str(port))
        proc = self.spawn([str(GOPHERD_SCRIPT), service], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            except OSError:
                return False
        self.assertTrue(wait_until(lambda: proc.poll() is None and listening(), 20),
                        f"{service} did not start")
        return port


class SelectorRoutes(GopherdCase):
    # -- the stack

    def make_roots(self):
        phorum = self.dir / "phorum-root"
        (phorum / "sub").mkdir(parents=True)
        (phorum / "hello.txt").write_text("hello from gophernicus\n")
        (phorum / "sub" / "inner.txt").write_text("inner file\n")
        self.big = os.urandom(BIG_SIZE)
        (phorum / "big.bin").write_bytes(self.big)
        alice = self.dir / "alice-root"
        (alice / "docs").mkdir(parents=True)
        (alice / "note.txt").write_text("alice's note\n")
        (alice / "docs" / "readme.txt").write_text("alice's readme\n")
        raw = self.dir / "raw-root"
        raw.mkdir()
        (raw / "big.bin").write_bytes(self.big)
        return phorum, alice, raw

    def start_stack(self, vhost=False):
        phorum_root, alice_root, raw_root = self.make_roots()
        self.gophernicus = self.start_gopherd("gophernicus", phorum_root)
        # A second gophernicus behind the prefix without rewrite_menus, serving a file
        # that is a valid menu pointing at itself: a rewriting route would change it.
        raw_port = free_port()
        self.menu_file = MENU_LOOKING.format(port=raw_port).encode()
        (raw_root / "menu.bin").write_bytes(self.menu_file)
        self.raw_gophernicus = self.start_gopherd("gophernicus", raw_root, raw_port)
        self.pygopherd = self.start_gopherd("pygopherd", alice_root)
        self.echo = self.start_backend("E")
        self.legacy = self.start_backend("L")
        self.vhost_backend = self.start_backend("V")
        self.port = free_port()
        public = {"host": "127.0.0.1", "port": self.port}
        config = {
            "listeners": [{"address": f"127.0.0.1:{self.port}", "plaintext": True, "tls": False,
                           "default_route": "legacy", "selector_vhost": vhost}],
            "routes": [
                {"name": "phorum", "selector_prefix": "/phorum", "strip_prefix": True,
                 "rewrite_menus": public, "backends": [f"127.0.0.1:{self.gophernicus}"]},
                {"name": "alice", "selector_prefix": ["/~alice"], "strip_prefix": True,
                 "rewrite_menus": public, "backends": [f"127.0.0.1:{self.pygopherd}"]},
                {"name": "raw", "selector_prefix": "/raw", "strip_prefix": True,
                 "backends": [f"127.0.0.1:{self.raw_gophernicus}"]},
                {"name": "echo", "selector_prefix": ["/echo", "/caf\u00e9"], "strip_prefix": True,
                 "backends": [self.echo.address]},
                {"name": "keep", "selector_prefix": "/keep", "backends": [self.echo.address]},
                {"name": "vhost", "sni": ["vhost.test"], "backends": [self.vhost_backend.address]},
                {"name": "legacy", "backends": [self.legacy.address]},
            ],
            "timeouts": {"handshake": "3s", "connect": "2s", "idle": "10s"},
            "logging": {"level": "info"},
            "admin": {"address": f"127.0.0.1:{free_port()}"},
        }
        self.config_path = self.write_file("router.yaml", to_yaml(config))
        self.router = self.start_router(self.config_path)
        self.assertEqual(self.router.port, self.port)

    # -- clients

    def curl(self, url, timeout=60):
        result = self.run_cmd(["curl", "-sS", "--max-time", str(timeout), url], timeout=timeout + 5)
        self.assertEqual(result.returncode, 0, f"curl {url}: {result.stderr.decode()}")
        return result.stdout

    def via_router(self, gopher_type, selector):
        quoted = urllib.parse.quote(selector, safe="/~;=&")
        return self.curl(f"gopher://127.0.0.1:{self.port}/{gopher_type}{quoted}")

    def direct(self, port, gopher_type, selector):
        quoted = urllib.parse.quote(selector, safe="/~;=&")
        return self.curl(f"gopher://127.0.0.1:{port}/{gopher_type}{quoted}")

    def last_request(self, backend, count_before):
        self.assertTrue(wait_until(lambda: len(backend.requests()) > count_before, 5),
                        f"backend {backend.name} got no request")
        return backend.requests()[-1]

    def assert_prefixed_links_work(self, prefix, menu, backend_port, depth=0):
        """Every link of `menu` points at the router with `prefix`, and following it
        through the router gives what the gopherd gives for the stripped selector."""
        items = menu_items(menu)
        links = [i for i in items if i[0] not in "i3" and not i[2].startswith(b"URL:")]
        self.assertTrue(links, f"no links in {menu!r}")
        for kind, display, selector, host, port in links:
            self.assertEqual((host, port), ("127.0.0.1", self.port), f"{display!r}: {menu!r}")
            text = selector.decode()
            self.assertTrue(text == prefix or text.startswith(prefix + "/"), text)
            got = self.via_router(kind, text)
            self.assertTrue(got, f"{text}: empty")
            if kind in "017":  # a binary may begin with "3": it is compared byte for byte
                self.assertFalse(got.startswith(b"3"), f"{text}: {got[:200]!r}")
            expected = self.direct(backend_port, kind, text[len(prefix):])
            if kind == "1":
                self.assertEqual(len(menu_items(got)), len(menu_items(expected)), text)
                if depth < 1:
                    self.assert_prefixed_links_work(prefix, got, backend_port, depth + 1)
            else:
                self.assertEqual(got, expected, text)

    # -- tests

    @ctest(timeout=120)
    def test_menus_of_two_gopherds_are_prefixed_and_every_link_works(self):
        """curl gopher://R/1/phorum/ and /1/~alice/ return the gopherds' menus with the
        router's address and the prefix in every link; every link, followed with curl
        through the router, gives what the gopherd serves for the stripped selector."""
        self.start_stack()
        for prefix, port in (("/phorum", self.gophernicus), ("/~alice", self.pygopherd)):
            menu = self.via_router("1", prefix + "/")
            direct = self.direct(port, "1", "/")
            self.assertEqual(len(menu_items(menu)), len(menu_items(direct)), menu)
            self.assertNotIn(f"\t{port}\r\n".encode(), menu, "a link still points at the gopherd")
            self.assert_prefixed_links_work(prefix, menu, port)
        self.assertIn(b"hello from gophernicus", self.via_router("0", "/phorum/hello.txt"))
        self.assertIn(b"alice's note", self.via_router("0", "/~alice/note.txt"))
        fields = self.router.wait_access(lambda f: f.get("route") == "alice")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual(fields["prefix"], "/~alice")
        samples = parse_metrics(fetch_admin(self.router))
        self.assertGreaterEqual(metric_value(samples, "got_router_menus_rewritten_total",
                                             route="phorum", prefix="/phorum"), 2)
        self.assertGreaterEqual(metric_value(samples, "got_router_prefix_requests_total",
                                             route="alice", prefix="/~alice"), 2)

    @ctest(timeout=120)
    def test_big_binary_and_menu_looking_file_are_byte_identical(self):
        """A 10 MB binary through a stripped, rewriting prefix and through one without
        rewriting; a file that is a valid menu, requested as type 9 under the route
        without rewrite_menus: all byte-identical to the files."""
        self.start_stack()
        for prefix in ("/phorum", "/raw"):
            got = self.via_router("9", prefix + "/big.bin")
            self.assertEqual(len(got), BIG_SIZE, prefix)
            self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(self.big).hexdigest(),
                             prefix)
        self.assertEqual(self.via_router("9", "/raw/menu.bin"), self.menu_file)

    def test_split_first_line_byte_by_byte(self):
        """A request line sent one byte every 50 ms is routed by its whole selector."""
        self.start_stack()
        before = len(self.echo.requests())
        with socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT) as sock:
            for byte in b"/echo/split\r\n":
                sock.sendall(bytes([byte]))
                time.sleep(0.05)
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
        self.assertEqual(reply, b"E selector=/split\r\n.\r\n")
        self.assertEqual(self.last_request(self.echo, before), "'/split'")

    def test_line_without_crlf_gets_error_item_and_no_backend(self):
        """300 KB without CRLF: an error item, and no backend is connected."""
        self.start_stack()
        accepted = (self.echo.accepted(), self.legacy.accepted())
        with socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT) as sock:
            try:
                sock.sendall(b"/echo/" + b"a" * (300 * 1024))
            except OSError:
                pass  # the router may close before reading it all
            reply = b""
            try:
                while chunk := sock.recv(4096):
                    reply += chunk
            except ConnectionResetError:
                pass
        self.assertRegex(reply, ERROR_ITEM_LINE)
        self.assertIn(b"too long", reply)
        fields = self.router.wait_access(lambda f: f.get("outcome") == "bad_request")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual((self.echo.accepted(), self.legacy.accepted()), accepted)
        # A short line cut by EOF (the client's FIN) before its CRLF: an error item too.
        with socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(b"/echo/no-end")
            sock.shutdown(socket.SHUT_WR)
            reply = read_until_close(sock)[0]
        self.assertRegex(reply, ERROR_ITEM_LINE)
        self.assertIn(b"no CRLF", reply)
        self.assertEqual((self.echo.accepted(), self.legacy.accepted()), accepted)

    def test_search_tab_exact_prefix_unicode_percent(self):
        """What the backend gets: the search words after a TAB untouched, the empty
        selector for a selector that is exactly a prefix, unicode and percent bytes as
        sent; a non-stripping prefix keeps the selector; no prefix: the default route."""
        self.start_stack()
        cases = [
            (b"/echo/search\tquery words\r\n", self.echo, "'/search\\tquery words'"),
            (b"/echo\r\n", self.echo, "''"),
            (b"/echo/\r\n", self.echo, "'/'"),
            ("/caf\u00e9/%C3%A9t%C3%A9 \u00fc\r\n".encode(), self.echo,
             repr("/%C3%A9t%C3%A9 \u00fc")),
            ("/echo/\u65e5\u672c%2F%zz\r\n".encode(), self.echo, repr("/\u65e5\u672c%2F%zz")),
            (b"/keep/x\r\n", self.echo, "'/keep/x'"),
            (b"/echox\r\n", self.legacy, "'/echox'"),
            (b"/caf%C3%A9/x\r\n", self.legacy, "'/caf%C3%A9/x'"),  # percent is not decoded
            (b"\r\n", self.legacy, "''"),
        ]
        for request, backend, expected in cases:
            before = len(backend.requests())
            reply = plain_request(self.port, request)
            self.assertTrue(reply.startswith(f"{backend.name} selector=".encode()), (request, reply))
            self.assertEqual(self.last_request(backend, before), expected, request)
        phorum_root = self.via_router("1", "/phorum")
        self.assertIn(b"\t/phorum/hello.txt\t127.0.0.1\t", phorum_root)

    def test_vhost_suffix_routes_as_sni(self):
        """selector_vhost: `;vhost.test` routes as if the SNI were vhost.test, and the
        backend gets the selector with its suffix."""
        self.start_stack(vhost=True)
        before = len(self.vhost_backend.requests())
        reply = plain_request(self.port, b"/docs;VHost.test\r\n")
        self.assertEqual(reply, b"V selector=/docs;VHost.test\r\n.\r\n")
        self.assertEqual(self.last_request(self.vhost_backend, before), "'/docs;VHost.test'")
        # An unknown name or no name: the listener's routes as without the suffix.
        self.assertTrue(plain_request(self.port, b"/echo/a;other.test\r\n").startswith(b"E "))
        self.assertTrue(plain_request(self.port, b"/x;\r\n").startswith(b"L "))


class SelectorRoutesOverTls(GopherdCase):
    """The same keys behind a TLS name: prefixes are matched within the SNI's routes."""

    def tls_request(self, name, request):
        with tls_connect(self.port, name) as sock:
            sock.sendall(request)
            return read_until_close(sock)[0]

    def test_prefixes_within_a_server_name(self):
        """For SNI a.test: /phorum (gophernicus, rewritten to a.test:70 over TLS),
        /docs (stripped), anything else a.test's own route; a plaintext client does not
        reach a.test's prefixes."""
        root = self.dir / "tls-phorum"
        root.mkdir()
        (root / "hello.txt").write_text("hello over TLS\n")
        gophernicus = self.start_gopherd("gophernicus", root)
        docs = self.start_backend("D")
        self.start_standard(extra_routes=[
            {"name": "a-phorum", "sni": ["a.test"], "selector_prefix": "/phorum",
             "strip_prefix": True, "rewrite_menus": {"host": "a.test", "port": 70},
             "backends": [f"127.0.0.1:{gophernicus}"]},
            {"name": "a-docs", "sni": ["a.test"], "selector_prefix": "/docs",
             "strip_prefix": True, "backends": [docs.address]},
        ])
        curl_tls = ["curl", "-sS", "-k", "--max-time", "30", "--connect-to",
                    f"a.test:70:127.0.0.1:{self.port}"]
        menu = self.run_cmd(curl_tls + ["gophers://a.test/1/phorum/"]).stdout
        self.assertIn(b"0hello.txt", menu)
        links = [i for i in menu_items(menu) if i[0] not in "i3"]
        self.assertTrue(links, menu)
        for kind, display, selector, host, port in links:
            self.assertEqual((host, port), ("a.test", 70), menu)
            self.assertTrue(selector.startswith(b"/phorum/"), menu)
        text = self.run_cmd(curl_tls + ["gophers://a.test/0/phorum/hello.txt"]).stdout
        self.assertEqual(text.replace(b"\r\n", b"\n").rstrip(b".\n"), b"hello over TLS")
        self.assertEqual(self.tls_request("a.test", b"/docs/x\r\n"), b"D selector=/x\r\n.\r\n")
        self.assertTrue(self.tls_request("a.test", b"/other\r\n").startswith(b"A selector=/other"))
        self.assertTrue(plain_request(self.port, b"/docs/x\r\n").startswith(b"L selector=/docs/x"))
