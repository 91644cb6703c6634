#!/usr/bin/env bash
# `make lock`: refresh requirements/constraints.txt, the exact versions `make demo`, `make test`
# and `make bench` install. It resolves pyproject.toml's ranges afresh (newest allowed of
# everything, the extras dev and bench included) in a throwaway venv and freezes the result.
# Run it on purpose, then `make test`, and commit the lock with the code it was tested with.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --upgrade pip
"$work/venv/bin/python" -m pip install --quiet '.[dev,bench]'
{
  echo "# The exact versions ivrsync's own checks were run with: \`make demo\`, \`make test\` and"
  echo "# \`make bench\` install with \`pip install -c requirements/constraints.txt\`. Users' installs"
  echo "# follow the ranges in pyproject.toml. Regenerate with \`make lock\` (scripts/lock.sh)."
  echo "# Python $("$work/venv/bin/python" -c 'import platform; print(platform.python_version())')."
  "$work/venv/bin/python" -m pip freeze --all --exclude ivrsync | grep -v -E '^(pip|setuptools|wheel)=='
} > requirements/constraints.txt.new
mv requirements/constraints.txt.new requirements/constraints.txt
echo "requirements/constraints.txt: $(grep -c '==' requirements/constraints.txt) packages pinned"
