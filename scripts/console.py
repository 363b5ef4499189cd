#!/usr/bin/env python3
"""The console: one self-contained HTML page of what the functions stored, per stream, for a range.

Reads the bucket as scripts/timeline.py does (the same read model, tooling/readmodel.py; `--local`
for the running local stack, else the functions' variables or --bucket/--region, see
tooling/access.py) and writes one HTML file that opens offline from disk (tooling/console.py).
`--upload` also puts it into the bucket under the prefix (private) and prints a presigned URL.

    .venv/bin/python scripts/console.py --local
    .venv/bin/python scripts/console.py --day 2026-11-28 --stream room07 -o room07.html
    scripts/console.py --since 2026-11-28T04:00 --until 2026-11-28T06:00 --upload --expires 2h
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from shared.errors import CallbackError
    from tooling import access
    from tooling.console import RangeError, loopback_url, page_name, parse_range, render_html, upload, write_page
    from tooling.readmodel import timeline_of
except ModuleNotFoundError as missing:
    sys.exit(f"console: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_EXPIRY = timedelta(days=7)


def expiry(text: str) -> timedelta:
    """`90s`, `30m`, `12h`, `7d` (a bare number is seconds); a presigned URL lives at most 7 days."""
    match = re.fullmatch(r"(\d+)([smhd]?)", text.strip())
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration such as 30m, 12h or 7d")
    value = timedelta(seconds=int(match.group(1)) * UNITS[match.group(2) or "s"])
    if value > MAX_EXPIRY:
        raise argparse.ArgumentTypeError(f"{text!r}: a presigned URL lives at most 7 days")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    access.add_arguments(p)
    what = p.add_argument_group("what to show (default: the last 24 hours)")
    what.add_argument("--day", help="one UTC day, YYYY-MM-DD")
    what.add_argument("--since", help="from this UTC time (2026-11-28T04:00, a date, or epoch seconds)")
    what.add_argument("--until", help="up to this UTC time (default: now)")
    what.add_argument("--stream", action="append", default=[], help="only this stream id (repeatable)")
    out = p.add_argument_group("where the page goes")
    out.add_argument("-o", "--output", type=Path, help="HTML file to write (default: .local/console/<name>.html)")
    out.add_argument("--upload", action="store_true", help="also put it into the bucket and print a presigned URL")
    out.add_argument("--expires", type=expiry, default=timedelta(hours=24), help="presigned URL lifetime (default 24h)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    try:
        window = parse_range(args.day, args.since, args.until)
        settings = access.bucket_settings(access.environment(args, os.environ), args.local)
        timeline = timeline_of(settings, args.stream, window)
        built = int(time.time())
        page = render_html(timeline, window, built)
        name = page_name(window, built)
        path = write_page(args.output or access.state_dir() / "console" / name, page)
        print(
            f"console: {len(timeline['streams'])} streams, {len(page.encode()) / 1e6:.2f} MB page, built in"
            f" {time.monotonic() - started:.1f} s"
        )
        print(f"page: {path.resolve()}")
        if args.upload:
            key, url = upload(settings, page, name, args.expires)
            print(f"uploaded: {key} (private), presigned URL valid {args.expires}:")
            print(url)
            local = loopback_url(url, settings)
            if local:
                print(f"on the local stand-in (for a browser on this machine): {local}")
    except RangeError as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 2
    except access.SetupError as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 2
    except CallbackError as exc:  # COS errors carry a reason a person can act on
        print(f"console: {exc.reason}{access.NOT_RUNNING if args.local else ''}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
