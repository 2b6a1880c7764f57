"""scripts/check-skips.sh, which fails a test run on a skip tests/skip-allowlist.txt does not
list: it catches each way ctest reports a test as not run, and the allowlist parses."""

import unittest

from deploylib import REPO, SCRIPTS, TempDir, run

JUNIT = """<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="t" tests="5">
  <testcase name="a.pass" classname="a.pass" time="0.1" status="run"><system-out></system-out></testcase>
  <testcase name="a.fail" classname="a.fail" time="0.1" status="fail"><failure message=""/></testcase>
  <testcase name="a.skip_regex" classname="a.skip_regex" time="0.1" status="notrun">
    <skipped message="SKIP_REGULAR_EXPRESSION_MATCHED"/><system-out>... skipped 'no tool'</system-out></testcase>
  <testcase name="a.missing" classname="a.missing" time="0" status="notrun">
    <skipped message="Unable to find executable"/><system-out>Unable to find executable: /x</system-out></testcase>
  <testcase name="a.disabled" classname="a.disabled" time="0" status="disabled"><system-out>Disabled</system-out></testcase>
</testsuite>
"""


class CheckSkips(unittest.TestCase):
    def check(self, tmp, allowlist):
        (tmp / "junit.xml").write_text(JUNIT)
        (tmp / "allow.txt").write_text(allowlist)
        return run([SCRIPTS / "check-skips.sh", tmp / "junit.xml", tmp / "allow.txt"])

    def test_check_skips(self):
        with TempDir() as tmp:
            r = self.check(tmp, "# nothing allowed\n")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            for name in ("a.skip_regex", "a.missing", "a.disabled"):
                self.assertIn(name, r.stderr)
            self.assertNotIn("a.pass", r.stderr)
            self.assertNotIn("a.fail", r.stderr)

            r = self.check(tmp, "a.skip_regex needs a tool\na.missing built elsewhere\n")
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
            self.assertIn("a.disabled", r.stderr)

            r = self.check(tmp, "a.skip_regex needs a tool\na.missing built elsewhere\na.disabled off\n")
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("2 tests ran, 3 skipped (allowlisted)", r.stdout)

            r = self.check(tmp, "a.skip_regex\n")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("has no reason", r.stderr)

            missing = run([SCRIPTS / "check-skips.sh", tmp / "absent.xml", tmp / "allow.txt"])
            self.assertNotEqual(missing.returncode, 0)

    def test_repository_allowlist(self):
        """Every entry of tests/skip-allowlist.txt names a test and gives a reason."""
        with TempDir() as tmp:
            (tmp / "junit.xml").write_text(JUNIT.replace('status="notrun"', 'status="run"')
                                           .replace('status="disabled"', 'status="run"'))
            r = run([SCRIPTS / "check-skips.sh", tmp / "junit.xml", REPO / "tests" / "skip-allowlist.txt"])
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
