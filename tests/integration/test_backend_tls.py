"""Backends over TLS (`backends[].tls`, issue 20): got-router speaks GoT to its backend.

The backend is the reference GoT server, npm `goth` 1.2.4 (tests/support/goth_backend.js,
installed by scripts/install-deps.sh), with a certificate signed by a test CA made here;
goth answers a client that offers no ALPN with its own error item, so its normal reply
proves that got-router offered ALPN `gopher`. Plaintext Gopher clients, `openssl
s_client -alpn gopher` (terminated GoT) and GoH clients reach it through got-router.
`openssl s_server -Verify 1 -verify_return_error` proves the client certificate (mTLS to
backends). A wrong name and an untrusted CA get the error item, counted in
got_router_backend_tls_handshakes_total and logged with the reason (`backend_tls=`). A
reload that rotates the CA file takes effect; a second connection resumes the session;
health checks run through TLS too.
"""

import os
import re
import select
import socket
import subprocess
import sys
from pathlib import Path

from ctest_manifest import ctest
from harness import (CLIENT_TIMEOUT, MARGIN, START_TIMEOUT, SUPPORT_DIR, Backend, RouterTestCase,
                     fetch_admin, make_ca, make_ca_signed, make_client_cert, metric_value, parse_metrics, plain_request,
                     to_yaml, wait_until)

NPM_DIR = Path(os.environ.get("GOT_NPM_DIR", "/var/cache/got-router/npm"))
GOTH_DIR = NPM_DIR / "node_modules" / "goth"
GOTH_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "goth_backend.js"
REQUEST = b"sel\r\n"
RELOADED = re.compile(r"config reloaded \(")


def goth_reply(name, selector="sel"):
    """The info line goth_backend.js answers a GoT request with, when ALPN was gopher."""
    return (f"i{name} selector={selector} type=tls alpn=gopher\tfake\terror.host\t1\r\n"
            ".\r\n").encode()


class BackendTlsCase(RouterTestCase):
    """The standard router with route `g` as the listener's default, whose backends speak
    TLS; an admin endpoint for /metrics."""

    def setUp(self):
        super().setUp()
        self.assertTrue((GOTH_DIR / "index.js").exists(),
                        f"npm goth not found in {GOTH_DIR}: run scripts/install-deps.sh")
        self.ca = make_ca(self.dir, "backend-ca")

    def start_goth(self, name, ca=None, names=("goth.test",), client_ca=None):
        """goth_backend.js with a certificate for `names` signed by `ca` (default: ours)."""
        cert = make_ca_signed(self.dir, ca or self.ca, f"goth-{name}", list(names),
                              f"goth {name}")
        args = ["node", str(GOTH_SCRIPT), str(GOTH_DIR), cert.cert, cert.key, name]
        args += [client_ca] if client_ca else []
        return Backend(self.spawn(args, stdout=subprocess.PIPE), name)

    def tls_backend(self, backend, **tls):
        return {"address": backend.address, "tls": {"sni": "goth.test", "ca": self.ca[0], **tls}}

    def start_with(self, backends, listener=None, health=None):
        self.route = {"name": "g", "backends": backends, "health": health}
        self.start_standard(listener={"default_route": "g", **(listener or {})},
                            extra_routes=[self.route])
        return self.router

    def standard_config(self, *args):
        config = super().standard_config(*args)
        config["admin"] = {"address": "127.0.0.1:0"}
        self.config = config
        return config

    def handshakes(self, backend, outcome):
        samples = parse_metrics(fetch_admin(self.router))
        value = metric_value(samples, "got_router_backend_tls_handshakes_total", route="g",
                             backend=backend, outcome=outcome)
        return 0 if value is None else int(value)

    def got_request(self, servername=None):
        """`openssl s_client -alpn gopher` to the router (a terminated GoT client)."""
        return self.s_client(REQUEST, servername=servername)

    def assert_refused(self, reply, text, outcome, reason, backend):
        """The error item `text`, no byte of goth, the access line and the metric."""
        self.assert_error_item(reply)
        self.assertIn(text.encode(), reply)
        self.assertEqual(backend.requests(), [])
        fields = self.router.wait_access(lambda f: f.get("route") == "g")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual(fields["outcome"], outcome)
        self.assertIn(reason, fields.get("backend_tls", ""), fields)
        self.assertEqual(fields["bytes_out"], str(len(reply)))


class BackendTls(BackendTlsCase):
    @ctest(timeout=60)
    def test_plaintext_and_got_clients_reach_goth(self):
        """A plaintext Gopher client and `s_client -alpn gopher` both get goth's reply
        through got-router: goth saw SNI goth.test and ALPN gopher over a verified TLS
        connection; the access lines say ok; the handshakes are counted."""
        goth = self.start_goth("G")
        self.start_with([self.tls_backend(goth)])
        self.assertEqual(plain_request(self.port, REQUEST), goth_reply("G"))
        result = self.got_request()
        self.assertEqual(result.stdout, goth_reply("G"), result.stderr.decode())
        self.assertTrue(wait_until(lambda: len(goth.requests()) == 2, MARGIN), goth.out.snapshot())
        tls_lines = [l for l in goth.out.snapshot() if l.startswith("TLS ")]
        self.assertEqual(len(tls_lines), 2, goth.out.snapshot())
        for line in tls_lines:
            self.assertTrue(line.startswith("TLS goth.test gopher "), line)
        g_lines = lambda: [f for f in self.router.access_lines() if f.get("route") == "g"]
        self.assertTrue(wait_until(lambda: len(g_lines()) == 2, MARGIN), g_lines())
        lines = g_lines()
        self.assertEqual([f["outcome"] for f in lines], ["ok", "ok"])
        self.assertEqual({f["transport"] for f in lines}, {"plain", "tls"})
        self.assertNotIn("backend_tls", lines[0])
        full, resumed = self.handshakes(goth.address, "full"), self.handshakes(goth.address,
                                                                              "resumed")
        self.assertEqual(full + resumed, 2)

    @ctest(timeout=60)
    def test_proxy_header_goes_in_clear_before_the_handshake(self):
        """send_proxy: v1 and v2 to a TLS backend (proxy_backend.py --tls): the header in
        clear first, then the TLS handshake (ALPN gopher) and the request through it, from
        a plaintext and from a terminated GoT client."""
        cert = make_ca_signed(self.dir, self.ca, "proxy-tls", ["goth.test"], "proxy tls")
        backends = {}
        for version in ("v1", "v2"):
            proc = self.spawn([sys.executable, str(SUPPORT_DIR / "proxy_backend.py"), "--host",
                               "127.0.0.1", "--port", "0", "--name", f"P{version}", "--tls",
                               cert.cert, cert.key], stdout=subprocess.PIPE)
            backends[version] = Backend(proc, f"P{version}")
        self.start_with([{**self.tls_backend(backends["v1"]), "send_proxy": "v1"}])
        self.config["routes"][-1]["sni"] = ["g.test"]
        self.config["routes"].append({"name": "g2", "sni": ["a2.wild.test"], "backends": [
            {**self.tls_backend(backends["v2"]), "send_proxy": "v2"}]})
        self.write_config_and_reload(self.config)
        reply = plain_request(self.port, REQUEST)
        self.assertRegex(reply, rb"\APv1 version=1 command=PROXY family=TCP4 src=127\.0\.0\.1:\d+ "
                                rb"dst=127\.0\.0\.1:\d+ selector=sel\r\n\.\r\n\Z")
        result = self.s_client(REQUEST, servername="a2.wild.test")
        self.assertRegex(result.stdout, rb"\APv2 version=2 command=PROXY family=TCP4 .*"
                                        rb"authority=a2\.wild\.test .*selector=sel\r\n")
        for backend in backends.values():
            self.assertTrue(wait_until(lambda: any(l.startswith("TLS ") for l in
                                                   backend.out.snapshot()), MARGIN))
            tls_line = next(l for l in backend.out.snapshot() if l.startswith("TLS "))
            self.assertTrue(tls_line.endswith(" gopher"), tls_line)

    @ctest(timeout=60)
    def test_without_alpn_goth_refuses(self):
        """alpn: [] offers no ALPN: goth answers with its own refusal, which is what every
        other test here would get if got-router did not send ALPN gopher."""
        goth = self.start_goth("G")
        self.start_with([self.tls_backend(goth, alpn=[])])
        reply = plain_request(self.port, REQUEST)
        self.assertIn(b"Unknown ALPN Protocol", reply)
        self.assertNotIn(b"selector=", reply)

    @ctest(timeout=60)
    def test_second_connection_resumes_the_session(self):
        """The first connection to goth is a full handshake; the next one resumes the
        session whose TLS 1.3 ticket came after the first handshake (goth says `reused`,
        the metric counts it)."""
        goth = self.start_goth("G")
        self.start_with([self.tls_backend(goth)])
        for _ in range(3):
            self.assertEqual(plain_request(self.port, REQUEST), goth_reply("G"))
        self.assertTrue(wait_until(lambda: len(goth.requests()) == 3, MARGIN))
        tls_lines = [l for l in goth.out.snapshot() if l.startswith("TLS ")]
        self.assertEqual([l.split()[-1] for l in tls_lines], ["full", "reused", "reused"])
        self.assertEqual(self.handshakes(goth.address, "full"), 1)
        self.assertEqual(self.handshakes(goth.address, "resumed"), 2)

    @ctest(timeout=60)
    def test_goh_reaches_goth_and_gets_502_on_failure(self):
        """GoH (goh: true) through the TLS backend: 200 with goth's reply; with a backend
        whose name does not match, 502 with the reason class in the body."""
        goth = self.start_goth("G")
        bad = self.start_goth("B", names=("other.test",))
        self.start_with([self.tls_backend(goth)], listener={"goh": True})
        self.config["routes"].append({"name": "bad", "sni": ["bad.test"],
                                      "backends": [self.tls_backend(bad)]})
        self.config["routes"][-2]["sni"] = ["g.test"]
        self.write_config_and_reload(self.config)
        for host, status, body in (("g.test", 200, goth_reply("G")),
                                   ("bad.test", 502, b"Backend TLS verification failed")):
            url = f"http://127.0.0.1:{self.port}/?url=gopher%3A%2F%2F{host}%2F0sel"
            r = self.run_cmd(["curl", "-sS", "-H", "Accept: application/gopher", "-w",
                              "\n%{http_code}", url])
            self.assertTrue(r.stdout.endswith(f"\n{status}".encode()), r.stdout)
            self.assertIn(body, r.stdout)
        self.assertEqual(bad.requests(), [])
        fields = self.router.wait_access(lambda f: f.get("route") == "bad")
        self.assertEqual(fields["outcome"], "backend_tls_verify")
        self.assertIn("mismatch", fields["backend_tls"])


class BackendTlsRefusals(BackendTlsCase):
    @ctest(timeout=60)
    def test_wrong_name_gets_the_error_item(self):
        """goth's certificate is for other.test, not goth.test: the error item, nothing
        from goth, outcome backend_tls_verify with the verifier's reason, counted."""
        goth = self.start_goth("G", names=("other.test",))
        self.start_with([self.tls_backend(goth)])
        reply = plain_request(self.port, REQUEST)
        self.assert_refused(reply, "Backend TLS verification failed", "backend_tls_verify",
                            "hostname\\x20mismatch", goth)
        self.assertEqual(self.handshakes(goth.address, "verify_failed"), 1)
        self.assertEqual(self.handshakes(goth.address, "full"), 0)

    @ctest(timeout=60)
    def test_untrusted_ca_gets_the_error_item(self):
        """goth's certificate from another CA, for a terminated GoT client too: the error
        item, outcome backend_tls_verify, counted."""
        other = make_ca(self.dir, "other-ca")
        goth = self.start_goth("G", ca=other)
        self.start_with([self.tls_backend(goth)])
        result = self.got_request()
        self.assert_refused(result.stdout, "Backend TLS verification failed",
                            "backend_tls_verify", "certificate", goth)
        self.assertEqual(self.handshakes(goth.address, "verify_failed"), 1)

    @ctest(timeout=60)
    def test_silent_backend_times_out_in_the_handshake(self):
        """A backend that accepts (its listen backlog) but never answers the ClientHello:
        after timeouts.connect (1 s) the error item `Backend timed out`, outcome
        backend_timeout with the reason, counted as timeout."""
        silent = socket.socket()
        self.addCleanup(silent.close)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        self.start_with([{"address": address, "tls": {"sni": "goth.test", "ca": self.ca[0]}}])
        reply = plain_request(self.port, REQUEST)
        self.assert_error_item(reply)
        self.assertIn(b"Backend timed out", reply)
        fields = self.router.wait_access(lambda f: f.get("route") == "g")
        self.assertEqual(fields["outcome"], "backend_timeout", fields)
        self.assertIn("no\\x20TLS\\x20handshake\\x20in\\x20time", fields["backend_tls"])
        self.assertGreaterEqual(int(fields["duration_ms"]), 1000)
        self.assertEqual(self.handshakes(address, "timeout"), 1)

    @ctest(timeout=60)
    def test_check_refuses_tls_backend_on_passthrough_route(self):
        """`got-router -t`: a passthrough route's backend with tls is refused, with the file,
        line and key."""
        goth = self.start_goth("G")
        self.start_with([self.tls_backend(goth)])
        self.config["routes"].append({"name": "pt", "sni": ["pt.test"], "tls": "passthrough",
                                      "backends": [self.tls_backend(goth)]})
        path = self.write_file("pt.yaml", to_yaml(self.config))
        check = self.run_cmd([self.binary, "-t", "-c", str(path)])
        output = (check.stdout + check.stderr).decode()
        self.assertNotEqual(check.returncode, 0, output)
        self.assertRegex(output, r"pt\.yaml:\d+:\d+: routes\[4\]\.backends\[0\]\.tls: "
                                 r"a passthrough route relays")


class BackendTlsClientCertificates(BackendTlsCase):
    def start_s_server(self, client_ca):
        """`openssl s_server -Verify 1 -verify_return_error` with goth.test's certificate:
        it needs a client certificate of `client_ca`, and prints what it gets."""
        cert = make_ca_signed(self.dir, self.ca, "s-server", ["goth.test"], "s_server")
        port = self.dead_port()
        proc = self.spawn(["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert",
                           cert.cert, "-key", cert.key, "-Verify", "1", "-verify_return_error",
                           "-CAfile", client_ca, "-alpn", "gopher", "-ign_eof"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT)
        self.assertTrue(wait_until(lambda: self._listening(port), START_TIMEOUT))
        return proc, f"127.0.0.1:{port}"

    @staticmethod
    def _listening(port):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    @ctest(timeout=60)
    def test_client_certificate_reaches_s_server(self):
        """With cert/key the router presents its client certificate: s_server verifies it
        and prints its subject and the request; without them s_server refuses the
        handshake and the client gets the error item (backend_tls_failed)."""
        client_ca = make_ca(self.dir, "client-ca")
        router_cert = make_client_cert(self.dir, client_ca, "router-client", "router client")
        proc, address = self.start_s_server(client_ca[0])
        # The listener's probe above was s_server's first (failed) client; it goes on.
        backend = {"address": address, "tls": {"sni": "goth.test", "ca": self.ca[0],
                                               "cert": router_cert[0], "key": router_cert[1]}}
        self.start_with([backend])
        with socket.create_connection(("127.0.0.1", self.port), timeout=CLIENT_TIMEOUT) as sock:
            sock.sendall(REQUEST)
            out = []
            seen = wait_until(lambda: self._read_into(proc, out, b"sel"), 10)
            self.assertTrue(seen, b"".join(out).decode(errors="replace"))
        text = b"".join(out).decode(errors="replace")
        self.assertIn("CN = router client", text)
        self.assertIn("ALPN protocols advertised by the client: gopher", text)

    def _read_into(self, proc, out, needle):
        while select.select([proc.stdout], [], [], 0.1)[0]:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                break
            out.append(chunk)
        return needle in b"".join(out).split(b"verify return:1", 1)[-1]

    @ctest(timeout=60)
    def test_without_client_certificate_s_server_refuses(self):
        """Without cert/key: s_server's -verify_return_error fails the handshake; the
        client gets the error item, outcome backend_tls_failed, counted as failed."""
        client_ca = make_ca(self.dir, "client-ca")
        proc, address = self.start_s_server(client_ca[0])
        self.start_with([{"address": address, "tls": {"sni": "goth.test", "ca": self.ca[0]}}])
        reply = plain_request(self.port, REQUEST)
        self.assert_error_item(reply)
        self.assertIn(b"Backend TLS handshake failed", reply)
        fields = self.router.wait_access(lambda f: f.get("route") == "g")
        self.assertEqual(fields["outcome"], "backend_tls_failed", fields)
        self.assertIn("certificate", fields["backend_tls"])
        self.assertEqual(self.handshakes(address, "failed"), 1)


class BackendTlsReloadAndHealth(BackendTlsCase):
    @ctest(timeout=90)
    def test_reload_rotating_the_ca_file_takes_effect(self):
        """Routes g (goth G, CA 1) and g2 (goth H, CA 2) trust one CA file. It holds CA 1:
        g is served, g2 refused. The file is rotated to CA 2 (renamed over, as a Secret
        update does) and the router reloads: now g is refused and g2 served."""
        ca2 = make_ca(self.dir, "backend-ca-2")
        ca_file = self.dir / "trusted-ca.pem"
        ca_file.write_text(Path(self.ca[0]).read_text())
        g = self.start_goth("G")
        h = self.start_goth("H", ca=ca2)
        self.start_with([{"address": g.address, "tls": {"sni": "goth.test", "ca": str(ca_file)}}])
        self.config["routes"][-1]["sni"] = ["g.test"]
        self.config["routes"].append({"name": "g2", "sni": ["a2.wild.test"], "backends": [
            {"address": h.address, "tls": {"sni": "goth.test", "ca": str(ca_file)}}]})
        self.write_config_and_reload(self.config)

        def ask(servername):
            return self.s_client(REQUEST, servername=servername).stdout

        self.assertEqual(ask("g.test"), goth_reply("G"))
        self.assertIn(b"Backend TLS verification failed", ask("a2.wild.test"))
        mark = len(self.router.err.snapshot())
        tmp = self.dir / ".ca.tmp"
        tmp.write_text(Path(ca2[0]).read_text())
        os.replace(tmp, ca_file)
        # The watched CA file's change reloads by itself.
        index = self.router.err.wait_index(RELOADED.search, 10, mark)
        self.assertIsNotNone(index, self.router.stderr_text())
        self.assertIn(b"Backend TLS verification failed", ask("g.test"))
        self.assertEqual(ask("a2.wild.test"), goth_reply("H"))

    @ctest(timeout=90)
    def test_health_check_over_tls_marks_a_bad_backend_down(self):
        """Two TLS backends with TCP health checks (the check is the TLS handshake): the one
        whose certificate does not verify goes down with the reason; every request is
        then served by the good one. With a selector check the request goes through TLS."""
        good = self.start_goth("G")
        bad = self.start_goth("B", names=("other.test",))
        health = {"interval": "500ms", "timeout": "400ms", "fall": 2, "rise": 1}
        self.start_with([self.tls_backend(good), self.tls_backend(bad)], health=health)
        line = self.router.err.wait_for(
            lambda l: f"backend {bad.address} of route g is down" in l, 10)
        self.assertIsNotNone(line, self.router.stderr_text())
        self.assertIn("TLS handshake", line)
        self.assertIn("mismatch", line)
        for _ in range(6):
            self.assertEqual(plain_request(self.port, REQUEST), goth_reply("G"))
        samples = parse_metrics(fetch_admin(self.router))
        self.assertEqual(metric_value(samples, "got_router_backend_up", route="g",
                                      backend=bad.address), 0)
        self.assertEqual(metric_value(samples, "got_router_backend_up", route="g",
                                      backend=good.address), 1)
        self.assertGreater(self.handshakes(bad.address, "verify_failed"), 0)
        self.assertFalse(any(l.startswith("REQUEST") for l in bad.out.snapshot()))

        # A selector check: goth G gets the probe's selector through TLS.
        self.route["health"] = dict(health, selector="probe", expect="G selector=probe")
        self.config["routes"][-1] = self.route
        self.write_config_and_reload(self.config)
        self.assertTrue(wait_until(lambda: "probe" in good.requests(), 5), good.out.snapshot())
        self.assertIn("TLS goth.test gopher", "\n".join(good.out.snapshot()))
