#!/usr/bin/env bash
# Installs the pinned deploy tool code (tencent-component-toolkit, tests/contract/package.json and
# its lockfile) from the npm registry into .toolkit/ (git-ignored), for tests/test_toolkit_contract.py.
# Run by scripts/test.sh; reinstalls only when the pin or lockfile changed. Fails loudly: without
# node/npm or the registry, the contract tests cannot run, and CI must say so.
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=.toolkit
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "toolkit.sh: node and npm are needed to install tencent-component-toolkit for the contract tests" >&2
  exit 1
fi
want=$(cat tests/contract/package.json tests/contract/package-lock.json | sha256sum | cut -d' ' -f1)
stamp=$DIR/.installed.sha
if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -d "$DIR/node_modules/tencent-component-toolkit" ]; then
  exit 0
fi
echo "installing tencent-component-toolkit (tests/contract/package-lock.json) into $DIR ..." >&2
rm -rf "$DIR"
mkdir -p "$DIR"
cp tests/contract/package.json tests/contract/package-lock.json "$DIR/"
if ! (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
  echo "toolkit.sh: npm ci failed (registry: $(npm config get registry)); the contract tests cannot run" >&2
  exit 1
fi
echo "$want" > "$stamp"
