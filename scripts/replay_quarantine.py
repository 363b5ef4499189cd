#!/usr/bin/env python3
"""List quarantined callbacks and re-deliver them to the function that handles them.

A callback is quarantined when it was authentic but unusable where it arrived: a wrong URL in
the CSS template (a stream-end sent to the stream-begin function) or fields the models refused.
After the routing or code fix, this tool re-signs each payload with the current callback key
and POSTs it to the function its `event_type` belongs to (or `--to`). The quarantined copy is
removed only once that function answered 200 *and* did not quarantine it again.

    .venv/bin/python scripts/replay_quarantine.py list
    .venv/bin/python scripts/replay_quarantine.py replay --url http://127.0.0.1:9000 [--function F] [--dry-run]
    .venv/bin/python scripts/replay_quarantine.py replay --urls-from build/deploy-output.txt   # five Function URLs

COS is read with the functions' own configuration (COS_BUCKET, COS_REGION, COS_PREFIX, ...).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
for entry in (ROOT, ROOT / "scripts"):
    if str(entry) not in sys.path:
        sys.path.insert(0, str(entry))

from simulate import route_paths, signing_key  # noqa: E402

from deploy import endpoints  # noqa: E402
from shared.config import load_settings  # noqa: E402
from shared.events import EVENT_TYPES  # noqa: E402
from shared.layout import quarantine_key  # noqa: E402
from shared.signing import sign  # noqa: E402
from shared.storage import CosStore  # noqa: E402

KIND_OF_EVENT_TYPE = {code: kind for kind, code in EVENT_TYPES.items()}


@dataclass
class Entry:
    key: str
    function: str
    reason: str
    payload: dict[str, Any]

    @property
    def target(self) -> str | None:
        """The function that handles this payload's event_type, if any does."""
        value = self.payload.get("event_type")
        try:
            return KIND_OF_EVENT_TYPE.get(int(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


def entries(store: CosStore, function: str | None = None) -> Iterator[Entry]:
    prefix = f"quarantine/{function}/" if function else "quarantine/"
    for key in store.list_keys(prefix):
        document = store.get_json(key)
        yield Entry(key, str(document.get("function", "")), str(document.get("reason", "")), document["payload"])


def post(url: str, body: bytes, timeout: float = 20.0) -> int:
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = connection_class(parts.netloc, timeout=timeout)
    try:
        connection.request("POST", parts.path or "/", body, {"Content-Type": "application/json"})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def replay(
    entry: Entry,
    store: CosStore,
    base_url: str,
    paths: Mapping[str, str],
    key: str,
    target: str | None = None,
    send: Callable[[str, bytes], int] = post,
) -> str:
    """Re-deliver one entry; returns what happened, in a word or two."""
    kind = target or entry.target
    if kind is None:
        return f"skipped: no function handles event_type {entry.payload.get('event_type')!r}"
    t = int(time.time()) + 600
    payload = {k: v for k, v in entry.payload.items() if k not in ("sign", "t")}
    payload.update(t=t, sign=sign(key, t))
    path = paths[kind]
    url = path if urlsplit(path).scheme else base_url.rstrip("/") + path  # a function's own URL, or a route
    status = send(url, json.dumps(payload).encode())
    if status != 200:
        return f"kept: {kind} answered {status}"
    again = quarantine_key(kind, payload, t)
    if store.head(again) is not None:
        if again != entry.key:
            store.delete(again)  # the old entry keeps the original reason and date
        return f"kept: {kind} quarantined it again"
    store.delete(entry.key)
    return f"delivered to {kind}"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=("list", "replay"))
    p.add_argument("--function", help="only entries quarantined by this function")
    p.add_argument("--to", choices=sorted(EVENT_TYPES), help="deliver to this function instead of by event_type")
    p.add_argument("--key", help="callback key to sign with (default: the first of LIVE_CALLBACK_KEYS)")
    p.add_argument("--dry-run", action="store_true", help="say what would be re-delivered, send nothing")
    endpoints.add_arguments(p, base_help="base URL of the deployed or local functions, routes below it (replay)")
    return p


def main(argv: Sequence[str] | None = None, out: Callable[[str], None] = print) -> int:
    args = parser().parse_args(argv)
    store = CosStore(load_settings())
    found = list(entries(store, args.function))
    if args.action == "list":
        for entry in found:
            out(f"{entry.key}\n    quarantined by {entry.function}, goes to {entry.target or '?'}: {entry.reason}")
        out(f"{len(found)} quarantined callback(s)")
        return 0
    try:
        urls = endpoints.from_args(args)
    except (ValueError, OSError) as exc:
        out(f"replay needs to know where the functions answer: {exc}")
        return 2
    key, _ = signing_key(args.key, os.environ)
    paths = {kind: urls.get(kind) or path for kind, path in route_paths().items()}
    failures = 0
    for entry in found:
        if args.dry_run:
            out(f"would deliver {entry.key} to {args.to or entry.target or 'nobody'}")
            continue
        result = replay(entry, store, args.url or "", paths, key, args.to)
        failures += not result.startswith("delivered")
        out(f"{entry.key}: {result}")
    out(f"{len(found) - failures if not args.dry_run else 0} delivered, {failures} kept")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
