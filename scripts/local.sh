#!/usr/bin/env bash
# The local stack: the five functions behind a local API Gateway (routes from serverless.yml),
# with the COS and TDMQ stand-ins, on loopback. Creates .venv when missing and installs the pinned
# development dependencies (as scripts/test.sh does). Arguments go to scripts/local.py, e.g.
#   ./scripts/local.sh              serve on http://127.0.0.1:9000 until Ctrl-C
#   ./scripts/local.sh --demo       send simulated live traffic, print the timeline, exit
#   ./scripts/local.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing development dependencies into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements-dev.txt
  echo "$want" > "$stamp"
fi

exec .venv/bin/python scripts/local.py "$@"
