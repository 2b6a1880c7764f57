#!/usr/bin/env bash
# Fails when a ctest run skipped a test, or did not run it, unless tests/skip-allowlist.txt
# lists that test with its reason. A skip looks like a pass; on a machine set up by
# scripts/install-deps.sh no test has a reason to skip.
#
#   scripts/check-skips.sh JUNIT_XML [ALLOWLIST]
#
# JUNIT_XML is what `ctest --output-junit` wrote (scripts/test.sh writes
# build/ctest-junit.xml). A test counts as skipped when ctest's status for it is anything
# but run or fail: "notrun" (SKIP_REGULAR_EXPRESSION or SKIP_RETURN_CODE matched, GTEST_SKIP,
# a missing executable, a failed fixture) or "disabled". The allowlist has one ctest test
# name a line, then whitespace and its reason; `#` starts a comment line; an entry with no
# reason is an error.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 JUNIT_XML [ALLOWLIST]" >&2
  exit 2
fi
exec python3 - "$1" "${2:-$(dirname "$0")/../tests/skip-allowlist.txt}" <<'PY'
import sys
import xml.etree.ElementTree as ET

junit, allowlist_path = sys.argv[1], sys.argv[2]
allowed, bad = {}, []
with open(allowlist_path) as f:
    for number, line in enumerate(f, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, reason = line.partition(" ")
        if not reason.strip():
            bad.append(f"{allowlist_path}:{number}: {name} has no reason")
        allowed[name] = reason.strip()
if bad:
    sys.exit("check-skips: " + "\n".join(bad))

try:
    cases = ET.parse(junit).getroot().iter("testcase")
except (OSError, ET.ParseError) as e:
    sys.exit(f"check-skips: cannot read ctest's JUnit report {junit}: {e}")
ran, allowed_skips, unexpected = 0, [], []
for case in cases:
    status = case.get("status")
    if status in ("run", "fail"):
        ran += 1
        continue
    skipped = case.find("skipped")
    why = (case.findtext("system-out") or "").strip().splitlines()
    detail = (skipped.get("message") if skipped is not None else status) + (f": {why[-1]}" if why else "")
    (allowed_skips if case.get("name") in allowed else unexpected).append((case.get("name"), detail))
if ran == 0 and not unexpected and not allowed_skips:
    sys.exit(f"check-skips: {junit} lists no test")
for name, detail in allowed_skips:
    print(f"check-skips: {name} skipped (allowlisted: {allowed[name]})")
if unexpected:
    print(f"check-skips: FAIL: {len(unexpected)} test(s) skipped or not run, not in {allowlist_path}:", file=sys.stderr)
    for name, detail in unexpected:
        print(f"  {name}: {detail}", file=sys.stderr)
    sys.exit(1)
print(f"check-skips: {ran} tests ran, {len(allowed_skips)} skipped (allowlisted), none skipped otherwise")
PY
