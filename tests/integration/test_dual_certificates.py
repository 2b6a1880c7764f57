"""Dual certificates: one name with an ECDSA and an RSA certificate (two `certificates:`
entries with the same names). A client whose signature algorithms accept ECDSA gets the
ECDSA chain; one that accepts only RSA (openssl s_client -sigalgs RSA-PSS+SHA256, or a
TLS 1.2 client with ECDHE-RSA ciphers only) gets the RSA one, from the same route."""

import subprocess
import unittest

from harness import RouterTestCase, to_yaml


class DualCertificates(RouterTestCase):
    def start(self, default_pair):
        names = ["dual.test", "www.dual.test"]
        ec = self.make_cert("ec", names, "dual ecdsa")
        rsa = self.dir / "rsa.pem", self.dir / "rsa.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30",
                        "-keyout", str(rsa[1]), "-out", str(rsa[0]), "-subj", "/CN=dual rsa",
                        "-addext", "subjectAltName=" + ",".join(f"DNS:{n}" for n in names)],
                       check=True, capture_output=True)
        other = self.make_cert("other", ["other.test"], "other")
        backend = self.start_backend("D")
        config = {
            "listeners": [{"address": "127.0.0.1:0", "default_route": "dual"}],
            "certificates": [
                {"cert": other.cert, "key": other.key},
                {"cert": ec.cert, "key": ec.key, "default": default_pair},
                {"cert": str(rsa[0]), "key": str(rsa[1])},
            ],
            "routes": [{"name": "dual", "sni": names, "backends": [backend.address]}],
        }
        self.router = self.start_router(self.write_file("router.yaml", to_yaml(config)))
        self.port = self.router.port

    def served(self, *extra, servername="dual.test"):
        """(subject CN, key type, reply) as openssl s_client sees them."""
        args = ["openssl", "s_client", "-connect", f"127.0.0.1:{self.port}", "-alpn", "gopher",
                "-ign_eof"]
        args += ["-servername", servername] if servername else ["-noservername"]
        result = self.run_cmd(args + list(extra), input=b"sel\r\n")
        out = result.stdout.decode(errors="replace")
        subject = next((l for l in out.splitlines() if l.startswith("subject=")), "")
        key = next((l for l in out.splitlines() if l.startswith("Server public key is")), "")
        return subject, key, out

    def test_signature_algorithms_pick_the_certificate(self):
        self.start(default_pair=False)
        cases = {
            "default (ECDSA first)": ((), "CN = dual ecdsa", "256 bit"),
            "TLS 1.3, RSA-PSS only": (("-sigalgs", "RSA-PSS+SHA256"), "CN = dual rsa", "2048 bit"),
            "TLS 1.3, ECDSA only": (("-sigalgs", "ECDSA+SHA256"), "CN = dual ecdsa", "256 bit"),
            "TLS 1.2, ECDHE-RSA only": (("-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256"),
                                        "CN = dual rsa", "2048 bit"),
            "TLS 1.2, ECDHE-ECDSA only": (("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"),
                                          "CN = dual ecdsa", "256 bit"),
        }
        for label, (extra, subject, bits) in cases.items():
            with self.subTest(label):
                got_subject, key, out = self.served(*extra)
                self.assertIn(subject, got_subject, out)
                self.assertIn(bits, key, out)
                self.assertIn("D selector=sel", out)

    def test_pair_as_default_certificate(self):
        """`default: true` on one of a pair makes the pair the default: a client without
        SNI gets ECDSA or RSA by its signature algorithms too."""
        self.start(default_pair=True)
        subject, _, out = self.served(servername=None)
        self.assertIn("CN = dual ecdsa", subject, out)
        subject, _, out = self.served("-sigalgs", "RSA-PSS+SHA256", servername=None)
        self.assertIn("CN = dual rsa", subject, out)


if __name__ == "__main__":
    unittest.main()
