#!/usr/bin/env bash
# Runs the project's checks: creates .venv when missing, installs the pinned dependencies and
# the pinned deploy tool code for the contract tests (scripts/toolkit.sh: npm registry -> .toolkit/),
# then ruff (lint + format check), mypy, vermin (Python 3.10 compatibility of the SCF code),
# the deploy files' check against deploy/functions.yml, and pytest on one worker per core plus two
# (pytest-xdist; each has its own stand-ins; tests that share a build or a browser share a worker;
# the fault tests, which mostly wait for real timeouts, share one worker, and the other three keep
# both cores busy while a test of theirs waits on a loopback round trip; tests are handed out in
# the order tests/conftest.py sets; TEST_WORKERS overrides the count). Extra arguments go to pytest,
# e.g. `-n 0` for one process, `-m "not slow"` for the quicker inner loop, a file or `-k` to narrow.
set -euo pipefail
cd "$(dirname "$0")/.."
# Bytecode caches are written (git-ignored __pycache__/): with PYTHONDONTWRITEBYTECODE set, every
# worker and every script the tests start compiled the project again, and pytest rewrote every
# test module again, each run (collection: 3.4 s of CPU per worker instead of 1.3 s).
unset PYTHONDONTWRITEBYTECODE

. scripts/venv.sh

echo "== tencent-component-toolkit (contract tests)"
scripts/toolkit.sh
echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== mypy (shared/, functions/)"
.venv/bin/mypy
echo "== vermin (code that runs in SCF must run on Python 3.10)"
.venv/bin/vermin --no-tips --violations --target=3.10- shared functions
echo "== deploy files (deploy/generate.py --check)"
.venv/bin/python deploy/generate.py --check
echo "== pytest"
.venv/bin/python -m pytest -n "${TEST_WORKERS:-$(($(nproc) + 2))}" --dist loadgroup --no-loadscope-reorder "$@"
