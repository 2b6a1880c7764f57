"""The Docker image's build steps, exercised without a Docker engine.

Every RUN in docker/*Dockerfile calls one script; these tests check that the Dockerfiles and
those scripts agree, that CI runs the scripts too, and run the parts that can run here: the
staging step on CI's build, the runtime package check against `ldd`, the healthcheck.
"""

import fnmatch
import http.server
import os
import re
import shlex
import shutil
import socket
import threading
import time
import unittest
from pathlib import Path

from deploylib import DOCKER, REPO, SCRIPTS, TempDir, free_port, router_binary, run, require_tool, Processes, wait_listening

DOCKERFILES = [DOCKER / "Dockerfile", DOCKER / "gophernicus.Dockerfile", DOCKER / "pygopherd.Dockerfile"]

# Scripts a Dockerfile RUNs that .ci/run does not reach by itself (it does, through
# scripts/image-check.sh's image builds), and the ctest test (run by scripts/test.sh, hence
# by CI) that runs them on this machine too.
RUN_BY_DEPLOY_TESTS = {
    "scripts/docker-build.sh": "deploy.docker_build_stage",
    "scripts/docker-runtime.sh": "deploy.runtime_packages_cover_ldd",
    "scripts/docker-gopherd.sh": "deploy.interop_gophernicus",
}


class Instruction:
    def __init__(self, line, keyword, flags, rest):
        self.line, self.keyword, self.flags, self.rest = line, keyword, flags, rest

    def __repr__(self):
        return f"line {self.line}: {self.keyword} {self.rest}"


def parse_dockerfile(path):
    """Instructions with continuation lines joined and comments dropped; leading
    --flag=value options split off (a flag may repeat: RUN --mount=… --mount=…)."""
    instructions = []
    pending, start = "", 0
    for number, raw in enumerate(Path(path).read_text().splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if not pending:
            start = number
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        text = pending + stripped
        pending = ""
        keyword, _, rest = text.partition(" ")
        flags = []
        rest = rest.strip()
        while rest.startswith("--"):
            flag, _, rest = rest.partition(" ")
            name, _, value = flag[2:].partition("=")
            flags.append((name, value))
            rest = rest.strip()
        instructions.append(Instruction(start, keyword.upper(), flags, rest))
    return instructions


def mount_options(value):
    return dict(item.partition("=")[::2] for item in value.split(","))


def dockerignore_patterns(dockerfile):
    ignore = Path(str(dockerfile) + ".dockerignore")
    if not ignore.exists():
        return []
    return [l.strip() for l in ignore.read_text().splitlines() if l.strip() and not l.startswith("#")]


def ci_scripts():
    """Scripts CI runs: .ci/run and every scripts/*.sh it reaches by name, transitively."""
    seen, todo = set(), [REPO / ".ci" / "run"]
    while todo:
        path = todo.pop()
        for name in re.findall(r"scripts/[\w.-]+\.sh", path.read_text()):
            if name not in seen and (REPO / name).exists():
                seen.add(name)
                todo.append(REPO / name)
    return seen


def registered_tests():
    text = (REPO / "tests" / "deploy" / "CMakeLists.txt").read_text()
    return set(re.findall(r"got_deploy_test\(\s*(deploy\.[\w.]+)", text))


class DockerfileConsistency(unittest.TestCase):
    def test_consistency(self):
        ci = ci_scripts()
        self.assertIn("scripts/test.sh", ci, "CI must run scripts/test.sh (ctest), which runs these tests")
        tests = registered_tests()
        for dockerfile in DOCKERFILES:
            with self.subTest(dockerfile=dockerfile.name):
                self.check_dockerfile(dockerfile, ci, tests)

    def check_dockerfile(self, dockerfile, ci, tests):
        instructions = parse_dockerfile(dockerfile)
        ignored = dockerignore_patterns(dockerfile)
        runs = 0
        for ins in instructions:
            flags = dict(ins.flags)
            if ins.keyword in ("COPY", "ADD") and "from" not in flags:
                sources = shlex.split(ins.rest)[:-1]
                self.assertTrue(sources, f"{dockerfile.name} {ins}: no source")
                for source in sources:
                    self.assertTrue((REPO / source).exists(), f"{dockerfile.name} {ins}: {source} does not exist")
                    for pattern in ignored:
                        self.assertFalse(fnmatch.fnmatch(source.rstrip("/"), pattern),
                                         f"{dockerfile.name} {ins}: {source} is excluded by .dockerignore ({pattern})")
            if ins.keyword == "RUN":
                runs += 1
                self.check_run(dockerfile, ins, ci, tests)
        self.assertGreater(runs, 0, f"{dockerfile.name} has no RUN")

    def check_run(self, dockerfile, ins, ci, tests):
        command = ins.rest
        # Bind mounts from the build context: the source exists; the command names the
        # script by its mount target, which stands for the source.
        for name, value in ins.flags:
            if name != "mount":
                continue
            opts = mount_options(value)
            if opts.get("type") == "bind" and "from" not in opts:
                source = opts.get("source", ".")
                self.assertTrue((REPO / source).exists(), f"{dockerfile.name} {ins}: mount source {source} does not exist")
                command = command.replace(opts["target"], source)
        # One script and its arguments: no inline shell (&&, ;, |), so CI can run the same.
        self.assertIsNone(re.search(r"&&|\|\||[;|]", command), f"{dockerfile.name} {ins}: RUN must call one script")
        words = shlex.split(command)
        while words and re.match(r"^[A-Z_][A-Z0-9_]*=", words[0]):
            words.pop(0)
        self.assertTrue(words, f"{dockerfile.name} {ins}: empty RUN")
        script = words[0]
        self.assertRegex(script, r"^scripts/[\w.-]+\.sh$", f"{dockerfile.name} {ins}: RUN must call a script under scripts/")
        path = REPO / script
        self.assertTrue(path.is_file(), f"{dockerfile.name} {ins}: {script} does not exist")
        self.assertTrue(os.access(path, os.X_OK), f"{dockerfile.name} {ins}: {script} is not executable")
        self.assertTrue(path.read_text().startswith("#!"), f"{script}: no #! line")
        if script not in ci:
            test = RUN_BY_DEPLOY_TESTS.get(script)
            self.assertIsNotNone(test, f"{dockerfile.name} {ins}: CI never runs {script}")
            self.assertIn(test, tests, f"{script} is said to run in {test}, which is not registered")

    def test_image_layout(self):
        """The runtime stage: debian-slim, non-root, port 70, SIGTERM, healthcheck,
        config path; the build stage: bookworm, building with CI's scripts."""
        instructions = parse_dockerfile(DOCKER / "Dockerfile")
        froms = [i for i in instructions if i.keyword == "FROM"]
        self.assertEqual(len(froms), 2, "multi-stage: a build and a runtime stage")
        self.assertRegex(froms[0].rest, r"^debian:bookworm\s+AS\s+build$")
        self.assertEqual(froms[1].rest, "debian:bookworm-slim")
        runtime = instructions[instructions.index(froms[1]):]
        by = {}
        for i in runtime:
            by.setdefault(i.keyword, []).append(i)
        user = by["USER"][-1].rest.split(":")
        self.assertTrue(user[0].isdigit() and int(user[0]) != 0, "a numeric non-root USER (Kubernetes runAsNonRoot checks it)")
        self.assertIn(f"uid={user[0]}", (SCRIPTS / "docker-runtime.sh").read_text(), "USER is the user docker-runtime.sh creates")
        self.assertEqual([i.rest for i in by["EXPOSE"]], ["70"])
        self.assertEqual(by["STOPSIGNAL"][-1].rest, "SIGTERM")
        self.assertIn("got-router-healthcheck", by["HEALTHCHECK"][-1].rest)
        self.assertIn("/usr/local/bin/got-router", by["ENTRYPOINT"][-1].rest)
        self.assertIn("/etc/got-router/got-router.yaml", by["CMD"][-1].rest)
        self.assertFalse([i for i in runtime if i.keyword in ("COPY", "ADD")],
                         "the runtime stage takes files through the RUN's bind mount, not a COPY layer")
        # The build stage copies every directory the top-level CMakeLists.txt adds without
        # first checking that it exists (tests/ only when the tests are built).
        copied = build_stage_sources(instructions)
        cmake = (REPO / "CMakeLists.txt").read_text()
        optional = set(re.findall(r"EXISTS \$\{CMAKE_CURRENT_SOURCE_DIR\}/(\w+)/CMakeLists\.txt", cmake))
        build_script = (SCRIPTS / "docker-build.sh").read_text()
        if "-DGOT_BUILD_TESTS=OFF" in build_script:
            optional.add("tests")
        always = [d for d in re.findall(r"^\s*add_subdirectory\((\w+)\)", cmake, re.M) if d not in optional]
        self.assertTrue(always)
        print("build stage copies", sorted(copied), "; CMake always adds", always)
        for d in always:
            self.assertIn(d, copied, f"CMakeLists.txt adds {d}/, which the build stage does not copy")
        self.assertIn("scripts/build.sh", build_script)
        self.assertIn("GOT_BUILD_TARGET=got-router", build_script, "the image builds the router alone")
        self.assertIn("scripts/docker-runtime.sh check", build_script)
        # The build dependencies come from install-deps.sh's build-only mode.
        runs = [i.rest for i in instructions[:instructions.index(froms[1])] if i.keyword == "RUN"]
        self.assertIn("scripts/install-deps.sh --build", runs)


def build_stage_sources(instructions):
    """The repository paths the build stage COPYs (directories without their slash)."""
    froms = [i for i in instructions if i.keyword == "FROM"]
    return {source.rstrip("/") for i in instructions[:instructions.index(froms[1])]
            if i.keyword == "COPY" and "from" not in dict(i.flags)
            for source in shlex.split(i.rest)[:-1]}


class BuildStage(unittest.TestCase):
    def test_subset_configures(self):
        """CMake configures the subset of the tree the build stage copies, as
        docker-build.sh does (no tests/, no bench/)."""
        sources = build_stage_sources(parse_dockerfile(DOCKER / "Dockerfile"))
        with TempDir() as tmp:
            src = tmp / "src"
            for source in sorted(sources):  # a directory may hold a file COPYed before it
                target = src / source
                target.parent.mkdir(parents=True, exist_ok=True)
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, target, dirs_exist_ok=True)
                else:
                    shutil.copy2(REPO / source, target)
            self.assertFalse((src / "bench").exists())
            ok = run(["cmake", "-S", src, "-B", tmp / "build", "-DGOT_BUILD_TESTS=OFF"], timeout=120)
            self.assertEqual(ok.returncode, 0, ok.stdout + ok.stderr)
            self.assertIn("got-router", (tmp / "build" / "router" / "Makefile").read_text())

    def test_stage(self):
        """scripts/docker-build.sh's staging step on CI's build: what the runtime stage
        installs, at the paths the Dockerfile names."""
        binary = router_binary()
        build_dir = binary.parent.parent
        with TempDir() as tmp:
            dest = tmp / "out"
            run([SCRIPTS / "docker-build.sh", "stage", build_dir, dest], check=True, cwd=tmp)
            staged = dest / "usr/local/bin/got-router"
            self.assertTrue(os.access(staged, os.X_OK))
            sections = run(["readelf", "-S", staged], check=True).stdout
            self.assertNotIn(".debug_info", sections, "the staged binary is stripped")
            version = run([staged, "--version"], check=True).stdout
            self.assertIn("got-router", version)
            self.assertTrue(os.access(dest / "usr/local/bin/got-router-healthcheck", os.X_OK))
            self.assertEqual((dest / "etc/got-router/got-router.yaml").read_bytes(), (REPO / "examples/got-router.yaml").read_bytes())
            for f in (REPO / "examples").rglob("*"):
                if f.is_file():
                    self.assertTrue((dest / "usr/local/share/got-router/examples" / f.relative_to(REPO / "examples")).is_file(), f)
            # Every absolute path the runtime stage names exists in the staged tree.
            dockerfile = (DOCKER / "Dockerfile").read_text().split("FROM debian:bookworm-slim", 1)[1]
            for path in set(re.findall(r'"(/usr/local/bin/[\w.-]+)"', dockerfile)):
                self.assertTrue((dest / path.lstrip("/")).exists(), f"Dockerfile names {path}, which is not staged")
            run([SCRIPTS / "docker-runtime.sh", "check", staged], check=True)
            size = sum(f.stat().st_size for f in dest.rglob("*") if f.is_file())
            print(f"staged {size / 1024:.0f} KiB")


def dpkg_packages(paths):
    """{library: owning package}, trying the /usr-merged spellings; one dpkg -S call."""
    def spellings(p):
        out = []
        for q in (p, os.path.realpath(p)):
            out += [q, q[4:] if q.startswith("/usr/") else "/usr" + q]
        return out
    candidates = sorted({c for p in paths for c in spellings(p)})
    result = run(["dpkg", "-S", *candidates])
    owner = {}
    for line in result.stdout.splitlines():
        if line.startswith("diversion"):
            continue
        pkg, _, path = line.partition(": ")
        owner[path] = pkg.split(":")[0]
    return {p: next((owner[c] for c in spellings(p) if c in owner), None) for p in paths}


class RuntimePackages(unittest.TestCase):
    def test_cover_ldd(self):
        """Every library `ldd` lists for the built binary belongs to a runtime package
        (checked here independently of the script, then by the script's dry mode)."""
        binary = router_binary()
        packages = run([SCRIPTS / "docker-runtime.sh", "packages"], check=True).stdout.split()
        self.assertIn("libssl3", packages)
        ldd = run(["ldd", binary], check=True).stdout
        self.assertNotIn("not found", ldd)
        libraries = re.findall(r"=>\s+(/\S+)", ldd) + re.findall(r"^\s*(/\S+)\s+\(", ldd, re.M)
        self.assertTrue(libraries)
        needed = dpkg_packages(libraries)
        for lib, pkg in needed.items():
            self.assertIsNotNone(pkg, f"{lib} belongs to no Debian package")
        missing = {lib: pkg for lib, pkg in needed.items() if pkg not in packages}
        self.assertFalse(missing, f"libraries whose package the image does not install: {missing}")
        print("ldd -> packages:", ", ".join(sorted(set(needed.values()))))

        check = run([SCRIPTS / "docker-runtime.sh", "check", binary])
        self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
        # The dry mode catches a gap: with libc6 alone, libssl3 is missing.
        gap = run([SCRIPTS / "docker-runtime.sh", "check", binary, "libc6"])
        self.assertNotEqual(gap.returncode, 0)
        self.assertIn("libssl3", gap.stderr)
        # The install mode refuses to run outside an image build.
        env = dict(os.environ)
        env.pop("GOT_IMAGE_BUILD", None)
        refused = run([SCRIPTS / "docker-runtime.sh", "install", "/nonexistent"], env=env)
        self.assertNotEqual(refused.returncode, 0)
        self.assertIn("GOT_IMAGE_BUILD", refused.stderr)
        size = run([SCRIPTS / "docker-runtime.sh", "size", binary], check=True).stdout
        print(size)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        code = {"/healthz": 200, "/readyz": 503}.get(self.path, 404)
        body = b"ok\n" if code == 200 else b"no\n"
        self.send_response(code)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Healthcheck(unittest.TestCase):
    """docker/healthcheck.sh, the image's HEALTHCHECK (bash /dev/tcp, no curl)."""

    SCRIPT = DOCKER / "healthcheck.sh"

    def check(self, *args, timeout=15):
        start = time.monotonic()
        r = run([self.SCRIPT, *args], timeout=timeout)
        return r, time.monotonic() - start

    def test_healthcheck(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            address = f"127.0.0.1:{server.server_address[1]}"
            r, _ = self.check(address)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("200", r.stdout)
            r, _ = self.check(address, "/readyz")
            self.assertEqual(r.returncode, 1)
            self.assertIn("503", r.stderr)
        finally:
            server.shutdown()
            server.server_close()
        # Nothing listening: fails at once.
        r, _ = self.check(f"127.0.0.1:{free_port()}")
        self.assertEqual(r.returncode, 1)
        # A peer that accepts and never answers: fails within the read timeout.
        with socket.socket() as silent:
            silent.bind(("127.0.0.1", 0))
            silent.listen()
            r, took = self.check(f"127.0.0.1:{silent.getsockname()[1]}")
            self.assertEqual(r.returncode, 1)
            self.assertLess(took, 10)

    def test_against_got_router(self):
        """The healthcheck against the real admin endpoint (/healthz)."""
        binary = router_binary()
        with TempDir() as tmp, Processes(tmp) as procs:
            from deploylib import make_cert
            make_cert(tmp, "a", ["a.test"])
            admin, listen, backend = free_port(), free_port(), free_port()
            (tmp / "c.yaml").write_text(f"""
listeners: [{{address: "127.0.0.1:{listen}", default_route: r}}]
certificates: [{{cert: a.pem, key: a.key}}]
routes: [{{name: r, backends: ["127.0.0.1:{backend}"]}}]
admin: {{address: "127.0.0.1:{admin}"}}
""")
            router = procs.start("router", [binary, "-c", tmp / "c.yaml"])
            wait_listening(admin, router)
            r, _ = self.check(f"127.0.0.1:{admin}")
            self.assertEqual(r.returncode, 0, r.stderr + procs.logs())
            env = dict(os.environ, GOT_ROUTER_ADMIN=f"127.0.0.1:{admin}")
            r = run([self.SCRIPT], env=env)
            self.assertEqual(r.returncode, 0, r.stderr)


class Scripts(unittest.TestCase):
    def test_shellcheck(self):
        """The deployment's shell scripts pass shellcheck."""
        shellcheck = require_tool("shellcheck")
        scripts = (sorted(SCRIPTS.glob("docker-*.sh")) + sorted(SCRIPTS.glob("image-*.sh")) +
                   [SCRIPTS / n for n in ("install-deps.sh", "build.sh", "test.sh", "check-skips.sh")] +
                   sorted(DOCKER.glob("*.sh")))
        self.assertTrue(all(s.is_file() for s in scripts), scripts)
        result = run([shellcheck, *scripts])
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


if __name__ == "__main__":
    unittest.main()
