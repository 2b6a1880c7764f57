#!/usr/bin/env python3
"""The integration tests CMake registers: one ctest test per test method, found in the files.

CMake runs this at configure time (tests/integration/CMakeLists.txt) and includes the
file it writes; the build re-runs CMake when a test_*.py file changes, appears or goes.
A test method added to a test_*.py file is registered with no CMake edit.

Names: `integration.<module without test_>.<method without test_>`; when a method name
is already taken in its module (the same name in two classes), the later class in the
file gets `integration.<module>.<class, lower case>.<method>`.

Properties: every test gets TIMEOUT 60, LABELS integration and the environment
CMakeLists.txt sets. A test that needs other properties says so next to itself:

    @ctest(timeout=300, serial=True)
    def test_1gib_tls(self):

    timeout  seconds (ctest TIMEOUT)
    serial   True: runs alone (ctest RUN_SERIAL), for tests that load or time the machine
    cost     ctest COST: ctest starts the highest cost first

The files are read with `ast`, not imported: configuring imports nothing and runs no
test code, so the decorator's arguments must be literals. test_registry checks that
what this finds is exactly what unittest's loader finds.

    ctest_manifest.py [--cmake OUT]   (without --cmake: one line per test on stdout)
"""

import argparse
import ast
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_TIMEOUT = 60
PROPERTIES = {"timeout": int, "serial": bool, "cost": (int, float)}


def ctest(**properties):
    """Marks a test method's ctest properties (see the module docstring); changes nothing at run time."""
    for key, value in properties.items():
        if key not in PROPERTIES or not isinstance(value, PROPERTIES[key]):
            raise TypeError(f"ctest(): bad property {key}={value!r}")

    def mark(method):
        method.ctest_properties = dict(properties)
        return method

    return mark


def _decorator_properties(function, where):
    """The keyword arguments of a @ctest(...) decorator on `function`, or {}."""
    for dec in function.decorator_list:
        if not isinstance(dec, ast.Call):
            continue
        name = dec.func.id if isinstance(dec.func, ast.Name) else getattr(dec.func, "attr", None)
        if name != "ctest":
            continue
        if dec.args:
            raise ValueError(f"{where}: @ctest takes keyword arguments only")
        properties = {}
        for keyword in dec.keywords:
            try:
                value = ast.literal_eval(keyword.value)
            except ValueError:
                raise ValueError(f"{where}: @ctest({keyword.arg}=...) must be a literal") from None
            if keyword.arg not in PROPERTIES or not isinstance(value, PROPERTIES[keyword.arg]):
                raise ValueError(f"{where}: @ctest: bad property {keyword.arg}={value!r}")
            properties[keyword.arg] = value
        return properties
    return {}


def _module_tests(path):
    """(class, method, properties) of every test method unittest would run in this file.

    A class counts when its bases lead (through classes of the same file) to a class
    from elsewhere (RouterTestCase, unittest.TestCase): a local base without bases of
    its own is a mixin, not a test case. Inherited test methods count in each subclass,
    as unittest runs them there.
    """
    tree = ast.parse(path.read_text(), str(path))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}

    def is_test_case(node, seen=()):
        for base in node.bases:
            name = base.id if isinstance(base, ast.Name) else None
            if name in classes and name not in seen:
                if is_test_case(classes[name], seen + (name,)):
                    return True
            elif name not in classes:
                return True
        return False

    def methods(node, seen=()):
        found = {}
        for base in reversed(node.bases):
            if isinstance(base, ast.Name) and base.id in classes and base.id not in seen:
                found.update(methods(classes[base.id], seen + (base.id,)))
        for item in node.body:
            if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if item.name.startswith("test"):
                    found[item.name] = _decorator_properties(item, f"{path.name}:{item.lineno}")
        return found

    tests = []
    for node in classes.values():
        if is_test_case(node):
            for method, properties in sorted(methods(node).items()):
                tests.append((node.name, method, properties))
    return tests


def discover(directory=HERE):
    """[{id, name, timeout, serial, cost}] of every test method in directory/test_*.py."""
    found = []
    for path in sorted(Path(directory).glob("test_*.py")):
        module = path.stem
        short_module = re.sub(r"^test_", "", module)
        taken = set()
        for cls, method, properties in _module_tests(path):
            short_method = re.sub(r"^test_", "", method)
            name = f"integration.{short_module}.{short_method}"
            if name in taken:
                name = f"integration.{short_module}.{cls.lower()}.{short_method}"
            taken.add(name)
            found.append({
                "id": f"{module}.{cls}.{method}",
                "name": name,
                "timeout": properties.get("timeout", DEFAULT_TIMEOUT),
                "serial": properties.get("serial", False),
                "cost": properties.get("cost"),
            })
    return found


def cmake_lines(tests):
    lines = ["# Written by tests/integration/ctest_manifest.py at configure time; do not edit."]
    for test in tests:
        args = [test["name"], test["id"], "TIMEOUT", str(test["timeout"])]
        if test["serial"]:
            args.append("SERIAL")
        if test["cost"] is not None:
            args += ["COST", str(test["cost"])]
        lines.append(f"got_integration_test({' '.join(args)})")
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cmake", metavar="OUT", help="write got_integration_test() calls to OUT")
    args = parser.parse_args()
    try:
        tests = discover()
    except (SyntaxError, ValueError) as err:
        print(f"ctest_manifest: {err}", file=sys.stderr)
        return 1
    if args.cmake:
        text = "\n".join(cmake_lines(tests)) + "\n"
        out = Path(args.cmake)
        # Unchanged content, unchanged file: no needless rebuild of what depends on it.
        if not out.exists() or out.read_text() != text:
            out.write_text(text)
    else:
        for test in tests:
            print(test["name"], test["id"], test["timeout"], "serial" if test["serial"] else "",
                  test["cost"] or "")
    return 0


if __name__ == "__main__":
    sys.exit(main())
