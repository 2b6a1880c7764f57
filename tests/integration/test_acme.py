"""Certificates by tls-alpn-01 through the router, with real parts only: Debian's `pebble`
(the ACME test CA) validates the challenge against got-router's own TLS listener, `lego`
answers it behind an `alpn: [acme-tls/1]` + `tls: passthrough` route on the same name
that GoT clients use, lego's deploy hook installs the issued certificate where the
router's config points, and the router reloads it by itself (inotify on the
certificate's directory). A GoT client loops through the whole run and must see no
failure; afterwards `openssl s_client` verifies the new chain against pebble's root."""

import json
import os
import ssl
import subprocess
import threading
import time

from ctest_manifest import ctest
from harness import (START_TIMEOUT, RouterTestCase, access_fields, make_ca, make_ca_signed,
                     make_self_signed, to_yaml, tls_connect, wait_until)

NAME = "gopher.test"


class GotClientLoop:
    """A GoT client in a loop (SNI gopher.test, ALPN gopher, certificate not verified:
    it changes during the run); counts requests, failures and the certificates it saw."""

    def __init__(self, port):
        self.port = port
        self.ok = 0
        self.failures = []
        self.certificates = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                with tls_connect(self.port, NAME, timeout=10) as sock:
                    der = sock.getpeercert(binary_form=True)
                    sock.sendall(b"loop\r\n")
                    reply = b""
                    while chunk := sock.recv(4096):
                        reply += chunk
                if reply != b"G selector=loop\r\n.\r\n":
                    raise AssertionError(f"unexpected reply {reply[:100]!r}")
                self.certificates.add(ssl.DER_cert_to_PEM_cert(der))
                self.ok += 1
            except Exception as e:  # every failure is a test failure: keep them all
                self.failures.append(repr(e))
            time.sleep(0.02)

    def stop(self):
        self._stop.set()
        self._thread.join(timeout=30)


class AcmeTlsAlpn(RouterTestCase):
    def start_pebble(self, tls_port):
        """pebble-challtestsrv as the DNS server (every name is 127.0.0.1) and pebble,
        whose tls-alpn-01 validations connect to `tls_port`. Returns the directory URL,
        the CA file that verifies pebble's own API, and the management port."""
        api_ca = make_ca(self.dir, "pebble-api-ca")
        api_cert = make_ca_signed(self.dir, api_ca, "pebble-api", ["localhost"], "localhost")
        dns_port, dns_mgmt, acme_port, mgmt_port, http_port = self.pebble_ports
        self.spawn(["pebble-challtestsrv", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
                    "-dns01", f"127.0.0.1:{dns_port}", "-http01", "", "-https01", "",
                    "-tlsalpn01", "", "-management", f"127.0.0.1:{dns_mgmt}"],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        config = {"pebble": {
            "listenAddress": f"127.0.0.1:{acme_port}",
            "managementListenAddress": f"127.0.0.1:{mgmt_port}",
            "certificate": api_cert.cert, "privateKey": api_cert.key,
            "httpPort": http_port, "tlsPort": tls_port,
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}
        config_path = self.write_file("pebble.json", json.dumps(config))
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0",
                   PEBBLE_AUTHZREUSE="0")
        self.pebble_log = self.dir / "pebble.log"
        with open(self.pebble_log, "wb") as log:
            self.spawn(["pebble", "-config", str(config_path), "-dnsserver",
                        f"127.0.0.1:{dns_port}"], env=env, stdout=log, stderr=subprocess.STDOUT)
        url = f"https://localhost:{acme_port}/dir"
        ok = wait_until(lambda: self.run_cmd(["curl", "-sf", "--cacert", api_ca[0], url]).returncode
                        == 0, START_TIMEOUT)
        self.assertTrue(ok, "pebble did not start: " + self.pebble_log.read_text())
        return url, api_ca[0], mgmt_port

    def write_deploy_hook(self, cert_path, key_path):
        """lego's --run-hook: installs the new chain and key over the files the router
        serves, each by a rename in the same directory (a reader never sees half a file;
        the key is 0600 before it has a name the router reads)."""
        hook = self.dir / "deploy-hook.sh"
        hook.write_text(f"""#!/bin/sh
set -eu
install -m 0600 "$LEGO_CERT_KEY_PATH" "{key_path}.new"
install -m 0644 "$LEGO_CERT_PATH" "{cert_path}.new"
mv -f "{key_path}.new" "{key_path}"
mv -f "{cert_path}.new" "{cert_path}"
""")
        hook.chmod(0o755)
        return hook

    @ctest(timeout=240, serial=True)
    def test_certificate_by_tls_alpn_01_through_the_router(self):
        certs = self.dir / "certs"
        certs.mkdir()
        first = make_self_signed(certs, "gopher", [NAME], "self-signed before ACME")
        gopher_backend = self.start_backend("G")
        lego_port, *self.pebble_ports = self.dead_ports(6)
        config = {
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                           "default_route": "site"}],
            "certificates": [{"cert": first.cert, "key": first.key, "default": True}],
            "routes": [
                {"name": "acme", "sni": [NAME], "alpn": ["acme-tls/1"], "tls": "passthrough",
                 "backends": [f"127.0.0.1:{lego_port}"]},
                {"name": "site", "sni": [NAME], "backends": [gopher_backend.address]},
            ],
            "tls": {"alpn": ["gopher"]},
            "timeouts": {"handshake": "5s", "connect": "2s", "idle": "10s"},
        }
        self.router = self.start_router(self.write_file("router.yaml", to_yaml(config)))
        self.port = self.router.port
        url, api_ca, mgmt_port = self.start_pebble(self.port)

        loop = GotClientLoop(self.port)
        self.addCleanup(loop.stop)
        self.assertTrue(wait_until(lambda: loop.ok >= 5, START_TIMEOUT), loop.failures)

        hook = self.write_deploy_hook(first.cert, first.key)
        env = dict(os.environ, LEGO_CA_CERTIFICATES=api_ca)
        lego = self.run_cmd(["lego", "--server", url, "--email", "ops@example.org",
                             "--domains", NAME, "--accept-tos", "--tls",
                             "--tls.port", f"127.0.0.1:{lego_port}",
                             "--path", str(self.dir / "lego"), "run", "--run-hook", str(hook)],
                            env=env, timeout=120)
        self.assertEqual(lego.returncode, 0, lego.stderr.decode() + self.pebble_log.read_text())

        # The validation came through the passthrough route, not a terminated one, and
        # every validation connection carried the whole exchange both ways. How each one
        # ends is the peers' race, not the router's: pebble (Go) sends its Finished and
        # close_notify and closes at once; lego's responder answers with its own
        # close_notify, which reaches a socket the client has already closed, and the
        # client's kernel answers with a reset; if lego closes before it has read the
        # client's close_notify, its kernel resets instead (tcpdump on lo: ClientHello
        # 276 bytes, the responder's flight 1,378, then 64 + 24 and 24, then the RST).
        # The router passes every byte on before it reports the reset, so a connection
        # logs ok, client_reset or backend_reset (in CI all three of one run were resets),
        # with the same bytes: the certificate flight out and the client's Finished in.
        fields = self.router.wait_access(lambda f: f.get("route") == "acme")
        self.assertIsNotNone(fields, self.router.stderr_text())
        for line in self.router.err.snapshot():
            f = access_fields(line)
            if f is not None and f.get("route") == "acme":
                self.assertEqual((f["transport"], f["alpn"]), ("tls_passthrough", "acme-tls/1"))
                self.assertIn(f["outcome"], ("ok", "client_reset", "backend_reset"), line)
                # Out: at least the responder's certificate flight. In: the ClientHello
                # and, after it, the client's Finished (64 bytes) and close_notify (24).
                self.assertGreater(int(f["bytes_out"]), 1000, line)
                self.assertGreater(int(f["bytes_in"]), 88 + 200, line)

        # pebble's root for this run, to verify what the router now serves.
        root = self.dir / "pebble-root.pem"
        got = self.run_cmd(["curl", "-sf", "--cacert", api_ca, "-o", str(root),
                            f"https://localhost:{mgmt_port}/roots/0"])
        self.assertEqual(got.returncode, 0, got.stderr.decode())

        def verified():
            r = self.run_cmd(["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}",
                              "-servername", NAME, "-alpn", "gopher", "-CAfile", str(root),
                              "-verify_hostname", NAME, "-verify_return_error"],
                             input=b"loop\r\n")
            return r.returncode == 0 and b"Verify return code: 0 (ok)" in r.stdout
        self.assertTrue(wait_until(verified, 20),
                        "router never served the issued certificate:\n" + self.router.stderr_text())
        self.assertIsNotNone(self.router.err.wait_for(lambda l: "config reloaded" in l, 5))

        # The loop keeps going on the new certificate, and saw no failure at all.
        before = loop.ok
        self.assertTrue(wait_until(lambda: loop.ok >= before + 5, START_TIMEOUT))
        loop.stop()
        self.assertEqual(loop.failures, [])
        self.assertGreaterEqual(len(loop.certificates), 2, "the loop never saw the new certificate")
