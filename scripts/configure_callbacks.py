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
Credentials: TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY or TENCENT_SECRET_ID/TENCENT_SECRET_KEY
(plus TENCENTCLOUD_SESSION_TOKEN / TENCENT_TOKEN for temporary keys). `--endpoint` points the
SDK elsewhere (e.g. http://127.0.0.1:PORT for the local stand-in, devstack/live_api.py).
"""

from __future__ import annotations

import os
import sys

from tooling.callbacks import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], os.environ))
