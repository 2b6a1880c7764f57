"""Per-route TLS settings and client certificates (`tls: {client_ca, client_auth}` on a
route): only the route's names are asked for a certificate. Real `openssl s_client` with
`-cert/-key` against the real binary; the CA and the client certificates are made here
(clientAuth, P-256); a second CA signs a certificate the route must refuse. The verified
subject reaches the access log and, with `send_proxy: v2`, the backend's PROXY header as
HAProxy sends it (PP2_SUBTYPE_SSL_CN, PP2_CLIENT_CERT_CONN/SESS, verify 0)."""

import subprocess
import sys

from ctest_manifest import ctest
from harness import (MARGIN, REPO_ROOT, Backend, RouterTestCase, make_ca, make_client_cert,
                     make_self_signed)

PROXY_BACKEND_SCRIPT = REPO_ROOT / "tests" / "support" / "proxy_backend.py"
REQUEST = b"sel\r\n"


class ClientCertTestCase(RouterTestCase):
    def start_mtls(self, client_auth="required", send_proxy=None, extra_tls=None):
        """The standard router plus route `m` (sni m.test, its own certificate) asking for
        client certificates from CA `trusted`."""
        self.ca = make_ca(self.dir, "trusted")
        self.other_ca = make_ca(self.dir, "other")
        self.client = make_client_cert(self.dir, self.ca, "alice", "alice example")
        self.stranger = make_client_cert(self.dir, self.other_ca, "mallory", "mallory")
        backend = self.start_backend("M")
        if send_proxy:
            proc = self.spawn([sys.executable, str(PROXY_BACKEND_SCRIPT), "--host", "127.0.0.1",
                               "--port", "0", "--name", "P"], stdout=subprocess.PIPE)
            backend = Backend(proc, "P")
        self.m_backend = backend
        entry = {"address": backend.address, **({"send_proxy": send_proxy} if send_proxy else {})}
        tls = {"client_ca": self.ca[0], "client_auth": client_auth, **(extra_tls or {})}
        self.start_standard(extra_routes=[
            {"name": "m", "sni": ["m.test"], "tls": tls, "backends": [entry]}])
        return self.router

    def standard_config(self, *args):
        config = super().standard_config(*args)
        m_cert = make_self_signed(self.dir, "m", ["m.test"], "got-test-m")
        config["certificates"].append({"cert": m_cert.cert, "key": m_cert.key})
        self.config = config
        return config

    def s_client_cert(self, servername, cert=None, extra=()):
        args = list(extra)
        if cert:
            args += ["-cert", cert[0], "-key", cert[1]]
        return self.s_client(REQUEST, servername=servername, quiet=False, extra=args)


class ClientCertificates(ClientCertTestCase):
    @ctest(timeout=60)
    def test_a_trusted_certificate_is_served_and_logged(self):
        """s_client -cert/-key with a certificate of the route's CA gets the backend's reply;
        the access line has the subject and client_verify=ok."""
        self.start_mtls()
        result = self.s_client_cert("m.test", self.client)
        self.assertIn(b"M selector=sel", result.stdout, result.stderr.decode())
        fields = self.router.wait_access(lambda f: f.get("route") == "m")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual(fields["client_verify"], "ok")
        self.assertIn("CN=alice\\x20example", fields["client_subject"])
        self.assertEqual(fields["outcome"], "ok")

    @ctest(timeout=60)
    def test_no_certificate_gets_certificate_required(self):
        """Without a certificate a TLS 1.3 client gets the certificate_required alert and
        no byte of the backend; the access line says client_verify=none."""
        self.start_mtls()
        result = self.s_client_cert("m.test", extra=["-tls1_3"])
        output = (result.stdout + result.stderr).decode(errors="replace")
        self.assertIn("certificate required", output)
        self.assertNotIn("M selector", output)
        self.assertEqual(self.m_backend.accepted(), 0)
        fields = self.router.wait_access(lambda f: f.get("sni") == "m.test")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertEqual(fields["client_verify"], "none")
        self.assertEqual(fields["outcome"], "handshake_failed")

    @ctest(timeout=60)
    def test_a_certificate_of_another_ca_is_refused(self):
        """A certificate signed by another CA fails the handshake (unknown_ca alert); the
        access line names the verifier's reason."""
        self.start_mtls()
        result = self.s_client_cert("m.test", self.stranger)
        output = (result.stdout + result.stderr).decode(errors="replace")
        self.assertIn("unknown ca", output)
        self.assertNotIn("M selector", output)
        fields = self.router.wait_access(lambda f: f.get("sni") == "m.test")
        self.assertIsNotNone(fields, self.router.stderr_text())
        self.assertIn("local\\x20issuer", fields["client_verify"])
        self.assertEqual(fields["outcome"], "handshake_failed")

    @ctest(timeout=60)
    def test_other_names_see_no_certificate_request(self):
        """`-msg` shows a CertificateRequest for m.test only: a.test, no SNI (the default
        route) and TLS 1.2 to a.test get none and are served without a certificate."""
        self.start_mtls()
        asked = self.s_client_cert("m.test", self.client, extra=["-msg"])
        self.assertIn(b"CertificateRequest", asked.stdout)
        for servername, extra in (("a.test", ["-msg"]), (None, ["-msg"]),
                                  ("a.test", ["-msg", "-tls1_2"])):
            result = self.s_client_cert(servername, extra=extra)
            self.assertNotIn(b"CertificateRequest", result.stdout, (servername, extra))
            self.assertIn(b"selector=sel", result.stdout, result.stderr.decode())

    @ctest(timeout=60)
    def test_optional_serves_clients_without_a_certificate(self):
        """client_auth: optional asks, serves a client with none (client_verify=none) and
        still refuses a certificate of another CA."""
        self.start_mtls(client_auth="optional")
        result = self.s_client_cert("m.test")
        self.assertIn(b"M selector=sel", result.stdout, result.stderr.decode())
        fields = self.router.wait_access(lambda f: f.get("route") == "m")
        self.assertEqual(fields["client_verify"], "none")
        self.assertEqual(fields["client_subject"], "-")
        refused = self.s_client_cert("m.test", self.stranger)
        self.assertNotIn(b"M selector", refused.stdout)

    @ctest(timeout=60)
    def test_route_min_version_applies_to_its_names_only(self):
        """A route's min_version "1.3" refuses TLS 1.2 for m.test; a.test still takes 1.2."""
        self.start_mtls(extra_tls={"min_version": "1.3"})
        refused = self.s_client_cert("m.test", self.client, extra=["-tls1_2"])
        self.assertNotIn(b"M selector", refused.stdout)
        self.assertIn(b"protocol version", refused.stdout + refused.stderr)
        served = self.s_client_cert("a.test", extra=["-tls1_2"])
        self.assertIn(b"A selector=sel", served.stdout, served.stderr.decode())


class ClientCertificateProxyHeader(ClientCertTestCase):
    @ctest(timeout=60)
    def test_backend_receives_the_cn_tlv(self):
        """Behind send_proxy: v2 the backend's PP2_TYPE_SSL has CERT_CONN|CERT_SESS|SSL (7),
        verify 0 and the CN sub-TLV; a resumed session keeps the CN with CERT_SESS only."""
        self.start_mtls(send_proxy="v2")
        session = self.dir / "session.pem"
        first = self.s_client_cert("m.test", self.client, extra=["-sess_out", str(session)])
        self.assertIn(b"ssl_client=7", first.stdout, first.stdout + first.stderr)
        self.assertIn(b"ssl_verify=0", first.stdout)
        self.assertIn(b"ssl_cn=alice_example", first.stdout)
        resumed = self.s_client_cert("m.test", extra=["-sess_in", str(session)])
        self.assertIn(b"Reused", resumed.stdout, resumed.stdout + resumed.stderr)
        self.assertIn(b"ssl_client=5", resumed.stdout)
        self.assertIn(b"ssl_cn=alice_example", resumed.stdout)
        line = self.m_backend.out.wait_for(lambda l: l.startswith("HEADER "), MARGIN + 2)
        self.assertIsNotNone(line)


class ClientCertificateReload(ClientCertTestCase):
    @ctest(timeout=60)
    def test_a_ticket_from_before_client_ca_is_not_resumed(self):
        """A session of m.test made while the route asked for no certificate is not resumed
        after a reload adds client_ca: the client gets a full handshake and, without a
        certificate, the certificate_required alert."""
        self.start_mtls(extra_tls={"min_version": "1.3"})
        route = self.config["routes"][-1]
        del route["tls"]["client_ca"], route["tls"]["client_auth"]
        self.write_config_and_reload(self.config)
        session = self.dir / "open.pem"
        first = self.s_client_cert("m.test", extra=["-sess_out", str(session)])
        self.assertIn(b"M selector=sel", first.stdout, first.stderr.decode())
        resumed = self.s_client_cert("m.test", extra=["-sess_in", str(session)])
        self.assertIn(b"Reused", resumed.stdout)  # resumption works while nothing changed
        route["tls"].update(client_ca=self.ca[0], client_auth="required")
        self.write_config_and_reload(self.config)
        after = self.s_client_cert("m.test", extra=["-sess_in", str(session)])
        output = (after.stdout + after.stderr).decode(errors="replace")
        self.assertNotIn("Reused", output)
        self.assertIn("certificate required", output)
        self.assertNotIn("M selector", output)
