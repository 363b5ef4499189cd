#!/usr/bin/env python3
"""Timeline of what the functions stored in COS: per stream its sessions, recordings, snapshots, hits.

Reads with the functions' own configuration and COS code (tooling/readmodel.py), so it works
against the local stand-in and a real bucket alike: `--local` for the running local stack, else
the functions' variables or --bucket/--region (see tooling/access.py). `--json` prints the
timeline for machines.

    .venv/bin/python scripts/timeline.py --local
    COS_BUCKET=... COS_REGION=... TENCENTCLOUD_SECRETID=... TENCENTCLOUD_SECRETKEY=... scripts/timeline.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from shared.errors import CallbackError
    from tooling import access
    from tooling.readmodel import timeline_of
    from tooling.render import render
except ModuleNotFoundError as missing:
    sys.exit(f"timeline: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    access.add_arguments(p)
    p.add_argument("--stream", action="append", default=[], help="only this stream id (repeatable)")
    p.add_argument("--brief", action="store_true", help="one line of counts per stream")
    p.add_argument("--json", action="store_true", help="print the timeline as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = access.bucket_settings(access.environment(args, os.environ), args.local)
        timeline = timeline_of(settings, args.stream)
    except access.SetupError as exc:
        print(f"timeline: {exc}", file=sys.stderr)
        return 2
    except CallbackError as exc:  # COS errors carry a reason a person can act on
        print(f"timeline: {exc.reason}{access.NOT_RUNNING if args.local else ''}", file=sys.stderr)
        return 2
    print(json.dumps(timeline, indent=2, ensure_ascii=False) if args.json else render(timeline, not args.brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
