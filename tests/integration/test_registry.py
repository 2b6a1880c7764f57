"""Every integration test method is registered as its own ctest test, and nothing else."""

import re
import unittest
from pathlib import Path

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
    texts = [(HERE / "CMakeLists.txt").read_text()]
    texts += [p.read_text() for p in sorted(HERE.glob("suite_*.cmake"))]
    return set(re.findall(r"^got_integration_test\(([\w.]+)", "\n".join(texts), re.M))


class Registry(unittest.TestCase):
    def test_all_tests_registered(self):
        """CMakeLists.txt and suite_*.cmake list exactly the test methods that exist (no drift either way)."""
        self.assertEqual(registered_ids(), discovered_ids())


if __name__ == "__main__":
    unittest.main()
