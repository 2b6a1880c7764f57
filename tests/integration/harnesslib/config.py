"""Test configuration: where things are, the standard timeouts, YAML and certificates.

Configs are dicts rendered with to_yaml(); certificates are made with `openssl` at
test time in the test's own directory. Nothing here starts a process that outlives
the call.
"""

import json
import ssl
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SUPPORT_DIR = REPO_ROOT / "tests" / "support"

# The timeouts of the standard config, and the slack a noisy 2-core machine needs.
HANDSHAKE_TIMEOUT = 2.0
CONNECT_TIMEOUT = 1.0
IDLE_TIMEOUT = 3.0
MARGIN = 4.0
START_TIMEOUT = 15.0
CLIENT_TIMEOUT = 20.0


# --------------------------------------------------------------------------
# YAML: a small block-style emitter; scalars are JSON-quoted (valid YAML).


def _scalar(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


def _yaml_lines(value, indent):
    pad = "  " * indent
    lines = []
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) or (isinstance(item, list) and item and isinstance(item[0], dict)):
                lines.append(f"{pad}{key}:")
                lines.extend(_yaml_lines(item, indent + 1))
            else:
                lines.append(f"{pad}{key}: {_scalar(item)}")
    else:
        for item in value:
            sub = _yaml_lines(item, indent + 1)
            sub[0] = pad + "- " + sub[0].lstrip()
            lines.extend(sub)
    return lines


def to_yaml(config):
    """Renders nested dicts and lists as block-style YAML; None values are dropped."""
    return "\n".join(_yaml_lines(_drop_none(config), 0)) + "\n"


def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# --------------------------------------------------------------------------
# Certificates


class Certificate:
    def __init__(self, cert, key, subject_cn):
        self.cert = cert
        self.key = key
        self.subject_cn = subject_cn

    def der(self):
        return ssl.PEM_cert_to_DER_cert(Path(self.cert).read_text())


def _openssl(args):
    result = subprocess.run(["openssl", *args], capture_output=True, timeout=CLIENT_TIMEOUT,
                            start_new_session=True)
    if result.returncode != 0:
        raise AssertionError(f"openssl {args[0]} failed: {result.stderr.decode()}")


def make_self_signed(directory, label, dns_names, subject_cn):
    """A self-signed P-256 certificate (90 days) with SAN DNS names and its own CN."""
    cert = Path(directory) / f"{label}.pem"
    key = Path(directory) / f"{label}.key"
    san = ",".join(f"DNS:{n}" for n in dns_names)
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-days", "90", "-keyout", str(key), "-out", str(cert),
              "-subj", f"/O=got-router tests/CN={subject_cn}", "-addext", f"subjectAltName={san}"])
    return Certificate(str(cert), str(key), subject_cn)


def make_ca(directory, label="ca"):
    """A test CA (P-256, 90 days); returns (cert path, key path)."""
    cert, key = Path(directory) / f"{label}.pem", Path(directory) / f"{label}.key"
    _openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-days", "90", "-keyout", str(key), "-out", str(cert),
              "-subj", f"/O=got-router tests/CN=got-router test CA {label}",
              "-addext", "basicConstraints=critical,CA:TRUE",
              "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    return str(cert), str(key)


def make_ca_signed(directory, ca, label, dns_names, subject_cn):
    """A leaf (P-256, 90 days, serverAuth, SAN dns_names) signed by `ca`; its cert file is
    the chain the router serves (leaf, then the CA)."""
    directory = Path(directory)
    ca_cert, ca_key = ca
    cert, key, csr = directory / f"{label}.pem", directory / f"{label}.key", directory / f"{label}.csr"
    ext = directory / f"{label}.ext"
    ext.write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature\n"
        "extendedKeyUsage=serverAuth\n"
        f"subjectAltName={','.join('DNS:' + n for n in dns_names)}\n")
    _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-nodes", "-keyout", str(key), "-out", str(csr),
              "-subj", f"/O=got-router tests/CN={subject_cn}"])
    _openssl(["x509", "-req", "-in", str(csr), "-CA", ca_cert, "-CAkey", ca_key,
              "-CAcreateserial", "-days", "90", "-sha256", "-extfile", str(ext), "-out", str(cert)])
    chain = directory / f"{label}-chain.pem"
    chain.write_text(Path(cert).read_text() + Path(ca_cert).read_text())
    return Certificate(str(chain), str(key), subject_cn)


# --------------------------------------------------------------------------
# The standard topology's config


def make_client_cert(directory, ca, label, cn):
    """A client certificate (P-256, 90 days, clientAuth) signed by `ca`; returns (cert
    path, key path)."""
    directory = Path(directory)
    ca_cert, ca_key = ca
    cert, key, csr = directory / f"{label}.pem", directory / f"{label}.key", directory / f"{label}.csr"
    ext = directory / f"{label}.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=clientAuth\n")
    _openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
              "-keyout", str(key), "-out", str(csr), "-subj", f"/O=got-router tests/CN={cn}"])
    _openssl(["x509", "-req", "-in", str(csr), "-CA", ca_cert, "-CAkey", ca_key,
              "-CAcreateserial", "-days", "90", "-sha256", "-extfile", str(ext), "-out", str(cert)])
    return str(cert), str(key)


def standard_certificates(directory):
    """Certificates a (a.test), wild (*.wild.test) and default (default.test)."""
    return {
        "a": make_self_signed(directory, "a", ["a.test"], "got-test-a"),
        "wild": make_self_signed(directory, "wild", ["*.wild.test"], "got-test-wild"),
        "default": make_self_signed(directory, "default", ["default.test"], "got-test-default"),
    }


def standard_config(certs, backends, listener=None, tls=None, timeouts=None, logging=None,
                    legacy_backend=None, extra_routes=()):
    """Routes a (sni a.test -> A), wild (sni *.wild.test -> W), legacy (the listener's
    default route -> L, or `legacy_backend`); the keyword dicts override single keys.

    certs: as standard_certificates() makes them; backends: {"A", "W", "L"} -> object
    with an `address`.
    """
    return {
        "listeners": [{"address": "127.0.0.1:0", "plaintext": True, "tls": True,
                       "default_route": "legacy", **(listener or {})}],
        "certificates": [
            {"cert": certs["a"].cert, "key": certs["a"].key},
            {"cert": certs["wild"].cert, "key": certs["wild"].key},
            {"cert": certs["default"].cert, "key": certs["default"].key, "default": True},
        ],
        "routes": [
            {"name": "a", "sni": ["a.test"], "backends": [backends["A"].address]},
            {"name": "wild", "sni": ["*.wild.test"], "backends": [backends["W"].address]},
            {"name": "legacy", "backends": [legacy_backend or backends["L"].address]},
            *extra_routes,
        ],
        "tls": {"alpn": ["gopher"], "require_alpn": False, "min_version": "1.2", **(tls or {})},
        "timeouts": {"handshake": "2s", "connect": "1s", "idle": "3s", "shutdown_grace": "30s",
                     **(timeouts or {})},
        "logging": {"level": "info", **(logging or {})},
    }
