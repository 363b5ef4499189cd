"""Quarantined callbacks: listing them, and re-delivering each to the function that handles it.

A callback is quarantined when it was authentic but unusable where it arrived: a wrong URL in
the CSS template (a stream-end sent to the stream-begin function) or fields the models refused.
After the routing or code fix, `replay` re-signs each payload with the current callback key and
POSTs it to the function its `event_type` belongs to (or another named one). The quarantined
copy is removed only once that function answered 200 *and* did not quarantine it again.
"""

from __future__ import annotations

import http.client
import json
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from shared.layout import quarantine_key
from shared.signing import sign
from shared.storage import CosStore
from shared.vocabulary import KIND_OF_CODE, QUARANTINE
from tooling.render import terminal_safe


@dataclass
class Entry:
    key: str
    function: str
    reason: str
    payload: dict[str, Any]
    text: str | None = None
    """The payload as the text CSS sent, for an entry kept that way (`payload_text`: nested too
    deeply for JSON values, or a record reconcile could not parse); `payload` is then empty."""

    @property
    def target(self) -> str | None:
        """The function that handles this payload's event_type, if any does."""
        value = self.payload.get("event_type")
        if self.text is not None:
            found = re.search(r'"event_type"\s*:\s*"?(\d{1,5})', self.text)
            value = found.group(1) if found else None
        try:
            return KIND_OF_CODE.get(int(value))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None


def entries(store: CosStore, function: str | None = None) -> Iterator[Entry]:
    prefix = f"{QUARANTINE}{function}/" if function else QUARANTINE
    for key in store.list_keys(prefix):
        document = store.get_json(key)
        if not isinstance(document, dict):
            continue
        payload = document.get("payload")
        text = document.get("payload_text")
        yield Entry(
            key,
            str(document.get("function", "")),
            str(document.get("reason", "")),
            payload if isinstance(payload, dict) else {},
            text if isinstance(text, str) or payload is None else None,
        )


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
    if entry.text is not None:
        return "skipped: kept as text (not JSON values); read it with `list`, fix by hand"
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


def list_entries(store: CosStore, function: str | None = None, out: Callable[[str], None] = print) -> int:
    """Print what sits in quarantine (optionally only one function's); returns how many."""
    found = list(entries(store, function))
    for entry in found:
        kept = " (kept as text)" if entry.text is not None else ""
        line = f"{entry.key}\n    quarantined by {entry.function}, goes to {entry.target or '?'}{kept}: {entry.reason}"
        out(terminal_safe(line))
    out(f"{len(found)} quarantined callback(s)")
    return len(found)


def replay_all(
    store: CosStore,
    urls: Mapping[str, str],
    key: str,
    function: str | None = None,
    to: str | None = None,
    dry_run: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    """Re-deliver every entry (optionally only one function's) to `urls[kind]`; returns how many were kept."""
    found = list(entries(store, function))
    failures = 0
    for entry in found:
        if dry_run:
            out(f"would deliver {entry.key} to {to or entry.target or 'nobody'}")
            continue
        result = replay(entry, store, "", urls, key, to)
        failures += not result.startswith("delivered")
        out(terminal_safe(f"{entry.key}: {result}"))
    out(f"{len(found) - failures if not dry_run else 0} delivered, {failures} kept")
    return failures
