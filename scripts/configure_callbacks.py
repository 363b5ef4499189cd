#!/usr/bin/env python3
"""Point CSS live callbacks at the deployed functions: one callback template, bound by one rule.

Creates the template (or updates the one with the same name) with the five notify URLs and the
callback key, then binds it to the push domain + AppName. Running it again changes nothing.

    scripts/configure_callbacks.py --base-url https://service-xxx.gz.apigw.tencentcs.com/release \\
        --domain push.example.com --app-name live            # key from LIVE_CALLBACK_KEYS
    scripts/configure_callbacks.py --stream-begin-url ... --porn-detect-url ... (Function URLs)
    scripts/configure_callbacks.py --urls-from build/deploy-output.txt   # what `scf deploy` printed
    scripts/configure_callbacks.py ... --dry-run             # print the writes, send none

The template and rule logic, and this command line, are tooling/callbacks.py.
Credentials: TENCENTCLOUD_SECRETID/TENCENTCLOUD_SECRETKEY (SCF's spelling, as every tool reads
them) or TENCENT_SECRET_ID/TENCENT_SECRET_KEY (the deployer's .env), plus
TENCENTCLOUD_SESSIONTOKEN / TENCENT_TOKEN for temporary keys. `--local` configures the running
local stack's Live API stand-in for its gateway; `--endpoint` points the SDK elsewhere.
Exit 2 when something is missing (one line says what), 1 when the Live API refuses a call.
"""

from __future__ import annotations

import os
import sys

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from tooling.callbacks import main
except ModuleNotFoundError as missing:
    sys.exit(f"configure_callbacks: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
