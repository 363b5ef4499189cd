#!/usr/bin/env python3
"""Simulate CSS live traffic: correctly signed, realistic callbacks for N streams, sent over HTTP.

Each stream pushes one or more sessions (begin, snapshots at an interval, occasional moderation
hits, end with a realistic errcode, recordings in several formats). Deliveries can be repeated as
CSS retries do, shuffled, sent concurrently and rate-limited; `--seed` makes a run reproducible.
Works against the local stack or a deployment (`--key` or LIVE_CALLBACK_KEYS): a base URL with the
five routes (`--url`), or one URL per function (`--stream-begin-url ...`, `--urls-from FILE`).
The planner, sender and report are tooling/traffic/.

    .venv/bin/python scripts/simulate.py --url http://127.0.0.1:9000 --streams 8 --duplicates 0.3 --shuffle
    .venv/bin/python scripts/simulate.py --urls-from build/deploy-output.txt --streams 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

try:  # the venv puts the repository root on the path (scripts/venv.sh); any other Python lacks it
    from deploy import endpoints
    from devstack.gateway import ROUTES_FILE
    from shared.vocabulary import DEFAULT_PUBLISHED, KINDS
    from tooling import access
    from tooling.access import LOCAL_URL, callback_key
    from tooling.demomedia import attach_for_local_stack
    from tooling.traffic.plan import deliveries, plan
    from tooling.traffic.report import describe, summary
    from tooling.traffic.send import Progress, route_paths, run, targets
except ModuleNotFoundError as missing:
    sys.exit(f"simulate: {missing.name} not found: use .venv/bin/python (./scripts/local.sh makes it)")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--key", help="callback key to sign with (default: first of LIVE_CALLBACK_KEYS, else the dev key)")
    p.add_argument("--streams", type=int, default=8, help="number of streams (default %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="random seed: same seed, same scenario (default %(default)s)")
    p.add_argument("--snapshot-interval", type=int, default=60, help="seconds between snapshots (default %(default)s)")
    p.add_argument("--duplicates", type=float, default=0.3, help="fraction delivered 2-3 times (default %(default)s)")
    p.add_argument("--shuffle", action="store_true", help="deliver in random order (ends before begins, ...)")
    p.add_argument("--concurrency", type=int, default=8, help="parallel senders (default %(default)s)")
    p.add_argument("--rate", type=float, default=0.0, help="max requests per second, 0 = no limit (default)")
    p.add_argument("--retries", type=int, default=2, help="re-sends of a callback not answered 200 (default 2)")
    p.add_argument("--path", action="append", default=[], metavar="KIND=/PATH", help="override a route path")
    p.add_argument("--routes", type=Path, default=ROUTES_FILE, help="deploy spec to take paths from")
    p.add_argument("--publish", default=",".join(DEFAULT_PUBLISHED), help="suggestions the receiver publishes")
    p.add_argument("--json", action="store_true", help="print the summary (with the scenario) as JSON")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: bar when stderr is a tty)")
    endpoints.add_arguments(p, base_help=f"base URL with the five routes below it (default {LOCAL_URL})")
    return p


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    if args.streams < 1 or args.snapshot_interval < 1 or not 0 <= args.duplicates <= 1 or args.concurrency < 1:
        print(
            "simulate: --streams, --snapshot-interval, --concurrency must be >= 1, --duplicates 0..1", file=sys.stderr
        )
        return 2
    try:
        paths = route_paths(args.routes, args.path)
        own = {kind: getattr(args, f"{kind}_url", None) for kind in KINDS}
        if args.urls_from is not None:
            own.update(endpoints.urls_from_text(args.urls_from.read_text(encoding="utf-8")))
        if not args.url and not all(own.values()):
            args.url = LOCAL_URL
        paths = {kind: own.get(kind) or path for kind, path in paths.items()}
        urls = targets(args.url, paths)  # validates every URL
    except (ValueError, OSError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    key, source = callback_key(args.key, os.environ, development=True)
    published = tuple(s.strip().capitalize() for s in args.publish.split(",") if s.strip())
    scenario = plan(args.streams, args.seed, snapshot_interval=args.snapshot_interval, published=published)
    stack = access.stack_env()
    local = access.read_env_file(stack) if stack.is_file() else {}
    if attach_for_local_stack(args.url, local, ((c.kind, c.payload) for c in scenario.callbacks)):
        print("simulate: pictures for the snapshots and hits are on the local stack's COS stand-in", file=sys.stderr)
    order = deliveries(scenario, args.duplicates, args.shuffle)
    print(
        f"simulate: {len(scenario.callbacks)} callbacks of {args.streams} streams as {len(order)} deliveries"
        f" to {args.url or 'five URLs'}, signed with {source}",
        file=sys.stderr,
    )
    progress = Progress(len(order), enabled=not args.no_progress and sys.stderr.isatty())
    result = run(args.url, order, key, urls, args.concurrency, args.rate, args.retries, progress=progress)
    report = summary(scenario, order, result, args.url or ", ".join(f"{k}={u}" for k, u in urls.items()))
    out(json.dumps(report, indent=2) if args.json else describe(report))
    return 0 if not result.failed else 1


if __name__ == "__main__":
    sys.exit(main())
