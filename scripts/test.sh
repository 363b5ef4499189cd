#!/usr/bin/env bash
# Runs the project's checks: creates .venv when missing, installs the pinned dependencies,
# then ruff (lint + format check), mypy, vermin (Python 3.10 compatibility of the SCF code)
# and pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/venv.sh

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (shared/, functions/)"
.venv/bin/mypy
echo "== vermin (code that runs in SCF must run on Python 3.10)"
.venv/bin/vermin --no-tips --violations --target=3.10- shared functions
echo "== pytest"
.venv/bin/python -m pytest "$@"
