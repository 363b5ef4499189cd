#!/usr/bin/env bash
# The local stack: the five functions behind a local API Gateway (routes from deploy/functions.yml),
# with the COS and TDMQ stand-ins, on loopback. Creates .venv when missing and installs the pinned
# development dependencies (as scripts/test.sh does). Arguments go to scripts/local.py, e.g.
#   ./scripts/local.sh              serve on http://127.0.0.1:9000 until Ctrl-C
#   ./scripts/local.sh --demo       send simulated live traffic, print the timeline, exit
#   ./scripts/local.sh --help
set -euo pipefail
cd "$(dirname "$0")/.."

. scripts/venv.sh

exec .venv/bin/python scripts/local.py "$@"
