#!/usr/bin/env python3
"""Timeline of what the functions stored in COS: per stream its sessions, recordings, snapshots, hits.

Reads with the functions' own configuration (`load_settings()` + `CosStore`), so it works against
the local stand-in and a real bucket alike. `--local` reads the running local stack's settings
from .local/stack.env; `--json` prints the timeline for machines.

    .venv/bin/python scripts/timeline.py --local
    COS_BUCKET=... COS_REGION=... TENCENTCLOUD_SECRETID=... TENCENTCLOUD_SECRETKEY=... scripts/timeline.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from devstack.timeline import build_timeline, render  # noqa: E402
from shared.config import Settings, load_settings  # noqa: E402
from shared.errors import CallbackError  # noqa: E402
from shared.layout import encode_part  # noqa: E402
from shared.storage import CosStore  # noqa: E402

STACK_ENV = ROOT / ".local" / "stack.env"
PREFIXES = ("sessions/", "records/", "snapshots/", "moderation/", "quarantine/")
READERS = 4
"""Parallel GETs; CosStore's connection pool keeps 4 connections."""


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines (as the local stack writes them); blank lines and # comments skipped."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def reader_settings(env: Mapping[str, str]) -> Settings:
    """The functions' settings; the callback key is not needed to read, so a placeholder will do."""
    return load_settings({"LIVE_CALLBACK_KEYS": "not-needed-to-read", **env})


def _wanted(key: str, streams: Sequence[str]) -> bool:
    if not streams or key.startswith("quarantine/"):
        return True
    parts = key.split("/")
    return len(parts) > 3 and parts[3] in {encode_part(s) for s in streams}


def stored_documents(store: CosStore, streams: Sequence[str] = ()) -> Iterator[dict[str, Any]]:
    """Every document the functions stored (optionally only of some streams), with its key."""
    keys = [key for prefix in PREFIXES for key in store.list_keys(prefix) if _wanted(key, streams)]

    def fetch(key: str) -> dict[str, Any]:
        document = store.get_json(key)
        if not isinstance(document, dict):
            return {"key": key}
        document.setdefault("key", store.prefix + key)
        return document

    with ThreadPoolExecutor(READERS) as pool:
        yield from pool.map(fetch, keys)


def timeline_of(settings: Settings, streams: Sequence[str] = ()) -> dict[str, Any]:
    store = CosStore(settings)
    timeline = build_timeline(stored_documents(store, streams), sorted(settings.moderation_suggestions))
    timeline["source"] = {"bucket": settings.cos_bucket, "region": settings.cos_region, "prefix": settings.cos_prefix}
    return timeline


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--local", action="store_true", help=f"read the running local stack ({STACK_ENV.relative_to(ROOT)})")
    p.add_argument("--env-file", type=Path, help="read settings from this NAME=value file instead of the environment")
    p.add_argument("--stream", action="append", default=[], help="only this stream id (repeatable)")
    p.add_argument("--brief", action="store_true", help="one line of counts per stream")
    p.add_argument("--json", action="store_true", help="print the timeline as JSON")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    env: dict[str, str] = dict(os.environ)
    env_file = STACK_ENV if args.local and args.env_file is None else args.env_file
    if env_file is not None:
        if not env_file.is_file():
            hint = " (is ./scripts/local.sh running?)" if args.local else ""
            print(f"timeline: {env_file} not found{hint}", file=sys.stderr)
            return 2
        env.update(read_env_file(env_file))
    try:
        settings = reader_settings(env)
        timeline = timeline_of(settings, args.stream)
    except CallbackError as exc:  # configuration or COS errors carry a reason a person can act on
        hint = " (is ./scripts/local.sh running?)" if args.local else ""
        print(f"timeline: {exc.reason}{hint}", file=sys.stderr)
        return 2
    print(json.dumps(timeline, indent=2, ensure_ascii=False) if args.json else render(timeline, not args.brief))
    return 0


if __name__ == "__main__":
    sys.exit(main())
