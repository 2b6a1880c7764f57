"""The TLS router: routes that match on the ALPN protocols a client offers as well as
its SNI, with real `openssl s_client` clients; the answering backend, the protocol the
handshake selected and the access log's fields, row by row."""

import re
import unittest

from harness import RouterTestCase, make_self_signed, router_binary


def reply(backend, selector):
    return f"{backend} selector={selector}\r\n.\r\n"


# (SNI, offered ALPN, the backend that answers, the protocol selected; None: refused
# with the no_application_protocol alert).
ROWS = [
    ("a.test", "gopher", "A", "gopher"),
    ("a.test", None, "A", None),                       # no ALPN: the name's plain route
    ("a.test", "http/1.1", "H", "http/1.1"),           # the ALPN route wins
    ("a.test", "h2,http/1.1", "H", "http/1.1"),        # offered anywhere in the list
    ("a.test", "gopher,http/1.1", "H", "http/1.1"),    # over the name's route without alpn
    ("a.test", "x-foo,http/1.1", "X", "x-foo"),        # two ALPN routes: the client's order
    ("a.test", "http/1.1,x-foo", "H", "http/1.1"),
    ("a.test", "h2", None, None),                      # no route protocol, not ours: alert
    ("b.wild.test", "http/1.1", "WH", "http/1.1"),     # wildcard names take alpn too
    ("b.wild.test", "gopher", "W", "gopher"),
    ("only.test", "x-foo", "O", "x-foo"),              # a name with ALPN routes only
    ("only.test", "gopher", "L", "gopher"),            # falls through to the default
    ("unknown.test", "gopher", "L", "gopher"),
    ("unknown.test", "http/1.1", None, None),          # the default route: tls.alpn rules
]


class TlsRouter(RouterTestCase):
    def setUp(self):
        super().setUp()
        extra = {name: self.start_backend(name) for name in ("H", "X", "WH", "O")}
        self.start_standard(extra_routes=[
            {"name": "a-http", "sni": ["a.test"], "alpn": ["http/1.1"],
             "backends": [extra["H"].address]},
            {"name": "a-foo", "sni": ["a.test"], "alpn": ["x-foo"],
             "backends": [extra["X"].address]},
            {"name": "wild-http", "sni": ["*.wild.test"], "alpn": ["http/1.1"],
             "backends": [extra["WH"].address]},
            {"name": "only", "sni": ["only.test"], "alpn": ["x-foo", "x-bar"],
             "backends": [extra["O"].address]},
        ])
        self.routes = {"A": "a", "H": "a-http", "X": "a-foo", "WH": "wild-http", "W": "wild",
                       "O": "only", "L": "legacy"}

    def test_routes_by_sni_and_offered_alpn(self):
        """Each (SNI, offered ALPN) row reaches its backend with its protocol selected, and
        the access line names the route and the protocol."""
        for i, (sni, alpn, backend, selected) in enumerate(ROWS):
            with self.subTest(sni=sni, alpn=alpn):
                selector = "row" + "x" * i  # its length tells the row's access line apart
                result = self.s_client(f"{selector}\r\n".encode(), servername=sni, alpn=alpn,
                                       quiet=False)
                out = result.stdout.decode(errors="replace")
                err = result.stderr.decode(errors="replace")
                if backend is None:
                    self.assertIn("no application protocol", err, out + err)
                    self.assertNotIn("selector=", out)
                    continue
                self.assertIn(reply(backend, selector), out, err)
                shown = re.search(r"^ALPN protocol: (\S+)", out, re.M)
                self.assertEqual(shown.group(1) if shown else None, selected, out)
                fields = self.router.wait_access(
                    lambda f, n=len(selector) + 2: f.get("bytes_in") == str(n))
                self.assertIsNotNone(fields, self.router.stderr_text())
                self.assertEqual(fields["route"], self.routes[backend])
                self.assertEqual(fields["sni"], sni)
                self.assertEqual(fields["alpn"], selected or "-")
                self.assertEqual(fields["outcome"], "ok")


class TlsRouterConfig(RouterTestCase):
    def test_check_rejects_two_routes_for_one_name_and_protocol(self):
        """`got-router -t` names both routes' lines when two can match one (name, protocol)."""
        cert = make_self_signed(self.dir, "a", ["a.test"], "got-test-a")
        path = self.write_file("router.yaml", f"""listeners:
  - address: 127.0.0.1:0
certificates:
  - cert: {cert.cert}
    key: {cert.key}
routes:
  - name: one
    sni: [a.test]
    alpn: [h2, http/1.1]
    backends: ["127.0.0.1:7070"]
  - name: two
    sni: [a.test]
    alpn: [http/1.1]
    backends: ["127.0.0.1:7071"]
""")
        result = self.run_cmd([str(router_binary()), "-t", "-c", str(path)])
        text = result.stderr.decode()
        self.assertEqual(result.returncode, 1, text)
        self.assertIn(':12:11: routes[1].sni[0]: server name "a.test" with ALPN "http/1.1" is '
                      'already claimed by routes[0].sni[0] (line 8)', text)


if __name__ == "__main__":
    unittest.main()
