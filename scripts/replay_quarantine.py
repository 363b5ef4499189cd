#!/usr/bin/env python3
"""List quarantined callbacks and re-deliver them to the function that handles them.

A callback is quarantined when it was authentic but unusable where it arrived (a wrong URL in
the CSS template, fields the models refused). After the fix, `replay` re-signs each payload with
the current callback key and POSTs it to the function its `event_type` belongs to (or `--to`);
the quarantined copy is removed only once that function stored it (tooling/quarantine.py).

    .venv/bin/python scripts/replay_quarantine.py list --local          # the running local stack
    .venv/bin/python scripts/replay_quarantine.py replay --local [--function F] [--dry-run]
    .venv/bin/python scripts/replay_quarantine.py replay --urls-from build/deploy-output.txt   # five Function URLs

The bucket: `--local`, else the functions' variables (COS_BUCKET, COS_REGION, COS_PREFIX,
TENCENTCLOUD_SECRETID/SECRETKEY) or --bucket/--region. The key: --key, else the first of
LIVE_CALLBACK_KEYS, else the development key.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from deploy import endpoints
    from shared.errors import CallbackError
    from shared.storage import CosStore
    from shared.vocabulary import KINDS
    from tooling import access
    from tooling.quarantine import list_entries, replay_all
except ModuleNotFoundError as missing:
    sys.exit(f"replay_quarantine: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("list", "replay"))
    p.add_argument("--function", choices=KINDS, help="only entries quarantined by this function")
    p.add_argument("--to", choices=KINDS, help="deliver to this function instead of by event_type")
    p.add_argument("--dry-run", action="store_true", help="say what would be re-delivered, send nothing")
    access.add_arguments(p, key=True)
    endpoints.add_arguments(p, base_help="base URL of the functions, routes below it (replay; --local: the gateway)")
    return p


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    try:
        env = access.environment(args, os.environ)
        store = CosStore(access.bucket_settings(env, args.local))
        if args.action == "list":
            list_entries(store, args.function, out)
            return 0
        if args.local and not args.url:
            args.url = access.local_url(env)
        try:
            urls = endpoints.from_args(args)
        except (ValueError, OSError) as exc:
            raise access.SetupError(f"replay needs to know where the functions answer: {exc}") from None
        key, _ = access.callback_key(args.key, env, development=True)
        failures = replay_all(store, urls, key, args.function, args.to, args.dry_run, out)
    except access.SetupError as exc:
        print(f"replay_quarantine: {exc}", file=sys.stderr)
        return 2
    except CallbackError as exc:  # COS refused or is unreachable: the reason says which
        print(f"replay_quarantine: {exc.reason}{access.NOT_RUNNING if args.local else ''}", file=sys.stderr)
        return 2
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
