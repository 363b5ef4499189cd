#!/usr/bin/env python3
"""Point CSS live callbacks at the deployed functions: one callback template, bound by one rule.

Creates the template (or updates the one with the same name) with the five notify URLs and the
callback key, then binds it to the push domain + AppName. Running it again changes nothing.

    scripts/configure_callbacks.py --base-url https://service-xxx.gz.apigw.tencentcs.com/release \\
        --domain push.example.com --app-name live            # key from LIVE_CALLBACK_KEYS
    scripts/configure_callbacks.py --stream-begin-url ... --porn-detect-url ... (Function URLs)
    scripts/configure_callbacks.py --urls-from build/deploy-output.txt   # what `scf deploy` printed
    scripts/configure_callbacks.py ... --dry-run             # print the writes, send none

The template and rule logic is tooling/callbacks.py.
Credentials: TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY or TENCENT_SECRET_ID/TENCENT_SECRET_KEY
(plus TENCENTCLOUD_SESSION_TOKEN / TENCENT_TOKEN for temporary keys). `--endpoint` points the
SDK elsewhere (e.g. http://127.0.0.1:PORT for the local stand-in, devstack/live_api.py).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

from tooling.access import SetupError
from tooling.callbacks import (
    DEFAULT_APP_NAME,
    DEFAULT_TEMPLATE_NAME,
    DESCRIPTION_PATTERN,
    ROUTES,
    Desired,
    callback_key,
    configure,
    credentials,
    make_client,
    notify_urls,
)


def parse_args(argv: Sequence[str] | None, env: Mapping[str, str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--base-url", "--url", dest="base_url", help="base URL; the five routes of deploy/functions.yml are appended"
    )
    parser.add_argument(
        "--urls-from",
        type=Path,
        metavar="FILE",
        help="the five URLs from a file: JSON {kind: URL} or the saved output of `scf deploy` / `scf info`",
    )
    for key in ROUTES:
        parser.add_argument(f"--{key.replace('_', '-')}-url", dest=f"{key}_url", help=f"{key} URL (Function URL)")
    parser.add_argument(
        "--domain", default=env.get("PUSH_DOMAIN"), help="push domain the callbacks are for (default: $PUSH_DOMAIN)"
    )
    parser.add_argument(
        "--app-name",
        default=env.get("APP_NAME") or DEFAULT_APP_NAME,
        help="push path AppName (default: $APP_NAME, live)",
    )
    parser.add_argument(
        "--key",
        help="callback key (CallbackKey); default: the first of $LIVE_CALLBACK_KEYS (or $LIVE_CALLBACK_KEY)",
    )
    parser.add_argument(
        "--template-name", default=DEFAULT_TEMPLATE_NAME, help="template to create or update (letters, digits, _, -)"
    )
    parser.add_argument("--region", default=env.get("REGION") or "ap-guangzhou", help="API region (default: $REGION)")
    parser.add_argument("--endpoint", help="API endpoint, e.g. http://127.0.0.1:PORT for the local stand-in")
    parser.add_argument("--replace-rule", action="store_true", help="rebind a domain/AppName bound to another template")
    parser.add_argument("--dry-run", action="store_true", help="print the write requests (key masked), send none")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None, out: TextIO = sys.stdout) -> int:
    env = os.environ if env is None else env
    args = parse_args(argv, env)
    try:
        if not args.domain:
            raise SetupError("no push domain: give --domain or set PUSH_DOMAIN")
        if not DESCRIPTION_PATTERN.fullmatch(args.template_name):
            raise SetupError("--template-name may hold only Chinese, letters, digits, _ and - (Live API rule)")
        overrides = {key: getattr(args, f"{key}_url") for key in ROUTES}
        desired = Desired(
            template_name=args.template_name,
            urls=notify_urls(args.base_url, overrides, args.urls_from),
            callback_key=callback_key(args, env),
            domain=args.domain,
            app_name=args.app_name,
        )
        credential = credentials(env)
        if credential is None and not args.dry_run:
            raise SetupError(
                "no credentials: set TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY "
                "(or TENCENT_SECRET_ID and TENCENT_SECRET_KEY, as in .env)"
            )
        client = make_client(credential, args.region, args.endpoint) if credential else None
        configure(desired, client, dry_run=args.dry_run, replace_rule=args.replace_rule, out=out)
    except SetupError as exc:
        print(f"configure_callbacks: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
