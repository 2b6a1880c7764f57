"""Hardening, TLS policy: a testssl.sh gate, renegotiation, resumption bound to SNI,
ALPN refusal, `tls.unknown_sni: reject`, `tls.profile: modern`."""

import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import time
import unittest

from harness import MARGIN, HardeningTestCase, read_until_close, tls_connect
from ctest_manifest import ctest

# A full scan takes about 20 s on a quiet machine and 3 minutes on a loaded one.
TESTSSL_TIMEOUT = 420

# Vulnerability checks: everything -U runs except BREACH (-B, HTTP only).
TESTSSL_VULN_FLAGS = ["-H", "-I", "-T", "-BB", "-R", "-C", "-O", "-Z", "-W", "-A", "-L", "-F",
                      "-J", "-D", "-4"]
# A finding of one of these ids proves the corresponding check ran.
TESTSSL_REQUIRED_IDS = ["SSLv2", "SSLv3", "TLS1", "TLS1_1", "TLS1_2", "TLS1_3", "heartbleed", "CCS",
                        "ticketbleed", "ROBOT", "secure_renego", "secure_client_renego", "CRIME_TLS",
                        "POODLE_SSL", "fallback_SCSV", "SWEET32", "FREAK", "DROWN", "LOGJAM",
                        "BEAST", "LUCKY13", "RC4", "PFS"]
BAD_SEVERITIES = {"MEDIUM", "HIGH", "CRITICAL"}
# What a test certificate from a private CA cannot have: revocation info, OCSP, CAA.
TESTSSL_EXEMPT = re.compile(r"crl|ocsp|revocation|caa|must_?staple", re.I)


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n".encode()


class TestsslGate(HardeningTestCase):
    @ctest(timeout=480, serial=True)
    def test_testssl_no_medium_or_worse(self):
        """testssl.sh -p -S -f + vulnerability checks: no MEDIUM+ finding; TLS 1.0/1.1 not offered."""
        testssl = shutil.which("testssl")
        if testssl is None:
            self.skipTest("testssl (Debian package testssl.sh) is not installed; "
                          "scripts/install-deps.sh installs it")
        ca = self.make_ca()
        cert = self.make_ca_cert(ca, "a-ca", ["a.test"], "a.test")
        backend = self.start_backend("A")
        self.start_router_with({
            "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                           "default_route": "a"}],
            "certificates": [{"cert": cert.cert, "key": cert.key, "default": True}],
            # A client-certificate route beside the scanned name: its settings must not
            # leak into a.test's handshakes (no CertificateRequest, same findings).
            "routes": [{"name": "a", "sni": ["a.test"], "backends": [backend.address]},
                       {"name": "m", "sni": ["m.test"], "backends": [backend.address],
                        "tls": {"client_ca": ca[0], "client_auth": "required"}}],
            "timeouts": {"handshake": "5s", "idle": "5s"},
            "logging": {"level": "info"},
        })
        out = self.dir / "testssl.json"
        args = [testssl, "--quiet", "--warnings", "batch", "--color", "0", "--add-ca", ca[0],
                "--ip", "127.0.0.1", "--nodns", "none", "-p", "-S", "-f", *TESTSSL_VULN_FLAGS,
                "--jsonfile", str(out), f"a.test:{self.port}"]
        env = dict(os.environ, TERM="dumb")
        try:
            result = subprocess.run(args, capture_output=True, timeout=TESTSSL_TIMEOUT,
                                    start_new_session=True, env=env, cwd=self.dir)
        except subprocess.TimeoutExpired:
            self.fail(f"testssl still running after {TESTSSL_TIMEOUT}s: {' '.join(args)}")
        log = (result.stdout + result.stderr).decode(errors="replace")
        self.assertTrue(out.exists(), f"testssl wrote no JSON (exit {result.returncode}):\n{log[-4000:]}")
        findings = json.loads(out.read_text())
        by_id = {}
        for f in findings:
            by_id.setdefault(f["id"], []).append(f)

        missing = [i for i in TESTSSL_REQUIRED_IDS if i not in by_id]
        self.assertEqual(missing, [], f"checks that did not report (scan incomplete?):\n{log[-4000:]}")
        scan_problems = [f for f in findings if f["severity"] in ("FATAL",)]
        self.assertEqual(scan_problems, [], "testssl could not complete the scan")
        for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertEqual(by_id[old][0]["finding"], "not offered", by_id[old])
        self.assertEqual(by_id["TLS1_2"][0]["finding"], "offered", by_id["TLS1_2"])
        self.assertIn("offered", by_id["TLS1_3"][0]["finding"], by_id["TLS1_3"])
        self.assertNotIn("not", by_id["TLS1_3"][0]["finding"], by_id["TLS1_3"])

        bad = [f"{f['severity']} {f['id']}: {f['finding']}" for f in findings
               if f["severity"] in BAD_SEVERITIES and not TESTSSL_EXEMPT.search(f["id"])]
        exempted = [f"{f['severity']} {f['id']}" for f in findings
                    if f["severity"] in BAD_SEVERITIES and TESTSSL_EXEMPT.search(f["id"])]
        self.assertEqual(bad, [], f"testssl findings MEDIUM or worse (exempted: {exempted})")


class TlsPolicy(HardeningTestCase):
    """The default (intermediate) profile with a second SNI route b.test -> backend B."""

    def setUp(self):
        super().setUp()
        self.cert_b = self.make_cert("b", ["b.test"], "got-test-b")
        self.backend_b = self.start_backend("B")
        config = self.standard_hardening_config(
            timeouts={"handshake": "5s", "idle": "5s"},
            extra_routes=[{"name": "b", "sni": ["b.test"], "backends": [self.backend_b.address]}],
            extra_certs=[self.cert_b])
        self.start_router_with(config)

    def s_client_session(self, servername, selector, version, sess_in=None, sess_out=None):
        """s_client (not quiet: it prints New/Reused) sending one request; returns (stdout, stderr)."""
        args = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-servername", servername,
                "-alpn", "gopher", "-ign_eof", f"-{version}"]
        if sess_in:
            args += ["-sess_in", str(sess_in)]
        if sess_out:
            args += ["-sess_out", str(sess_out)]
        result = self.run_cmd(args, input=f"{selector}\r\n".encode())
        return result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace")

    @staticmethod
    def resumption(stdout):
        """`New` or `Reused`, from s_client's `New, TLSv1.x, Cipher is ...` line."""
        match = re.search(r"^(New|Reused), (TLSv1\.\d)", stdout, re.M)
        return match.group(1) if match else None

    def assert_resumption_bound_to_sni(self, version):
        sess = self.dir / f"a-{version}.sess"
        out, err = self.s_client_session("a.test", "first", version, sess_out=sess)
        self.assertEqual(self.resumption(out), "New", out + err)
        self.assertIn(reply("A", "first").decode(), out, err)
        self.assertTrue(sess.exists() and sess.stat().st_size > 0, "s_client saved no session")

        # Same SNI: resumed (the control: this session is resumable at all).
        out, err = self.s_client_session("a.test", "again", version, sess_in=sess)
        self.assertEqual(self.resumption(out), "Reused", "same SNI did not resume:\n" + out + err)
        self.assertIn(reply("A", "again").decode(), out, err)

        # Another SNI: a full handshake, b.test's certificate, route b.
        out, err = self.s_client_session("b.test", "other", version, sess_in=sess)
        self.assertEqual(self.resumption(out), "New", "a.test session resumed under SNI b.test:\n" + out)
        self.assertIn("CN = got-test-b", out, "not b.test's certificate")
        self.assertIn(reply("B", "other").decode(), out, err)
        self.assertNotIn("selector=other", "".join(self.backends["A"].requests()))

    def test_resumption_bound_to_sni_tls12(self):
        """TLS 1.2: a session from SNI a.test resumes with a.test, not with b.test (full handshake, route b)."""
        self.assert_resumption_bound_to_sni("tls1_2")

    def test_resumption_bound_to_sni_tls13(self):
        """TLS 1.3: a ticket from SNI a.test resumes with a.test, not with b.test (full handshake, route b)."""
        self.assert_resumption_bound_to_sni("tls1_3")

    def test_renegotiation_refused(self):
        """TLS 1.2 `R` (client-initiated renegotiation): refused, no second handshake completes."""
        proc = self.spawn(
            ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-servername", "a.test",
             "-alpn", "gopher", "-tls1_2", "-state"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        # Let the handshake finish, then ask for a renegotiation; keep stdin open.
        time.sleep(1.0)
        proc.stdin.write(b"R\n")
        proc.stdin.flush()
        try:
            out, _ = proc.communicate(timeout=MARGIN + 5)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate(timeout=5)
        text = out.decode(errors="replace")
        self.assertIn("RENEGOTIATING", text, "s_client did not try to renegotiate:\n" + text)
        before, _, after = text.partition("RENEGOTIATING")
        # The first handshake finished; after `R` no Finished arrives from the server.
        self.assertIn("SSL_connect:SSLv3/TLS read finished", before, text)
        self.assertNotIn("SSL_connect:SSLv3/TLS read finished", after,
                         "the server completed a renegotiation:\n" + text)
        self.assertIn("no renegotiation", after.lower(), "no no_renegotiation refusal seen:\n" + text)

    def assert_alpn_refused(self, version):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.minimum_version = ctx.maximum_version = version
        ctx.set_alpn_protocols(["http/1.1"])
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError) as caught:
                with ctx.wrap_socket(raw, server_hostname="a.test") as sock:
                    sock.sendall(b"sel\r\n")
                    read_until_close(sock, 10)
        # Python 3.11 has no reason code for alert 120; its message names the alert.
        self.assertIn("alert no application protocol", str(caught.exception).lower())
        self.assertEqual(self.backends["A"].accepted(), 0)

    def test_alpn_http11_alert_tls12(self):
        """TLS 1.2 with ALPN http/1.1 alone: the no_application_protocol alert, no backend."""
        self.assert_alpn_refused(ssl.TLSVersion.TLSv1_2)

    def test_alpn_http11_alert_tls13(self):
        """TLS 1.3 with ALPN http/1.1 alone: the no_application_protocol alert, no backend."""
        self.assert_alpn_refused(ssl.TLSVersion.TLSv1_3)

    def test_alpn_http11_alert_s_client(self):
        """openssl s_client -alpn http/1.1 reports the no_application_protocol alert."""
        result = self.s_client(b"sel\r\n", servername="a.test", alpn="http/1.1")
        output = (result.stdout + result.stderr).decode().lower()
        self.assertIn("no application protocol", output)
        self.assertNotIn(b"selector=", result.stdout)


class UnknownSniReject(HardeningTestCase):
    def setUp(self):
        super().setUp()
        self.start_router_with(self.standard_hardening_config(tls={"unknown_sni": "reject"}))

    def request(self, server_hostname, selector="sel"):
        with tls_connect(self.port, server_hostname, timeout=10) as sock:
            sock.sendall(f"{selector}\r\n".encode())
            return read_until_close(sock, 10)[0]

    def test_unknown_name_gets_unrecognized_name(self):
        """unknown_sni: reject: an unknown SNI gets the unrecognized_name alert, no backend."""
        with self.assertRaises(ssl.SSLError) as caught:
            self.request("unknown.test")
        self.assertEqual(caught.exception.reason, "TLSV1_UNRECOGNIZED_NAME", caught.exception)
        result = self.s_client(b"sel\r\n", servername="nobody.test")
        self.assertIn("unrecognized name", (result.stdout + result.stderr).decode().lower())
        self.assertEqual(sum(b.accepted() for b in self.backends.values()), 0)

    def test_known_names_and_no_sni_served(self):
        """unknown_sni: reject still serves exact and wildcard names, and clients without SNI."""
        self.assertEqual(self.request("a.test"), reply("A", "sel"))
        self.assertEqual(self.request("X.Wild.Test."), reply("W", "sel"))
        self.assertEqual(self.request(None), reply("L", "sel"))


class ModernProfile(HardeningTestCase):
    def setUp(self):
        super().setUp()
        self.start_router_with(self.standard_hardening_config(tls={"profile": "modern", "min_version": None}))

    def test_tls12_refused(self):
        """tls.profile: modern: s_client -tls1_2 gets no handshake, -tls1_3 works."""
        result = self.s_client(b"sel\r\n", servername="a.test", extra=["-tls1_2"])
        self.assertNotEqual(result.returncode, 0)
        self.assertNotIn(b"selector=", result.stdout)
        self.assertRegex(result.stderr.decode().lower(), r"protocol version|unsupported protocol|alert")
        result = self.s_client(b"sel\r\n", servername="a.test", extra=["-tls1_3"])
        self.assertEqual(result.stdout, reply("A", "sel"), result.stderr.decode())

    def test_tls12_refused_python(self):
        """tls.profile: modern: a client capped at TLS 1.2 fails the handshake; no backend."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as raw:
            with self.assertRaises(ssl.SSLError):
                ctx.wrap_socket(raw, server_hostname="a.test").close()
        self.assertEqual(self.backends["A"].accepted(), 0)


if __name__ == "__main__":
    unittest.main()
