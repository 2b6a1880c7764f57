#!/usr/bin/env bash
# Lints every shell script (shellcheck) and every Python file (pyflakes3) of the
# repository; fails on any finding. Shell scripts are the *.sh files and the files whose
# first line runs bash or sh (.ci/run); Python files are the *.py files and the files
# whose first line runs python3. Files git ignores (build trees) are left out.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

# Tracked and new files, not ignored ones; outside a git checkout, every file but build*/.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files -co --exclude-standard)
else
  mapfile -t files < <(find . -type f -not -path './build*' -not -path './.git/*' | sed 's|^\./||')
fi

shell=() python=()
for f in "${files[@]}"; do
  [ -f "$f" ] || continue # deleted, not yet committed
  case $f in
  *.sh) shell+=("$f") ;;
  *.py) python+=("$f") ;;
  *)
    # The first line only (binary files have NUL bytes, which a shell variable cannot hold).
    case $(head -c 128 "$f" | tr -d '\0' | head -n 1) in
    '#!'*python*) python+=("$f") ;;
    '#!'*bash* | '#!'*/sh | '#!'*' sh') shell+=("$f") ;;
    esac
    ;;
  esac
done

status=0
# -x: follow the files a script sources (bench/harness.sh, bench/templates.sh); their
# `# shellcheck source=` paths are relative to the repository root, where this runs.
echo "lint: shellcheck on ${#shell[@]} shell scripts"
shellcheck -x "${shell[@]}" || status=1
echo "lint: pyflakes3 on ${#python[@]} Python files"
pyflakes3 "${python[@]}" || status=1
[ "$status" = 0 ] && echo "lint: clean"
exit "$status"
