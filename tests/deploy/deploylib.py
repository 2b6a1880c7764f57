"""Helpers for the deployment tests (tests/deploy): paths, processes, ports, configs.

Every process a test starts goes through `Processes`, which kills its whole process
group on exit (also when the test fails). Every wait is bounded.

The router binary is $GOT_ROUTER, else build/router/got-router under the repository.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
SCRIPTS = REPO / "scripts"
KUBERNETES = REPO / "examples" / "kubernetes"
SYSTEMD = REPO / "examples" / "systemd"
EXAMPLE_CONFIG = REPO / "examples" / "got-router.yaml"

START_TIMEOUT = 15.0


def router_binary():
    path = Path(os.environ.get("GOT_ROUTER") or REPO / "build" / "router" / "got-router")
    if not os.access(path, os.X_OK):
        raise AssertionError(f"no got-router binary at {path} (build it, or set GOT_ROUTER)")
    return path


def require_tool(name):
    """The path of a command the test needs; a missing one fails the test (it is never a
    skip: scripts/install-deps.sh installs every tool the tests use)."""
    path = shutil.which(name)
    if path is None:
        raise AssertionError(f"{name} is not installed (scripts/install-deps.sh installs it)")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, process=None, timeout=START_TIMEOUT, host="127.0.0.1"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise AssertionError(f"{process.args[0]} exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listening on {host}:{port} after {timeout}s")


def run(cmd, timeout=120, check=False, **kwargs):
    """Runs a command to completion, output captured as text."""
    result = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout, **kwargs)
    if check and result.returncode != 0:
        raise AssertionError(f"{cmd} exited with {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}")
    return result


class Processes:
    """Starts processes in their own process groups; stops them all on exit."""

    def __init__(self, log_dir):
        self.log_dir = Path(log_dir)
        self.procs = []

    def start(self, name, cmd, env=None, **kwargs):
        log = open(self.log_dir / f"{name}.log", "wb")
        full_env = dict(os.environ)
        full_env.update(env or {})
        proc = subprocess.Popen([str(c) for c in cmd], stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=full_env, start_new_session=True, **kwargs)
        log.close()
        proc.name = name
        self.procs.append(proc)
        return proc

    def log(self, name):
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self):
        return "\n".join(f"--- {p.name} (exit {p.poll()}):\n{self.log(p.name)}" for p in self.procs)

    def stop(self, proc, sig=signal.SIGTERM, timeout=10):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        # Whatever is left of the group (socat's children, pygopherd's forks) goes too.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for proc in reversed(self.procs):
            self.stop(proc)


class TempDir:
    """A temporary directory that other users can traverse (the gopherds run as nobody)."""

    def __enter__(self):
        self.path = Path(tempfile.mkdtemp(prefix="got-deploy-"))
        self.path.chmod(0o755)
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def make_cert(directory, stem, names, days=90):
    """A self-signed RSA certificate with the names in its SAN: DIR/STEM.pem, DIR/STEM.key."""
    directory = Path(directory)
    san = ",".join(f"DNS:{n}" for n in names)
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", str(days),
         "-subj", f"/CN={names[0]}", "-addext", f"subjectAltName={san}",
         "-keyout", directory / f"{stem}.key", "-out", directory / f"{stem}.pem"], check=True)
    return directory / f"{stem}.pem", directory / f"{stem}.key"


def load_yaml_documents(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def check_config(path):
    """Runs `got-router -t -c PATH`: every key of the config is checked."""
    return run([router_binary(), "-t", "-c", path], timeout=60)


def curl(args, timeout=20):
    """curl's output as bytes (fails the test on a curl error)."""
    result = subprocess.run(["curl", "-sS", "--max-time", str(timeout - 5)] + [str(a) for a in args],
                            capture_output=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"curl {' '.join(map(str, args))} failed ({result.returncode}): {result.stderr.decode(errors='replace')}")
    return result.stdout


def s_client(port, servername, selector, timeout=20):
    """A GoT client: openssl s_client with SNI and ALPN gopher, sending one selector."""
    result = subprocess.run(["openssl", "s_client", "-quiet", "-connect", f"127.0.0.1:{port}",
                             "-servername", servername, "-alpn", "gopher"],
                            input=selector.encode() + b"\r\n", capture_output=True, timeout=timeout)
    return result.stdout


def parse_duration_s(text):
    """A config duration ("30s", "500ms", "5m", "1h") in seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)", str(text).strip())
    if not m:
        raise ValueError(f"not a duration: {text!r}")
    return float(m[1]) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[m[2]]
