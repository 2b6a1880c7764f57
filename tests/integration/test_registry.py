"""Every integration test method is registered as its own ctest test, and nothing else."""

import unittest
from pathlib import Path

import ctest_manifest

HERE = Path(__file__).resolve().parent


def discovered_ids():
    """module.Class.method of every test method in this directory."""
    suite = unittest.defaultTestLoader.discover(str(HERE), pattern="test_*.py", top_level_dir=str(HERE))
    ids = set()

    def walk(s):
        for item in s:
            if isinstance(item, unittest.TestSuite):
                walk(item)
            else:
                ids.add(item.id())

    walk(suite)
    return ids


def registered_ids():
    """What CMake registers: ctest_manifest.py's list (read from the files, not imported)."""
    return {test["id"] for test in ctest_manifest.discover(HERE)}


class Registry(unittest.TestCase):
    def test_all_tests_registered(self):
        """ctest_manifest.py, which CMake registers from, lists exactly the test methods that exist (no drift either way)."""
        self.assertEqual(registered_ids(), discovered_ids())


if __name__ == "__main__":
    unittest.main()
