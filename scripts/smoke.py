#!/usr/bin/env python3
"""After a deploy: one signed synthetic callback per function, and a checklist of what came back.

For each of the five functions it sends a correctly signed callback (expecting 200 `{"code":0}`)
and a forged one (expecting 401/403), then checks that each stored object exists
(tooling/smoke.py). Exits 1 when any check fails.

    .venv/bin/python scripts/smoke.py --urls-from build/deploy-output.txt      # after `scf deploy`
    .venv/bin/python scripts/smoke.py --stream-begin-url https://... ... --porn-detect-url https://...
    .venv/bin/python scripts/smoke.py --local                                  # the running local stack

Key: `--key`, else the first of LIVE_CALLBACK_KEYS (with --local: else the development key).
Bucket check: `--local`, else COS_BUCKET, COS_REGION, COS_PREFIX (or --bucket/--region/--prefix)
and credentials that may HEAD objects under the prefix (TENCENTCLOUD_SECRETID/SECRETKEY[/SESSIONTOKEN],
or the deployer's TENCENT_SECRET_ID/TENCENT_SECRET_KEY from .env); `--no-bucket-check` skips it.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from deploy import endpoints
    from deploy.spec import default_spec
    from tooling import access
    from tooling.smoke import bucket_env, object_checker, run, stream_name
except ModuleNotFoundError as missing:
    sys.exit(f"smoke: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    endpoints.add_arguments(
        p, base_help="base URL; the routes of deploy/functions.yml are appended (--local: the gateway)"
    )
    access.add_arguments(p, key=True)
    p.add_argument("--no-bucket-check", action="store_true", help="do not look for the stored objects")
    return p


def main(argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        wired_env = access.environment(args, os.environ if env is None else env)
        if args.local and not args.url:
            args.url = access.local_url(wired_env)
        try:
            urls = endpoints.from_args(args, default_spec())
        except (ValueError, OSError) as exc:
            raise access.SetupError(str(exc)) from None
        key, _ = access.callback_key(args.key, wired_env, development=args.local)
        wired = None if args.no_bucket_check else bucket_env(wired_env)
        exists = object_checker(wired) if wired is not None else None
    except access.SetupError as exc:
        print(f"smoke: {exc}", file=sys.stderr)
        return 2
    return 0 if run(urls, key, exists, stream_name()) else 1


if __name__ == "__main__":
    sys.exit(main())
